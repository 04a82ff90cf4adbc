//! Host-side conveniences shared by `wasmscope run` and the debugger: stand-ins
//! for imports the host lacks, arguments of an exported function parsed from
//! text, and values printed as text.

use crate::{
    Error, Extern, ExternRef, ExternType, Func, Global, Linker, Memory, Module, Store, Table, Val,
    ValType,
};

/// The host value a stubbed import hands out for an externref result; its
/// `Debug` text is its label, `module.field#N` for the Nth call.
struct StubHandle {
    label: String,
}

impl std::fmt::Debug for StubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Defines a stand-in for every import of `module` that `linker` cannot
/// resolve: functions return zeros (an externref result is a fresh host
/// value labelled `module.field#N`) and report each call to `log`; memories,
/// tables and globals are fresh ones of the imported type.
pub fn define_stubs<T: 'static>(
    store: &mut Store<T>,
    linker: &mut Linker<T>,
    module: &Module,
    log: impl Fn(String) + Clone + 'static,
) -> Result<(), Error> {
    for (m, n, ty) in module.imports() {
        if linker.get(m, n) {
            continue;
        }
        let name = format!("{m}.{n}");
        let item = match ty {
            ExternType::Func(ty) => {
                let calls = std::cell::Cell::new(0u32);
                let results = ty.results.clone();
                let log = log.clone();
                let f = Func::new(store, ty, move |_, params, out| {
                    calls.set(calls.get() + 1);
                    for (slot, t) in out.iter_mut().zip(&results) {
                        *slot = match t {
                            ValType::ExternRef => {
                                Val::ExternRef(Some(ExternRef::new_debug(StubHandle {
                                    label: format!("{name}#{}", calls.get()),
                                })))
                            }
                            t => Val::default_for(*t).unwrap_or(Val::I32(0)),
                        };
                    }
                    let show = |v: &[Val]| v.iter().map(format_val).collect::<Vec<_>>().join(", ");
                    log(format!("stub: {name}({}) -> ({})", show(params), show(out)));
                    Ok(())
                })?;
                Extern::Func(f)
            }
            ExternType::Memory { minimum, maximum } => {
                Extern::Memory(Memory::new(store, minimum, maximum)?)
            }
            ExternType::Table {
                element,
                minimum,
                maximum,
            } => {
                let init = Val::default_for(element).unwrap_or(Val::FuncRef(None));
                Extern::Table(Table::new(store, element, minimum, maximum, init)?)
            }
            ExternType::Global { ty, mutable } => {
                let v = Val::default_for(ty).unwrap_or(Val::I32(0));
                Extern::Global(Global::new(store, v, mutable)?)
            }
        };
        linker.define(m, n, item);
    }
    Ok(())
}

/// The arguments of export `name` (of parameter types `types`) parsed from
/// text: decimal or `0x` integers (signed or unsigned), floats.
pub fn parse_args(name: &str, types: &[ValType], args: &[String]) -> Result<Vec<Val>, String> {
    if types.len() != args.len() {
        return Err(format!(
            "`{name}` takes {} argument(s) ({}), {} given",
            types.len(),
            types
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            args.len()
        ));
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (t, a))| {
            let bad = || format!("argument {} of `{name}` must be {t}, got `{a}`", i + 1);
            let int = |bits: u32| {
                let v = parse_int(a)?;
                let (min, max) = (-(1i128 << (bits - 1)), (1i128 << bits) - 1);
                (min..=max).contains(&v).then_some(v)
            };
            Ok(match t {
                ValType::I32 => Val::I32(int(32).ok_or_else(bad)? as u32 as i32),
                ValType::I64 => Val::I64(int(64).ok_or_else(bad)? as u64 as i64),
                ValType::F32 => Val::F32(a.parse::<f32>().map_err(|_| bad())?.to_bits()),
                ValType::F64 => Val::F64(a.parse::<f64>().map_err(|_| bad())?.to_bits()),
                other => {
                    return Err(format!(
                        "argument {} of `{name}` has type {other}, which cannot be given as text",
                        i + 1
                    ))
                }
            })
        })
        .collect()
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// A value as `wasmscope run` prints results: numbers in decimal, vectors
/// in hex, references by what they hold.
pub fn format_val(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) => "null".into(),
        Val::FuncRef(Some(_)) => "funcref".into(),
        Val::ExternRef(None) => "null extern".into(),
        Val::ExternRef(Some(r)) => {
            let d = r.describe();
            match d.debug {
                Some(text) => format!("externref({text})"),
                None => format!("externref({} at {:#x})", d.type_name, d.address),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_by_type_and_range() {
        let types = [ValType::I32, ValType::I64, ValType::F64];
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let v = parse_args("f", &types, &args(&["0xffffffff", "-2", "1.5"])).unwrap();
        assert_eq!(v, [Val::I32(-1), Val::I64(-2), Val::F64(1.5f64.to_bits())]);
        assert!(parse_args("f", &types, &args(&["0x1ffffffff", "0", "0"])).is_err());
        assert!(parse_args("f", &types, &args(&["1"]))
            .unwrap_err()
            .contains("3 argument(s)"));
    }
}
