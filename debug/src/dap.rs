//! The Debug Adapter Protocol over stdio, on top of `session`: framing,
//! one handler per request, and a thread that turns session events into
//! DAP events. The adapter never dies of a bad message: malformed input is
//! logged on stderr and skipped, unknown or failing requests get an error
//! response.
//!
//! Supported today: initialize, launch (program, args, env, dirs,
//! stopOnEntry), setBreakpoints (verified, moved to the nearest line with
//! code, or unverified with a reason), setFunctionBreakpoints,
//! setExceptionBreakpoints (accepted; traps end the session with their
//! message and source position on stderr), configurationDone, threads,
//! stackTrace, scopes, variables (the innermost frame's wasm locals),
//! continue, next, stepIn, stepOut, pause, terminate, disconnect; events
//! initialized, stopped, output, exited, terminated.

use crate::session::{BreakpointSpec, Event, Frame, LaunchConfig, Session, Step, StopReason};
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

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// Breakpoints by client source path, and by function name.
    line_breakpoints: HashMap<String, Vec<u32>>,
    function_breakpoints: Vec<String>,
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
            let lines: Vec<u32> = args["breakpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b["line"].as_u64())
                        .map(|l| l as u32)
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
                        .filter_map(|b| b["name"].as_str())
                        .map(str::to_string)
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
            let frame = args["frameId"].as_u64().unwrap_or(0);
            // Locals of the innermost frame only (the hook sees that frame).
            let scopes = if frame == 0 {
                json!([{"name": "Wasm locals", "variablesReference": 1, "expensive": false}])
            } else {
                json!([])
            };
            Ok(json!({ "scopes": scopes }))
        }
        "variables" => {
            let locals = session(state)?.locals();
            let variables: Vec<Value> = locals
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value, "variablesReference": 0}))
                .collect();
            Ok(json!({ "variables": variables }))
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
        for &line in lines {
            specs.push(BreakpointSpec::Line {
                file: path.clone(),
                line,
            });
            owners.push(Some(path.clone()));
        }
    }
    for name in &state.function_breakpoints {
        specs.push(BreakpointSpec::Function(name.clone()));
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
