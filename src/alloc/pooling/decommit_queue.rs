//! Batched decommits.
//!
//! Resetting a slot ends with `madvise(MADV_DONTNEED)` over the bytes that
//! were not kept resident. With `decommit_batch_size > 1` those ranges are
//! queued, together with the slots they belong to, and flushed together once
//! the batch is full (and always before the pool reports exhaustion). A
//! queued slot is not handed out again until its range has been decommitted.

use parking_lot::Mutex;

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
}

impl DecommitQueue {
    pub(crate) fn new(batch: usize) -> DecommitQueue {
        DecommitQueue { batch: batch.max(1), pending: Mutex::new(Vec::new()) }
    }

    /// Whether decommits are batched at all.
    pub(crate) fn batching(&self) -> bool {
        self.batch > 1
    }

    /// Queues a slot; returns the whole batch when it is full.
    pub(crate) fn push(&self, slot: PendingSlot) -> Option<Vec<PendingSlot>> {
        let mut pending = self.pending.lock();
        pending.push(slot);
        let ranges: usize = pending.iter().map(|p| p.ranges.len().max(1)).sum();
        (ranges >= self.batch).then(|| std::mem::take(&mut *pending))
    }

    /// Takes everything queued.
    pub(crate) fn take_all(&self) -> Vec<PendingSlot> {
        std::mem::take(&mut *self.pending.lock())
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
