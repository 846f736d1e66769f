//! Traps: how a WebAssembly execution ends abnormally.
//!
//! A trap is not an error of the embedding: it is a value the host receives
//! when wasm executes `unreachable`, accesses memory out of bounds, overflows
//! its stack, or a host function asks to trap. The engine, the store's other
//! instances and the pool stay fully usable afterwards. The numeric codes are
//! part of the C ABI (`WASMPOOL_TRAP_*`) and never change.
//!
//! A trap that crossed wasm carries its backtrace: the wasm frames on the
//! stack when it happened, innermost first ([`Trap::frames`]). Capturing it
//! costs nothing while wasm runs; the signal handler walks the stack only
//! when a trap happens (see `runtime::traps::backtrace`).

use std::fmt;

/// Why execution trapped. The discriminants are the C ABI's `WASMPOOL_TRAP_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TrapCode {
    /// The wasm stack exceeded `max_wasm_stack`.
    StackOverflow = 0,
    /// A load or store (or a bulk memory operation) outside the memory.
    MemoryOutOfBounds = 1,
    /// A misaligned atomic access.
    HeapMisaligned = 2,
    /// A table access outside the table.
    TableOutOfBounds = 3,
    /// `call_indirect` through a null table element.
    IndirectCallToNull = 4,
    /// `call_indirect` to a function of another signature.
    BadSignature = 5,
    /// Signed division overflow (`INT_MIN / -1`).
    IntegerOverflow = 6,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero = 7,
    /// A float-to-int conversion of NaN or a value out of range.
    BadConversionToInteger = 8,
    /// The `unreachable` instruction.
    Unreachable = 9,
    /// The epoch deadline passed.
    Interrupt = 10,
    /// The store ran out of fuel.
    OutOfFuel = 11,
    /// A host function returned a trap.
    Host = 12,
}

impl TrapCode {
    /// Every trap code, in ABI order.
    pub const ALL: [TrapCode; 13] = [
        TrapCode::StackOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::HeapMisaligned,
        TrapCode::TableOutOfBounds,
        TrapCode::IndirectCallToNull,
        TrapCode::BadSignature,
        TrapCode::IntegerOverflow,
        TrapCode::IntegerDivisionByZero,
        TrapCode::BadConversionToInteger,
        TrapCode::Unreachable,
        TrapCode::Interrupt,
        TrapCode::OutOfFuel,
        TrapCode::Host,
    ];

    /// The code with the given ABI value, if there is one.
    pub fn from_raw(raw: u8) -> Option<TrapCode> {
        TrapCode::ALL.get(raw as usize).copied()
    }

    /// The standard message for this code (the wording of the spec test suite).
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::HeapMisaligned => "misaligned memory access",
            TrapCode::TableOutOfBounds => "undefined element: out of bounds table access",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::BadSignature => "indirect call type mismatch",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::Unreachable => "unreachable",
            TrapCode::Interrupt => "interrupt",
            TrapCode::OutOfFuel => "all fuel consumed",
            TrapCode::Host => "host function trapped",
        }
    }
}

/// A trap: its code, a message (the code's message, or the host's own), and
/// the wasm frames it crossed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    code: TrapCode,
    message: String,
    frames: Vec<FrameInfo>,
}

impl Trap {
    /// A trap with the standard message of `code`.
    pub fn new(code: TrapCode) -> Trap {
        Trap { code, message: code.message().to_string(), frames: Vec::new() }
    }

    /// A trap raised by a host function, with the host's message.
    pub fn host(message: impl Into<String>) -> Trap {
        Trap { code: TrapCode::Host, message: message.into(), frames: Vec::new() }
    }

    /// The same trap with the backtrace `frames`, unless it already has one:
    /// a host function that returns the trap of wasm it called keeps that
    /// inner backtrace.
    pub(crate) fn with_frames(mut self, frames: Vec<FrameInfo>) -> Trap {
        if self.frames.is_empty() {
            self.frames = frames;
        }
        self
    }

    /// Why execution trapped.
    pub fn code(&self) -> TrapCode {
        self.code
    }

    /// The message for people: the code's message or the host's, without the
    /// backtrace (`Display` adds it).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wasm call stack when the trap happened, innermost frame first: the
    /// function that trapped (or, for a host trap, the one that called the
    /// host), then its callers up to the function the host called. Only the
    /// innermost entry into wasm is covered (wasm called by a host function
    /// called by wasm shows the inner wasm only), and at most the innermost
    /// 64 frames. Empty for a trap that never crossed wasm (made by
    /// [`Trap::host`] and returned to the host directly, or raised while
    /// instantiating outside wasm code).
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }

    /// The index (in its module's function index space) of the wasm function
    /// that trapped, when the trap came from compiled wasm code (not from a
    /// host function).
    pub fn function_index(&self) -> Option<u32> {
        match self.code {
            TrapCode::Host => None,
            _ => self.frames.first().map(FrameInfo::func_index),
        }
    }

    /// Writes the backtrace, if there is one, as lines after the message:
    /// `wasm backtrace:`, then one line per frame like Wasmtime's,
    /// `  {index:>3}: {module_offset:#6x} - {module}!{function}`, with
    /// `<unknown>` for a module without a name and `<wasm function N>` for a
    /// function without one.
    pub(crate) fn write_backtrace(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if self.frames.is_empty() {
            return Ok(());
        }
        write!(f, "\nwasm backtrace:")?;
        for (i, frame) in self.frames.iter().enumerate() {
            let module = frame.module_name().unwrap_or("<unknown>");
            write!(f, "\n  {i:>3}: {:#6x} - {module}!", frame.module_offset())?;
            match frame.func_name() {
                Some(name) => write!(f, "{name}")?,
                None => write!(f, "<wasm function {}>", frame.func_index())?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Trap {
    /// `wasm trap: MESSAGE`, then the backtrace (see [`Trap::frames`]):
    ///
    /// ```text
    /// wasm trap: integer divide by zero
    /// wasm backtrace:
    ///     0:  0x1a2 - <unknown>!div
    ///     1:   0x95 - <unknown>!main
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.message)?;
        self.write_backtrace(f)
    }
}

/// One frame of a trap's backtrace: a wasm function and where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    func_index: u32,
    func_name: Option<String>,
    module_name: Option<String>,
    module_offset: usize,
}

impl FrameInfo {
    pub(crate) fn new(
        func_index: u32,
        func_name: Option<String>,
        module_name: Option<String>,
        module_offset: usize,
    ) -> FrameInfo {
        FrameInfo { func_index, func_name, module_name, module_offset }
    }

    /// The function's index in its module's function index space (imported
    /// functions first).
    pub fn func_index(&self) -> u32 {
        self.func_index
    }

    /// The function's name from the module's `name` section, if it has one.
    pub fn func_name(&self) -> Option<&str> {
        self.func_name.as_deref()
    }

    /// The module's name from its `name` section, if it has one.
    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }

    /// The byte offset, in the module binary, of the instruction this frame
    /// was executing: the trapping instruction in the innermost frame, the
    /// call in the others. A trap in a function's entry, before its first
    /// instruction ran (a stack overflow), gives the offset of that first
    /// instruction.
    pub fn module_offset(&self) -> usize {
        self.module_offset
    }
}

impl std::error::Error for Trap {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_round_trip_in_abi_order() {
        for (i, code) in TrapCode::ALL.iter().enumerate() {
            assert_eq!(*code as u8, i as u8);
            assert_eq!(TrapCode::from_raw(i as u8), Some(*code));
        }
        assert_eq!(TrapCode::from_raw(13), None);
    }
}
