//! Editor features over WebAssembly text, as plain functions of the text
//! and byte offsets: symbols, hover, definition, references, rename,
//! completion, semantic tokens, folding, formatting, code lenses and inlay
//! hints. No protocol types here; `server` converts positions and shapes.

use crate::analysis::instruction_spans;
use crate::facts::{self, ModuleFacts};
use crate::index::{Def, Index, Space};
use crate::instructions;
use crate::syntax::{Node, TokenKind, Tree};
use std::collections::HashMap;
use std::ops::Range;
use wast::parser::{self, ParseBuffer};
use wast::Wat;

/// Everything the features need, computed once per text version.
pub struct Analysis<'a> {
    pub tree: Tree<'a>,
    pub index: Index,
    /// Stack facts, when the text is one valid module.
    pub facts: Option<ModuleFacts>,
}

impl<'a> Analysis<'a> {
    pub fn new(text: &'a str) -> Analysis<'a> {
        let tree = Tree::parse(text);
        let index = Index::build(&tree);
        Analysis {
            tree,
            index,
            facts: module_facts(text),
        }
    }

    /// Without stack facts: for `.wast` scripts and cheap requests.
    pub fn syntax_only(text: &'a str) -> Analysis<'a> {
        let tree = Tree::parse(text);
        let index = Index::build(&tree);
        Analysis {
            tree,
            index,
            facts: None,
        }
    }

    fn text(&self) -> &'a str {
        self.tree.text
    }
}

fn module_facts(text: &str) -> Option<ModuleFacts> {
    let mut buf = ParseBuffer::new(text).ok()?;
    buf.track_instr_spans(true);
    let mut wat = parser::parse::<Wat>(&buf).ok()?;
    let binary = wat.encode().ok()?;
    facts::module_facts(&binary, &instruction_spans(&wat))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub space: Space,
    pub detail: String,
    pub range: Range<usize>,
    pub selection: Range<usize>,
    pub children: Vec<Symbol>,
}

fn display_name(d: &Def) -> String {
    match (&d.name, d.import.as_ref(), d.exports.first()) {
        (Some(n), _, _) => n.clone(),
        (None, Some((m, f)), _) => format!("{} {m}.{f}", d.index),
        (None, None, Some(e)) => format!("{} \"{e}\"", d.index),
        _ => d.index.to_string(),
    }
}

/// Modules, their fields, and each function's parameters and locals.
pub fn symbols(a: &Analysis) -> Vec<Symbol> {
    let symbol = |d: &Def| Symbol {
        name: display_name(d),
        space: d.space,
        detail: d.detail.clone(),
        range: d.range.clone(),
        selection: d.name_range.clone(),
        children: Vec::new(),
    };
    let mut modules: Vec<Symbol> = a
        .index
        .modules
        .iter()
        .map(|m| Symbol {
            name: m.name.clone().unwrap_or_else(|| "module".into()),
            space: Space::Func,
            detail: "module".into(),
            range: m.range.clone(),
            selection: m.range.start..m.range.start + 1.min(m.range.len()),
            children: Vec::new(),
        })
        .collect();
    let mut funcs: HashMap<usize, usize> = HashMap::new();
    for (i, d) in a.index.defs.iter().enumerate() {
        match d.space {
            Space::Label => {}
            Space::Local => {
                if let Some(&k) = funcs.get(&d.scope) {
                    let m = a.index.defs[d.scope].scope;
                    modules[m].children[k].children.push(symbol(d));
                }
            }
            _ => {
                let Some(m) = modules.get_mut(d.scope) else {
                    continue;
                };
                if d.space == Space::Func {
                    funcs.insert(i, m.children.len());
                }
                m.children.push(symbol(d));
            }
        }
    }
    modules
}

pub struct Hover {
    pub markdown: String,
    pub range: Range<usize>,
}

/// A `$name` or index: what it names. An instruction: the operand stack
/// before and after it, as the validator sees it.
pub fn hover(a: &Analysis, offset: usize) -> Option<Hover> {
    if let Some((space, def, range)) = a.index.at(offset) {
        let Some(d) = def.map(|d| &a.index.defs[d]) else {
            return Some(Hover {
                markdown: format!("unresolved {} reference", space.keyword()),
                range,
            });
        };
        return Some(Hover {
            markdown: describe(d),
            range,
        });
    }
    let t = a.tree.token_at(offset)?;
    let token = &a.tree.tokens[t];
    if token.kind != TokenKind::Atom {
        return None;
    }
    let word = a.tree.token_text(t);
    let facts = a.facts.as_ref()?;
    let op = facts.ops.iter().find(|o| o.at == token.range.start)?;
    let mut md = format!("```wat\n{word}\n```\n");
    if op.unreachable {
        md.push_str("unreachable: the operand stack is polymorphic here\n\n");
    }
    md.push_str(&format!(
        "operand stack: `{}` → `{}`",
        op.before.render(),
        op.after.render()
    ));
    Some(Hover {
        markdown: md,
        range: token.range.clone(),
    })
}

fn describe(d: &Def) -> String {
    let mut md = format!(
        "```wat\n{}\n```\n{} index {}",
        d.detail,
        d.space.keyword(),
        d.index
    );
    if d.space == Space::Label {
        md = format!("```wat\n{}\n```", d.detail);
    }
    if let Some((m, f)) = &d.import {
        md.push_str(&format!("\n\nimported from `\"{m}\" \"{f}\"`"));
    }
    for e in &d.exports {
        md.push_str(&format!("\n\nexported as `\"{e}\"`"));
    }
    md
}

/// Where the name or index under `offset` is defined.
pub fn definition(a: &Analysis, offset: usize) -> Option<Range<usize>> {
    let (_, def, _) = a.index.at(offset)?;
    Some(a.index.defs[def?].name_range.clone())
}

/// Every use of what is under `offset`, with its definition if asked.
pub fn references(a: &Analysis, offset: usize, with_definition: bool) -> Vec<Range<usize>> {
    let Some((_, Some(def), _)) = a.index.at(offset) else {
        return Vec::new();
    };
    let mut out: Vec<Range<usize>> = a.index.references(def).map(|r| r.range.clone()).collect();
    if with_definition {
        out.insert(0, a.index.defs[def].name_range.clone());
    }
    out
}

/// The `$name` that a rename at `offset` would change.
pub fn prepare_rename(a: &Analysis, offset: usize) -> Option<Range<usize>> {
    let (_, def, range) = a.index.at(offset)?;
    a.index.defs[def?].name.as_ref()?;
    a.text()[range.clone()].starts_with('$').then_some(range)
}

/// Edits renaming the `$name` at `offset` (numeric uses stay numeric).
pub fn rename(
    a: &Analysis,
    offset: usize,
    new_name: &str,
) -> Result<Vec<(Range<usize>, String)>, String> {
    let new_name = if new_name.starts_with('$') {
        new_name.to_string()
    } else {
        format!("${new_name}")
    };
    let valid = new_name.len() > 1
        && new_name[1..].bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'"' | b',' | b';' | b'(' | b')' | b'[' | b']' | b'{' | b'}'
                )
        });
    if !valid {
        return Err(format!(
            "`{new_name}` is not a valid WebAssembly identifier"
        ));
    }
    let Some((_, Some(def), _)) = a.index.at(offset) else {
        return Err("nothing to rename here".into());
    };
    let d = &a.index.defs[def];
    let Some(old) = d.name.clone() else {
        return Err("only `$names` can be renamed; this has an index only".into());
    };
    let clash = a.index.defs.iter().any(|o| {
        o.space == d.space && o.scope == d.scope && o.name.as_deref() == Some(new_name.as_str())
    });
    if clash && d.space != Space::Label {
        return Err(format!("{new_name} is already defined in this scope"));
    }
    let text = a.text();
    Ok(std::iter::once(d.name_range.clone())
        .chain(a.index.references(def).map(|r| r.range.clone()))
        .filter(|r| text[r.clone()] == old)
        .map(|r| (r, new_name.clone()))
        .collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Instruction,
    Name(Space),
}

#[derive(Clone, Debug)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: String,
    /// Lower sorts first: instructions whose operand type matches the top
    /// of the stack come before the rest.
    pub rank: u8,
}

const FIELD_KEYWORDS: &[&str] = &[
    "module",
    "func",
    "param",
    "result",
    "local",
    "global",
    "mut",
    "memory",
    "table",
    "type",
    "import",
    "export",
    "start",
    "elem",
    "data",
    "offset",
    "item",
    "declare",
    "then",
    "else",
    "funcref",
    "externref",
    "i32",
    "i64",
    "f32",
    "f64",
    "v128",
];

/// Names in scope after `$`, instructions and keywords elsewhere.
pub fn completion(a: &Analysis, offset: usize) -> Vec<Completion> {
    let text = a.text();
    let offset = offset.min(text.len());
    if !text.is_char_boundary(offset) {
        return Vec::new();
    }
    let word_start = text[..offset]
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace() || *c == '(' || *c == ')')
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &text[word_start..offset];
    if word.starts_with('$') {
        return names_in_scope(a, offset, word_start);
    }
    let after_paren = text[..word_start].ends_with('(');
    let top = stack_top_before(a, word_start);
    let mut out: Vec<Completion> = instructions::all()
        .iter()
        .map(|name| Completion {
            label: name.to_string(),
            kind: CompletionKind::Instruction,
            detail: "instruction".into(),
            rank: match &top {
                Some(t) if name.starts_with(t.as_str()) => 0,
                _ => 1,
            },
        })
        .collect();
    if after_paren || a.index.func_at(offset).is_none() {
        out.extend(FIELD_KEYWORDS.iter().map(|k| Completion {
            label: k.to_string(),
            kind: CompletionKind::Keyword,
            detail: "keyword".into(),
            rank: 0,
        }));
    }
    out
}

/// The type on top of the stack after the last instruction before `offset`
/// in the same function, as an instruction prefix (`i32.`).
fn stack_top_before(a: &Analysis, offset: usize) -> Option<String> {
    let facts = a.facts.as_ref()?;
    let func = a.index.func_at(offset)?;
    let range = &a.index.defs[func].range;
    let op = facts
        .ops
        .iter()
        .rev()
        .find(|o| o.at < offset && o.at >= range.start)?;
    let t = (*op.after.top.last()?)?;
    Some(format!("{t}."))
}

fn names_in_scope(a: &Analysis, offset: usize, word_start: usize) -> Vec<Completion> {
    // The instruction before the name decides the space.
    let prev = a.text()[..word_start]
        .split_whitespace()
        .last()
        .unwrap_or("")
        .trim_start_matches('(');
    let wanted = instructions::space_of(prev);
    let module = a.index.module_at(offset);
    let func = a.index.func_at(offset);
    a.index
        .defs
        .iter()
        .filter(|d| d.name.is_some())
        .filter(|d| wanted.is_none_or(|w| w == d.space))
        .filter(|d| match d.space {
            Space::Local => Some(d.scope) == func,
            Space::Label => d.range.start < offset && offset <= d.range.end,
            _ => Some(d.scope) == module,
        })
        .map(|d| Completion {
            label: d.name.clone().unwrap_or_default(),
            kind: CompletionKind::Name(d.space),
            detail: d.detail.clone(),
            rank: 0,
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenClass {
    Keyword,
    Instruction,
    Type,
    Function,
    Parameter,
    Variable,
    Global,
    Label,
    TypeName,
    Other,
    Number,
    String,
    Comment,
}

/// A class for every token worth colouring, in text order.
pub fn semantic_tokens(a: &Analysis) -> Vec<(Range<usize>, TokenClass)> {
    let mut spaces: HashMap<usize, (Space, bool)> = HashMap::new();
    for d in &a.index.defs {
        spaces.insert(d.name_range.start, (d.space, d.is_param));
    }
    for r in &a.index.refs {
        if let Some(d) = r.def {
            spaces.insert(r.range.start, (r.space, a.index.defs[d].is_param));
        } else {
            spaces.insert(r.range.start, (r.space, false));
        }
    }
    let mut out = Vec::new();
    for (i, t) in a.tree.tokens.iter().enumerate() {
        let word = a.tree.token_text(i);
        let class = match t.kind {
            TokenKind::LineComment | TokenKind::BlockComment => TokenClass::Comment,
            TokenKind::String => TokenClass::String,
            TokenKind::Id => match spaces.get(&t.range.start) {
                Some((Space::Func, _)) => TokenClass::Function,
                Some((Space::Local, true)) => TokenClass::Parameter,
                Some((Space::Local, false)) => TokenClass::Variable,
                Some((Space::Global, _)) => TokenClass::Global,
                Some((Space::Label, _)) => TokenClass::Label,
                Some((Space::Type, _)) => TokenClass::TypeName,
                _ => TokenClass::Other,
            },
            TokenKind::Atom => {
                let first = word.as_bytes()[0];
                if first.is_ascii_digit()
                    || matches!(first, b'-' | b'+')
                    || word.starts_with("nan")
                    || word.starts_with("inf")
                {
                    TokenClass::Number
                } else if matches!(
                    word,
                    "i32"
                        | "i64"
                        | "f32"
                        | "f64"
                        | "v128"
                        | "funcref"
                        | "externref"
                        | "anyref"
                        | "exnref"
                        | "func"
                        | "extern"
                ) && !is_list_head(a, i)
                {
                    TokenClass::Type
                } else if FIELD_KEYWORDS.contains(&word) || word == "func" {
                    TokenClass::Keyword
                } else if instructions::is_instruction(word) {
                    TokenClass::Instruction
                } else {
                    continue;
                }
            }
            _ => continue,
        };
        out.push((t.range.clone(), class));
    }
    out
}

fn is_list_head(a: &Analysis, token: usize) -> bool {
    a.tree.tokens[..token]
        .iter()
        .rev()
        .find(|t| {
            !matches!(
                t.kind,
                TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
            )
        })
        .is_some_and(|t| t.kind == TokenKind::LParen)
}

/// Lists and block comments that span more than one line.
pub fn folding_ranges(a: &Analysis) -> Vec<(Range<usize>, bool)> {
    let text = a.text();
    let multiline = |r: &Range<usize>| text[r.clone()].contains('\n');
    let mut out = Vec::new();
    fn walk(
        nodes: &[Node],
        out: &mut Vec<(Range<usize>, bool)>,
        multiline: &dyn Fn(&Range<usize>) -> bool,
    ) {
        for n in nodes {
            if let Node::List(l) = n {
                if multiline(&l.range) {
                    out.push((l.range.clone(), false));
                }
                walk(&l.children, out, multiline);
            }
        }
    }
    walk(&a.tree.roots, &mut out, &multiline);
    for t in &a.tree.tokens {
        if t.kind == TokenKind::BlockComment && multiline(&t.range) {
            out.push((t.range.clone(), true));
        }
    }
    out.sort_by_key(|(r, _)| r.start);
    out
}

/// Re-indents every line by its nesting (two spaces a level, flat blocks
/// included) and drops trailing whitespace. Tokens, comments and line
/// breaks are kept exactly; lines inside block comments and strings are
/// left alone.
pub fn format(text: &str) -> String {
    let tree = Tree::parse(text);
    let mut out = String::with_capacity(text.len());
    let mut depth: i64 = 0;
    let mut flat: Vec<i64> = Vec::new(); // paren depth of each open flat block
    let mut t = 0;
    let mut line_start = 0;
    while line_start <= text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..line_end];
        // A token that started on an earlier line and covers this one.
        while t < tree.tokens.len() && tree.tokens[t].range.end <= line_start {
            t += 1;
        }
        let continued = tree
            .tokens
            .get(t)
            .is_some_and(|tok| tok.range.start < line_start && tok.kind != TokenKind::Whitespace);
        if continued {
            out.push_str(line);
        } else {
            // Leading `)`, `end` and `else` belong to the outer level.
            let mut line_depth = depth + flat.len() as i64;
            let mut k = t;
            while let Some(tok) = tree.tokens.get(k).filter(|tok| tok.range.start < line_end) {
                match tok.kind {
                    TokenKind::Whitespace => {}
                    TokenKind::RParen => line_depth -= 1,
                    TokenKind::Atom
                        if matches!(tree.token_text(k), "end" | "else") && !flat.is_empty() =>
                    {
                        line_depth -= 1;
                        break;
                    }
                    _ => break,
                }
                k += 1;
            }
            // Only the text format's whitespace: other spaces are token bytes.
            let body = line.trim_matches(|c: char| c.is_ascii_whitespace());
            if !body.is_empty() {
                for _ in 0..line_depth.max(0) {
                    out.push_str("  ");
                }
                out.push_str(body);
            }
        }
        // Advance the nesting over this line's tokens.
        let mut k = t;
        while let Some(tok) = tree
            .tokens
            .get(k)
            .filter(|tok| tok.range.start < line_end.max(line_start + 1))
        {
            match tok.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth -= 1;
                    while flat.last().is_some_and(|&d| d > depth) {
                        flat.pop();
                    }
                }
                TokenKind::Atom => {
                    let w = tree.token_text(k);
                    let head = k > 0 && tree.tokens[k - 1].kind == TokenKind::LParen;
                    if matches!(w, "block" | "loop" | "if" | "try_table" | "try") && !head {
                        flat.push(depth);
                    } else if w == "end" && flat.last() == Some(&depth) {
                        flat.pop();
                    }
                }
                _ => {}
            }
            k += 1;
        }
        if line_end == text.len() {
            break;
        }
        out.push('\n');
        line_start = line_end + 1;
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lens {
    pub range: Range<usize>,
    pub title: String,
    /// `wasmscope.run` or `wasmscope.debug`.
    pub command: &'static str,
    /// The export to invoke; `None` runs the module's `_start`.
    pub export: Option<String>,
}

/// "Run" and "Debug" on modules with `_start` and on exported functions.
pub fn code_lenses(a: &Analysis) -> Vec<Lens> {
    let mut out = Vec::new();
    for (m, module) in a.index.modules.iter().enumerate() {
        let funcs = a
            .index
            .defs
            .iter()
            .filter(|d| d.space == Space::Func && d.scope == m);
        let head = module.range.start..module.range.start + 1.min(module.range.len());
        let mut lenses = Vec::new();
        for f in funcs {
            for e in &f.exports {
                if e == "_start" {
                    lenses.push((head.clone(), "▶ Run".to_string(), "Debug".to_string(), None));
                }
                lenses.push((
                    f.name_range.clone(),
                    format!("▶ Run {e}"),
                    format!("Debug {e}"),
                    Some(e.clone()),
                ));
            }
        }
        for (range, run, debug, export) in lenses {
            out.push(Lens {
                range: range.clone(),
                title: run,
                command: "wasmscope.run",
                export: export.clone(),
            });
            out.push(Lens {
                range,
                title: debug,
                command: "wasmscope.debug",
                export,
            });
        }
    }
    out
}

/// The operand stack after each reachable instruction in `range`, placed
/// after the instruction's immediates (flat) or its closing paren (folded).
pub fn inlay_hints(a: &Analysis, range: Range<usize>) -> Vec<(usize, String)> {
    let Some(facts) = a.facts.as_ref() else {
        return Vec::new();
    };
    let mut folded_end: HashMap<usize, usize> = HashMap::new();
    fn walk(tree: &Tree, nodes: &[Node], out: &mut HashMap<usize, usize>) {
        for n in nodes {
            if let Node::List(l) = n {
                if let Some(Node::Leaf(i)) = l.children.first() {
                    out.insert(tree.tokens[*i].range.start, l.range.end);
                }
                walk(tree, &l.children, out);
            }
        }
    }
    walk(&a.tree, &a.tree.roots, &mut folded_end);
    let text = a.text();
    facts
        .ops
        .iter()
        .filter(|o| range.start <= o.at && o.at < range.end && !o.unreachable && !o.structural)
        .filter_map(|o| {
            let at = match folded_end.get(&o.at) {
                Some(&end) => end,
                None => flat_end(a, o.at)?,
            };
            let _ = text;
            Some((at, o.after.render()))
        })
        .collect()
}

/// End of a flat instruction: its keyword and the immediates on its line.
fn flat_end(a: &Analysis, at: usize) -> Option<usize> {
    let t = a.tree.tokens.partition_point(|t| t.range.start < at);
    let mut end = a.tree.tokens.get(t)?.range.end;
    for tok in &a.tree.tokens[t + 1..] {
        match tok.kind {
            TokenKind::Whitespace if !a.tree.text[tok.range.clone()].contains('\n') => {}
            TokenKind::Atom | TokenKind::Id | TokenKind::String => {
                let w = &a.tree.text[tok.range.clone()];
                if instructions::is_instruction(w) {
                    break;
                }
                end = tok.range.end;
            }
            _ => break,
        }
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// `$0` marks the cursor in a fixture.
    fn cursor(fixture: &str) -> (String, usize) {
        let at = fixture.find("$0").expect("fixture has a $0 cursor");
        (fixture.replacen("$0", "", 1), at)
    }

    fn check_hover(fixture: &str, expect: Expect) {
        let (text, at) = cursor(fixture);
        let a = Analysis::new(&text);
        let h = hover(&a, at).map_or("no hover".to_string(), |h| {
            format!("[{}] {}", &text[h.range], h.markdown)
        });
        expect.assert_eq(&h);
    }

    const MODULE: &str = r#"(module
  (import "env" "print" (func $print (param i32)))
  (global $count (mut i32) (i32.const 0))
  (func $inc (export "inc") (param $by i32) (result i32)
    (global.set $count (i32.add (global.get $count) (local.get $by)))
    global.get $count
    call $print
    global.get $count)
  (func (export "_start")
    i32.const 2
    call $inc
    drop))"#;

    #[test]
    fn hover_names_and_instructions() {
        check_hover(
            &MODULE.replace("call $inc", "call $i$0nc"),
            expect![[r#"
                [$inc] ```wat
                func $inc (param $by i32) (result i32)
                ```
                func index 1

                exported as `"inc"`"#]],
        );
        check_hover(
            &MODULE.replace("(i32.add", "(i32.a$0dd"),
            expect![[r#"
                [i32.add] ```wat
                i32.add
                ```
                operand stack: `[i32 i32]` → `[i32]`"#]],
        );
        check_hover(
            &MODULE.replace("call $print", "call $pr$0int"),
            expect![[r#"
                [$print] ```wat
                func $print (param i32)
                ```
                func index 0

                imported from `"env" "print"`"#]],
        );
    }

    #[test]
    fn definition_references_and_rename() {
        let (text, at) = cursor(&MODULE.replace("(global $count", "(global $co$0unt"));
        let a = Analysis::new(&text);
        let line = |r: &Range<usize>| text[..r.start].matches('\n').count() + 1;
        let refs: Vec<usize> = references(&a, at, true).iter().map(line).collect();
        assert_eq!(refs, [3, 5, 5, 6, 8]);
        let use_site = text.find("global.get $count").unwrap() + 12;
        assert_eq!(definition(&a, use_site).map(|r| line(&r)), Some(3));
        let edits = rename(&a, use_site, "total").unwrap();
        assert_eq!(edits.len(), 5);
        assert!(edits
            .iter()
            .all(|(r, n)| &text[r.clone()] == "$count" && n == "$total"));
        assert!(
            rename(&a, use_site, "$inc").is_ok(),
            "globals and functions are separate spaces"
        );
        assert!(rename(&a, use_site, "bad name").is_err());
    }

    #[test]
    fn symbols_nest_locals_in_functions() {
        let a = Analysis::new(MODULE);
        let s = symbols(&a);
        let render: Vec<String> = s[0]
            .children
            .iter()
            .map(|c| {
                let kids: Vec<&str> = c.children.iter().map(|k| k.name.as_str()).collect();
                format!("{} {} {:?}", c.space.keyword(), c.name, kids)
            })
            .collect();
        expect![[r#"
            func $print ["0"]
            global $count []
            func $inc ["$by"]
            func 2 "_start" []"#]]
        .assert_eq(&render.join("\n"));
    }

    #[test]
    fn completion_offers_names_of_the_right_space() {
        let (text, at) = cursor(&MODULE.replace("call $print", "call $$0"));
        let a = Analysis::new(&text);
        let labels: Vec<String> = completion(&a, at).into_iter().map(|c| c.label).collect();
        assert_eq!(labels, ["$print", "$inc"]);
        let (text, at) = cursor(&MODULE.replace("global.get $count)", "local.get $$0"));
        let a = Analysis::new(&text);
        let labels: Vec<String> = completion(&a, at).into_iter().map(|c| c.label).collect();
        assert_eq!(labels, ["$by"]);
        // After an i32 result, i32 instructions rank first.
        let (text, at) = cursor(&MODULE.replace("    drop))", "    $0\n    drop))"));
        let a = Analysis::new(&text);
        let c = completion(&a, at);
        assert!(c.iter().any(|c| c.label == "i32.add" && c.rank == 0));
        assert!(c.iter().any(|c| c.label == "f64.add" && c.rank == 1));
    }

    #[test]
    fn formatting_reindents_and_keeps_everything_else() {
        let messy = "(module\n(func $f (param i32) ;; keep me\n      block $b\nlocal.get 0   \n  br_if $b\n    end\n(; block\n   comment ;)\n  (if (local.get 0)\n(then nop)\n  (else nop)))\n)";
        let formatted = format(messy);
        expect![[r#"
            (module
              (func $f (param i32) ;; keep me
                block $b
                  local.get 0
                  br_if $b
                end
                (; block
               comment ;)
                (if (local.get 0)
                  (then nop)
                  (else nop)))
            )"#]]
        .assert_eq(&formatted);
        assert_eq!(format(&formatted), formatted, "idempotent");
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(words(messy), words(&formatted));
    }

    #[test]
    fn lenses_and_inlay_hints() {
        let a = Analysis::new(MODULE);
        let lenses: Vec<String> = code_lenses(&a)
            .iter()
            .map(|l| format!("{} {} {:?}", l.title, l.command, l.export))
            .collect();
        expect![[r#"
            ▶ Run inc wasmscope.run Some("inc")
            Debug inc wasmscope.debug Some("inc")
            ▶ Run wasmscope.run None
            Debug wasmscope.debug None
            ▶ Run _start wasmscope.run Some("_start")
            Debug _start wasmscope.debug Some("_start")"#]]
        .assert_eq(&lenses.join("\n"));
        let start = MODULE.find("(func (export \"_start\")").unwrap();
        let hints: Vec<String> = inlay_hints(&a, start..MODULE.len())
            .into_iter()
            .map(|(at, l)| format!("{:?} {l}", MODULE[..at].lines().last().unwrap_or("").trim()))
            .collect();
        expect![[r#"
            "i32.const 2" [i32]
            "call $inc" [i32]
            "drop" []"#]]
        .assert_eq(&hints.join("\n"));
    }

    #[test]
    fn semantic_tokens_classify_names_by_space() {
        let a = Analysis::new(MODULE);
        let classes: Vec<String> = semantic_tokens(&a)
            .into_iter()
            .filter(|(r, _)| MODULE[r.clone()].starts_with('$'))
            .take(5)
            .map(|(r, c)| format!("{} {c:?}", &MODULE[r]))
            .collect();
        expect![[r#"
            $print Function
            $count Global
            $inc Function
            $by Parameter
            $count Global"#]]
        .assert_eq(&classes.join("\n"));
    }

    #[test]
    fn features_survive_garbage() {
        let mut x: u32 = 3;
        for len in 0..200 {
            let s: String = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    [
                        "(",
                        ")",
                        "$a",
                        " ",
                        "func",
                        "block",
                        "end",
                        "call",
                        "0",
                        "\n",
                        "local.get",
                        ";;",
                        "(;",
                        "\"",
                        "\u{2003}",
                        "é",
                    ][(x >> 16) as usize % 16]
                })
                .collect();
            let a = Analysis::new(&s);
            for o in 0..=s.len() {
                if !s.is_char_boundary(o) {
                    continue;
                }
                let _ = hover(&a, o);
                let _ = completion(&a, o);
                let _ = references(&a, o, true);
                let _ = rename(&a, o, "x");
            }
            let _ = (
                symbols(&a),
                semantic_tokens(&a),
                folding_ranges(&a),
                code_lenses(&a),
            );
            let _ = inlay_hints(&a, 0..s.len());
            let f = format(&s);
            assert_eq!(format(&f), f, "idempotent on {s:?}");
        }
    }
}
