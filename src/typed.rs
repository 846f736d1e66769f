//! Typed function calls: the fast path for hosts that know a function's
//! signature at compile time.
//!
//! `func.typed::<(i32, i64), f64>(&store)?` checks the signature once; each
//! `call` then writes the arguments straight into the raw value slots and
//! enters wasm, with no `Val` conversion and no per-call type check.

use crate::error::{Error, Result};
use crate::func::{Func, check_store};
use crate::store::Store;
use crate::types::ValType;
use crate::values::{Val, ValRaw};
use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is a WebAssembly value type: `i32`, `i64`, `f32`, `f64`.
pub trait WasmTy: Copy + sealed::Sealed {
    /// The WebAssembly type.
    const TY: ValType;
    #[doc(hidden)]
    fn to_bits(self) -> u128;
    #[doc(hidden)]
    fn from_bits(bits: u128) -> Self;
}

macro_rules! wasm_ty {
    ($($t:ty => $v:ident, $to:expr, $from:expr;)*) => {$(
        impl sealed::Sealed for $t {}
        impl WasmTy for $t {
            const TY: ValType = ValType::$v;
            fn to_bits(self) -> u128 {
                let f: fn($t) -> u128 = $to;
                f(self)
            }
            fn from_bits(bits: u128) -> $t {
                let f: fn(u128) -> $t = $from;
                f(bits)
            }
        }
    )*};
}

wasm_ty! {
    i32 => I32, |v| v as u32 as u128, |b| b as u32 as i32;
    i64 => I64, |v| v as u64 as u128, |b| b as u64 as i64;
    f32 => F32, |v| v.to_bits() as u128, |b| f32::from_bits(b as u32);
    f64 => F64, |v| v.to_bits() as u128, |b| f64::from_bits(b as u64);
}

/// A list of values: `()`, one [`WasmTy`], or a tuple of up to four.
pub trait WasmList: Sized + sealed::Sealed {
    /// Number of values.
    const LEN: usize;
    #[doc(hidden)]
    fn types() -> Vec<ValType>;
    #[doc(hidden)]
    fn store(self, out: &mut [u128]);
    #[doc(hidden)]
    fn load(from: &[u128]) -> Self;
}

impl sealed::Sealed for () {}
impl WasmList for () {
    const LEN: usize = 0;
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    fn store(self, _: &mut [u128]) {}
    fn load(_: &[u128]) {}
}

impl<A: WasmTy> WasmList for A {
    const LEN: usize = 1;
    fn types() -> Vec<ValType> {
        vec![A::TY]
    }
    fn store(self, out: &mut [u128]) {
        out[0] = self.to_bits();
    }
    fn load(from: &[u128]) -> A {
        A::from_bits(from[0])
    }
}

macro_rules! wasm_tuple {
    ($n:expr; $($t:ident $i:tt),*) => {
        impl<$($t: WasmTy),*> sealed::Sealed for ($($t,)*) {}
        impl<$($t: WasmTy),*> WasmList for ($($t,)*) {
            const LEN: usize = $n;
            fn types() -> Vec<ValType> {
                vec![$($t::TY),*]
            }
            fn store(self, out: &mut [u128]) {
                $(out[$i] = self.$i.to_bits();)*
            }
            fn load(from: &[u128]) -> Self {
                ($($t::from_bits(from[$i]),)*)
            }
        }
    };
}

wasm_tuple!(1; A 0);
wasm_tuple!(2; A 0, B 1);
wasm_tuple!(3; A 0, B 1, C 2);
wasm_tuple!(4; A 0, B 1, C 2, D 3);

/// A function whose signature was checked once: `P` are the parameters, `R`
/// the results.
pub struct TypedFunc<P, R> {
    func: Func,
    _types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl Func {
    /// This function with a checked signature, for fast calls. An
    /// `InvalidArgument` error when the signature is not `P -> R`.
    pub fn typed<P: WasmList, R: WasmList>(
        &self,
        store: &Store<impl Sized>,
    ) -> Result<TypedFunc<P, R>> {
        check_store(self.store_id, store.opaque_ref())?;
        let ty = self.ty(store);
        if ty.params() != P::types().as_slice() || ty.results() != R::types().as_slice() {
            return Err(Error::invalid_argument(format!(
                "function has type {ty}, not the requested {}",
                crate::types::FuncType::new(P::types(), R::types())
            )));
        }
        Ok(TypedFunc { func: *self, _types: PhantomData })
    }
}

impl<P: WasmList, R: WasmList> TypedFunc<P, R> {
    /// Calls the function: the results, or an error of kind `Trap`.
    pub fn call<T: 'static>(&self, store: &mut Store<T>, params: P) -> Result<R> {
        check_store(self.func.store_id, store.opaque_ref())?;
        let mut bits = [0u128; 4];
        params.store(&mut bits);
        // SAFETY: the funcref belongs to `store` (checked above).
        let f = unsafe { *self.func.funcref.as_ptr() };
        if f.array_call.is_null() {
            // A host function: take the general path.
            let args: Vec<Val> = P::types()
                .iter()
                .zip(&bits)
                .map(|(t, b)| crate::func::from_raw(ValRaw::from_u128(*b), *t, 0))
                .collect();
            let mut results = vec![Val::I32(0); R::LEN];
            self.func.call(store, &args, &mut results)?;
            let raws: Vec<u128> = results
                .iter()
                .map(|v| crate::func::to_raw(v, store.opaque_ref()).map(|r| r.u128()))
                .collect::<Result<_>>()?;
            return Ok(R::load(&raws));
        }
        let mut values = [ValRaw::default(); 4];
        for (v, b) in values.iter_mut().zip(bits) {
            *v = ValRaw::from_u128(b);
        }
        let n = P::LEN.max(R::LEN);
        crate::func::invoke_wasm(store.opaque(), self.func.funcref.as_ptr(), &mut values[..n])
            .map_err(Error::from_trap)?;
        let out: [u128; 4] = std::array::from_fn(|i| values[i].u128());
        Ok(R::load(&out))
    }

    /// The untyped function.
    pub fn func(&self) -> Func {
        self.func
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn typed_calls_check_the_signature_once() {
        let engine = Engine::new(&Config::default()).unwrap();
        let wasm = wat::parse_str(
            r#"(module (func (export "mix") (param i32 i64 f32 f64) (result f64 i32)
                (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (f64.convert_i64_s (local.get 1)))
                         (f64.add (f64.promote_f32 (local.get 2)) (local.get 3)))
                (i32.const 7)))"#,
        )
        .unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let mix = instance.get_func(&mut store, "mix").unwrap();
        let typed = mix.typed::<(i32, i64, f32, f64), (f64, i32)>(&store).unwrap();
        assert_eq!(typed.call(&mut store, (1, 2, 0.5, 0.25)).unwrap(), (3.75, 7));
        let wrong = mix.typed::<(i32,), i32>(&store).err().unwrap();
        assert_eq!(wrong.kind(), ErrorKind::InvalidArgument);
        assert!(wrong.message().contains("(param i32 i64 f32 f64)"), "{}", wrong.message());
    }
}
