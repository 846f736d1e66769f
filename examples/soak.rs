//! The soak test: T threads share one pooled engine for a given time,
//! instantiating generated modules, calling them (traps, fuel, epoch
//! interrupts from a ticker thread), growing and writing their memories and
//! tables under store limits, and dropping them. Every pooled instance is
//! checked against a twin instantiated on a fresh on-demand engine (the
//! `instantiate_many` fuzz target's checks), and a monitor thread checks the
//! pool's metrics throughout. At the end every live count must be zero.
//!
//! Not part of the test command (it runs for as long as it is told):
//!
//! ```sh
//! cargo run --release --example soak -- --threads 2 --seconds 1800 [--seed N]
//! ```
//!
//! It prints what it did and exits with status 1 on any violation.

#[path = "../fuzz/src/common.rs"]
mod common;
// The soak uses the target's pair checks, not its `run` and knobs.
#[allow(dead_code)]
#[path = "../fuzz/src/instantiate_many.rs"]
mod instantiate_many;

use arbitrary::Unstructured;
use common::{Shape, SplitMix, smith_module};
use instantiate_many::{Compiled, Pair, call, instantiate_pair, mutate};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmpool::{Config, Engine, PoolingConfig};

/// Modules generated at the start and shared by every thread.
const MODULES: usize = 24;

#[derive(Default)]
struct Counters {
    iterations: AtomicU64,
    instantiations: AtomicU64,
    failed_instantiations: AtomicU64,
    ops: AtomicU64,
    retired: AtomicU64,
    metric_samples: AtomicU64,
    violations: AtomicU64,
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = arg(&args, "--threads", 2).max(1) as usize;
    let seconds = arg(&args, "--seconds", 60);
    let seed = arg(&args, "--seed", 0x50a4);
    // Each thread holds at most two instances at once: the pool is never
    // legitimately full, so `PoolExhausted` is a violation here.
    let slots = 2 * threads as u32;
    let pool = PoolingConfig {
        total_core_instances: slots,
        total_memories: 2 * slots,
        total_tables: 2 * slots,
        max_memories_per_module: 2,
        max_tables_per_module: 2,
        max_memory_size: 4 << 16,
        table_elements: 64,
        max_unused_warm_slots: slots / 2,
        decommit_batch_size: 2,
        linear_memory_keep_resident: 65536,
        table_keep_resident: 256,
        ..PoolingConfig::default()
    };
    let config = Config {
        consume_fuel: true,
        epoch_interruption: true,
        parallel_compilation: false,
        ..Config::default()
    };
    let engine = Engine::new_pooling(&config, &pool).expect("pooled engine");
    // The twin ticks no epoch: a pooled call that an interrupt ends retires
    // its pair instead of being compared.
    let twin_engine = Engine::new(&config).expect("on-demand engine");
    let shape = Shape {
        max_memories: 2,
        max_tables: 2,
        max_memory_pages: 4,
        max_table_elements: 64,
        fuel: 2000,
    };
    let mut rng = SplitMix(seed);
    let mut modules = Vec::new();
    while modules.len() < MODULES {
        let data = rng.bytes(1024, 16384);
        if let Ok(wasm) = smith_module(&mut Unstructured::new(&data), &shape) {
            modules.extend(Compiled::new(&engine, &twin_engine, &wasm));
        }
    }
    println!(
        "soak: {threads} threads, {seconds} s, seed {seed:#x}, {} modules, pool of {slots} instances",
        modules.len()
    );

    let modules = Arc::new(modules);
    let counters = Arc::new(Counters::default());
    let first_violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let violation = |counters: &Counters, log: &Mutex<Vec<String>>, what: String| {
        counters.violations.fetch_add(1, Relaxed);
        let mut log = log.lock().expect("log");
        if log.len() < 10 {
            eprintln!("VIOLATION: {what}");
            log.push(what);
        }
    };

    std::thread::scope(|scope| {
        // The epoch ticker: interrupts arrive at any point of execution.
        scope.spawn(|| {
            while !stop.load(Relaxed) {
                engine.increment_epoch();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // The monitor: the pool's counts stay within its size throughout.
        scope.spawn(|| {
            while !stop.load(Relaxed) {
                let m = engine.pool_metrics().expect("pooled");
                counters.metric_samples.fetch_add(1, Relaxed);
                let ok = m.core_instances <= u64::from(slots)
                    && m.memories <= u64::from(pool.total_memories)
                    && m.tables <= u64::from(pool.total_tables)
                    && m.unused_warm_memories <= u64::from(pool.max_unused_warm_slots)
                    && m.unused_warm_tables <= u64::from(pool.max_unused_warm_slots);
                if !ok {
                    violation(
                        &counters,
                        &first_violations,
                        format!("pool metrics out of range: {m:?}"),
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (engine, twin_engine, modules) = (&engine, &twin_engine, &modules);
                let (counters, log) = (&counters, &first_violations);
                scope.spawn(move || {
                    let mut rng = SplitMix(seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9));
                    while Instant::now() < deadline {
                        let data = rng.bytes(64, 512);
                        let iteration = counters.iterations.fetch_add(1, Relaxed);
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            iterate(&data, engine, twin_engine, modules, counters)
                        }));
                        if let Err(e) = r {
                            let what = e
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            violation(
                                counters,
                                log,
                                format!("thread {t} iteration {iteration}: {what}"),
                            );
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
        stop.store(true, Relaxed);
    });

    engine.flush_pool();
    let m = engine.pool_metrics().expect("pooled");
    if (m.core_instances, m.memories, m.tables) != (0, 0, 0) {
        violation(&counters, &first_violations, format!("live counts not zero at the end: {m:?}"));
    }
    let c = &counters;
    println!(
        "soak: {} iterations, {} instantiations checked against a fresh instance ({} failed alike), \
         {} calls and changes compared, {} pairs retired by an interrupt or a stack overflow, \
         {} metric samples",
        c.iterations.load(Relaxed),
        c.instantiations.load(Relaxed),
        c.failed_instantiations.load(Relaxed),
        c.ops.load(Relaxed),
        c.retired.load(Relaxed),
        c.metric_samples.load(Relaxed),
    );
    println!(
        "soak: pool at the end: {} instances, {} memories, {} tables live; {} resets, {} affinity hits, {} image mappings",
        m.core_instances, m.memories, m.tables, m.resets, m.affinity_hits, m.image_mappings
    );
    let violations = c.violations.load(Relaxed);
    println!("soak: {violations} violations");
    if violations > 0 {
        std::process::exit(1);
    }
}

/// One iteration: up to two instances of modules `data` picks, a few
/// operations on them, then drop.
fn iterate(
    data: &[u8],
    engine: &Engine,
    twin_engine: &Engine,
    modules: &[Compiled],
    counters: &Counters,
) {
    let mut u = Unstructured::new(data);
    let mut live = Vec::new();
    for _ in 0..u.int_in_range(1..=2u8).unwrap_or(1) {
        let k = u.choose_index(modules.len()).unwrap_or(0);
        match instantiate_pair(&mut u, engine, twin_engine, modules, k) {
            Pair::Live(l) => {
                counters.instantiations.fetch_add(1, Relaxed);
                live.push(l);
            }
            Pair::Exhausted(e) => panic!("the pool cannot be full here: {e:?}"),
            Pair::Failed => {
                counters.failed_instantiations.fetch_add(1, Relaxed);
            }
        }
    }
    for _ in 0..u.int_in_range(0..=8u8).unwrap_or(0) {
        if live.is_empty() {
            break;
        }
        let i = u.choose_index(live.len()).unwrap_or(0);
        if u.ratio(2u8, 3).unwrap_or(true) {
            if !call(&mut u, &mut live[i], true) {
                counters.retired.fetch_add(1, Relaxed);
                live.swap_remove(i);
            }
        } else {
            mutate(&mut u, &mut live[i]);
        }
        counters.ops.fetch_add(1, Relaxed);
    }
}
