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
//! [`capi`]) and from Rust directly:
//!
//! ```
//! use wasmpool::{Config, Engine, Linker, Module, Store, Val};
//!
//! let engine = Engine::new(&Config::default()).unwrap();
//! let wasm = wat::parse_str(r#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#).unwrap();
//! let module = Module::new(&engine, &wasm).unwrap();
//! let mut store = Store::new(&engine, ());
//! let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
//! let add = instance.get_func(&mut store, "add").unwrap();
//! let mut results = [Val::I32(0)];
//! add.call(&mut store, &[Val::I32(2), Val::I32(40)], &mut results).unwrap();
//! assert_eq!(results[0], Val::I32(42));
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
// Fuzzing builds (nightly, `--cfg fuzzing`) ask whether AddressSanitizer is
// on, to clear a reused fiber stack's shadow (runtime/fiber.rs, `asan`).
#![cfg_attr(fuzzing, feature(cfg_sanitize))]

pub(crate) mod alloc;
pub mod capi;
pub(crate) mod compile;
pub mod config;
pub mod engine;
pub mod error;
pub mod externals;
pub mod func;
pub mod limits;
pub mod linker;
pub mod module;
pub mod profiling;
pub(crate) mod runtime;
pub mod store;
pub mod trap;
pub mod typed;
pub mod types;
pub mod values;

pub use alloc::pooling::PoolMetrics;
pub use config::{Config, InstanceAllocationStrategy, MpkEnabled, PoolingConfig};
pub use engine::Engine;
pub use error::{Error, ErrorKind, Result};
pub use externals::{Extern, Global, Instance, Memory, Table};
pub use func::{Caller, Func, HostFn, HostFuture};
pub use limits::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
pub use linker::{InstancePre, Linker};
pub use module::{ExternType, Module};
pub use profiling::ProfilingStrategy;
pub use store::Store;
pub use trap::{FrameInfo, Trap, TrapCode};
pub use typed::{TypedFunc, WasmList, WasmTy};
pub use types::{FuncType, GlobalType, MemoryType, TableType, ValType};
pub use values::Val;
