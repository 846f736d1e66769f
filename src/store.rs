//! Stores: the owner of instances and of everything they create.
//!
//! A store holds its instances, the host functions, memories, tables and
//! globals created in it, and the per-store state compiled code reads (stack
//! limit). Handles (`Func`, `Memory`, ...) are plain copies that name their
//! store by id; every use checks the id, so a handle can never reach into a
//! store other than its own. Dropping the store drops every instance in it
//! and returns pooled slots to the engine's allocator. A store and what lives
//! in it belong to one thread at a time.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::limits::{ResourceLimiter, StoreLimiter};
use crate::runtime::host::HostContext;
use crate::runtime::instance::InstanceData;
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::Table;
use crate::runtime::vmcontext::{
    VMGlobalDefinition, VMMemoryDefinition, VMStoreContext, VMTableDefinition,
};
use crate::trap::Trap;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// Store ids a thread takes from `NEXT_STORE_ID` at a time, so threads
/// creating stores do not contend on one counter.
const STORE_ID_BLOCK: u64 = 1024;

thread_local! {
    /// The next id of this thread's current block and the end of the block.
    static STORE_IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A process-unique store id.
fn next_store_id() -> u64 {
    STORE_IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_STORE_ID.fetch_add(STORE_ID_BLOCK, Ordering::Relaxed);
            end = next + STORE_ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

/// A memory created by the host (not defined by an instance).
pub(crate) struct HostMemory {
    pub def: VMMemoryDefinition,
    pub mem: LinearMemory,
}

/// A table created by the host.
pub(crate) struct HostTable {
    pub def: VMTableDefinition,
    pub table: Table,
}

/// The part of a store that does not depend on the host's data type.
// Each element is boxed on purpose: handles and VMContexts hold pointers into
// them, so they must not move when a vector grows.
#[allow(clippy::vec_box)]
pub(crate) struct StoreOpaque {
    pub id: u64,
    pub engine: Engine,
    /// What compiled code reads and writes (stack limit, fuel, epoch
    /// deadline); inside the boxed `StoreInner`, so its address is stable.
    pub vm: VMStoreContext,
    pub instances: Vec<Box<InstanceData>>,
    pub host_funcs: Vec<Box<HostContext>>,
    pub host_memories: Vec<Box<HostMemory>>,
    pub host_tables: Vec<Box<HostTable>>,
    pub host_globals: Vec<Box<VMGlobalDefinition>>,
    /// The trap a host function raised, until the call that ran it returns.
    pub pending_trap: Option<Trap>,
    /// A panic caught in a host function, resumed once wasm has unwound.
    pub pending_panic: Option<Box<dyn Any + Send>>,
    /// The resource limiter, if the host set one, and the counts it checks.
    pub limits: StoreLimiter,
}

/// The store proper: the opaque part and the host's data.
pub(crate) struct StoreInner<T> {
    pub opaque: StoreOpaque,
    pub data: T,
}

/// A collection of instances and host objects, with host data of type `T`.
pub struct Store<T> {
    pub(crate) inner: Box<StoreInner<T>>,
}

impl<T> Store<T> {
    /// A new, empty store for `engine`, holding `data`.
    pub fn new(engine: &Engine, data: T) -> Store<T> {
        let mut inner = Box::new(StoreInner {
            opaque: StoreOpaque {
                id: next_store_id(),
                engine: engine.clone(),
                vm: VMStoreContext {
                    stack_limit: usize::MAX,
                    store: std::ptr::null_mut(),
                    fuel_consumed: 0,
                    epoch_deadline: u64::MAX,
                    epoch_counter: engine.epoch_counter(),
                },
                instances: Vec::new(),
                host_funcs: Vec::new(),
                host_memories: Vec::new(),
                host_tables: Vec::new(),
                host_globals: Vec::new(),
                pending_trap: None,
                pending_panic: None,
                limits: StoreLimiter::default(),
            },
            data,
        });
        inner.opaque.vm.store = (&mut *inner as *mut StoreInner<T>).cast();
        Store { inner }
    }

    /// The host data.
    pub fn data(&self) -> &T {
        &self.inner.data
    }

    /// The host data, writable.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    /// Grants `fuel` units of fuel (replacing what was left). Each executed
    /// wasm operator costs one unit; running out traps with `OutOfFuel`. An
    /// `Unsupported` error when the engine was not configured with
    /// `consume_fuel`.
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.check_fuel()?;
        self.inner.opaque.vm.fuel_consumed = -(fuel.min(i64::MAX as u64) as i64);
        Ok(())
    }

    /// The fuel left (see [`Store::set_fuel`]).
    pub fn get_fuel(&self) -> Result<u64> {
        self.check_fuel()?;
        Ok((-self.inner.opaque.vm.fuel_consumed).max(0) as u64)
    }

    fn check_fuel(&self) -> Result<()> {
        if !self.engine().config().consume_fuel {
            return Err(Error::unsupported(
                "fuel is not enabled: set consume_fuel in the engine configuration",
            ));
        }
        Ok(())
    }

    /// Makes wasm trap with `Interrupt` once the engine's epoch has advanced
    /// `ticks` beyond its current value (see `Engine::increment_epoch`). Only
    /// effective when the engine was configured with `epoch_interruption`;
    /// until this is called, the deadline never passes.
    pub fn set_epoch_deadline(&mut self, ticks: u64) {
        let now = self.engine().current_epoch();
        self.inner.opaque.vm.epoch_deadline = now.saturating_add(ticks);
    }

    /// Gives the store a resource limiter (replacing any other): it decides
    /// how far the store's memories and tables may grow and how many
    /// instances, memories and tables the store may hold (see
    /// [`ResourceLimiter`]; [`StoreLimits`](crate::StoreLimits) is the usual
    /// one). Existing memories and tables are not checked again.
    pub fn limiter(&mut self, limiter: impl ResourceLimiter + 'static) {
        self.inner.opaque.limits.set(Box::new(limiter));
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.opaque.engine
    }

    pub(crate) fn opaque(&mut self) -> &mut StoreOpaque {
        &mut self.inner.opaque
    }

    pub(crate) fn opaque_ref(&self) -> &StoreOpaque {
        &self.inner.opaque
    }
}

impl StoreOpaque {
    /// The limiter of the store whose [`VMStoreContext`] is at `vm`, reached
    /// without borrowing the rest of the store (compiled code is running in
    /// it, and its instances are borrowed by the caller).
    ///
    /// # Safety
    /// `vm` must be the `vm` field of a live `StoreOpaque` (every VMContext's
    /// store pointer is), and nothing else may use its limiter meanwhile.
    pub(crate) unsafe fn limits_of<'a>(vm: *mut VMStoreContext) -> &'a mut StoreLimiter {
        // SAFETY: per the contract `vm` lies `offset_of!(vm)` bytes into a
        // live StoreOpaque; the place projection borrows only `limits`.
        unsafe {
            let store = vm.byte_sub(std::mem::offset_of!(StoreOpaque, vm)).cast::<StoreOpaque>();
            &mut (*store).limits
        }
    }

    /// The pending-trap slot of the store whose [`VMStoreContext`] is at `vm`.
    ///
    /// # Safety
    /// As for [`StoreOpaque::limits_of`].
    pub(crate) unsafe fn pending_trap_of<'a>(vm: *mut VMStoreContext) -> &'a mut Option<Trap> {
        // SAFETY: as in `limits_of`.
        unsafe {
            let store = vm.byte_sub(std::mem::offset_of!(StoreOpaque, vm)).cast::<StoreOpaque>();
            &mut (*store).pending_trap
        }
    }
}

impl Drop for StoreOpaque {
    fn drop(&mut self) {
        // Instances first: they may reference the host objects below.
        self.instances.clear();
    }
}
