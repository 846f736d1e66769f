//! The C API: a thin `extern "C"` layer over the Rust library.
//!
//! `include/wasmpool.h` is generated from the doc comments in this folder by
//! cbindgen (see `build.rs`), one file per section of the header. The
//! conventions every function here follows:
//!
//! - Names are `wasmpool_<noun>_<verb>`; constructors end in `_new`, destructors
//!   in `_delete`, and deleting NULL does nothing.
//! - Fallible functions return `wasmpool_error_t*`, NULL on success; outputs go
//!   through out-parameters that are written only on success.
//! - Every pointer argument is checked: a NULL where an object is required is an
//!   `WASMPOOL_ERROR_INVALID_ARGUMENT` error (or a documented no-op for setters
//!   and deletes that return nothing).
//! - Every function body runs inside [`boundary`]'s panic boundary, so a bug in
//!   the library becomes a `WASMPOOL_ERROR_INTERNAL` error instead of unwinding
//!   into C.
//! - Handles are opaque structs tied to one Rust type each; a handle of one kind
//!   cannot be freed as another. Handles obtained from a store (instances,
//!   functions, memories, globals, tables) live in an arena inside the store
//!   and are freed with it; the caller never frees them.
//! - Calls into wasm have three outcomes: an error, a trap (through a
//!   `wasmpool_trap_t **` out-parameter), or results.

#![allow(non_camel_case_types)]
// The exports take raw pointers but are safe `extern "C" fn`s, deliberately,
// for the whole C layer: every pointer goes through the checked conversions of
// `boundary.rs` (`arg_ref`, `out_arg`, `slice_arg`, `str_arg`, ...), a NULL becomes an
// invalid-argument error instead of a dereference, and C callers cannot see
// Rust's `unsafe` anyway. Their validity contract is written in each function's
// doc comment, which is the header's.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod artifacts;
pub mod async_calls;
pub(crate) mod boundary;
pub mod config;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod func;
pub mod global;
pub mod instance;
pub mod linker;
pub mod memory;
pub mod module;
pub mod pool_config;
pub mod store;
pub mod table;
pub mod trap;
pub mod types;
pub mod values;
pub mod version;
