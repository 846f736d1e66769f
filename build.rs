//! Build script: regenerates `include/wasmpool.h` from the doc-commented
//! `extern "C"` items in `src/capi/` (cbindgen, configured by `cbindgen.toml`),
//! gives the shared library its soname, and compiles the project's C helper
//! sources with `cc`.
//!
//! The header is committed. It is rewritten only when its contents change, so
//! the test command can compare it with git and fail when a change to
//! `src/capi/` was committed without the regenerated header. Set
//! `WASMPOOL_SKIP_HEADER=1` to skip generation (for example when building
//! from a read-only source tree).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/capi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/wasmpool.h");
    println!("cargo:rerun-if-env-changed=WASMPOOL_SKIP_HEADER");

    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwasmpool.so.{major}");

    if env::var_os("WASMPOOL_SKIP_HEADER").is_none() {
        generate_header(&root);
    }

    compile_trap_entry();
}

/// The `sigsetjmp` entry point into wasm (`src/runtime/traps/entry.c`): a
/// function that returns twice cannot be written in Rust.
fn compile_trap_entry() {
    let source = "src/runtime/traps/entry.c";
    println!("cargo:rerun-if-changed={source}");
    cc::Build::new().file(source).compile("wasmpool_entry");
}

fn generate_header(root: &Path) {
    let config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml parses");
    // Only the C API (cbindgen follows its `mod` declarations): the rest of
    // the crate has `#[repr]` types of its own (trap codes, error kinds) that
    // are not part of the C ABI.
    let builder =
        cbindgen::Builder::new().with_config(config).with_src(root.join("src/capi/mod.rs"));
    let bindings = builder.generate().expect("cbindgen generates the header from src/capi");
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = root.join("include").join("wasmpool.h");
    if fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
        fs::create_dir_all(path.parent().expect("header has a parent")).expect("create include/");
        fs::write(&path, &text).expect("write include/wasmpool.h");
    }
}
