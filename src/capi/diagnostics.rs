//! Diagnostics (header section "diagnostics"): trap backtraces and profiler
//! support.
//!
//! A trap that crossed wasm carries the wasm call stack at the moment it
//! happened, innermost frame first: for each frame the function index, its
//! name from the module's name section, and the byte offset in the module
//! binary of the instruction it was executing. `wasmpool_trap_message`
//! prints the same frames. Capturing them costs nothing while wasm runs.
//!
//! With `wasmpool_config_set_profiler(config, WASMPOOL_PROFILER_PERFMAP)` (or
//! the environment variable `WASMPOOL_PROFILE=perfmap`), engines write each
//! compiled function to perf's JIT map, `/tmp/perf-<pid>.map`, so that
//! `perf report` names wasm functions.

use crate::capi::boundary::ffi_value;
use crate::capi::config::{update, wasmpool_config_t};
use crate::capi::trap::wasmpool_trap_t;
use crate::profiling::ProfilingStrategy;
use crate::trap::FrameInfo;
use std::ffi::c_char;

/// Which profiler support an engine has: one of the `WASMPOOL_PROFILER_*`
/// values.
pub type wasmpool_profiler_t = u8;
/// No profiler support (the default, unless the environment variable
/// `WASMPOOL_PROFILE` is `perfmap` when the configuration is created).
pub const WASMPOOL_PROFILER_NONE: wasmpool_profiler_t = 0;
/// Every compiled function, trampoline and host-function stub is appended to
/// perf's JIT map, `/tmp/perf-<pid>.map`, as `START SIZE name` when its code
/// becomes executable, named `module!function` from the module's name
/// section (`function` alone when the module has no name, `wasm function N`
/// when the function has none; trampolines as `wasm-trampoline[...]`). One
/// file per process, shared by all engines and safe for concurrent
/// compilation. Engine creation fails with `WASMPOOL_ERROR_RESOURCE` when the
/// file cannot be created.
pub const WASMPOOL_PROFILER_PERFMAP: wasmpool_profiler_t = 1;

/// Sets the engine's profiler support to `profiler` (a
/// `WASMPOOL_PROFILER_*` value). The default is `WASMPOOL_PROFILER_NONE`, or
/// `WASMPOOL_PROFILER_PERFMAP` when the environment variable
/// `WASMPOOL_PROFILE` was `perfmap` when the configuration was created; this
/// setting overrides it. A NULL `config`, or a value that is no
/// `WASMPOOL_PROFILER_*`, is ignored (the setting stays as it was).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_config_set_profiler(
    config: *mut wasmpool_config_t,
    profiler: wasmpool_profiler_t,
) {
    if let Some(profiler) = ProfilingStrategy::from_raw(profiler) {
        update(config, |c| c.profiler = profiler);
    }
}

/// Runs `get` on frame `frame` of `trap`, or returns `fallback` when `trap`
/// is NULL or has no such frame (or on a panic).
fn with_frame<R: Copy>(
    trap: *const wasmpool_trap_t,
    frame: usize,
    fallback: R,
    get: impl FnOnce(&wasmpool_trap_t, &FrameInfo) -> R,
) -> R {
    ffi_value(fallback, || {
        // SAFETY: a non-NULL trap is live, owned by the caller.
        let Some(trap) = (unsafe { trap.as_ref() }) else { return fallback };
        match trap.trap.frames().get(frame) {
            Some(info) => get(trap, info),
            None => fallback,
        }
    })
}

/// The number of wasm frames the trap carries: the wasm call stack when it
/// happened, innermost first (frame 0 is the function that trapped, or for a
/// trap returned by a host function, the function that called the host),
/// then each caller up to the function the host called with
/// `wasmpool_func_call`. At most 64 frames are kept (the innermost ones).
/// When wasm calls a host function that calls wasm again (in another store),
/// a trap of the inner wasm lists the inner frames only, and keeps them if
/// the host function returns that trap. 0 for a trap made by
/// `wasmpool_trap_new` that never crossed wasm, and for a NULL trap. The
/// frames are indexed 0 to this count minus 1 in the `wasmpool_trap_frame_*`
/// functions.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_frames_len(trap: *const wasmpool_trap_t) -> usize {
    ffi_value(0, || {
        // SAFETY: a non-NULL trap is live, owned by the caller.
        unsafe { trap.as_ref() }.map_or(0, |t| t.trap.frames().len())
    })
}

/// The index, in its module's function index space (imported functions
/// first), of the function of frame `frame`. Returns 0 for a NULL trap or a
/// `frame` out of range (indistinguishable from function 0: check
/// `wasmpool_trap_frames_len` first).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_frame_func_index(
    trap: *const wasmpool_trap_t,
    frame: usize,
) -> u32 {
    with_frame(trap, frame, 0, |_, info| info.func_index())
}

/// The name of the function of frame `frame` from the module's name section,
/// as a NUL-terminated UTF-8 string owned by the trap and valid until
/// `wasmpool_trap_delete`. Returns NULL when the function has no name, for a
/// NULL trap, and for a `frame` out of range.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_frame_func_name(
    trap: *const wasmpool_trap_t,
    frame: usize,
) -> *const c_char {
    with_frame(trap, frame, std::ptr::null(), |trap, _| match &trap.frame_names[frame] {
        Some(name) => name.as_ptr(),
        None => std::ptr::null(),
    })
}

/// The byte offset, from the start of the module binary, of the instruction
/// frame `frame` was executing: the trapping instruction in frame 0 (for a
/// trap returned by a host function, the call to the host), the call
/// instruction in the others. A stack overflow happens on entry to a
/// function, and gives the offset of its first instruction. Returns 0 for a
/// NULL trap or a `frame` out of range.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_frame_module_offset(
    trap: *const wasmpool_trap_t,
    frame: usize,
) -> usize {
    with_frame(trap, frame, 0, |_, info| info.module_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::config::{wasmpool_config_delete, wasmpool_config_new};
    use crate::capi::trap::{wasmpool_trap, wasmpool_trap_delete, wasmpool_trap_new};
    use crate::trap::{Trap, TrapCode};
    use std::ffi::CStr;

    #[test]
    fn the_profiler_setter_stores_known_values_only() {
        let c = wasmpool_config_new();
        // SAFETY: `c` is live until deleted below.
        let profiler = || unsafe { (*c).config.profiler };
        wasmpool_config_set_profiler(c, WASMPOOL_PROFILER_PERFMAP);
        assert_eq!(profiler(), ProfilingStrategy::PerfMap);
        wasmpool_config_set_profiler(c, 7);
        assert_eq!(profiler(), ProfilingStrategy::PerfMap, "unknown values are ignored");
        wasmpool_config_set_profiler(c, WASMPOOL_PROFILER_NONE);
        assert_eq!(profiler(), ProfilingStrategy::None);
        assert_eq!(ProfilingStrategy::PerfMap as u8, WASMPOOL_PROFILER_PERFMAP);
        wasmpool_config_delete(c);
        wasmpool_config_set_profiler(std::ptr::null_mut(), WASMPOOL_PROFILER_PERFMAP);
    }

    #[test]
    fn frames_are_read_by_index_and_out_of_range_is_harmless() {
        let frames = vec![
            FrameInfo::new(3, Some("inner".into()), Some("m".into()), 0x41),
            FrameInfo::new(1, None, Some("m".into()), 0x30),
        ];
        let t = wasmpool_trap::into_raw(Trap::new(TrapCode::Unreachable).with_frames(frames));
        assert_eq!(wasmpool_trap_frames_len(t), 2);
        assert_eq!(wasmpool_trap_frame_func_index(t, 0), 3);
        assert_eq!(wasmpool_trap_frame_func_index(t, 1), 1);
        // SAFETY: a non-NULL name is a string owned by the live trap.
        let name = unsafe { CStr::from_ptr(wasmpool_trap_frame_func_name(t, 0)) };
        assert_eq!(name.to_str().unwrap(), "inner");
        assert!(wasmpool_trap_frame_func_name(t, 1).is_null(), "no name");
        assert_eq!(wasmpool_trap_frame_module_offset(t, 0), 0x41);
        assert_eq!(wasmpool_trap_frame_module_offset(t, 1), 0x30);
        for out_of_range in [2, usize::MAX] {
            assert_eq!(wasmpool_trap_frame_func_index(t, out_of_range), 0);
            assert!(wasmpool_trap_frame_func_name(t, out_of_range).is_null());
            assert_eq!(wasmpool_trap_frame_module_offset(t, out_of_range), 0);
        }
        // SAFETY: the message is a string owned by the live trap.
        let message = unsafe { CStr::from_ptr(crate::capi::trap::wasmpool_trap_message(t)) };
        assert_eq!(
            message.to_str().unwrap(),
            "unreachable\nwasm backtrace:\n    0:   0x41 - m!inner\n    1:   0x30 - m!<wasm function 1>"
        );
        wasmpool_trap_delete(t);

        let null = std::ptr::null();
        assert_eq!(wasmpool_trap_frames_len(null), 0);
        assert_eq!(wasmpool_trap_frame_func_index(null, 0), 0);
        assert!(wasmpool_trap_frame_func_name(null, 0).is_null());
        assert_eq!(wasmpool_trap_frame_module_offset(null, 0), 0);

        let host = wasmpool_trap_new(c"by hand".as_ptr());
        assert_eq!(wasmpool_trap_frames_len(host), 0);
        assert!(wasmpool_trap_frame_func_name(host, 0).is_null());
        wasmpool_trap_delete(host);
    }
}
