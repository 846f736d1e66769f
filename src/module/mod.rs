//! Modules: validated, decoded and compiled WebAssembly, ready to instantiate.
//!
//! `Module::new` runs the front end ([`info`]), the compiler, and interns the
//! module's signatures in the engine so `call_indirect` can compare ids. A
//! module is immutable and cheap to clone (an `Arc`); it may be shared across
//! threads and instantiated in any store of its engine.

pub(crate) mod artifact;
pub(crate) mod image;
pub(crate) mod info;
pub(crate) mod mapped;

use crate::compile::Writes;
use crate::compile::code_memory::CodeMemory;
use crate::engine::Engine;
use crate::error::Result;
use crate::runtime::instance::VmctxTemplate;
use crate::runtime::vmcontext::VMOffsets;
use crate::types::{FuncType, GlobalType, MemoryType, TableType};
use image::MemoryImage;
use info::{EntityIndex, ImportKind, ModuleInfo};
use mapped::Bytes;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_MODULE_ID: AtomicU64 = AtomicU64::new(1);

/// A compiled WebAssembly module.
#[derive(Clone)]
pub struct Module(Arc<ModuleInner>);

/// Aligned like `EngineInner`: every instantiation writes the `Arc`'s
/// reference counts, and no field read on another thread's hot path shares
/// their cache line.
#[repr(align(128))]
struct ModuleInner {
    /// Process-unique id (the pool's slot affinity key).
    id: u64,
    engine: Engine,
    /// Copy-on-write images of the defined memories (with `memory_init_cow`).
    images: Vec<Option<Arc<MemoryImage>>>,
    info: ModuleInfo,
    offsets: VMOffsets,
    /// The compiled code; the template and every instance point into it.
    code: CodeMemory,
    /// What the compiled code itself may write (kept for serialization).
    code_writes: Writes,
    /// Engine-wide signature id of each type index.
    type_ids: Box<[u32]>,
    /// The initial VMContext bytes shared by every instance.
    template: VmctxTemplate,
    /// Per defined table: the initial function indices when the table is
    /// initialized lazily (see `runtime::table`).
    lazy_tables: Vec<Option<Arc<[u32]>>>,
    /// The memories and tables anything may write after instantiation
    /// starts (code, segments copied at instantiation, or the host through
    /// an export); the pool skips resetting the others.
    writes: Writes,
    /// Defined tables (bits by table index) whose only writes are the
    /// runtime materializing lazy elements: the table itself knows which
    /// elements those were, so a reset needs no page scan.
    lazy_only_tables: u64,
    /// The bytes of every data segment: a copy, or for a module loaded
    /// with `deserialize_file` the whole file, mapped.
    data: Bytes,
    /// Where each segment's bytes lie in `data`.
    data_ranges: Vec<Range<usize>>,
}

/// The type of an import or export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternType {
    /// A function of this signature.
    Func(FuncType),
    /// A global of this type.
    Global(GlobalType),
    /// A table of this type.
    Table(TableType),
    /// A memory of this type.
    Memory(MemoryType),
}

/// The precomputed initial contents of each defined funcref table whose
/// active element segments are all constant, in bounds, and made of function
/// references or nulls: such tables are initialized lazily.
fn lazy_table_inits(info: &ModuleInfo) -> Vec<Option<Arc<[u32]>>> {
    use info::{ConstOp, ElemItems, ElemMode};
    let imported = info.num_imported_tables;
    let mut inits: Vec<Option<Vec<u32>>> = info.tables[imported as usize..]
        .iter()
        .map(|t| {
            (t.element == crate::types::ValType::FuncRef).then(|| vec![u32::MAX; t.min as usize])
        })
        .collect();
    for seg in &info.elements {
        let ElemMode::Active { table, offset } = &seg.mode else { continue };
        let Some(t) = table.checked_sub(imported) else { continue };
        let slot = &mut inits[t as usize];
        let Some(funcs) = slot.as_mut() else { continue };
        let Some(start) = offset.as_const_u32().map(|o| o as usize) else {
            *slot = None;
            continue;
        };
        if start.checked_add(seg.items.len()).is_none_or(|end| end > funcs.len()) {
            *slot = None;
            continue;
        }
        let ok = match &seg.items {
            ElemItems::Funcs(f) => {
                funcs[start..start + f.len()].copy_from_slice(f);
                true
            }
            ElemItems::Exprs(exprs) => {
                exprs.iter().enumerate().all(|(k, e)| match e.0.as_slice() {
                    [ConstOp::RefFunc(f)] => {
                        funcs[start + k] = *f;
                        true
                    }
                    [ConstOp::RefNull] => {
                        funcs[start + k] = u32::MAX;
                        true
                    }
                    _ => false,
                })
            }
        };
        if !ok {
            *slot = None;
        }
    }
    inits.into_iter().map(|i| i.map(Arc::from)).collect()
}

/// What is written outside compiled code: exported memories and tables (the
/// host may write them), data segments that are copied (all but those of a
/// memory with a copy-on-write image), and active element segments.
fn outside_writes(info: &ModuleInfo, has_image: impl Fn(u32) -> bool) -> Writes {
    let mut w = Writes::default();
    for (_, index) in &info.exports {
        match *index {
            EntityIndex::Memory(m) => w.memories |= Writes::bit(m),
            EntityIndex::Table(t) => w.tables |= Writes::bit(t),
            _ => {}
        }
    }
    for seg in &info.data {
        if let info::DataMode::Active { memory, .. } = seg.mode
            && !has_image(memory)
        {
            w.memories |= Writes::bit(memory);
        }
    }
    for seg in &info.elements {
        if let info::ElemMode::Active { table, .. } = seg.mode {
            w.tables |= Writes::bit(table);
        }
    }
    w
}

impl Module {
    /// Validates, decodes and compiles `wasm` for `engine`. Malformed or
    /// invalid input is an `InvalidModule` error naming the problem and its
    /// byte offset.
    pub fn new(engine: &Engine, wasm: &[u8]) -> Result<Module> {
        let config = engine.config();
        info::check_sizes(wasm, config.max_module_size, config.max_function_size)?;
        let info = info::decode_with(wasm, info::features(engine.config().wasm_multi_memory))?;
        let offsets = VMOffsets::new(&info);
        engine.check_module(&info, &offsets)?;
        let (code, code_writes) =
            crate::compile::compile_module(engine.isa(), engine.config(), &info, &offsets, wasm)?;
        let mut data = Vec::new();
        let mut data_ranges = Vec::with_capacity(info.data.len());
        for seg in &info.data {
            let start = data.len();
            data.extend_from_slice(&wasm[seg.data.clone()]);
            data_ranges.push(start..data.len());
        }
        let images = if engine.config().memory_init_cow {
            image::build_images(&info, |i| wasm[info.data[i].data.clone()].to_vec())?
        } else {
            Vec::new()
        };
        let data = Bytes::Owned(data.into_boxed_slice());
        Module::assemble(engine, info, code, code_writes, data, data_ranges, images)
    }

    /// The module made of compiled (or loaded) parts: interns its
    /// signatures in `engine` and derives what depends on the engine (the
    /// VMContext template, lazy tables, what instances may write).
    fn assemble(
        engine: &Engine,
        info: ModuleInfo,
        code: CodeMemory,
        code_writes: Writes,
        data: Bytes,
        data_ranges: Vec<Range<usize>>,
        images: Vec<Option<Arc<MemoryImage>>>,
    ) -> Result<Module> {
        let offsets = VMOffsets::new(&info);
        engine.check_module(&info, &offsets)?;
        let type_ids: Box<[u32]> = info.types.iter().map(|t| engine.intern(t)).collect();
        let template = VmctxTemplate::new(&info, &offsets, &code, &type_ids);
        let has_image = |memory: u32| {
            memory
                .checked_sub(info.num_imported_memories)
                .is_some_and(|m| images.get(m as usize).is_some_and(|i| i.is_some()))
        };
        let lazy_tables = lazy_table_inits(&info);
        // Tables only compiled code, the host or another instance can
        // write: the writes of this module's code and exported tables.
        let mut reachable = code_writes.tables;
        for (_, index) in &info.exports {
            if let EntityIndex::Table(t) = *index {
                reachable |= Writes::bit(t);
            }
        }
        let mut writes = code_writes.union(outside_writes(&info, has_image));
        let mut lazy_only_tables = 0;
        for (i, lazy) in lazy_tables.iter().enumerate() {
            if lazy.is_some() {
                // Reading a lazy table materializes (writes) its elements.
                let bit = Writes::bit(info.num_imported_tables + i as u32);
                writes.tables |= bit;
                if reachable & bit == 0 && info.num_imported_tables + (i as u32) < 63 {
                    lazy_only_tables |= bit;
                }
            }
        }
        if engine.config().profiler == crate::profiling::ProfilingStrategy::PerfMap {
            crate::compile::publish_module_code(&code, &info);
        }
        Ok(Module(Arc::new(ModuleInner {
            id: NEXT_MODULE_ID.fetch_add(1, Ordering::Relaxed),
            engine: engine.clone(),
            images,
            info,
            offsets,
            code,
            code_writes,
            type_ids,
            template,
            lazy_tables,
            writes,
            lazy_only_tables,
            data,
            data_ranges,
        })))
    }

    /// Serializes the compiled module into a precompiled file that
    /// [`Module::deserialize`] or [`Module::deserialize_file`] loads back
    /// without compiling, into any engine of this library build with the
    /// same code-generation settings (see `module::artifact` for the format
    /// and what "same settings" covers; pooling and on-demand engines share
    /// files). Data segments are laid out so that a file can serve as the
    /// copy-on-write image of its memories.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        artifact::serialize(self)
    }

    /// Loads a module from bytes [`Module::serialize`] produced, copying
    /// the code and data out of them (they may be freed afterwards).
    ///
    /// A file from another library version or build, compiled for other
    /// engine settings or another CPU, truncated, corrupted (checksum), or
    /// not a precompiled module at all is refused with an
    /// `ErrorKind::InvalidModule` error naming the cause; a module the
    /// engine's pool could never hold is an `ErrorKind::Limit` error, as
    /// with `Module::new`.
    ///
    /// # Trust
    ///
    /// The file holds native code that runs as it is, so only load files
    /// you produced yourself (or got from a source you would take a shared
    /// library from). The checksum detects accidents (truncation, bit
    /// rot), not tampering: anyone who can write the file can run code in
    /// your process.
    pub fn deserialize(engine: &Engine, bytes: &[u8]) -> Result<Module> {
        artifact::deserialize(engine, bytes)
    }

    /// Loads a module from a file written with the bytes of
    /// [`Module::serialize`], without copying it: the code is mapped from
    /// the file and made executable (copied instead on a `noexec` file
    /// system), and with `memory_init_cow` the file itself is each memory's
    /// copy-on-write image, so instances share its page cache and the data
    /// segments are never copied into the module. Refusals are those of
    /// [`Module::deserialize`]; a file that cannot be opened is an
    /// `ErrorKind::InvalidArgument` error.
    ///
    /// # Trust
    ///
    /// As for [`Module::deserialize`]: only load files you produced. In
    /// addition, the module keeps the file mapped for as long as it or any
    /// instance of it lives, and the file must not be modified or truncated
    /// in that time (replace it with a rename instead): writes would show
    /// through to new instances, and truncation makes access fault.
    pub fn deserialize_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module> {
        artifact::deserialize_file(engine, path.as_ref())
    }

    /// Checks that `wasm` is a valid module without compiling it.
    pub fn validate(engine: &Engine, wasm: &[u8]) -> Result<()> {
        info::decode_with(wasm, info::features(engine.config().wasm_multi_memory)).map(|_| ())
    }

    /// The module's imports: (module, name, type), in order.
    pub fn imports(&self) -> Vec<(String, String, ExternType)> {
        let info = &self.0.info;
        info.imports
            .iter()
            .map(|i| {
                let ty = match &i.kind {
                    ImportKind::Func(t) => ExternType::Func(info.types[*t as usize].clone()),
                    ImportKind::Global(g) => ExternType::Global(*g),
                    ImportKind::Table(t) => ExternType::Table(*t),
                    ImportKind::Memory(m) => ExternType::Memory(*m),
                };
                (i.module.clone(), i.name.clone(), ty)
            })
            .collect()
    }

    /// The module's exports: (name, type), in order.
    pub fn exports(&self) -> Vec<(String, ExternType)> {
        let info = &self.0.info;
        info.exports
            .iter()
            .map(|(name, index)| {
                let ty = match *index {
                    EntityIndex::Func(f) => ExternType::Func(info.func_type(f).clone()),
                    EntityIndex::Global(g) => ExternType::Global(info.globals[g as usize]),
                    EntityIndex::Table(t) => ExternType::Table(info.tables[t as usize]),
                    EntityIndex::Memory(m) => ExternType::Memory(info.memories[m as usize]),
                };
                (name.clone(), ty)
            })
            .collect()
    }

    /// The engine the module was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.0.info
    }

    pub(crate) fn offsets(&self) -> &VMOffsets {
        &self.0.offsets
    }

    pub(crate) fn vmctx_template(&self) -> &VmctxTemplate {
        &self.0.template
    }

    pub(crate) fn code(&self) -> &CodeMemory {
        &self.0.code
    }

    pub(crate) fn code_writes(&self) -> Writes {
        self.0.code_writes
    }

    pub(crate) fn type_ids(&self) -> &[u32] {
        &self.0.type_ids
    }

    pub(crate) fn data_bytes(&self, segment: u32) -> &[u8] {
        &self.0.data[self.0.data_ranges[segment as usize].clone()]
    }

    /// The lazy-init source of defined table `i`, if it has one.
    pub(crate) fn lazy_table_init(&self, i: usize) -> Option<&Arc<[u32]>> {
        self.0.lazy_tables.get(i).and_then(|t| t.as_ref())
    }

    /// Whether defined memory `i` (0-based among defined) can have been
    /// written by an instance.
    pub(crate) fn memory_may_be_written(&self, i: usize) -> bool {
        self.0.writes.memories & Writes::bit(self.0.info.num_imported_memories + i as u32) != 0
    }

    /// Whether defined table `i` (0-based among defined) can have been written.
    pub(crate) fn table_may_be_written(&self, i: usize) -> bool {
        self.0.writes.tables & Writes::bit(self.0.info.num_imported_tables + i as u32) != 0
    }

    /// Whether defined table `i` is written only by lazy materialization
    /// (see `Table::materialized`).
    pub(crate) fn table_lazy_only(&self, i: usize) -> bool {
        self.0.lazy_only_tables & Writes::bit(self.0.info.num_imported_tables + i as u32) != 0
    }

    /// The module's process-unique id.
    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    /// Bytes of copy-on-write memory images the module holds, for as long
    /// as it lives (each image's length; every instance shares them). An
    /// image is made only where it pays, so this is at most 1 MiB or four
    /// times the data bytes per memory; 0 without `memory_init_cow`.
    pub fn image_bytes(&self) -> usize {
        self.0.images.iter().flatten().map(|i| i.len()).sum()
    }

    /// The copy-on-write image of defined memory `i`, if it has one.
    pub(crate) fn image(&self, i: usize) -> Option<&Arc<MemoryImage>> {
        self.0.images.get(i).and_then(|m| m.as_ref())
    }
}
