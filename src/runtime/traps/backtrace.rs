//! Backtraces: the wasm frames on the stack when a trap happens.
//!
//! Nothing is recorded while wasm runs. Compiled code keeps frame pointers
//! (Cranelift's `preserve_frame_pointers`), so every wasm function,
//! trampoline and host stub starts its frame with a frame record: the
//! caller's frame pointer, and above it the return address into the caller
//! (the same layout on x86_64, `push rbp; mov rbp, rsp`, and on aarch64,
//! `stp x29, x30, [sp, #-16]!; mov x29, sp`). When a trap's signal arrives,
//! the handler follows that chain from the faulting frame up to the entry:
//!
//! ```text
//!   higher addresses
//!            ┌───────────────────────┐ ◄── the activation (catch_traps' frame): top
//!            │ entry (C, sigsetjmp)  │
//!            ├───────────────────────┤
//!            │ return address ───────┼──► into the entry: not wasm code, stop
//!   T ─────► │ saved fp              │    array-call trampoline
//!            ├───────────────────────┤
//!            │ return address ───────┼──► into the trampoline (pcs[2], skipped
//!   F ─────► │ saved fp = T          │    when resolved: no wasm function)
//!            │ ... f                 │
//!            ├───────────────────────┤
//!            │ return address ───────┼──► into f, after its call (pcs[1])
//!   fp ────► │ saved fp = F          │    g, trapping at pc (pcs[0])
//!            │ ... g                 │
//!            └───────────────────────┘ ◄── sp at the fault
//! ```
//!
//! The walk runs **in the signal handler**, because once the handler jumps
//! back to the entry, the abandoned wasm frames below it are overwritten by
//! whatever the host calls next. So it allocates nothing: the PCs go into a
//! fixed buffer ([`Pcs`], [`MAX_FRAMES`] entries) that travels in the trap's
//! [`TrapInfo`](super::TrapInfo). It reads only words between the faulting
//! SP and the activation, which are this thread's live stack, and stops at
//! the first return address outside registered code (the entry, or a host
//! function's frame for a nested activation), at a frame pointer that does
//! not move up the stack, or when the buffer is full (deep recursion keeps
//! its innermost frames). Those bounds rely on wasm running on the same
//! stack as its activation, below it, as `catch_traps` arranges. That holds
//! on a fiber too: a resumable call enters wasm through `catch_traps` on the
//! fiber's stack, and the poller installs the fiber's activation chain while
//! it runs, so the walk reads only the fiber's stack, between the faulting SP
//! and the fiber's innermost activation.
//!
//! Turning PCs into [`FrameInfo`]s (function index, names, module offset)
//! takes the registry's lock and allocates, so it happens after the jump, in
//! [`resolve`].

use std::fmt;

use super::code_registry::{self, Registry};
use crate::trap::FrameInfo;

/// The most frames a trap records.
pub(crate) const MAX_FRAMES: usize = 64;

/// The PCs of a trap's frames, innermost first: the faulting instruction,
/// then one return address per calling frame.
#[derive(Clone, Copy)]
pub(crate) struct Pcs {
    len: usize,
    pcs: [usize; MAX_FRAMES],
}

impl Pcs {
    /// The recorded PCs.
    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.pcs[..self.len]
    }
}

impl PartialEq for Pcs {
    fn eq(&self, other: &Pcs) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Pcs {}

impl fmt::Debug for Pcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x?}", self.as_slice())
    }
}

/// The registers a walk starts from, read from the signal's context.
pub(super) struct FaultFrame {
    /// The faulting instruction.
    pub pc: usize,
    /// The frame pointer: the faulting function's frame record.
    pub fp: usize,
    /// The stack pointer: nothing below it belongs to a frame.
    pub sp: usize,
}

/// Walks the frame-pointer chain from `fault` up to `top` (the innermost
/// activation, above every frame of its wasm), recording the faulting PC and
/// each return address that lies in registered code.
///
/// Async-signal-safe: no allocation, no lock but the registry's, which the
/// caller holds through `registry`.
pub(super) fn walk(fault: &FaultFrame, top: usize, registry: &Registry<'_>) -> Pcs {
    let mut pcs = Pcs { len: 1, pcs: [0; MAX_FRAMES] };
    pcs.pcs[0] = fault.pc;
    let record = 2 * size_of::<usize>();
    let mut fp = fault.fp;
    while pcs.len < MAX_FRAMES {
        let in_stack = fp >= fault.sp && fp.checked_add(record).is_some_and(|end| end <= top);
        if !in_stack || !fp.is_multiple_of(align_of::<usize>()) {
            break;
        }
        // SAFETY: `fp .. fp + 16` lies between the faulting SP and the
        // activation: this thread's stack, mapped, and written by no one
        // while the handler runs (the handler's own frames are on the
        // alternate signal stack, or below the faulting SP); the address is
        // word-aligned.
        let (caller_fp, return_address) =
            unsafe { (*(fp as *const usize), *((fp + size_of::<usize>()) as *const usize)) };
        if !registry.contains(return_address) {
            break;
        }
        pcs.pcs[pcs.len] = return_address;
        pcs.len += 1;
        // Frames of callers lie higher up; anything else is not a frame chain.
        if caller_fp <= fp {
            break;
        }
        fp = caller_fp;
    }
    pcs
}

/// The wasm frames behind `pcs`: frames in trampolines and host stubs are
/// left out. The innermost PC is looked up as it is; a return address is
/// looked up one byte back, inside the call instruction, whose operator the
/// frame reports.
pub(crate) fn resolve(pcs: &Pcs) -> Vec<FrameInfo> {
    code_registry::read(|registry| {
        pcs.as_slice()
            .iter()
            .enumerate()
            .filter_map(|(i, &pc)| registry.frame_info(if i == 0 { pc } else { pc - 1 }))
            .collect()
    })
}

#[cfg(test)]
impl Pcs {
    /// A buffer holding `pcs` (at most [`MAX_FRAMES`]).
    pub(super) fn from_slice(pcs: &[usize]) -> Pcs {
        let mut buffer = Pcs { len: pcs.len(), pcs: [0; MAX_FRAMES] };
        buffer.pcs[..pcs.len()].copy_from_slice(pcs);
        buffer
    }
}
