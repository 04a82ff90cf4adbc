//! A small client for `wasmscope dap` and `wasmscope lsp` over stdio (both
//! frame messages with `Content-Length` headers): what the debugger
//! differential steps with, and what the protocol target sends its
//! sequences through.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub struct Dap {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    /// Events seen while waiting for a response.
    events: Vec<Value>,
    seq: i64,
    timeout: Duration,
}

/// A failure of the adapter itself: no answer in time, or its process
/// gone (both findings where the adapter should have answered).
#[derive(Debug)]
pub enum DapError {
    Hang(String),
    Gone(String),
    /// The adapter answered `success: false`.
    Refused(String),
}

impl std::fmt::Display for DapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DapError::Hang(w) => write!(f, "no answer in time: {w}"),
            DapError::Gone(w) => write!(f, "the adapter exited: {w}"),
            DapError::Refused(w) => write!(f, "refused: {w}"),
        }
    }
}

impl Dap {
    pub fn start(wasmscope: &std::path::Path, timeout: Duration) -> std::io::Result<Dap> {
        Dap::start_server(wasmscope, "dap", Stdio::null(), timeout)
    }

    /// `wasmscope SUBCOMMAND` (`dap` or `lsp`), its stderr to `stderr`.
    pub fn start_server(
        wasmscope: &std::path::Path,
        subcommand: &str,
        stderr: Stdio,
        timeout: Duration,
    ) -> std::io::Result<Dap> {
        let mut child = Command::new(wasmscope)
            .arg(subcommand)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length:") {
                        length = n.trim().parse::<usize>().ok();
                    }
                }
                let Some(n) = length else { return };
                let mut body = vec![0; n];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Ok(Dap {
            child,
            stdin: Some(stdin),
            incoming: rx,
            events: Vec::new(),
            seq: 0,
            timeout,
        })
    }

    /// Writes raw bytes (the protocol target's malformed frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), DapError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| DapError::Gone("input closed".into()))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| DapError::Gone(format!("write: {e}")))
    }

    pub fn send(&mut self, message: &Value) -> Result<(), DapError> {
        let body = message.to_string();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
    }

    fn next(&mut self, deadline: Instant, what: &str) -> Result<Value, DapError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(left) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => Err(DapError::Hang(what.to_string())),
            Err(RecvTimeoutError::Disconnected) => Err(DapError::Gone(what.to_string())),
        }
    }

    /// Sends a request and waits for its response; `Refused` when the
    /// adapter says `success: false`.
    pub fn request(&mut self, command: &str, arguments: Value) -> Result<Value, DapError> {
        self.seq += 1;
        let seq = self.seq;
        self.send(
            &json!({"seq": seq, "type": "request", "command": command, "arguments": arguments}),
        )?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.next(deadline, command)?;
            if m["type"] == "response" && m["request_seq"] == seq {
                if m["success"] == true {
                    return Ok(m["body"].clone());
                }
                return Err(DapError::Refused(format!(
                    "{command}: {}",
                    m["message"].as_str().unwrap_or("")
                )));
            }
            if m["type"] == "event" {
                self.events.push(m);
            }
        }
    }

    /// The next event named one of `names` (earlier ones kept are looked
    /// at first).
    pub fn event(&mut self, names: &[&str]) -> Result<Value, DapError> {
        if let Some(i) = self
            .events
            .iter()
            .position(|e| names.iter().any(|n| e["event"] == *n))
        {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.next(deadline, &format!("event {names:?}"))?;
            if m["type"] == "event" && names.iter().any(|n| m["event"] == *n) {
                return Ok(m);
            }
        }
    }

    /// The first message `wanted` accepts (others are kept as events).
    pub fn wait_for(
        &mut self,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Value, DapError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.next(deadline, what)?;
            if wanted(&m) {
                return Ok(m);
            }
            self.events.push(m);
        }
    }

    /// How the server process ended, if it has (waiting up to `grace`).
    pub fn exit_status(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every thread's backtrace of the server, by gdb (for a hang).
    pub fn backtrace(&self) -> String {
        Command::new("timeout")
            .args([
                "60",
                "gdb",
                "-batch",
                "-nx",
                "-p",
                &self.child.id().to_string(),
            ])
            .args(["-ex", "thread apply all bt 30"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Closes the server's stdin (end of input).
    pub fn close_input(&mut self) {
        self.stdin = None;
    }
}

impl Drop for Dap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
