//! libwasmpool: a WebAssembly runtime for hosts that create and throw away
//! sandboxes by the thousand.
//!
//! The heart of the library is a pooling instance allocator: the virtual
//! memory for instances, linear memories and tables is reserved once, up
//! front, in slots; an instance takes a slot, and on drop the slot is reset
//! and handed to the next instance, preferring one that last held the same
//! module. See `ARCHITECTURE.md` for the layout and the data flow.
//!
//! The crate is used from C through `include/wasmpool.h` (generated from
//! [`capi`]) and from Rust directly.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod capi;
pub mod config;
pub mod error;
pub mod trap;

pub use config::{Config, MpkEnabled, PoolingConfig};
pub use error::{Error, ErrorKind, Result};
pub use trap::{Trap, TrapCode};
