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
//!
//! It also computes `WASMPOOL_BUILD_ID`, a hash of every file under `src/`
//! and of `build.rs`: precompiled modules record it and are refused by a
//! library built from other sources (a changed VMContext layout or builtin
//! table would otherwise make old code crash), even at the same version.

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
    build_id(&root);
}

/// Emits `WASMPOOL_BUILD_ID`: 16 hex digits of FNV-1a over the path and the
/// contents of every file under `src/` (in sorted order) and of `build.rs`.
fn build_id(root: &Path) {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("read the source tree")
            .map(|e| e.expect("read a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.push(root.join("build.rs"));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in files {
        let name = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let contents = fs::read(&path).expect("read a source file");
        for byte in name.bytes().chain([0]).chain(contents).chain([0]) {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=WASMPOOL_BUILD_ID={hash:016x}");
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
