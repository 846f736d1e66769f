//! Linear memories (header section "memory").
//!
//! A `wasmpool_memory_t` is a memory of a store: exported by an instance,
//! reached through a host function's caller, or created with
//! `wasmpool_memory_new`. It is borrowed from its store (valid until the store
//! is deleted, never freed by the caller) and used on the store's thread.

use crate::capi::boundary::{arg_ref, ffi_result, ffi_value, out_arg};
use crate::capi::error::wasmpool_error_t;
use crate::capi::store::{Access, wasmpool_store, wasmpool_store_t};
use crate::capi::types::{memory_to_c, wasmpool_memorytype_t};
use crate::error::{Error, Result};
use crate::externals::Memory;
use crate::types::MemoryType;

/// A linear memory of a store. Borrowed: valid until its store is deleted;
/// never freed by the caller.
pub struct wasmpool_memory {
    pub(crate) store: *const wasmpool_store,
    pub(crate) memory: Memory,
}

/// The type of a memory; see `struct wasmpool_memory`.
pub type wasmpool_memory_t = wasmpool_memory;

impl wasmpool_memory {
    fn store(&self) -> &wasmpool_store {
        // SAFETY: a handle lives in its store's arena, so the store is alive.
        unsafe { &*self.store }
    }

    /// The memory's bytes (base and length) as they are now.
    fn bytes(&self) -> Result<(*mut u8, usize)> {
        // SAFETY: called on the store's thread; the access ends before
        // returning to C.
        let data = match unsafe { self.store().access() } {
            Access::Store(store) => self.memory.data_mut(store)?,
            Access::Caller(caller) => caller.memory_data_mut(self.memory)?,
        };
        Ok((data.as_mut_ptr(), data.len()))
    }
}

fn memory_ref<'a>(memory: *const wasmpool_memory_t) -> Option<&'a wasmpool_memory> {
    // SAFETY: a non-NULL memory is a live handle.
    unsafe { memory.as_ref() }
}

/// The address of the memory's first byte. Valid until the memory grows (by
/// `wasmpool_memory_grow` or by wasm's `memory.grow`) or its store is deleted;
/// the `wasmpool_memory_data_size` bytes from there may be read and written.
/// NULL for a NULL memory. Callable inside host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_data(memory: *const wasmpool_memory_t) -> *mut u8 {
    ffi_value(std::ptr::null_mut(), || {
        memory_ref(memory).and_then(|m| m.bytes().ok()).map_or(std::ptr::null_mut(), |b| b.0)
    })
}

/// The memory's current size in bytes; 0 for a NULL memory.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_data_size(memory: *const wasmpool_memory_t) -> usize {
    ffi_value(0, || memory_ref(memory).and_then(|m| m.bytes().ok()).map_or(0, |b| b.1))
}

/// The memory's current size in 64 KiB pages; 0 for a NULL memory.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_size(memory: *const wasmpool_memory_t) -> u64 {
    ffi_value(0, || {
        memory_ref(memory)
            .and_then(|m| m.bytes().ok())
            .map_or(0, |b| b.1 as u64 / crate::types::WASM_PAGE_SIZE)
    })
}

/// Grows the memory by `delta_pages` 64 KiB pages. On success writes the
/// previous size in pages to `*prev_pages` (which may be NULL when not
/// wanted). Growing past the memory's maximum or the pool's
/// `max_memory_size`, or further than the OS will map, is a
/// `WASMPOOL_ERROR_RESOURCE` error; growth the store's limiter
/// (`wasmpool_store_limiter`) refuses is `WASMPOOL_ERROR_LIMIT`; either
/// changes nothing. A NULL memory is `WASMPOOL_ERROR_INVALID_ARGUMENT`. Pointers from
/// `wasmpool_memory_data` may be invalidated. Not callable from inside the
/// store's host functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_grow(
    memory: *mut wasmpool_memory_t,
    delta_pages: u64,
    prev_pages: *mut u64,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: a non-NULL memory is a live handle.
        let m = unsafe { arg_ref(memory, "memory") }?;
        let s = m.store();
        s.check_idle("wasmpool_memory_grow")?;
        // SAFETY: idle, checked above.
        let prev = m.memory.grow(unsafe { s.rust() }, delta_pages)?;
        // SAFETY: a non-NULL `prev_pages` is writable.
        if let Some(out) = unsafe { prev_pages.as_mut() } {
            *out = prev;
        }
        Ok(())
    })
}

/// Writes the memory's type (current size as `min`, and its maximum) to
/// `*out`. NULL `memory` or `out` is `WASMPOOL_ERROR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_type(
    memory: *const wasmpool_memory_t,
    out: *mut wasmpool_memorytype_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live handle and a writable struct.
        let (m, out) = unsafe { (arg_ref(memory, "memory")?, out_arg(out, "out")?) };
        let s = m.store();
        s.check_idle("wasmpool_memory_type")?;
        // SAFETY: idle, checked above.
        *out = memory_to_c(&m.memory.ty(unsafe { s.rust() })?);
        Ok(())
    })
}

/// Creates a memory of `type` (`min` pages, up to `max` when `has_max`) in
/// `store`, outside any instance, for example to define in a linker with
/// `wasmpool_linker_define_memory`. Writes a handle borrowed from the store to
/// `*out`. NULL pointers or `min > max` are `WASMPOOL_ERROR_INVALID_ARGUMENT`;
/// a size the store's limiter refuses is `WASMPOOL_ERROR_LIMIT`; a size the
/// address space cannot hold is `WASMPOOL_ERROR_RESOURCE`.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_memory_new(
    store: *mut wasmpool_store_t,
    ty: *const wasmpool_memorytype_t,
    out: *mut *mut wasmpool_memory_t,
) -> *mut wasmpool_error_t {
    ffi_result(|| {
        // SAFETY: non-NULL pointers are a live store, a readable type and a
        // writable out-parameter.
        let (s, ty, out) =
            unsafe { (arg_ref(store, "store")?, arg_ref(ty, "ty")?, out_arg(out, "out")?) };
        s.check_idle("wasmpool_memory_new")?;
        let max = ty.has_max.then_some(ty.max);
        if max.is_some_and(|max| max < ty.min) {
            return Err(Error::invalid_argument(format!(
                "memory type: min {} exceeds max {}",
                ty.min, ty.max
            )));
        }
        if ty.min > crate::types::WASM32_MAX_PAGES
            || max.is_some_and(|m| m > crate::types::WASM32_MAX_PAGES)
        {
            return Err(Error::invalid_argument(
                "memory type: a 32-bit memory has at most 65536 pages",
            ));
        }
        // SAFETY: idle, checked above.
        let memory = Memory::new(unsafe { s.rust() }, MemoryType { min: ty.min, max })?;
        *out = s.memory_handle(memory);
        Ok(())
    })
}
