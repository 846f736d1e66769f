//! Tables (header section "table").
//!
//! A `wasmpool_table_t` is a table of a store: exported by an instance or
//! created with `wasmpool_table_new`. It is borrowed from its store (valid
//! until the store is deleted, never freed by the caller) and used on the
//! store's thread. Elements are funcref or externref values (see "values").

use crate::capi::boundary::{arg_ref, ffi_result, ffi_value, out_arg};
use crate::capi::error::wasmpool_error_t;
use crate::capi::store::{wasmpool_store, wasmpool_store_t};
use crate::capi::types::{table_to_c, wasmpool_tabletype_t};
use crate::capi::values::{from_c, to_c, type_of, wasmpool_val_t};
use crate::error::Error;
use crate::externals::Table;
use crate::types::TableType;

/// A table of a store. Borrowed: valid until its store is deleted; never
/// freed by the caller.
pub struct wasmpool_table {
    pub(crate) store: *const wasmpool_store,
    pub(crate) table: Table,
}

/// The type of a table; see `struct wasmpool_table`.
pub type wasmpool_table_t = wasmpool_table;

impl wasmpool_table {
    fn store(&self) -> &wasmpool_store {
        // SAFETY: a handle lives in its store's arena, so the store is alive.
        unsafe { &*self.store }
    }
}

/// The table's current number of elements; 0 for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_size(table: *const wasmpool_table_t) -> u32 {
    ffi_value(0, || {
        // SAFETY: a non-NULL table is a live handle.
        let Some(t) = (unsafe { table.as_ref() }) else { return 0 };
        // SAFETY: on the store's thread; only read.
        t.table.size(unsafe { t.store().rust_ref() }).unwrap_or(0)
    })
}

/// Writes element `index` to `*out` (kind `WASMPOOL_FUNCREF` or
/// `WASMPOOL_EXTERNREF`; a function comes back as a `wasmpool_func_t *`
/// borrowed from the store). An index past the end or a NULL pointer is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_get(
    table: *const wasmpool_table_t,
    index: u32,
    out: *mut wasmpool_val_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a writable value.
        let (t, out) = unsafe { (arg_ref(table, "table")?, out_arg(out, "out")?) };
        let s = t.store();
        s.check_idle("wasmpool_table_get")?;
        // SAFETY: idle, checked above.
        let v = t.table.get(unsafe { s.rust_ref() }, index).ok_or_else(|| {
            Error::invalid_argument(format!("table index {index} is out of bounds"))
        })?;
        *out = to_c(&v, s);
        Ok(())
    })
}

/// Sets element `index` to `*value`, which must have the table's element kind
/// (a funcref must be NULL or a function of the table's store). An index past
/// the end, a value of another kind or a NULL pointer is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT` (and changes nothing).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_set(
    table: *mut wasmpool_table_t,
    index: u32,
    value: *const wasmpool_val_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a readable value.
        let (t, value) = unsafe { (arg_ref(table, "table")?, arg_ref(value, "value")?) };
        let s = t.store();
        s.check_idle("wasmpool_table_set")?;
        let value = from_c(value, s)?;
        // SAFETY: idle, checked above.
        t.table.set(unsafe { s.rust() }, index, value)
    })
}

/// Grows the table by `delta` elements set to `*init` (of the table's element
/// kind). On success writes the previous size to `*prev_size` (may be NULL
/// when not wanted). Growing past the table's maximum, the pool's
/// `table_elements`, the engine's `max_table_elements`, or further than
/// memory can be allocated is `WASMPOOL_ERROR_RESOURCE`; growth the store's
/// limiter (`wasmpool_store_limiter`) refuses is `WASMPOOL_ERROR_LIMIT`; NULL
/// `table` or `init` is `WASMPOOL_ERROR_INVALID_ARGUMENT`. A failed growth
/// changes nothing.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_grow(
    table: *mut wasmpool_table_t,
    delta: u32,
    init: *const wasmpool_val_t,
    prev_size: *mut u32,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a readable value.
        let (t, init) = unsafe { (arg_ref(table, "table")?, arg_ref(init, "init")?) };
        let s = t.store();
        s.check_idle("wasmpool_table_grow")?;
        let init = from_c(init, s)?;
        // SAFETY: idle, checked above.
        let store = unsafe { s.rust() };
        let element = t.table.ty(store)?.element;
        if init.ty() != element {
            return Err(Error::invalid_argument(format!(
                "`init` has type {}, the table holds {element}",
                init.ty()
            )));
        }
        let prev = t.table.grow(store, delta, init)?;
        // SAFETY: a non-NULL `prev_size` is writable.
        if let Some(out) = unsafe { prev_size.as_mut() } {
            *out = prev;
        }
        Ok(())
    })
}

/// Writes the table's type (current size as `min`, and its maximum) to
/// `*out`. NULL `table` or `out` is `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_type(
    table: *const wasmpool_table_t,
    out: *mut wasmpool_tabletype_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a writable struct.
        let (t, out) = unsafe { (arg_ref(table, "table")?, out_arg(out, "out")?) };
        // SAFETY: on the store's thread; only read.
        let mut ty = table_to_c(&t.table.ty(unsafe { t.store().rust_ref() })?);
        // SAFETY: as above.
        ty.min = t.table.size(unsafe { t.store().rust_ref() })?;
        *out = ty;
        Ok(())
    })
}

/// Creates a table of type `*ty` (element kind `WASMPOOL_FUNCREF` or
/// `WASMPOOL_EXTERNREF`, `min` elements, up to `max` when `has_max`) in
/// `store`, every element set to `*init`, outside any instance. Writes a
/// handle borrowed from the store to `*out`. NULL pointers, a non-reference
/// element kind, `min > max` or an `init` of another kind are
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`; a `min` above the engine's
/// `max_table_elements` (default 10,000,000), or one the store's limiter
/// refuses, is `WASMPOOL_ERROR_LIMIT`; elements that cannot be allocated are
/// `WASMPOOL_ERROR_RESOURCE`. Never aborts, whatever `min` is.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_table_new(
    store: *mut wasmpool_store_t,
    ty: *const wasmpool_tabletype_t,
    init: *const wasmpool_val_t,
    out: *mut *mut wasmpool_table_t,
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
        s.check_idle("wasmpool_table_new")?;
        let element = type_of(ty.element)?;
        if !element.is_ref() {
            return Err(Error::invalid_argument(format!(
                "table type: elements must be funcref or externref, not {element}"
            )));
        }
        let max = ty.has_max.then_some(ty.max);
        if max.is_some_and(|max| max < ty.min) {
            return Err(Error::invalid_argument(format!(
                "table type: min {} exceeds max {}",
                ty.min, ty.max
            )));
        }
        let init = from_c(init, s)?;
        // SAFETY: idle, checked above.
        let table = Table::new(unsafe { s.rust() }, TableType { element, min: ty.min, max }, init)?;
        *out = s.table_handle(table);
        Ok(())
    })
}
