//! The JIT debug image cached with the compiled code: an image loaded
//! from the cache and relocated into a process whose code, trampolines
//! and vmctx cell are elsewhere is byte for byte the image that process
//! builds from scratch.

use std::path::{Path, PathBuf};
use wasmscope_debug::dwarf::read::ModuleDwarf;
use wasmscope_debug::jit;
use wasmscope_engine::{CacheConfig, Config, Engine, Module};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

#[test]
fn a_cached_image_is_relocated_to_what_a_fresh_build_gives() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-cache");
    let _ = std::fs::remove_dir_all(&dir);
    let out = |n: &str| dir.join(format!("{n}.elf"));
    std::fs::create_dir_all(&dir).unwrap();
    for program in ["dbg/app-O0.wasm", "hello.wasm"] {
        let path = fixture(program);
        let bytes = std::fs::read(&path).unwrap();
        let dwarf = ModuleDwarf::from_binary(&bytes);
        let config = || Config {
            compile: jit::compile_options(dwarf.as_ref()),
            cache: Some(CacheConfig::new(dir.join("cache"))),
            ..Config::default()
        };
        // The first process: compiles, builds the image, caches both.
        let engine1 = Engine::new(config()).unwrap();
        let module1 = Module::new(&engine1, &bytes).unwrap();
        let first = jit::register(&module1, &path, dwarf.as_ref(), Some(&out("first"))).unwrap();
        assert!(!first.from_cache, "{program}");
        // The second: another engine, code loaded at other addresses.
        let engine2 = Engine::new(config()).unwrap();
        let module2 = Module::new(&engine2, &bytes).unwrap();
        assert!(matches!(
            module2.cache_outcome(),
            wasmscope_engine::CacheOutcome::Loaded { .. }
        ));
        let second = jit::register(&module2, &path, dwarf.as_ref(), Some(&out("second"))).unwrap();
        assert!(second.from_cache, "{program}");
        let (fresh, _) = jit::image(&module2, &path, dwarf.as_ref()).unwrap();
        let cached = std::fs::read(out("second")).unwrap();
        let first = std::fs::read(out("first")).unwrap();
        assert_ne!(first, cached, "{program}: the addresses moved");
        assert_eq!(cached.len(), fresh.len(), "{program}");
        let diff = cached.iter().zip(&fresh).position(|(a, b)| a != b);
        assert_eq!(diff, None, "{program}: first differing byte");
    }
}
