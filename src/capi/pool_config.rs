//! Pool configuration (header section "pool config").
//!
//! A `wasmpool_pool_config_t` carries every knob of the pooling instance
//! allocator, with Wasmtime's `PoolingAllocationConfig` defaults. Create one
//! with `wasmpool_pool_config_new`, adjust it with the setters, pass it to
//! `wasmpool_engine_new_with_pooling` (which copies it), and free it with
//! `wasmpool_pool_config_delete`. Setters never fail: a setter given a NULL
//! config does nothing, and a value that can only be judged later (such as an
//! unknown protection-key mode) is reported by `wasmpool_pool_config_validate`
//! and by engine creation.

use crate::capi::boundary::{arg_ref, delete_boxed, ffi_result, ffi_value};
use crate::capi::error::wasmpool_error_t;
use crate::config::{MpkEnabled, PoolingConfig};
use crate::error::{Error, Result};

/// The settings of a pooling instance allocator. Owned by the caller, freed
/// with `wasmpool_pool_config_delete`. Not thread-safe: configure it from one
/// thread, then hand it to engine creation.
pub struct wasmpool_pool_config {
    pub(crate) config: PoolingConfig,
    /// A value a setter could not store, reported on validation.
    pub(crate) rejected: Option<String>,
}

/// The type of a pool configuration; see `struct wasmpool_pool_config`.
pub type wasmpool_pool_config_t = wasmpool_pool_config;

impl wasmpool_pool_config {
    /// The configuration, or the first value a setter had to reject.
    pub(crate) fn checked(&self) -> Result<&PoolingConfig> {
        if let Some(why) = &self.rejected {
            return Err(Error::invalid_argument(why.clone()));
        }
        self.config.validate()?;
        Ok(&self.config)
    }
}

/// Applies `set` to the configuration behind `pool`; NULL does nothing.
pub(crate) fn update(
    pool: *mut wasmpool_pool_config_t,
    set: impl FnOnce(&mut wasmpool_pool_config),
) {
    ffi_value((), || {
        // SAFETY: a non-NULL `pool` is a live configuration owned by the caller,
        // who does not use it from another thread during the call.
        if let Some(pool) = unsafe { pool.as_mut() } {
            set(pool);
        }
    })
}

/// Whether memory protection keys stripe the memory slots: one of the
/// `WASMPOOL_MPK_*` values.
pub type wasmpool_mpk_t = u8;
/// Never use memory protection keys (the default).
pub const WASMPOOL_MPK_DISABLE: wasmpool_mpk_t = 0;
/// Require memory protection keys; engine creation fails with
/// `WASMPOOL_ERROR_UNSUPPORTED` where the CPU or kernel lacks them.
pub const WASMPOOL_MPK_ENABLE: wasmpool_mpk_t = 1;
/// Use memory protection keys when the CPU and kernel have them.
pub const WASMPOOL_MPK_AUTO: wasmpool_mpk_t = 2;

/// Creates a pool configuration with the default value of every knob. The
/// caller owns the result and frees it with `wasmpool_pool_config_delete`.
/// Returns NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_new() -> *mut wasmpool_pool_config_t {
    ffi_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(wasmpool_pool_config {
            config: PoolingConfig::default(),
            rejected: None,
        }))
    })
}

/// Frees a pool configuration. Takes ownership; NULL does nothing. Engines
/// created from it keep their own copy and are unaffected.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_delete(pool: *mut wasmpool_pool_config_t) {
    // SAFETY: a non-NULL `pool` came from `wasmpool_pool_config_new` and is
    // given up by the caller.
    unsafe { delete_boxed(pool) }
}

/// Checks the configuration on its own: returns NULL when every knob holds a
/// usable value, or an `WASMPOOL_ERROR_INVALID_ARGUMENT` error (owned by the
/// caller) naming the first knob that does not. Engine creation performs the
/// same check plus those that depend on the engine configuration. Does not
/// take ownership of `pool`; a NULL `pool` is an error.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_validate(
    pool: *const wasmpool_pool_config_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `pool` is a live configuration owned by the caller.
        let pool = unsafe { arg_ref(pool, "pool") }?;
        pool.checked().map(|_| ())
    })
}

/// Sets how many instances (VMContexts) the pool holds at once (default 1000). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_total_core_instances(
    pool: *mut wasmpool_pool_config_t,
    n: u32,
) {
    update(pool, |p| p.config.total_core_instances = n);
}

/// Sets how many linear memories the pool holds at once (default 1000). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_total_memories(
    pool: *mut wasmpool_pool_config_t,
    n: u32,
) {
    update(pool, |p| p.config.total_memories = n);
}

/// Sets how many tables the pool holds at once (default 1000). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_total_tables(pool: *mut wasmpool_pool_config_t, n: u32) {
    update(pool, |p| p.config.total_tables = n);
}

/// Sets the size in bytes of one instance slot; modules whose VMContext is larger are rejected with `WASMPOOL_ERROR_LIMIT` (default 1 MiB). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_core_instance_size(
    pool: *mut wasmpool_pool_config_t,
    bytes: usize,
) {
    update(pool, |p| p.config.max_core_instance_size = bytes);
}

/// Sets how many memories one module may define (default 1). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_memories_per_module(
    pool: *mut wasmpool_pool_config_t,
    n: u32,
) {
    update(pool, |p| p.config.max_memories_per_module = n);
}

/// Sets how many tables one module may define (default 1). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_tables_per_module(
    pool: *mut wasmpool_pool_config_t,
    n: u32,
) {
    update(pool, |p| p.config.max_tables_per_module = n);
}

/// Sets the largest size in bytes a pooled linear memory may reach; a multiple of 64 KiB (default 4 GiB). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_memory_size(
    pool: *mut wasmpool_pool_config_t,
    bytes: usize,
) {
    update(pool, |p| p.config.max_memory_size = bytes);
}

/// Sets how many elements one table slot holds (default 20000). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_table_elements(
    pool: *mut wasmpool_pool_config_t,
    elements: usize,
) {
    update(pool, |p| p.config.table_elements = elements);
}

/// Sets how many unused slots may stay warm, remembering their last module, before the allocator stops preferring cold slots (default 100). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_unused_warm_slots(
    pool: *mut wasmpool_pool_config_t,
    n: u32,
) {
    update(pool, |p| p.config.max_unused_warm_slots = n);
}

/// Sets how many slot resets are queued before their `madvise` calls are flushed together (default 1: no batching). The queue is always flushed before the pool reports exhaustion. A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_decommit_batch_size(
    pool: *mut wasmpool_pool_config_t,
    n: usize,
) {
    update(pool, |p| p.config.decommit_batch_size = n);
}

/// Sets how many bytes at the start of each memory slot are reset by hand and stay resident instead of being returned to the kernel (default 0). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_linear_memory_keep_resident(
    pool: *mut wasmpool_pool_config_t,
    bytes: usize,
) {
    update(pool, |p| p.config.linear_memory_keep_resident = bytes);
}

/// Sets how many bytes at the start of each table slot are reset by hand and stay resident (default 0). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_table_keep_resident(
    pool: *mut wasmpool_pool_config_t,
    bytes: usize,
) {
    update(pool, |p| p.config.table_keep_resident = bytes);
}

/// Sets the most memory protection keys the pool may use, at least 1 (default 16; clamped to the keys the CPU and kernel offer). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_max_memory_protection_keys(
    pool: *mut wasmpool_pool_config_t,
    n: usize,
) {
    update(pool, |p| p.config.max_memory_protection_keys = n);
}

/// Sets whether memory protection keys stripe the memory slots: one of
/// `WASMPOOL_MPK_DISABLE` (default), `WASMPOOL_MPK_ENABLE`, `WASMPOOL_MPK_AUTO`.
/// Any other value is remembered and reported as an
/// `WASMPOOL_ERROR_INVALID_ARGUMENT` error by validation and engine creation.
/// A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_memory_protection_keys(
    pool: *mut wasmpool_pool_config_t,
    mode: wasmpool_mpk_t,
) {
    update(pool, |p| match MpkEnabled::from_raw(mode) {
        Some(mode) => p.config.memory_protection_keys = mode,
        None => {
            p.rejected = Some(format!(
                "memory_protection_keys: {mode} is not a wasmpool_mpk_t value (0 disable, 1 enable, 2 auto)"
            ))
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_pool(f: impl FnOnce(*mut wasmpool_pool_config_t)) {
        let p = wasmpool_pool_config_new();
        assert!(!p.is_null());
        f(p);
        wasmpool_pool_config_delete(p);
    }

    fn config(p: *mut wasmpool_pool_config_t) -> PoolingConfig {
        // SAFETY: `p` is live for the duration of `with_pool`.
        unsafe { (*p).config.clone() }
    }

    #[test]
    fn every_setter_stores_into_the_rust_config() {
        with_pool(|p| {
            wasmpool_pool_config_set_total_core_instances(p, 22);
            wasmpool_pool_config_set_total_memories(p, 29);
            wasmpool_pool_config_set_total_tables(p, 36);
            wasmpool_pool_config_set_max_core_instance_size(p, 43);
            wasmpool_pool_config_set_max_memories_per_module(p, 50);
            wasmpool_pool_config_set_max_tables_per_module(p, 57);
            wasmpool_pool_config_set_max_memory_size(p, 1 << 20);
            wasmpool_pool_config_set_table_elements(p, 71);
            wasmpool_pool_config_set_max_unused_warm_slots(p, 78);
            wasmpool_pool_config_set_decommit_batch_size(p, 85);
            wasmpool_pool_config_set_linear_memory_keep_resident(p, 92);
            wasmpool_pool_config_set_table_keep_resident(p, 99);
            wasmpool_pool_config_set_max_memory_protection_keys(p, 7);
            wasmpool_pool_config_set_memory_protection_keys(p, WASMPOOL_MPK_AUTO);
            let c = config(p);
            assert_eq!(c.total_core_instances, 22);
            assert_eq!(c.total_memories, 29);
            assert_eq!(c.total_tables, 36);
            assert_eq!(c.max_core_instance_size, 43);
            assert_eq!(c.max_memories_per_module, 50);
            assert_eq!(c.max_tables_per_module, 57);
            assert_eq!(c.max_memory_size, 1 << 20);
            assert_eq!(c.table_elements, 71);
            assert_eq!(c.max_unused_warm_slots, 78);
            assert_eq!(c.decommit_batch_size, 85);
            assert_eq!(c.linear_memory_keep_resident, 92);
            assert_eq!(c.table_keep_resident, 99);
            assert_eq!(c.max_memory_protection_keys, 7);
            assert_eq!(c.memory_protection_keys, MpkEnabled::Auto);
        });
    }

    #[test]
    fn unknown_mpk_mode_is_reported_by_validate() {
        with_pool(|p| {
            assert!(wasmpool_pool_config_validate(p).is_null());
            wasmpool_pool_config_set_memory_protection_keys(p, 9);
            let err = wasmpool_pool_config_validate(p);
            assert!(!err.is_null());
            assert_eq!(
                crate::capi::error::wasmpool_error_kind(err),
                crate::capi::error::WASMPOOL_ERROR_INVALID_ARGUMENT
            );
            crate::capi::error::wasmpool_error_delete(err);
        });
    }
}
