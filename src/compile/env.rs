//! The translation environment: everything about the module and the runtime
//! that the operator-by-operator translator needs, in one place. Where a
//! memory's base lives, whether its accesses need bounds checks, how a global
//! or a function reference is reached, the signatures of wasm functions and of
//! the builtins: all of it is decided here, not in the operator match.

use crate::config::Config;
use crate::module::info::ModuleInfo;
use crate::runtime::builtins::{Builtin, BuiltinTy};
use crate::runtime::vmcontext::VMOffsets;
use crate::trap::TrapCode;
use crate::types::{FuncType, MemoryType, ValType, WASM_PAGE_SIZE, WASM32_MAX_PAGES};
use cranelift_codegen::ir::{self, AbiParam, ArgumentPurpose, Signature, types};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};

/// How a linear memory's accesses are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeapStyle {
    /// The memory never moves, so its base may be loaded once and reused.
    pub static_base: bool,
    /// Accesses whose `offset + size` is at most this need no bounds check:
    /// the reservation plus the guard region catch them. `None`: always check.
    pub elide_up_to: Option<u64>,
}

impl HeapStyle {
    /// The style for a memory of type `ty` under `config`.
    pub(crate) fn for_memory(ty: &MemoryType, config: &Config) -> HeapStyle {
        let max_pages = ty.max.unwrap_or(WASM32_MAX_PAGES).min(WASM32_MAX_PAGES);
        let max_bytes = max_pages * WASM_PAGE_SIZE;
        let static_base = config.memory_reservation >= max_bytes;
        let full = 1u64 << 32;
        let elide_up_to = (static_base && config.memory_reservation >= full)
            .then(|| config.memory_reservation - full + config.memory_guard_size);
        HeapStyle { static_base, elide_up_to }
    }
}

/// The module-wide part of the translation environment, shared by every
/// function's translation (and by the threads that compile them).
pub(crate) struct ModuleEnv<'a> {
    pub info: &'a ModuleInfo,
    pub offsets: &'a VMOffsets,
    pub wasm: &'a [u8],
    pub heaps: Vec<HeapStyle>,
    pub call_conv: CallConv,
    pub frontend: TargetFrontendConfig,
    /// Whether to count fuel (`Config::consume_fuel`).
    pub fuel: bool,
    /// Whether to check the epoch deadline (`Config::epoch_interruption`).
    pub epochs: bool,
}

/// Pointer-sized integer type of the target (64-bit hosts only).
pub(crate) const POINTER: ir::Type = types::I64;

/// The Cranelift type of a wasm value type.
pub(crate) fn ir_type(ty: ValType) -> ir::Type {
    match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::V128 => types::I8X16,
        ValType::FuncRef | ValType::ExternRef => POINTER,
    }
}

/// The Cranelift trap code for one of our trap codes.
pub(crate) fn trap_code(code: TrapCode) -> ir::TrapCode {
    match code {
        TrapCode::StackOverflow => ir::TrapCode::STACK_OVERFLOW,
        TrapCode::MemoryOutOfBounds => ir::TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapCode::IntegerOverflow => ir::TrapCode::INTEGER_OVERFLOW,
        TrapCode::IntegerDivisionByZero => ir::TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapCode::BadConversionToInteger => ir::TrapCode::BAD_CONVERSION_TO_INTEGER,
        other => ir::TrapCode::unwrap_user(other as u8 + 1),
    }
}

/// Our trap code for a Cranelift trap code found in compiled code.
pub(crate) fn from_ir_trap(code: ir::TrapCode) -> Option<TrapCode> {
    Some(match code {
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        other => TrapCode::from_raw(other.as_raw().get().checked_sub(1)?)?,
    })
}

/// The native signature of a wasm function: `(vmctx, caller_vmctx, params...) -> results`.
pub(crate) fn wasm_signature(ty: &FuncType, call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(POINTER));
    sig.params.extend(ty.params().iter().map(|t| AbiParam::new(ir_type(*t))));
    sig.returns.extend(ty.results().iter().map(|t| AbiParam::new(ir_type(*t))));
    sig
}

/// The array-call signature: `(vmctx, caller_vmctx, values: *mut ValRaw, len)`.
pub(crate) fn array_call_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::special(POINTER, ArgumentPurpose::VMContext));
    sig.params.extend([AbiParam::new(POINTER), AbiParam::new(POINTER), AbiParam::new(POINTER)]);
    sig
}

/// The signature of a builtin (the VMContext first).
pub(crate) fn builtin_signature(builtin: Builtin, call_conv: CallConv) -> Signature {
    let lower = |t: &BuiltinTy| match t {
        BuiltinTy::I32 => AbiParam::new(types::I32),
        BuiltinTy::I64 => AbiParam::new(types::I64),
        BuiltinTy::Ptr => AbiParam::new(POINTER),
    };
    let (params, results) = builtin.signature();
    let mut sig = Signature::new(call_conv);
    sig.params.push(AbiParam::new(POINTER));
    sig.params.extend(params.iter().map(lower));
    sig.returns.extend(results.iter().map(lower));
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_codes_round_trip_through_cranelift() {
        for code in TrapCode::ALL {
            assert_eq!(from_ir_trap(trap_code(code)), Some(code));
        }
    }

    #[test]
    fn heap_style_follows_reservation_and_guard() {
        let ty = MemoryType { min: 1, max: None };
        let default = HeapStyle::for_memory(&ty, &Config::default());
        assert_eq!(default, HeapStyle { static_base: true, elide_up_to: Some(32 << 20) });
        let small = Config { memory_reservation: 1 << 20, ..Config::default() };
        assert_eq!(
            HeapStyle::for_memory(&ty, &small),
            HeapStyle { static_base: false, elide_up_to: None }
        );
        let bounded = MemoryType { min: 1, max: Some(16) };
        assert_eq!(
            HeapStyle::for_memory(&bounded, &small),
            HeapStyle { static_base: true, elide_up_to: None }
        );
    }
}
