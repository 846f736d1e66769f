//! Memory protection keys: detection only.
//!
//! With MPK, neighbouring memory slots could get different keys and need no
//! guard region between them. This build detects whether the CPU and kernel
//! offer protection keys (`pku` + `ospke` in CPUID leaf 7, and a working
//! `pkey_alloc`), so `WASMPOOL_MPK_ENABLE` fails cleanly where they are
//! missing and `AUTO` falls back to guard regions. Striping itself is not
//! implemented yet; `ENABLE` on a host that has keys reports so.

use crate::config::MpkEnabled;
use crate::error::{Error, Result};

/// Whether this CPU and kernel support memory protection keys.
pub(crate) fn is_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        let pku = leaf7.ecx & (1 << 3) != 0;
        let ospke = leaf7.ecx & (1 << 4) != 0;
        if !(pku && ospke) {
            return false;
        }
        // SAFETY: pkey_alloc has no memory-safety preconditions; a key we get
        // is freed right away.
        unsafe {
            let key = libc::syscall(libc::SYS_pkey_alloc, 0, 0);
            if key < 0 {
                return false;
            }
            libc::syscall(libc::SYS_pkey_free, key);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Decides whether the pool uses protection keys (never, in this build) or
/// explains why the requested mode cannot be honoured.
pub(crate) fn resolve(mode: MpkEnabled, supported: bool) -> Result<bool> {
    match mode {
        MpkEnabled::Disable | MpkEnabled::Auto => Ok(false),
        MpkEnabled::Enable if !supported => Err(Error::unsupported(
            "memory_protection_keys is ENABLE but this CPU or kernel does not support memory protection keys (pku)",
        )),
        MpkEnabled::Enable => Err(Error::unsupported(
            "memory_protection_keys is ENABLE: this host has protection keys, but MPK striping is not built into this version; use AUTO or DISABLE",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_without_keys_is_unsupported_and_auto_falls_back() {
        let err = resolve(MpkEnabled::Enable, false).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        assert!(err.message().contains("pku"));
        assert!(!resolve(MpkEnabled::Auto, false).unwrap());
        assert!(!resolve(MpkEnabled::Disable, true).unwrap());
        // Detection itself must not crash on any host.
        let _ = is_supported();
    }
}
