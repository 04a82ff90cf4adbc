//! Definitions and references of a text module: every `$name` and every
//! numeric index, resolved to what it names, per module and per function.
//!
//! Built from the tolerant `syntax` tree so that navigation keeps working in
//! a module that does not parse yet. Index spaces follow the text format:
//! imports come first in their space (the text format requires them to be
//! written before definitions), locals number the parameters first, and a
//! numeric branch label counts enclosing blocks outwards from 0.

use crate::syntax::{List, Node, TokenKind, Tree};
use std::collections::HashMap;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Func,
    Table,
    Memory,
    Global,
    Type,
    Elem,
    Data,
    Tag,
    Local,
    Label,
}

impl Space {
    pub fn keyword(self) -> &'static str {
        match self {
            Space::Func => "func",
            Space::Table => "table",
            Space::Memory => "memory",
            Space::Global => "global",
            Space::Type => "type",
            Space::Elem => "elem",
            Space::Data => "data",
            Space::Tag => "tag",
            Space::Local => "local",
            Space::Label => "label",
        }
    }

    fn of_field(head: &str) -> Option<Space> {
        Some(match head {
            "func" => Space::Func,
            "table" => Space::Table,
            "memory" => Space::Memory,
            "global" => Space::Global,
            "type" => Space::Type,
            "elem" => Space::Elem,
            "data" => Space::Data,
            "tag" => Space::Tag,
            _ => return None,
        })
    }
}

/// The index spaces an instruction's immediates refer to, in order.
/// `None` for instructions without index immediates.
pub(crate) fn immediates(instr: &str, count: usize) -> Option<Vec<Space>> {
    use Space::*;
    Some(match instr {
        "call" | "return_call" | "ref.func" => vec![Func],
        "local.get" | "local.set" | "local.tee" => vec![Local],
        "global.get" | "global.set" => vec![Global],
        "table.get"
        | "table.set"
        | "table.size"
        | "table.grow"
        | "table.fill"
        | "call_indirect"
        | "return_call_indirect" => vec![Table],
        "table.copy" => vec![Table, Table],
        "table.init" if count >= 2 => vec![Table, Elem],
        "table.init" | "elem.drop" => vec![Elem],
        "memory.size" | "memory.grow" | "memory.fill" => vec![Memory],
        "memory.copy" => vec![Memory, Memory],
        "memory.init" if count >= 2 => vec![Memory, Data],
        "memory.init" | "data.drop" => vec![Data],
        "throw" => vec![Tag],
        "br" | "br_if" => vec![Label],
        "br_table" => vec![Label; count],
        _ => return None,
    })
}

fn is_block(instr: &str) -> bool {
    matches!(instr, "block" | "loop" | "if" | "try_table" | "try")
}

#[derive(Clone, Debug)]
pub struct Def {
    pub space: Space,
    /// Index in its space (labels: 0).
    pub index: u32,
    pub name: Option<String>,
    /// The `$name` token, or the keyword that opens the definition.
    pub name_range: Range<usize>,
    /// The whole definition (list, or block for labels).
    pub range: Range<usize>,
    /// Module number for module-level spaces; the owning function's def
    /// for locals; the def itself for labels.
    pub scope: usize,
    /// One line describing it: `func $f (param i32) (result i32)`.
    pub detail: String,
    pub exports: Vec<String>,
    pub import: Option<(String, String)>,
    pub is_param: bool,
}

#[derive(Clone, Debug)]
pub struct Ref {
    pub space: Space,
    pub range: Range<usize>,
    /// The definition it resolves to, if any.
    pub def: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Module {
    pub range: Range<usize>,
    pub name: Option<String>,
}

#[derive(Default, Debug)]
pub struct Index {
    pub defs: Vec<Def>,
    pub refs: Vec<Ref>,
    pub modules: Vec<Module>,
}

/// A reference waiting for its module's definitions.
enum Key {
    Name(String),
    Num(u32),
}

struct Pending {
    space: Space,
    key: Key,
    range: Range<usize>,
    /// An `export` names its target: the target gains the export's name.
    export: Option<String>,
}

impl Index {
    pub fn build(tree: &Tree) -> Index {
        let mut b = Builder {
            tree,
            index: Index::default(),
            pending: Vec::new(),
            labels: Vec::new(),
            type_params: HashMap::new(),
        };
        let lists: Vec<&List> = tree
            .roots
            .iter()
            .filter_map(|n| match n {
                Node::List(l) => Some(l),
                Node::Leaf(_) => None,
            })
            .collect();
        if lists.iter().any(|l| {
            tree.head(l).is_some_and(|h| {
                Space::of_field(h).is_some() || h == "import" || h == "export" || h == "start"
            })
        }) {
            // Fields at top level: one implicit module.
            b.module(&lists, None, 0..tree.text.len());
        } else {
            for l in lists {
                b.find_modules(l);
            }
        }
        b.index
    }

    /// The definition or reference under `offset`: (space, def index).
    pub fn at(&self, offset: usize) -> Option<(Space, Option<usize>, Range<usize>)> {
        let hit = |r: &Range<usize>| r.start <= offset && offset <= r.end;
        if let Some((i, d)) = self
            .defs
            .iter()
            .enumerate()
            .find(|(_, d)| d.name.is_some() && hit(&d.name_range))
        {
            return Some((d.space, Some(i), d.name_range.clone()));
        }
        self.refs
            .iter()
            .filter(|r| hit(&r.range))
            .min_by_key(|r| r.range.len())
            .map(|r| (r.space, r.def, r.range.clone()))
    }

    /// References resolved to `def`.
    pub fn references(&self, def: usize) -> impl Iterator<Item = &Ref> {
        self.refs.iter().filter(move |r| r.def == Some(def))
    }

    /// The module (by number) enclosing `offset`.
    pub fn module_at(&self, offset: usize) -> Option<usize> {
        self.modules
            .iter()
            .position(|m| m.range.start <= offset && offset <= m.range.end)
    }

    /// The function definition whose body encloses `offset`.
    pub fn func_at(&self, offset: usize) -> Option<usize> {
        self.defs
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.space == Space::Func && d.range.start <= offset && offset <= d.range.end
            })
            .min_by_key(|(_, d)| d.range.len())
            .map(|(i, _)| i)
    }
}

struct Builder<'t, 'a> {
    tree: &'t Tree<'a>,
    index: Index,
    pending: Vec<Pending>,
    /// Enclosing labels of the instruction being scanned, innermost last.
    labels: Vec<usize>,
    /// Types of the current module (by `$name` and by number): their
    /// parameter types, for functions that only say `(type $t)`.
    type_params: HashMap<String, Vec<String>>,
}

/// Whitespace-collapsed text of a node, comments dropped, bounded.
fn collapse(tree: &Tree, range: Range<usize>) -> String {
    let mut out = String::new();
    let mut prev_open = true;
    let first = tree.tokens.partition_point(|t| t.range.start < range.start);
    for t in tree.tokens[first..]
        .iter()
        .take_while(|t| t.range.end <= range.end)
    {
        match t.kind {
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment => continue,
            TokenKind::RParen => {}
            _ if !prev_open => out.push(' '),
            _ => {}
        }
        prev_open = t.kind == TokenKind::LParen;
        out.push_str(&tree.text[t.range.clone()]);
        if out.len() > 200 {
            out.truncate(out.floor_char_boundary_compat(197));
            out.push_str("...");
            break;
        }
    }
    out
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for String {
    fn floor_char_boundary_compat(&self, i: usize) -> usize {
        (0..=i.min(self.len()))
            .rev()
            .find(|&j| self.is_char_boundary(j))
            .unwrap_or(0)
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

impl<'t, 'a> Builder<'t, 'a> {
    fn id_at(&self, l: &List, k: usize) -> Option<(String, Range<usize>)> {
        match l.children.get(k)? {
            Node::Leaf(i) if self.tree.tokens[*i].kind == TokenKind::Id => Some((
                self.tree.token_text(*i).to_string(),
                self.tree.tokens[*i].range.clone(),
            )),
            _ => None,
        }
    }

    fn sublists<'l>(&self, l: &'l List) -> impl Iterator<Item = (&'a str, &'l List)> + 'l
    where
        'a: 'l,
        't: 'l,
    {
        let tree = self.tree;
        l.children.iter().filter_map(move |n| match n {
            Node::List(s) => tree.head(s).map(|h| (h, s)),
            Node::Leaf(_) => None,
        })
    }

    fn find_modules(&mut self, l: &List) {
        match self.tree.head(l) {
            Some("module") => {
                let name = self.id_at(l, 1).map(|(n, _)| n);
                let fields: Vec<&List> = l
                    .children
                    .iter()
                    .filter_map(|n| match n {
                        Node::List(f) => Some(f),
                        Node::Leaf(_) => None,
                    })
                    .collect();
                // `(module binary ...)` / `(module quote ...)` have no fields.
                self.module(&fields, name, l.range.clone());
            }
            _ => {
                for n in &l.children {
                    if let Node::List(s) = n {
                        self.find_modules(s);
                    }
                }
            }
        }
    }

    fn def(&mut self, mut d: Def) -> usize {
        d.detail = d.detail.trim().to_string();
        self.index.defs.push(d);
        self.index.defs.len() - 1
    }

    fn module(&mut self, fields: &[&List], name: Option<String>, range: Range<usize>) {
        let scope = self.index.modules.len();
        let first_def = self.index.defs.len();
        self.index.modules.push(Module { range, name });
        self.pending.clear();
        self.type_params.clear();
        let mut counts: HashMap<Space, u32> = HashMap::new();
        // Parameter counts of named types, for functions that only say
        // `(type $t)`: their locals start after the type's parameters.
        let mut type_no = 0;
        for f in fields {
            if self.tree.head(f) == Some("type") {
                let n = self.param_types(f);
                if let Some((name, _)) = self.id_at(f, 1) {
                    self.type_params.insert(name, n.clone());
                }
                self.type_params.insert(type_no.to_string(), n);
                type_no += 1;
            }
        }
        for f in fields {
            let Some(head) = self.tree.head(f) else {
                continue;
            };
            match head {
                "import" => {
                    let strs: Vec<String> = f
                        .children
                        .iter()
                        .filter_map(|n| match n {
                            Node::Leaf(i) if self.tree.tokens[*i].kind == TokenKind::String => {
                                Some(unquote(self.tree.token_text(*i)))
                            }
                            _ => None,
                        })
                        .collect();
                    let desc = self
                        .sublists(f)
                        .find(|(h, _)| Space::of_field(h).is_some())
                        .map(|(h, s)| (h, s.clone()));
                    if let Some((h, desc)) = desc {
                        let space = Space::of_field(h).expect("filtered above");
                        let import = (
                            strs.first().cloned().unwrap_or_default(),
                            strs.get(1).cloned().unwrap_or_default(),
                        );
                        self.field(
                            space,
                            &desc,
                            f.range.clone(),
                            scope,
                            &mut counts,
                            Some(import),
                        );
                    }
                }
                "export" => {
                    let name = f.children.iter().find_map(|n| match n {
                        Node::Leaf(i) if self.tree.tokens[*i].kind == TokenKind::String => {
                            Some(unquote(self.tree.token_text(*i)))
                        }
                        _ => None,
                    });
                    let desc = self
                        .sublists(f)
                        .find(|(h, _)| Space::of_field(h).is_some())
                        .map(|(h, s)| (h, s.clone()));
                    if let Some((h, desc)) = desc {
                        let space = Space::of_field(h).expect("filtered above");
                        if let Some(n) = desc.children.get(1) {
                            self.leaf_ref(space, n, scope, name);
                        }
                    }
                }
                "start" => {
                    if let Some(n) = f.children.get(1) {
                        self.leaf_ref(Space::Func, n, scope, None);
                    }
                }
                h => {
                    if let Some(space) = Space::of_field(h) {
                        let import =
                            self.sublists(f)
                                .find(|(h, _)| *h == "import")
                                .map(|(_, l)| {
                                    let s: Vec<String> = l
                                        .children
                                        .iter()
                                        .skip(1)
                                        .filter_map(|n| self.tree.leaf(n))
                                        .map(unquote)
                                        .collect();
                                    (
                                        s.first().cloned().unwrap_or_default(),
                                        s.get(1).cloned().unwrap_or_default(),
                                    )
                                });
                        self.field(space, f, f.range.clone(), scope, &mut counts, import);
                    }
                }
            }
        }
        self.resolve(scope, first_def);
    }

    fn param_types(&self, ty: &List) -> Vec<String> {
        let Some((_, func)) = self.sublists(ty).find(|(h, _)| *h == "func") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (_, p) in self.sublists(func).filter(|(h, _)| *h == "param") {
            let skip = if self.id_at(p, 1).is_some() { 2 } else { 1 };
            out.extend(
                p.children
                    .iter()
                    .skip(skip)
                    .map(|n| collapse(self.tree, self.tree.node_range(n))),
            );
        }
        out
    }

    /// A module field that defines something in `space`.
    fn field(
        &mut self,
        space: Space,
        f: &List,
        range: Range<usize>,
        scope: usize,
        counts: &mut HashMap<Space, u32>,
        import: Option<(String, String)>,
    ) {
        let index = *counts.entry(space).and_modify(|c| *c += 1).or_insert(0);
        let id = self.id_at(f, 1);
        let name_range = id
            .as_ref()
            .map_or_else(|| self.tree.node_range(&f.children[0]), |(_, r)| r.clone());
        let exports = self
            .sublists(f)
            .filter(|(h, _)| *h == "export")
            .filter_map(|(_, e)| {
                e.children
                    .get(1)
                    .and_then(|n| self.tree.leaf(n))
                    .map(unquote)
            })
            .collect();
        let detail = self.detail(space, f, id.as_ref().map(|(n, _)| n.as_str()));
        let def = self.def(Def {
            space,
            index,
            name: id.map(|(n, _)| n),
            name_range,
            range,
            scope,
            detail,
            exports,
            import,
            is_param: false,
        });
        match space {
            Space::Func => self.func(def, f, scope),
            Space::Elem => {
                // `(elem ... func $a $b)`: bare names are functions.
                let start = if self.index.defs[def].name.is_some() {
                    2
                } else {
                    1
                };
                let mut after_func = false;
                for n in &f.children[start..] {
                    match n {
                        Node::Leaf(_) if self.tree.leaf(n) == Some("func") => after_func = true,
                        Node::Leaf(_) if after_func => self.leaf_ref(Space::Func, n, scope, None),
                        Node::List(l) => self.body(&l.children, scope, None),
                        Node::Leaf(_) => {}
                    }
                }
            }
            _ => {
                let start = if self.index.defs[def].name.is_some() {
                    2
                } else {
                    1
                };
                for n in &f.children[start.min(f.children.len())..] {
                    if let Node::List(l) = n {
                        self.body(std::slice::from_ref(&Node::List(l.clone())), scope, None);
                    }
                }
            }
        }
    }

    fn detail(&self, space: Space, f: &List, name: Option<&str>) -> String {
        let mut out = format!("{} {}", space.keyword(), name.unwrap_or(""));
        let keep: &[&str] = match space {
            Space::Func | Space::Tag => &["type", "param", "result"],
            _ => &[],
        };
        let start = if name.is_some() { 2 } else { 1 };
        for n in f.children.iter().skip(start) {
            let text = match n {
                Node::List(l) => {
                    let h = self.tree.head(l).unwrap_or("");
                    if matches!(h, "export" | "import" | "local")
                        || (space == Space::Func && !keep.contains(&h))
                    {
                        continue;
                    }
                    collapse(self.tree, l.range.clone())
                }
                Node::Leaf(_) if space == Space::Func => continue,
                Node::Leaf(_) => self.tree.leaf(n).unwrap_or("").to_string(),
            };
            out.push(' ');
            out.push_str(&text);
            if out.len() > 120 {
                break;
            }
        }
        collapse_str(&out)
    }

    fn func(&mut self, def: usize, f: &List, scope: usize) {
        let mut local = 0u32;
        let sublists: Vec<(&str, List)> = self.sublists(f).map(|(h, l)| (h, l.clone())).collect();
        if !sublists.iter().any(|(h, _)| *h == "param") {
            // `(type $t)` alone: the parameters are the type's, unnamed.
            if let Some((_, tu)) = sublists.iter().find(|(h, _)| *h == "type") {
                let key = tu
                    .children
                    .get(1)
                    .and_then(|n| self.tree.leaf(n))
                    .unwrap_or("");
                for ty in self.type_params.get(key).cloned().unwrap_or_default() {
                    self.def(Def {
                        space: Space::Local,
                        index: local,
                        detail: format!("param {local}: {ty}"),
                        name: None,
                        name_range: tu.range.clone(),
                        range: tu.range.clone(),
                        scope: def,
                        exports: Vec::new(),
                        import: None,
                        is_param: true,
                    });
                    local += 1;
                }
            }
        }
        for (h, l) in sublists {
            match h {
                "type" => {
                    if let Some(n) = l.children.get(1) {
                        self.leaf_ref(Space::Type, n, scope, None);
                    }
                }
                "param" | "local" => {
                    let is_param = h == "param";
                    if let Some((name, r)) = self.id_at(&l, 1) {
                        let ty = l
                            .children
                            .get(2)
                            .map(|n| collapse(self.tree, self.tree.node_range(n)))
                            .unwrap_or_default();
                        self.def(Def {
                            space: Space::Local,
                            index: local,
                            detail: format!("{h} {name}: {ty}"),
                            name: Some(name),
                            name_range: r,
                            range: l.range.clone(),
                            scope: def,
                            exports: Vec::new(),
                            import: None,
                            is_param,
                        });
                        local += 1;
                    } else {
                        for n in &l.children[1..] {
                            let ty = collapse(self.tree, self.tree.node_range(n));
                            self.def(Def {
                                space: Space::Local,
                                index: local,
                                detail: format!("{h} {local}: {ty}"),
                                name: None,
                                name_range: self.tree.node_range(n),
                                range: l.range.clone(),
                                scope: def,
                                exports: Vec::new(),
                                import: None,
                                is_param,
                            });
                            local += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        let skip = if self.index.defs[def].name.is_some() {
            2
        } else {
            1
        };
        // The grammar puts the header (type use, params, results, locals,
        // inline import/export) before the instructions.
        let header = f.children[skip.min(f.children.len())..]
            .iter()
            .take_while(|n| match n {
                Node::List(l) => matches!(
                    self.tree.head(l),
                    Some("type" | "param" | "result" | "local" | "export" | "import")
                ),
                Node::Leaf(_) => false,
            })
            .count();
        let body = &f.children[(skip + header).min(f.children.len())..];
        self.labels.clear();
        self.body(body, scope, Some(def));
        self.labels.clear();
    }

    /// Scans instructions (flat or folded) for references and labels.
    fn body(&mut self, nodes: &[Node], scope: usize, func: Option<usize>) {
        let mut k = 0;
        while k < nodes.len() {
            match &nodes[k] {
                Node::List(l) => {
                    let head = self.tree.head(l).unwrap_or("");
                    match head {
                        "type" => {
                            if let Some(n) = l.children.get(1) {
                                self.leaf_ref(Space::Type, n, scope, None);
                            }
                        }
                        "param" | "result" => {}
                        "then" | "else" => self.body(&l.children[1..], scope, func),
                        h if is_block(h) => {
                            let label = self.label(l, h, 1, l.range.clone());
                            let start = if self.id_at(l, 1).is_some() { 2 } else { 1 };
                            self.labels.push(label);
                            self.body(&l.children[start..], scope, func);
                            self.labels.pop();
                        }
                        _ => self.body(&l.children, scope, func),
                    }
                    k += 1;
                }
                Node::Leaf(i) => {
                    let instr = self.tree.token_text(*i);
                    k += 1;
                    if is_block(instr) {
                        // Flat block: its label lives until the matching `end`.
                        let end = self.flat_end(nodes, k);
                        let range = self.tree.tokens[*i].range.start..end;
                        let label = self.label_flat(*i, nodes.get(k), instr, range);
                        if self.index.defs[label].name.is_some() {
                            k += 1;
                        }
                        self.labels.push(label);
                        continue;
                    }
                    if instr == "end" {
                        self.labels.pop();
                        // `end $label` is allowed; skip the name.
                        if nodes.get(k).is_some_and(|n| matches!(n, Node::Leaf(j) if self.tree.tokens[*j].kind == TokenKind::Id)) {
                            k += 1;
                        }
                        continue;
                    }
                    let operands = nodes[k..]
                        .iter()
                        .take_while(|n| matches!(n, Node::Leaf(j) if self.is_index(*j)))
                        .count();
                    if let Some(spaces) = immediates(instr, operands) {
                        let spaces: Vec<Space> = spaces.into_iter().take(operands).collect();
                        for (n, space) in nodes[k..]
                            .iter()
                            .zip(spaces.iter())
                            .map(|(n, s)| (n.clone(), *s))
                            .collect::<Vec<_>>()
                        {
                            if space == Space::Local {
                                self.local_ref(&n, func);
                            } else if space == Space::Label {
                                self.label_ref(&n);
                            } else {
                                self.leaf_ref(space, &n, scope, None);
                            }
                            k += 1;
                        }
                    }
                }
            }
        }
    }

    fn is_index(&self, token: usize) -> bool {
        let t = &self.tree.tokens[token];
        t.kind == TokenKind::Id
            || (t.kind == TokenKind::Atom
                && self
                    .tree
                    .token_text(token)
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'_'))
    }

    /// Where a flat block starting before `nodes[k]` ends: its `end`.
    fn flat_end(&self, nodes: &[Node], k: usize) -> usize {
        let mut depth = 1;
        for n in &nodes[k..] {
            if let Node::Leaf(i) = n {
                let t = self.tree.token_text(*i);
                if is_block(t) {
                    depth += 1;
                } else if t == "end" {
                    depth -= 1;
                    if depth == 0 {
                        return self.tree.tokens[*i].range.end;
                    }
                }
            }
        }
        nodes.last().map_or(0, |n| self.tree.node_range(n).end)
    }

    fn label(&mut self, l: &List, kind: &str, _k: usize, range: Range<usize>) -> usize {
        let id = self.id_at(l, 1);
        let name_range = id
            .as_ref()
            .map_or_else(|| self.tree.node_range(&l.children[0]), |(_, r)| r.clone());
        let results: Vec<String> = self
            .sublists(l)
            .filter(|(h, _)| matches!(*h, "result" | "param" | "type"))
            .map(|(_, r)| collapse(self.tree, r.range.clone()))
            .collect();
        self.label_def(
            kind,
            id.map(|(n, _)| n),
            name_range,
            range,
            results.join(" "),
        )
    }

    fn label_flat(
        &mut self,
        kw: usize,
        next: Option<&Node>,
        kind: &str,
        range: Range<usize>,
    ) -> usize {
        let id = match next {
            Some(Node::Leaf(i)) if self.tree.tokens[*i].kind == TokenKind::Id => Some((
                self.tree.token_text(*i).to_string(),
                self.tree.tokens[*i].range.clone(),
            )),
            _ => None,
        };
        let name_range = id
            .as_ref()
            .map_or_else(|| self.tree.tokens[kw].range.clone(), |(_, r)| r.clone());
        self.label_def(kind, id.map(|(n, _)| n), name_range, range, String::new())
    }

    fn label_def(
        &mut self,
        kind: &str,
        name: Option<String>,
        name_range: Range<usize>,
        range: Range<usize>,
        sig: String,
    ) -> usize {
        let at = self.index.defs.len();
        self.def(Def {
            space: Space::Label,
            index: 0,
            detail: format!("label {} ({kind}) {sig}", name.as_deref().unwrap_or("")),
            name,
            name_range,
            range,
            scope: at,
            exports: Vec::new(),
            import: None,
            is_param: false,
        })
    }

    fn label_ref(&mut self, n: &Node) {
        let Node::Leaf(i) = n else { return };
        let text = self.tree.token_text(*i);
        let def = if text.starts_with('$') {
            self.labels
                .iter()
                .rev()
                .find(|&&l| self.index.defs[l].name.as_deref() == Some(text))
                .copied()
        } else {
            text.parse::<usize>()
                .ok()
                .and_then(|d| self.labels.len().checked_sub(d + 1))
                .map(|k| self.labels[k])
        };
        self.index.refs.push(Ref {
            space: Space::Label,
            range: self.tree.tokens[*i].range.clone(),
            def,
        });
    }

    fn local_ref(&mut self, n: &Node, func: Option<usize>) {
        let Node::Leaf(i) = n else { return };
        let text = self.tree.token_text(*i);
        // A function's locals directly follow its definition.
        let def = func.and_then(|f| {
            self.index.defs[f + 1..]
                .iter()
                .take_while(|d| d.space == Space::Local && d.scope == f)
                .position(|d| match text.parse::<u32>() {
                    Ok(k) => d.index == k,
                    Err(_) => d.name.as_deref() == Some(text),
                })
                .map(|k| f + 1 + k)
        });
        self.index.refs.push(Ref {
            space: Space::Local,
            range: self.tree.tokens[*i].range.clone(),
            def,
        });
    }

    /// A module-level reference, resolved when the module ends.
    fn leaf_ref(&mut self, space: Space, n: &Node, _scope: usize, export: Option<String>) {
        let Node::Leaf(i) = n else { return };
        if !self.is_index(*i) {
            return;
        }
        let text = self.tree.token_text(*i);
        let key = match text.parse::<u32>() {
            Ok(k) => Key::Num(k),
            Err(_) => Key::Name(text.to_string()),
        };
        self.pending.push(Pending {
            space,
            key,
            range: self.tree.tokens[*i].range.clone(),
            export,
        });
    }

    fn resolve(&mut self, scope: usize, first_def: usize) {
        // (space, index) and (space, name) of the module's definitions.
        let mut by_index: HashMap<(Space, u32), usize> = HashMap::new();
        let mut by_name: HashMap<(Space, &str), usize> = HashMap::new();
        for (i, d) in self.index.defs.iter().enumerate().skip(first_def) {
            if d.scope != scope || matches!(d.space, Space::Local | Space::Label) {
                continue;
            }
            by_index.entry((d.space, d.index)).or_insert(i);
            if let Some(n) = &d.name {
                by_name.entry((d.space, n.as_str())).or_insert(i);
            }
        }
        let resolved: Vec<Option<usize>> = self
            .pending
            .iter()
            .map(|p| match &p.key {
                Key::Num(k) => by_index.get(&(p.space, *k)).copied(),
                Key::Name(n) => by_name.get(&(p.space, n.as_str())).copied(),
            })
            .collect();
        for (p, def) in std::mem::take(&mut self.pending).into_iter().zip(resolved) {
            if let (Some(d), Some(e)) = (def, p.export) {
                self.index.defs[d].exports.push(e);
            }
            self.index.refs.push(Ref {
                space: p.space,
                range: p.range,
                def,
            });
        }
    }
}

fn collapse_str(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// Renders every reference as `text@line -> definition detail`.
    fn check(text: &str, expect: Expect) {
        let tree = Tree::parse(text);
        let index = Index::build(&tree);
        let line = |o: usize| text[..o].matches('\n').count() + 1;
        let mut out = Vec::new();
        for r in &index.refs {
            let target = r.def.map_or("UNRESOLVED".to_string(), |d| {
                let d = &index.defs[d];
                format!("{}#{} `{}`", d.space.keyword(), d.index, d.detail)
            });
            out.push(format!(
                "{}@{} -> {}",
                &text[r.range.clone()],
                line(r.range.start),
                target
            ));
        }
        for d in index.defs.iter().filter(|d| !d.exports.is_empty()) {
            out.push(format!("exported {:?}: {}", d.exports, d.detail));
        }
        expect.assert_eq(&out.join("\n"));
    }

    #[test]
    fn names_and_indices_resolve() {
        check(
            r#"(module
  (import "env" "log" (func $log (param i32)))
  (type $bin (func (param i32 i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $add (type $bin) (local $tmp i32)
    local.get 0
    local.get 1
    i32.add
    local.tee $tmp
    call $log
    local.get 2
    global.set $g
    (block $out
      (loop $top
        (br_if $out (global.get 0))
        br 0))
    block
      br 0
      br 1
    end)
  (func (export "run") call 1 call $add)
  (export "add" (func $add))
  (start 0))"#,
            expect![[r#"
                0@6 -> local#0 `param 0: i32`
                1@7 -> local#1 `param 1: i32`
                $tmp@9 -> local#2 `local $tmp: i32`
                2@11 -> local#2 `local $tmp: i32`
                $out@15 -> label#0 `label $out (block)`
                0@16 -> label#0 `label $top (loop)`
                0@18 -> label#0 `label  (block)`
                1@19 -> UNRESOLVED
                $bin@5 -> type#0 `type $bin (func (param i32 i32) (result i32))`
                $log@10 -> func#0 `func $log (param i32)`
                $g@12 -> global#0 `global $g (mut i32) (i32.const 0)`
                0@15 -> global#0 `global $g (mut i32) (i32.const 0)`
                1@21 -> func#1 `func $add (type $bin)`
                $add@21 -> func#1 `func $add (type $bin)`
                $add@22 -> func#1 `func $add (type $bin)`
                0@23 -> func#0 `func $log (param i32)`
                exported ["add"]: func $add (type $bin)
                exported ["run"]: func"#]],
        );
    }
}
