//! The `instantiate_many` target: random sequences of instantiate, call,
//! write, grow and drop over a handful of generated modules on a tiny pool
//! (1 to 3 slots of each kind) whose knobs the input chooses: keep-resident
//! sizes, copy-on-write images on or off, the warm-slot budget, the decommit
//! batch size, reservation and guard sizes, fuel and epochs, and resumable
//! calls (1-2 pooled fiber stacks, zeroed or not, kept resident or not: the
//! pooled side then instantiates and calls through `instantiate_async` /
//! `call_async`, suspending every few fuel units when fuel is on).
//!
//! Every pooled instance has a twin: the same module instantiated on a fresh
//! on-demand engine with the same configuration. Right after instantiation
//! the two must hold the same state (every memory byte, table element and
//! global): a byte left by a previous tenant of the slot differs. Every later
//! operation is applied to both and must have the same outcome and leave the
//! same state. After each operation the pool's metrics must count exactly
//! the live instances, memories and tables, and stay within the pool's size
//! and warm budget; at the end every count is back to zero.

use crate::common::{Shape, Value, arbitrary_val, poll_to_end, smith_module, snapshot};
use arbitrary::{Result as AResult, Unstructured};
use wasmpool::{
    Config, Engine, ErrorKind, Extern, ExternType, Func, Instance, Linker, Module, PoolingConfig,
    Store, StoreLimitsBuilder, TrapCode, Val,
};

/// Counts of what one input did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Pooled engines created.
    pub engines: u64,
    /// Successful pooled instantiations checked against their twin.
    pub instantiations: u64,
    /// Of those, instantiations that reused a slot affine to their module.
    pub affinity_hits: u64,
    /// Instantiations refused because the pool was full (when it was).
    pub exhausted: u64,
    /// Operations applied to a pooled instance and its twin.
    pub ops: u64,
    /// Pooled instantiations checked on engines with resumable calls (where
    /// every instantiation and call of the pooled side runs on a fiber).
    pub resumable: u64,
}

/// The engine configuration and pool the input chooses.
pub fn knobs(u: &mut Unstructured<'_>) -> AResult<(Config, PoolingConfig, Shape)> {
    let pages = u.int_in_range(1..=4u64)?;
    let max_memory_size = (pages * crate::common::PAGE) as usize;
    let table_elements = u.int_in_range(1..=64usize)?;
    let total_memories = u.int_in_range(1..=3u32)?;
    let total_tables = u.int_in_range(1..=3u32)?;
    let pool = PoolingConfig {
        total_core_instances: u.int_in_range(1..=3)?,
        total_memories,
        total_tables,
        max_memories_per_module: u.int_in_range(1..=total_memories.min(2))?,
        max_tables_per_module: u.int_in_range(1..=total_tables.min(2))?,
        max_memory_size,
        table_elements,
        max_unused_warm_slots: u.int_in_range(0..=3)?,
        decommit_batch_size: u.int_in_range(1..=3)?,
        linear_memory_keep_resident: *u.choose(&[0, 4096, 65536 + 4096, max_memory_size])?,
        table_keep_resident: *u.choose(&[0, 4096, table_elements * 8])?,
        total_stacks: u.int_in_range(1..=2)?,
        async_stack_zeroing: u.arbitrary()?,
        async_stack_keep_resident: *u.choose(&[0, 4096, 16384])?,
        ..PoolingConfig::default()
    };
    let config = Config {
        memory_reservation: *u.choose(&[max_memory_size as u64, 1 << 20, 4 << 30])?,
        memory_guard_size: *u.choose(&[0, 65536, 32 << 20])?,
        guard_before_linear_memory: u.arbitrary()?,
        memory_init_cow: u.arbitrary()?,
        consume_fuel: u.arbitrary()?,
        epoch_interruption: u.arbitrary()?,
        parallel_compilation: false,
        async_support: u.arbitrary()?,
        async_stack_size: *u.choose(&[64 << 10, 256 << 10, 1 << 20])?,
        ..Config::default()
    };
    let shape = Shape {
        max_memories: pool.max_memories_per_module as usize,
        max_tables: pool.max_tables_per_module as usize,
        max_memory_pages: pages,
        max_table_elements: table_elements as u64,
        fuel: 500,
    };
    Ok((config, pool, shape))
}

/// A module compiled for the pool and for the twin engine.
pub struct Compiled {
    /// Compiled for the pooled engine.
    pub pooled: Module,
    /// Compiled for the on-demand twin engine.
    pub twin: Module,
    /// Defined memories.
    pub memories: u64,
    /// Defined tables.
    pub tables: u64,
}

impl Compiled {
    /// Compiles `wasm` for both engines; `None` when the pool refuses it with
    /// a `Limit` error (as it must for a module it could never hold).
    pub fn new(engine: &Engine, twin_engine: &Engine, wasm: &[u8]) -> Option<Compiled> {
        let twin = Module::new(twin_engine, wasm).expect("a generated module compiles");
        let pooled = match Module::new(engine, wasm) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::Limit => return None,
            Err(e) => panic!("refused by the pooled engine only: {e:?}"),
        };
        let count =
            |f: fn(&ExternType) -> bool| twin.exports().iter().filter(|(_, t)| f(t)).count();
        let memories = count(|t| matches!(t, ExternType::Memory(_))) as u64;
        let tables = count(|t| matches!(t, ExternType::Table(_))) as u64;
        Some(Compiled { pooled, twin, memories, tables })
    }
}

/// A pooled instance and its twin.
pub struct Live {
    /// The pooled instance's store.
    pub store: Store<()>,
    /// The pooled instance.
    pub instance: Instance,
    /// The twin's store (on the on-demand engine).
    pub twin_store: Store<()>,
    /// The twin.
    pub twin: Instance,
    /// Index of its module.
    pub module: usize,
}

/// Fuel given before each instantiation and call when fuel is on.
const FUEL: u64 = 20_000;

/// Runs one input; panics on any violation.
pub fn run(data: &[u8]) -> Stats {
    let mut stats = Stats::default();
    let mut u = Unstructured::new(data);
    let Ok((config, pool, shape)) = knobs(&mut u) else {
        return stats;
    };
    let engine = match Engine::new_pooling(&config, &pool) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::InvalidArgument => return stats,
        Err(e) => panic!("pooled engine: {e:?}"),
    };
    stats.engines += 1;
    let twin_config = Config { allocation_strategy: Default::default(), ..config.clone() };
    let twin_engine = Engine::new(&twin_config).expect("on-demand engine");

    let mut modules = Vec::new();
    for _ in 0..u.int_in_range(1..=3u8).unwrap_or(1) {
        let Ok(wasm) = smith_module(&mut u, &shape) else { break };
        // A module the pool can never hold (its VMContext is too large, say)
        // is refused at compile time, as documented.
        modules.extend(Compiled::new(&engine, &twin_engine, &wasm));
    }
    if modules.is_empty() {
        return stats;
    }

    let mut live: Vec<Live> = Vec::new();
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=9u8).unwrap_or(0) {
            0..=2 => {
                instantiate(&mut u, &engine, &twin_engine, &pool, &modules, &mut live, &mut stats)
            }
            3..=4 if !live.is_empty() => {
                let i = u.choose_index(live.len()).unwrap_or(0);
                if !call(&mut u, &mut live[i], config.consume_fuel) {
                    // A stack overflow may strike one side first: retire the pair.
                    live.swap_remove(i);
                }
                stats.ops += 1;
            }
            5 if !live.is_empty() => {
                let i = u.choose_index(live.len()).unwrap_or(0);
                live.swap_remove(i);
            }
            6 if !live.is_empty() => {
                let i = u.choose_index(live.len()).unwrap_or(0);
                mutate(&mut u, &mut live[i]);
                stats.ops += 1;
            }
            7 => {
                engine.increment_epoch();
                twin_engine.increment_epoch();
            }
            8 => engine.flush_pool(),
            _ => {}
        }
        check_metrics(&engine, &pool, &modules, &live);
    }
    if config.async_support {
        stats.resumable = stats.instantiations;
    }
    let hits = engine.pool_metrics().expect("pooled").affinity_hits;
    stats.affinity_hits = hits;
    drop(live);
    engine.flush_pool();
    let m = engine.pool_metrics().expect("pooled");
    assert_eq!((m.core_instances, m.memories, m.tables), (0, 0, 0), "slots leaked: {m:?}");
    stats
}

/// What instantiating a module in a new store of each engine gave.
pub enum Pair {
    /// Both instantiated, and the pooled one starts as the fresh one does.
    Live(Live),
    /// The pool had no free slot (the caller judges whether it was full).
    Exhausted(wasmpool::Error),
    /// Both failed alike (a trap in a segment or the start function, a
    /// limiter refusal), or one overflowed its stack.
    Failed,
}

/// Instantiates `modules[k]` in a new store of each engine, with the same
/// fuel, epoch deadline and (sometimes) store limits, as `u` says; checks
/// that the outcomes agree and that the pooled instance starts in exactly the
/// state of the on-demand one.
pub fn instantiate_pair(
    u: &mut Unstructured<'_>,
    engine: &Engine,
    twin_engine: &Engine,
    modules: &[Compiled],
    k: usize,
) -> Pair {
    let m = &modules[k];
    let mut store = Store::new(engine, ());
    let mut twin_store = Store::new(twin_engine, ());
    let deadline = u.int_in_range(1..=3u64).unwrap_or(1);
    for s in [&mut store, &mut twin_store] {
        if s.engine().config().consume_fuel {
            s.set_fuel(FUEL).expect("fuel enabled");
        }
        s.set_epoch_deadline(deadline);
    }
    if u.ratio(1u8, 4).unwrap_or(false) {
        let bytes = u.int_in_range(0..=4usize).unwrap_or(0) << 16;
        let limits = || StoreLimitsBuilder::new().memory_size(bytes).build();
        store.limiter(limits());
        twin_store.limiter(limits());
    }
    let resumable = engine.config().async_support;
    if resumable && engine.config().consume_fuel {
        let every = u.int_in_range(1..=200u64).unwrap_or(50);
        store.fuel_async_yield_interval(Some(every)).expect("async support is on");
    }
    let linker = Linker::new(engine);
    let ours = if resumable {
        poll_to_end(linker.instantiate_async(&mut store, &m.pooled)).0
    } else {
        linker.instantiate(&mut store, &m.pooled)
    };
    let theirs = Linker::new(twin_engine).instantiate(&mut twin_store, &m.twin);
    let code = |e: &wasmpool::Error| e.trap().map(|t| t.code());
    // Where the two may legitimately part: a stack overflow, or an epoch
    // interrupt (the soak test ticks only the pooled engine).
    let parts = |e: &wasmpool::Error| {
        matches!(code(e), Some(TrapCode::StackOverflow | TrapCode::Interrupt))
    };
    match (ours, theirs) {
        (Ok(instance), Ok(twin)) => {
            let a = snapshot(&mut store, &instance);
            let b = snapshot(&mut twin_store, &twin);
            assert_eq!(
                a, b,
                "a pooled instance differs from a fresh one right after instantiation"
            );
            Pair::Live(Live { store, instance, twin_store, twin, module: k })
        }
        (Err(e), _) if e.kind() == ErrorKind::PoolExhausted => Pair::Exhausted(e),
        (Err(a), Err(b)) => {
            assert_eq!(a.kind(), b.kind(), "instantiation failed differently: {a:?} vs {b:?}");
            if !parts(&a) && !parts(&b) {
                assert_eq!(code(&a), code(&b), "{a:?} vs {b:?}");
            }
            Pair::Failed
        }
        (Ok(_), Err(e)) => {
            assert!(parts(&e), "instantiated pooled but not on demand: {e:?}");
            Pair::Failed
        }
        (Err(e), Ok(_)) => {
            assert!(parts(&e), "instantiated on demand but not pooled: {e:?}");
            Pair::Failed
        }
    }
}

/// Instantiates a module the input picks (see [`instantiate_pair`]); a full
/// pool is acceptable only when the live instances really fill it.
fn instantiate(
    u: &mut Unstructured<'_>,
    engine: &Engine,
    twin_engine: &Engine,
    pool: &PoolingConfig,
    modules: &[Compiled],
    live: &mut Vec<Live>,
    stats: &mut Stats,
) {
    let k = u.choose_index(modules.len()).unwrap_or(0);
    match instantiate_pair(u, engine, twin_engine, modules, k) {
        Pair::Live(l) => {
            stats.instantiations += 1;
            live.push(l);
        }
        Pair::Exhausted(e) => {
            let m = &modules[k];
            let used =
                |f: fn(&Compiled) -> u64| live.iter().map(|l| f(&modules[l.module])).sum::<u64>();
            let full = live.len() as u64 >= u64::from(pool.total_core_instances)
                || used(|c| c.memories) + m.memories > u64::from(pool.total_memories)
                || used(|c| c.tables) + m.tables > u64::from(pool.total_tables);
            assert!(full, "pool exhausted with {} live instances: {e:?}", live.len());
            stats.exhausted += 1;
        }
        Pair::Failed => {}
    }
}

/// Calls an export the input picks in both; false when the pair must be
/// retired: a stack overflow (which may strike one side first), or an epoch
/// interrupt on one side only (the soak test ticks the pooled engine's epoch
/// asynchronously; here both engines tick together, so both trap alike).
pub fn call(u: &mut Unstructured<'_>, l: &mut Live, fuel: bool) -> bool {
    let funcs: Vec<(String, Func)> = l
        .instance
        .exports(&mut l.store)
        .into_iter()
        .filter_map(|(n, e)| if let Extern::Func(f) = e { Some((n, f)) } else { None })
        .collect();
    let Ok((name, func)) = u.choose(&funcs) else { return true };
    let twin_func = l.twin.get_func(&mut l.twin_store, name).expect("same exports");
    let ty = func.ty(&l.store);
    let args: Vec<Val> = ty.params().iter().map(|t| arbitrary_val(u, *t)).collect();
    let mut outcomes = Vec::new();
    for (pooled, store, f) in [(true, &mut l.store, *func), (false, &mut l.twin_store, twin_func)] {
        if fuel {
            store.set_fuel(FUEL).expect("fuel enabled");
        }
        let mut results: Vec<Val> = ty.results().iter().map(|t| Val::default_for(*t)).collect();
        let called = if pooled && store.engine().config().async_support {
            poll_to_end(f.call_async(store, &args, &mut results)).0
        } else {
            f.call(store, &args, &mut results)
        };
        let outcome = match called {
            Ok(()) => Ok(results.iter().map(|v| Value::of(store, v)).collect::<Vec<_>>()),
            Err(e) => Err(e.trap().unwrap_or_else(|| panic!("{e:?}")).code()),
        };
        outcomes.push(outcome);
    }
    if outcomes.contains(&Err(TrapCode::StackOverflow))
        || outcomes[0] != outcomes[1] && outcomes.contains(&Err(TrapCode::Interrupt))
    {
        return false;
    }
    assert_eq!(outcomes[0], outcomes[1], "call of {name:?}({args:?}): pooled vs on demand");
    compare(l, &format!("after calling {name:?}"));
    true
}

/// Grows or writes a memory, sets a global or a table element, in both.
pub fn mutate(u: &mut Unstructured<'_>, l: &mut Live) {
    let exports = l.instance.exports(&mut l.store);
    let Ok((name, ext)) = u.choose(&exports) else { return };
    let twin = l.twin.get_export(&mut l.twin_store, name).expect("same exports");
    match (ext, twin) {
        (Extern::Memory(a), Extern::Memory(b)) => {
            if u.arbitrary().unwrap_or(false) {
                let delta = u.int_in_range(0..=2u64).unwrap_or(0);
                let x = a.grow(&mut l.store, delta).map_err(|e| e.kind());
                let y = b.grow(&mut l.twin_store, delta).map_err(|e| e.kind());
                assert_eq!(x, y, "memory.grow({delta}) of {name:?}: pooled vs on demand");
            } else {
                // Dirty the memory so that the slot's next tenant would see it.
                let byte: u8 = u.arbitrary().unwrap_or(0xa5);
                for (mem, store) in [(*a, &mut l.store), (b, &mut l.twin_store)] {
                    let data = mem.data_mut(store).expect("memory of this store");
                    let len = data.len();
                    for i in (0..len).step_by(4096 + 8) {
                        data[i] = byte;
                    }
                    if let Some(last) = data.last_mut() {
                        *last = byte;
                    }
                }
            }
        }
        (Extern::Global(a), Extern::Global(b)) if a.ty().mutable => {
            let v = arbitrary_val(u, a.ty().content);
            let x = a.set(&mut l.store, v).map_err(|e| e.kind());
            let y = b.set(&mut l.twin_store, v).map_err(|e| e.kind());
            assert_eq!(x, y, "global.set of {name:?}");
        }
        (Extern::Table(a), Extern::Table(b)) => {
            // Store one of the instance's own functions (the same export on
            // both sides) at an index the input picks, in bounds or not.
            let size = a.size(&l.store).expect("table of this store");
            let index = u.int_in_range(0..=size).unwrap_or(0);
            let f = l.instance.exports(&mut l.store).into_iter().find_map(|(n, e)| match e {
                Extern::Func(f) => Some((n, f)),
                _ => None,
            });
            let (va, vb) = match (&f, a.ty(&l.store).expect("table").element) {
                (Some((n, f)), wasmpool::ValType::FuncRef) => {
                    let g = l.twin.get_func(&mut l.twin_store, n).expect("same exports");
                    (Val::FuncRef(Some(*f)), Val::FuncRef(Some(g)))
                }
                (_, ty) => (Val::default_for(ty), Val::default_for(ty)),
            };
            let x = a.set(&mut l.store, index, va).map_err(|e| e.kind());
            let y = b.set(&mut l.twin_store, index, vb).map_err(|e| e.kind());
            assert_eq!(x, y, "table.set of {name:?}[{index}]");
        }
        _ => return,
    }
    compare(l, &format!("after changing {name:?}"));
}

/// Asserts that the pooled instance and its twin hold the same state.
pub fn compare(l: &mut Live, when: &str) {
    let a = snapshot(&mut l.store, &l.instance);
    let b = snapshot(&mut l.twin_store, &l.twin);
    assert_eq!(a, b, "pooled instance and its on-demand twin differ {when}");
}

/// Asserts that the pool's metrics count exactly the live instances and stay
/// within the pool's size and warm budget.
fn check_metrics(engine: &Engine, pool: &PoolingConfig, modules: &[Compiled], live: &[Live]) {
    let m = engine.pool_metrics().expect("pooled engine");
    let memories: u64 = live.iter().map(|l| modules[l.module].memories).sum();
    let tables: u64 = live.iter().map(|l| modules[l.module].tables).sum();
    assert_eq!(
        (m.core_instances, m.memories, m.tables),
        (live.len() as u64, memories, tables),
        "live counts: {m:?}"
    );
    let warm_budget = u64::from(pool.max_unused_warm_slots);
    assert!(m.unused_warm_memories <= warm_budget.min(u64::from(pool.total_memories)), "{m:?}");
    assert!(m.unused_warm_tables <= warm_budget.min(u64::from(pool.total_tables)), "{m:?}");
    // No resumable call outlives the operation that made it.
    assert_eq!(m.stacks, 0, "a fiber stack still in use: {m:?}");
    assert!(m.unused_warm_stacks <= u64::from(pool.total_stacks), "{m:?}");
    let resident = pool.linear_memory_keep_resident.min(pool.max_memory_size) as u64;
    assert!(m.unused_memory_bytes_resident <= resident * u64::from(pool.total_memories), "{m:?}");
}
