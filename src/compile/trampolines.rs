//! Trampolines: the glue between the host's calling convention and wasm's.
//!
//! - An **array-call trampoline** per escaping function lets the host call it:
//!   `(vmctx, caller_vmctx, values: *mut ValRaw, len)`, arguments read from
//!   and results written back to the same array of 16-byte slots.
//! - A **host stub** per signature lets wasm call a host function with the
//!   native wasm convention: it spills the arguments into a stack array, calls
//!   the host function's Rust entry (found in its context, never as an
//!   absolute address in code), and traps with `Host` when the entry reports
//!   failure, so host errors unwind exactly like any other trap.

use crate::compile::env::{self, POINTER, array_call_signature, ir_type, wasm_signature};
use crate::runtime::host::HOST_CONTEXT_CALL;
use crate::trap::TrapCode;
use crate::types::FuncType;
use cranelift_codegen::ir::{
    self, AbiParam, Function, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind,
    UserExternalName, UserFuncName, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

/// Namespace of wasm function names in compiled code.
pub(crate) const NS_WASM: u32 = 0;
/// Namespace of array-call trampoline names.
pub(crate) const NS_ARRAY: u32 = 1;

/// Starts a trampoline's only block and returns its parameters (the
/// function's).
fn enter(b: &mut FunctionBuilder) -> Vec<cranelift_codegen::ir::Value> {
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    b.block_params(entry).to_vec()
}

/// Builds the array-call trampoline of defined function `func_index` with type `ty`.
pub(crate) fn array_call_trampoline(
    func_index: u32,
    ty: &FuncType,
    call_conv: CallConv,
    frontend: TargetFrontendConfig,
    fctx: &mut FunctionBuilderContext,
) -> Function {
    let mut func = Function::with_name_signature(
        UserFuncName::user(NS_ARRAY, func_index),
        array_call_signature(call_conv),
    );
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let p = enter(&mut b);
    let (vmctx, caller, values) = (p[0], p[1], p[2]);
    let flags = MemFlagsData::trusted();
    let mut args = vec![vmctx, caller];
    for (i, t) in ty.params().iter().enumerate() {
        args.push(b.ins().load(ir_type(*t), flags, values, (i * 16) as i32));
    }
    let sig = b.import_signature(wasm_signature(ty, call_conv));
    let name = b.func.declare_imported_user_function(UserExternalName::new(NS_WASM, func_index));
    let callee = b.import_function(ir::ExtFuncData {
        name: ir::ExternalName::User(name),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let call = b.ins().call(callee, &args);
    let results = b.inst_results(call).to_vec();
    for (i, r) in results.iter().enumerate() {
        b.ins().store(flags, *r, values, (i * 16) as i32);
    }
    b.ins().return_(&[]);
    b.finalize(frontend);
    func
}

/// The signature of a host function's Rust entry:
/// `(host_context, caller_vmctx, values: *mut ValRaw, len) -> ok (i32)`.
fn host_entry_signature(call_conv: CallConv) -> Signature {
    let mut sig = array_call_signature(call_conv);
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// Builds the wasm-convention stub that calls a host function of type `ty`.
pub(crate) fn host_stub(
    ty: &FuncType,
    call_conv: CallConv,
    frontend: TargetFrontendConfig,
    fctx: &mut FunctionBuilderContext,
) -> Function {
    let mut func =
        Function::with_name_signature(UserFuncName::user(2, 0), wasm_signature(ty, call_conv));
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let p = enter(&mut b);
    let (host_ctx, caller) = (p[0], p[1]);
    let slots = ty.params().len().max(ty.results().len()).max(1);
    let ss = b.create_sized_stack_slot(StackSlotData::new(
        StackSlotKind::ExplicitSlot,
        (slots * 16) as u32,
        4,
    ));
    let values = b.ins().stack_addr(POINTER, ss, 0);
    let flags = MemFlagsData::trusted();
    for (i, v) in p[2..].iter().enumerate() {
        b.ins().store(flags, *v, values, (i * 16) as i32);
    }
    let entry_fn = b.ins().load(POINTER, flags.with_readonly(), host_ctx, HOST_CONTEXT_CALL as i32);
    let sig = b.import_signature(host_entry_signature(call_conv));
    let len = b.ins().iconst(POINTER, slots as i64);
    let call = b.ins().call_indirect(sig, entry_fn, &[host_ctx, caller, values, len]);
    let ok = b.inst_results(call)[0];
    b.ins().trapz(ok, env::trap_code(TrapCode::Host));
    let mut results = Vec::new();
    for (i, t) in ty.results().iter().enumerate() {
        results.push(b.ins().load(ir_type(*t), flags, values, (i * 16) as i32));
    }
    b.ins().return_(&results);
    b.finalize(frontend);
    func
}
