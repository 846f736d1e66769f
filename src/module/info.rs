//! The front end: validate a module with `wasmparser` and decode it into a
//! [`ModuleInfo`].
//!
//! Validation runs first over the whole binary (the enabled features are
//! WebAssembly 2.0 with SIMD, relaxed SIMD, plus multi-memory), so the decoding pass
//! below can assume well-formed input and keep only what the compiler and the
//! runtime need: types, imports, the index spaces of functions, tables,
//! memories and globals, exports, element and data segments, and the ranges
//! of the function bodies within the original bytes, and the names of the
//! `name` custom section (for backtraces and profiling; a malformed name
//! section is ignored, never an error).

use crate::error::{Error, ErrorKind, Result};
use crate::types::{FuncType, GlobalType, MemoryType, TableType, ValType};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;
use wasmparser::{
    KnownCustom, Name, NameSectionReader, Operator, Parser, Payload, Validator, WasmFeatures,
};

/// The features the front end accepts: WebAssembly 2.0 (with fixed-width
/// SIMD) and relaxed SIMD, plus multi-memory when `multi_memory` is set.
pub(crate) fn features(multi_memory: bool) -> WasmFeatures {
    let base = WasmFeatures::WASM2.union(WasmFeatures::RELAXED_SIMD);
    if multi_memory { base.union(WasmFeatures::MULTI_MEMORY) } else { base }
}

/// What an import provides.
#[derive(Clone, Debug)]
pub(crate) enum ImportKind {
    Func(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}

/// One import.
#[derive(Clone, Debug)]
pub(crate) struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

/// An index into one of the module's index spaces, as exports name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntityIndex {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
}

/// One instruction of a constant expression (the extended-const arithmetic
/// is accepted too, so later feature work needs no new evaluator).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ConstOp {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    RefNull,
    RefFunc(u32),
    GlobalGet(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A constant expression, evaluated at instantiation.
#[derive(Clone, Debug)]
pub(crate) struct ConstExpr(pub Vec<ConstOp>);

impl ConstExpr {
    fn parse(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr> {
        let mut ops = Vec::new();
        let mut reader = expr.get_operators_reader();
        while !reader.eof() {
            let op = reader.read().map_err(invalid)?;
            ops.push(match op {
                Operator::I32Const { value } => ConstOp::I32(value),
                Operator::I64Const { value } => ConstOp::I64(value),
                Operator::F32Const { value } => ConstOp::F32(value.bits()),
                Operator::F64Const { value } => ConstOp::F64(value.bits()),
                Operator::V128Const { value } => ConstOp::V128(value.i128() as u128),
                Operator::RefNull { .. } => ConstOp::RefNull,
                Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
                Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
                Operator::I32Add => ConstOp::I32Add,
                Operator::I32Sub => ConstOp::I32Sub,
                Operator::I32Mul => ConstOp::I32Mul,
                Operator::I64Add => ConstOp::I64Add,
                Operator::I64Sub => ConstOp::I64Sub,
                Operator::I64Mul => ConstOp::I64Mul,
                Operator::End => continue,
                other => {
                    return Err(Error::new(
                        ErrorKind::InvalidModule,
                        format!("unsupported constant expression operator {other:?}"),
                    ));
                }
            });
        }
        Ok(ConstExpr(ops))
    }

    /// The constant as an `i32`-typed offset when it has no `global.get`.
    pub(crate) fn as_const_u32(&self) -> Option<u32> {
        match self.0.as_slice() {
            [ConstOp::I32(v)] => Some(*v as u32),
            _ => None,
        }
    }
}

/// Where an element segment goes.
#[derive(Clone, Debug)]
pub(crate) enum ElemMode {
    Active { table: u32, offset: ConstExpr },
    Passive,
    Declared,
}

/// The items of an element segment.
#[derive(Clone, Debug)]
pub(crate) enum ElemItems {
    /// Function indices (the common, compact form).
    Funcs(Vec<u32>),
    /// Arbitrary constant expressions.
    Exprs(Vec<ConstExpr>),
}

impl ElemItems {
    pub(crate) fn len(&self) -> usize {
        match self {
            ElemItems::Funcs(f) => f.len(),
            ElemItems::Exprs(e) => e.len(),
        }
    }
}

/// One element segment.
#[derive(Clone, Debug)]
pub(crate) struct ElemSegment {
    pub mode: ElemMode,
    pub items: ElemItems,
}

/// Where a data segment goes.
#[derive(Clone, Debug)]
pub(crate) enum DataMode {
    Active { memory: u32, offset: ConstExpr },
    Passive,
}

/// One data segment; its bytes are a range of the module's binary.
#[derive(Clone, Debug)]
pub(crate) struct DataSegment {
    pub mode: DataMode,
    pub data: Range<usize>,
}

/// Everything the compiler and the runtime need to know about a module.
#[derive(Debug, Default)]
pub(crate) struct ModuleInfo {
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub functions: Vec<u32>,
    pub num_imported_funcs: u32,
    /// Every table, imported ones first.
    pub tables: Vec<TableType>,
    pub num_imported_tables: u32,
    /// Every memory, imported ones first.
    pub memories: Vec<MemoryType>,
    pub num_imported_memories: u32,
    /// Every global, imported ones first.
    pub globals: Vec<GlobalType>,
    pub num_imported_globals: u32,
    /// Initializers of the defined globals.
    pub global_inits: Vec<ConstExpr>,
    pub exports: Vec<(String, EntityIndex)>,
    pub start: Option<u32>,
    pub elements: Vec<ElemSegment>,
    pub data: Vec<DataSegment>,
    /// Byte ranges of the defined functions' bodies (locals and code).
    pub bodies: Vec<Range<usize>>,
    /// Functions that can be referenced from outside their own code
    /// (exported, in an element segment, or in a global initializer): they
    /// need a host-to-wasm entry trampoline.
    pub escaping: BTreeSet<u32>,
    /// The module's and its functions' names from the `name` section.
    pub names: Arc<Names>,
}

/// The names the `name` custom section gives the module and its functions.
/// Names are optional debugging aids: a module without a name section, or
/// with a malformed one, simply has fewer of them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Names {
    /// The module's name (subsection 0).
    pub module: Option<String>,
    /// Function names by function index (subsection 1).
    pub functions: HashMap<u32, String>,
}

impl Names {
    /// The names in `reader`. Reading stops at the first malformed
    /// subsection or entry, keeping what was read before it.
    fn parse(reader: NameSectionReader<'_>) -> Names {
        let mut names = Names::default();
        for subsection in reader {
            match subsection {
                Ok(Name::Module { name, .. }) => names.module = Some(name.to_string()),
                Ok(Name::Function(map)) => {
                    for naming in map {
                        let Ok(naming) = naming else { break };
                        names.functions.insert(naming.index, naming.name.to_string());
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        names
    }

    /// The name of function `index`, when the name section gives one.
    pub(crate) fn function(&self, index: u32) -> Option<&str> {
        self.functions.get(&index).map(String::as_str)
    }

    /// How profilers show function `index`: `module!function` when the
    /// module is named, else just the function; a function without a name is
    /// `wasm function N`.
    pub(crate) fn symbol(&self, index: u32) -> String {
        let function = match self.function(index) {
            Some(name) => name.to_string(),
            None => format!("wasm function {index}"),
        };
        match &self.module {
            Some(module) => format!("{module}!{function}"),
            None => function,
        }
    }
}

impl ModuleInfo {
    pub(crate) fn num_defined_memories(&self) -> u32 {
        self.memories.len() as u32 - self.num_imported_memories
    }

    pub(crate) fn num_defined_tables(&self) -> u32 {
        self.tables.len() as u32 - self.num_imported_tables
    }

    pub(crate) fn num_defined_globals(&self) -> u32 {
        self.globals.len() as u32 - self.num_imported_globals
    }

    pub(crate) fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.functions[func as usize] as usize]
    }
}

fn invalid(e: wasmparser::BinaryReaderError) -> Error {
    Error::new(
        ErrorKind::InvalidModule,
        format!("invalid module: {} (at byte offset {})", e.message(), e.offset()),
    )
}

fn val_type(ty: wasmparser::ValType) -> Result<ValType> {
    ValType::from_wasmparser(ty)
        .ok_or_else(|| Error::unsupported(format!("value type {ty:?} is not supported")))
}

fn table_type(ty: &wasmparser::TableType) -> Result<TableType> {
    let element = ValType::from_ref_type(ty.element_type).ok_or_else(|| {
        Error::unsupported(format!("table element type {:?} is not supported", ty.element_type))
    })?;
    if ty.table64 || ty.shared {
        return Err(Error::unsupported("64-bit and shared tables are not supported"));
    }
    Ok(TableType { element, min: ty.initial as u32, max: ty.maximum.map(|m| m as u32) })
}

fn memory_type(ty: &wasmparser::MemoryType) -> Result<MemoryType> {
    if ty.memory64 || ty.shared || ty.page_size_log2.is_some() {
        return Err(Error::unsupported(
            "64-bit, shared and custom-page-size memories are not supported",
        ));
    }
    Ok(MemoryType { min: ty.initial, max: ty.maximum })
}

fn global_type(ty: &wasmparser::GlobalType) -> Result<GlobalType> {
    Ok(GlobalType { content: val_type(ty.content_type)?, mutable: ty.mutable })
}

/// Validates `wasm` (with multi-memory enabled) and decodes it.
#[cfg(test)]
pub(crate) fn decode(wasm: &[u8]) -> Result<ModuleInfo> {
    decode_with(wasm, features(true))
}

/// Validates `wasm` against `features` and decodes it.
/// Refuses a binary larger than `max_module_size`, or with a function body
/// larger than `max_function_size`, before anything is validated, decoded or
/// compiled: a `Limit` error naming the knob. The scan reads only section
/// and body headers, so it costs nothing in proportion to the bodies.
/// Malformed input is left for validation to report.
pub(crate) fn check_sizes(
    wasm: &[u8],
    max_module_size: usize,
    max_function_size: usize,
) -> Result<()> {
    if wasm.len() > max_module_size {
        return Err(Error::new(
            ErrorKind::Limit,
            format!(
                "the module is {} bytes, larger than max_module_size ({max_module_size} bytes)",
                wasm.len()
            ),
        ));
    }
    let mut num_imported_funcs = 0;
    let mut defined = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { return Ok(()) };
        match payload {
            Payload::ImportSection(reader) => {
                num_imported_funcs = reader
                    .into_imports()
                    .filter(|i| {
                        i.as_ref().is_ok_and(|i| {
                            matches!(
                                i.ty,
                                wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_)
                            )
                        })
                    })
                    .count() as u32;
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                let len = (range.end - range.start) as usize;
                if len > max_function_size {
                    return Err(Error::new(
                        ErrorKind::Limit,
                        format!(
                            "function {} has a body of {len} bytes, larger than \
                             max_function_size ({max_function_size} bytes)",
                            num_imported_funcs + defined
                        ),
                    ));
                }
                defined += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn decode_with(wasm: &[u8], features: WasmFeatures) -> Result<ModuleInfo> {
    Validator::new_with_features(features).validate_all(wasm).map_err(invalid)?;

    let mut info = ModuleInfo::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty.map_err(invalid)?;
                    let params =
                        ty.params().iter().map(|t| val_type(*t)).collect::<Result<Vec<_>>>()?;
                    let results =
                        ty.results().iter().map(|t| val_type(*t)).collect::<Result<Vec<_>>>()?;
                    info.types.push(FuncType::new(params, results));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    let kind = match import.ty {
                        wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                            info.functions.push(t);
                            info.num_imported_funcs += 1;
                            ImportKind::Func(t)
                        }
                        wasmparser::TypeRef::Table(t) => {
                            let t = table_type(&t)?;
                            info.tables.push(t);
                            info.num_imported_tables += 1;
                            ImportKind::Table(t)
                        }
                        wasmparser::TypeRef::Memory(m) => {
                            let m = memory_type(&m)?;
                            info.memories.push(m);
                            info.num_imported_memories += 1;
                            ImportKind::Memory(m)
                        }
                        wasmparser::TypeRef::Global(g) => {
                            let g = global_type(&g)?;
                            info.globals.push(g);
                            info.num_imported_globals += 1;
                            ImportKind::Global(g)
                        }
                        wasmparser::TypeRef::Tag(_) => {
                            return Err(Error::unsupported("tags are not supported"));
                        }
                    };
                    info.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    info.functions.push(ty.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(invalid)?;
                    if !matches!(table.init, wasmparser::TableInit::RefNull) {
                        return Err(Error::unsupported(
                            "table initializer expressions are not supported",
                        ));
                    }
                    info.tables.push(table_type(&table.ty)?);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    info.memories.push(memory_type(&memory.map_err(invalid)?)?);
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global.map_err(invalid)?;
                    info.globals.push(global_type(&global.ty)?);
                    let init = ConstExpr::parse(&global.init_expr)?;
                    note_escaping(&mut info.escaping, &init);
                    info.global_inits.push(init);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    let index = match export.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            info.escaping.insert(export.index);
                            EntityIndex::Func(export.index)
                        }
                        wasmparser::ExternalKind::Table => EntityIndex::Table(export.index),
                        wasmparser::ExternalKind::Memory => EntityIndex::Memory(export.index),
                        wasmparser::ExternalKind::Global => EntityIndex::Global(export.index),
                        wasmparser::ExternalKind::Tag => {
                            return Err(Error::unsupported("tags are not supported"));
                        }
                    };
                    info.exports.push((export.name.to_string(), index));
                }
            }
            Payload::StartSection { func, .. } => {
                info.start = Some(func);
                info.escaping.insert(func);
            }
            Payload::ElementSection(reader) => {
                for elem in reader {
                    let elem = elem.map_err(invalid)?;
                    let mode = match elem.kind {
                        wasmparser::ElementKind::Active { table_index, offset_expr } => {
                            ElemMode::Active {
                                table: table_index.unwrap_or(0),
                                offset: ConstExpr::parse(&offset_expr)?,
                            }
                        }
                        wasmparser::ElementKind::Passive => ElemMode::Passive,
                        wasmparser::ElementKind::Declared => ElemMode::Declared,
                    };
                    let items = match elem.items {
                        wasmparser::ElementItems::Functions(funcs) => {
                            let funcs = funcs
                                .into_iter()
                                .collect::<std::result::Result<Vec<u32>, _>>()
                                .map_err(invalid)?;
                            info.escaping.extend(funcs.iter().copied());
                            ElemItems::Funcs(funcs)
                        }
                        wasmparser::ElementItems::Expressions(_, exprs) => {
                            let mut items = Vec::new();
                            for expr in exprs {
                                let expr = ConstExpr::parse(&expr.map_err(invalid)?)?;
                                note_escaping(&mut info.escaping, &expr);
                                items.push(expr);
                            }
                            ElemItems::Exprs(items)
                        }
                    };
                    info.elements.push(ElemSegment { mode, items });
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.map_err(invalid)?;
                    let mode = match data.kind {
                        wasmparser::DataKind::Active { memory_index, offset_expr } => {
                            DataMode::Active {
                                memory: memory_index,
                                offset: ConstExpr::parse(&offset_expr)?,
                            }
                        }
                        wasmparser::DataKind::Passive => DataMode::Passive,
                    };
                    let start = data.data.as_ptr() as usize - wasm.as_ptr() as usize;
                    info.data.push(DataSegment { mode, data: start..start + data.data.len() });
                }
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                info.bodies.push(range.start as usize..range.end as usize);
            }
            Payload::CustomSection(reader) => {
                if let KnownCustom::Name(names) = reader.as_known() {
                    info.names = Arc::new(Names::parse(names));
                }
            }
            Payload::TagSection(_) => return Err(Error::unsupported("tags are not supported")),
            _ => {}
        }
    }
    Ok(info)
}

fn note_escaping(escaping: &mut BTreeSet<u32>, expr: &ConstExpr) {
    for op in &expr.0 {
        if let ConstOp::RefFunc(f) = op {
            escaping.insert(*f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_index_spaces() {
        let wasm = wat::parse_str(
            r#"(module
                (import "env" "f" (func $f (param i32)))
                (import "env" "m" (memory 1))
                (global $g (mut i64) (i64.const 7))
                (table 2 funcref)
                (elem (i32.const 0) $h)
                (data (i32.const 16) "hi")
                (func $h (export "h") (result i32) i32.const 1)
                (start $h2)
                (func $h2)
                (func $unused))"#,
        )
        .unwrap();
        let info = decode(&wasm).unwrap();
        assert_eq!(info.num_imported_funcs, 1);
        assert_eq!(info.functions.len(), 4);
        assert_eq!(info.num_imported_memories, 1);
        assert_eq!(info.num_defined_memories(), 0);
        assert_eq!(info.globals[0], GlobalType { content: ValType::I64, mutable: true });
        assert_eq!(info.exports, vec![("h".to_string(), EntityIndex::Func(1))]);
        assert_eq!(info.start, Some(2));
        assert_eq!(info.bodies.len(), 3);
        assert_eq!(&wasm[info.data[0].data.clone()], b"hi");
        assert_eq!(
            info.escaping.iter().copied().collect::<Vec<_>>(),
            vec![1, 2],
            "exported and start escape"
        );
    }

    #[test]
    fn names_come_from_the_name_section() {
        let wasm = wat::parse_str(
            r#"(module $m
                (import "env" "f" (func $imported))
                (func $named)
                (func))"#,
        )
        .unwrap();
        let names = decode(&wasm).unwrap().names;
        assert_eq!(names.module.as_deref(), Some("m"));
        assert_eq!(names.function(0), Some("imported"));
        assert_eq!(names.function(1), Some("named"));
        assert_eq!(names.function(2), None);
        assert_eq!(names.symbol(1), "m!named");
        assert_eq!(names.symbol(2), "m!wasm function 2");
        let unnamed = Names::default();
        assert_eq!(unnamed.symbol(2), "wasm function 2");
    }

    /// A module with one function and a custom section `name` holding
    /// `payload`.
    fn with_name_section(payload: &[u8]) -> Vec<u8> {
        let mut wasm = wat::parse_str("(module (func))").unwrap();
        let mut section = vec![4];
        section.extend_from_slice(b"name");
        section.extend_from_slice(payload);
        wasm.push(0);
        wasm.push(section.len() as u8);
        wasm.extend_from_slice(&section);
        wasm
    }

    #[test]
    fn a_malformed_name_section_is_ignored() {
        // Module name "ok", then a function-names subsection whose entry
        // count promises more than its bytes hold.
        let wasm = with_name_section(&[0, 3, 2, b'o', b'k', 1, 4, 9, 0, 1, b'f']);
        let info = decode(&wasm).expect("names are optional, never an error");
        assert_eq!(info.names.module.as_deref(), Some("ok"), "what came before the damage");
        assert_eq!(info.names.functions, HashMap::from([(0, "f".to_string())]));
        // Garbage from the first byte.
        let info = decode(&with_name_section(&[0xff, 0xff, 0xff])).unwrap();
        assert_eq!(*info.names, Names::default());
    }

    #[test]
    fn invalid_input_names_the_offset() {
        let err = decode(b"\0asm\x01\0\0\0\x01").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModule);
        assert!(err.message().contains("offset"), "{}", err.message());
        let err = decode(&wat::parse_str("(module (func (result i32)))").unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidModule);
    }
}
