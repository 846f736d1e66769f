//! Instances (header section "instance").
//!
//! An instance is a module instantiated in a store, with its own memories,
//! tables and globals (from the pool, for a pooling engine). It belongs to its
//! store: the `wasmpool_instance_t` is borrowed (valid until the store is
//! deleted, never freed by the caller), and deleting the store deallocates
//! the instance. Its exports are reached by name.

use crate::capi::boundary::{arg_ref, ffi_result, out_arg, str_arg};
use crate::capi::error::wasmpool_error_t;
use crate::capi::func::{split_trap, wasmpool_func_t};
use crate::capi::global::wasmpool_global_t;
use crate::capi::linker::{wasmpool_instance_pre_t, wasmpool_linker_t};
use crate::capi::memory::wasmpool_memory_t;
use crate::capi::module::wasmpool_module_t;
use crate::capi::store::{wasmpool_store, wasmpool_store_t};
use crate::capi::table::wasmpool_table_t;
use crate::capi::trap::wasmpool_trap_t;
use crate::error::{Error, Result};
use crate::externals::{Extern, Instance};
use crate::linker::Linker;
use std::ffi::c_char;

/// An instance of a module in a store. Borrowed: valid until its store is
/// deleted; never freed by the caller. Used on its store's thread.
pub struct wasmpool_instance {
    pub(crate) store: *const wasmpool_store,
    pub(crate) instance: Instance,
}

/// The type of an instance; see `struct wasmpool_instance`.
pub type wasmpool_instance_t = wasmpool_instance;

/// Shared tail of the instantiation functions: a trap goes to `*trap`, an
/// instance to `*out`.
fn finish(
    s: &wasmpool_store,
    result: Result<Instance>,
    out: &mut *mut wasmpool_instance_t,
    trap: &mut *mut wasmpool_trap_t,
) -> Result<()> {
    if let Some(instance) = split_trap(result, trap)? {
        *out = s.instance_handle(instance);
    }
    Ok(())
}

/// Instantiates a pre-linked module in `store` (the fast path: names were
/// resolved once by `wasmpool_linker_instantiate_pre`).
///
/// Three outcomes:
/// - an error is returned (NULL pointers; a store of another engine; a pool
///   with no free slot: `WASMPOOL_ERROR_POOL_EXHAUSTED`, retry after deleting
///   a store; the OS refusing memory: `WASMPOOL_ERROR_RESOURCE`): `*out` is
///   not written and `*trap` is NULL;
/// - the start function trapped: `*trap` receives a trap owned by the caller
///   and `*out` is not written (the instance stays in the store, inert, until
///   the store is deleted);
/// - success: `*out` receives an instance borrowed from the store and
///   `*trap` is NULL.
///
/// Does not take ownership of `pre`, which may be used by several threads at
/// once (each with its own store). Not callable from inside the store's host
/// functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_pre_instantiate(
    pre: *const wasmpool_instance_pre_t,
    store: *mut wasmpool_store_t,
    out: *mut *mut wasmpool_instance_t,
    trap: *mut *mut wasmpool_trap_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `trap` is writable.
        let trap = unsafe { out_arg(trap, "trap") }?;
        *trap = std::ptr::null_mut();
        // SAFETY: non-NULL pointers are a live instance-pre, a live store held
        // by this thread and a writable out-parameter.
        let (pre, s, out) =
            unsafe { (arg_ref(pre, "pre")?, arg_ref(store, "store")?, out_arg(out, "out")?) };
        s.check_idle("wasmpool_instance_pre_instantiate")?;
        // Synchronous, also from a host function of a resumable call.
        let result = crate::runtime::fiber::outside_fiber(|| {
            // SAFETY: idle, checked above.
            pre.pre.instantiate(unsafe { s.rust() })
        });
        finish(s, result, out, trap)
    })
}

/// Instantiates `module` in `store`, resolving its imports with `linker`,
/// which may be NULL when the module has no imports (a module with imports
/// and no linker is a `WASMPOOL_ERROR_LINK` error; a linker of another engine
/// is `WASMPOOL_ERROR_INVALID_ARGUMENT`). Outcomes, ownership and
/// threading as for `wasmpool_instance_pre_instantiate`; a missing or
/// mistyped import is `WASMPOOL_ERROR_LINK`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_new(
    store: *mut wasmpool_store_t,
    module: *const wasmpool_module_t,
    linker: *const wasmpool_linker_t,
    out: *mut *mut wasmpool_instance_t,
    trap: *mut *mut wasmpool_trap_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `trap` is writable.
        let trap = unsafe { out_arg(trap, "trap") }?;
        *trap = std::ptr::null_mut();
        // SAFETY: non-NULL pointers are a live store held by this thread, a
        // live module and a writable out-parameter.
        let (s, m, out) =
            unsafe { (arg_ref(store, "store")?, arg_ref(module, "module")?, out_arg(out, "out")?) };
        s.check_idle("wasmpool_instance_new")?;
        // SAFETY: idle, checked above.
        let rust = unsafe { s.rust() };
        // SAFETY: a non-NULL linker is live.
        let linker = unsafe { linker.as_ref() };
        // Synchronous, also from a host function of a resumable call.
        let result = crate::runtime::fiber::outside_fiber(|| match linker {
            Some(l) => l.linker.instantiate(rust, &m.module),
            None => Linker::new(m.module.engine()).instantiate(rust, &m.module),
        });
        finish(s, result, out, trap)
    })
}

/// Looks up export `name` of `instance`.
fn export(
    instance: *mut wasmpool_instance_t,
    name: *const c_char,
) -> Result<(&'static wasmpool_instance, &'static str, Extern)> {
    // SAFETY: non-NULL pointers are a live instance handle and a
    // NUL-terminated name; the handle lives as long as its store, which the
    // caller keeps for the duration of the call.
    let (i, name) = unsafe { (arg_ref(instance, "instance")?, str_arg(name, "name")?) };
    // SAFETY: the handle's store is alive (the handle is in its arena).
    let s = unsafe { &*i.store };
    s.check_idle("looking up an instance's export")?;
    // SAFETY: idle, checked above; reading an export only reads the instance's export table and
    // makes a handle; no wasm runs.
    let ext = i.instance.get_export(unsafe { s.rust() }, name);
    let ext = ext.ok_or_else(|| {
        Error::invalid_argument(format!("the instance has no export named `{name}`"))
    })?;
    Ok((i, name, ext))
}

fn wrong_kind(name: &str, want: &str) -> Error {
    Error::invalid_argument(format!("the instance's export `{name}` is not a {want}"))
}

/// The instance's exported function `name`: on success writes a function
/// handle borrowed from the store to `*out`. An unknown name or an export of
/// another kind is `WASMPOOL_ERROR_INVALID_ARGUMENT`, as are NULL pointers.
/// Asking twice gives the same handle.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_get_func(
    instance: *mut wasmpool_instance_t,
    name: *const c_char,
    out: *mut *mut wasmpool_func_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        match export(instance, name)? {
            // SAFETY: the handle's store is alive.
            (i, _, Extern::Func(f)) => *out = unsafe { &*i.store }.func_handle(f),
            (_, name, _) => return Err(wrong_kind(name, "function")),
        }
        Ok(())
    })
}

/// The instance's exported memory `name`; errors as for
/// `wasmpool_instance_get_func`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_get_memory(
    instance: *mut wasmpool_instance_t,
    name: *const c_char,
    out: *mut *mut wasmpool_memory_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        match export(instance, name)? {
            // SAFETY: the handle's store is alive.
            (i, _, Extern::Memory(m)) => *out = unsafe { &*i.store }.memory_handle(m),
            (_, name, _) => return Err(wrong_kind(name, "memory")),
        }
        Ok(())
    })
}

/// The instance's exported global `name`; errors as for
/// `wasmpool_instance_get_func`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_get_global(
    instance: *mut wasmpool_instance_t,
    name: *const c_char,
    out: *mut *mut wasmpool_global_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        match export(instance, name)? {
            // SAFETY: the handle's store is alive.
            (i, _, Extern::Global(g)) => *out = unsafe { &*i.store }.global_handle(g),
            (_, name, _) => return Err(wrong_kind(name, "global")),
        }
        Ok(())
    })
}

/// The instance's exported table `name`; errors as for
/// `wasmpool_instance_get_func`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_instance_get_table(
    instance: *mut wasmpool_instance_t,
    name: *const c_char,
    out: *mut *mut wasmpool_table_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL `out` is writable.
        let out = unsafe { out_arg(out, "out") }?;
        match export(instance, name)? {
            // SAFETY: the handle's store is alive.
            (i, _, Extern::Table(t)) => *out = unsafe { &*i.store }.table_handle(t),
            (_, name, _) => return Err(wrong_kind(name, "table")),
        }
        Ok(())
    })
}
