//! Linear memories.
//!
//! A memory is a reservation of address space: an optional guard region, the
//! accessible bytes followed by inaccessible bytes up to the reservation, and
//! a guard region after it:
//!
//! ```text
//!   ┌───────────┬──────────────────┬─────────────────────────┬───────────┐
//!   │ pre-guard │ accessible (rw)  │ reserved (PROT_NONE)    │  guard    │
//!   └───────────┴──────────────────┴─────────────────────────┴───────────┘
//!               ^ base             ^ base + current_length
//! ```
//!
//! Growing within the reservation is an `mprotect`; a memory never moves
//! unless its maximum exceeds the reservation (then growth past the
//! reservation maps a larger one and copies, and compiled code reloads the
//! base, see `HeapStyle`). Every memory keeps a pointer to the
//! `VMMemoryDefinition` compiled code reads and updates it when it changes.

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::module::image::MemoryImage;
use crate::runtime::vmcontext::VMMemoryDefinition;
use crate::types::{MemoryType, WASM_PAGE_SIZE, WASM32_MAX_PAGES};
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// An anonymous mapping owned by a memory.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    /// Reserves `len` bytes of inaccessible address space.
    pub(crate) fn reserve(len: usize) -> Result<Mmap> {
        if len == 0 {
            return Ok(Mmap { ptr: std::ptr::null_mut(), len: 0 });
        }
        // SAFETY: a fresh private anonymous PROT_NONE mapping aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::Resource,
                format!("failed to reserve {len} bytes of address space: {e}"),
            )
        })?;
        Ok(Mmap { ptr: ptr.cast(), len })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping is ours and nothing references it any more.
            let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
        }
    }
}

/// Makes `[ptr, ptr + len)` readable and writable.
///
/// # Safety
/// The range must lie inside a mapping owned by the caller.
pub(crate) unsafe fn make_accessible(ptr: *mut u8, len: usize) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: per the contract the range belongs to the caller's mapping.
    unsafe { rustix::mm::mprotect(ptr.cast(), len, MprotectFlags::READ | MprotectFlags::WRITE) }
        .map_err(|e| {
            Error::new(
                ErrorKind::Resource,
                format!("mprotect of {len} bytes of linear memory failed: {e}"),
            )
        })
}

/// A linear memory and the definition compiled code sees.
#[derive(Debug)]
pub(crate) struct LinearMemory {
    /// The mapping, when the memory owns one (on-demand); `None` for a memory
    /// living in a pool slot, which never moves.
    mmap: Option<Mmap>,
    base: *mut u8,
    pre_guard: usize,
    guard: usize,
    /// Bytes usable without moving.
    reservation: usize,
    /// Accessible bytes.
    length: usize,
    /// The most bytes growth may reach: the wasm maximum, capped by the
    /// pool slot's capacity.
    max_bytes: usize,
    /// The maximum in pages the memory type declares (what `ty` reports,
    /// whatever caps growth).
    declared_max: Option<u64>,
    /// Where compiled code reads base and length; kept in sync.
    definition: *mut VMMemoryDefinition,
}

/// The largest byte size a memory of type `ty` may reach.
pub(crate) fn max_bytes(ty: &MemoryType) -> u64 {
    ty.max.unwrap_or(WASM32_MAX_PAGES).min(WASM32_MAX_PAGES) * WASM_PAGE_SIZE
}

impl LinearMemory {
    /// Allocates a memory of type `ty` laid out as `config` says. The
    /// definition pointer must be set with [`LinearMemory::bind`] before use.
    pub(crate) fn new(ty: &MemoryType, config: &Config) -> Result<LinearMemory> {
        if ty.min > WASM32_MAX_PAGES {
            return Err(Error::invalid_argument(format!(
                "a 32-bit memory has at most {WASM32_MAX_PAGES} pages, not {}",
                ty.min
            )));
        }
        let min = ty.min * WASM_PAGE_SIZE;
        let max = max_bytes(ty);
        let reservation = config.memory_reservation.max(min);
        let pre_guard =
            if config.guard_before_linear_memory { config.memory_guard_size as usize } else { 0 };
        let guard = config.memory_guard_size as usize;
        let page = rustix::param::page_size();
        let reservation = (reservation as usize).next_multiple_of(page);
        let total = pre_guard
            .checked_add(reservation)
            .and_then(|n| n.checked_add(guard))
            .ok_or_else(|| {
                Error::new(ErrorKind::Resource, "memory reservation overflows the address space")
            })?;
        let mmap = Mmap::reserve(total)?;
        // SAFETY: `pre_guard` lies inside the new mapping.
        let base = unsafe { mmap.as_ptr().add(pre_guard) };
        let mut memory = LinearMemory {
            mmap: Some(mmap),
            base,
            pre_guard,
            guard,
            reservation,
            length: 0,
            max_bytes: max as usize,
            declared_max: ty.max,
            definition: std::ptr::null_mut(),
        };
        memory.set_length(min as usize)?;
        Ok(memory)
    }

    /// A memory of type `ty` in a pool slot at `base` with room for
    /// `capacity` bytes, whose first `length` bytes are already accessible.
    ///
    /// # Safety
    /// `[base, base + capacity)` must be a slot the caller owns for the
    /// lifetime of the memory, accessible up to `length`.
    pub(crate) unsafe fn in_slot(
        base: *mut u8,
        capacity: usize,
        length: usize,
        ty: &MemoryType,
    ) -> LinearMemory {
        LinearMemory {
            mmap: None,
            base,
            pre_guard: 0,
            guard: 0,
            reservation: capacity,
            length,
            max_bytes: (max_bytes(ty) as usize).min(capacity),
            declared_max: ty.max,
            definition: std::ptr::null_mut(),
        }
    }

    /// Maps `image` copy-on-write over the start of a memory that owns its
    /// mapping (on-demand), so its data segments need no copying: reads
    /// share the image's pages, writes get private copies.
    pub(crate) fn map_image(&mut self, image: &MemoryImage) -> Result<()> {
        if self.mmap.is_none() || image.len() > self.length {
            return Err(Error::internal(
                "an image maps only over the accessible part of an owned memory",
            ));
        }
        // SAFETY: `[base, base + image.len())` lies in the accessible part
        // of this memory's own mapping (checked above), which nothing else
        // references yet; MAP_FIXED replaces those pages with a private
        // mapping of the image file (a sealed memfd or a precompiled module
        // file, neither ever written), readable and writable as before.
        unsafe {
            rustix::mm::mmap(
                self.base.cast(),
                image.len(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::FIXED,
                image.fd(),
                image.offset(),
            )
        }
        .map_err(|e| {
            Error::new(ErrorKind::Resource, format!("mapping a memory image failed: {e}"))
        })?;
        Ok(())
    }

    /// Start of the accessible bytes.
    pub(crate) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Accessible bytes.
    pub(crate) fn length(&self) -> usize {
        self.length
    }

    /// The maximum size in pages the memory type declares: the same under
    /// every allocation strategy (a pool slot's capacity limits growth, it
    /// does not change the type).
    pub(crate) fn max_pages(&self) -> Option<u64> {
        self.declared_max
    }

    /// Connects the memory to the definition compiled code reads, and fills it.
    ///
    /// # Safety
    /// `definition` must stay valid for as long as this memory is used.
    pub(crate) unsafe fn bind(&mut self, definition: *mut VMMemoryDefinition) {
        self.definition = definition;
        self.publish();
    }

    fn publish(&self) {
        if !self.definition.is_null() {
            // SAFETY: `bind`'s contract keeps the definition valid.
            unsafe {
                (*self.definition).base = self.base();
                (*self.definition).current_length = self.length;
            }
        }
    }

    fn set_length(&mut self, new_length: usize) -> Result<()> {
        if new_length > self.length {
            // SAFETY: `new_length <= reservation`, inside our mapping.
            unsafe { make_accessible(self.base().add(self.length), new_length - self.length) }?;
        }
        self.length = new_length;
        Ok(())
    }

    /// Grows by `delta_pages`; returns the old size in pages, or `None` when
    /// the maximum (or the host) refuses.
    pub(crate) fn grow(&mut self, delta_pages: u64) -> Option<u64> {
        let old_pages = (self.length as u64) / WASM_PAGE_SIZE;
        let new_bytes = old_pages.checked_add(delta_pages)?.checked_mul(WASM_PAGE_SIZE)?;
        if new_bytes > self.max_bytes as u64 {
            return None;
        }
        let new_bytes = new_bytes as usize;
        if new_bytes > self.reservation {
            self.mmap.as_ref()?;
            self.relocate(new_bytes).ok()?;
        } else {
            self.set_length(new_bytes).ok()?;
        }
        self.publish();
        Some(old_pages)
    }

    /// Moves the memory into a larger reservation (only memories whose
    /// maximum exceeds the configured reservation ever do this).
    fn relocate(&mut self, new_bytes: usize) -> Result<()> {
        let page = rustix::param::page_size();
        let reservation = new_bytes
            .max(self.reservation.saturating_mul(2))
            .min(self.max_bytes)
            .next_multiple_of(page);
        let mmap = Mmap::reserve(self.pre_guard + reservation + self.guard)?;
        // SAFETY: the new range lies inside the new mapping.
        let new_base = unsafe { mmap.as_ptr().add(self.pre_guard) };
        // SAFETY: as above, `new_bytes <= reservation`.
        unsafe { make_accessible(new_base, new_bytes) }?;
        // SAFETY: both ranges are accessible, `length` bytes long, and in distinct mappings.
        unsafe { std::ptr::copy_nonoverlapping(self.base(), new_base, self.length) };
        self.mmap = Some(mmap);
        self.base = new_base;
        self.reservation = reservation;
        self.length = new_bytes;
        Ok(())
    }

    /// The accessible bytes.
    ///
    /// # Safety
    /// No wasm code may run on this memory while the slice is alive.
    #[cfg(test)]
    pub(crate) unsafe fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: `[base, base + length)` is accessible and owned by us.
        unsafe { std::slice::from_raw_parts_mut(self.base(), self.length) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_and_beyond_the_reservation() {
        let config = Config {
            memory_reservation: 2 * WASM_PAGE_SIZE,
            memory_guard_size: 4096,
            ..Config::default()
        };
        let ty = MemoryType { min: 1, max: Some(5) };
        let mut def = VMMemoryDefinition { base: std::ptr::null_mut(), current_length: 0 };
        let mut m = LinearMemory::new(&ty, &config).unwrap();
        // SAFETY: `def` outlives `m` in this test.
        unsafe { m.bind(&mut def) };
        assert_eq!(def.current_length, 65536);
        // SAFETY: no wasm runs here.
        unsafe { m.data_mut()[65535] = 7 };
        assert_eq!(m.grow(1), Some(1));
        assert_eq!(def.current_length, 2 * 65536);
        assert_eq!(m.grow(2), Some(2), "moves past the reservation");
        assert_eq!(def.base, m.base());
        // SAFETY: no wasm runs here.
        assert_eq!(unsafe { m.data_mut()[65535] }, 7, "contents survive a move");
        assert_eq!(m.grow(2), None, "the maximum is 5 pages");
        assert_eq!(m.grow(0), Some(4));
    }
}
