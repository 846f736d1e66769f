//! The stack pool: the stacks of resumable calls, one slot each.
//!
//! Reserved only for engines with `Config::async_support`: `total_stacks`
//! slots of a guard page and `async_stack_size` bytes (see [`layout`]),
//! the stacks made readable and writable once, the guard pages never.
//!
//! ```text
//!   slot i:  ┌────────────┬─────────────────────────────────────────┐
//!            │ guard page │ stack: bottom ........ used part ◄── top│
//!            └────────────┴─────────────────────────────────────────┘
//!                                              └ keep-resident ┘ (the top
//!                                                bytes, where every call starts)
//! ```
//!
//! A stack grows down, so what a call used is at the top of its slot. On
//! return, with `async_stack_zeroing`, the written pages within the top
//! `async_stack_keep_resident` bytes are zeroed by hand (found with one
//! `PAGEMAP_SCAN`, see [`page_scan`]; all of those bytes where the scan is
//! unavailable) and stay resident, and the rest of the stack is decommitted
//! with one `madvise`, so the next call finds nothing of the previous one.
//! Without zeroing a stack is reused as it is (a call only reads stack bytes
//! it wrote itself), and its resident bytes are counted by the same scan at
//! its first return and every [`RECOUNT_EVERY`]th after (a scan of a whole
//! stack costs about a microsecond, as much as the rest of a resumable call;
//! in between the metric keeps the last count).
//!
//! Slots are chosen most recently freed first, so a few stacks stay warm
//! under a steady load. A full pool is `PoolExhausted` naming `total_stacks`.
//!
//! [`layout`]: super::layout
//! [`page_scan`]: super::page_scan

use super::decommit_queue::decommit;
use super::index_allocator::{IndexAllocator, SlotId};
use super::layout::Layout;
use super::page_scan::PageScanner;
use crate::error::Result;
use crate::runtime::fiber::{FiberStack, StackOwner};
use crate::runtime::memory::{Mmap, make_accessible};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Every stack shares one "module" key: the index allocator then hands out
/// the most recently freed stack first.
const STACK_AFFINITY: u64 = u64::MAX;

/// Without zeroing, a stack's resident bytes are counted again at every
/// this many returns.
const RECOUNT_EVERY: u32 = 64;

/// A slab of stack slots.
pub(crate) struct StackPool {
    slab: Mmap,
    slot_bytes: usize,
    stack_bytes: usize,
    pub(crate) index: IndexAllocator,
    zeroing: bool,
    keep_resident: usize,
    page: usize,
    scanner: Arc<PageScanner>,
    /// Per slot without zeroing: returns so far and the last count of its
    /// resident bytes.
    returns: Box<[(AtomicU32, AtomicUsize)]>,
}

// SAFETY: the slab is only written through stacks the index allocator handed
// out, each to one fiber at a time.
unsafe impl Send for StackPool {}
// SAFETY: see `Send`.
unsafe impl Sync for StackPool {}

/// What returning a stack did.
pub(crate) struct Returned {
    /// Bytes of the stack still resident.
    pub resident: usize,
    /// `madvise` calls made.
    pub decommits: usize,
}

impl StackPool {
    /// Reserves the slab of `layout` and makes every stack (not its guard
    /// page) accessible.
    pub(crate) fn new(
        layout: &Layout,
        zeroing: bool,
        keep_resident: usize,
        shards: usize,
        scanner: Arc<PageScanner>,
    ) -> Result<StackPool> {
        let page = rustix::param::page_size();
        let slab = Mmap::reserve(layout.stack_total)?;
        for i in 0..layout.num_stacks {
            // SAFETY: slot `i`'s stack, above its guard page, lies in the
            // slab we just reserved.
            unsafe {
                make_accessible(
                    slab.as_ptr().add(i * layout.stack_slot_bytes + page),
                    layout.stack_bytes,
                )
            }?;
        }
        Ok(StackPool {
            slab,
            slot_bytes: layout.stack_slot_bytes,
            stack_bytes: layout.stack_bytes,
            index: IndexAllocator::new(layout.num_stacks as u32, u32::MAX, shards),
            zeroing,
            keep_resident: keep_resident.next_multiple_of(page).min(layout.stack_bytes),
            page,
            scanner,
            returns: (0..layout.num_stacks)
                .map(|_| (AtomicU32::new(0), AtomicUsize::new(0)))
                .collect(),
        })
    }

    /// A free stack, or `None` when every slot is in use.
    pub(crate) fn allocate(&self) -> Option<FiberStack> {
        let (slot, _) = self.index.alloc(Some(STACK_AFFINITY))?;
        let bottom = self.slab.as_ptr() as usize + slot.0 as usize * self.slot_bytes + self.page;
        Some(FiberStack::pooled(slot.0, bottom, bottom + self.stack_bytes))
    }

    /// Prepares a stack of this pool whose fiber has finished for its next
    /// user (see the module docs); [`StackPool::free`] then returns it.
    pub(crate) fn recycle(&self, stack: &FiberStack) -> Returned {
        let (bottom, top) = (stack.bottom(), stack.top());
        if self.zeroing {
            return self.reset(bottom, top);
        }
        let StackOwner::Pooled(slot) = *stack.owner() else {
            unreachable!("the pool only recycles its own stacks")
        };
        let (returns, last) = &self.returns[slot as usize];
        if returns.fetch_add(1, Ordering::Relaxed).is_multiple_of(RECOUNT_EVERY) {
            last.store(self.count(bottom, top), Ordering::Relaxed);
        }
        Returned { resident: last.load(Ordering::Relaxed), decommits: 0 }
    }

    /// Returns the recycled stack of slot `slot`.
    pub(crate) fn free(&self, slot: u32) {
        self.index.free(SlotId(slot), Some(STACK_AFFINITY));
    }

    /// Zeroes the written pages of the keep-resident top by hand and
    /// decommits everything below it.
    fn reset(&self, bottom: usize, top: usize) -> Returned {
        let keep_start = top - self.keep_resident;
        let mut written = Vec::new();
        let resident = if self.keep_resident == 0 {
            0
        } else if self.scanner.written(keep_start, self.keep_resident, &mut written).is_some() {
            for &(addr, len) in &written {
                // SAFETY: pages of our stack, whose fiber has finished.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, len) };
            }
            written.iter().map(|&(_, len)| len).sum()
        } else {
            // SAFETY: the keep-resident top of our finished stack.
            unsafe { std::ptr::write_bytes(keep_start as *mut u8, 0, self.keep_resident) };
            self.keep_resident
        };
        let mut decommits = 0;
        if keep_start > bottom {
            decommits = 1;
            // SAFETY: the rest of our finished stack, page-aligned. On
            // failure the pages stay as they were: zero them by hand.
            if unsafe { decommit(bottom, keep_start - bottom) }.is_err() {
                // SAFETY: as above.
                unsafe { std::ptr::write_bytes(bottom as *mut u8, 0, keep_start - bottom) };
            }
        }
        Returned { resident, decommits }
    }

    /// Counts the resident bytes of a stack left as it is (the whole stack
    /// where the scan is unavailable: an upper bound).
    fn count(&self, bottom: usize, top: usize) -> usize {
        let mut written = Vec::new();
        match self.scanner.written(bottom, top - bottom, &mut written) {
            Some(()) => written.iter().map(|&(_, len)| len).sum(),
            None => top - bottom,
        }
    }
}
