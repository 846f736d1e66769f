//! Precompiled modules: the file format of `Module::serialize`, and loading
//! it back (`Module::deserialize`, `Module::deserialize_file`).
//!
//! A precompiled file holds everything `Module::new` produced that is not
//! a function of the engine it is loaded into: the decoded module, the
//! linked code with its trap table and address map, what the code writes,
//! and the data segments, with each copy-on-write image laid out whole and
//! page-aligned so that the file itself can be mapped as the image. What
//! depends on the loading engine (signature ids, the VMContext template,
//! lazy table contents, which memories get an image) is rebuilt at load,
//! which costs microseconds.
//!
//! ```text
//!   0 ┌──────────────────────────────────────────────────────────────┐
//!     │ magic "\x7fWPMOD\r\n"                                 8 bytes │
//!   8 │ format version                                            u32 │
//!  12 │ checksum: CRC-32 of bytes 16..file length                 u32 │
//!  16 │ file length                                               u64 │
//!  24 │ settings hash: FNV-1a of the settings text (below)        u64 │
//!  32 │ library version "0.1.0+<build id>", NUL-padded       32 bytes │
//!  64 │ metadata length                                           u64 │
//!  72 ├──────────────────────────────────────────────────────────────┤
//!     │ metadata: settings text, page size, where everything below   │
//!     │ lies, function offsets, trap table, address map, code        │
//!     │ writes, the ModuleInfo (types, imports, index spaces,        │
//!     │ globals, exports, segments, names), one entry per memory     │
//!     ├─ zeros to a page boundary ───────────────────────────────────┤
//!     │ code: linked, position-independent, page-rounded             │
//!     ├──────────────────────────────────────────────────────────────┤
//!     │ data: the bytes of each segment no image holds               │
//!     ├─ zeros to a page boundary ───────────────────────────────────┤
//!     │ image of memory i: its initial pages, page-rounded           │
//!     ├─ ... one per memory that gets an image (image::layouts) ─────┤
//!     └──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Integers are little-endian; in the metadata a count or a string length
//! is a `u32`, an option a `u8` tag (0 none, 1 some) before its value.
//!
//! **Loading.** [`deserialize_file`] maps the whole file read-only, checks
//! it, makes the code section of that mapping `PROT_READ | PROT_EXEC` in
//! place (a copy where the file system forbids executable mappings), and, with
//! `memory_init_cow`, makes each image a [`MemoryImage`] backed by the file
//! at its offset: instances map the file copy-on-write, and the data
//! segments are read where they lie in the file. No memfd is made and no
//! byte of data is copied. [`deserialize`] (from bytes) copies the code and
//! the data and makes memfd images, as `Module::new` does.
//!
//! **Refusals** (all `InvalidModule` errors naming the cause), in the order
//! they are checked: not our magic (with a hint when the input is a
//! WebAssembly binary), another format version, a length that differs
//! from the header's (truncated or extended), a checksum that differs
//! (corrupted), another library version or build, engine settings or CPU
//! features that differ (the message names the first one), and metadata
//! that does not describe a consistent module. CRC-32 detects every error
//! confined to 32 consecutive bits, so every single-byte corruption is
//! refused, whatever its offset.
//!
//! **Trust.** The code section runs as it is: a file that passes the
//! checks is trusted to be what this library wrote. Only load files you
//! produced (or got from a source you would take a shared library from);
//! the checksum catches accidents, not attacks. A file being loaded or
//! mapped by live modules must not be modified or truncated (a truncated
//! mapped file raises `SIGBUS` on access).

use crate::compile::Writes;
use crate::compile::code_memory::{CodeMemory, CodeSource, FunctionRange, TrapTable};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::module::Module;
use crate::module::image::{self, MemoryImage};
use crate::module::info::{
    ConstExpr, ConstOp, DataMode, DataSegment, ElemItems, ElemMode, ElemSegment, EntityIndex,
    Import, ImportKind, ModuleInfo, Names,
};
use crate::module::mapped::{Bytes, FileMap};
use crate::trap::TrapCode;
use crate::types::{FuncType, GlobalType, MemoryType, TableType, ValType};
use rustix::fd::OwnedFd;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// The first bytes of every precompiled file. `\x7f` keeps it from reading
/// as text; `\r\n` catches a file mangled by a text-mode transfer.
pub(crate) const MAGIC: [u8; 8] = *b"\x7fWPMOD\r\n";

/// The layout version of this file format; bump it on any change.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Bytes of the fixed header, before the metadata.
pub(crate) const HEADER_LEN: usize = 72;

const CHECKSUM_AT: usize = 12;
const CHECKED_FROM: usize = 16;
const VERSION_AT: usize = 32;
const VERSION_LEN: usize = 32;

/// This library's version and build id, as files record it.
pub(crate) fn library_version() -> String {
    format!("{}+{}", env!("CARGO_PKG_VERSION"), env!("WASMPOOL_BUILD_ID"))
}

/// Everything about `engine` that changes the code it generates, one
/// `name=value` per line: the target, every Cranelift setting (shared and
/// ISA-specific, including the CPU features found on this host, but not the
/// IR verifier, which only checks), the host page size (the file's
/// alignment) and the `Config` knobs the translator reads. The allocation
/// strategy is not among them: code is the same under both.
pub(crate) fn settings(engine: &Engine) -> String {
    let isa = engine.isa();
    let config = engine.config();
    let mut lines = vec![format!("target={}", isa.triple())];
    for value in isa.flags().iter() {
        if value.name != "enable_verifier" {
            lines.push(format!("{}={}", value.name, value.value_string()));
        }
    }
    for value in isa.isa_flags() {
        lines.push(format!("{}={}", value.name, value.value_string()));
    }
    lines.push(format!("page_size={}", rustix::param::page_size()));
    lines.push(format!("consume_fuel={}", config.consume_fuel));
    lines.push(format!("epoch_interruption={}", config.epoch_interruption));
    lines.push(format!("memory_reservation={}", config.memory_reservation));
    lines.push(format!("memory_guard_size={}", config.memory_guard_size));
    lines.push(format!("wasm_multi_memory={}", config.wasm_multi_memory));
    lines.join("\n")
}

/// 64-bit FNV-1a: stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidModule, format!("cannot load precompiled module: {message}"))
}

fn corrupt(what: &str) -> Error {
    invalid(format!("the file is corrupt ({what})"))
}

// ---- metadata encoding ----

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("counts of a valid module fit in 32 bits"));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        self.u8(v.is_some() as u8);
        self.u32(v.unwrap_or(0));
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        self.u8(v.is_some() as u8);
        self.u64(v.unwrap_or(0));
    }
    fn val_type(&mut self, t: ValType) {
        self.u8(match t {
            ValType::I32 => 0,
            ValType::I64 => 1,
            ValType::F32 => 2,
            ValType::F64 => 3,
            ValType::V128 => 4,
            ValType::FuncRef => 5,
            ValType::ExternRef => 6,
        });
    }
    fn table(&mut self, t: &TableType) {
        self.val_type(t.element);
        self.u32(t.min);
        self.opt_u32(t.max);
    }
    fn memory(&mut self, m: &MemoryType) {
        self.u64(m.min);
        self.opt_u64(m.max);
    }
    fn global(&mut self, g: &GlobalType) {
        self.val_type(g.content);
        self.u8(g.mutable as u8);
    }
    fn expr(&mut self, e: &ConstExpr) {
        self.len(e.0.len());
        for op in &e.0 {
            let (tag, value) = match *op {
                ConstOp::I32(v) => (0, v as u32 as u64),
                ConstOp::I64(v) => (1, v as u64),
                ConstOp::F32(v) => (2, v as u64),
                ConstOp::F64(v) => (3, v),
                ConstOp::RefNull => (4, 0),
                ConstOp::RefFunc(f) => (5, f as u64),
                ConstOp::GlobalGet(g) => (6, g as u64),
                ConstOp::I32Add => (7, 0),
                ConstOp::I32Sub => (8, 0),
                ConstOp::I32Mul => (9, 0),
                ConstOp::I64Add => (10, 0),
                ConstOp::I64Sub => (11, 0),
                ConstOp::I64Mul => (12, 0),
                // The low half here, the high half in a second word below.
                ConstOp::V128(v) => (13, v as u64),
            };
            self.u8(tag);
            self.u64(value);
            if let ConstOp::V128(v) = *op {
                self.u64((v >> 64) as u64);
            }
        }
    }
}

/// A bounds-checked reader: running out of bytes, or a value no writer
/// produces, is a "corrupt" error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("the metadata ends early"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }
    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("a flag is neither 0 nor 1")),
        }
    }
    /// A count of items each at least `min_item` bytes long: a count the
    /// remaining bytes cannot hold is refused before anything is allocated.
    fn len(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.bytes.len() - self.pos {
            return Err(corrupt("a count exceeds the metadata"));
        }
        Ok(n)
    }
    fn vec<T>(
        &mut self,
        min_item: usize,
        mut f: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = self.len(min_item)?;
        (0..n).map(|_| f(self)).collect()
    }
    fn str(&mut self) -> Result<String> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| corrupt("a name is not UTF-8"))
    }
    fn opt_u32(&mut self) -> Result<Option<u32>> {
        let some = self.bool()?;
        let v = self.u32()?;
        Ok(some.then_some(v))
    }
    fn opt_u64(&mut self) -> Result<Option<u64>> {
        let some = self.bool()?;
        let v = self.u64()?;
        Ok(some.then_some(v))
    }
    fn val_type(&mut self) -> Result<ValType> {
        Ok(match self.u8()? {
            0 => ValType::I32,
            1 => ValType::I64,
            2 => ValType::F32,
            3 => ValType::F64,
            4 => ValType::V128,
            5 => ValType::FuncRef,
            6 => ValType::ExternRef,
            _ => return Err(corrupt("unknown value type")),
        })
    }
    fn table(&mut self) -> Result<TableType> {
        Ok(TableType { element: self.val_type()?, min: self.u32()?, max: self.opt_u32()? })
    }
    fn memory(&mut self) -> Result<MemoryType> {
        Ok(MemoryType { min: self.u64()?, max: self.opt_u64()? })
    }
    fn global(&mut self) -> Result<GlobalType> {
        Ok(GlobalType { content: self.val_type()?, mutable: self.bool()? })
    }
    fn expr(&mut self) -> Result<ConstExpr> {
        let ops = self.vec(9, |r| {
            let tag = r.u8()?;
            let v = r.u64()?;
            Ok(match tag {
                0 => ConstOp::I32(v as u32 as i32),
                1 => ConstOp::I64(v as i64),
                2 => ConstOp::F32(v as u32),
                3 => ConstOp::F64(v),
                4 => ConstOp::RefNull,
                5 => ConstOp::RefFunc(v as u32),
                6 => ConstOp::GlobalGet(v as u32),
                7 => ConstOp::I32Add,
                8 => ConstOp::I32Sub,
                9 => ConstOp::I32Mul,
                10 => ConstOp::I64Add,
                11 => ConstOp::I64Sub,
                12 => ConstOp::I64Mul,
                13 => ConstOp::V128(u128::from(v) | u128::from(r.u64()?) << 64),
                _ => return Err(corrupt("unknown constant operator")),
            })
        })?;
        Ok(ConstExpr(ops))
    }
}

/// Where the sections of a file lie (byte ranges of the file).
#[derive(Clone, Debug, Default)]
struct Sections {
    code: Range<usize>,
    /// Per data segment: its bytes in the file (in the data section, or
    /// inside the image that holds it).
    segments: Vec<Range<usize>>,
    /// Per defined memory: its image in the file, if it has one.
    images: Vec<Option<Range<usize>>>,
}

fn write_range(w: &mut Writer, r: &Range<usize>) {
    w.u64(r.start as u64);
    w.u64((r.end - r.start) as u64);
}

fn read_range(r: &mut Reader<'_>, file_len: usize) -> Result<Range<usize>> {
    let start = r.u64()?;
    let len = r.u64()?;
    match start.checked_add(len) {
        Some(end) if end <= file_len as u64 => Ok(start as usize..end as usize),
        _ => Err(corrupt("a section lies outside the file")),
    }
}

fn write_info(w: &mut Writer, info: &ModuleInfo) {
    w.len(info.types.len());
    for t in &info.types {
        w.len(t.params().len());
        t.params().iter().for_each(|&v| w.val_type(v));
        w.len(t.results().len());
        t.results().iter().for_each(|&v| w.val_type(v));
    }
    w.len(info.imports.len());
    for i in &info.imports {
        w.str(&i.module);
        w.str(&i.name);
        match &i.kind {
            ImportKind::Func(t) => {
                w.u8(0);
                w.u32(*t);
            }
            ImportKind::Table(t) => {
                w.u8(1);
                w.table(t);
            }
            ImportKind::Memory(m) => {
                w.u8(2);
                w.memory(m);
            }
            ImportKind::Global(g) => {
                w.u8(3);
                w.global(g);
            }
        }
    }
    w.len(info.functions.len());
    info.functions.iter().for_each(|&t| w.u32(t));
    w.len(info.tables.len());
    info.tables.iter().for_each(|t| w.table(t));
    w.len(info.memories.len());
    info.memories.iter().for_each(|m| w.memory(m));
    w.len(info.globals.len());
    info.globals.iter().for_each(|g| w.global(g));
    w.len(info.global_inits.len());
    info.global_inits.iter().for_each(|e| w.expr(e));
    w.len(info.exports.len());
    for (name, index) in &info.exports {
        w.str(name);
        let (tag, i) = match *index {
            EntityIndex::Func(i) => (0, i),
            EntityIndex::Table(i) => (1, i),
            EntityIndex::Memory(i) => (2, i),
            EntityIndex::Global(i) => (3, i),
        };
        w.u8(tag);
        w.u32(i);
    }
    w.opt_u32(info.start);
    w.len(info.elements.len());
    for seg in &info.elements {
        match &seg.mode {
            ElemMode::Active { table, offset } => {
                w.u8(0);
                w.u32(*table);
                w.expr(offset);
            }
            ElemMode::Passive => w.u8(1),
            ElemMode::Declared => w.u8(2),
        }
        match &seg.items {
            ElemItems::Funcs(f) => {
                w.u8(0);
                w.len(f.len());
                f.iter().for_each(|&f| w.u32(f));
            }
            ElemItems::Exprs(e) => {
                w.u8(1);
                w.len(e.len());
                e.iter().for_each(|e| w.expr(e));
            }
        }
    }
    w.len(info.data.len());
    for seg in &info.data {
        match &seg.mode {
            DataMode::Active { memory, offset } => {
                w.u8(0);
                w.u32(*memory);
                w.expr(offset);
            }
            DataMode::Passive => w.u8(1),
        }
    }
    w.len(info.escaping.len());
    info.escaping.iter().for_each(|&f| w.u32(f));
    match &info.names.module {
        Some(m) => {
            w.u8(1);
            w.str(m);
        }
        None => w.u8(0),
    }
    let mut names: Vec<_> = info.names.functions.iter().collect();
    names.sort();
    w.len(names.len());
    for (index, name) in names {
        w.u32(*index);
        w.str(name);
    }
}

/// Reads a `ModuleInfo` (its data segments with empty ranges, filled in
/// from the sections; no function bodies: they are compiled already).
fn read_info(r: &mut Reader<'_>) -> Result<ModuleInfo> {
    let mut info = ModuleInfo {
        types: r.vec(8, |r| {
            let params = r.vec(1, Reader::val_type)?;
            let results = r.vec(1, Reader::val_type)?;
            Ok(FuncType::new(params, results))
        })?,
        imports: r.vec(9, |r| {
            let module = r.str()?;
            let name = r.str()?;
            let kind = match r.u8()? {
                0 => ImportKind::Func(r.u32()?),
                1 => ImportKind::Table(r.table()?),
                2 => ImportKind::Memory(r.memory()?),
                3 => ImportKind::Global(r.global()?),
                _ => return Err(corrupt("unknown import kind")),
            };
            Ok(Import { module, name, kind })
        })?,
        functions: r.vec(4, Reader::u32)?,
        tables: r.vec(10, Reader::table)?,
        memories: r.vec(17, Reader::memory)?,
        globals: r.vec(2, Reader::global)?,
        global_inits: r.vec(4, Reader::expr)?,
        exports: r.vec(9, |r| {
            let name = r.str()?;
            let index = match (r.u8()?, r.u32()?) {
                (0, i) => EntityIndex::Func(i),
                (1, i) => EntityIndex::Table(i),
                (2, i) => EntityIndex::Memory(i),
                (3, i) => EntityIndex::Global(i),
                _ => return Err(corrupt("unknown export kind")),
            };
            Ok((name, index))
        })?,
        start: r.opt_u32()?,
        elements: r.vec(6, |r| {
            let mode = match r.u8()? {
                0 => ElemMode::Active { table: r.u32()?, offset: r.expr()? },
                1 => ElemMode::Passive,
                2 => ElemMode::Declared,
                _ => return Err(corrupt("unknown element segment mode")),
            };
            let items = match r.u8()? {
                0 => ElemItems::Funcs(r.vec(4, Reader::u32)?),
                1 => ElemItems::Exprs(r.vec(4, Reader::expr)?),
                _ => return Err(corrupt("unknown element segment items")),
            };
            Ok(ElemSegment { mode, items })
        })?,
        data: r.vec(1, |r| {
            let mode = match r.u8()? {
                0 => DataMode::Active { memory: r.u32()?, offset: r.expr()? },
                1 => DataMode::Passive,
                _ => return Err(corrupt("unknown data segment mode")),
            };
            Ok(DataSegment { mode, data: 0..0 })
        })?,
        escaping: r.vec(4, Reader::u32)?.into_iter().collect(),
        ..ModuleInfo::default()
    };
    let module = if r.bool()? { Some(r.str()?) } else { None };
    let functions = r.vec(8, |r| Ok((r.u32()?, r.str()?)))?.into_iter().collect();
    info.names = Arc::new(Names { module, functions });
    for i in &info.imports {
        match i.kind {
            ImportKind::Func(_) => info.num_imported_funcs += 1,
            ImportKind::Table(_) => info.num_imported_tables += 1,
            ImportKind::Memory(_) => info.num_imported_memories += 1,
            ImportKind::Global(_) => info.num_imported_globals += 1,
        }
    }
    check_info(&info)?;
    Ok(info)
}

/// The invariants of a `ModuleInfo` the runtime indexes by without
/// checking (a valid module has them; a file that lacks them is corrupt).
fn check_info(info: &ModuleInfo) -> Result<()> {
    let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(corrupt(what)) };
    let (funcs, tables, memories, globals) = (
        info.functions.len() as u64,
        info.tables.len() as u64,
        info.memories.len() as u64,
        info.globals.len() as u64,
    );
    ensure(
        info.num_imported_funcs as u64 <= funcs
            && info.num_imported_tables as u64 <= tables
            && info.num_imported_memories as u64 <= memories
            && info.num_imported_globals as u64 <= globals
            && info.global_inits.len() as u64 == globals - info.num_imported_globals as u64,
        "index spaces",
    )?;
    let ty = |t: u32| (t as usize) < info.types.len();
    ensure(info.functions.iter().all(|&t| ty(t)), "a function type")?;
    for (k, i) in info.imports.iter().enumerate() {
        if let ImportKind::Func(t) = i.kind {
            ensure(ty(t) && info.functions.get(k).is_some(), "an imported function")?;
        }
    }
    let func = |f: u32| (f as u64) < funcs;
    // Indices in range, and a stack the evaluator's 16 slots hold, ending
    // with one value.
    let expr_ok = |e: &ConstExpr| {
        let mut depth = 0usize;
        e.0.iter().all(|op| {
            let ok = match *op {
                ConstOp::RefFunc(f) => func(f),
                ConstOp::GlobalGet(g) => (g as u64) < globals,
                ConstOp::I32(_) | ConstOp::I64(_) | ConstOp::F32(_) | ConstOp::F64(_) => true,
                ConstOp::V128(_) | ConstOp::RefNull => true,
                _ => {
                    depth = depth.wrapping_sub(2);
                    depth < 16
                }
            };
            depth = depth.wrapping_add(1);
            ok && depth <= 16
        }) && depth == 1
    };
    let max_pages = crate::types::WASM32_MAX_PAGES;
    ensure(
        info.memories
            .iter()
            .all(|m| m.min <= max_pages && m.max.is_none_or(|x| x >= m.min && x <= max_pages))
            && info.tables.iter().all(|t| t.max.is_none_or(|x| x >= t.min)),
        "a memory or table type",
    )?;
    ensure(info.global_inits.iter().all(expr_ok), "a global initializer")?;
    ensure(
        info.exports.iter().all(|(_, i)| match *i {
            EntityIndex::Func(f) => func(f),
            EntityIndex::Table(t) => (t as u64) < tables,
            EntityIndex::Memory(m) => (m as u64) < memories,
            EntityIndex::Global(g) => (g as u64) < globals,
        }),
        "an export",
    )?;
    ensure(info.start.is_none_or(func), "the start function")?;
    ensure(info.escaping.iter().all(|&f| func(f)), "an escaping function")?;
    for seg in &info.elements {
        if let ElemMode::Active { table, offset } = &seg.mode {
            ensure((*table as u64) < tables && expr_ok(offset), "an element segment")?;
        }
        let items_ok = match &seg.items {
            ElemItems::Funcs(f) => f.iter().all(|&f| func(f)),
            ElemItems::Exprs(e) => e.iter().all(expr_ok),
        };
        ensure(items_ok, "an element segment's items")?;
    }
    for seg in &info.data {
        if let DataMode::Active { memory, offset } = &seg.mode {
            ensure((*memory as u64) < memories && expr_ok(offset), "a data segment")?;
        }
    }
    Ok(())
}

// ---- writing ----

/// Encodes the metadata of `module` with the sections at `sections`.
fn metadata(module: &Module, settings: &str, sections: &Sections) -> Vec<u8> {
    let code = module.code();
    let table = code.table();
    let mut w = Writer::default();
    w.str(settings);
    w.u32(rustix::param::page_size() as u32);
    write_range(&mut w, &sections.code);
    w.len(code.offsets().len());
    for &((ns, index), offset, len) in code.offsets() {
        w.u32(ns);
        w.u32(index);
        w.u32(offset);
        w.u32(len);
    }
    w.len(table.traps.len());
    for &(offset, trap) in &table.traps {
        w.u32(offset);
        w.u8(trap as u8);
    }
    w.len(table.functions.len());
    for f in &table.functions {
        [f.start, f.end, f.index, f.entry_offset].iter().for_each(|&v| w.u32(v));
    }
    w.len(table.srclocs.len());
    for &(start, end, loc) in &table.srclocs {
        [start, end, loc].iter().for_each(|&v| w.u32(v));
    }
    let writes = module.code_writes();
    w.u64(writes.memories);
    w.u64(writes.tables);
    write_info(&mut w, module.info());
    w.len(sections.segments.len());
    sections.segments.iter().for_each(|r| write_range(&mut w, r));
    w.len(sections.images.len());
    for image in &sections.images {
        w.u8(image.is_some() as u8);
        write_range(&mut w, image.as_ref().unwrap_or(&(0..0)));
    }
    w.0
}

/// `Module::serialize`.
pub(crate) fn serialize(module: &Module) -> Result<Vec<u8>> {
    serialize_with_settings(module, module.engine().code_settings())
}

/// Serializes `module` as compiled for `settings` (tests name other
/// settings to check the refusals).
fn serialize_with_settings(module: &Module, settings: &str) -> Result<Vec<u8>> {
    let page = rustix::param::page_size();
    let info = module.info();
    let layouts = image::layouts(info);
    let code = module.code().bytes();

    // Where each segment's bytes are read from: inside its image, unless
    // segments of that image overlap (the image holds the later one's
    // bytes there), else the data section.
    let mut in_image: Vec<Option<(usize, u64)>> = vec![None; info.data.len()];
    for (m, layout) in layouts.iter().enumerate() {
        let Some(layout) = layout else { continue };
        let mut spans: Vec<(u64, u64)> = layout
            .segments
            .iter()
            .map(|&(off, seg)| (off, off + info.data[seg].data.len() as u64))
            .collect();
        spans.sort_unstable();
        if spans.windows(2).all(|w| w[0].1 <= w[1].0) {
            for &(offset, seg) in &layout.segments {
                in_image[seg] = Some((m, offset));
            }
        }
    }
    // The metadata's length does not depend on the offsets it records
    // (they are fixed-width), so lay out with placeholders first.
    let placeholder = Sections {
        code: 0..0,
        segments: vec![0..0; info.data.len()],
        images: layouts.iter().map(|l| l.as_ref().map(|_| 0..0)).collect(),
    };
    let meta_len = metadata(module, settings, &placeholder).len();
    let code_start = (HEADER_LEN + meta_len).next_multiple_of(page);
    let mut sections = Sections {
        code: code_start..code_start + code.len(),
        segments: Vec::with_capacity(info.data.len()),
        images: Vec::with_capacity(layouts.len()),
    };
    let mut pos = sections.code.end;
    for (i, placed) in in_image.iter().enumerate() {
        if placed.is_none() {
            let len = module.data_bytes(i as u32).len();
            sections.segments.push(pos..pos + len);
            pos += len;
        } else {
            sections.segments.push(0..0);
        }
    }
    for layout in &layouts {
        sections.images.push(layout.as_ref().map(|l| {
            pos = pos.next_multiple_of(page);
            let image = pos..pos + l.len as usize;
            pos = image.end;
            image
        }));
    }
    for (i, placed) in in_image.iter().enumerate() {
        if let Some((m, offset)) = *placed {
            let image = sections.images[m].as_ref().expect("a segment's image is laid out");
            let start = image.start + offset as usize;
            sections.segments[i] = start..start + module.data_bytes(i as u32).len();
        }
    }
    let meta = metadata(module, settings, &sections);
    debug_assert_eq!(meta.len(), meta_len);

    let mut file = Vec::new();
    file.try_reserve_exact(pos).map_err(|_| {
        Error::new(ErrorKind::Resource, format!("cannot allocate {pos} bytes to serialize"))
    })?;
    file.resize(pos, 0);
    file[..8].copy_from_slice(&MAGIC);
    file[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    file[16..24].copy_from_slice(&(pos as u64).to_le_bytes());
    file[24..32].copy_from_slice(&fnv1a(settings.as_bytes()).to_le_bytes());
    let version = library_version();
    let version = &version.as_bytes()[..version.len().min(VERSION_LEN - 1)];
    file[VERSION_AT..VERSION_AT + version.len()].copy_from_slice(version);
    file[64..72].copy_from_slice(&(meta_len as u64).to_le_bytes());
    file[HEADER_LEN..HEADER_LEN + meta_len].copy_from_slice(&meta);
    file[sections.code.clone()].copy_from_slice(code);
    for (i, range) in sections.segments.iter().enumerate() {
        if in_image[i].is_none() {
            file[range.clone()].copy_from_slice(module.data_bytes(i as u32));
        }
    }
    // The images, segment by segment in order: where two overlap, the later
    // one wins, as at instantiation.
    for (layout, image) in layouts.iter().zip(&sections.images) {
        if let (Some(layout), Some(image)) = (layout, image) {
            for &(offset, seg) in &layout.segments {
                let bytes = module.data_bytes(seg as u32);
                let start = image.start + offset as usize;
                file[start..start + bytes.len()].copy_from_slice(bytes);
            }
        }
    }
    let checksum = crc32fast::hash(&file[CHECKED_FROM..]);
    file[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&checksum.to_le_bytes());
    Ok(file)
}

// ---- reading ----

/// A checked file's contents, before anything is mapped.
struct Parsed {
    info: ModuleInfo,
    offsets: Vec<((u32, u32), u32, u32)>,
    table: TrapTable,
    code_writes: Writes,
    sections: Sections,
}

fn u32_at(file: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(file[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(file: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(file[at..at + 8].try_into().expect("eight bytes"))
}

/// Checks the header of `file` (magic, versions, length, checksum,
/// settings) for `engine`.
fn check_header(file: &[u8]) -> Result<()> {
    if file.len() < 8 || file[..8] != MAGIC {
        if file.starts_with(b"\0asm") {
            return Err(invalid(
                "this is a WebAssembly binary, not a precompiled module (compile it with \
                 Module::new, or precompile it with Module::serialize or wasmpool-compile)",
            ));
        }
        return Err(invalid("not a precompiled module of this library (wrong magic bytes)"));
    }
    if file.len() < HEADER_LEN {
        return Err(invalid(format!(
            "the file is truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
            file.len()
        )));
    }
    let format = u32_at(file, 8);
    if format != FORMAT_VERSION {
        return Err(invalid(format!(
            "the file has format version {format}, this library reads version {FORMAT_VERSION}"
        )));
    }
    let len = u64_at(file, 16);
    if len != file.len() as u64 {
        let what = if len > file.len() as u64 { "truncated" } else { "longer than written" };
        return Err(invalid(format!(
            "the file is {what}: {} bytes, its header says {len}",
            file.len()
        )));
    }
    let stored = u32_at(file, CHECKSUM_AT);
    let actual = crc32fast::hash(&file[CHECKED_FROM..]);
    if stored != actual {
        return Err(invalid(format!(
            "the file is corrupt: its checksum is {actual:#010x}, the header says {stored:#010x}"
        )));
    }
    let version = &file[VERSION_AT..VERSION_AT + VERSION_LEN];
    let version = String::from_utf8_lossy(
        &version[..version.iter().position(|&b| b == 0).unwrap_or(VERSION_LEN)],
    );
    let ours = library_version();
    if version != ours {
        return Err(invalid(format!(
            "the file was written by libwasmpool {version}, this is libwasmpool {ours}: \
             precompile the module again with this library"
        )));
    }
    Ok(())
}

/// The first setting whose value differs between the two settings texts.
fn setting_difference(file: &str, ours: &str) -> String {
    fn split(line: &str) -> (&str, &str) {
        line.split_once('=').unwrap_or((line, ""))
    }
    for line in file.lines() {
        let (name, value) = split(line);
        match ours.lines().map(split).find(|(n, _)| *n == name) {
            Some((_, v)) if v == value => continue,
            Some((_, v)) => {
                return format!("`{name}` is {value} in the file but {v} in this engine");
            }
            None => return format!("the file sets `{name}`, which this engine does not have"),
        }
    }
    for line in ours.lines() {
        let (name, _) = split(line);
        if !file.lines().any(|l| split(l).0 == name) {
            return format!("this engine sets `{name}`, which the file lacks");
        }
    }
    "the settings texts differ".to_string()
}

/// Checks `file` for `engine` and decodes its metadata.
fn parse(engine: &Engine, file: &[u8]) -> Result<Parsed> {
    check_header(file)?;
    let meta_len = u64_at(file, 64);
    let meta = usize::try_from(meta_len)
        .ok()
        .and_then(|n| file.get(HEADER_LEN..HEADER_LEN.checked_add(n)?))
        .ok_or_else(|| corrupt("the metadata lies outside the file"))?;
    let r = &mut Reader { bytes: meta, pos: 0 };
    let their_settings = r.len(1)?;
    let their_settings = r.take(their_settings)?;
    if fnv1a(their_settings) != u64_at(file, 24) {
        return Err(corrupt("the settings do not match their hash"));
    }
    let ours = engine.code_settings();
    if their_settings != ours.as_bytes() {
        let their_settings = String::from_utf8_lossy(their_settings);
        return Err(invalid(format!(
            "it was compiled for other engine settings or another CPU: {} (precompile it \
             again with an engine configured like this one, on this kind of machine)",
            setting_difference(&their_settings, ours)
        )));
    }
    let page = rustix::param::page_size();
    if r.u32()? as usize != page {
        return Err(corrupt("the page size"));
    }
    let code = read_range(r, file.len())?;
    let offsets = r.vec(16, |r| Ok(((r.u32()?, r.u32()?), r.u32()?, r.u32()?)))?;
    let traps = r.vec(5, |r| {
        let offset = r.u32()?;
        let code = TrapCode::from_raw(r.u8()?).ok_or_else(|| corrupt("unknown trap code"))?;
        Ok((offset, code))
    })?;
    let functions = r.vec(16, |r| {
        Ok(FunctionRange {
            start: r.u32()?,
            end: r.u32()?,
            index: r.u32()?,
            entry_offset: r.u32()?,
        })
    })?;
    let srclocs = r.vec(12, |r| Ok((r.u32()?, r.u32()?, r.u32()?)))?;
    let code_writes = Writes { memories: r.u64()?, tables: r.u64()? };
    let mut info = read_info(r)?;
    let segments = r.vec(16, |r| read_range(r, file.len()))?;
    let images = r.vec(17, |r| {
        let some = r.bool()?;
        let range = read_range(r, file.len())?;
        Ok(some.then_some(range))
    })?;
    if r.pos != meta.len() {
        return Err(corrupt("bytes after the metadata"));
    }
    if segments.len() != info.data.len() {
        return Err(corrupt("the data segments"));
    }
    for (seg, range) in info.data.iter_mut().zip(&segments) {
        seg.data = range.clone();
    }

    // The code: page-aligned, after the metadata, with every function of
    // the module in it and every table entry inside it.
    let code_len = code.len();
    let ensure = |ok: bool, what: &str| if ok { Ok(()) } else { Err(corrupt(what)) };
    ensure(
        code.start.is_multiple_of(page)
            && code_len.is_multiple_of(page)
            && code_len > 0
            && code.start >= HEADER_LEN + meta.len(),
        "the code section",
    )?;
    let inside = |start: u32, end: u32| start <= end && end as usize <= code_len;
    ensure(
        offsets.is_sorted_by_key(|(k, _, _)| *k)
            && offsets.iter().all(|&(_, off, len)| inside(off, off.saturating_add(len))),
        "the function offsets",
    )?;
    let has = |key| offsets.binary_search_by_key(&key, |(k, _, _)| *k).is_ok();
    for f in info.num_imported_funcs..info.functions.len() as u32 {
        ensure(has((crate::compile::trampolines::NS_WASM, f)), "a function's code is missing")?;
        if info.escaping.contains(&f) {
            ensure(has((crate::compile::trampolines::NS_ARRAY, f)), "a trampoline is missing")?;
        }
    }
    ensure(
        traps.is_sorted_by_key(|(o, _)| *o)
            && functions.is_sorted_by_key(|f| f.start)
            && functions.iter().all(|f| inside(f.start, f.end))
            && srclocs.is_sorted_by_key(|s| s.0)
            && srclocs.iter().all(|&(s, e, _)| inside(s, e)),
        "the trap table or address map",
    )?;
    // The images: where `image::layouts` puts them, page-aligned, each
    // holding its segments.
    let layouts = image::layouts(&info);
    ensure(images.len() == layouts.len(), "the memory images")?;
    for (image, layout) in images.iter().zip(&layouts) {
        match (image, layout) {
            (None, None) => {}
            (Some(image), Some(layout)) => {
                ensure(
                    image.start.is_multiple_of(page)
                        && image.len() as u64 == layout.len
                        && image.start >= code.end,
                    "a memory image",
                )?;
            }
            _ => return Err(corrupt("the memory images")),
        }
    }
    let table = TrapTable { traps, functions, srclocs, names: info.names.clone() };
    Ok(Parsed { info, offsets, table, code_writes, sections: Sections { code, segments, images } })
}

/// `Module::deserialize`: copies what it needs out of `file`.
pub(crate) fn deserialize(engine: &Engine, file: &[u8]) -> Result<Module> {
    let Parsed { mut info, offsets, table, code_writes, sections } = parse(engine, file)?;
    let code = CodeMemory::map(CodeSource::Copy(&file[sections.code.clone()]), offsets, table)?;
    let mut data = Vec::new();
    let mut data_ranges = Vec::with_capacity(info.data.len());
    for seg in &mut info.data {
        let start = data.len();
        data.extend_from_slice(&file[seg.data.clone()]);
        data_ranges.push(start..data.len());
        seg.data = start..data.len();
    }
    let images = if engine.config().memory_init_cow {
        image::build_images(&info, |i| data[data_ranges[i].clone()].to_vec())?
    } else {
        Vec::new()
    };
    Module::assemble(
        engine,
        info,
        code,
        code_writes,
        Bytes::Owned(data.into_boxed_slice()),
        data_ranges,
        images,
    )
}

/// `Module::deserialize_file`: maps the file, its code, and its images.
pub(crate) fn deserialize_file(engine: &Engine, path: &Path) -> Result<Module> {
    use rustix::fs::{Mode, OFlags};
    let io = |what: &str, e: rustix::io::Errno| {
        Error::invalid_argument(format!("cannot {what} {}: {e}", path.display()))
    };
    let fd: OwnedFd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| io("open", e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io("stat", e))?;
    if !rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file() {
        return Err(Error::invalid_argument(format!("{} is not a regular file", path.display())));
    }
    let len = usize::try_from(stat.st_size).map_err(|_| invalid("the file is too large"))?;
    if len < HEADER_LEN {
        // Too short to map usefully; the same checks as for bytes explain why.
        let bytes = std::fs::read(path)
            .map_err(|e| Error::invalid_argument(format!("cannot read {}: {e}", path.display())))?;
        check_header(&bytes)?;
        return Err(invalid("the file is truncated"));
    }
    let map = Arc::new(FileMap::new(&fd, len)?);
    let Parsed { info, offsets, table, code_writes, sections } = parse(engine, map.bytes())?;
    let code = CodeMemory::map(CodeSource::File(&map, sections.code.clone()), offsets, table)?;
    let images = if engine.config().memory_init_cow {
        let fd = Arc::new(fd);
        sections
            .images
            .iter()
            .map(|image| {
                image.as_ref().map(|r| {
                    let bytes = Bytes::Mapped(map.clone(), r.clone());
                    Arc::new(MemoryImage::in_file(fd.clone(), r.start as u64, bytes))
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let data_ranges = info.data.iter().map(|s| s.data.clone()).collect();
    let data = Bytes::Mapped(map.clone(), 0..len);
    Module::assemble(engine, info, code, code_writes, data, data_ranges, images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Engine};

    /// A small module that uses every part of the metadata: imports of
    /// each kind, a memory with an image and a passive segment, a table
    /// with an element segment, globals, exports, a start function, names.
    const SMALL: &str = r#"(module $small
        (import "env" "f" (func $f (param i32)))
        (import "env" "t" (table 1 funcref))
        (import "env" "m" (memory 1))
        (import "env" "g" (global i64))
        (memory (export "mem") 1 2)
        (data (memory 1) (i32.const 16) "hello")
        (data "passive")
        (table 2 10 funcref)
        (elem (table 1) (i32.const 0) func $get $start)
        (global $counter (mut i32) (i32.const 7))
        (global f64 (f64.const 1.5))
        (func $get (export "get") (result i32) global.get $counter)
        (func $start i32.const 1 call $f)
        (start $start))"#;

    fn engine() -> Engine {
        Engine::new(&Config::default()).unwrap()
    }

    fn small(engine: &Engine) -> Module {
        Module::new(engine, &wat::parse_str(SMALL).unwrap()).unwrap()
    }

    fn meta_len(file: &[u8]) -> usize {
        u64_at(file, 64) as usize
    }

    /// `file` with its checksum made right again after an edit.
    fn reseal(mut file: Vec<u8>) -> Vec<u8> {
        let checksum = crc32fast::hash(&file[CHECKED_FROM..]);
        file[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&checksum.to_le_bytes());
        file
    }

    #[track_caller]
    fn refused(engine: &Engine, file: &[u8], why: &str) {
        match deserialize(engine, file) {
            Ok(_) => panic!("a file that should be refused ({why}) was loaded"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidModule, "{e:?}");
                assert!(e.message().contains(why), "{why:?} not in {:?}", e.message());
            }
        }
    }

    #[test]
    fn a_small_module_round_trips() {
        let engine = engine();
        let module = small(&engine);
        let file = module.serialize().unwrap();
        assert_eq!(file[..8], MAGIC);
        assert!(meta_len(&file) > 100);
        let loaded = deserialize(&engine, &file).unwrap();
        assert_eq!(loaded.imports(), module.imports());
        assert_eq!(loaded.exports(), module.exports());
        assert_eq!(*loaded.info().names, *module.info().names);
        assert_eq!(loaded.code().bytes(), module.code().bytes());
        assert_eq!(loaded.code().offsets(), module.code().offsets());
        assert_eq!(loaded.code().table().traps, module.code().table().traps);
        assert_eq!(loaded.code().table().functions, module.code().table().functions);
        assert_eq!(loaded.code().table().srclocs, module.code().table().srclocs);
        assert_eq!(loaded.code_writes(), module.code_writes());
        for i in 0..2 {
            assert_eq!(loaded.data_bytes(i), module.data_bytes(i));
        }
        assert_eq!(loaded.image_bytes(), module.image_bytes());
        assert_eq!(loaded.serialize().unwrap(), file, "serializing a loaded module is stable");
    }

    #[test]
    fn files_that_are_not_ours_are_refused() {
        let engine = engine();
        refused(&engine, b"", "wrong magic");
        refused(&engine, &[0x42; 4096], "wrong magic");
        refused(&engine, b"(module)", "wrong magic");
        let wasm = wat::parse_str("(module)").unwrap();
        refused(&engine, &wasm, "WebAssembly binary, not a precompiled module");
    }

    #[test]
    fn other_versions_are_refused() {
        let engine = engine();
        let file = small(&engine).serialize().unwrap();
        let mut other = file.clone();
        other[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        refused(&engine, &reseal(other), "format version 2, this library reads version 1");
        let mut other = file.clone();
        other[VERSION_AT..VERSION_AT + VERSION_LEN].fill(0);
        other[VERSION_AT..VERSION_AT + 5].copy_from_slice(b"0.0.9");
        refused(&engine, &reseal(other), "written by libwasmpool 0.0.9, this is libwasmpool 0.1");
        let mut other = file;
        let at = VERSION_AT + library_version().len() - 1;
        other[at] = if other[at] == b'0' { b'1' } else { b'0' };
        refused(&engine, &reseal(other), "precompile the module again");
    }

    #[test]
    fn other_engine_settings_are_refused_naming_the_setting() {
        let default = engine();
        let file = small(&default).serialize().unwrap();
        let cases = [
            (Config { consume_fuel: true, ..Config::default() }, "`consume_fuel` is false"),
            (Config { epoch_interruption: true, ..Config::default() }, "`epoch_interruption`"),
            (Config { memory_reservation: 1 << 20, ..Config::default() }, "`memory_reservation`"),
            (Config { memory_guard_size: 1 << 16, ..Config::default() }, "`memory_guard_size`"),
            (Config { wasm_multi_memory: false, ..Config::default() }, "`wasm_multi_memory`"),
        ];
        for (config, why) in cases {
            let other = Engine::new(&config).unwrap();
            refused(&other, &file, why);
            // And the other way round.
            let one_memory = wat::parse_str(r#"(module (memory 1) (data (i32.const 8) "x"))"#);
            let theirs = Module::new(&other, &one_memory.unwrap()).unwrap().serialize().unwrap();
            refused(&default, &theirs, why.split(" is").next().unwrap());
        }
        // Settings that do not change code do not matter.
        let runtime_only = Config {
            max_wasm_stack: 64 << 10,
            memory_init_cow: false,
            guard_before_linear_memory: false,
            parallel_compilation: false,
            max_table_elements: 100,
            ..Config::default()
        };
        deserialize(&Engine::new(&runtime_only).unwrap(), &file).unwrap();
    }

    #[test]
    fn other_cpu_features_are_refused_naming_the_feature() {
        let engine = engine();
        let ours = settings(&engine);
        // Flip one CPU feature the host ISA reports (`has_*`).
        let line = ours.lines().find(|l| l.starts_with("has_")).expect("the ISA reports features");
        let (name, value) = line.split_once('=').unwrap();
        let flipped = if value == "true" { "false" } else { "true" };
        let theirs = ours.replace(line, &format!("{name}={flipped}"));
        let file = serialize_with_settings(&small(&engine), &theirs).unwrap();
        refused(&engine, &file, &format!("`{name}` is {flipped} in the file but {value}"));
        let other_target = ours.replacen("target=", "target=riscv64-", 1);
        let file = serialize_with_settings(&small(&engine), &other_target).unwrap();
        refused(&engine, &file, "`target` is riscv64-");
    }

    #[test]
    fn every_truncation_is_refused() {
        let engine = engine();
        let file = small(&engine).serialize().unwrap();
        for len in 0..file.len() {
            let err = deserialize(&engine, &file[..len]).err();
            let err = err.unwrap_or_else(|| panic!("truncated to {len} bytes and loaded"));
            assert_eq!(err.kind(), ErrorKind::InvalidModule, "{len}: {err:?}");
        }
        let mut longer = file.clone();
        longer.push(0);
        refused(&engine, &longer, "longer than written");
        refused(&engine, &file[..file.len() - 1], "truncated");
    }

    #[test]
    fn every_truncation_of_a_file_is_refused() {
        let engine = engine();
        let file = small(&engine).serialize().unwrap();
        let path =
            std::env::temp_dir().join(format!("wasmpool-trunc-{}.cwasm", std::process::id()));
        std::fs::write(&path, &file).unwrap();
        deserialize_file(&engine, &path).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        for len in (0..file.len()).rev() {
            f.set_len(len as u64).unwrap();
            let err = deserialize_file(&engine, &path).err();
            let err = err.unwrap_or_else(|| panic!("truncated to {len} bytes and loaded"));
            assert_eq!(err.kind(), ErrorKind::InvalidModule, "{len}: {err:?}");
        }
        std::fs::remove_file(&path).unwrap();
        let err = deserialize_file(&engine, &path).err().expect("a missing file");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains("cannot open"), "{err:?}");
    }

    #[test]
    fn every_single_byte_corruption_is_refused() {
        let engine = engine();
        let file = small(&engine).serialize().unwrap();
        let metadata_end = HEADER_LEN + meta_len(&file);
        // Every offset of the header and metadata with two different
        // errors, and every other offset (code, data, images, padding)
        // with one.
        for at in 0..file.len() {
            let flips: &[u8] = if at < metadata_end { &[0x01, 0xff] } else { &[0x80] };
            for &flip in flips {
                let mut bad = file.clone();
                bad[at] ^= flip;
                let err = deserialize(&engine, &bad).err();
                let err = err.unwrap_or_else(|| panic!("byte {at} ^ {flip:#x} loaded"));
                assert_eq!(err.kind(), ErrorKind::InvalidModule, "{at}: {err:?}");
            }
        }
        // From a file too, over the header and metadata.
        let path = std::env::temp_dir().join(format!("wasmpool-bad-{}.cwasm", std::process::id()));
        for at in 0..metadata_end {
            let mut bad = file.clone();
            bad[at] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            let err = deserialize_file(&engine, &path).err();
            let err = err.unwrap_or_else(|| panic!("file byte {at} flipped and loaded"));
            assert_eq!(err.kind(), ErrorKind::InvalidModule, "{at}: {err:?}");
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_corrupted_body_is_named_as_such() {
        let engine = engine();
        let mut file = small(&engine).serialize().unwrap();
        let at = file.len() - 1;
        file[at] ^= 1;
        refused(&engine, &file, "the file is corrupt: its checksum");
    }

    #[test]
    fn inconsistent_metadata_is_refused_even_with_a_right_checksum() {
        let engine = engine();
        let file = small(&engine).serialize().unwrap();
        // Every byte of the metadata after the settings, replaced by each
        // of a few values and resealed: a refusal or a module, never a
        // panic (values a writer produces may well be consistent).
        let settings_end = HEADER_LEN + 4 + settings(&engine).len();
        for at in settings_end..HEADER_LEN + meta_len(&file) {
            for value in [0x00, 0x07, 0xff] {
                let mut bad = file.clone();
                bad[at] = value;
                let _ = deserialize(&engine, &reseal(bad));
            }
        }
    }
}
