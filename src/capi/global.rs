//! Globals (header section "global").
//!
//! A `wasmpool_global_t` is a global of a store: exported by an instance,
//! reached through a host function's caller, or created with
//! `wasmpool_global_new`. It is borrowed from its store (valid until the store
//! is deleted, never freed by the caller) and used on the store's thread.

use crate::capi::boundary::{arg_ref, ffi_result, ffi_value, out_arg};
use crate::capi::error::wasmpool_error_t;
use crate::capi::store::{wasmpool_store, wasmpool_store_t};
use crate::capi::types::{global_to_c, wasmpool_globaltype_t};
use crate::capi::values::{from_c, kind_of, to_c, type_of, wasmpool_val_t, wasmpool_valkind_t};
use crate::externals::Global;
use crate::types::GlobalType;

/// A global of a store. Borrowed: valid until its store is deleted; never
/// freed by the caller.
pub struct wasmpool_global {
    pub(crate) store: *const wasmpool_store,
    pub(crate) global: Global,
}

/// The type of a global; see `struct wasmpool_global`.
pub type wasmpool_global_t = wasmpool_global;

impl wasmpool_global {
    fn store(&self) -> &wasmpool_store {
        // SAFETY: a handle lives in its store's arena, so the store is alive.
        unsafe { &*self.store }
    }
}

/// Writes the global's current value (with its kind) to `*out`. Does nothing
/// when `global` or `out` is NULL. Callable inside host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_get(global: *const wasmpool_global_t, out: *mut wasmpool_val_t) {
    ffi_value((), || {
        // SAFETY: non-NULL pointers are a live handle and a writable value.
        let (Some(g), Some(out)) = (unsafe { global.as_ref() }, unsafe { out.as_mut() }) else {
            return;
        };
        let s = g.store();
        // SAFETY: on the store's thread; only read.
        let value = g.global.get(unsafe { s.rust_ref() });
        *out = to_c(&value, s);
    })
}

/// Sets a mutable global to `*value`. An immutable global, a value of another
/// kind, a funcref that is not a function of the global's store, or a NULL
/// pointer is `WASMPOOL_ERROR_INVALID_ARGUMENT` (and changes nothing).
/// Callable inside host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_set(
    global: *mut wasmpool_global_t,
    value: *const wasmpool_val_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a readable value.
        let (g, value) = unsafe { (arg_ref(global, "global")?, arg_ref(value, "value")?) };
        let s = g.store();
        let value = from_c(value, s)?;
        // SAFETY: on the store's thread; the set writes only the global's
        // storage, which nothing else references during the call.
        g.global.set(unsafe { s.rust() }, value)
    })
}

/// Writes the global's type to `*out`. NULL `global` or `out` is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_type(
    global: *const wasmpool_global_t,
    out: *mut wasmpool_globaltype_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a writable struct.
        let (g, out) = unsafe { (arg_ref(global, "global")?, out_arg(out, "out")?) };
        *out = global_to_c(&g.global.ty());
        Ok(())
    })
}

/// The kind of the global's value (`WASMPOOL_I32` ...); 255 for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_kind(global: *const wasmpool_global_t) -> wasmpool_valkind_t {
    ffi_value(255, || {
        // SAFETY: a non-NULL global is a live handle.
        unsafe { global.as_ref() }.map_or(255, |g| kind_of(g.global.ty().content))
    })
}

/// Whether the global is mutable; false for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_is_mutable(global: *const wasmpool_global_t) -> bool {
    ffi_value(false, || {
        // SAFETY: a non-NULL global is a live handle.
        unsafe { global.as_ref() }.is_some_and(|g| g.global.ty().mutable)
    })
}

/// Creates a global of type `*ty` with the value `*init` in `store`, outside
/// any instance, for example to define in a linker with
/// `wasmpool_linker_define_global`. Writes a handle borrowed from the store to
/// `*out`. NULL pointers, an unknown kind or an `init` of another kind are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Not callable from inside the store's
/// host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_global_new(
    store: *mut wasmpool_store_t,
    ty: *const wasmpool_globaltype_t,
    init: *const wasmpool_val_t,
    out: *mut *mut wasmpool_global_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live store, readable type and value,
        // and a writable out-parameter.
        let (s, ty, init, out) = unsafe {
            (
                arg_ref(store, "store")?,
                arg_ref(ty, "ty")?,
                arg_ref(init, "init")?,
                out_arg(out, "out")?,
            )
        };
        s.check_idle("wasmpool_global_new")?;
        let gty = GlobalType { content: type_of(ty.content)?, mutable: ty.is_mutable };
        let init = from_c(init, s)?;
        // SAFETY: idle, checked above.
        let global = Global::new(unsafe { s.rust() }, gty, init)?;
        *out = s.global_handle(global);
        Ok(())
    })
}
