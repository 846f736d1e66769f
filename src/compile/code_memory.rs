//! Code memory: compiled functions laid out in one mapping, relocated, made
//! read+execute, and registered with the trap handler.
//!
//! Functions refer to each other only through PC-relative calls, which are
//! resolved here against the layout; nothing absolute is patched in, so the
//! bytes before mapping are position-independent (the precompiled-module work
//! can serialize them as they are). The trap table maps a code offset to the
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
use crate::runtime::traps::{CodeRegistration, TrapLookup, register_code};
use crate::trap::{FrameInfo, TrapCode};
use cranelift_codegen::binemit::Reloc;
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
struct FunctionRange {
    start: u32,
    end: u32,
    index: u32,
    /// See [`CompiledFunc::entry_offset`].
    entry_offset: u32,
}

/// The sorted trap table and address map of one code mapping.
struct TrapTable {
    traps: Vec<(u32, TrapCode)>,
    /// The wasm functions, by start.
    functions: Vec<FunctionRange>,
    /// The source locations of all functions, by start (see
    /// [`CompiledFunc::srclocs`]), relative to the mapping.
    srclocs: Vec<(u32, u32, u32)>,
    names: Arc<Names>,
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

/// Executable code: one read+execute mapping, unmapped and unregistered on drop.
pub(crate) struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    /// Offset and length of the functions by key, sorted by key.
    offsets: Vec<((u32, u32), u32, u32)>,
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

impl CodeMemory {
    /// Lays out, relocates, maps and registers `funcs`, whose wasm functions
    /// `names` names (in backtraces).
    pub(crate) fn new(mut funcs: Vec<CompiledFunc>, names: Arc<Names>) -> Result<CodeMemory> {
        funcs.sort_by_key(|f| f.key);
        let mut offsets = Vec::with_capacity(funcs.len());
        let mut total = 0usize;
        for f in &funcs {
            total = total.next_multiple_of(16);
            offsets.push((f.key, total as u32, f.code.len() as u32));
            total += f.code.len();
        }
        let page = rustix::param::page_size();
        let len = total.max(1).next_multiple_of(page);
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
        let mut mem = CodeMemory { ptr, len, offsets, _registration: None };

        let mut traps = Vec::new();
        let mut functions = Vec::new();
        let mut srclocs = Vec::new();
        for (f, (_, start, len)) in funcs.iter().zip(mem.offsets.clone()) {
            if f.key.0 == crate::compile::trampolines::NS_WASM {
                functions.push(FunctionRange {
                    start,
                    end: start + len,
                    index: f.key.1,
                    entry_offset: f.entry_offset.unwrap_or(0),
                });
                srclocs.extend(f.srclocs.iter().map(|&(s, e, loc)| (start + s, start + e, loc)));
            }
            // SAFETY: the layout above reserved `f.code.len()` bytes at `start`
            // inside the writable mapping.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    f.code.as_ptr(),
                    ptr.add(start as usize),
                    f.code.len(),
                )
            };
            for &(off, kind, target, addend) in &f.relocs {
                let target = mem
                    .offset(target)
                    .ok_or_else(|| Error::internal(format!("unresolved call target {target:?}")))?;
                let at = start as usize + off as usize;
                mem.relocate(at, kind, target as usize, addend)?;
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

        // SAFETY: the mapping is ours; after this no one writes to it.
        unsafe {
            rustix::mm::mprotect(
                ptr.cast(),
                len,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
            )
        }
        .map_err(|e| resource("mprotect of code memory", e))?;
        let table = TrapTable { traps, functions, srclocs, names };
        mem._registration = Some(register_code(ptr as usize, len, Arc::new(table)));
        Ok(mem)
    }

    fn relocate(&mut self, at: usize, kind: Reloc, target: usize, addend: i64) -> Result<()> {
        let pc = self.ptr as usize + at;
        let target_addr = self.ptr as usize + target;
        match kind {
            Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 | Reloc::X86PCRel4 => {
                let delta = (target_addr as i64 + addend - pc as i64) as i32;
                // SAFETY: `at` lies inside the writable mapping, within the
                // function's code, where the 4-byte field of the call is.
                unsafe { (self.ptr.add(at) as *mut [u8; 4]).write_unaligned(delta.to_le_bytes()) };
            }
            Reloc::Arm64Call => {
                let delta = (target_addr as i64 + addend - pc as i64) >> 2;
                // SAFETY: as above; the instruction word is 4 bytes.
                unsafe {
                    let p = self.ptr.add(at) as *mut u32;
                    let insn = p.read_unaligned();
                    p.write_unaligned((insn & 0xfc00_0000) | (delta as u32 & 0x03ff_ffff));
                }
            }
            other => return Err(Error::internal(format!("unsupported relocation {other:?}"))),
        }
        Ok(())
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
        // SAFETY: the mapping is ours and no code in it runs any more: every
        // instance holding this module's code keeps an `Arc` to it.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}
