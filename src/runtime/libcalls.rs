//! The implementations of the builtins (see `builtins.rs` for the contract).
//!
//! Each is an `extern "C"` function called from compiled code with the
//! caller's VMContext. None of them unwinds: failures are reported through
//! the return value and turned into traps by the compiled code. A panic here
//! would be a bug; it aborts rather than unwinding into wasm frames.

use crate::limits::{GrowFailure, grow_memory, grow_table};
use crate::runtime::builtins::{GROW_TRAPPED, NUM_BUILTINS};
use crate::runtime::instance::InstanceData;
use crate::runtime::vmcontext::VMStoreContext;
use crate::store::StoreOpaque;

/// The builtin table every VMContext points to: one function pointer per
/// `Builtin`, in its order (compiled code loads entry `i` at offset `8 * i`).
#[repr(C)]
pub(crate) struct BuiltinTable {
    memory_grow: unsafe extern "C" fn(*mut u8, u32, u32) -> u32,
    memory_fill: unsafe extern "C" fn(*mut u8, u32, u64, u32, u64) -> u32,
    memory_copy: unsafe extern "C" fn(*mut u8, u32, u64, u32, u64, u64) -> u32,
    memory_init: unsafe extern "C" fn(*mut u8, u32, u32, u64, u32, u32) -> u32,
    data_drop: unsafe extern "C" fn(*mut u8, u32),
    table_grow: unsafe extern "C" fn(*mut u8, u32, u32, usize) -> u32,
    table_fill: unsafe extern "C" fn(*mut u8, u32, u32, usize, u32) -> u32,
    table_copy: unsafe extern "C" fn(*mut u8, u32, u32, u32, u32, u32) -> u32,
    table_init: unsafe extern "C" fn(*mut u8, u32, u32, u32, u32, u32) -> u32,
    elem_drop: unsafe extern "C" fn(*mut u8, u32),
    table_lazy_init: unsafe extern "C" fn(*mut u8, u32, u32) -> usize,
    out_of_gas: unsafe extern "C" fn(*mut u8) -> u32,
    new_epoch: unsafe extern "C" fn(*mut u8) -> u32,
}

const _: () = assert!(std::mem::size_of::<BuiltinTable>() == 8 * NUM_BUILTINS);

/// The one builtin table of the process.
pub(crate) static BUILTINS: BuiltinTable = BuiltinTable {
    memory_grow,
    memory_fill,
    memory_copy,
    memory_init,
    data_drop,
    table_grow,
    table_fill,
    table_copy,
    table_init,
    elem_drop,
    table_lazy_init,
    out_of_gas,
    new_epoch,
};

/// The instance of `vmctx`.
///
/// # Safety
/// Only called by compiled code, which passes its own live VMContext.
unsafe fn instance<'a>(vmctx: *mut u8) -> &'a mut InstanceData {
    // SAFETY: compiled code passes the VMContext it runs with.
    unsafe { InstanceData::from_vmctx(vmctx) }
}

fn ok(r: Result<(), crate::trap::TrapCode>) -> u32 {
    r.is_ok() as u32
}

/// A growth result: the old size, `u32::MAX` (-1) when refused, or
/// [`GROW_TRAPPED`] after recording the limiter's trap in the store.
fn grow_result(vm: *mut VMStoreContext, r: Result<u32, GrowFailure>) -> u32 {
    match r {
        Ok(old) => old,
        Err(GrowFailure::Refused | GrowFailure::Failed) => u32::MAX,
        Err(GrowFailure::Trap(trap)) => {
            // SAFETY: `vm` is the live store context of the calling instance,
            // and no one else touches its pending trap during the call.
            *unsafe { StoreOpaque::pending_trap_of(vm) } = Some(trap);
            GROW_TRAPPED
        }
    }
}

unsafe extern "C" fn memory_grow(vmctx: *mut u8, mem: u32, delta: u32) -> u32 {
    // SAFETY: see `instance`.
    let inst = unsafe { instance(vmctx) };
    let (m, vm) = (inst.memory(mem), inst.store_context());
    // SAFETY: `m.mem` points to the live memory object; the store context
    // is the instance's own, and its limiter is not otherwise in use.
    let r = unsafe { grow_memory(StoreOpaque::limits_of(vm), &mut *m.mem, delta as u64) };
    grow_result(vm, r.map(|pages| pages as u32))
}

unsafe extern "C" fn memory_fill(vmctx: *mut u8, mem: u32, dst: u64, val: u32, len: u64) -> u32 {
    // SAFETY: see `instance`.
    let m = unsafe { instance(vmctx) }.memory(mem);
    // SAFETY: the definition is valid during the call.
    let def = unsafe { &*m.def };
    if dst.checked_add(len).is_none_or(|e| e > def.current_length as u64) {
        return 0;
    }
    // SAFETY: the range was bounds-checked against the accessible length.
    unsafe { std::ptr::write_bytes(def.base.add(dst as usize), val as u8, len as usize) };
    1
}

unsafe extern "C" fn memory_copy(
    vmctx: *mut u8,
    dst_mem: u32,
    dst: u64,
    src_mem: u32,
    src: u64,
    len: u64,
) -> u32 {
    // SAFETY: see `instance`.
    let inst = unsafe { instance(vmctx) };
    // SAFETY: the definitions are valid during the call.
    let (d, s) = unsafe { (&*inst.memory(dst_mem).def, &*inst.memory(src_mem).def) };
    if dst.checked_add(len).is_none_or(|e| e > d.current_length as u64)
        || src.checked_add(len).is_none_or(|e| e > s.current_length as u64)
    {
        return 0;
    }
    // SAFETY: both ranges were bounds-checked; `copy` allows overlap.
    unsafe { std::ptr::copy(s.base.add(src as usize), d.base.add(dst as usize), len as usize) };
    1
}

unsafe extern "C" fn memory_init(
    vmctx: *mut u8,
    mem: u32,
    data: u32,
    dst: u64,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: see `instance`.
    ok(unsafe { instance(vmctx) }.memory_init(mem, data, dst, src, len))
}

unsafe extern "C" fn data_drop(vmctx: *mut u8, data: u32) {
    // SAFETY: see `instance`.
    unsafe { instance(vmctx) }.data_drop(data)
}

unsafe extern "C" fn table_grow(vmctx: *mut u8, table: u32, delta: u32, init: usize) -> u32 {
    // SAFETY: see `instance`.
    let inst = unsafe { instance(vmctx) };
    let (t, vm) = (inst.table(table), inst.store_context());
    // SAFETY: as in `memory_grow`.
    let r = unsafe { grow_table(StoreOpaque::limits_of(vm), &mut *t.table, delta, init) };
    grow_result(vm, r)
}

unsafe extern "C" fn table_fill(vmctx: *mut u8, table: u32, dst: u32, val: usize, len: u32) -> u32 {
    // SAFETY: see `instance`.
    let t = unsafe { instance(vmctx) }.table(table);
    // SAFETY: the table object outlives the call.
    unsafe { &mut *t.table }.fill(dst as usize, val, len as usize).is_some() as u32
}

unsafe extern "C" fn table_copy(
    vmctx: *mut u8,
    dst_table: u32,
    src_table: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: see `instance`.
    let inst = unsafe { instance(vmctx) };
    let (d, s) = (inst.table(dst_table), inst.table(src_table));
    let (dst, src, len) = (dst as usize, src as usize, len as usize);
    let copied = if d.table == s.table {
        // SAFETY: one live table, borrowed once.
        unsafe { &mut *d.table }.copy(dst, None, src, len)
    } else {
        // SAFETY: two distinct live tables.
        let (dt, st) = unsafe { (&mut *d.table, &mut *s.table) };
        dt.copy(dst, Some(st), src, len)
    };
    copied.is_some() as u32
}

unsafe extern "C" fn table_lazy_init(vmctx: *mut u8, table: u32, index: u32) -> usize {
    // SAFETY: see `instance`; compiled code bounds-checked `index`.
    let t = unsafe { instance(vmctx) }.table(table);
    // SAFETY: the table object outlives the call.
    unsafe { &mut *t.table }.materialize(index as usize)
}

unsafe extern "C" fn table_init(
    vmctx: *mut u8,
    table: u32,
    elem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: see `instance`.
    ok(unsafe { instance(vmctx) }.table_init(table, elem, dst, src, len))
}

unsafe extern "C" fn elem_drop(vmctx: *mut u8, elem: u32) {
    // SAFETY: see `instance`.
    unsafe { instance(vmctx) }.elem_drop(elem)
}

/// Fuel ran out (`fuel_consumed` reached 0): moves up to a yield interval
/// of fuel from the store's reserve into the counter compiled code charges,
/// then, with a yield interval set and on a fiber, suspends the call.
/// Returns 0 (trap `OutOfFuel`) when no fuel is left or the call is being
/// abandoned.
unsafe extern "C" fn out_of_gas(vmctx: *mut u8) -> u32 {
    // SAFETY: see `instance`; the store context is the instance's own, and
    // nothing else uses its fuel state during the call.
    let yielding = unsafe {
        let vm = instance(vmctx).store_context();
        StoreOpaque::async_state_of(vm).refuel(&mut (*vm).fuel_consumed)
    };
    match yielding {
        None => 0,
        Some(false) => 1,
        Some(true) => crate::runtime::fiber::yield_now().is_ok() as u32,
    }
}

/// The epoch deadline passed: when the store yields there, suspends the
/// call (on a fiber) and then moves the deadline its configured number of
/// ticks past the epoch it resumes at. Returns 0 (trap `Interrupt`) when
/// the store traps at its deadline or the call is being abandoned.
unsafe extern "C" fn new_epoch(vmctx: *mut u8) -> u32 {
    // SAFETY: see `out_of_gas`.
    let vm = unsafe { instance(vmctx).store_context() };
    // SAFETY: as above.
    let Some(delta) = (unsafe { StoreOpaque::async_state_of(vm) }).epoch_yield_delta else {
        return 0;
    };
    if crate::runtime::fiber::yield_now().is_err() {
        return 0;
    }
    // SAFETY: the store context is live; the engine's epoch counter it
    // points to lives as long as the engine, which the store keeps.
    unsafe {
        let now = (*(*vm).epoch_counter.cast::<std::sync::atomic::AtomicU64>())
            .load(std::sync::atomic::Ordering::Acquire);
        (*vm).epoch_deadline = now.saturating_add(delta);
    }
    1
}
