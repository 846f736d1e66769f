//! SIMD operators: every instruction of fixed-width SIMD (WebAssembly 2.0)
//! and of relaxed SIMD, lowered to Cranelift vector instructions.
//!
//! A child module of the function translator: [`FuncTranslator::operator`]
//! hands every operator its own match does not know to
//! [`FuncTranslator::simd_operator`], so the scalar translator stays as it is.
//!
//! **One type for v128.** WebAssembly has one vector type; Cranelift has one
//! per lane shape. A v128 value on the value stack, in a local, a block
//! parameter, a global or a call is always `I8X16`, so nothing outside this
//! file looks at lanes. An operator takes its operands with [`pop_as`]
//! (a no-op `bitcast` to the lane shape it needs) and pushes its result with
//! [`push_vec`] (a `bitcast` back). `pop_as` looks through the `bitcast` the
//! previous operator made, so a chain of `f32x4` operators has no casts
//! between them and the instruction patterns of the back end (for example
//! `pmaddwd` for `i32x4.dot_i16x8_s`) see the operators as they were built.
//! Vector-to-vector bitcasts cost nothing on x86-64 (the same register).
//!
//! **Memory.** Every load and store, including the splat, zero, lane and
//! extending forms, goes through the translator's `heap_addr` with the
//! access's byte size, like scalar accesses: the guard region, or an explicit
//! check in the checked-bounds configuration.
//!
//! **Relaxed SIMD** is deterministic here: each instruction has one result
//! for given operands on every host.
//!
//! | instructions | result |
//! |---|---|
//! | `i8x16.relaxed_swizzle` | `i8x16.swizzle` (an index of 16 or more gives 0) |
//! | `i32x4.relaxed_trunc_f32x4_{s,u}`, `..._f64x2_{s,u}_zero` | the `trunc_sat` counterparts (NaN gives 0, out of range saturates) |
//! | `f32x4/f64x2.relaxed_madd`, `relaxed_nmadd` | unfused: `add(mul(a, b), c)` and `add(mul(neg(a), b), c)`, as the non-relaxed instructions compute it, on hosts with or without FMA |
//! | `i8x16/i16x8/i32x4/i64x2.relaxed_laneselect` | `v128.bitselect` (bit by bit) |
//! | `f32x4/f64x2.relaxed_min`, `relaxed_max` | `f32x4.min` ... (NaN-propagating, -0 below +0) |
//! | `i16x8.relaxed_q15mulr_s` | `i16x8.q15mulr_sat_s` |
//! | `i16x8.relaxed_dot_i8x16_i7x16_s` | no counterpart: both operands signed, products summed in pairs without saturation (wrapping, which only `-128 * -128` twice reaches) |
//! | `i32x4.relaxed_dot_i8x16_i7x16_add_s` | the same pairs summed again in fours into 32 bits, plus the accumulator |

use super::{FuncTranslator, Writes, memarg_memory};
use crate::error::{Error, Result};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32X4, F64X2, I8, I8X16, I16, I16X8, I32, I32X4, I64, I64X2};
use cranelift_codegen::ir::{
    ConstantData, Endianness, InstBuilder, MemFlagsData, Opcode, Type, Value, ValueDef,
};
use cranelift_frontend::FunctionBuilder;
use wasmparser::{MemArg, Operator};

/// Flags for vector bitcasts: changing the lane count needs a byte order.
fn cast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// The scalar type of one lane of `ty`.
fn lane(ty: Type) -> Type {
    ty.lane_type()
}

impl FuncTranslator<'_, '_> {
    // ---------------------------------------------------------------- v128 stack helpers

    /// `v` as a vector of type `ty`: itself, the value a bitcast was made
    /// from, or a new bitcast.
    fn cast_to(&mut self, v: Value, ty: Type) -> Value {
        let dfg = &self.b.func.dfg;
        if dfg.value_type(v) == ty {
            return v;
        }
        if let ValueDef::Result(inst, 0) = dfg.value_def(v)
            && dfg.insts[inst].opcode() == Opcode::Bitcast
        {
            let from = dfg.inst_args(inst)[0];
            if dfg.value_type(from) == ty {
                return from;
            }
        }
        self.b.ins().bitcast(ty, cast_flags(), v)
    }

    /// Pops a v128 as a vector of type `ty`.
    fn pop_as(&mut self, ty: Type) -> Value {
        let v = self.pop();
        self.cast_to(v, ty)
    }

    /// Pops two v128 operands (the second on top) as vectors of type `ty`.
    fn pop2_as(&mut self, ty: Type) -> (Value, Value) {
        let b = self.pop_as(ty);
        let a = self.pop_as(ty);
        (a, b)
    }

    /// Pushes a vector of any lane shape as the canonical `I8X16`.
    fn push_vec(&mut self, v: Value) {
        let v = self.cast_to(v, I8X16);
        self.push(v);
    }

    fn v_unop(&mut self, ty: Type, f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value) {
        let a = self.pop_as(ty);
        let v = f(&mut self.b, a);
        self.push_vec(v);
    }

    fn v_binop(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
    ) {
        let (a, b) = self.pop2_as(ty);
        let v = f(&mut self.b, a, b);
        self.push_vec(v);
    }

    fn v_icmp(&mut self, ty: Type, cc: IntCC) {
        self.v_binop(ty, |b, x, y| b.ins().icmp(cc, x, y));
    }

    fn v_fcmp(&mut self, ty: Type, cc: FloatCC) {
        self.v_binop(ty, |b, x, y| b.ins().fcmp(cc, x, y));
    }

    /// A shift of each lane of a `ty` vector by an i32 amount (Cranelift,
    /// like WebAssembly, takes the amount modulo the lane width).
    fn v_shift(
        &mut self,
        ty: Type,
        f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
    ) {
        let amount = self.pop();
        let a = self.pop_as(ty);
        let v = f(&mut self.b, a, amount);
        self.push_vec(v);
    }

    /// A scalar made a vector of type `ty` with `splat`.
    fn v_splat(&mut self, ty: Type) {
        let x = self.pop();
        let x = self.narrow_lane(x, ty);
        let v = self.b.ins().splat(ty, x);
        self.push_vec(v);
    }

    /// An i32 operand reduced to the lane type of `ty` when its lanes are narrower.
    fn narrow_lane(&mut self, x: Value, ty: Type) -> Value {
        if lane(ty).bits() < 32 { self.b.ins().ireduce(lane(ty), x) } else { x }
    }

    fn v_extract(&mut self, ty: Type, index: u8, signed: Option<bool>) {
        let v = self.pop_as(ty);
        let x = self.b.ins().extractlane(v, index);
        let x = match signed {
            Some(true) => self.b.ins().sextend(I32, x),
            Some(false) => self.b.ins().uextend(I32, x),
            None => x,
        };
        self.push(x);
    }

    fn v_replace(&mut self, ty: Type, index: u8) {
        let x = self.pop();
        let v = self.pop_as(ty);
        let x = self.narrow_lane(x, ty);
        let r = self.b.ins().insertlane(v, x, index);
        self.push_vec(r);
    }

    /// `all_true`, or `bitmask`, of a `ty` vector.
    fn v_reduce(&mut self, ty: Type, bitmask: bool) {
        let v = self.pop_as(ty);
        let r = if bitmask {
            self.b.ins().vhigh_bits(I32, v)
        } else {
            let t = self.b.ins().vall_true(v);
            self.b.ins().uextend(I32, t)
        };
        self.push(r);
    }

    /// Widens both halves of `a` (a `ty` vector) and adds neighbouring lanes.
    fn ext_add_pairwise(&mut self, ty: Type, signed: bool) {
        let a = self.pop_as(ty);
        let (lo, hi) = if signed {
            (self.b.ins().swiden_low(a), self.b.ins().swiden_high(a))
        } else {
            (self.b.ins().uwiden_low(a), self.b.ins().uwiden_high(a))
        };
        let v = self.b.ins().iadd_pairwise(lo, hi);
        self.push_vec(v);
    }

    /// Multiplies the widened low or high halves of two `ty` vectors.
    fn ext_mul(&mut self, ty: Type, high: bool, signed: bool) {
        let (a, b) = self.pop2_as(ty);
        let widen = |f: &mut FunctionBuilder<'_>, x| match (high, signed) {
            (false, true) => f.ins().swiden_low(x),
            (true, true) => f.ins().swiden_high(x),
            (false, false) => f.ins().uwiden_low(x),
            (true, false) => f.ins().uwiden_high(x),
        };
        let (a, b) = (widen(&mut self.b, a), widen(&mut self.b, b));
        let v = self.b.ins().imul(a, b);
        self.push_vec(v);
    }

    /// `fpmin(a, b) = b < a ? b : a`, `fpmax(a, b) = a < b ? b : a`.
    fn pseudo_min_max(&mut self, ty: Type, max: bool) {
        let (a, b) = self.pop2_as(ty);
        let less = if max {
            self.b.ins().fcmp(FloatCC::LessThan, a, b)
        } else {
            self.b.ins().fcmp(FloatCC::LessThan, b, a)
        };
        let mask = self.cast_to(less, ty);
        let v = self.b.ins().bitselect(mask, b, a);
        self.push_vec(v);
    }

    /// `i32x4.trunc_sat_f64x2_{s,u}_zero`: two saturated lanes, two zeros.
    fn trunc_sat_f64x2_zero(&mut self, signed: bool) {
        let a = self.pop_as(F64X2);
        let c = self.b.func.dfg.constants.insert(vec![0u8; 16].into());
        let zero = self.b.ins().vconst(I64X2, c);
        let v = if signed {
            let t = self.b.ins().fcvt_to_sint_sat(I64X2, a);
            self.b.ins().snarrow(t, zero)
        } else {
            let t = self.b.ins().fcvt_to_uint_sat(I64X2, a);
            self.b.ins().uunarrow(t, zero)
        };
        self.push_vec(v);
    }

    /// Relaxed multiply-add, unfused: `a * b + c`, or `-(a * b) + c`.
    fn relaxed_madd(&mut self, ty: Type, negate: bool) {
        let c = self.pop_as(ty);
        let (a, b) = self.pop2_as(ty);
        let a = if negate { self.b.ins().fneg(a) } else { a };
        let p = self.b.ins().fmul(a, b);
        let v = self.b.ins().fadd(p, c);
        self.push_vec(v);
    }

    /// The i16x8 lanes of the relaxed dot product of two i8x16 vectors
    /// (both signed, pairs summed with wrapping).
    fn relaxed_dot_i16(&mut self, a: Value, b: Value) -> Value {
        let a_lo = self.b.ins().swiden_low(a);
        let b_lo = self.b.ins().swiden_low(b);
        let a_hi = self.b.ins().swiden_high(a);
        let b_hi = self.b.ins().swiden_high(b);
        let lo = self.b.ins().imul(a_lo, b_lo);
        let hi = self.b.ins().imul(a_hi, b_hi);
        self.b.ins().iadd_pairwise(lo, hi)
    }

    // ---------------------------------------------------------------- memory

    /// A load through the bounds check of an access of `size` bytes; `f`
    /// builds the vector from the address.
    fn v_load(
        &mut self,
        memarg: &MemArg,
        size: u64,
        f: impl FnOnce(&mut FunctionBuilder<'_>, MemFlagsData, Value, i32) -> Value,
    ) {
        self.load_op(memarg, size, f);
        let v = self.pop();
        self.push_vec(v);
    }

    /// A scalar load of type `scalar` made a vector of type `ty` by `splat`
    /// (or, with `zero`, into lane 0 of a zero vector).
    fn v_load_scalar(&mut self, memarg: &MemArg, scalar: Type, ty: Type, zero: bool) {
        self.v_load(memarg, u64::from(scalar.bytes()), |b, flags, a, o| {
            let x = b.ins().load(scalar, flags, a, o);
            if zero { b.ins().scalar_to_vector(ty, x) } else { b.ins().splat(ty, x) }
        });
    }

    /// `v128.loadN_lane`: replaces lane `index` of a `ty` vector with memory.
    fn v_load_lane(&mut self, memarg: &MemArg, ty: Type, index: u8) {
        let v = self.pop_as(ty);
        let at = self.pop();
        let (addr, off) = self.heap_addr(memarg, at, u64::from(lane(ty).bytes()));
        let flags = self.heap_flags(memarg_memory(memarg));
        let x = self.b.ins().load(lane(ty), flags, addr, off);
        let r = self.b.ins().insertlane(v, x, index);
        self.push_vec(r);
    }

    /// `v128.storeN_lane`: stores lane `index` of a `ty` vector.
    fn v_store_lane(&mut self, memarg: &MemArg, ty: Type, index: u8) {
        self.writes.memories |= Writes::bit(memarg_memory(memarg));
        let v = self.pop_as(ty);
        let at = self.pop();
        let (addr, off) = self.heap_addr(memarg, at, u64::from(lane(ty).bytes()));
        let x = self.b.ins().extractlane(v, index);
        let flags = self.heap_flags(memarg_memory(memarg));
        self.b.ins().store(flags, x, addr, off);
    }

    // ---------------------------------------------------------------- the operator match

    /// Translates a SIMD operator; any other operator the scalar match does
    /// not handle is an `Unsupported` error.
    pub(super) fn simd_operator(&mut self, op: Operator<'_>) -> Result<()> {
        use Operator as O;
        match op {
            // ------------------------------------------------------------ memory
            O::V128Load { memarg } => {
                self.v_load(&memarg, 16, |b, flags, a, o| b.ins().load(I8X16, flags, a, o))
            }
            O::V128Load8x8S { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().sload8x8(flags, a, o))
            }
            O::V128Load8x8U { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().uload8x8(flags, a, o))
            }
            O::V128Load16x4S { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().sload16x4(flags, a, o))
            }
            O::V128Load16x4U { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().uload16x4(flags, a, o))
            }
            O::V128Load32x2S { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().sload32x2(flags, a, o))
            }
            O::V128Load32x2U { memarg } => {
                self.v_load(&memarg, 8, |b, flags, a, o| b.ins().uload32x2(flags, a, o))
            }
            O::V128Load8Splat { memarg } => self.v_load_scalar(&memarg, I8, I8X16, false),
            O::V128Load16Splat { memarg } => self.v_load_scalar(&memarg, I16, I16X8, false),
            O::V128Load32Splat { memarg } => self.v_load_scalar(&memarg, I32, I32X4, false),
            O::V128Load64Splat { memarg } => self.v_load_scalar(&memarg, I64, I64X2, false),
            O::V128Load32Zero { memarg } => self.v_load_scalar(&memarg, I32, I32X4, true),
            O::V128Load64Zero { memarg } => self.v_load_scalar(&memarg, I64, I64X2, true),
            O::V128Store { memarg } => self.store_op(&memarg, 16, |b, flags, v, a, o| {
                b.ins().store(flags, v, a, o);
            }),
            O::V128Load8Lane { memarg, lane } => self.v_load_lane(&memarg, I8X16, lane),
            O::V128Load16Lane { memarg, lane } => self.v_load_lane(&memarg, I16X8, lane),
            O::V128Load32Lane { memarg, lane } => self.v_load_lane(&memarg, I32X4, lane),
            O::V128Load64Lane { memarg, lane } => self.v_load_lane(&memarg, I64X2, lane),
            O::V128Store8Lane { memarg, lane } => self.v_store_lane(&memarg, I8X16, lane),
            O::V128Store16Lane { memarg, lane } => self.v_store_lane(&memarg, I16X8, lane),
            O::V128Store32Lane { memarg, lane } => self.v_store_lane(&memarg, I32X4, lane),
            O::V128Store64Lane { memarg, lane } => self.v_store_lane(&memarg, I64X2, lane),

            // ------------------------------------------------------------ constants, lanes, shuffles
            O::V128Const { value } => {
                let c = self.b.func.dfg.constants.insert(value.bytes().to_vec().into());
                let v = self.b.ins().vconst(I8X16, c);
                self.push(v);
            }
            O::I8x16Shuffle { lanes } => {
                let (a, b) = self.pop2_as(I8X16);
                let mask = self.b.func.dfg.immediates.push(ConstantData::from(lanes.to_vec()));
                let v = self.b.ins().shuffle(a, b, mask);
                self.push(v);
            }
            O::I8x16Swizzle | O::I8x16RelaxedSwizzle => {
                self.v_binop(I8X16, |b, x, y| b.ins().swizzle(x, y))
            }
            O::I8x16Splat => self.v_splat(I8X16),
            O::I16x8Splat => self.v_splat(I16X8),
            O::I32x4Splat => self.v_splat(I32X4),
            O::I64x2Splat => self.v_splat(I64X2),
            O::F32x4Splat => self.v_splat(F32X4),
            O::F64x2Splat => self.v_splat(F64X2),
            O::I8x16ExtractLaneS { lane } => self.v_extract(I8X16, lane, Some(true)),
            O::I8x16ExtractLaneU { lane } => self.v_extract(I8X16, lane, Some(false)),
            O::I16x8ExtractLaneS { lane } => self.v_extract(I16X8, lane, Some(true)),
            O::I16x8ExtractLaneU { lane } => self.v_extract(I16X8, lane, Some(false)),
            O::I32x4ExtractLane { lane } => self.v_extract(I32X4, lane, None),
            O::I64x2ExtractLane { lane } => self.v_extract(I64X2, lane, None),
            O::F32x4ExtractLane { lane } => self.v_extract(F32X4, lane, None),
            O::F64x2ExtractLane { lane } => self.v_extract(F64X2, lane, None),
            O::I8x16ReplaceLane { lane } => self.v_replace(I8X16, lane),
            O::I16x8ReplaceLane { lane } => self.v_replace(I16X8, lane),
            O::I32x4ReplaceLane { lane } => self.v_replace(I32X4, lane),
            O::I64x2ReplaceLane { lane } => self.v_replace(I64X2, lane),
            O::F32x4ReplaceLane { lane } => self.v_replace(F32X4, lane),
            O::F64x2ReplaceLane { lane } => self.v_replace(F64X2, lane),

            // ------------------------------------------------------------ bitwise
            O::V128Not => self.v_unop(I8X16, |b, a| b.ins().bnot(a)),
            O::V128And => self.v_binop(I8X16, |b, x, y| b.ins().band(x, y)),
            O::V128AndNot => self.v_binop(I8X16, |b, x, y| b.ins().band_not(x, y)),
            O::V128Or => self.v_binop(I8X16, |b, x, y| b.ins().bor(x, y)),
            O::V128Xor => self.v_binop(I8X16, |b, x, y| b.ins().bxor(x, y)),
            O::V128Bitselect
            | O::I8x16RelaxedLaneselect
            | O::I16x8RelaxedLaneselect
            | O::I32x4RelaxedLaneselect
            | O::I64x2RelaxedLaneselect => {
                let c = self.pop_as(I8X16);
                let (a, b) = self.pop2_as(I8X16);
                let v = self.b.ins().bitselect(c, a, b);
                self.push(v);
            }
            O::V128AnyTrue => {
                let v = self.pop_as(I8X16);
                let t = self.b.ins().vany_true(v);
                let r = self.b.ins().uextend(I32, t);
                self.push(r);
            }
            O::I8x16AllTrue => self.v_reduce(I8X16, false),
            O::I16x8AllTrue => self.v_reduce(I16X8, false),
            O::I32x4AllTrue => self.v_reduce(I32X4, false),
            O::I64x2AllTrue => self.v_reduce(I64X2, false),
            O::I8x16Bitmask => self.v_reduce(I8X16, true),
            O::I16x8Bitmask => self.v_reduce(I16X8, true),
            O::I32x4Bitmask => self.v_reduce(I32X4, true),
            O::I64x2Bitmask => self.v_reduce(I64X2, true),

            // ------------------------------------------------------------ integer comparisons
            O::I8x16Eq => self.v_icmp(I8X16, IntCC::Equal),
            O::I8x16Ne => self.v_icmp(I8X16, IntCC::NotEqual),
            O::I8x16LtS => self.v_icmp(I8X16, IntCC::SignedLessThan),
            O::I8x16LtU => self.v_icmp(I8X16, IntCC::UnsignedLessThan),
            O::I8x16GtS => self.v_icmp(I8X16, IntCC::SignedGreaterThan),
            O::I8x16GtU => self.v_icmp(I8X16, IntCC::UnsignedGreaterThan),
            O::I8x16LeS => self.v_icmp(I8X16, IntCC::SignedLessThanOrEqual),
            O::I8x16LeU => self.v_icmp(I8X16, IntCC::UnsignedLessThanOrEqual),
            O::I8x16GeS => self.v_icmp(I8X16, IntCC::SignedGreaterThanOrEqual),
            O::I8x16GeU => self.v_icmp(I8X16, IntCC::UnsignedGreaterThanOrEqual),
            O::I16x8Eq => self.v_icmp(I16X8, IntCC::Equal),
            O::I16x8Ne => self.v_icmp(I16X8, IntCC::NotEqual),
            O::I16x8LtS => self.v_icmp(I16X8, IntCC::SignedLessThan),
            O::I16x8LtU => self.v_icmp(I16X8, IntCC::UnsignedLessThan),
            O::I16x8GtS => self.v_icmp(I16X8, IntCC::SignedGreaterThan),
            O::I16x8GtU => self.v_icmp(I16X8, IntCC::UnsignedGreaterThan),
            O::I16x8LeS => self.v_icmp(I16X8, IntCC::SignedLessThanOrEqual),
            O::I16x8LeU => self.v_icmp(I16X8, IntCC::UnsignedLessThanOrEqual),
            O::I16x8GeS => self.v_icmp(I16X8, IntCC::SignedGreaterThanOrEqual),
            O::I16x8GeU => self.v_icmp(I16X8, IntCC::UnsignedGreaterThanOrEqual),
            O::I32x4Eq => self.v_icmp(I32X4, IntCC::Equal),
            O::I32x4Ne => self.v_icmp(I32X4, IntCC::NotEqual),
            O::I32x4LtS => self.v_icmp(I32X4, IntCC::SignedLessThan),
            O::I32x4LtU => self.v_icmp(I32X4, IntCC::UnsignedLessThan),
            O::I32x4GtS => self.v_icmp(I32X4, IntCC::SignedGreaterThan),
            O::I32x4GtU => self.v_icmp(I32X4, IntCC::UnsignedGreaterThan),
            O::I32x4LeS => self.v_icmp(I32X4, IntCC::SignedLessThanOrEqual),
            O::I32x4LeU => self.v_icmp(I32X4, IntCC::UnsignedLessThanOrEqual),
            O::I32x4GeS => self.v_icmp(I32X4, IntCC::SignedGreaterThanOrEqual),
            O::I32x4GeU => self.v_icmp(I32X4, IntCC::UnsignedGreaterThanOrEqual),
            O::I64x2Eq => self.v_icmp(I64X2, IntCC::Equal),
            O::I64x2Ne => self.v_icmp(I64X2, IntCC::NotEqual),
            O::I64x2LtS => self.v_icmp(I64X2, IntCC::SignedLessThan),
            O::I64x2GtS => self.v_icmp(I64X2, IntCC::SignedGreaterThan),
            O::I64x2LeS => self.v_icmp(I64X2, IntCC::SignedLessThanOrEqual),
            O::I64x2GeS => self.v_icmp(I64X2, IntCC::SignedGreaterThanOrEqual),

            // ------------------------------------------------------------ float comparisons
            O::F32x4Eq => self.v_fcmp(F32X4, FloatCC::Equal),
            O::F32x4Ne => self.v_fcmp(F32X4, FloatCC::NotEqual),
            O::F32x4Lt => self.v_fcmp(F32X4, FloatCC::LessThan),
            O::F32x4Gt => self.v_fcmp(F32X4, FloatCC::GreaterThan),
            O::F32x4Le => self.v_fcmp(F32X4, FloatCC::LessThanOrEqual),
            O::F32x4Ge => self.v_fcmp(F32X4, FloatCC::GreaterThanOrEqual),
            O::F64x2Eq => self.v_fcmp(F64X2, FloatCC::Equal),
            O::F64x2Ne => self.v_fcmp(F64X2, FloatCC::NotEqual),
            O::F64x2Lt => self.v_fcmp(F64X2, FloatCC::LessThan),
            O::F64x2Gt => self.v_fcmp(F64X2, FloatCC::GreaterThan),
            O::F64x2Le => self.v_fcmp(F64X2, FloatCC::LessThanOrEqual),
            O::F64x2Ge => self.v_fcmp(F64X2, FloatCC::GreaterThanOrEqual),

            // ------------------------------------------------------------ integer arithmetic
            O::I8x16Abs => self.v_unop(I8X16, |b, a| b.ins().iabs(a)),
            O::I16x8Abs => self.v_unop(I16X8, |b, a| b.ins().iabs(a)),
            O::I32x4Abs => self.v_unop(I32X4, |b, a| b.ins().iabs(a)),
            O::I64x2Abs => self.v_unop(I64X2, |b, a| b.ins().iabs(a)),
            O::I8x16Neg => self.v_unop(I8X16, |b, a| b.ins().ineg(a)),
            O::I16x8Neg => self.v_unop(I16X8, |b, a| b.ins().ineg(a)),
            O::I32x4Neg => self.v_unop(I32X4, |b, a| b.ins().ineg(a)),
            O::I64x2Neg => self.v_unop(I64X2, |b, a| b.ins().ineg(a)),
            O::I8x16Popcnt => self.v_unop(I8X16, |b, a| b.ins().popcnt(a)),
            O::I8x16Add => self.v_binop(I8X16, |b, x, y| b.ins().iadd(x, y)),
            O::I16x8Add => self.v_binop(I16X8, |b, x, y| b.ins().iadd(x, y)),
            O::I32x4Add => self.v_binop(I32X4, |b, x, y| b.ins().iadd(x, y)),
            O::I64x2Add => self.v_binop(I64X2, |b, x, y| b.ins().iadd(x, y)),
            O::I8x16Sub => self.v_binop(I8X16, |b, x, y| b.ins().isub(x, y)),
            O::I16x8Sub => self.v_binop(I16X8, |b, x, y| b.ins().isub(x, y)),
            O::I32x4Sub => self.v_binop(I32X4, |b, x, y| b.ins().isub(x, y)),
            O::I64x2Sub => self.v_binop(I64X2, |b, x, y| b.ins().isub(x, y)),
            O::I16x8Mul => self.v_binop(I16X8, |b, x, y| b.ins().imul(x, y)),
            O::I32x4Mul => self.v_binop(I32X4, |b, x, y| b.ins().imul(x, y)),
            O::I64x2Mul => self.v_binop(I64X2, |b, x, y| b.ins().imul(x, y)),
            O::I8x16AddSatS => self.v_binop(I8X16, |b, x, y| b.ins().sadd_sat(x, y)),
            O::I8x16AddSatU => self.v_binop(I8X16, |b, x, y| b.ins().uadd_sat(x, y)),
            O::I8x16SubSatS => self.v_binop(I8X16, |b, x, y| b.ins().ssub_sat(x, y)),
            O::I8x16SubSatU => self.v_binop(I8X16, |b, x, y| b.ins().usub_sat(x, y)),
            O::I16x8AddSatS => self.v_binop(I16X8, |b, x, y| b.ins().sadd_sat(x, y)),
            O::I16x8AddSatU => self.v_binop(I16X8, |b, x, y| b.ins().uadd_sat(x, y)),
            O::I16x8SubSatS => self.v_binop(I16X8, |b, x, y| b.ins().ssub_sat(x, y)),
            O::I16x8SubSatU => self.v_binop(I16X8, |b, x, y| b.ins().usub_sat(x, y)),
            O::I8x16MinS => self.v_binop(I8X16, |b, x, y| b.ins().smin(x, y)),
            O::I8x16MinU => self.v_binop(I8X16, |b, x, y| b.ins().umin(x, y)),
            O::I8x16MaxS => self.v_binop(I8X16, |b, x, y| b.ins().smax(x, y)),
            O::I8x16MaxU => self.v_binop(I8X16, |b, x, y| b.ins().umax(x, y)),
            O::I16x8MinS => self.v_binop(I16X8, |b, x, y| b.ins().smin(x, y)),
            O::I16x8MinU => self.v_binop(I16X8, |b, x, y| b.ins().umin(x, y)),
            O::I16x8MaxS => self.v_binop(I16X8, |b, x, y| b.ins().smax(x, y)),
            O::I16x8MaxU => self.v_binop(I16X8, |b, x, y| b.ins().umax(x, y)),
            O::I32x4MinS => self.v_binop(I32X4, |b, x, y| b.ins().smin(x, y)),
            O::I32x4MinU => self.v_binop(I32X4, |b, x, y| b.ins().umin(x, y)),
            O::I32x4MaxS => self.v_binop(I32X4, |b, x, y| b.ins().smax(x, y)),
            O::I32x4MaxU => self.v_binop(I32X4, |b, x, y| b.ins().umax(x, y)),
            O::I8x16AvgrU => self.v_binop(I8X16, |b, x, y| b.ins().avg_round(x, y)),
            O::I16x8AvgrU => self.v_binop(I16X8, |b, x, y| b.ins().avg_round(x, y)),
            O::I16x8Q15MulrSatS | O::I16x8RelaxedQ15mulrS => {
                self.v_binop(I16X8, |b, x, y| b.ins().sqmul_round_sat(x, y))
            }
            O::I8x16Shl => self.v_shift(I8X16, |b, x, y| b.ins().ishl(x, y)),
            O::I16x8Shl => self.v_shift(I16X8, |b, x, y| b.ins().ishl(x, y)),
            O::I32x4Shl => self.v_shift(I32X4, |b, x, y| b.ins().ishl(x, y)),
            O::I64x2Shl => self.v_shift(I64X2, |b, x, y| b.ins().ishl(x, y)),
            O::I8x16ShrS => self.v_shift(I8X16, |b, x, y| b.ins().sshr(x, y)),
            O::I16x8ShrS => self.v_shift(I16X8, |b, x, y| b.ins().sshr(x, y)),
            O::I32x4ShrS => self.v_shift(I32X4, |b, x, y| b.ins().sshr(x, y)),
            O::I64x2ShrS => self.v_shift(I64X2, |b, x, y| b.ins().sshr(x, y)),
            O::I8x16ShrU => self.v_shift(I8X16, |b, x, y| b.ins().ushr(x, y)),
            O::I16x8ShrU => self.v_shift(I16X8, |b, x, y| b.ins().ushr(x, y)),
            O::I32x4ShrU => self.v_shift(I32X4, |b, x, y| b.ins().ushr(x, y)),
            O::I64x2ShrU => self.v_shift(I64X2, |b, x, y| b.ins().ushr(x, y)),

            // ------------------------------------------------------------ narrowing, widening, products
            O::I8x16NarrowI16x8S => self.v_binop(I16X8, |b, x, y| b.ins().snarrow(x, y)),
            O::I8x16NarrowI16x8U => self.v_binop(I16X8, |b, x, y| b.ins().unarrow(x, y)),
            O::I16x8NarrowI32x4S => self.v_binop(I32X4, |b, x, y| b.ins().snarrow(x, y)),
            O::I16x8NarrowI32x4U => self.v_binop(I32X4, |b, x, y| b.ins().unarrow(x, y)),
            O::I16x8ExtendLowI8x16S => self.v_unop(I8X16, |b, a| b.ins().swiden_low(a)),
            O::I16x8ExtendHighI8x16S => self.v_unop(I8X16, |b, a| b.ins().swiden_high(a)),
            O::I16x8ExtendLowI8x16U => self.v_unop(I8X16, |b, a| b.ins().uwiden_low(a)),
            O::I16x8ExtendHighI8x16U => self.v_unop(I8X16, |b, a| b.ins().uwiden_high(a)),
            O::I32x4ExtendLowI16x8S => self.v_unop(I16X8, |b, a| b.ins().swiden_low(a)),
            O::I32x4ExtendHighI16x8S => self.v_unop(I16X8, |b, a| b.ins().swiden_high(a)),
            O::I32x4ExtendLowI16x8U => self.v_unop(I16X8, |b, a| b.ins().uwiden_low(a)),
            O::I32x4ExtendHighI16x8U => self.v_unop(I16X8, |b, a| b.ins().uwiden_high(a)),
            O::I64x2ExtendLowI32x4S => self.v_unop(I32X4, |b, a| b.ins().swiden_low(a)),
            O::I64x2ExtendHighI32x4S => self.v_unop(I32X4, |b, a| b.ins().swiden_high(a)),
            O::I64x2ExtendLowI32x4U => self.v_unop(I32X4, |b, a| b.ins().uwiden_low(a)),
            O::I64x2ExtendHighI32x4U => self.v_unop(I32X4, |b, a| b.ins().uwiden_high(a)),
            O::I16x8ExtAddPairwiseI8x16S => self.ext_add_pairwise(I8X16, true),
            O::I16x8ExtAddPairwiseI8x16U => self.ext_add_pairwise(I8X16, false),
            O::I32x4ExtAddPairwiseI16x8S => self.ext_add_pairwise(I16X8, true),
            O::I32x4ExtAddPairwiseI16x8U => self.ext_add_pairwise(I16X8, false),
            O::I16x8ExtMulLowI8x16S => self.ext_mul(I8X16, false, true),
            O::I16x8ExtMulHighI8x16S => self.ext_mul(I8X16, true, true),
            O::I16x8ExtMulLowI8x16U => self.ext_mul(I8X16, false, false),
            O::I16x8ExtMulHighI8x16U => self.ext_mul(I8X16, true, false),
            O::I32x4ExtMulLowI16x8S => self.ext_mul(I16X8, false, true),
            O::I32x4ExtMulHighI16x8S => self.ext_mul(I16X8, true, true),
            O::I32x4ExtMulLowI16x8U => self.ext_mul(I16X8, false, false),
            O::I32x4ExtMulHighI16x8U => self.ext_mul(I16X8, true, false),
            O::I64x2ExtMulLowI32x4S => self.ext_mul(I32X4, false, true),
            O::I64x2ExtMulHighI32x4S => self.ext_mul(I32X4, true, true),
            O::I64x2ExtMulLowI32x4U => self.ext_mul(I32X4, false, false),
            O::I64x2ExtMulHighI32x4U => self.ext_mul(I32X4, true, false),
            O::I32x4DotI16x8S => {
                let (a, b) = self.pop2_as(I16X8);
                let (a_lo, b_lo) = (self.b.ins().swiden_low(a), self.b.ins().swiden_low(b));
                let (a_hi, b_hi) = (self.b.ins().swiden_high(a), self.b.ins().swiden_high(b));
                let lo = self.b.ins().imul(a_lo, b_lo);
                let hi = self.b.ins().imul(a_hi, b_hi);
                let v = self.b.ins().iadd_pairwise(lo, hi);
                self.push_vec(v);
            }
            O::I16x8RelaxedDotI8x16I7x16S => {
                let (a, b) = self.pop2_as(I8X16);
                let v = self.relaxed_dot_i16(a, b);
                self.push_vec(v);
            }
            O::I32x4RelaxedDotI8x16I7x16AddS => {
                let acc = self.pop_as(I32X4);
                let (a, b) = self.pop2_as(I8X16);
                let pairs = self.relaxed_dot_i16(a, b);
                let lo = self.b.ins().swiden_low(pairs);
                let hi = self.b.ins().swiden_high(pairs);
                let fours = self.b.ins().iadd_pairwise(lo, hi);
                let v = self.b.ins().iadd(fours, acc);
                self.push_vec(v);
            }

            // ------------------------------------------------------------ float arithmetic
            O::F32x4Abs => self.v_unop(F32X4, |b, a| b.ins().fabs(a)),
            O::F64x2Abs => self.v_unop(F64X2, |b, a| b.ins().fabs(a)),
            O::F32x4Neg => self.v_unop(F32X4, |b, a| b.ins().fneg(a)),
            O::F64x2Neg => self.v_unop(F64X2, |b, a| b.ins().fneg(a)),
            O::F32x4Sqrt => self.v_unop(F32X4, |b, a| b.ins().sqrt(a)),
            O::F64x2Sqrt => self.v_unop(F64X2, |b, a| b.ins().sqrt(a)),
            O::F32x4Ceil => self.v_unop(F32X4, |b, a| b.ins().ceil(a)),
            O::F64x2Ceil => self.v_unop(F64X2, |b, a| b.ins().ceil(a)),
            O::F32x4Floor => self.v_unop(F32X4, |b, a| b.ins().floor(a)),
            O::F64x2Floor => self.v_unop(F64X2, |b, a| b.ins().floor(a)),
            O::F32x4Trunc => self.v_unop(F32X4, |b, a| b.ins().trunc(a)),
            O::F64x2Trunc => self.v_unop(F64X2, |b, a| b.ins().trunc(a)),
            O::F32x4Nearest => self.v_unop(F32X4, |b, a| b.ins().nearest(a)),
            O::F64x2Nearest => self.v_unop(F64X2, |b, a| b.ins().nearest(a)),
            O::F32x4Add => self.v_binop(F32X4, |b, x, y| b.ins().fadd(x, y)),
            O::F64x2Add => self.v_binop(F64X2, |b, x, y| b.ins().fadd(x, y)),
            O::F32x4Sub => self.v_binop(F32X4, |b, x, y| b.ins().fsub(x, y)),
            O::F64x2Sub => self.v_binop(F64X2, |b, x, y| b.ins().fsub(x, y)),
            O::F32x4Mul => self.v_binop(F32X4, |b, x, y| b.ins().fmul(x, y)),
            O::F64x2Mul => self.v_binop(F64X2, |b, x, y| b.ins().fmul(x, y)),
            O::F32x4Div => self.v_binop(F32X4, |b, x, y| b.ins().fdiv(x, y)),
            O::F64x2Div => self.v_binop(F64X2, |b, x, y| b.ins().fdiv(x, y)),
            O::F32x4Min | O::F32x4RelaxedMin => self.v_binop(F32X4, |b, x, y| b.ins().fmin(x, y)),
            O::F64x2Min | O::F64x2RelaxedMin => self.v_binop(F64X2, |b, x, y| b.ins().fmin(x, y)),
            O::F32x4Max | O::F32x4RelaxedMax => self.v_binop(F32X4, |b, x, y| b.ins().fmax(x, y)),
            O::F64x2Max | O::F64x2RelaxedMax => self.v_binop(F64X2, |b, x, y| b.ins().fmax(x, y)),
            O::F32x4PMin => self.pseudo_min_max(F32X4, false),
            O::F64x2PMin => self.pseudo_min_max(F64X2, false),
            O::F32x4PMax => self.pseudo_min_max(F32X4, true),
            O::F64x2PMax => self.pseudo_min_max(F64X2, true),
            O::F32x4RelaxedMadd => self.relaxed_madd(F32X4, false),
            O::F32x4RelaxedNmadd => self.relaxed_madd(F32X4, true),
            O::F64x2RelaxedMadd => self.relaxed_madd(F64X2, false),
            O::F64x2RelaxedNmadd => self.relaxed_madd(F64X2, true),

            // ------------------------------------------------------------ conversions
            O::I32x4TruncSatF32x4S | O::I32x4RelaxedTruncF32x4S => {
                self.v_unop(F32X4, |b, a| b.ins().fcvt_to_sint_sat(I32X4, a))
            }
            O::I32x4TruncSatF32x4U | O::I32x4RelaxedTruncF32x4U => {
                self.v_unop(F32X4, |b, a| b.ins().fcvt_to_uint_sat(I32X4, a))
            }
            O::I32x4TruncSatF64x2SZero | O::I32x4RelaxedTruncF64x2SZero => {
                self.trunc_sat_f64x2_zero(true)
            }
            O::I32x4TruncSatF64x2UZero | O::I32x4RelaxedTruncF64x2UZero => {
                self.trunc_sat_f64x2_zero(false)
            }
            O::F32x4ConvertI32x4S => self.v_unop(I32X4, |b, a| b.ins().fcvt_from_sint(F32X4, a)),
            O::F32x4ConvertI32x4U => self.v_unop(I32X4, |b, a| b.ins().fcvt_from_uint(F32X4, a)),
            O::F64x2ConvertLowI32x4S => self.v_unop(I32X4, |b, a| {
                let w = b.ins().swiden_low(a);
                b.ins().fcvt_from_sint(F64X2, w)
            }),
            O::F64x2ConvertLowI32x4U => self.v_unop(I32X4, |b, a| {
                let w = b.ins().uwiden_low(a);
                b.ins().fcvt_from_uint(F64X2, w)
            }),
            O::F32x4DemoteF64x2Zero => self.v_unop(F64X2, |b, a| b.ins().fvdemote(a)),
            O::F64x2PromoteLowF32x4 => self.v_unop(F32X4, |b, a| b.ins().fvpromote_low(a)),

            other => {
                return Err(Error::unsupported(format!("operator {other:?} is not supported")));
            }
        }
        Ok(())
    }
}
