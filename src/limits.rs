//! Per-store resource limits: how far a store's memories and tables may
//! grow, and how many instances, memories and tables it may hold.
//!
//! A store without a limiter is bounded only by the engine (the pool's slot
//! sizes, `Config::max_table_elements`, the 4 GiB of a 32-bit memory). A
//! host that runs untrusted code usually wants less, per tenant: it gives
//! the store a [`ResourceLimiter`], most often the ready-made [`StoreLimits`]
//! (the C API's `wasmpool_store_limiter`). The limiter is asked
//!
//! - before a memory or table is created (instantiation, or the host's
//!   `Memory::new` / `Table::new`), with `current` 0 and `desired` the
//!   minimum: a refusal is a `Limit` error and nothing is allocated;
//! - before a memory or table grows by a non-zero amount (`memory.grow` /
//!   `table.grow` in wasm, or the host's `grow`): a refusal makes the guest's instruction return
//!   -1, as the spec allows, and the host's call a `Limit` error; an `Err`
//!   traps the guest instead;
//! - for the most instances, memories and tables the store may hold, checked
//!   before an instance takes anything from the allocator.
//!
//! Its answers are the only per-store cost: without a limiter, growth and
//! instantiation take one untaken branch.

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::Table;
use crate::trap::Trap;
use crate::types::WASM_PAGE_SIZE;

/// The count limits of a limiter that does not override them (Wasmtime's
/// default too): 10,000 instances, memories and tables per store.
pub const DEFAULT_INSTANCE_LIMIT: usize = 10_000;
/// See [`DEFAULT_INSTANCE_LIMIT`].
pub const DEFAULT_TABLE_LIMIT: usize = 10_000;
/// See [`DEFAULT_INSTANCE_LIMIT`].
pub const DEFAULT_MEMORY_LIMIT: usize = 10_000;

/// Decides, per store, whether memories and tables may be created and grow,
/// and how many instances, memories and tables the store may hold. Give one
/// to a store with [`Store::limiter`](crate::Store::limiter).
pub trait ResourceLimiter: Send {
    /// A linear memory wants to grow from `current` to `desired` bytes
    /// (`current` is 0 when the memory is being created); `maximum` is the
    /// maximum its type declares, in bytes. `Ok(true)` allows it, `Ok(false)`
    /// refuses it (`memory.grow` returns -1; creation is a `Limit` error),
    /// `Err` traps the wasm that asked (creation: a `Limit` error).
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, Trap>;

    /// A table wants to grow from `current` to `desired` elements (`current`
    /// is 0 when the table is being created); `maximum` is the maximum its
    /// type declares. Answers as for [`ResourceLimiter::memory_growing`].
    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, Trap>;

    /// The most instances the store may hold.
    fn instances(&self) -> usize {
        DEFAULT_INSTANCE_LIMIT
    }

    /// The most tables (defined by instances or created by the host) the
    /// store may hold.
    fn tables(&self) -> usize {
        DEFAULT_TABLE_LIMIT
    }

    /// The most linear memories (defined by instances or created by the
    /// host) the store may hold.
    fn memories(&self) -> usize {
        DEFAULT_MEMORY_LIMIT
    }
}

/// The usual limiter: fixed ceilings, built with [`StoreLimitsBuilder`].
/// Every limit is unbounded unless set.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    memory_size: Option<usize>,
    table_elements: Option<usize>,
    instances: usize,
    tables: usize,
    memories: usize,
    trap_on_grow_failure: bool,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            memory_size: None,
            table_elements: None,
            instances: usize::MAX,
            tables: usize::MAX,
            memories: usize::MAX,
            trap_on_grow_failure: false,
        }
    }
}

/// Builds a [`StoreLimits`].
#[derive(Clone, Debug, Default)]
pub struct StoreLimitsBuilder(StoreLimits);

impl StoreLimitsBuilder {
    /// No limits yet.
    pub fn new() -> StoreLimitsBuilder {
        StoreLimitsBuilder::default()
    }

    /// The most bytes any one linear memory may reach.
    pub fn memory_size(mut self, bytes: usize) -> StoreLimitsBuilder {
        self.0.memory_size = Some(bytes);
        self
    }

    /// The most elements any one table may reach.
    pub fn table_elements(mut self, elements: usize) -> StoreLimitsBuilder {
        self.0.table_elements = Some(elements);
        self
    }

    /// The most instances the store may hold.
    pub fn instances(mut self, n: usize) -> StoreLimitsBuilder {
        self.0.instances = n;
        self
    }

    /// The most tables the store may hold.
    pub fn tables(mut self, n: usize) -> StoreLimitsBuilder {
        self.0.tables = n;
        self
    }

    /// The most linear memories the store may hold.
    pub fn memories(mut self, n: usize) -> StoreLimitsBuilder {
        self.0.memories = n;
        self
    }

    /// Whether growth past a limit traps the guest instead of returning -1
    /// (default false).
    pub fn trap_on_grow_failure(mut self, trap: bool) -> StoreLimitsBuilder {
        self.0.trap_on_grow_failure = trap;
        self
    }

    /// The limits.
    pub fn build(self) -> StoreLimits {
        self.0
    }
}

impl StoreLimits {
    fn decide(&self, what: &str, desired: usize, limit: Option<usize>) -> Result<bool, Trap> {
        match limit {
            Some(limit) if desired > limit => {
                if self.trap_on_grow_failure {
                    Err(Trap::host(format!(
                        "{what} of {desired} exceeds the store's limit of {limit}"
                    )))
                } else {
                    Ok(false)
                }
            }
            _ => Ok(true),
        }
    }
}

impl ResourceLimiter for StoreLimits {
    fn memory_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool, Trap> {
        self.decide("a memory size (bytes)", desired, self.memory_size)
    }

    fn table_growing(&mut self, _: usize, desired: usize, _: Option<usize>) -> Result<bool, Trap> {
        self.decide("a table size (elements)", desired, self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// A store's limiter and the counts it is checked against.
#[derive(Default)]
pub(crate) struct StoreLimiter {
    limiter: Option<Box<dyn ResourceLimiter>>,
    /// Memories and tables the store holds (defined by its instances or
    /// created by the host).
    pub memories: usize,
    pub tables: usize,
}

/// What a growth request came to.
pub(crate) enum Grow {
    /// Allowed (the growth itself may still fail for lack of memory).
    Allowed,
    /// Refused: the guest sees -1, the host a `Limit` error.
    Refused,
    /// The limiter asks to trap the guest.
    Trap(Trap),
}

impl StoreLimiter {
    /// Whether a limiter is set.
    pub(crate) fn is_set(&self) -> bool {
        self.limiter.is_some()
    }

    /// The most memories the limiter allows (unbounded without one).
    pub(crate) fn memory_count_limit(&self) -> usize {
        self.limiter.as_ref().map_or(usize::MAX, |l| l.memories())
    }

    /// The most tables the limiter allows (unbounded without one).
    pub(crate) fn table_count_limit(&self) -> usize {
        self.limiter.as_ref().map_or(usize::MAX, |l| l.tables())
    }

    /// Installs `limiter`, replacing any other.
    pub(crate) fn set(&mut self, limiter: Box<dyn ResourceLimiter>) {
        self.limiter = Some(limiter);
    }

    /// Asks the limiter about a memory growing from `current` to `desired`
    /// bytes.
    pub(crate) fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Grow {
        match &mut self.limiter {
            None => Grow::Allowed,
            Some(l) => verdict(l.memory_growing(current, desired, maximum)),
        }
    }

    /// Asks the limiter about a table growing from `current` to `desired`
    /// elements.
    pub(crate) fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Grow {
        match &mut self.limiter {
            None => Grow::Allowed,
            Some(l) => verdict(l.table_growing(current, desired, maximum)),
        }
    }

    /// Checks that one more instance with `memories` memories and `tables`
    /// tables of the given minimums (bytes, elements) fits the limits:
    /// a `Limit` error naming the one it would break.
    pub(crate) fn check_instance(
        &mut self,
        instances: usize,
        memories: &[(usize, Option<usize>)],
        tables: &[(usize, Option<usize>)],
    ) -> Result<()> {
        let Some(l) = &mut self.limiter else { return Ok(()) };
        let over = |what: &str, have: usize, adding: usize, limit: usize| {
            (have.saturating_add(adding) > limit).then(|| {
                Error::new(
                    ErrorKind::Limit,
                    format!("the store may hold at most {limit} {what}; it holds {have}"),
                )
            })
        };
        if let Some(e) = over("instances", instances, 1, l.instances())
            .or_else(|| over("memories", self.memories, memories.len(), l.memories()))
            .or_else(|| over("tables", self.tables, tables.len(), l.tables()))
        {
            return Err(e);
        }
        for &(min, max) in memories {
            creation(verdict(l.memory_growing(0, min, max)), "memory", min, "bytes")?;
        }
        for &(min, max) in tables {
            creation(verdict(l.table_growing(0, min, max)), "table", min, "elements")?;
        }
        Ok(())
    }
}

/// Why a growth did not happen.
pub(crate) enum GrowFailure {
    /// The store's limiter refused it (the host sees a `Limit` error).
    Refused,
    /// The limiter asked to trap the guest (the host sees a `Limit` error).
    Trap(Trap),
    /// The type's maximum, the pool slot, the engine's table ceiling or the
    /// OS refused it (the host sees a `Resource` error).
    Failed,
}

/// Grows `memory` by `delta` pages as the store's limiter allows; returns
/// the old size in pages.
pub(crate) fn grow_memory(
    limits: &mut StoreLimiter,
    memory: &mut LinearMemory,
    delta: u64,
) -> Result<u64, GrowFailure> {
    if limits.limiter.is_some() && delta > 0 {
        let current = memory.length();
        let desired = (current as u64 / WASM_PAGE_SIZE)
            .checked_add(delta)
            .and_then(|p| p.checked_mul(WASM_PAGE_SIZE))
            .and_then(|b| usize::try_from(b).ok())
            .ok_or(GrowFailure::Failed)?;
        let maximum = memory.max_pages().map(|p| (p * WASM_PAGE_SIZE) as usize);
        allowed(limits.memory_growing(current, desired, maximum))?;
    }
    memory.grow(delta).ok_or(GrowFailure::Failed)
}

/// Grows `table` by `delta` elements set to `init` as the store's limiter
/// allows; returns the old size.
pub(crate) fn grow_table(
    limits: &mut StoreLimiter,
    table: &mut Table,
    delta: u32,
    init: usize,
) -> Result<u32, GrowFailure> {
    if limits.limiter.is_some() && delta > 0 {
        let current = table.len();
        let desired = current.saturating_add(delta as usize);
        let maximum = table.declared_max().map(|m| m as usize);
        allowed(limits.table_growing(current, desired, maximum))?;
    }
    table.grow(delta, init).ok_or(GrowFailure::Failed)
}

fn allowed(grow: Grow) -> Result<(), GrowFailure> {
    match grow {
        Grow::Allowed => Ok(()),
        Grow::Refused => Err(GrowFailure::Refused),
        Grow::Trap(t) => Err(GrowFailure::Trap(t)),
    }
}

impl GrowFailure {
    /// The host API's error for this failure to grow `what`.
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            GrowFailure::Refused => Error::new(
                ErrorKind::Limit,
                format!("{what}: refused by the store's resource limiter"),
            ),
            GrowFailure::Trap(t) => Error::new(
                ErrorKind::Limit,
                format!("{what}: refused by the store's resource limiter: {t}"),
            ),
            GrowFailure::Failed => Error::new(
                ErrorKind::Resource,
                format!("{what}: past its maximum, the pool's slot or the memory available"),
            ),
        }
    }
}

fn verdict(answer: Result<bool, Trap>) -> Grow {
    match answer {
        Ok(true) => Grow::Allowed,
        Ok(false) => Grow::Refused,
        Err(trap) => Grow::Trap(trap),
    }
}

/// A creation's verdict as a result: anything but `Allowed` is a `Limit`
/// error.
pub(crate) fn creation(grow: Grow, what: &str, min: usize, unit: &str) -> Result<()> {
    let why = match grow {
        Grow::Allowed => return Ok(()),
        Grow::Refused => "refused by the store's limiter".to_string(),
        Grow::Trap(t) => format!("refused by the store's limiter: {t}"),
    };
    Err(Error::new(ErrorKind::Limit, format!("a {what} of {min} {unit} was {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_limits_refuse_or_trap_past_their_ceilings() {
        let mut l = StoreLimitsBuilder::new().memory_size(65536).table_elements(10).build();
        assert!(l.memory_growing(0, 65536, None).unwrap());
        assert!(!l.memory_growing(65536, 131072, None).unwrap());
        assert!(!l.table_growing(5, 11, Some(20)).unwrap());
        let mut l = StoreLimitsBuilder::new().table_elements(10).trap_on_grow_failure(true).build();
        assert!(l.table_growing(5, 11, None).is_err());
        assert_eq!(l.instances(), usize::MAX, "unset counts are unbounded");
    }

    #[test]
    fn counts_are_checked_before_minimums() {
        let mut s = StoreLimiter::default();
        assert!(s.check_instance(usize::MAX, &[(1 << 30, None)], &[]).is_ok(), "no limiter");
        s.set(Box::new(StoreLimitsBuilder::new().instances(2).memories(1).build()));
        s.memories = 1;
        let e = s.check_instance(0, &[(65536, None)], &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limit);
        assert!(e.message().contains("at most 1 memories"), "{}", e.message());
        let e = s.check_instance(2, &[], &[]).unwrap_err();
        assert!(e.message().contains("at most 2 instances"), "{}", e.message());
        s.set(Box::new(StoreLimitsBuilder::new().memory_size(65536).build()));
        let e = s.check_instance(0, &[(131072, None)], &[]).unwrap_err();
        assert!(e.message().contains("131072 bytes"), "{}", e.message());
    }
}
