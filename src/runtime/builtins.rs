//! The builtin functions (libcalls) compiled code calls for operations too
//! large to inline: memory and table growth, bulk memory and table
//! operations, segment drops, and the slow paths of fuel and epoch checks
//! (where a resumable call may suspend).
//!
//! Compiled code finds them through the `builtins` pointer of its VMContext,
//! indexed by [`Builtin`], so the code itself holds no absolute address. Each
//! takes the caller's VMContext first. Those that can trap return 1 on success
//! and 0 on failure, and the compiled code turns a 0 into the builtin's one
//! trap code (see [`Builtin::trap`]); no Rust frame is ever unwound.

use crate::trap::TrapCode;

/// A parameter or result type of a builtin, as the translator lowers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuiltinTy {
    I32,
    I64,
    /// A pointer-sized word (a reference).
    Ptr,
}

/// The builtins, in the order of the table compiled code indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Builtin {
    MemoryGrow = 0,
    MemoryFill,
    MemoryCopy,
    MemoryInit,
    DataDrop,
    TableGrow,
    TableFill,
    TableCopy,
    TableInit,
    ElemDrop,
    TableLazyInit,
    /// Fuel ran out: refill from the store's reserve (and yield at a fuel
    /// yield interval), or trap with `OutOfFuel`.
    OutOfGas,
    /// The epoch deadline passed: yield and extend it, or trap with
    /// `Interrupt`.
    NewEpoch,
}

/// What `memory.grow` and `table.grow` builtins return when the store's
/// resource limiter asked for a trap (recorded as the store's pending trap):
/// compiled code traps with `Host` on it. No old size can take this value:
/// memories have at most 65,536 pages and tables at most
/// [`MAX_TABLE_LIMIT`] elements.
pub(crate) const GROW_TRAPPED: u32 = u32::MAX - 1;

/// The most elements any table may hold, so that no old size a growth
/// returns is confused with -1 or [`GROW_TRAPPED`].
pub(crate) const MAX_TABLE_LIMIT: u32 = u32::MAX - 2;

/// Number of builtins.
pub(crate) const NUM_BUILTINS: usize = 13;

impl Builtin {
    /// Parameters after the leading VMContext, and results.
    pub(crate) fn signature(self) -> (&'static [BuiltinTy], &'static [BuiltinTy]) {
        use BuiltinTy::*;
        match self {
            Builtin::MemoryGrow => (&[I32, I32], &[I32]),
            Builtin::MemoryFill => (&[I32, I64, I32, I64], &[I32]),
            Builtin::MemoryCopy => (&[I32, I64, I32, I64, I64], &[I32]),
            Builtin::MemoryInit => (&[I32, I32, I64, I32, I32], &[I32]),
            Builtin::DataDrop => (&[I32], &[]),
            Builtin::TableGrow => (&[I32, I32, Ptr], &[I32]),
            Builtin::TableFill => (&[I32, I32, Ptr, I32], &[I32]),
            Builtin::TableCopy => (&[I32, I32, I32, I32, I32], &[I32]),
            Builtin::TableInit => (&[I32, I32, I32, I32, I32], &[I32]),
            Builtin::ElemDrop => (&[I32], &[]),
            Builtin::TableLazyInit => (&[I32, I32], &[Ptr]),
            Builtin::OutOfGas | Builtin::NewEpoch => (&[], &[I32]),
        }
    }

    /// The trap a 0 result means, for builtins that can trap.
    pub(crate) fn trap(self) -> Option<TrapCode> {
        match self {
            Builtin::MemoryFill | Builtin::MemoryCopy | Builtin::MemoryInit => {
                Some(TrapCode::MemoryOutOfBounds)
            }
            Builtin::TableFill | Builtin::TableCopy | Builtin::TableInit => {
                Some(TrapCode::TableOutOfBounds)
            }
            Builtin::OutOfGas => Some(TrapCode::OutOfFuel),
            Builtin::NewEpoch => Some(TrapCode::Interrupt),
            _ => None,
        }
    }
}
