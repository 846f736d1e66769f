//! Engine and pool configuration.
//!
//! [`Config`] holds the engine knobs (memory reservation and guard, copy-on-write
//! images, stack size, fuel, epochs); [`PoolingConfig`] holds every knob of the
//! pooling instance allocator, modelled on Wasmtime's `PoolingAllocationConfig`
//! with the same meanings and defaults. The two are validated together when an
//! engine is created, because the pool's slab layout depends on both.

use crate::error::{Error, Result};
use crate::profiling::ProfilingStrategy;

/// Engine-wide settings. Create with [`Config::new`] (or `Default`), adjust, and
/// pass to the engine; the engine copies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bytes of address space reserved for each 32-bit linear memory (default 4 GiB).
    /// When the reservation plus the guard covers every `i32` index plus static
    /// offset, loads and stores carry no bounds check.
    pub memory_reservation: u64,
    /// Bytes of inaccessible guard region after each linear memory (default 32 MiB).
    pub memory_guard_size: u64,
    /// Whether a guard region also precedes each linear memory (default true).
    pub guard_before_linear_memory: bool,
    /// Whether data segments are laid out in a copy-on-write image (default true).
    pub memory_init_cow: bool,
    /// Bytes of native stack wasm may use before it traps with a stack overflow
    /// (default 512 KiB), counted from the outermost entry into wasm on the
    /// thread: host functions that call wasm again, through the same or
    /// another store, spend the same budget. The limit is never lower than
    /// the thread's real stack allows: on a thread whose stack has less room
    /// than this, wasm may use what is left above a reserve of
    /// `STACK_RESERVE` (32 KiB) kept free for host functions, signal
    /// delivery and the trap path. Deep recursion therefore traps with
    /// `StackOverflow` on any thread with a stack of 64 KiB or more.
    pub max_wasm_stack: usize,
    /// Whether execution consumes fuel (default false).
    pub consume_fuel: bool,
    /// Whether execution checks an epoch deadline (default false).
    pub epoch_interruption: bool,
    /// Whether functions of a module compile in parallel (default true).
    pub parallel_compilation: bool,
    /// Whether the multi-memory proposal is enabled (default true). With it
    /// off, modules are held to WebAssembly 2.0, where a memory index byte
    /// must be zero.
    pub wasm_multi_memory: bool,
    /// Whether compiled code is made visible to a profiler (default
    /// [`ProfilingStrategy::None`], or what the `WASMPOOL_PROFILE` environment
    /// variable says; see [`ProfilingStrategy::from_env`]).
    pub profiler: ProfilingStrategy,
    /// How instances get their memory: on demand (the default) or from a pool.
    pub allocation_strategy: InstanceAllocationStrategy,
    /// The most elements a table outside the pool may ever hold: tables of
    /// on-demand engines and tables the host creates (default 10,000,000,
    /// the limit browsers apply). A module declaring a larger minimum is
    /// refused at compile time, growth beyond it fails (`table.grow` returns
    /// -1), so a store without a limiter is still bounded. Pooled tables are
    /// bounded by `PoolingConfig::table_elements` instead.
    pub max_table_elements: u32,
    /// The largest function body, in bytes, a module may contain (default
    /// 7,654,321, the limit browsers apply and the largest body the
    /// validator accepts). A larger body is a `Limit` error naming this knob,
    /// found before any code is generated. Compile cost grows faster than
    /// the body (BENCHMARKS.md), so a host compiling untrusted modules should
    /// set it much lower, for example 1 MiB.
    pub max_function_size: usize,
    /// The largest module binary, in bytes, `Module::new` accepts (default 1
    /// GiB, the limit browsers apply). A larger binary is a `Limit` error
    /// naming this knob, found before it is parsed.
    pub max_module_size: usize,
    /// Whether resumable calls are enabled (default false): with it on,
    /// [`Func::call_async`](crate::Func::call_async) and the other `_async`
    /// entry points run each call on its own stack (a slot of the pool's
    /// stack slab for a pooled engine, a fresh mapping otherwise) so that it
    /// can suspend at an epoch deadline, at a fuel yield interval or in an
    /// async host function, and resume later, possibly on another thread.
    /// A pooled engine reserves its stack slab only when this is on.
    pub async_support: bool,
    /// Bytes of one resumable call's stack, below which lies a guard page
    /// (default 2 MiB). Wasm on such a stack runs under `max_wasm_stack`
    /// too, but never below the stack's bottom plus `STACK_RESERVE`.
    pub async_stack_size: usize,
}

/// [`Config::max_table_elements`]'s default.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u32 = 10_000_000;

/// How an engine allocates instances, memories and tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InstanceAllocationStrategy {
    /// Fresh mappings for every instance, freed on drop.
    #[default]
    OnDemand,
    /// Slots reserved up front and reused, as configured.
    Pooling(PoolingConfig),
}

impl Config {
    /// The default configuration.
    pub fn new() -> Config {
        Config::default()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            memory_reservation: 4 << 30,
            memory_guard_size: 32 << 20,
            guard_before_linear_memory: true,
            memory_init_cow: true,
            max_wasm_stack: 512 << 10,
            consume_fuel: false,
            epoch_interruption: false,
            parallel_compilation: true,
            wasm_multi_memory: true,
            profiler: ProfilingStrategy::from_env(),
            allocation_strategy: InstanceAllocationStrategy::OnDemand,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            max_function_size: 7_654_321,
            max_module_size: 1 << 30,
            async_support: false,
            async_stack_size: 2 << 20,
        }
    }
}

/// Whether the pool stripes memory slots with memory protection keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MpkEnabled {
    /// Never use protection keys (the default).
    Disable = 0,
    /// Require protection keys; creating the engine fails where they are missing.
    Enable = 1,
    /// Use protection keys when the CPU and kernel support them.
    Auto = 2,
}

impl MpkEnabled {
    /// The mode with the given C ABI value (`WASMPOOL_MPK_*`), if there is one.
    pub fn from_raw(raw: u8) -> Option<MpkEnabled> {
        match raw {
            0 => Some(MpkEnabled::Disable),
            1 => Some(MpkEnabled::Enable),
            2 => Some(MpkEnabled::Auto),
            _ => None,
        }
    }
}

/// Every knob of the pooling instance allocator. Defaults follow Wasmtime's
/// `PoolingAllocationConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolingConfig {
    /// Instance slots (VMContexts) in the pool (default 1000).
    pub total_core_instances: u32,
    /// Linear memory slots in the pool (default 1000).
    pub total_memories: u32,
    /// Table slots in the pool (default 1000).
    pub total_tables: u32,
    /// Bytes of one instance slot; a module whose VMContext is larger is rejected
    /// (default 1 MiB).
    pub max_core_instance_size: usize,
    /// Defined memories one module may have (default 1).
    pub max_memories_per_module: u32,
    /// Defined tables one module may have (default 1).
    pub max_tables_per_module: u32,
    /// Largest size in bytes a pooled linear memory may reach (default 4 GiB).
    pub max_memory_size: usize,
    /// Elements in one table slot (default 20000).
    pub table_elements: usize,
    /// Unused slots that may stay warm (affine to their last module) before cold
    /// slots stop being preferred (default 100).
    pub max_unused_warm_slots: u32,
    /// How many decommits are queued before they are flushed together (default 1:
    /// no batching).
    pub decommit_batch_size: usize,
    /// Bytes at the start of each memory slot reset by hand and kept resident
    /// instead of being returned to the kernel (default 0).
    pub linear_memory_keep_resident: usize,
    /// Bytes at the start of each table slot reset by hand and kept resident
    /// (default 0).
    pub table_keep_resident: usize,
    /// Whether memory protection keys stripe the memory slots (default disable).
    pub memory_protection_keys: MpkEnabled,
    /// Most protection keys the pool may use (default 16; clamped to the keys
    /// the CPU and kernel actually offer).
    pub max_memory_protection_keys: usize,
    /// Stack slots for resumable calls (default 1000); reserved only when
    /// the engine has `Config::async_support`. A call that finds them all in
    /// use is a `PoolExhausted` error naming this knob.
    pub total_stacks: u32,
    /// Whether a stack slot is cleared before reuse (default false): its
    /// written pages within `async_stack_keep_resident` of the top are zeroed
    /// by hand, the rest of the stack returned to the kernel.
    pub async_stack_zeroing: bool,
    /// Bytes at the top of each stack slot (where a stack starts: it grows
    /// down) zeroed by hand and kept resident when `async_stack_zeroing` is
    /// on (default 0: the whole stack is decommitted).
    pub async_stack_keep_resident: usize,
}

impl PoolingConfig {
    /// The default pool configuration.
    pub fn new() -> PoolingConfig {
        PoolingConfig::default()
    }

    /// Checks the knobs that can be judged on their own (the engine checks the
    /// rest against its [`Config`] when it lays out the pool).
    pub fn validate(&self) -> Result<()> {
        let page = 65536;
        if !self.max_memory_size.is_multiple_of(page) {
            return Err(Error::invalid_argument(format!(
                "max_memory_size ({} bytes) must be a multiple of the 64 KiB wasm page size",
                self.max_memory_size
            )));
        }
        if self.linear_memory_keep_resident > self.max_memory_size {
            return Err(Error::invalid_argument(format!(
                "linear_memory_keep_resident ({} bytes) exceeds max_memory_size ({} bytes)",
                self.linear_memory_keep_resident, self.max_memory_size
            )));
        }
        if self.max_memory_protection_keys == 0 {
            return Err(Error::invalid_argument(
                "max_memory_protection_keys is 0 but must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Default for PoolingConfig {
    fn default() -> PoolingConfig {
        PoolingConfig {
            total_core_instances: 1000,
            total_memories: 1000,
            total_tables: 1000,
            max_core_instance_size: 1 << 20,
            max_memories_per_module: 1,
            max_tables_per_module: 1,
            max_memory_size: 4 << 30,
            table_elements: 20000,
            max_unused_warm_slots: 100,
            decommit_batch_size: 1,
            linear_memory_keep_resident: 0,
            table_keep_resident: 0,
            memory_protection_keys: MpkEnabled::Disable,
            max_memory_protection_keys: 16,
            total_stacks: 1000,
            async_stack_zeroing: false,
            async_stack_keep_resident: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_defaults_match_wasmtime() {
        let p = PoolingConfig::default();
        assert_eq!(p.total_core_instances, 1000);
        assert_eq!(p.total_memories, 1000);
        assert_eq!(p.total_tables, 1000);
        assert_eq!(p.max_core_instance_size, 1 << 20);
        assert_eq!(p.max_memories_per_module, 1);
        assert_eq!(p.max_tables_per_module, 1);
        assert_eq!(p.max_memory_size, 1 << 32);
        assert_eq!(p.table_elements, 20000);
        assert_eq!(p.max_unused_warm_slots, 100);
        assert_eq!(p.decommit_batch_size, 1);
        assert_eq!(p.linear_memory_keep_resident, 0);
        assert_eq!(p.table_keep_resident, 0);
        assert_eq!(p.memory_protection_keys, MpkEnabled::Disable);
        assert_eq!(p.max_memory_protection_keys, 16);
        assert_eq!(p.total_stacks, 1000);
        assert!(!p.async_stack_zeroing);
        assert_eq!(p.async_stack_keep_resident, 0);
        let c = Config::default();
        assert!(!c.async_support);
        assert_eq!(c.async_stack_size, 2 << 20);
    }

    #[test]
    fn validate_rejects_each_bad_knob() {
        assert!(PoolingConfig::default().validate().is_ok());
        let p = PoolingConfig { max_memory_size: 1000, ..Default::default() };
        assert!(p.validate().unwrap_err().message().contains("max_memory_size"));
        let p = PoolingConfig {
            max_memory_size: 65536,
            linear_memory_keep_resident: 131072,
            ..Default::default()
        };
        assert!(p.validate().unwrap_err().message().contains("linear_memory_keep_resident"));
        let p = PoolingConfig { max_memory_protection_keys: 0, ..Default::default() };
        assert!(p.validate().unwrap_err().message().contains("max_memory_protection_keys"));
    }

    #[test]
    fn mpk_from_raw_rejects_unknown_values() {
        assert_eq!(MpkEnabled::from_raw(2), Some(MpkEnabled::Auto));
        assert_eq!(MpkEnabled::from_raw(3), None);
    }
}
