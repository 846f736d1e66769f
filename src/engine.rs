//! The engine: configuration, the Cranelift target, the engine-wide signature
//! registry, the host-function stubs, and the instance allocator.
//!
//! An engine is cheap to clone (an `Arc`) and may be shared by any number of
//! threads; modules and stores keep it alive.

use crate::alloc::on_demand::OnDemandAllocator;
use crate::alloc::pooling::{PoolMetrics, PoolingAllocator};
use crate::alloc::{InstanceAllocator, InstanceResources};
use crate::compile::code_memory::CodeMemory;
use crate::config::{Config, InstanceAllocationStrategy, PoolingConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::module::Module;
use crate::module::info::ModuleInfo;
use crate::profiling::ProfilingStrategy;
use crate::runtime::vmcontext::VMOffsets;
use crate::types::FuncType;
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A compilation and execution environment.
#[derive(Clone)]
pub struct Engine(Arc<EngineInner>);

/// Aligned to two cache lines so the `Arc`'s reference counts, which every
/// store creation and drop writes, share no cache line with the fields
/// other threads read on their hot paths.
#[repr(align(128))]
struct EngineInner {
    config: Config,
    isa: OwnedTargetIsa,
    allocator: Box<dyn InstanceAllocator>,
    pooling: Option<Arc<PoolingAllocator>>,
    types: Mutex<TypeRegistry>,
    type_table: TypeTable,
    /// The epoch counter compiled code reads; `increment_epoch` advances it.
    epoch: Box<AtomicU64>,
    host_stubs: Mutex<HashMap<u32, Arc<CodeMemory>>>,
    /// The settings text precompiled files are checked against (see
    /// `module::artifact::settings`), computed on first use.
    code_settings: OnceLock<String>,
}

/// Interns function signatures: equal signatures get equal ids. Lookups by
/// id (on every call from the host) read the append-only [`TypeTable`]
/// without taking a lock; interning (at compile time) takes the lock.
#[derive(Default)]
struct TypeRegistry {
    ids: HashMap<FuncType, u32>,
    len: u32,
}

/// An append-only table of signatures by id: segment `k` holds ids
/// `2^k - 1 .. 2^(k+1) - 1`, allocated once and never moved, so a reader
/// needs only two acquire loads.
struct TypeTable {
    segments: [OnceLock<Box<[OnceLock<FuncType>]>>; 32],
}

impl TypeTable {
    fn locate(id: u32) -> (usize, usize) {
        let n = id as u64 + 1;
        let k = 63 - n.leading_zeros() as usize;
        (k, (n - (1 << k)) as usize)
    }

    fn get(&self, id: u32) -> Option<&FuncType> {
        let (k, i) = TypeTable::locate(id);
        self.segments[k].get()?.get(i)?.get()
    }

    fn set(&self, id: u32, ty: FuncType) {
        let (k, i) = TypeTable::locate(id);
        let segment =
            self.segments[k].get_or_init(|| (0..1usize << k).map(|_| OnceLock::new()).collect());
        let _ = segment[i].set(ty);
    }
}

impl Engine {
    /// An engine configured by `config`, with the instance allocator its
    /// `allocation_strategy` names (on-demand by default).
    pub fn new(config: &Config) -> Result<Engine> {
        match &config.allocation_strategy {
            InstanceAllocationStrategy::OnDemand => {
                Engine::build(config, Box::new(OnDemandAllocator::new(config)), None)
            }
            InstanceAllocationStrategy::Pooling(pool) => {
                let allocator = Arc::new(PoolingAllocator::new(config, pool)?);
                Engine::build(config, Box::new(SharedPool(allocator.clone())), Some(allocator))
            }
        }
    }

    /// An engine whose instances come from a pooling allocator configured by
    /// `pool`. The pool's address space is reserved now; a configuration the
    /// OS cannot satisfy is an `ErrorKind::Resource` error naming the bytes
    /// it needs, and `MpkEnabled::Enable` on a host without memory protection
    /// keys is `ErrorKind::Unsupported`.
    pub fn new_pooling(config: &Config, pool: &PoolingConfig) -> Result<Engine> {
        Engine::new(&Config {
            allocation_strategy: InstanceAllocationStrategy::Pooling(pool.clone()),
            ..config.clone()
        })
    }

    fn build(
        config: &Config,
        allocator: Box<dyn InstanceAllocator>,
        pooling: Option<Arc<PoolingAllocator>>,
    ) -> Result<Engine> {
        crate::runtime::traps::init_traps();
        if config.profiler == ProfilingStrategy::PerfMap {
            crate::profiling::open_perf_map()?;
        }
        Ok(Engine(Arc::new(EngineInner {
            config: config.clone(),
            isa: crate::compile::host_isa()?,
            allocator,
            pooling,
            types: Mutex::new(TypeRegistry::default()),
            type_table: TypeTable { segments: std::array::from_fn(|_| OnceLock::new()) },
            epoch: Box::new(AtomicU64::new(0)),
            host_stubs: Mutex::new(HashMap::new()),
            code_settings: OnceLock::new(),
        })))
    }

    /// Advances the epoch by one: wasm running in stores whose deadline this
    /// reaches traps with `Interrupt` at its next function entry or loop
    /// iteration. May be called from any thread, including signal handlers.
    pub fn increment_epoch(&self) {
        self.0.epoch.fetch_add(1, Ordering::Release);
    }

    /// The current epoch.
    pub fn current_epoch(&self) -> u64 {
        self.0.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn epoch_counter(&self) -> *const u64 {
        self.0.epoch.as_ptr() as *const u64
    }

    /// Whether instances come from a pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.0.pooling.is_some()
    }

    /// The pool's counters, or `None` for an engine that does not pool.
    pub fn pool_metrics(&self) -> Option<PoolMetrics> {
        self.0.pooling.as_ref().map(|p| p.metrics())
    }

    /// Performs every queued decommit of the pool now (no-op without a pool
    /// or without batching).
    pub fn flush_pool(&self) {
        if let Some(p) = &self.0.pooling {
            p.flush();
        }
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub(crate) fn isa(&self) -> &dyn TargetIsa {
        &*self.0.isa
    }

    /// Everything about this engine that changes generated code, as text
    /// (see `module::artifact::settings`); computed once.
    pub(crate) fn code_settings(&self) -> &str {
        self.0.code_settings.get_or_init(|| crate::module::artifact::settings(self))
    }

    pub(crate) fn allocator(&self) -> &dyn InstanceAllocator {
        &*self.0.allocator
    }

    /// Rejects modules the allocator could never instantiate.
    pub(crate) fn check_module(&self, info: &ModuleInfo, offsets: &VMOffsets) -> Result<()> {
        match &self.0.pooling {
            Some(p) => p.check_module(info, offsets),
            None => {
                let limit = self.config().max_table_elements;
                let first = info.num_imported_tables as usize;
                match info.tables[first..].iter().position(|t| t.min > limit).map(|i| i + first) {
                    Some(i) => Err(Error::new(
                        ErrorKind::Limit,
                        format!(
                            "table {i} has a minimum of {} elements, more than the engine's \
                             max_table_elements ({limit})",
                            info.tables[i].min
                        ),
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    /// The engine-wide id of a signature.
    pub(crate) fn intern(&self, ty: &FuncType) -> u32 {
        let mut reg = self.0.types.lock();
        if let Some(id) = reg.ids.get(ty) {
            return *id;
        }
        let id = reg.len;
        reg.len += 1;
        self.0.type_table.set(id, ty.clone());
        reg.ids.insert(ty.clone(), id);
        id
    }

    /// The signature with id `id` (an id this engine handed out).
    pub(crate) fn func_type(&self, id: u32) -> &FuncType {
        self.0.type_table.get(id).expect("signature ids come from this engine")
    }

    /// The compiled stub that lets wasm call a host function of signature `id`.
    pub(crate) fn host_stub(&self, id: u32) -> Result<*const u8> {
        let mut stubs = self.0.host_stubs.lock();
        if let Some(code) = stubs.get(&id) {
            return Ok(code.addr((2, 0)).expect("stub present"));
        }
        let ty = self.func_type(id).clone();
        let isa = self.isa();
        let mut fctx = cranelift_frontend::FunctionBuilderContext::new();
        let func = crate::compile::trampolines::host_stub(
            &ty,
            isa.default_call_conv(),
            isa.frontend_config(),
            &mut fctx,
        );
        let compiled =
            crate::compile::compile_function(isa, &mut cranelift_codegen::Context::new(), func)?;
        let code = Arc::new(CodeMemory::new(vec![compiled], Default::default())?);
        if self.0.config.profiler == ProfilingStrategy::PerfMap {
            crate::profiling::publish(&code, |_| format!("wasm-trampoline[host-stub] {ty}"));
        }
        let addr = code.addr((2, 0)).expect("stub present");
        stubs.insert(id, code);
        Ok(addr)
    }

    /// Whether two handles refer to the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

/// The pooling allocator behind the allocator seam, shared with the engine's
/// handle for metrics.
struct SharedPool(Arc<PoolingAllocator>);

impl InstanceAllocator for SharedPool {
    fn allocate(&self, module: &Module) -> Result<InstanceResources> {
        self.0.allocate(module)
    }

    fn deallocate(&self, module: &Module, resources: InstanceResources) {
        self.0.deallocate(module, resources)
    }

    fn allocate_stack(&self) -> Result<crate::runtime::fiber::FiberStack> {
        self.0.allocate_stack()
    }

    fn deallocate_stack(&self, stack: crate::runtime::fiber::FiberStack) {
        self.0.deallocate_stack(stack)
    }
}
