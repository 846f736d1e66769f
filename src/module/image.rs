//! Copy-on-write memory images.
//!
//! When every active data segment of a defined memory has a constant offset
//! and lies inside the memory's initial size, the module may get an image of
//! that memory: the initial pages (up to the last page a segment touches) in
//! a `memfd`, sealed so it can never change. The pooling
//! allocator maps it `MAP_PRIVATE` over a memory slot: instantiation then
//! costs no copy, writes get private pages, and `madvise(MADV_DONTNEED)` on
//! reset brings the image contents back. A copy of the bytes is kept for
//! restoring the part of a slot that stays resident.
//!
//! # An image costs what its data costs
//!
//! A module chooses where its data lies, so a 16-byte segment at offset
//! `0xFFFF_FFF0` would ask for a 4 GiB image. An image's memory is its
//! length, not its data: the memfd is sparse (sized with `ftruncate`, only
//! the segments written into it), but an instance *reading* a hole of the
//! private mapping makes the kernel allocate that page of the file, and the
//! file lives as long as the module. So the rules bound the length:
//!
//! - building an image costs time and memory in proportion to its data
//!   (only the segments are written to the file);
//! - an image is made only where it pays ([`worth_an_image`]): images up
//!   to [`SMALL_IMAGE`] always, larger ones only when the data fills at
//!   least a quarter of the image ([`MIN_FILL_DIVISOR`]). Other memories
//!   copy their segments at instantiation, as a module without an image
//!   does.
//!
//! So an image, and the copy of its bytes kept for keep-resident restores,
//! is at most `max(SMALL_IMAGE, 4 × data bytes)` long. (Wasmtime asks for
//! half; a quarter keeps images for modules whose data is spread in blocks
//! over a few MiB, such as the `inst-bigimage` workload, 1 MiB of data over
//! 4 MiB, whose instantiation a copy would make 20 times slower.)

use crate::error::{Error, ErrorKind, Result};
use crate::module::info::{DataMode, ModuleInfo};
use crate::module::mapped::Bytes;
use crate::types::WASM_PAGE_SIZE;
use rustix::fd::OwnedFd;
use std::sync::Arc;

/// The initial contents of one memory: a file to map copy-on-write (a
/// sealed memfd of its own, or a range of a precompiled module's file) and
/// the same bytes readable in memory, for keep-resident restores.
#[derive(Debug)]
pub(crate) struct MemoryImage {
    fd: Arc<OwnedFd>,
    /// Where the image starts in `fd` (a multiple of the host page size).
    offset: u64,
    bytes: Bytes,
}

impl MemoryImage {
    /// The file to map.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Where in [`MemoryImage::fd`] the image starts: the offset to map.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Image length in bytes (a multiple of the host page size).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The image's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The image held by `fd` at `offset` (page-aligned), whose bytes
    /// `bytes` also maps: a precompiled module's file, which serves as the
    /// image without a copy (see `module::artifact`).
    pub(crate) fn in_file(fd: Arc<OwnedFd>, offset: u64, bytes: Bytes) -> MemoryImage {
        debug_assert!(offset.is_multiple_of(rustix::param::page_size() as u64));
        MemoryImage { fd, offset, bytes }
    }

    /// An image of `bytes`, of which only the `written` ranges (`(offset,
    /// len)`, inside `bytes`) can be non-zero: only those are written to
    /// the file, the rest of it stays a hole.
    fn new(bytes: Box<[u8]>, written: &[(u64, usize)]) -> Result<MemoryImage> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let fail = |what: &str, e: rustix::io::Errno| {
            Error::new(ErrorKind::Resource, format!("memory image: {what} failed: {e}"))
        };
        let fd = rustix::fs::memfd_create(
            "wasmpool-image",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| fail("memfd_create", e))?;
        rustix::fs::ftruncate(&fd, bytes.len() as u64).map_err(|e| fail("ftruncate", e))?;
        for &(offset, len) in written {
            let range = &bytes[offset as usize..offset as usize + len];
            let mut done = 0;
            while done < len {
                done += rustix::io::pwrite(&fd, &range[done..], offset + done as u64)
                    .map_err(|e| fail("write", e))?;
            }
        }
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| fail("sealing", e))?;
        Ok(MemoryImage { fd: Arc::new(fd), offset: 0, bytes: Bytes::Owned(bytes) })
    }
}

/// Images up to this many bytes are always worth making.
pub(crate) const SMALL_IMAGE: u64 = 1 << 20;

/// A larger image is made only when its data is at least this fraction
/// (1 / `MIN_FILL_DIVISOR`) of it.
pub(crate) const MIN_FILL_DIVISOR: u64 = 4;

/// Whether an image of `image_len` bytes holding `data_len` bytes of data
/// is worth making (see the module docs).
pub(crate) fn worth_an_image(image_len: u64, data_len: u64) -> bool {
    image_len <= SMALL_IMAGE || data_len.saturating_mul(MIN_FILL_DIVISOR) >= image_len
}

/// Where an image would lie: its length (a multiple of the host page size)
/// and the active data segments it holds, as (offset in the memory, segment
/// index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageLayout {
    pub len: u64,
    pub segments: Vec<(u64, usize)>,
}

/// The image layout of each defined memory (`None` where a memory has no
/// data, a segment that an image cannot represent, or too little data for
/// its image to pay). A pure function of the module, whatever the engine's
/// settings: a precompiled file lays its images out with it.
pub(crate) fn layouts(info: &ModuleInfo) -> Vec<Option<ImageLayout>> {
    let page = rustix::param::page_size() as u64;
    let defined = info.num_defined_memories() as usize;
    let mut lists: Vec<Option<Vec<(u64, usize)>>> = vec![Some(Vec::new()); defined];
    for (i, seg) in info.data.iter().enumerate() {
        let DataMode::Active { memory, offset } = &seg.mode else { continue };
        let Some(m) = memory.checked_sub(info.num_imported_memories) else { continue };
        let slot = &mut lists[m as usize];
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
    lists
        .into_iter()
        .map(|list| {
            let list = list.filter(|l| !l.is_empty())?;
            let extent = |&(off, i): &(u64, usize)| off + info.data[i].data.len() as u64;
            let len = list.iter().map(extent).max().unwrap_or(0).next_multiple_of(page);
            let data_len = list.iter().map(|&(_, i)| info.data[i].data.len() as u64).sum();
            (len != 0 && worth_an_image(len, data_len))
                .then_some(ImageLayout { len, segments: list })
        })
        .collect()
}

/// Builds the images of a module's defined memories, each in a sealed memfd
/// of its own (see [`layouts`] for which memories get one).
pub(crate) fn build_images(
    info: &ModuleInfo,
    wasm_data: impl Fn(usize) -> Vec<u8>,
) -> Result<Vec<Option<Arc<MemoryImage>>>> {
    let mut images = Vec::with_capacity(info.num_defined_memories() as usize);
    for layout in layouts(info) {
        let image = match layout {
            Some(ImageLayout { len, segments }) => {
                // At most max(SMALL_IMAGE, 4 × data) bytes, so bounded by
                // the module's size; still, never abort on it.
                let mut bytes = Vec::new();
                bytes.try_reserve_exact(len as usize).map_err(|_| {
                    Error::new(
                        ErrorKind::Resource,
                        format!("memory image: cannot allocate {len} bytes"),
                    )
                })?;
                bytes.resize(len as usize, 0);
                let mut written = Vec::with_capacity(segments.len());
                for &(off, i) in &segments {
                    let data = wasm_data(i);
                    bytes[off as usize..off as usize + data.len()].copy_from_slice(&data);
                    written.push((off, data.len()));
                }
                Some(Arc::new(MemoryImage::new(bytes.into_boxed_slice(), &written)?))
            }
            None => None,
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

    #[test]
    fn sparse_data_far_out_makes_no_image() {
        // 16 bytes at the end of a 4 GiB memory: an image would be 4 GiB.
        let far = r#"(module (memory 65536) (data (i32.const 0xFFFFFFF0) "0123456789abcdef"))"#;
        assert!(images(far)[0].is_none());
        // Up to 1 MiB an image is always made, however little data it holds.
        let imgs = images(r#"(module (memory 16) (data (i32.const 0xFFFF0) "x"))"#);
        assert_eq!(imgs[0].as_ref().unwrap().len(), 1 << 20);
        // Past 1 MiB, data filling a quarter of the image makes one.
        let quarter = format!(
            r#"(module (memory 64) (data (i32.const 0) "{}") (data (i32.const 0x3FFFF0) "y"))"#,
            "z".repeat(0x100000)
        );
        assert_eq!(images(&quarter)[0].as_ref().unwrap().len(), 0x400000);
        let less = format!(
            r#"(module (memory 128) (data (i32.const 0) "{}") (data (i32.const 0x4FFFF0) "y"))"#,
            "z".repeat(0x100000)
        );
        assert!(images(&less)[0].is_none());
    }

    #[test]
    fn the_image_file_is_sparse() {
        let imgs = images(r#"(module (memory 16) (data (i32.const 0xFFFF0) "x"))"#);
        let img = imgs[0].as_ref().unwrap();
        let st = rustix::fs::fstat(img.fd()).unwrap();
        assert_eq!(st.st_size, 1 << 20);
        // One page of data is allocated in the file, not 256.
        assert!(st.st_blocks * 512 <= 2 * rustix::param::page_size() as i64, "{st:?}");
        let mut buf = [0u8; 1];
        rustix::io::pread(img.fd(), &mut buf, 0xFFFF0).unwrap();
        assert_eq!(&buf, b"x");
    }
}
