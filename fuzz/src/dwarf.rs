//! Target 3, the DWARF transform on damaged DWARF: a real module with
//! DWARF (the C, C++, Rust and Zig corpus) gets one of its `.debug_*`
//! sections mutated (bits flipped, bytes set to edge values, a range
//! zeroed, duplicated or cut off), and the debugger's whole read and
//! transform (`ModuleDwarf::from_binary`, the JIT image `wasmscope run -g`
//! registers, the DAP's line table and variables) must neither panic nor
//! hang; whatever it writes must still be an ELF image. (That every
//! generated program's image passes `llvm-dwarfdump --verify` is checked
//! by the debugger target, on each csmith program.)
//!
//! The code section comes before the custom sections in every toolchain's
//! output, so a mutated section changes no code offset: each corpus
//! module is compiled once and reused with every mutation of its DWARF.

use crate::rng::Rng;
use crate::run::{Finding, Verdict};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wasmscope_debug::dwarf::read::ModuleDwarf;
use wasmscope_engine as ws;

pub struct Corpus {
    files: Vec<PathBuf>,
    compiled: HashMap<usize, (Vec<u8>, ws::Module)>,
    engine: ws::Engine,
}

impl Corpus {
    /// The `.wasm` files with DWARF under `dirs`.
    pub fn new(dirs: &[PathBuf]) -> Result<Corpus, String> {
        let mut files = Vec::new();
        for dir in dirs {
            let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "wasm")
                    && std::fs::read(&p).is_ok_and(|b| !sections(&b).is_empty())
                {
                    files.push(p);
                }
            }
        }
        files.sort();
        if files.is_empty() {
            return Err("no .wasm file with DWARF in the corpus directories".into());
        }
        let engine = ws::Engine::new(ws::Config {
            compile: wasmscope_debug::jit::compile_options(None),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        Ok(Corpus {
            files,
            compiled: HashMap::new(),
            engine,
        })
    }

    fn module(&mut self, i: usize) -> Result<&(Vec<u8>, ws::Module), String> {
        if !self.compiled.contains_key(&i) {
            let bytes = std::fs::read(&self.files[i]).map_err(|e| e.to_string())?;
            let module = ws::Module::new(&self.engine, &bytes).map_err(|e| e.to_string())?;
            self.compiled.insert(i, (bytes, module));
        }
        Ok(&self.compiled[&i])
    }
}

/// The module's `.debug_*` custom sections: (name, range of the contents).
fn sections(wasm: &[u8]) -> Vec<(String, std::ops::Range<usize>)> {
    use ws::wasmparser::{Parser, Payload};
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        if let Payload::CustomSection(c) = payload {
            if c.name().starts_with(".debug_") {
                let start = c.data_offset();
                out.push((c.name().to_string(), start..start + c.data().len()));
            }
        }
    }
    out
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `wasm` with the custom section whose contents are at `range` replaced
/// by `contents` (its header rewritten for the new size).
fn replace_section(
    wasm: &[u8],
    name: &str,
    range: std::ops::Range<usize>,
    contents: &[u8],
) -> Vec<u8> {
    // The section starts at its id byte: walk back over the name and the
    // size LEB, which the original encoding gives.
    let mut name_field = Vec::new();
    leb(name.len(), &mut name_field);
    name_field.extend_from_slice(name.as_bytes());
    let name_start = range.start - name_field.len();
    // The size LEB ends at name_start; its first byte follows the id (0).
    let mut id_at = name_start - 1;
    while wasm[id_at] != 0
        || wasm[id_at + 1..name_start]
            .iter()
            .rev()
            .skip(1)
            .any(|b| b & 0x80 == 0)
    {
        id_at -= 1;
    }
    let mut out = wasm[..id_at].to_vec();
    out.push(0);
    let mut body = name_field;
    body.extend_from_slice(contents);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out.extend_from_slice(&wasm[range.end..]);
    out
}

fn mutate(data: &mut Vec<u8>, rng: &mut Rng) -> String {
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(6) {
        if data.is_empty() {
            break;
        }
        let at = rng.below(data.len() as u64) as usize;
        match rng.below(6) {
            0 => {
                let bit = rng.below(8);
                data[at] ^= 1 << bit;
                done.push(format!("flip bit {bit} at {at:#x}"));
            }
            1 => {
                let v = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, 1, 0x10]);
                data[at] = v;
                done.push(format!("set {at:#x} to {v:#x}"));
            }
            2 => {
                let len = (1 + rng.below(64) as usize).min(data.len() - at);
                data[at..at + len].fill(0);
                done.push(format!("zero {len} bytes at {at:#x}"));
            }
            3 => {
                data.truncate(at);
                done.push(format!("cut at {at:#x}"));
            }
            4 => {
                let len = (1 + rng.below(256) as usize).min(data.len() - at);
                let chunk = data[at..at + len].to_vec();
                let to = rng.below(data.len() as u64) as usize;
                data.splice(to..to, chunk);
                done.push(format!("copy {len} bytes from {at:#x} to {to:#x}"));
            }
            _ => {
                // A LEB128 that never ends.
                let len = (1 + rng.below(12) as usize).min(data.len() - at);
                data[at..at + len].fill(0x80);
                done.push(format!("{len} continuation bytes at {at:#x}"));
            }
        }
    }
    done.join(", ")
}

pub fn case(corpus: &mut Corpus, seed: u64, cache: &Path) -> Verdict {
    let mut rng = Rng::new(seed);
    let i = rng.below(corpus.files.len() as u64) as usize;
    let path = corpus.files[i].clone();
    let (wasm, module) = match corpus.module(i) {
        Ok(m) => m,
        Err(e) => return Verdict::Finding(Finding::new(format!("{}: {e}", path.display()))),
    };
    let all = sections(wasm);
    let (name, range) = rng.pick(&all).clone();
    let mut contents = wasm[range.clone()].to_vec();
    let what = mutate(&mut contents, &mut rng);
    let mutated = replace_section(wasm, &name, range, &contents);
    // What a case that takes the process down (memory, a hang) was: the
    // module and its mutation, written before the run.
    let _ = std::fs::write(
        cache.join("current.txt"),
        format!("{}\nsection {name}: {what}\n", path.display()),
    );
    if std::env::var_os("WASMSCOPE_FUZZ_SAVE_CASE").is_some() {
        let _ = std::fs::write(cache.join("current.wasm"), &mutated);
    }
    let module_path = cache.join(path.file_name().unwrap_or_default());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let dwarf = ModuleDwarf::from_binary(&mutated);
        if let Some(d) = &dwarf {
            // What the DAP reads: the line table, every function's scopes.
            let ranges = d.line_ranges();
            let _ = d.prologue_ends(&mutated);
            // What the gdbstub serves lldb.
            let _ = d.with_moved_prologue_ends(&mutated);
            let _ = d.statement_starts();
            let _ = d.located_locals();
            for r in ranges.iter().step_by(ranges.len() / 64 + 1) {
                let at = d.module_offset(r.start);
                let _ = d.frames(at);
                let _ = d.location(at);
            }
        }
        wasmscope_debug::jit::image(module, &module_path, dwarf.as_ref()).map(|(image, _)| image)
    }));
    let finding = |summary: String| {
        Verdict::Finding(
            Finding::new(summary)
                .details(format!(
                    "module: {}\nsection {name}: {what}\nreproduce: wasmscope run --emit-debug-image /dev/null case.wasm",
                    path.display()
                ))
                .file("case.wasm", mutated.clone()),
        )
    };
    match outcome {
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            finding(format!(
                "the transform panics on a damaged {name}: {message}"
            ))
        }
        Ok(Ok(image)) if !image.starts_with(b"\x7fELF") => {
            finding(format!("a damaged {name} gives an image that is not ELF"))
        }
        // A clear error is a fine answer to damaged DWARF.
        Ok(_) => Verdict::Pass,
    }
}

/// The default corpus: the committed fixtures and, when built, the
/// language corpus (C, C++, Rust, Zig).
pub fn default_dirs(root: &Path, target: &Path) -> Vec<PathBuf> {
    [
        root.join("tests/fixtures/dbg"),
        target.join("fixtures/lang"),
    ]
    .into_iter()
    .filter(|d| d.is_dir())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by this target (seed 6 of the first run): a `.debug_str` cut
    /// short left a compile unit's file names empty, and gimli's line
    /// program writer panics on an empty name. Every cut of the fixture's
    /// `.debug_str` and `.debug_line`, at a stride, must transform.
    #[test]
    fn a_cut_string_or_line_section_does_not_panic() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = root.join("tests/fixtures/dbg/app-O0.wasm");
        let mut corpus = Corpus::new(&[root.join("tests/fixtures/dbg")]).unwrap();
        let i = corpus.files.iter().position(|f| *f == path).unwrap();
        let (wasm, module) = corpus.module(i).unwrap();
        let cache = std::env::temp_dir().join("wasmscope-fuzz-test");
        std::fs::create_dir_all(&cache).unwrap();
        std::env::set_var("XDG_CACHE_HOME", &cache);
        let mut cuts = 0;
        for (name, range) in sections(wasm) {
            if name != ".debug_str" && name != ".debug_line" {
                continue;
            }
            for cut in (0..range.len()).step_by(range.len() / 40 + 1) {
                let contents = &wasm[range.start..range.start + cut];
                let mutated = replace_section(wasm, &name, range.clone(), contents);
                let dwarf = ModuleDwarf::from_binary(&mutated);
                let _ =
                    wasmscope_debug::jit::image(module, &cache.join("app.wasm"), dwarf.as_ref());
                cuts += 1;
            }
        }
        assert!(cuts >= 80, "{cuts}");
    }

    #[test]
    fn a_replaced_section_reads_back() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let wasm = std::fs::read(root.join("tests/fixtures/dbg/app-O0.wasm")).unwrap();
        let (name, range) = sections(&wasm)[0].clone();
        let long = vec![7u8; 300];
        let out = replace_section(&wasm, &name, range, &long);
        let (name2, range2) = sections(&out)[0].clone();
        assert_eq!(name, name2);
        assert_eq!(&out[range2], &long[..]);
        ws::wasmparser::Validator::new_with_features(ws::supported_features())
            .validate_all(&out)
            .unwrap();
    }
}
