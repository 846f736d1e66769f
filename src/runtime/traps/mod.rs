//! Catching wasm traps: entering wasm so that a trap comes back as a value.
//!
//! Compiled wasm traps by faulting: a load into a guard page or from a null
//! table pointer raises SIGSEGV (or SIGBUS), Cranelift's `ud2`-style trap
//! instructions raise SIGILL, a division by zero raises SIGFPE. This module
//! turns such a signal into `Err(TrapInfo)` from [`catch_traps`], with the
//! thread, the store and the process unharmed.
//!
//! ```text
//!   host (Rust) ── catch_traps ──► wasmpool_internal_call (C: sigsetjmp) ──► wasm ──► fault
//!                      ▲                    ▲                                          │
//!                      │ Err(TrapInfo)      │ siglongjmp                               ▼
//!                      └──── returns 0 ─────┴────────────── signal handler: ours? ◄── kernel
//! ```
//!
//! The pieces:
//!
//! - **One chaining handler** ([`signals`]) for SIGSEGV, SIGBUS, SIGILL and
//!   SIGFPE, installed once per process by [`init_traps`]. It claims a
//!   signal only when the faulting thread is running wasm and the PC is a
//!   trap site of our code; anything else goes to the handler that was there
//!   before, so a host's own handlers, and its crashes, behave as without us.
//! - **A thread-local activation chain.** Each [`catch_traps`] pushes an
//!   `Activation` (its jump buffer, a slot for the trap, the previous
//!   activation) on its own stack frame and points the thread-local at it.
//!   The handler unwinds to the innermost one. Wasm calling a host function
//!   that calls wasm again nests a second activation, so a trap in the inner
//!   wasm returns to the inner entry and the outer wasm carries on.
//! - **A code registry** ([`code_registry`]): the address ranges of compiled
//!   code, each with a [`TrapLookup`] that maps a PC offset to a trap code
//!   and to a wasm function and module offset.
//! - **A backtrace** ([`backtrace`]): before it jumps, the handler walks the
//!   frame-pointer chain of the trapping wasm into a fixed buffer in the
//!   trap; the PCs are resolved to wasm frames after the jump.
//! - **An alternate signal stack** per thread that runs wasm, set up the first
//!   time the thread enters wasm, so that the handler can run even when the
//!   fault is the thread's own stack overflowing.
//! - **A stack limit per thread**, not per entry ([`entry_stack_limit`]).
//!   Compiled code compares the stack pointer against the store's
//!   `stack_limit` in every prologue. The outermost entry on a thread sets
//!   it to `max_wasm_stack` below the entry's stack pointer (read from the
//!   register: [`stack_pointer`]), but never below the thread's real stack
//!   bottom plus [`STACK_RESERVE`] when the entry runs on that stack (a host
//!   may call from a fiber with a stack of its own); nested entries (wasm calling
//!   the host calling wasm, through any store) inherit it from the enclosing
//!   activation, so host frames in between spend the same budget, and an
//!   entry that finds the stack already past the limit traps at once. So
//!   recursion through wasm alone, or through host functions, traps with
//!   `StackOverflow` before it reaches the thread's guard page.
//! - **Fibers** (`runtime::fiber`). A resumable call runs on a stack of its
//!   own. Its poller installs the fiber's activation chain and the fiber
//!   stack's bottom in this module's thread-locals for as long as the fiber
//!   runs ([`swap_fiber_context`]) and puts the thread's back when it
//!   suspends or ends, on whatever thread polls it. So on a fiber the first
//!   entry is an outermost one whose floor is the fiber stack's bottom plus
//!   [`STACK_RESERVE`], a trap jumps to the `catch_traps` on the fiber, and
//!   while a fiber is suspended nothing of this thread points into it.
//!
//! # Why the jump is sound
//!
//! `siglongjmp` discards frames without running anything in them. The frames
//! between the entry (`entry.c`, the only code that calls `sigsetjmp`) and
//! the faulting instruction are the array-call trampoline and wasm functions,
//! which own nothing, then the kernel's signal frame and the handler, which
//! holds no lock and nothing to drop when it jumps. No Rust frame sits in
//! between: a host function called from wasm is a Rust frame, but a trap
//! inside it is not at a wasm PC (so it is not ours), and wasm it calls runs
//! under its own, nested activation. A Rust function returning twice is not
//! a thing Rust supports, which is why the `sigsetjmp` is in C: to Rust,
//! `wasmpool_internal_call` is an ordinary function that returns once.

pub(crate) mod backtrace;
mod code_registry;
mod signals;
#[cfg(test)]
mod tests;

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

use crate::trap::TrapCode;

pub(crate) use code_registry::{CodeRegistration, TrapLookup, register_code};

/// The host-to-wasm trampoline's signature: the callee's vmctx, the caller's
/// vmctx, and `len` 16-byte value slots holding the arguments on entry and
/// the results on return.
pub(crate) type ArrayCallFn =
    unsafe extern "C" fn(vmctx: *mut u8, caller_vmctx: *mut u8, values: *mut u8, len: usize);

/// A trap caught by [`catch_traps`]: what the handler saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrapInfo {
    /// The trap code of the faulting instruction, from its module's trap table.
    pub code: TrapCode,
    /// The address of the faulting instruction.
    pub pc: usize,
    /// The address whose access faulted (SIGSEGV, SIGBUS); `None` for trap
    /// instructions and division (SIGILL, SIGFPE).
    pub fault_addr: Option<usize>,
    /// The PCs of the wasm frames, innermost (`pc`) first; see [`backtrace`].
    pub pcs: backtrace::Pcs,
}

/// Installs the process-wide trap handler, once; later calls do nothing.
/// Engine creation calls it so the handler is in place before any wasm runs;
/// [`catch_traps`] calls it too.
pub(crate) fn init_traps() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let (size, align) = (wasmpool_internal_jmp_buf_size(), wasmpool_internal_jmp_buf_align());
        assert!(
            size <= size_of::<JmpBuf>() && align <= align_of::<JmpBuf>(),
            "sigjmp_buf ({size} bytes, aligned to {align}) does not fit the {}-byte JmpBuf",
            size_of::<JmpBuf>()
        );
        signals::install_handler();
    });
}

/// Calls `f(vmctx, caller_vmctx, values, len)`, returning `Err` with what
/// happened when the wasm it runs traps (boxed: the backtrace makes it large,
/// and the result of a call that returns stays one word).
///
/// # Safety
///
/// - Calling `f` with these arguments must be sound, and `f` must not unwind.
/// - Every trap site `f` can reach must be in code registered with
///   [`register_code`] for the whole call; any other fault is not caught.
/// - Between this entry and any registered trap site only frames that own
///   nothing may sit (trampolines and wasm): a host function that `f` calls
///   must enter wasm again only through `catch_traps`, so no trap ever jumps
///   over it.
///
/// `stack_limit` is the limit the call runs under (from
/// [`entry_stack_limit`]); nested entries on this thread inherit it.
pub(crate) unsafe fn catch_traps(
    f: ArrayCallFn,
    vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut u8,
    len: usize,
    stack_limit: usize,
) -> Result<(), Box<TrapInfo>> {
    init_traps();
    signals::ensure_alt_stack();
    let activation = Activation {
        jmp_buf: JmpBuf::new(),
        trap: Cell::new(None),
        previous: current_activation(),
        stack_limit,
    };
    set_activation(&activation);
    // SAFETY: the buffer belongs to this frame's activation, which stays put
    // until the call returns; the caller vouches for `f` and its arguments
    // and for what lies between this entry and the trap sites.
    let returned = unsafe {
        wasmpool_internal_call(activation.jmp_buf(), f, vmctx, caller_vmctx, values, len)
    };
    // Read again, not reused from the entry: wasm may have suspended on a
    // fiber and been resumed on another thread.
    set_activation(activation.previous);
    if returned != 0 {
        Ok(())
    } else {
        let trap = activation.trap.get();
        Err(Box::new(trap.expect("the trap handler records the trap before it unwinds")))
    }
}

/// One `catch_traps` in progress on this thread.
struct Activation {
    /// Where the handler jumps to: filled by `sigsetjmp` in the entry.
    jmp_buf: JmpBuf,
    /// Written by the handler just before it jumps.
    trap: Cell<Option<TrapInfo>>,
    /// The enclosing activation on this thread (null for the outermost).
    previous: *const Activation,
    /// The stack limit wasm runs under; nested activations inherit it.
    stack_limit: usize,
}

/// Bytes of the thread's stack kept free below the lowest point wasm may
/// reach, for what runs there while wasm is at its limit: host functions
/// (down to their next entry into wasm, which traps at once), builtins, and
/// the trap path. Signal handlers run on the alternate stack.
pub(crate) const STACK_RESERVE: usize = 32 << 10;

/// The stack pointer of the caller, read from the register.
///
/// Not the address of a local: a local need not live on the stack. Found by
/// the `capi` fuzz target under AddressSanitizer, whose use-after-return
/// detection moves address-taken locals to "fake stack" frames on the heap;
/// the entry then computed its limit from a heap address, below the thread's
/// stack, and trapped with `StackOverflow` before running anything.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: copies the stack pointer register into a general register;
    // touches no memory and no flags.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        sp = std::hint::black_box(&marker) as *const u8 as usize;
    }
    sp
}

/// The stack limit for an entry into wasm with the stack pointer at `sp`,
/// or `None` when the stack is already past it (the entry must trap with
/// `StackOverflow` instead of running anything).
///
/// Inside another activation on this thread, the enclosing limit; for the
/// outermost entry, `max_wasm_stack` below `sp`, but never below the
/// thread's stack bottom plus [`STACK_RESERVE`] when `sp` is on the thread's
/// own stack (on a stack of the host's making, such as a fiber's, only
/// `max_wasm_stack` bounds wasm).
pub(crate) fn entry_stack_limit(sp: usize, max_wasm_stack: usize) -> Option<usize> {
    let outer = current_activation();
    let limit = if outer.is_null() {
        let wanted = sp.saturating_sub(max_wasm_stack);
        let fiber = FIBER_STACK_BOTTOM.get();
        if fiber != 0 {
            // On one of our fibers: its stack's bottom is known.
            wanted.max(fiber.saturating_add(STACK_RESERVE))
        } else {
            match thread_stack() {
                Some((bottom, top)) if (bottom..top).contains(&sp) => {
                    wanted.max(bottom.saturating_add(STACK_RESERVE))
                }
                _ => wanted,
            }
        }
    } else {
        // SAFETY: the innermost activation lives on this thread's stack, in
        // a `catch_traps` frame that is still running.
        unsafe { (*outer).stack_limit }
    };
    (sp > limit).then_some(limit)
}

thread_local! {
    /// This thread's stack as (lowest usable address, end), read once;
    /// (0, 0) not yet read, (1, 1) unknown.
    static STACK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The lowest usable address of the fiber stack running on this thread
    /// now, 0 on the thread's own stack (see [`swap_fiber_context`]).
    static FIBER_STACK_BOTTOM: Cell<usize> = const { Cell::new(0) };
}

/// What this module's thread-locals say about the stack code runs on: the
/// innermost activation and the fiber stack's bottom (0: the thread's own
/// stack). Opaque outside this module.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackContext {
    activation: *const Activation,
    fiber_bottom: usize,
}

impl StackContext {
    /// The context of a fiber that has not run yet: no activation, and its
    /// stack's lowest usable address `bottom`.
    pub(crate) fn fresh_fiber(bottom: usize) -> StackContext {
        StackContext { activation: ptr::null(), fiber_bottom: bottom }
    }
}

/// Installs `context` on this thread and returns the one it replaces. A
/// fiber's poller calls it right before switching to the fiber (installing
/// the fiber's context) and right after the fiber suspended or ended
/// (putting the thread's back, and keeping the fiber's for its next resume).
///
/// Never inlined, like the other accessors of these thread-locals: code on a
/// fiber may be resumed on another thread, and the address of a thread-local
/// must be computed afresh after every switch, never kept from before it.
#[inline(never)]
pub(crate) fn swap_fiber_context(context: StackContext) -> StackContext {
    StackContext {
        activation: ACTIVATION.replace(context.activation),
        fiber_bottom: FIBER_STACK_BOTTOM.replace(context.fiber_bottom),
    }
}

/// The innermost activation of this thread (see [`swap_fiber_context`] for
/// why it is never inlined).
#[inline(never)]
fn current_activation() -> *const Activation {
    ACTIVATION.get()
}

/// Makes `activation` the innermost one of this thread.
#[inline(never)]
fn set_activation(activation: *const Activation) {
    ACTIVATION.set(activation);
}

/// This thread's stack, `[bottom, top)` above its guard, read with
/// `pthread_getattr_np` the first time and cached; `None` when the C library
/// cannot tell.
fn thread_stack() -> Option<(usize, usize)> {
    let cached = STACK.get();
    if cached == (0, 0) {
        // SAFETY: `attr` is initialized by `pthread_getattr_np` before it is
        // read and destroyed once; the out-pointers are valid locals.
        let range = unsafe {
            let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                (1, 1)
            } else {
                let (mut addr, mut size) = (ptr::null_mut(), 0usize);
                let r = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
                libc::pthread_attr_destroy(attr.as_mut_ptr());
                if r != 0 || addr.is_null() {
                    (1, 1)
                } else {
                    (addr as usize, (addr as usize).saturating_add(size))
                }
            }
        };
        STACK.set(range);
    }
    Some(STACK.get()).filter(|&r| r != (1, 1))
}

impl Activation {
    fn jmp_buf(&self) -> *mut JmpBuf {
        ptr::from_ref(&self.jmp_buf).cast_mut()
    }
}

thread_local! {
    /// The innermost activation of this thread, null when no wasm runs here.
    /// Const-initialized and without destructor, so the signal handler reads
    /// it without lazy initialization or allocation.
    static ACTIVATION: Cell<*const Activation> = const { Cell::new(ptr::null()) };
}

/// Room for the C library's `sigjmp_buf` (200 bytes on x86_64 glibc), checked
/// against the C side's size and alignment by [`init_traps`]. Only C touches
/// its contents, through a pointer, hence the `UnsafeCell`.
#[repr(C, align(16))]
struct JmpBuf(UnsafeCell<MaybeUninit<[u8; 512]>>);

impl JmpBuf {
    fn new() -> JmpBuf {
        JmpBuf(UnsafeCell::new(MaybeUninit::uninit()))
    }
}

// The C entry point (`entry.c`, built by `build.rs`). The doc line is for
// cbindgen: it keeps these internal functions out of the C header.
#[allow(unused_doc_comments)]
/// cbindgen:ignore
unsafe extern "C" {
    /// Fills `buf` with `sigsetjmp`, then calls `array_call(...)`: returns 1
    /// when that returned, 0 when `wasmpool_internal_unwind(buf)` jumped back.
    fn wasmpool_internal_call(
        buf: *mut JmpBuf,
        array_call: ArrayCallFn,
        vmctx: *mut u8,
        caller_vmctx: *mut u8,
        values: *mut u8,
        len: usize,
    ) -> c_int;
    /// `siglongjmp`s to `buf`, whose `wasmpool_internal_call` must still be
    /// running on this thread.
    fn wasmpool_internal_unwind(buf: *mut JmpBuf) -> !;
    safe fn wasmpool_internal_jmp_buf_size() -> usize;
    safe fn wasmpool_internal_jmp_buf_align() -> usize;
}
