//! The `differential` target: a `wasm-smith` module (see
//! [`crate::common::smith_config`]) runs in libwasmpool and in `wasmi`, the
//! oracle, and everything observable must agree:
//!
//! - acceptance (both compile it, or both refuse it);
//! - instantiation (both succeed, or both trap with the same trap code);
//! - for each exported function, called in export order and then a few more
//!   times in an order the input chooses, with arguments from the input:
//!   results bit for bit, or trap versus no trap and the trap code;
//! - after instantiation and after every call: every exported global, every
//!   exported table (element null or not, and the function type) and a hash
//!   of every exported memory with its size.
//!
//! Termination is bounded by `wasm-smith`'s `ensure_termination`, which both
//! runtimes execute alike. Resource exhaustion is where runtimes may
//! legitimately differ: once either side overflows its stack, the comparison
//! of that module stops there.
//!
//! Our side runs on one of five engines the input chooses, so each way of
//! bounds checking is compared: the default (4 GiB reservation and a guard:
//! no checks), no guard (checks for large offsets), a small reservation
//! (explicit, Spectre-safe checks on every access) and a pooled engine; the
//! fifth is pooled with resumable calls: instantiation and every call run on
//! a pooled fiber stack and suspend every few fuel units (the input picks
//! the interval), and are polled to completion. In a quarter of the inputs
//! our module is also not the compiled one but the one loaded back from its
//! precompiled bytes (`Module::serialize` then `Module::deserialize`), so
//! precompiled modules are compared with the oracle too.
//!
//! Modules include fixed-width SIMD (`wasmi`'s `simd` feature); relaxed
//! SIMD is left out, since its results are implementation-defined.

use crate::common::{
    ExportState, Shape, Value, arbitrary_val, hash_bytes, poll_to_end, smith_module, snapshot,
};
use arbitrary::Unstructured;
use std::sync::OnceLock;
use wasmpool::{
    Config, Engine, ErrorKind, Extern, FuncType, Instance, Linker, Module, PoolingConfig, Store,
    TrapCode, Val, ValType,
};

/// Counts of what one input compared (summed by the sample test and the soak).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Modules both runtimes compiled (or both refused).
    pub modules: u64,
    /// Modules instantiated in both.
    pub instantiated: u64,
    /// Calls whose outcomes were compared.
    pub calls: u64,
    /// Calls that trapped (in both).
    pub traps: u64,
    /// Modules whose comparison stopped at a stack overflow.
    pub stack_overflows: u64,
    /// Compared calls with a `v128` parameter or result.
    pub simd_calls: u64,
    /// Modules whose our side was loaded from its precompiled bytes.
    pub precompiled: u64,
    /// Modules run with resumable calls.
    pub resumable: u64,
    /// Times a resumable instantiation or call suspended (and was resumed).
    pub suspensions: u64,
}

/// The engine of resumable calls (the last of [`engines`]).
const ASYNC: usize = 4;

/// Our engines: default, no guard, small reservation, pooled, and pooled
/// with resumable calls (and fuel, for the yield interval).
fn engines() -> &'static [Engine; 5] {
    static ENGINES: OnceLock<[Engine; 5]> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let base = Config { parallel_compilation: false, ..Config::default() };
        let no_guard = Config { memory_guard_size: 0, ..base.clone() };
        let small = Config { memory_reservation: 1 << 20, memory_guard_size: 0, ..base.clone() };
        let pool = PoolingConfig {
            total_core_instances: 4,
            total_memories: 8,
            total_tables: 8,
            max_memories_per_module: 2,
            max_tables_per_module: 2,
            max_memory_size: 1 << 20,
            table_elements: 1000,
            total_stacks: 4,
            ..PoolingConfig::default()
        };
        let resumable = Config {
            async_support: true,
            consume_fuel: true,
            async_stack_size: 1 << 20,
            ..base.clone()
        };
        [
            Engine::new(&base).expect("engine"),
            Engine::new(&no_guard).expect("engine"),
            Engine::new(&small).expect("engine"),
            Engine::new_pooling(&base, &pool).expect("pooled engine"),
            Engine::new_pooling(&resumable, &pool).expect("pooled engine with async support"),
        ]
    })
}

/// The oracle's engine, with the same feature set as ours (fixed-width SIMD
/// through wasmi's `simd` cargo feature; relaxed SIMD off).
fn wasmi_engine() -> &'static wasmi::Engine {
    static ENGINE: OnceLock<wasmi::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmi::Config::default();
        config
            .wasm_multi_memory(true)
            .wasm_simd(true)
            .wasm_relaxed_simd(false)
            .wasm_tail_call(false)
            .wasm_extended_const(false)
            .wasm_memory64(false)
            .wasm_wide_arithmetic(false)
            .wasm_custom_page_sizes(false);
        wasmi::Engine::new(&config)
    })
}

/// How a call (or an instantiation) ended.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Results.
    Returned(Vec<Value>),
    /// A trap, with its code where the runtime names one we know.
    Trapped(Option<TrapCode>),
}

/// Runs one input; panics on any disagreement.
pub fn run(data: &[u8]) -> Stats {
    let mut stats = Stats::default();
    let mut u = Unstructured::new(data);
    let which = u.choose_index(5).unwrap_or(0);
    let engine = &engines()[which];
    let precompiled = u.ratio(1, 4u8).unwrap_or(false);
    let yield_every = u.int_in_range(1..=500u64).unwrap_or(100);
    let Ok(wasm) = smith_module(&mut u, &Shape::DEFAULT) else {
        return stats;
    };

    // Acceptance.
    let mut ours = Module::new(engine, &wasm);
    if precompiled && let Ok(module) = &ours {
        let bytes = module.serialize().expect("a compiled module serializes");
        ours = Module::deserialize(engine, &bytes);
        assert!(ours.is_ok(), "its own precompiled bytes refused: {:?}", ours.err());
        stats.precompiled += 1;
    }
    let theirs = wasmi::Module::new(wasmi_engine(), &wasm[..]);
    let (module, wmodule) = match (ours, theirs) {
        (Ok(m), Ok(w)) => (m, w),
        (Err(e), Err(_)) => {
            stats.modules += 1;
            assert_ne!(e.kind(), ErrorKind::Internal, "{e:?}");
            return stats;
        }
        (Err(e), Ok(_)) if e.kind() == ErrorKind::Limit && engine.is_pooling() => return stats,
        (Err(e), Ok(_)) => panic!("wasmpool refused a module wasmi accepts: {e:?}"),
        (Ok(_), Err(e)) => panic!("wasmpool accepted a module wasmi refuses: {e}"),
    };
    stats.modules += 1;

    // Instantiation.
    let mut store = Store::new(engine, ());
    let mut wstore = wasmi::Store::new(wasmi_engine(), ());
    let resumable = which == ASYNC;
    let ours = if resumable {
        stats.resumable += 1;
        store.set_fuel(u64::MAX).expect("fuel is on");
        store.fuel_async_yield_interval(Some(yield_every)).expect("async support is on");
        let linker = Linker::new(engine);
        counted(poll_to_end(linker.instantiate_async(&mut store, &module)), &mut stats)
    } else {
        Linker::new(engine).instantiate(&mut store, &module)
    };
    let theirs =
        wasmi::Linker::<()>::new(wasmi_engine()).instantiate_and_start(&mut wstore, &wmodule);
    let (instance, winstance) = match (ours, theirs) {
        (Ok(i), Ok(w)) => (i, w),
        (Err(e), Err(w)) => {
            let ours = e.trap().map(|t| t.code());
            assert!(ours.is_some(), "instantiation failed without a trap: {e:?}");
            let theirs = wasmi_error_trap(&w);
            if ours != Some(TrapCode::StackOverflow) && theirs != Some(TrapCode::StackOverflow) {
                assert_eq!(ours, theirs, "instantiation trapped differently: {e:?} vs {w}");
            }
            return stats;
        }
        (Err(e), Ok(_)) if e.trap().is_some_and(|t| t.code() == TrapCode::StackOverflow) => {
            stats.stack_overflows += 1;
            return stats;
        }
        (Err(e), Ok(_)) if e.kind() == ErrorKind::PoolExhausted => return stats,
        (Err(e), Ok(_)) => panic!("instantiation failed in wasmpool only: {e:?}"),
        (Ok(_), Err(w)) => panic!("instantiation failed in wasmi only: {w}"),
    };
    stats.instantiated += 1;
    compare_state(&mut store, &instance, &wstore, &winstance, "after instantiation");

    // Calls: every exported function once, in export order, then a few the
    // input picks.
    let funcs: Vec<String> = instance
        .exports(&mut store)
        .into_iter()
        .filter(|(_, e)| matches!(e, Extern::Func(_)))
        .map(|(name, _)| name)
        .collect();
    let extra = if funcs.is_empty() { 0 } else { u.int_in_range(0..=4usize).unwrap_or(0) };
    let order =
        (0..funcs.len()).chain((0..extra).map(|_| u.choose_index(funcs.len()).unwrap_or(0)));
    for i in order.collect::<Vec<_>>() {
        let name = &funcs[i];
        let func = instance.get_func(&mut store, name).expect("exported function");
        let wfunc = winstance.get_func(&wstore, name).expect("wasmi exports it too");
        let ty = func.ty(&store);
        let args: Vec<Val> = ty.params().iter().map(|t| arbitrary_val(&mut u, *t)).collect();
        let wargs: Vec<wasmi::Val> = args.iter().map(to_wasmi).collect();

        let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t)).collect();
        let called = if resumable {
            counted(poll_to_end(func.call_async(&mut store, &args, &mut results)), &mut stats)
        } else {
            func.call(&mut store, &args, &mut results)
        };
        let ours = match called {
            Ok(()) => Outcome::Returned(results.iter().map(|v| Value::of(&store, v)).collect()),
            Err(e) => Outcome::Trapped(Some(
                e.trap().unwrap_or_else(|| panic!("call failed without a trap: {e:?}")).code(),
            )),
        };
        let wty = wfunc.ty(&wstore);
        let mut wresults: Vec<wasmi::Val> =
            wty.results().iter().map(|t| wasmi::Val::default_for_ty(*t)).collect();
        let theirs = match wfunc.call(&mut wstore, &wargs, &mut wresults) {
            Ok(()) => Outcome::Returned(wresults.iter().map(|v| from_wasmi(&wstore, v)).collect()),
            Err(e) => Outcome::Trapped(wasmi_error_trap(&e)),
        };
        let overflow = Outcome::Trapped(Some(TrapCode::StackOverflow));
        if ours == overflow || theirs == overflow {
            if std::env::var_os("DIFF_DEBUG").is_some() {
                eprintln!("overflow: ours {ours:?} theirs {theirs:?}");
            }
            // Stack limits differ between runtimes; what follows may too.
            stats.stack_overflows += 1;
            return stats;
        }
        assert_eq!(ours, theirs, "call of {name:?} with {args:?} differs (wasmpool vs wasmi)");
        stats.calls += 1;
        if ty.params().iter().chain(ty.results()).any(|t| *t == ValType::V128) {
            stats.simd_calls += 1;
        }
        if matches!(ours, Outcome::Trapped(_)) {
            stats.traps += 1;
        }
        compare_state(&mut store, &instance, &wstore, &winstance, &format!("after {name:?}"));
    }
    stats
}

/// The output of [`poll_to_end`], adding its suspensions to `stats`.
fn counted<R>((output, suspensions): (R, u64), stats: &mut Stats) -> R {
    stats.suspensions += suspensions;
    output
}

/// Asserts that every export of the two instances holds the same state.
fn compare_state(
    store: &mut Store<()>,
    instance: &Instance,
    wstore: &wasmi::Store<()>,
    winstance: &wasmi::Instance,
    when: &str,
) {
    // wasmi lists exports in its own order: compare by name.
    let mut ours = snapshot(store, instance);
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    let mut theirs: Vec<(String, ExportState)> = winstance
        .exports(wstore)
        .map(|e| {
            let name = e.name().to_string();
            let state = match e.into_extern() {
                wasmi::Extern::Func(_) => ExportState::Func,
                wasmi::Extern::Global(g) => ExportState::Global(from_wasmi(wstore, &g.get(wstore))),
                wasmi::Extern::Memory(m) => {
                    ExportState::Memory { pages: m.size(wstore), hash: hash_bytes(m.data(wstore)) }
                }
                wasmi::Extern::Table(t) => ExportState::Table(
                    (0..t.size(wstore))
                        .map(|i| {
                            let r = t.get(wstore, i).expect("index below size");
                            from_wasmi(wstore, &r.into())
                        })
                        .collect(),
                ),
            };
            (name, state)
        })
        .collect();
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    if ours != theirs {
        for ((a, x), (b, y)) in ours.iter().zip(&theirs) {
            if a != b || x != y {
                panic!("export state differs {when}: wasmpool {a:?} = {x:?}, wasmi {b:?} = {y:?}");
            }
        }
        panic!("export lists differ {when}: {} vs {}", ours.len(), theirs.len());
    }
}

/// The trap code of a wasmi error, if it reports a trap. wasmi reports an
/// element segment that does not fit (a trap in the spec) as an
/// instantiation error, and table errors outside compiled code as table
/// errors; both are `TableOutOfBounds` to us.
fn wasmi_error_trap(e: &wasmi::Error) -> Option<TrapCode> {
    use wasmi::errors::{ErrorKind as K, InstantiationError as I};
    if let Some(code) = e.as_trap_code() {
        return wasmi_trap(code);
    }
    match e.kind() {
        K::Instantiation(I::ElementSegmentDoesNotFit { .. }) | K::Table(_) => {
            Some(TrapCode::TableOutOfBounds)
        }
        K::Memory(_) => Some(TrapCode::MemoryOutOfBounds),
        _ => None,
    }
}

/// Our trap code for a wasmi trap code (None for wasmi's own resource codes).
fn wasmi_trap(code: wasmi::TrapCode) -> Option<TrapCode> {
    use wasmi::TrapCode as W;
    Some(match code {
        W::UnreachableCodeReached => TrapCode::Unreachable,
        W::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
        W::TableOutOfBounds => TrapCode::TableOutOfBounds,
        W::IndirectCallToNull => TrapCode::IndirectCallToNull,
        W::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
        W::IntegerOverflow => TrapCode::IntegerOverflow,
        W::BadConversionToInteger => TrapCode::BadConversionToInteger,
        W::StackOverflow => TrapCode::StackOverflow,
        W::BadSignature => TrapCode::BadSignature,
        W::OutOfFuel => TrapCode::OutOfFuel,
        _ => return None,
    })
}

/// Our argument as a wasmi value (references are always null here).
fn to_wasmi(v: &Val) -> wasmi::Val {
    match *v {
        Val::I32(x) => wasmi::Val::I32(x),
        Val::I64(x) => wasmi::Val::I64(x),
        Val::F32(x) => wasmi::Val::F32(wasmi::F32::from_bits(x)),
        Val::F64(x) => wasmi::Val::F64(wasmi::F64::from_bits(x)),
        Val::V128(x) => wasmi::Val::V128(x.into()),
        Val::FuncRef(_) => wasmi::Val::FuncRef(wasmi::Nullable::Null),
        Val::ExternRef(_) => wasmi::Val::ExternRef(wasmi::Nullable::Null),
    }
}

/// A wasmi value in comparable form (a function by its type, formatted as
/// ours formats it).
fn from_wasmi(store: &wasmi::Store<()>, v: &wasmi::Val) -> Value {
    match v {
        wasmi::Val::I32(x) => Value::I32(*x),
        wasmi::Val::I64(x) => Value::I64(*x),
        wasmi::Val::F32(x) => Value::F32(x.to_bits()),
        wasmi::Val::F64(x) => Value::F64(x.to_bits()),
        wasmi::Val::V128(x) => Value::V128(x.as_u128()),
        wasmi::Val::FuncRef(f) => Value::Ref(match f {
            wasmi::Nullable::Val(f) => {
                let ty = f.ty(store);
                let conv =
                    |ts: &[wasmi::ValType]| ts.iter().map(from_wasmi_type).collect::<Vec<_>>();
                Some(FuncType::new(conv(ty.params()), conv(ty.results())).to_string())
            }
            wasmi::Nullable::Null => None,
        }),
        wasmi::Val::ExternRef(r) => Value::Ref(match r {
            wasmi::Nullable::Val(_) => Some("extern".to_string()),
            wasmi::Nullable::Null => None,
        }),
    }
}

fn from_wasmi_type(t: &wasmi::ValType) -> ValType {
    match t {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::V128 => ValType::V128,
        wasmi::ValType::FuncRef => ValType::FuncRef,
        wasmi::ValType::ExternRef => ValType::ExternRef,
    }
}
