//! Traps raised by real machine code: a page of hand-assembled x86_64
//! functions, registered as wasm code, called through [`catch_traps`].

#![cfg(target_arch = "x86_64")]

use std::ffi::c_void;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::ptr;
use std::sync::{Arc, Barrier};

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

use super::*;

/// `ud2`: SIGILL.
const UD2: usize = 0;
/// `mov rax, [0]; ret`: SIGSEGV at address 0.
const LOAD_NULL: usize = 16;
/// `ret`.
const RET: usize = 32;
/// `sub rsp, 8; call rdi; add rsp, 8; ud2`: calls its vmctx argument (a host
/// function) with its own arguments, then traps.
const CALL_THEN_UD2: usize = 48;
const CALL_THEN_UD2_TRAP: usize = CALL_THEN_UD2 + 10;
/// `xor ecx, ecx; xor eax, eax; cdq; idiv ecx; ret`: SIGFPE.
const DIVIDE_BY_ZERO: usize = 64;
const DIVIDE_BY_ZERO_TRAP: usize = DIVIDE_BY_ZERO + 5;
/// `push rbp; mov rbp, rsp; call FRAMED_UD2; pop rbp; ret`: a frame record,
/// then a call.
const FRAMED_CALL: usize = 80;
const FRAMED_CALL_RETURN: usize = FRAMED_CALL + 9;
/// `push rbp; mov rbp, rsp; ud2`: a frame record, then SIGILL.
const FRAMED_UD2: usize = 96;
const FRAMED_UD2_TRAP: usize = FRAMED_UD2 + 4;
/// `mov rbp, 8; ud2`: SIGILL with a frame pointer that points nowhere.
const BAD_FP_UD2: usize = 112;
const BAD_FP_UD2_TRAP: usize = BAD_FP_UD2 + 7;

const FUNCTIONS: [(usize, &[u8]); 8] = [
    (UD2, &[0x0f, 0x0b]),
    (LOAD_NULL, &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0xc3]),
    (RET, &[0xc3]),
    (CALL_THEN_UD2, &[0x48, 0x83, 0xec, 0x08, 0xff, 0xd7, 0x48, 0x83, 0xc4, 0x08, 0x0f, 0x0b]),
    (DIVIDE_BY_ZERO, &[0x31, 0xc9, 0x31, 0xc0, 0x99, 0xf7, 0xf9, 0xc3]),
    // call rel32: FRAMED_UD2 - FRAMED_CALL_RETURN = 7.
    (FRAMED_CALL, &[0x55, 0x48, 0x89, 0xe5, 0xe8, 0x07, 0x00, 0x00, 0x00, 0x5d, 0xc3]),
    (FRAMED_UD2, &[0x55, 0x48, 0x89, 0xe5, 0x0f, 0x0b]),
    (BAD_FP_UD2, &[0x48, 0xc7, 0xc5, 0x08, 0x00, 0x00, 0x00, 0x0f, 0x0b]),
];

/// The page's trap table.
const TRAP_SITES: [(usize, TrapCode); 6] = [
    (UD2, TrapCode::Unreachable),
    (LOAD_NULL, TrapCode::MemoryOutOfBounds),
    (CALL_THEN_UD2_TRAP, TrapCode::Unreachable),
    (DIVIDE_BY_ZERO_TRAP, TrapCode::IntegerDivisionByZero),
    (FRAMED_UD2_TRAP, TrapCode::Unreachable),
    (BAD_FP_UD2_TRAP, TrapCode::Unreachable),
];

struct TrapSites;

impl TrapLookup for TrapSites {
    fn trap_code(&self, pc_offset: usize) -> Option<TrapCode> {
        TRAP_SITES.iter().find(|(offset, _)| *offset == pc_offset).map(|(_, code)| *code)
    }
}

/// A read+execute page holding [`FUNCTIONS`] (the rest is `int3`),
/// registered as wasm code unless built with [`CodePage::unregistered`].
struct CodePage {
    start: usize,
    len: usize,
    registration: Option<CodeRegistration>,
}

impl CodePage {
    fn new() -> CodePage {
        let mut page = CodePage::unregistered();
        page.registration = Some(register_code(page.start, page.len, Arc::new(TrapSites)));
        page
    }

    fn unregistered() -> CodePage {
        let len = rustix::param::page_size();
        // SAFETY: a new private mapping where the kernel chooses.
        let mapping = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .expect("map a code page");
        // SAFETY: the mapping is `len` writable bytes that nothing else uses.
        let bytes = unsafe { std::slice::from_raw_parts_mut(mapping.cast::<u8>(), len) };
        bytes.fill(0xcc);
        for (offset, code) in FUNCTIONS {
            bytes[offset..offset + code.len()].copy_from_slice(code);
        }
        // SAFETY: our own mapping; no reference into it outlives this.
        unsafe { rustix::mm::mprotect(mapping, len, MprotectFlags::READ | MprotectFlags::EXEC) }
            .expect("make the code executable");
        CodePage { start: mapping as usize, len, registration: None }
    }

    fn function(&self, offset: usize) -> ArrayCallFn {
        // SAFETY: every offset used is the start of one of FUNCTIONS, which
        // follow the C calling convention and ignore their arguments (but
        // CALL_THEN_UD2's first one, see `call`).
        unsafe { std::mem::transmute::<usize, ArrayCallFn>(self.start + offset) }
    }

    /// Calls the function at `offset` with `vmctx` and `values` through [`catch_traps`].
    fn call_with(
        &self,
        offset: usize,
        vmctx: *mut u8,
        values: *mut u8,
    ) -> Result<(), Box<TrapInfo>> {
        // SAFETY: the functions are sound to call (CALL_THEN_UD2 needs a host
        // function as vmctx, which the callers pass), their trap sites are
        // registered while `self` lives, and no frame sits between the entry
        // and a trap site but the host function of CALL_THEN_UD2, which
        // enters wasm through `catch_traps` and returns before the trap.
        unsafe { catch_traps(self.function(offset), vmctx, ptr::null_mut(), values, 0, 0) }
    }

    fn call(&self, offset: usize) -> Result<(), Box<TrapInfo>> {
        self.call_with(offset, ptr::null_mut(), ptr::null_mut())
    }

    /// The trap at `offset`, called from the entry: its backtrace is its
    /// own PC (the functions that set up no frame record leave the entry's
    /// frame pointer, whose return address is no wasm code).
    fn trap(
        &self,
        code: TrapCode,
        offset: usize,
        fault_addr: Option<usize>,
    ) -> Result<(), Box<TrapInfo>> {
        let pc = self.start + offset;
        Err(Box::new(TrapInfo { code, pc, fault_addr, pcs: backtrace::Pcs::from_slice(&[pc]) }))
    }
}

impl Drop for CodePage {
    fn drop(&mut self) {
        self.registration = None;
        // SAFETY: unregistered above; nothing runs the code any more.
        unsafe { rustix::mm::munmap(self.start as *mut c_void, self.len) }
            .expect("unmap the code page");
    }
}

fn no_activation() -> bool {
    ACTIVATION.get().is_null()
}

#[test]
fn unreachable_traps_at_its_pc() {
    let page = CodePage::new();
    assert_eq!(page.call(UD2), page.trap(TrapCode::Unreachable, UD2, None));
    assert!(no_activation());
}

#[test]
fn a_null_load_traps_with_its_fault_address() {
    let page = CodePage::new();
    assert_eq!(page.call(LOAD_NULL), page.trap(TrapCode::MemoryOutOfBounds, LOAD_NULL, Some(0)));
}

#[test]
fn division_by_zero_traps() {
    let page = CodePage::new();
    let trap = page.trap(TrapCode::IntegerDivisionByZero, DIVIDE_BY_ZERO_TRAP, None);
    assert_eq!(page.call(DIVIDE_BY_ZERO), trap);
}

#[test]
fn the_handler_walks_the_frame_records_up_to_the_entry() {
    let page = CodePage::new();
    let Err(trap) = page.call(FRAMED_CALL) else { panic!("FRAMED_CALL traps") };
    assert_eq!(trap.pc, page.start + FRAMED_UD2_TRAP);
    // The trap, then the return address into the caller; the caller's
    // return address is in the entry, which ends the walk.
    assert_eq!(
        trap.pcs.as_slice(),
        [page.start + FRAMED_UD2_TRAP, page.start + FRAMED_CALL_RETURN]
    );
}

#[test]
fn a_frame_pointer_outside_the_stack_ends_the_walk() {
    let page = CodePage::new();
    assert_eq!(page.call(BAD_FP_UD2), page.trap(TrapCode::Unreachable, BAD_FP_UD2_TRAP, None));
}

#[test]
fn returning_code_is_ok() {
    let page = CodePage::new();
    assert_eq!(page.call(RET), Ok(()));
    assert!(no_activation());
}

#[test]
fn traps_repeat_on_one_thread() {
    let page = CodePage::new();
    for _ in 0..100 {
        assert_eq!(page.call(UD2), page.trap(TrapCode::Unreachable, UD2, None));
        assert_eq!(
            page.call(LOAD_NULL),
            page.trap(TrapCode::MemoryOutOfBounds, LOAD_NULL, Some(0))
        );
        assert_eq!(page.call(RET), Ok(()));
    }
    assert!(no_activation());
}

#[test]
fn threads_trap_concurrently() {
    let page = CodePage::new();
    let start = Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                start.wait();
                for _ in 0..200 {
                    assert_eq!(page.call(UD2), page.trap(TrapCode::Unreachable, UD2, None));
                    assert_eq!(
                        page.call(LOAD_NULL),
                        page.trap(TrapCode::MemoryOutOfBounds, LOAD_NULL, Some(0))
                    );
                    assert_eq!(page.call(RET), Ok(()));
                }
            });
        }
        // Register and unregister other code meanwhile: the handler waits
        // for the registry's writers instead of missing traps.
        for _ in 0..200 {
            drop(CodePage::new());
        }
    });
}

/// What the host function in [`nested_calls_unwind_to_the_innermost_entry`]
/// saw, recorded for the test to check once wasm has returned (a failed
/// assertion inside it would abort, not fail the test).
struct Nested<'a> {
    page: &'a CodePage,
    inner: Option<Result<(), Box<TrapInfo>>>,
    outer_activation_restored: bool,
}

/// A host function called from wasm that calls trapping wasm in turn.
unsafe extern "C" fn host(_vmctx: *mut u8, _caller_vmctx: *mut u8, values: *mut u8, _len: usize) {
    // SAFETY: the test passes a `Nested` as `values`, and nothing else uses
    // it during the call.
    let nested = unsafe { &mut *values.cast::<Nested>() };
    let outer = ACTIVATION.get();
    nested.inner = Some(nested.page.call(UD2));
    nested.outer_activation_restored = !outer.is_null() && ACTIVATION.get() == outer;
}

#[test]
fn nested_calls_unwind_to_the_innermost_entry() {
    let page = CodePage::new();
    let mut nested = Nested { page: &page, inner: None, outer_activation_restored: false };
    let outer =
        page.call_with(CALL_THEN_UD2, host as ArrayCallFn as *mut u8, (&raw mut nested).cast());
    assert_eq!(nested.inner, Some(page.trap(TrapCode::Unreachable, UD2, None)));
    assert!(nested.outer_activation_restored);
    // The outer wasm ran on after the inner trap, and its own trap went to
    // the outer entry.
    assert_eq!(outer, page.trap(TrapCode::Unreachable, CALL_THEN_UD2_TRAP, None));
    assert!(no_activation());
}

#[test]
fn entering_wasm_installs_a_big_enough_alternate_stack() {
    std::thread::spawn(|| {
        CodePage::new().call(RET).unwrap();
        // SAFETY: `stack_t` is plain data, for which all zeros is valid.
        let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: a null new stack only reads the current one.
        assert_eq!(unsafe { libc::sigaltstack(ptr::null(), &mut current) }, 0);
        assert_eq!(current.ss_flags & libc::SS_DISABLE, 0);
        assert!(current.ss_size >= signals::ALT_STACK_SIZE);
    })
    .join()
    .unwrap();
}

/// How [`faults_that_are_not_ours_are_chained`] makes its child fault.
const CHILD_ENV: &str = "WASMPOOL_TRAPS_TEST_CHILD";

/// Faults that are not wasm traps go to the previous disposition: here the
/// default action for SIGILL, and Rust's stack-overflow handler (an
/// SA_SIGINFO handler, which resets SIGSEGV to the default when the fault is
/// not a stack overflow) for SIGSEGV. Either way the process dies of the
/// signal, so each case runs in a child process.
#[test]
fn faults_that_are_not_ours_are_chained() {
    let child_test = format!("{}::chained_fault_child", module_path!().split_once("::").unwrap().1);
    for (mode, signal) in [
        ("unregistered-ud2", libc::SIGILL),
        ("unregistered-load", libc::SIGSEGV),
        ("registered-ud2-outside-wasm", libc::SIGILL),
    ] {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &child_test, "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, mode)
            .output()
            .expect("run the test binary");
        assert_eq!(status.status.signal(), Some(signal), "{mode}: {status:?}");
    }
}

#[test]
#[ignore = "run by faults_that_are_not_ours_are_chained, in a child process"]
fn chained_fault_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else { return };
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `no_core` is a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    init_traps();
    let result = match mode.as_str() {
        "unregistered-ud2" => CodePage::unregistered().call(UD2),
        "unregistered-load" => CodePage::unregistered().call(LOAD_NULL),
        "registered-ud2-outside-wasm" => {
            let page = CodePage::new();
            // SAFETY: `ud2` takes no arguments; the point is that it traps
            // outside `catch_traps`.
            unsafe { page.function(UD2)(ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), 0) };
            Ok(())
        }
        _ => panic!("unknown mode {mode}"),
    };
    panic!("{mode}: survived the fault: {result:?}");
}
