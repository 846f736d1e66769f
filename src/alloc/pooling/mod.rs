//! The pooling instance allocator.
//!
//! All address space for instances, linear memories and tables is reserved
//! once, when the engine is created, in three slabs of slots (see
//! [`layout`]), plus a fourth of stacks for resumable calls when the engine
//! has `async_support` ([`stack_pool`]). An instance takes an instance slot for its VMContext plus one
//! memory slot per defined memory and one table slot per defined table,
//! chosen by [`index_allocator`] with a preference for slots that last held
//! the same module. On drop each slot is reset ([`memory_pool`],
//! [`table_pool`]) and returned, possibly after a batched decommit
//! ([`decommit_queue`]). Nothing an instance wrote is visible to the next
//! one: memory contents and size, table elements, globals and the VMContext
//! are all restored.
//!
//! A full pool is an `ErrorKind::PoolExhausted` error naming the pool kind
//! and its size, after the decommit queue has been flushed.

pub(crate) mod decommit_queue;
pub(crate) mod index_allocator;
pub(crate) mod layout;
pub(crate) mod memory_pool;
pub(crate) mod mpk;
pub(crate) mod page_scan;
pub(crate) mod stack_pool;
pub(crate) mod table_pool;

use crate::alloc::{InstanceAllocator, InstanceResources, VmctxMemory};
use crate::config::{Config, PoolingConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::module::Module;
use crate::module::info::ModuleInfo;
use crate::runtime::fiber::{FiberStack, StackOwner};
use crate::runtime::table::Table;
use crate::runtime::vmcontext::VMOffsets;
use crate::types::WASM_PAGE_SIZE;
use decommit_queue::{DecommitQueue, PendingSlot, SlotKind};
use index_allocator::SlotId;
use layout::Layout;
use memory_pool::MemoryPool;
use stack_pool::StackPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use table_pool::SlotSlab;

/// Counters of a pooling allocator, cheap to read at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolMetrics {
    /// Live instances.
    pub core_instances: u64,
    /// Live memories.
    pub memories: u64,
    /// Live tables.
    pub tables: u64,
    /// Unused memory slots that remember their last module.
    pub unused_warm_memories: u64,
    /// Unused table slots that remember their last module.
    pub unused_warm_tables: u64,
    /// Bytes kept resident in unused memory slots.
    pub unused_memory_bytes_resident: u64,
    /// Bytes kept resident in unused table slots.
    pub unused_table_bytes_resident: u64,
    /// Memory and table slots reset so far.
    pub resets: u64,
    /// `madvise` calls made to decommit so far.
    pub decommits: u64,
    /// Memory and table allocations that found a slot affine to their module.
    pub affinity_hits: u64,
    /// Copy-on-write images mapped into a slot (not counting reuse of an
    /// image still mapped from the slot's previous instance).
    pub image_mappings: u64,
    /// Stacks in use by resumable calls (running or suspended).
    pub stacks: u64,
    /// Unused stack slots that have been used before.
    pub unused_warm_stacks: u64,
    /// Bytes resident in unused stack slots.
    pub unused_stack_bytes_resident: u64,
}

/// One set of counters; the allocator keeps one per shard, each on its own
/// cache lines, so parallel instantiations never write a shared line. Values
/// are summed (wrapping: a store may drop on another thread than the one
/// that created it) when read.
#[derive(Default)]
#[repr(align(128))]
struct Counters {
    instances: AtomicU64,
    memories: AtomicU64,
    tables: AtomicU64,
    memory_resident: AtomicU64,
    table_resident: AtomicU64,
    resets: AtomicU64,
    decommits: AtomicU64,
    affinity_hits: AtomicU64,
    image_mappings: AtomicU64,
    stacks: AtomicU64,
    stack_resident: AtomicU64,
}

/// The pooling allocator.
pub(crate) struct PoolingAllocator {
    pool: PoolingConfig,
    layout: Layout,
    memories: MemoryPool,
    tables: SlotSlab,
    instances: SlotSlab,
    stacks: StackPool,
    queue: DecommitQueue,
    counters: Box<[Counters]>,
    /// Resident bytes per table slot, to keep the metric exact.
    table_resident: Box<[AtomicU64]>,
    memory_resident: Box<[AtomicU64]>,
    stack_resident: Box<[AtomicU64]>,
}

fn exhausted(kind: &str, n: usize, knob: &str) -> Error {
    Error::new(ErrorKind::PoolExhausted, format!("all {n} {kind} slots are in use ({knob} = {n})"))
}

impl PoolingAllocator {
    /// Reserves the pool's address space. Fails (never aborts) with an error
    /// naming the bytes the configuration needs when the OS refuses.
    pub(crate) fn new(config: &Config, pool: &PoolingConfig) -> Result<PoolingAllocator> {
        pool.validate()?;
        mpk::resolve(pool.memory_protection_keys, mpk::is_supported())?;
        let layout = layout::calculate(config, pool, rustix::param::page_size())?;
        let shards = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let warm = pool.max_unused_warm_slots;
        let describe = |e: Error| {
            Error::new(
                ErrorKind::Resource,
                format!(
                    "the pooling allocator needs {} bytes of address space ({} memory slots of {} bytes plus guards, {} table slots, {} instance slots, {} stack slots) and could not reserve it: {}",
                    layout.total_bytes(),
                    layout.num_memories,
                    layout.memory_slot_bytes,
                    layout.num_tables,
                    layout.num_instances,
                    layout.num_stacks,
                    e.message()
                ),
            )
        };
        let scanner = Arc::new(page_scan::PageScanner::new());
        let memories = MemoryPool::new(
            &layout,
            pool.linear_memory_keep_resident,
            warm,
            shards,
            scanner.clone(),
        )
        .map_err(describe)?;
        let tables = SlotSlab::new(
            layout.num_tables,
            layout.table_slot_bytes,
            pool.table_keep_resident,
            warm,
            shards,
            scanner.clone(),
        )
        .map_err(describe)?;
        let instances = SlotSlab::new(
            layout.num_instances,
            layout.instance_slot_bytes,
            0,
            u32::MAX,
            shards,
            scanner.clone(),
        )
        .map_err(describe)?;
        let stacks = StackPool::new(
            &layout,
            pool.async_stack_zeroing,
            pool.async_stack_keep_resident,
            shards,
            scanner,
        )
        .map_err(describe)?;
        Ok(PoolingAllocator {
            pool: pool.clone(),
            queue: DecommitQueue::new(pool.decommit_batch_size),
            table_resident: (0..layout.num_tables).map(|_| AtomicU64::new(0)).collect(),
            memory_resident: (0..layout.num_memories).map(|_| AtomicU64::new(0)).collect(),
            stack_resident: (0..layout.num_stacks).map(|_| AtomicU64::new(0)).collect(),
            stacks,
            layout,
            memories,
            tables,
            instances,
            counters: (0..shards).map(|_| Counters::default()).collect(),
        })
    }

    /// Rejects, at compile time, a module this pool could never instantiate.
    pub(crate) fn check_module(&self, info: &ModuleInfo, offsets: &VMOffsets) -> Result<()> {
        let p = &self.pool;
        let limit = |msg: String| Err(Error::new(ErrorKind::Limit, msg));
        if info.num_defined_memories() > p.max_memories_per_module {
            return limit(format!(
                "module defines {} memories, exceeding the pooling allocator's max_memories_per_module of {}",
                info.num_defined_memories(),
                p.max_memories_per_module
            ));
        }
        if info.num_defined_tables() > p.max_tables_per_module {
            return limit(format!(
                "module defines {} tables, exceeding the pooling allocator's max_tables_per_module of {}",
                info.num_defined_tables(),
                p.max_tables_per_module
            ));
        }
        for m in &info.memories[info.num_imported_memories as usize..] {
            let bytes = m.min as u128 * WASM_PAGE_SIZE as u128;
            if bytes > p.max_memory_size as u128 {
                return limit(format!(
                    "memory has a minimum of {bytes} bytes, exceeding the pooling allocator's max_memory_size of {} bytes",
                    p.max_memory_size
                ));
            }
        }
        for t in &info.tables[info.num_imported_tables as usize..] {
            if t.min as usize > p.table_elements {
                return limit(format!(
                    "table has a minimum of {} elements, exceeding the pooling allocator's table_elements of {}",
                    t.min, p.table_elements
                ));
            }
        }
        if offsets.size() as usize > p.max_core_instance_size {
            return limit(format!(
                "instance state (VMContext) needs {} bytes, exceeding the pooling allocator's max_core_instance_size of {} bytes",
                offsets.size(),
                p.max_core_instance_size
            ));
        }
        Ok(())
    }

    /// This thread's counters.
    fn counters(&self) -> &Counters {
        &self.counters[index_allocator::home_index() % self.counters.len()]
    }

    /// The allocator's counters.
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let sum = |f: fn(&Counters) -> &AtomicU64| {
            self.counters.iter().fold(0u64, |acc, c| acc.wrapping_add(f(c).load(Ordering::Relaxed)))
        };
        PoolMetrics {
            core_instances: sum(|c| &c.instances),
            memories: sum(|c| &c.memories),
            tables: sum(|c| &c.tables),
            unused_warm_memories: self.memories.index.num_warm() as u64,
            unused_warm_tables: self.tables.index.num_warm() as u64,
            unused_memory_bytes_resident: sum(|c| &c.memory_resident),
            unused_table_bytes_resident: sum(|c| &c.table_resident),
            resets: sum(|c| &c.resets),
            decommits: sum(|c| &c.decommits),
            affinity_hits: sum(|c| &c.affinity_hits),
            image_mappings: sum(|c| &c.image_mappings),
            stacks: sum(|c| &c.stacks),
            unused_warm_stacks: self.stacks.index.num_warm() as u64,
            unused_stack_bytes_resident: sum(|c| &c.stack_resident),
        }
    }

    /// Decommits every queued range and returns the slots to their pools.
    pub(crate) fn flush(&self) {
        self.finish_taken(self.queue.take_all());
    }

    /// [`Self::finish`] for a batch taken out of the queue, then marks it
    /// done (also if returning the slots panics, so that [`Self::take`]
    /// never waits for a batch nobody is finishing).
    fn finish_taken(&self, batch: Vec<PendingSlot>) {
        struct Done<'a>(&'a DecommitQueue);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.done();
            }
        }
        let _done = Done(&self.queue);
        self.finish(batch);
    }

    fn finish(&self, batch: impl IntoIterator<Item = PendingSlot>) {
        for p in batch {
            let calls = match p.kind {
                SlotKind::Memory => self.memories.decommit(SlotId(p.slot), &p.ranges),
                SlotKind::Table => self.tables.decommit(&p.ranges),
            };
            self.counters().decommits.fetch_add(calls as u64, Ordering::Relaxed);
            match p.kind {
                SlotKind::Memory => self.memories.index.free(SlotId(p.slot), p.affinity),
                SlotKind::Table => self.tables.index.free(SlotId(p.slot), p.affinity),
            }
        }
    }

    fn retire(&self, slot: PendingSlot) {
        if self.queue.batching() {
            if let Some(batch) = self.queue.push(slot) {
                self.finish_taken(batch);
            }
        } else {
            self.finish([slot]);
        }
    }

    /// Runs `take`; if the pool looks full, flushes the decommit queue and
    /// retries, waiting for batches that other threads are decommitting.
    ///
    /// Found by the soak test: with `decommit_batch_size > 1`, a thread that
    /// fills the batch takes it out of the queue and decommits it; a second
    /// thread finding the pool full meanwhile flushed an empty queue and
    /// reported `PoolExhausted`, although the batch's slots belonged to
    /// stores deleted long before. Those slots are free as far as any caller
    /// can tell, so the second thread now waits for the batch (a few
    /// `madvise` calls) instead.
    fn take<T>(&self, mut take: impl FnMut() -> Result<Option<T>>) -> Result<Option<T>> {
        if let Some(t) = take()? {
            return Ok(Some(t));
        }
        loop {
            self.flush();
            // Read before retrying: a batch finished between a failed retry
            // and this check would otherwise be missed.
            let busy = self.queue.in_flight();
            if let Some(t) = take()? {
                return Ok(Some(t));
            }
            if !busy {
                return Ok(None);
            }
            std::thread::yield_now();
        }
    }

    fn affinity(module: &Module, index: usize) -> u64 {
        (module.id() << 16) | index as u64
    }

    fn release(&self, module: &Module, r: InstanceResources) {
        let InstanceResources { vmctx, memories, tables, memory_slots, table_slots, .. } = r;
        for (i, (mem, slot)) in memories.iter().zip(&memory_slots).enumerate() {
            let (ranges, kept) =
                self.memories.reset(SlotId(*slot), mem, module.memory_may_be_written(i));
            self.memory_resident[*slot as usize].store(kept as u64, Ordering::Relaxed);
            self.counters().memory_resident.fetch_add(kept as u64, Ordering::Relaxed);
            self.counters().resets.fetch_add(1, Ordering::Relaxed);
            self.counters().memories.fetch_sub(1, Ordering::Relaxed);
            let affinity = Some(Self::affinity(module, i));
            self.retire(PendingSlot { kind: SlotKind::Memory, slot: *slot, affinity, ranges });
        }
        drop(memories);
        for (i, (table, slot)) in tables.iter().zip(&table_slots).enumerate() {
            let (ranges, kept) = if module.table_lazy_only(i) {
                let elements = table.materialized();
                self.tables.reset_span(SlotId(*slot), elements.start * 8..elements.end * 8)
            } else {
                let used = if module.table_may_be_written(i) { table.len() * 8 } else { 0 };
                self.tables.reset(SlotId(*slot), used)
            };
            self.table_resident[*slot as usize].store(kept as u64, Ordering::Relaxed);
            self.counters().table_resident.fetch_add(kept as u64, Ordering::Relaxed);
            self.counters().resets.fetch_add(1, Ordering::Relaxed);
            self.counters().tables.fetch_sub(1, Ordering::Relaxed);
            let affinity = Some(Self::affinity(module, i));
            self.retire(PendingSlot { kind: SlotKind::Table, slot: *slot, affinity, ranges });
        }
        drop(tables);
        if let VmctxMemory::Slot { slot, .. } = vmctx {
            // No clearing: the next instance of the slot starts by copying
            // its module's whole VMContext template over it.
            self.instances.index.free(SlotId(slot), None);
            self.counters().instances.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn unresident(&self, counter: &AtomicU64, per_slot: &AtomicU64) {
        counter.fetch_sub(per_slot.swap(0, Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl InstanceAllocator for PoolingAllocator {
    fn allocate(&self, module: &Module) -> Result<InstanceResources> {
        let info = module.info();
        let (slot, _) = self.take(|| Ok(self.instances.index.alloc(None)))?.ok_or_else(|| {
            exhausted("instance", self.layout.num_instances, "total_core_instances")
        })?;
        self.counters().instances.fetch_add(1, Ordering::Relaxed);
        let mut r = InstanceResources {
            vmctx: VmctxMemory::Slot { ptr: self.instances.base(slot), slot: slot.0 },
            memories: Vec::new(),
            tables: Vec::new(),
            images_installed: Vec::new(),
            memory_slots: Vec::new(),
            table_slots: Vec::new(),
        };
        let cow = module.engine().config().memory_init_cow;
        for (i, ty) in info.memories[info.num_imported_memories as usize..].iter().enumerate() {
            let image = if cow { module.image(i) } else { None };
            let taken = self.take(|| self.memories.allocate(Self::affinity(module, i), ty, image));
            match taken {
                Ok(Some(t)) => {
                    self.unresident(
                        &self.counters().memory_resident,
                        &self.memory_resident[t.slot.0 as usize],
                    );
                    if t.affinity_hit {
                        self.counters().affinity_hits.fetch_add(1, Ordering::Relaxed);
                    }
                    if t.image_mapped {
                        self.counters().image_mappings.fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters().memories.fetch_add(1, Ordering::Relaxed);
                    r.memory_slots.push(t.slot.0);
                    r.images_installed.push(t.image_installed);
                    r.memories.push(t.memory);
                }
                Ok(None) => {
                    self.release(module, r);
                    return Err(exhausted("memory", self.layout.num_memories, "total_memories"));
                }
                Err(e) => {
                    self.release(module, r);
                    return Err(e);
                }
            }
        }
        for (i, ty) in info.tables[info.num_imported_tables as usize..].iter().enumerate() {
            match self.take(|| Ok(self.tables.index.alloc(Some(Self::affinity(module, i))))) {
                Ok(Some((slot, hit))) => {
                    self.unresident(
                        &self.counters().table_resident,
                        &self.table_resident[slot.0 as usize],
                    );
                    if hit {
                        self.counters().affinity_hits.fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters().tables.fetch_add(1, Ordering::Relaxed);
                    let capacity = self.tables.slot_bytes() / 8;
                    // SAFETY: the slot is ours until `deallocate`, readable,
                    // writable, and all zero (null) since its last reset.
                    let table = unsafe {
                        Table::in_slot(
                            self.tables.base(slot).cast(),
                            capacity,
                            self.pool.table_elements,
                            ty,
                        )
                    };
                    r.table_slots.push(slot.0);
                    r.tables.push(table);
                }
                _ => {
                    self.release(module, r);
                    return Err(exhausted("table", self.layout.num_tables, "total_tables"));
                }
            }
        }
        Ok(r)
    }

    fn deallocate(&self, module: &Module, resources: InstanceResources) {
        self.release(module, resources);
    }

    fn allocate_stack(&self) -> Result<FiberStack> {
        let stack = self
            .stacks
            .allocate()
            .ok_or_else(|| exhausted("stack", self.layout.num_stacks, "total_stacks"))?;
        if let StackOwner::Pooled(slot) = *stack.owner() {
            self.unresident(&self.counters().stack_resident, &self.stack_resident[slot as usize]);
        }
        self.counters().stacks.fetch_add(1, Ordering::Relaxed);
        Ok(stack)
    }

    fn deallocate_stack(&self, stack: FiberStack) {
        let StackOwner::Pooled(slot) = *stack.owner() else { return };
        let returned = self.stacks.recycle(&stack);
        let counters = self.counters();
        self.stack_resident[slot as usize].store(returned.resident as u64, Ordering::Relaxed);
        counters.stack_resident.fetch_add(returned.resident as u64, Ordering::Relaxed);
        counters.decommits.fetch_add(returned.decommits as u64, Ordering::Relaxed);
        counters.stacks.fetch_sub(1, Ordering::Relaxed);
        self.stacks.free(slot);
    }
}
