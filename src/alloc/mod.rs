//! Instance allocation: where an instance's VMContext, memories and tables
//! come from, and where they go when it is dropped.
//!
//! [`InstanceAllocator`] is the seam between instantiation and memory
//! management. The on-demand allocator ([`on_demand`]) maps fresh memory for
//! every instance; the pooling allocator takes pre-reserved slots and resets
//! them on return, behind the same two calls. Both also provide the stacks
//! of resumable calls (`allocate_stack`).

pub(crate) mod on_demand;
pub(crate) mod pooling;

use crate::error::Result;
use crate::module::Module;
use crate::runtime::fiber::FiberStack;
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::Table;

/// Zeroed, 16-byte aligned storage for one VMContext.
pub(crate) enum VmctxMemory {
    /// Heap storage (on-demand).
    Boxed(Box<[u128]>),
    /// An instance slot of the pool.
    Slot { ptr: *mut u8, slot: u32 },
}

impl VmctxMemory {
    /// Zeroed heap storage of at least `size` bytes.
    pub(crate) fn new(size: usize) -> VmctxMemory {
        VmctxMemory::Boxed(vec![0u128; size.div_ceil(16).max(1)].into_boxed_slice())
    }

    /// The VMContext address.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        match self {
            VmctxMemory::Boxed(b) => b.as_ptr() as *mut u8,
            VmctxMemory::Slot { ptr, .. } => *ptr,
        }
    }
}

/// Everything an instance takes from an allocator.
pub(crate) struct InstanceResources {
    pub vmctx: VmctxMemory,
    /// The module's defined memories, in order.
    pub memories: Vec<LinearMemory>,
    /// The module's defined tables, in order, every element null.
    pub tables: Vec<Table>,
    /// Per defined memory: whether its copy-on-write image is already in
    /// place, so instantiation must not copy its data segments again.
    pub images_installed: Vec<bool>,
    /// Pool slots of the memories and tables (empty for on-demand).
    pub memory_slots: Vec<u32>,
    pub table_slots: Vec<u32>,
}

/// Provides and takes back instance resources.
pub(crate) trait InstanceAllocator: Send + Sync {
    /// Resources for a new instance of `module`.
    fn allocate(&self, module: &Module) -> Result<InstanceResources>;
    /// Takes back the resources of a dropped instance of `module`.
    fn deallocate(&self, module: &Module, resources: InstanceResources);
    /// A stack for a resumable call (engines with `async_support` only).
    fn allocate_stack(&self) -> Result<FiberStack>;
    /// Takes back a stack from `allocate_stack` whose fiber has finished.
    fn deallocate_stack(&self, stack: FiberStack);
}
