//! Stores: the owner of instances and of everything they create.
//!
//! A store holds its instances, the host functions, memories, tables and
//! globals created in it, and the per-store state compiled code reads (stack
//! limit). Handles (`Func`, `Memory`, ...) are plain copies that name their
//! store by id; every use checks the id, so a handle can never reach into a
//! store other than its own. Dropping the store drops every instance in it
//! and returns pooled slots to the engine's allocator. A store and what lives
//! in it belong to one thread at a time; a store is `Send`, so a resumable
//! call (which borrows it) may be resumed on another thread.

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
    /// Fuel in reserve and what happens at fuel and epoch limits.
    pub async_state: AsyncState,
}

/// What the fuel and epoch builtins do when compiled code reaches a limit
/// (see `runtime::libcalls`): refill, extend, suspend or trap.
#[derive(Debug, Default)]
pub(crate) struct AsyncState {
    /// Fuel granted but not yet moved into `VMStoreContext::fuel_consumed`
    /// (which holds at most one yield interval's worth when one is set).
    pub fuel_reserve: u64,
    /// Suspend after every this many units of fuel (`None`: never).
    pub fuel_yield_interval: Option<u64>,
    /// At the epoch deadline, suspend and move the deadline this many ticks
    /// past the current epoch (`None`: trap with `Interrupt`).
    pub epoch_yield_delta: Option<u64>,
}

impl AsyncState {
    /// Fuel left in all, given the compiled-code counter `consumed`.
    fn fuel_left(&self, consumed: i64) -> u64 {
        let active = (consumed as i128).saturating_neg().max(0) as u64;
        self.fuel_reserve.saturating_add(active)
    }

    /// Splits `fuel` between the counter and the reserve: all of it in the
    /// counter (up to `i64::MAX`), or one yield interval's worth.
    fn grant(&mut self, fuel: u64, consumed: &mut i64) {
        let active = fuel.min(self.fuel_yield_interval.unwrap_or(u64::MAX)).min(i64::MAX as u64);
        self.fuel_reserve = fuel - active;
        *consumed = -(active as i64);
    }

    /// Called when the counter `consumed` reached 0: `None` when no fuel is
    /// left (trap), else refills it from the reserve and says whether to
    /// yield (a yield interval is set).
    pub(crate) fn refuel(&mut self, consumed: &mut i64) -> Option<bool> {
        // Compiled code charges fuel in batches, so the counter may have
        // gone past 0: that overshoot is spent from the reserve.
        let overshoot = (*consumed).max(0) as u64;
        let Some(left) = self.fuel_reserve.checked_sub(overshoot).filter(|&left| left > 0) else {
            self.fuel_reserve = 0;
            return None;
        };
        self.grant(left, consumed);
        Some(self.fuel_yield_interval.is_some())
    }
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

// SAFETY: a store owns everything its raw pointers reach (instances, host
// objects, its own `VMStoreContext`) or shares it through `Send + Sync`
// engine state; the host closures, limiter and pending panic it holds are
// `Send`. Nothing in it is tied to a thread, so it may move with its data.
unsafe impl<T: Send> Send for Store<T> {}

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
                async_state: AsyncState::default(),
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
        let o = &mut self.inner.opaque;
        o.async_state.grant(fuel, &mut o.vm.fuel_consumed);
        Ok(())
    }

    /// The fuel left (see [`Store::set_fuel`]).
    pub fn get_fuel(&self) -> Result<u64> {
        self.check_fuel()?;
        let o = &self.inner.opaque;
        Ok(o.async_state.fuel_left(o.vm.fuel_consumed))
    }

    /// Makes a resumable call suspend after every `interval` units of fuel
    /// it consumes (`None` or `Some(0)`: never), so that a long computation
    /// gives its thread back regularly; the fuel left is unchanged. A call
    /// made synchronously carries on without suspending. An `Unsupported`
    /// error without `consume_fuel`, an `InvalidArgument` one without
    /// `async_support`.
    pub fn fuel_async_yield_interval(&mut self, interval: Option<u64>) -> Result<()> {
        self.check_fuel()?;
        if !self.engine().config().async_support {
            return Err(Error::invalid_argument(
                "a fuel yield interval needs async_support in the engine configuration",
            ));
        }
        let left = self.get_fuel()?;
        let o = &mut self.inner.opaque;
        o.async_state.fuel_yield_interval = interval.filter(|&n| n > 0);
        o.async_state.grant(left, &mut o.vm.fuel_consumed);
        Ok(())
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

    /// Makes wasm trap with `Interrupt` at the epoch deadline (the default).
    pub fn epoch_deadline_trap(&mut self) {
        self.inner.opaque.async_state.epoch_yield_delta = None;
    }

    /// At the epoch deadline, a resumable call suspends (its future returns
    /// `Pending`, after waking its waker) instead of trapping, and when it is
    /// resumed the deadline moves `delta` ticks past the epoch of that
    /// moment. A call made synchronously just gets the new deadline and
    /// carries on. Only effective with `epoch_interruption`; set the first
    /// deadline with [`Store::set_epoch_deadline`].
    pub fn epoch_deadline_async_yield_and_update(&mut self, delta: u64) {
        self.inner.opaque.async_state.epoch_yield_delta = Some(delta);
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

    /// The fuel and epoch state of the store whose [`VMStoreContext`] is at
    /// `vm`.
    ///
    /// # Safety
    /// As for [`StoreOpaque::limits_of`].
    pub(crate) unsafe fn async_state_of<'a>(vm: *mut VMStoreContext) -> &'a mut AsyncState {
        // SAFETY: as in `limits_of`.
        unsafe {
            let store = vm.byte_sub(std::mem::offset_of!(StoreOpaque, vm)).cast::<StoreOpaque>();
            &mut (*store).async_state
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
