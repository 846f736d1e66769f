//! Library version (header section "version").

use std::ffi::c_char;

/// The library's version as a static NUL-terminated string such as "0.1.0".
/// Never NULL; the caller must not free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
