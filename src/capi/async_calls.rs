//! Resumable calls (header section "async").
//!
//! With `wasmpool_config_set_async_support`, `wasmpool_func_call_async`
//! starts a call that runs on a stack of its own (a slot of the pool's stack
//! slab on a pooling engine) and returns a `wasmpool_call_future_t`. Each
//! `wasmpool_call_future_poll` runs the call until it is over (true) or
//! suspends (false): at an epoch deadline the store yields at
//! (`wasmpool_store_epoch_deadline_async_yield_and_update`), or after a fuel
//! yield interval (`wasmpool_store_fuel_async_yield_interval`). A host can so
//! multiplex many calls on one thread, and resume a call on another thread
//! than the one that started it. While a future exists its store is busy:
//! other calls into it are refused until the future is done or deleted.
//! `wasmpool_linker_instantiate_async` and
//! `wasmpool_instance_pre_instantiate_async` return the same kind of future
//! for an instantiation, so a start function can suspend too; async host
//! functions (`wasmpool_linker_define_async_func`, section "linker") suspend
//! a resumable call until their continuation is done.

use crate::capi::boundary::{arg_ref, boxed, ffi_result, ffi_value, out_arg};
use crate::capi::config::{update, wasmpool_config_t};
use crate::capi::error::{wasmpool_error, wasmpool_error_t};
use crate::capi::func::{call_args, split_trap, wasmpool_func_t};
use crate::capi::instance::wasmpool_instance_t;
use crate::capi::linker::{wasmpool_instance_pre_t, wasmpool_linker_t};
use crate::capi::module::wasmpool_module_t;
use crate::capi::pool_config::{update as update_pool, wasmpool_pool_config_t};
use crate::capi::store::{StoreData, wasmpool_store, wasmpool_store_t};
use crate::capi::trap::wasmpool_trap_t;
use crate::capi::values::{from_c, to_c, wasmpool_val_t};
use crate::error::{Error, Result};
use crate::linker::InstancePre;
use crate::runtime::fiber::{self, FiberFuture};
use crate::values::Val;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Enables resumable calls (default off): `wasmpool_func_call_async` needs
/// it, and a pooling engine then reserves its stack slab
/// (`wasmpool_pool_config_set_total_stacks`). A NULL `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_async_support(config: *mut wasmpool_config_t, enable: bool) {
    update(config, |c| c.async_support = enable);
}

/// Sets the bytes of each resumable call's stack (default 2 MiB, rounded up
/// to whole pages; a guard page lies below each). Wasm on it traps with
/// `WASMPOOL_TRAP_STACK_OVERFLOW` before reaching its bottom. A NULL
/// `config` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_async_stack_size(
    config: *mut wasmpool_config_t,
    bytes: usize,
) {
    update(config, |c| c.async_stack_size = bytes);
}

/// Sets the number of stack slots of the pool (default 1000), reserved only
/// when the engine has async support. A resumable call holds one from its
/// start until its future is done or deleted; when all are in use, a new
/// call fails with `WASMPOOL_ERROR_POOL_EXHAUSTED` naming `total_stacks`. A
/// NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_total_stacks(pool: *mut wasmpool_pool_config_t, n: u32) {
    update_pool(pool, |p| p.config.total_stacks = n);
}

/// Whether a stack slot is cleared before reuse (default false): the written
/// pages of its top `async_stack_keep_resident` bytes are zeroed by hand,
/// the rest of the stack is returned to the kernel. A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_async_stack_zeroing(
    pool: *mut wasmpool_pool_config_t,
    enable: bool,
) {
    update_pool(pool, |p| p.config.async_stack_zeroing = enable);
}

/// Sets the bytes at the top of each stack slot (where calls start) zeroed
/// by hand and kept resident when zeroing is on (default 0: the whole stack
/// is decommitted). A NULL `pool` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_pool_config_set_async_stack_keep_resident(
    pool: *mut wasmpool_pool_config_t,
    bytes: usize,
) {
    update_pool(pool, |p| p.config.async_stack_keep_resident = bytes);
}

/// At the epoch deadline, a resumable call of this store suspends (the
/// future's poll returns false) instead of trapping, and when it is polled
/// again the deadline moves `delta` ticks past the current epoch. A call
/// made with `wasmpool_func_call` just gets the new deadline and carries on.
/// Set the first deadline with `wasmpool_store_set_epoch_deadline`. Only has
/// an effect with `wasmpool_config_set_epoch_interruption`. A NULL or busy
/// store is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_epoch_deadline_async_yield_and_update(
    store: *mut wasmpool_store_t,
    delta: u64,
) {
    ffi_value((), || {
        // SAFETY: a non-NULL store is live and held by this thread.
        let Some(s) = (unsafe { store.as_ref() }) else { return };
        if s.check_idle("wasmpool_store_epoch_deadline_async_yield_and_update").is_ok() {
            // SAFETY: idle, checked above.
            unsafe { s.rust() }.epoch_deadline_async_yield_and_update(delta);
        }
    })
}

/// Makes a resumable call of this store suspend after every `interval`
/// units of fuel it consumes (0: never); the fuel left is unchanged. Needs
/// `wasmpool_config_set_consume_fuel` (else `WASMPOOL_ERROR_UNSUPPORTED`) and
/// async support (else `WASMPOOL_ERROR_INVALID_ARGUMENT`, as are a NULL or
/// busy store).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_store_fuel_async_yield_interval(
    store: *mut wasmpool_store_t,
    interval: u64,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL store is live and held by this thread.
        let s = unsafe { arg_ref(store, "store") }?;
        s.check_idle("wasmpool_store_fuel_async_yield_interval")?;
        // SAFETY: idle, checked above.
        unsafe { s.rust() }.fuel_async_yield_interval(Some(interval))
    })
}

/// A resumable call in progress, from `wasmpool_func_call_async`, or an
/// instantiation in progress, from `wasmpool_linker_instantiate_async` or
/// `wasmpool_instance_pre_instantiate_async`. Owned by the caller and freed
/// with `wasmpool_call_future_delete`. It may be polled and deleted on any
/// thread, one at a time, along with its store.
pub struct wasmpool_call_future {
    state: State,
    store: *const wasmpool_store,
    trap_ret: *mut *mut wasmpool_trap_t,
    error_ret: *mut *mut wasmpool_error_t,
}

/// The type of a call future; see `struct wasmpool_call_future`.
pub type wasmpool_call_future_t = wasmpool_call_future;

enum State {
    /// Nothing ran: reported by the first poll.
    Failed(Error),
    /// The call, running or suspended.
    Running(Pin<Box<FiberFuture<'static, Result<()>>>>),
    /// Abandoned by `wasmpool_store_delete`: reported by the next poll.
    StoreDeleted,
    /// Over and reported.
    Done,
}

/// What the fiber's closure reaches of the C side: the store and the
/// results array.
struct Targets {
    store: *const wasmpool_store,
    results: *mut wasmpool_val_t,
}

// SAFETY: the store and the results array are the caller's, valid until the
// future is done or deleted (the header's contract), and used by one thread
// at a time: whichever polls the future.
unsafe impl Send for Targets {}

/// Starts a resumable call of `func`, which must belong to `store`, with the
/// `nargs` values at `args`; its results go to the `nresults` values at
/// `results` (either array may be NULL when its count is 0). Nothing runs
/// until the returned future is polled (`wasmpool_call_future_poll`).
///
/// `results`, `trap_ret` and `error_ret` must stay valid until the future is
/// done or deleted. Both `*trap_ret` and `*error_ret` are set to NULL now;
/// when the poll returns true exactly one of these holds: `*error_ret` holds
/// an error owned by the caller (nothing ran: a NULL `store` or `func`,
/// `func` of another store, arguments not matching the signature, an engine
/// without async support, no stack left in the pool
/// (`WASMPOOL_ERROR_POOL_EXHAUSTED`), or the store busy with another call),
/// `*trap_ret` holds a trap owned by the caller, or every result is written.
///
/// Returns a future owned by the caller, freed with
/// `wasmpool_call_future_delete`; NULL only when `trap_ret` or `error_ret`
/// is NULL. Does not take ownership of anything else. The store is busy
/// until the future is done or deleted.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_func_call_async(
    store: *mut wasmpool_store_t,
    func: *const wasmpool_func_t,
    args: *const wasmpool_val_t,
    nargs: usize,
    results: *mut wasmpool_val_t,
    nresults: usize,
    trap_ret: *mut *mut wasmpool_trap_t,
    error_ret: *mut *mut wasmpool_error_t,
) -> *mut wasmpool_call_future_t {
    new_future((trap_ret, error_ret), || start((store, func), (args, nargs), (results, nresults)))
}

/// A call or instantiation that started: its store and its fiber.
type Started = (&'static wasmpool_store, FiberFuture<'static, Result<()>>);

/// Makes the future of every `_async` function: NULL when `trap_ret` or
/// `error_ret` is NULL, else a future (owned by the caller) of what `start`
/// started, which marks its store busy with it, or of the error that kept
/// anything from starting.
fn new_future(
    (trap_ret, error_ret): (*mut *mut wasmpool_trap_t, *mut *mut wasmpool_error_t),
    start: impl FnOnce() -> Result<Started>,
) -> *mut wasmpool_call_future_t {
    ffi_value(std::ptr::null_mut(), || {
        if trap_ret.is_null() || error_ret.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: both are non-NULL and writable, per the contract.
        unsafe {
            *trap_ret = std::ptr::null_mut();
            *error_ret = std::ptr::null_mut();
        }
        let (state, store) = match start() {
            Ok((s, fut)) => (State::Running(Box::pin(fut)), s as *const wasmpool_store),
            Err(e) => (State::Failed(e), std::ptr::null()),
        };
        let future = boxed(wasmpool_call_future { state, store, trap_ret, error_ret });
        // SAFETY: a non-NULL store is the live store the call started in.
        if let Some(s) = unsafe { store.as_ref() } {
            s.pending.set(future);
        }
        future
    })
}

/// Checks the arguments of a call and makes its fiber.
fn start(
    (store, func): (*mut wasmpool_store_t, *const wasmpool_func_t),
    (args, nargs): (*const wasmpool_val_t, usize),
    (results, nresults): (*mut wasmpool_val_t, usize),
) -> Result<Started> {
    // SAFETY: per the contract of `wasmpool_func_call_async`, the arrays
    // stay valid until the future is done or deleted.
    let (s, f, args, _) = unsafe {
        call_args(store, func, args, nargs, results, nresults, "wasmpool_func_call_async")
    }?;
    let params = args.iter().map(|v| from_c(v, s)).collect::<Result<Vec<Val>>>()?;
    let func = f.func;
    // SAFETY: idle, checked above.
    let engine = unsafe { s.rust() }.engine().clone();
    let targets = Targets { store: s, results };
    let future = fiber::run(&engine, move || {
        let targets = targets;
        // SAFETY: the store is live and busy with this call only (see
        // `Targets`); host functions reach it through their caller.
        let s = unsafe { &*targets.store };
        let mut outs = vec![Val::I32(0); nresults];
        // SAFETY: as above.
        func.call(unsafe { s.rust() }, &params, &mut outs)?;
        for (i, v) in outs.iter().enumerate() {
            // SAFETY: `results` holds `nresults` values, valid until the
            // future is done or deleted.
            unsafe { *targets.results.add(i) = to_c(v, s) };
        }
        Ok(())
    })?;
    Ok((s, future))
}

/// What an instantiation's fiber reaches of the C side: the store and the
/// instance out-parameter.
struct InstanceTarget {
    store: *const wasmpool_store,
    out: *mut *mut wasmpool_instance_t,
}

// SAFETY: as for `Targets`: the caller's, valid until the future is done or
// deleted, used by whichever thread polls the future.
unsafe impl Send for InstanceTarget {}

/// Checks the arguments of an instantiation and makes its fiber, which
/// instantiates `pre` (a copy: the caller's linker, module or instance-pre
/// need not outlive the future).
fn start_instantiate(
    pre: Result<InstancePre<StoreData>>,
    store: *mut wasmpool_store_t,
    out: *mut *mut wasmpool_instance_t,
    what: &str,
) -> Result<Started> {
    // SAFETY: a non-NULL store is live and held by this thread; a non-NULL
    // `out` stays writable until the future is done or deleted.
    let (s, _) = unsafe { (arg_ref(store, "store")?, out_arg(out, "out")?) };
    let pre = pre?;
    s.check_idle(what)?;
    // SAFETY: idle, checked above.
    let engine = unsafe { s.rust() }.engine().clone();
    let target = InstanceTarget { store: s, out };
    let future = fiber::run(&engine, move || {
        let target = target;
        // SAFETY: the store is live and busy with this instantiation only
        // (see `InstanceTarget`).
        let s = unsafe { &*target.store };
        // SAFETY: as above; host functions reach it through their caller.
        let instance = pre.instantiate(unsafe { s.rust() })?;
        // SAFETY: `out` is writable until the future is done or deleted.
        unsafe { *target.out = s.instance_handle(instance) };
        Ok(())
    })?;
    Ok((s, future))
}

/// Starts instantiating `module` in `store` as a resumable call, resolving
/// its imports with `linker` (Wasmtime's `wasmtime_linker_instantiate_async`):
/// the whole instantiation, start function included, runs on a stack of its
/// own, so the start function can suspend at epoch deadlines and fuel
/// intervals and call async host functions. Nothing runs until the returned
/// future is polled with `wasmpool_call_future_poll`.
///
/// `out`, `trap_ret` and `error_ret` must stay valid until the future is
/// done or deleted; `linker` and `module` need not (their definitions are
/// resolved now). Both `*trap_ret` and `*error_ret` are set to NULL now;
/// when the poll returns true exactly one of these holds: `*error_ret` holds
/// an error owned by the caller (NULL `linker`, `store`, `module` or `out`,
/// a missing or mistyped import (`WASMPOOL_ERROR_LINK`), an engine without
/// async support, no stack or slot left in the pool, the store busy, and
/// the other errors of `wasmpool_instance_new`), `*trap_ret` holds a trap
/// owned by the caller (the start function trapped; the instance stays in
/// the store, inert), or `*out` holds an instance borrowed from the store.
///
/// Returns a future owned by the caller, freed with
/// `wasmpool_call_future_delete` (which abandons an unfinished
/// instantiation); NULL only when `trap_ret` or `error_ret` is NULL. The
/// store is busy until the future is done or deleted.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_instantiate_async(
    linker: *const wasmpool_linker_t,
    store: *mut wasmpool_store_t,
    module: *const wasmpool_module_t,
    out: *mut *mut wasmpool_instance_t,
    trap_ret: *mut *mut wasmpool_trap_t,
    error_ret: *mut *mut wasmpool_error_t,
) -> *mut wasmpool_call_future_t {
    new_future((trap_ret, error_ret), || {
        let resolve = || {
            // SAFETY: non-NULL pointers are a live linker and module.
            let (l, m) = unsafe { (arg_ref(linker, "linker")?, arg_ref(module, "module")?) };
            l.linker.instantiate_pre(&m.module)
        };
        start_instantiate(resolve(), store, out, "wasmpool_linker_instantiate_async")
    })
}

/// Starts instantiating a pre-linked module in `store` as a resumable call
/// (Wasmtime's `wasmtime_instance_pre_instantiate_async`). As
/// `wasmpool_linker_instantiate_async`, with the names already resolved: a
/// NULL `pre` is an error, and `pre` need not outlive the future. Several
/// threads may start instantiations from one `pre` at once, each in its own
/// store.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_pre_instantiate_async(
    pre: *const wasmpool_instance_pre_t,
    store: *mut wasmpool_store_t,
    out: *mut *mut wasmpool_instance_t,
    trap_ret: *mut *mut wasmpool_trap_t,
    error_ret: *mut *mut wasmpool_error_t,
) -> *mut wasmpool_call_future_t {
    new_future((trap_ret, error_ret), || {
        // SAFETY: a non-NULL pre is live.
        let pre = unsafe { arg_ref(pre, "pre") }.map(|p| p.pre.clone());
        start_instantiate(pre, store, out, "wasmpool_instance_pre_instantiate_async")
    })
}

impl wasmpool_call_future {
    /// Frees the store for other calls once the call is over or abandoned.
    fn release_store(&mut self) {
        // SAFETY: a non-NULL store is the live store this call holds.
        if let Some(s) = unsafe { self.store.as_ref() } {
            s.pending.set(std::ptr::null_mut());
        }
        self.store = std::ptr::null();
    }

    /// Abandons the call because its store is being deleted (see
    /// `wasmpool_store_delete`): the fiber unwinds while the store is still
    /// live and busy, then the future forgets the store.
    pub(crate) fn abandon_for_store_delete(&mut self) {
        drop(std::mem::replace(&mut self.state, State::StoreDeleted));
        self.release_store();
    }

    /// Writes a finished call's outcome to the caller's out-parameters.
    fn report(&mut self, result: Result<()>) {
        // SAFETY: both out-parameters are valid until the future is done,
        // per the contract of `wasmpool_func_call_async`.
        let (trap_ret, error_ret) = unsafe { (&mut *self.trap_ret, &mut *self.error_ret) };
        match split_trap(result, trap_ret) {
            Ok(_) => {}
            Err(e) => *error_ret = wasmpool_error::into_raw(e),
        }
    }
}

/// Runs the call until it is over (returns true: the outcome has been
/// written, see `wasmpool_func_call_async`) or suspends (returns false: poll
/// again later, from any thread). Polling a future that is over returns true
/// and does nothing; NULL returns true. A panic inside the library ends the
/// call with a `WASMPOOL_ERROR_INTERNAL` error.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_call_future_poll(future: *mut wasmpool_call_future_t) -> bool {
    // SAFETY: a non-NULL future is live and used by this thread only.
    let Some(f) = (unsafe { future.as_mut() }) else { return true };
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match &mut f.state {
        State::Failed(_) | State::StoreDeleted | State::Done => Some(None),
        State::Running(fut) => match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => Some(Some(r)),
            Poll::Pending => None,
        },
    }));
    let outcome = match polled {
        Ok(None) => return false,
        Ok(Some(Some(r))) => r,
        Ok(Some(None)) => match std::mem::replace(&mut f.state, State::Done) {
            State::Failed(e) => Err(e),
            State::StoreDeleted => Err(Error::invalid_argument(
                "the store was deleted before the resumable call finished; it was abandoned",
            )),
            _ => return true,
        },
        Err(_) => {
            Err(Error::internal("internal error (a bug in libwasmpool): a resumable call panicked"))
        }
    };
    f.state = State::Done;
    f.release_store();
    ffi_value((), || f.report(outcome));
    true
}

/// Frees a call future. Deleting an unfinished one abandons the call: its
/// suspension point traps, the call unwinds through the ordinary trap path
/// (host functions on it see a trap from the calls they make), its stack goes
/// back to the pool, and nothing is written to the out-parameters. Takes
/// ownership; NULL does nothing. The future may outlive its store: deleting
/// the store first abandons the call (see `wasmpool_store_delete`).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_call_future_delete(future: *mut wasmpool_call_future_t) {
    ffi_value((), || {
        if future.is_null() {
            return;
        }
        // SAFETY: a non-NULL future came from `wasmpool_func_call_async` and
        // is given up by the caller.
        let mut f = unsafe { Box::from_raw(future) };
        f.state = State::Done; // abandons a running call
        f.release_store();
    })
}
