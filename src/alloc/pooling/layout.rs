//! The slab layout: pure arithmetic, kept apart from the `mmap` calls so a
//! property test can check it without touching memory.
//!
//! The memory slab is one reservation: an optional guard, then the slots,
//! each followed by a guard that doubles as the next slot's guard before:
//!
//! ```text
//! ┌───────┬────────────┬───────┬────────────┬───────┬─────┬────────────┬───────┐
//! │ guard │  slot 0    │ guard │  slot 1    │ guard │ ... │  slot N-1  │ guard │
//! └───────┴────────────┴───────┴────────────┴───────┴─────┴────────────┴───────┘
//!  (only with            each slot = memory_reservation bytes, each guard =
//!   guard_before)        memory_guard_size bytes
//! ```
//!
//! Table and instance slabs are plain arrays of page-rounded slots. The
//! stack slab (only with `Config::async_support`) is an array of stack
//! slots, each a guard page below a page-rounded stack:
//!
//! ```text
//! ┌───────┬──────────────┬───────┬──────────────┬─────┬───────┬──────────────┐
//! │ guard │   stack 0  ◄─│ guard │   stack 1  ◄─│ ... │ guard │ stack N-1  ◄─│
//! └───────┴──────────────┴───────┴──────────────┴─────┴───────┴──────────────┘
//!  one page  async_stack_size (stacks grow down, from the slot's end)
//! ```

use crate::config::{Config, PoolingConfig};
use crate::error::{Error, ErrorKind, Result};

/// Where everything of a pool lives, in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub memory_pre_guard: usize,
    /// Bytes of one memory slot (its reservation).
    pub memory_slot_bytes: usize,
    /// Distance between the starts of two memory slots (slot + guard).
    pub memory_stride: usize,
    pub num_memories: usize,
    pub memory_total: usize,
    /// Bytes a memory may actually grow to (`max_memory_size`, at most the slot).
    pub memory_capacity: usize,
    pub table_slot_bytes: usize,
    pub num_tables: usize,
    pub table_total: usize,
    pub instance_slot_bytes: usize,
    pub num_instances: usize,
    pub instance_total: usize,
    /// Bytes of one stack slot: the guard page plus the stack.
    pub stack_slot_bytes: usize,
    /// Usable bytes of one stack (`async_stack_size`, page-rounded).
    pub stack_bytes: usize,
    /// Stack slots (0 without `async_support`).
    pub num_stacks: usize,
    pub stack_total: usize,
}

fn overflow(what: &str) -> Error {
    Error::new(
        ErrorKind::Resource,
        format!("the pooling allocator's {what} does not fit in the address space"),
    )
}

/// Computes the layout for `config` and `pool` with host pages of `page` bytes.
pub(crate) fn calculate(config: &Config, pool: &PoolingConfig, page: usize) -> Result<Layout> {
    let reservation =
        usize::try_from(config.memory_reservation).map_err(|_| overflow("memory reservation"))?;
    let guard = usize::try_from(config.memory_guard_size).map_err(|_| overflow("memory guard"))?;
    let round =
        |n: usize, what: &str| n.checked_next_multiple_of(page).ok_or_else(|| overflow(what));
    let memory_slot_bytes = round(reservation, "memory slot")?;
    let guard = round(guard, "memory guard")?;
    if pool.max_memory_size > memory_slot_bytes {
        return Err(Error::invalid_argument(format!(
            "max_memory_size ({} bytes) exceeds memory_reservation ({} bytes): a pooled memory must fit its slot",
            pool.max_memory_size, memory_slot_bytes
        )));
    }
    let memory_stride =
        memory_slot_bytes.checked_add(guard).ok_or_else(|| overflow("memory slot"))?;
    let memory_pre_guard = if config.guard_before_linear_memory { guard } else { 0 };
    let num_memories = pool.total_memories as usize;
    let memory_total = memory_stride
        .checked_mul(num_memories)
        .and_then(|n| n.checked_add(memory_pre_guard))
        .ok_or_else(|| overflow("memory slab"))?;
    let table_slot_bytes = round(
        pool.table_elements.checked_mul(8).ok_or_else(|| overflow("table slot"))?,
        "table slot",
    )?;
    let num_tables = pool.total_tables as usize;
    let table_total =
        table_slot_bytes.checked_mul(num_tables).ok_or_else(|| overflow("table slab"))?;
    let instance_slot_bytes = round(pool.max_core_instance_size, "instance slot")?;
    let num_instances = pool.total_core_instances as usize;
    let instance_total =
        instance_slot_bytes.checked_mul(num_instances).ok_or_else(|| overflow("instance slab"))?;
    let (stack_bytes, num_stacks) = if config.async_support {
        (round(config.async_stack_size.max(page), "stack")?, pool.total_stacks as usize)
    } else {
        (0, 0)
    };
    let stack_slot_bytes = stack_bytes.checked_add(page).ok_or_else(|| overflow("stack slot"))?;
    let stack_total =
        stack_slot_bytes.checked_mul(num_stacks).ok_or_else(|| overflow("stack slab"))?;
    Ok(Layout {
        memory_pre_guard,
        memory_slot_bytes,
        memory_stride,
        num_memories,
        memory_total,
        memory_capacity: pool.max_memory_size,
        table_slot_bytes,
        num_tables,
        table_total,
        instance_slot_bytes,
        num_instances,
        instance_total,
        stack_slot_bytes,
        stack_bytes,
        num_stacks,
        stack_total,
    })
}

impl Layout {
    /// Offset of memory slot `i` in the memory slab.
    pub(crate) fn memory_slot(&self, i: usize) -> usize {
        self.memory_pre_guard + i * self.memory_stride
    }

    /// Total address space the pool reserves.
    pub(crate) fn total_bytes(&self) -> u128 {
        self.memory_total as u128
            + self.table_total as u128
            + self.instance_total as u128
            + self.stack_total as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the property test needs no crate.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn slots_never_overlap_have_guards_and_add_up() {
        let page = 4096;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let pages = |s: &mut u64, max: u64| (xorshift(s) % max) as usize * page;
            let config = Config {
                memory_reservation: (pages(&mut seed, 64) + page) as u64,
                memory_guard_size: pages(&mut seed, 8) as u64,
                guard_before_linear_memory: xorshift(&mut seed).is_multiple_of(2),
                async_support: xorshift(&mut seed).is_multiple_of(2),
                async_stack_size: (xorshift(&mut seed) % 100_000) as usize,
                ..Config::default()
            };
            let pool = PoolingConfig {
                total_memories: (xorshift(&mut seed) % 20) as u32,
                total_tables: (xorshift(&mut seed) % 20) as u32,
                total_core_instances: (xorshift(&mut seed) % 20) as u32,
                table_elements: (xorshift(&mut seed) % 5000) as usize,
                max_core_instance_size: (xorshift(&mut seed) % 100_000) as usize,
                max_memory_size: (config.memory_reservation as usize / 65536) * 65536,
                total_stacks: (xorshift(&mut seed) % 20) as u32,
                ..PoolingConfig::default()
            };
            let l = calculate(&config, &pool, page).unwrap();
            let guard = config.memory_guard_size as usize;
            for i in 0..l.num_memories {
                let start = l.memory_slot(i);
                let end = start + l.memory_slot_bytes;
                assert!(end + guard <= l.memory_total, "every slot has a full guard after it");
                if i + 1 < l.num_memories {
                    assert!(
                        end + guard <= l.memory_slot(i + 1),
                        "slots never overlap and keep a guard between"
                    );
                }
                assert_eq!(start % page, 0);
            }
            if config.guard_before_linear_memory && l.num_memories > 0 {
                assert!(l.memory_slot(0) >= guard);
            }
            assert_eq!(
                l.memory_total,
                l.memory_pre_guard + l.num_memories * (l.memory_slot_bytes + guard)
            );
            assert!(
                l.table_slot_bytes >= pool.table_elements * 8
                    && l.table_slot_bytes.is_multiple_of(page)
            );
            assert_eq!(l.table_total, l.num_tables * l.table_slot_bytes);
            assert!(
                l.instance_slot_bytes >= pool.max_core_instance_size
                    && l.instance_slot_bytes.is_multiple_of(page)
            );
            assert_eq!(l.instance_total, l.num_instances * l.instance_slot_bytes);
            assert!(l.memory_capacity <= l.memory_slot_bytes);
            if config.async_support {
                assert_eq!(l.num_stacks, pool.total_stacks as usize);
                assert!(l.stack_bytes >= config.async_stack_size && l.stack_bytes >= page);
                assert!(l.stack_bytes.is_multiple_of(page));
                assert_eq!(l.stack_slot_bytes, l.stack_bytes + page, "a guard page per stack");
            } else {
                assert_eq!(l.num_stacks, 0, "no stack slab without async support");
            }
            assert_eq!(l.stack_total, l.num_stacks * l.stack_slot_bytes);
        }
    }

    #[test]
    fn a_memory_larger_than_its_slot_is_rejected() {
        let config = Config { memory_reservation: 1 << 20, ..Config::default() };
        let err = calculate(&config, &PoolingConfig::default(), 4096).unwrap_err();
        assert!(err.message().contains("max_memory_size"), "{}", err.message());
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let pool = PoolingConfig { total_memories: u32::MAX, ..PoolingConfig::default() };
        let config = Config { memory_reservation: u64::MAX / 2, ..Config::default() };
        let pool = PoolingConfig { max_memory_size: 65536, ..pool };
        assert!(calculate(&config, &pool, 4096).is_err());
    }
}
