//! Time and peak heap of the DWARF transform (the module's DWARF read,
//! rewritten for the native code and written out), and of all that
//! `wasmscope run -g` adds to a run: the whole JIT image, with the
//! generated listing and the line tables. The module is compiled once, as
//! `run -g` compiles it, outside the measurement.
//!
//!     cargo run --release -p wasmscope-debug --example transform_bench -- MODULE [RUNS]
//!
//! Prints the median and the range over RUNS (default 11), and the peak
//! heap in use above the compiled module's, counted by this example's
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmscope_debug::dwarf::read::ModuleDwarf;
use wasmscope_debug::dwarf::transform;
use wasmscope_debug::jit;
use wasmscope_engine::{Config, Engine, Module};

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` with the caller's layout unchanged;
// the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: transform_bench MODULE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(11);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("error: cannot read {path}: {e}");
        std::process::exit(1);
    });
    let dwarf = ModuleDwarf::from_binary(&bytes);
    let config = Config {
        compile: jit::compile_options(dwarf.as_ref()),
        ..Default::default()
    };
    let engine = Engine::new(config).expect("engine");
    let module = Module::new(&engine, &bytes).unwrap_or_else(|e| {
        eprintln!("error: {path}: {e}");
        std::process::exit(1);
    });
    drop(dwarf);

    let mut transform = Vec::new();
    let mut total = Vec::new();
    let (mut transform_peak, mut peak) = (0, 0);
    let mut image_size = 0;
    for _ in 0..runs.max(1) {
        // The transform alone: DWARF read, rewritten, written out.
        let base = IN_USE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let dwarf = ModuleDwarf::from_binary(&bytes).expect("the module has DWARF");
        let native = jit::native_module(&module);
        let mut out = gimli::write::Dwarf::new();
        transform::transform(&dwarf, &native, &mut out);
        let mut sections = gimli::write::Sections::new(jit::DwarfWriter::new(native.vmctx_cell));
        out.write(&mut sections).expect("DWARF written");
        transform.push(start.elapsed());
        drop((sections, out, native, dwarf));
        transform_peak = PEAK.load(Ordering::Relaxed) - base;

        // All that `run -g` adds: the image, with the listing of the
        // whole module and the line tables.
        let base = IN_USE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let dwarf = ModuleDwarf::from_binary(&bytes);
        let (image, _) = jit::image(&module, Path::new(&path), dwarf.as_ref()).expect("image");
        total.push(start.elapsed());
        image_size = image.len();
        drop((image, dwarf));
        peak = PEAK.load(Ordering::Relaxed) - base;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    let summary = |mut t: Vec<Duration>| {
        t.sort();
        format!(
            "median {:.1} ms (min {:.1}, max {:.1}, {} runs)",
            ms(t[t.len() / 2]),
            ms(t[0]),
            ms(t[t.len() - 1]),
            t.len()
        )
    };
    println!(
        "{path}: {} KiB module, {} KiB image",
        bytes.len() / 1024,
        image_size / 1024
    );
    println!(
        "  DWARF transform:          {}; peak heap {:.1} MiB",
        summary(transform),
        mib(transform_peak)
    );
    println!(
        "  whole image (+ listing):  {}; peak heap {:.1} MiB",
        summary(total),
        mib(peak)
    );
}
