//! Values crossing between the host and wasm.
//!
//! [`Val`] is the typed value of the public API. Inside the runtime every
//! value travels as a 16-byte [`ValRaw`] slot: the host-to-wasm trampolines
//! read their arguments from, and write their results to, an array of them.

use crate::func::Func;
use crate::types::ValType;
use std::num::NonZeroUsize;

/// A WebAssembly value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float, as its bits (so NaN payloads survive).
    F32(u32),
    /// A 64-bit float, as its bits.
    F64(u64),
    /// A 128-bit vector.
    V128(u128),
    /// A function reference; `None` is the null reference.
    FuncRef(Option<Func>),
    /// An opaque host reference; `None` is the null reference. The runtime
    /// never looks inside it.
    ExternRef(Option<NonZeroUsize>),
}

impl Val {
    /// The value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero (or null) value of a type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

/// One value in the runtime's untyped representation: 16 bytes, little-endian,
/// the value in the low bytes. References are pointer-sized words, 0 for null.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
pub(crate) struct ValRaw([u8; 16]);

impl ValRaw {
    pub(crate) fn from_u64(v: u64) -> ValRaw {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&v.to_le_bytes());
        ValRaw(raw)
    }

    pub(crate) fn from_u128(v: u128) -> ValRaw {
        ValRaw(v.to_le_bytes())
    }

    pub(crate) fn u32(&self) -> u32 {
        u32::from_le_bytes(self.0[..4].try_into().expect("4 bytes"))
    }

    pub(crate) fn u64(&self) -> u64 {
        u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    pub(crate) fn u128(&self) -> u128 {
        u128::from_le_bytes(self.0)
    }
}
