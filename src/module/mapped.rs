//! Bytes a module keeps: its own, or a range of a precompiled module's file
//! mapped read-only.
//!
//! A module loaded with `Module::deserialize_file` keeps its data segments
//! and image bytes where they are, in the file's page cache, instead of
//! copying them: [`Bytes::Mapped`] is a range of one [`FileMap`], shared by
//! every range of the same file.

use crate::error::{Error, ErrorKind, Result};
use rustix::fd::OwnedFd;
use rustix::mm::{MapFlags, ProtFlags};
use std::ops::{Deref, Range};
use std::sync::Arc;

/// A whole file mapped `PROT_READ`, `MAP_PRIVATE` (its code section later
/// made `PROT_READ | PROT_EXEC`, see `CodeMemory::map`); unmapped on drop.
#[derive(Debug)]
pub(crate) struct FileMap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only for its whole life and the pointer is
// only read through shared slices.
unsafe impl Send for FileMap {}
// SAFETY: see `Send`.
unsafe impl Sync for FileMap {}

impl FileMap {
    /// Maps the first `len` bytes of `fd` (`len` > 0, at most the file's
    /// size). The file must not shrink while the mapping lives: reading a
    /// page past its end would raise `SIGBUS` (see the trust rules of
    /// `Module::deserialize_file`).
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> Result<FileMap> {
        // SAFETY: a fresh mapping chosen by the kernel aliases nothing of
        // ours; it is read-only, so no Rust reference is ever written
        // through.
        let ptr = unsafe {
            rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ, MapFlags::PRIVATE, fd, 0)
        }
        .map_err(|e| {
            Error::new(ErrorKind::Resource, format!("mapping the precompiled file failed: {e}"))
        })?;
        Ok(FileMap { ptr: ptr.cast(), len })
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `self` drops.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours; every slice of it borrows `self` or
        // holds the `Arc` that owns it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

/// Bytes owned by the module, or a range of a mapped file.
#[derive(Debug)]
pub(crate) enum Bytes {
    Owned(Box<[u8]>),
    Mapped(Arc<FileMap>, Range<usize>),
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Mapped(map, range) => &map.bytes()[range.clone()],
        }
    }
}
