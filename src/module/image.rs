//! Copy-on-write memory images.
//!
//! When every active data segment of a defined memory has a constant offset
//! and lies inside the memory's initial size, the module gets an image of
//! that memory: the initial pages (up to the last page a segment touches)
//! written once into a `memfd`, sealed so it can never change. The pooling
//! allocator maps it `MAP_PRIVATE` over a memory slot: instantiation then
//! costs no copy, writes get private pages, and `madvise(MADV_DONTNEED)` on
//! reset brings the image contents back. A copy of the bytes is kept for
//! restoring the part of a slot that stays resident.

use crate::error::{Error, ErrorKind, Result};
use crate::module::info::{DataMode, ModuleInfo};
use crate::types::WASM_PAGE_SIZE;
use rustix::fd::OwnedFd;
use std::sync::Arc;

/// The initial contents of one memory, in a sealed memfd.
#[derive(Debug)]
pub(crate) struct MemoryImage {
    fd: OwnedFd,
    bytes: Box<[u8]>,
}

impl MemoryImage {
    /// The image file.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Image length in bytes (a multiple of the host page size).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The image's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn new(bytes: Box<[u8]>) -> Result<MemoryImage> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let fail = |what: &str, e: rustix::io::Errno| {
            Error::new(ErrorKind::Resource, format!("memory image: {what} failed: {e}"))
        };
        let fd = rustix::fs::memfd_create(
            "wasmpool-image",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail("memfd_create", e))?;
        let mut written = 0;
        while written < bytes.len() {
            written += rustix::io::pwrite(&fd, &bytes[written..], written as u64)
                .map_err(|e| fail("write", e))?;
        }
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| fail("sealing", e))?;
        Ok(MemoryImage { fd, bytes })
    }
}

/// Builds the images of a module's defined memories (`None` where a memory
/// has no data or a segment that an image cannot represent).
pub(crate) fn build_images(
    info: &ModuleInfo,
    wasm_data: impl Fn(usize) -> Vec<u8>,
) -> Result<Vec<Option<Arc<MemoryImage>>>> {
    let page = rustix::param::page_size() as u64;
    let defined = info.num_defined_memories() as usize;
    let mut layouts: Vec<Option<Vec<(u64, usize)>>> = vec![Some(Vec::new()); defined];
    for (i, seg) in info.data.iter().enumerate() {
        let DataMode::Active { memory, offset } = &seg.mode else { continue };
        let Some(m) = memory.checked_sub(info.num_imported_memories) else { continue };
        let slot = &mut layouts[m as usize];
        let min_bytes = info.memories[*memory as usize].min * WASM_PAGE_SIZE;
        match offset.as_const_u32() {
            Some(off) if off as u64 + seg.data.len() as u64 <= min_bytes => {
                if let Some(list) = slot {
                    list.push((off as u64, i));
                }
            }
            _ => *slot = None,
        }
    }
    let mut images = Vec::with_capacity(defined);
    for layout in layouts {
        let image = match layout {
            Some(list) if !list.is_empty() => {
                let end = list
                    .iter()
                    .map(|(off, i)| off + info.data[*i].data.len() as u64)
                    .max()
                    .unwrap_or(0);
                let mut bytes = vec![0u8; end.next_multiple_of(page) as usize];
                for (off, i) in list {
                    let data = wasm_data(i);
                    bytes[off as usize..off as usize + data.len()].copy_from_slice(&data);
                }
                if bytes.is_empty() {
                    None
                } else {
                    Some(Arc::new(MemoryImage::new(bytes.into_boxed_slice())?))
                }
            }
            _ => None,
        };
        images.push(image);
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(wat: &str) -> Vec<Option<Arc<MemoryImage>>> {
        let wasm = wat::parse_str(wat).unwrap();
        let info = crate::module::info::decode(&wasm).unwrap();
        build_images(&info, |i| wasm[info.data[i].data.clone()].to_vec()).unwrap()
    }

    #[test]
    fn constant_in_bounds_segments_make_an_image() {
        let imgs =
            images(r#"(module (memory 2) (data (i32.const 70000) "ab") (data (i32.const 1) "c"))"#);
        let img = imgs[0].as_ref().unwrap();
        assert_eq!(img.len() % rustix::param::page_size(), 0);
        assert_eq!(&img.bytes()[70000..70002], b"ab");
        assert_eq!(img.bytes()[1], b'c');
        let mut buf = [0u8; 2];
        rustix::io::pread(img.fd(), &mut buf, 70000).unwrap();
        assert_eq!(&buf, b"ab");
    }

    #[test]
    fn other_segments_fall_back_to_copying() {
        assert!(
            images(
                r#"(module (import "e" "g" (global i32)) (memory 1) (data (global.get 0) "x"))"#
            )[0]
            .is_none()
        );
        assert!(images(r#"(module (memory 1) (data (i32.const 65535) "xy"))"#)[0].is_none());
        assert!(images(r#"(module (memory 1))"#)[0].is_none());
    }
}
