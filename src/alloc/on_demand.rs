//! The on-demand allocator: a fresh VMContext, a fresh memory reservation per
//! memory and a fresh vector per table for every instance; everything is
//! simply freed on drop.

use crate::alloc::{InstanceAllocator, InstanceResources, VmctxMemory};
use crate::config::Config;
use crate::error::Result;
use crate::module::Module;
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
        let memories = info.memories[info.num_imported_memories as usize..]
            .iter()
            .map(|ty| LinearMemory::new(ty, &self.config))
            .collect::<Result<Vec<_>>>()?;
        let tables = info.tables[info.num_imported_tables as usize..]
            .iter()
            .map(|ty| Table::new_unmaterialized(ty, self.config.max_table_elements))
            .collect::<Result<Vec<_>>>()?;
        let images_installed = vec![false; memories.len()];
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
}
