//! The VMContext: one `#[repr(C)]` block of memory per instance that compiled
//! code reaches through its first argument.
//!
//! Its layout depends on the module (how many memories, tables, globals and
//! functions it has), so it is computed once per module into [`VMOffsets`],
//! which the translator and the runtime share:
//!
//! ```text
//! struct VMContext {
//!     magic: u32, _pad: u32,                      // 0
//!     store_context: *mut VMStoreContext,         // 8   stack limit, fuel, epochs
//!     builtins: *const BuiltinFunctions,          // 16  libcall table
//!     instance: *mut Instance,                    // 24  the Rust-side instance
//!     type_ids: *const u32,                       // 32  engine-wide signature ids, by type index
//!     defined_memories: [VMMemoryDefinition; M],  // 40  base + current length, first so offsets stay small
//!     imported_memories: [*mut VMMemoryDefinition; IM],
//!     defined_tables: [VMTableDefinition; T],
//!     imported_tables: [*mut VMTableDefinition; IT],
//!     imported_globals: [*mut VMGlobalDefinition; IG],
//!     defined_globals: [VMGlobalDefinition; G],   // 16-byte aligned
//!     funcrefs: [VMFuncRef; F],                   // every function, imported ones first
//! }
//! ```
//!
//! Nothing in the compiled code is an absolute address: everything it needs
//! (libcalls, other instances' functions, memory bases) is loaded from here.

use crate::module::info::ModuleInfo;

/// The value of the first word of every VMContext (`"wpvm"` little-endian).
pub(crate) const VMCTX_MAGIC: u32 = u32::from_le_bytes(*b"wpvm");

/// A linear memory as compiled code sees it.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMMemoryDefinition {
    /// Start of the accessible bytes.
    pub base: *mut u8,
    /// Accessible bytes (a multiple of the wasm page size).
    pub current_length: usize,
}

/// A table as compiled code sees it: an array of pointer-sized elements
/// (`*const VMFuncRef` for funcref, the host's word for externref; 0 is null).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMTableDefinition {
    pub base: *mut usize,
    pub current_elements: usize,
}

/// A global's storage: 16 bytes, the value in the low bytes.
#[repr(C, align(16))]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct VMGlobalDefinition {
    pub bytes: [u8; 16],
}

/// A function reference: everything needed to call a function from wasm (the
/// native-convention `wasm_call`) or from the host (`array_call`), and its
/// signature id for `call_indirect` checks.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct VMFuncRef {
    /// Host-to-wasm entry: `(vmctx, caller_vmctx, *mut ValRaw, len)`; null
    /// for functions that cannot escape their module.
    pub array_call: *const u8,
    /// Native entry: `(vmctx, caller_vmctx, params...) -> results`.
    pub wasm_call: *const u8,
    /// The callee's VMContext (or host function context).
    pub vmctx: *mut u8,
    /// Engine-wide signature id.
    pub type_id: u32,
}

/// Per-store state that compiled code reads through every VMContext.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMStoreContext {
    /// Lowest stack address wasm may use; function prologues compare against it.
    pub stack_limit: usize,
    /// Opaque pointer to the owning store (for host calls).
    pub store: *mut u8,
    /// Fuel consumed minus fuel granted: execution traps with `OutOfFuel`
    /// once it is no longer negative.
    pub fuel_consumed: i64,
    /// The epoch at which execution traps with `Interrupt`.
    pub epoch_deadline: u64,
    /// The engine's epoch counter.
    pub epoch_counter: *const u64,
}

/// Byte offsets of a module's VMContext fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VMOffsets {
    pub num_defined_memories: u32,
    pub num_imported_memories: u32,
    pub num_defined_tables: u32,
    pub num_imported_tables: u32,
    pub num_defined_globals: u32,
    pub num_imported_globals: u32,
    pub num_funcs: u32,
    defined_memories: u32,
    imported_memories: u32,
    defined_tables: u32,
    imported_tables: u32,
    imported_globals: u32,
    defined_globals: u32,
    funcrefs: u32,
    size: u32,
}

/// Offset of the magic word.
pub(crate) const VMCTX_MAGIC_OFFSET: u32 = 0;
/// Offset of the `*mut VMStoreContext`.
pub(crate) const VMCTX_STORE_CONTEXT: u32 = 8;
/// Offset of the builtin-function table pointer.
pub(crate) const VMCTX_BUILTINS: u32 = 16;
/// Offset of the Rust-side instance pointer.
pub(crate) const VMCTX_INSTANCE: u32 = 24;
/// Offset of the signature-id array pointer.
pub(crate) const VMCTX_TYPE_IDS: u32 = 32;
const VMCTX_HEADER: u32 = 40;

/// Offset of `stack_limit` in [`VMStoreContext`].
pub(crate) const STORE_CONTEXT_STACK_LIMIT: u32 = 0;
/// Offset of `fuel_consumed` in [`VMStoreContext`].
pub(crate) const STORE_CONTEXT_FUEL: u32 = 16;
/// Offset of `epoch_deadline` in [`VMStoreContext`].
pub(crate) const STORE_CONTEXT_EPOCH_DEADLINE: u32 = 24;
/// Offset of `epoch_counter` in [`VMStoreContext`].
pub(crate) const STORE_CONTEXT_EPOCH_COUNTER: u32 = 32;

/// Offsets inside [`VMFuncRef`] (compiled code never reads `array_call`;
/// the host does, through the Rust struct).
#[cfg(test)]
pub(crate) const FUNCREF_ARRAY_CALL: u32 = 0;
pub(crate) const FUNCREF_WASM_CALL: u32 = 8;
pub(crate) const FUNCREF_VMCTX: u32 = 16;
pub(crate) const FUNCREF_TYPE_ID: u32 = 24;
pub(crate) const FUNCREF_SIZE: u32 = 32;

fn add(offset: u32, count: u32, size: u32) -> u32 {
    count
        .checked_mul(size)
        .and_then(|n| n.checked_add(offset))
        .expect("VMContext size overflows u32")
}

impl VMOffsets {
    /// Computes the layout for a module.
    pub(crate) fn new(info: &ModuleInfo) -> VMOffsets {
        let num_defined_memories = info.num_defined_memories();
        let num_imported_memories = info.num_imported_memories;
        let num_defined_tables = info.num_defined_tables();
        let num_imported_tables = info.num_imported_tables;
        let num_defined_globals = info.num_defined_globals();
        let num_imported_globals = info.num_imported_globals;
        let num_funcs = info.functions.len() as u32;

        let defined_memories = VMCTX_HEADER;
        let imported_memories = add(defined_memories, num_defined_memories, 16);
        let defined_tables = add(imported_memories, num_imported_memories, 8);
        let imported_tables = add(defined_tables, num_defined_tables, 16);
        let imported_globals = add(imported_tables, num_imported_tables, 8);
        let defined_globals = add(imported_globals, num_imported_globals, 8).next_multiple_of(16);
        let funcrefs = add(defined_globals, num_defined_globals, 16);
        let size = add(funcrefs, num_funcs, FUNCREF_SIZE);
        VMOffsets {
            num_defined_memories,
            num_imported_memories,
            num_defined_tables,
            num_imported_tables,
            num_defined_globals,
            num_imported_globals,
            num_funcs,
            defined_memories,
            imported_memories,
            defined_tables,
            imported_tables,
            imported_globals,
            defined_globals,
            funcrefs,
            size,
        }
    }

    /// Total bytes of the VMContext.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// The `VMMemoryDefinition` of defined memory `i` (0-based among defined).
    pub(crate) fn defined_memory(&self, i: u32) -> u32 {
        assert!(i < self.num_defined_memories);
        self.defined_memories + i * 16
    }

    /// The pointer to imported memory `i`'s definition.
    pub(crate) fn imported_memory(&self, i: u32) -> u32 {
        assert!(i < self.num_imported_memories);
        self.imported_memories + i * 8
    }

    /// The `VMTableDefinition` of defined table `i`.
    pub(crate) fn defined_table(&self, i: u32) -> u32 {
        assert!(i < self.num_defined_tables);
        self.defined_tables + i * 16
    }

    /// The pointer to imported table `i`'s definition.
    pub(crate) fn imported_table(&self, i: u32) -> u32 {
        assert!(i < self.num_imported_tables);
        self.imported_tables + i * 8
    }

    /// The pointer to imported global `i`'s definition.
    pub(crate) fn imported_global(&self, i: u32) -> u32 {
        assert!(i < self.num_imported_globals);
        self.imported_globals + i * 8
    }

    /// The `VMGlobalDefinition` of defined global `i`.
    pub(crate) fn defined_global(&self, i: u32) -> u32 {
        assert!(i < self.num_defined_globals);
        self.defined_globals + i * 16
    }

    /// Where the `VMFuncRef` array starts (valid even when it is empty).
    pub(crate) fn funcrefs_begin(&self) -> u32 {
        self.funcrefs
    }

    /// The `VMFuncRef` of function `i` (module index space).
    pub(crate) fn funcref(&self, i: u32) -> u32 {
        assert!(i < self.num_funcs);
        self.funcrefs + i * FUNCREF_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn rust_layout_matches_the_offsets_the_translator_uses() {
        assert_eq!(offset_of!(VMMemoryDefinition, base), 0);
        assert_eq!(offset_of!(VMMemoryDefinition, current_length), 8);
        assert_eq!(size_of::<VMMemoryDefinition>(), 16);
        assert_eq!(offset_of!(VMTableDefinition, base), 0);
        assert_eq!(offset_of!(VMTableDefinition, current_elements), 8);
        assert_eq!(size_of::<VMTableDefinition>(), 16);
        assert_eq!(size_of::<VMGlobalDefinition>(), 16);
        assert_eq!(offset_of!(VMFuncRef, array_call) as u32, FUNCREF_ARRAY_CALL);
        assert_eq!(offset_of!(VMFuncRef, wasm_call) as u32, FUNCREF_WASM_CALL);
        assert_eq!(offset_of!(VMFuncRef, vmctx) as u32, FUNCREF_VMCTX);
        assert_eq!(offset_of!(VMFuncRef, type_id) as u32, FUNCREF_TYPE_ID);
        assert_eq!(size_of::<VMFuncRef>() as u32, FUNCREF_SIZE);
        assert_eq!(offset_of!(VMStoreContext, stack_limit) as u32, STORE_CONTEXT_STACK_LIMIT);
        assert_eq!(offset_of!(VMStoreContext, fuel_consumed) as u32, STORE_CONTEXT_FUEL);
        assert_eq!(offset_of!(VMStoreContext, epoch_deadline) as u32, STORE_CONTEXT_EPOCH_DEADLINE);
        assert_eq!(offset_of!(VMStoreContext, epoch_counter) as u32, STORE_CONTEXT_EPOCH_COUNTER);
    }

    #[test]
    fn sections_follow_each_other_without_overlap() {
        let wasm = wat::parse_str(
            r#"(module
                (import "e" "m" (memory 1)) (import "e" "g" (global i32)) (import "e" "f" (func))
                (memory 1) (table 1 funcref) (global i64 (i64.const 0)) (global i32 (i32.const 0))
                (func) (func))"#,
        )
        .unwrap();
        let info = crate::module::info::decode(&wasm).unwrap();
        let o = VMOffsets::new(&info);
        assert_eq!(o.defined_memory(0), 40);
        assert_eq!(o.imported_memory(0), 56);
        assert_eq!(o.defined_table(0), 64);
        assert_eq!(o.imported_global(0), 80);
        assert_eq!(o.defined_global(0), 96);
        assert_eq!(o.defined_global(1), 112);
        assert_eq!(o.funcref(0), 128);
        assert_eq!(o.size(), 128 + 3 * 32);
    }
}
