//! The Debug Adapter Protocol over stdio, on top of `session`: framing,
//! one handler per request, and a thread that turns session events into
//! DAP events. The adapter never dies of a bad message: malformed input is
//! logged on stderr and skipped, unknown or failing requests get an error
//! response.
//!
//! Supported today: initialize, launch (program, args, env, dirs,
//! stopOnEntry), setBreakpoints (verified, moved to the nearest line with
//! code, or unverified with a reason; conditions, hit conditions,
//! logpoints), setFunctionBreakpoints, setExceptionBreakpoints (accepted;
//! traps end the session with their message and source position on
//! stderr), configurationDone, threads, stackTrace, scopes (source locals
//! and globals from DWARF, wasm locals, operand-stack types, wasm globals,
//! tables, memories), variables (paged), setVariable, evaluate, readMemory,
//! writeMemory, continue, next, stepIn, stepOut, pause, terminate,
//! disconnect; events initialized, stopped, output, exited, terminated.

use crate::session::{
    Breakpoint, BreakpointSpec, Event, Frame, LaunchConfig, Session, Step, StopReason, VarView,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
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

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// Breakpoints by client source path (line and options), and by
    /// function name.
    line_breakpoints: HashMap<String, Vec<(u32, Options)>>,
    function_breakpoints: Vec<(String, Options)>,
    /// DWARF file path -> the client's path for the same file.
    paths: Arc<Mutex<HashMap<String, String>>>,
    frames: Arc<Mutex<Vec<Frame>>>,
}

/// Serves DAP on stdin/stdout until `disconnect` or end of input.
pub fn run_stdio() {
    let out = Out(Arc::new(Mutex::new((Box::new(std::io::stdout()), 0))));
    let mut input = BufReader::new(std::io::stdin());
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
        match result {
            Ok(body) => response["body"] = body,
            Err(message) => response["message"] = json!(message),
        }
        let launched = command == "launch" && response_ok(&response);
        out.send(response);
        if launched {
            out.event("initialized", json!({}));
        }
        if matches!(command.as_str(), "disconnect") {
            break;
        }
    }
    if let Some(s) = state.session.take() {
        s.terminate();
    }
}

fn response_ok(r: &Value) -> bool {
    r["success"].as_bool() == Some(true)
}

fn handle(state: &mut State, out: &Out, command: &str, args: &Value) -> Result<Value, String> {
    match command {
        "initialize" => Ok(json!({
            "supportsConfigurationDoneRequest": true,
            "supportsFunctionBreakpoints": true,
            "supportsTerminateRequest": true,
            "exceptionBreakpointFilters": [],
        })),
        "launch" => launch(state, out, args),
        "setBreakpoints" => {
            let path = args["source"]["path"]
                .as_str()
                .ok_or("source.path is required")?
                .to_string();
            let lines: Vec<(u32, Options)> = args["breakpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| Some((b["line"].as_u64()? as u32, Options::of(b))))
                        .collect()
                })
                .unwrap_or_default();
            state.line_breakpoints.insert(path.clone(), lines);
            let placed = apply_breakpoints(state)?;
            let breakpoints: Vec<Value> = placed
                .into_iter()
                .filter(|(p, _)| p.as_deref() == Some(path.as_str()))
                .map(|(_, b)| b)
                .collect();
            Ok(json!({ "breakpoints": breakpoints }))
        }
        "setFunctionBreakpoints" => {
            state.function_breakpoints = args["breakpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| Some((b["name"].as_str()?.to_string(), Options::of(b))))
                        .collect()
                })
                .unwrap_or_default();
            let placed = apply_breakpoints(state)?;
            let breakpoints: Vec<Value> = placed
                .into_iter()
                .filter(|(p, _)| p.is_none())
                .map(|(_, b)| b)
                .collect();
            Ok(json!({ "breakpoints": breakpoints }))
        }
        "setExceptionBreakpoints" => Ok(json!({})),
        "configurationDone" => {
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
            let paths = state
                .paths
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let stack: Vec<Value> = frames
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = f
                        .func_name
                        .clone()
                        .unwrap_or_else(|| format!("func[{}]", f.func_index));
                    let mut frame = json!({
                        "id": i,
                        "name": name,
                        "line": 0,
                        "column": 0,
                        "instructionPointerReference": f.wasm_offset.map(|o| format!("{o:#x}")),
                    });
                    if let Some(l) = &f.location {
                        let path = paths
                            .get(&l.file)
                            .cloned()
                            .unwrap_or_else(|| l.file.clone());
                        let file_name = Path::new(&path)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned());
                        frame["source"] = json!({"name": file_name, "path": path});
                        frame["line"] = json!(l.line);
                        frame["column"] = json!(l.column.max(1));
                    }
                    frame
                })
                .collect();
            Ok(json!({"stackFrames": stack, "totalFrames": frames.len()}))
        }
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
        "continue" => {
            session(state)?.resume();
            Ok(json!({"allThreadsContinued": true}))
        }
        "next" | "stepIn" | "stepOut" => {
            let kind = match command {
                "next" => Step::Over,
                "stepIn" => Step::In,
                _ => Step::Out,
            };
            session(state)?.step(kind);
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

/// Sets every breakpoint; returns each with its client path (`None` for
/// function breakpoints) as a DAP `Breakpoint`.
fn apply_breakpoints(state: &mut State) -> Result<Vec<(Option<String>, Value)>, String> {
    let session = session(state)?;
    let mut specs = Vec::new();
    let mut owners = Vec::new();
    for (path, lines) in &state.line_breakpoints {
        for (line, options) in lines {
            specs.push(options.with(BreakpointSpec::Line {
                file: path.clone(),
                line: *line,
            }));
            owners.push(Some(path.clone()));
        }
    }
    for (name, options) in &state.function_breakpoints {
        specs.push(options.with(BreakpointSpec::Function(name.clone())));
        owners.push(None);
    }
    let placed = session.set_breakpoints(&specs);
    {
        let mut paths = state.paths.lock().unwrap_or_else(|e| e.into_inner());
        for (owner, p) in owners.iter().zip(&placed) {
            if let (Some(client), Some(dwarf)) = (owner, &p.file) {
                paths.insert(dwarf.clone(), client.clone());
            }
        }
    }
    Ok(owners
        .into_iter()
        .zip(placed)
        .enumerate()
        .map(|(i, (owner, p))| {
            let mut bp = json!({"id": i + 1, "verified": p.offset.is_some()});
            if let Some(m) = p.message {
                bp["message"] = json!(m);
            }
            if let (Some(path), Some(line)) = (&owner, p.line) {
                bp["line"] = json!(line);
                bp["source"] = json!({"path": path});
            }
            if let Some(o) = p.offset {
                bp["instructionReference"] = json!(format!("{o:#x}"));
            }
            (owner, bp)
        })
        .collect())
}

fn launch(state: &mut State, out: &Out, args: &Value) -> Result<Value, String> {
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
    let mut session = Session::launch(LaunchConfig {
        program,
        args: strings(&args["args"]),
        env,
        dirs,
        stop_on_entry: args["stopOnEntry"].as_bool().unwrap_or(false),
    })?;
    // Session events become DAP events on their own thread.
    let events = std::mem::replace(&mut session.events, std::sync::mpsc::channel().1);
    let frames = state.frames.clone();
    let out = out.clone();
    std::thread::spawn(move || {
        for e in events {
            match e {
                Event::Stopped { reason, frames: f } => {
                    *frames.lock().unwrap_or_else(|e| e.into_inner()) = f;
                    let reason = match reason {
                        StopReason::Entry => "entry",
                        StopReason::Breakpoint => "breakpoint",
                        StopReason::Step => "step",
                        StopReason::Pause => "pause",
                    };
                    out.event(
                        "stopped",
                        json!({"reason": reason, "threadId": 1, "allThreadsStopped": true}),
                    );
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
                    out.event("exited", json!({"exitCode": 134}));
                    out.event("terminated", json!({}));
                }
                Event::Exited(code) => {
                    out.event("exited", json!({"exitCode": code}));
                    out.event("terminated", json!({}));
                }
            }
        }
    });
    state.session = Some(session);
    Ok(json!({}))
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
