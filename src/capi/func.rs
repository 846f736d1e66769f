//! Functions and host functions (header section "func").
//!
//! A `wasmpool_func_t` is a function of a store: exported by an instance,
//! created with `wasmpool_func_new`, or found in a funcref value. It is
//! borrowed from its store: valid until the store is deleted, never freed by
//! the caller.
//!
//! A host function is a C callback with a signature, an `env` pointer and a
//! finalizer. Wasm calls it with its arguments; it writes its results and
//! returns NULL, or returns a trap (made with `wasmpool_trap_new`) that ends
//! the wasm execution. During the callback the `wasmpool_caller_t` gives
//! access to the calling instance's exports, such as its memory.

use crate::capi::boundary::{
    arg_ref, ffi_result, ffi_value, out_arg, slice_arg, slice_arg_mut, str_arg,
};
use crate::capi::error::wasmpool_error_t;
use crate::capi::global::wasmpool_global_t;
use crate::capi::linker::wasmpool_async_continuation;
use crate::capi::memory::wasmpool_memory_t;
use crate::capi::store::{
    Finalizer, StoreData, check_same_store, wasmpool_store, wasmpool_store_t,
};
use crate::capi::trap::{wasmpool_trap, wasmpool_trap_t};
use crate::capi::types::{wasmpool_functype, wasmpool_functype_t};
use crate::capi::values::{from_c, to_c, type_of, wasmpool_val_t, wasmpool_valkind_t, zero_of};
use crate::error::{Error, ErrorKind, Result};
use crate::externals::Extern;
use crate::func::{Caller, Func};
use crate::trap::Trap;
use crate::types::{FuncType, ValType};
use crate::values::Val;
use std::cell::OnceCell;
use std::ffi::c_void;

/// A function of a store. Borrowed: valid until its store is deleted; never
/// freed by the caller. Belongs to its store's thread, like the store.
pub struct wasmpool_func {
    pub(crate) store: *const wasmpool_store,
    pub(crate) func: Func,
    /// The signature, made on first request.
    pub(crate) ty: OnceCell<wasmpool_functype>,
}

/// The type of a function; see `struct wasmpool_func`.
pub type wasmpool_func_t = wasmpool_func;

/// What a host function sees of its caller during a callback: the calling
/// instance's exports and the store's data. Valid only until the callback
/// returns; never freed by the caller.
pub struct wasmpool_caller {
    caller: *mut Caller<'static, StoreData>,
    store: *const wasmpool_store,
}

/// The type of a caller; see `struct wasmpool_caller`.
pub type wasmpool_caller_t = wasmpool_caller;

/// A host function's callback. Called with the `env` given at definition, the
/// caller, the `nargs` arguments (kinds as in the signature) and room for the
/// `nresults` results, whose kinds are already set and values zeroed. Return
/// NULL after writing every result (with the signature's kinds), or a trap
/// from `wasmpool_trap_new` to end the wasm execution with it (the runtime
/// takes ownership of the trap). A result of the wrong kind becomes a
/// `WASMPOOL_TRAP_HOST` trap. The callback must not unwind (no C++
/// exceptions, no `longjmp` out of it), and may be called from several
/// threads at once when stores on several threads use the function.
pub type wasmpool_func_callback_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        caller: *mut wasmpool_caller_t,
        args: *const wasmpool_val_t,
        nargs: usize,
        results: *mut wasmpool_val_t,
        nresults: usize,
    ) -> *mut wasmpool_trap_t,
>;

/// What a C host function becomes on the Rust side: a closure the linker and
/// `Func::new` accept.
pub(crate) trait HostClosure:
    Fn(Caller<'_, StoreData>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static
{
}

impl<F> HostClosure for F where
    F: Fn(Caller<'_, StoreData>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static
{
}

/// The C function behind a host function: called once per call and done
/// (`wasmpool_func_callback_t`), or async (`wasmpool_func_async_callback_t`):
/// called once, then its continuation is polled until it reports done.
#[derive(Clone, Copy)]
pub(crate) enum Callback {
    Sync(
        unsafe extern "C" fn(
            *mut c_void,
            *mut wasmpool_caller,
            *const wasmpool_val_t,
            usize,
            *mut wasmpool_val_t,
            usize,
        ) -> *mut wasmpool_trap,
    ),
    Async(
        unsafe extern "C" fn(
            *mut c_void,
            *mut wasmpool_caller,
            *const wasmpool_val_t,
            usize,
            *mut wasmpool_val_t,
            usize,
            *mut *mut wasmpool_trap,
            *mut wasmpool_async_continuation,
        ),
    ),
}

/// A C callback with its environment; the finalizer runs when the last
/// definition or instance using it is gone.
struct HostEnv {
    callback: Callback,
    env: *mut c_void,
    finalizer: Finalizer,
    results: Box<[ValType]>,
}

// SAFETY: the header documents that a callback may be called, and its
// finalizer run, on any thread that uses a store with the function; the C
// code providing `env` promises that is safe.
unsafe impl Send for HostEnv {}
// SAFETY: as above.
unsafe impl Sync for HostEnv {}

impl Drop for HostEnv {
    fn drop(&mut self) {
        if let Some(finalize) = self.finalizer.take() {
            // SAFETY: the finalizer and `env` were given together; the last
            // reference to the function is going away, so this runs once.
            unsafe { finalize(self.env) };
        }
    }
}

/// Runs a continuation's finalizer exactly once, when the continuation is
/// done, abandoned or never polled.
struct Continuation(wasmpool_async_continuation);

impl Drop for Continuation {
    fn drop(&mut self) {
        if let Some(finalize) = self.0.finalizer.take() {
            // SAFETY: the finalizer and `env` were given together by the
            // async callback; the continuation is dropped once.
            unsafe { finalize(self.0.env) };
        }
    }
}

impl HostEnv {
    /// Runs the callback for one call (see `wasmpool_func_callback_t` and
    /// `wasmpool_func_async_callback_t`).
    fn call(
        &self,
        mut caller: Caller<'_, StoreData>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Trap> {
        if matches!(self.callback, Callback::Async(_)) && !crate::runtime::fiber::on_fiber() {
            return Err(Trap::host(
                "an async host function was called outside a resumable call \
                 (use wasmpool_func_call_async or an _async instantiation)",
            ));
        }
        let wstore_ptr = caller.data().wstore;
        // SAFETY: the store data's back pointer names the live C store that
        // owns the Rust store this call runs in.
        let wstore = unsafe { &*wstore_ptr };
        let args: Vec<wasmpool_val_t> = params.iter().map(|v| to_c(v, wstore)).collect();
        let mut outs: Vec<wasmpool_val_t> = self.results.iter().map(|t| zero_of(*t)).collect();
        // The caller is reachable from C only through this pointer while the
        // callback runs; the lifetime is erased for the duration.
        let raw = (&mut caller as *mut Caller<'_, StoreData>).cast::<Caller<'static, StoreData>>();
        let mut c_caller = wasmpool_caller { caller: raw, store: wstore_ptr };
        let (args_ptr, nargs, outs_ptr, nouts) =
            (args.as_ptr(), args.len(), outs.as_mut_ptr(), outs.len());
        // Written by C through `trap_ret` (an async callback's continuation
        // may keep the pointer), so only ever accessed through it.
        let mut trap: *mut wasmpool_trap = std::ptr::null_mut();
        let trap_ret: *mut *mut wasmpool_trap = &mut trap;
        let mut continuation = Continuation(wasmpool_async_continuation {
            callback: None,
            env: std::ptr::null_mut(),
            finalizer: None,
        });
        let previous = wstore.enter_host(raw);
        match self.callback {
            Callback::Sync(cb) => {
                // SAFETY: the callback was given with this signature; the
                // arrays hold the stated number of values and outlive the call;
                // `trap_ret` is writable.
                unsafe { *trap_ret = cb(self.env, &mut c_caller, args_ptr, nargs, outs_ptr, nouts) }
            }
            // SAFETY: as above; `trap_ret` and the continuation are writable
            // and, like the arrays, stay valid until the continuation is done.
            Callback::Async(cb) => unsafe {
                cb(
                    self.env,
                    &mut c_caller,
                    args_ptr,
                    nargs,
                    outs_ptr,
                    nouts,
                    trap_ret,
                    &mut continuation.0,
                )
            },
        }
        wstore.leave_host(previous);
        // SAFETY: `trap_ret` points to `trap`, alive in this frame.
        if let (true, Some(poll)) = (unsafe { *trap_ret }.is_null(), continuation.0.callback) {
            // Polled on the fiber, once now and then at each poll of the
            // resumable call, with the store reachable as during the callback.
            let env = continuation.0.env;
            let done = crate::runtime::fiber::block_on(std::future::poll_fn(|_| {
                let previous = wstore.enter_host(raw);
                // SAFETY: the continuation's callback and `env` were given
                // together by the async callback.
                let ready = unsafe { poll(env) };
                wstore.leave_host(previous);
                if ready { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
            }));
            if done.is_err() {
                return Err(Trap::host("the resumable call was abandoned"));
            }
        }
        drop(continuation);
        // SAFETY: as above.
        let trap = unsafe { *trap_ret };
        if !trap.is_null() {
            // SAFETY: a trap returned by a callback comes from
            // `wasmpool_trap_new` (or a call), and its ownership passes to us.
            let trap = unsafe { Box::from_raw(trap) };
            return Err(trap.trap);
        }
        for (i, (out, slot)) in outs.iter().zip(results.iter_mut()).enumerate() {
            *slot = from_c(out, wstore)
                .map_err(|e| Trap::host(format!("host function result {i}: {}", e.message())))?;
        }
        Ok(())
    }
}

/// Checks a C signature and wraps a callback into a Rust host function.
pub(crate) struct HostFunc {
    pub ty: FuncType,
    env: HostEnv,
}

impl HostFunc {
    /// Reads the signature and callback arguments of a host-function
    /// definition.
    ///
    /// # Safety
    /// `params` and `results` point to `nparams` and `nresults` kinds (or are
    /// NULL with a zero count).
    pub(crate) unsafe fn new(
        params: *const wasmpool_valkind_t,
        nparams: usize,
        results: *const wasmpool_valkind_t,
        nresults: usize,
        callback: Option<Callback>,
        env: *mut c_void,
        finalizer: Finalizer,
    ) -> Result<HostFunc> {
        // SAFETY: per the contract.
        let (params, results) = unsafe {
            (slice_arg(params, nparams, "params")?, slice_arg(results, nresults, "results")?)
        };
        let callback = callback.ok_or_else(|| Error::invalid_argument("`callback` is NULL"))?;
        let params = params.iter().map(|k| type_of(*k)).collect::<Result<Vec<_>>>()?;
        let results = results.iter().map(|k| type_of(*k)).collect::<Result<Vec<_>>>()?;
        let ty = FuncType::new(params, results.iter().copied());
        // Only now does the environment get a finalizer to run: on error the
        // caller keeps `env`.
        Ok(HostFunc {
            ty,
            env: HostEnv { callback, env, finalizer, results: results.into_boxed_slice() },
        })
    }

    /// The Rust closure of the host function.
    pub(crate) fn into_closure(self) -> (FuncType, impl HostClosure) {
        let env = self.env;
        (self.ty, move |caller: Caller<'_, StoreData>, params: &[Val], results: &mut [Val]| {
            env.call(caller, params, results)
        })
    }
}

/// Converts a call's outcome for C: a trap goes to `*trap`, other errors are
/// returned.
pub(crate) fn split_trap<T>(
    result: Result<T>,
    trap: &mut *mut wasmpool_trap_t,
) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::Trap => {
            let t = e.trap().cloned().unwrap_or_else(|| Trap::host(e.message().to_string()));
            *trap = wasmpool_trap::into_raw(t);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Creates a host function in `store` (outside any linker), for example to
/// put in a table or a funcref global, or to define in a linker with
/// `wasmpool_linker_define_func_handle`. The signature is `nparams` parameter
/// kinds at `params` and `nresults` result kinds at `results` (either array
/// may be NULL when its count is 0); see `wasmpool_func_callback_t`.
///
/// On success the store owns `env`: `finalizer` (may be NULL) is called with
/// it once, when the store is deleted. On error nothing is taken and the
/// finalizer is not called. Writes a handle borrowed from the store to
/// `*out`. NULL `store`, `callback` or `out`, or an unknown kind, is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
/// Not callable from inside the store's own host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_func_new(
    store: *mut wasmpool_store_t,
    params: *const wasmpool_valkind_t,
    nparams: usize,
    results: *const wasmpool_valkind_t,
    nresults: usize,
    callback: wasmpool_func_callback_t,
    env: *mut c_void,
    finalizer: Option<unsafe extern "C" fn(env: *mut c_void)>,
    out: *mut *mut wasmpool_func_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live store held by this thread and a
        // writable out-parameter.
        let (s, out) = unsafe { (arg_ref(store, "store")?, out_arg(out, "out")?) };
        s.check_idle("wasmpool_func_new")?;
        // SAFETY: the arrays hold the stated counts, per the contract.
        let host = unsafe {
            HostFunc::new(
                params,
                nparams,
                results,
                nresults,
                callback.map(Callback::Sync),
                env,
                finalizer,
            )
        }?;
        let (ty, closure) = host.into_closure();
        // SAFETY: idle, checked above.
        let func = Func::new(unsafe { s.rust() }, ty, closure)?;
        *out = s.func_handle(func);
        Ok(())
    })
}

/// The signature of `func`, owned by the function handle (valid until its
/// store is deleted); NULL for a NULL `func`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_func_type(func: *const wasmpool_func_t) -> *const wasmpool_functype_t {
    ffi_value(std::ptr::null(), || {
        // SAFETY: a non-NULL func is a live handle of a live store.
        let Some(f) = (unsafe { func.as_ref() }) else { return std::ptr::null() };
        f.ty.get_or_init(|| {
            // SAFETY: reading a function's signature only reads the engine's
            // immutable signature table through the store.
            let store = unsafe { (*f.store).rust() };
            wasmpool_functype::new(&f.func.ty(store))
        })
    })
}

/// The checked arguments of a call into `func`: the store (idle), the
/// function (of that store), the arguments and the results.
///
/// # Safety
/// Non-NULL pointers are a live store held by this thread, a live function
/// handle, and arrays of the stated lengths, valid for `'a`.
pub(crate) unsafe fn call_args<'a>(
    store: *mut wasmpool_store_t,
    func: *const wasmpool_func_t,
    args: *const wasmpool_val_t,
    nargs: usize,
    results: *mut wasmpool_val_t,
    nresults: usize,
    what: &str,
) -> Result<(&'a wasmpool_store, &'a wasmpool_func, &'a [wasmpool_val_t], &'a mut [wasmpool_val_t])>
{
    // SAFETY: per the contract.
    let (s, f, args, results) = unsafe {
        (
            arg_ref(store, "store")?,
            arg_ref(func, "func")?,
            slice_arg(args, nargs, "args")?,
            slice_arg_mut(results, nresults, "results")?,
        )
    };
    check_same_store(s, f.store, "func")?;
    s.check_idle(what)?;
    Ok((s, f, args, results))
}

/// Values of a call that fit in its stack buffer.
const INLINE_VALS: usize = 16;

/// Calls `func`, which must belong to `store`, with the `nargs` values at
/// `args`, writing the `nresults` results to `results` (either array may be
/// NULL when its count is 0).
///
/// Three outcomes:
/// - an error is returned (a NULL `store`, `func` or `trap`; `func` of another
///   store; `nargs`, `nresults` or an argument's kind not matching the
///   signature; a funcref argument that is not a function of `store`): nothing
///   ran, nothing is written but `*trap = NULL`;
/// - the call trapped: NULL is returned, `*trap` receives a trap owned by the
///   caller (free it with `wasmpool_trap_delete`), `results` is not written;
/// - the call returned: NULL is returned, `*trap` is NULL and every result is
///   written with its kind set.
///
/// Does not take ownership of anything. Not callable from inside a host
/// function of the same store (an error). The store is used by this thread
/// for the duration of the call.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_func_call(
    store: *mut wasmpool_store_t,
    func: *const wasmpool_func_t,
    args: *const wasmpool_val_t,
    nargs: usize,
    results: *mut wasmpool_val_t,
    nresults: usize,
    trap: *mut *mut wasmpool_trap_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `trap` is writable.
        let trap = unsafe { out_arg(trap, "trap") }?;
        *trap = std::ptr::null_mut();
        // SAFETY: per this function's contract.
        let (s, f, args, results) = unsafe {
            call_args(store, func, args, nargs, results, nresults, "wasmpool_func_call")
        }?;
        // Arguments and results share one buffer, on the stack when they fit,
        // so a call with few values costs no heap allocation.
        let n = args.len() + results.len();
        let mut inline = [Val::I32(0); INLINE_VALS];
        let mut heap = Vec::new();
        let vals: &mut [Val] = if n <= INLINE_VALS {
            &mut inline[..n]
        } else {
            heap.resize(n, Val::I32(0));
            &mut heap
        };
        let (params, outs) = vals.split_at_mut(args.len());
        for (slot, v) in params.iter_mut().zip(args) {
            *slot = from_c(v, s)?;
        }
        // A call made from a host function of a resumable call is not one.
        let result = crate::runtime::fiber::outside_fiber(|| {
            // SAFETY: idle, checked above; the host functions this call may
            // run reach the store only through their caller.
            f.func.call(unsafe { s.rust() }, params, outs)
        });
        if split_trap(result, trap)?.is_some() {
            for (slot, v) in results.iter_mut().zip(outs.iter()) {
                *slot = to_c(v, s);
            }
        }
        Ok(())
    })
}

/// The caller's exported memory named `name`, for host functions that read
/// or write guest memory: on success writes a memory handle borrowed from the
/// store (valid until the store is deleted) to `*out`. An unknown name, an
/// export that is not a memory, or a caller that is not a wasm instance (the
/// host called the function directly) is `WASMPOOL_ERROR_INVALID_ARGUMENT`,
/// as are NULL pointers. Only valid during the callback that received
/// `caller`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_caller_get_memory(
    caller: *mut wasmpool_caller_t,
    name: *const std::ffi::c_char,
    out: *mut *mut wasmpool_memory_t,
) -> *mut wasmpool_error_t {
    caller_export_handle(caller, name, out, "memory", |store, export| match export {
        Extern::Memory(m) => Some(store.memory_handle(m)),
        _ => None,
    })
}

/// The caller's exported global named `name`: on success writes a global
/// handle borrowed from the store to `*out`. Errors as for
/// `wasmpool_caller_get_memory`. Only valid during the callback.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_caller_get_global(
    caller: *mut wasmpool_caller_t,
    name: *const std::ffi::c_char,
    out: *mut *mut wasmpool_global_t,
) -> *mut wasmpool_error_t {
    caller_export_handle(caller, name, out, "global", |store, export| match export {
        Extern::Global(g) => Some(store.global_handle(g)),
        _ => None,
    })
}

/// The `data` pointer of the caller's store (as given to
/// `wasmpool_store_new`); NULL for a NULL caller. Only valid during the
/// callback.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_caller_data(caller: *const wasmpool_caller_t) -> *mut c_void {
    ffi_value(std::ptr::null_mut(), || {
        // SAFETY: a non-NULL caller is the live caller of a running callback,
        // whose store outlives it.
        match unsafe { caller.as_ref() } {
            Some(c) => unsafe { &*c.store }.user_data(),
            None => std::ptr::null_mut(),
        }
    })
}

#[allow(clippy::type_complexity)]
/// Writes to `*out` the handle `pick` makes of the caller's export `name`;
/// `pick` returns `None` when the export is not a `kind`.
fn caller_export_handle<T>(
    caller: *mut wasmpool_caller_t,
    name: *const std::ffi::c_char,
    out: *mut *mut T,
    kind: &str,
    pick: impl FnOnce(&wasmpool_store, Extern) -> Option<*mut T>,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are the live caller of a running callback,
        // a NUL-terminated name and a writable out-parameter.
        let (c, name, out) = unsafe {
            (
                crate::capi::boundary::out_arg(caller, "caller")?,
                str_arg(name, "name")?,
                out_arg(out, "out")?,
            )
        };
        // SAFETY: `c.caller` is the caller of the callback running now (the
        // wasmpool_caller_t lives on that callback's Rust frame).
        let export = unsafe { &mut *c.caller }.get_export(name).ok_or_else(|| {
            Error::invalid_argument(format!(
                "the caller has no export named `{name}` (or is not a wasm instance)"
            ))
        })?;
        // SAFETY: the caller's store outlives the callback.
        let store = unsafe { &*c.store };
        *out = pick(store, export).ok_or_else(|| {
            Error::invalid_argument(format!("the caller's export `{name}` is not a {kind}"))
        })?;
        Ok(())
    })
}
