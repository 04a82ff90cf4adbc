//! A lossless, error-tolerant view of WebAssembly text: tokens and the tree
//! of parenthesised lists over them.
//!
//! `wast` is the authority on what a module means, but it stops at the first
//! error. Navigation, highlighting, folding and formatting must keep working
//! while the user types broken text, so they run on this tree, which exists
//! for every input: unbalanced `)` are kept as tokens and ignored by the
//! tree, unclosed lists end at the end of the text.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    LParen,
    RParen,
    /// Keywords, instruction names, numbers: anything made of idchars.
    Atom,
    /// `$name`.
    Id,
    String,
    LineComment,
    BlockComment,
    Whitespace,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub range: Range<usize>,
}

/// Splits `text` into tokens covering every byte, in order.
pub fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let kind = match bytes[i] {
            b'(' if bytes.get(i + 1) == Some(&b';') => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"(;") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b";)") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                TokenKind::BlockComment
            }
            b'(' => {
                i += 1;
                TokenKind::LParen
            }
            b')' => {
                i += 1;
                TokenKind::RParen
            }
            b';' if bytes.get(i + 1) == Some(&b';') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                TokenKind::LineComment
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                TokenKind::String
            }
            c if c.is_ascii_whitespace() => {
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                TokenKind::Whitespace
            }
            _ => {
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !matches!(bytes[i], b'(' | b')' | b'"')
                    && !bytes[i..].starts_with(b";;")
                {
                    i += 1;
                }
                if i == start {
                    // A lone `;`: one byte of its own, never an empty token.
                    i += 1;
                }
                if bytes[start] == b'$' {
                    TokenKind::Id
                } else {
                    TokenKind::Atom
                }
            }
        };
        // Multi-byte characters only occur inside atoms, strings and
        // comments, whose loops stop on ASCII bytes: ends are char
        // boundaries except when a string escape runs past the end.
        while !text.is_char_boundary(i.min(text.len())) {
            i += 1;
        }
        let end = i.min(text.len());
        out.push(Token {
            kind,
            range: start..end,
        });
        i = end;
    }
    out
}

/// A node of the tree: an atom, id or string token, or a list.
#[derive(Clone, Debug)]
pub enum Node {
    Leaf(usize),
    List(List),
}

#[derive(Clone, Debug)]
pub struct List {
    /// Byte range from `(` to `)` inclusive, or to the end of the text.
    pub range: Range<usize>,
    pub children: Vec<Node>,
}

/// The tokens of a text and the lists they form.
pub struct Tree<'a> {
    pub text: &'a str,
    pub tokens: Vec<Token>,
    /// Top-level nodes.
    pub roots: Vec<Node>,
}

impl<'a> Tree<'a> {
    pub fn parse(text: &'a str) -> Tree<'a> {
        let tokens = tokenize(text);
        let mut stack: Vec<List> = vec![List {
            range: 0..text.len(),
            children: Vec::new(),
        }];
        for (i, t) in tokens.iter().enumerate() {
            match t.kind {
                TokenKind::LParen => stack.push(List {
                    range: t.range.start..text.len(),
                    children: Vec::new(),
                }),
                TokenKind::RParen if stack.len() > 1 => {
                    let mut list = stack.pop().expect("stack holds the root and this list");
                    list.range.end = t.range.end;
                    push(&mut stack, Node::List(list));
                }
                TokenKind::Atom | TokenKind::Id | TokenKind::String => {
                    push(&mut stack, Node::Leaf(i))
                }
                _ => {}
            }
        }
        while stack.len() > 1 {
            let list = stack.pop().expect("checked above");
            push(&mut stack, Node::List(list));
        }
        let roots = stack.pop().map(|l| l.children).unwrap_or_default();
        Tree {
            text,
            tokens,
            roots,
        }
    }

    pub fn token_text(&self, i: usize) -> &'a str {
        &self.text[self.tokens[i].range.clone()]
    }

    /// The text of a leaf node, or `None` for a list.
    pub fn leaf(&self, n: &Node) -> Option<&'a str> {
        match n {
            Node::Leaf(i) => Some(self.token_text(*i)),
            Node::List(_) => None,
        }
    }

    /// The keyword a list starts with (`func` of `(func ...)`).
    pub fn head(&self, l: &List) -> Option<&'a str> {
        l.children.first().and_then(|n| match n {
            Node::Leaf(i) if self.tokens[*i].kind == TokenKind::Atom => Some(self.token_text(*i)),
            _ => None,
        })
    }

    pub fn node_range(&self, n: &Node) -> Range<usize> {
        match n {
            Node::Leaf(i) => self.tokens[*i].range.clone(),
            Node::List(l) => l.range.clone(),
        }
    }

    /// The index of the token containing (or ending at) `offset`.
    pub fn token_at(&self, offset: usize) -> Option<usize> {
        let i = self.tokens.partition_point(|t| t.range.end < offset);
        let t = self.tokens.get(i)?;
        if t.kind == TokenKind::Whitespace && i > 0 && self.tokens[i - 1].range.end == offset {
            return Some(i - 1);
        }
        (t.range.start <= offset).then_some(i)
    }
}

fn push(stack: &mut [List], node: Node) {
    stack
        .last_mut()
        .expect("the root is never popped")
        .children
        .push(node);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_every_byte() {
        let text = "(module (; a (; nested ;) ;) $f \"s\\\"t\" ;; c\n i32.const -1 ) ) é\"open";
        let tokens = tokenize(text);
        let mut at = 0;
        for t in &tokens {
            assert_eq!(t.range.start, at, "{tokens:?}");
            assert!(t.range.end > t.range.start);
            at = t.range.end;
        }
        assert_eq!(at, text.len());
        let tree = Tree::parse(text);
        assert_eq!(tree.roots.len(), 3, "the module, `é` and the open string");
        let Node::List(m) = &tree.roots[0] else {
            panic!()
        };
        assert_eq!(tree.head(m), Some("module"));
        assert_eq!(m.children.len(), 5);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 7;
        for len in 0..400 {
            let s: String = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ['(', ')', ';', '"', '\\', '$', 'a', ' ', '\n', 'é'][(x >> 16) as usize % 10]
                })
                .collect();
            let t = Tree::parse(&s);
            for o in 0..=s.len() {
                let _ = t.token_at(o);
            }
        }
    }
}
