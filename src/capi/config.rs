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
        };
        assert_eq!(got, want);
        wasmpool_config_delete(c);
        wasmpool_config_set_memory_reservation(std::ptr::null_mut(), 1);
        wasmpool_config_delete(std::ptr::null_mut());
    }
}
