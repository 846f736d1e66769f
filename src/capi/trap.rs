//! Traps (header section "traps").
//!
//! A trap ends a WebAssembly execution abnormally: `unreachable`, an out of
//! bounds access, a stack overflow, fuel or epoch exhaustion, or a host
//! function returning a trap. Calls into wasm report one through a
//! `wasmpool_trap_t **` out-parameter; it is not an error (the engine, the
//! store and the pool stay usable). The caller owns a trap it receives and
//! frees it with `wasmpool_trap_delete`.

use crate::capi::boundary::{boxed, c_string, delete_boxed, ffi_value};
use crate::trap::Trap;
use std::ffi::{CStr, CString, c_char};

/// A trap: a code (`WASMPOOL_TRAP_*`), a message, and the wasm frames it
/// crossed (see `wasmpool_trap_frames_len`). Owned by whoever holds it; freed
/// with `wasmpool_trap_delete`, or handed to the runtime by returning it from
/// a host function. May move between threads.
pub struct wasmpool_trap {
    pub(crate) trap: Trap,
    /// The message, then the backtrace.
    message: CString,
    /// The function name of each frame, for `wasmpool_trap_frame_func_name`.
    pub(crate) frame_names: Box<[Option<CString>]>,
}

/// The type of a trap; see `struct wasmpool_trap`.
pub type wasmpool_trap_t = wasmpool_trap;

impl wasmpool_trap {
    /// Boxes `trap` into an owned C trap object.
    pub(crate) fn into_raw(trap: Trap) -> *mut wasmpool_trap {
        let mut text = trap.message().to_string();
        // Writing to a String cannot fail.
        let _ = trap.write_backtrace(&mut text);
        let message = c_string(&text);
        let frame_names = trap.frames().iter().map(|f| f.func_name().map(c_string)).collect();
        boxed(wasmpool_trap { trap, message, frame_names })
    }
}

/// The cause of a trap: one of the `WASMPOOL_TRAP_*` values.
pub type wasmpool_trap_code_t = u8;
/// Wasm used more native stack than `max_wasm_stack` allows (deep recursion).
pub const WASMPOOL_TRAP_STACK_OVERFLOW: wasmpool_trap_code_t = 0;
/// A load or store outside the bounds of a linear memory.
pub const WASMPOOL_TRAP_MEMORY_OUT_OF_BOUNDS: wasmpool_trap_code_t = 1;
/// A misaligned atomic access (not raised today: atomics are not supported).
pub const WASMPOOL_TRAP_HEAP_MISALIGNED: wasmpool_trap_code_t = 2;
/// An access outside the bounds of a table (`table.get`, `call_indirect`, ...).
pub const WASMPOOL_TRAP_TABLE_OUT_OF_BOUNDS: wasmpool_trap_code_t = 3;
/// `call_indirect` through a null table element.
pub const WASMPOOL_TRAP_INDIRECT_CALL_TO_NULL: wasmpool_trap_code_t = 4;
/// `call_indirect` to a function of another signature.
pub const WASMPOOL_TRAP_BAD_SIGNATURE: wasmpool_trap_code_t = 5;
/// Signed division overflow (`INT_MIN / -1`).
pub const WASMPOOL_TRAP_INTEGER_OVERFLOW: wasmpool_trap_code_t = 6;
/// Integer division or remainder by zero.
pub const WASMPOOL_TRAP_INTEGER_DIVISION_BY_ZERO: wasmpool_trap_code_t = 7;
/// A float-to-integer conversion of NaN or out of range.
pub const WASMPOOL_TRAP_BAD_CONVERSION_TO_INTEGER: wasmpool_trap_code_t = 8;
/// The `unreachable` instruction.
pub const WASMPOOL_TRAP_UNREACHABLE: wasmpool_trap_code_t = 9;
/// The store's epoch deadline passed (see `wasmpool_store_set_epoch_deadline`).
pub const WASMPOOL_TRAP_INTERRUPT: wasmpool_trap_code_t = 10;
/// The store ran out of fuel (see `wasmpool_store_set_fuel`).
pub const WASMPOOL_TRAP_OUT_OF_FUEL: wasmpool_trap_code_t = 11;
/// Raised by a host function (a trap made with `wasmpool_trap_new`).
pub const WASMPOOL_TRAP_HOST: wasmpool_trap_code_t = 12;

/// Creates a trap with code `WASMPOOL_TRAP_HOST` and a copy of `message` (a
/// NULL message, or one that is not UTF-8, gives a generic or lossily
/// converted message). For host functions, which return it to the runtime
/// (which then owns and frees it); otherwise the caller owns it and frees it
/// with `wasmpool_trap_delete`. Never returns NULL unless memory is exhausted.
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_new(message: *const c_char) -> *mut wasmpool_trap_t {
    ffi_value(std::ptr::null_mut(), || {
        let text = if message.is_null() {
            "host function trapped".to_string()
        } else {
            // SAFETY: a non-NULL message is a NUL-terminated string.
            unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
        };
        wasmpool_trap::into_raw(Trap::host(text))
    })
}

/// The trap's code (`WASMPOOL_TRAP_*`). For a NULL trap, returns 255, which is
/// no trap code.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_code(trap: *const wasmpool_trap_t) -> wasmpool_trap_code_t {
    ffi_value(255, || {
        // SAFETY: a non-NULL trap is live, owned by the caller.
        match unsafe { trap.as_ref() } {
            Some(t) => t.trap.code() as wasmpool_trap_code_t,
            None => 255,
        }
    })
}

/// The trap's message: a NUL-terminated UTF-8 string owned by the trap and
/// valid until `wasmpool_trap_delete`. Its first line says why execution
/// trapped (the standard message of the code, or the text given to
/// `wasmpool_trap_new`). A trap that crossed wasm continues with its
/// backtrace, in Wasmtime's format, innermost frame first (module and
/// function names from the module's name section, else `<unknown>` and
/// `<wasm function N>`):
///
/// ```text
/// integer divide by zero
/// wasm backtrace:
///     0:  0x1a2 - demo!div
///     1:   0x95 - demo!main
/// ```
///
/// For a NULL trap, a static string saying so (never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_message(trap: *const wasmpool_trap_t) -> *const c_char {
    const NULL_TRAP: &CStr = c"(NULL wasmpool_trap_t)";
    ffi_value(NULL_TRAP.as_ptr(), || {
        // SAFETY: a non-NULL trap is live, owned by the caller.
        match unsafe { trap.as_ref() } {
            Some(t) => t.message.as_ptr(),
            None => NULL_TRAP.as_ptr(),
        }
    })
}

/// Writes to `*out` the index (in the module's function index space) of the
/// wasm function that trapped and returns true; returns false and writes
/// nothing when that is unknown (host traps, traps outside compiled code) or
/// when `trap` or `out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_function_index(
    trap: *const wasmpool_trap_t,
    out: *mut u32,
) -> bool {
    ffi_value(false, || {
        // SAFETY: non-NULL pointers are a live trap and a writable u32.
        let (Some(t), Some(out)) = (unsafe { trap.as_ref() }, unsafe { out.as_mut() }) else {
            return false;
        };
        match t.trap.function_index() {
            Some(i) => {
                *out = i;
                true
            }
            None => false,
        }
    })
}

/// Frees a trap. Takes ownership; NULL does nothing. Do not delete a trap you
/// returned from a host function: the runtime owns it then.
#[unsafe(no_mangle)]
pub extern "C" fn wasmpool_trap_delete(trap: *mut wasmpool_trap_t) {
    // SAFETY: a non-NULL trap came from `into_raw` and is given up by the caller.
    unsafe { delete_boxed(trap) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trap::TrapCode;

    #[test]
    fn codes_match_the_rust_enum() {
        let c = [
            WASMPOOL_TRAP_STACK_OVERFLOW,
            WASMPOOL_TRAP_MEMORY_OUT_OF_BOUNDS,
            WASMPOOL_TRAP_HEAP_MISALIGNED,
            WASMPOOL_TRAP_TABLE_OUT_OF_BOUNDS,
            WASMPOOL_TRAP_INDIRECT_CALL_TO_NULL,
            WASMPOOL_TRAP_BAD_SIGNATURE,
            WASMPOOL_TRAP_INTEGER_OVERFLOW,
            WASMPOOL_TRAP_INTEGER_DIVISION_BY_ZERO,
            WASMPOOL_TRAP_BAD_CONVERSION_TO_INTEGER,
            WASMPOOL_TRAP_UNREACHABLE,
            WASMPOOL_TRAP_INTERRUPT,
            WASMPOOL_TRAP_OUT_OF_FUEL,
            WASMPOOL_TRAP_HOST,
        ];
        for (code, raw) in TrapCode::ALL.iter().zip(c) {
            assert_eq!(*code as u8, raw);
        }
    }

    #[test]
    fn new_trap_is_a_host_trap_with_its_message() {
        let t = wasmpool_trap_new(c"boom".as_ptr());
        assert_eq!(wasmpool_trap_code(t), WASMPOOL_TRAP_HOST);
        // SAFETY: valid until deleted.
        assert_eq!(unsafe { CStr::from_ptr(wasmpool_trap_message(t)) }.to_str().unwrap(), "boom");
        wasmpool_trap_delete(t);
        let t = wasmpool_trap_new(std::ptr::null());
        assert_eq!(wasmpool_trap_code(t), WASMPOOL_TRAP_HOST);
        wasmpool_trap_delete(t);
        assert_eq!(wasmpool_trap_code(std::ptr::null()), 255);
    }
}
