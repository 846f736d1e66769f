//! The fuzz targets of `fuzz/` on a fixed-seed sample, so the test command
//! catches a regression without cargo-fuzz: each target runs its committed
//! seed corpus (`fuzz/corpus/<target>/`) and then about 2,000 inputs from a
//! fixed seed. The targets' logic is shared with `fuzz/` by `#[path]`.

#[path = "../fuzz/src/capi.rs"]
mod capi;
#[path = "../fuzz/src/common.rs"]
mod common;
#[path = "../fuzz/src/compile.rs"]
mod compile;
#[path = "../fuzz/src/differential.rs"]
mod differential;
#[path = "../fuzz/src/instantiate_many.rs"]
mod instantiate_many;

use common::SplitMix;
use std::path::Path;
use std::time::Instant;

/// Inputs each target runs beyond its corpus.
const SAMPLES: usize = 2000;

/// The committed corpus of `target`, then `SAMPLES` inputs from `seed`.
fn inputs(target: &str, seed: u64, min: usize, max: usize) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            out.push((p.display().to_string(), std::fs::read(&p).expect("corpus file")));
        }
    }
    let mut rng = SplitMix(seed);
    for i in 0..SAMPLES {
        out.push((format!("{target} sample {i} (seed {seed:#x})"), rng.bytes(min, max)));
    }
    out
}

/// Runs `f` on each input, naming the input when it panics.
fn run_all<R>(
    target: &str,
    inputs: Vec<(String, Vec<u8>)>,
    mut f: impl FnMut(&[u8]) -> R,
) -> Vec<R> {
    let start = Instant::now();
    let n = inputs.len();
    let out = inputs
        .into_iter()
        .map(|(name, data)| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data)));
            r.unwrap_or_else(|e| {
                let path = std::env::temp_dir().join(format!("fuzz-sample-{target}.bin"));
                std::fs::write(&path, &data).ok();
                eprintln!("{name} failed; input written to {}", path.display());
                std::panic::resume_unwind(e)
            })
        })
        .collect();
    eprintln!("{target}: {n} inputs in {:.2?}", start.elapsed());
    out
}

#[test]
fn compile_sample() {
    let outcomes = run_all("compile", inputs("compile", 0xc0de, 0, 4096), compile::run);
    let generated = outcomes.iter().filter(|o| o.generated).count();
    let accepted = outcomes.iter().filter(|o| o.accepted).count();
    eprintln!("compile: {generated} generated, {accepted} accepted");
    // The sample must reach the compiler, not only the parser.
    assert!(generated > SAMPLES / 3, "{generated} generated");
    assert!(accepted > SAMPLES / 10, "{accepted} accepted");
}

#[test]
fn differential_sample() {
    let stats =
        run_all("differential", inputs("differential", 0xd1ff, 256, 16384), differential::run);
    let sum = |f: fn(&differential::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let (modules, instantiated, calls, traps) =
        (sum(|s| s.modules), sum(|s| s.instantiated), sum(|s| s.calls), sum(|s| s.traps));
    eprintln!(
        "differential: {modules} modules, {instantiated} instantiated, {calls} calls ({traps} trapped), {} stack overflows",
        sum(|s| s.stack_overflows)
    );
    assert!(modules > SAMPLES as u64 * 9 / 10, "{modules} modules compared");
    assert!(calls > SAMPLES as u64, "{calls} calls compared");
    assert!(traps > 0 && traps < calls, "{traps} of {calls} calls trapped");
}

#[test]
fn instantiate_many_sample() {
    let stats = run_all(
        "instantiate_many",
        inputs("instantiate_many", 0x1a57, 512, 16384),
        instantiate_many::run,
    );
    let sum = |f: fn(&instantiate_many::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let (engines, inst, hits, exhausted, ops) = (
        sum(|s| s.engines),
        sum(|s| s.instantiations),
        sum(|s| s.affinity_hits),
        sum(|s| s.exhausted),
        sum(|s| s.ops),
    );
    eprintln!(
        "instantiate_many: {engines} pools, {inst} instantiations checked ({hits} affine reuses), {exhausted} exhausted, {ops} operations"
    );
    assert!(engines > SAMPLES as u64 / 2, "{engines} pools");
    assert!(inst > SAMPLES as u64, "{inst} instantiations");
    assert!(hits > 0 && exhausted > 0 && ops > 0);
}

#[test]
fn capi_sample() {
    let stats = run_all("capi", inputs("capi", 0xcab1, 16, 512), capi::run);
    let calls: u64 = stats.iter().map(|s| s.calls).sum();
    eprintln!("capi: {calls} C API operations checked");
    assert!(calls > SAMPLES as u64 * 20, "{calls} operations");
}

// Regression tests: each finding of a target, with its minimized input.

/// `capi` found that a linker resolved a module of another engine
/// (`wasmpool_linker_instantiate_pre` succeeded, and `wasmpool_instance_new`
/// with a foreign linker succeeded or failed depending on the store). A
/// linker is for one engine: both are now invalid-argument errors.
#[test]
fn regression_linker_refuses_a_module_of_another_engine() {
    use wasmpool::{Config, Engine, ErrorKind, Linker, Module, Store};
    let (a, b) =
        (Engine::new(&Config::default()).unwrap(), Engine::new(&Config::default()).unwrap());
    let module = Module::new(&b, b"\0asm\x01\0\0\0").unwrap();
    let linker = Linker::<()>::new(&a);
    let Err(err) = linker.instantiate_pre(&module) else { panic!("accepted") };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err:?}");
    let mut store = Store::new(&b, ());
    let Err(err) = linker.instantiate(&mut store, &module) else { panic!("accepted") };
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err:?}");
    Linker::<()>::new(&b).instantiate(&mut store, &module).expect("the module's own engine");
}
