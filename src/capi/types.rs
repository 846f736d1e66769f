//! Types of imports, exports and functions (header section "types").
//!
//! A module describes each import and export with a `wasmpool_externtype_t`:
//! its kind (`WASMPOOL_EXTERN_*`) and, by kind, a function type, a global
//! type, a table type or a memory type. Extern and function types are owned
//! by the object they were obtained from (a module or a function handle) and
//! valid as long as it is; the caller never frees them. Global, table and
//! memory types are small structs copied out to the caller.

use crate::capi::boundary::ffi_value;
use crate::capi::values::{kind_of, wasmpool_valkind_t};
use crate::module::ExternType;
use crate::types::{FuncType, GlobalType, MemoryType, TableType};

/// The kind of an import or export: one of the `WASMPOOL_EXTERN_*` values.
pub type wasmpool_externkind_t = u8;
/// A function.
pub const WASMPOOL_EXTERN_FUNC: wasmpool_externkind_t = 0;
/// A global.
pub const WASMPOOL_EXTERN_GLOBAL: wasmpool_externkind_t = 1;
/// A table.
pub const WASMPOOL_EXTERN_TABLE: wasmpool_externkind_t = 2;
/// A linear memory.
pub const WASMPOOL_EXTERN_MEMORY: wasmpool_externkind_t = 3;

/// A function signature: parameter and result kinds. Owned by the object it
/// came from; immutable and thread-safe.
pub struct wasmpool_functype {
    kinds: Box<[wasmpool_valkind_t]>,
    params: usize,
}

/// The type of a function signature; see `struct wasmpool_functype`.
pub type wasmpool_functype_t = wasmpool_functype;

impl wasmpool_functype {
    pub(crate) fn new(ty: &FuncType) -> wasmpool_functype {
        let kinds = ty.params().iter().chain(ty.results()).map(|t| kind_of(*t)).collect();
        wasmpool_functype { kinds, params: ty.params().len() }
    }
}

/// The type of an import or export. Owned by its module; immutable and
/// thread-safe.
pub struct wasmpool_externtype {
    ty: ExternType,
    func: Option<wasmpool_functype>,
}

/// The type of an extern type; see `struct wasmpool_externtype`.
pub type wasmpool_externtype_t = wasmpool_externtype;

impl wasmpool_externtype {
    pub(crate) fn new(ty: ExternType) -> wasmpool_externtype {
        let func = match &ty {
            ExternType::Func(f) => Some(wasmpool_functype::new(f)),
            _ => None,
        };
        wasmpool_externtype { ty, func }
    }

    pub(crate) fn kind(&self) -> wasmpool_externkind_t {
        match self.ty {
            ExternType::Func(_) => WASMPOOL_EXTERN_FUNC,
            ExternType::Global(_) => WASMPOOL_EXTERN_GLOBAL,
            ExternType::Table(_) => WASMPOOL_EXTERN_TABLE,
            ExternType::Memory(_) => WASMPOOL_EXTERN_MEMORY,
        }
    }
}

/// The type of a global: its value kind and whether it is mutable.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wasmpool_globaltype {
    /// The kind of the global's value.
    pub content: wasmpool_valkind_t,
    /// Whether `wasmpool_global_set` (and `global.set`) may change it.
    pub is_mutable: bool,
}

/// The type of a global type; see `struct wasmpool_globaltype`.
pub type wasmpool_globaltype_t = wasmpool_globaltype;

/// The type of a table: its element kind and limits in elements.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wasmpool_tabletype {
    /// `WASMPOOL_FUNCREF` or `WASMPOOL_EXTERNREF`.
    pub element: wasmpool_valkind_t,
    /// The minimum (for a live table: current) number of elements.
    pub min: u32,
    /// The maximum number of elements; meaningful only when `has_max`.
    pub max: u32,
    /// Whether the table has a maximum.
    pub has_max: bool,
}

/// The type of a table type; see `struct wasmpool_tabletype`.
pub type wasmpool_tabletype_t = wasmpool_tabletype;

/// The type of a linear memory: its limits in 64 KiB pages.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wasmpool_memorytype {
    /// The minimum (for a live memory: current) number of pages.
    pub min: u64,
    /// The maximum number of pages; meaningful only when `has_max`.
    pub max: u64,
    /// Whether the memory has a maximum.
    pub has_max: bool,
}

/// The type of a memory type; see `struct wasmpool_memorytype`.
pub type wasmpool_memorytype_t = wasmpool_memorytype;

pub(crate) fn global_to_c(g: &GlobalType) -> wasmpool_globaltype {
    wasmpool_globaltype { content: kind_of(g.content), is_mutable: g.mutable }
}

pub(crate) fn table_to_c(t: &TableType) -> wasmpool_tabletype {
    wasmpool_tabletype {
        element: kind_of(t.element),
        min: t.min,
        max: t.max.unwrap_or(0),
        has_max: t.max.is_some(),
    }
}

pub(crate) fn memory_to_c(m: &MemoryType) -> wasmpool_memorytype {
    wasmpool_memorytype { min: m.min, max: m.max.unwrap_or(0), has_max: m.max.is_some() }
}

/// The parameter kinds of a function type: returns an array of `*len` kinds
/// owned by the function type. For a NULL `ty` returns NULL and sets `*len`
/// to 0; `len` may be NULL when the count is not wanted. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_functype_params(
    ty: *const wasmpool_functype_t,
    len: *mut usize,
) -> *const wasmpool_valkind_t {
    ffi_value(std::ptr::null(), || {
        // SAFETY: a non-NULL type is live; a non-NULL `len` is writable.
        let (ty, len) = unsafe { (ty.as_ref(), len.as_mut()) };
        let (ptr, n) = match ty {
            Some(t) => (t.kinds.as_ptr(), t.params),
            None => (std::ptr::null(), 0),
        };
        if let Some(len) = len {
            *len = n;
        }
        ptr
    })
}

/// The result kinds of a function type: returns an array of `*len` kinds
/// owned by the function type. For a NULL `ty` returns NULL and sets `*len`
/// to 0; `len` may be NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_functype_results(
    ty: *const wasmpool_functype_t,
    len: *mut usize,
) -> *const wasmpool_valkind_t {
    ffi_value(std::ptr::null(), || {
        // SAFETY: a non-NULL type is live; a non-NULL `len` is writable.
        let (ty, len) = unsafe { (ty.as_ref(), len.as_mut()) };
        let (ptr, n) = match ty {
            // SAFETY: `params <= kinds.len()`, so the pointer stays in bounds.
            Some(t) => (unsafe { t.kinds.as_ptr().add(t.params) }, t.kinds.len() - t.params),
            None => (std::ptr::null(), 0),
        };
        if let Some(len) = len {
            *len = n;
        }
        ptr
    })
}

/// The kind of an import or export (`WASMPOOL_EXTERN_*`); 255 for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_externtype_kind(
    ty: *const wasmpool_externtype_t,
) -> wasmpool_externkind_t {
    ffi_value(255, || {
        // SAFETY: a non-NULL type is live.
        unsafe { ty.as_ref() }.map_or(255, |t| t.kind())
    })
}

/// The signature of a function import or export, owned by the extern type;
/// NULL when `ty` is NULL or not a function.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_externtype_functype(
    ty: *const wasmpool_externtype_t,
) -> *const wasmpool_functype_t {
    ffi_value(std::ptr::null(), || {
        // SAFETY: a non-NULL type is live.
        match unsafe { ty.as_ref() }.and_then(|t| t.func.as_ref()) {
            Some(f) => f,
            None => std::ptr::null(),
        }
    })
}

/// Writes the type of a global import or export to `*out` and returns true;
/// returns false and writes nothing when `ty` is not a global, or `ty`
/// or `out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_externtype_globaltype(
    ty: *const wasmpool_externtype_t,
    out: *mut wasmpool_globaltype_t,
) -> bool {
    ffi_value(false, || {
        // SAFETY: non-NULL pointers are a live type and a writable struct.
        match unsafe { (ty.as_ref(), out.as_mut()) } {
            (Some(wasmpool_externtype { ty: ExternType::Global(g), .. }), Some(out)) => {
                *out = global_to_c(g);
                true
            }
            _ => false,
        }
    })
}

/// Writes the type of a table import or export to `*out` and returns true;
/// returns false and writes nothing when `ty` is not a table, or `ty` or
/// `out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_externtype_tabletype(
    ty: *const wasmpool_externtype_t,
    out: *mut wasmpool_tabletype_t,
) -> bool {
    ffi_value(false, || {
        // SAFETY: non-NULL pointers are a live type and a writable struct.
        match unsafe { (ty.as_ref(), out.as_mut()) } {
            (Some(wasmpool_externtype { ty: ExternType::Table(t), .. }), Some(out)) => {
                *out = table_to_c(t);
                true
            }
            _ => false,
        }
    })
}

/// Writes the type of a memory import or export to `*out` and returns true;
/// returns false and writes nothing when `ty` is not a memory, or `ty` or
/// `out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_externtype_memorytype(
    ty: *const wasmpool_externtype_t,
    out: *mut wasmpool_memorytype_t,
) -> bool {
    ffi_value(false, || {
        // SAFETY: non-NULL pointers are a live type and a writable struct.
        match unsafe { (ty.as_ref(), out.as_mut()) } {
            (Some(wasmpool_externtype { ty: ExternType::Memory(m), .. }), Some(out)) => {
                *out = memory_to_c(m);
                true
            }
            _ => false,
        }
    })
}
