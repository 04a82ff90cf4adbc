//! The compiled-code cache, end to end through the `wasmscope` binary:
//! a second run loads instead of compiling and behaves the same; options
//! and modules that change code miss; every kind of damaged cache file is
//! detected and the run still succeeds; concurrent runs; the size limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty cache directory for one test.
fn cache_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cache")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wasmscope(cache: &Path, args: &[&str]) -> Output {
    wasmscope_env(cache, args, &[])
}

fn wasmscope_env(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .args(args)
        .env("WASMSCOPE_CACHE_DIR", cache)
        .env_remove("WASMSCOPE_CACHE_MAX_MB")
        .envs(env.iter().copied())
        .output()
        .expect("run wasmscope")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(name)
        .display()
        .to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// stderr without `--verbose`'s own lines.
fn guest_stderr(o: &Output) -> String {
    text(&o.stderr)
        .lines()
        .filter(|l| !l.starts_with("wasmscope: "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn loaded(o: &Output) -> bool {
    text(&o.stderr).contains("wasmscope: loaded compiled code from the cache")
}

fn stored(o: &Output) -> bool {
    text(&o.stderr).contains(", stored in the cache")
}

/// The cache files in `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "wsc"));
    v.sort();
    v
}

/// Every committed program (the C fixtures, traps included, and the
/// benchmark kernels) prints the same, exits the same and traps with the
/// same backtrace when its code comes from the cache.
#[test]
fn a_second_run_loads_from_the_cache_and_behaves_the_same() {
    let dir = cache_dir("same");
    let mut programs: Vec<String> = ["hello", "exitcode", "trap", "oob", "recurse"]
        .iter()
        .map(|p| fixture(&format!("tests/fixtures/{p}.wasm")))
        .collect();
    for k in ["fib", "sieve", "sha256"] {
        programs.push(fixture(&format!("bench/kernels/{k}.wasm")));
    }
    for p in &programs {
        let first = wasmscope(&dir, &["run", "-v", p]);
        assert!(stored(&first), "{p}: {}", text(&first.stderr));
        let second = wasmscope(&dir, &["run", "-v", p]);
        assert!(loaded(&second), "{p}: {}", text(&second.stderr));
        assert_eq!(first.status.code(), second.status.code(), "{p}");
        assert_eq!(text(&first.stdout), text(&second.stdout), "{p}");
        assert_eq!(guest_stderr(&first), guest_stderr(&second), "{p}");
    }
    // The traps really were traps, with backtraces.
    let trap = wasmscope(&dir, &["run", &programs[2]]);
    assert_eq!(trap.status.code(), Some(134));
    assert!(text(&trap.stderr).contains("wasm backtrace:"));
    assert_eq!(entries(&dir).len(), programs.len());

    let info = wasmscope(&dir, &["cache", "info"]);
    let info = text(&info.stdout);
    assert!(
        info.contains(&format!("entries:   {} ", programs.len())),
        "{info}"
    );
    assert!(info.contains(&dir.display().to_string()), "{info}");
    let clear = wasmscope(&dir, &["cache", "clear"]);
    assert!(
        text(&clear.stdout).contains(&format!("removed {} cache entries", programs.len())),
        "{}",
        text(&clear.stdout)
    );
    assert!(entries(&dir).is_empty());
    assert!(text(&wasmscope(&dir, &["cache", "info"]).stdout).contains("entries:   0 "));
}

/// A module, or an option that changes code, that differs misses;
/// `--no-cache` neither reads nor writes; `--cache-dir` wins over the
/// environment.
#[test]
fn changed_options_and_modules_miss() {
    let dir = cache_dir("miss");
    let hello = fixture("tests/fixtures/hello.wasm");
    assert!(stored(&wasmscope(&dir, &["run", "-v", &hello])));
    for opts in [
        &["--debug-hooks"][..],
        &["--debug-hooks", "--every-instruction"],
        &["--debug-hooks", "--mirrored-locals"],
        &["-g"],
    ] {
        let mut args = vec!["run", "-v"];
        args.extend_from_slice(opts);
        args.push(&hello);
        let o = wasmscope(&dir, &args);
        assert!(stored(&o), "{opts:?}: {}", text(&o.stderr));
        assert!(loaded(&wasmscope(&dir, &args)), "{opts:?}");
    }
    // `-g`'s debug image is cached beside its code.
    let g = wasmscope(&dir, &["run", "-v", "-g", &hello]);
    assert!(
        text(&g.stderr).contains("debug image loaded from the cache"),
        "{}",
        text(&g.stderr)
    );
    // Four option sets and the plain run, plus `-g`'s debug image.
    assert_eq!(entries(&dir).len(), 6);

    let module = |n: i32| format!("(module (func (export \"f\") (result i32) i32.const {n}))");
    let wat = dir.join("f.wat");
    std::fs::write(&wat, module(1)).unwrap();
    let wat = wat.to_str().unwrap();
    let o = wasmscope(&dir, &["run", "-v", "--invoke", "f", wat]);
    assert!(
        stored(&o) && text(&o.stdout) == "1\n",
        "{}",
        text(&o.stderr)
    );
    std::fs::write(wat, module(2)).unwrap();
    let o = wasmscope(&dir, &["run", "-v", "--invoke", "f", wat]);
    assert!(
        stored(&o) && text(&o.stdout) == "2\n",
        "{}",
        text(&o.stderr)
    );

    let before = entries(&dir);
    let o = wasmscope(&dir, &["run", "-v", "--no-cache", "--invoke", "f", wat]);
    assert!(
        text(&o.stderr).contains("(code cache off)"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(entries(&dir), before);

    let other = cache_dir("miss-other");
    let o = wasmscope(
        &dir,
        &["run", "-v", "--cache-dir", other.to_str().unwrap(), &hello],
    );
    assert!(stored(&o));
    assert_eq!(entries(&other).len(), 1);
    assert_eq!(entries(&dir), before);
}

/// Each kind of damaged cache file is ignored (never executed, never an
/// error) and rewritten, and the run prints what an uncached run prints.
#[test]
fn damaged_cache_files_are_detected_and_replaced() {
    let dir = cache_dir("damaged");
    let hello = fixture("tests/fixtures/hello.wasm");
    let clean = wasmscope(&dir, &["run", "-v", &hello]);
    let [file] = &entries(&dir)[..] else {
        panic!("one cache file")
    };
    let good = std::fs::read(file).unwrap();
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x20;
        b
    };
    let damages: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "truncated"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("header only", good[..40].to_vec(), "truncated"),
        ("a byte of code flipped", flip(good.len() / 2), "checksum"),
        ("the last byte flipped", flip(good.len() - 1), "checksum"),
        ("magic", flip(0), "not a wasmscope cache file"),
        ("format version", flip(8), "cache format"),
        ("engine build", flip(14), "engine build"),
        (
            "foreign",
            b"#!/bin/sh\necho not code\n".to_vec(),
            "not a wasmscope",
        ),
        (
            "appended",
            [&good[..], b"x"].concat(),
            "truncated or damaged",
        ),
    ];
    for (what, bytes, why) in damages {
        std::fs::write(file, &bytes).unwrap();
        let o = wasmscope(&dir, &["run", "-v", &hello]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{what}: {err}");
        assert_eq!(o.stdout, clean.stdout, "{what}");
        assert!(
            err.contains("ignored the cached code") && err.contains(why),
            "{what}: {err}"
        );
        assert!(stored(&o), "{what}: {err}");
        assert_eq!(std::fs::read(file).unwrap(), good, "{what}: rewritten");
        assert!(loaded(&wasmscope(&dir, &["run", "-v", &hello])), "{what}");
    }

    // A directory where the file should be: read fails, the write fails,
    // the run succeeds with one warning.
    std::fs::remove_file(file).unwrap();
    std::fs::create_dir(file).unwrap();
    let o = wasmscope(&dir, &["run", &hello]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(o.stdout, clean.stdout);
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    assert!(err.contains("cannot write the code cache"), "{err}");
}

/// A cache directory that cannot be created or written degrades to
/// compiling with a single warning line.
#[test]
fn an_unwritable_cache_directory_is_one_warning() {
    let dir = cache_dir("unwritable");
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let inside = blocker.join("cache");
    let hello = fixture("tests/fixtures/hello.wasm");
    let o = wasmscope(&inside, &["run", &hello]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(text(&o.stdout).starts_with("Hello from wasmscope!"));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: cannot write the code cache in"),
        "{err}"
    );
    // `cache info` on it is a clear one-line error.
    let info = wasmscope(&inside, &["cache", "info"]);
    assert_eq!(info.status.code(), Some(1));
    assert!(text(&info.stderr).starts_with("error: cannot read the cache directory"));
}

/// Runs of one module started together all succeed, and leave one whole
/// cache file and no temporary file behind.
#[test]
fn concurrent_runs_of_one_module_all_succeed() {
    let dir = cache_dir("concurrent");
    let sieve = fixture("bench/kernels/sieve.wasm");
    let expected = wasmscope(&cache_dir("concurrent-ref"), &["run", "--no-cache", &sieve]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_wasmscope"))
                .args(["run", &sieve])
                .env("WASMSCOPE_CACHE_DIR", &dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(o.stdout, expected.stdout);
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".wsc"), "{names:?}");
    assert!(loaded(&wasmscope(&dir, &["run", "-v", &sieve])));
}

/// Over its size limit the cache drops the least recently used modules;
/// a hit counts as a use.
#[test]
fn the_size_limit_evicts_the_least_recently_used() {
    let dir = cache_dir("lru");
    let [a, b, c] = ["fib", "sieve", "sha256"].map(|k| fixture(&format!("bench/kernels/{k}.wasm")));
    // Room for two of these modules, not three.
    let size_of = |m: &str| {
        let d = cache_dir("lru-measure");
        wasmscope(&d, &["run", m]);
        std::fs::metadata(&entries(&d)[0]).unwrap().len()
    };
    let sizes = [size_of(&a), size_of(&b), size_of(&c)];
    let two_largest = sizes.iter().sum::<u64>() - sizes.iter().min().unwrap();
    let limit = format!("{}", (two_largest + 512) as f64 / (1u64 << 20) as f64);
    let run = |m: &str| {
        let o = wasmscope_env(
            &dir,
            &["run", "-v", m],
            &[("WASMSCOPE_CACHE_MAX_MB", limit.as_str())],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        // Modification times order the uses.
        std::thread::sleep(std::time::Duration::from_millis(20));
        o
    };
    assert!(stored(&run(&a)));
    assert!(stored(&run(&b)));
    assert!(loaded(&run(&a))); // a is now more recent than b
    assert!(stored(&run(&c))); // over the limit: b goes
    assert_eq!(entries(&dir).len(), 2);
    assert!(loaded(&run(&a)));
    assert!(loaded(&run(&c)));
    assert!(stored(&run(&b)));
}
