//! Engines (header section "engine").
//!
//! An engine compiles modules and allocates their instances: each on demand
//! (`wasmpool_engine_new`) or from a pool of slots reserved once
//! (`wasmpool_engine_new_with_pooling`). An engine may be shared by any number
//! of threads. Modules, linkers and stores keep their engine alive, so the
//! engine may be deleted before them.

use crate::capi::boundary::{boxed, delete_boxed, ffi_result, ffi_value, out_arg};
use crate::capi::config::wasmpool_config_t;
use crate::capi::error::wasmpool_error_t;
use crate::capi::pool_config::wasmpool_pool_config_t;
use crate::config::{Config, PoolingConfig};
use crate::engine::Engine;

/// A compilation and execution environment. Owned by the caller, freed with
/// `wasmpool_engine_delete`. Thread-safe: every function taking a
/// `const wasmpool_engine_t *` may be called from several threads at once.
pub struct wasmpool_engine {
    pub(crate) engine: Engine,
}

/// The type of an engine; see `struct wasmpool_engine`.
pub type wasmpool_engine_t = wasmpool_engine;

/// A snapshot of a pooling engine's counters (`wasmpool_engine_pool_metrics`).
/// Live counts and warm-slot counts are exact at some moment during the call;
/// the running totals (`resets` and after) only grow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wasmpool_pool_metrics {
    /// Live instances (VMContext slots in use).
    pub core_instances: u64,
    /// Live linear memories allocated from the pool.
    pub memories: u64,
    /// Live tables allocated from the pool.
    pub tables: u64,
    /// Unused memory slots that remember their last module (warm).
    pub unused_warm_memories: u64,
    /// Unused table slots that remember their last module (warm).
    pub unused_warm_tables: u64,
    /// Bytes kept resident in unused memory slots.
    pub unused_memory_bytes_resident: u64,
    /// Bytes kept resident in unused table slots.
    pub unused_table_bytes_resident: u64,
    /// Memory and table slots reset so far.
    pub resets: u64,
    /// `madvise` calls made to decommit slots so far.
    pub decommits: u64,
    /// Memory and table allocations that found a slot warm for their module.
    pub affinity_hits: u64,
    /// Copy-on-write memory images mapped into a slot so far.
    pub image_mappings: u64,
    /// Stacks held by resumable calls (running or suspended); fields from
    /// here on were appended after the first seven's contract.
    pub stacks: u64,
    /// Unused stack slots that have been used before (warm).
    pub unused_warm_stacks: u64,
    /// Bytes resident in unused stack slots.
    pub unused_stack_bytes_resident: u64,
}

/// The type of pool metrics; see `struct wasmpool_pool_metrics`.
pub type wasmpool_pool_metrics_t = wasmpool_pool_metrics;

/// The engine configuration behind a possibly NULL pointer.
fn config_of(config: *const wasmpool_config_t) -> Config {
    // SAFETY: a non-NULL config is a live configuration owned by the caller.
    match unsafe { config.as_ref() } {
        Some(c) => c.config.clone(),
        None => Config::default(),
    }
}

/// Creates an engine that allocates every instance, memory and table on
/// demand. `config` may be NULL for the defaults.
///
/// Does not take ownership of `config` (it is copied). On success writes an
/// engine owned by the caller to `*out` (free it with
/// `wasmpool_engine_delete`). A NULL `out` is `WASMPOOL_ERROR_INVALID_ARGUMENT`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_new(
    config: *const wasmpool_config_t,
    out: *mut *mut wasmpool_engine_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        let engine = Engine::new(&config_of(config))?;
        *out = boxed(wasmpool_engine { engine });
        Ok(())
    })
}

/// Creates an engine whose instances, memories and tables come from a pool of
/// slots reserved now, as `pool` describes; `config` may be NULL for the
/// default engine settings and `pool` NULL for the default pool (1000 slots of
/// each kind).
///
/// Fails with `WASMPOOL_ERROR_INVALID_ARGUMENT` for an inconsistent pool
/// configuration (naming the knob), `WASMPOOL_ERROR_UNSUPPORTED` when the pool
/// requires memory protection keys the host lacks, `WASMPOOL_ERROR_RESOURCE`
/// when the address space cannot be reserved. Does not take ownership of
/// `config` or `pool` (both are copied). On success writes an engine owned by
/// the caller to `*out`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_new_with_pooling(
    config: *const wasmpool_config_t,
    pool: *const wasmpool_pool_config_t,
    out: *mut *mut wasmpool_engine_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: a non-NULL pool is a live configuration owned by the caller.
        let pool = match unsafe { pool.as_ref() } {
            Some(p) => p.checked()?.clone(),
            None => PoolingConfig::default(),
        };
        let engine = Engine::new_pooling(&config_of(config), &pool)?;
        *out = boxed(wasmpool_engine { engine });
        Ok(())
    })
}

/// Releases the caller's reference to an engine. Takes ownership; NULL does
/// nothing. Modules, linkers and stores of the engine keep it alive until they
/// are deleted too; the pool's reservation is released with the last of them.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_delete(engine: *mut wasmpool_engine_t) {
    // SAFETY: a non-NULL engine came from an engine constructor and is given
    // up by the caller.
    unsafe { delete_boxed(engine) }
}

/// Advances the engine's epoch by one. Wasm running in a store whose epoch
/// deadline is now reached traps with `WASMPOOL_TRAP_INTERRUPT` (when epoch
/// interruption is enabled in the engine's configuration). Thread-safe and
/// async-signal-safe: meant to be called from a timer thread or a signal
/// handler. NULL does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_increment_epoch(engine: *const wasmpool_engine_t) {
    ffi_value((), || {
        // SAFETY: a non-NULL engine is live.
        if let Some(e) = unsafe { engine.as_ref() } {
            e.engine.increment_epoch();
        }
    })
}

/// Whether the engine allocates from a pool (created with
/// `wasmpool_engine_new_with_pooling`). False for NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_is_pooling(engine: *const wasmpool_engine_t) -> bool {
    ffi_value(false, || {
        // SAFETY: a non-NULL engine is live.
        unsafe { engine.as_ref() }.is_some_and(|e| e.engine.is_pooling())
    })
}

/// Writes the pool's counters to `*out` and returns true. Returns false and
/// writes nothing for an engine that does not pool, or when `engine` or `out`
/// is NULL. Thread-safe; cheap enough to call often.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_pool_metrics(
    engine: *const wasmpool_engine_t,
    out: *mut wasmpool_pool_metrics_t,
) -> bool {
    ffi_value(false, || {
        // SAFETY: non-NULL pointers are a live engine and a writable struct.
        let (Some(e), Some(out)) = (unsafe { engine.as_ref() }, unsafe { out.as_mut() }) else {
            return false;
        };
        let Some(m) = e.engine.pool_metrics() else { return false };
        *out = wasmpool_pool_metrics {
            core_instances: m.core_instances,
            memories: m.memories,
            tables: m.tables,
            unused_warm_memories: m.unused_warm_memories,
            unused_warm_tables: m.unused_warm_tables,
            unused_memory_bytes_resident: m.unused_memory_bytes_resident,
            unused_table_bytes_resident: m.unused_table_bytes_resident,
            resets: m.resets,
            decommits: m.decommits,
            affinity_hits: m.affinity_hits,
            image_mappings: m.image_mappings,
            stacks: m.stacks,
            unused_warm_stacks: m.unused_warm_stacks,
            unused_stack_bytes_resident: m.unused_stack_bytes_resident,
        };
        true
    })
}

/// Runs the pool's queued decommits now (see
/// `wasmpool_pool_config_set_decommit_batch_size`). Does nothing for an engine
/// that does not pool, or NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_engine_flush_pool(engine: *const wasmpool_engine_t) {
    ffi_value((), || {
        // SAFETY: a non-NULL engine is live.
        if let Some(e) = unsafe { engine.as_ref() } {
            e.engine.flush_pool();
        }
    })
}
