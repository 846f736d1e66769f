//! Functions: calling wasm from the host, and host functions wasm can call.
//!
//! A [`Func`] is a function reference of its store (a `VMFuncRef`). Calling a
//! wasm function goes through its array-call trampoline inside
//! `runtime::traps::catch_traps`, so a trap comes back as a value. Calling a
//! host function from the host runs its closure directly.

use crate::error::{Error, Result};
use crate::externals::Extern;
use crate::runtime::host::{HOST_CONTEXT_MAGIC, HostContext};
use crate::runtime::instance::InstanceData;
use crate::runtime::vmcontext::{VMCTX_MAGIC, VMCTX_STORE_CONTEXT, VMFuncRef, VMStoreContext};
use crate::store::{Store, StoreInner, StoreOpaque};
use crate::trap::{Trap, TrapCode};
use crate::types::{FuncType, ValType};
use crate::values::{Val, ValRaw};
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;

/// The closure type of host functions in a store with data `T`.
pub type HostFn<T> = dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync;

/// A function of some store: a wasm function of an instance, or a host function.
#[derive(Clone, Copy, Debug)]
pub struct Func {
    pub(crate) store_id: u64,
    pub(crate) funcref: NonNull<VMFuncRef>,
}

// SAFETY: like the other handles (see `externals.rs`): the pointer is only
// followed with the owning store borrowed.
unsafe impl Send for Func {}
// SAFETY: as above.
unsafe impl Sync for Func {}

impl PartialEq for Func {
    fn eq(&self, other: &Func) -> bool {
        self.store_id == other.store_id && self.funcref == other.funcref
    }
}

/// What a host function sees of its caller: the store's data, and the calling
/// instance's exports.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut StoreInner<T>,
    pub(crate) caller_vmctx: *mut u8,
}

// SAFETY: a caller is its store (which is `Send` for `T: Send`) plus the
// calling instance's VMContext, which belongs to that store; an async host
// function's future holds it across suspensions of a call that may resume
// on another thread, along with the store.
unsafe impl<T: Send> Send for Caller<'_, T> {}

impl<T> Caller<'_, T> {
    /// The store's data.
    pub fn data(&self) -> &T {
        &self.store.data
    }

    /// The store's data, writable.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data
    }

    /// The calling instance's export `name`, if the caller is a wasm instance.
    pub fn get_export(&mut self, name: &str) -> Option<Extern> {
        if self.caller_vmctx.is_null() {
            return None;
        }
        // SAFETY: a non-null caller vmctx is the live VMContext of the calling instance.
        let instance = unsafe { InstanceData::from_vmctx(self.caller_vmctx) };
        crate::externals::export_of(instance, self.store.opaque.id, name)
    }

    /// The bytes of `memory`, which must belong to this store.
    pub fn memory_data_mut(&mut self, memory: crate::Memory) -> Result<&mut [u8]> {
        memory.data_mut_opaque(&mut self.store.opaque)
    }
}

pub(crate) fn check_store(owner: u64, store: &StoreOpaque) -> Result<()> {
    if owner != store.id {
        return Err(Error::invalid_argument("object used with a store that does not own it"));
    }
    Ok(())
}

/// Converts a value to its raw form for `store`.
pub(crate) fn to_raw(v: &Val, store: &StoreOpaque) -> Result<ValRaw> {
    Ok(match *v {
        Val::I32(x) => ValRaw::from_u64(x as u32 as u64),
        Val::I64(x) => ValRaw::from_u64(x as u64),
        Val::F32(x) => ValRaw::from_u64(x as u64),
        Val::F64(x) => ValRaw::from_u64(x),
        Val::V128(x) => ValRaw::from_u128(x),
        Val::FuncRef(None) | Val::ExternRef(None) => ValRaw::from_u64(0),
        Val::FuncRef(Some(f)) => {
            check_store(f.store_id, store)?;
            ValRaw::from_u64(f.funcref.as_ptr() as u64)
        }
        Val::ExternRef(Some(x)) => ValRaw::from_u64(x.get() as u64),
    })
}

/// Converts a raw value of type `ty` from `store` to a value.
pub(crate) fn from_raw(raw: ValRaw, ty: ValType, store_id: u64) -> Val {
    match ty {
        ValType::I32 => Val::I32(raw.u32() as i32),
        ValType::I64 => Val::I64(raw.u64() as i64),
        ValType::F32 => Val::F32(raw.u32()),
        ValType::F64 => Val::F64(raw.u64()),
        ValType::V128 => Val::V128(raw.u128()),
        ValType::FuncRef => Val::FuncRef(
            NonNull::new(raw.u64() as usize as *mut VMFuncRef)
                .map(|funcref| Func { store_id, funcref }),
        ),
        ValType::ExternRef => Val::ExternRef(NonZeroUsize::new(raw.u64() as usize)),
    }
}

fn check_args(ty: &FuncType, params: &[Val], results_len: usize) -> Result<()> {
    if params.len() != ty.params().len() {
        return Err(Error::invalid_argument(format!(
            "function {ty} expects {} arguments, got {}",
            ty.params().len(),
            params.len()
        )));
    }
    for (i, (p, t)) in params.iter().zip(ty.params()).enumerate() {
        if p.ty() != *t {
            return Err(Error::invalid_argument(format!(
                "argument {i} has type {}, expected {t}",
                p.ty()
            )));
        }
    }
    if results_len != ty.results().len() {
        return Err(Error::invalid_argument(format!(
            "function {ty} returns {} results, space for {} was given",
            ty.results().len(),
            results_len
        )));
    }
    Ok(())
}

/// Calls the wasm function behind `funcref` with the raw values in `values`
/// (arguments in, results out), catching traps.
pub(crate) fn invoke_wasm(
    store: &mut StoreOpaque,
    funcref: *const VMFuncRef,
    values: &mut [ValRaw],
) -> Result<(), Trap> {
    // SAFETY: the funcref belongs to the live store `store`.
    let f = unsafe { *funcref };
    assert!(!f.array_call.is_null(), "escaping functions have an array-call trampoline");
    let sp = crate::runtime::traps::stack_pointer();
    let max_wasm_stack = store.engine.config().max_wasm_stack;
    let Some(limit) = crate::runtime::traps::entry_stack_limit(sp, max_wasm_stack) else {
        return Err(Trap::new(TrapCode::StackOverflow));
    };
    store.vm.stack_limit = limit;
    // SAFETY: `array_call` was compiled for this funcref's signature and
    // `values` holds at least max(params, results) slots; the VMContext and
    // everything it points to live as long as the store.
    let result = unsafe {
        crate::runtime::traps::catch_traps(
            std::mem::transmute::<*const u8, crate::runtime::traps::ArrayCallFn>(f.array_call),
            f.vmctx,
            std::ptr::null_mut(),
            values.as_mut_ptr().cast(),
            values.len(),
            limit,
        )
    };
    if let Some(panic) = store.pending_panic.take() {
        std::panic::resume_unwind(panic);
    }
    match result {
        Ok(()) => {
            store.pending_trap = None;
            Ok(())
        }
        Err(info) => Err(match info.code {
            TrapCode::Host => {
                store.pending_trap.take().unwrap_or_else(|| Trap::new(TrapCode::Host))
            }
            code => Trap::new(code),
        }
        .with_frames(crate::runtime::traps::backtrace::resolve(&info.pcs))),
    }
}

impl Func {
    /// A host function of type `ty` in `store`.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Result<Func> {
        Func::new_host::<T>(store.opaque(), ty, Arc::new(f))
    }

    pub(crate) fn new_host<T: 'static>(
        store: &mut StoreOpaque,
        ty: FuncType,
        callback: Arc<HostFn<T>>,
    ) -> Result<Func> {
        let type_id = store.engine.intern(&ty);
        let stub = store.engine.host_stub(type_id)?;
        let mut ctx = HostContext::new(ty, type_id, stub, host_entry::<T>, Box::new(callback));
        let funcref = NonNull::from(&mut ctx.funcref);
        store.host_funcs.push(ctx);
        Ok(Func { store_id: store.id, funcref })
    }

    /// The function's signature.
    pub fn ty<T>(&self, store: &Store<T>) -> FuncType {
        self.ty_ref(store).clone()
    }

    fn ty_ref<'a, T>(&self, store: &'a Store<T>) -> &'a FuncType {
        // SAFETY: the funcref lives as long as its store; the id check
        // happens in `call`, and reading a type id is harmless either way.
        let id = unsafe { self.funcref.as_ref().type_id };
        store.engine().func_type(id)
    }

    /// Calls the function. Three outcomes: an error (bad arguments: nothing
    /// ran), a trap (`ErrorKind::Trap`, with [`Error::trap`]), or the results
    /// written into `results`.
    pub fn call<T: 'static>(
        &self,
        store: &mut Store<T>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        check_store(self.store_id, store.opaque_ref())?;
        // The signature lives in the engine, which the store keeps alive and
        // never removes signatures from; a pointer avoids holding a borrow of
        // the store across the call.
        let ty: *const FuncType = self.ty_ref(store);
        // SAFETY: see above.
        let ty = unsafe { &*ty };
        check_args(ty, params, results.len())?;
        // SAFETY: the funcref belongs to `store` (checked above).
        let f = unsafe { *self.funcref.as_ptr() };
        // SAFETY: every funcref's vmctx points to a VMContext or a HostContext,
        // both starting with their magic word.
        let magic = unsafe { *(f.vmctx as *const u32) };
        if magic == HOST_CONTEXT_MAGIC {
            // SAFETY: the magic identifies a host context of this store.
            let ctx = unsafe { &*(f.vmctx as *const HostContext) };
            let callback = ctx
                .callback
                .downcast_ref::<Arc<HostFn<T>>>()
                .expect("host function of this store's type")
                .clone();
            let caller = Caller { store: &mut store.inner, caller_vmctx: std::ptr::null_mut() };
            return run_host(&*callback, caller, params, results, ty).map_err(Error::from_trap);
        }
        debug_assert_eq!(magic, VMCTX_MAGIC);
        let store_ref = store.opaque();
        let n = params.len().max(results.len());
        let mut inline = [ValRaw::default(); 8];
        let mut heap = Vec::new();
        let values: &mut [ValRaw] = if n <= inline.len() {
            &mut inline[..n]
        } else {
            heap.resize(n, ValRaw::default());
            &mut heap
        };
        for (slot, p) in values.iter_mut().zip(params) {
            *slot = to_raw(p, store_ref)?;
        }
        invoke_wasm(store_ref, self.funcref.as_ptr(), values).map_err(Error::from_trap)?;
        for ((r, raw), t) in results.iter_mut().zip(values.iter()).zip(ty.results()) {
            *r = from_raw(*raw, *t, store_ref.id);
        }
        Ok(())
    }
}

impl Func {
    /// Calls the function as a resumable call: the returned future runs it
    /// on a stack of its own (from the pool's stack slab on a pooled
    /// engine) whenever it is polled, until the call returns, traps or
    /// reaches a suspension point (an epoch deadline the store yields at,
    /// a fuel yield interval, an async host function that is pending), where
    /// the poll returns `Pending`. Any executor may poll it, from any thread.
    /// Dropping it unfinished abandons the call: the suspension point traps,
    /// the call unwinds through the ordinary trap path and its stack goes
    /// back. The outcomes are [`Func::call`]'s, plus an `InvalidArgument`
    /// error without `Config::async_support` and `PoolExhausted` when the
    /// pool has no stack left (both before anything ran).
    pub async fn call_async<T: Send + 'static>(
        &self,
        store: &mut Store<T>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        let engine = store.engine().clone();
        let func = *self;
        crate::runtime::fiber::run(&engine, move || func.call(store, params, results))?.await
    }
}

/// The future an async host function returns: it borrows the caller and the
/// values for as long as it runs.
pub type HostFuture<'a> = Box<dyn std::future::Future<Output = Result<(), Trap>> + Send + 'a>;

/// Runs an async host function's future on the fiber of the resumable call
/// that called it (see `Linker::func_new_async`); a trap when the call is
/// not a resumable one or is being abandoned.
pub(crate) fn block_on_host(future: HostFuture<'_>) -> Result<(), Trap> {
    if !crate::runtime::fiber::on_fiber() {
        return Err(Trap::host(
            "an async host function was called outside a resumable call (use call_async)",
        ));
    }
    crate::runtime::fiber::block_on(Box::into_pin(future))
        .unwrap_or_else(|_| Err(Trap::host("the resumable call was abandoned")))
}

/// Runs a host closure and checks the kinds of its results.
fn run_host<T>(
    callback: &HostFn<T>,
    caller: Caller<'_, T>,
    params: &[Val],
    results: &mut [Val],
    ty: &FuncType,
) -> Result<(), Trap> {
    for (r, t) in results.iter_mut().zip(ty.results()) {
        *r = Val::default_for(*t);
    }
    callback(caller, params, results)?;
    for (r, t) in results.iter().zip(ty.results()) {
        if r.ty() != *t {
            return Err(Trap::host(format!(
                "host function returned a {} where its type says {t}",
                r.ty()
            )));
        }
    }
    Ok(())
}

/// The Rust entry of every host function called from wasm (see `runtime::host`).
///
/// # Safety
/// Called only by a compiled host stub, with the function's live context, the
/// calling instance's VMContext and an array of `len` value slots.
unsafe extern "C" fn host_entry<T: 'static>(
    ctx: *mut HostContext,
    caller_vmctx: *mut u8,
    values: *mut u8,
    len: usize,
) -> u32 {
    // SAFETY: per the contract; the caller's VMContext points at its store
    // context, whose `store` field is the `StoreInner<T>` owning this function.
    let (ctx, store) = unsafe {
        let vm = *(caller_vmctx.add(VMCTX_STORE_CONTEXT as usize) as *const *mut VMStoreContext);
        (&*ctx, &mut *((*vm).store as *mut StoreInner<T>))
    };
    // SAFETY: the stub passes `len` slots.
    let values = unsafe { std::slice::from_raw_parts_mut(values as *mut ValRaw, len) };
    let store_id = store.opaque.id;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let callback = ctx
            .callback
            .downcast_ref::<Arc<HostFn<T>>>()
            .expect("host function of this store's type")
            .clone();
        let params: Vec<Val> = ctx
            .ty
            .params()
            .iter()
            .zip(values.iter())
            .map(|(t, raw)| from_raw(*raw, *t, store_id))
            .collect();
        let mut results = vec![Val::I32(0); ctx.ty.results().len()];
        let caller = Caller { store: &mut *store, caller_vmctx };
        run_host(&*callback, caller, &params, &mut results, &ctx.ty)?;
        let raws = results.iter().map(|r| to_raw(r, &store.opaque)).collect::<Result<Vec<_>>>();
        raws.map_err(|e| Trap::host(e.message().to_string()))
    }));
    match outcome {
        Ok(Ok(raws)) => {
            values[..raws.len()].copy_from_slice(&raws);
            1
        }
        Ok(Err(trap)) => {
            store.opaque.pending_trap = Some(trap);
            0
        }
        Err(panic) => {
            store.opaque.pending_panic = Some(panic);
            0
        }
    }
}
