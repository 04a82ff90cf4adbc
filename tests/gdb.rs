//! The real gdb debugging wasm source through the GDB JIT interface:
//! `gdb --args wasmscope run -g app.wasm`. Batch scripts, matched against
//! what gdb prints.

mod debugger;

use debugger::{differential, line_in, line_of, mask, merged_output, Block, FULL_RUNS};
use std::path::{Path, PathBuf};

/// Runs gdb in batch mode with `commands` against `program`; its output
/// and error messages in one stream. The fixtures' sources are mapped
/// back from their build prefix, as the native builds name them where
/// they are (else gdb prints no source line, e.g. after `finish`).
fn gdb_output(commands: &[String], program: &[String]) -> String {
    let mut args: Vec<String> = [
        "-batch",
        "-nx",
        "-ex",
        "set breakpoint pending on",
        "-ex",
        "set pagination off",
        "-ex",
    ]
    .map(String::from)
    .to_vec();
    args.push(format!(
        "set substitute-path /wasmscope-fixtures {}",
        debugger::sources().display()
    ));
    for c in commands {
        args.extend(["-ex".to_string(), c.clone()]);
    }
    args.push("--args".into());
    args.extend(program.iter().cloned());
    // Keep the generated listings out of the user's cache.
    let cache = (
        "XDG_CACHE_HOME",
        debugger::cache_dir().display().to_string(),
    );
    merged_output(Path::new("gdb"), &args, &[cache])
}

/// Runs `launcher` (`gdb`, `rust-gdb` or `wasmscope gdb`) in batch mode
/// with `commands`, then `tail` (`--args PROGRAM` or `-- MODULE`).
fn gdb_via(launcher: &[&str], commands: &[String], tail: &[String]) -> String {
    let mut args: Vec<String> = launcher[1..].iter().map(|s| s.to_string()).collect();
    args.extend(["-batch", "-nx", "-ex", "set pagination off"].map(String::from));
    // The fixtures' sources where they are, as in `gdb_output`.
    let lang = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lang");
    for (from, to) in [
        ("/wasmscope-fixtures/lang", lang),
        ("/wasmscope-fixtures", debugger::sources()),
    ] {
        args.extend([
            "-ex".to_string(),
            format!("set substitute-path {from} {}", to.display()),
        ]);
    }
    for c in commands {
        args.extend(["-ex".to_string(), c.clone()]);
    }
    args.extend(tail.iter().cloned());
    let cache = (
        "XDG_CACHE_HOME",
        debugger::cache_dir().display().to_string(),
    );
    merged_output(Path::new(launcher[0]), &args, &[cache])
}

/// Runs gdb in batch mode with `commands` against `wasmscope run -g MODULE
/// ARGS`.
fn gdb(commands: &[&str], module: &str, args: &[&str]) -> String {
    let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
    gdb_output(&commands, &debugger::wasm_program(module, args))
}

#[test]
fn breaks_on_a_source_line_and_shows_the_backtrace() {
    let area_line = line_of("int a = p->x * p->y;");
    let call_line = line_of("int a = area(&p);");
    let out = gdb(
        &[&format!("break app.c:{area_line}"), "run", "bt", "quit"],
        "dbg/app-O0.wasm",
        &[],
    );
    assert!(out.contains("Breakpoint 1, area (p=0x"), "{out}");
    assert!(out.contains(&format!("app.c:{area_line}\n")), "{out}");
    assert!(
        out.contains("#1  0x") && out.contains("in __main_argc_argv (argc=1, argv=0x"),
        "{out}"
    );
    assert!(out.contains(&format!("app.c:{call_line}\n")), "{out}");
    // The walk goes from guest frames through our trampoline to the host's
    // `main` without nameless frames.
    assert!(out.contains("wasmscope::host_to_wasm"), "{out}");
    assert!(!out.contains(" ?? ()"), "no unnamed frames:\n{out}");
    // (`#15 main () at ...` when inlined into its caller, else `#15 0x...
    // in main () at ...`)
    assert!(out.contains(" main () at src/main.rs"), "{out}");
}

#[test]
fn next_and_step_move_by_source_lines() {
    let call_line = line_of("int a = area(&p);");
    let out = gdb(
        &[
            &format!("break app.c:{call_line}"),
            "run",
            "step",
            "next",
            "next",
            "next",
            "quit",
        ],
        "dbg/app-O0.wasm",
        &[],
    );
    let area_body = line_of("int a = p->x * p->y;");
    let area_ret = line_of("return a;");
    assert!(out.contains("area (p=0x"), "step enters area:\n{out}");
    assert!(
        out.contains(&format!("{area_body}\t    int a = p->x * p->y;")),
        "{out}"
    );
    assert!(out.contains(&format!("{area_ret}\t    return a;")), "{out}");
    assert!(
        out.contains("__main_argc_argv (argc=1, argv=0x")
            && out.contains("struct node n3 = {30, NULL};"),
        "back in main:\n{out}"
    );
}

#[test]
fn breaks_on_a_function_by_name() {
    let out = gdb(
        &["break sum_list", "run", "bt 1", "quit"],
        "dbg/app-O0.wasm",
        &[],
    );
    // The wasm prologue (the argument spills) is skipped through the line
    // table's `prologue_end`: the stop is on the first body line, with the
    // argument already readable.
    assert!(out.contains("Breakpoint 1, sum_list (head=0x"), "{out}");
    let line = line_of("int total = 0;");
    assert!(
        out.contains(&format!("app.c:{line}\n")),
        "stops at the first body line:\n{out}"
    );
}

/// Zig's Debug code marks `prologue_end` before it stores its parameters
/// to the frame slots its DWARF names; the JIT's line table puts the flag
/// after those stores, so gdb's breakpoint on the function reads `n`.
#[test]
fn breaks_on_a_zig_function_after_its_parameters_are_stored() {
    let program = [
        env!("CARGO_BIN_EXE_wasmscope").to_string(),
        "run".into(),
        "-g".into(),
        debugger::lang_program("zig-Debug.wasm"),
    ];
    let commands = [
        "break inventory.factorial",
        "run",
        "info args",
        "continue",
        "info args",
    ]
    .map(String::from);
    let out = gdb_output(&commands, &program);
    let body = debugger::stop_line("zig", "recurse") - 1;
    assert!(out.contains("inventory.factorial (n=5) at "), "{out}");
    assert!(out.contains(&format!("inventory.zig:{body}\n")), "{out}");
    assert!(out.contains("n = 5\n"), "{out}");
    assert!(out.contains("n = 4\n"), "{out}");
}

#[test]
fn a_trap_stops_at_its_source_line() {
    let line = line_of("return length / divisor;");
    let out = gdb(&["run", "bt 2", "quit"], "dbg/app-O0.wasm", &["text"]);
    assert!(
        out.contains("received signal SIGFPE") || out.contains("received signal SIGILL"),
        "{out}"
    );
    assert!(
        out.contains("parse_header (text=0x")
            && out.contains("divisor=0) at ")
            && out.contains(&format!("app.c:{line}")),
        "{out}"
    );
}

#[test]
fn functions_without_dwarf_step_through_the_generated_listing() {
    let out = gdb(&["break fputs", "run", "bt 1", "quit"], "hello.wasm", &[]);
    assert!(
        out.contains("Breakpoint 1") && out.contains(", fputs ("),
        "{out}"
    );
    // hello.wasm's libc has DWARF; `__main_void`, a wasm-ld stub, has none
    // and lives in the listing.
    let out = gdb(
        &["break __main_void", "run", "bt 1", "quit"],
        "hello.wasm",
        &[],
    );
    assert!(
        out.contains("Breakpoint 1, ") && out.contains("__main_void () at "),
        "{out}"
    );
    assert!(out.contains(".wat:"), "listing line:\n{out}");
}

#[test]
fn a_full_run_under_gdb_stops_on_no_signal() {
    for m in FULL_RUNS {
        let output = debugger::plain_run(m);
        let out = gdb(&["run"], m, &[]);
        assert!(!out.contains("received signal"), "{m}: {out}");
        assert!(
            out.contains(&output),
            "the same output as without the debugger\n{m}: {out}"
        );
        assert!(out.contains("exited normally"), "{m}: {out}");
    }
}

/// Every line that gdb prints for `print`, `info args` and `info locals`.
fn values_of(out: &str) -> Vec<&str> {
    out.lines()
        // Source lines (`21\t    int a = ...`) are not values.
        .filter(|l| {
            l.split('\t')
                .next()
                .is_none_or(|n| n.parse::<u32>().is_err())
        })
        .filter(|l| l.starts_with('$') || l.contains(" = "))
        .collect()
}

#[test]
fn prints_locals_args_structs_through_pointers_and_globals_at_o0() {
    let area_line = line_of("int a = p->x * p->y;");
    let sum_line = line_of("total += head->value;");
    let out = gdb(
        &[
            &format!("break app.c:{area_line}"),
            &format!("break app.c:{sum_line} if total == 30"),
            "break factorial if n == 17",
            "run",
            "info args",
            "print *p",
            "print p->y",
            "print global_counter",
            "print file_scale",
            "set var p->x = 5",
            "finish",
            "call area(p)",
            "continue",
            "info locals",
            "print *head",
            "print head->next",
            "print head->value",
            "up",
            "print __wasm_memory + (long)argv[0]",
            "print n1.next->next->value",
            "print *n1.next",
            "print p",
            "continue",
            "bt 3",
            "info args",
            "continue",
        ],
        "dbg/app-O0.wasm",
        &[],
    );
    let values = values_of(&out).join("\n");
    for expected in [
        "p = 0x",
        "$1 = {x = 3, y = 4}",
        "$2 = 4",
        "$3 = 7",
        "$4 = 1.5",
        // The conditional breakpoint on the third node.
        "total = 30",
        "$6 = {value = 30, next = 0x0}",
        "$7 = (struct node *) 0x0",
        "$8 = 30",
        // `argv[0]`, a stored `char *`, through the memory's base.
        "app-O0.wasm\"",
        "$10 = 30",
        "$11 = {value = 20, next = 0x",
        // The write through the pointer reached the guest: area = 5 * 4.
        "$12 = {x = 5, y = 4}",
        "n = 17",
    ] {
        assert!(values.contains(expected), "missing `{expected}`:\n{out}");
    }
    // `finish` returns to the call and shows the value (5 * 4 after the
    // write). A call from gdb is refused: the function's type is its
    // native signature, with the two contexts before `p`.
    let call_line = line_of("int a = area(&p);");
    assert!(
        out.contains(&format!("app.c:{call_line}\n{call_line}\t")),
        "{out}"
    );
    assert!(out.contains("Value returned is $5 = 20"), "{out}");
    assert!(out.contains("Too few arguments in function call."), "{out}");
    assert!(
        out.contains("factorial (n=17) at ") && out.contains("factorial (n=18) at "),
        "recursion in bt:\n{out}"
    );
    assert!(
        out.contains("area=20 sum=60"),
        "the guest saw the write:\n{out}"
    );
    assert!(!out.contains("internal-error"), "{out}");
}

#[test]
fn optimized_code_reads_what_survives_and_says_optimized_out_otherwise() {
    let sum_line = line_of("total += head->value;");
    let out = gdb(
        &[
            &format!("break app.c:{sum_line}"),
            "run",
            "bt 2",
            "info locals",
            "print global_counter",
            "up",
            "info locals",
            "continue",
        ],
        "dbg/app-O2.wasm",
        &[],
    );
    // sum_list is inlined into main at -O2.
    assert!(out.contains("sum_list (head="), "{out}");
    assert!(out.contains("$1 = 7"), "{out}");
    assert!(out.contains("<optimized out>"), "{out}");
    assert!(!out.contains("internal-error"), "{out}");
    assert!(out.contains("exited normally"), "{out}");
}

/// -O2 DWARF that describes only the first byte of a 9-byte array: the
/// other elements are optimized out, not zeros (gdb fills bytes that no
/// piece covers with zeros unless the image says so; found by the
/// debugger differential on a csmith program).
#[test]
fn a_variable_described_in_part_shows_the_rest_optimized_out() {
    let out = gdb(
        &["break optimized.c:15", "run", "print bytes", "continue"],
        "dbg/optimized-O2.wasm",
        &[],
    );
    assert!(out.contains("$1 = {"), "{out}");
    let value = out.lines().find(|l| l.starts_with("$1 = ")).unwrap_or("");
    assert_eq!(value.matches("{<optimized out>}").count(), 8, "{out}");
    assert!(value.contains("\\311"), "the first byte, 0xc9:\n{out}");
    assert!(!value.contains("\"\""), "no zeros made up:\n{out}");
    assert!(out.contains("exited normally"), "{out}");
}

/// Whether gdb prints values for `cmd` (the differential compares those).
fn prints_values(cmd: &str) -> bool {
    ["print", "info ", "finish", "bt"]
        .iter()
        .any(|p| cmd.starts_with(p))
}

/// Runs `script` under gdb against `program ARGS` and returns each
/// value command's printed values, masked. Every command is preceded by
/// an `echo` marker, so the output splits per command; errors ("Cannot
/// access memory ...") count as the command's value.
fn gdb_blocks(script: &[String], program: &[String]) -> Vec<Block> {
    blocks_of(script, |commands| gdb_output(commands, program))
}

/// Runs `script` through `run` (gdb with the commands it is given) and
/// returns each value command's printed values, masked; see `gdb_blocks`.
/// The frames a `bt` prints count as its values.
fn blocks_of(script: &[String], run: impl Fn(&[String]) -> String) -> Vec<Block> {
    let mut commands = vec!["set width 0".to_string()];
    for c in script {
        let mark = if prints_values(c) { "@@" } else { "@@-" };
        commands.extend([format!("echo {mark} {c}\\n"), c.clone()]);
    }
    let out = run(&commands);
    let mut blocks: Vec<Block> = Vec::new();
    let mut open = false;
    for line in out.lines() {
        if let Some(cmd) = line.strip_prefix("@@ ") {
            blocks.push((cmd.to_string(), Vec::new()));
            open = true;
        } else if line.starts_with("@@- ") {
            open = false;
        } else if open {
            let value = line.contains(" = ")
                || line.starts_with('$')
                || line.starts_with('#')
                || line.starts_with("Cannot access memory")
                || line.starts_with("Value returned");
            if value {
                blocks.last_mut().unwrap().1.push(mask(line));
            }
        }
    }
    blocks
}

/// The same scripts natively and on wasm: at -O0 every value matches but
/// those of the known commands, each with its reason. Prints the table
/// the closing note quotes (`--nocapture`).
#[test]
fn the_same_script_prints_the_same_values_natively_and_on_wasm() {
    let app = |needle: &str| line_in("app.c", needle);
    let script: Vec<String> = [
        format!("break app.c:{}", app("int a = p->x * p->y;")),
        format!(
            "break app.c:{} if total == 30",
            app("total += head->value;")
        ),
        format!("break app.c:{} if n == 17", app("if (n <= 1) return 1;")),
        format!("break app.c:{}", app("global_counter += s;")),
        format!("break app.c:{}", app("while (text[length]) length++;")),
        "run".into(),
        "info args".into(),
        "print *p".into(),
        "print p->x".into(),
        "print p->y".into(),
        "print global_counter".into(),
        "print file_scale".into(),
        "continue".into(),
        "print total".into(),
        "print *head".into(),
        "print head->value".into(),
        "print head->next".into(),
        "print head->next == 0".into(),
        "continue".into(),
        "print n".into(),
        "print n * 2".into(),
        "continue".into(),
        "info locals".into(),
        "print p".into(),
        "print a".into(),
        "print n3".into(),
        "print n2.value".into(),
        "print n1.next->value".into(),
        "print n1.next->next->value".into(),
        "print *n1.next".into(),
        // A write through a pointer stored in linear memory.
        "set var n1.next->value = 21".into(),
        "print n1.next->value".into(),
        "print n2".into(),
        "print s".into(),
        "print f".into(),
        "print scaled".into(),
        "print scaled / 4".into(),
        "print global_counter + s".into(),
        "print argc".into(),
        "print argv[1]".into(),
        "continue".into(),
        "info args".into(),
        "print text".into(),
        "print *text".into(),
        "print text[4]".into(),
        "print length".into(),
        "continue".into(),
    ]
    .into();
    // `argv[1]`: a `char *` stored in linear memory shows its wasm address,
    // unreadable to gdb (see debug/src/dwarf/transform.rs, Pointers).
    let mut table =
        String::from("| fixture, debugger, build | values | matching |\n|---|---|---|\n");
    table += &differential(
        "gdb",
        gdb_blocks,
        ("app", &["hello", "3"]),
        &script,
        &["print argv[1]"],
    );
    // Through the launcher, whose extension prints the stored `char *`.
    table += &differential(
        "wasmscope gdb",
        launcher_or_gdb_blocks,
        ("app", &["hello", "3"]),
        &script,
        &[],
    );

    let kinds = |needle: &str| line_in("kinds.c", needle);
    let script: Vec<String> = [
        format!("break kinds.c:{}", kinds("int p = tri.measure(&tri);")),
        format!("break kinds.c:{}", kinds("int r = op(x, y);")),
        format!("break kinds.c:{}", kinds("for (int i = 0; i < 3; i++)")),
        "run".into(),
        "info locals".into(),
        "print tri.name".into(),
        "print tri.sides".into(),
        "print tri.sides[2]".into(),
        "print tri.tag".into(),
        "print tri.tag.bytes[3]".into(),
        "print tri.color".into(),
        "print tri.measure".into(),
        "print c".into(),
        "print c == GREEN".into(),
        "print (enum color)6".into(),
        "print word".into(),
        "print label".into(),
        "print *label".into(),
        "print label[3]".into(),
        "print big".into(),
        "print big - 1".into(),
        "print neg".into(),
        "print neg / 2".into(),
        "print half".into(),
        "print half * 3".into(),
        "print grid".into(),
        "print grid[1]".into(),
        "print grid[1][2]".into(),
        "print *r.tag".into(),
        "print r.tag->f".into(),
        "print *r.count".into(),
        "print *r.count - 6".into(),
        "print -*r.count".into(),
        "print r.color".into(),
        "print *r.color - 6".into(),
        "print *r.color".into(),
        "print *r.side".into(),
        "print primes".into(),
        "print primes[5]".into(),
        "print greeting".into(),
        "print greeting[7]".into(),
        "print offset".into(),
        "print ratio".into(),
        "print ops".into(),
        "continue".into(),
        "info args".into(),
        "print *s".into(),
        "print s->name".into(),
        "print s->sides[1] + s->sides[2]".into(),
        "continue".into(),
        "info args".into(),
        "print op".into(),
        "print x + y".into(),
        "finish".into(),
        "continue".into(),
        "continue".into(),
    ]
    .into();
    // `tri.measure`: a stored function pointer holds a table index, shown
    // as gdb shows a function pointer (`0x3 <perimeter>`, as in `ops` and
    // `info locals`) but without the `(int (*)(const struct shape *))`
    // that gdb prints before a pointer, since it is an enumeration.
    // `*r.side`: a stored pointer to a double is unreadable (see
    // debug/src/dwarf/transform.rs, Pointers).
    table += &differential(
        "gdb",
        gdb_blocks,
        ("kinds", &[]),
        &script,
        &["print tri.measure", "print *r.side"],
    );
    // The launcher changes no value of these: `*r.side` is an expression
    // (gdb dereferences the 4-byte pointer itself, which no extension
    // reaches), `tri.measure` a function pointer.
    table += &differential(
        "wasmscope gdb",
        launcher_or_gdb_blocks,
        ("kinds", &[]),
        &script,
        &["print tri.measure", "print *r.side"],
    );
    println!("{table}");
}

#[test]
fn prints_every_kind_of_value() {
    let at = line_in("kinds.c", "int p = tri.measure(&tri);");
    let out = gdb(
        &[
            &format!("break kinds.c:{at}"),
            "break apply",
            "run",
            "print tri",
            "print word",
            "print label",
            "print grid[1]",
            "print big",
            "print neg",
            "print half",
            "print greeting",
            "print ops",
            "print *r.tag",
            "print r.count",
            "print *r.count",
            "print *r.color",
            "print *r.side",
            "print *(double *)(__wasm_memory + (long)r.side)",
            "print cells",
            "continue",
            "print op",
            "break split",
            "continue",
            "continue",
            "finish",
            "call split(1)",
            "next",
            "print parts",
            "continue",
        ],
        "dbg/kinds-O0.wasm",
        &[],
    );
    let values = values_of(&out).join("\n");
    for expected in [
        "{color = BLUE, name = \"triangle\\000\\000\\000\", sides = {3, 4, 5.5}, \
         tag = {i = 1069547520, f = 1.5, bytes = \"\\000\\000\\300?\"}, measure = 0x3 <perimeter>}",
        "= \"wasm\\000\\000\\000\"",
        "\"triangle\"",
        "= {4, 5, 6}",
        "= 18446744073709551615",
        "= -2469135780246",
        "= 0.5",
        "\"hello, wasm\"",
        "= {0x1 <add>, 0x2 <mul>}",
        "{i = 1069547520, f = 1.5, bytes = \"\\000\\000\\300?\"}",
        "(int *) 0x",
        // Stored pointers to scalars: to the guest's `grid[1][1]` and `c`.
        "$12 = 5",
        "$13 = GREEN",
        "(binop) 0x",
    ] {
        assert!(values.contains(expected), "missing `{expected}`:\n{out}");
    }
    // A function pointer variable reads as the function's native code.
    assert!(out.contains(" <add>\n"), "{out}");
    assert!(
        out.contains("apply (op=0x") && out.contains(" <mul>, x=6, y=5)"),
        "{out}"
    );
    // A stored pointer to a double: gdb could only widen its bits as an
    // integer, so it shows the wasm address as unreadable; the memory's
    // base turns it into a native one.
    assert!(
        out.contains("Cannot access memory at address 0x") && !values.contains("e+"),
        "{out}"
    );
    assert!(values.contains("$14 = 5.5"), "{out}");
    // An array of stored `int **` beside a variable of that type keeps
    // 4-byte elements (gdb keeps one pointer type per target type: the
    // variable's 8-byte one once leaked into the array; found by the
    // debugger differential on a csmith program).
    let cells = values
        .lines()
        .find_map(|l| l.strip_prefix("$15 = "))
        .unwrap_or_default();
    let items: Vec<&str> = cells
        .split(['{', '}', ',', ' '])
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        items.len() == 4 && items[1] == "0x0" && items[2] == "0x0" && items[0] == items[3],
        "{out}"
    );
    // `split` returns its struct through memory, not where the native
    // convention has it: gdb neither reads the value nor calls it.
    assert!(
        out.contains("Function 'split' does not follow the target calling convention"),
        "{out}"
    );
    assert!(
        out.contains("Cannot call the function 'split' which does not follow"),
        "{out}"
    );
    assert!(values.contains("= {lo = 184, hi = 11}"), "{out}");
    assert!(!out.contains("internal-error"), "{out}");
    assert!(out.contains("count=5 parts=184,11"), "{out}");
}

/// Where each corpus program's gdb session breaks: its `main-all` stop,
/// or for the C programs a line of `app.c` / the function `apply`.
fn corpus_break(program: &str, lang: &str) -> String {
    match lang {
        "rust" => format!(
            "break inventory.rs:{}",
            debugger::stop_line(lang, "main-all")
        ),
        "cpp" => format!(
            "break inventory.cpp:{}",
            debugger::stop_line(lang, "main-all")
        ),
        "zig" => format!(
            "break inventory.zig:{}",
            debugger::stop_line(lang, "main-all")
        ),
        _ if program.contains("app") => format!("break app.c:{}", line_of("int a = p->x * p->y;")),
        _ => "break apply".into(),
    }
}

/// gdb loads every corpus program's JIT image (Rust, C++, Zig, clang-22)
/// without an internal error, stops where it is told at -O0, and the
/// program runs to its end. (gdb 13 once stopped on Rust's and Zig's
/// zero-sized types, copied as subranges: `create_range_type: Assertion
/// index_type->length () > 0`.)
#[test]
fn every_toolchain_image_loads_without_an_internal_error() {
    for (program, lang) in debugger::LANG_PROGRAMS {
        let path = debugger::lang_program(program);
        let commands: Vec<String> = [
            corpus_break(program, lang),
            "run".into(),
            "bt 2".into(),
            "info locals".into(),
            "delete".into(),
            "continue".into(),
        ]
        .into();
        let out = gdb_output(&commands, &debugger::run_g(&path));
        assert!(!out.contains("internal-error"), "{program}:\n{out}");
        assert!(!out.contains("internal problem"), "{program}:\n{out}");
        if !debugger::optimized(program) {
            assert!(out.contains("Breakpoint 1,"), "{program}:\n{out}");
            assert!(out.contains("#1  0x"), "{program}: bt\n{out}");
        }
        assert!(out.contains("exited normally"), "{program}:\n{out}");
    }
}

/// Code the module's line table gives no line (line 0, the compiler's
/// own) in a function it describes stays line 0 in the JIT image, as
/// native compilers write it, so `step` passes through it: once it got
/// the generated listing's line, and `step` stopped there, in another
/// file, in the middle of a statement (found by the debugger
/// differential). No sequence of the image mixes the C file and the
/// listing, and stepping over the loop's back edge reaches the next line.
#[test]
fn line_zero_code_stays_line_zero() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("images");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("app-O0-lines.elf");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .args(["run", "--emit-debug-image"])
        .arg(&image)
        .arg(debugger::fixture("dbg/app-O0.wasm"))
        .env("XDG_CACHE_HOME", debugger::cache_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v = std::process::Command::new("llvm-dwarfdump-22")
        .arg("--debug-line")
        .arg(&image)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    // Each line program's file names, then its rows by file index.
    let mut mixed = Vec::new();
    for program in text.split("debug_line[").skip(1) {
        let names: Vec<&str> = program
            .lines()
            .filter_map(|l| l.trim().strip_prefix("name: "))
            .collect();
        let mut files_of_sequence = std::collections::BTreeSet::new();
        for row in program.lines().filter(|l| l.starts_with("0x")) {
            let f: Vec<&str> = row.split_whitespace().collect();
            let Some(Ok(index)) = f.get(3).map(|i| i.parse::<usize>()) else {
                continue; // the program's own offset, `0x00000000]`
            };
            if let Some(name) = names.get(index.saturating_sub(1)) {
                files_of_sequence.insert(name.trim_matches('"').rsplit('.').next().unwrap_or(""));
            }
            if row.contains("end_sequence") {
                if files_of_sequence.contains("c") && files_of_sequence.contains("wat") {
                    mixed.push(row.to_string());
                }
                files_of_sequence.clear();
            }
        }
    }
    assert!(
        mixed.is_empty(),
        "sequences mixing app.c and the listing end at {mixed:?}"
    );
}

/// The image `run -g` registers is the one `--emit-debug-image` writes,
/// and llvm-dwarfdump's verifier finds no error in it for any corpus
/// program.
#[test]
fn every_toolchain_image_passes_the_dwarf_verifier() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("images");
    std::fs::create_dir_all(&dir).unwrap();
    for (program, _) in debugger::LANG_PROGRAMS {
        let image = dir.join(format!("{program}.elf"));
        let _ = std::fs::remove_file(&image);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_wasmscope"))
            .args(["run", "--emit-debug-image"])
            .arg(&image)
            .arg(debugger::lang_program(program))
            .env("XDG_CACHE_HOME", debugger::cache_dir())
            .output()
            .unwrap();
        assert!(o.status.success(), "{program}: {o:?}");
        let v = std::process::Command::new("llvm-dwarfdump-22")
            .arg("--verify")
            .arg(&image)
            .output()
            .expect("llvm-dwarfdump-22 is installed by tests/fixtures/lang/setup.sh");
        let out = String::from_utf8_lossy(&v.stdout);
        assert!(
            v.status.success() && out.contains("No errors."),
            "{program}: {out}"
        );
    }
}

/// A differential's runner: a `wasmscope run -g MODULE ARGS` command line
/// through `wasmscope gdb -- MODULE ARGS`, a native program through gdb
/// with the launcher's extension sourced (so the differential compares
/// the same printers reading native and linear memory).
fn launcher_or_gdb_blocks(script: &[String], program: &[String]) -> Vec<Block> {
    if program[0] == env!("CARGO_BIN_EXE_wasmscope") {
        return launcher_blocks(script, &program[3..]);
    }
    let extension = debugger::cache_dir().join("gdb-extension-test.py");
    std::fs::create_dir_all(debugger::cache_dir()).unwrap();
    std::fs::write(&extension, wasmscope_debug_extension()).unwrap();
    let mut tail = vec!["--args".to_string()];
    tail.extend(program.iter().cloned());
    let source = format!("source {}", extension.display());
    blocks_of(script, |commands| {
        let mut all = vec![source.clone()];
        all.extend(commands.iter().cloned());
        gdb_via(&["gdb"], &all, &tail)
    })
}

/// The gdb extension the launcher loads, as the binary embeds it.
fn wasmscope_debug_extension() -> &'static str {
    include_str!("../debug/src/jit/gdb_extension.py")
}

/// `wasmscope gdb` (the launcher, with its extensions) on `MODULE ARGS`.
fn launcher_blocks(script: &[String], module: &[String]) -> Vec<Block> {
    let mut tail = vec!["--".to_string()];
    tail.extend(module.iter().cloned());
    blocks_of(script, |commands| {
        gdb_via(&[env!("CARGO_BIN_EXE_wasmscope"), "gdb"], commands, &tail)
    })
}

/// Checks that exactly the `known` commands differ and returns the row.
fn assert_differential(
    row: &str,
    native: &[Block],
    wasm: &[Block],
    known: &[&str],
    min_values: usize,
) -> String {
    let c = debugger::compare(native, wasm);
    let differing: Vec<&str> = c.differing.iter().map(String::as_str).collect();
    assert_eq!(
        differing, known,
        "{row}: only the known commands differ\nnative: {native:#?}\nwasm: {wasm:#?}"
    );
    assert!(c.values >= min_values, "{row}: {native:#?}");
    format!("| {row} | {} | {} |\n", c.values, c.matching)
}

/// Rust at -O0: the same gdb script on the native build under rust-gdb
/// (gdb with Rust's own pretty-printers) and on the wasm build under
/// `wasmscope gdb` prints the same values, frames and returned values.
#[test]
fn rust_prints_as_rust_gdb_does_natively() {
    let rs = |name: &str| debugger::stop_line("rust", name);
    let src = std::fs::read_to_string(debugger::lang_source("rust")).unwrap();
    let recurse_call = src
        .lines()
        .position(|l| l.contains("n * factorial(n - 1)"))
        .unwrap()
        + 1;
    let script: Vec<String> = [
        format!("break inventory.rs:{recurse_call} if n == 3"),
        format!("break inventory.rs:{}", rs("generic")),
        format!("break inventory.rs:{} if qty == 7", rs("method")),
        format!("break inventory.rs:{}", rs("main-all")),
        "run".into(),
        "print best".into(),
        "print xs".into(),
        "print xs.length".into(),
        "bt 2".into(),
        "finish".into(),
        "continue".into(),
        "print best".into(),
        "print xs".into(),
        "continue".into(),
        "print n".into(),
        "print n * 2".into(),
        "bt 3".into(),
        "finish".into(),
        "continue".into(),
        "info locals".into(),
        "print *self".into(),
        "print self.name".into(),
        "print self.tags".into(),
        "set var self.price = 9.5".into(),
        "print self.price * 2".into(),
        "finish".into(),
        "continue".into(),
        "print greeting".into(),
        "print label".into(),
        "print items".into(),
        "print window".into(),
        "print numbers".into(),
        "print shapes".into(),
        "print rect".into(),
        "print failed".into(),
        "print parsed".into(),
        "print found_qty".into(),
        "print no_qty".into(),
        "print first".into(),
        "print missing".into(),
        "print tree".into(),
        "print tree_sum".into(),
        "print shared".into(),
        "print arc_nums".into(),
        "print labels".into(),
        "print ring".into(),
        "print big_int".into(),
        "print big_float".into(),
        "print fact".into(),
        "print stock_value".into(),
        "print over_limit".into(),
        "print stock".into(),
        "print args".into(),
        "continue".into(),
    ]
    .into();
    let native_program = debugger::lang_program("rust-O0.native");
    let native = blocks_of(&script, |commands| {
        gdb_via(
            &["rust-gdb"],
            commands,
            &["--args".into(), native_program.clone()],
        )
    });
    let mut table = String::from("| program, debugger | values | matching |\n|---|---|---|\n");
    // `args`: the program's path (the native one is absolute,
    // wasmscope passes the module's file name).
    // A HashMap's order depends on its random seed, new in every run: its
    // entries are checked apart from the differential.
    let unordered = |blocks: Vec<Block>| -> (Vec<Block>, Vec<String>) {
        let (map, rest): (Vec<Block>, Vec<Block>) =
            blocks.into_iter().partition(|b| b.0 == "print stock");
        (rest, map.into_iter().flat_map(|b| b.1).collect())
    };
    let (native, native_stock) = unordered(native);
    for entry in [r#"["apple"] = 3"#, r#"["pear"] = 5"#, r#"["plum"] = 7"#] {
        assert!(native_stock.concat().contains(entry), "{native_stock:?}");
    }
    for program in ["rust-O0.wasm", "rust163-O0.wasm"] {
        let (wasm, stock) = unordered(launcher_blocks(&script, &[debugger::lang_program(program)]));
        assert!(
            stock.concat().starts_with("$ = HashMap(size=3) = {"),
            "{stock:?}"
        );
        for entry in [r#"["apple"] = 3"#, r#"["pear"] = 5"#, r#"["plum"] = 7"#] {
            assert!(stock.concat().contains(entry), "{program}: {stock:?}");
        }
        // rustc 1.63's standard library differs from the native build's
        // (a newer rustc): its `Vec` and `Rc` print the same, the values
        // are compared only for the current toolchain.
        if program == "rust-O0.wasm" {
            table += &assert_differential(
                &format!("{program} wasmscope gdb vs rust-gdb native"),
                &native,
                &wasm,
                &["print args"],
                45,
            );
        } else {
            let c = debugger::compare(&native, &wasm);
            table += &format!(
                "| {program} wasmscope gdb vs rust-gdb native | {} | {} |\n",
                c.values, c.matching
            );
        }
    }
    // Before the launcher: gdb alone on the same module (no extension).
    let plain = blocks_of(&script, |commands| {
        let mut all = vec!["set breakpoint pending on".to_string()];
        all.extend(commands.iter().cloned());
        gdb_via(
            &["gdb"],
            &all,
            &[
                vec!["--args".to_string()],
                debugger::run_g(&debugger::lang_program("rust-O0.wasm")),
            ]
            .concat(),
        )
    });
    let (plain, _) = unordered(plain);
    let c = debugger::compare(&native, &plain);
    assert!(
        c.matching < c.values,
        "without the extension some values differ"
    );
    table += &format!(
        "| rust-O0.wasm gdb alone vs rust-gdb native | {} | {} |\n",
        c.values, c.matching
    );
    println!("{table}");
}

/// C++ (libc++) at -O0: the same gdb script on the native build and on
/// the wasm build under `wasmscope gdb`, the extension loaded in both (gdb
/// has no libc++ printers of its own): the printers read linear memory as
/// they read native memory.
#[test]
fn cpp_prints_the_same_natively_and_on_wasm() {
    let cc = |name: &str| debugger::stop_line("cpp", name);
    let script: Vec<String> = [
        format!("break inventory.cpp:{} if count == 7", cc("method")),
        format!("break inventory.cpp:{}", cc("main-all")),
        "run".into(),
        // (Not `info locals`: `total` is not assigned yet, garbage.)
        "print count".into(),
        "print each".into(),
        "print *this".into(),
        "print this->name".into(),
        "print this->tags".into(),
        "set var this->price = 9.5".into(),
        "print this->price * 2".into(),
        "bt 1".into(),
        "continue".into(),
        "print greeting".into(),
        "print items".into(),
        "print labels".into(),
        "print tree".into(),
        "print shared".into(),
        "print numbers".into(),
        "print n".into(),
        "print tree_sum".into(),
        "print total_qty".into(),
        "print stock_value".into(),
        "print over_limit".into(),
        "print fact".into(),
        "print big_int".into(),
        "print big_float".into(),
        "print label".into(),
        "print boxed".into(),
        "print prices".into(),
        "print seen".into(),
        "print stock".into(),
        "print found_qty".into(),
        "print v_int".into(),
        "print v_double".into(),
        "print v_text".into(),
        "continue".into(),
    ]
    .into();
    let native_program = debugger::lang_program("cpp-O0.native");
    let native = launcher_or_gdb_blocks(&script, &[native_program]);
    let wasm = launcher_blocks(&script, &[debugger::lang_program("cpp-O0.wasm")]);
    // `label`: a string_view's `npos` is a size_t, 4 bytes in wasm32.
    // `boxed`: gdb names a native vtable pointer's symbol (`<vtable for
    // Circle+16>`); a wasm vtable is data in linear memory, with no symbol.
    let row = assert_differential(
        "cpp-O0.wasm wasmscope gdb vs gdb native (same extension)",
        &native,
        &wasm,
        &["print label", "print boxed"],
        20,
    );
    println!("{row}");
}

/// `$wasm_deref(p)` (the launcher's extension) follows the stored
/// pointers gdb's own `*p` cannot: a `double *` in an expression, and a
/// bad argument is an error, not a crash.
#[test]
fn wasm_deref_follows_a_stored_double_pointer() {
    let at = line_in("kinds.c", "int p = tri.measure(&tri);");
    let commands: Vec<String> = [
        format!("break kinds.c:{at}"),
        "run".into(),
        "print *r.side".into(),
        "print $wasm_deref(r.side)".into(),
        "print $wasm_deref(r.side) * 2".into(),
        "print $wasm_deref(r.count) - 6".into(),
        "print $wasm_deref(5)".into(),
        "continue".into(),
    ]
    .into();
    let out = gdb_via(
        &[env!("CARGO_BIN_EXE_wasmscope"), "gdb"],
        &commands,
        &["--".into(), debugger::fixture("dbg/kinds-O0.wasm")],
    );
    assert!(out.contains("Cannot access memory at address 0x"), "{out}");
    assert!(out.contains("$1 = 5.5"), "{out}");
    assert!(out.contains("$2 = 11"), "{out}");
    assert!(out.contains("$3 = -1"), "{out}");
    assert!(out.contains("$wasm_deref takes a pointer"), "{out}");
    assert!(out.contains("exited normally"), "{out}");
}
