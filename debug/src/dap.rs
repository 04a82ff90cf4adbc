//! The Debug Adapter Protocol over stdio, on top of `session`: framing,
//! one handler per request, and a thread that turns session events into
//! DAP events. The adapter never dies of a bad message: malformed input is
//! logged on stderr and skipped, unknown or failing requests get an error
//! response.
//!
//! Requests: initialize, launch (program, args, env, cwd, dirs,
//! stopOnEntry, stubImports, invoke, sourceMap, listingPath), restart, setBreakpoints
//! (in source files or the generated listing; moved to the nearest line
//! with code or unverified with a reason; conditions, hit conditions,
//! logpoints; pending before launch), setFunctionBreakpoints,
//! setInstructionBreakpoints, setExceptionBreakpoints (filter `traps`),
//! exceptionInfo, configurationDone, threads, stackTrace (instruction
//! pointer references; the listing for frames without DWARF), source,
//! loadedSources, disassemble, scopes, variables (paged), setVariable,
//! evaluate, readMemory, writeMemory, continue, next/stepIn/stepOut (line
//! or instruction granularity), pause, terminate, disconnect. Events:
//! initialized, stopped (entry, breakpoint, step, pause, exception),
//! continued, output, breakpoint, exited, terminated.

use crate::listing;
use crate::session::{
    source_frames, Breakpoint, BreakpointSpec, Event, Frame, Granularity, LaunchConfig, Session,
    SourceFrameRef, Step, StopReason, VarView,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Writes framed messages with increasing sequence numbers.
#[derive(Clone)]
struct Out(Arc<Mutex<(Box<dyn Write + Send>, i64)>>);

impl Out {
    fn send(&self, mut message: Value) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 += 1;
        message["seq"] = json!(guard.1);
        let body = message.to_string();
        let _ = write!(guard.0, "Content-Length: {}\r\n\r\n{body}", body.len());
        let _ = guard.0.flush();
    }

    fn event(&self, event: &str, body: Value) {
        self.send(json!({"type": "event", "event": event, "body": body}));
    }
}

/// Reads one framed message; `None` at end of input.
fn read_message(input: &mut impl BufRead) -> Option<Result<Value, String>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let Some(length) = length.filter(|l| *l <= 64 << 20) else {
        return Some(Err("missing or oversized Content-Length header".into()));
    };
    let mut body = vec![0; length];
    input.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).map_err(|e| format!("malformed JSON: {e}")))
}

/// A DAP breakpoint's condition, hit condition and log message.
#[derive(Clone, Default)]
struct Options {
    condition: Option<String>,
    hit_condition: Option<String>,
    log_message: Option<String>,
}

impl Options {
    fn of(b: &Value) -> Options {
        let text = |k: &str| b[k].as_str().map(str::to_string);
        Options {
            condition: text("condition"),
            hit_condition: text("hitCondition"),
            log_message: text("logMessage"),
        }
    }

    fn with(&self, spec: BreakpointSpec) -> Breakpoint {
        Breakpoint {
            spec,
            condition: self.condition.clone(),
            hit_condition: self.hit_condition.clone(),
            log_message: self.log_message.clone(),
        }
    }
}

/// The one generated source: the module's `.wat` listing, for frames and
/// breakpoints in code without DWARF.
const LISTING_REFERENCE: i64 = 1;

/// The exception filter that makes traps stop before the stack unwinds.
const TRAP_FILTER: &str = "traps";

/// Client breakpoints of one kind, with the ids the client was given.
type Requested<K> = Vec<(K, Options, u64)>;

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// The last launch's arguments, for `restart`.
    launch_args: Option<Value>,
    /// Whether `configurationDone` came (a restart then runs at once).
    configured: bool,
    /// Breakpoints by client source path (line and options), by function
    /// name, by module offset and by listing line; kept across restarts
    /// and placed at launch when they come before it.
    line_breakpoints: std::collections::BTreeMap<String, Requested<u32>>,
    function_breakpoints: Requested<String>,
    instruction_breakpoints: Requested<u32>,
    listing_breakpoints: Requested<u32>,
    next_breakpoint_id: u64,
    trap_stops: bool,
    /// Where DWARF's source files are on this machine.
    sources: SourcePaths,
    frames: Arc<Mutex<Vec<Frame>>>,
    /// The description of the trap the guest is stopped at, if any.
    trap: Arc<Mutex<Option<String>>>,
    /// The listing's name as clients see it (`app.wasm.wat`).
    listing_name: String,
    /// Launch's `listingPath`: where the client shows the listing (a path
    /// or URI holding the same text), instead of `source` requests.
    listing_path: Option<String>,
    /// Bumped by each launch: events of an older session are dropped.
    generation: Arc<AtomicU64>,
}

/// Serves DAP on stdin/stdout until `disconnect` or end of input.
pub fn run_stdio() {
    serve(
        BufReader::new(std::io::stdin()),
        Box::new(std::io::stdout()),
    );
}

/// Serves DAP on 127.0.0.1:`port`, one client connection after another
/// (an editor's `debugServer` setting, or a client that cannot spawn).
pub fn run_tcp(port: u16) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("wasmscope dap: listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wasmscope dap: {e}");
                continue;
            }
        };
        let writer = stream.try_clone()?;
        serve(BufReader::new(stream), Box::new(writer));
    }
    Ok(())
}

/// Serves one client until `disconnect` or end of input.
pub fn serve(mut input: impl BufRead, output: Box<dyn Write + Send>) {
    let out = Out(Arc::new(Mutex::new((output, 0))));
    let mut state = State::default();
    while let Some(message) = read_message(&mut input) {
        let request = match message {
            Ok(r) => r,
            Err(e) => {
                eprintln!("wasmscope dap: {e}");
                continue;
            }
        };
        let command = request["command"].as_str().unwrap_or("").to_string();
        let args = request.get("arguments").cloned().unwrap_or(Value::Null);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(&mut state, &out, &command, &args)
        }))
        .unwrap_or_else(|_| Err(format!("internal error while handling `{command}`")));
        let mut response = json!({
            "type": "response",
            "request_seq": request["seq"].as_i64().unwrap_or(0),
            "command": command,
            "success": result.is_ok(),
        });
        let ok = result.is_ok();
        match result {
            Ok(body) => response["body"] = body,
            Err(message) => response["message"] = json!(message),
        }
        out.send(response);
        if ok {
            after(&mut state, &out, &command, &args);
        }
        if matches!(command.as_str(), "disconnect") {
            break;
        }
    }
    if let Some(s) = state.session.take() {
        s.terminate();
    }
}

/// Events and actions that follow a successful response. The guest
/// resumes here, after the response to `continue`/`next`/`stepIn`/
/// `stepOut` is out: VS Code marks the thread running when that response
/// arrives, so a `stopped` event written before it would be undone and the
/// UI would wait forever on a program that is stopped.
fn after(state: &mut State, out: &Out, command: &str, args: &Value) {
    match command {
        "launch" => {
            out.event("initialized", json!({}));
            // Breakpoints that came before the program: now placed.
            if let Ok(placed) = apply_breakpoints(state) {
                for (_, bp) in placed {
                    out.event("breakpoint", json!({"reason": "changed", "breakpoint": bp}));
                }
            }
        }
        "continue" | "next" | "stepIn" | "stepOut" => {
            out.event(
                "continued",
                json!({"threadId": 1, "allThreadsContinued": true}),
            );
            let Some(session) = &state.session else {
                return;
            };
            let kind = match command {
                "continue" => return session.resume(),
                "next" => Step::Over,
                "stepIn" => Step::In,
                _ => Step::Out,
            };
            let granularity = match args["granularity"].as_str() {
                Some("instruction") => Granularity::Instruction,
                _ => Granularity::Line,
            };
            session.step_by(kind, granularity);
        }
        _ => {}
    }
}

fn handle(state: &mut State, out: &Out, command: &str, args: &Value) -> Result<Value, String> {
    match command {
        "initialize" => Ok(json!({
            "supportsConfigurationDoneRequest": true,
            "supportsFunctionBreakpoints": true,
            "supportsConditionalBreakpoints": true,
            "supportsHitConditionalBreakpoints": true,
            "supportsLogPoints": true,
            "supportsInstructionBreakpoints": true,
            "supportsSteppingGranularity": true,
            "supportsSetVariable": true,
            "supportsEvaluateForHovers": true,
            "supportsReadMemoryRequest": true,
            "supportsWriteMemoryRequest": true,
            "supportsDisassembleRequest": true,
            "supportsLoadedSourcesRequest": true,
            "supportsExceptionInfoRequest": true,
            "supportsRestartRequest": true,
            "supportsTerminateRequest": true,
            "supportsValueFormattingOptions": false,
            "exceptionBreakpointFilters": [{
                "filter": TRAP_FILTER,
                "label": "Traps",
                "description": "Stop where the guest traps (out-of-bounds access, division by zero, unreachable, ...) while its frames can still be inspected",
                "default": true,
            }],
        })),
        "launch" => {
            let session = launch(state, out, args)?;
            state.launch_args = Some(args.clone());
            state.session = Some(session);
            Ok(json!({}))
        }
        "restart" => {
            let args = match &args["arguments"] {
                a if a.is_object() => a.clone(),
                _ => state.launch_args.clone().ok_or("nothing was launched")?,
            };
            // The old session's events (its forced end) are not the client's.
            state.generation.fetch_add(1, Ordering::SeqCst);
            if let Some(s) = state.session.take() {
                s.terminate();
            }
            let relaunched = launch(state, out, &args)?;
            state.launch_args = Some(args);
            state.session = Some(relaunched);
            apply_breakpoints(state)?;
            if state.configured {
                session(state)?.start();
            }
            Ok(json!({}))
        }
        "setBreakpoints" => {
            let requested: Requested<u32> = args["breakpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| Some((b["line"].as_u64()? as u32, Options::of(b))))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .map(|(line, o)| (line, o, state.new_id()))
                .collect();
            let is_listing = args["source"]["sourceReference"].as_i64() == Some(LISTING_REFERENCE)
                || (state.listing_path.is_some()
                    && args["source"]["path"].as_str() == state.listing_path.as_deref());
            let owner = if is_listing {
                state.listing_breakpoints = requested;
                Owner::Listing
            } else {
                let path = args["source"]["path"]
                    .as_str()
                    .ok_or("source.path or source.sourceReference is required")?
                    .to_string();
                state.line_breakpoints.insert(path.clone(), requested);
                Owner::File(path)
            };
            Ok(json!({ "breakpoints": placed_of(state, &owner) }))
        }
        "setFunctionBreakpoints" => {
            state.function_breakpoints = args["breakpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| Some((b["name"].as_str()?.to_string(), Options::of(b))))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .map(|(name, o)| (name, o, state.new_id()))
                .collect();
            Ok(json!({ "breakpoints": placed_of(state, &Owner::Function) }))
        }
        "setInstructionBreakpoints" => {
            let mut requested = Vec::new();
            for b in args["breakpoints"].as_array().into_iter().flatten() {
                let reference = b["instructionReference"]
                    .as_str()
                    .ok_or("instructionReference is required")?;
                let at = parse_address(reference)? as i64 + b["offset"].as_i64().unwrap_or(0);
                let at = u32::try_from(at).map_err(|_| format!("no instruction at {at}"))?;
                requested.push((at, Options::of(b), state.new_id()));
            }
            state.instruction_breakpoints = requested;
            Ok(json!({ "breakpoints": placed_of(state, &Owner::Instruction) }))
        }
        "setExceptionBreakpoints" => {
            let filters = args["filters"].as_array().cloned().unwrap_or_default();
            state.trap_stops = filters.iter().any(|f| f == TRAP_FILTER)
                || args["filterOptions"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|f| f["filterId"] == TRAP_FILTER));
            if let Some(s) = &state.session {
                s.set_trap_stops(state.trap_stops);
            }
            let verified: Vec<Value> = filters.iter().map(|_| json!({"verified": true})).collect();
            Ok(json!({ "breakpoints": verified }))
        }
        "exceptionInfo" => {
            let trap = state
                .trap
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .ok_or("the program is not stopped at a trap")?;
            Ok(json!({
                "exceptionId": "trap",
                "description": trap,
                "breakMode": "always",
                "details": {"message": trap, "typeName": "wasm trap"},
            }))
        }
        "configurationDone" => {
            state.configured = true;
            session(state)?.start();
            Ok(json!({}))
        }
        "threads" => Ok(json!({"threads": [{"id": 1, "name": "wasm"}]})),
        "stackTrace" => {
            let frames = state
                .frames
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let start = args["startFrame"].as_u64().unwrap_or(0) as usize;
            let levels = match args["levels"].as_u64().unwrap_or(0) as usize {
                0 => usize::MAX,
                n => n,
            };
            // One DAP frame per source frame: inlined functions are
            // frames of their own (their ids are what scopes and
            // evaluate take).
            let sources = source_frames(&frames);
            let stack: Vec<Value> = sources
                .iter()
                .enumerate()
                .skip(start)
                .take(levels)
                .map(|(i, s)| stack_frame(state, i, s, &frames[s.frame]))
                .collect();
            Ok(json!({"stackFrames": stack, "totalFrames": sources.len()}))
        }
        "source" => {
            let reference = args["sourceReference"]
                .as_i64()
                .or_else(|| args["source"]["sourceReference"].as_i64())
                .unwrap_or(0);
            if reference == LISTING_REFERENCE {
                let listing = session(state)?
                    .listing()
                    .ok_or("the module cannot be printed as text")?;
                return Ok(json!({"content": listing.text, "mimeType": "text/x-wasm"}));
            }
            let path = args["source"]["path"]
                .as_str()
                .ok_or("no such source: only the listing has a sourceReference")?;
            let content = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            Ok(json!({ "content": content }))
        }
        "loadedSources" => {
            let session = session(state)?;
            let mut sources: Vec<Value> = session
                .source_files()
                .into_iter()
                .map(|f| state.sources.source(&f))
                .collect();
            sources.push(listing_source(state, false));
            Ok(json!({ "sources": sources }))
        }
        "disassemble" => disassemble(state, args),
        "scopes" => {
            let frame = args["frameId"].as_u64().unwrap_or(0) as usize;
            let scopes: Vec<Value> = session(state)?
                .scopes(frame)?
                .into_iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "variablesReference": s.reference,
                        "expensive": s.expensive,
                        "presentationHint": if s.name.contains("ocals") { "locals" } else { "registers" },
                    })
                })
                .collect();
            Ok(json!({ "scopes": scopes }))
        }
        "variables" => {
            let reference = args["variablesReference"]
                .as_u64()
                .ok_or("variablesReference is required")?;
            let start = args["start"].as_u64().unwrap_or(0);
            let count = args["count"].as_u64().unwrap_or(0);
            let variables: Vec<Value> = session(state)?
                .variables(reference, start, count)?
                .iter()
                .map(variable)
                .collect();
            Ok(json!({ "variables": variables }))
        }
        "setVariable" => {
            let reference = args["variablesReference"]
                .as_u64()
                .ok_or("variablesReference is required")?;
            let name = args["name"].as_str().ok_or("name is required")?;
            let value = args["value"].as_str().ok_or("value is required")?;
            let v = session(state)?.set_variable(reference, name, value)?;
            Ok(value_body(&v, "value"))
        }
        "evaluate" => {
            let expression = args["expression"]
                .as_str()
                .ok_or("expression is required")?;
            let frame = args["frameId"].as_u64().unwrap_or(0) as usize;
            let v = session(state)?.evaluate_in(frame, expression)?;
            Ok(value_body(&v, "result"))
        }
        "readMemory" => {
            let address = memory_address(args)?;
            let count = args["count"].as_u64().unwrap_or(0).min(16 << 20) as usize;
            let bytes = session(state)?.read_memory(address, count)?;
            Ok(json!({
                "address": format!("{address:#x}"),
                "data": base64_encode(&bytes),
                "unreadableBytes": count - bytes.len(),
            }))
        }
        "writeMemory" => {
            let address = memory_address(args)?;
            let bytes = base64_decode(args["data"].as_str().ok_or("data is required")?)?;
            let n = bytes.len();
            session(state)?.write_memory(address, bytes)?;
            Ok(json!({ "offset": args["offset"].as_i64().unwrap_or(0), "bytesWritten": n }))
        }
        // The guest resumes in `after`, once the response is out.
        "continue" => {
            session(state)?;
            Ok(json!({"allThreadsContinued": true}))
        }
        "next" | "stepIn" | "stepOut" => {
            if !session(state)?.is_stopped() {
                return Err("the program is running: pause it first".into());
            }
            Ok(json!({}))
        }
        "pause" => {
            session(state)?.pause();
            Ok(json!({}))
        }
        "terminate" | "disconnect" => {
            if let Some(s) = state.session.take() {
                s.terminate();
            }
            Ok(json!({}))
        }
        other => Err(format!("unsupported request `{other}`")),
    }
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_breakpoint_id += 1;
        self.next_breakpoint_id
    }
}

/// Whose breakpoints a placement answers.
#[derive(Clone, PartialEq, Eq)]
enum Owner {
    File(String),
    Function,
    Instruction,
    Listing,
}

/// The DAP breakpoints of one owner after placing every breakpoint (or,
/// before launch, reported pending).
fn placed_of(state: &mut State, owner: &Owner) -> Vec<Value> {
    match apply_breakpoints(state) {
        Ok(placed) => placed
            .into_iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, b)| b)
            .collect(),
        Err(_) => state
            .requested()
            .into_iter()
            .filter(|(o, _, _)| o == owner)
            .map(|(_, _, id)| {
                json!({"id": id, "verified": false, "reason": "pending",
                       "message": "placed when the program is launched"})
            })
            .collect(),
    }
}

impl State {
    /// Every requested breakpoint: its owner, spec and client id.
    fn requested(&self) -> Vec<(Owner, Breakpoint, u64)> {
        let mut all = Vec::new();
        for (path, lines) in &self.line_breakpoints {
            for (line, options, id) in lines {
                let spec = BreakpointSpec::Line {
                    file: path.clone(),
                    line: *line,
                };
                all.push((Owner::File(path.clone()), options.with(spec), *id));
            }
        }
        for (name, options, id) in &self.function_breakpoints {
            let spec = BreakpointSpec::Function(name.clone());
            all.push((Owner::Function, options.with(spec), *id));
        }
        for (at, options, id) in &self.instruction_breakpoints {
            all.push((
                Owner::Instruction,
                options.with(BreakpointSpec::Offset(*at)),
                *id,
            ));
        }
        for (line, options, id) in &self.listing_breakpoints {
            let spec = BreakpointSpec::ListingLine(*line);
            all.push((Owner::Listing, options.with(spec), *id));
        }
        all
    }
}

/// Maps DWARF's file paths (as the compiler saw them) to files here.
#[derive(Default)]
struct SourcePaths {
    /// Learnt from breakpoints: DWARF path -> the client's path.
    known: HashMap<String, String>,
    /// Launch's `sourceMap`: (compile-time prefix, local prefix).
    map: Vec<(String, String)>,
    /// The program's directory: a source missing at its DWARF path is
    /// looked for here by file name (the usual layout of a checkout).
    program_dir: Option<PathBuf>,
}

impl SourcePaths {
    /// The local path of a DWARF file: a breakpoint's path for it, then
    /// the `sourceMap`'s rewrite, then the same name beside the program,
    /// else the path as DWARF has it.
    fn path(&self, file: &str) -> String {
        if let Some(p) = self.known.get(file) {
            return p.clone();
        }
        for (from, to) in &self.map {
            if let Some(rest) = file.strip_prefix(from.as_str()) {
                let rest = rest.trim_start_matches('/');
                return Path::new(to).join(rest).to_string_lossy().into_owned();
            }
        }
        if !Path::new(file).exists() {
            if let (Some(dir), Some(name)) = (&self.program_dir, Path::new(file).file_name()) {
                let beside = dir.join(name);
                if beside.exists() {
                    return beside.to_string_lossy().into_owned();
                }
            }
        }
        file.to_string()
    }

    /// A DAP `Source` for a DWARF file.
    fn source(&self, file: &str) -> Value {
        let path = self.path(file);
        let name = Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        json!({"name": name, "path": path})
    }
}

/// The listing as a DAP `Source`; `current`: for the frame the program is
/// stopped in, which stays in view whatever its source.
fn listing_source(state: &State, current: bool) -> Value {
    let mut source = json!({
        "name": state.listing_name,
        "origin": "generated from the module",
    });
    // Beside source code, the listing's frames (libc, runtime) are the
    // ones to skip; in a module without DWARF they are the program.
    if !current && state.session.as_ref().is_some_and(Session::has_line_table) {
        source["presentationHint"] = json!("deemphasize");
    }
    match &state.listing_path {
        Some(path) => source["path"] = json!(path),
        None => source["sourceReference"] = json!(LISTING_REFERENCE),
    }
    source
}

/// `preload` entries, `NAME=PATH` (a relative path from `cwd`).
fn preloads(entries: &[String], cwd: Option<&Path>) -> Result<Vec<(String, PathBuf)>, String> {
    entries
        .iter()
        .map(|e| {
            let (name, path) = crate::session::parse_preload(e)?;
            Ok(match cwd {
                Some(dir) if path.is_relative() => (name, dir.join(path)),
                _ => (name, path),
            })
        })
        .collect()
}

/// A DAP stack frame: its source line from DWARF, or its line in the
/// generated listing. `s` is the source frame, a part of wasm frame `f`.
fn stack_frame(state: &State, i: usize, s: &SourceFrameRef, f: &Frame) -> Value {
    let name = s
        .name
        .clone()
        .unwrap_or_else(|| format!("func[{}]", f.func_index));
    let mut frame = json!({
        "id": i,
        "name": name,
        "line": 0,
        "column": 0,
        // (offsets in the program: what `disassemble` reads)
        "instructionPointerReference": f.wasm_offset.filter(|_| f.module == 0).map(|o| format!("{o:#x}")),
    });
    if let Some(l) = &s.location {
        frame["source"] = state.sources.source(&l.file);
        frame["line"] = json!(l.line);
        frame["column"] = json!(l.column.max(1));
    } else if let (Some(offset), Some(session), 0) = (f.wasm_offset, &state.session, f.module) {
        // (the listing is the program's: a preloaded module's frame has
        // its function's name only)
        if let Some(line) = session.listing().and_then(|l| l.line_of(offset)) {
            frame["source"] = listing_source(state, i == 0);
            frame["line"] = json!(line);
            frame["column"] = json!(1);
        }
    }
    frame
}

/// `disassemble`: the wasm text of `instructionCount` instructions from
/// the one `instructionOffset` away from `memoryReference` (+ `offset`
/// bytes); slots before the first or after the last instruction come back
/// as invalid entries, as the protocol asks.
fn disassemble(state: &State, args: &Value) -> Result<Value, String> {
    let session = session(state)?;
    let address = memory_address(args)?;
    let count = args["instructionCount"]
        .as_u64()
        .ok_or("instructionCount is required")?
        .min(100_000) as i64;
    let skip = args["instructionOffset"].as_i64().unwrap_or(0);
    let code = session.instructions();
    let listing = session
        .listing()
        .ok_or("the module cannot be printed as text")?;
    let here = code.partition_point(|i| u64::from(i.offset) < address) as i64;
    let mut last_line = None;
    let instructions: Vec<Value> = (0..count)
        .map(|k| {
            let i = here + skip + k;
            let Some(&listing::Instruction { offset, func, .. }) =
                usize::try_from(i).ok().and_then(|i| code.get(i))
            else {
                return json!({"address": format!("{:#x}", address as i64 + i - here),
                              "instruction": "", "presentationHint": "invalid"});
            };
            let listing_line = listing.line_of(offset);
            let text = listing_line
                .and_then(|l| listing.line_text(l))
                .unwrap_or("");
            let mut item = json!({
                "address": format!("{offset:#x}"),
                "instruction": text,
            });
            item["symbol"] = json!(session
                .function_name(func)
                .map_or_else(|| format!("func[{func}]"), crate::dwarf::names::demangle));
            // The source position, given when it changes (as clients expect).
            let (source, line) = match session.location(offset) {
                Some(l) => (state.sources.source(&l.file), Some(l.line)),
                None => (listing_source(state, false), listing_line),
            };
            if line.is_some() && (source.clone(), line) != last_line.clone().unwrap_or_default() {
                item["location"] = source.clone();
                item["line"] = json!(line);
            }
            last_line = Some((source, line));
            item
        })
        .collect();
    Ok(json!({ "instructions": instructions }))
}

/// A value's DAP fields, its text under `key` (`value` in variables and
/// setVariable, `result` in evaluate).
fn value_body(v: &VarView, key: &str) -> Value {
    let mut body = json!({
        "type": v.type_name,
        "variablesReference": v.reference,
        "indexedVariables": v.indexed,
        "memoryReference": v.memory_reference.map(|a| format!("{a:#x}")),
    });
    body[key] = json!(v.value);
    body
}

fn variable(v: &VarView) -> Value {
    let mut body = value_body(v, "value");
    body["name"] = json!(v.name);
    body
}

/// The address a readMemory/writeMemory request names: its
/// `memoryReference` moved by its `offset`.
fn memory_address(args: &Value) -> Result<u64, String> {
    let base = parse_address(
        args["memoryReference"]
            .as_str()
            .ok_or("memoryReference is required")?,
    )?;
    let offset = args["offset"].as_i64().unwrap_or(0);
    u64::try_from(base as i64 + offset).map_err(|_| "negative address".to_string())
}

/// A memory reference: `0x`-hex or decimal address in memory 0.
fn parse_address(text: &str) -> Result<u64, String> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    }
    .map_err(|_| format!("bad memory reference `{text}`"))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut n, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = BASE64
            .iter()
            .position(|&b| b == c)
            .ok_or("data is not base64")? as u32;
        n = n << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits) as u8);
            n &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn session(state: &State) -> Result<&Session, String> {
    state
        .session
        .as_ref()
        .ok_or_else(|| "no program is running: send `launch` first".to_string())
}

/// Places every breakpoint; returns each as a DAP `Breakpoint` with its
/// owner. An error before launch (they are placed then).
fn apply_breakpoints(state: &mut State) -> Result<Vec<(Owner, Value)>, String> {
    let session = session(state)?;
    let requested = state.requested();
    let specs: Vec<Breakpoint> = requested.iter().map(|r| r.1.clone()).collect();
    let placed = session.set_breakpoints(&specs);
    for ((owner, _, _), p) in requested.iter().zip(&placed) {
        if let (Owner::File(client), Some(dwarf)) = (owner, &p.file) {
            state.sources.known.insert(dwarf.clone(), client.clone());
        }
    }
    let listing = listing_source(state, false);
    Ok(requested
        .into_iter()
        .zip(placed)
        .map(|((owner, _, id), p)| {
            let mut bp = json!({"id": id, "verified": p.offset.is_some()});
            if let Some(m) = p.message {
                bp["message"] = json!(m);
            }
            if let Some(line) = p.line {
                bp["line"] = json!(line);
                match &owner {
                    Owner::File(path) => bp["source"] = json!({"path": path}),
                    Owner::Listing => bp["source"] = listing.clone(),
                    _ => {}
                }
            }
            if let Some(o) = p.offset {
                bp["instructionReference"] = json!(format!("{o:#x}"));
            }
            (owner, bp)
        })
        .collect())
}

/// Launches the program `args` describe; its events become DAP events on
/// their own thread until a newer launch (a restart) replaces it.
fn launch(state: &mut State, out: &Out, args: &Value) -> Result<Session, String> {
    let program = args["program"].as_str().ok_or("`program` is required")?;
    let cwd = args["cwd"].as_str().map(PathBuf::from);
    let program = match &cwd {
        Some(dir) if Path::new(program).is_relative() => dir.join(program),
        _ => PathBuf::from(program),
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let env = args["env"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let dirs = strings(&args["dirs"])
        .into_iter()
        .map(|d| {
            let (spec, ro) = match d.strip_suffix(":ro") {
                Some(s) => (s.to_string(), true),
                None => (d.clone(), false),
            };
            let (host, guest) = spec
                .split_once("::")
                .map_or((spec.clone(), spec.clone()), |(h, g)| (h.into(), g.into()));
            (PathBuf::from(host), guest, ro)
        })
        .collect();
    state.sources.program_dir = program.parent().map(Path::to_path_buf);
    state.sources.map = args["sourceMap"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    state.listing_name = format!(
        "{}.wat",
        program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "module".into())
    );
    state.listing_path = args["listingPath"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let mut session = Session::launch(LaunchConfig {
        program,
        args: strings(&args["args"]),
        env,
        dirs,
        stop_on_entry: args["stopOnEntry"].as_bool().unwrap_or(false),
        stub_imports: args["stubImports"].as_bool().unwrap_or(false),
        invoke: args["invoke"].as_str().map(str::to_string),
        every_instruction: args["everyInstruction"].as_bool().unwrap_or(false),
        control_sites: false,
        exact_locals: args["exactLocals"].as_bool().unwrap_or(false),
        cache: cache_config(&args["cache"]),
        preload: preloads(&strings(&args["preload"]), cwd.as_deref())?,
    })?;
    if let Some(text) = describe_cache(session.cache_outcome()) {
        out.event("output", json!({"category": "console", "output": text}));
    }
    session.set_trap_stops(state.trap_stops);
    let events = std::mem::replace(&mut session.events, std::sync::mpsc::channel().1);
    let frames = state.frames.clone();
    let trap = state.trap.clone();
    let out = out.clone();
    let generation = state.generation.fetch_add(1, Ordering::SeqCst) + 1;
    let current = state.generation.clone();
    std::thread::spawn(move || {
        for e in events {
            if current.load(Ordering::SeqCst) != generation {
                break;
            }
            match e {
                Event::Stopped { reason, frames: f } => {
                    *frames.lock().unwrap_or_else(|e| e.into_inner()) = f;
                    let mut body = json!({"threadId": 1, "allThreadsStopped": true});
                    let (name, description) = match reason {
                        StopReason::Entry => ("entry", None),
                        StopReason::Breakpoint => ("breakpoint", None),
                        StopReason::Step => ("step", None),
                        StopReason::Pause => ("pause", None),
                        StopReason::Trap(message) => ("exception", Some(message)),
                        StopReason::Watchpoint(hit) => (
                            "data breakpoint",
                            Some(format!(
                                "{} {:#x}",
                                if hit.write {
                                    "a store to"
                                } else {
                                    "a load from"
                                },
                                hit.address
                            )),
                        ),
                    };
                    body["reason"] = json!(name);
                    if let Some(d) = &description {
                        body["description"] = json!(format!("Trap: {d}"));
                        body["text"] = json!(d);
                    }
                    *trap.lock().unwrap_or_else(|e| e.into_inner()) = description;
                    out.event("stopped", body);
                }
                Event::Output { stderr, text } => {
                    let category = if stderr { "stderr" } else { "stdout" };
                    out.event("output", json!({"category": category, "output": text}));
                }
                Event::Trapped { message, frames: f } => {
                    let mut text = format!("{message}\n");
                    for fr in &f {
                        let name = fr
                            .func_name
                            .clone()
                            .unwrap_or_else(|| format!("func[{}]", fr.func_index));
                        match &fr.location {
                            Some(l) => text.push_str(&format!(
                                "    at {name} ({}:{}:{})\n",
                                l.file, l.line, l.column
                            )),
                            None => text.push_str(&format!("    at {name}\n")),
                        }
                    }
                    out.event("output", json!({"category": "stderr", "output": text}));
                    ended(
                        &out,
                        TRAP_EXIT_CODE,
                        &format!("Program trapped (exit code {TRAP_EXIT_CODE})."),
                    );
                }
                Event::Exited(code) => {
                    ended(&out, code, &format!("Program exited with code {code}."))
                }
                // The user pressed Stop: no trace, no failure.
                Event::Terminated => {
                    out.event(
                        "output",
                        json!({"category": "console", "output": "Program stopped by the debugger.\n"}),
                    );
                    out.event("terminated", json!({}));
                }
            }
        }
    });
    Ok(session)
}

/// The exit status reported for a guest that trapped, as a shell shows a
/// process that aborted (128 + SIGABRT).
const TRAP_EXIT_CODE: i32 = 134;

/// The end of the program: a line in the Debug Console (VS Code shows
/// nothing for the `exited` event itself), then `exited` and `terminated`.
fn ended(out: &Out, code: i32, line: &str) {
    out.event(
        "output",
        json!({"category": "console", "output": format!("{line}\n")}),
    );
    out.event("exited", json!({"exitCode": code}));
    out.event("terminated", json!({}));
}

/// The launch attribute `cache`: `false` compiles every launch, a string
/// names the cache directory, anything else (or nothing) is the user's
/// cache (`CacheConfig::user_default`).
fn cache_config(attr: &Value) -> Option<wasmscope_engine::CacheConfig> {
    match attr {
        Value::Bool(false) => None,
        Value::String(dir) if !dir.is_empty() => Some(wasmscope_engine::CacheConfig {
            dir: PathBuf::from(dir),
            ..wasmscope_engine::CacheConfig::user_default()
        }),
        _ => Some(wasmscope_engine::CacheConfig::user_default()),
    }
}

/// One console line on where the launch's code came from (and a cache
/// that cannot be written, reported once per adapter process).
fn describe_cache(outcome: &wasmscope_engine::CacheOutcome) -> Option<String> {
    use wasmscope_engine::CacheOutcome as C;
    match outcome {
        C::Disabled => None,
        C::Loaded { .. } => Some("wasmscope: compiled code loaded from the cache\n".into()),
        C::Compiled {
            stored,
            write_error,
            rejected,
            ..
        } => {
            let mut text = String::new();
            if let Some(why) = rejected {
                text.push_str(&format!("wasmscope: ignored the cached code: {why}\n"));
            }
            if let Some(e) = write_error {
                text.push_str(&format!(
                    "wasmscope: warning: {e}; compiling every launch\n"
                ));
            }
            if *stored {
                text.push_str("wasmscope: compiled, and stored in the cache\n");
            }
            (!text.is_empty()).then_some(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..20usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert!(base64_decode("!!").is_err());
    }
}
