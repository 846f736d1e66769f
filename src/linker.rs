//! The linker: definitions by (module, name), resolved against a module's
//! imports to instantiate it.
//!
//! Host functions are defined once per linker and materialized in each store
//! that instantiates with them. [`InstancePre`] resolves the names once, so
//! instantiating the same module many times only binds.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::externals::{Extern, Instance};
use crate::func::{Caller, Func, HostFn, HostFuture};
use crate::module::Module;
use crate::module::info::ImportKind;
use crate::store::Store;
use crate::trap::Trap;
use crate::types::FuncType;
use crate::values::Val;
use std::collections::HashMap;
use std::sync::Arc;

/// One definition of a linker.
enum Definition<T> {
    Extern(Extern),
    HostFunc(FuncType, Arc<HostFn<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(ty, f) => Definition::HostFunc(ty.clone(), f.clone()),
        }
    }
}

/// Definitions by (module, name) for instantiating modules of one engine.
pub struct Linker<T> {
    engine: Engine,
    defs: HashMap<(String, String), Definition<T>>,
}

/// A module with its imports resolved by a linker, ready to instantiate
/// repeatedly.
pub struct InstancePre<T> {
    module: Module,
    defs: Vec<Definition<T>>,
}

impl<T> Clone for InstancePre<T> {
    fn clone(&self) -> Self {
        InstancePre { module: self.module.clone(), defs: self.defs.clone() }
    }
}

impl<T: 'static> Linker<T> {
    /// An empty linker.
    pub fn new(engine: &Engine) -> Linker<T> {
        Linker { engine: engine.clone(), defs: HashMap::new() }
    }

    /// The linker's engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Defines `module::name` as `item`; a later definition shadows an earlier one.
    pub fn define(
        &mut self,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        self.defs.insert((module.to_string(), name.to_string()), Definition::Extern(item.into()));
        Ok(self)
    }

    /// Defines `module::name` as a host function of type `ty`.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        self.defs
            .insert((module.to_string(), name.to_string()), Definition::HostFunc(ty, Arc::new(f)));
        Ok(self)
    }

    /// Defines `module::name` as an async host function of type `ty`: `f`
    /// returns a future, which runs to completion on the calling wasm's
    /// stack; while it is pending, the resumable call suspends (its future
    /// returns `Pending`) and is polled again when the future's waker is
    /// woken. Only callable from resumable calls (`call_async`,
    /// `instantiate_async`); called from a synchronous call it traps.
    pub fn func_new_async<F>(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: F,
    ) -> Result<&mut Self>
    where
        F: for<'a> Fn(Caller<'a, T>, &'a [Val], &'a mut [Val]) -> HostFuture<'a>
            + Send
            + Sync
            + 'static,
    {
        self.func_new(module, name, ty, move |caller, params, results| {
            crate::func::block_on_host(f(caller, params, results))
        })
    }

    /// Defines every export of `instance` under `module_name`.
    pub fn instance(
        &mut self,
        store: &mut Store<T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        for (name, item) in instance.exports(store) {
            self.define(module_name, &name, item)?;
        }
        Ok(self)
    }

    /// The definition of `module::name`, if it is a store object.
    pub fn get(&self, module: &str, name: &str) -> Option<Extern> {
        match self.defs.get(&(module.to_string(), name.to_string()))? {
            Definition::Extern(e) => Some(*e),
            Definition::HostFunc(..) => None,
        }
    }

    /// Resolves `module`'s imports. Missing definitions and host functions of
    /// the wrong type are `ErrorKind::Link` errors; a module of another engine
    /// than the linker's is an `ErrorKind::InvalidArgument` error.
    pub fn instantiate_pre(&self, module: &Module) -> Result<InstancePre<T>> {
        // Found by the `capi` fuzz target: without this check a linker
        // resolved a module of another engine, and whether the result could
        // be instantiated depended on the store. A linker is for one engine.
        if !Engine::same(module.engine(), &self.engine) {
            return Err(Error::invalid_argument(
                "module belongs to another engine than the linker",
            ));
        }
        let info = module.info();
        let mut defs = Vec::with_capacity(info.imports.len());
        for import in &info.imports {
            let def =
                self.defs.get(&(import.module.clone(), import.name.clone())).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Link,
                        format!(
                            "unknown import: `{}::{}` has not been defined",
                            import.module, import.name
                        ),
                    )
                })?;
            if let (Definition::HostFunc(have, _), ImportKind::Func(t)) = (def, &import.kind) {
                let want = &info.types[*t as usize];
                if have != want {
                    return Err(Error::new(
                        ErrorKind::Link,
                        format!(
                            "incompatible import type for `{}::{}`: expected {want}, found {have}",
                            import.module, import.name
                        ),
                    ));
                }
            }
            defs.push(def.clone());
        }
        Ok(InstancePre { module: module.clone(), defs })
    }

    /// Resolves `module`'s imports and instantiates it in `store`.
    pub fn instantiate(&self, store: &mut Store<T>, module: &Module) -> Result<Instance> {
        self.instantiate_pre(module)?.instantiate(store)
    }

    /// [`Linker::instantiate`] as a resumable call (see
    /// [`InstancePre::instantiate_async`]).
    pub async fn instantiate_async(&self, store: &mut Store<T>, module: &Module) -> Result<Instance>
    where
        T: Send,
    {
        self.instantiate_pre(module)?.instantiate_async(store).await
    }
}

impl<T: 'static> InstancePre<T> {
    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Instantiates in `store` (see [`Instance::new`] for the outcomes).
    pub fn instantiate(&self, store: &mut Store<T>) -> Result<Instance> {
        let mut imports = Vec::with_capacity(self.defs.len());
        for def in &self.defs {
            imports.push(match def {
                Definition::Extern(e) => *e,
                Definition::HostFunc(ty, f) => {
                    Extern::Func(Func::new_host::<T>(store.opaque(), ty.clone(), f.clone())?)
                }
            });
        }
        Instance::new(store, &self.module, &imports)
    }

    /// Instantiates in `store` as a resumable call: the whole instantiation,
    /// start function included, runs on a stack of its own, so the start
    /// function may suspend as a call made with `Func::call_async` does
    /// (see there for the stack, the outcomes and abandoning the future).
    pub async fn instantiate_async(&self, store: &mut Store<T>) -> Result<Instance>
    where
        T: Send,
    {
        let engine = store.engine().clone();
        crate::runtime::fiber::run(&engine, move || self.instantiate(store))?.await
    }
}
