//! Linkers and pre-linked modules (header section "linker").
//!
//! A linker maps (module, name) pairs to definitions: host functions (C
//! callbacks) and objects of a store (functions, memories, globals, tables,
//! or all exports of an instance). It resolves a module's imports to
//! instantiate it. `wasmpool_linker_instantiate_pre` resolves them once into a
//! `wasmpool_instance_pre_t`, from which any number of threads can then
//! instantiate cheaply, each in its own store.
//!
//! Host functions defined in a linker are shared by every store that
//! instantiates with it. Their `env` is finalized once, when the linker, every
//! instance-pre made from it and every store that used the function are gone.

use crate::capi::boundary::{
    arg_ref, boxed, delete_boxed, ffi_result, ffi_value, out_arg, str_arg,
};
use crate::capi::engine::wasmpool_engine_t;
use crate::capi::error::wasmpool_error_t;
use crate::capi::func::{
    Callback, HostFunc, wasmpool_caller_t, wasmpool_func_callback_t, wasmpool_func_t,
};
use crate::capi::global::wasmpool_global_t;
use crate::capi::instance::wasmpool_instance_t;
use crate::capi::memory::wasmpool_memory_t;
use crate::capi::module::wasmpool_module_t;
use crate::capi::store::{StoreData, check_same_store, wasmpool_store_t};
use crate::capi::table::wasmpool_table_t;
use crate::capi::trap::wasmpool_trap_t;
use crate::capi::values::{wasmpool_val_t, wasmpool_valkind_t};
use crate::error::Result;
use crate::externals::Extern;
use crate::linker::{InstancePre, Linker};
use std::ffi::{c_char, c_void};

/// A set of definitions to link modules against. Owned by the caller, freed
/// with `wasmpool_linker_delete`. Defining is not thread-safe (one thread at a
/// time); `wasmpool_linker_instantiate_pre` and `wasmpool_instance_new` only
/// read the linker and may run on several threads at once.
pub struct wasmpool_linker {
    pub(crate) linker: Linker<StoreData>,
}

/// The type of a linker; see `struct wasmpool_linker`.
pub type wasmpool_linker_t = wasmpool_linker;

/// A module with its imports resolved, ready to instantiate in any store of
/// its engine. Owned by the caller, freed with `wasmpool_instance_pre_delete`.
/// Thread-safe: several threads may instantiate from one at once.
pub struct wasmpool_instance_pre {
    pub(crate) pre: InstancePre<StoreData>,
}

/// The type of an instance-pre; see `struct wasmpool_instance_pre`.
pub type wasmpool_instance_pre_t = wasmpool_instance_pre;

/// Creates an empty linker for modules of `engine`. Does not take ownership
/// of `engine`. The caller owns the result and frees it with
/// `wasmpool_linker_delete`. Returns NULL when `engine` is NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_new(engine: *const wasmpool_engine_t) -> *mut wasmpool_linker_t {
    ffi_value(std::ptr::null_mut(), || {
        // SAFETY: a non-NULL engine is live.
        match unsafe { engine.as_ref() } {
            Some(e) => boxed(wasmpool_linker { linker: Linker::new(&e.engine) }),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees a linker. Takes ownership; NULL does nothing. Instance-pres and
/// instances made with it stay valid; host functions' finalizers run when
/// nothing uses them any more.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_delete(linker: *mut wasmpool_linker_t) {
    // SAFETY: a non-NULL linker came from `wasmpool_linker_new` and is given up.
    unsafe { delete_boxed(linker) }
}

/// Reads the linker and the two names of a definition.
fn define_args<'a>(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
) -> Result<(&'a mut wasmpool_linker, &'a str, &'a str)> {
    // SAFETY: non-NULL pointers are a live linker used by this thread only,
    // and NUL-terminated names.
    unsafe { Ok((out_arg(linker, "linker")?, str_arg(module, "module")?, str_arg(name, "name")?)) }
}

/// Defines `module`::`name` as a host function with the signature of
/// `nparams` kinds at `params` and `nresults` kinds at `results` (either may be
/// NULL when its count is 0); see `wasmpool_func_callback_t` for how the
/// callback is called. A later definition of the same names replaces an
/// earlier one.
///
/// On success the linker owns `env`: `finalizer` (may be NULL) is called with
/// it exactly once, when the linker, the instance-pres made from it and every
/// store that instantiated with the function are all deleted. On error
/// nothing is taken: the finalizer is not called and `env` stays the
/// caller's. NULL `linker`, `module`, `name` or `callback`, or an unknown
/// kind, is `WASMPOOL_ERROR_INVALID_ARGUMENT`. A module importing the name with another
/// signature fails to link with `WASMPOOL_ERROR_LINK`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_func(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: *const wasmpool_valkind_t,
    nparams: usize,
    results: *const wasmpool_valkind_t,
    nresults: usize,
    callback: wasmpool_func_callback_t,
    env: *mut c_void,
    finalizer: Option<unsafe extern "C" fn(env: *mut c_void)>,
) -> *mut wasmpool_error_t {
    define_host(
        linker,
        (module, name),
        (params, nparams, results, nresults),
        callback.map(Callback::Sync),
        (env, finalizer),
    )
}

/// The signature arrays of a host-function definition.
type Signature = (*const wasmpool_valkind_t, usize, *const wasmpool_valkind_t, usize);

/// Defines a host function of either kind (see `wasmpool_linker_define_func`).
fn define_host(
    linker: *mut wasmpool_linker_t,
    (module, name): (*const c_char, *const c_char),
    (params, nparams, results, nresults): Signature,
    callback: Option<Callback>,
    (env, finalizer): (*mut c_void, Option<unsafe extern "C" fn(env: *mut c_void)>),
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        let (l, module, name) = define_args(linker, module, name)?;
        // SAFETY: the arrays hold the stated counts, per the contract.
        let host =
            unsafe { HostFunc::new(params, nparams, results, nresults, callback, env, finalizer) }?;
        let (ty, closure) = host.into_closure();
        l.linker.func_new(module, name, ty, closure)?;
        Ok(())
    })
}

/// The callback of an async host function's continuation: returns true when
/// the host function is done (its results, or a trap, are written), false to
/// suspend the resumable call until its next `wasmpool_call_future_poll`,
/// which calls it again.
pub type wasmpool_func_async_continuation_callback_t =
    Option<unsafe extern "C" fn(env: *mut c_void) -> bool>;

/// What an async host function's callback leaves to finish later (Wasmtime's
/// `wasmtime_async_continuation_t`). The runtime sets it to all NULL before
/// the callback; a callback that finishes at once leaves it so.
#[repr(C)]
pub struct wasmpool_async_continuation {
    /// Polled until it returns true; NULL: the host function is already
    /// done.
    pub callback: wasmpool_func_async_continuation_callback_t,
    /// Passed to `callback` and `finalizer`.
    pub env: *mut c_void,
    /// May be NULL. Called with `env` exactly once, when the continuation is
    /// over: after `callback` returned true, when the callback set a trap (then
    /// `callback` is never called), or when the resumable call is abandoned
    /// (its future deleted, or its store deleted) before that.
    pub finalizer: Option<unsafe extern "C" fn(env: *mut c_void)>,
}

/// The type of a continuation; see `struct wasmpool_async_continuation`.
pub type wasmpool_async_continuation_t = wasmpool_async_continuation;

/// An async host function's callback (Wasmtime's
/// `wasmtime_func_async_callback_t`). Called once per call, like a
/// `wasmpool_func_callback_t`, with `env`, the caller, the `nargs` arguments
/// and room for the `nresults` results (kinds set, values zeroed), plus
/// `trap_ret` (`*trap_ret` is NULL) and `continuation_ret` (all NULL).
///
/// To finish at once, write the results (or set `*trap_ret` to a trap from
/// `wasmpool_trap_new`, whose ownership passes to the runtime) and return.
/// To finish later, fill `*continuation_ret`: its callback is called right
/// after this one returns and then once per `wasmpool_call_future_poll`
/// until it returns true; until then the wasm call is suspended (the poll
/// returns false). `args`, `results` and `trap_ret` stay valid until the
/// continuation returns true or is finalized, so the continuation may
/// write the results or a trap through pointers the callback kept; the
/// `caller` is valid only during this callback. While the callback or its
/// continuation runs, handles of the store (memories, globals, tables) may
/// be used, and calls into the store are refused, as in a
/// `wasmpool_func_callback_t`.
///
/// An async host function runs only in a resumable call
/// (`wasmpool_func_call_async`, `wasmpool_linker_instantiate_async`,
/// `wasmpool_instance_pre_instantiate_async`); called from a synchronous one
/// it traps with `WASMPOOL_TRAP_HOST` without calling the callback. The
/// callback and the continuation must not unwind, and may run on any thread
/// that polls the call's future.
pub type wasmpool_func_async_callback_t = Option<
    unsafe extern "C" fn(
        env: *mut c_void,
        caller: *mut wasmpool_caller_t,
        args: *const wasmpool_val_t,
        nargs: usize,
        results: *mut wasmpool_val_t,
        nresults: usize,
        trap_ret: *mut *mut wasmpool_trap_t,
        continuation_ret: *mut wasmpool_async_continuation_t,
    ),
>;

/// Defines `module`::`name` as an async host function (Wasmtime's
/// `wasmtime_linker_define_async_func`): as `wasmpool_linker_define_func`
/// (same signature arguments, ownership of `env` and `finalizer`, errors),
/// with a callback that may leave a continuation to finish later; see
/// `wasmpool_func_async_callback_t`. Needs an engine with async support to
/// be of use: only resumable calls can call it.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_async_func(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    params: *const wasmpool_valkind_t,
    nparams: usize,
    results: *const wasmpool_valkind_t,
    nresults: usize,
    callback: wasmpool_func_async_callback_t,
    env: *mut c_void,
    finalizer: Option<unsafe extern "C" fn(env: *mut c_void)>,
) -> *mut wasmpool_error_t {
    define_host(
        linker,
        (module, name),
        (params, nparams, results, nresults),
        callback.map(Callback::Async),
        (env, finalizer),
    )
}

/// Defines `module`::`name` as an object of a store. Such a definition can
/// only be used to instantiate in that store (elsewhere instantiation fails
/// with `WASMPOOL_ERROR_INVALID_ARGUMENT`).
fn define_extern(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    item: Extern,
) -> Result<()> {
    let (l, module, name) = define_args(linker, module, name)?;
    l.linker.define(module, name, item)?;
    Ok(())
}

/// Defines `module`::`name` as `func`, a function of some store (exported by
/// an instance or made with `wasmpool_func_new`). The definition can only be
/// used to instantiate in that store. NULL pointers are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Does not take ownership of anything.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_func_handle(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    func: *const wasmpool_func_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL func is a live handle.
        let f = unsafe { arg_ref(func, "func") }?;
        define_extern(linker, module, name, Extern::Func(f.func))
    })
}

/// Defines `module`::`name` as `memory`, a memory of some store; only usable
/// to instantiate in that store. NULL pointers are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_memory(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    memory: *const wasmpool_memory_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL memory is a live handle.
        let m = unsafe { arg_ref(memory, "memory") }?;
        define_extern(linker, module, name, Extern::Memory(m.memory))
    })
}

/// Defines `module`::`name` as `global`, a global of some store; only usable
/// to instantiate in that store. NULL pointers are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_global(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    global: *const wasmpool_global_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL global is a live handle.
        let g = unsafe { arg_ref(global, "global") }?;
        define_extern(linker, module, name, Extern::Global(g.global))
    })
}

/// Defines `module`::`name` as `table`, a table of some store; only usable to
/// instantiate in that store. NULL pointers are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_table(
    linker: *mut wasmpool_linker_t,
    module: *const c_char,
    name: *const c_char,
    table: *const wasmpool_table_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL table is a live handle.
        let t = unsafe { arg_ref(table, "table") }?;
        define_extern(linker, module, name, Extern::Table(t.table))
    })
}

/// Defines every export of `instance` (which must belong to `store`) under the
/// module name `module`, so other modules can import them; usable only to
/// instantiate in `store`. NULL pointers or an instance of another store are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Not callable from inside the store's
/// host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_define_instance(
    linker: *mut wasmpool_linker_t,
    store: *mut wasmpool_store_t,
    module: *const c_char,
    instance: *const wasmpool_instance_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live linker, a live store held by this
        // thread, a NUL-terminated name and a live instance handle.
        let (l, s, module, i) = unsafe {
            (
                out_arg(linker, "linker")?,
                arg_ref(store, "store")?,
                str_arg(module, "module")?,
                arg_ref(instance, "instance")?,
            )
        };
        check_same_store(s, i.store, "instance")?;
        s.check_idle("wasmpool_linker_define_instance")?;
        // SAFETY: idle, checked above.
        l.linker.instance(unsafe { s.rust() }, module, i.instance)?;
        Ok(())
    })
}

/// Resolves `module`'s imports against the linker once. On success writes an
/// instance-pre owned by the caller to `*out` (free it with
/// `wasmpool_instance_pre_delete`); instantiate it with
/// `wasmpool_instance_pre_instantiate`. A missing import or a host function of
/// the wrong signature is `WASMPOOL_ERROR_LINK` (naming the import); NULL
/// pointers and a module of another engine than the linker's are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Does not take ownership of
/// `linker` or `module`: later changes to the linker do not affect the
/// instance-pre. Thread-safe for a linker nobody is defining into.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_linker_instantiate_pre(
    linker: *const wasmpool_linker_t,
    module: *const wasmpool_module_t,
    out: *mut *mut wasmpool_instance_pre_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live linker and module, and a
        // writable out-parameter.
        let (l, m, out) = unsafe {
            (arg_ref(linker, "linker")?, arg_ref(module, "module")?, out_arg(out, "out")?)
        };
        let pre = l.linker.instantiate_pre(&m.module)?;
        *out = boxed(wasmpool_instance_pre { pre });
        Ok(())
    })
}

/// Frees an instance-pre. Takes ownership; NULL does nothing. Instances made
/// from it stay valid. Must not run while another thread instantiates from it.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_pre_delete(pre: *mut wasmpool_instance_pre_t) {
    // SAFETY: a non-NULL pre came from `wasmpool_linker_instantiate_pre` and is
    // given up by the caller.
    unsafe { delete_boxed(pre) }
}
