//! Precompiled modules: load time against compile time for every exec
//! workload, and instantiation from a loaded module against a compiled one
//! for every inst workload under both strategies (with minor page faults per
//! iteration), measured alternately in one run so both see the same machine.
//!
//! `cargo bench --bench artifacts` prints the medians; BENCHMARKS.md has
//! the figures.

use std::time::Instant;
use wasmpool::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Minor page faults of this thread so far.
fn minor_faults() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_minflt as u64
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads");
    let path = std::env::temp_dir().join(format!("wasmpool-bench-{}.cwasm", std::process::id()));
    let (rounds, inst_batches, inst_iters) = if measuring { (21, 21, 200) } else { (1, 1, 2) };

    let engine = Engine::new(&Config::default()).unwrap();
    println!(
        "workload        compile (ms)  load file (us)  load bytes (us)  file (KiB)  compile/load"
    );
    for name in [
        "exec-fib",
        "exec-sieve",
        "exec-matmul",
        "exec-crc32",
        "exec-interp",
        "exec-memops",
        "exec-simd",
    ] {
        let wasm = wat::parse_file(format!("{dir}/{name}.wat")).unwrap();
        let bytes = Module::new(&engine, &wasm).unwrap().serialize().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let (mut compile, mut file, mut from_bytes) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            drop(Module::new(&engine, &wasm).unwrap());
            compile.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            drop(Module::deserialize_file(&engine, &path).unwrap());
            file.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            drop(Module::deserialize(&engine, &bytes).unwrap());
            from_bytes.push(t.elapsed().as_secs_f64());
        }
        let (c, f, b) = (median(compile), median(file), median(from_bytes));
        println!(
            "{name:<15} {:>12.2}  {:>14.1}  {:>15.1}  {:>10}  {:>11.0}x",
            c * 1e3,
            f * 1e6,
            b * 1e6,
            bytes.len() / 1024,
            c / f
        );
    }

    println!();
    println!("workload        strategy   compiled (us)  loaded (us)  faults/iter compiled  loaded");
    let pool = PoolingConfig { max_memory_size: 256 << 20, ..PoolingConfig::default() };
    let engines = [
        ("ondemand", Engine::new(&Config::default()).unwrap()),
        ("pooling", Engine::new_pooling(&Config::default(), &pool).unwrap()),
    ];
    for name in ["inst-empty", "inst-data64k", "inst-bigimage", "inst-table", "inst-globals"] {
        let wasm = wat::parse_file(format!("{dir}/{name}.wat")).unwrap();
        for (strategy, engine) in &engines {
            let compiled = Module::new(engine, &wasm).unwrap();
            std::fs::write(&path, compiled.serialize().unwrap()).unwrap();
            let loaded = Module::deserialize_file(engine, &path).unwrap();
            let pres =
                [&compiled, &loaded].map(|m| Linker::<()>::new(engine).instantiate_pre(m).unwrap());
            let mut times = [Vec::new(), Vec::new()];
            let mut faults = [0u64; 2];
            for batch in 0..inst_batches + 1 {
                for (k, pre) in pres.iter().enumerate() {
                    let mut per_iter = Vec::with_capacity(inst_iters);
                    let f0 = minor_faults();
                    for _ in 0..inst_iters {
                        let t = Instant::now();
                        let mut store = Store::new(engine, ());
                        let instance = pre.instantiate(&mut store).unwrap();
                        let run = instance.get_func(&mut store, "run").unwrap();
                        run.typed::<(), i32>(&store).unwrap().call(&mut store, ()).unwrap();
                        drop(store);
                        per_iter.push(t.elapsed().as_secs_f64());
                    }
                    // The first batch warms up (slots, page cache).
                    if batch > 0 {
                        faults[k] += minor_faults() - f0;
                        times[k].push(median(per_iter));
                    }
                }
            }
            let n = (inst_batches * inst_iters) as f64;
            let [a, b] = times.map(median);
            println!(
                "{name:<15} {strategy:<10} {:>13.1}  {:>11.1}  {:>20.1}  {:>6.1}",
                a * 1e6,
                b * 1e6,
                faults[0] as f64 / n,
                faults[1] as f64 / n
            );
        }
    }
    let _ = std::fs::remove_file(&path);
}
