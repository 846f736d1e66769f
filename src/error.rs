//! The one error type of the library.
//!
//! Every fallible operation returns [`Error`]: a human-readable message and an
//! [`ErrorKind`] that a host can branch on (the C API hands the kind out as
//! `wasmpool_error_kind_t`). Messages name the thing that went wrong and, where
//! there is one, the limit or byte offset involved.

use crate::trap::Trap;
use std::fmt;

/// What kind of failure an [`Error`] reports. The discriminants are part of the
/// C ABI (`WASMPOOL_ERROR_*`) and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorKind {
    /// A NULL pointer, a bad value, an unknown export name, a wrong arity or type.
    InvalidArgument = 1,
    /// Malformed or invalid WebAssembly, or text that does not parse.
    InvalidModule = 2,
    /// A feature or configuration this build or this host cannot provide.
    Unsupported = 3,
    /// A missing or mistyped import.
    Link = 4,
    /// A module exceeds a configured limit.
    Limit = 5,
    /// Every slot of some pool kind is in use right now.
    PoolExhausted = 6,
    /// The operating system refused memory or address space.
    Resource = 7,
    /// A bug in the library (for example a caught panic).
    Internal = 8,
    /// WebAssembly trapped; [`Error::trap`] has the details. (Rust API only:
    /// the C API reports traps through `wasmpool_trap_t`, never as an error.)
    Trap = 9,
}

/// An error: a kind to branch on and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    trap: Option<Box<Trap>>,
}

impl Error {
    /// Creates an error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), trap: None }
    }

    /// The error that reports a trap (kind [`ErrorKind::Trap`]).
    pub fn from_trap(trap: Trap) -> Error {
        Error { kind: ErrorKind::Trap, message: trap.to_string(), trap: Some(Box::new(trap)) }
    }

    /// The trap, when this error reports one.
    pub fn trap(&self) -> Option<&Trap> {
        self.trap.as_deref()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for an [`ErrorKind::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// Shorthand for an [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
