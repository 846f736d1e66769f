//! Resumable calls: a call on a stack of its own, which can suspend and be
//! resumed later, possibly on another thread.
//!
//! With `Config::async_support`, `Func::call_async` and the other `_async`
//! entry points run the ordinary synchronous call inside a [`Fiber`]: a
//! `corosensei` coroutine on a [`FiberStack`] (a slot of the pool's stack
//! slab, or a fresh mapping with a guard page). Polling the [`FiberFuture`]
//! switches to the fiber's stack; the call runs until it returns or reaches
//! a suspension point, which switches back, and the poll returns `Pending`.
//!
//! ```text
//!   poller's stack                         fiber's stack
//!   ──────────────                         ─────────────
//!   FiberFuture::poll ── resume ─────────► Func::call ─► catch_traps ─► wasm
//!        ▲   (swap_fiber_context:                                        │
//!        │    install the fiber's                                        ▼
//!        │    activations + bounds)          suspension point: a builtin (epoch
//!        └──── Pending ◄──────── suspend ─── deadline, fuel interval) or an async
//!              (thread's context back)       host function whose future is pending
//! ```
//!
//! Suspension points are [`yield_now`] (the epoch and fuel builtins: wake the
//! waker and suspend, so an executor polls again soon) and [`block_on`] (an
//! async host function: poll its future with the poller's `Context`, suspend
//! while it is pending). Both return `Err` when the fiber is being abandoned
//! (its future dropped): the builtin then makes wasm trap and the host
//! function returns a trap, so the call leaves through the ordinary trap
//! path, every `catch_traps` on the fiber returns and every Rust frame on it
//! runs to its end. No wasm frame is ever unwound by Rust, and the coroutine
//! always finishes before its stack is freed.
//!
//! Thread-locals: the trap machinery's (`traps::swap_fiber_context`) and
//! [`CURRENT`] are swapped by the poller around every switch, so they always
//! describe the stack that runs, on the thread that runs it.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::runtime::memory::{Mmap, make_accessible};
use crate::runtime::traps::{StackContext, swap_fiber_context};
use corosensei::stack::{Stack, StackPointer};
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

/// A stack for one fiber: usable bytes `[bottom, top)` with an inaccessible
/// guard page right below `bottom`.
pub(crate) struct FiberStack {
    bottom: usize,
    top: usize,
    owner: StackOwner,
}

/// Where a stack's memory comes from, and so where it goes back to.
pub(crate) enum StackOwner {
    /// A mapping of its own (guard page included), unmapped on drop.
    Mapped(#[allow(dead_code)] Mmap),
    /// Slot `slot` of the engine's stack pool.
    Pooled(u32),
}

// SAFETY: a fiber stack is plain memory owned by one fiber at a time; the
// mapping's raw pointer is only unmapped by its owner.
unsafe impl Send for FiberStack {}

impl FiberStack {
    /// A fresh mapping of a guard page and `size` bytes (page-rounded).
    pub(crate) fn map(size: usize) -> Result<FiberStack> {
        let page = rustix::param::page_size();
        let size = size.max(page).checked_next_multiple_of(page).ok_or_else(|| {
            Error::invalid_argument(format!("async_stack_size of {size} bytes is too large"))
        })?;
        let mmap = Mmap::reserve(size + page)?;
        // SAFETY: everything above the first page of our fresh reservation.
        unsafe { make_accessible(mmap.as_ptr().add(page), size) }?;
        let bottom = mmap.as_ptr() as usize + page;
        Ok(FiberStack { bottom, top: bottom + size, owner: StackOwner::Mapped(mmap) })
    }

    /// The stack of pool slot `slot`, whose usable bytes are `[bottom, top)`.
    pub(crate) fn pooled(slot: u32, bottom: usize, top: usize) -> FiberStack {
        FiberStack { bottom, top, owner: StackOwner::Pooled(slot) }
    }

    /// The lowest usable address.
    pub(crate) fn bottom(&self) -> usize {
        self.bottom
    }

    /// The address the stack starts from (exclusive end of its bytes).
    pub(crate) fn top(&self) -> usize {
        self.top
    }

    /// Where the stack goes back to.
    pub(crate) fn owner(&self) -> &StackOwner {
        &self.owner
    }
}

// SAFETY: `[bottom, top)` is readable and writable memory of at least a page
// owned by this value, with a guard page below `bottom` that faults; `top`
// and `bottom - page` are page-aligned, hence 16-byte aligned.
unsafe impl Stack for FiberStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("a stack's top is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom - rustix::param::page_size()).expect("not null")
    }
}

/// AddressSanitizer support for fuzzing builds (`cargo fuzz` sets
/// `--cfg fuzzing` and, by default, `-Zsanitizer=address`); in every other
/// build [`asan::unpoison`] is an empty function.
///
/// ASan keeps a shadow byte per 8 bytes of stack, poisoned while a frame's
/// local is out of scope and cleared when the frame returns. A fiber's
/// outermost frames never return (the coroutine switches away from them for
/// good), and a trap's jump skips frames, so their poison stays on a stack
/// that the pool then hands to the next fiber, whose first write there is
/// reported as a use after scope although the memory is fresh; the pool's
/// own zeroing of a returned stack is reported likewise, and an unmapped
/// stack's poison would fall on whatever is mapped there next. ASan only
/// clears this for thread stacks it knows; a fiber's stack is cleared here,
/// whole, when the fiber gives it back and again before a fiber starts on
/// it.
#[cfg(fuzzing)]
mod asan {
    /// Marks `[addr, addr + len)` as addressable again.
    #[cfg(sanitize = "address")]
    pub(super) fn unpoison(addr: usize, len: usize) {
        unsafe extern "C" {
            fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
        // SAFETY: ASan's runtime is linked in every build with this cfg; the
        // call changes only the shadow of memory this fiber now owns.
        unsafe { __asan_unpoison_memory_region(addr as *const u8, len) }
    }

    /// Without AddressSanitizer there is no shadow to clear.
    #[cfg(not(sanitize = "address"))]
    pub(super) fn unpoison(_addr: usize, _len: usize) {}
}

/// Outside fuzzing builds there is no shadow to clear (see the fuzzing
/// version's docs).
#[cfg(not(fuzzing))]
mod asan {
    /// Does nothing.
    #[inline(always)]
    pub(super) fn unpoison(_addr: usize, _len: usize) {}
}

/// What the poller passes to the fiber when it resumes it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Carry on.
    Go,
    /// The future was dropped: leave through the trap path.
    Cancel,
}

/// The fiber was resumed to be abandoned (its future was dropped), or a
/// suspension point was reached outside any fiber.
#[derive(Debug)]
pub(crate) struct Cancelled;

/// What code running on a fiber finds of it, through [`CURRENT`].
struct FiberState {
    /// The coroutine's yielder (set when it starts; it lives on the fiber).
    yielder: Cell<*const Yielder<Resume, ()>>,
    /// The `Context` of the poll in progress (null outside a poll).
    cx: Cell<*mut Context<'static>>,
    /// Set once the fiber is being abandoned: no suspension point suspends.
    cancelled: Cell<bool>,
    /// The fiber's trap context while it is suspended (the thread's while it
    /// runs).
    saved: Cell<StackContext>,
}

thread_local! {
    /// The fiber running on this thread now, null on the thread's own stack.
    static CURRENT: Cell<*const FiberState> = const { Cell::new(ptr::null()) };
}

/// Installs `state` as the running fiber and returns the previous one.
/// Never inlined (see `traps::swap_fiber_context`).
#[inline(never)]
fn swap_current(state: *const FiberState) -> *const FiberState {
    CURRENT.replace(state)
}

/// The running fiber, if any. Never inlined, for the same reason.
#[inline(never)]
fn current() -> Option<&'static FiberState> {
    // SAFETY: a non-null CURRENT is the state of the fiber running now,
    // boxed by its `Fiber`, which outlives every resume.
    unsafe { CURRENT.get().as_ref() }
}

/// Whether code runs on a fiber now (so it may suspend).
pub(crate) fn on_fiber() -> bool {
    current().is_some()
}

/// Runs `f` as if outside any fiber: for a synchronous call made from a host
/// function of a resumable call (into another store, whose call is not a
/// resumable one). Its suspension points then behave as outside a fiber
/// (epoch and fuel extend and carry on, async host functions trap) instead
/// of suspending the fiber under it while that store is not busy.
pub(crate) fn outside_fiber<R>(f: impl FnOnce() -> R) -> R {
    /// Reinstalls the fiber, also when `f` panics.
    struct Reinstall(*const FiberState);
    impl Drop for Reinstall {
        fn drop(&mut self) {
            swap_current(self.0);
        }
    }
    let _reinstall = Reinstall(swap_current(ptr::null()));
    f()
}

/// Suspends the running fiber until it is polled again.
fn suspend(state: &FiberState) -> Result<(), Cancelled> {
    if state.cancelled.get() {
        return Err(Cancelled);
    }
    // SAFETY: the yielder was set when the coroutine started and lives on
    // its stack, which is running (this is called on it).
    let yielder = unsafe { &*state.yielder.get() };
    match yielder.suspend(()) {
        Resume::Go => Ok(()),
        Resume::Cancel => Err(Cancelled),
    }
}

/// A suspension point that asks to be polled again at once: wakes the
/// poller's waker and suspends. Outside a fiber it does nothing; `Err` when
/// the fiber is being abandoned.
pub(crate) fn yield_now() -> Result<(), Cancelled> {
    let Some(state) = current() else { return Ok(()) };
    if state.cancelled.get() {
        return Err(Cancelled);
    }
    // SAFETY: a non-null context is the one of the poll running this fiber.
    if let Some(cx) = unsafe { state.cx.get().as_ref() } {
        cx.waker().wake_by_ref();
    }
    suspend(state)
}

/// Runs `future` to completion on the running fiber: polls it with the
/// poller's `Context` and suspends the fiber while it is pending. `Err` when
/// not on a fiber or when the fiber is being abandoned.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Cancelled> {
    let mut future = std::pin::pin!(future);
    loop {
        let state = current().ok_or(Cancelled)?;
        if state.cancelled.get() {
            return Err(Cancelled);
        }
        // SAFETY: the fiber runs only inside `FiberFuture::poll` (which sets
        // the context) or when abandoned (checked above).
        let cx = unsafe { state.cx.get().as_mut() }.ok_or(Cancelled)?;
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Ok(v);
        }
        suspend(state)?;
    }
}

/// A call running on its own stack, returning `R`.
pub(crate) struct Fiber<'a, R> {
    coroutine: Option<Coroutine<Resume, (), R, FiberStack>>,
    /// Boxed: code on the fiber reaches it through [`CURRENT`].
    state: Box<FiberState>,
    engine: Engine,
    /// The closure borrows for `'a`.
    _borrows: PhantomData<&'a mut ()>,
}

// SAFETY: what a suspended fiber holds is the closure's captures (`Send`, by
// the bound on `new`), our own runtime frames (store references, trap
// activations: raw pointers into the fiber's stack and the store, valid on
// any thread) and host futures (required to be `Send`). Every thread-local
// of the runtime that points into the fiber is swapped out when it
// suspends and reinstalled on whichever thread resumes it.
unsafe impl<R: Send> Send for Fiber<'_, R> {}

impl<'a, R> Fiber<'a, R> {
    /// A fiber that will run `f` on a stack from `engine`'s allocator (a
    /// `PoolExhausted` error when the pool has none left).
    pub(crate) fn new(engine: &Engine, f: impl FnOnce() -> R + Send + 'a) -> Result<Fiber<'a, R>> {
        let stack = engine.allocator().allocate_stack()?;
        asan::unpoison(stack.bottom(), stack.top() - stack.bottom());
        let state = Box::new(FiberState {
            yielder: Cell::new(ptr::null()),
            cx: Cell::new(ptr::null_mut()),
            cancelled: Cell::new(false),
            saved: Cell::new(StackContext::fresh_fiber(stack.bottom())),
        });
        let state_ptr: *const FiberState = &*state;
        let state_addr = state_ptr as usize;
        let body = move |yielder: &Yielder<Resume, ()>, _first: Resume| {
            // SAFETY: the state is boxed and outlives the coroutine.
            unsafe { &*(state_addr as *const FiberState) }.yielder.set(yielder);
            f()
        };
        // SAFETY: `Fiber` never lets the coroutine outlive `'a`: it is driven
        // to completion (or was never started) before `Fiber` is dropped,
        // and a leaked `Fiber` never runs it again.
        let coroutine = unsafe { Coroutine::with_stack_unchecked(stack, body) };
        Ok(Fiber {
            coroutine: Some(coroutine),
            state,
            engine: engine.clone(),
            _borrows: PhantomData,
        })
    }

    /// Switches to the fiber until it suspends (`None`) or returns.
    fn resume(&mut self, cx: *mut Context<'_>, input: Resume) -> Option<R> {
        let coroutine = self.coroutine.as_mut().expect("a finished fiber is not resumed");
        /// Puts the poller's context back, also when the fiber panicked.
        struct Restore<'s> {
            state: &'s FiberState,
            thread: StackContext,
            current: *const FiberState,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.state.saved.set(swap_fiber_context(self.thread));
                swap_current(self.current);
                self.state.cx.set(ptr::null_mut());
            }
        }
        let state: &FiberState = &self.state;
        state.cx.set(cx.cast());
        let restore = Restore {
            state,
            thread: swap_fiber_context(state.saved.get()),
            current: swap_current(state),
        };
        let result = coroutine.resume(input);
        drop(restore);
        match result {
            CoroutineResult::Yield(()) => None,
            CoroutineResult::Return(r) => {
                self.release();
                Some(r)
            }
        }
    }

    /// Returns the stack of a finished (or never started) coroutine.
    fn release(&mut self) {
        if let Some(coroutine) = self.coroutine.take() {
            debug_assert!(coroutine.done() || !coroutine.started());
            let stack = coroutine.into_stack();
            asan::unpoison(stack.bottom(), stack.top() - stack.bottom());
            self.engine.allocator().deallocate_stack(stack);
        }
    }
}

impl<R> Drop for Fiber<'_, R> {
    fn drop(&mut self) {
        let Some(coroutine) = self.coroutine.as_ref() else { return };
        if coroutine.started() && !coroutine.done() {
            // Abandoned while suspended: resume it with "cancel" until it
            // has left through the trap path (every suspension point fails
            // from now on, so this takes one resume unless host code insists).
            self.state.cancelled.set(true);
            while self.coroutine.is_some() {
                if let Some(r) = self.resume(ptr::null_mut(), Resume::Cancel) {
                    drop(r);
                }
            }
        }
        self.release();
    }
}

/// The future of a call on a [`Fiber`]: each poll runs the call until it
/// returns (`Ready`) or suspends (`Pending`). Dropping it unfinished
/// abandons the call (see [`Fiber`]'s `Drop`).
pub(crate) struct FiberFuture<'a, R> {
    fiber: Fiber<'a, R>,
}

impl<'a, R> FiberFuture<'a, R> {
    pub(crate) fn new(fiber: Fiber<'a, R>) -> FiberFuture<'a, R> {
        FiberFuture { fiber }
    }
}

impl<R> Future for FiberFuture<'_, R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // `FiberFuture` is `Unpin`: the fiber's state is boxed.
        let this = self.get_mut();
        if this.fiber.coroutine.is_none() {
            panic!("a finished call's future was polled again");
        }
        match this.fiber.resume(cx, Resume::Go) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// Runs `f` as a resumable call on `engine`: a future that completes with
/// `f`'s result. Requires `Config::async_support`.
pub(crate) fn run<'a, R: 'a>(
    engine: &Engine,
    f: impl FnOnce() -> Result<R> + Send + 'a,
) -> Result<FiberFuture<'a, Result<R>>> {
    if !engine.config().async_support {
        return Err(Error::invalid_argument(
            "resumable calls need async_support in the engine configuration",
        ));
    }
    Ok(FiberFuture::new(Fiber::new(engine, f)?))
}
