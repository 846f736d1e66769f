//! Traps: how a WebAssembly execution ends abnormally.
//!
//! A trap is not an error of the embedding: it is a value the host receives
//! when wasm executes `unreachable`, accesses memory out of bounds, overflows
//! its stack, or a host function asks to trap. The engine, the store's other
//! instances and the pool stay fully usable afterwards. The numeric codes are
//! part of the C ABI (`WASMPOOL_TRAP_*`) and never change.

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

/// A trap: its code and a message (the code's message, or the host's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    code: TrapCode,
    message: String,
    function: Option<u32>,
}

impl Trap {
    /// A trap with the standard message of `code`.
    pub fn new(code: TrapCode) -> Trap {
        Trap { code, message: code.message().to_string(), function: None }
    }

    /// The same trap, noting the wasm function (module index) it came from.
    pub(crate) fn in_function(mut self, function: Option<u32>) -> Trap {
        self.function = function;
        self
    }

    /// The index (in its module's function index space) of the wasm function
    /// that trapped, when the trap came from compiled wasm code.
    pub fn function_index(&self) -> Option<u32> {
        self.function
    }

    /// A trap raised by a host function, with the host's message.
    pub fn host(message: impl Into<String>) -> Trap {
        Trap { code: TrapCode::Host, message: message.into(), function: None }
    }

    /// Why execution trapped.
    pub fn code(&self) -> TrapCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.message)?;
        if let Some(func) = self.function {
            write!(f, " (in wasm function {func})")?;
        }
        Ok(())
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
