//! Batched decommits.
//!
//! Resetting a slot ends with `madvise(MADV_DONTNEED)` over the bytes that
//! were not kept resident. With `decommit_batch_size > 1` those ranges are
//! queued, together with the slots they belong to, and flushed together once
//! the batch is full (and always before the pool reports exhaustion). A
//! queued slot is not handed out again until its range has been decommitted.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which pool a queued slot goes back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Memory,
    Table,
}

/// A slot waiting for its decommit: (kind, slot, affinity, ranges).
pub(crate) struct PendingSlot {
    pub kind: SlotKind,
    pub slot: u32,
    pub affinity: Option<u64>,
    pub ranges: Vec<(usize, usize)>,
}

/// The queue of slots awaiting decommit.
pub(crate) struct DecommitQueue {
    batch: usize,
    pending: Mutex<Vec<PendingSlot>>,
    /// Batches taken out of the queue whose slots are not back in their
    /// pools yet (being decommitted by some thread). Counted under the
    /// queue's lock when taken, decremented by [`DecommitQueue::done`].
    in_flight: AtomicUsize,
}

impl DecommitQueue {
    pub(crate) fn new(batch: usize) -> DecommitQueue {
        DecommitQueue {
            batch: batch.max(1),
            pending: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Whether decommits are batched at all.
    pub(crate) fn batching(&self) -> bool {
        self.batch > 1
    }

    /// Queues a slot; returns the whole batch when it is full. The caller
    /// must return the batch's slots to their pools, then call
    /// [`DecommitQueue::done`].
    pub(crate) fn push(&self, slot: PendingSlot) -> Option<Vec<PendingSlot>> {
        let mut pending = self.pending.lock();
        pending.push(slot);
        let ranges: usize = pending.iter().map(|p| p.ranges.len().max(1)).sum();
        (ranges >= self.batch).then(|| self.take_locked(&mut pending))
    }

    /// Takes everything queued; as for [`DecommitQueue::push`], the caller
    /// then returns the slots and calls [`DecommitQueue::done`].
    pub(crate) fn take_all(&self) -> Vec<PendingSlot> {
        self.take_locked(&mut self.pending.lock())
    }

    fn take_locked(&self, pending: &mut Vec<PendingSlot>) -> Vec<PendingSlot> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        std::mem::take(pending)
    }

    /// A batch taken with `push` or `take_all` is back in its pools.
    pub(crate) fn done(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether some thread is decommitting a batch it took from the queue:
    /// its slots are free as far as their last users know, but not yet
    /// allocatable.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }
}

/// Returns the pages of `[addr, addr + len)` to the kernel: anonymous memory
/// reads back as zeros, a private file mapping as the file's contents.
///
/// # Safety
/// The range must be page-aligned, inside a mapping owned by the caller, and
/// not in use by anyone.
pub(crate) unsafe fn decommit(addr: usize, len: usize) -> rustix::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: per the contract the range is ours and unused.
    unsafe { rustix::mm::madvise(addr as *mut _, len, rustix::mm::Advice::LinuxDontNeed) }
}

/// The single range covering every range of `ranges` (sorted by address).
pub(crate) fn span(ranges: &[(usize, usize)]) -> Vec<(usize, usize)> {
    match (ranges.first(), ranges.last()) {
        (Some(&(start, _)), Some(&(last, len))) => vec![(start, last + len - start)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(n: u32) -> PendingSlot {
        PendingSlot { kind: SlotKind::Memory, slot: n, affinity: None, ranges: vec![(0, 4096)] }
    }

    #[test]
    fn a_taken_batch_is_in_flight_until_done() {
        let q = DecommitQueue::new(2);
        assert!(q.push(slot(0)).is_none());
        assert!(!q.in_flight());
        let batch = q.push(slot(1)).expect("a full batch");
        assert_eq!(batch.len(), 2);
        // Another thread flushing now finds the queue empty, but must know
        // that slots are on their way back.
        assert!(q.take_all().is_empty());
        q.done();
        assert!(q.in_flight(), "the first batch is still being decommitted");
        q.done();
        assert!(!q.in_flight());
    }
}
