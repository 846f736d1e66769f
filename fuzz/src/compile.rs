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

use crate::common::{Shape, smith_module};
use arbitrary::Unstructured;
use std::sync::OnceLock;
use wasmpool::{Config, Engine, ErrorKind, Module, PoolingConfig};

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
}

/// Runs one input; panics on any outcome the target forbids.
pub fn run(data: &[u8]) -> Outcome {
    let (mode, rest) = match data.split_first() {
        Some((m, rest)) => (*m, rest),
        None => return Outcome::default(),
    };
    let mut outcome = Outcome::default();
    let wasm = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(mut wasm) = smith_module(&mut u, &Shape::DEFAULT) else {
            return outcome;
        };
        mutate(&mut u, &mut wasm);
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

/// Overwrites, inserts or deletes a few bytes of `wasm`, as `u` says.
fn mutate(u: &mut Unstructured<'_>, wasm: &mut Vec<u8>) {
    let n = u.int_in_range(0..=4u8).unwrap_or(0);
    for _ in 0..n {
        if wasm.is_empty() {
            return;
        }
        let at = u.choose_index(wasm.len()).unwrap_or(0);
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
