//! The panic boundary and argument checks shared by every exported function.
//!
//! Rust must never unwind into C: each `extern "C"` function wraps its body in
//! one of the helpers below, which run it under `catch_unwind`. A caught panic
//! becomes a `WASMPOOL_ERROR_INTERNAL` error where the function can return one,
//! and the function's documented neutral value otherwise.

use crate::capi::error::wasmpool_error;
use crate::error::{Error, Result};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs a fallible body and converts its outcome into the C convention: NULL on
/// success, an owned error object on failure or panic.
pub(crate) fn ffi_result(body: impl FnOnce() -> Result<()>) -> *mut wasmpool_error {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => std::ptr::null_mut(),
        Ok(Err(err)) => wasmpool_error::into_raw(err),
        Err(payload) => wasmpool_error::into_raw(panic_error(payload)),
    }
}

/// Runs a body that cannot report an error; a panic yields `fallback`.
pub(crate) fn ffi_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Turns a caught panic payload into an internal error carrying its message.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Error::internal(format!("internal error (a bug in libwasmpool): {what}"))
}

/// Returns a shared reference to `*ptr`, or an invalid-argument error naming
/// the parameter when `ptr` is NULL.
///
/// # Safety
/// A non-NULL `ptr` must point to a live `T` that nobody mutates while the
/// returned reference is in use.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: the caller guarantees a non-NULL pointer is valid; NULL is
    // rejected by `as_ref`.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid_argument(format!("`{name}` is NULL")))
}

/// Frees a handle created with `Box::into_raw`; NULL does nothing. Panics in
/// the destructor are contained.
///
/// # Safety
/// A non-NULL `ptr` must come from `Box::<T>::into_raw` and not be used again.
pub(crate) unsafe fn delete_boxed<T>(ptr: *mut T) {
    if ptr.is_null() {
        return;
    }
    ffi_value((), || {
        // SAFETY: the caller passes a pointer obtained from `Box::into_raw`
        // that it gives up; it is freed exactly once here.
        drop(unsafe { Box::from_raw(ptr) });
    });
}

/// Returns the slot behind an out-parameter, or an invalid-argument error
/// naming the parameter when it is NULL.
///
/// # Safety
/// A non-NULL `ptr` must be valid for writes of a `T` for the whole call.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T> {
    // SAFETY: the caller guarantees a non-NULL pointer is writable; NULL is
    // rejected by `as_mut`.
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid_argument(format!("`{name}` is NULL")))
}

/// Returns the `len` elements at `ptr` as a slice. NULL is accepted for an
/// empty slice and is an invalid-argument error otherwise.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` initialized elements that stay valid
/// and unmodified while the slice is in use.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize, name: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL but its length is {len}")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Like [`slice_arg`], writable.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` elements writable for the whole call
/// and not accessed through another pointer meanwhile.
pub(crate) unsafe fn slice_arg_mut<'a, T>(
    ptr: *mut T,
    len: usize,
    name: &str,
) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL but its length is {len}")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` writable elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Reads a NUL-terminated UTF-8 string argument. NULL and invalid UTF-8 are
/// invalid-argument errors naming the parameter.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const std::ffi::c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("`{name}` is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
    let s = unsafe { std::ffi::CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| Error::invalid_argument(format!("`{name}` is not valid UTF-8")))
}

/// Converts a string to a C string, showing any interior NUL as `\0` (names
/// in a wasm module may contain NUL; C strings cannot).
pub(crate) fn c_string(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

/// Moves `value` to the heap and hands ownership to C.
pub(crate) fn boxed<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}
