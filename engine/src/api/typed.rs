//! Typed calls: `WasmTy`, `WasmParams`, `WasmResults`, `TypedFunc`.

use super::*;

/// A Rust type that is a wasm value type.
pub trait WasmTy: Sized {
    const TYPE: ValType;
    fn into_val(self) -> Val;
    fn from_val(v: Val) -> Self;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, $v:ident => $into:expr, $x:ident => $from:expr) => {
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn into_val(self) -> Val {
                let $v = self;
                Val::$vt($into)
            }
            fn from_val(v: Val) -> Self {
                match v {
                    Val::$vt($x) => $from,
                    other => unreachable!("type checked at TypedFunc creation: {other:?}"),
                }
            }
        }
    };
}
wasm_ty!(i32, I32, v => v, x => x);
wasm_ty!(u32, I32, v => v as i32, x => x as u32);
wasm_ty!(i64, I64, v => v, x => x);
wasm_ty!(u64, I64, v => v as i64, x => x as u64);
wasm_ty!(f32, F32, v => v.to_bits(), x => f32::from_bits(x));
wasm_ty!(f64, F64, v => v.to_bits(), x => f64::from_bits(x));

impl WasmTy for Option<ExternRef> {
    const TYPE: ValType = ValType::ExternRef;
    fn into_val(self) -> Val {
        Val::ExternRef(self)
    }
    fn from_val(v: Val) -> Self {
        match v {
            Val::ExternRef(r) => r,
            other => unreachable!("type checked at TypedFunc creation: {other:?}"),
        }
    }
}

pub trait WasmParams {
    fn types() -> Vec<ValType>;
    fn into_vals(self) -> Vec<Val>;
}

pub trait WasmResults: Sized {
    fn types() -> Vec<ValType>;
    fn from_vals(v: &[Val]) -> Self;
}

impl<A: WasmTy> WasmParams for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

impl<A: WasmTy> WasmResults for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    fn from_vals(v: &[Val]) -> Self {
        A::from_val(v[0].clone())
    }
}

macro_rules! tuples {
    ($($n:ident $i:tt),*) => {
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::TYPE),*] }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> { vec![$(self.$i.into_val()),*] }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::TYPE),*] }
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_vals(v: &[Val]) -> Self { ($($n::from_val(v[$i].clone()),)*) }
        }
    };
}
tuples!();
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);

/// A function with static parameter and result types.
pub struct TypedFunc<P, R> {
    pub(super) func: Func,
    pub(super) _marker: std::marker::PhantomData<fn(P) -> R>,
}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub fn call<T: 'static>(&self, store: &mut Store<T>, params: P) -> Result<R, Error> {
        let args = params.into_vals();
        let mut results: Vec<Val> = R::types()
            .iter()
            .map(|t| Val::default_for(*t).unwrap_or(Val::I32(0)))
            .collect();
        self.func.call(store, &args, &mut results)?;
        Ok(R::from_vals(&results))
    }

    pub fn func(&self) -> Func {
        self.func
    }
}
