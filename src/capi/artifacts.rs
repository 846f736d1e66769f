//! Precompiled modules (header section "artifacts").
//!
//! `wasmpool_module_serialize` turns a compiled module into bytes that
//! `wasmpool_module_deserialize` (from memory) or
//! `wasmpool_module_deserialize_file` (from a file holding those bytes)
//! load back without compiling, in any engine of the same library build
//! whose code-generation settings match (memory reservation and guard,
//! fuel, epochs, multi-memory, and the CPU's features); pooling and
//! on-demand engines share files. The `wasmpool-compile` tool writes such
//! files from the command line.
//!
//! Trust: a precompiled file is native code that runs as it is. Only load
//! files you produced yourself (or got from a source you would take a
//! shared library from): the checksum catches truncation and corruption,
//! not tampering. A file that is loaded must not be modified or truncated
//! while modules loaded from it live (replace it with a rename instead).

use crate::capi::boundary::{arg_ref, boxed, ffi_result, out_arg, slice_arg};
use crate::capi::engine::wasmpool_engine_t;
use crate::capi::error::wasmpool_error_t;
use crate::capi::module::{describe, module_ref, wasmpool_module_t};
use crate::error::Error;
use crate::module::Module;
use std::ffi::{CStr, OsStr, c_char};
use std::os::unix::ffi::OsStrExt;

/// Serializes a compiled module into a precompiled file's bytes. On success
/// writes a buffer owned by the caller to `*out_bytes` and its length to
/// `*out_len`; free it with `wasmpool_bytes_delete(bytes, len)`. Write the
/// bytes to a file for `wasmpool_module_deserialize_file`, or keep them for
/// `wasmpool_module_deserialize`.
///
/// Does not take ownership of `module`. NULL `module`, `out_bytes` or
/// `out_len` is `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_serialize(
    module: *const wasmpool_module_t,
    out_bytes: *mut *mut u8,
    out_len: *mut usize,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        let module = module_ref(module)?;
        // SAFETY: non-NULL out-parameters are writable.
        let (out_bytes, out_len) =
            unsafe { (out_arg(out_bytes, "out_bytes")?, out_arg(out_len, "out_len")?) };
        let bytes = module.module.serialize()?.into_boxed_slice();
        *out_len = bytes.len();
        *out_bytes = Box::into_raw(bytes).cast::<u8>();
        Ok(())
    })
}

/// Loads a module from `len` bytes at `bytes` that
/// `wasmpool_module_serialize` produced, for `engine`, without compiling:
/// the code and data are copied out, so the bytes may be freed afterwards.
///
/// Refusals are `WASMPOOL_ERROR_INVALID_MODULE` errors naming the cause,
/// never a crash: bytes that are not a precompiled module (a `.wasm` binary
/// included), another format or library version or build, other engine
/// settings or CPU features (the message names the first that differs), a
/// truncated or corrupted file (checksum). A module the engine's pool could
/// never hold is `WASMPOOL_ERROR_LIMIT`, as for `wasmpool_module_new`.
///
/// Trust: the bytes hold native code that runs as it is; only load bytes
/// you produced (see the section's introduction).
///
/// Does not take ownership of `engine` or `bytes`. On success writes a
/// module owned by the caller to `*out` (free it with
/// `wasmpool_module_delete`). NULL `engine` or `out`, or NULL `bytes` with
/// a nonzero `len`, is `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_deserialize(
    engine: *const wasmpool_engine_t,
    bytes: *const u8,
    len: usize,
    out: *mut *mut wasmpool_module_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live engine, `len` readable bytes
        // and a writable out-parameter.
        let (engine, bytes, out) = unsafe {
            (arg_ref(engine, "engine")?, slice_arg(bytes, len, "bytes")?, out_arg(out, "out")?)
        };
        let module = Module::deserialize(&engine.engine, bytes)?;
        *out = boxed(describe(module));
        Ok(())
    })
}

/// Loads a module from the file at `path` (a NUL-terminated path), which
/// holds the bytes `wasmpool_module_serialize` produced, for `engine`,
/// without compiling and without copying: the code is mapped from the file
/// and made executable, and the file itself is the copy-on-write image of
/// the module's memories, so instances share its page cache.
///
/// Refusals are those of `wasmpool_module_deserialize`; a file that cannot
/// be opened is `WASMPOOL_ERROR_INVALID_ARGUMENT` naming the path and the
/// system's reason.
///
/// Trust: only load files you produced, and do not modify or truncate the
/// file while the module or any of its instances live (see the section's
/// introduction).
///
/// Does not take ownership of `engine` or `path`. On success writes a
/// module owned by the caller to `*out` (free it with
/// `wasmpool_module_delete`); the module keeps the file open and mapped
/// until it and its instances are gone. NULL `engine`, `path` or `out` is
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_module_deserialize_file(
    engine: *const wasmpool_engine_t,
    path: *const c_char,
    out: *mut *mut wasmpool_module_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live engine and a writable
        // out-parameter.
        let (engine, out) = unsafe { (arg_ref(engine, "engine")?, out_arg(out, "out")?) };
        if path.is_null() {
            return Err(Error::invalid_argument("`path` is NULL"));
        }
        // SAFETY: non-NULL, and the caller passes a NUL-terminated string.
        let path = OsStr::from_bytes(unsafe { CStr::from_ptr(path) }.to_bytes());
        let module = Module::deserialize_file(&engine.engine, path)?;
        *out = boxed(describe(module));
        Ok(())
    })
}
