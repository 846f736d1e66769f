//! Instances on the runtime side: the VMContext block, the memories and
//! tables the instance defines, what it imported, and the builtins compiled
//! code calls.
//!
//! Instantiation follows the WebAssembly 2.0 order: check and bind the
//! imports, take the resources from the engine's instance allocator, fill the
//! VMContext (store context, builtins, signature ids, imported definitions,
//! function references), evaluate the globals, apply the active element
//! segments and then the active data segments (a segment out of bounds traps,
//! keeping the effects of the segments before it), then run the start
//! function. The instance joins its store before any of this can fail, so
//! function references it wrote into imported tables stay valid.

use crate::alloc::InstanceResources;
use crate::error::{Error, ErrorKind, Result};
use crate::module::Module;
use crate::module::info::{
    ConstExpr, ConstOp, DataMode, ElemItems, ElemMode, EntityIndex, ImportKind,
};
use crate::runtime::libcalls::{BUILTINS, BuiltinTable};
use crate::runtime::memory::LinearMemory;
use crate::runtime::table::{LazyInit, Table};
use crate::runtime::vmcontext::*;
use crate::trap::{Trap, TrapCode};
use crate::types::{WASM_PAGE_SIZE, limits_match};

/// A memory as the runtime passes it around: the definition compiled code
/// reads and the Rust object that owns the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryRef {
    pub def: *mut VMMemoryDefinition,
    pub mem: *mut LinearMemory,
}

/// A table as the runtime passes it around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableRef {
    pub def: *mut VMTableDefinition,
    pub table: *mut Table,
}

/// A resolved import, ready to be bound into a VMContext.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ImportRef {
    Func(*const VMFuncRef),
    Memory(MemoryRef),
    Table(TableRef),
    Global(*mut VMGlobalDefinition, crate::types::GlobalType),
}

/// The runtime state of one instance. Lives in a `Box` owned by its store,
/// so the VMContext's back pointer stays valid.
pub(crate) struct InstanceData {
    pub module: Module,
    resources: Option<InstanceResources>,
    imported_memories: Vec<MemoryRef>,
    imported_tables: Vec<TableRef>,
    dropped_data: Vec<bool>,
    dropped_elems: Vec<bool>,
}

impl Drop for InstanceData {
    fn drop(&mut self) {
        if let Some(resources) = self.resources.take() {
            self.module.engine().allocator().deallocate(&self.module, resources);
        }
    }
}

fn link_error(import: &crate::module::info::Import, why: &str) -> Error {
    Error::new(
        ErrorKind::Link,
        format!("incompatible import type for `{}::{}`: {why}", import.module, import.name),
    )
}

impl InstanceData {
    fn resources(&self) -> &InstanceResources {
        self.resources.as_ref().expect("resources live until drop")
    }

    fn resources_mut(&mut self) -> &mut InstanceResources {
        self.resources.as_mut().expect("resources live until drop")
    }

    /// The VMContext.
    pub(crate) fn vmctx(&self) -> *mut u8 {
        self.resources().vmctx.as_ptr()
    }

    fn offsets(&self) -> &VMOffsets {
        self.module.offsets()
    }

    /// The store context this instance's VMContext points to.
    pub(crate) fn store_context(&self) -> *mut VMStoreContext {
        // SAFETY: `allocate` wrote the store context pointer at this offset
        // of the live VMContext.
        unsafe { *(self.vmctx().add(VMCTX_STORE_CONTEXT as usize) as *const *mut VMStoreContext) }
    }

    /// The instance whose VMContext is `vmctx`.
    ///
    /// # Safety
    /// `vmctx` must be the VMContext of a live instance.
    pub(crate) unsafe fn from_vmctx<'a>(vmctx: *mut u8) -> &'a mut InstanceData {
        // SAFETY: every VMContext stores its instance pointer at this offset
        // (set in `instantiate`), and the instance outlives its VMContext.
        unsafe { &mut *(*(vmctx.add(VMCTX_INSTANCE as usize) as *mut *mut InstanceData)) }
    }

    fn at<T>(&self, offset: u32) -> *mut T {
        // SAFETY: offsets come from this module's VMOffsets and lie inside the VMContext.
        unsafe { self.vmctx().add(offset as usize).cast() }
    }

    /// Memory `index` of the module's index space.
    pub(crate) fn memory(&self, index: u32) -> MemoryRef {
        let imported = self.module.info().num_imported_memories;
        if index < imported {
            self.imported_memories[index as usize]
        } else {
            let i = index - imported;
            let mem =
                &self.resources().memories[i as usize] as *const LinearMemory as *mut LinearMemory;
            MemoryRef { def: self.at(self.offsets().defined_memory(i)), mem }
        }
    }

    /// Table `index` of the module's index space.
    pub(crate) fn table(&self, index: u32) -> TableRef {
        let imported = self.module.info().num_imported_tables;
        if index < imported {
            self.imported_tables[index as usize]
        } else {
            let i = index - imported;
            let table = &self.resources().tables[i as usize] as *const Table as *mut Table;
            TableRef { def: self.at(self.offsets().defined_table(i)), table }
        }
    }

    /// Global `index`'s storage.
    pub(crate) fn global(&self, index: u32) -> *mut VMGlobalDefinition {
        let imported = self.module.info().num_imported_globals;
        if index < imported {
            // SAFETY: the import slot was filled at instantiation.
            unsafe { *self.at::<*mut VMGlobalDefinition>(self.offsets().imported_global(index)) }
        } else {
            self.at(self.offsets().defined_global(index - imported))
        }
    }

    /// Function `index`'s reference.
    pub(crate) fn funcref(&self, index: u32) -> *mut VMFuncRef {
        self.at(self.offsets().funcref(index))
    }

    /// What export `name` refers to, in the module's index spaces.
    pub(crate) fn export_index(&self, name: &str) -> Option<EntityIndex> {
        self.module.info().exports.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }

    fn eval(&self, expr: &ConstExpr) -> u128 {
        eval_with(expr, |op| match op {
            ConstOp::RefFunc(f) => self.funcref(f) as u128,
            ConstOp::GlobalGet(g) => {
                // SAFETY: global storage is valid for the instance's lifetime.
                let bytes = unsafe { (*self.global(g)).bytes };
                u128::from_le_bytes(bytes)
            }
            _ => unreachable!("only references to the instance are asked for"),
        })
    }

    fn elem_value(&self, items: &ElemItems, i: usize) -> usize {
        match items {
            ElemItems::Funcs(f) => self.funcref(f[i]) as usize,
            ElemItems::Exprs(e) => self.eval(&e[i]) as usize,
        }
    }

    // ------------------------------------------------------------------ bulk operations

    /// `table.init`: copies `len` items of segment `elem` from `src` into table `table` at `dst`.
    pub(crate) fn table_init(
        &mut self,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let module = self.module.clone();
        let segment = &module.info().elements[elem as usize];
        let seg_len = if self.dropped_elems[elem as usize] { 0 } else { segment.items.len() };
        let t = self.table(table);
        // SAFETY: the table outlives the instance's use of it.
        let table = unsafe { &mut *t.table };
        let (dst, src, len) = (dst as usize, src as usize, len as usize);
        if src.checked_add(len).is_none_or(|e| e > seg_len)
            || dst.checked_add(len).is_none_or(|e| e > table.len())
        {
            return Err(TrapCode::TableOutOfBounds);
        }
        for i in 0..len {
            let v = self.elem_value(&segment.items, src + i);
            table.set(dst + i, v);
        }
        Ok(())
    }

    /// `memory.init`: copies `len` bytes of segment `data` from `src` into memory `mem` at `dst`.
    pub(crate) fn memory_init(
        &mut self,
        mem: u32,
        data: u32,
        dst: u64,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let module = self.module.clone();
        let bytes =
            if self.dropped_data[data as usize] { &[][..] } else { module.data_bytes(data) };
        let m = self.memory(mem);
        // SAFETY: the definition is valid while the instance lives.
        let def = unsafe { &*m.def };
        let (src, len) = (src as usize, len as usize);
        if src.checked_add(len).is_none_or(|e| e > bytes.len())
            || dst.checked_add(len as u64).is_none_or(|e| e > def.current_length as u64)
        {
            return Err(TrapCode::MemoryOutOfBounds);
        }
        // SAFETY: both ranges were bounds-checked above; they cannot overlap
        // (one is the module's data, the other linear memory).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(src), def.base.add(dst as usize), len)
        };
        Ok(())
    }

    pub(crate) fn data_drop(&mut self, data: u32) {
        self.dropped_data[data as usize] = true;
    }

    pub(crate) fn elem_drop(&mut self, elem: u32) {
        self.dropped_elems[elem as usize] = true;
    }
}

/// Evaluates a constant expression; `instance_ref` answers `ref.func` and
/// `global.get`, which depend on the instance.
fn eval_with(expr: &ConstExpr, instance_ref: impl Fn(ConstOp) -> u128) -> u128 {
    let mut stack = [0u128; 16];
    let mut sp = 0;
    for op in &expr.0 {
        let v = match *op {
            ConstOp::I32(v) => v as u32 as u128,
            ConstOp::I64(v) => v as u64 as u128,
            ConstOp::F32(v) => v as u128,
            ConstOp::F64(v) => v as u128,
            ConstOp::V128(v) => v,
            ConstOp::RefNull => 0,
            ConstOp::RefFunc(_) | ConstOp::GlobalGet(_) => instance_ref(*op),
            op => {
                sp -= 2;
                let (a, b) = (stack[sp], stack[sp + 1]);
                match op {
                    ConstOp::I32Add => (a as u32).wrapping_add(b as u32) as u128,
                    ConstOp::I32Sub => (a as u32).wrapping_sub(b as u32) as u128,
                    ConstOp::I32Mul => (a as u32).wrapping_mul(b as u32) as u128,
                    ConstOp::I64Add => (a as u64).wrapping_add(b as u64) as u128,
                    ConstOp::I64Sub => (a as u64).wrapping_sub(b as u64) as u128,
                    ConstOp::I64Mul => (a as u64).wrapping_mul(b as u64) as u128,
                    _ => unreachable!("handled above"),
                }
            }
        };
        stack[sp] = v;
        sp += 1;
    }
    stack[sp - 1]
}

/// Whether a constant expression depends on the instance.
fn is_instance_independent(expr: &ConstExpr) -> bool {
    expr.0.iter().all(|op| !matches!(op, ConstOp::RefFunc(_) | ConstOp::GlobalGet(_)))
}

/// The per-module VMContext template: every byte that is the same in each
/// instance (magic, builtins, signature ids, constant globals, the code
/// pointers and signature ids of the function references), so instantiation
/// is one copy plus the instance-specific fields.
pub(crate) struct VmctxTemplate {
    bytes: Box<[u128]>,
    /// Defined globals (0-based among defined) whose initializer depends on the instance.
    dynamic_globals: Vec<u32>,
}

impl VmctxTemplate {
    /// Builds the template of a compiled module.
    pub(crate) fn new(
        info: &crate::module::info::ModuleInfo,
        offsets: &VMOffsets,
        code: &crate::compile::code_memory::CodeMemory,
        type_ids: &[u32],
    ) -> VmctxTemplate {
        let mut bytes =
            vec![0u128; (offsets.size() as usize).div_ceil(16).max(1)].into_boxed_slice();
        let base = bytes.as_mut_ptr() as *mut u8;
        let mut dynamic_globals = Vec::new();
        // SAFETY: every write lands inside `bytes`, sized by the same offsets.
        unsafe {
            let w = |off: u32| base.add(off as usize);
            (w(VMCTX_MAGIC_OFFSET) as *mut u32).write(VMCTX_MAGIC);
            (w(VMCTX_BUILTINS) as *mut *const BuiltinTable).write(&BUILTINS);
            (w(VMCTX_TYPE_IDS) as *mut *const u32).write(type_ids.as_ptr());
            for (i, init) in info.global_inits.iter().enumerate() {
                if is_instance_independent(init) {
                    let v = eval_with(init, |_| 0);
                    (w(offsets.defined_global(i as u32)) as *mut u128).write(v);
                } else {
                    dynamic_globals.push(i as u32);
                }
            }
            for f in info.num_imported_funcs..info.functions.len() as u32 {
                let array_call = code
                    .addr((crate::compile::trampolines::NS_ARRAY, f))
                    .unwrap_or(std::ptr::null());
                let wasm_call = code
                    .addr((crate::compile::trampolines::NS_WASM, f))
                    .expect("every defined function is compiled");
                (w(offsets.funcref(f)) as *mut VMFuncRef).write(VMFuncRef {
                    array_call,
                    wasm_call,
                    vmctx: std::ptr::null_mut(),
                    type_id: type_ids[info.functions[f as usize] as usize],
                });
            }
        }
        VmctxTemplate { bytes, dynamic_globals }
    }
}

// SAFETY: the template is immutable after construction; its pointers are
// data (addresses of static tables and module-owned arrays), never
// dereferenced through the template.
unsafe impl Send for VmctxTemplate {}
// SAFETY: see `Send`.
unsafe impl Sync for VmctxTemplate {}

/// Checks `imports` against the module's import declarations.
pub(crate) fn check_imports(module: &Module, imports: &[ImportRef]) -> Result<()> {
    let info = module.info();
    if imports.len() != info.imports.len() {
        return Err(Error::new(
            ErrorKind::Link,
            format!(
                "module needs {} imports but {} were provided",
                info.imports.len(),
                imports.len()
            ),
        ));
    }
    for (import, provided) in info.imports.iter().zip(imports) {
        match (&import.kind, provided) {
            (ImportKind::Func(t), ImportRef::Func(f)) => {
                // SAFETY: provided funcrefs belong to the same live store.
                let actual = unsafe { (**f).type_id };
                if actual != module.type_ids()[*t as usize] {
                    let want = &info.types[*t as usize];
                    let have = module.engine().func_type(actual);
                    return Err(link_error(import, &format!("expected {want}, found {have}")));
                }
            }
            (ImportKind::Memory(want), ImportRef::Memory(m)) => {
                // SAFETY: as above.
                let (cur, max) = unsafe {
                    ((*m.def).current_length as u64 / WASM_PAGE_SIZE, (*m.mem).max_pages())
                };
                if !limits_match(cur, max, want.min, want.max) {
                    return Err(link_error(import, "memory limits do not match"));
                }
            }
            (ImportKind::Table(want), ImportRef::Table(t)) => {
                // SAFETY: as above.
                let have = unsafe { (*t.table).ty() };
                if have.element != want.element
                    || !limits_match(
                        have.min as u64,
                        have.max.map(u64::from),
                        want.min as u64,
                        want.max.map(u64::from),
                    )
                {
                    return Err(link_error(import, "table types do not match"));
                }
            }
            (ImportKind::Global(want), ImportRef::Global(_, have)) => {
                if want != have {
                    return Err(link_error(import, "global types do not match"));
                }
            }
            _ => return Err(link_error(import, "the kind of the definition does not match")),
        }
    }
    Ok(())
}

/// Builds an instance of `module` into a box (not yet initialized past the
/// VMContext). Imports must have passed [`check_imports`].
pub(crate) fn allocate(
    module: &Module,
    imports: &[ImportRef],
    store_context: *mut VMStoreContext,
) -> Result<Box<InstanceData>> {
    let resources = module.engine().allocator().allocate(module)?;
    let info = module.info();
    let mut instance = Box::new(InstanceData {
        module: module.clone(),
        resources: Some(resources),
        imported_memories: Vec::with_capacity(info.num_imported_memories as usize),
        imported_tables: Vec::with_capacity(info.num_imported_tables as usize),
        dropped_data: vec![false; info.data.len()],
        dropped_elems: vec![false; info.elements.len()],
    });
    let self_ptr: *mut InstanceData = &mut *instance;
    let offsets = module.offsets();
    let vmctx = instance.vmctx();
    // SAFETY: every write below lands inside the VMContext (offsets from this
    // module's layout), which the allocator sized and aligned for it; the
    // template has exactly that size.
    unsafe {
        let w = |off: u32| vmctx.add(off as usize);
        let template = module.vmctx_template();
        std::ptr::copy_nonoverlapping(
            template.bytes.as_ptr() as *const u8,
            vmctx,
            offsets.size() as usize,
        );
        (w(VMCTX_STORE_CONTEXT) as *mut *mut VMStoreContext).write(store_context);
        (w(VMCTX_INSTANCE) as *mut *mut InstanceData).write(self_ptr);

        let (mut fi, mut mi, mut ti, mut gi) = (0u32, 0u32, 0u32, 0u32);
        for import in imports {
            match *import {
                ImportRef::Func(f) => {
                    (w(offsets.funcref(fi)) as *mut VMFuncRef).write(*f);
                    fi += 1;
                }
                ImportRef::Memory(m) => {
                    (w(offsets.imported_memory(mi)) as *mut *mut VMMemoryDefinition).write(m.def);
                    instance.imported_memories.push(m);
                    mi += 1;
                }
                ImportRef::Table(t) => {
                    (w(offsets.imported_table(ti)) as *mut *mut VMTableDefinition).write(t.def);
                    instance.imported_tables.push(t);
                    ti += 1;
                }
                ImportRef::Global(g, _) => {
                    (w(offsets.imported_global(gi)) as *mut *mut VMGlobalDefinition).write(g);
                    gi += 1;
                }
            }
        }
        let resources = instance.resources_mut();
        for (i, m) in resources.memories.iter_mut().enumerate() {
            m.bind(w(offsets.defined_memory(i as u32)).cast());
        }
        for (i, t) in resources.tables.iter_mut().enumerate() {
            t.bind(w(offsets.defined_table(i as u32)).cast());
        }
        for f in info.num_imported_funcs..info.functions.len() as u32 {
            (*(w(offsets.funcref(f)) as *mut VMFuncRef)).vmctx = vmctx;
        }
    }
    Ok(instance)
}

/// Evaluates globals and applies the active segments (the parts of
/// instantiation that run before the start function).
pub(crate) fn initialize(instance: &mut InstanceData) -> Result<(), Trap> {
    let module = instance.module.clone();
    let info = module.info();
    for &i in &module.vmctx_template().dynamic_globals {
        let v = instance.eval(&info.global_inits[i as usize]);
        let g = instance.global(info.num_imported_globals + i);
        // SAFETY: defined global storage lies in our VMContext.
        unsafe { (*g).bytes = v.to_le_bytes() };
    }
    let defined_tables = info.num_imported_tables;
    for i in 0..info.num_defined_tables() {
        if let Some(funcs) = module.lazy_table_init(i as usize) {
            let funcrefs = instance.at::<u8>(instance.offsets().funcrefs_begin()) as *const u8;
            let t = instance.table(defined_tables + i);
            // SAFETY: the instance owns its defined tables.
            unsafe { &mut *t.table }.set_lazy_init(LazyInit { funcs: funcs.clone(), funcrefs });
        }
    }
    for (i, seg) in info.elements.iter().enumerate() {
        match &seg.mode {
            ElemMode::Active { table, .. }
                if table
                    .checked_sub(defined_tables)
                    .is_some_and(|t| module.lazy_table_init(t as usize).is_some()) =>
            {
                instance.elem_drop(i as u32);
            }
            ElemMode::Active { table, offset } => {
                let dst = instance.eval(offset) as u32;
                instance
                    .table_init(*table, i as u32, dst, 0, seg.items.len() as u32)
                    .map_err(Trap::new)?;
                instance.elem_drop(i as u32);
            }
            ElemMode::Declared => instance.elem_drop(i as u32),
            ElemMode::Passive => {}
        }
    }
    let defined_base = info.num_imported_memories;
    for (i, seg) in info.data.iter().enumerate() {
        if let DataMode::Active { memory, offset } = &seg.mode {
            let in_image = memory.checked_sub(defined_base).is_some_and(|m| {
                instance.resources().images_installed.get(m as usize).copied().unwrap_or(false)
            });
            if in_image {
                instance.data_drop(i as u32);
                continue;
            }
            let dst = instance.eval(offset) as u32 as u64;
            instance
                .memory_init(*memory, i as u32, dst, 0, seg.data.len() as u32)
                .map_err(Trap::new)?;
            instance.data_drop(i as u32);
        }
    }
    Ok(())
}
