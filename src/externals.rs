//! Instances and the things they import and export: memories, globals and
//! tables (functions are in `func.rs`).
//!
//! Every handle is a small `Copy` value naming its store by id plus raw
//! pointers into that store's objects. Each method takes the store and checks
//! the id first, so the pointers are only ever followed while their store is
//! alive and borrowed.

use crate::error::{Error, ErrorKind, Result};
use crate::func::{Func, check_store, from_raw, to_raw};
use crate::module::Module;
use crate::module::info::EntityIndex;
use crate::runtime::instance::{self, ImportRef, InstanceData, MemoryRef, TableRef};
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::Table as TableData;
use crate::runtime::vmcontext::{VMGlobalDefinition, VMMemoryDefinition, VMTableDefinition};
use crate::store::{HostMemory, HostTable, Store, StoreOpaque};
use crate::types::{GlobalType, MemoryType, TableType, WASM_PAGE_SIZE};
use crate::values::{Val, ValRaw};
use std::ptr::NonNull;

/// Something an instance can import or export.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A global.
    Global(Global),
    /// A linear memory.
    Memory(Memory),
    /// A table.
    Table(Table),
}

impl From<Func> for Extern {
    fn from(f: Func) -> Extern {
        Extern::Func(f)
    }
}
impl From<Global> for Extern {
    fn from(g: Global) -> Extern {
        Extern::Global(g)
    }
}
impl From<Memory> for Extern {
    fn from(m: Memory) -> Extern {
        Extern::Memory(m)
    }
}
impl From<Table> for Extern {
    fn from(t: Table) -> Extern {
        Extern::Table(t)
    }
}

impl Extern {
    fn store_id(&self) -> u64 {
        match self {
            Extern::Func(f) => f.store_id,
            Extern::Global(g) => g.store_id,
            Extern::Memory(m) => m.store_id,
            Extern::Table(t) => t.store_id,
        }
    }

    pub(crate) fn to_import(self, store: &StoreOpaque) -> Result<ImportRef> {
        check_store(self.store_id(), store)?;
        Ok(match self {
            Extern::Func(f) => ImportRef::Func(f.funcref.as_ptr()),
            Extern::Global(g) => ImportRef::Global(g.def.as_ptr(), g.ty),
            Extern::Memory(m) => ImportRef::Memory(m.r),
            Extern::Table(t) => ImportRef::Table(t.r),
        })
    }
}

// SAFETY (for the four impls below and those of `Func`): a handle is an id
// plus pointers that are only followed after checking the id against a store
// the caller has borrowed, i.e. on the thread that currently owns that store.
// Moving or sharing the handle itself touches nothing.
unsafe impl Send for Memory {}
// SAFETY: see above.
unsafe impl Sync for Memory {}
// SAFETY: see above.
unsafe impl Send for Global {}
// SAFETY: see above.
unsafe impl Sync for Global {}
// SAFETY: see above.
unsafe impl Send for Table {}
// SAFETY: see above.
unsafe impl Sync for Table {}

/// A linear memory of some store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    store_id: u64,
    r: MemoryRef,
}

impl Memory {
    /// A new memory of type `ty` owned by `store`.
    /// A `Limit` error when the store's limiter refuses it, a `Resource`
    /// error when the address space cannot be reserved.
    pub fn new<T>(store: &mut Store<T>, ty: MemoryType) -> Result<Memory> {
        let store = store.opaque();
        if store.limits.is_set() {
            let bytes = |pages: u64| pages.saturating_mul(WASM_PAGE_SIZE) as usize;
            let verdict = store.limits.memory_growing(0, bytes(ty.min), ty.max.map(bytes));
            crate::limits::creation(verdict, "memory", bytes(ty.min), "bytes")?;
            if store.limits.memories >= store.limits.memory_count_limit() {
                return Err(Error::new(
                    ErrorKind::Limit,
                    format!(
                        "the store may hold at most {} memories",
                        store.limits.memory_count_limit()
                    ),
                ));
            }
        }
        let mem = LinearMemory::new(&ty, store.engine.config())?;
        store.limits.memories += 1;
        let mut host = Box::new(HostMemory {
            def: VMMemoryDefinition { base: std::ptr::null_mut(), current_length: 0 },
            mem,
        });
        let def: *mut VMMemoryDefinition = &mut host.def;
        // SAFETY: the definition lives in the same box as the memory, owned by the store.
        unsafe { host.mem.bind(def) };
        let r = MemoryRef { def, mem: &mut host.mem };
        store.host_memories.push(host);
        Ok(Memory { store_id: store.id, r })
    }

    fn def(&self, store: &StoreOpaque) -> Result<&VMMemoryDefinition> {
        check_store(self.store_id, store)?;
        // SAFETY: the store owns the memory and is borrowed.
        Ok(unsafe { &*self.r.def })
    }

    /// Current size in bytes.
    pub fn data_size<T>(&self, store: &Store<T>) -> Result<usize> {
        Ok(self.def(store.opaque_ref())?.current_length)
    }

    /// Current size in pages.
    pub fn size<T>(&self, store: &Store<T>) -> Result<u64> {
        Ok(self.data_size(store)? as u64 / WASM_PAGE_SIZE)
    }

    /// The memory's bytes.
    pub fn data<'a, T>(&self, store: &'a Store<T>) -> Result<&'a [u8]> {
        let def = self.def(store.opaque_ref())?;
        // SAFETY: the accessible range is mapped read+write and no wasm runs
        // while the store is borrowed.
        Ok(unsafe { std::slice::from_raw_parts(def.base, def.current_length) })
    }

    /// The memory's bytes, writable.
    pub fn data_mut<'a, T>(&self, store: &'a mut Store<T>) -> Result<&'a mut [u8]> {
        self.data_mut_opaque(store.opaque())
    }

    pub(crate) fn data_mut_opaque<'a>(&self, store: &'a mut StoreOpaque) -> Result<&'a mut [u8]> {
        let def = self.def(store)?;
        // SAFETY: as in `data`, and the store is borrowed mutably.
        Ok(unsafe { std::slice::from_raw_parts_mut(def.base, def.current_length) })
    }

    /// Grows by `delta` pages; returns the previous size in pages. A
    /// `Limit` error when the store's limiter refuses, a `Resource` error
    /// past the maximum or the pool slot, or when the memory cannot be
    /// mapped.
    pub fn grow<T>(&self, store: &mut Store<T>, delta: u64) -> Result<u64> {
        let store = store.opaque();
        check_store(self.store_id, store)?;
        // SAFETY: the store owns the memory object and is borrowed mutably.
        let mem = unsafe { &mut *self.r.mem };
        crate::limits::grow_memory(&mut store.limits, mem, delta)
            .map_err(|f| f.into_error(&format!("memory cannot grow by {delta} pages")))
    }

    /// The memory's current type.
    pub fn ty<T>(&self, store: &Store<T>) -> Result<MemoryType> {
        let min = self.size(store)?;
        // SAFETY: checked by `size`.
        Ok(MemoryType { min, max: unsafe { &*self.r.mem }.max_pages() })
    }
}

/// A global of some store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Global {
    store_id: u64,
    def: NonNull<VMGlobalDefinition>,
    ty: GlobalType,
}

impl Global {
    /// A new global of type `ty` holding `init`.
    pub fn new<T>(store: &mut Store<T>, ty: GlobalType, init: Val) -> Result<Global> {
        let store = store.opaque();
        if init.ty() != ty.content {
            return Err(Error::invalid_argument(format!(
                "initial value has type {}, expected {}",
                init.ty(),
                ty.content
            )));
        }
        let raw = to_raw(&init, store)?;
        let mut def = Box::new(VMGlobalDefinition { bytes: raw.u128().to_le_bytes() });
        let ptr = NonNull::from(&mut *def);
        store.host_globals.push(def);
        Ok(Global { store_id: store.id, def: ptr, ty })
    }

    /// The global's type.
    pub fn ty(&self) -> GlobalType {
        self.ty
    }

    /// The current value.
    pub fn get<T>(&self, store: &Store<T>) -> Val {
        assert_eq!(
            self.store_id,
            store.opaque_ref().id,
            "global used with a store that does not own it"
        );
        // SAFETY: the store owns the storage and is borrowed.
        let bytes = unsafe { self.def.as_ref().bytes };
        from_raw(ValRaw::from_u128(u128::from_le_bytes(bytes)), self.ty.content, self.store_id)
    }

    /// Sets the value of a mutable global.
    pub fn set<T>(&self, store: &mut Store<T>, value: Val) -> Result<()> {
        let store = store.opaque();
        check_store(self.store_id, store)?;
        if !self.ty.mutable {
            return Err(Error::invalid_argument("cannot set an immutable global"));
        }
        if value.ty() != self.ty.content {
            return Err(Error::invalid_argument(format!(
                "value has type {}, expected {}",
                value.ty(),
                self.ty.content
            )));
        }
        let raw = to_raw(&value, store)?;
        // SAFETY: the store owns the storage and is borrowed mutably.
        unsafe { (*self.def.as_ptr()).bytes = raw.u128().to_le_bytes() };
        Ok(())
    }
}

/// A table of some store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Table {
    store_id: u64,
    r: TableRef,
}

impl Table {
    /// A new table of type `ty` with every element `init`.
    pub fn new<T>(store: &mut Store<T>, ty: TableType, init: Val) -> Result<Table> {
        let store = store.opaque();
        if init.ty() != ty.element {
            return Err(Error::invalid_argument(format!(
                "initial value has type {}, expected {}",
                init.ty(),
                ty.element
            )));
        }
        let raw = to_raw(&init, store)?.u64() as usize;
        if store.limits.is_set() {
            let verdict =
                store.limits.table_growing(0, ty.min as usize, ty.max.map(|m| m as usize));
            crate::limits::creation(verdict, "table", ty.min as usize, "elements")?;
            if store.limits.tables >= store.limits.table_count_limit() {
                return Err(Error::new(
                    ErrorKind::Limit,
                    format!(
                        "the store may hold at most {} tables",
                        store.limits.table_count_limit()
                    ),
                ));
            }
        }
        let table = TableData::new(&ty, raw, store.engine.config().max_table_elements)?;
        store.limits.tables += 1;
        let mut host = Box::new(HostTable {
            def: VMTableDefinition { base: std::ptr::null_mut(), current_elements: 0 },
            table,
        });
        let def: *mut VMTableDefinition = &mut host.def;
        // SAFETY: the definition lives in the same box as the table, owned by the store.
        unsafe { host.table.bind(def) };
        let r = TableRef { def, table: &mut host.table };
        store.host_tables.push(host);
        Ok(Table { store_id: store.id, r })
    }

    fn data<'a>(&self, store: &'a StoreOpaque) -> Result<&'a TableData> {
        check_store(self.store_id, store)?;
        // SAFETY: the store owns the table and is borrowed, so nothing mutates it meanwhile.
        Ok(unsafe { &*self.r.table })
    }

    fn data_mut<'a>(&self, store: &'a mut StoreOpaque) -> Result<&'a mut TableData> {
        check_store(self.store_id, store)?;
        // SAFETY: the store owns the table and is borrowed mutably, so this is the only access.
        Ok(unsafe { &mut *self.r.table })
    }

    /// The table's current type.
    pub fn ty<T>(&self, store: &Store<T>) -> Result<TableType> {
        Ok(self.data(store.opaque_ref())?.ty())
    }

    /// Current number of elements.
    pub fn size<T>(&self, store: &Store<T>) -> Result<u32> {
        Ok(self.data(store.opaque_ref())?.len() as u32)
    }

    /// Element `index`, or `None` when out of bounds.
    pub fn get<T>(&self, store: &Store<T>, index: u32) -> Option<Val> {
        let t = self.data(store.opaque_ref()).ok()?;
        let value = t.get(index as usize)?;
        Some(from_raw(ValRaw::from_u64(value as u64), t.element_type(), self.store_id))
    }

    /// Sets element `index`.
    pub fn set<T>(&self, store: &mut Store<T>, index: u32, value: Val) -> Result<()> {
        let store = store.opaque();
        let raw = to_raw(&value, store)?.u64() as usize;
        let t = self.data_mut(store)?;
        if value.ty() != t.element_type() {
            return Err(Error::invalid_argument(format!(
                "value has type {}, expected {}",
                value.ty(),
                t.element_type()
            )));
        }
        t.set(index as usize, raw)
            .ok_or_else(|| Error::invalid_argument(format!("table index {index} is out of bounds")))
    }

    /// Grows by `delta` elements set to `init`; returns the previous size.
    /// A `Limit` error when the store's limiter refuses, a `Resource` error
    /// past the maximum, the pool's `table_elements` or the engine's
    /// `max_table_elements`, or when the elements cannot be allocated.
    pub fn grow<T>(&self, store: &mut Store<T>, delta: u32, init: Val) -> Result<u32> {
        let store = store.opaque();
        let raw = to_raw(&init, store)?.u64() as usize;
        check_store(self.store_id, store)?;
        // SAFETY: the store owns the table and is borrowed mutably.
        let table = unsafe { &mut *self.r.table };
        crate::limits::grow_table(&mut store.limits, table, delta, raw)
            .map_err(|f| f.into_error(&format!("table cannot grow by {delta} elements")))
    }
}

/// An instance of a module in some store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    store_id: u64,
    index: usize,
}

/// The extern export `name` of `instance`, as a handle of store `store_id`.
pub(crate) fn export_of(instance: &InstanceData, store_id: u64, name: &str) -> Option<Extern> {
    Some(match instance.export_index(name)? {
        EntityIndex::Func(f) => {
            Extern::Func(Func { store_id, funcref: NonNull::new(instance.funcref(f))? })
        }
        EntityIndex::Memory(m) => Extern::Memory(Memory { store_id, r: instance.memory(m) }),
        EntityIndex::Table(t) => Extern::Table(Table { store_id, r: instance.table(t) }),
        EntityIndex::Global(g) => Extern::Global(Global {
            store_id,
            def: NonNull::new(instance.global(g))?,
            ty: instance.module.info().globals[g as usize],
        }),
    })
}

impl Instance {
    /// Instantiates `module` in `store` with `imports` in the module's import
    /// order. A missing or mistyped import is an `ErrorKind::Link` error; a
    /// trap during initialization or in the start function is an
    /// `ErrorKind::Trap` error.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let instance = Instance::new_uninitialized(store.opaque(), module, imports)?;
        if let Some(start) = module.info().start {
            let data = instance.data(store.opaque_ref());
            let funcref =
                NonNull::new(data.funcref(start)).expect("function references are never null");
            // The start function may be an imported host function: call it
            // like any function.
            Func { store_id: instance.store_id, funcref }.call(store, &[], &mut [])?;
        }
        Ok(instance)
    }

    /// [`Instance::new`] as a resumable call: instantiation and the start
    /// function run on a stack of their own (see `Func::call_async` for the
    /// stack, the outcomes and abandoning the future).
    pub async fn new_async<T: Send + 'static>(
        store: &mut Store<T>,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        let engine = store.engine().clone();
        crate::runtime::fiber::run(&engine, move || Instance::new(store, module, imports))?.await
    }

    /// Everything of instantiation but the start function.
    fn new_uninitialized(
        store: &mut StoreOpaque,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        if !crate::Engine::same(module.engine(), &store.engine) {
            return Err(Error::invalid_argument("module belongs to another engine than the store"));
        }
        let imports = imports.iter().map(|e| e.to_import(store)).collect::<Result<Vec<_>>>()?;
        instance::check_imports(module, &imports)?;
        let info = module.info();
        let defined_memories = &info.memories[info.num_imported_memories as usize..];
        let defined_tables = &info.tables[info.num_imported_tables as usize..];
        if store.limits.is_set() {
            let bytes = |pages: u64| pages.saturating_mul(WASM_PAGE_SIZE) as usize;
            let memories: Vec<_> =
                defined_memories.iter().map(|m| (bytes(m.min), m.max.map(bytes))).collect();
            let tables: Vec<_> = defined_tables
                .iter()
                .map(|t| (t.min as usize, t.max.map(|m| m as usize)))
                .collect();
            store.limits.check_instance(store.instances.len(), &memories, &tables)?;
        }
        let vm: *mut _ = &mut store.vm;
        let data = instance::allocate(module, &imports, vm)?;
        store.limits.memories += defined_memories.len();
        store.limits.tables += defined_tables.len();
        store.instances.push(data);
        let index = store.instances.len() - 1;
        let data: *mut InstanceData = &mut *store.instances[index];
        // SAFETY: the instance is boxed in the store and stays there.
        instance::initialize(unsafe { &mut *data }).map_err(Error::from_trap)?;
        Ok(Instance { store_id: store.id, index })
    }

    fn data<'a>(&self, store: &'a StoreOpaque) -> &'a InstanceData {
        assert_eq!(self.store_id, store.id, "instance used with a store that does not own it");
        &store.instances[self.index]
    }

    /// The export `name`, if there is one.
    pub fn get_export<T>(&self, store: &mut Store<T>, name: &str) -> Option<Extern> {
        let store = store.opaque();
        export_of(self.data(store), store.id, name)
    }

    /// The exported function `name`.
    pub fn get_func<T>(&self, store: &mut Store<T>, name: &str) -> Option<Func> {
        match self.get_export(store, name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The exported global `name`.
    pub fn get_global<T>(&self, store: &mut Store<T>, name: &str) -> Option<Global> {
        match self.get_export(store, name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// The exported memory `name`.
    pub fn get_memory<T>(&self, store: &mut Store<T>, name: &str) -> Option<Memory> {
        match self.get_export(store, name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The exported table `name`.
    pub fn get_table<T>(&self, store: &mut Store<T>, name: &str) -> Option<Table> {
        match self.get_export(store, name)? {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Every export, in order.
    pub fn exports<T>(&self, store: &mut Store<T>) -> Vec<(String, Extern)> {
        let store = store.opaque();
        let data = self.data(store);
        data.module
            .info()
            .exports
            .iter()
            .filter_map(|(name, _)| Some((name.clone(), export_of(data, store.id, name)?)))
            .collect()
    }

    /// The module this is an instance of.
    pub fn module<T>(&self, store: &Store<T>) -> Module {
        self.data(store.opaque_ref()).module.clone()
    }
}
