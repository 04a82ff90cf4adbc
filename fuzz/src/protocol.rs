//! Target 4, the protocols: random and mutated sequences of Debug Adapter
//! Protocol (even seeds) and Language Server Protocol (odd seeds) messages
//! sent to `wasmscope dap` / `wasmscope lsp`: requests in any order,
//! arguments of the wrong shape, huge and negative numbers, unknown
//! references and commands, malformed frames and bodies, edits with
//! ranges outside the document. The server must answer every request
//! (DAP: a response with its `request_seq`; LSP: a result or an error
//! with its `id`, `MethodNotFound` for an unknown method) within 10 s,
//! never report an internal error or panic, stay alive through malformed
//! input, and at the end leave cleanly (`disconnect`; `shutdown` and
//! `exit`) with status 0.

use crate::dap_client::{Dap, DapError};
use crate::rng::Rng;
use crate::run::{self, Verdict};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub struct Tools {
    pub wasmscope: PathBuf,
    pub work: PathBuf,
    /// Modules to launch: the fixtures with DWARF, a `.wat` that loops.
    programs: Vec<String>,
}

impl Tools {
    pub fn new(wasmscope: PathBuf, root: &Path, out: &Path) -> Tools {
        let work = out.join("protocol-work");
        std::fs::create_dir_all(&work).ok();
        let spin = work.join("spin.wat");
        std::fs::write(
            &spin,
            "(module (func $f (export \"_start\") (local i32)\n  (loop $l (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br $l))))\n",
        )
        .ok();
        let garbage = work.join("garbage.wasm");
        std::fs::write(&garbage, b"\0asm\x01\0\0\0\x01\xff\xff").ok();
        let programs = [
            root.join("tests/fixtures/dbg/app-O0.wasm"),
            root.join("tests/fixtures/dbg/kinds-O2.wasm"),
            root.join("tests/fixtures/trap.wasm"),
            spin,
            garbage,
            work.join("missing.wasm"),
            work.clone(),
        ]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
        Tools {
            wasmscope,
            work,
            programs,
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// A value of the wrong shape, or a number out of every range.
fn junk(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(i64::MAX),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(""),
        7 => json!("x".repeat(10_000)),
        8 => json!([]),
        9 => json!({}),
        10 => json!([1, "two", null]),
        _ => json!({"a": {"b": [1]}}),
    }
}

fn number(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(-1),
        3 => json!(rng.below(8)),
        4 => json!(rng.below(100)),
        5 => json!(1000 + rng.below(1000)),
        6 => json!(i32::MAX),
        7 => json!(u32::MAX),
        8 => json!(i64::MIN),
        _ => json!(2.5),
    }
}

fn text(rng: &mut Rng) -> String {
    let pieces = [
        "x",
        "n",
        "p->x",
        "*p",
        "argv[1]",
        "1 + 2",
        "((",
        "\u{0}",
        "$local0",
        "g_9",
        "sum_list",
        "-",
        "0x",
        "'",
        "\"",
        "é",
        "999999999999999999999",
    ];
    (0..1 + rng.below(4)).map(|_| *rng.pick(&pieces)).collect()
}

/// Breaks the shape of `args` now and then: a field or the whole of it
/// replaced by junk, or a field dropped.
fn damage(args: Value, rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => junk(rng),
        1 | 2 => {
            let Value::Object(mut map) = args else {
                return args;
            };
            let keys: Vec<String> = map.keys().cloned().collect();
            if let Some(k) = keys.get(rng.below(keys.len().max(1) as u64) as usize) {
                if rng.chance(50) {
                    map.remove(k);
                } else {
                    map.insert(k.clone(), junk(rng));
                }
            }
            Value::Object(map)
        }
        _ => args,
    }
}

/// A DAP frame that is not a well-formed request: the server must live on.
fn bad_dap_frame(rng: &mut Rng) -> Vec<u8> {
    let frame = |body: &[u8]| {
        let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        f.extend_from_slice(body);
        f
    };
    match rng.below(6) {
        0 => frame(b"not json"),
        1 => frame(b"[1,2,3]"),
        2 => frame(b"{\"seq\": \"one\", \"type\": \"request\"}"),
        3 => frame(b"{\"type\": \"event\", \"event\": \"stopped\"}"),
        4 => frame(b"\xff\xfe{}"),
        _ => frame(b"{\"seq\": 999999999, \"type\": \"request\", \"command\": 42}"),
    }
}

fn dap_request(tools: &Tools, rng: &mut Rng, state: &DapState) -> (String, Value) {
    let reference = |rng: &mut Rng| {
        if !state.references.is_empty() && rng.chance(70) {
            json!(rng.pick(&state.references))
        } else {
            number(rng)
        }
    };
    let (command, args) = match rng.below(26) {
        0 => (
            "initialize",
            json!({"adapterID": "fuzz", "linesStartAt1": rng.chance(80)}),
        ),
        1 | 2 => (
            "launch",
            json!({"program": rng.pick(&tools.programs), "stopOnEntry": rng.chance(50),
                   "args": ["a", "b"], "cwd": tools.work.display().to_string(),
                   "stubImports": rng.chance(50)}),
        ),
        3 => (
            "setBreakpoints",
            json!({"source": {"path": tools.programs[0].replace(".wasm", ".c").replace("-O0", "")},
                   "breakpoints": (0..rng.below(4)).map(|_| json!({"line": number(rng), "condition": if rng.chance(30) { json!(text(rng)) } else { Value::Null }})).collect::<Vec<_>>()}),
        ),
        4 => (
            "setFunctionBreakpoints",
            json!({"breakpoints": [{"name": text(rng)}, {"name": "factorial"}]}),
        ),
        5 => (
            "setExceptionBreakpoints",
            json!({"filters": ["trap", text(rng)]}),
        ),
        6 => ("configurationDone", json!({})),
        7 => ("threads", json!({})),
        8 => (
            "stackTrace",
            json!({"threadId": number(rng), "startFrame": number(rng), "levels": number(rng)}),
        ),
        9 => ("scopes", json!({"frameId": reference(rng)})),
        10 | 11 => (
            "variables",
            json!({"variablesReference": reference(rng), "start": number(rng), "count": number(rng)}),
        ),
        12 => (
            "evaluate",
            json!({"expression": text(rng), "frameId": reference(rng), "context": "watch"}),
        ),
        13 => (
            "next",
            json!({"threadId": 1, "granularity": if rng.chance(50) { "instruction" } else { "line" }}),
        ),
        14 => ("stepIn", json!({"threadId": 1})),
        15 => ("stepOut", json!({"threadId": 1})),
        16 => ("continue", json!({"threadId": 1})),
        17 => ("pause", json!({"threadId": number(rng)})),
        18 => (
            "setVariable",
            json!({"variablesReference": reference(rng), "name": text(rng), "value": text(rng)}),
        ),
        19 => (
            "readMemory",
            json!({"memoryReference": format!("{:#x}", rng.next_u64() >> rng.below(64)), "offset": number(rng), "count": number(rng)}),
        ),
        20 => (
            "writeMemory",
            json!({"memoryReference": "0x10", "offset": number(rng), "data": "AAEC"}),
        ),
        21 => (
            "disassemble",
            json!({"memoryReference": "0x0", "instructionOffset": number(rng), "instructionCount": number(rng), "offset": number(rng)}),
        ),
        22 => ("loadedSources", json!({})),
        23 => ("exceptionInfo", json!({"threadId": 1})),
        24 => ("restart", json!({})),
        _ => (
            *rng.pick(&[
                "noSuchCommand",
                "",
                "terminate",
                "source",
                "setInstructionBreakpoints",
            ]),
            json!({"sourceReference": number(rng), "breakpoints": [{"instructionReference": text(rng)}]}),
        ),
    };
    (command.to_string(), damage(args, rng))
}

#[derive(Default)]
struct DapState {
    /// Frame ids and variable references the adapter handed out.
    references: Vec<u64>,
}

fn collect_references(body: &Value, state: &mut DapState) {
    match body {
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(k.as_str(), "id" | "variablesReference" | "frameId") {
                    if let Some(n) = v.as_u64().filter(|n| *n > 0) {
                        if state.references.len() < 64 {
                            state.references.push(n);
                        }
                    }
                }
                collect_references(v, state);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, state)),
        _ => {}
    }
}

pub fn case(tools: &Tools, seed: u64) -> Verdict {
    let mut rng = Rng::new(seed);
    let mut transcript = Vec::new();
    let stderr_path = tools.work.join(format!("stderr-{}", seed % 2));
    let result = if seed.is_multiple_of(2) {
        dap_case(tools, &mut rng, &stderr_path, &mut transcript)
    } else {
        lsp_case(tools, &mut rng, &stderr_path, &mut transcript)
    };
    let what = if seed.is_multiple_of(2) { "DAP" } else { "LSP" };
    run::server_verdict(what, result, &stderr_path, "messages.txt", &transcript)
}

fn start(tools: &Tools, subcommand: &str, stderr: &Path) -> Result<Dap, String> {
    let file = std::fs::File::create(stderr).map_err(|e| e.to_string())?;
    Dap::start_server(&tools.wasmscope, subcommand, Stdio::from(file), TIMEOUT)
        .map_err(|e| format!("cannot start wasmscope {subcommand}: {e}"))
}

fn dap_case(
    tools: &Tools,
    rng: &mut Rng,
    stderr: &Path,
    transcript: &mut Vec<String>,
) -> Result<(), String> {
    let mut dap = start(tools, "dap", stderr)?;
    let mut state = DapState::default();
    let mut seq = 0;
    for _ in 0..5 + rng.below(40) {
        if rng.chance(4) {
            let frame = bad_dap_frame(rng);
            transcript.push(format!("raw {}", json!(String::from_utf8_lossy(&frame))));
            dap.send_raw(&frame).map_err(|e| e.to_string())?;
            continue;
        }
        let (command, args) = dap_request(tools, rng, &state);
        seq += 1;
        let message = json!({"seq": seq, "type": "request", "command": command, "arguments": args});
        transcript.push(message.to_string());
        dap.send(&message).map_err(|e| e.to_string())?;
        let response = dap
            .wait_for(&format!("the response to {command} (seq {seq})"), |m| {
                m["type"] == "response" && m["request_seq"] == seq
            })
            .map_err(|e| match e {
                DapError::Hang(_) => format!("{e}\n\nthe adapter's threads:\n{}", dap.backtrace()),
                e => e.to_string(),
            })?;
        if response["command"] != command.as_str() {
            return Err(format!(
                "the response to {command} names {}",
                response["command"]
            ));
        }
        let message = response["message"].as_str().unwrap_or("");
        if message.contains("internal error") {
            return Err(format!("{command}: {message}"));
        }
        if response["success"] == true {
            collect_references(&response["body"], &mut state);
        } else if command == "noSuchCommand" && message.is_empty() {
            return Err("an unknown command refused without a message".into());
        }
        if command == "noSuchCommand" && response["success"] == true {
            return Err("an unknown command succeeded".into());
        }
    }
    seq += 1;
    let bye = json!({"seq": seq, "type": "request", "command": "disconnect", "arguments": {"terminateDebuggee": true}});
    transcript.push(bye.to_string());
    dap.send(&bye).map_err(|e| e.to_string())?;
    dap.wait_for("the response to disconnect", |m| {
        m["type"] == "response" && m["request_seq"] == seq
    })
    .map_err(|e| e.to_string())?;
    match dap.exit_status(Duration::from_secs(10)) {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("the adapter ended with {s} after disconnect")),
        None => Err("the adapter is still running 10 s after disconnect".into()),
    }
}

/// A `.wat` document to edit: a small valid module, often damaged.
fn document(rng: &mut Rng) -> String {
    let base = [
        "(module\n  (func $add (export \"add\") (param $a i32) (param $b i32) (result i32)\n    local.get $a\n    local.get $b\n    i32.add)\n  (memory 1)\n  (global $g (mut i32) (i32.const 0))\n  (func $main (call $add (i32.const 1) (i32.const 2)) drop))\n",
        "(module (type $t (func (param i32) (result i32)))\n (table 2 funcref)\n (elem (i32.const 0) $f $f)\n (func $f (type $t) (local.get 0))\n (func (export \"g\") (result i32) (call_indirect (type $t) (i32.const 5) (i32.const 1))))\n",
        "(module (func (export \"_start\") (local $x externref) (local.set $x (ref.null extern))))\n",
    ];
    let mut text = rng.pick(&base).to_string();
    for _ in 0..rng.below(4) {
        if text.is_empty() {
            break;
        }
        let at = (rng.below(text.len() as u64) as usize..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        let insert = *rng.pick(&[
            "(",
            ")",
            "$",
            "\"",
            ";;",
            "(;",
            "i32.const 99999999999",
            "é",
            "\n",
            "local.get 7",
        ]);
        if rng.chance(50) {
            text.insert_str(at, insert);
        } else {
            let end = (at + 1 + rng.below(20) as usize).min(text.len());
            let end = (end..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            text.replace_range(at..end, "");
        }
    }
    text
}

fn position(rng: &mut Rng) -> Value {
    let big = |rng: &mut Rng| {
        if rng.chance(10) {
            json!(u32::MAX)
        } else {
            json!(rng.below(12))
        }
    };
    json!({"line": big(rng), "character": big(rng)})
}

fn lsp_case(
    tools: &Tools,
    rng: &mut Rng,
    stderr: &Path,
    transcript: &mut Vec<String>,
) -> Result<(), String> {
    let mut lsp = start(tools, "lsp", stderr)?;
    let mut id = 0u64;
    let uris = [
        "file:///fuzz/a.wat",
        "file:///fuzz/b.wast",
        "untitled:c",
        "not a uri",
    ];
    let mut version = 0;
    let mut request = |lsp: &mut Dap,
                       transcript: &mut Vec<String>,
                       method: &str,
                       params: Value|
     -> Result<Value, String> {
        id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        transcript.push(message.to_string());
        lsp.send(&message).map_err(|e| e.to_string())?;
        let wanted = id;
        lsp.wait_for(&format!("the answer to {method} (id {wanted})"), |m| {
            m["id"] == wanted && (m.get("result").is_some() || m.get("error").is_some())
        })
        .map_err(|e| e.to_string())
    };
    let notify = |lsp: &mut Dap, transcript: &mut Vec<String>, method: &str, params: Value| {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        transcript.push(message.to_string());
        lsp.send(&message).map_err(|e| e.to_string())
    };
    let init = if rng.chance(90) {
        json!({"capabilities": {}, "processId": null, "rootUri": null})
    } else {
        junk(rng)
    };
    request(&mut lsp, transcript, "initialize", init)?;
    notify(&mut lsp, transcript, "initialized", json!({}))?;
    for _ in 0..5 + rng.below(40) {
        let uri = if rng.chance(80) {
            uris[0]
        } else {
            *rng.pick(&uris)
        };
        let doc = json!({"uri": uri});
        let at = position(rng);
        match rng.below(16) {
            0 | 1 => {
                version += 1;
                notify(
                    &mut lsp,
                    transcript,
                    "textDocument/didOpen",
                    damage(
                        json!({"textDocument": {"uri": uri, "languageId": "wat", "version": version, "text": document(rng)}}),
                        rng,
                    ),
                )?;
            }
            2 | 3 => {
                version += 1;
                let change = if rng.chance(30) {
                    json!({"text": document(rng)})
                } else {
                    json!({"range": {"start": position(rng), "end": position(rng)}, "text": text(rng)})
                };
                notify(
                    &mut lsp,
                    transcript,
                    "textDocument/didChange",
                    damage(
                        json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}),
                        rng,
                    ),
                )?;
            }
            4 => notify(
                &mut lsp,
                transcript,
                "textDocument/didClose",
                json!({"textDocument": doc}),
            )?,
            5 => notify(&mut lsp, transcript, "$/noSuchNotification", junk(rng))?,
            6 => {
                let answer = request(&mut lsp, transcript, "wasmscope/noSuchMethod", json!({}))?;
                if answer["error"]["code"] != -32601 {
                    return Err(format!("an unknown method: {answer}"));
                }
            }
            k => {
                let (method, params) = match k {
                    7 => (
                        "textDocument/hover",
                        json!({"textDocument": doc, "position": at}),
                    ),
                    8 => (
                        "textDocument/definition",
                        json!({"textDocument": doc, "position": at}),
                    ),
                    9 => (
                        "textDocument/references",
                        json!({"textDocument": doc, "position": at, "context": {"includeDeclaration": true}}),
                    ),
                    10 => (
                        "textDocument/completion",
                        json!({"textDocument": doc, "position": at}),
                    ),
                    11 => ("textDocument/documentSymbol", json!({"textDocument": doc})),
                    12 => (
                        "textDocument/semanticTokens/full",
                        json!({"textDocument": doc}),
                    ),
                    13 => (
                        "textDocument/rename",
                        json!({"textDocument": doc, "position": at, "newName": text(rng)}),
                    ),
                    14 => (
                        *rng.pick(&[
                            "textDocument/foldingRange",
                            "textDocument/formatting",
                            "textDocument/codeLens",
                        ]),
                        json!({"textDocument": doc, "options": {"tabSize": 2, "insertSpaces": true}}),
                    ),
                    _ => (
                        *rng.pick(&[
                            "textDocument/inlayHint",
                            "textDocument/prepareRename",
                            "wasmscope/disassemble",
                        ]),
                        json!({"textDocument": doc, "position": at, "range": {"start": position(rng), "end": position(rng)}, "uri": uri}),
                    ),
                };
                let params = damage(params, rng);
                let answer = request(&mut lsp, transcript, method, params)?;
                if let Some(m) = answer["error"]["message"].as_str() {
                    if m.contains("panic") || m.contains("internal") {
                        return Err(format!("{method}: {m}"));
                    }
                }
            }
        }
    }
    let shutdown = request(&mut lsp, transcript, "shutdown", Value::Null)?;
    notify(&mut lsp, transcript, "exit", Value::Null)?;
    lsp.close_input();
    // The spec: 0 after a successful shutdown, 1 otherwise (a server whose
    // initialize failed cannot shut down).
    let expected = if shutdown.get("result").is_some() {
        0
    } else {
        1
    };
    match lsp.exit_status(Duration::from_secs(10)) {
        Some(s) if s.code() == Some(expected) => Ok(()),
        Some(s) => Err(format!(
            "the server ended with {s} after shutdown ({}) and exit",
            if expected == 0 { "answered" } else { "refused" }
        )),
        None => Err("the server is still running 10 s after exit".into()),
    }
}

/// Sends a saved `messages.txt` again, message by message, with the same
/// checks (`wasmscope-fuzz protocol --replay FILE`).
pub fn replay(tools: &Tools, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let lsp_mode = text.contains("\"jsonrpc\"");
    let stderr = tools.work.join("stderr-replay");
    let mut peer = start(tools, if lsp_mode { "lsp" } else { "dap" }, &stderr)?;
    for (n, line) in text.lines().enumerate() {
        if let Some(raw) = line.strip_prefix("raw ") {
            let frame: String =
                serde_json::from_str(raw).map_err(|e| format!("line {}: {e}", n + 1))?;
            peer.send_raw(frame.as_bytes()).map_err(|e| e.to_string())?;
            continue;
        }
        let message: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        peer.send(&message).map_err(|e| e.to_string())?;
        eprintln!("-> {}", line.chars().take(160).collect::<String>());
        let answer = if lsp_mode {
            let Some(id) = message.get("id").cloned() else {
                continue;
            };
            peer.wait_for(&format!("the answer to line {}", n + 1), |m| {
                m["id"] == id && (m.get("result").is_some() || m.get("error").is_some())
            })
        } else {
            let seq = message["seq"].clone();
            peer.wait_for(&format!("the response to line {}", n + 1), |m| {
                m["type"] == "response" && m["request_seq"] == seq
            })
        }
        .map_err(|e| e.to_string())?;
        eprintln!(
            "<- {}",
            answer.to_string().chars().take(160).collect::<String>()
        );
    }
    Ok(())
}
