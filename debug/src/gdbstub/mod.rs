//! `wasmscope run --gdb-port`: the GDB remote serial protocol with the
//! WebAssembly extensions LLDB's wasm plugin speaks (`process connect
//! --plugin wasm connect://HOST:PORT`), served from a [`Session`].
//!
//! LLDB reads the module's DWARF itself, with 32-bit wasm addresses; the
//! stub only answers questions about the stopped guest:
//! - Addresses: a code address is [`CODE_SPACE`] `| module id << 32 |
//!   module offset`; LLDB reads the module's whole binary there (each
//!   module is a library of `qXfer:libraries:read`: the program is module
//!   0, the `--preload` ones follow). The bytes served are the module's,
//!   except that its line table's `prologue_end` flags sit where the
//!   engine puts a function's body start (`dwarf::prologue`: after the
//!   parameter stores Zig's Debug code places after the row it marks), so
//!   LLDB's breakpoint on a function and its step into one stop where the
//!   parameters read right. An address below [`CODE_SPACE`] is
//!   an offset in linear memory 0 of the module its id names; id 0 means
//!   the module whose frame LLDB last asked a value of, as LLDB 22 puts
//!   no module id in the addresses it computes from DWARF
//!   (`Stub::memory_address`). A read past the end of either is an
//!   error, never made-up bytes.
//! - `qMemoryRegionInfo` and `qXfer:memory-map:read` (`memory region` in
//!   LLDB): each module's memory 0, read-write, as far as the guest has
//!   grown it, and each module's code, read-only; nothing else is mapped.
//! - The one register is `pc` (64 bits), the code address of frame 0.
//! - `qWasmCallStack` lists every frame's pc, innermost first: frame 0's
//!   instruction, then each caller's return address (the instruction after
//!   its call, a hook site, so a breakpoint there ends a `finish`).
//! - `qWasmLocal`/`qWasmGlobal`/`qWasmStackValue` answer a value's bytes
//!   (little endian, its wasm size). A stack value's index counts from the
//!   bottom of the operand stack, as the `DW_OP_WASM_location` operand
//!   stack locations clang writes do. Frame 0's is recorded at the hook
//!   site the stop is at (a trap stop has none); a caller's is the stack
//!   below its call's arguments, read where the optimized code keeps
//!   those values while the call runs (`DebugStop::frame_operand_stack`).
//! - Breakpoints (`Z0`) are the session's module-offset breakpoints; a
//!   single step (`vCont;s`) runs to the next hook site (the next
//!   instruction with `--every-instruction`, else where the next source
//!   statement starts, a call, a loop head or a return); a trap stops the
//!   guest before its stack unwinds (`T04` with the trap's text).
//! - Watchpoints (`Z2` write, `Z3` read, `Z4` access, up to 8 bytes
//!   each): the engine closes the watched pages; the guest stops at the
//!   first hook site after a load or store touched the range, and the stop
//!   reply names it (`watch:`, `rwatch:`, `awatch:` and its address).
//! - Guest output is written where wasmscope's own goes and, once LLDB has
//!   asked for it (`QSetSTDOUT`-free clients: always while running), sent as
//!   `O` packets.
//!
//! One client at a time: a second connection is told so and closed. A
//! client that goes away detaches: the guest runs on without breakpoints
//! and wasmscope exits with its status. No packet ends the process or the
//! guest unless it asks to (`k`, `vKill`).

mod packet;

use crate::session::{
    Breakpoint, BreakpointSpec, Event, Frame, Granularity, LaunchConfig, Session, Step, StopReason,
};
use packet::{hex, number, unhex, Decoder, Input, MAX_PACKET};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use wasmscope_engine::{MemoryWatch, TrapCode, Val};

/// The tag of code addresses (LLDB's `wasm_addr_t` of type "object").
pub const CODE_SPACE: u64 = 0x4000_0000_0000_0000;
/// The one thread's id.
const THREAD: u32 = 1;
/// `wasmscope run`'s status for a guest that trapped (128 + SIGABRT).
const TRAP_EXIT: i32 = 134;
/// The status after `k`: a process killed by SIGKILL.
const KILLED_EXIT: i32 = 128 + 9;

/// What `wasmscope run --gdb-port` asked for.
pub struct Options {
    /// `PORT` (loopback) or `HOST:PORT`.
    pub listen: String,
    pub launch: LaunchConfig,
    /// Send the guest's output to the client as `O` packets while it runs.
    pub output_packets: bool,
    /// Write the guest's output on wasmscope's own stdout and stderr.
    pub output_local: bool,
}

/// Where to listen: `PORT` means 127.0.0.1:PORT.
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let with_host = if text.parse::<u16>().is_ok() {
        format!("127.0.0.1:{text}")
    } else {
        text.to_string()
    };
    with_host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("`{text}` is not PORT or HOST:PORT"))
}

/// Compiles and launches the module, waits for a debugger on the address,
/// serves it until the guest ends, and returns the process's exit status.
pub fn run(options: Options) -> Result<i32, String> {
    let address = listen_address(&options.listen)?;
    // Listening before compiling: a client that connects at once (LLDB's
    // platform does) waits in the queue, not on a refused connection.
    let listener =
        TcpListener::bind(address).map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let mut launch = options.launch;
    launch.stop_on_entry = true;
    let session = Session::launch(launch)?;
    session.set_trap_stops(true);
    // A script waits for this line (the port is chosen by the OS for 0).
    eprintln!(
        "wasmscope: waiting for a debugger on {address} \
         (lldb: process connect --plugin wasm connect://{address})"
    );
    let (stream, peer) = listener
        .accept()
        .map_err(|e| format!("cannot accept a debugger on {address}: {e}"))?;
    eprintln!("wasmscope: debugger connected from {peer}");
    std::thread::spawn(move || refuse_others(listener));
    let _ = stream.set_nodelay(true);
    let writer = stream
        .try_clone()
        .map_err(|e| format!("debugger connection: {e}"))?;
    let no_ack = Arc::new(AtomicBool::new(false));
    let inputs = read_inputs(stream, writer.try_clone().ok(), no_ack.clone());
    session.start();
    let modules = (0..session.module_count())
        .map(|i| {
            let binary = session.module_binary(i).unwrap_or_default();
            let entries = function_entries(binary);
            let dwarf = crate::dwarf::read::ModuleDwarf::from_binary(binary);
            let prologue_ends = dwarf
                .as_ref()
                .map(|d| prologue_ends(binary, d, &entries))
                .unwrap_or_default();
            let served = dwarf
                .and_then(|d| d.with_moved_prologue_ends(binary))
                .map(|bytes| ServedModule::new(i, session.module_path(i), bytes));
            ModuleFacts {
                entries,
                prologue_ends,
                served,
            }
        })
        .collect();
    let mut stub = Stub {
        modules,
        session,
        out: Some(writer),
        no_ack,
        inputs,
        pending: Default::default(),
        breakpoints: BTreeSet::new(),
        watchpoints: Vec::new(),
        memory_module: 0,
        shown_at: None,
        stop: None,
        error_strings: false,
        exit: None,
        output_packets: options.output_packets,
        output_local: options.output_local,
    };
    // The entry stop: the guest waits at its first hook for the debugger.
    stub.wait_for_stop(false);
    stub.serve();
    Ok(stub.finish())
}

/// Tells each further client that one is already being served.
fn refuse_others(listener: TcpListener) {
    for mut stream in listener.incoming().flatten() {
        let peer = stream
            .peer_addr()
            .map(|p| p.to_string())
            .unwrap_or_default();
        eprintln!("wasmscope: refused a second debugger from {peer}: one client at a time");
        let message = hex(b"wasmscope serves one debugger at a time");
        let _ = stream.write_all(&packet::frame(format!("E01;{message}").as_bytes()));
    }
}

/// What the connection's reader thread reports.
enum Incoming {
    Input(Input),
    Closed,
}

/// Reads the client's bytes on a thread of its own (so `^C` is seen while
/// the guest runs), acknowledging each packet until no-ack mode.
fn read_inputs(
    mut stream: TcpStream,
    mut acks: Option<TcpStream>,
    no_ack: Arc<AtomicBool>,
) -> Receiver<Incoming> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut decoder = Decoder::default();
        let mut buffer = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &byte in &buffer[..n] {
                let Some(input) = decoder.push(byte) else {
                    continue;
                };
                if !no_ack.load(Ordering::SeqCst) {
                    let ack: &[u8] = match input {
                        Input::BadChecksum => b"-",
                        Input::Interrupt => b"",
                        _ => b"+",
                    };
                    if let Some(a) = acks.as_mut() {
                        let _ = a.write_all(ack);
                    }
                }
                if tx.send(Incoming::Input(input)).is_err() {
                    return;
                }
            }
        }
        let _ = tx.send(Incoming::Closed);
    });
    rx
}

/// Why the guest last stopped, as the stop reply tells it.
struct Stop {
    reason: StopReason,
    frames: Vec<Frame>,
}

/// What the stub keeps of each of the session's modules.
struct ModuleFacts {
    /// Each function's (body start, first instruction), sorted: see
    /// `pc_of`.
    entries: Vec<(u32, u32)>,
    /// Where each function's prologue ends, by its first instruction
    /// (from DWARF): see `past_prologue`.
    prologue_ends: std::collections::HashMap<u32, u32>,
    /// The bytes LLDB reads as the module when they differ from its
    /// binary (`ModuleDwarf::with_moved_prologue_ends`).
    served: Option<ServedModule>,
}

/// A module whose bytes LLDB must see as the stub serves them, not as its
/// file holds them. LLDB loads a library from the path
/// `qXfer:libraries:read` names when that file exists on its machine, and
/// reads it through `m` otherwise; so these bytes are also written to a
/// file of their own with the module's file name (in a directory of this
/// process, removed when the stub ends), which a local LLDB loads as fast
/// as the original. A stub that did not end by itself (`^C`) leaves its
/// directory behind; the next one removes it.
struct ServedModule {
    bytes: Vec<u8>,
    /// `None` when the file could not be written: LLDB then loads the
    /// original from disk (the moved flags are lost, nothing else).
    file: Option<std::path::PathBuf>,
}

impl ServedModule {
    fn new(index: usize, original: Option<&Path>, bytes: Vec<u8>) -> ServedModule {
        let name = original.and_then(Path::file_name).map_or_else(
            || format!("module-{index}.wasm").into(),
            |n| n.to_os_string(),
        );
        let temp = std::env::temp_dir();
        remove_stale_copies(&temp);
        let dir = temp
            .join(format!("{COPIES}{}", std::process::id()))
            .join(index.to_string());
        let path = dir.join(name);
        let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &bytes));
        if let Err(e) = &written {
            eprintln!(
                "wasmscope: cannot write {} ({e}); lldb reads the module from its file",
                path.display()
            );
        }
        ServedModule {
            bytes,
            file: written.is_ok().then_some(path),
        }
    }
}

/// The name of a stub's directory of served copies, before its process id.
const COPIES: &str = "wasmscope-lldb-";

/// Removes the served copies of stubs whose process is gone (Linux: no
/// `/proc/PID`); anything else is left alone.
fn remove_stale_copies(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(COPIES)) else {
            continue;
        };
        let gone = pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id()
                && Path::new("/proc/self").exists()
                && !Path::new("/proc").join(pid.to_string()).exists()
        });
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for ServedModule {
    fn drop(&mut self) {
        if let Some(path) = self.file.take() {
            let _ = std::fs::remove_file(&path);
            // The module's directory, then the process's once it is empty.
            for dir in path.ancestors().skip(1).take(2) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// A mapped address range (`Stub::regions`).
struct Region {
    start: u64,
    len: u64,
    /// A module's code (read-only) rather than its linear memory.
    code: bool,
    module: usize,
}

struct Stub {
    session: Session,
    /// By session module, which is LLDB's module id: 0 the program, then
    /// the preloaded modules.
    modules: Vec<ModuleFacts>,
    /// `None` once the client has gone.
    out: Option<TcpStream>,
    no_ack: Arc<AtomicBool>,
    inputs: Receiver<Incoming>,
    /// Packets that came while the guest ran (a client may send its first
    /// ones before the entry stop), answered once it stops.
    pending: std::collections::VecDeque<Vec<u8>>,
    /// (module, module offset) of each breakpoint.
    breakpoints: BTreeSet<(usize, u32)>,
    /// Watched ranges of linear memory 0 (`Z2` write, `Z3` read, `Z4`
    /// access).
    watchpoints: Vec<(usize, MemoryWatch)>,
    /// The module whose memory an address without a module id means: the
    /// module of the frame LLDB last asked a value of (`memory_module`).
    memory_module: usize,
    /// Where frame 0 is shown when the stop is at a hook standing in for
    /// breakpoints without one (`place_breakpoints`): the offset of the
    /// breakpoint shown, before the hook, with only pure code between.
    shown_at: Option<u32>,
    stop: Option<Stop>,
    error_strings: bool,
    /// The guest's exit status, once it has ended.
    exit: Option<i32>,
    output_packets: bool,
    output_local: bool,
}

/// A reply, or an error (its text is sent when the client enabled error
/// strings).
type Reply = Result<Vec<u8>, Fail>;

/// Why a packet gets an error reply.
enum Fail {
    /// The packet is not what the protocol says: also written on stderr.
    /// (A `&str` converts to this: parse failures are fixed texts.)
    Malformed(String),
    /// A fine question with no answer (memory that does not exist, a
    /// local that is optimized out): routine for a debugger, not logged.
    /// (A `String` converts to this.)
    Refused(String),
}

impl From<&str> for Fail {
    fn from(text: &str) -> Fail {
        Fail::Malformed(text.to_string())
    }
}

impl From<String> for Fail {
    fn from(text: String) -> Fail {
        Fail::Refused(text)
    }
}

fn ok() -> Reply {
    Ok(b"OK".to_vec())
}

impl Stub {
    fn send(&mut self, payload: &[u8]) {
        if let Some(out) = self.out.as_mut() {
            if out.write_all(&packet::frame(payload)).is_err() {
                self.out = None;
            }
        }
    }

    /// Serves packets until the guest ends or the client leaves.
    fn serve(&mut self) {
        while self.exit.is_none() {
            if let Some(p) = self.pending.pop_front() {
                self.packet(&p);
                continue;
            }
            let Ok(Incoming::Input(input)) = self.inputs.recv() else {
                eprintln!("wasmscope: the debugger went away; the program runs on");
                self.detach();
                return;
            };
            match input {
                Input::Packet(p) => self.packet(&p),
                // Already stopped: nothing to interrupt.
                Input::Interrupt | Input::BadChecksum => {}
                Input::TooLong(n) => {
                    let e = format!(
                        "a packet of {n} bytes is over the {MAX_PACKET} bytes advertised: ignored"
                    );
                    self.error(e);
                }
            }
        }
    }

    /// An error reply, also written on stderr.
    fn error(&mut self, message: String) {
        eprintln!("wasmscope: {message}");
        self.refuse(&message);
    }

    /// An error reply.
    fn refuse(&mut self, message: &str) {
        let reply = if self.error_strings {
            format!("E01;{}", hex(message.as_bytes()))
        } else {
            "E01".to_string()
        };
        self.send(reply.as_bytes());
    }

    fn packet(&mut self, p: &[u8]) {
        let text = String::from_utf8_lossy(&p[..p.len().min(64)]).into_owned();
        let reply = match p {
            b"QStartNoAckMode" => {
                self.send(b"OK");
                self.no_ack.store(true, Ordering::SeqCst);
                return;
            }
            b"c" => return self.resume(None),
            b"s" => return self.resume(Some(Step::In)),
            b"k" => return self.kill(b"X09"),
            b"D" => {
                self.send(b"OK");
                return self.detach();
            }
            _ if p.starts_with(b"vCont;") => return self.v_cont(&p[6..]),
            _ if p.starts_with(b"vKill") => return self.kill(b"OK"),
            _ if p.starts_with(b"C") => return self.resume(None),
            _ if p.starts_with(b"S") => return self.resume(Some(Step::In)),
            _ => self.query(p),
        };
        match reply {
            Ok(r) => self.send(&r),
            Err(Fail::Malformed(e)) => self.error(format!("bad packet `{text}`: {e}")),
            Err(Fail::Refused(e)) => self.refuse(&e),
        }
    }

    fn query(&mut self, p: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(p).into_owned();
        let (head, args) = text.split_once([':', ',']).unwrap_or((&text, ""));
        let thread_suffix_free = |s: &str| s.split(';').next().unwrap_or("").to_string();
        match head {
            "qSupported" => Ok(format!(
                "PacketSize={MAX_PACKET:x};QStartNoAckMode+;qXfer:libraries:read+;\
                 qXfer:memory-map:read+;swbreak+;vContSupported+;QThreadSuffixSupported+;QListThreadsInStopReply+;\
                 QEnableErrorStrings+"
            )
            .into_bytes()),
            "QEnableErrorStrings" => {
                self.error_strings = true;
                ok()
            }
            "QThreadSuffixSupported" | "QListThreadsInStopReply" => ok(),
            "qHostInfo" => Ok(format!(
                "triple:{};ptrsize:4;endian:little;",
                hex(b"wasm32-unknown-unknown-wasm")
            )
            .into_bytes()),
            "qProcessInfo" => Ok(format!(
                "pid:{:x};parent-pid:{:x};triple:{};ptrsize:4;endian:little;",
                std::process::id(),
                std::process::id(),
                hex(b"wasm32-unknown-unknown-wasm")
            )
            .into_bytes()),
            "vCont?" => Ok(b"vCont;c;C;s;S".to_vec()),
            "?" => Ok(self.stop_reply()),
            "qfThreadInfo" => Ok(format!("m{THREAD:x}").into_bytes()),
            "qsThreadInfo" => Ok(b"l".to_vec()),
            "qC" => Ok(format!("QC{THREAD:x}").into_bytes()),
            _ if head.starts_with('H') => ok(),
            _ if head.starts_with("qThreadStopInfo") => Ok(self.stop_reply()),
            _ if head.starts_with("qRegisterInfo") => {
                if head == "qRegisterInfo0" {
                    Ok(
                        b"name:pc;alt-name:pc;bitsize:64;offset:0;encoding:uint;format:hex;\
                         set:General Purpose Registers;gcc:16;dwarf:16;generic:pc;"
                            .to_vec(),
                    )
                } else {
                    Ok(b"E45".to_vec())
                }
            }
            "g" => Ok(hex(&self.pc().to_le_bytes()).into_bytes()),
            _ if head.starts_with('p') => {
                let register = thread_suffix_free(&head[1..]);
                match number(register.as_bytes()) {
                    Some(0) => Ok(hex(&self.pc().to_le_bytes()).into_bytes()),
                    _ => Err(Fail::Refused(format!(
                        "no register `{register}`: a wasm thread has only pc"
                    ))),
                }
            }
            _ if head.starts_with('m') => {
                let (addr, len) = address_and_length(&head[1..], args)?;
                self.read(addr, len).map(|b| hex(&b).into_bytes())
            }
            _ if head.starts_with('M') => {
                let (addr, rest) = (&head[1..], args);
                let (len, data) = rest.split_once(':').ok_or("M: expected ADDR,LEN:HEX")?;
                let (addr, len) = address_and_length(addr, len)?;
                let bytes = unhex(data.as_bytes()).ok_or("M: the data is not hex")?;
                if bytes.len() != len {
                    return Err(Fail::Refused(format!(
                        "M: {} bytes of data for a length of {len}",
                        bytes.len()
                    )));
                }
                self.write(addr, bytes)
            }
            _ if head.starts_with('X') => {
                // Binary data: taken from the raw packet (it may hold `:`).
                let colon = p
                    .iter()
                    .position(|&b| b == b':')
                    .ok_or("X: expected ADDR,LEN:DATA")?;
                let (addr, len) = text[1..colon]
                    .split_once(',')
                    .ok_or("X: expected ADDR,LEN:DATA")?;
                let (addr, len) = address_and_length(addr, len)?;
                let bytes = p[colon + 1..].to_vec();
                if bytes.len() != len {
                    return Err(Fail::Refused(format!(
                        "X: {} bytes of data for a length of {len}",
                        bytes.len()
                    )));
                }
                if len == 0 {
                    // The probe for binary writes.
                    return ok();
                }
                self.write(addr, bytes)
            }
            _ if head.starts_with('Z') || head.starts_with('z') => self.breakpoint(&text),
            "qXfer" => self.xfer(args),
            "qMemoryRegionInfo" => self.memory_region(args),
            "qWasmCallStack" => Ok(self
                .frame_pcs()
                .iter()
                .flat_map(|pc| hex(&pc.to_le_bytes()).into_bytes())
                .collect()),
            "qWasmLocal" | "qWasmGlobal" | "qWasmStackValue" => {
                let (frame, index) = args.split_once(';').ok_or("expected FRAME;INDEX")?;
                let frame = frame.parse::<usize>().map_err(|_| "bad frame number")?;
                let index = index.parse::<u32>().map_err(|_| "bad index")?;
                self.wasm_value(head, frame, index)
            }
            "qSymbol" | "QSetDetachOnError" => ok(),
            "qWatchpointSupportInfo" => Ok(b"num:8;".to_vec()),
            // Anything else: "not supported", as the protocol says.
            _ => Ok(Vec::new()),
        }
    }

    /// The code address of an offset of module `module`.
    fn code_address(module: usize, offset: u32) -> u64 {
        CODE_SPACE | ((module as u64) << 32) | offset as u64
    }

    /// The pc LLDB is shown for a stop at module offset `offset`: a
    /// function's first instruction is shown at the start of its body
    /// (its local declarations), where DWARF's `DW_AT_low_pc`, the
    /// symbol and the first line-table row put the function. LLDB steps
    /// past a prologue only from that exact address, so a step into a
    /// call ends after the prologue, as natively.
    fn pc_of(&self, module: usize, offset: u32) -> u32 {
        let entries = self.entries(module);
        match entries.binary_search_by_key(&offset, |e| e.1) {
            Ok(i) => entries[i].0,
            Err(_) => offset,
        }
    }

    /// The module offset of a code address LLDB names (the inverse of
    /// `pc_of`).
    fn offset_of(&self, module: usize, pc: u32) -> u32 {
        let entries = self.entries(module);
        match entries.binary_search_by_key(&pc, |e| e.0) {
            Ok(i) => entries[i].1,
            Err(_) => pc,
        }
    }

    /// Module `module`'s function entries (`ModuleFacts::entries`).
    fn entries(&self, module: usize) -> &[(u32, u32)] {
        self.modules.get(module).map_or(&[], |m| &m.entries)
    }

    fn frame_pcs(&self) -> Vec<u64> {
        let Some(stop) = &self.stop else {
            return Vec::new();
        };
        stop.frames
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let offset = f.wasm_offset?;
                // A caller's frame is at its call: its pc is the return
                // address, the next instruction.
                let offset = if i == 0 {
                    self.shown_at.unwrap_or(offset)
                } else {
                    let all = self.session.module_instructions(f.module);
                    let next = all.partition_point(|x| x.offset <= offset);
                    all.get(next).map_or(offset + 1, |x| x.offset)
                };
                Some(Self::code_address(f.module, self.pc_of(f.module, offset)))
            })
            .collect()
    }

    /// Frame 0's pc (0 when there is no stop or no offset).
    fn pc(&self) -> u64 {
        let Some(f) = self.stop.as_ref().and_then(|s| s.frames.first()) else {
            return 0;
        };
        f.wasm_offset
            .map(|o| self.shown_at.unwrap_or(o))
            .map_or(0, |o| Self::code_address(f.module, self.pc_of(f.module, o)))
    }

    /// `T` with the stop's signal, thread, pc and reason.
    fn stop_reply(&self) -> Vec<u8> {
        let Some(stop) = &self.stop else {
            return match self.exit {
                Some(code) => format!("W{:02x}", code & 0xff).into_bytes(),
                None => b"E01".to_vec(),
            };
        };
        let (signal, reason) = match &stop.reason {
            StopReason::Entry => (5, String::new()),
            // A step that ends on a breakpoint is that breakpoint's hit,
            // as LLDB's own servers say: a step runs to the next hook
            // site, which can be past the end of LLDB's stepping range
            // (its "next branch" breakpoint), and LLDB must see it there.
            // A breakpoint stop where no breakpoint is shown (the hook
            // stood in for breakpoints now behind) is a step's.
            StopReason::Breakpoint | StopReason::Step
                if self.shown_at.is_some() || self.breakpoints_at_real() =>
            {
                (5, "reason:breakpoint;".to_string())
            }
            StopReason::Breakpoint | StopReason::Step => (5, "reason:trace;".to_string()),
            StopReason::Pause => (0x13, "reason:signal;".to_string()),
            StopReason::Watchpoint(hit) => {
                // Named after the watchpoint the access fired: LLDB finds
                // it by kind and address.
                let at = |read: bool, write: bool| {
                    self.watchpoints.iter().any(|(_, w)| {
                        w.address == hit.address && w.read == read && w.write == write
                    })
                };
                let key = if hit.write && at(false, true) {
                    "watch"
                } else if !hit.write && at(true, false) {
                    "rwatch"
                } else {
                    "awatch"
                };
                (5, format!("{key}:{:x};reason:watchpoint;", hit.address))
            }
            StopReason::Trap(message) => (
                trap_signal(message),
                format!(
                    "reason:exception;description:{};",
                    hex(format!("wasm trap: {message}").as_bytes())
                ),
            ),
        };
        // `00:` expedites pc: LLDB 22's wasm register context never
        // invalidates its cached pc, so every stop must carry it.
        let pc = self.pc();
        format!(
            "T{signal:02x}thread:{THREAD:x};threads:{THREAD:x};thread-pcs:{pc:x};00:{};{reason}",
            hex(&pc.to_le_bytes())
        )
        .into_bytes()
    }

    fn read(&mut self, addr: u64, len: usize) -> Reply {
        if addr >= CODE_SPACE {
            let (module, offset) = split_address(addr);
            let binary = self.code_bytes(module);
            let offset = offset as usize;
            if offset >= binary.len() {
                return Err(Fail::Refused(format!("no code at {addr:#x}")));
            }
            return Ok(binary[offset..offset.saturating_add(len).min(binary.len())].to_vec());
        }
        let (module, offset) = self.memory_address(addr);
        let bytes = self
            .session
            .read_memory_in(module, u64::from(offset), len)?;
        if bytes.is_empty() && len > 0 {
            return Err(Fail::Refused(format!("{addr:#x} is outside linear memory")));
        }
        Ok(bytes)
    }

    fn write(&mut self, addr: u64, bytes: Vec<u8>) -> Reply {
        if addr >= CODE_SPACE {
            return Err(Fail::Refused(format!(
                "{addr:#x} is code, which cannot be written"
            )));
        }
        let (module, offset) = self.memory_address(addr);
        self.session
            .write_memory_in(module, u64::from(offset), bytes)?;
        ok()
    }

    /// `Z0`/`z0` (software breakpoints at code addresses), `Z2`/`z2`
    /// (write watchpoints on linear memory).
    fn breakpoint(&mut self, text: &str) -> Reply {
        let insert = text.starts_with('Z');
        let mut fields = text[1..].split([',', ';']);
        let kind = fields.next().unwrap_or("");
        let addr = number(fields.next().unwrap_or("").as_bytes()).ok_or("bad address")?;
        let len = number(fields.next().unwrap_or("").as_bytes()).unwrap_or(1);
        match kind {
            "0" | "1" => {
                let (module, pc) = split_address(addr);
                if addr < CODE_SPACE || module >= self.modules.len() {
                    return Err(Fail::Refused(format!(
                        "{addr:#x} is not a code address of a module"
                    )));
                }
                let at = (module, self.offset_of(module, pc));
                if !insert {
                    self.breakpoints.remove(&at);
                    self.place_breakpoints();
                    return ok();
                }
                self.breakpoints.insert(at);
                let placed = self.place_breakpoints();
                match placed.into_iter().find(|(o, _)| *o == at) {
                    Some((_, None)) => ok(),
                    Some((_, Some(why))) => {
                        self.breakpoints.remove(&at);
                        self.place_breakpoints();
                        Err(why.into())
                    }
                    None => Err("breakpoint lost".into()),
                }
            }
            "2" | "3" | "4" => {
                if addr >= CODE_SPACE || len == 0 || len > 8 {
                    return Err(Fail::Refused(format!(
                        "a watchpoint watches 1 to 8 bytes of linear memory, not {len} at {addr:#x}"
                    )));
                }
                let (module, address) = self.memory_address(addr);
                let w = MemoryWatch {
                    address,
                    len: len as u32,
                    read: kind != "2",
                    write: kind != "3",
                };
                if insert {
                    self.watchpoints.push((module, w));
                } else if let Some(i) = self.watchpoints.iter().position(|x| x.1 == w) {
                    self.watchpoints.remove(i);
                }
                if let Err(e) = self.session.set_watchpoints_in(&self.watchpoints) {
                    self.watchpoints.retain(|x| x.1 != w);
                    return Err(e.into());
                }
                ok()
            }
            // Hardware breakpoints: not supported (an empty reply says so).
            _ => Ok(Vec::new()),
        }
    }

    /// The module and offset a linear-memory address means. LLDB 22 puts
    /// no module id in the addresses it computes from DWARF (a variable's
    /// `DW_OP_fbreg` or `DW_OP_addr`): those are taken in the memory of
    /// the module whose frame it last asked a value of (it asks for the
    /// frame base before it reads a variable), frame 0's after a stop.
    /// An address with a module id means that module's memory.
    fn memory_address(&self, addr: u64) -> (usize, u32) {
        match split_address(addr) {
            (0, offset) => (self.memory_module, offset),
            named => named,
        }
    }

    /// Gives the session every breakpoint; returns each offset with why it
    /// could not be placed. A breakpoint on an instruction without a hook
    /// is placed on the hook that stands in for it (`Session::stand_in`:
    /// the next one, with only pure code between) and its stop is shown at
    /// the breakpoint (`shown_at`): the state is the same, only the
    /// operand stack differs, and it is not answered there. LLDB's line
    /// step puts breakpoints where line-table rows end, which need not be
    /// hooks (a call's column in `sum = accumulate(i)`); the compile hooks
    /// every row whose code up to the next hook has an effect, and a hook
    /// at every row doubled the cost of a debugged run.
    fn place_breakpoints(&self) -> Vec<((usize, u32), Option<String>)> {
        let list: Vec<Breakpoint> = self
            .breakpoints
            .iter()
            .map(|&(module, offset)| {
                let offset = self.session.stand_in(module, offset).unwrap_or(offset);
                BreakpointSpec::InModule { module, offset }.into()
            })
            .collect();
        let placed = self.session.set_breakpoints(&list);
        self.breakpoints
            .iter()
            .zip(placed)
            .map(|(&o, p)| (o, p.offset.is_none().then(|| p.message.unwrap_or_default())))
            .collect()
    }

    /// `qXfer:OBJECT:read::OFFSET,LENGTH` for the `libraries`
    /// (`library_list`) and the `memory-map` (`memory_map`).
    fn xfer(&self, args: &str) -> Reply {
        let (object, rest) = args
            .split_once(":read::")
            .ok_or_else(|| format!("qXfer:{args}: expected OBJECT:read::OFFSET,LENGTH"))?;
        let (offset, length) = rest
            .split_once(',')
            .ok_or("qXfer: expected OFFSET,LENGTH")?;
        let offset = number(offset.as_bytes()).ok_or("qXfer: bad offset")? as usize;
        let length = number(length.as_bytes()).ok_or("qXfer: bad length")? as usize;
        let xml = match object {
            "libraries" => self.library_list(),
            "memory-map" => self.memory_map()?,
            _ => {
                return Err(Fail::Refused(format!(
                    "qXfer:{object}: only libraries and memory-map are served"
                )))
            }
        };
        let bytes = xml.as_bytes();
        let start = offset.min(bytes.len());
        let end = start.saturating_add(length).min(bytes.len());
        let mut out = vec![if end < bytes.len() { b'm' } else { b'l' }];
        out.extend_from_slice(&bytes[start..end]);
        Ok(out)
    }

    /// Each module as a library loaded at its code address (module id =
    /// session module), named by the file LLDB should load.
    fn library_list(&self) -> String {
        let libraries: String = (0..self.session.module_count())
            .map(|i| {
                let served = self.modules.get(i).and_then(|m| m.served.as_ref());
                let path = match served.and_then(|s| s.file.as_deref()) {
                    Some(file) => file,
                    None => self.session.module_path(i).unwrap_or(Path::new("")),
                };
                format!(
                    "<library name=\"{}\"><section address=\"{:#x}\"/></library>",
                    escape_xml(&path.display().to_string()),
                    Self::code_address(i, 0)
                )
            })
            .collect();
        format!("<library-list>{libraries}</library-list>")
    }

    /// Each module's code (read-only) and memory 0 (RAM), as `regions`
    /// lists them.
    fn memory_map(&self) -> Result<String, Fail> {
        let regions: String = self
            .regions(0)?
            .iter()
            .map(|r| {
                format!(
                    "<memory type=\"{}\" start=\"{:#x}\" length=\"{:#x}\"/>",
                    if r.code { "rom" } else { "ram" },
                    r.start,
                    r.len
                )
            })
            .collect();
        Ok(format!("<memory-map>{regions}</memory-map>"))
    }

    /// What is mapped, sorted by address: each module's code (the bytes
    /// LLDB reads there) and its memory 0 at the module's id (LLDB's
    /// `wasm_addr_t`), as much of it as the guest has grown; the window
    /// of id 0 holds module `at_zero`'s memory.
    fn regions(&self, at_zero: usize) -> Result<Vec<Region>, Fail> {
        let mut out = Vec::new();
        for window in 0..self.session.module_count() {
            let module = if window == 0 { at_zero } else { window };
            if let Some(len) = self.session.memory_size_in(module)?.filter(|&l| l > 0) {
                out.push(Region {
                    start: (window as u64) << 32,
                    len,
                    code: false,
                    module,
                });
            }
        }
        for module in 0..self.session.module_count() {
            out.push(Region {
                start: Self::code_address(module, 0),
                len: self.code_bytes(module).len() as u64,
                code: true,
                module,
            });
        }
        Ok(out)
    }

    /// `qMemoryRegionInfo:ADDR`: the mapped region holding ADDR (its
    /// permissions, and a module's path for code), or the unmapped gap
    /// around it (no permissions), as LLDB's `memory region` shows. An
    /// address without a module id is in the memory LLDB reads there
    /// (`memory_address`).
    fn memory_region(&self, args: &str) -> Reply {
        let addr = number(args.as_bytes()).ok_or("qMemoryRegionInfo: expected an address")?;
        let at_zero = if addr < 1 << 32 {
            self.memory_address(addr).0
        } else {
            0
        };
        let regions = self.regions(at_zero)?;
        let holding = regions
            .iter()
            .find(|r| r.start <= addr && addr - r.start < r.len);
        let text = match holding {
            Some(r) if r.code => {
                let path = self.session.module_path(r.module).unwrap_or(Path::new(""));
                format!(
                    "start:{:x};size:{:x};permissions:rx;name:{};",
                    r.start,
                    r.len,
                    hex(path.display().to_string().as_bytes())
                )
            }
            Some(r) => format!("start:{:x};size:{:x};permissions:rw;", r.start, r.len),
            None => {
                let start = regions
                    .iter()
                    .map(|r| r.start + r.len)
                    .filter(|&end| end <= addr)
                    .max()
                    .unwrap_or(0);
                let end = regions
                    .iter()
                    .map(|r| r.start)
                    .filter(|&s| s > addr)
                    .min()
                    .unwrap_or(u64::MAX);
                format!("start:{start:x};size:{:x};", end - start)
            }
        };
        Ok(text.into_bytes())
    }

    /// The bytes LLDB reads as module `module`'s code (`ServedModule`).
    fn code_bytes(&self, module: usize) -> &[u8] {
        match self.modules.get(module).and_then(|m| m.served.as_ref()) {
            Some(served) => &served.bytes,
            None => self.session.module_binary(module).unwrap_or_default(),
        }
    }

    fn wasm_value(&mut self, what: &str, frame: usize, index: u32) -> Reply {
        let global = what == "qWasmGlobal";
        let stack = what == "qWasmStackValue";
        // A global is the one of the frame's module, and the memory
        // LLDB reads next (through this frame's base) is too.
        let module = self
            .stop
            .as_ref()
            .and_then(|s| s.frames.get(frame))
            .map_or(0, |f| f.module);
        self.memory_module = module;
        let module = self.session.module_id(module)?;
        let shown_before_hook = self.shown_at.is_some();
        let value = self.session.with_stop(move |stop| {
            let value = if stack {
                if shown_before_hook && frame == 0 {
                    return Err("the operand stack is not recorded here (the stop is shown \
                         before the hook it is at)"
                        .to_string());
                }
                // A caller's: the values below its call's arguments.
                let stack = stop.frame_operand_stack(frame).ok_or(if frame == 0 {
                    "the operand stack is not recorded at a trap"
                } else {
                    "a caller's operand stack is kept by optimized (live) code only"
                })?;
                let (_, v) = stack
                    .into_iter()
                    .nth(index as usize)
                    .ok_or_else(|| format!("the operand stack has no entry {index}"))?;
                Some(v.ok_or_else(|| format!("operand stack entry {index} was not recorded"))?)
            } else if global {
                stop.globals_in(module)
                    .and_then(|g| g.into_iter().nth(index as usize))
                    .map(|g| g.2)
            } else {
                stop.frame_locals(frame)
                    .ok_or_else(|| format!("no wasm frame {frame}"))?
                    .into_iter()
                    .nth(index as usize)
                    .ok_or_else(|| format!("frame {frame} has no local {index}"))?
            };
            match value {
                Some(v) => value_bytes(&v),
                None if global => Err(format!("no global {index}")),
                None => Err(format!("local {index} is optimized out here")),
            }
        })??;
        Ok(hex(&value).into_bytes())
    }

    fn v_cont(&mut self, actions: &[u8]) {
        // `c`, `C..`, `s:1`, `S..:1`: one thread, so the first action rules.
        match actions.first() {
            Some(b's' | b'S') => self.resume(Some(Step::In)),
            Some(b'c' | b'C') => self.resume(None),
            _ => self.error("vCont: expected c, C, s or S".into()),
        }
    }

    fn resume(&mut self, step: Option<Step>) {
        if self.stop.is_none() {
            return self.error("the program is not stopped".into());
        }
        if let Some(shown) = self.shown_at {
            // Shown before the hook it is really at: what runs next is the
            // pure code up to the hook, where a step or a breakpoint on the
            // way stops (at once: it has run).
            let (_, real) = self.real_position().unwrap_or_default();
            let next = self.stand_in_breakpoints(real).find(|&b| b > shown);
            self.shown_at = next;
            if next.is_some() || step.is_some() || self.breakpoints_at_real() {
                let reply = self.stop_reply();
                return self.send(&reply);
            }
        }
        self.stop = None;
        match step {
            Some(kind) => self.session.step_by(kind, Granularity::Instruction),
            None => self.session.resume(),
        }
        self.wait_for_stop(true);
        if step.is_some() {
            self.past_prologue();
        }
        self.show_stand_in();
        if self.exit.is_none() {
            let reply = self.stop_reply();
            self.send(&reply);
        }
    }

    /// Frame 0's real (module, offset).
    fn real_position(&self) -> Option<(usize, u32)> {
        let f = self.stop.as_ref()?.frames.first()?;
        Some((f.module, f.wasm_offset?))
    }

    /// The breakpoints (offsets, ascending) without a hook of their own
    /// that the hook at `real` (frame 0's module) stands in for.
    fn stand_in_breakpoints(&self, real: u32) -> impl Iterator<Item = u32> + '_ {
        let module = self.real_position().map_or(0, |p| p.0);
        self.breakpoints
            .iter()
            .filter(move |&&(m, b)| {
                m == module && b < real && self.session.stand_in(m, b) == Some(real)
            })
            .map(|&(_, b)| b)
    }

    /// Whether a breakpoint is at frame 0's real offset.
    fn breakpoints_at_real(&self) -> bool {
        self.real_position()
            .is_some_and(|at| self.breakpoints.contains(&at))
    }

    /// After a breakpoint or step stop: shows frame 0 at the first
    /// breakpoint the hook it stopped at stands in for, if any.
    fn show_stand_in(&mut self) {
        let stood_in = matches!(
            self.stop.as_ref().map(|s| &s.reason),
            Some(StopReason::Breakpoint | StopReason::Step)
        );
        self.shown_at = match self.real_position() {
            Some((_, real)) if stood_in => self.stand_in_breakpoints(real).next(),
            _ => None,
        };
    }

    /// A step that entered a function goes on to where its prologue ends
    /// (DWARF's `prologue_end`), as a native step into a call does. LLDB
    /// would do this itself, but it only skips a prologue from a frame it
    /// knows is younger, and its wasm unwinder gives every frame the same
    /// CFA (0), so it cannot tell.
    fn past_prologue(&mut self) {
        let entry = |stop: &Option<Stop>| {
            let f = stop.as_ref()?.frames.first()?;
            Some((f.module, f.wasm_offset?, stop.as_ref()?.frames.len()))
        };
        let Some((module, start, depth)) = entry(&self.stop) else {
            return;
        };
        let Some(&end) = self
            .modules
            .get(module)
            .and_then(|m| m.prologue_ends.get(&start))
        else {
            return;
        };
        // Steps in the same frame until the prologue's end (a few hook
        // sites at most; a breakpoint or a trap on the way ends it).
        for _ in 0..64 {
            match (entry(&self.stop), &self.stop) {
                (Some((m, at, d)), Some(stop))
                    if m == module && d == depth && at < end && stop.reason == StopReason::Step => {
                }
                _ => return,
            }
            self.stop = None;
            self.session.step_by(Step::In, Granularity::Instruction);
            self.wait_for_stop(true);
        }
    }

    /// Runs until the guest stops or ends, forwarding its output and
    /// passing `^C` on as a pause. With `report`, an exit is sent as `W`.
    fn wait_for_stop(&mut self, report: bool) {
        loop {
            match self.session.events.recv_timeout(Duration::from_millis(5)) {
                Ok(event) => {
                    if self.event(event, report) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.exit.get_or_insert(TRAP_EXIT);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            while let Ok(incoming) = self.inputs.try_recv() {
                match incoming {
                    Incoming::Input(Input::Interrupt) => self.session.pause(),
                    Incoming::Input(Input::Packet(p)) => self.pending.push_back(p),
                    Incoming::Input(_) => {}
                    Incoming::Closed => {
                        eprintln!("wasmscope: the debugger went away; the program runs on");
                        self.disarm();
                    }
                }
            }
        }
    }

    /// Handles one session event; true when the guest stopped or ended.
    fn event(&mut self, event: Event, report: bool) -> bool {
        match event {
            Event::Output { stderr, text } => {
                // Detached, the terminal is the only place left.
                if self.output_local || self.out.is_none() {
                    if stderr {
                        eprint!("{text}");
                    } else {
                        print!("{text}");
                        let _ = std::io::stdout().flush();
                    }
                }
                if report && self.output_packets && self.out.is_some() {
                    self.send(format!("O{}", hex(text.as_bytes())).as_bytes());
                }
                false
            }
            Event::Stopped { reason, frames } => {
                if self.out.is_none() {
                    // Detached: nothing may stop the program any more
                    // (watchpoints are cleared at a stop).
                    let _ = self.session.set_watchpoints_in(&[]);
                    self.session.resume();
                    return false;
                }
                self.memory_module = frames.first().map_or(0, |f| f.module);
                self.stop = Some(Stop { reason, frames });
                true
            }
            Event::Trapped { message, frames } => {
                eprintln!("{message}");
                for (i, f) in frames.iter().enumerate() {
                    eprintln!("  {i}: {}", f.func_name.as_deref().unwrap_or("<unknown>"));
                }
                self.ended(TRAP_EXIT, report)
            }
            Event::Exited(code) => self.ended(code, report),
            Event::Terminated => self.ended(KILLED_EXIT, report),
        }
    }

    fn ended(&mut self, code: i32, report: bool) -> bool {
        self.exit = Some(code);
        if report {
            self.send(format!("W{:02x}", code & 0xff).as_bytes());
        }
        true
    }

    /// Forgets the client and what it armed: breakpoints, watchpoints,
    /// trap stops.
    fn disarm(&mut self) {
        self.out = None;
        self.session.set_breakpoints(&[]);
        let _ = self.session.set_watchpoints_in(&[]);
        self.session.set_trap_stops(false);
    }

    /// Lets the guest run to its end with nothing armed.
    fn detach(&mut self) {
        self.disarm();
        if self.exit.is_none() && self.stop.take().is_some() {
            self.session.resume();
        }
        while self.exit.is_none() {
            self.wait_for_stop(false);
        }
    }

    fn kill(&mut self, reply: &[u8]) {
        eprintln!("wasmscope: the debugger killed the program");
        self.exit = Some(KILLED_EXIT);
        self.send(reply);
    }

    /// Ends the session; the process's exit status.
    fn finish(self) -> i32 {
        let code = self.exit.unwrap_or(KILLED_EXIT);
        self.session.terminate();
        code
    }
}

/// Each function body's start (its local declarations) and its first
/// instruction, by module offset.
fn function_entries(binary: &[u8]) -> Vec<(u32, u32)> {
    use wasmscope_engine::wasmparser::{Parser, Payload};
    Parser::new(0)
        .parse_all(binary)
        .filter_map(|p| match p {
            Ok(Payload::CodeSectionEntry(body)) => {
                let first = body.get_operators_reader().ok()?.original_position();
                Some((body.range().start as u32, first as u32))
            }
            _ => None,
        })
        .collect()
}

/// Each function's first instruction and, when DWARF marks one in it,
/// the module offset where its prologue ends.
fn prologue_ends(
    binary: &[u8],
    dwarf: &crate::dwarf::read::ModuleDwarf,
    entries: &[(u32, u32)],
) -> std::collections::HashMap<u32, u32> {
    let ends = dwarf.prologue_end_offsets(binary);
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, &(_, first))| {
            let next = entries.get(i + 1).map_or(u32::MAX, |e| e.0);
            let end = ends[ends.partition_point(|&e| e <= first)..]
                .first()
                .copied()
                .filter(|&e| e < next)?;
            Some((first, end))
        })
        .collect()
}

/// `ADDR,LEN` in hex (LEN at most [`MAX_PACKET`]).
/// A GDB address's module id and 32-bit offset (LLDB's `wasm_addr_t`:
/// the address space in bits 62-63, the module id in 32-61).
fn split_address(addr: u64) -> (usize, u32) {
    (((addr >> 32) & 0x3fff_ffff) as usize, addr as u32)
}

fn address_and_length(addr: &str, len: &str) -> Result<(u64, usize), Fail> {
    let a = number(addr.as_bytes()).ok_or("bad address")?;
    let l = number(len.as_bytes()).ok_or("bad length")?;
    if l as usize > MAX_PACKET {
        return Err(Fail::Malformed(format!(
            "{l} bytes is over the {MAX_PACKET}-byte limit"
        )));
    }
    Ok((a, l as usize))
}

/// A value's bytes as LLDB reads them: little endian, the wasm type's size.
fn value_bytes(v: &Val) -> Result<Vec<u8>, String> {
    Ok(match v {
        Val::I32(x) => x.to_le_bytes().to_vec(),
        Val::I64(x) => x.to_le_bytes().to_vec(),
        Val::F32(x) => x.to_le_bytes().to_vec(),
        Val::F64(x) => x.to_le_bytes().to_vec(),
        Val::V128(x) => x.to_le_bytes().to_vec(),
        Val::FuncRef(_) | Val::ExternRef(_) => {
            return Err("a reference has no bytes to show".into())
        }
    })
}

/// The signal a trap is reported with: SIGSEGV for memory and table
/// bounds, SIGFPE for arithmetic, SIGILL for the rest.
fn trap_signal(message: &str) -> u8 {
    use TrapCode::*;
    let is = |codes: &[TrapCode]| codes.iter().any(|c| c.message() == message);
    if is(&[MemoryOutOfBounds, HeapMisaligned, TableOutOfBounds]) {
        11
    } else if is(&[
        IntegerDivisionByZero,
        IntegerOverflow,
        BadConversionToInteger,
    ]) {
        8
    } else {
        4
    }
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
