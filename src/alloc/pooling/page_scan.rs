//! Finding the pages an instance wrote, without write-protection faults.
//!
//! The keep-resident part of a slot must be restored after each use, but
//! restoring all of it costs time proportional to its size (a megabyte is
//! tens of microseconds). Linux 6.7 added the `PAGEMAP_SCAN` ioctl on
//! `/proc/self/pagemap`, which lists the pages of a range by category in one
//! call. A page of a slot that is *present*, *not file-backed* and *not the
//! shared zero page* is one somebody wrote since it was last decommitted:
//! untouched anonymous pages are absent, pages of a copy-on-write image that
//! were only read are file pages, and pages that were only read elsewhere map
//! the zero page. Restoring just those keeps them resident (no fault next
//! time) and costs time proportional to what the instance touched.
//!
//! Debian 12's kernel headers predate the ioctl, so the structures are
//! declared here. Where the kernel refuses it (older kernels, seccomp), the
//! scanner reports `None` and callers restore the whole range.

use rustix::fd::{AsRawFd, OwnedFd};

const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_PFNZERO: u64 = 1 << 5;

/// `struct page_region` of `<linux/fs.h>`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

/// `struct pm_scan_arg` of `<linux/fs.h>`.
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `_IOWR('f', 16, struct pm_scan_arg)`.
const PAGEMAP_SCAN: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PmScanArg>() as libc::c_ulong) << 16) | (0x66 << 8) | 16;

/// An open `/proc/self/pagemap`, or nothing where the kernel lacks the scan.
pub(crate) struct PageScanner {
    pagemap: Option<OwnedFd>,
}

impl PageScanner {
    /// Opens the scanner and checks once that the kernel supports the ioctl.
    pub(crate) fn new() -> PageScanner {
        let pagemap = rustix::fs::open(
            "/proc/self/pagemap",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok();
        let scanner = PageScanner { pagemap };
        // Probe with an empty-ish range of our own stack: the call must succeed.
        let probe = 0u8;
        let page = rustix::param::page_size();
        let at = (&probe as *const u8 as usize) & !(page - 1);
        let mut out = Vec::new();
        if scanner.written(at, page, &mut out).is_none() {
            return PageScanner { pagemap: None };
        }
        scanner
    }

    /// Whether the kernel supports the scan.
    #[cfg(test)]
    pub(crate) fn available(&self) -> bool {
        self.pagemap.is_some()
    }

    /// Collects into `out` the ranges of `[start, start + len)` holding
    /// written pages (present, anonymous, not the zero page). `None` when the
    /// scan is unavailable or fails.
    pub(crate) fn written(
        &self,
        start: usize,
        len: usize,
        out: &mut Vec<(usize, usize)>,
    ) -> Option<()> {
        let fd = self.pagemap.as_ref()?;
        out.clear();
        let mut regions = [PageRegion::default(); 32];
        let end = (start + len) as u64;
        let mut at = start as u64;
        while at < end {
            let mut arg = PmScanArg {
                size: std::mem::size_of::<PmScanArg>() as u64,
                start: at,
                end,
                vec: regions.as_mut_ptr() as u64,
                vec_len: regions.len() as u64,
                category_inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
                category_mask: PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO,
                return_mask: PAGE_IS_PRESENT,
                ..PmScanArg::default()
            };
            // SAFETY: `arg` and `regions` are valid for the call; the kernel
            // writes at most `vec_len` regions and `walk_end`.
            let n =
                unsafe { libc::ioctl(fd.as_raw_fd(), PAGEMAP_SCAN, &mut arg as *mut PmScanArg) };
            if n < 0 {
                return None;
            }
            for r in &regions[..n as usize] {
                out.push((r.start as usize, (r.end - r.start) as usize));
            }
            if arg.walk_end <= at {
                return None;
            }
            at = arg.walk_end;
        }
        Some(())
    }
}

/// Splits the written ranges of a slot between restoring by hand (up to
/// `budget` bytes, in address order; `restore(addr, len)` does it) and
/// decommitting. Returns the one range to decommit (the span of what is
/// left: the kernel skips untouched pages quickly, and a system call is the
/// expensive part) and the bytes restored by hand, which stay resident.
pub(crate) fn restore_within_budget(
    written: &[(usize, usize)],
    budget: usize,
    mut restore: impl FnMut(usize, usize),
) -> (Vec<(usize, usize)>, usize) {
    let mut left = budget;
    let mut rest = Vec::new();
    for &(addr, n) in written {
        let by_hand = n.min(left);
        restore(addr, by_hand);
        left -= by_hand;
        if n > by_hand {
            rest.push((addr + by_hand, n - by_hand));
        }
    }
    (crate::alloc::pooling::decommit_queue::span(&rest), budget - left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::memory::{Mmap, make_accessible};

    #[test]
    fn the_budget_is_spent_in_address_order_and_the_rest_decommitted_at_once() {
        let mut restored = Vec::new();
        let written = [(0x1000, 0x2000), (0x8000, 0x1000), (0x20000, 0x3000)];
        let (rest, kept) = restore_within_budget(&written, 0x2800, |a, n| restored.push((a, n)));
        assert_eq!(restored, vec![(0x1000, 0x2000), (0x8000, 0x800), (0x20000, 0)]);
        assert_eq!(kept, 0x2800);
        assert_eq!(rest, vec![(0x8800, 0x20000 + 0x3000 - 0x8800)]);
    }

    #[test]
    fn finds_exactly_the_written_pages() {
        let scanner = PageScanner::new();
        if !scanner.available() {
            eprintln!(
                "PAGEMAP_SCAN unavailable on this kernel; the pool falls back to full restores"
            );
            return;
        }
        let page = rustix::param::page_size();
        let map = Mmap::reserve(16 * page).unwrap();
        // SAFETY: the mapping is ours.
        unsafe { make_accessible(map.as_ptr(), 16 * page) }.unwrap();
        let base = map.as_ptr();
        // SAFETY: inside the accessible mapping.
        unsafe {
            base.add(3 * page).write(1);
            base.add(4 * page + 7).write(1);
            base.add(10 * page).write(1);
            let _ = std::ptr::read_volatile(base.add(12 * page)); // read only: the zero page
        }
        let mut out = Vec::new();
        scanner.written(base as usize, 16 * page, &mut out).unwrap();
        let b = base as usize;
        assert_eq!(out, vec![(b + 3 * page, 2 * page), (b + 10 * page, page)]);
    }
}
