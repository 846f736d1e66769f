//! The fuzz targets of `fuzz/` on a fixed-seed sample, so the test command
//! catches a regression without cargo-fuzz: each target runs its committed
//! seed corpus (`fuzz/corpus/<target>/`) and then about 2,000 inputs from a
//! fixed seed. The targets' logic is shared with `fuzz/` by `#[path]`.
//!
//! Outside the test command the same tests make long runs without the
//! fuzzer's instrumentation: `WASMPOOL_FUZZ_SAMPLES=<n>` sets the number of
//! generated inputs and `WASMPOOL_FUZZ_SEED=<n>` the seed (each target's
//! own by default), e.g.
//! `WASMPOOL_FUZZ_SAMPLES=200000 WASMPOOL_FUZZ_SEED=7 cargo test --release
//! --test fuzz_samples differential_sample -- --nocapture`. Inputs are
//! generated one at a time, so a long run needs no more memory than a short
//! one.

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

/// Inputs each target runs beyond its corpus, unless `WASMPOOL_FUZZ_SAMPLES`
/// says otherwise.
const SAMPLES: usize = 2000;

/// The number of generated inputs: `WASMPOOL_FUZZ_SAMPLES`, or [`SAMPLES`].
fn samples() -> usize {
    std::env::var("WASMPOOL_FUZZ_SAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(SAMPLES)
}

/// The committed corpus of `target`, then [`samples`] inputs from `seed`
/// (or `WASMPOOL_FUZZ_SEED`), generated as they are consumed.
fn inputs(
    target: &str,
    seed: u64,
    min: usize,
    max: usize,
) -> impl ExactSizeIterator<Item = (String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        // Only the committed seeds: fuzzing runs add their finds to the same
        // folder (ignored by git), which would make the sample differ by machine.
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")))
            .collect();
        paths.sort();
        for p in paths {
            out.push((p.display().to_string(), std::fs::read(&p).expect("corpus file")));
        }
    }
    let seed =
        std::env::var("WASMPOOL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(seed);
    let mut rng = SplitMix(seed);
    let target = target.to_string();
    let generated = (0..samples())
        .map(move |i| (format!("{target} sample {i} (seed {seed:#x})"), rng.bytes(min, max)));
    let n = out.len() + samples();
    Counted(out.into_iter().chain(generated), n)
}

/// An iterator with a known length (a chain of two is not `ExactSizeIterator`).
struct Counted<I>(I, usize);

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let item = self.0.next()?;
        self.1 -= 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator> ExactSizeIterator for Counted<I> {}

/// Runs `f` on each input, naming the input when it panics.
fn run_all<R>(
    target: &str,
    inputs: impl ExactSizeIterator<Item = (String, Vec<u8>)>,
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
    let count = |f: fn(&compile::Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let precompiled = count(|o| o.precompiled);
    let intact = count(|o| o.precompiled && !o.changed && o.loaded);
    let refused = count(|o| o.precompiled && o.changed && !o.loaded);
    let changed_loaded = count(|o| o.precompiled && o.changed && o.loaded);
    eprintln!(
        "compile: {generated} generated, {accepted} accepted; {precompiled} precompiled: {intact} intact and alike, {refused} changed and refused, {changed_loaded} changed and loaded"
    );
    // The sample must reach the compiler, not only the parser.
    assert!(generated > samples() / 3, "{generated} generated");
    assert!(accepted > samples() / 10, "{accepted} accepted");
    // And loading precompiled files: intact ones compared, changed ones refused.
    assert!(intact > samples() / 50, "{intact} intact precompiled modules compared");
    assert!(refused > samples() / 50, "{refused} changed precompiled modules refused");
}

#[test]
fn differential_sample() {
    let stats =
        run_all("differential", inputs("differential", 0xd1ff, 256, 16384), differential::run);
    let sum = |f: fn(&differential::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let (modules, instantiated, calls, traps) =
        (sum(|s| s.modules), sum(|s| s.instantiated), sum(|s| s.calls), sum(|s| s.traps));
    let (simd, precompiled, resumable, suspensions) = (
        sum(|s| s.simd_calls),
        sum(|s| s.precompiled),
        sum(|s| s.resumable),
        sum(|s| s.suspensions),
    );
    eprintln!(
        "differential: {modules} modules, {instantiated} instantiated, {calls} calls ({traps} trapped, {simd} with v128), {} stack overflows; {precompiled} precompiled, {resumable} resumable ({suspensions} suspensions)",
        sum(|s| s.stack_overflows)
    );
    assert!(modules > samples() as u64 * 9 / 10, "{modules} modules compared");
    assert!(calls > samples() as u64, "{calls} calls compared");
    assert!(traps > 0 && traps < calls, "{traps} of {calls} calls trapped");
    assert!(simd > 0, "no call with a v128 was compared");
    assert!(precompiled > samples() as u64 / 10, "{precompiled} precompiled modules compared");
    assert!(resumable > samples() as u64 / 10, "{resumable} modules run resumably");
    assert!(suspensions > resumable, "{suspensions} suspensions in {resumable} modules");
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
    let resumable = sum(|s| s.resumable);
    eprintln!(
        "instantiate_many: {engines} pools, {inst} instantiations checked ({hits} affine reuses, {resumable} resumable), {exhausted} exhausted, {ops} operations"
    );
    assert!(engines > samples() as u64 / 2, "{engines} pools");
    assert!(inst > samples() as u64, "{inst} instantiations");
    assert!(hits > 0 && exhausted > 0 && ops > 0);
    assert!(resumable > inst / 10, "{resumable} of {inst} instantiations resumable");
}

#[test]
fn capi_sample() {
    let stats = run_all("capi", inputs("capi", 0xcab1, 16, 512), capi::run);
    let calls: u64 = stats.iter().map(|s| s.calls).sum();
    let sum = |f: fn(&capi::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let (backtraces, loaded, refused) =
        (sum(|s| s.backtraces), sum(|s| s.loaded), sum(|s| s.refused));
    eprintln!(
        "capi: {calls} C API operations checked; {backtraces} backtraces, {loaded} precompiled modules loaded, {refused} refused"
    );
    assert!(calls > samples() as u64 * 20, "{calls} operations");
    assert!(backtraces > 0 && loaded > 0 && refused > 0, "backtraces, loads and refusals reached");
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

/// `capi` found, under AddressSanitizer, every call trapping with
/// `StackOverflow` before running: the entry took its stack pointer from a
/// local's address, which ASan's use-after-return detection had moved to a
/// heap "fake stack", far below the thread's stack, so the limit floor (the
/// thread's stack bottom) was above it. (Input:
/// `fuzz/corpus/capi/seed-regression-stack-pointer`; it needs ASan to fail.)
/// The entry now reads the register, and applies the floor only when it
/// runs on the thread's own stack. The same flaw made every call from a
/// fiber (a stack of the host's making, below the thread's) trap, which this
/// test checks without ASan: wasm runs on a fiber, and recursion there still
/// traps with `StackOverflow`.
#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
#[test]
fn regression_wasm_runs_on_a_fiber_stack() {
    use std::cell::RefCell;
    use wasmpool::{Config, Engine, Linker, Module, Store, TrapCode, Val};

    thread_local! {
        static BODY: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
        static CONTEXTS: RefCell<[libc::ucontext_t; 2]> =
            // SAFETY: ucontext_t is plain data, filled by getcontext before use.
            const { RefCell::new(unsafe { std::mem::zeroed() }) };
    }
    extern "C" fn fiber_main() {
        if let Some(body) = BODY.with(|b| b.borrow_mut().take()) {
            // A panic must not unwind out of the fiber: the test checks the
            // results after switching back.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        }
    }

    let wasm = wat::parse_str(
        r#"(module (func (export "run") (result i32) i32.const 42)
                   (func $r (export "recurse") (param i32) (result i32)
                     local.get 0 i32.const 1 i32.add call $r))"#,
    )
    .unwrap();
    let engine = Engine::new(&Config::default()).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let outcome = std::rc::Rc::new(RefCell::new(None));
    let out = outcome.clone();
    BODY.with(|b| {
        *b.borrow_mut() = Some(Box::new(move || {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let run = instance.get_func(&mut store, "run").unwrap();
            let mut r = [Val::I32(0)];
            let ran = run.call(&mut store, &[], &mut r).map(|()| r[0]);
            let recurse = instance.get_func(&mut store, "recurse").unwrap();
            let deep = recurse.call(&mut store, &[Val::I32(0)], &mut r);
            *out.borrow_mut() = Some((ran, deep.map_err(|e| e.trap().map(|t| t.code()))));
        }))
    });
    // A 4 MiB fiber stack from mmap: far from the thread's own stack.
    let size = 4 << 20;
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(stack, libc::MAP_FAILED);
    CONTEXTS.with(|c| {
        let mut c = c.borrow_mut();
        let [main, fiber] = &mut *c;
        // SAFETY: getcontext fills `fiber`; makecontext points it at
        // `fiber_main` on the mapped stack and back to `main` when it returns;
        // swapcontext runs it and comes back. The contexts outlive the switch.
        unsafe {
            assert_eq!(libc::getcontext(fiber), 0);
            fiber.uc_stack.ss_sp = stack;
            fiber.uc_stack.ss_size = size;
            fiber.uc_link = main;
            libc::makecontext(fiber, fiber_main, 0);
            assert_eq!(libc::swapcontext(main, fiber), 0);
        }
    });
    // SAFETY: the mapping made above; the fiber has finished.
    unsafe { libc::munmap(stack, size) };
    let (ran, deep) = outcome.borrow_mut().take().expect("the fiber ran");
    assert_eq!(ran.map_err(|e| e.to_string()), Ok(Val::I32(42)), "a call on a fiber runs");
    assert_eq!(deep, Err(Some(TrapCode::StackOverflow)), "recursion on a fiber traps");
}

/// The soak test found spurious `PoolExhausted` errors with batched
/// decommits: a thread that filled the batch took it out of the queue and
/// decommitted it, and another thread finding the pool full meanwhile
/// flushed an empty queue and gave up, although every store holding those
/// slots had been deleted. Two threads here each instantiate and drop in a
/// loop on a pool with exactly one slot of each kind per thread, where every
/// drop fills the batch: no instantiation may find the pool exhausted.
#[test]
fn regression_batched_decommits_never_exhaust_a_pool_with_room() {
    use wasmpool::{Config, Engine, Linker, Module, PoolingConfig, Store};
    let pool = PoolingConfig {
        total_core_instances: 2,
        total_memories: 2,
        total_tables: 2,
        max_memory_size: 1 << 16,
        table_elements: 16,
        decommit_batch_size: 2,
        ..PoolingConfig::default()
    };
    let config = Config { memory_reservation: 1 << 16, memory_guard_size: 0, ..Config::default() };
    let engine = Engine::new_pooling(&config, &pool).unwrap();
    let wasm = wat::parse_str(
        r#"(module (memory (export "m") 1) (table (export "t") 1 funcref)
                   (func (export "w") (i32.store (i32.const 8) (i32.const 1))))"#,
    )
    .unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut n = 0u64;
                while std::time::Instant::now() < deadline {
                    let mut store = Store::new(&engine, ());
                    let instance = Linker::new(&engine)
                        .instantiate(&mut store, &module)
                        .unwrap_or_else(|e| panic!("instantiation {n}: {e:?}"));
                    let w = instance.get_func(&mut store, "w").unwrap();
                    w.call(&mut store, &[], &mut []).unwrap();
                    n += 1;
                }
                assert!(n > 100, "{n} instantiations");
            });
        }
    });
    let m = engine.pool_metrics().unwrap();
    assert_eq!((m.core_instances, m.memories, m.tables), (0, 0, 0));
}
