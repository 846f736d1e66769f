//! Stores (header section "store").
//!
//! A `wasmpool_store_t` owns instances and everything they create. It also
//! owns the C handles (`wasmpool_instance_t`, `wasmpool_func_t`,
//! `wasmpool_memory_t`, `wasmpool_global_t`, `wasmpool_table_t`) handed out
//! for its objects: they live in an arena inside the store, so they stay
//! valid until the store is deleted and the caller never frees them. Asking
//! twice for the same object returns the same handle, so the arena grows with
//! the number of distinct objects, not with the number of lookups.
//!
//! While a host function of the store runs, the Rust store is mutably
//! borrowed by the call in progress. The C handles then reach the store
//! through the `wasmpool_caller_t` of that call (recorded in `caller`), and
//! operations that would need the store exclusively (calling into wasm,
//! instantiating, deleting the store) are refused.

use crate::capi::async_calls::wasmpool_call_future;
use crate::capi::boundary::{arg_ref, boxed, ffi_result, ffi_value, out_arg};
use crate::capi::engine::wasmpool_engine_t;
use crate::capi::error::wasmpool_error_t;
use crate::capi::func::wasmpool_func;
use crate::capi::global::wasmpool_global;
use crate::capi::instance::wasmpool_instance;
use crate::capi::memory::wasmpool_memory;
use crate::capi::table::wasmpool_table;
use crate::error::{Error, Result};
use crate::externals::{Global, Instance, Memory, Table};
use crate::func::{Caller, Func};
use crate::store::Store;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::c_void;

/// The finalizer of a store's or host function's user data.
pub(crate) type Finalizer = Option<unsafe extern "C" fn(data: *mut c_void)>;

/// The Rust store's data: the C user data, its finalizer, and a pointer back
/// to the C store (so host functions can find the handle arena).
pub(crate) struct StoreData {
    data: *mut c_void,
    finalizer: Finalizer,
    pub(crate) wstore: *const wasmpool_store,
}

impl Drop for StoreData {
    fn drop(&mut self) {
        if let Some(finalize) = self.finalizer.take() {
            // SAFETY: the finalizer and its argument were given together to
            // `wasmpool_store_new`; this runs once, when the store is freed.
            unsafe { finalize(self.data) };
        }
    }
}

/// One handle of any kind, as stored in the arena.
enum Handle {
    Instance(wasmpool_instance),
    Func(wasmpool_func),
    Memory(wasmpool_memory),
    Global(wasmpool_global),
    Table(wasmpool_table),
}

/// The C handles a store has handed out, of every kind, in chunks. A chunk
/// is a `Vec` that is never pushed past its capacity, so it never moves its
/// elements: a handle's address stays valid until the store is deleted. A
/// store that hands out a few handles (the usual instantiate-and-call) costs
/// one allocation, the first chunk.
#[derive(Default)]
struct Arena {
    /// The first chunk (empty and unallocated until the first handle).
    first: Vec<Handle>,
    /// Further chunks, each twice the size of the one before.
    more: Vec<Vec<Handle>>,
    /// Function handle by the address of its `VMFuncRef`, built once a store
    /// has more function handles than a linear search handles well.
    func_index: Option<HashMap<usize, *mut wasmpool_func>>,
    funcs: usize,
}

/// Function handles up to which a linear search finds the existing handle.
const FUNC_INDEX_THRESHOLD: usize = 16;
/// Handles in the first chunk; each further chunk doubles.
const FIRST_CHUNK: usize = 4;

impl Arena {
    /// Stores `handle` where it will not move and returns it.
    fn push(&mut self, handle: Handle) -> &mut Handle {
        if self.first.capacity() == 0 {
            self.first.reserve_exact(FIRST_CHUNK);
        }
        let last = self.more.last().unwrap_or(&self.first);
        if last.len() == last.capacity() {
            let chunk = Vec::with_capacity(last.capacity() * 2);
            self.more.push(chunk);
        }
        let chunk = self.more.last_mut().unwrap_or(&mut self.first);
        chunk.push(handle);
        chunk.last_mut().expect("just pushed")
    }

    fn iter(&self) -> impl Iterator<Item = &Handle> {
        self.first.iter().chain(self.more.iter().flatten())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Handle> {
        self.first.iter_mut().chain(self.more.iter_mut().flatten())
    }
}

/// A store: instances and what they create, plus the caller's user data.
/// Created with `wasmpool_store_new`, owned by the caller, freed with
/// `wasmpool_store_delete`. A store and everything obtained from it belong to
/// one thread at a time: it may move between threads, but must not be used
/// from two threads at once.
pub struct wasmpool_store {
    /// The Rust store. Borrowed mutably only for the duration of one API call
    /// (or one call into wasm, during which host functions use `caller`).
    store: UnsafeCell<Store<StoreData>>,
    arena: RefCell<Arena>,
    /// The caller of the host function running right now, or NULL.
    caller: Cell<*mut Caller<'static, StoreData>>,
    /// The future of the resumable call that holds the store, or NULL: set
    /// from the call's start until its future is done or deleted, and
    /// abandoned by `wasmpool_store_delete`.
    pub(crate) pending: Cell<*mut wasmpool_call_future>,
}

/// The type of a store; see `struct wasmpool_store`.
pub type wasmpool_store_t = wasmpool_store;

/// Where an object of a store can be reached right now.
pub(crate) enum Access<'a> {
    /// No call is in progress: the store itself.
    Store(&'a mut Store<StoreData>),
    /// A host function is running: its caller.
    Caller(&'a mut Caller<'static, StoreData>),
}

/// Defines `wasmpool_store::$name`, which returns the store's handle of
/// `$field` (of kind `$variant`, type `$handle`), making it on first request.
macro_rules! keyed_handle {
    ($name:ident, $variant:ident, $handle:ident, $field:ident: $key:ty, $doc:literal) => {
        #[doc = $doc]
        pub(crate) fn $name(&self, $field: $key) -> *mut $handle {
            self.find_or_make(
                |h| match h {
                    Handle::$variant(x) if x.$field == $field => Some(x),
                    _ => None,
                },
                || Handle::$variant($handle { store: self, $field }),
            )
        }
    };
}

impl wasmpool_store {
    /// The Rust store, for an operation outside any call into wasm.
    ///
    /// # Safety
    /// No other reference to the Rust store may be in use: the caller holds
    /// the store on its thread and no host function of it is running
    /// (checked with [`wasmpool_store::check_idle`]) or the operation only
    /// reads handle metadata the running call does not write.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn rust(&self) -> &mut Store<StoreData> {
        // SAFETY: per the contract above.
        unsafe { &mut *self.store.get() }
    }

    /// The Rust store, shared, for reading a handle's value (a global's
    /// value, a table's elements) also from inside a host function.
    ///
    /// # Safety
    /// Called on the thread holding the store; the reference is dropped before
    /// control returns to C or to wasm.
    pub(crate) unsafe fn rust_ref(&self) -> &Store<StoreData> {
        // SAFETY: per the contract above; a running call does not touch the
        // store while C code (this function's caller) runs.
        unsafe { &*self.store.get() }
    }

    /// Refuses operations that need the store exclusively while one of its
    /// host functions runs.
    pub(crate) fn check_idle(&self, what: &str) -> Result<()> {
        if !self.pending.get().is_null() && self.caller.get().is_null() {
            return Err(Error::invalid_argument(format!(
                "{what}: the store is busy with a resumable call; finish or delete its future first"
            )));
        }
        if self.caller.get().is_null() {
            Ok(())
        } else {
            Err(Error::invalid_argument(format!(
                "{what}: the store is busy running a host function; this cannot be done from inside one of its host functions"
            )))
        }
    }

    /// The way to reach the store's objects right now.
    ///
    /// # Safety
    /// Called on the thread that holds the store, and the result is dropped
    /// before control returns to C.
    pub(crate) unsafe fn access(&self) -> Access<'_> {
        let caller = self.caller.get();
        if caller.is_null() {
            // SAFETY: no call into wasm is in progress on this store (a call
            // only lets C code run inside host functions, which set `caller`).
            Access::Store(unsafe { self.rust() })
        } else {
            // SAFETY: `caller` points to the live caller of the running host
            // function, which does not touch it while C code runs.
            Access::Caller(unsafe { &mut *caller })
        }
    }

    /// Records the caller of the host function about to run; returns the
    /// previous value to restore afterwards.
    pub(crate) fn enter_host(
        &self,
        caller: *mut Caller<'static, StoreData>,
    ) -> *mut Caller<'static, StoreData> {
        self.caller.replace(caller)
    }

    /// Restores the caller saved by [`wasmpool_store::enter_host`].
    pub(crate) fn leave_host(&self, previous: *mut Caller<'static, StoreData>) {
        self.caller.set(previous);
    }

    /// The store's user data pointer.
    pub(crate) fn user_data(&self) -> *mut c_void {
        // SAFETY: only a field of the store data is read; this field is
        // never written after creation.
        unsafe { (*self.store.get()).data().data }
    }

    /// The handle of an instance of this store (always a new one: each
    /// instantiation makes a new instance).
    pub(crate) fn instance_handle(&self, instance: Instance) -> *mut wasmpool_instance {
        let mut arena = self.arena.borrow_mut();
        match arena.push(Handle::Instance(wasmpool_instance { store: self, instance })) {
            Handle::Instance(h) => h,
            _ => unreachable!("the handle just pushed"),
        }
    }

    /// The handle of a function of this store.
    pub(crate) fn func_handle(&self, func: Func) -> *mut wasmpool_func {
        let mut arena = self.arena.borrow_mut();
        let key = func.funcref.as_ptr() as usize;
        let found = match &arena.func_index {
            Some(index) => index.get(&key).copied(),
            None => arena.iter().find_map(|h| match h {
                Handle::Func(f) if f.func.funcref.as_ptr() as usize == key => {
                    Some(f as *const wasmpool_func as *mut wasmpool_func)
                }
                _ => None,
            }),
        };
        if let Some(ptr) = found {
            return ptr;
        }
        let ptr: *mut wasmpool_func = match arena.push(Handle::Func(wasmpool_func {
            store: self,
            func,
            ty: Default::default(),
        })) {
            Handle::Func(h) => h,
            _ => unreachable!("the handle just pushed"),
        };
        arena.funcs += 1;
        if let Some(index) = &mut arena.func_index {
            index.insert(key, ptr);
        } else if arena.funcs > FUNC_INDEX_THRESHOLD {
            let index = arena
                .iter_mut()
                .filter_map(|h| match h {
                    Handle::Func(f) => {
                        Some((f.func.funcref.as_ptr() as usize, f as *mut wasmpool_func))
                    }
                    _ => None,
                })
                .collect();
            arena.func_index = Some(index);
        }
        ptr
    }

    /// The function behind a funcref value's pointer, if it is a function
    /// handle of this store.
    pub(crate) fn func_of_handle(&self, ptr: *const c_void) -> Option<Func> {
        let arena = self.arena.borrow();
        // Compare addresses only: `ptr` is not dereferenced unless it is one
        // of ours.
        arena.iter().find_map(|h| match h {
            Handle::Func(f) if std::ptr::eq(f as *const wasmpool_func as *const c_void, ptr) => {
                Some(f.func)
            }
            _ => None,
        })
    }

    /// The existing handle `pick` finds, or a new one from `make` (which
    /// `pick` must accept).
    fn find_or_make<H>(
        &self,
        pick: impl Fn(&mut Handle) -> Option<*mut H>,
        make: impl FnOnce() -> Handle,
    ) -> *mut H {
        let mut arena = self.arena.borrow_mut();
        if let Some(existing) = arena.iter_mut().find_map(&pick) {
            return existing;
        }
        pick(arena.push(make())).expect("`pick` accepts what `make` makes")
    }

    keyed_handle!(memory_handle, Memory, wasmpool_memory, memory: Memory, "The handle of a memory of this store.");
    keyed_handle!(global_handle, Global, wasmpool_global, global: Global, "The handle of a global of this store.");
    keyed_handle!(table_handle, Table, wasmpool_table, table: Table, "The handle of a table of this store.");
}

/// Checks that `handle_store` (the store a handle belongs to) is `store`.
pub(crate) fn check_same_store(
    store: &wasmpool_store,
    handle_store: *const wasmpool_store,
    what: &str,
) -> Result<()> {
    if std::ptr::eq(store, handle_store) {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!("`{what}` belongs to another store")))
    }
}

/// Creates a store for instances of `engine`'s modules. `data` is the
/// caller's pointer, returned by `wasmpool_store_data` and by
/// `wasmpool_caller_data` in host functions; `finalizer` (may be NULL) is
/// called with `data` exactly once, when the store is deleted, after its
/// instances are gone.
///
/// Does not take ownership of `engine` (the store keeps the engine alive on
/// its own). The caller owns the result and frees it with
/// `wasmpool_store_delete`. Returns NULL when `engine` is NULL (the finalizer
/// is then not called). Thread-safe with respect to the engine.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_new(
    engine: *const wasmpool_engine_t,
    data: *mut c_void,
    finalizer: Option<unsafe extern "C" fn(data: *mut c_void)>,
) -> *mut wasmpool_store_t {
    ffi_value(std::ptr::null_mut(), || {
        // SAFETY: a non-NULL engine is live, owned by the caller.
        let Some(engine) = (unsafe { engine.as_ref() }) else {
            return std::ptr::null_mut();
        };
        let store =
            Store::new(&engine.engine, StoreData { data, finalizer, wstore: std::ptr::null() });
        let wstore = boxed(wasmpool_store {
            store: UnsafeCell::new(store),
            arena: RefCell::new(Arena::default()),
            caller: Cell::new(std::ptr::null_mut()),
            pending: Cell::new(std::ptr::null_mut()),
        });
        // SAFETY: `wstore` was just allocated and nothing else refers to it.
        unsafe { (*(*wstore).store.get()).data_mut().wstore = wstore };
        wstore
    })
}

/// Deletes a store: every instance in it is deallocated (pooled slots are
/// reset and returned to the pool), host functions and handles obtained from
/// it become invalid, and then the store's finalizer runs. Takes ownership;
/// NULL does nothing. Calling it from inside one of the store's own host
/// functions (or an async host function's continuation) does nothing (the
/// store is in use).
///
/// A resumable call still holding the store (its future neither done nor
/// deleted) is abandoned first, as `wasmpool_call_future_delete` would:
/// its stack goes back to the pool and async host functions' continuations
/// are finalized. The future stays the caller's: its next poll returns true
/// with a `WASMPOOL_ERROR_INVALID_ARGUMENT` error saying the store was
/// deleted (no result or trap is written), and it must still be freed with
/// `wasmpool_call_future_delete`, which then touches nothing of the store.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_delete(store: *mut wasmpool_store_t) {
    ffi_value((), || {
        // SAFETY: a non-NULL store came from `wasmpool_store_new` and is still
        // owned by the caller.
        let Some(s) = (unsafe { store.as_ref() }) else { return };
        if !s.caller.get().is_null() {
            return;
        }
        // SAFETY: a non-NULL `pending` is the live future of the call holding
        // the store (its delete clears `pending`), used by this thread along
        // with the store.
        if let Some(future) = unsafe { s.pending.get().as_mut() } {
            future.abandon_for_store_delete();
        }
        // SAFETY: the caller gives the store up; it was created with `boxed`.
        drop(unsafe { Box::from_raw(store) });
    })
}

/// The `data` pointer given to `wasmpool_store_new`; NULL for a NULL store.
/// Does not transfer ownership.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_data(store: *const wasmpool_store_t) -> *mut c_void {
    ffi_value(std::ptr::null_mut(), || {
        // SAFETY: a non-NULL store is live.
        match unsafe { store.as_ref() } {
            Some(s) => s.user_data(),
            None => std::ptr::null_mut(),
        }
    })
}

/// Sets the fuel available to wasm running in this store (each instruction
/// consumes some; at zero, execution traps with `WASMPOOL_TRAP_OUT_OF_FUEL`).
/// Fails with `WASMPOOL_ERROR_UNSUPPORTED` unless the engine was configured
/// with `wasmpool_config_set_consume_fuel(config, true)`; a NULL store is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Every `uint64_t` amount is honoured,
/// up to `UINT64_MAX`, with no clamp: compiled code counts at most
/// `INT64_MAX` (2^63 - 1) at a time in a signed word and refills it from
/// the rest when it runs out, so `wasmpool_store_get_fuel` reports exactly
/// what is left.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_set_fuel(
    store: *mut wasmpool_store_t,
    fuel: u64,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL store is live and held by this thread.
        let s = unsafe { arg_ref(store, "store") }?;
        s.check_idle("wasmpool_store_set_fuel")?;
        // SAFETY: idle, checked above.
        unsafe { s.rust() }.set_fuel(fuel)
    })
}

/// Writes the fuel left in this store to `*out`. Fails with
/// `WASMPOOL_ERROR_UNSUPPORTED` unless fuel is enabled in the engine's
/// configuration; NULL `store` or `out` is `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_get_fuel(
    store: *const wasmpool_store_t,
    out: *mut u64,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are live (store) and writable (out).
        let (s, out) = unsafe { (arg_ref(store, "store")?, out_arg(out, "out")?) };
        s.check_idle("wasmpool_store_get_fuel")?;
        // SAFETY: idle, checked above.
        *out = unsafe { s.rust() }.get_fuel()?;
        Ok(())
    })
}

/// Limits what the store may hold and how far its memories and tables may
/// grow (Wasmtime's `wasmtime_store_limiter`). A negative value means
/// unlimited:
/// - `memory_size`: the most bytes any one linear memory may reach;
/// - `table_elements`: the most elements any one table may reach;
/// - `instances`, `tables`, `memories`: the most instances, tables and
///   memories (defined by instances or created by the host) the store may
///   hold.
///
/// Growth past `memory_size` or `table_elements` fails as the spec allows:
/// `memory.grow` / `table.grow` return -1 to the guest, and
/// `wasmpool_memory_grow` / `wasmpool_table_grow` return a
/// `WASMPOOL_ERROR_LIMIT` error. Creating a memory or table whose minimum is
/// past them, or more instances, tables or memories than allowed, is a
/// `WASMPOOL_ERROR_LIMIT` error naming the limit, and nothing is allocated.
/// Replaces any earlier limits; what the store already holds is not checked
/// again. A NULL store, or a call from inside one of the store's host
/// functions, does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_limiter(
    store: *mut wasmpool_store_t,
    memory_size: i64,
    table_elements: i64,
    instances: i64,
    tables: i64,
    memories: i64,
) {
    ffi_value((), || {
        // SAFETY: a non-NULL store is live and held by this thread.
        let Some(s) = (unsafe { store.as_ref() }) else { return };
        if s.check_idle("wasmpool_store_limiter").is_err() {
            return;
        }
        let limit = |n: i64| usize::try_from(n).ok();
        let mut b = crate::StoreLimitsBuilder::new();
        if let Some(n) = limit(memory_size) {
            b = b.memory_size(n);
        }
        if let Some(n) = limit(table_elements) {
            b = b.table_elements(n);
        }
        if let Some(n) = limit(instances) {
            b = b.instances(n);
        }
        if let Some(n) = limit(tables) {
            b = b.tables(n);
        }
        if let Some(n) = limit(memories) {
            b = b.memories(n);
        }
        // SAFETY: idle, checked above.
        unsafe { s.rust() }.limiter(b.build());
    })
}

/// Sets the epoch deadline of this store to `ticks_beyond_current` epochs
/// after the engine's current epoch: once `wasmpool_engine_increment_epoch`
/// has advanced the engine that far, running wasm traps with
/// `WASMPOOL_TRAP_INTERRUPT`. Until this is called the deadline is never
/// reached (a new store's deadline is the largest epoch, `UINT64_MAX`): set
/// one before running untrusted code. The sum saturates at `UINT64_MAX`. Only has an effect when the engine was
/// configured with `wasmpool_config_set_epoch_interruption(config, true)`.
/// A NULL store, or a call from inside one of the store's host functions, does
/// nothing.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_set_epoch_deadline(
    store: *mut wasmpool_store_t,
    ticks_beyond_current: u64,
) {
    ffi_value((), || {
        // SAFETY: a non-NULL store is live and held by this thread.
        let Some(s) = (unsafe { store.as_ref() }) else { return };
        if s.check_idle("wasmpool_store_set_epoch_deadline").is_ok() {
            // SAFETY: idle, checked above.
            unsafe { s.rust() }.set_epoch_deadline(ticks_beyond_current);
        }
    })
}
