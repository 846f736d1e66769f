//! cargo-fuzz target `compile`; the logic is `wasmpool_fuzz::compile::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpool_fuzz::compile::run(data);
});
