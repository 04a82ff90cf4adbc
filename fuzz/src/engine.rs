//! Target 1, the engine differential: a wasm-smith module (the engine's
//! feature set, NaNs canonical, every loop and call paying fuel so it
//! terminates) is instantiated and every exported function called, in
//! wasmscope and in the wasmi interpreter; results, trap kinds, exported
//! globals, memories and tables must agree after every call.
//!
//! wasmscope runs in one of three configurations, chosen by the seed: the
//! plain optimized compile (`wasmscope run`), and the two debug compiles
//! the debugger uses (hooks with mirrored locals, hooks with live locals)
//! with the debug flag set, so a handler stops before every instruction
//! and reads the frame (locals, frames, globals) and writes a local back,
//! as a debugger would: the debugger's own view of a frame must not
//! change what the program computes.

use crate::rng::Rng;
use crate::run::{Finding, Verdict};
use arbitrary::Unstructured;
use std::cell::Cell;
use std::rc::Rc;
use wasmscope_engine as ws;

/// The engine configuration a seed selects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Plain,
    HooksMirrored,
    HooksLive,
}

impl Mode {
    pub fn of_seed(seed: u64) -> Mode {
        [Mode::Plain, Mode::HooksMirrored, Mode::HooksLive][(seed % 3) as usize]
    }
}

/// Turns one proposal on in wasm-smith's configuration.
type Switch = fn(&mut wasm_smith::Config);

/// The proposals wasm-smith can generate, each with the engine feature
/// that turns it on. A feature `supported_features()` gains turns the
/// generator's on by itself; one it cannot generate is listed in
/// the test's `NOT_GENERATED` (which holds the two lists to the engine's
/// set).
const GENERATED: &[(ws::wasmparser::WasmFeatures, Switch)] = {
    use ws::wasmparser::WasmFeatures as F;
    &[
        (F::BULK_MEMORY, |c| c.bulk_memory_enabled = true),
        (F::REFERENCE_TYPES, |c| c.reference_types_enabled = true),
        (F::SIMD, |c| c.simd_enabled = true),
        (F::RELAXED_SIMD, |c| c.relaxed_simd_enabled = true),
        (F::MULTI_VALUE, |c| c.multi_value_enabled = true),
        (F::SATURATING_FLOAT_TO_INT, |c| {
            c.saturating_float_to_int_enabled = true
        }),
        (F::SIGN_EXTENSION, |c| c.sign_extension_ops_enabled = true),
        (F::TAIL_CALL, |c| c.tail_call_enabled = true),
        (F::MEMORY64, |c| c.memory64_enabled = true),
        (F::EXCEPTIONS, |c| c.exceptions_enabled = true),
        (F::THREADS, |c| c.threads_enabled = true),
        (F::CUSTOM_PAGE_SIZES, |c| c.custom_page_sizes_enabled = true),
        (F::GC, |c| c.gc_enabled = true),
    ]
};

/// The generator's settings: every proposal `supported_features()`
/// enables that wasm-smith can generate (and no other), and sizes the
/// reference can allocate.
fn smith_config() -> wasm_smith::Config {
    let mut config = wasm_smith::Config {
        max_imports: 0,
        max_memories: 1,
        max_tables: 3,
        max_funcs: 20,
        max_instructions: 200,
        max_memory32_bytes: 4 << 20,
        memory_max_size_required: true,
        max_table_elements: 1000,
        table_max_size_required: true,
        min_funcs: 1,
        min_exports: 1,
        canonicalize_nans: true,
        export_everything: true,
        allow_start_export: true,
        // Off unless the engine supports them (below).
        bulk_memory_enabled: false,
        reference_types_enabled: false,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        multi_value_enabled: false,
        saturating_float_to_int_enabled: false,
        sign_extension_ops_enabled: false,
        tail_call_enabled: false,
        memory64_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        custom_page_sizes_enabled: false,
        gc_enabled: false,
        ..wasm_smith::Config::default()
    };
    let supported = ws::supported_features();
    for (feature, on) in GENERATED {
        if supported.contains(*feature) {
            on(&mut config);
        }
    }
    config
}

/// The module of a seed.
pub fn generate(seed: u64) -> Option<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let len = 64 + rng.below(16 * 1024) as usize;
    let data = rng.bytes(len);
    let mut u = Unstructured::new(&data);
    let mut module = wasm_smith::Module::new(smith_config(), &mut u).ok()?;
    module.ensure_termination(1 + rng.below(2000) as u32).ok()?;
    Some(module.to_bytes())
}

pub fn case(seed: u64) -> Verdict {
    let Some(wasm) = generate(seed) else {
        return Verdict::Skip;
    };
    check(&wasm, Mode::of_seed(seed), seed)
}

/// Runs one module both ways (also what `--check FILE` runs, for a
/// minimizer's predicate).
pub fn check(wasm: &[u8], mode: Mode, seed: u64) -> Verdict {
    if let Some(reason) = reference_cannot_run(wasm) {
        let _ = reason;
        return Verdict::Skip;
    }
    let mut rng = Rng::new(seed ^ 0x5eed);
    match compare(wasm, mode, &mut rng) {
        Ok(()) => Verdict::Pass,
        Err(Outcome::Inconclusive) => Verdict::Skip,
        Err(Outcome::Differs(what)) => Verdict::Finding(
            Finding::new(format!("{what} (engine mode {mode:?})"))
                .details(format!(
                    "wasmscope ({mode:?}) and wasmi disagree on case.wasm.\n\
                     check again: wasmscope-fuzz engine --check case.wasm --mode {}\n\
                     minimize:    wasm-tools shrink ./pred.sh case.wasm   (pred.sh: `wasmscope-fuzz engine --check \"$1\" --mode {}; test $? = 1`)\n\
                     text:        wasm-tools print case.wasm",
                    mode_name(mode),
                    mode_name(mode)
                ))
                .file("case.wasm", wasm.to_vec()),
        ),
    }
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "plain",
        Mode::HooksMirrored => "mirrored",
        Mode::HooksLive => "live",
    }
}

pub fn parse_mode(s: &str) -> Option<Mode> {
    [Mode::Plain, Mode::HooksMirrored, Mode::HooksLive]
        .into_iter()
        .find(|m| mode_name(*m) == s)
}

/// The two bugs wasmi 2.0.0 is known to have, so that its wrong answers
/// are not reported as ours: `v128.store8_lane`/`store16_lane` with an
/// offset of 65536 or more (it crashes), and `if` blocks with parameters
/// (a value is lost).
fn reference_cannot_run(wasm: &[u8]) -> Option<&'static str> {
    use ws::wasmparser::{BlockType, Operator, Parser, Payload};
    let mut types_with_params = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::TypeSection(reader) => {
                for group in reader.into_iter() {
                    for ty in group.ok()?.into_types() {
                        let params = match &ty.composite_type.inner {
                            ws::wasmparser::CompositeInnerType::Func(f) => !f.params().is_empty(),
                            _ => false,
                        };
                        types_with_params.push(params);
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().ok()?;
                while !ops.eof() {
                    match ops.read().ok()? {
                        Operator::V128Store8Lane { memarg, .. }
                        | Operator::V128Store16Lane { memarg, .. }
                            if memarg.offset >= 65536 =>
                        {
                            return Some("v128.store8/16_lane with a large offset");
                        }
                        Operator::If {
                            blockty: BlockType::FuncType(t),
                        } if types_with_params.get(t as usize) == Some(&true) => {
                            return Some("if with parameters");
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    None
}

enum Outcome {
    /// One side could not say (stack exhausted, a resource limit): the
    /// states may legitimately differ from here on.
    Inconclusive,
    Differs(String),
}

/// A value as both engines can show it.
#[derive(Clone, Debug)]
enum V {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    Ref { null: bool },
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::I32(a), V::I32(b)) => a == b,
            (V::I64(a), V::I64(b)) => a == b,
            // NaNs are canonical in generated code; two NaNs agree.
            (V::F32(a), V::F32(b)) => {
                a == b || (f32::from_bits(*a).is_nan() && f32::from_bits(*b).is_nan())
            }
            (V::F64(a), V::F64(b)) => {
                a == b || (f64::from_bits(*a).is_nan() && f64::from_bits(*b).is_nan())
            }
            (V::V128(a), V::V128(b)) => a == b,
            (V::Ref { null: a }, V::Ref { null: b }) => a == b,
            _ => false,
        }
    }
}

fn from_ws(v: &ws::Val) -> V {
    match v {
        ws::Val::I32(x) => V::I32(*x),
        ws::Val::I64(x) => V::I64(*x),
        ws::Val::F32(x) => V::F32(*x),
        ws::Val::F64(x) => V::F64(*x),
        ws::Val::V128(x) => V::V128(*x),
        ws::Val::FuncRef(f) => V::Ref { null: f.is_none() },
        ws::Val::ExternRef(r) => V::Ref { null: r.is_none() },
    }
}

fn from_wi(v: &wasmi::Val) -> V {
    match v {
        wasmi::Val::I32(x) => V::I32(*x),
        wasmi::Val::I64(x) => V::I64(*x),
        wasmi::Val::F32(x) => V::F32(x.to_bits()),
        wasmi::Val::F64(x) => V::F64(x.to_bits()),
        wasmi::Val::V128(x) => V::V128(x.as_u128()),
        wasmi::Val::FuncRef(f) => V::Ref { null: f.is_null() },
        wasmi::Val::ExternRef(r) => V::Ref { null: r.is_null() },
    }
}

/// An argument: edge values more often than chance would give them,
/// among them the sizes of the instance's memories and tables (`bounds`)
/// and their neighbours, where bounds checks decide.
fn argument(ty: ws::ValType, bounds: &[u64], rng: &mut Rng) -> (ws::Val, wasmi::Val) {
    let bits = match rng.below(6) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 | 4 if !bounds.is_empty() => {
            let b = *rng.pick(bounds);
            b.wrapping_add(rng.below(5)).wrapping_sub(2)
        }
        _ => rng.next_u64() >> rng.below(64),
    };
    match ty {
        ws::ValType::I32 => (ws::Val::I32(bits as i32), wasmi::Val::I32(bits as i32)),
        ws::ValType::I64 => (ws::Val::I64(bits as i64), wasmi::Val::I64(bits as i64)),
        ws::ValType::F32 => {
            let mut b = bits as u32;
            if f32::from_bits(b).is_nan() {
                b = 0x7fc0_0000;
            }
            (ws::Val::F32(b), wasmi::Val::F32(wasmi::F32::from_bits(b)))
        }
        ws::ValType::F64 => {
            let mut b = bits;
            if f64::from_bits(b).is_nan() {
                b = 0x7ff8_0000_0000_0000;
            }
            (ws::Val::F64(b), wasmi::Val::F64(wasmi::F64::from_bits(b)))
        }
        ws::ValType::V128 => {
            let b = (bits as u128) << 64 | rng.next_u64() as u128;
            (ws::Val::V128(b), wasmi::Val::V128(wasmi::V128::from(b)))
        }
        ws::ValType::FuncRef => (
            ws::Val::FuncRef(None),
            wasmi::Val::FuncRef(wasmi::Nullable::Null),
        ),
        ws::ValType::ExternRef => (
            ws::Val::ExternRef(None),
            wasmi::Val::ExternRef(wasmi::Nullable::Null),
        ),
    }
}

/// How a call (or an instantiation) ended, as both engines can say it.
#[derive(Debug, PartialEq)]
enum End {
    Returned(Vec<V>),
    Trapped(String),
}

fn ws_end(r: Result<Vec<ws::Val>, ws::Error>) -> Result<End, Outcome> {
    match r {
        Ok(vals) => Ok(End::Returned(vals.iter().map(from_ws).collect())),
        Err(ws::Error::Trap(t)) => match t.code() {
            Some(ws::TrapCode::StackOverflow) => Err(Outcome::Inconclusive),
            Some(code) => Ok(End::Trapped(format!("{code:?}"))),
            None => Ok(End::Trapped(format!("host: {t}"))),
        },
        Err(e) => Ok(End::Trapped(format!("error: {e}"))),
    }
}

fn wi_end(r: Result<Vec<wasmi::Val>, wasmi::Error>) -> Result<End, Outcome> {
    match r {
        Ok(vals) => Ok(End::Returned(vals.iter().map(from_wi).collect())),
        Err(e) => match e.as_trap_code() {
            Some(wasmi::TrapCode::StackOverflow)
            | Some(wasmi::TrapCode::OutOfSystemMemory)
            | Some(wasmi::TrapCode::GrowthOperationLimited)
            | None => Err(Outcome::Inconclusive),
            Some(code) => Ok(End::Trapped(format!("{code:?}"))),
        },
    }
}

fn engines(mode: Mode) -> Result<(ws::Engine, wasmi::Engine), Outcome> {
    let mut compile = ws::CompileOptions {
        parallelism: 1,
        ..Default::default()
    };
    if mode != Mode::Plain {
        compile.debug_hooks = true;
        compile.debug_locals = if mode == Mode::HooksLive {
            ws::DebugLocals::Live
        } else {
            ws::DebugLocals::Mirrored
        };
    }
    let ours = ws::Engine::new(ws::Config {
        compile,
        ..Default::default()
    })
    .map_err(|e| Outcome::Differs(format!("wasmscope engine: {e}")))?;
    let mut config = wasmi::Config::default();
    config.compilation_mode(wasmi::CompilationMode::Eager);
    Ok((ours, wasmi::Engine::new(&config)))
}

/// Stops before every instruction and looks at the frame the way the
/// debugger does; writes one local back unchanged now and then.
fn install_debugger(store: &mut ws::Store<()>, seed: u64) -> Rc<Cell<u64>> {
    let stops = Rc::new(Cell::new(0u64));
    let counter = stops.clone();
    let mut rng = Rng::new(seed);
    store.set_debug_handler(move |stop| {
        counter.set(counter.get() + 1);
        let locals = stop.locals();
        let frames = stop.frames();
        let _ = stop.globals();
        if frames.len() > 1 && rng.chance(10) {
            let _ = stop.frame_locals(1 + rng.below(frames.len() as u64 - 1) as usize);
        }
        if !locals.is_empty() && rng.chance(20) {
            let i = rng.below(locals.len() as u64) as usize;
            if let Some(v) = locals[i].clone() {
                let _ = stop.set_local(i as u32, v);
            }
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    stops
}

fn compare(wasm: &[u8], mode: Mode, rng: &mut Rng) -> Result<(), Outcome> {
    let (engine, wengine) = engines(mode)?;
    let wmodule = match wasmi::Module::new(&wengine, wasm) {
        Ok(m) => m,
        Err(_) => return Err(Outcome::Inconclusive),
    };
    let module = ws::Module::new(&engine, wasm)
        .map_err(|e| Outcome::Differs(format!("wasmscope rejects a module wasmi accepts: {e}")))?;
    let mut store = ws::Store::new(&engine, ());
    if mode != Mode::Plain {
        install_debugger(&mut store, rng.next_u64());
    }
    let mut wstore = wasmi::Store::new(&wengine, ());
    let linker = ws::Linker::new();
    let wlinker = wasmi::Linker::<()>::new(&wengine);

    let ours = linker.instantiate(&mut store, &module);
    let theirs = wlinker.instantiate_and_start(&mut wstore, &wmodule);
    let (instance, winstance) = match (ours, theirs) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) => {
            // Both refused: agree on how, when both say a trap code.
            let a = ws_end(Err(a))?;
            let b = wi_end(Err(b))?;
            return same("instantiation", &a, &b);
        }
        (Ok(_), Err(e)) => {
            wi_end(Err(e))?;
            return Err(Outcome::Differs("instantiation: only wasmi fails".into()));
        }
        (Err(e), Ok(_)) => {
            ws_end(Err(e))?;
            return Err(Outcome::Differs(
                "instantiation: only wasmscope fails".into(),
            ));
        }
    };
    compare_state(
        "after instantiation",
        &store,
        &instance,
        &wstore,
        &winstance,
    )?;

    let exports = instance.exports(&store);
    let mut calls = 0;
    for (name, ext) in &exports {
        let ws::Extern::Func(func) = ext else {
            continue;
        };
        let Some(wfunc) = winstance.get_func(&wstore, name) else {
            return Err(Outcome::Differs(format!("export {name}: missing in wasmi")));
        };
        for _ in 0..1 + rng.below(3) {
            calls += 1;
            if calls > 30 {
                return Ok(());
            }
            let ty = func.ty(&store);
            let bounds = bounds(&store, &instance);
            let (args, wargs): (Vec<_>, Vec<_>) =
                ty.params.iter().map(|t| argument(*t, &bounds, rng)).unzip();
            let mut results: Vec<ws::Val> = ty
                .results
                .iter()
                .map(|t| ws::Val::default_for(*t).expect("a default for every value type"))
                .collect();
            let mut wresults: Vec<wasmi::Val> = wfunc
                .ty(&wstore)
                .results()
                .iter()
                .map(|t| wasmi::Val::default_for_ty(*t))
                .collect();
            let a = ws_end(func.call(&mut store, &args, &mut results).map(|()| results))?;
            let b = wi_end(
                wfunc
                    .call(&mut wstore, &wargs, &mut wresults)
                    .map(|()| wresults),
            )?;
            let what = format!("call {name}({})", show_args(&args));
            same(&what, &a, &b)?;
            compare_state(
                &format!("after {what}"),
                &store,
                &instance,
                &wstore,
                &winstance,
            )?;
        }
    }
    Ok(())
}

/// The byte sizes of the exported memories and the lengths of the
/// exported tables.
fn bounds(store: &ws::Store<()>, instance: &ws::Instance) -> Vec<u64> {
    instance
        .exports(store)
        .into_iter()
        .filter_map(|(_, e)| match e {
            ws::Extern::Memory(m) => Some(m.data(store).len() as u64),
            ws::Extern::Table(t) => Some(u64::from(t.size(store))),
            _ => None,
        })
        .collect()
}

fn show_args(args: &[ws::Val]) -> String {
    args.iter()
        .map(|a| format!("{:?}", from_ws(a)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn same(what: &str, a: &End, b: &End) -> Result<(), Outcome> {
    if a == b {
        Ok(())
    } else {
        Err(Outcome::Differs(format!(
            "{what}: wasmscope {a:?}, wasmi {b:?}"
        )))
    }
}

fn compare_state(
    when: &str,
    store: &ws::Store<()>,
    instance: &ws::Instance,
    wstore: &wasmi::Store<()>,
    winstance: &wasmi::Instance,
) -> Result<(), Outcome> {
    for (name, ext) in instance.exports(store) {
        let Some(wext) = winstance.get_export(wstore, &name) else {
            return Err(Outcome::Differs(format!("export {name}: missing in wasmi")));
        };
        match (ext, wext) {
            (ws::Extern::Global(g), wasmi::Extern::Global(wg)) => {
                let (a, b) = (from_ws(&g.get(store)), from_wi(&wg.get(wstore)));
                if a != b {
                    return Err(Outcome::Differs(format!(
                        "{when}: global {name}: wasmscope {a:?}, wasmi {b:?}"
                    )));
                }
            }
            (ws::Extern::Memory(m), wasmi::Extern::Memory(wm)) => {
                let (a, b) = (m.data(store), wm.data(wstore));
                if a.len() != b.len() {
                    return Err(Outcome::Differs(format!(
                        "{when}: memory {name}: {} bytes in wasmscope, {} in wasmi",
                        a.len(),
                        b.len()
                    )));
                }
                if let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) {
                    return Err(Outcome::Differs(format!(
                        "{when}: memory {name} at {at:#x}: wasmscope {:#04x}, wasmi {:#04x}",
                        a[at], b[at]
                    )));
                }
            }
            (ws::Extern::Table(t), wasmi::Extern::Table(wt)) => {
                let (n, wn) = (t.size(store), wt.size(wstore));
                if u64::from(n) != wn {
                    return Err(Outcome::Differs(format!(
                        "{when}: table {name}: {n} elements in wasmscope, {wn} in wasmi"
                    )));
                }
                for i in 0..n {
                    let a = t.get(store, i).map(|v| from_ws(&v));
                    let b = wt
                        .get(wstore, u64::from(i))
                        .map(|r| V::Ref { null: r.is_null() });
                    if a != b {
                        return Err(Outcome::Differs(format!(
                            "{when}: table {name}[{i}]: wasmscope {a:?}, wasmi {b:?}"
                        )));
                    }
                }
            }
            (ws::Extern::Func(_), wasmi::Extern::Func(_)) => {}
            (a, _) => {
                return Err(Outcome::Differs(format!(
                    "export {name}: {} in wasmscope, another kind in wasmi",
                    match a {
                        ws::Extern::Func(_) => "a function",
                        ws::Extern::Memory(_) => "a memory",
                        ws::Extern::Table(_) => "a table",
                        ws::Extern::Global(_) => "a global",
                    }
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ws::wasmparser::WasmFeatures as F;

    /// Engine features with nothing to generate: MVP parts that are always
    /// on, and `GC_TYPES` (the type-section encoding only; full GC is `GC`).
    const NOT_GENERATED: ws::wasmparser::WasmFeatures = {
        use ws::wasmparser::WasmFeatures as F;
        F::MUTABLE_GLOBAL.union(F::FLOATS).union(F::GC_TYPES)
    };

    /// Every feature the engine supports is generated or said not to be,
    /// so a proposal that lands in `supported_features()` is fuzzed from
    /// then on (or this fails until it is listed).
    #[test]
    fn the_generator_follows_the_engines_features() {
        let known = GENERATED
            .iter()
            .fold(NOT_GENERATED, |all, (f, _)| all.union(*f));
        let supported = ws::supported_features();
        assert!(
            known.contains(supported),
            "supported but neither generated nor listed: {:?}",
            supported.difference(known)
        );
        let c = smith_config();
        for (feature, on) in [
            (F::SIMD, c.simd_enabled),
            (F::BULK_MEMORY, c.bulk_memory_enabled),
            (F::REFERENCE_TYPES, c.reference_types_enabled),
            (F::TAIL_CALL, c.tail_call_enabled),
            (F::MEMORY64, c.memory64_enabled),
            (F::GC, c.gc_enabled),
        ] {
            assert_eq!(on, supported.contains(feature), "{feature:?}");
        }
    }
}
