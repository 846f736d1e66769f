//! What the fuzz targets share: generating modules with `wasm-smith` restricted
//! to what libwasmpool accepts, arguments from fuzz input, and a comparable
//! snapshot of an instance's exports.
//!
//! This file is compiled three times: as a module of the `wasmpool-fuzz`
//! crate (the cargo-fuzz targets), of the main crate's `tests/fuzz_samples.rs`
//! and of `examples/soak.rs` (both through `#[path]`). It therefore names its
//! siblings only as `crate::<module>` and uses nothing but `wasmpool`,
//! `wasm-smith`, `arbitrary` and `wasmi`.

#![allow(dead_code)] // each includer uses a different part

use arbitrary::{Result, Unstructured};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use wasmpool::{Extern, Instance, Store, Val, ValType};

/// Bytes in one WebAssembly page.
pub const PAGE: u64 = 65536;

/// How large the generated modules may be.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Most defined memories (more than one needs multi-memory).
    pub max_memories: usize,
    /// Most defined tables.
    pub max_tables: usize,
    /// Most pages any memory may declare (as minimum and maximum; a maximum
    /// is always declared, so growth is bounded too).
    pub max_memory_pages: u64,
    /// Most elements any table may declare (a maximum is always declared).
    pub max_table_elements: u64,
    /// The loop and call budget `wasm-smith`'s `ensure_termination` gives
    /// each module: every loop iteration and every call spends one unit, and
    /// a module that runs out traps with `unreachable`, in every runtime alike.
    pub fuel: u32,
}

impl Shape {
    /// The shape the differential and compile targets use.
    pub const DEFAULT: Shape = Shape {
        max_memories: 2,
        max_tables: 2,
        max_memory_pages: 3,
        max_table_elements: 64,
        fuel: 1000,
    };
}

/// A `wasm-smith` configuration for exactly the features libwasmpool's
/// validator accepts: WebAssembly 2.0 (bulk memory, reference types,
/// multi-value, sign extension, saturating conversions, fixed-width SIMD)
/// plus multi-memory. Relaxed SIMD, which we accept too, is left out: its
/// results are implementation-defined, so no oracle can judge them. NaNs are canonicalized, every entity is exported, and no
/// module has imports, so each can be instantiated in any runtime as it is.
pub fn smith_config(shape: &Shape) -> wasm_smith::Config {
    wasm_smith::Config {
        // Proposals beyond WebAssembly 2.0 are off.
        simd_enabled: true,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        tail_call_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        extended_const_enabled: false,
        compact_imports_enabled: false,
        custom_descriptors_enabled: false,
        // WebAssembly 2.0's own proposals, explicitly.
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        multi_value_enabled: true,
        sign_extension_ops_enabled: true,
        saturating_float_to_int_enabled: true,
        // Shape.
        max_memories: shape.max_memories,
        max_tables: shape.max_tables,
        max_memory32_bytes: shape.max_memory_pages * PAGE,
        memory_max_size_required: true,
        max_table_elements: shape.max_table_elements,
        table_max_size_required: true,
        max_imports: 0,
        min_funcs: 2,
        max_funcs: 20,
        max_instructions: 200,
        max_globals: 20,
        max_types: 20,
        max_data_segments: 10,
        max_element_segments: 10,
        max_elements: 64,
        max_exports: 100,
        max_nesting_depth: 8,
        canonicalize_nans: true,
        export_everything: true,
        generate_custom_sections: false,
        ..wasm_smith::Config::default()
    }
}

/// A generated module that terminates (see [`Shape::fuel`]), as a binary.
pub fn smith_module(u: &mut Unstructured<'_>, shape: &Shape) -> Result<Vec<u8>> {
    let mut module = wasm_smith::Module::new(smith_config(shape), u)?;
    module.ensure_termination(shape.fuel).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(module.to_bytes())
}

/// An argument of type `ty` drawn from `u` (zero once `u` is exhausted);
/// references are null (a fuzz input cannot name a function).
pub fn arbitrary_val(u: &mut Unstructured<'_>, ty: ValType) -> Val {
    match ty {
        ValType::I32 => Val::I32(interesting_u64(u) as i32),
        ValType::I64 => Val::I64(interesting_u64(u) as i64),
        ValType::F32 => Val::F32(u.arbitrary().unwrap_or(0)),
        ValType::F64 => Val::F64(u.arbitrary().unwrap_or(0)),
        ValType::V128 => Val::V128(u.arbitrary().unwrap_or(0)),
        ValType::FuncRef => Val::FuncRef(None),
        ValType::ExternRef => Val::ExternRef(None),
    }
}

/// An integer that is often a boundary value (0, 1, -1, powers of two,
/// extremes), otherwise arbitrary.
fn interesting_u64(u: &mut Unstructured<'_>) -> u64 {
    const EDGES: [u64; 10] =
        [0, 1, u64::MAX, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 65536, 65535, 1 << 63, 8];
    match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => EDGES[u.choose_index(EDGES.len()).unwrap_or(0)],
        _ => u.arbitrary().unwrap_or(0),
    }
}

/// A value with what both runtimes can observe of it: numbers bit for bit,
/// references only as null or not (and, for functions of our runtime when
/// comparing two of its instances, the function's type).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`'s bits.
    F32(u32),
    /// An `f64`'s bits.
    F64(u64),
    /// A `v128`.
    V128(u128),
    /// A reference: `None` is null; a non-null one carries a description
    /// (its function type, or "extern") that both sides produce alike.
    Ref(Option<String>),
}

impl Value {
    /// The comparable form of one of our values.
    pub fn of<T>(store: &Store<T>, v: &Val) -> Value {
        match v {
            Val::I32(x) => Value::I32(*x),
            Val::I64(x) => Value::I64(*x),
            Val::F32(x) => Value::F32(*x),
            Val::F64(x) => Value::F64(*x),
            Val::V128(x) => Value::V128(*x),
            Val::FuncRef(f) => Value::Ref(f.map(|f| f.ty(store).to_string())),
            Val::ExternRef(r) => Value::Ref(r.map(|_| "extern".to_string())),
        }
    }
}

/// What an export holds, in a form two runtimes (or two instances) can compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportState {
    /// A function (compared by calling it, not here).
    Func,
    /// A global's value.
    Global(Value),
    /// A memory's size in pages and a hash of its bytes.
    Memory {
        /// Size in pages.
        pages: u64,
        /// [`hash_bytes`] of the whole memory.
        hash: u64,
    },
    /// A table's elements.
    Table(Vec<Value>),
}

/// A fast 64-bit hash of a memory's bytes (not cryptographic: two runtimes'
/// memories are compared by it, a collision only hides a mismatch).
pub fn hash_bytes(data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = data.len() as u64 ^ K;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K).rotate_left(29);
    }
    h ^ (h >> 32)
}

/// Every export of `instance`, in export order, with its state.
pub fn snapshot<T>(store: &mut Store<T>, instance: &Instance) -> Vec<(String, ExportState)> {
    let exports = instance.exports(store);
    exports
        .into_iter()
        .map(|(name, ext)| {
            let state = match ext {
                Extern::Func(_) => ExportState::Func,
                Extern::Global(g) => {
                    let v = g.get(store);
                    ExportState::Global(Value::of(store, &v))
                }
                Extern::Memory(m) => ExportState::Memory {
                    pages: m.size(store).expect("memory of this store"),
                    hash: hash_bytes(m.data(store).expect("memory of this store")),
                },
                Extern::Table(t) => {
                    let size = t.size(store).expect("table of this store");
                    let elems = (0..size)
                        .map(|i| {
                            let v = t.get(store, i).expect("index below size");
                            Value::of(store, &v)
                        })
                        .collect();
                    ExportState::Table(elems)
                }
            };
            (name, state)
        })
        .collect()
}

/// Polls `future` until it is ready, with a waker that does nothing (a
/// resumable call that suspended is ready to go on at once); returns the
/// output and the number of suspensions.
pub fn poll_to_end<F: Future>(future: F) -> (F::Output, u64) {
    let mut future = std::pin::pin!(future);
    let mut suspensions = 0;
    loop {
        match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => return (v, suspensions),
            Poll::Pending => suspensions += 1,
        }
    }
}

/// A tiny deterministic generator (SplitMix64) for the fixed-seed samples and
/// the soak test: the same seed gives the same inputs on every machine.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `len` random bytes, with `len` drawn from `min..=max`.
    pub fn bytes(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = min + (self.next_u64() as usize) % (max - min + 1);
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
