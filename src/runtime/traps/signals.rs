//! The process-wide signal handler and the per-thread alternate signal stack.
//!
//! One handler serves SIGSEGV, SIGBUS, SIGILL and SIGFPE for the whole
//! process. It claims a signal only when all of these hold:
//!
//! 1. wasm is running on this thread (the thread-local activation chain of
//!    the parent module is not empty);
//! 2. the kernel raised the signal for the faulting instruction (`si_code >
//!    0`), rather than another thread or process sending it;
//! 3. the PC is a trap site of registered wasm code ([`code_registry`]).
//!
//! Then it records the trap, with the PCs of the wasm frames on the stack
//! ([`backtrace::walk`]), in the innermost activation and jumps back to that
//! activation's entry. Every other signal is passed on to the handler
//! that was installed before ours, so a host's crash reporter, or Rust's own
//! stack-overflow detection, keeps working.
//!
//! The handler runs in signal context: it allocates nothing, takes no lock
//! that this thread could hold, reads only const-initialized thread-locals,
//! and cannot panic.

use std::cell::OnceCell;
use std::ffi::{c_int, c_void};
use std::mem;
use std::ptr;
use std::sync::OnceLock;

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

use super::backtrace::{self, FaultFrame};
use super::{ACTIVATION, JmpBuf, TrapInfo, code_registry, wasmpool_internal_unwind};

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("trap handling reads the faulting PC on Linux x86_64 and aarch64 only");

/// The signals wasm code traps with: guard-page and null accesses (SIGSEGV,
/// SIGBUS), trap instructions (SIGILL), integer division (SIGFPE).
const SIGNALS: [c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

/// The dispositions in place before ours, in the order of [`SIGNALS`]. Set
/// before our handler is installed, so the handler always finds them.
static PREVIOUS: OnceLock<[libc::sigaction; 4]> = OnceLock::new();

/// An `SA_SIGINFO` handler.
type SigAction = unsafe extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);

/// A plain handler.
type SigHandler = unsafe extern "C" fn(c_int);

/// Installs the handler for every signal in [`SIGNALS`], remembering the
/// dispositions it replaces. Call it once per process (`init_traps` does).
pub(super) fn install_handler() {
    let previous = SIGNALS.map(|signum| {
        // SAFETY: `sigaction` is plain data, for which all zeros is valid.
        let mut old: libc::sigaction = unsafe { mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `old`.
        let r = unsafe { libc::sigaction(signum, ptr::null(), &mut old) };
        assert_eq!(r, 0, "reading the disposition of signal {signum} failed");
        old
    });
    // Stored before the handler can run. (A handler that another thread
    // installs between this read and our install below would be lost; hosts
    // install theirs at startup, before creating an engine.)
    assert!(PREVIOUS.set(previous).is_ok(), "the trap handler is installed once");

    // SAFETY: as above, all zeros is a valid `sigaction`.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = handle_signal as SigAction as libc::sighandler_t;
    // SA_SIGINFO: the handler needs the fault address (siginfo) and the
    //   faulting PC (ucontext).
    // SA_ONSTACK: run on the alternate signal stack when the thread has one,
    //   so that a fault caused by the thread's stack overflowing can still be
    //   handled.
    // SA_NODEFER: do not block the signal while the handler runs. The handler
    //   leaves by `siglongjmp` without restoring the signal mask (the entry
    //   saves none, to stay syscall-free), so a signal blocked on the way in
    //   would stay blocked, and the next trap of that kind would kill the
    //   process.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // An empty mask, for the same reason: nothing may be left blocked.
    // SAFETY: `sa_mask` is a valid `sigset_t` to initialize.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    for signum in SIGNALS {
        // SAFETY: `action` is fully initialized and `handle_signal` has the
        // signature SA_SIGINFO requires.
        let r = unsafe { libc::sigaction(signum, &action, ptr::null_mut()) };
        assert_eq!(r, 0, "installing the trap handler for signal {signum} failed");
    }
}

/// The handler. Unwinds to the entry of the wasm that trapped, or chains.
///
/// # Safety
///
/// Only the kernel calls it, with SA_SIGINFO's arguments.
unsafe extern "C" fn handle_signal(
    signum: c_int,
    info: *mut libc::siginfo_t,
    context: *mut c_void,
) {
    // SAFETY: with SA_SIGINFO, the kernel passes a valid siginfo and ucontext.
    let jmp_buf = unsafe { record_trap(signum, &*info, context) };
    if let Some(jmp_buf) = jmp_buf {
        // SAFETY: the buffer belongs to the innermost activation of this
        // thread, whose `wasmpool_internal_call` is still running (it pops
        // the activation only after it returned). The frames skipped are this
        // one, which owns nothing to drop, the kernel's signal frame and wasm.
        unsafe { wasmpool_internal_unwind(jmp_buf) }
    }
    // SAFETY: the kernel's arguments, passed on unchanged.
    unsafe { chain(signum, info, context) }
}

/// When the signal is a trap of the wasm running on this thread: records it
/// in the innermost activation and returns that activation's jump buffer.
///
/// # Safety
///
/// `context` is the ucontext the kernel passed with `info`.
unsafe fn record_trap(
    signum: c_int,
    info: &libc::siginfo_t,
    context: *mut c_void,
) -> Option<*mut JmpBuf> {
    let activation = ACTIVATION.get();
    if activation.is_null() || info.si_code <= 0 {
        return None;
    }
    // SAFETY: the caller passes the kernel's ucontext.
    let fault = unsafe { fault_frame(context) };
    // Every wasm frame of this activation lies below it on the stack.
    let top = activation as usize;
    let (code, pcs) = code_registry::in_handler(|registry| {
        let code = registry.trap_code(fault.pc)?;
        Some((code, backtrace::walk(&fault, top, registry)))
    })??;
    let fault_addr = match signum {
        // SAFETY: for these signals the kernel fills in `si_addr`.
        libc::SIGSEGV | libc::SIGBUS => Some(unsafe { info.si_addr() } as usize),
        _ => None,
    };
    // SAFETY: a non-null ACTIVATION points at the live activation of the
    // innermost `catch_traps` on this thread.
    let activation = unsafe { &*activation };
    activation.trap.set(Some(TrapInfo { code, pc: fault.pc, fault_addr, pcs }));
    Some(activation.jmp_buf())
}

/// The PC, frame pointer and stack pointer of the instruction that raised
/// the signal.
///
/// # Safety
///
/// `context` is a `ucontext_t` passed by the kernel to an SA_SIGINFO handler.
unsafe fn fault_frame(context: *mut c_void) -> FaultFrame {
    // SAFETY: guaranteed by the caller.
    let context = unsafe { &*context.cast::<libc::ucontext_t>() };
    #[cfg(target_arch = "x86_64")]
    let frame = {
        let regs = &context.uc_mcontext.gregs;
        FaultFrame {
            pc: regs[libc::REG_RIP as usize] as usize,
            fp: regs[libc::REG_RBP as usize] as usize,
            sp: regs[libc::REG_RSP as usize] as usize,
        }
    };
    #[cfg(target_arch = "aarch64")]
    let frame = FaultFrame {
        pc: context.uc_mcontext.pc as usize,
        fp: context.uc_mcontext.regs[29] as usize,
        sp: context.uc_mcontext.sp as usize,
    };
    frame
}

/// Hands a signal that is not ours to the disposition we replaced, so the
/// process behaves as if we had never been installed.
///
/// A previous handler is called directly, on this stack, with this signal
/// mask (its own `sa_mask` and flags are not applied). A previous SIG_DFL or
/// SIG_IGN is reinstated: returning then re-executes the faulting instruction,
/// and the kernel applies the default action (a fault cannot be ignored); a
/// sent signal is ignored, or raised again so that it takes effect.
///
/// # Safety
///
/// The arguments are the kernel's, as given to [`handle_signal`].
unsafe fn chain(signum: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let Some(index) = SIGNALS.iter().position(|&s| s == signum) else { return };
    let Some(previous) = PREVIOUS.get().map(|all| &all[index]) else { return };
    match previous.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // SAFETY: `info` is the kernel's siginfo.
            let sent = unsafe { (*info).si_code } <= 0;
            if sent && previous.sa_sigaction == libc::SIG_IGN {
                return;
            }
            // SAFETY: `previous` is a disposition the kernel gave us. Both
            // calls are async-signal-safe.
            unsafe {
                libc::sigaction(signum, previous, ptr::null_mut());
                if sent {
                    libc::raise(signum);
                }
            }
        }
        handler if previous.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: with SA_SIGINFO, the disposition is an SA_SIGINFO
            // handler, called with the kernel's arguments.
            unsafe {
                mem::transmute::<libc::sighandler_t, SigAction>(handler)(signum, info, context)
            }
        }
        handler => {
            // SAFETY: without SA_SIGINFO, the disposition is a plain handler.
            unsafe { mem::transmute::<libc::sighandler_t, SigHandler>(handler)(signum) }
        }
    }
}

/// Usable size of the alternate signal stack we install: room for the
/// kernel's signal frame (several KiB with AVX-512 state), our handler and
/// any handler it chains to.
pub(super) const ALT_STACK_SIZE: usize = 64 * 1024;

thread_local! {
    /// This thread's alternate signal stack: unset until the thread first
    /// enters wasm, then `Some` when we installed one, `None` when the thread
    /// already had one big enough.
    static ALT_STACK: OnceCell<Option<AltStack>> = const { OnceCell::new() };
}

/// Makes sure this thread has an alternate signal stack of at least
/// [`ALT_STACK_SIZE`] bytes, installing one the first time it is called on
/// the thread if needed. A thread that is exiting (its thread-locals gone)
/// keeps whatever it has.
///
/// Panics when the stack cannot be mapped.
pub(super) fn ensure_alt_stack() {
    let _ = ALT_STACK.try_with(|stack| {
        stack.get_or_init(AltStack::install_if_needed);
    });
}

/// An alternate signal stack we mapped: a guard page below the stack.
///
/// ```text
///   mapping ─► ┌────────────┬───────────────────────────────────┐
///              │ guard page │ stack (ALT_STACK_SIZE), grows ◄── │
///              └────────────┴───────────────────────────────────┘
///                           ▲ stack
/// ```
struct AltStack {
    mapping: *mut c_void,
    mapping_len: usize,
    stack: *mut c_void,
}

impl AltStack {
    /// Installs a new alternate signal stack unless the thread has one of at
    /// least [`ALT_STACK_SIZE`] bytes, or is running on its current one. A
    /// smaller one (Rust gives each of its threads a SIGSTKSZ one, 8 KiB) is
    /// replaced; its owner still frees it, and a disabled or replaced stack
    /// is never used again.
    fn install_if_needed() -> Option<AltStack> {
        // SAFETY: `stack_t` is plain data, for which all zeros is valid.
        let mut current: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: a null new stack only reads the current one.
        let r = unsafe { libc::sigaltstack(ptr::null(), &mut current) };
        assert_eq!(r, 0, "reading the alternate signal stack failed");
        let usable = current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_SIZE;
        if usable || current.ss_flags & libc::SS_ONSTACK != 0 {
            return None;
        }

        let page = rustix::param::page_size();
        let mapping_len = page + ALT_STACK_SIZE;
        // SAFETY: a new private mapping where the kernel chooses; nothing
        // else refers to that memory.
        let mapping = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                mapping_len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .unwrap_or_else(|err| {
            panic!("mapping a {mapping_len}-byte alternate signal stack failed: {err}")
        });
        // From here on, a panic unmaps it again.
        // SAFETY: the guard page is the start of the mapping.
        let stack = AltStack { mapping, mapping_len, stack: unsafe { mapping.byte_add(page) } };
        // SAFETY: the first page of our own mapping, which nothing uses.
        unsafe { rustix::mm::mprotect(mapping, page, MprotectFlags::empty()) }.unwrap_or_else(
            |err| panic!("protecting the alternate signal stack's guard page failed: {err}"),
        );
        let new = libc::stack_t { ss_sp: stack.stack, ss_flags: 0, ss_size: ALT_STACK_SIZE };
        // SAFETY: `new` describes memory we own, which stays mapped until
        // `drop` has uninstalled it.
        let r = unsafe { libc::sigaltstack(&new, ptr::null_mut()) };
        assert_eq!(r, 0, "installing the alternate signal stack failed");
        Some(stack)
    }
}

impl Drop for AltStack {
    /// Runs at thread exit: uninstalls the stack if it is still installed
    /// (Rust's thread teardown may have disabled it already), then unmaps it.
    fn drop(&mut self) {
        // SAFETY: as in `install_if_needed`.
        let mut current: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: a null new stack only reads the current one.
        let r = unsafe { libc::sigaltstack(ptr::null(), &mut current) };
        if r != 0 {
            return;
        }
        if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_sp == self.stack {
            let disable =
                libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            // SAFETY: disabling the alternate stack has no preconditions.
            if unsafe { libc::sigaltstack(&disable, ptr::null_mut()) } != 0 {
                return; // still in use: leak it rather than unmap it
            }
        }
        // SAFETY: the mapping is ours, and no longer the thread's signal stack.
        let _ = unsafe { rustix::mm::munmap(self.mapping, self.mapping_len) };
    }
}
