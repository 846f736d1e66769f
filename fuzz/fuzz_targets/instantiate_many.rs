//! cargo-fuzz target `instantiate_many`; the logic is `wasmpool_fuzz::instantiate_many::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wasmpool_fuzz::instantiate_many::run(data);
});
