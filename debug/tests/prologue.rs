//! Functions' body starts (`dwarf::prologue`) on real toolchain output:
//! Zig's Debug build, whose `prologue_end` rows come before its parameter
//! stores, and clang's, whose rows come after them.

use std::path::{Path, PathBuf};
use wasmscope_debug::dwarf::read::ModuleDwarf;

fn read(path: PathBuf) -> (Vec<u8>, ModuleDwarf) {
    let binary = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the language corpus: tests/fixtures/lang/setup.sh and build.sh)",
            path.display()
        )
    });
    let dwarf = ModuleDwarf::from_binary(&binary).expect("DWARF");
    (binary, dwarf)
}

fn zig_debug() -> PathBuf {
    std::env::var_os("LANG_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures/lang"))
        .join("zig-Debug.wasm")
}

#[test]
fn zig_body_starts_follow_the_parameter_stores() {
    let (binary, dwarf) = read(zig_debug());
    let moves = dwarf.prologue_moves(&binary);
    // Every function of the program with a parameter in its frame.
    assert!(moves.len() > 100, "{} moves", moves.len());
    // `factorial(n: u64)`: its row moves past `local.get 2; local.get 1;
    // i64.store 24` (7 bytes) to the first row of its body.
    let function = |code: u64| {
        let frames = dwarf.frames(dwarf.module_offset(code));
        frames.first().and_then(|f| f.function.clone())
    };
    let factorial = moves
        .iter()
        .find(|m| function(m.body).as_deref() == Some("inventory.factorial"))
        .expect("factorial moves");
    assert_eq!(factorial.body - factorial.marked, 7);
    let line = |code: u64| dwarf.location(dwarf.module_offset(code)).unwrap().line;
    assert_eq!((line(factorial.marked), line(factorial.body)), (127, 128));
    let ends = dwarf.prologue_ends(&binary);
    assert!(ends.binary_search(&factorial.body).is_ok());
    assert!(ends.binary_search(&factorial.marked).is_err());

    // The served module: the same bytes but for flags moved inside
    // `.debug_line`; every row the same, the flags on the moved rows.
    let served = dwarf.with_moved_prologue_ends(&binary).expect("rewritten");
    assert_eq!(served.len(), binary.len());
    assert_ne!(served, binary);
    let reread = ModuleDwarf::from_binary(&served).expect("DWARF still reads");
    assert_eq!(reread.line_ranges(), dwarf.line_ranges());
    assert_eq!(reread.statement_starts(), dwarf.statement_starts());
    assert_eq!(reread.prologue_ends(&served), ends);
    assert!(
        reread.prologue_moves(&served).is_empty(),
        "the flags already sit past the stores"
    );
}

#[test]
fn clang_rows_already_follow_the_parameter_stores() {
    for name in ["app-O0.wasm", "app-O2.wasm", "kinds-O0.wasm"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/dbg")
            .join(name);
        let (binary, dwarf) = read(path);
        assert!(!dwarf.prologue_ends(&binary).is_empty(), "{name}");
        assert_eq!(dwarf.prologue_moves(&binary), [], "{name}");
        assert!(dwarf.with_moved_prologue_ends(&binary).is_none(), "{name}");
    }
}
