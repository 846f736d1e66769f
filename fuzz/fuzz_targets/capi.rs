//! cargo-fuzz target `capi`; the logic is `wasmpool_fuzz::capi::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpool_fuzz::capi::run(data);
});
