//! WebAssembly types as the public API sees them: value types, function
//! signatures, and the types of globals, tables and memories.

use std::fmt;

/// The type of a WebAssembly value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 128-bit vector (fixed-width and relaxed SIMD).
    V128,
    /// A nullable reference to a function.
    FuncRef,
    /// A nullable opaque reference owned by the host.
    ExternRef,
}

impl ValType {
    /// Whether this is a reference type.
    pub fn is_ref(self) -> bool {
        matches!(self, ValType::FuncRef | ValType::ExternRef)
    }

    pub(crate) fn from_wasmparser(ty: wasmparser::ValType) -> Option<ValType> {
        use wasmparser::ValType as W;
        Some(match ty {
            W::I32 => ValType::I32,
            W::I64 => ValType::I64,
            W::F32 => ValType::F32,
            W::F64 => ValType::F64,
            W::V128 => ValType::V128,
            W::Ref(r) => ValType::from_ref_type(r)?,
        })
    }

    pub(crate) fn from_ref_type(r: wasmparser::RefType) -> Option<ValType> {
        if !r.is_nullable() {
            return None;
        }
        match r.heap_type() {
            wasmparser::HeapType::Abstract {
                shared: false,
                ty: wasmparser::AbstractHeapType::Func,
            } => Some(ValType::FuncRef),
            wasmparser::HeapType::Abstract {
                shared: false,
                ty: wasmparser::AbstractHeapType::Extern,
            } => Some(ValType::ExternRef),
            _ => None,
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A function signature: parameter and result types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    params_results: Box<[ValType]>,
    num_params: usize,
}

impl FuncType {
    /// A signature with the given parameters and results.
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> FuncType {
        let mut all: Vec<ValType> = params.into_iter().collect();
        let num_params = all.len();
        all.extend(results);
        FuncType { params_results: all.into_boxed_slice(), num_params }
    }

    /// The parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.params_results[..self.num_params]
    }

    /// The result types.
    pub fn results(&self) -> &[ValType] {
        &self.params_results[self.num_params..]
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list =
            |tys: &[ValType]| tys.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
        write!(f, "(func (param {}) (result {}))", list(self.params()), list(self.results()))
    }
}

/// The type of a global: its content type and mutability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalType {
    /// The type of the value the global holds.
    pub content: ValType,
    /// Whether `global.set` may change it.
    pub mutable: bool,
}

/// The type of a table: element type and limits (in elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableType {
    /// `FuncRef` or `ExternRef`.
    pub element: ValType,
    /// Initial number of elements.
    pub min: u32,
    /// Maximum number of elements, if bounded.
    pub max: Option<u32>,
}

/// The type of a linear memory: limits in 64 KiB pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryType {
    /// Initial size in pages.
    pub min: u64,
    /// Maximum size in pages, if bounded.
    pub max: Option<u64>,
}

/// Bytes in one WebAssembly page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// Pages in the largest 32-bit memory.
pub const WASM32_MAX_PAGES: u64 = 65536;

/// Whether limits `(min, max)` of an import candidate satisfy the declared
/// limits `(want_min, want_max)`.
pub(crate) fn limits_match(
    min: u64,
    max: Option<u64>,
    want_min: u64,
    want_max: Option<u64>,
) -> bool {
    min >= want_min
        && match (max, want_max) {
            (_, None) => true,
            (Some(m), Some(w)) => m <= w,
            (None, Some(_)) => false,
        }
}
