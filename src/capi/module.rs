//! Modules and the text format (header section "module").
//!
//! A module is validated and compiled WebAssembly for one engine. It is
//! immutable: one module may be instantiated by any number of threads at
//! once, in any stores of its engine. Its imports and exports can be listed
//! with their names, kinds and types.

use crate::capi::boundary::{
    boxed, c_string, delete_boxed, ffi_result, ffi_value, out_arg, slice_arg,
};
use crate::capi::engine::wasmpool_engine_t;
use crate::capi::error::wasmpool_error_t;
use crate::capi::types::{wasmpool_externkind_t, wasmpool_externtype, wasmpool_externtype_t};
use crate::error::{Error, ErrorKind, Result};
use crate::module::Module;
use std::ffi::{CString, c_char};

struct Import {
    module: CString,
    name: CString,
    ty: wasmpool_externtype,
}

struct Export {
    name: CString,
    ty: wasmpool_externtype,
}

/// A compiled module. Owned by the caller, freed with
/// `wasmpool_module_delete`. Immutable and thread-safe: it may be used from
/// several threads at once (but not deleted while in use). Instances keep what
/// they need of it, so it may be deleted while they live.
pub struct wasmpool_module {
    pub(crate) module: Module,
    imports: Vec<Import>,
    exports: Vec<Export>,
}

/// The type of a module; see `struct wasmpool_module`.
pub type wasmpool_module_t = wasmpool_module;

/// Validates and compiles `len` bytes of WebAssembly binary at `wasm` for
/// `engine`. Malformed or invalid wasm is a `WASMPOOL_ERROR_INVALID_MODULE`
/// error naming the problem and its offset; a module a pooling engine could
/// never instantiate (more memories or tables than `max_*_per_module`, a
/// minimum size above the slot size, ...) is `WASMPOOL_ERROR_LIMIT`.
///
/// Does not take ownership of `engine` or `wasm` (the bytes may be freed
/// afterwards). On success writes a module owned by the caller to `*out` (free
/// it with `wasmpool_module_delete`). NULL `engine` or `out`, or NULL `wasm`
/// with a nonzero `len`, is `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_new(
    engine: *const wasmpool_engine_t,
    wasm: *const u8,
    len: usize,
    out: *mut *mut wasmpool_module_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live engine, `len` readable bytes
        // and a writable out-parameter.
        let (engine, bytes, out) = unsafe {
            (
                crate::capi::boundary::arg_ref(engine, "engine")?,
                slice_arg(wasm, len, "wasm")?,
                out_arg(out, "out")?,
            )
        };
        let module = Module::new(&engine.engine, bytes)?;
        *out = boxed(describe(module));
        Ok(())
    })
}

/// The C wrapper of `module`, with its import and export lists.
pub(crate) fn describe(module: Module) -> wasmpool_module {
    let imports = module
        .imports()
        .into_iter()
        .map(|(m, n, ty)| Import {
            module: c_string(&m),
            name: c_string(&n),
            ty: wasmpool_externtype::new(ty),
        })
        .collect();
    let exports = module
        .exports()
        .into_iter()
        .map(|(n, ty)| Export { name: c_string(&n), ty: wasmpool_externtype::new(ty) })
        .collect();
    wasmpool_module { module, imports, exports }
}

/// Checks that `len` bytes at `wasm` are a valid module for `engine`, without
/// compiling it: returns NULL when they are, a `WASMPOOL_ERROR_INVALID_MODULE`
/// error (owned by the caller) when they are not. Does not take ownership of
/// anything. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_validate(
    engine: *const wasmpool_engine_t,
    wasm: *const u8,
    len: usize,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live engine and `len` readable bytes.
        let (engine, bytes) = unsafe {
            (crate::capi::boundary::arg_ref(engine, "engine")?, slice_arg(wasm, len, "wasm")?)
        };
        Module::validate(&engine.engine, bytes)
    })
}

/// Frees a module. Takes ownership; NULL does nothing. Instance-pres and
/// instances made from it stay valid. Must not run while another thread uses
/// the module.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_delete(module: *mut wasmpool_module_t) {
    // SAFETY: a non-NULL module came from `wasmpool_module_new` and is given up.
    unsafe { delete_boxed(module) }
}

/// How many imports the module has; 0 for NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_imports_len(module: *const wasmpool_module_t) -> usize {
    ffi_value(0, || {
        // SAFETY: a non-NULL module is live.
        unsafe { module.as_ref() }.map_or(0, |m| m.imports.len())
    })
}

/// How many exports the module has; 0 for NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_exports_len(module: *const wasmpool_module_t) -> usize {
    ffi_value(0, || {
        // SAFETY: a non-NULL module is live.
        unsafe { module.as_ref() }.map_or(0, |m| m.exports.len())
    })
}

pub(crate) fn module_ref<'a>(module: *const wasmpool_module_t) -> Result<&'a wasmpool_module> {
    // SAFETY: a non-NULL module is live for the duration of the call.
    unsafe { crate::capi::boundary::arg_ref(module, "module") }
}

fn out_of_range(what: &str, index: usize, len: usize) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("{what} index {index} is out of range (the module has {len})"),
    )
}

/// Describes import number `index` (in module order): writes its module
/// name, its name (both NUL-terminated, owned by the module) and its kind
/// (`WASMPOOL_EXTERN_*`). Any of the three out-parameters may be NULL when
/// not wanted. NULL `module` or an `index` past the end is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_import_get(
    module: *const wasmpool_module_t,
    index: usize,
    module_name: *mut *const c_char,
    name: *mut *const c_char,
    kind: *mut wasmpool_externkind_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        let m = module_ref(module)?;
        let import =
            m.imports.get(index).ok_or_else(|| out_of_range("import", index, m.imports.len()))?;
        // SAFETY: each non-NULL out-parameter is writable.
        unsafe {
            if let Some(out) = module_name.as_mut() {
                *out = import.module.as_ptr();
            }
            if let Some(out) = name.as_mut() {
                *out = import.name.as_ptr();
            }
            if let Some(out) = kind.as_mut() {
                *out = import.ty.kind();
            }
        }
        Ok(())
    })
}

/// The type of import number `index`, owned by the module; NULL for a NULL
/// module or an index past the end. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_import_type(
    module: *const wasmpool_module_t,
    index: usize,
) -> *const wasmpool_externtype_t {
    ffi_value(std::ptr::null(), || {
        match module_ref(module).ok().and_then(|m| m.imports.get(index)) {
            Some(i) => &i.ty,
            None => std::ptr::null(),
        }
    })
}

/// Describes export number `index` (in module order): writes its name
/// (NUL-terminated, owned by the module) and its kind (`WASMPOOL_EXTERN_*`).
/// Either out-parameter may be NULL when not wanted. NULL `module` or an
/// `index` past the end is `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_export_get(
    module: *const wasmpool_module_t,
    index: usize,
    name: *mut *const c_char,
    kind: *mut wasmpool_externkind_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        let m = module_ref(module)?;
        let export =
            m.exports.get(index).ok_or_else(|| out_of_range("export", index, m.exports.len()))?;
        // SAFETY: each non-NULL out-parameter is writable.
        unsafe {
            if let Some(out) = name.as_mut() {
                *out = export.name.as_ptr();
            }
            if let Some(out) = kind.as_mut() {
                *out = export.ty.kind();
            }
        }
        Ok(())
    })
}

/// The type of export number `index`, owned by the module; NULL for a NULL
/// module or an index past the end. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_export_type(
    module: *const wasmpool_module_t,
    index: usize,
) -> *const wasmpool_externtype_t {
    ffi_value(std::ptr::null(), || {
        match module_ref(module).ok().and_then(|m| m.exports.get(index)) {
            Some(e) => &e.ty,
            None => std::ptr::null(),
        }
    })
}

/// Translates `len` bytes of WebAssembly text (WAT) at `wat` to a binary
/// module. On success writes a buffer owned by the caller to `*out_bytes` and
/// its length to `*out_len`; free it with `wasmpool_bytes_delete(bytes, len)`.
/// Text that does not parse is a `WASMPOOL_ERROR_INVALID_MODULE` error whose
/// message gives the line and column. NULL `out_bytes` or `out_len`, or NULL
/// `wat` with a nonzero `len`, is `WASMPOOL_ERROR_INVALID_ARGUMENT`.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_wat2wasm(
    wat: *const c_char,
    len: usize,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are `len` readable bytes and writable
        // out-parameters.
        let (text, out_bytes, out_len) = unsafe {
            (
                slice_arg(wat.cast::<u8>(), len, "wat")?,
                out_arg(out_bytes, "out_bytes")?,
                out_arg(out_len, "out_len")?,
            )
        };
        let wasm = wat::parse_bytes(text).map_err(|e| {
            Error::new(ErrorKind::InvalidModule, format!("invalid WebAssembly text: {e}"))
        })?;
        let bytes: Box<[u8]> = wasm.into_owned().into_boxed_slice();
        *out_len = bytes.len();
        *out_bytes = Box::into_raw(bytes).cast::<u8>();
        Ok(())
    })
}

/// Frees a buffer returned by `wasmpool_wat2wasm` or
/// `wasmpool_module_serialize`; `len` must be the length returned with it.
/// Takes ownership; NULL does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_bytes_delete(bytes: *mut u8, len: usize) {
    if bytes.is_null() {
        return;
    }
    ffi_value((), || {
        // SAFETY: `bytes` and `len` describe a `Box<[u8]>` leaked by
        // `wasmpool_wat2wasm` or `wasmpool_module_serialize`, given up by
        // the caller.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes, len)) });
    })
}
