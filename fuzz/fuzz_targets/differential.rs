//! cargo-fuzz target `differential`; the logic is `wasmpool_fuzz::differential::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpool_fuzz::differential::run(data);
});
