//! The memory pool: linear-memory slots in one slab (see `layout.rs`).
//!
//! Each slot remembers how many of its bytes are accessible and which
//! copy-on-write image, if any, is mapped at its start. Allocation makes the
//! slot look exactly like a fresh memory of the module: the module's image
//! mapped (kept from last time when the slot is affine to the module), and
//! precisely the minimum size accessible, with `mprotect` only when the size
//! differs from what the slot already has. Reset on drop finds the pages the
//! instance wrote (see `page_scan`), restores up to
//! `linear_memory_keep_resident` bytes of them by hand (zeros, or the image's
//! bytes) so they stay resident, and hands the rest back with `madvise`.
//! Without the scan, the first `linear_memory_keep_resident` bytes are
//! restored by hand and everything after them is decommitted. A slot whose state is unknown
//! (a failed system call) is repaved with a fresh mapping before reuse.

use super::decommit_queue::decommit;
use super::index_allocator::{IndexAllocator, SlotId};
use super::layout::Layout;
use super::page_scan::{PageScanner, restore_within_budget};
use crate::error::{Error, ErrorKind, Result};
use crate::module::image::MemoryImage;
use crate::runtime::memory::{LinearMemory, Mmap, make_accessible};
use crate::types::{MemoryType, WASM_PAGE_SIZE};
use parking_lot::Mutex;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};
use std::sync::Arc;

/// What a memory slot holds while unused.
#[derive(Default)]
struct SlotState {
    /// Bytes from the slot start that are readable and writable.
    accessible: usize,
    /// The image mapped at the slot start.
    image: Option<Arc<MemoryImage>>,
    /// A system call failed on this slot: repave before reuse.
    unknown: bool,
    /// Bytes kept resident since the last reset.
    resident: usize,
}

/// The pool of linear-memory slots.
pub(crate) struct MemoryPool {
    slab: Mmap,
    layout: Layout,
    pub(crate) index: IndexAllocator,
    slots: Box<[Mutex<SlotState>]>,
    keep_resident: usize,
    page: usize,
    scanner: Arc<PageScanner>,
}

// SAFETY: the slab pointer is only dereferenced for slots the caller owns
// (handed out by the index allocator), and slot state is behind mutexes.
unsafe impl Send for MemoryPool {}
// SAFETY: see `Send`.
unsafe impl Sync for MemoryPool {}

fn sys(what: &str, e: rustix::io::Errno) -> Error {
    Error::new(ErrorKind::Resource, format!("memory pool: {what} failed: {e}"))
}

/// The result of taking a memory slot.
pub(crate) struct TakenMemory {
    pub slot: SlotId,
    pub memory: LinearMemory,
    pub image_installed: bool,
    pub affinity_hit: bool,
    /// Whether the image had to be mapped (it was not there from last time).
    pub image_mapped: bool,
}

/// Restores `[off, off + n)` of a slot to its initial contents: the image's
/// bytes where the image covers it, zeros beyond.
///
/// # Safety
/// The range must be accessible in a slot nobody uses.
unsafe fn restore(base: *mut u8, image: &[u8], off: usize, n: usize) {
    let from_image = image.len().saturating_sub(off).min(n);
    // SAFETY: per the contract; `image[off..off + from_image]` is in bounds.
    unsafe {
        std::ptr::copy_nonoverlapping(
            image.as_ptr().add(off.min(image.len())),
            base.add(off),
            from_image,
        );
        std::ptr::write_bytes(base.add(off + from_image), 0, n - from_image);
    }
}

impl MemoryPool {
    pub(crate) fn new(
        layout: &Layout,
        keep_resident: usize,
        max_warm: u32,
        shards: usize,
        scanner: Arc<PageScanner>,
    ) -> Result<MemoryPool> {
        let page = rustix::param::page_size();
        let slab = Mmap::reserve(layout.memory_total)?;
        let n = layout.num_memories;
        Ok(MemoryPool {
            slab,
            layout: layout.clone(),
            index: IndexAllocator::new(n as u32, max_warm, shards),
            slots: (0..n).map(|_| Mutex::new(SlotState::default())).collect(),
            keep_resident: keep_resident.next_multiple_of(page),
            page,
            scanner,
        })
    }

    fn base(&self, slot: SlotId) -> *mut u8 {
        // SAFETY: slot offsets lie inside the slab (see `Layout`).
        unsafe { self.slab.as_ptr().add(self.layout.memory_slot(slot.0 as usize)) }
    }

    /// Takes a slot for defined memory `ty` of a module (`affinity` names the
    /// module and memory), with `image` mapped when given. `Ok(None)` when
    /// every slot is in use.
    pub(crate) fn allocate(
        &self,
        affinity: u64,
        ty: &MemoryType,
        image: Option<&Arc<MemoryImage>>,
    ) -> Result<Option<TakenMemory>> {
        let Some((slot, hit)) = self.index.alloc(Some(affinity)) else { return Ok(None) };
        let mut st = self.slots[slot.0 as usize].lock();
        match self.prepare(slot, &mut st, ty, image) {
            Ok(image_mapped) => {
                let base = self.base(slot);
                // SAFETY: the slot is ours until `deallocate`; its first
                // `accessible` bytes are readable and writable.
                let memory = unsafe {
                    LinearMemory::in_slot(base, self.layout.memory_capacity, st.accessible, ty)
                };
                let taken = TakenMemory {
                    slot,
                    memory,
                    image_installed: image.is_some(),
                    affinity_hit: hit,
                    image_mapped,
                };
                Ok(Some(taken))
            }
            Err(e) => {
                st.unknown = true;
                drop(st);
                self.index.free(slot, None);
                Err(e)
            }
        }
    }

    /// Makes the slot a fresh memory of type `ty` with `image`; returns
    /// whether the image had to be mapped.
    fn prepare(
        &self,
        slot: SlotId,
        st: &mut SlotState,
        ty: &MemoryType,
        image: Option<&Arc<MemoryImage>>,
    ) -> Result<bool> {
        let base = self.base(slot);
        if st.unknown {
            // SAFETY: the slot range belongs to the slab and to us; a fresh
            // inaccessible anonymous mapping replaces whatever was there.
            unsafe {
                rustix::mm::mmap_anonymous(
                    base.cast(),
                    self.layout.memory_slot_bytes,
                    ProtFlags::empty(),
                    MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
                )
            }
            .map_err(|e| sys("repaving a slot", e))?;
            *st = SlotState::default();
        }
        let same_image = match (&st.image, image) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        let mut mapped = false;
        if !same_image {
            if let Some(old) = st.image.take() {
                let len = old.len().max(st.accessible);
                // SAFETY: as above: drop the old image mapping for fresh
                // inaccessible anonymous memory.
                unsafe {
                    rustix::mm::mmap_anonymous(
                        base.cast(),
                        len,
                        ProtFlags::empty(),
                        MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
                    )
                }
                .map_err(|e| sys("unmapping an image", e))?;
                st.accessible = 0;
            }
            if let Some(img) = image {
                // SAFETY: the image fits the slot (it is at most the memory's
                // minimum size, checked at compile time against the slot).
                unsafe {
                    rustix::mm::mmap(
                        base.cast(),
                        img.len(),
                        ProtFlags::READ | ProtFlags::WRITE,
                        MapFlags::PRIVATE | MapFlags::FIXED,
                        img.fd(),
                        img.offset(),
                    )
                }
                .map_err(|e| sys("mapping an image", e))?;
                st.image = Some(img.clone());
                st.accessible = st.accessible.max(img.len());
                mapped = true;
            }
        }
        let min = (ty.min * WASM_PAGE_SIZE) as usize;
        if min > self.layout.memory_capacity {
            return Err(Error::new(
                ErrorKind::Limit,
                format!(
                    "memory minimum of {min} bytes exceeds the pooling allocator's max_memory_size of {} bytes",
                    self.layout.memory_capacity
                ),
            ));
        }
        if st.accessible < min {
            // SAFETY: `[accessible, min)` lies inside the slot.
            unsafe { make_accessible(base.add(st.accessible), min - st.accessible) }?;
        } else if st.accessible > min {
            // SAFETY: `[min, accessible)` lies inside the slot; nobody uses it.
            unsafe {
                rustix::mm::mprotect(
                    base.add(min).cast(),
                    st.accessible - min,
                    MprotectFlags::empty(),
                )
            }
            .map_err(|e| sys("shrinking a slot", e))?;
        }
        st.accessible = min;
        Ok(mapped)
    }

    /// Resets the slot of `memory` and returns the ranges to decommit and
    /// the bytes kept resident. `written` false means nothing can have
    /// written the memory (the module never stores to it and does not export
    /// it): its contents are still pristine and only its size is recorded.
    pub(crate) fn reset(
        &self,
        slot: SlotId,
        memory: &LinearMemory,
        written: bool,
    ) -> (Vec<(usize, usize)>, usize) {
        let mut st = self.slots[slot.0 as usize].lock();
        let base = self.base(slot);
        let len = memory.length();
        st.accessible = len;
        if !written {
            return (Vec::new(), st.resident);
        }
        if self.keep_resident == 0 {
            // Nothing is restored by hand: one madvise over the whole memory
            // (the kernel skips unpopulated pages quickly), no page scan.
            st.resident = 0;
            return (vec![(base as usize, len.next_multiple_of(self.page))], 0);
        }
        let image = st.image.as_deref().map_or(&[][..], |img| img.bytes());
        let mut written = Vec::new();
        if self.scanner.written(base as usize, len, &mut written).is_some() {
            // Only written pages differ from the initial contents. Restore
            // them by hand, up to the keep-resident budget (they stay
            // resident: no fault next time), and decommit the rest of them.
            let (decommit, kept) =
                restore_within_budget(&written, self.keep_resident, |addr, n| {
                    // SAFETY: the scan only reports pages inside `[base, base + len)`.
                    unsafe { restore(base, image, addr - base as usize, n) }
                });
            st.resident = kept;
            return (decommit, kept);
        }
        // No scan: restore the keep-resident prefix and decommit the rest.
        let keep = self.keep_resident.min(len);
        // SAFETY: `[0, keep)` is accessible in our slot.
        unsafe { restore(base, image, 0, keep) };
        st.resident = keep;
        let ranges = if len > keep {
            vec![(base as usize + keep, (len - keep).next_multiple_of(self.page))]
        } else {
            vec![]
        };
        (ranges, keep)
    }

    /// Decommits `ranges` of `slot`; on failure marks the slot for repaving.
    pub(crate) fn decommit(&self, slot: SlotId, ranges: &[(usize, usize)]) -> usize {
        let mut n = 0;
        for &(addr, len) in ranges {
            // SAFETY: the ranges come from `reset` of a slot nobody uses.
            if unsafe { decommit(addr, len) }.is_err() {
                self.slots[slot.0 as usize].lock().unknown = true;
            }
            n += 1;
        }
        n
    }
}
