//! Library version (header section "version").

use std::ffi::c_char;

/// The major version of the library this header belongs to.
pub const WASMPOOL_VERSION_MAJOR: u32 = 0;
/// The minor version of the library this header belongs to.
pub const WASMPOOL_VERSION_MINOR: u32 = 1;
/// The patch version of the library this header belongs to.
pub const WASMPOOL_VERSION_PATCH: u32 = 0;

/// The library's version as a static NUL-terminated string such as "0.1.0"
/// (the version of the library loaded at run time, which may differ from the
/// `WASMPOOL_VERSION_*` macros the program was compiled with). Never NULL;
/// the caller must not free it. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_match_the_crate_version() {
        let v =
            format!("{WASMPOOL_VERSION_MAJOR}.{WASMPOOL_VERSION_MINOR}.{WASMPOOL_VERSION_PATCH}");
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
    }
}
