//! The function translator: WebAssembly operators to Cranelift IR.
//!
//! One pass over the function body, operator by operator, with two stacks:
//!
//! - the **value stack** holds the SSA values of the wasm operand stack;
//! - the **control stack** holds one [`Frame`] per open `block`, `loop` or
//!   `if` (and one for the function body). A frame knows the Cranelift block
//!   that follows it (`next`, whose parameters carry the frame's results), the
//!   loop header for `loop`, and the `else` block for `if`.
//!
//! Locals are Cranelift variables, so the frontend builds SSA form for them.
//! Values on the value stack stay valid across blocks because every block we
//! enter is dominated by the code that pushed them.
//!
//! Unreachable code (after `br`, `return`, `unreachable`, ...) is handled
//! once, at the top of [`FuncTranslator::operator`]: no instruction is
//! emitted; only the nesting of control operators is tracked so the matching
//! `else`/`end` is found. Everything that depends on the runtime (VMContext
//! offsets, bounds-check strategy, builtins) comes from [`ModuleEnv`].

use crate::compile::env::{self, ModuleEnv, POINTER, builtin_signature, ir_type, wasm_signature};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::builtins::{Builtin, GROW_TRAPPED, NUM_BUILTINS};
use crate::runtime::vmcontext::{
    FUNCREF_TYPE_ID, FUNCREF_VMCTX, FUNCREF_WASM_CALL, STORE_CONTEXT_EPOCH_COUNTER,
    STORE_CONTEXT_EPOCH_DEADLINE, STORE_CONTEXT_FUEL, STORE_CONTEXT_STACK_LIMIT, VMCTX_BUILTINS,
    VMCTX_STORE_CONTEXT, VMCTX_TYPE_IDS,
};
use crate::trap::TrapCode;
use crate::types::ValType;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{
    self, AliasRegionData, Block, BlockArg, Endianness, Function, InstBuilder, JumpTableData,
    MemFlagsData, SigRef, UserExternalName, UserFuncName, Value, types,
};
use cranelift_codegen::packed_option::ReservedValue;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use std::collections::HashMap;
use wasmparser::{BlockType, MemArg, Operator};

/// The SIMD operators, a child module so it shares the translator's helpers.
#[path = "simd.rs"]
mod simd;

/// What kind of construct a control frame stands for.
enum FrameKind {
    /// The function body itself (branching to it returns).
    Function,
    Block,
    Loop {
        header: Block,
    },
    If {
        else_block: Block,
        else_seen: bool,
        head_reachable: bool,
        params: Vec<Value>,
    },
    /// A construct opened in unreachable code: only its `end` matters.
    Dead,
}

/// One open control construct.
struct Frame {
    kind: FrameKind,
    /// The block after the construct; its parameters are the results.
    next: Block,
    num_params: usize,
    num_results: usize,
    /// Value-stack height below the construct's parameters.
    height: usize,
    /// Whether some branch targets `next`.
    exit_reachable: bool,
}

impl Frame {
    /// The block a branch to this frame jumps to, and how many values it takes.
    fn branch_target(&self) -> (Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.num_params),
            _ => (self.next, self.num_results),
        }
    }
}

/// Disjoint classes of memory that compiled code accesses, for Cranelift's
/// alias analysis: a store to one region does not invalidate what is known
/// about loads from another, so (say) a heap store does not force the memory
/// length or a global to be reloaded. Each location is only ever accessed
/// with one region (or by calls, which clobber everything). Imported
/// memories, tables and globals share one region per kind, since two imports
/// may be the same object.
#[derive(Clone, Copy)]
enum Region {
    /// The bytes of linear memory `index`.
    Memory(u32),
    /// The elements of table `index`.
    Table(u32),
    /// The value of global `index`.
    Global(u32),
    /// Every `VMMemoryDefinition` (base and length), which only builtins write.
    MemoryDefinitions,
    /// Every `VMTableDefinition` (base and length), which only builtins write.
    TableDefinitions,
}

/// Flags for loads of runtime data structures that are always valid.
fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn block_args(values: &[Value]) -> Vec<BlockArg> {
    values.iter().map(|v| BlockArg::Value(*v)).collect()
}

/// Translates one function.
pub(crate) struct FuncTranslator<'m, 'b> {
    env: &'m ModuleEnv<'m>,
    b: FunctionBuilder<'b>,
    stack: Vec<Value>,
    control: Vec<Frame>,
    reachable: bool,
    locals: Vec<Variable>,
    vmctx: Value,
    func_refs: HashMap<u32, ir::FuncRef>,
    sig_refs: HashMap<u32, SigRef>,
    builtin_sigs: [Option<SigRef>; NUM_BUILTINS],
    /// Operators executed since fuel was last charged.
    fuel_pending: i64,
    /// What the function may write.
    writes: Writes,
}

/// Which memories and tables (by module index) a function may write: bit
/// `i` for index `i`, bit 63 standing for every index from 63 on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Writes {
    pub memories: u64,
    pub tables: u64,
}

impl Writes {
    pub(crate) fn bit(index: u32) -> u64 {
        1 << index.min(63)
    }

    pub(crate) fn union(self, other: Writes) -> Writes {
        Writes { memories: self.memories | other.memories, tables: self.tables | other.tables }
    }
}

fn memarg_memory(memarg: &MemArg) -> u32 {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(m) => m,
        wasmparser::MemArgTarget::Array(_) => unreachable!("GC arrays are not enabled"),
    }
}

/// What translating a function found out besides its IR.
pub(crate) struct Translated {
    /// The memories and tables the function may write.
    pub writes: Writes,
    /// The module offset of the function's first operator.
    pub entry_offset: u32,
}

/// Builds the IR of defined function `func_index` (module index space) into `func`.
pub(crate) fn translate_function(
    env: &ModuleEnv<'_>,
    func_index: u32,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
) -> Result<Translated> {
    let ty = env.info.func_type(func_index).clone();
    func.signature = wasm_signature(&ty, env.call_conv);
    func.name = UserFuncName::user(0, func_index);

    // The stack limit lives in the store context: vmctx -> store_context -> stack_limit.
    let vmctx_gv = func.create_global_value(ir::GlobalValueData::VMContext);
    let readonly_flags =
        func.dfg.mem_flags.insert(trusted().with_readonly()).expect("few distinct flags");
    let trusted_flags = func.dfg.mem_flags.insert(trusted()).expect("few distinct flags");
    let store_ctx = func.create_global_value(ir::GlobalValueData::Load {
        base: vmctx_gv,
        offset: (VMCTX_STORE_CONTEXT as i32).into(),
        global_type: POINTER,
        flags: readonly_flags,
    });
    let limit = func.create_global_value(ir::GlobalValueData::Load {
        base: store_ctx,
        offset: (STORE_CONTEXT_STACK_LIMIT as i32).into(),
        global_type: POINTER,
        flags: trusted_flags,
    });
    func.stack_limit = Some(limit);

    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let vmctx = params[0];

    let mut locals = Vec::new();
    for (i, p) in ty.params().iter().enumerate() {
        let var = b.declare_var(ir_type(*p));
        b.def_var(var, params[i + 2]);
        locals.push(var);
    }

    let range = env.info.bodies[(func_index - env.info.num_imported_funcs) as usize].clone();
    let body = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(
        &env.wasm[range.clone()],
        range.start as u64,
    ));
    for group in body.get_locals_reader().map_err(reader_error)? {
        let (count, ty) = group.map_err(reader_error)?;
        let ty = ValType::from_wasmparser(ty)
            .ok_or_else(|| Error::unsupported("unsupported local type"))?;
        for _ in 0..count {
            let var = b.declare_var(ir_type(ty));
            let zero = zero_value(&mut b, ty);
            b.def_var(var, zero);
            locals.push(var);
        }
    }

    let exit = b.create_block();
    for r in ty.results() {
        b.append_block_param(exit, ir_type(*r));
    }
    let mut t = FuncTranslator {
        env,
        b,
        stack: Vec::new(),
        control: Vec::new(),
        reachable: true,
        locals,
        vmctx,
        func_refs: HashMap::new(),
        sig_refs: HashMap::new(),
        builtin_sigs: [None; NUM_BUILTINS],
        fuel_pending: 0,
        writes: Writes::default(),
    };
    // Every instruction carries the module offset of the operator it comes
    // from (the function's entry checks that of its first operator), so a
    // trap's backtrace can name it.
    let mut reader = body.get_operators_reader().map_err(reader_error)?;
    let entry = srcloc(reader.original_position());
    t.b.set_srcloc(entry);
    t.interruption_checks();
    t.control.push(Frame {
        kind: FrameKind::Function,
        next: exit,
        num_params: 0,
        num_results: ty.results().len(),
        height: 0,
        exit_reachable: false,
    });

    while !reader.eof() {
        t.b.set_srcloc(srcloc(reader.original_position()));
        let op = reader.read().map_err(reader_error)?;
        t.operator(op)?;
    }
    // The final `end` closed the function frame and left us in `exit`.
    if t.reachable {
        let results = std::mem::take(&mut t.stack);
        t.b.ins().return_(&results);
    }
    t.b.seal_all_blocks();
    let writes = t.writes;
    t.b.finalize(env.frontend);
    Ok(Translated { writes, entry_offset: entry.bits() })
}

/// The source location of the operator at `offset` bytes into the module
/// (`u32::MAX` means "none" to Cranelift, so larger offsets saturate below it).
fn srcloc(offset: u64) -> ir::SourceLoc {
    ir::SourceLoc::new(u32::try_from(offset).unwrap_or(u32::MAX - 1))
}

fn reader_error(e: wasmparser::BinaryReaderError) -> Error {
    Error::new(ErrorKind::InvalidModule, format!("{} (at byte offset {})", e.message(), e.offset()))
}

fn zero_value(b: &mut FunctionBuilder<'_>, ty: ValType) -> Value {
    match ty {
        ValType::I32 => b.ins().iconst(types::I32, 0),
        ValType::I64 | ValType::FuncRef | ValType::ExternRef => b.ins().iconst(types::I64, 0),
        ValType::F32 => b.ins().f32const(Ieee32::with_bits(0)),
        ValType::F64 => b.ins().f64const(Ieee64::with_bits(0)),
        ValType::V128 => {
            let c = b.func.dfg.constants.insert(vec![0u8; 16].into());
            b.ins().vconst(types::I8X16, c)
        }
    }
}

impl<'m, 'b> FuncTranslator<'m, 'b> {
    // ---------------------------------------------------------------- stack helpers

    fn pop(&mut self) -> Value {
        self.stack.pop().expect("validated wasm never underflows the value stack")
    }

    fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    fn pop3(&mut self) -> (Value, Value, Value) {
        let c = self.pop();
        let (a, b) = self.pop2();
        (a, b, c)
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    fn top(&self, n: usize) -> Vec<Value> {
        self.stack[self.stack.len() - n..].to_vec()
    }

    fn block_type(&self, bt: BlockType) -> (Vec<ValType>, Vec<ValType>) {
        match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => {
                (vec![], vec![ValType::from_wasmparser(t).expect("validated type")])
            }
            BlockType::FuncType(i) => {
                let ft = &self.env.info.types[i as usize];
                (ft.params().to_vec(), ft.results().to_vec())
            }
        }
    }

    fn new_block_with(&mut self, tys: &[ValType]) -> Block {
        let block = self.b.create_block();
        for t in tys {
            self.b.append_block_param(block, ir_type(*t));
        }
        block
    }

    fn bool_to_i32(&mut self, cond: Value) -> Value {
        self.b.ins().uextend(types::I32, cond)
    }

    fn load_trusted(&mut self, ty: ir::Type, base: Value, offset: u32) -> Value {
        self.b.ins().load(ty, trusted(), base, offset as i32)
    }

    /// Loads a field that never changes while the instance lives (always
    /// dereferenceable, so the load may also be moved and merged freely).
    fn load_readonly(&mut self, ty: ir::Type, base: Value, offset: u32) -> Value {
        self.b.ins().load(ty, trusted().with_readonly().with_can_move(), base, offset as i32)
    }

    /// Loads a field that never changes, but not `can_move`: the load is
    /// merged only up to the next call, after which it is done again. For the
    /// signature check of `call_indirect`, a value kept live across every
    /// call and its lazy-initialization blocks made register allocation twice
    /// as slow as these reloads (BENCHMARKS.md, "Compile cost of large
    /// function bodies").
    fn load_readonly_per_call(&mut self, ty: ir::Type, base: Value, offset: u32) -> Value {
        self.b.ins().load(ty, trusted().with_readonly(), base, offset as i32)
    }

    /// `flags` tagged with the alias region `region`.
    fn in_region(&mut self, region: Region, flags: MemFlagsData) -> MemFlagsData {
        let info = self.env.info;
        // The user id: the kind in the top four bits, the index below
        // (wasmparser's limits keep indices far below 2^28).
        let (kind, index, imported) = match region {
            Region::Memory(i) => (1, i, i < info.num_imported_memories),
            Region::Table(i) => (2, i, i < info.num_imported_tables),
            Region::Global(i) => (3, i, i < info.num_imported_globals),
            Region::MemoryDefinitions => (4, 0, false),
            Region::TableDefinitions => (5, 0, false),
        };
        debug_assert!(index < 1 << 28);
        let user_id = if imported { kind << 28 | ((1 << 28) - 1) } else { kind << 28 | index };
        let regions = &mut self.b.func.dfg.alias_regions;
        let region = regions.get(user_id).unwrap_or_else(|| {
            let what = ["", "memory", "table", "global", "memory definitions", "table definitions"];
            let description = match (imported, kind) {
                (true, _) => format!("imported {}s", what[kind as usize]),
                (false, 1..=3) => format!("{} {index}", what[kind as usize]),
                (false, _) => what[kind as usize].to_string(),
            };
            regions.insert(AliasRegionData { user_id, description: description.into() })
        });
        flags.with_alias_region(Some(region))
    }

    /// A trusted load from `region`.
    fn load_in(&mut self, region: Region, ty: ir::Type, base: Value, offset: u32) -> Value {
        let flags = self.in_region(region, trusted());
        self.b.ins().load(ty, flags, base, offset as i32)
    }

    /// Flags for wasm loads and stores of memory `mem`: little-endian, in the
    /// memory's region, and a fault is a `MemoryOutOfBounds` trap.
    fn heap_flags(&mut self, mem: u32) -> MemFlagsData {
        self.in_region(Region::Memory(mem), MemFlagsData::new().with_endianness(Endianness::Little))
    }

    // ---------------------------------------------------------------- fuel and epochs

    fn store_context(&mut self) -> Value {
        self.load_readonly(POINTER, self.vmctx, VMCTX_STORE_CONTEXT)
    }

    /// Charges the operators counted since the last charge.
    fn charge_fuel(&mut self) {
        if !self.env.fuel || self.fuel_pending == 0 {
            return;
        }
        let ctx = self.store_context();
        let fuel = self.load_trusted(types::I64, ctx, STORE_CONTEXT_FUEL);
        let fuel = self.b.ins().iadd_imm_s(fuel, self.fuel_pending);
        self.b.ins().store(trusted(), fuel, ctx, STORE_CONTEXT_FUEL as i32);
        self.fuel_pending = 0;
    }

    /// At function entry and loop headers: when out of fuel or past the
    /// epoch deadline, call the builtin that traps (or refills, extends the
    /// deadline, suspends), so no loop or recursion escapes either.
    fn interruption_checks(&mut self) {
        if self.env.fuel {
            self.charge_fuel();
            let ctx = self.store_context();
            let fuel = self.load_trusted(types::I64, ctx, STORE_CONTEXT_FUEL);
            let out = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, fuel, 0);
            self.cold_builtin_if(out, Builtin::OutOfGas);
        }
        if self.env.epochs {
            let ctx = self.store_context();
            let counter = self.load_trusted(POINTER, ctx, STORE_CONTEXT_EPOCH_COUNTER);
            // An atomic load: another thread advances the counter, and a plain
            // load would be merged with the one at function entry.
            let now = self.b.ins().atomic_load(types::I64, trusted(), counter);
            let deadline = self.load_trusted(types::I64, ctx, STORE_CONTEXT_EPOCH_DEADLINE);
            let past = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, now, deadline);
            self.cold_builtin_if(past, Builtin::NewEpoch);
        }
    }

    /// When `cond` holds, calls `builtin` (which traps with its code when it
    /// returns 0) in a cold block, then carries on: the slow path of a fuel
    /// or epoch check, where the store may refill, extend or suspend.
    fn cold_builtin_if(&mut self, cond: Value, builtin: Builtin) {
        let slow = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(cond, slow, &[], done, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        self.b.set_cold_block(slow);
        self.builtin(builtin, &[]);
        self.b.ins().jump(done, &[]);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
    }

    // ---------------------------------------------------------------- runtime access

    /// Address of memory `index`'s `VMMemoryDefinition`, and whether it is defined here.
    fn memory_definition(&mut self, index: u32) -> (Value, u32) {
        let info = self.env.info;
        if index < info.num_imported_memories {
            let ptr =
                self.load_readonly(POINTER, self.vmctx, self.env.offsets.imported_memory(index));
            (ptr, 0)
        } else {
            (self.vmctx, self.env.offsets.defined_memory(index - info.num_imported_memories))
        }
    }

    fn memory_base(&mut self, index: u32) -> Value {
        let (def, off) = self.memory_definition(index);
        if self.env.heaps[index as usize].static_base {
            // The base never changes and the VMContext is always readable, so
            // the load may move (out of loops, say).
            let flags = trusted().with_readonly().with_can_move();
            self.b.ins().load(POINTER, flags, def, off as i32)
        } else {
            self.load_in(Region::MemoryDefinitions, POINTER, def, off)
        }
    }

    fn memory_length(&mut self, index: u32) -> Value {
        let (def, off) = self.memory_definition(index);
        self.load_in(Region::MemoryDefinitions, POINTER, def, off + 8)
    }

    /// The native address of a wasm access of `size` bytes at `index + memarg.offset`.
    /// Out-of-bounds accesses either hit the guard region or, on the checked
    /// path, are redirected to address 0 (a Spectre-safe select), which
    /// faults: both become `MemoryOutOfBounds` traps.
    fn heap_addr(&mut self, memarg: &MemArg, index: Value, size: u64) -> (Value, i32) {
        let mem = memarg_memory(memarg);
        let style = self.env.heaps[mem as usize];
        let idx64 = self.b.ins().uextend(types::I64, index);
        let base = self.memory_base(mem);
        let offset = memarg.offset;
        if style.elide_up_to.is_some_and(|limit| offset + size <= limit) {
            let addr = self.b.ins().iadd(base, idx64);
            if offset <= i32::MAX as u64 {
                return (addr, offset as i32);
            }
            return (self.b.ins().iadd_imm_s(addr, offset as i64), 0);
        }
        let len = self.memory_length(mem);
        let end = self.b.ins().iadd_imm_s(idx64, (offset + size) as i64);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        let addr = self.b.ins().iadd(base, idx64);
        let addr = self.b.ins().iadd_imm_s(addr, offset as i64);
        let null = self.b.ins().iconst(POINTER, 0);
        (self.b.ins().select_spectre_guard(oob, null, addr), 0)
    }

    fn load_op(
        &mut self,
        memarg: &MemArg,
        size: u64,
        f: impl FnOnce(&mut FunctionBuilder<'_>, MemFlagsData, Value, i32) -> Value,
    ) {
        let index = self.pop();
        let (addr, off) = self.heap_addr(memarg, index, size);
        let flags = self.heap_flags(memarg_memory(memarg));
        let v = f(&mut self.b, flags, addr, off);
        self.push(v);
    }

    fn store_op(
        &mut self,
        memarg: &MemArg,
        size: u64,
        f: impl FnOnce(&mut FunctionBuilder<'_>, MemFlagsData, Value, Value, i32),
    ) {
        self.writes.memories |= Writes::bit(memarg_memory(memarg));
        let value = self.pop();
        let index = self.pop();
        let (addr, off) = self.heap_addr(memarg, index, size);
        let flags = self.heap_flags(memarg_memory(memarg));
        f(&mut self.b, flags, value, addr, off);
    }

    /// Address of global `index`'s storage.
    fn global_addr(&mut self, index: u32) -> (Value, u32) {
        let info = self.env.info;
        if index < info.num_imported_globals {
            let ptr =
                self.load_readonly(POINTER, self.vmctx, self.env.offsets.imported_global(index));
            (ptr, 0)
        } else {
            (self.vmctx, self.env.offsets.defined_global(index - info.num_imported_globals))
        }
    }

    /// Address of table `index`'s `VMTableDefinition`.
    fn table_definition(&mut self, index: u32) -> (Value, u32) {
        let info = self.env.info;
        if index < info.num_imported_tables {
            let ptr =
                self.load_readonly(POINTER, self.vmctx, self.env.offsets.imported_table(index));
            (ptr, 0)
        } else {
            (self.vmctx, self.env.offsets.defined_table(index - info.num_imported_tables))
        }
    }

    /// Address of element `i` of table `table`, or null when `i` is out of
    /// bounds (a Spectre-safe select), and the flags to access it with: the
    /// access at null faults, and its trap code makes that a
    /// `TableOutOfBounds` trap, so no separate check is emitted.
    fn table_elem_addr(&mut self, table: u32, i: Value) -> (Value, MemFlagsData) {
        let (def, off) = self.table_definition(table);
        let len = self.load_in(Region::TableDefinitions, POINTER, def, off + 8);
        let i64v = self.b.ins().uextend(types::I64, i);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i64v, len);
        let base = self.load_in(Region::TableDefinitions, POINTER, def, off);
        let scaled = self.b.ins().ishl_imm_u(i64v, 3);
        let addr = self.b.ins().iadd(base, scaled);
        let null = self.b.ins().iconst(POINTER, 0);
        let addr = self.b.ins().select_spectre_guard(oob, null, addr);
        let flags = MemFlagsData::new()
            .with_aligned()
            .with_trap_code(Some(env::trap_code(TrapCode::TableOutOfBounds)));
        (addr, self.in_region(Region::Table(table), flags))
    }

    fn is_funcref_table(&self, table: u32) -> bool {
        self.env.info.tables[table as usize].element == ValType::FuncRef
    }

    /// Element `i` of table `table` in decoded form. Funcref elements are
    /// stored encoded (see `runtime::table`): 0 means "not materialized yet",
    /// which a cold call to a builtin resolves; otherwise the low bit is set.
    fn table_get(&mut self, table: u32, i: Value) -> Value {
        let (addr, flags) = self.table_elem_addr(table, i);
        let raw = self.b.ins().load(POINTER, flags, addr, 0);
        if !self.is_funcref_table(table) {
            return raw;
        }
        let lazy = self.b.create_block();
        let done = self.b.create_block();
        let encoded = self.b.append_block_param(done, POINTER);
        self.b.ins().brif(raw, done, &[BlockArg::Value(raw)], lazy, &[]);
        self.b.switch_to_block(lazy);
        self.b.seal_block(lazy);
        self.b.set_cold_block(lazy);
        let t = self.b.ins().iconst(types::I32, table as i64);
        let v = self.builtin(Builtin::TableLazyInit, &[t, i]).expect("result");
        self.b.ins().jump(done, &[BlockArg::Value(v)]);
        self.b.switch_to_block(done);
        self.b.seal_block(done);
        self.b.ins().band_imm_s(encoded, !1)
    }

    /// Traps (with the store's pending trap) when a growth builtin returned
    /// `GROW_TRAPPED`: the store's resource limiter asked for it.
    fn trap_if_grow_trapped(&mut self, v: Value) {
        let trapped = self.b.ins().icmp_imm_u(IntCC::Equal, v, i64::from(GROW_TRAPPED));
        self.b.ins().trapnz(trapped, env::trap_code(TrapCode::Host));
    }

    fn builtin(&mut self, builtin: Builtin, args: &[Value]) -> Option<Value> {
        let sig = match self.builtin_sigs[builtin as usize] {
            Some(s) => s,
            None => {
                let s = self.b.import_signature(builtin_signature(builtin, self.env.call_conv));
                self.builtin_sigs[builtin as usize] = Some(s);
                s
            }
        };
        let table = self.load_readonly(POINTER, self.vmctx, VMCTX_BUILTINS);
        let callee = self.load_readonly(POINTER, table, builtin as u32 * 8);
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        let call = self.b.ins().call_indirect(sig, callee, &all);
        let result = self.b.inst_results(call).first().copied();
        if let Some(code) = builtin.trap() {
            let ok = result.expect("trapping builtins return a status");
            self.b.ins().trapz(ok, env::trap_code(code));
        }
        result
    }

    fn sig_ref(&mut self, type_index: u32) -> SigRef {
        if let Some(s) = self.sig_refs.get(&type_index) {
            return *s;
        }
        let sig = wasm_signature(&self.env.info.types[type_index as usize], self.env.call_conv);
        let s = self.b.import_signature(sig);
        self.sig_refs.insert(type_index, s);
        s
    }

    fn call_results(&mut self, call: ir::Inst) {
        let results = self.b.inst_results(call).to_vec();
        self.stack.extend(results);
    }

    // ---------------------------------------------------------------- control

    fn branch(&mut self, depth: u32) {
        let frame_index = self.control.len() - 1 - depth as usize;
        let (target, n) = self.control[frame_index].branch_target();
        let args = block_args(&self.top(n));
        self.b.ins().jump(target, &args);
        self.control[frame_index].exit_reachable = true;
    }

    fn unreachable_now(&mut self) {
        self.reachable = false;
    }

    /// Handles control operators while the current position is unreachable.
    fn dead_operator(&mut self, op: &Operator<'_>) {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.control.push(Frame {
                    kind: FrameKind::Dead,
                    // Never branched to; `from_u32(u32::MAX)` would trip
                    // Cranelift's debug assertion in debug builds.
                    next: Block::reserved_value(),
                    num_params: 0,
                    num_results: 0,
                    height: self.stack.len(),
                    exit_reachable: false,
                });
            }
            Operator::Else => {
                let frame = self.control.last_mut().expect("validated nesting");
                if let FrameKind::If { else_block, else_seen, head_reachable, params } =
                    &mut frame.kind
                {
                    *else_seen = true;
                    if *head_reachable {
                        let (else_block, params) = (*else_block, params.clone());
                        let height = frame.height;
                        self.stack.truncate(height);
                        self.stack.extend(params);
                        self.b.switch_to_block(else_block);
                        self.b.seal_block(else_block);
                        self.reachable = true;
                    }
                }
            }
            Operator::End => self.end(),
            _ => {}
        }
    }

    fn end(&mut self) {
        let frame = self.control.pop().expect("validated nesting");
        if let FrameKind::Dead = frame.kind {
            self.stack.truncate(frame.height);
            return;
        }
        let mut exit_reachable = frame.exit_reachable;
        if self.reachable {
            let args = block_args(&self.top(frame.num_results));
            self.b.ins().jump(frame.next, &args);
            exit_reachable = true;
        }
        match &frame.kind {
            FrameKind::If { else_block, else_seen: false, head_reachable: true, params } => {
                // No `else`: the implicit else passes the parameters through.
                self.b.switch_to_block(*else_block);
                self.b.seal_block(*else_block);
                let args = block_args(params);
                self.b.ins().jump(frame.next, &args);
                exit_reachable = true;
            }
            FrameKind::Loop { header } => self.b.seal_block(*header),
            _ => {}
        }
        self.stack.truncate(frame.height);
        if exit_reachable {
            self.b.switch_to_block(frame.next);
            self.b.seal_block(frame.next);
            let results = self.b.block_params(frame.next).to_vec();
            self.stack.extend(results);
            self.reachable = true;
        } else {
            self.reachable = false;
        }
    }

    // ---------------------------------------------------------------- the operator match

    fn operator(&mut self, op: Operator<'_>) -> Result<()> {
        if !self.reachable {
            self.dead_operator(&op);
            return Ok(());
        }
        use Operator as O;
        if self.env.fuel {
            self.fuel_pending += 1;
            if matches!(
                op,
                O::Block { .. }
                    | O::Loop { .. }
                    | O::If { .. }
                    | O::Else
                    | O::End
                    | O::Br { .. }
                    | O::BrIf { .. }
                    | O::BrTable { .. }
                    | O::Return
                    | O::Call { .. }
                    | O::CallIndirect { .. }
                    | O::Unreachable
            ) {
                self.charge_fuel();
            }
        }
        let ins_unop = |t: &mut Self, f: fn(&mut FunctionBuilder<'_>, Value) -> Value| {
            let a = t.pop();
            let v = f(&mut t.b, a);
            t.push(v);
        };
        let ins_binop = |t: &mut Self, f: fn(&mut FunctionBuilder<'_>, Value, Value) -> Value| {
            let (a, b) = t.pop2();
            let v = f(&mut t.b, a, b);
            t.push(v);
        };
        let icmp = |t: &mut Self, cc: IntCC| {
            let (a, b) = t.pop2();
            let c = t.b.ins().icmp(cc, a, b);
            let v = t.bool_to_i32(c);
            t.push(v);
        };
        let fcmp = |t: &mut Self, cc: FloatCC| {
            let (a, b) = t.pop2();
            let c = t.b.ins().fcmp(cc, a, b);
            let v = t.bool_to_i32(c);
            t.push(v);
        };
        match op {
            // ------------------------------------------------------------ control
            O::Nop => {}
            O::Unreachable => {
                self.b.ins().trap(env::trap_code(TrapCode::Unreachable));
                self.unreachable_now();
            }
            O::Block { blockty } => {
                let (params, results) = self.block_type(blockty);
                let next = self.new_block_with(&results);
                self.control.push(Frame {
                    kind: FrameKind::Block,
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height: self.stack.len() - params.len(),
                    exit_reachable: false,
                });
            }
            O::Loop { blockty } => {
                let (params, results) = self.block_type(blockty);
                let header = self.new_block_with(&params);
                let next = self.new_block_with(&results);
                let args = block_args(&self.top(params.len()));
                self.b.ins().jump(header, &args);
                self.b.switch_to_block(header);
                let height = self.stack.len() - params.len();
                self.stack.truncate(height);
                let header_params = self.b.block_params(header).to_vec();
                self.stack.extend(header_params);
                self.control.push(Frame {
                    kind: FrameKind::Loop { header },
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height,
                    exit_reachable: false,
                });
                self.interruption_checks();
            }
            O::If { blockty } => {
                let cond = self.pop();
                let (params, results) = self.block_type(blockty);
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                let next = self.new_block_with(&results);
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                self.b.switch_to_block(then_block);
                self.b.seal_block(then_block);
                let param_values = self.top(params.len());
                self.control.push(Frame {
                    kind: FrameKind::If {
                        else_block,
                        else_seen: false,
                        head_reachable: true,
                        params: param_values,
                    },
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height: self.stack.len() - params.len(),
                    exit_reachable: false,
                });
            }
            O::Else => {
                let frame = self.control.last_mut().expect("validated nesting");
                let n = frame.num_results;
                let next = frame.next;
                let height = frame.height;
                let FrameKind::If { else_block, else_seen, params, .. } = &mut frame.kind else {
                    unreachable!("validated: else follows if");
                };
                *else_seen = true;
                let else_block = *else_block;
                let params = params.clone();
                frame.exit_reachable = true;
                let args = block_args(&self.top(n));
                self.b.ins().jump(next, &args);
                self.stack.truncate(height);
                self.stack.extend(params);
                self.b.switch_to_block(else_block);
                self.b.seal_block(else_block);
            }
            O::End => self.end(),
            O::Br { relative_depth } => {
                self.branch(relative_depth);
                self.unreachable_now();
            }
            O::BrIf { relative_depth } => {
                let cond = self.pop();
                let frame_index = self.control.len() - 1 - relative_depth as usize;
                let (target, n) = self.control[frame_index].branch_target();
                self.control[frame_index].exit_reachable = true;
                let args = block_args(&self.top(n));
                let fallthrough = self.b.create_block();
                self.b.ins().brif(cond, target, &args, fallthrough, &[]);
                self.b.switch_to_block(fallthrough);
                self.b.seal_block(fallthrough);
            }
            O::BrTable { targets } => {
                let index = self.pop();
                let depths: Vec<u32> = targets
                    .targets()
                    .collect::<std::result::Result<_, _>>()
                    .map_err(reader_error)?;
                let default = targets.default();
                let arity = {
                    let f = &self.control[self.control.len() - 1 - default as usize];
                    f.branch_target().1
                };
                let args = block_args(&self.top(arity));
                let mut landing: HashMap<u32, Block> = HashMap::new();
                let mut block_for = |t: &mut Self, depth: u32| -> Block {
                    let frame_index = t.control.len() - 1 - depth as usize;
                    t.control[frame_index].exit_reachable = true;
                    let (target, _) = t.control[frame_index].branch_target();
                    if arity == 0 {
                        return target;
                    }
                    *landing.entry(depth).or_insert_with(|| t.b.create_block())
                };
                let default_block = block_for(self, default);
                let table_blocks: Vec<Block> = depths.iter().map(|d| block_for(self, *d)).collect();
                let default_call = self.b.func.dfg.block_call(default_block, &[]);
                let calls: Vec<_> =
                    table_blocks.iter().map(|blk| self.b.func.dfg.block_call(*blk, &[])).collect();
                let jt = self.b.create_jump_table(JumpTableData::new(default_call, &calls));
                self.b.ins().br_table(index, jt);
                let mut landings: Vec<(u32, Block)> = landing.into_iter().collect();
                landings.sort_by_key(|(d, _)| *d);
                for (depth, block) in landings {
                    let frame_index = self.control.len() - 1 - depth as usize;
                    let (target, _) = self.control[frame_index].branch_target();
                    self.b.switch_to_block(block);
                    self.b.seal_block(block);
                    self.b.ins().jump(target, &args);
                }
                self.unreachable_now();
            }
            O::Return => {
                let n = self.control[0].num_results;
                let results = self.top(n);
                self.b.ins().return_(&results);
                self.unreachable_now();
            }
            O::Call { function_index } => {
                let ty = self.env.info.func_type(function_index).clone();
                let args = self.stack.split_off(self.stack.len() - ty.params().len());
                if function_index < self.env.info.num_imported_funcs {
                    let funcref = self.env.offsets.funcref(function_index);
                    let callee =
                        self.load_readonly(POINTER, self.vmctx, funcref + FUNCREF_WASM_CALL);
                    let callee_vmctx =
                        self.load_readonly(POINTER, self.vmctx, funcref + FUNCREF_VMCTX);
                    let sig = self.sig_ref(self.env.info.functions[function_index as usize]);
                    let mut all = vec![callee_vmctx, self.vmctx];
                    all.extend(args);
                    let call = self.b.ins().call_indirect(sig, callee, &all);
                    self.call_results(call);
                } else {
                    let fref = match self.func_refs.get(&function_index) {
                        Some(f) => *f,
                        None => {
                            let sig =
                                self.sig_ref(self.env.info.functions[function_index as usize]);
                            let name = self.b.func.declare_imported_user_function(
                                UserExternalName::new(0, function_index),
                            );
                            let f = self.b.import_function(ir::ExtFuncData {
                                name: ir::ExternalName::User(name),
                                signature: sig,
                                colocated: true,
                                patchable: false,
                            });
                            self.func_refs.insert(function_index, f);
                            f
                        }
                    };
                    let mut all = vec![self.vmctx, self.vmctx];
                    all.extend(args);
                    let call = self.b.ins().call(fref, &all);
                    self.call_results(call);
                }
            }
            O::CallIndirect { type_index, table_index } => {
                let elem = self.pop();
                let ty = self.env.info.types[type_index as usize].clone();
                let args = self.stack.split_off(self.stack.len() - ty.params().len());
                let funcref = self.table_get(table_index, elem);
                // A null element faults here, and the trap code says why.
                let null_check = MemFlagsData::new()
                    .with_aligned()
                    .with_trap_code(Some(env::trap_code(TrapCode::IndirectCallToNull)));
                let actual =
                    self.b.ins().load(types::I32, null_check, funcref, FUNCREF_TYPE_ID as i32);
                let ids = self.load_readonly_per_call(POINTER, self.vmctx, VMCTX_TYPE_IDS);
                let expected = self.load_readonly_per_call(types::I32, ids, type_index * 4);
                let mismatch = self.b.ins().icmp(IntCC::NotEqual, actual, expected);
                self.b.ins().trapnz(mismatch, env::trap_code(TrapCode::BadSignature));
                let callee = self.load_trusted(POINTER, funcref, FUNCREF_WASM_CALL);
                let callee_vmctx = self.load_trusted(POINTER, funcref, FUNCREF_VMCTX);
                let sig = self.sig_ref(type_index);
                let mut all = vec![callee_vmctx, self.vmctx];
                all.extend(args);
                let call = self.b.ins().call_indirect(sig, callee, &all);
                self.call_results(call);
            }

            // ------------------------------------------------------------ parametric
            O::Drop => {
                self.pop();
            }
            O::Select | O::TypedSelect { .. } => {
                let (a, b, c) = self.pop3();
                let v = self.b.ins().select(c, a, b);
                self.push(v);
            }

            // ------------------------------------------------------------ locals and globals
            O::LocalGet { local_index } => {
                let v = self.b.use_var(self.locals[local_index as usize]);
                self.push(v);
            }
            O::LocalSet { local_index } => {
                let v = self.pop();
                self.b.def_var(self.locals[local_index as usize], v);
            }
            O::LocalTee { local_index } => {
                let v = *self.stack.last().expect("validated");
                self.b.def_var(self.locals[local_index as usize], v);
            }
            O::GlobalGet { global_index } => {
                let ty = ir_type(self.env.info.globals[global_index as usize].content);
                let (base, off) = self.global_addr(global_index);
                let v = self.load_in(Region::Global(global_index), ty, base, off);
                self.push(v);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop();
                let (base, off) = self.global_addr(global_index);
                let flags = self.in_region(Region::Global(global_index), trusted());
                self.b.ins().store(flags, v, base, off as i32);
            }

            // ------------------------------------------------------------ memory
            O::I32Load { memarg } => {
                self.load_op(&memarg, 4, |b, f, a, o| b.ins().load(types::I32, f, a, o))
            }
            O::I64Load { memarg } => {
                self.load_op(&memarg, 8, |b, f, a, o| b.ins().load(types::I64, f, a, o))
            }
            O::F32Load { memarg } => {
                self.load_op(&memarg, 4, |b, f, a, o| b.ins().load(types::F32, f, a, o))
            }
            O::F64Load { memarg } => {
                self.load_op(&memarg, 8, |b, f, a, o| b.ins().load(types::F64, f, a, o))
            }
            O::I32Load8S { memarg } => {
                self.load_op(&memarg, 1, |b, f, a, o| b.ins().sload8(types::I32, f, a, o))
            }
            O::I32Load8U { memarg } => {
                self.load_op(&memarg, 1, |b, f, a, o| b.ins().uload8(types::I32, f, a, o))
            }
            O::I32Load16S { memarg } => {
                self.load_op(&memarg, 2, |b, f, a, o| b.ins().sload16(types::I32, f, a, o))
            }
            O::I32Load16U { memarg } => {
                self.load_op(&memarg, 2, |b, f, a, o| b.ins().uload16(types::I32, f, a, o))
            }
            O::I64Load8S { memarg } => {
                self.load_op(&memarg, 1, |b, f, a, o| b.ins().sload8(types::I64, f, a, o))
            }
            O::I64Load8U { memarg } => {
                self.load_op(&memarg, 1, |b, f, a, o| b.ins().uload8(types::I64, f, a, o))
            }
            O::I64Load16S { memarg } => {
                self.load_op(&memarg, 2, |b, f, a, o| b.ins().sload16(types::I64, f, a, o))
            }
            O::I64Load16U { memarg } => {
                self.load_op(&memarg, 2, |b, f, a, o| b.ins().uload16(types::I64, f, a, o))
            }
            O::I64Load32S { memarg } => {
                self.load_op(&memarg, 4, |b, f, a, o| b.ins().sload32(f, a, o))
            }
            O::I64Load32U { memarg } => {
                self.load_op(&memarg, 4, |b, f, a, o| b.ins().uload32(f, a, o))
            }
            O::I32Store { memarg } | O::F32Store { memarg } => {
                self.store_op(&memarg, 4, |b, f, v, a, o| {
                    b.ins().store(f, v, a, o);
                })
            }
            O::I64Store { memarg } | O::F64Store { memarg } => {
                self.store_op(&memarg, 8, |b, f, v, a, o| {
                    b.ins().store(f, v, a, o);
                })
            }
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => {
                self.store_op(&memarg, 1, |b, f, v, a, o| {
                    b.ins().istore8(f, v, a, o);
                })
            }
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => {
                self.store_op(&memarg, 2, |b, f, v, a, o| {
                    b.ins().istore16(f, v, a, o);
                })
            }
            O::I64Store32 { memarg } => self.store_op(&memarg, 4, |b, f, v, a, o| {
                b.ins().istore32(f, v, a, o);
            }),
            O::MemorySize { mem } => {
                let len = self.memory_length(mem);
                let pages = self.b.ins().ushr_imm_u(len, 16);
                let v = self.b.ins().ireduce(types::I32, pages);
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop();
                let idx = self.b.ins().iconst(types::I32, mem as i64);
                let v = self.builtin(Builtin::MemoryGrow, &[idx, delta]).expect("result");
                self.trap_if_grow_trapped(v);
                self.push(v);
            }
            O::MemoryFill { mem } => {
                self.writes.memories |= Writes::bit(mem);
                let (dst, val, len) = self.pop3();
                let idx = self.b.ins().iconst(types::I32, mem as i64);
                let dst = self.b.ins().uextend(types::I64, dst);
                let len = self.b.ins().uextend(types::I64, len);
                self.builtin(Builtin::MemoryFill, &[idx, dst, val, len]);
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                self.writes.memories |= Writes::bit(dst_mem);
                let (dst, src, len) = self.pop3();
                let d = self.b.ins().iconst(types::I32, dst_mem as i64);
                let s = self.b.ins().iconst(types::I32, src_mem as i64);
                let dst = self.b.ins().uextend(types::I64, dst);
                let src = self.b.ins().uextend(types::I64, src);
                let len = self.b.ins().uextend(types::I64, len);
                self.builtin(Builtin::MemoryCopy, &[d, dst, s, src, len]);
            }
            O::MemoryInit { data_index, mem } => {
                self.writes.memories |= Writes::bit(mem);
                let (dst, src, len) = self.pop3();
                let m = self.b.ins().iconst(types::I32, mem as i64);
                let d = self.b.ins().iconst(types::I32, data_index as i64);
                let dst = self.b.ins().uextend(types::I64, dst);
                self.builtin(Builtin::MemoryInit, &[m, d, dst, src, len]);
            }
            O::DataDrop { data_index } => {
                let d = self.b.ins().iconst(types::I32, data_index as i64);
                self.builtin(Builtin::DataDrop, &[d]);
            }

            // ------------------------------------------------------------ tables and references
            O::TableGet { table } => {
                let i = self.pop();
                let v = self.table_get(table, i);
                self.push(v);
            }
            O::TableSet { table } => {
                self.writes.tables |= Writes::bit(table);
                let (i, v) = self.pop2();
                let (addr, flags) = self.table_elem_addr(table, i);
                let v = if self.is_funcref_table(table) { self.b.ins().bor_imm_u(v, 1) } else { v };
                self.b.ins().store(flags, v, addr, 0);
            }
            O::TableSize { table } => {
                let (def, off) = self.table_definition(table);
                let len = self.load_in(Region::TableDefinitions, POINTER, def, off + 8);
                let v = self.b.ins().ireduce(types::I32, len);
                self.push(v);
            }
            O::TableGrow { table } => {
                self.writes.tables |= Writes::bit(table);
                let (init, delta) = self.pop2();
                let t = self.b.ins().iconst(types::I32, table as i64);
                let v = self.builtin(Builtin::TableGrow, &[t, delta, init]).expect("result");
                self.trap_if_grow_trapped(v);
                self.push(v);
            }
            O::TableFill { table } => {
                self.writes.tables |= Writes::bit(table);
                let (dst, val, len) = self.pop3();
                let t = self.b.ins().iconst(types::I32, table as i64);
                self.builtin(Builtin::TableFill, &[t, dst, val, len]);
            }
            O::TableCopy { dst_table, src_table } => {
                self.writes.tables |= Writes::bit(dst_table);
                let (dst, src, len) = self.pop3();
                let d = self.b.ins().iconst(types::I32, dst_table as i64);
                let s = self.b.ins().iconst(types::I32, src_table as i64);
                self.builtin(Builtin::TableCopy, &[d, s, dst, src, len]);
            }
            O::TableInit { elem_index, table } => {
                self.writes.tables |= Writes::bit(table);
                let (dst, src, len) = self.pop3();
                let t = self.b.ins().iconst(types::I32, table as i64);
                let e = self.b.ins().iconst(types::I32, elem_index as i64);
                self.builtin(Builtin::TableInit, &[t, e, dst, src, len]);
            }
            O::ElemDrop { elem_index } => {
                let e = self.b.ins().iconst(types::I32, elem_index as i64);
                self.builtin(Builtin::ElemDrop, &[e]);
            }
            O::RefNull { .. } => {
                let v = self.b.ins().iconst(POINTER, 0);
                self.push(v);
            }
            O::RefIsNull => {
                let r = self.pop();
                let c = self.b.ins().icmp_imm_u(IntCC::Equal, r, 0);
                let v = self.bool_to_i32(c);
                self.push(v);
            }
            O::RefFunc { function_index } => {
                let v = self
                    .b
                    .ins()
                    .iadd_imm_s(self.vmctx, self.env.offsets.funcref(function_index) as i64);
                self.push(v);
            }

            // ------------------------------------------------------------ constants
            O::I32Const { value } => {
                let v = self.b.ins().iconst(types::I32, value as i64);
                self.push(v);
            }
            O::I64Const { value } => {
                let v = self.b.ins().iconst(types::I64, value);
                self.push(v);
            }
            O::F32Const { value } => {
                let v = self.b.ins().f32const(Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            O::F64Const { value } => {
                let v = self.b.ins().f64const(Ieee64::with_bits(value.bits()));
                self.push(v);
            }

            // ------------------------------------------------------------ integer
            O::I32Eqz | O::I64Eqz => {
                let a = self.pop();
                let c = self.b.ins().icmp_imm_u(IntCC::Equal, a, 0);
                let v = self.bool_to_i32(c);
                self.push(v);
            }
            O::I32Eq | O::I64Eq => icmp(self, IntCC::Equal),
            O::I32Ne | O::I64Ne => icmp(self, IntCC::NotEqual),
            O::I32LtS | O::I64LtS => icmp(self, IntCC::SignedLessThan),
            O::I32LtU | O::I64LtU => icmp(self, IntCC::UnsignedLessThan),
            O::I32GtS | O::I64GtS => icmp(self, IntCC::SignedGreaterThan),
            O::I32GtU | O::I64GtU => icmp(self, IntCC::UnsignedGreaterThan),
            O::I32LeS | O::I64LeS => icmp(self, IntCC::SignedLessThanOrEqual),
            O::I32LeU | O::I64LeU => icmp(self, IntCC::UnsignedLessThanOrEqual),
            O::I32GeS | O::I64GeS => icmp(self, IntCC::SignedGreaterThanOrEqual),
            O::I32GeU | O::I64GeU => icmp(self, IntCC::UnsignedGreaterThanOrEqual),
            O::I32Clz | O::I64Clz => ins_unop(self, |b, a| b.ins().clz(a)),
            O::I32Ctz | O::I64Ctz => ins_unop(self, |b, a| b.ins().ctz(a)),
            O::I32Popcnt | O::I64Popcnt => ins_unop(self, |b, a| b.ins().popcnt(a)),
            O::I32Add | O::I64Add => ins_binop(self, |b, x, y| b.ins().iadd(x, y)),
            O::I32Sub | O::I64Sub => ins_binop(self, |b, x, y| b.ins().isub(x, y)),
            O::I32Mul | O::I64Mul => ins_binop(self, |b, x, y| b.ins().imul(x, y)),
            O::I32DivS | O::I64DivS => ins_binop(self, |b, x, y| b.ins().sdiv(x, y)),
            O::I32DivU | O::I64DivU => ins_binop(self, |b, x, y| b.ins().udiv(x, y)),
            O::I32RemS | O::I64RemS => ins_binop(self, |b, x, y| b.ins().srem(x, y)),
            O::I32RemU | O::I64RemU => ins_binop(self, |b, x, y| b.ins().urem(x, y)),
            O::I32And | O::I64And => ins_binop(self, |b, x, y| b.ins().band(x, y)),
            O::I32Or | O::I64Or => ins_binop(self, |b, x, y| b.ins().bor(x, y)),
            O::I32Xor | O::I64Xor => ins_binop(self, |b, x, y| b.ins().bxor(x, y)),
            O::I32Shl | O::I64Shl => ins_binop(self, |b, x, y| b.ins().ishl(x, y)),
            O::I32ShrS | O::I64ShrS => ins_binop(self, |b, x, y| b.ins().sshr(x, y)),
            O::I32ShrU | O::I64ShrU => ins_binop(self, |b, x, y| b.ins().ushr(x, y)),
            O::I32Rotl | O::I64Rotl => ins_binop(self, |b, x, y| b.ins().rotl(x, y)),
            O::I32Rotr | O::I64Rotr => ins_binop(self, |b, x, y| b.ins().rotr(x, y)),
            O::I32WrapI64 => ins_unop(self, |b, a| b.ins().ireduce(types::I32, a)),
            O::I64ExtendI32S => ins_unop(self, |b, a| b.ins().sextend(types::I64, a)),
            O::I64ExtendI32U => ins_unop(self, |b, a| b.ins().uextend(types::I64, a)),
            O::I32Extend8S => ins_unop(self, |b, a| {
                let n = b.ins().ireduce(types::I8, a);
                b.ins().sextend(types::I32, n)
            }),
            O::I32Extend16S => ins_unop(self, |b, a| {
                let n = b.ins().ireduce(types::I16, a);
                b.ins().sextend(types::I32, n)
            }),
            O::I64Extend8S => ins_unop(self, |b, a| {
                let n = b.ins().ireduce(types::I8, a);
                b.ins().sextend(types::I64, n)
            }),
            O::I64Extend16S => ins_unop(self, |b, a| {
                let n = b.ins().ireduce(types::I16, a);
                b.ins().sextend(types::I64, n)
            }),
            O::I64Extend32S => ins_unop(self, |b, a| {
                let n = b.ins().ireduce(types::I32, a);
                b.ins().sextend(types::I64, n)
            }),

            // ------------------------------------------------------------ float
            O::F32Eq | O::F64Eq => fcmp(self, FloatCC::Equal),
            O::F32Ne | O::F64Ne => fcmp(self, FloatCC::NotEqual),
            O::F32Lt | O::F64Lt => fcmp(self, FloatCC::LessThan),
            O::F32Gt | O::F64Gt => fcmp(self, FloatCC::GreaterThan),
            O::F32Le | O::F64Le => fcmp(self, FloatCC::LessThanOrEqual),
            O::F32Ge | O::F64Ge => fcmp(self, FloatCC::GreaterThanOrEqual),
            O::F32Abs | O::F64Abs => ins_unop(self, |b, a| b.ins().fabs(a)),
            O::F32Neg | O::F64Neg => ins_unop(self, |b, a| b.ins().fneg(a)),
            O::F32Ceil | O::F64Ceil => ins_unop(self, |b, a| b.ins().ceil(a)),
            O::F32Floor | O::F64Floor => ins_unop(self, |b, a| b.ins().floor(a)),
            O::F32Trunc | O::F64Trunc => ins_unop(self, |b, a| b.ins().trunc(a)),
            O::F32Nearest | O::F64Nearest => ins_unop(self, |b, a| b.ins().nearest(a)),
            O::F32Sqrt | O::F64Sqrt => ins_unop(self, |b, a| b.ins().sqrt(a)),
            O::F32Add | O::F64Add => ins_binop(self, |b, x, y| b.ins().fadd(x, y)),
            O::F32Sub | O::F64Sub => ins_binop(self, |b, x, y| b.ins().fsub(x, y)),
            O::F32Mul | O::F64Mul => ins_binop(self, |b, x, y| b.ins().fmul(x, y)),
            O::F32Div | O::F64Div => ins_binop(self, |b, x, y| b.ins().fdiv(x, y)),
            O::F32Min | O::F64Min => ins_binop(self, |b, x, y| b.ins().fmin(x, y)),
            O::F32Max | O::F64Max => ins_binop(self, |b, x, y| b.ins().fmax(x, y)),
            O::F32Copysign | O::F64Copysign => ins_binop(self, |b, x, y| b.ins().fcopysign(x, y)),
            O::F32DemoteF64 => ins_unop(self, |b, a| b.ins().fdemote(types::F32, a)),
            O::F64PromoteF32 => ins_unop(self, |b, a| b.ins().fpromote(types::F64, a)),
            O::F32ConvertI32S | O::F32ConvertI64S => {
                ins_unop(self, |b, a| b.ins().fcvt_from_sint(types::F32, a))
            }
            O::F32ConvertI32U | O::F32ConvertI64U => {
                ins_unop(self, |b, a| b.ins().fcvt_from_uint(types::F32, a))
            }
            O::F64ConvertI32S | O::F64ConvertI64S => {
                ins_unop(self, |b, a| b.ins().fcvt_from_sint(types::F64, a))
            }
            O::F64ConvertI32U | O::F64ConvertI64U => {
                ins_unop(self, |b, a| b.ins().fcvt_from_uint(types::F64, a))
            }
            O::I32TruncF32S | O::I32TruncF64S => {
                ins_unop(self, |b, a| b.ins().fcvt_to_sint(types::I32, a))
            }
            O::I32TruncF32U | O::I32TruncF64U => {
                ins_unop(self, |b, a| b.ins().fcvt_to_uint(types::I32, a))
            }
            O::I64TruncF32S | O::I64TruncF64S => {
                ins_unop(self, |b, a| b.ins().fcvt_to_sint(types::I64, a))
            }
            O::I64TruncF32U | O::I64TruncF64U => {
                ins_unop(self, |b, a| b.ins().fcvt_to_uint(types::I64, a))
            }
            O::I32TruncSatF32S | O::I32TruncSatF64S => {
                ins_unop(self, |b, a| b.ins().fcvt_to_sint_sat(types::I32, a))
            }
            O::I32TruncSatF32U | O::I32TruncSatF64U => {
                ins_unop(self, |b, a| b.ins().fcvt_to_uint_sat(types::I32, a))
            }
            O::I64TruncSatF32S | O::I64TruncSatF64S => {
                ins_unop(self, |b, a| b.ins().fcvt_to_sint_sat(types::I64, a))
            }
            O::I64TruncSatF32U | O::I64TruncSatF64U => {
                ins_unop(self, |b, a| b.ins().fcvt_to_uint_sat(types::I64, a))
            }
            O::I32ReinterpretF32 => {
                ins_unop(self, |b, a| b.ins().bitcast(types::I32, MemFlagsData::new(), a))
            }
            O::I64ReinterpretF64 => {
                ins_unop(self, |b, a| b.ins().bitcast(types::I64, MemFlagsData::new(), a))
            }
            O::F32ReinterpretI32 => {
                ins_unop(self, |b, a| b.ins().bitcast(types::F32, MemFlagsData::new(), a))
            }
            O::F64ReinterpretI64 => {
                ins_unop(self, |b, a| b.ins().bitcast(types::F64, MemFlagsData::new(), a))
            }

            other => return self.simd_operator(other),
        }
        Ok(())
    }
}
