//! The global registry of wasm code: which address ranges hold compiled wasm,
//! and for each, which instructions are trap sites.
//!
//! The signal handler asks it two questions on whatever thread faulted: "is
//! this PC a trap site in our code, and with which code?", and, while it walks
//! the stack, "is this return address in our code?". After the trap, the
//! frames' PCs are resolved to wasm functions and module offsets. Modules
//! answer through [`TrapLookup`], with the PC as an offset from the start of
//! their code, so the registry knows nothing about how a module stores its
//! trap table and address map.
//!
//! ```text
//!   REGISTRY: RwLock<BTreeMap<end, Entry { start, lookup }>>
//!
//!   ───────┬──────────────┬─────────┬──────────────┬──────────►  addresses
//!          │ module A     │         │ module B     │
//!        start_A        end_A     start_B        end_B
//!
//!   looking up pc: the first entry whose end is above pc; ours if start <= pc,
//!   and then a trap site if the entry's lookup says so
//! ```
//!
//! # Locking in a signal handler
//!
//! Registering and unregistering take the write lock; the handler takes the
//! read lock. `std::sync::RwLock` is used rather than `parking_lot` because
//! taking and releasing it never allocates nor touches thread-locals (on
//! Linux it is an atomic word and, when contended, the `futex` syscall);
//! parking_lot's slow paths lazily allocate per-thread parking data.
//!
//! The handler does not give up when the lock is busy: a trap that coincides
//! with another thread loading or dropping a module is still a trap, and
//! treating it as "not ours" would crash the process. So it retries
//! `try_read`, yielding the CPU between attempts, until the writer is done
//! (writers only insert into or remove from the map). That could spin forever
//! in one case only: this very thread holds or waits for the lock and the
//! signal interrupted it there. Every holder therefore marks the thread
//! ([`HOLDING`]) before it takes the lock, and the handler answers "not ours"
//! on a marked thread. That answer is right: a thread inside the registry is
//! running Rust, not wasm, so its fault cannot be a wasm trap.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::{Arc, PoisonError, RwLock, TryLockError};

use crate::trap::{FrameInfo, TrapCode};

/// A module's answer to "which trap, if any, does the instruction at this
/// offset of the code raise?".
///
/// The signal handler calls [`TrapLookup::trap_code`], so it must be
/// async-signal-safe: no allocation, no locks, no panics (a binary search over
/// a sorted table is the intended implementation).
pub(crate) trait TrapLookup: Send + Sync {
    /// The trap code of the trap site at `pc_offset` bytes from the start of
    /// the registered range, or `None` when that instruction is no trap site.
    fn trap_code(&self, pc_offset: usize) -> Option<TrapCode>;

    /// The wasm frame of the instruction at `pc_offset`: its function (from
    /// the address map), the module offset of the operator it was compiled
    /// from, and the names. `None` for code that is no wasm function
    /// (trampolines, host stubs). Never called from the signal handler.
    fn frame_info(&self, _pc_offset: usize) -> Option<FrameInfo> {
        None
    }
}

struct Entry {
    start: usize,
    lookup: Arc<dyn TrapLookup>,
}

/// Registered ranges keyed by their (exclusive) end address.
static REGISTRY: RwLock<BTreeMap<usize, Entry>> = RwLock::new(BTreeMap::new());

thread_local! {
    /// Whether this thread holds, or waits for, the [`REGISTRY`] lock. Const
    /// initialized and without destructor, so the handler can read it.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the thread as holding the registry lock while it lives; create it
/// before taking the lock and drop it after releasing it.
struct Holding {
    previous: bool,
}

impl Holding {
    fn enter() -> Holding {
        Holding { previous: HOLDING.replace(true) }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        HOLDING.set(self.previous);
    }
}

/// Registers `len` bytes of wasm code at `start`, whose trap sites `lookup`
/// knows. The range stays registered until the returned value is dropped,
/// which must happen before the code is unmapped.
///
/// Panics when `len` is 0 or the range overlaps one already registered.
pub(crate) fn register_code(
    start: usize,
    len: usize,
    lookup: Arc<dyn TrapLookup>,
) -> CodeRegistration {
    assert!(len > 0, "registering an empty code range");
    let end = start.checked_add(len).expect("code range wraps around the address space");
    let _holding = Holding::enter();
    let mut map = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    if let Some((&other_end, other)) = map.range((Excluded(start), Unbounded)).next() {
        assert!(
            other.start >= end,
            "code range {start:#x}..{end:#x} overlaps the registered {:#x}..{other_end:#x}",
            other.start
        );
    }
    map.insert(end, Entry { start, lookup });
    CodeRegistration { end }
}

/// A registered code range; dropping it unregisters the range.
#[must_use = "dropping the registration unregisters the code at once"]
#[derive(Debug)]
pub(crate) struct CodeRegistration {
    end: usize,
}

impl Drop for CodeRegistration {
    fn drop(&mut self) {
        let entry = {
            let _holding = Holding::enter();
            let mut map = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
            map.remove(&self.end)
        };
        // The lookup (possibly the last reference to a module's trap table)
        // is freed here, outside the lock.
        drop(entry);
    }
}

/// The registered ranges, as a reader sees them.
pub(super) struct Registry<'a>(&'a BTreeMap<usize, Entry>);

impl Registry<'_> {
    /// The entry whose range holds `pc`, and `pc`'s offset in it.
    fn entry(&self, pc: usize) -> Option<(&Entry, usize)> {
        let (_, entry) = self.0.range((Excluded(pc), Unbounded)).next()?;
        Some((entry, pc.checked_sub(entry.start)?))
    }

    /// Whether `pc` lies in registered code. Async-signal-safe.
    pub(super) fn contains(&self, pc: usize) -> bool {
        self.entry(pc).is_some()
    }

    /// The trap code of `pc` when it is a trap site in registered code.
    /// Async-signal-safe.
    pub(super) fn trap_code(&self, pc: usize) -> Option<TrapCode> {
        let (entry, offset) = self.entry(pc)?;
        entry.lookup.trap_code(offset)
    }

    /// The wasm frame of the instruction at `pc`, if it lies in a wasm
    /// function of registered code. Not for the signal handler.
    pub(super) fn frame_info(&self, pc: usize) -> Option<FrameInfo> {
        let (entry, offset) = self.entry(pc)?;
        entry.lookup.frame_info(offset)
    }
}

/// Runs `f` on the registry from the signal handler. Async-signal-safe: it
/// allocates nothing, and it answers `None` without touching the lock when
/// this thread already holds it (see the module docs). While another thread
/// writes, it waits for it.
pub(super) fn in_handler<R>(f: impl FnOnce(&Registry<'_>) -> R) -> Option<R> {
    if HOLDING.get() {
        return None;
    }
    let _holding = Holding::enter();
    let map = loop {
        match REGISTRY.try_read() {
            Ok(map) => break map,
            Err(TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                // SAFETY: sched_yield has no preconditions and is
                // async-signal-safe.
                unsafe { libc::sched_yield() };
            }
        }
    };
    Some(f(&Registry(&map)))
}

/// Runs `f` on the registry, outside the signal handler (it blocks on the
/// lock).
pub(super) fn read<R>(f: impl FnOnce(&Registry<'_>) -> R) -> R {
    let _holding = Holding::enter();
    let map = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    f(&Registry(&map))
}

/// The trap code of `pc` when it is a trap site in registered code, as the
/// signal handler sees it.
#[cfg(test)]
fn lookup_pc(pc: usize) -> Option<TrapCode> {
    in_handler(|registry| registry.trap_code(pc)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trap sites at offsets 0 and 8.
    struct TwoSites;

    impl TrapLookup for TwoSites {
        fn trap_code(&self, pc_offset: usize) -> Option<TrapCode> {
            match pc_offset {
                0 => Some(TrapCode::Unreachable),
                8 => Some(TrapCode::MemoryOutOfBounds),
                _ => None,
            }
        }
    }

    /// Addresses no other test registers: the bytes of a static of the test's
    /// own (each test fills its static differently, so none are merged).
    fn private_range<const N: usize>(bytes: &'static [u8; N]) -> (usize, usize) {
        (bytes.as_ptr() as usize, N)
    }

    #[test]
    fn lookup_finds_trap_sites_of_registered_code_only() {
        static CODE: [u8; 16] = [1; 16];
        let (start, len) = private_range(&CODE);
        assert_eq!(lookup_pc(start), None);

        let registration = register_code(start, len, Arc::new(TwoSites));
        assert_eq!(lookup_pc(start), Some(TrapCode::Unreachable));
        assert_eq!(lookup_pc(start + 8), Some(TrapCode::MemoryOutOfBounds));
        assert_eq!(lookup_pc(start + 4), None, "no trap site there");
        assert_eq!(lookup_pc(start - 1), None, "below the range");
        assert_eq!(lookup_pc(start + len), None, "the end is exclusive");

        drop(registration);
        assert_eq!(lookup_pc(start), None, "unregistered on drop");
    }

    #[test]
    fn adjacent_ranges_are_told_apart() {
        static CODE: [u8; 32] = [2; 32];
        let (start, _) = private_range(&CODE);
        let _low = register_code(start, 16, Arc::new(TwoSites));
        let _high = register_code(start + 16, 16, Arc::new(TwoSites));
        assert_eq!(lookup_pc(start + 8), Some(TrapCode::MemoryOutOfBounds));
        assert_eq!(lookup_pc(start + 16), Some(TrapCode::Unreachable));
        assert_eq!(lookup_pc(start + 24), Some(TrapCode::MemoryOutOfBounds));
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_ranges_are_refused() {
        static CODE: [u8; 32] = [3; 32];
        let (start, _) = private_range(&CODE);
        let _first = register_code(start + 8, 16, Arc::new(TwoSites));
        let _second = register_code(start, 9, Arc::new(TwoSites));
    }

    #[test]
    fn a_thread_holding_the_lock_gets_no_answer() {
        static CODE: [u8; 16] = [4; 16];
        let (start, len) = private_range(&CODE);
        let _registration = register_code(start, len, Arc::new(TwoSites));
        let holding = Holding::enter();
        assert_eq!(lookup_pc(start), None);
        drop(holding);
        assert_eq!(lookup_pc(start), Some(TrapCode::Unreachable));
    }
}
