//! Execution speed through the Rust API over `workloads/exec-*.wat`:
//! compile time and the median and minimum of five calls of `run`.
//! `cargo bench --bench execute`

use std::time::Instant;
use wasmpool::*;

fn main() {
    // Without `--bench` (under `cargo test --all-targets`) one run each is a
    // smoke test.
    let runs = if std::env::args().any(|a| a == "--bench") { 5 } else { 1 };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads");
    let engine = Engine::new(&Config::default()).unwrap();
    for (name, arg) in [
        ("exec-fib", 30),
        ("exec-sieve", 10_000_000),
        ("exec-matmul", 200),
        ("exec-crc32", 16_777_216),
        ("exec-interp", 6_250_000),
        ("exec-memops", 100),
        ("exec-simd", 2000),
    ] {
        let wasm = wat::parse_file(format!("{dir}/{name}.wat")).unwrap();
        let start = Instant::now();
        let module = Module::new(&engine, &wasm).unwrap();
        let compile_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let run = instance.get_func(&mut store, "run").unwrap().typed::<i32, i64>(&store).unwrap();
        let mut times = Vec::new();
        let mut result = 0;
        for _ in 0..runs {
            let start = Instant::now();
            result = run.call(&mut store, arg).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name} compile_ms={compile_ms:.2} run_median_ms={:.2} run_min_ms={:.2} result={result}",
            times[times.len() / 2],
            times[0]
        );
    }
}
