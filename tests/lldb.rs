//! The real lldb (Debian's lldb 14) debugging wasm source through the GDB
//! JIT interface: `lldb -- wasmscope run -g app.wasm`, in batch mode.

mod debugger;

use debugger::{
    blocks_in, differential, line_in, line_of, merged_output, wasm_program, Block, FULL_RUNS,
};
use std::path::Path;

/// lldb's batch arguments for `commands` against `program`.
fn lldb_args(commands: &[String], program: &[String]) -> Vec<String> {
    let sources = debugger::sources();
    let mut args: Vec<String> = vec![
        "--batch".into(),
        // Batch mode stops at the first failing command otherwise.
        "-o".into(),
        "settings set interpreter.stop-command-source-on-error false".into(),
        // lldb 14 reads JIT images only when asked.
        "-o".into(),
        "settings set plugin.jit-loader.gdb.enable on".into(),
        "-o".into(),
        format!(
            "settings set target.source-map /wasmscope-fixtures {}",
            sources.display()
        ),
    ];
    for c in commands {
        args.extend(["-o".into(), c.clone()]);
    }
    args.push("--".into());
    args.extend(program.iter().cloned());
    args
}

/// The environment lldb runs in: Debian's lldb 14 finds its Python
/// module only with this path; the listings stay out of the user's cache.
fn lldb_env() -> [(&'static str, String); 2] {
    [
        (
            "PYTHONPATH",
            "/usr/lib/llvm-14/lib/python3.11/dist-packages".into(),
        ),
        (
            "XDG_CACHE_HOME",
            debugger::cache_dir().display().to_string(),
        ),
    ]
}

/// Runs lldb in batch mode with `commands` against `wasmscope run -g MODULE ARGS`.
fn lldb(commands: &[&str], module: &str, args: &[&str]) -> String {
    let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
    merged_output(
        Path::new("lldb"),
        &lldb_args(&commands, &wasm_program(module, args)),
        &lldb_env(),
    )
}

#[test]
fn breaks_reads_locals_and_globals_and_finishes_with_the_value() {
    let line = line_of("total += head->value;");
    let out = lldb(
        &[
            &format!("breakpoint set -f app.c -l {line} -c 'total == 30'"),
            "breakpoint set -n factorial -c 'n == 17'",
            "run",
            "frame variable total",
            "print *head",
            "print head->value",
            "target variable global_counter file_scale",
            "finish",
            "continue",
            "bt 3",
            "finish",
            "continue",
        ],
        "dbg/app-O0.wasm",
        &[],
    );
    assert!(out.contains("`sum_list(head=0x"), "{out}");
    assert!(out.contains(&format!("at app.c:{line}:")), "{out}");
    assert!(out.contains("(int) total = 30"), "{out}");
    assert!(out.contains("(node) $0 = (value = 30, next = 0)"), "{out}");
    assert!(out.contains("(int) $1 = 30"), "{out}");
    assert!(out.contains("(int) global_counter = 7"), "{out}");
    assert!(out.contains("(double) file_scale = 1.5"), "{out}");
    assert!(out.contains("Return value: (int) $2 = 60"), "{out}");
    // The conditional breakpoint by function name stops after the
    // prologue, where `n` is readable.
    assert!(out.contains("`factorial(n=17) at app.c:"), "{out}");
    assert!(out.contains("`factorial(n=18) at app.c:"), "{out}");
    assert!(
        out.contains("Return value: (uint64_t) $3 = 355687428096000"),
        "{out}"
    );
    assert!(out.contains("exited with status = 0"), "{out}");
}

#[test]
fn steps_and_prints_strings_function_pointers_and_stored_pointers() {
    let line = line_in("kinds.c", "int p = tri.measure(&tri);");
    let out = lldb(
        &[
            &format!("breakpoint set -f kinds.c -l {line}"),
            "breakpoint set -n apply",
            "run",
            "frame variable label word tri.measure r",
            "target variable greeting ops",
            "print *(double *)(__wasm_memory + r.side)",
            "print *(enum color *)(__wasm_memory + r.color)",
            "step",
            "next",
            "continue",
            "frame variable op x y",
            "continue",
            "continue",
        ],
        "dbg/kinds-O0.wasm",
        &[],
    );
    assert!(out.contains("(const char *) label = 0x"), "{out}");
    assert!(out.contains(" \"triangle\"\n"), "{out}");
    assert!(out.contains("(char[8]) word = \"wasm"), "{out}");
    // A stored function pointer names its function; a stored data pointer
    // is its wasm address (lldb reads pointers at 8 bytes: never guess).
    assert!(out.contains("tri.measure = 0x3 <perimeter>"), "{out}");
    assert!(out.contains("(refs) r = (color = 7"), "{out}");
    assert!(out.contains("\"hello, wasm\""), "{out}");
    // The memory's base follows a stored pointer by hand.
    assert!(out.contains("(double) $0 = 5.5"), "{out}");
    assert!(out.contains("(enum color) $1 = GREEN"), "{out}");
    assert!(
        out.contains("(binop[2]) ops = ([0] = 0x1 <add>, [1] = 0x2 <mul>)"),
        "{out}"
    );
    // `step` enters perimeter through the function pointer.
    assert!(out.contains("`perimeter(s=0x"), "{out}");
    assert!(out.contains("`add at kinds.c:"), "{out}");
    assert!(
        out.contains("(int) x = 5") && out.contains("(int) y = 7"),
        "{out}"
    );
    assert!(out.contains("count=5"), "{out}");
    assert!(out.contains("exited with status = 0"), "{out}");
}

#[test]
fn a_full_run_under_lldb_stops_on_no_signal() {
    for m in FULL_RUNS {
        let output = debugger::plain_run(m);
        // The guest writes to lldb's terminal, which ends lines in CRLF.
        let out = lldb(&["run"], m, &[]).replace("\r\n", "\n");
        assert!(!out.contains("stop reason = signal"), "{m}: {out}");
        assert!(
            out.contains(&output),
            "the same output as without the debugger\n{m}: {out}"
        );
        assert!(out.contains("exited with status = 0"), "{m}: {out}");
    }
}

/// Each value command's printed values, masked; lldb echoes every
/// command as `(lldb) CMD`.
fn lldb_blocks(script: &[String], program: &[String]) -> Vec<Block> {
    let out = merged_output(Path::new("lldb"), &lldb_args(script, program), &lldb_env());
    blocks_in(&out, script)
}

/// A differential's runner through the launcher: a `wasmscope run -g
/// MODULE ARGS` command line runs as `wasmscope lldb -- MODULE ARGS` (its
/// extension loaded, its own settings), a native program as in
/// `lldb_blocks`.
fn launcher_blocks(script: &[String], program: &[String]) -> Vec<Block> {
    if program[0] != env!("CARGO_BIN_EXE_wasmscope") {
        return lldb_blocks(script, program);
    }
    launcher_blocks_with(None, script, program)
}

/// lldb 22 (tests/fixtures/lang/lldb22): natively with its own libc++
/// formatters, on wasm through `WASMSCOPE_LLDB=lldb22 wasmscope lldb`.
fn lldb22_blocks(script: &[String], program: &[String]) -> Vec<Block> {
    let lldb22 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lang/lldb22");
    if program[0] != env!("CARGO_BIN_EXE_wasmscope") {
        let out = merged_output(&lldb22, &lldb_args(script, program), &[]);
        return blocks_in(&out, script);
    }
    launcher_blocks_with(Some(&lldb22), script, program)
}

fn launcher_blocks_with(lldb: Option<&Path>, script: &[String], program: &[String]) -> Vec<Block> {
    let mut args: Vec<String> = vec![
        "lldb".into(),
        "--batch".into(),
        "-o".into(),
        "settings set interpreter.stop-command-source-on-error false".into(),
        "-o".into(),
        format!(
            "settings set target.source-map /wasmscope-fixtures {}",
            debugger::sources().display()
        ),
    ];
    for c in script {
        args.extend(["-o".into(), c.clone()]);
    }
    args.push("--".into());
    args.extend(program[3..].iter().cloned());
    // No PYTHONPATH: the launcher finds Debian's lldb 14 module itself.
    let mut envs = vec![(
        "XDG_CACHE_HOME",
        debugger::cache_dir().display().to_string(),
    )];
    if let Some(lldb) = lldb {
        envs.push(("WASMSCOPE_LLDB", lldb.display().to_string()));
    }
    let out = merged_output(Path::new(env!("CARGO_BIN_EXE_wasmscope")), &args, &envs);
    blocks_in(&out, script)
}

/// The same lldb scripts natively and on wasm (see gdb.rs for gdb's).
#[test]
fn the_same_script_prints_the_same_values_natively_and_on_wasm() {
    let app = |needle: &str| line_in("app.c", needle);
    let script: Vec<String> = [
        format!("breakpoint set -f app.c -l {}", app("int a = p->x * p->y;")),
        format!(
            "breakpoint set -f app.c -l {} -c 'total == 30'",
            app("total += head->value;")
        ),
        "breakpoint set -n factorial -c 'n == 17'".into(),
        format!("breakpoint set -f app.c -l {}", app("global_counter += s;")),
        format!(
            "breakpoint set -f app.c -l {}",
            app("while (text[length]) length++;")
        ),
        "run".into(),
        "frame variable p".into(),
        "print *p".into(),
        "print p->x * p->y".into(),
        "target variable global_counter file_scale".into(),
        "continue".into(),
        "frame variable total".into(),
        "print *head".into(),
        "print head->value".into(),
        "finish".into(),
        "continue".into(),
        "frame variable n".into(),
        // (`n * 2` would differ in its type's name: `uint64_t` is
        // `unsigned long` natively, `unsigned long long` in wasm32.)
        "print n == 17".into(),
        "finish".into(),
        "continue".into(),
        "frame variable a s f scaled".into(),
        "frame variable n3 n2.value".into(),
        "print n1.value + n2.value".into(),
        "print argc".into(),
        "continue".into(),
        "frame variable text divisor".into(),
        "print *text".into(),
        "print text[4]".into(),
        "continue".into(),
    ]
    .into();
    // `*head`, `n3`: a stored pointer (`next`) is a `wasm_addr32` under
    // lldb (see debug/src/dwarf/transform.rs, Pointers).
    let mut table =
        String::from("| fixture, debugger, build | values | matching |\n|---|---|---|\n");
    table += &differential(
        "lldb",
        lldb_blocks,
        ("app", &["hello", "3"]),
        &script,
        &["print *head", "frame variable n3 n2.value"],
    );
    table += &differential(
        "wasmscope lldb",
        launcher_blocks,
        ("app", &["hello", "3"]),
        &script,
        &[],
    );

    let kinds = |needle: &str| line_in("kinds.c", needle);
    let script: Vec<String> = [
        format!(
            "breakpoint set -f kinds.c -l {}",
            kinds("int p = tri.measure(&tri);")
        ),
        format!(
            "breakpoint set -f kinds.c -l {}",
            kinds("for (int i = 0; i < 3; i++)")
        ),
        format!(
            "breakpoint set -f kinds.c -l {}",
            kinds("int r = op(x, y);")
        ),
        "run".into(),
        "frame variable tri.name tri.sides tri.tag tri.color c word label".into(),
        "frame variable big neg half grid".into(),
        "frame variable tri.measure r".into(),
        "frame variable label[3]".into(),
        "print (unsigned long long)(big - 1)".into(),
        "print (long long)(neg / 2)".into(),
        "print half * 3".into(),
        "print grid[1][2]".into(),
        "print c == GREEN".into(),
        "frame variable r.tag".into(),
        "target variable primes greeting offset ratio".into(),
        "target variable ops".into(),
        "continue".into(),
        "frame variable s".into(),
        "print s->sides[1] + s->sides[2]".into(),
        "finish".into(),
        "continue".into(),
        "frame variable x y".into(),
        "print x + y".into(),
        "finish".into(),
        "continue".into(),
        "continue".into(),
    ]
    .into();
    // `tri.measure`, `ops`: stored function pointers name the function; `r`
    // and `r.tag`: stored data pointers are `wasm_addr32`. (No command may
    // fail: lldb's batch mode stops at the first error.)
    // (`uint64_t` is `unsigned long` natively, `unsigned long long` in
    // wasm32: the casts keep the types' names apart from the values.)
    table += &differential(
        "lldb",
        lldb_blocks,
        ("kinds", &[]),
        &script,
        &[
            "frame variable tri.measure r",
            "frame variable r.tag",
            "target variable ops",
        ],
    );
    // Through the launcher the stored data pointers read as natively
    // (`r`'s four members), but `tri.measure` and `ops` are function
    // pointers (as above) and `r.tag`'s type is named `wasm_ptr32<number>`
    // where natively `number *` (lldb reads a pointer type at 8 bytes, so
    // a stored one is a struct the extension follows).
    table += &differential(
        "wasmscope lldb",
        launcher_blocks,
        ("kinds", &[]),
        &script,
        &[
            "frame variable tri.measure r",
            "frame variable r.tag",
            "target variable ops",
        ],
    );
    println!("{table}");
}

/// lldb 14 (Debian's) and lldb 22 (the newest, unpacked by
/// tests/fixtures/lang/setup.sh) load every corpus program's JIT image,
/// stop at a source line, print the frame's variables and run the program
/// to its end, without crashing. (lldb 14 once crashed in its own libc++
/// `unordered_map` formatter on the image's types; see
/// `hide_libcxx_namespace` in debug/src/dwarf/transform.rs.)
#[test]
fn every_toolchain_image_loads_in_lldb_14_and_22() {
    let lldb22 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lang/lldb22");
    for (program, lang) in debugger::LANG_PROGRAMS {
        let stop = match lang {
            "c" if program.contains("app") => format!(
                "breakpoint set -f app.c -l {}",
                line_of("int a = p->x * p->y;")
            ),
            "c" => "breakpoint set -n apply".into(),
            _ => format!(
                "breakpoint set -f {} -l {}",
                debugger::lang_source(lang)
                    .file_name()
                    .unwrap()
                    .to_string_lossy(),
                debugger::stop_line(lang, "main-all")
            ),
        };
        let commands: Vec<String> = [
            stop,
            "run".into(),
            "bt 3".into(),
            "frame variable".into(),
            "breakpoint delete --force".into(),
            "continue".into(),
        ]
        .into();
        let wasm = debugger::run_g(&debugger::lang_program(program));
        for lldb in [Path::new("lldb"), lldb22.as_path()] {
            let out = merged_output(lldb, &lldb_args(&commands, &wasm), &lldb_env());
            let who = format!("{program} under {}", lldb.display());
            assert!(!out.contains("PLEASE submit a bug report"), "{who}:\n{out}");
            assert!(!out.contains("Stack dump"), "{who}:\n{out}");
            if !debugger::optimized(program) {
                assert!(out.contains("stop reason = breakpoint 1."), "{who}:\n{out}");
                assert!(out.contains("frame #1: 0x"), "{who}: bt\n{out}");
            }
            assert!(out.contains("exited with status = 0"), "{who}:\n{out}");
        }
    }
}

/// C++ (libc++) at -O0 under lldb 22: natively with lldb's own libc++
/// formatters, on wasm through `wasmscope lldb` and its extension.
#[test]
fn cpp_prints_as_lldb_22_does_natively() {
    let cc = |name: &str| debugger::stop_line("cpp", name);
    let script: Vec<String> = [
        format!(
            "breakpoint set -f inventory.cpp -l {} -c 'count == 7'",
            cc("method")
        ),
        format!("breakpoint set -f inventory.cpp -l {}", cc("main-all")),
        "run".into(),
        "frame variable count each".into(),
        "frame variable *this".into(),
        "frame variable this->name this->tags".into(),
        "print each * 2".into(),
        "finish".into(),
        "continue".into(),
        "frame variable greeting items labels".into(),
        "frame variable tree shared label boxed".into(),
        "frame variable tree->key".into(),
        "frame variable tree->left".into(),
        "frame variable *tree".into(),
        "frame variable n numbers tree_sum total_qty stock_value over_limit fact".into(),
        "frame variable big_int big_float".into(),
        "frame variable prices seen stock".into(),
        "frame variable found_qty v_int v_double v_text".into(),
        "continue".into(),
    ]
    .into();
    let native = lldb22_blocks(&script, &[debugger::lang_program("cpp-O0.native")]);
    let wasm_cmd = debugger::run_g(&debugger::lang_program("cpp-O0.wasm"));
    let wasm = lldb22_blocks(&script, &wasm_cmd);
    let c = debugger::compare(&native, &wasm);
    let differing: Vec<&str> = c.differing.iter().map(String::as_str).collect();
    assert_eq!(
        differing,
        Vec::<&str>::new(),
        "only the known commands differ\nnative: {native:#?}\nwasm: {wasm:#?}"
    );
    assert!(c.values >= 30, "{native:#?}");
    println!(
        "| cpp-O0.wasm wasmscope lldb (lldb 22) vs lldb 22 native | {} | {} |",
        c.values, c.matching
    );
}

/// Rust at -O0 under lldb 14: natively through rust-lldb (lldb with
/// Rust's own formatters), on wasm through `wasmscope lldb`. Two
/// normalizations, both rust-lldb's presentation and not values: it lists
/// a string's characters as children (`[0] = 'h'`) under some strings and
/// not others, and puts an empty `{ }` or `{}` after some; the comparison keeps
/// the string itself.
#[test]
fn rust_prints_as_rust_lldb_does_natively() {
    let rs = |name: &str| debugger::stop_line("rust", name);
    let script: Vec<String> = [
        format!("breakpoint set -f inventory.rs -l {}", rs("generic")),
        format!(
            "breakpoint set -f inventory.rs -l {} -c 'qty == 7'",
            rs("method")
        ),
        format!("breakpoint set -f inventory.rs -l {}", rs("main-all")),
        "run".into(),
        "frame variable best xs".into(),
        "finish".into(),
        "continue".into(),
        "frame variable best xs".into(),
        "continue".into(),
        "frame variable qty each".into(),
        "frame variable *self".into(),
        "frame variable self->name self->tags".into(),
        "finish".into(),
        "continue".into(),
        "frame variable greeting label items window".into(),
        "frame variable numbers".into(),
        "frame variable shared arc_nums labels".into(),
        "frame variable tree_sum tree_depth fact big_int big_float over_limit stock_value".into(),
        "frame variable shapes rect failed".into(),
        "frame variable stock".into(),
        "frame variable n".into(),
        "continue".into(),
    ]
    .into();
    let normalize = |blocks: Vec<Block>| -> Vec<Block> {
        blocks
            .into_iter()
            .map(|(cmd, values)| {
                let values = values
                    .into_iter()
                    .filter(|v| !(v.starts_with('[') && v.ends_with('\'')))
                    .map(|v| v.trim_end_matches(" {}").trim_end_matches(" {").to_string())
                    .collect();
                (cmd, values)
            })
            .collect()
    };
    let sysroot = String::from_utf8(
        std::process::Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let etc = Path::new(sysroot.trim()).join("lib/rustlib/etc");
    // rust-lldb's own command line, with the same batch settings.
    let mut args = vec![
        "--one-line-before-file".to_string(),
        format!(
            "command script import \"{}\"",
            etc.join("lldb_lookup.py").display()
        ),
        "--source-before-file".into(),
        etc.join("lldb_commands").display().to_string(),
    ];
    args.extend(lldb_args(
        &script,
        &[debugger::lang_program("rust-O0.native")],
    ));
    let native = normalize(blocks_in(
        &merged_output(Path::new("lldb"), &args, &lldb_env()),
        &script,
    ));
    let wasm_cmd = debugger::run_g(&debugger::lang_program("rust-O0.wasm"));
    let wasm = normalize(launcher_blocks(&script, &wasm_cmd));
    // A HashMap's order follows its random seed, new in every run: its
    // entries are checked apart.
    let unordered = |blocks: Vec<Block>| -> (Vec<Block>, String) {
        let (map, rest): (Vec<Block>, Vec<Block>) = blocks
            .into_iter()
            .partition(|b| b.0 == "frame variable stock");
        (
            rest,
            map.into_iter()
                .flat_map(|b| b.1)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    let (native, native_stock) = unordered(native);
    let (wasm, stock) = unordered(wasm);
    for entry in [r#"("apple", 3)"#, r#"("pear", 5)"#, r#"("plum", 7)"#] {
        assert!(native_stock.contains(entry), "{native_stock}");
        assert!(stock.contains(entry), "{stock}");
    }
    assert!(stock.contains(") stock = size=3"), "{stock}");
    let c = debugger::compare(&native, &wasm);
    let differing: Vec<&str> = c.differing.iter().map(String::as_str).collect();
    // `numbers`: the same four values, one per line under rust-lldb, on
    // one line without it. `shapes rect failed`: lldb 14 shows no Rust
    // enum (natively an empty value, on wasm `{}`). `n`: a usize is
    // `unsigned long` natively, `unsigned int` in wasm32.
    assert_eq!(
        differing,
        [
            "frame variable numbers",
            "frame variable shapes rect failed",
            "frame variable n"
        ],
        "only the known commands differ\nnative: {native:#?}\nwasm: {wasm:#?}"
    );
    assert!(c.values >= 40, "{native:#?}");
    println!(
        "| rust-O0.wasm wasmscope lldb vs rust-lldb native (lldb 14) | {} | {} |",
        c.values, c.matching
    );
}

/// `wasmscope lldb`'s `wasm-set` writes through a pointer stored in linear
/// memory (lldb's `expression` cannot follow one); the guest computes
/// with the new value. `frame variable` follows the stored pointers, and
/// `bt` and `finish` work through the launcher.
#[test]
fn the_launcher_sets_a_value_through_a_stored_pointer() {
    let line = line_of("int s = sum_list(&n1);");
    let script: Vec<String> = [
        format!("breakpoint set -f app.c -l {line}"),
        "breakpoint set -n sum_list".into(),
        "run".into(),
        "frame variable n1.next->value n1.next->next->value".into(),
        "wasm-set n1.next->value 21".into(),
        "frame variable n2.value".into(),
        "continue".into(),
        "bt 2".into(),
        "frame variable head->next->value".into(),
        "finish".into(),
        "continue".into(),
    ]
    .into();
    let mut args: Vec<String> = vec!["lldb".into(), "--batch".into()];
    for c in &script {
        args.extend(["-o".into(), c.clone()]);
    }
    args.extend(["--".into(), debugger::fixture("dbg/app-O0.wasm")]);
    let cache = (
        "XDG_CACHE_HOME",
        debugger::cache_dir().display().to_string(),
    );
    let out = merged_output(Path::new(env!("CARGO_BIN_EXE_wasmscope")), &args, &[cache])
        .replace("\r\n", "\n");
    assert!(out.contains("(int) n1.next->value = 20"), "{out}");
    assert!(out.contains("(int) n1.next->next->value = 30"), "{out}");
    assert!(out.contains("(int) n2.value = 21"), "{out}");
    assert!(out.contains("`sum_list(head=0x"), "{out}");
    assert!(out.contains("frame #1: 0x"), "{out}");
    assert!(out.contains("(int) head->next->value = 21"), "{out}");
    assert!(out.contains("Return value: (int) $0 = 61"), "{out}");
    assert!(out.contains("sum=61"), "{out}");
    assert!(out.contains("exited with status = 0"), "{out}");
}
