//! The table pool and the instance pool: plain slabs of page-rounded slots,
//! mapped readable and writable once (untouched pages cost nothing).
//!
//! A table slot is all zero (null, or not yet materialized) whenever it is
//! unused: reset zeroes up to `table_keep_resident` bytes of the pages the
//! table's user wrote by hand and decommits the rest of them. A table
//! written only by lazy materialization knows which elements it wrote, and
//! only those bytes are zeroed. An instance slot holds one VMContext; nothing is cleared on
//! return, because instantiation copies the module's whole VMContext
//! template over the slot, so nothing crosses to the next instance.

use super::decommit_queue::decommit;
use super::index_allocator::{IndexAllocator, SlotId};
use super::page_scan::{PageScanner, restore_within_budget};
use crate::error::Result;
use crate::runtime::memory::{Mmap, make_accessible};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A slab of equal slots, readable and writable.
pub(crate) struct SlotSlab {
    slab: Mmap,
    slot_bytes: usize,
    pub(crate) index: IndexAllocator,
    keep_resident: usize,
    page: usize,
    scanner: Arc<PageScanner>,
    /// Per slot, the span of pages zeroed by hand by `reset_span` and still
    /// resident, packed as `first_page << 32 | end_page` (0 when none).
    hand_zeroed: Box<[AtomicU64]>,
}

// SAFETY: the slab is only written through slots the index allocator handed
// out, each to one owner at a time.
unsafe impl Send for SlotSlab {}
// SAFETY: see `Send`.
unsafe impl Sync for SlotSlab {}

impl SlotSlab {
    pub(crate) fn new(
        slots: usize,
        slot_bytes: usize,
        keep_resident: usize,
        max_warm: u32,
        shards: usize,
        scanner: Arc<PageScanner>,
    ) -> Result<SlotSlab> {
        let page = rustix::param::page_size();
        let total = slots * slot_bytes;
        let slab = Mmap::reserve(total)?;
        // SAFETY: the whole range is the slab we just reserved.
        unsafe { make_accessible(slab.as_ptr(), total) }?;
        Ok(SlotSlab {
            slab,
            slot_bytes,
            index: IndexAllocator::new(slots as u32, max_warm, shards),
            keep_resident: keep_resident.next_multiple_of(page),
            page,
            scanner,
            hand_zeroed: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Start of slot `slot`.
    pub(crate) fn base(&self, slot: SlotId) -> *mut u8 {
        // SAFETY: `slot < slots`, so the offset lies inside the slab.
        unsafe { self.slab.as_ptr().add(slot.0 as usize * self.slot_bytes) }
    }

    /// Bytes in one slot.
    pub(crate) fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// Zeroes the first `used` bytes of `slot`: by hand up to the
    /// keep-resident size, the rest returned as ranges to decommit. Returns
    /// the ranges and the bytes kept resident.
    pub(crate) fn reset(&self, slot: SlotId, used: usize) -> (Vec<(usize, usize)>, usize) {
        // What `reset_span` zeroed by hand is either restored again below or
        // decommitted with the rest.
        self.hand_zeroed[slot.0 as usize].store(0, Ordering::Relaxed);
        let base = self.base(slot);
        let end = used.next_multiple_of(self.page).min(self.slot_bytes);
        let mut written = Vec::new();
        if self.scanner.written(base as usize, end, &mut written).is_some() {
            return restore_within_budget(&written, self.keep_resident, |addr, n| {
                // SAFETY: the scan only reports pages of our slot, which
                // nobody uses any more.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, n) }
            });
        }
        let keep = self.keep_resident.min(end);
        // SAFETY: `[0, keep)` lies in our slot, which nobody uses any more.
        unsafe { std::ptr::write_bytes(base, 0, keep) };
        let ranges = if end > keep { vec![(base as usize + keep, end - keep)] } else { vec![] };
        (ranges, keep)
    }

    /// Zeroes the bytes `span` of `slot`, the only ones its user wrote (a
    /// table written only by lazy materialization knows them). Those bytes
    /// are zeroed by hand while the pages zeroed by hand so far fit the
    /// keep-resident size; otherwise all of them are returned to decommit.
    /// Returns the ranges to decommit and the bytes kept resident.
    pub(crate) fn reset_span(
        &self,
        slot: SlotId,
        span: Range<usize>,
    ) -> (Vec<(usize, usize)>, usize) {
        let base = self.base(slot) as usize;
        let cell = &self.hand_zeroed[slot.0 as usize];
        let packed = cell.load(Ordering::Relaxed);
        let (mut first, mut end) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        let span = span.start.min(self.slot_bytes)..span.end.min(self.slot_bytes);
        if !span.is_empty() {
            let (lo, hi) = (span.start / self.page, span.end.div_ceil(self.page));
            (first, end) = if first == end { (lo, hi) } else { (first.min(lo), end.max(hi)) };
        }
        let resident = (end - first) * self.page;
        if resident <= self.keep_resident {
            // SAFETY: `span` lies in our slot, which nobody uses any more.
            unsafe { std::ptr::write_bytes((base + span.start) as *mut u8, 0, span.len()) };
            cell.store(((first as u64) << 32) | end as u64, Ordering::Relaxed);
            (Vec::new(), resident)
        } else {
            cell.store(0, Ordering::Relaxed);
            (vec![(base + first * self.page, resident)], 0)
        }
    }

    /// Decommits `ranges`; returns how many calls were made.
    pub(crate) fn decommit(&self, ranges: &[(usize, usize)]) -> usize {
        for &(addr, len) in ranges {
            // SAFETY: the ranges come from `reset` of a slot nobody uses. A
            // failure leaves the pages as they were: still zero up to `keep`
            // and untouched by the next user until written, so fall back to
            // zeroing by hand.
            if unsafe { decommit(addr, len) }.is_err() {
                // SAFETY: as above.
                unsafe { std::ptr::write_bytes(addr as *mut u8, 0, len) };
            }
        }
        ranges.len()
    }
}
