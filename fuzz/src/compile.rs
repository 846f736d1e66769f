//! The `compile` target: bytes into `Module::new` on an on-demand and a
//! pooled engine. The only acceptable outcomes are `Ok` or an `Err` of a kind
//! that describes the input (invalid module, unsupported feature, limit):
//! never a panic, an abort, a crash, an internal error or a hang.
//!
//! The input's first byte chooses what is compiled: the rest of the input as
//! it is (arbitrary bytes), or a `wasm-smith` module generated from the rest
//! and then mutated bytewise (the mutations are drawn from the same input),
//! which reaches deep into the validator and translator far more often than
//! random bytes do.
//!
//! A quarter of the inputs (the first byte's low two bits set) test
//! precompiled modules instead: a generated module is compiled, serialized,
//! and its bytes are mutated before `Module::deserialize` on both engines.
//! Either the mutations are sealed with a fresh checksum, so they reach the
//! header and metadata checks behind it, or they are left as they are, so
//! the checksum itself (and truncation) is exercised. Loading must be `Ok`
//! or an `InvalidModule` / `Limit` error, never a panic or a crash; a file
//! whose bytes did not change must load and behave as the module it came
//! from (the same exports, the same state after instantiation, the same
//! results of each export called with zeros). A changed file that still
//! loads is not run: a precompiled file is trusted for its code (see
//! RELIABILITY.md), and the target checks what loading promises.

use crate::common::{Shape, Value, smith_module, snapshot};
use arbitrary::Unstructured;
use std::sync::OnceLock;
use wasmpool::{Config, Engine, ErrorKind, Extern, Linker, Module, PoolingConfig, Store, Val};

/// The two engines every input is compiled on, made once per process.
fn engines() -> &'static (Engine, Engine) {
    static ENGINES: OnceLock<(Engine, Engine)> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let config = Config { parallel_compilation: false, ..Config::default() };
        let on_demand = Engine::new(&config).expect("on-demand engine");
        // A small pool that still admits every module `Shape::DEFAULT`
        // generates, so most accepted modules are accepted by both.
        let pool = PoolingConfig {
            total_core_instances: 2,
            total_memories: 4,
            total_tables: 4,
            max_memories_per_module: 2,
            max_tables_per_module: 2,
            max_memory_size: 1 << 20,
            table_elements: 1000,
            ..PoolingConfig::default()
        };
        let pooled = Engine::new_pooling(&config, &pool).expect("pooled engine");
        (on_demand, pooled)
    })
}

/// What one input produced (for the sample test's statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the on-demand engine accepted the module.
    pub accepted: bool,
    /// Whether the input was a (mutated) `wasm-smith` module.
    pub generated: bool,
    /// Whether the input was a precompiled module (mutated or not).
    pub precompiled: bool,
    /// Whether a precompiled module loaded (on the on-demand engine).
    pub loaded: bool,
    /// Whether the precompiled bytes were changed by the mutations.
    pub changed: bool,
}

/// Runs one input; panics on any outcome the target forbids.
pub fn run(data: &[u8]) -> Outcome {
    let (mode, rest) = match data.split_first() {
        Some((m, rest)) => (*m, rest),
        None => return Outcome::default(),
    };
    if mode & 3 == 3 {
        return precompiled(rest);
    }
    let mut outcome = Outcome::default();
    let wasm = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(mut wasm) = smith_module(&mut u, &Shape::DEFAULT) else {
            return outcome;
        };
        mutate(&mut u, &mut wasm, usize::MAX);
        outcome.generated = true;
        wasm
    };
    let (on_demand, pooled) = engines();
    let a = Module::new(on_demand, &wasm);
    let b = Module::new(pooled, &wasm);
    for result in [&a, &b] {
        if let Err(e) = result {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidModule | ErrorKind::Unsupported | ErrorKind::Limit
                ),
                "Module::new failed with {:?}: {}",
                e.kind(),
                e.message()
            );
        }
    }
    // Validity does not depend on the allocation strategy: the pooled engine
    // may only add `Limit` refusals.
    match (&a, &b) {
        (Ok(_), Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::Limit, "accepted on demand, refused pooled: {e:?}")
        }
        (Err(e), Ok(_)) => panic!("refused on demand ({e:?}) but accepted pooled"),
        (Err(x), Err(y)) if x.kind() != y.kind() => {
            assert_eq!(y.kind(), ErrorKind::Limit, "different errors: {x:?} vs {y:?}")
        }
        _ => {}
    }
    // `Module::validate` must agree with compilation on validity.
    let valid = Module::validate(on_demand, &wasm);
    match (&a, &valid) {
        (Ok(_), Err(e)) => panic!("compiled, but validate refused it: {e:?}"),
        (Err(e), Ok(())) if e.kind() == ErrorKind::InvalidModule => {
            panic!("validate accepted what compilation called invalid: {e:?}")
        }
        _ => {}
    }
    outcome.accepted = a.is_ok();
    outcome
}

/// Where a precompiled file's checksum lies, and the first byte it covers
/// (`src/module/artifact.rs` documents the layout).
const CHECKSUM_AT: usize = 12;
const CHECKED_FROM: usize = 16;

/// The precompiled-module half of the target (see the module docs).
fn precompiled(data: &[u8]) -> Outcome {
    let mut outcome = Outcome { precompiled: true, generated: true, ..Outcome::default() };
    let mut u = Unstructured::new(data);
    let reseal = u.arbitrary::<bool>().unwrap_or(false);
    let Ok(wasm) = smith_module(&mut u, &Shape::DEFAULT) else {
        return outcome;
    };
    let (on_demand, pooled) = engines();
    let Ok(original) = Module::new(on_demand, &wasm) else {
        return outcome;
    };
    let bytes = original.serialize().expect("a compiled module serializes");
    let mut file = bytes.clone();
    // Three times in four the mutations stay in the header and metadata
    // (what loading parses); otherwise they land anywhere, code included.
    let meta_end = 72 + u64::from_le_bytes(bytes[64..72].try_into().expect("8 bytes")) as usize;
    let limit = if u.ratio(3, 4u8).unwrap_or(true) { meta_end } else { usize::MAX };
    mutate(&mut u, &mut file, limit);
    if reseal && file.len() >= CHECKED_FROM {
        let sum = crc32fast::hash(&file[CHECKED_FROM..]);
        file[CHECKSUM_AT..CHECKED_FROM].copy_from_slice(&sum.to_le_bytes());
    }
    outcome.changed = file != bytes;
    let a = Module::deserialize(on_demand, &file);
    let b = Module::deserialize(pooled, &file);
    for result in [&a, &b] {
        if let Err(e) = result {
            assert!(
                matches!(e.kind(), ErrorKind::InvalidModule | ErrorKind::Limit),
                "Module::deserialize failed with {:?}: {}",
                e.kind(),
                e.message()
            );
        }
    }
    outcome.loaded = a.is_ok();
    if !outcome.changed {
        let loaded = a.unwrap_or_else(|e| panic!("its own precompiled bytes refused: {e:?}"));
        behaves_alike(on_demand, &original, &loaded);
        if let Ok(pooled_copy) = b {
            behaves_alike(
                pooled,
                &Module::new(pooled, &wasm).expect("compiled above"),
                &pooled_copy,
            );
        }
    }
    outcome
}

/// Asserts that `loaded` (from precompiled bytes) behaves as `original`: the
/// same exports and imports, the same instantiation outcome and state, and
/// the same result (or trap) from each exported function called with zeros.
fn behaves_alike(engine: &Engine, original: &Module, loaded: &Module) {
    assert_eq!(format!("{:?}", original.exports()), format!("{:?}", loaded.exports()));
    assert_eq!(format!("{:?}", original.imports()), format!("{:?}", loaded.imports()));
    let mut runs = [original, loaded].map(|module| {
        let mut store = Store::new(engine, ());
        let instance = Linker::new(engine).instantiate(&mut store, module);
        (store, instance)
    });
    let [(s1, i1), (s2, i2)] = &mut runs;
    let (i1, i2) = match (i1, i2) {
        (Ok(a), Ok(b)) => (*a, *b),
        (Err(x), Err(y)) => {
            let (x, y) = (x.trap().map(|t| t.code()), y.trap().map(|t| t.code()));
            assert_eq!(x, y, "instantiation failed differently");
            return;
        }
        (x, y) => panic!("instantiation differs: {:?} vs {:?}", x.is_ok(), y.is_ok()),
    };
    assert_eq!(snapshot(s1, &i1), snapshot(s2, &i2), "state after instantiation differs");
    for (name, ext) in i1.exports(&mut *s1) {
        let Extern::Func(f1) = ext else { continue };
        let f2 = i2.get_func(&mut *s2, &name).expect("the same exports");
        let ty = f1.ty(s1);
        let args: Vec<Val> = ty.params().iter().map(|t| Val::default_for(*t)).collect();
        let call = |store: &mut Store<()>, f: wasmpool::Func| {
            let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t)).collect();
            match f.call(store, &args, &mut results) {
                Ok(()) => Ok(results.iter().map(|v| Value::of(store, v)).collect::<Vec<_>>()),
                Err(e) => Err(e.trap().map(|t| t.code())),
            }
        };
        let (r1, r2) = (call(s1, f1), call(s2, f2));
        assert_eq!(r1, r2, "{name:?} called with zeros differs");
        assert_eq!(snapshot(s1, &i1), snapshot(s2, &i2), "state after {name:?} differs");
    }
}

/// Overwrites, inserts or deletes a few bytes of `wasm` before offset
/// `limit`, as `u` says.
fn mutate(u: &mut Unstructured<'_>, wasm: &mut Vec<u8>, limit: usize) {
    let n = u.int_in_range(0..=4u8).unwrap_or(0);
    for _ in 0..n {
        if wasm.is_empty() {
            return;
        }
        let at = u.choose_index(wasm.len().min(limit)).unwrap_or(0);
        match u.int_in_range(0..=3u8).unwrap_or(0) {
            0 => wasm[at] = u.arbitrary().unwrap_or(0),
            1 => wasm[at] ^= 1 << u.int_in_range(0..=7u8).unwrap_or(0),
            2 => wasm.insert(at, u.arbitrary().unwrap_or(0x80)),
            _ => {
                wasm.remove(at);
            }
        }
    }
}
