//! Values (header section "values").
//!
//! A `wasmpool_val_t` is a kind (`WASMPOOL_I32` ... `WASMPOOL_EXTERNREF`) and
//! a union `of` holding the payload of that kind. References are opaque
//! pointers, NULL being the null reference: a funcref is a `wasmpool_func_t *`
//! of the store it is used with (passed as `void *`), an externref is any
//! pointer the host chooses, which the library never dereferences and never
//! frees.

use crate::capi::store::wasmpool_store;
use crate::error::{Error, Result};
use crate::types::ValType;
use crate::values::Val;
use std::ffi::c_void;
use std::num::NonZeroUsize;

/// The kind of a value (and of a value type): one of the `WASMPOOL_I32` ...
/// `WASMPOOL_EXTERNREF` values.
pub type wasmpool_valkind_t = u8;
/// A 32-bit integer, in `of.i32`.
pub const WASMPOOL_I32: wasmpool_valkind_t = 0;
/// A 64-bit integer, in `of.i64`.
pub const WASMPOOL_I64: wasmpool_valkind_t = 1;
/// A 32-bit float, in `of.f32`.
pub const WASMPOOL_F32: wasmpool_valkind_t = 2;
/// A 64-bit float, in `of.f64`.
pub const WASMPOOL_F64: wasmpool_valkind_t = 3;
/// A 128-bit vector (SIMD), in `of.v128`: the vector's 16 bytes in
/// little-endian order, byte 0 being lane 0 of an `i8x16`.
pub const WASMPOOL_V128: wasmpool_valkind_t = 4;
/// A function reference, in `of.ref`: a `wasmpool_func_t *` of the same store
/// cast to `void *`, or NULL.
pub const WASMPOOL_FUNCREF: wasmpool_valkind_t = 5;
/// An external reference, in `of.ref`: any host pointer, or NULL. The library
/// never dereferences or frees it.
pub const WASMPOOL_EXTERNREF: wasmpool_valkind_t = 6;

/// The payload of a `wasmpool_val_t`; which member is valid depends on `kind`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union wasmpool_val_union {
    /// `WASMPOOL_I32`.
    pub i32: i32,
    /// `WASMPOOL_I64`.
    pub i64: i64,
    /// `WASMPOOL_F32`.
    pub f32: f32,
    /// `WASMPOOL_F64`.
    pub f64: f64,
    /// `WASMPOOL_V128`: the vector's bytes, least significant first.
    pub v128: [u8; 16],
    /// `WASMPOOL_FUNCREF` and `WASMPOOL_EXTERNREF`: opaque, NULL is the null
    /// reference.
    pub r#ref: *mut c_void,
}

/// A WebAssembly value: a kind and the matching member of `of`. Plain data,
/// owned by whoever holds it; a reference inside it is borrowed (a funcref is
/// valid while its store lives).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct wasmpool_val {
    /// One of the `WASMPOOL_I32` ... `WASMPOOL_EXTERNREF` values.
    pub kind: wasmpool_valkind_t,
    /// The payload.
    pub of: wasmpool_val_union,
}

/// The type of a value; see `struct wasmpool_val`.
pub type wasmpool_val_t = wasmpool_val;

/// The C kind of a value type.
pub(crate) fn kind_of(ty: ValType) -> wasmpool_valkind_t {
    match ty {
        ValType::I32 => WASMPOOL_I32,
        ValType::I64 => WASMPOOL_I64,
        ValType::F32 => WASMPOOL_F32,
        ValType::F64 => WASMPOOL_F64,
        ValType::V128 => WASMPOOL_V128,
        ValType::FuncRef => WASMPOOL_FUNCREF,
        ValType::ExternRef => WASMPOOL_EXTERNREF,
    }
}

/// The value type of a C kind, or an invalid-argument error.
pub(crate) fn type_of(kind: wasmpool_valkind_t) -> Result<ValType> {
    Ok(match kind {
        WASMPOOL_I32 => ValType::I32,
        WASMPOOL_I64 => ValType::I64,
        WASMPOOL_F32 => ValType::F32,
        WASMPOOL_F64 => ValType::F64,
        WASMPOOL_V128 => ValType::V128,
        WASMPOOL_FUNCREF => ValType::FuncRef,
        WASMPOOL_EXTERNREF => ValType::ExternRef,
        other => {
            return Err(Error::invalid_argument(format!(
                "{other} is not a wasmpool_valkind_t value (0 to 6)"
            )));
        }
    })
}

/// Converts a C value to a Rust value for `store`. A funcref must be NULL or
/// a function handle of `store`.
pub(crate) fn from_c(v: &wasmpool_val, store: &wasmpool_store) -> Result<Val> {
    // SAFETY (for each union read below): every member is plain data for
    // which any bit pattern is valid; `kind` says which one the caller meant.
    Ok(match type_of(v.kind)? {
        ValType::I32 => Val::I32(unsafe { v.of.i32 }),
        ValType::I64 => Val::I64(unsafe { v.of.i64 }),
        ValType::F32 => Val::F32(unsafe { v.of.f32 }.to_bits()),
        ValType::F64 => Val::F64(unsafe { v.of.f64 }.to_bits()),
        ValType::V128 => Val::V128(u128::from_le_bytes(unsafe { v.of.v128 })),
        ValType::ExternRef => Val::ExternRef(NonZeroUsize::new(unsafe { v.of.r#ref } as usize)),
        ValType::FuncRef => {
            let ptr = unsafe { v.of.r#ref };
            if ptr.is_null() {
                Val::FuncRef(None)
            } else {
                let func = store.func_of_handle(ptr).ok_or_else(|| {
                    Error::invalid_argument(
                        "a funcref value is not a wasmpool_func_t of this store (nor NULL)",
                    )
                })?;
                Val::FuncRef(Some(func))
            }
        }
    })
}

/// Converts a Rust value of `store` to a C value (a function reference
/// becomes the function's handle in `store`).
pub(crate) fn to_c(v: &Val, store: &wasmpool_store) -> wasmpool_val {
    // Start from zeros, so C never sees bytes the member does not cover.
    let mut out = zero_of(v.ty());
    match *v {
        Val::I32(x) => out.of.i32 = x,
        Val::I64(x) => out.of.i64 = x,
        Val::F32(x) => out.of.f32 = f32::from_bits(x),
        Val::F64(x) => out.of.f64 = f64::from_bits(x),
        Val::V128(x) => out.of.v128 = x.to_le_bytes(),
        Val::ExternRef(x) => {
            out.of.r#ref = x.map_or(std::ptr::null_mut(), |x| x.get() as *mut c_void)
        }
        Val::FuncRef(f) => {
            out.of.r#ref = f.map_or(std::ptr::null_mut(), |f| store.func_handle(f).cast())
        }
    }
    out
}

/// A zeroed value of type `ty` (what host functions find in `results`).
pub(crate) fn zero_of(ty: ValType) -> wasmpool_val {
    wasmpool_val { kind: kind_of(ty), of: wasmpool_val_union { v128: [0; 16] } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_contract() {
        assert_eq!(std::mem::size_of::<wasmpool_val>(), 24);
        assert_eq!(std::mem::align_of::<wasmpool_val>(), 8);
        assert_eq!(std::mem::offset_of!(wasmpool_val, of), 8);
    }

    #[test]
    fn kinds_round_trip() {
        for ty in [
            ValType::I32,
            ValType::I64,
            ValType::F32,
            ValType::F64,
            ValType::V128,
            ValType::FuncRef,
            ValType::ExternRef,
        ] {
            assert_eq!(type_of(kind_of(ty)).unwrap(), ty);
        }
        assert!(type_of(7).is_err());
    }
}
