//! Errors (header section "errors").
//!
//! A fallible function returns a `wasmpool_error_t*`: NULL on success, or an
//! error object the caller owns and frees with `wasmpool_error_delete`. The
//! object carries a kind (`WASMPOOL_ERROR_*`) to branch on and a message for
//! people.

use crate::capi::boundary::{c_string, delete_boxed, ffi_value};
use crate::error::{Error, ErrorKind};
use std::ffi::{CString, c_char};

/// An error returned by a libwasmpool function. Owned by the caller, who frees
/// it with `wasmpool_error_delete`. May be moved between threads; do not use
/// one error object from two threads at the same time.
pub struct wasmpool_error {
    error: Error,
    message: CString,
}

/// The type of an error object; see `struct wasmpool_error`.
pub type wasmpool_error_t = wasmpool_error;

impl wasmpool_error {
    /// Boxes `error` into an owned C error object.
    ///
    /// A trap is not an error kind of the C API (calls report traps through
    /// their `wasmpool_trap_t**` out-parameter); one that reaches this point
    /// is a bug and becomes `WASMPOOL_ERROR_INTERNAL`.
    pub(crate) fn into_raw(error: Error) -> *mut wasmpool_error {
        let error = match error.kind() {
            ErrorKind::Trap => Error::internal(format!(
                "internal error: a trap was reported as an error: {}",
                error.message()
            )),
            _ => error,
        };
        let message = c_string(error.message());
        Box::into_raw(Box::new(wasmpool_error { error, message }))
    }
}

/// The kind of an error: one of the `WASMPOOL_ERROR_*` values.
pub type wasmpool_error_kind_t = u8;

/// A NULL pointer, a bad value, an unknown export name, a wrong arity or type.
pub const WASMPOOL_ERROR_INVALID_ARGUMENT: wasmpool_error_kind_t = 1;
/// Malformed or invalid WebAssembly, or text that does not parse.
pub const WASMPOOL_ERROR_INVALID_MODULE: wasmpool_error_kind_t = 2;
/// A feature or configuration this build or this host cannot provide.
pub const WASMPOOL_ERROR_UNSUPPORTED: wasmpool_error_kind_t = 3;
/// A missing or mistyped import.
pub const WASMPOOL_ERROR_LINK: wasmpool_error_kind_t = 4;
/// A module exceeds a configured limit (per-module counts, sizes).
pub const WASMPOOL_ERROR_LIMIT: wasmpool_error_kind_t = 5;
/// Every slot of some pool kind is in use right now; retry after dropping a store.
pub const WASMPOOL_ERROR_POOL_EXHAUSTED: wasmpool_error_kind_t = 6;
/// The operating system refused memory or address space.
pub const WASMPOOL_ERROR_RESOURCE: wasmpool_error_kind_t = 7;
/// A bug in libwasmpool, such as a caught panic. Please report it.
pub const WASMPOOL_ERROR_INTERNAL: wasmpool_error_kind_t = 8;

/// The error's message: a NUL-terminated UTF-8 string owned by the error and
/// valid until `wasmpool_error_delete`. For a NULL `error`, returns a static
/// string saying so (never NULL). Thread-safe for distinct errors.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_error_message(error: *const wasmpool_error_t) -> *const c_char {
    const NULL_ERROR: &std::ffi::CStr = c"(NULL wasmpool_error_t)";
    ffi_value(NULL_ERROR.as_ptr(), || {
        // SAFETY: a non-NULL pointer is an error object the caller still owns.
        match unsafe { error.as_ref() } {
            Some(error) => error.message.as_ptr(),
            None => NULL_ERROR.as_ptr(),
        }
    })
}

/// The error's kind (`WASMPOOL_ERROR_*`). For a NULL `error`, returns
/// `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_error_kind(error: *const wasmpool_error_t) -> wasmpool_error_kind_t {
    ffi_value(WASMPOOL_ERROR_INTERNAL, || {
        // SAFETY: a non-NULL pointer is an error object the caller still owns.
        match unsafe { error.as_ref() } {
            Some(error) => error.error.kind() as wasmpool_error_kind_t,
            None => WASMPOOL_ERROR_INVALID_ARGUMENT,
        }
    })
}

/// Frees an error object. Takes ownership; NULL does nothing. The message
/// pointer obtained from it becomes invalid.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_error_delete(error: *mut wasmpool_error_t) {
    // SAFETY: a non-NULL `error` was created by `into_raw` and is given up by
    // the caller.
    unsafe { delete_boxed(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_c_constants() {
        for (kind, raw) in [
            (ErrorKind::InvalidArgument, WASMPOOL_ERROR_INVALID_ARGUMENT),
            (ErrorKind::InvalidModule, WASMPOOL_ERROR_INVALID_MODULE),
            (ErrorKind::Unsupported, WASMPOOL_ERROR_UNSUPPORTED),
            (ErrorKind::Link, WASMPOOL_ERROR_LINK),
            (ErrorKind::Limit, WASMPOOL_ERROR_LIMIT),
            (ErrorKind::PoolExhausted, WASMPOOL_ERROR_POOL_EXHAUSTED),
            (ErrorKind::Resource, WASMPOOL_ERROR_RESOURCE),
            (ErrorKind::Internal, WASMPOOL_ERROR_INTERNAL),
        ] {
            let e = wasmpool_error::into_raw(Error::new(kind, "m"));
            assert_eq!(wasmpool_error_kind(e), raw);
            wasmpool_error_delete(e);
        }
    }

    #[test]
    fn a_trap_never_reaches_c_as_an_error_kind() {
        let e = wasmpool_error::into_raw(Error::from_trap(crate::Trap::new(
            crate::TrapCode::Unreachable,
        )));
        assert_eq!(wasmpool_error_kind(e), WASMPOOL_ERROR_INTERNAL);
        wasmpool_error_delete(e);
    }

    #[test]
    fn interior_nul_in_message_is_kept_visible() {
        let e = wasmpool_error::into_raw(Error::internal("a\0b"));
        // SAFETY: the message pointer is valid until the error is deleted.
        let msg = unsafe { std::ffi::CStr::from_ptr(wasmpool_error_message(e)) };
        assert_eq!(msg.to_str().unwrap(), "a\\0b");
        wasmpool_error_delete(e);
    }
}
