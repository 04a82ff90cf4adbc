//! Inspection of a stopped guest, on the guest thread: scopes (source
//! locals and globals from DWARF, wasm locals, the operand stack,
//! wasm globals, tables, memories), lazily expanded variables, setting
//! variables, and evaluating expressions (`expr`).
//!
//! Every expandable value gets a reference (an index into `nodes`, plus
//! one); references live until the guest resumes, as DAP prescribes.

use crate::dwarf::read::ModuleDwarf;
use crate::dwarf::vars::{self, Place, Scalar, Target};
use crate::expr::{self, BinOp, Expr, ScalarType};
use std::collections::HashMap;
use wasmscope_engine::wasi::WasiCtx;
use wasmscope_engine::wasmparser;
use wasmscope_engine::{DebugStop, ModuleId, Val, ValType};

/// A variable as a debugger shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VarView {
    pub name: String,
    pub value: String,
    pub type_name: String,
    /// Nonzero when it expands (pass it to `variables`).
    pub reference: u64,
    /// Element count of arrays and tables (for paging).
    pub indexed: Option<u64>,
    /// Address in linear memory 0 (for memory views).
    pub memory_reference: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeView {
    pub name: String,
    pub reference: u64,
    /// Costly to fill (the operand stack at a trap: a validation pass).
    pub expensive: bool,
}

enum Node {
    /// Of a wasm frame (0 = the paused one) and an inline level in it
    /// (`session::source_frames`).
    SourceLocals(usize, usize),
    SourceGlobals,
    WasmLocals(usize),
    /// Of a wasm frame: the paused one's stack, or the part of a
    /// caller's below its call's arguments.
    OperandStack(usize),
    Globals,
    Tables,
    Table(u32),
    Memories,
    Value(vars::Value),
}

/// Names from the module's `name` section (and exports) for locals and
/// globals; `$N` otherwise.
#[derive(Default)]
pub struct WasmNames {
    globals: HashMap<u32, String>,
    locals: HashMap<(u32, u32), String>,
}

impl WasmNames {
    pub fn read(binary: &[u8]) -> WasmNames {
        let mut names = WasmNames::default();
        for payload in wasmparser::Parser::new(0).parse_all(binary) {
            let Ok(payload) = payload else { break };
            match payload {
                wasmparser::Payload::ExportSection(exports) => {
                    for e in exports.into_iter().flatten() {
                        if e.kind == wasmparser::ExternalKind::Global {
                            names.globals.entry(e.index).or_insert(e.name.to_string());
                        }
                    }
                }
                wasmparser::Payload::CustomSection(c) if c.name() == "name" => {
                    let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(
                        c.data(),
                        c.data_offset(),
                    ));
                    for name in reader.into_iter().flatten() {
                        match name {
                            wasmparser::Name::Global(map) => {
                                for n in map.into_iter().flatten() {
                                    names.globals.insert(n.index, n.name.to_string());
                                }
                            }
                            wasmparser::Name::Local(map) => {
                                for f in map.into_iter().flatten() {
                                    for n in f.names.into_iter().flatten() {
                                        names.locals.insert((f.index, n.index), n.name.to_string());
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        names
    }

    fn global(&self, i: u32) -> String {
        match self.globals.get(&i) {
            Some(n) => format!("${n}"),
            None => format!("$global{i}"),
        }
    }

    fn local(&self, func: u32, i: u32) -> String {
        match self.locals.get(&(func, i)) {
            Some(n) => format!("${n}"),
            None => format!("$var{i}"),
        }
    }
}

/// How a wasm local the optimized code no longer keeps is shown.
const OPTIMIZED_OUT: &str = "<optimized out>";

/// What the DWARF evaluator sees of the stop.
struct View<'s, 'a> {
    stop: &'s DebugStop<'a, WasiCtx>,
    /// The module whose memory the DWARF's addresses are in (`None`: the
    /// paused instance's).
    module: Option<ModuleId>,
    /// The wasm frame expressions are evaluated in.
    frame: usize,
    /// The inlined function of that frame whose variables are in scope
    /// (`session::source_frames`).
    level: usize,
    /// `None`: the optimized code keeps no copy of the local here.
    locals: Vec<Option<u64>>,
    globals: Vec<u64>,
    /// The operand stack, bottom first: the paused frame's only.
    stack: Vec<Option<u64>>,
}

fn bits(v: &Val) -> u64 {
    match v {
        Val::I32(x) => *x as u32 as u64,
        Val::I64(x) => *x as u64,
        Val::F32(x) => u64::from(*x),
        Val::F64(x) => *x,
        Val::V128(x) => *x as u64,
        Val::FuncRef(_) | Val::ExternRef(_) => 0,
    }
}

impl Target for View<'_, '_> {
    fn local(&self, index: u32) -> Option<u64> {
        self.locals.get(index as usize).copied().flatten()
    }
    fn global(&self, index: u32) -> Option<u64> {
        self.globals.get(index as usize).copied()
    }
    fn stack_value(&self, index: u32) -> Option<u64> {
        self.stack.get(index as usize).copied().flatten()
    }
    fn read(&self, address: u64, len: usize) -> Option<Vec<u8>> {
        let mem = match self.module {
            Some(m) => self.stop.memory_bytes_in(m, 0)?,
            None => self.stop.memory_bytes(0)?,
        };
        let start = usize::try_from(address).ok()?;
        mem.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    }
    fn function_name(&self, index: u32) -> Option<String> {
        let Some(Val::FuncRef(Some(f))) = self.stop.table_get(0, index) else {
            return None;
        };
        let i = self.stop.func_index_of(&f)?;
        Some(
            self.stop
                .module_info()
                .func_name_by_index(i)
                .map_or_else(|| format!("func {i}"), str::to_string),
        )
    }
}

/// A value an expression produced.
enum EVal {
    Num(Scalar),
    Src(vars::Value),
    Wasm(Val),
}

pub struct Inspector<'d> {
    dwarf: Option<&'d ModuleDwarf>,
    /// By session module (0: the program).
    names: &'d [WasmNames],
    /// The program's module (its DWARF is `dwarf`), when the session
    /// knows it: its memory and globals are what the DWARF describes,
    /// whichever module is paused.
    program: Option<ModuleId>,
    /// Each wasm frame's session module (`with_frames`).
    frame_modules: Vec<usize>,
    /// The names of a module the session does not know: none.
    no_names: WasmNames,
    nodes: Vec<Node>,
    /// The stop's source frames as (wasm frame, inline level), from the
    /// frames read once at the stop (`with_frames`; what frame ids index).
    source_frames: Vec<(usize, usize)>,
}

impl<'d> Inspector<'d> {
    /// An inspector of a stop in the program (module 0) until
    /// `with_frames` says where each frame runs; `names` are each session
    /// module's name sections.
    pub fn new(dwarf: Option<&'d ModuleDwarf>, names: &'d [WasmNames]) -> Self {
        Inspector {
            dwarf,
            names,
            program: None,
            frame_modules: Vec::new(),
            no_names: WasmNames::default(),
            nodes: Vec::new(),
            source_frames: Vec::new(),
        }
    }

    /// Takes the stop's frames, read once at the stop, so a frame id is
    /// resolved without walking the stack and its DWARF again.
    pub fn with_frames(mut self, frames: &[crate::session::Frame]) -> Self {
        self.source_frames = crate::session::source_frames(frames)
            .iter()
            .map(|f| (f.frame, f.level))
            .collect();
        self.frame_modules = frames.iter().map(|f| f.module).collect();
        self
    }

    /// Says which module the DWARF describes (the session's module 0).
    pub fn program(mut self, id: ModuleId) -> Self {
        self.program = Some(id);
        self
    }

    /// Says the paused frame runs session module `module` (what
    /// `with_frames` says of every frame).
    pub fn in_module(mut self, module: usize) -> Self {
        self.frame_modules = vec![module];
        self
    }

    /// The name section of the module wasm frame `frame` runs (frame 0's
    /// module has the paused instance's globals).
    fn names_of(&self, frame: usize) -> &WasmNames {
        let module = self.frame_modules.get(frame).copied().unwrap_or(0);
        self.names.get(module).unwrap_or(&self.no_names)
    }

    /// The node a reference names.
    fn node_index(&self, reference: u64) -> Result<usize, String> {
        reference
            .checked_sub(1)
            .map(|i| i as usize)
            .filter(|&i| i < self.nodes.len())
            .ok_or_else(|| "unknown or stale variables reference".to_string())
    }

    fn add(&mut self, node: Node) -> u64 {
        self.nodes.push(node);
        self.nodes.len() as u64
    }

    fn view<'s, 'a>(&self, stop: &'s DebugStop<'a, WasiCtx>) -> View<'s, 'a> {
        self.frame_view(stop, 0, 0)
    }

    /// The view from frame `frame`: its locals (empty when unknown), and
    /// the program's globals and memory (which its DWARF describes).
    fn frame_view<'s, 'a>(
        &self,
        stop: &'s DebugStop<'a, WasiCtx>,
        frame: usize,
        level: usize,
    ) -> View<'s, 'a> {
        let globals = match self.program {
            Some(m) => stop.globals_in(m).unwrap_or_default(),
            None => stop.globals(),
        };
        View {
            module: self.program,
            frame,
            level,
            locals: stop
                .frame_locals(frame)
                .unwrap_or_default()
                .iter()
                .map(|v| v.as_ref().map(bits))
                .collect(),
            globals: globals.iter().map(|(_, _, v)| bits(v)).collect(),
            // A caller's: the values below its call's arguments.
            stack: stop
                .frame_operand_stack(frame)
                .unwrap_or_default()
                .iter()
                .map(|(_, v)| v.as_ref().map(bits))
                .collect(),
            stop,
        }
    }

    /// The wasm frame and inline level of source frame `source` (an index
    /// into `session::source_frames`); one past the stack for an index
    /// past it.
    fn source_frame(&self, stop: &DebugStop<'_, WasiCtx>, source: usize) -> (usize, usize) {
        self.source_frames
            .get(source)
            .copied()
            .unwrap_or((stop.frames().len().max(source), 0))
    }

    /// The scopes of source frame `source` (0 = the paused one; see
    /// `session::source_frames`). Callers' locals come from their home
    /// slots (read-only); the operand stack only for the paused frame.
    pub fn scopes(&mut self, stop: &DebugStop<'_, WasiCtx>, source: usize) -> Vec<ScopeView> {
        let (frame, level) = self.source_frame(stop, source);
        let mut out = Vec::new();
        let mut scope = |this: &mut Self, name: &str, node: Node, expensive: bool| {
            let reference = this.add(node);
            out.push(ScopeView {
                name: name.into(),
                reference,
                expensive,
            });
        };
        if stop.frame_locals(frame).is_some() {
            // Source locals where DWARF describes some here (a `.wat`
            // program's line table has none): VS Code opens the first scope.
            let described = match (self.dwarf, self.frame_offset(stop, frame)) {
                (Some(d), Some(offset)) => d.has_variables(offset, level),
                _ => false,
            };
            if described {
                scope(self, "Locals", Node::SourceLocals(frame, level), false);
            }
            scope(self, "Wasm locals", Node::WasmLocals(frame), false);
        }
        // A caller's where the code records it (optimized code, before a
        // call where DWARF puts a variable on the stack).
        if frame == 0
            || stop
                .frame_operand_stack(frame)
                .is_some_and(|s| !s.is_empty())
        {
            scope(self, "Operand stack", Node::OperandStack(frame), true);
        }
        if self.dwarf.is_some() && self.program_offset(stop).is_some() {
            scope(self, "Globals", Node::SourceGlobals, false);
        }
        scope(self, "Wasm globals", Node::Globals, false);
        scope(self, "Tables", Node::Tables, false);
        scope(self, "Memory", Node::Memories, false);
        out
    }

    /// The innermost program frame's offset: where the DWARF's globals
    /// are in scope.
    fn program_offset(&self, stop: &DebugStop<'_, WasiCtx>) -> Option<u32> {
        (0..self.frame_modules.len().max(1)).find_map(|f| self.frame_offset(stop, f))
    }

    /// The module offset frame `frame` is at; `None` for a frame of a
    /// preloaded module (the DWARF is the program's).
    fn frame_offset(&self, stop: &DebugStop<'_, WasiCtx>, frame: usize) -> Option<u32> {
        if self.frame_modules.get(frame).is_some_and(|&m| m != 0) {
            return None;
        }
        if frame == 0 {
            return Some(stop.wasm_offset());
        }
        stop.frames().get(frame)?.wasm_offset
    }

    /// The function frame `frame` runs.
    fn frame_func(stop: &DebugStop<'_, WasiCtx>, frame: usize) -> u32 {
        stop.frames()
            .get(frame)
            .map_or(stop.func_index(), |f| f.func_index)
    }

    fn source_view(&mut self, name: String, v: vars::Value, target: &dyn Target) -> VarView {
        let Some(dwarf) = self.dwarf else {
            return VarView {
                name,
                ..VarView::default()
            };
        };
        let r = dwarf.render(&v, target);
        let reference = if r.expandable {
            self.add(Node::Value(v))
        } else {
            0
        };
        VarView {
            name,
            value: r.value,
            type_name: r.type_name,
            reference,
            indexed: r.indexed,
            memory_reference: r.memory_address,
        }
    }

    fn wasm_view(&self, stop: &DebugStop<'_, WasiCtx>, name: String, v: &Val) -> VarView {
        VarView {
            name,
            value: render_val(stop, v),
            type_name: v.ty().to_string(),
            ..VarView::default()
        }
    }

    /// The children of a reference: `start` and `count` page arrays and
    /// tables (`count` 0 = all).
    pub fn variables(
        &mut self,
        stop: &DebugStop<'_, WasiCtx>,
        reference: u64,
        start: u64,
        count: u64,
    ) -> Result<Vec<VarView>, String> {
        let count = if count == 0 { u64::MAX } else { count };
        let index = self.node_index(reference)?;
        let mut out = Vec::new();
        match &self.nodes[index] {
            &Node::SourceLocals(frame, level) => {
                let view = self.frame_view(stop, frame, level);
                if let (Some(d), Some(offset)) = (self.dwarf, self.frame_offset(stop, frame)) {
                    for v in d.variables(offset, level, &view) {
                        out.push(self.source_view(v.name, v.value, &view));
                    }
                }
            }
            Node::SourceGlobals => {
                if let Some(d) = self.dwarf {
                    let view = self.view(stop);
                    let at = self.program_offset(stop).unwrap_or(0);
                    for v in d.globals(at, &view) {
                        out.push(self.source_view(v.name, v.value, &view));
                    }
                }
            }
            &Node::WasmLocals(frame) => {
                let func = Self::frame_func(stop, frame);
                for (i, v) in stop
                    .frame_locals(frame)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let name = self.names_of(frame).local(func, i as u32);
                    out.push(match v {
                        Some(v) => self.wasm_view(stop, name, v),
                        None => VarView {
                            name,
                            value: OPTIMIZED_OUT.into(),
                            ..VarView::default()
                        },
                    });
                }
            }
            &Node::OperandStack(frame) => match stop.frame_operand_stack(frame) {
                Some(stack) => {
                    for (depth, (ty, v)) in stack.into_iter().enumerate() {
                        let name = format!("[{depth}]");
                        out.push(match v {
                            Some(v) => self.wasm_view(stop, name, &v),
                            None => VarView {
                                name,
                                value: format!("{ty} (value not recorded)"),
                                type_name: ty.to_string(),
                                ..VarView::default()
                            },
                        });
                    }
                }
                // A trap stop: the stack's types only.
                None if frame == 0 => {
                    for (depth, ty) in operand_stack_types(stop)?.into_iter().enumerate() {
                        out.push(VarView {
                            name: format!("[{depth}]"),
                            value: format!("{ty} (not recorded at a trap)"),
                            type_name: ty,
                            ..VarView::default()
                        });
                    }
                }
                // A caller in mirrored code: not recorded (no scope).
                None => {}
            },
            Node::Globals => {
                for (i, (_, mutable, v)) in stop.globals().iter().enumerate() {
                    let mut view = self.wasm_view(stop, self.names_of(0).global(i as u32), v);
                    if !mutable {
                        view.type_name = format!("const {}", view.type_name);
                    }
                    out.push(view);
                }
            }
            Node::Tables => {
                for (i, (ty, size)) in stop.tables().into_iter().enumerate() {
                    let reference = self.add(Node::Table(i as u32));
                    out.push(VarView {
                        name: format!("table{i}"),
                        value: format!("{size} × {ty}"),
                        type_name: format!("table of {ty}"),
                        reference: if size > 0 { reference } else { 0 },
                        indexed: Some(u64::from(size)),
                        memory_reference: None,
                    });
                }
            }
            &Node::Table(t) => {
                let size = stop.tables().get(t as usize).map_or(0, |(_, s)| *s);
                let end = u64::from(size).min(start.saturating_add(count));
                for i in start..end {
                    if let Some(v) = stop.table_get(t, i as u32) {
                        out.push(self.wasm_view(stop, format!("[{i}]"), &v));
                    }
                }
            }
            Node::Memories => {
                let mut i = 0;
                while let Some(m) = stop.memory_bytes(i) {
                    out.push(VarView {
                        name: format!("memory{i}"),
                        value: format!("{} pages ({} bytes)", m.len() / 65536, m.len()),
                        type_name: "memory".into(),
                        memory_reference: (i == 0).then_some(0),
                        ..VarView::default()
                    });
                    i += 1;
                }
            }
            Node::Value(v) => {
                let v = v.clone();
                if let Some(d) = self.dwarf {
                    let view = self.view(stop);
                    for c in d.children(&v, &view, start, count) {
                        out.push(self.source_view(c.name, c.value, &view));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Sets child `name` of `reference` from the text `value` (an
    /// expression); returns the new view.
    pub fn set_variable(
        &mut self,
        stop: &mut DebugStop<'_, WasiCtx>,
        reference: u64,
        name: &str,
        value: &str,
    ) -> Result<VarView, String> {
        let index = self.node_index(reference)?;
        let parsed = expr::parse(value)?;
        let scalar = {
            let view = self.view(stop);
            self.scalar(&self.eval(stop, &view, &parsed)?, &view)?
        };
        match &self.nodes[index] {
            Node::WasmLocals(1..) => Err("locals of callers are read-only".into()),
            Node::WasmLocals(0) => {
                let i = (0..stop.locals().len() as u32)
                    .find(|&i| self.names_of(0).local(stop.func_index(), i) == name)
                    .ok_or_else(|| format!("no wasm local `{name}`"))?;
                let ty = stop.local_types()[i as usize];
                stop.set_local(i, to_val(ty, scalar)?)
                    .map_err(|e| e.to_string())?;
                let v = stop.locals()[i as usize]
                    .clone()
                    .ok_or_else(|| format!("`{name}` has no value here"))?;
                Ok(self.wasm_view(stop, name.into(), &v))
            }
            Node::Globals => {
                let i = (0..stop.globals().len() as u32)
                    .find(|&i| self.names_of(0).global(i) == name)
                    .ok_or_else(|| format!("no wasm global `{name}`"))?;
                let ty = stop.globals()[i as usize].0;
                stop.set_global(i, to_val(ty, scalar)?)
                    .map_err(|e| e.to_string())?;
                let v = stop.globals()[i as usize].2.clone();
                Ok(self.wasm_view(stop, name.into(), &v))
            }
            Node::SourceLocals(..) | Node::SourceGlobals | Node::Value(_) => {
                let dwarf = self.dwarf.ok_or("the module has no DWARF")?;
                let target = {
                    let view = self.view(stop);
                    let children = match &self.nodes[index] {
                        &Node::SourceLocals(frame, level) => {
                            let view = self.frame_view(stop, frame, level);
                            let offset = self.frame_offset(stop, frame).unwrap_or(0);
                            dwarf.variables(offset, level, &view)
                        }
                        Node::SourceGlobals => {
                            dwarf.globals(self.program_offset(stop).unwrap_or(0), &view)
                        }
                        Node::Value(v) => dwarf.children(v, &view, 0, u64::MAX),
                        _ => Vec::new(),
                    };
                    children
                        .into_iter()
                        .find(|c| c.name == name)
                        .ok_or_else(|| format!("no variable `{name}` here"))?
                        .value
                };
                let (address, bytes) = dwarf.encode_scalar(&target, scalar)?;
                let mem = stop.memory(0).ok_or("the module has no memory")?;
                let start = address as usize;
                mem.get_mut(start..start + bytes.len())
                    .ok_or("the variable is outside memory")?
                    .copy_from_slice(&bytes);
                let view = self.view(stop);
                Ok(self.source_view(name.into(), target, &view))
            }
            _ => Err("these variables cannot be changed".into()),
        }
    }

    /// Evaluates an expression in source frame `source` (0 = the paused
    /// one; see `session::source_frames`).
    pub fn evaluate(
        &mut self,
        stop: &DebugStop<'_, WasiCtx>,
        source: usize,
        text: &str,
    ) -> Result<VarView, String> {
        let e = expr::parse(text)?;
        let (frame, level) = self.source_frame(stop, source);
        let view = self.frame_view(stop, frame, level);
        match self.eval(stop, &view, &e)? {
            EVal::Src(v) => Ok(self.source_view(text.into(), v, &view)),
            EVal::Wasm(v) => Ok(self.wasm_view(stop, text.into(), &v)),
            EVal::Num(s) => Ok(VarView {
                name: text.into(),
                value: match s {
                    Scalar::Int(i) => i.to_string(),
                    Scalar::Float(f) => f.to_string(),
                },
                type_name: match s {
                    Scalar::Int(_) => "int".into(),
                    Scalar::Float(_) => "double".into(),
                },
                ..VarView::default()
            }),
        }
    }

    /// An expression's value as text (for logpoints).
    pub fn evaluate_text(
        &self,
        stop: &DebugStop<'_, WasiCtx>,
        text: &str,
    ) -> Result<String, String> {
        let e = expr::parse(text)?;
        let view = self.view(stop);
        Ok(match self.eval(stop, &view, &e)? {
            EVal::Src(v) => self
                .dwarf
                .map_or_else(String::new, |d| d.render(&v, &view).value),
            EVal::Wasm(v) => render_val(stop, &v),
            EVal::Num(Scalar::Int(i)) => i.to_string(),
            EVal::Num(Scalar::Float(f)) => f.to_string(),
        })
    }

    /// Whether a breakpoint condition holds.
    pub fn condition(&self, stop: &DebugStop<'_, WasiCtx>, text: &str) -> Result<bool, String> {
        let e = expr::parse(text)?;
        let view = self.view(stop);
        let v = self.eval(stop, &view, &e)?;
        Ok(self.scalar(&v, &view)?.is_true())
    }

    fn scalar(&self, v: &EVal, target: &dyn Target) -> Result<Scalar, String> {
        match v {
            EVal::Num(s) => Ok(*s),
            EVal::Src(v) => self.dwarf.ok_or("no DWARF")?.scalar(v, target),
            EVal::Wasm(v) => Ok(match v {
                Val::I32(x) => Scalar::Int(i128::from(*x)),
                Val::I64(x) => Scalar::Int(i128::from(*x)),
                Val::F32(x) => Scalar::Float(f64::from(f32::from_bits(*x))),
                Val::F64(x) => Scalar::Float(f64::from_bits(*x)),
                other => return Err(format!("a {} is not a number", other.ty())),
            }),
        }
    }

    fn eval(&self, stop: &DebugStop<'_, WasiCtx>, view: &View, e: &Expr) -> Result<EVal, String> {
        let src = |v: EVal, what: &str| match v {
            EVal::Src(v) => Ok(v),
            _ => Err(format!("{what} needs a source variable")),
        };
        let dwarf = || {
            self.dwarf
                .ok_or_else(|| "the module has no DWARF".to_string())
        };
        Ok(match e {
            Expr::Int(i) => EVal::Num(Scalar::Int(*i)),
            Expr::Float(f) => EVal::Num(Scalar::Float(*f)),
            Expr::Name(n) => self.name(stop, view, n)?,
            Expr::Member(base, field) | Expr::Arrow(base, field) => {
                let v = src(self.eval(stop, view, base)?, "`.` and `->`")?;
                EVal::Src(dwarf()?.member(&v, field, view)?)
            }
            Expr::Index(base, i) => {
                let v = src(self.eval(stop, view, base)?, "indexing")?;
                let i = self.scalar(&self.eval(stop, view, i)?, view)?.as_int();
                let i = u64::try_from(i).map_err(|_| "negative index")?;
                EVal::Src(dwarf()?.index(&v, i, view)?)
            }
            Expr::Deref(base) => {
                let v = src(self.eval(stop, view, base)?, "`*`")?;
                EVal::Src(dwarf()?.deref(&v, view)?)
            }
            Expr::AddressOf(base) => match self.eval(stop, view, base)? {
                EVal::Src(vars::Value {
                    place: Place::Memory(a),
                    ..
                }) => EVal::Num(Scalar::Int(i128::from(a))),
                _ => return Err("`&` needs a variable in linear memory".into()),
            },
            Expr::Neg(x) => match self.scalar(&self.eval(stop, view, x)?, view)? {
                Scalar::Int(i) => EVal::Num(Scalar::Int(-i)),
                Scalar::Float(f) => EVal::Num(Scalar::Float(-f)),
            },
            Expr::Not(x) => {
                let s = self.scalar(&self.eval(stop, view, x)?, view)?;
                EVal::Num(Scalar::Int(i128::from(!s.is_true())))
            }
            Expr::Cast(ty, x) => {
                let s = self.scalar(&self.eval(stop, view, x)?, view)?;
                EVal::Num(cast(*ty, s))
            }
            Expr::PointerCast(name, x) => {
                let address = self.scalar(&self.eval(stop, view, x)?, view)?.as_int();
                let address = u32::try_from(address)
                    .map_err(|_| format!("{address:#x} is not a wasm32 address"))?;
                EVal::Src(dwarf()?.pointer_to(name, address)?)
            }
            Expr::Binary(op, a, b) => {
                let a = self.eval(stop, view, a)?;
                let b = self.eval(stop, view, b)?;
                // Pointer arithmetic keeps the pointer's type.
                if let (EVal::Src(p), BinOp::Add | BinOp::Sub) = (&a, op) {
                    let d = dwarf()?;
                    if let Ok(n) = self.scalar(&b, view) {
                        let n = if *op == BinOp::Sub {
                            -n.as_int()
                        } else {
                            n.as_int()
                        };
                        if let Ok(moved) = d.offset_pointer(p, n, view) {
                            return Ok(EVal::Src(moved));
                        }
                    }
                }
                let a = self.scalar(&a, view)?;
                let b = self.scalar(&b, view)?;
                EVal::Num(binary(*op, a, b)?)
            }
        })
    }

    fn name(&self, stop: &DebugStop<'_, WasiCtx>, view: &View, n: &str) -> Result<EVal, String> {
        if n.starts_with('$') {
            let func = Self::frame_func(stop, view.frame);
            let locals = stop.frame_locals(view.frame).unwrap_or_default();
            let names = self.names_of(view.frame);
            if let Some(i) = (0..locals.len() as u32).find(|&i| names.local(func, i) == n) {
                return locals[i as usize]
                    .clone()
                    .map(EVal::Wasm)
                    .ok_or_else(|| format!("`{n}` {OPTIMIZED_OUT}"));
            }
            let globals = stop.globals();
            if let Some(i) = (0..globals.len() as u32).find(|&i| self.names_of(0).global(i) == n) {
                return Ok(EVal::Wasm(globals[i as usize].2.clone()));
            }
            return Err(format!("no wasm local or global `{n}`"));
        }
        if let (Some(d), Some(offset)) = (self.dwarf, self.frame_offset(stop, view.frame)) {
            let locals = d.variables(offset, view.level, view);
            if let Some(v) = locals.iter().find(|v| v.name == n) {
                return Ok(EVal::Src(v.value.clone()));
            }
            // In a C++ method, a member by its own name.
            if let Some(this) = locals.iter().find(|v| v.name == "this") {
                if let Ok(v) = d.member(&this.value, n, view) {
                    return Ok(EVal::Src(v));
                }
            }
            // A global by its name or by the tail of its qualified name
            // (`GREETING` for `inventory::GREETING`).
            let globals = d.globals(offset, view);
            let tail = format!("::{n}");
            if let Some(v) = globals
                .iter()
                .find(|v| v.name == n)
                .or_else(|| globals.iter().find(|v| v.name.ends_with(&tail)))
            {
                return Ok(EVal::Src(v.value.clone()));
            }
        }
        Err(format!("no variable `{n}` in scope"))
    }
}

fn cast(ty: ScalarType, s: Scalar) -> Scalar {
    match ty {
        ScalarType::Int { bytes, signed } => {
            let bits = u32::from(bytes) * 8;
            let i = s.as_int();
            let mask = (1i128 << bits) - 1;
            let u = i & mask;
            if signed && u >> (bits - 1) & 1 == 1 {
                Scalar::Int(u - (1i128 << bits))
            } else {
                Scalar::Int(u)
            }
        }
        ScalarType::Float => Scalar::Float(f64::from(s.as_float() as f32)),
        ScalarType::Double => Scalar::Float(s.as_float()),
        ScalarType::Bool => Scalar::Int(i128::from(s.is_true())),
    }
}

fn binary(op: BinOp, a: Scalar, b: Scalar) -> Result<Scalar, String> {
    use Scalar::{Float, Int};
    let truth = |x: bool| Int(i128::from(x));
    Ok(match (op, a, b) {
        (BinOp::And, a, b) => truth(a.is_true() && b.is_true()),
        (BinOp::Or, a, b) => truth(a.is_true() || b.is_true()),
        (op, Int(x), Int(y)) => match op {
            BinOp::Add => Int(x.wrapping_add(y)),
            BinOp::Sub => Int(x.wrapping_sub(y)),
            BinOp::Mul => Int(x.wrapping_mul(y)),
            BinOp::Div => Int(x.checked_div(y).ok_or("division by zero")?),
            BinOp::Rem => Int(x.checked_rem(y).ok_or("division by zero")?),
            BinOp::Eq => truth(x == y),
            BinOp::Ne => truth(x != y),
            BinOp::Lt => truth(x < y),
            BinOp::Le => truth(x <= y),
            BinOp::Gt => truth(x > y),
            BinOp::Ge => truth(x >= y),
            BinOp::BitAnd => Int(x & y),
            BinOp::BitOr => Int(x | y),
            BinOp::BitXor => Int(x ^ y),
            BinOp::Shl => Int(x.wrapping_shl(y as u32)),
            BinOp::Shr => Int(x.wrapping_shr(y as u32)),
            BinOp::And | BinOp::Or => unreachable!("handled above"),
        },
        (op, a, b) => {
            let (x, y) = (a.as_float(), b.as_float());
            match op {
                BinOp::Add => Float(x + y),
                BinOp::Sub => Float(x - y),
                BinOp::Mul => Float(x * y),
                BinOp::Div => Float(x / y),
                BinOp::Rem => Float(x % y),
                BinOp::Eq => truth(x == y),
                BinOp::Ne => truth(x != y),
                BinOp::Lt => truth(x < y),
                BinOp::Le => truth(x <= y),
                BinOp::Gt => truth(x > y),
                BinOp::Ge => truth(x >= y),
                _ => return Err("bit operations need integers".into()),
            }
        }
    })
}

fn to_val(ty: ValType, s: Scalar) -> Result<Val, String> {
    Ok(match ty {
        ValType::I32 => Val::I32(s.as_int() as i32),
        ValType::I64 => Val::I64(s.as_int() as i64),
        ValType::F32 => Val::F32((s.as_float() as f32).to_bits()),
        ValType::F64 => Val::F64(s.as_float().to_bits()),
        other => return Err(format!("a {other} cannot be set from a number")),
    })
}

/// A wasm value as text: numbers, funcrefs by function name, externrefs
/// with their address, count, type and the host's `Debug` rendering.
pub fn render_val(stop: &DebugStop<'_, WasiCtx>, v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(x) => f32::from_bits(*x).to_string(),
        Val::F64(x) => f64::from_bits(*x).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) => "null".into(),
        Val::FuncRef(Some(f)) => match stop.func_index_of(f) {
            Some(i) => match stop.module_info().func_name_by_index(i) {
                Some(name) => format!("{name} (func {i})"),
                None => format!("func {i}"),
            },
            None => "funcref (another instance)".into(),
        },
        Val::ExternRef(Some(r)) => {
            let d = r.describe();
            format!(
                "externref {:#x} (count {}, {}){}",
                d.address,
                d.ref_count,
                d.type_name,
                d.debug.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }
    }
}

/// The operand stack's types before the paused instruction, bottom
/// first, from a validation pass over the function up to it: for a trap
/// stop, where the engine records no stack.
fn operand_stack_types(stop: &DebugStop<'_, WasiCtx>) -> Result<Vec<String>, String> {
    let binary = stop.module_binary();
    let info = stop.module_info();
    let defined = (stop.func_index() as usize)
        .checked_sub(info.num_imported_funcs)
        .ok_or("an imported function")?;
    let mut validator =
        wasmparser::Validator::new_with_features(wasmscope_engine::supported_features());
    let mut n = 0;
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        let payload = payload.map_err(|e| e.to_string())?;
        if let wasmparser::ValidPayload::Func(to_validate, body) =
            validator.payload(&payload).map_err(|e| e.to_string())?
        {
            if n < defined {
                n += 1;
                continue;
            }
            let mut func = to_validate.into_validator(Default::default());
            func.read_locals(&mut body.get_binary_reader())
                .map_err(|e| e.to_string())?;
            let mut ops = body.get_operators_reader().map_err(|e| e.to_string())?;
            while !ops.eof() {
                let (op, at) = ops.read_with_offset().map_err(|e| e.to_string())?;
                if at as u32 >= stop.wasm_offset() {
                    break;
                }
                func.op(at, &op).map_err(|e| e.to_string())?;
            }
            let height = func.operand_stack_height();
            return Ok((0..height)
                .rev()
                .map(|depth| match func.get_operand_type(depth as usize) {
                    Some(Some(t)) => t.to_string(),
                    _ => "unknown (unreachable code)".into(),
                })
                .collect());
        }
    }
    Err("function not found".into())
}
