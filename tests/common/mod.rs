//! The benchmark workloads (`workloads/`) and their listed results
//! (workloads/README.md), shared by the integration tests that run them.

#![allow(dead_code)] // each test crate uses its own part

/// The workload `name`, parsed from its `.wat`.
pub fn wat(name: &str) -> Vec<u8> {
    let path = format!("{}/workloads/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The exec workloads: `run`'s argument and result.
pub const EXEC: [(&str, i32, i64); 7] = [
    ("exec-fib", 30, 832040),
    ("exec-sieve", 10_000_000, 664579),
    ("exec-matmul", 200, 4716133190983483392),
    ("exec-crc32", 16_777_216, 3801779455),
    ("exec-interp", 6_250_000, 3366081239),
    ("exec-memops", 100, -2033424281276459567),
    ("exec-simd", 2000, -4547881373547576642),
];

/// The instantiation workloads: `run`'s result.
pub const INST: [(&str, i32); 5] = [
    ("inst-empty", 42),
    ("inst-data64k", 1498565454),
    ("inst-bigimage", 1956565045),
    ("inst-table", 1232),
    ("inst-globals", 640310992),
];
