//! Engine configuration (header section "config").
//!
//! A `wasmpool_config_t` carries the engine-wide knobs. Create it with
//! `wasmpool_config_new`, adjust it, pass it to engine creation (which copies
//! it), and free it with `wasmpool_config_delete`. Setters given a NULL config
//! do nothing.

use crate::capi::boundary::{delete_boxed, ffi_value};
use crate::config::Config;

/// Engine-wide settings. Owned by the caller, freed with
/// `wasmpool_config_delete`. Not thread-safe: configure it from one thread.
pub struct wasmpool_config {
    pub(crate) config: Config,
}

/// The type of an engine configuration; see `struct wasmpool_config`.
pub type wasmpool_config_t = wasmpool_config;

/// Applies `set` to the configuration behind `config`; NULL does nothing.
pub(crate) fn update(config: *mut wasmpool_config_t, set: impl FnOnce(&mut Config)) {
    ffi_value((), || {
        // SAFETY: a non-NULL `config` is a live configuration owned by the
        // caller, who does not use it from another thread during the call.
        if let Some(config) = unsafe { config.as_mut() } {
            set(&mut config.config);
        }
    })
}

/// Creates an engine configuration with every knob at its default. The caller
/// owns the result and frees it with `wasmpool_config_delete`. Returns NULL
/// only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_new() -> *mut wasmpool_config_t {
    ffi_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(wasmpool_config { config: Config::default() }))
    })
}

/// Frees an engine configuration. Takes ownership; NULL does nothing. Engines
/// created from it keep their own copy.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_delete(config: *mut wasmpool_config_t) {
    // SAFETY: a non-NULL `config` came from `wasmpool_config_new` and is given
    // up by the caller.
    unsafe { delete_boxed(config) }
}

/// Sets the bytes of address space reserved for each 32-bit linear memory
/// (default 4 GiB). With the default reservation and guard, loads and stores
/// need no bounds checks; a smaller reservation makes the compiler emit them.
/// A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_memory_reservation(
    config: *mut wasmpool_config_t,
    bytes: u64,
) {
    update(config, |c| c.memory_reservation = bytes);
}

/// Sets the bytes of inaccessible guard region after each linear memory
/// (default 32 MiB). A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_memory_guard_size(
    config: *mut wasmpool_config_t,
    bytes: u64,
) {
    update(config, |c| c.memory_guard_size = bytes);
}

/// Sets whether a guard region also precedes each linear memory (default
/// true). A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_guard_before_linear_memory(
    config: *mut wasmpool_config_t,
    enable: bool,
) {
    update(config, |c| c.guard_before_linear_memory = enable);
}

/// Sets whether data segments are laid out in a copy-on-write memory image, so
/// instantiation maps them instead of copying (default true). A NULL `config`
/// is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_memory_init_cow(
    config: *mut wasmpool_config_t,
    enable: bool,
) {
    update(config, |c| c.memory_init_cow = enable);
}

/// Sets how many bytes of native stack wasm may use before it traps with
/// `WASMPOOL_TRAP_STACK_OVERFLOW` (default 512 KiB). A NULL `config` is ignored.
///
/// The budget is per host thread and counted from the thread's outermost
/// call into wasm: host functions that call wasm again (through this store or
/// another) spend the same budget, so a chain wasm -> host -> wasm ... of any
/// depth traps instead of exhausting the thread's stack. It never reaches
/// below the thread's real stack bottom plus a 32 KiB reserve kept for host
/// functions and the trap path: on a thread with a smaller stack than the
/// budget, wasm gets what the thread has. Any thread with a stack of 64 KiB
/// or more can run wasm; host functions called from wasm should not use
/// more than 32 KiB of stack.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_max_wasm_stack(config: *mut wasmpool_config_t, bytes: usize) {
    update(config, |c| c.max_wasm_stack = bytes);
}

/// Sets whether execution consumes fuel (default false). A NULL `config` is
/// ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_consume_fuel(config: *mut wasmpool_config_t, enable: bool) {
    update(config, |c| c.consume_fuel = enable);
}

/// Sets whether execution checks an epoch deadline (default false). A NULL
/// `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_epoch_interruption(
    config: *mut wasmpool_config_t,
    enable: bool,
) {
    update(config, |c| c.epoch_interruption = enable);
}

/// Sets whether the functions of a module compile in parallel across cores
/// (default true). A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_parallel_compilation(
    config: *mut wasmpool_config_t,
    enable: bool,
) {
    update(config, |c| c.parallel_compilation = enable);
}

/// Sets whether modules may define and import more than one memory (the
/// multi-memory proposal; default true). A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_wasm_multi_memory(
    config: *mut wasmpool_config_t,
    enable: bool,
) {
    update(config, |c| c.wasm_multi_memory = enable);
}

/// Sets the largest function body, in bytes, a module may contain (default
/// 7,654,321, the limit browsers apply, which every real module respects).
/// `wasmpool_module_new` refuses a module with a larger body with a
/// `WASMPOOL_ERROR_LIMIT` error naming `max_function_size`, before any code
/// is generated. Compiling a function costs more than in proportion to its
/// body (BENCHMARKS.md, "Compile cost of large function bodies": about 1.2
/// CPU seconds and 120 MiB per MB of a 1 MB straight-line body, 4.5 s per MB
/// at 7.4 MB, and far more for a body made of many small loops), so a host
/// compiling untrusted modules should set this much lower, for example
/// 1 MiB. A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_max_function_size(
    config: *mut wasmpool_config_t,
    bytes: usize,
) {
    update(config, |c| c.max_function_size = bytes);
}

/// Sets the largest module binary, in bytes, `wasmpool_module_new` accepts
/// (default 1 GiB, the limit browsers apply); a larger one is a
/// `WASMPOOL_ERROR_LIMIT` error naming `max_module_size`, before it is
/// parsed. A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_max_module_size(
    config: *mut wasmpool_config_t,
    bytes: usize,
) {
    update(config, |c| c.max_module_size = bytes);
}

/// Sets the most elements a table outside the pool may hold: tables of an
/// on-demand engine, and tables made with `wasmpool_table_new` (default
/// 10,000,000). A module declaring a larger table is refused at
/// `wasmpool_module_new` with a `WASMPOOL_ERROR_LIMIT` error, and growth past
/// it fails (`table.grow` returns -1), so a store without a limiter is still
/// bounded. Pooled tables are bounded by the pool's `table_elements`. A NULL
/// `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_max_table_elements(
    config: *mut wasmpool_config_t,
    elements: u32,
) {
    update(config, |c| c.max_table_elements = elements);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_store_and_null_is_ignored() {
        let c = wasmpool_config_new();
        wasmpool_config_set_memory_reservation(c, 1 << 20);
        wasmpool_config_set_memory_guard_size(c, 65536);
        wasmpool_config_set_guard_before_linear_memory(c, false);
        wasmpool_config_set_memory_init_cow(c, false);
        wasmpool_config_set_max_wasm_stack(c, 1 << 16);
        wasmpool_config_set_consume_fuel(c, true);
        wasmpool_config_set_epoch_interruption(c, true);
        wasmpool_config_set_parallel_compilation(c, false);
        wasmpool_config_set_wasm_multi_memory(c, false);
        wasmpool_config_set_max_table_elements(c, 77);
        wasmpool_config_set_max_function_size(c, 1 << 20);
        wasmpool_config_set_max_module_size(c, 1 << 24);
        // SAFETY: `c` is live until deleted below.
        let got = unsafe { (*c).config.clone() };
        let want = Config {
            memory_reservation: 1 << 20,
            memory_guard_size: 65536,
            guard_before_linear_memory: false,
            memory_init_cow: false,
            max_wasm_stack: 1 << 16,
            consume_fuel: true,
            epoch_interruption: true,
            parallel_compilation: false,
            wasm_multi_memory: false,
            profiler: Config::default().profiler,
            allocation_strategy: crate::config::InstanceAllocationStrategy::OnDemand,
            max_table_elements: 77,
            max_function_size: 1 << 20,
            max_module_size: 1 << 24,
            async_support: false,
            async_stack_size: 2 << 20,
        };
        assert_eq!(got, want);
        wasmpool_config_delete(c);
        wasmpool_config_set_memory_reservation(std::ptr::null_mut(), 1);
        wasmpool_config_delete(std::ptr::null_mut());
    }
}
