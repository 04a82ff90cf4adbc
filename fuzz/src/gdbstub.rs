//! Target 5, the GDB remote protocol of `wasmscope run --gdb-port`:
//! random and malformed packet sequences from a client that knows the
//! framing and nothing else. Packets lldb sends, with addresses, lengths,
//! frames and indices from every range (code space, linear memory, past
//! both, `u64::MAX`, not numbers), binary writes, breakpoints and
//! watchpoints of every kind and size, continues and steps (interrupted
//! with `^C` when the guest runs on), bad checksums, packets over the
//! advertised size, bytes outside any packet, a second client. The stub
//! must answer every packet that wants an answer within 10 s, report
//! every stop, never panic, and end when told (`k`) without a signal.

use crate::rng::Rng;
use crate::run::{self, Verdict};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tools {
    pub wasmscope: PathBuf,
    work: PathBuf,
    /// (module, arguments before it) to serve.
    programs: Vec<(String, Vec<String>)>,
}

impl Tools {
    pub fn new(wasmscope: PathBuf, root: &Path, out: &Path) -> Tools {
        let work = out.join("gdbstub-work");
        std::fs::create_dir_all(&work).ok();
        let spin = work.join("spin.wat");
        std::fs::write(
            &spin,
            "(module (memory 1) (func (export \"_start\") (local i32)\n  \
             (loop $l (i32.store (i32.const 16) (local.get 0))\n    \
             (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br $l))))\n",
        )
        .ok();
        let fixture = |p: &str| root.join("tests/fixtures").join(p).display().to_string();
        let programs = vec![
            (fixture("dbg/app-O0.wasm"), vec![]),
            (fixture("dbg/kinds-O2.wasm"), vec![]),
            (fixture("dbg/optimized-O2.wasm"), vec![]),
            (fixture("trap.wasm"), vec![]),
            (spin.display().to_string(), vec![]),
            (
                fixture("dbg/libmain-O0.wasm"),
                vec![
                    "--preload".into(),
                    format!("acc={}", fixture("dbg/acc-O0.wasm")),
                ],
            ),
        ];
        Tools {
            wasmscope,
            work,
            programs,
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a continue runs before the client interrupts it.
const RUN_FOR: Duration = Duration::from_millis(300);
/// The stub's advertised packet size.
const MAX_PACKET: usize = 0x4000;
const CODE_SPACE: u64 = 0x4000_0000_0000_0000;

/// What a packet asks of the stub.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wants {
    /// One reply.
    Reply,
    /// The guest runs: a stop or exit reply, after `^C` if need be.
    Stop,
    /// Nothing (a bad checksum, bytes outside a packet).
    Nothing,
    /// The end of the conversation: the stub says so and ends.
    End,
}

pub fn case(tools: &Tools, seed: u64) -> Verdict {
    let mut rng = Rng::new(seed);
    let mut transcript = Vec::new();
    let stderr_path = tools.work.join("stderr");
    let (module, before) = rng.pick(&tools.programs).clone();
    let mut args = vec!["run".to_string(), "--gdb-port".into(), "0".into()];
    args.extend(before);
    if rng.chance(20) {
        args.push("--every-instruction".into());
    }
    if rng.chance(20) {
        args.push("--mirrored-locals".into());
    }
    args.push("--gdb-output".into());
    args.push(rng.pick(&["lldb", "terminal", "both"]).to_string());
    args.push(module);
    transcript.push(format!("wasmscope {}", args.join(" ")));
    let result = conversation(tools, &args, &mut rng, &stderr_path, &mut transcript);
    run::server_verdict("gdbstub", result, &stderr_path, "packets.txt", &transcript)
}

/// The stub, killed when dropped (a finding must not leave it running).
struct Stub(Child);

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn conversation(
    tools: &Tools,
    args: &[String],
    rng: &mut Rng,
    stderr_path: &Path,
    transcript: &mut Vec<String>,
) -> Result<(), String> {
    let stderr = std::fs::File::create(stderr_path).map_err(|e| e.to_string())?;
    let child = Command::new(&tools.wasmscope)
        .args(args)
        .env("WASMSCOPE_CACHE_DIR", tools.work.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start wasmscope: {e}"))?;
    let mut stub = Stub(child);
    let address = wait_for_address(stderr_path, &mut stub)?;
    let mut c = Client::connect(&address)?;
    if rng.chance(85) {
        c.send_packet(b"QStartNoAckMode", transcript)?;
        c.reply("QStartNoAckMode")?;
        c.acks = false;
    }
    let mut ended = false;
    let mut detached = false;
    for _ in 0..5 + rng.below(50) {
        if rng.chance(3) {
            // A second client is told it is not served, and closed.
            transcript.push("second client".into());
            let mut second = Client::connect(&address)?;
            let r = second.reply("a second client")?;
            if !r.starts_with("E") {
                return Err(format!("a second client got `{r}`"));
            }
            continue;
        }
        let (bytes, wants, label) = packet(rng);
        c.send_raw(&bytes, transcript)?;
        match wants {
            Wants::Nothing => {}
            Wants::Reply => {
                c.reply(&label)?;
            }
            Wants::Stop => {
                if c.stop(&label, transcript)? {
                    ended = true;
                    break;
                }
            }
            Wants::End => {
                // `k` (X09), `vKill` and `D` (OK) answer, then the stub
                // ends; after `D` the guest first runs to its end.
                c.reply(&label)?;
                detached = label == "D";
                ended = true;
                break;
            }
        }
    }
    if !ended {
        c.send_packet(b"k", transcript)?;
        let r = c.reply("k")?;
        if !r.starts_with('X') {
            return Err(format!("`k` answered `{r}`"));
        }
    }
    drop(c);
    let status = wait_for_exit(&mut stub, detached)?;
    use std::os::unix::process::ExitStatusExt;
    match status.and_then(|s| s.signal()) {
        Some(signal) => Err(format!("wasmscope ended by signal {signal}")),
        None => Ok(()),
    }
}

/// The address the stub says it listens on (its first line on stderr).
fn wait_for_address(stderr: &Path, stub: &mut Stub) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        if let Some(a) = text
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
        {
            return Ok(a.to_string());
        }
        if let Ok(Some(status)) = stub.0.try_wait() {
            return Err(format!(
                "wasmscope ended before listening ({status}): {text}"
            ));
        }
        if Instant::now() > deadline {
            return Err("no `waiting for a debugger` line within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for the stub to end after the conversation; `None` when it had
/// to be killed because a detached guest runs on (an endless loop).
fn wait_for_exit(
    stub: &mut Stub,
    detached: bool,
) -> Result<Option<std::process::ExitStatus>, String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = stub.0.try_wait().map_err(|e| e.to_string())? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            if detached {
                return Ok(None);
            }
            return Err("wasmscope did not end within 10 s of the conversation's end".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One packet (or not quite one): its bytes on the wire, what it wants,
/// and a label for messages.
fn packet(rng: &mut Rng) -> (Vec<u8>, Wants, String) {
    match rng.below(100) {
        0..=3 => {
            // A bad checksum: dropped (and NAKed in ack mode).
            let mut frame = frame(b"qC");
            let n = frame.len();
            frame[n - 1] = if frame[n - 1] == b'0' { b'1' } else { b'0' };
            (frame, Wants::Nothing, "a bad checksum".into())
        }
        4..=5 => {
            // Over the advertised size: an error.
            let payload = vec![b'm'; MAX_PACKET + 1 + rng.below(5000) as usize];
            (frame(&payload), Wants::Reply, "an oversized packet".into())
        }
        6..=7 => {
            // Bytes outside any packet (none that starts a packet or
            // interrupts).
            let n = 1 + rng.below(40) as usize;
            let junk: Vec<u8> = rng
                .bytes(n)
                .into_iter()
                .filter(|b| !matches!(b, b'$' | 3 | b'+' | b'-'))
                .collect();
            (junk, Wants::Nothing, "junk".into())
        }
        _ => {
            let payload = payload(rng);
            let wants = wants(&payload);
            let label = String::from_utf8_lossy(&payload[..payload.len().min(60)]).into_owned();
            (frame(&payload), wants, label)
        }
    }
}

fn wants(p: &[u8]) -> Wants {
    match p {
        b"k" | b"D" => Wants::End,
        _ if p.starts_with(b"vKill") => Wants::End,
        b"c" | b"s" => Wants::Stop,
        _ if p.starts_with(b"C") || p.starts_with(b"S") => Wants::Stop,
        _ if p.starts_with(b"vCont;") => match p.get(6) {
            Some(b'c' | b'C' | b's' | b'S') => Wants::Stop,
            _ => Wants::Reply,
        },
        _ => Wants::Reply,
    }
}

/// An address from every range the stub tells apart.
fn address(rng: &mut Rng) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => rng.below(0x2_0000),
        2 => 0x1_fffc + rng.below(8),
        3 => 0xffff_fff0 + rng.below(16),
        4 => CODE_SPACE + rng.below(0x300),
        5 => CODE_SPACE + rng.below(0x2_5000),
        6 => CODE_SPACE | (1 << 32) | rng.below(0x1000),
        7 => CODE_SPACE | (7 << 32),
        8 => u64::MAX - rng.below(8),
        9 => (1 << 32) + rng.below(0x1000),
        10 => 0x3fff_ffff_ffff_fff0 + rng.below(0x20),
        _ => rng.next_u64(),
    }
}

fn length(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => "0".into(),
        1 => "1".into(),
        2 => "4".into(),
        3 => "200".into(),
        4 => format!("{:x}", MAX_PACKET),
        5 => "ffffffff".into(),
        6 => "ffffffffffffffffff".into(),
        7 => "zz".into(),
        _ => format!("{:x}", rng.below(0x800)),
    }
}

fn small(rng: &mut Rng) -> String {
    match rng.below(8) {
        0..=2 => rng.below(4).to_string(),
        3 => rng.below(40).to_string(),
        4 => "-1".into(),
        5 => u64::MAX.to_string(),
        6 => "x".into(),
        _ => String::new(),
    }
}

fn payload(rng: &mut Rng) -> Vec<u8> {
    let text = match rng.below(44) {
        0 => "?".to_string(),
        1 => "qSupported:xmlRegisters=i386;multiprocess+;swbreak+".into(),
        2 => "qHostInfo".into(),
        3 => "qProcessInfo".into(),
        4 => rng
            .pick(&["qfThreadInfo", "qsThreadInfo", "qC", "Hg1", "Hc-1", "Hg0"])
            .to_string(),
        5 => format!("qRegisterInfo{}", small(rng)),
        6 => format!("p{};thread:0001;", small(rng)),
        7 => "g".into(),
        8 => "qWasmCallStack:1".into(),
        9 | 10 => format!(
            "{}:{};{}",
            rng.pick(&["qWasmLocal", "qWasmGlobal", "qWasmStackValue"]),
            small(rng),
            small(rng)
        ),
        11..=14 => format!("m{:x},{}", address(rng), length(rng)),
        15 | 16 => {
            let n = rng.below(9) as usize;
            let data: String = rng.bytes(n).iter().map(|b| format!("{b:02x}")).collect();
            let len = if rng.chance(80) {
                format!("{n:x}")
            } else {
                length(rng)
            };
            let data = if rng.chance(10) { "zz1".into() } else { data };
            format!("M{:x},{len}:{data}", address(rng))
        }
        17 | 18 => {
            let n = rng.below(9) as usize;
            let mut p = format!("X{:x},{n:x}:", address(rng)).into_bytes();
            p.extend(rng.bytes(n));
            return p;
        }
        19..=22 => format!(
            "{}{},{:x},{}",
            rng.pick(&["Z", "z"]),
            rng.below(6),
            address(rng),
            rng.pick(&["1", "4", "8", "2", "0", "10", "x"])
        ),
        23 => format!(
            "qXfer:{}:read:{}:{},{}",
            rng.pick(&["libraries", "memory-map", "features", "exec-file"]),
            rng.pick(&["", "target.xml"]),
            length(rng),
            length(rng)
        ),
        24 => format!("qMemoryRegionInfo:{:x}", address(rng)),
        25..=28 => rng
            .pick(&[
                "vCont;c",
                "vCont;s:1",
                "c",
                "s",
                "vCont;C05",
                "vCont;S05:1",
                "C05",
            ])
            .to_string(),
        29 => rng
            .pick(&["vCont;x", "vCont;", "vCont?", "vCont"])
            .to_string(),
        30 => rng
            .pick(&[
                "QThreadSuffixSupported",
                "QListThreadsInStopReply",
                "QEnableErrorStrings",
                "qSymbol::",
                "jThreadsInfo",
                "jThreadExtendedInfo:",
                "qStructuredDataPlugins",
                "qShlibInfoAddr",
                "qVAttachOrWaitSupported",
                "qWatchpointSupportInfo",
                "QSetDetachOnError:1",
                "vMustReplyEmpty",
                "x0,0",
                "_M1000,rwx",
            ])
            .to_string(),
        31 => format!("qModuleInfo:{};", "2f".repeat(rng.below(20) as usize)),
        32 => format!("qThreadStopInfo{}", small(rng)),
        33 => {
            // Printable junk in a well-formed packet.
            let n = 1 + rng.below(30) as usize;
            return rng
                .bytes(n)
                .into_iter()
                .map(|b| b'!' + b % 90)
                .filter(|b| !matches!(b, b'$' | b'#' | b'}' | b'*'))
                .chain(std::iter::once(b'q'))
                .collect();
        }
        // The end of the conversation, now and then.
        34 if rng.chance(30) => rng.pick(&["k", "D", "vKill;1"]).to_string(),
        37 => format!("P0={}", "00".repeat(rng.below(9) as usize)),
        38 => "QStartNoAckMode".into(),
        _ => format!("m{:x},{}", address(rng), length(rng)),
    };
    text.into_bytes()
}

/// `$payload#checksum`, with `$`, `#`, `}` and `*` escaped.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + 8);
    for &b in payload {
        if matches!(b, b'$' | b'#' | b'}' | b'*') {
            body.push(b'}');
            body.push(b ^ 0x20);
        } else {
            body.push(b);
        }
    }
    let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let mut out = vec![b'$'];
    out.extend(body);
    out.extend(format!("#{sum:02x}").into_bytes());
    out
}

struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Whether packets are acknowledged (before `QStartNoAckMode`).
    acks: bool,
}

impl Client {
    fn connect(address: &str) -> Result<Client, String> {
        let stream =
            TcpStream::connect(address).map_err(|e| format!("cannot connect to {address}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Client {
            stream,
            buffer: Vec::new(),
            acks: true,
        })
    }

    fn send_raw(&mut self, bytes: &[u8], transcript: &mut Vec<String>) -> Result<(), String> {
        transcript.push(String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned());
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("the stub closed the connection: {e}"))
    }

    fn send_packet(&mut self, payload: &[u8], transcript: &mut Vec<String>) -> Result<(), String> {
        self.send_raw(&frame(payload), transcript)
    }

    /// The next packet's payload (acks and guest output skipped), within
    /// [`TIMEOUT`]; `Ok(None)` when the stub closed the connection.
    fn next(&mut self, within: Duration) -> Result<Option<String>, String> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(start) = self.buffer.iter().position(|&b| b == b'$') {
                let Some(hash) = self.buffer[start..].iter().position(|&b| b == b'#') else {
                    break;
                };
                let end = start + hash + 3;
                if self.buffer.len() < end {
                    break;
                }
                let payload =
                    String::from_utf8_lossy(&self.buffer[start + 1..start + hash]).into_owned();
                self.buffer.drain(..end);
                if self.acks {
                    let _ = self.stream.write_all(b"+");
                }
                let output = payload.len() > 1
                    && payload.starts_with('O')
                    && payload[1..].bytes().all(|b| b.is_ascii_hexdigit());
                if !output {
                    return Ok(Some(payload));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("timed out".into());
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(|e| e.to_string())?;
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// The reply to `label`.
    fn reply(&mut self, label: &str) -> Result<String, String> {
        match self.next(TIMEOUT) {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(format!(
                "the stub closed the connection instead of answering `{label}`"
            )),
            Err(e) => Err(format!("no answer to `{label}` within 10 s ({e})")),
        }
    }

    /// The stop or exit reply to a continue or step, interrupting a guest
    /// that runs on; whether the guest ended (the stub then ends too).
    fn stop(&mut self, label: &str, transcript: &mut Vec<String>) -> Result<bool, String> {
        let reply = match self.next(RUN_FOR) {
            Ok(Some(r)) => r,
            Ok(None) => return Err(format!("the stub closed the connection after `{label}`")),
            Err(_) => {
                self.send_raw(&[3], transcript)?;
                self.reply(&format!("^C after {label}"))?
            }
        };
        match reply.as_bytes().first() {
            // An error: the guest had nothing to resume (it exited).
            Some(b'E') => Ok(false),
            Some(b'T' | b'S') => Ok(false),
            Some(b'W' | b'X') => Ok(true),
            _ => Err(format!("`{label}` answered `{reply}`, not a stop")),
        }
    }
}
