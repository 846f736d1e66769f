//! The engine: configuration, the Cranelift target, the engine-wide signature
//! registry, the host-function stubs, and the instance allocator.
//!
//! An engine is cheap to clone (an `Arc`) and may be shared by any number of
//! threads; modules and stores keep it alive.

use crate::alloc::on_demand::OnDemandAllocator;
use crate::alloc::InstanceAllocator;
use crate::compile::code_memory::CodeMemory;
use crate::config::Config;
use crate::error::Result;
use crate::module::info::ModuleInfo;
use crate::runtime::vmcontext::VMOffsets;
use crate::types::FuncType;
use cranelift_codegen::isa::{OwnedTargetIsa, TargetIsa};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

/// A compilation and execution environment.
#[derive(Clone)]
pub struct Engine(Arc<EngineInner>);

struct EngineInner {
    config: Config,
    isa: OwnedTargetIsa,
    allocator: Box<dyn InstanceAllocator>,
    types: RwLock<TypeRegistry>,
    host_stubs: Mutex<HashMap<u32, Arc<CodeMemory>>>,
}

/// Interns function signatures: equal signatures get equal ids.
#[derive(Default)]
struct TypeRegistry {
    ids: HashMap<FuncType, u32>,
    types: Vec<FuncType>,
}

impl Engine {
    /// An engine with the on-demand allocator.
    pub fn new(config: &Config) -> Result<Engine> {
        crate::runtime::traps::init_traps();
        Ok(Engine(Arc::new(EngineInner {
            config: config.clone(),
            isa: crate::compile::host_isa()?,
            allocator: Box::new(OnDemandAllocator::new(config)),
            types: RwLock::new(TypeRegistry::default()),
            host_stubs: Mutex::new(HashMap::new()),
        })))
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub(crate) fn isa(&self) -> &dyn TargetIsa {
        &*self.0.isa
    }

    pub(crate) fn allocator(&self) -> &dyn InstanceAllocator {
        &*self.0.allocator
    }

    /// Rejects modules the allocator could never instantiate.
    pub(crate) fn check_module(&self, _info: &ModuleInfo, _offsets: &VMOffsets) -> Result<()> {
        Ok(())
    }

    /// The engine-wide id of a signature.
    pub(crate) fn intern(&self, ty: &FuncType) -> u32 {
        if let Some(id) = self.0.types.read().ids.get(ty) {
            return *id;
        }
        let mut reg = self.0.types.write();
        if let Some(id) = reg.ids.get(ty) {
            return *id;
        }
        let id = reg.types.len() as u32;
        reg.types.push(ty.clone());
        reg.ids.insert(ty.clone(), id);
        id
    }

    /// The signature with id `id`.
    pub(crate) fn func_type(&self, id: u32) -> FuncType {
        self.0.types.read().types[id as usize].clone()
    }

    /// The compiled stub that lets wasm call a host function of signature `id`.
    pub(crate) fn host_stub(&self, id: u32) -> Result<*const u8> {
        let mut stubs = self.0.host_stubs.lock();
        if let Some(code) = stubs.get(&id) {
            return Ok(code.addr((2, 0)).expect("stub present"));
        }
        let ty = self.func_type(id);
        let isa = self.isa();
        let mut fctx = cranelift_frontend::FunctionBuilderContext::new();
        let func = crate::compile::trampolines::host_stub(&ty, isa.default_call_conv(), isa.frontend_config(), &mut fctx);
        let compiled = crate::compile::compile_function(isa, &mut cranelift_codegen::Context::new(), func)?;
        let code = Arc::new(CodeMemory::new(vec![compiled])?);
        let addr = code.addr((2, 0)).expect("stub present");
        stubs.insert(id, code);
        Ok(addr)
    }

    /// Whether two handles refer to the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}
