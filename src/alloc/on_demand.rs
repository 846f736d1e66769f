//! The on-demand allocator: a fresh VMContext, a fresh memory reservation per
//! memory and a fresh vector per table for every instance; everything is
//! simply freed on drop. A memory whose module has a copy-on-write image
//! gets the image mapped over its start, as a pool slot does, so its data
//! segments cost no copy and no page until touched. A resumable call's stack
//! is a fresh mapping with a guard page, unmapped when the call is over.

use crate::alloc::{InstanceAllocator, InstanceResources, VmctxMemory};
use crate::config::Config;
use crate::error::Result;
use crate::module::Module;
use crate::runtime::fiber::FiberStack;
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::Table;

/// Allocates everything anew for each instance.
pub(crate) struct OnDemandAllocator {
    config: Config,
}

impl OnDemandAllocator {
    pub(crate) fn new(config: &Config) -> OnDemandAllocator {
        OnDemandAllocator { config: config.clone() }
    }
}

impl InstanceAllocator for OnDemandAllocator {
    fn allocate(&self, module: &Module) -> Result<InstanceResources> {
        let info = module.info();
        let defined = &info.memories[info.num_imported_memories as usize..];
        let mut memories = Vec::with_capacity(defined.len());
        let mut images_installed = Vec::with_capacity(defined.len());
        for (i, ty) in defined.iter().enumerate() {
            let mut memory = LinearMemory::new(ty, &self.config)?;
            // The module has images only when `memory_init_cow` is on.
            let image = module.image(i);
            if let Some(image) = image {
                memory.map_image(image)?;
            }
            images_installed.push(image.is_some());
            memories.push(memory);
        }
        let tables = info.tables[info.num_imported_tables as usize..]
            .iter()
            .map(|ty| Table::new_unmaterialized(ty, self.config.max_table_elements))
            .collect::<Result<Vec<_>>>()?;
        Ok(InstanceResources {
            vmctx: VmctxMemory::new(module.offsets().size() as usize),
            memories,
            tables,
            images_installed,
            memory_slots: Vec::new(),
            table_slots: Vec::new(),
        })
    }

    fn deallocate(&self, _module: &Module, resources: InstanceResources) {
        drop(resources);
    }

    fn allocate_stack(&self) -> Result<FiberStack> {
        FiberStack::map(self.config.async_stack_size)
    }

    fn deallocate_stack(&self, stack: FiberStack) {
        drop(stack); // unmaps it
    }
}
