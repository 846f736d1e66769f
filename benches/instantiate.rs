//! Instantiation throughput through the Rust API over `workloads/inst-*.wat`
//! (the C benchmark `wasmpool-bench` measures the same through the C API).
//!
//! `cargo bench --bench instantiate [-- FILTER]` prints, per workload and
//! strategy, the best of five rounds of 20,000 instantiate + call `run` +
//! drop iterations, with one and two threads.

use std::time::Instant;
use wasmpool::*;

fn main() {
    // `cargo test --all-targets` runs benchmark binaries too, without
    // `--bench`: then do one short round of everything as a smoke test.
    let measuring = std::env::args().any(|a| a == "--bench");
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads");
    let strategies: [(&str, Option<usize>); 3] =
        [("ondemand", None), ("pooling", Some(0)), ("pooling-keep-resident", Some(1 << 20))];
    for name in ["inst-empty", "inst-data64k", "inst-bigimage", "inst-table", "inst-globals"] {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let wasm = wat::parse_file(format!("{dir}/{name}.wat")).unwrap();
        for (strategy, keep) in strategies {
            let engine = match keep {
                None => Engine::new(&Config::default()).unwrap(),
                Some(keep) => {
                    let pool = PoolingConfig {
                        max_memory_size: 256 << 20,
                        linear_memory_keep_resident: keep,
                        table_keep_resident: keep,
                        ..PoolingConfig::default()
                    };
                    Engine::new_pooling(&Config::default(), &pool).unwrap()
                }
            };
            let module = Module::new(&engine, &wasm).unwrap();
            let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
            for threads in [1, 2] {
                let n = match (measuring, keep) {
                    (false, _) => 10,
                    (true, None) => 2_000,
                    (true, Some(_)) => 20_000,
                };
                let mut best = f64::MAX;
                for _ in 0..if measuring { 5 } else { 1 } {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                for _ in 0..n {
                                    let mut store = Store::new(&engine, ());
                                    let instance = pre.instantiate(&mut store).unwrap();
                                    let run = instance
                                        .get_func(&mut store, "run")
                                        .unwrap()
                                        .typed::<(), i32>(&store)
                                        .unwrap();
                                    run.call(&mut store, ()).unwrap();
                                }
                            });
                        }
                    });
                    best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
                }
                println!(
                    "{name} strategy={strategy} threads={threads} ns_per_iter={best:.0} inst_per_s={:.0}",
                    threads as f64 * 1e9 / best
                );
            }
        }
    }
}
