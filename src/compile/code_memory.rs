//! Code memory: compiled functions laid out in one mapping, relocated, made
//! read+execute, and registered with the trap handler.
//!
//! Functions refer to each other only through PC-relative calls, which are
//! resolved here against the layout ([`LinkedCode::link`]); nothing absolute
//! is patched in, so the linked bytes are position-independent: a
//! precompiled file stores them as they are, and loading maps them from the
//! file ([`CodeMemory::map`]) without relocating anything. The trap table maps a code offset to the
//! trap code the instruction there raises; the signal handler consults it
//! through the registration. The address map says which wasm function a code
//! offset belongs to and which operator (by module offset) the instruction
//! there was compiled from, for backtraces:
//!
//! ```text
//!   code:       │ f0 ─────────────────────┤   │ trampoline │   │ f1 ──────────┤
//!   functions:  (start, end, index 0, entry offset)             (start, end, 1, ..)
//!   srclocs:    │ ├ 0x41 ┤├─ 0x43 ─┤├ 0x41 ┤                    │ ├ 0x52 ─┤├ 0x55 ┤
//!                (code start, code end, module offset), sorted, no overlap
//! ```

use crate::compile::env::from_ir_trap;
use crate::error::{Error, ErrorKind, Result};
use crate::module::info::Names;
use crate::module::mapped::FileMap;
use crate::runtime::traps::{CodeRegistration, TrapLookup, register_code};
use crate::trap::{FrameInfo, TrapCode};
use cranelift_codegen::binemit::Reloc;
use std::ops::Range;
use std::sync::Arc;

/// One compiled function before linking.
pub(crate) struct CompiledFunc {
    /// (namespace, index) of the function.
    pub key: (u32, u32),
    pub code: Vec<u8>,
    /// (offset in `code`, kind, target key, addend)
    pub relocs: Vec<(u32, Reloc, (u32, u32), i64)>,
    /// (offset in `code`, trap code)
    pub traps: Vec<(u32, cranelift_codegen::ir::TrapCode)>,
    /// (start, end, module offset): the code in `start..end` was compiled
    /// from the wasm operator at that offset of the module binary. Sorted;
    /// empty for trampolines.
    pub srclocs: Vec<(u32, u32, u32)>,
    /// For a wasm function, the module offset of its first operator: what a
    /// trap in code without a source location (the prologue's stack check)
    /// reports.
    pub entry_offset: Option<u32>,
}

/// A wasm function's code in the mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FunctionRange {
    pub start: u32,
    pub end: u32,
    pub index: u32,
    /// See [`CompiledFunc::entry_offset`].
    pub entry_offset: u32,
}

/// The sorted trap table and address map of one code mapping.
pub(crate) struct TrapTable {
    pub traps: Vec<(u32, TrapCode)>,
    /// The wasm functions, by start.
    pub functions: Vec<FunctionRange>,
    /// The source locations of all functions, by start (see
    /// [`CompiledFunc::srclocs`]), relative to the mapping.
    pub srclocs: Vec<(u32, u32, u32)>,
    pub names: Arc<Names>,
}

/// The element of `sorted` (by the start `key` gives) whose range holds `pc`.
fn containing<T>(sorted: &[T], pc: u32, range: impl Fn(&T) -> (u32, u32)) -> Option<&T> {
    let i = sorted.partition_point(|x| range(x).0 <= pc).checked_sub(1)?;
    let found = &sorted[i];
    (pc < range(found).1).then_some(found)
}

impl TrapLookup for TrapTable {
    fn trap_code(&self, pc_offset: usize) -> Option<TrapCode> {
        let pc = u32::try_from(pc_offset).ok()?;
        self.traps.binary_search_by_key(&pc, |(off, _)| *off).ok().map(|i| self.traps[i].1)
    }

    fn frame_info(&self, pc_offset: usize) -> Option<FrameInfo> {
        let pc = u32::try_from(pc_offset).ok()?;
        let function = containing(&self.functions, pc, |f| (f.start, f.end))?;
        let module_offset = containing(&self.srclocs, pc, |&(start, end, _)| (start, end))
            .map_or(function.entry_offset, |&(_, _, offset)| offset);
        Some(FrameInfo::new(
            function.index,
            self.names.function(function.index).map(str::to_string),
            self.names.module.clone(),
            module_offset as usize,
        ))
    }
}

/// Offset and length of each function by key, sorted by key.
pub(crate) type FunctionOffsets = Vec<((u32, u32), u32, u32)>;

/// Linked code not yet mapped: position-independent bytes (every call is
/// PC-relative between functions of the same bytes) and their tables.
pub(crate) struct LinkedCode {
    /// The code, padded with zeros to a multiple of the host page size.
    pub bytes: Vec<u8>,
    pub offsets: FunctionOffsets,
    pub table: TrapTable,
}

/// Where the bytes of a [`CodeMemory`] come from.
pub(crate) enum CodeSource<'a> {
    /// Bytes to copy into a fresh mapping.
    Copy(&'a [u8]),
    /// A page-aligned, page-rounded range of a precompiled module's file,
    /// already mapped: that part of the mapping is made read+execute in
    /// place (the code memory then keeps the mapping alive instead of
    /// owning one). When the file system refuses executable mappings
    /// (`noexec`), the bytes are copied instead.
    File(&'a Arc<FileMap>, Range<usize>),
}

/// Executable code: one read+execute mapping, unmapped and unregistered on drop.
pub(crate) struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    /// Offset and length of the functions by key, sorted by key.
    offsets: FunctionOffsets,
    table: Arc<TrapTable>,
    /// The file mapping the code lies in, for code mapped from a file
    /// (which then unmaps it); `None` when `ptr` is a mapping of our own.
    file: Option<Arc<FileMap>>,
    _registration: Option<CodeRegistration>,
}

// SAFETY: after construction the mapping is immutable (read+execute) and the
// raw pointer is only used to compute addresses, so sharing across threads is
// sound.
unsafe impl Send for CodeMemory {}
// SAFETY: see `Send`; no interior mutability.
unsafe impl Sync for CodeMemory {}

fn resource(what: &str, e: rustix::io::Errno) -> Error {
    Error::new(ErrorKind::Resource, format!("{what} failed: {e}"))
}

/// Patches the relocation of kind `kind` at byte `at` of `code`, a call of
/// the code at byte `target` (plus `addend`).
fn relocate(code: &mut [u8], at: usize, kind: Reloc, target: usize, addend: i64) -> Result<()> {
    let field = code
        .get_mut(at..at + 4)
        .ok_or_else(|| Error::internal(format!("relocation at {at} outside the code")))?;
    match kind {
        Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 | Reloc::X86PCRel4 => {
            let delta = (target as i64 + addend - at as i64) as i32;
            field.copy_from_slice(&delta.to_le_bytes());
        }
        Reloc::Arm64Call => {
            let delta = (target as i64 + addend - at as i64) >> 2;
            let insn = u32::from_le_bytes(field.try_into().expect("four bytes"));
            let insn = (insn & 0xfc00_0000) | (delta as u32 & 0x03ff_ffff);
            field.copy_from_slice(&insn.to_le_bytes());
        }
        other => return Err(Error::internal(format!("unsupported relocation {other:?}"))),
    }
    Ok(())
}

impl LinkedCode {
    /// Lays out and relocates `funcs`, whose wasm functions `names` names
    /// (in backtraces).
    pub(crate) fn link(mut funcs: Vec<CompiledFunc>, names: Arc<Names>) -> Result<LinkedCode> {
        funcs.sort_by_key(|f| f.key);
        let mut offsets = Vec::with_capacity(funcs.len());
        let mut total = 0usize;
        for f in &funcs {
            total = total.next_multiple_of(16);
            offsets.push((f.key, total as u32, f.code.len() as u32));
            total += f.code.len();
        }
        let mut bytes = vec![0u8; total.max(1).next_multiple_of(rustix::param::page_size())];
        let offset_of = |key| {
            offsets
                .binary_search_by_key(&key, |(k, _, _)| *k)
                .map(|i| offsets[i].1)
                .map_err(|_| Error::internal(format!("unresolved call target {key:?}")))
        };
        let mut traps = Vec::new();
        let mut functions = Vec::new();
        let mut srclocs = Vec::new();
        for (f, &(_, start, len)) in funcs.iter().zip(&offsets) {
            if f.key.0 == crate::compile::trampolines::NS_WASM {
                functions.push(FunctionRange {
                    start,
                    end: start + len,
                    index: f.key.1,
                    entry_offset: f.entry_offset.unwrap_or(0),
                });
                srclocs.extend(f.srclocs.iter().map(|&(s, e, loc)| (start + s, start + e, loc)));
            }
            bytes[start as usize..start as usize + f.code.len()].copy_from_slice(&f.code);
            for &(off, kind, target, addend) in &f.relocs {
                let at = start as usize + off as usize;
                relocate(&mut bytes, at, kind, offset_of(target)? as usize, addend)?;
            }
            for &(off, code) in &f.traps {
                if let Some(code) = from_ir_trap(code) {
                    traps.push((start + off, code));
                }
            }
        }
        traps.sort_by_key(|(off, _)| *off);
        // Functions are laid out in key order, so these are sorted already.
        debug_assert!(functions.is_sorted_by_key(|f| f.start));
        debug_assert!(srclocs.is_sorted_by_key(|&(start, _, _)| start));
        Ok(LinkedCode { bytes, offsets, table: TrapTable { traps, functions, srclocs, names } })
    }
}

impl CodeMemory {
    /// Lays out, relocates, maps and registers `funcs`, whose wasm functions
    /// `names` names (in backtraces).
    pub(crate) fn new(funcs: Vec<CompiledFunc>, names: Arc<Names>) -> Result<CodeMemory> {
        let linked = LinkedCode::link(funcs, names)?;
        CodeMemory::map(CodeSource::Copy(&linked.bytes), linked.offsets, linked.table)
    }

    /// Maps code from `source` read+execute and registers it with its
    /// `table` for the signal handler. The caller vouches for the bytes:
    /// they are run as they are (they come from `LinkedCode::link`, or from a
    /// precompiled file whose checksum, versions and settings matched).
    pub(crate) fn map(
        source: CodeSource<'_>,
        offsets: FunctionOffsets,
        table: TrapTable,
    ) -> Result<CodeMemory> {
        let page = rustix::param::page_size();
        let copy = |bytes: &[u8]| -> Result<*mut u8> {
            let len = bytes.len().max(1).next_multiple_of(page);
            // SAFETY: a fresh private anonymous mapping aliases nothing.
            let ptr = unsafe {
                rustix::mm::mmap_anonymous(
                    std::ptr::null_mut(),
                    len,
                    rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                    rustix::mm::MapFlags::PRIVATE,
                )
            }
            .map_err(|e| resource("mmap of code memory", e))? as *mut u8;
            // SAFETY: the mapping holds `len` >= `bytes.len()` writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
            // SAFETY: the mapping is ours; after this no one writes to it.
            unsafe {
                rustix::mm::mprotect(
                    ptr.cast(),
                    len,
                    rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
                )
            }
            .map_err(|e| {
                // SAFETY: the mapping is ours and nothing points into it yet.
                let _ = unsafe { rustix::mm::munmap(ptr.cast(), len) };
                resource("mprotect of code memory", e)
            })?;
            Ok(ptr)
        };
        let (ptr, len, file) = match source {
            CodeSource::Copy(bytes) => {
                (copy(bytes)?, bytes.len().max(1).next_multiple_of(page), None)
            }
            CodeSource::File(map, range) => {
                let bytes = &map.bytes()[range.clone()];
                debug_assert!(range.start.is_multiple_of(page) && !bytes.is_empty());
                let ptr = bytes.as_ptr().cast_mut();
                // SAFETY: the range lies inside the file mapping, which is
                // read-only and never written; the code memory keeps it
                // alive (`file`) while the code may run.
                let made_executable = unsafe {
                    rustix::mm::mprotect(
                        ptr.cast(),
                        bytes.len(),
                        rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
                    )
                };
                match made_executable {
                    Ok(()) => (ptr, bytes.len(), Some(map.clone())),
                    // A `noexec` file system: run a copy.
                    Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {
                        (copy(bytes)?, bytes.len().max(1).next_multiple_of(page), None)
                    }
                    Err(e) => return Err(resource("mprotect of precompiled code", e)),
                }
            }
        };
        let table = Arc::new(table);
        let registration = register_code(ptr as usize, len, table.clone());
        Ok(CodeMemory { ptr, len, offsets, table, file, _registration: Some(registration) })
    }

    /// The mapped code (readable, page-rounded).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping holds `len` readable bytes while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Offset and length of every function, by key.
    pub(crate) fn offsets(&self) -> &FunctionOffsets {
        &self.offsets
    }

    /// The trap table and address map.
    pub(crate) fn table(&self) -> &TrapTable {
        &self.table
    }

    /// Offset of the function with `key`, if present.
    pub(crate) fn offset(&self, key: (u32, u32)) -> Option<u32> {
        self.offsets.binary_search_by_key(&key, |(k, _, _)| *k).ok().map(|i| self.offsets[i].1)
    }

    /// Every function: its key, address and length in bytes, by key.
    pub(crate) fn functions(&self) -> impl Iterator<Item = ((u32, u32), *const u8, usize)> + '_ {
        self.offsets.iter().map(|&(key, offset, len)| {
            // SAFETY: offsets lie inside the mapping.
            (key, unsafe { self.ptr.add(offset as usize) }.cast_const(), len as usize)
        })
    }

    /// Address of the function with `key`, if present.
    pub(crate) fn addr(&self, key: (u32, u32)) -> Option<*const u8> {
        // SAFETY: offsets lie inside the mapping.
        self.offset(key).map(|o| unsafe { self.ptr.add(o as usize) } as *const u8)
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // Unregister before unmapping so the handler never sees a stale range.
        self._registration = None;
        if self.file.is_some() {
            // Part of a file mapping, unmapped with it.
            return;
        }
        // SAFETY: the mapping is ours and no code in it runs any more: every
        // instance holding this module's code keeps an `Arc` to it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}
