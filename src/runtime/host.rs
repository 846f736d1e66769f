//! Host functions as wasm sees them.
//!
//! A host function is called from wasm through a compiled stub (see
//! `compile::trampolines::host_stub`) whose "vmctx" is a [`HostContext`]. The
//! stub finds the Rust entry point at a fixed offset of the context, so the
//! compiled code contains no absolute address. The entry converts the raw
//! arguments, runs the closure inside `catch_unwind`, and reports failure by
//! returning 0, which the stub turns into a `Host` trap.

use crate::runtime::vmcontext::VMFuncRef;
use crate::types::FuncType;
use std::any::Any;

/// The first word of every host context (`"wphf"`), telling it from a VMContext.
pub(crate) const HOST_CONTEXT_MAGIC: u32 = u32::from_le_bytes(*b"wphf");
/// Offset of the entry-point pointer in [`HostContext`].
pub(crate) const HOST_CONTEXT_CALL: u32 = 8;

/// The entry point a host stub calls: `(context, caller_vmctx, values, len) -> ok`.
pub(crate) type HostEntry = unsafe extern "C" fn(*mut HostContext, *mut u8, *mut u8, usize) -> u32;

/// The context of one host function in one store.
#[repr(C)]
pub(crate) struct HostContext {
    pub magic: u32,
    _pad: u32,
    pub entry: HostEntry,
    /// The function reference wasm and the host use for this function.
    pub funcref: VMFuncRef,
    pub ty: FuncType,
    /// The closure, type-erased (its concrete type depends on the store's data type).
    pub callback: Box<dyn Any + Send + Sync>,
}

impl HostContext {
    /// A boxed context whose funcref points back at itself.
    pub(crate) fn new(
        ty: FuncType,
        type_id: u32,
        wasm_call: *const u8,
        entry: HostEntry,
        callback: Box<dyn Any + Send + Sync>,
    ) -> Box<HostContext> {
        let mut ctx = Box::new(HostContext {
            magic: HOST_CONTEXT_MAGIC,
            _pad: 0,
            entry,
            funcref: VMFuncRef {
                array_call: std::ptr::null(),
                wasm_call,
                vmctx: std::ptr::null_mut(),
                type_id,
            },
            ty,
            callback,
        });
        ctx.funcref.vmctx = (&mut *ctx as *mut HostContext).cast();
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn entry_sits_where_the_stub_loads_it() {
        assert_eq!(offset_of!(HostContext, entry) as u32, HOST_CONTEXT_CALL);
        assert_eq!(offset_of!(HostContext, magic), 0);
    }
}
