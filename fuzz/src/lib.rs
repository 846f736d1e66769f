//! The logic of libwasmpool's fuzz targets, one module per target plus
//! [`common`]. Each target is a plain function from bytes that panics on any
//! violation; `fuzz_targets/` wraps them for cargo-fuzz and the main crate's
//! `tests/fuzz_samples.rs` runs them on a fixed-seed sample. Every module
//! sits at the crate root here and in its other includers, so they refer to
//! one another as `crate::<module>`.

pub mod capi;
pub mod common;
pub mod compile;
pub mod differential;
pub mod instantiate_many;
