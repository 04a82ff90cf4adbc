//! C-like expressions for the debugger's evaluate, watch and breakpoint
//! conditions: names (source variables, `$`-prefixed wasm locals and
//! globals), numbers, member access (`.`, `->`), indexing, `*` and `&`,
//! casts to scalar types (`(int)`, `(unsigned char)`, `(double)`, ...)
//! and to pointer types the program declares (`(struct node *)0x1040`),
//! arithmetic, comparisons and `&&`/`||`. Parsing only; `inspect`
//! evaluates.

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Int(i128),
    Float(f64),
    Name(String),
    Member(Box<Expr>, String),
    /// `a->b`
    Arrow(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Deref(Box<Expr>),
    AddressOf(Box<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Cast(ScalarType, Box<Expr>),
    /// `(T *)x`: the pointer type's name as C spells it (`struct node *`).
    PointerCast(String, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

/// The target of a cast: a C scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    Int { bytes: u8, signed: bool },
    Float,
    Double,
    Bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i128),
    Float(f64),
    Ident(String),
    Punct(&'static str),
}

const PUNCTS: &[&str] = &[
    "->", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "+", "-", "*", "/", "%", "<", ">", "!",
    "&", "|", "^", ".", "[", "]", "(", ")",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            let s = &text[start..i];
            let t = s.trim_end_matches(['u', 'U', 'l', 'L']);
            let tok = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i128::from_str_radix(h, 16).map(Tok::Int).ok()
            } else if t.contains('.') || t.contains('e') {
                t.trim_end_matches(['f', 'F']).parse().map(Tok::Float).ok()
            } else {
                t.parse().map(Tok::Int).ok()
            };
            out.push(tok.ok_or_else(|| format!("bad number `{s}`"))?);
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            loop {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'$')) {
                    i += 1;
                }
                // A qualified name (`inventory::GREETING`, `Item::created`).
                if b.get(i..i + 2) == Some(b"::")
                    && b.get(i + 2)
                        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                {
                    i += 2;
                    continue;
                }
                break;
            }
            out.push(Tok::Ident(text[start..i].to_string()));
        } else if c == b'\'' && i + 2 < b.len() && b[i + 2] == b'\'' {
            out.push(Tok::Int(i128::from(b[i + 1])));
            i += 3;
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| text[i..].starts_with(**p))
                .ok_or_else(|| {
                    format!("unexpected `{}`", &text[i..].chars().next().unwrap_or(' '))
                })?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
    };
    if p.toks.is_empty() {
        return Err("empty expression".into());
    }
    let e = p.binary(0)?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the expression", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Int(i) => i.to_string(),
        Tok::Float(f) => f.to_string(),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Punct(p) => format!("`{p}`"),
    }
}

/// Binary operators by precedence level, loosest first.
const LEVELS: &[&[(&str, BinOp)]] = &[
    &[("||", BinOp::Or)],
    &[("&&", BinOp::And)],
    &[("|", BinOp::BitOr)],
    &[("^", BinOp::BitXor)],
    &[("&", BinOp::BitAnd)],
    &[("==", BinOp::Eq), ("!=", BinOp::Ne)],
    &[
        ("<=", BinOp::Le),
        (">=", BinOp::Ge),
        ("<", BinOp::Lt),
        (">", BinOp::Gt),
    ],
    &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
    &[("+", BinOp::Add), ("-", BinOp::Sub)],
    &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
];

impl Parser {
    fn peek_punct(&self, p: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        let yes = self.peek_punct(p);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(format!("expected `{p}`"))
        }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for (p, op) in LEVELS[level] {
                if self.eat(p) {
                    let rhs = self.binary(level + 1)?;
                    lhs = Expr::Binary(*op, Box::new(lhs), Box::new(rhs));
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("*") {
            return Ok(Expr::Deref(Box::new(self.unary()?)));
        }
        if self.eat("&") {
            return Ok(Expr::AddressOf(Box::new(self.unary()?)));
        }
        if self.peek_punct("(") {
            if let Some((ty, len)) = self.cast_type() {
                self.pos += len;
                return Ok(Expr::Cast(ty, Box::new(self.unary()?)));
            }
            if let Some((name, len)) = self.pointer_cast_type() {
                self.pos += len;
                return Ok(Expr::PointerCast(name, Box::new(self.unary()?)));
            }
        }
        self.postfix()
    }

    /// `( scalar type )` at the cursor: the type and the tokens it takes.
    fn cast_type(&self) -> Option<(ScalarType, usize)> {
        let mut words = Vec::new();
        let mut i = self.pos + 1;
        while let Some(Tok::Ident(w)) = self.toks.get(i) {
            words.push(w.as_str());
            i += 1;
        }
        if words.is_empty() || !matches!(self.toks.get(i), Some(Tok::Punct(")"))) {
            return None;
        }
        let signed = !words.contains(&"unsigned");
        let rest: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !matches!(*w, "unsigned" | "signed" | "const"))
            .collect();
        let ty = match rest.as_slice() {
            ["char"] => ScalarType::Int { bytes: 1, signed },
            ["short"] | ["short", "int"] => ScalarType::Int { bytes: 2, signed },
            [] | ["int"] | ["long"] | ["long", "int"] => ScalarType::Int { bytes: 4, signed },
            ["long", "long"] | ["long", "long", "int"] => ScalarType::Int { bytes: 8, signed },
            ["int8_t"] => ScalarType::Int {
                bytes: 1,
                signed: true,
            },
            ["uint8_t"] => ScalarType::Int {
                bytes: 1,
                signed: false,
            },
            ["int16_t"] => ScalarType::Int {
                bytes: 2,
                signed: true,
            },
            ["uint16_t"] => ScalarType::Int {
                bytes: 2,
                signed: false,
            },
            ["int32_t"] => ScalarType::Int {
                bytes: 4,
                signed: true,
            },
            ["uint32_t"] | ["size_t"] => ScalarType::Int {
                bytes: 4,
                signed: false,
            },
            ["int64_t"] => ScalarType::Int {
                bytes: 8,
                signed: true,
            },
            ["uint64_t"] => ScalarType::Int {
                bytes: 8,
                signed: false,
            },
            ["float"] => ScalarType::Float,
            ["double"] => ScalarType::Double,
            ["bool"] | ["_Bool"] => ScalarType::Bool,
            _ => return None,
        };
        Some((ty, i + 1 - self.pos))
    }

    /// `( words *... )` at the cursor: the pointer type's name and the
    /// tokens it takes.
    fn pointer_cast_type(&self) -> Option<(String, usize)> {
        let mut words = Vec::new();
        let mut i = self.pos + 1;
        while let Some(Tok::Ident(w)) = self.toks.get(i) {
            words.push(w.as_str());
            i += 1;
        }
        let mut stars = 0;
        while matches!(self.toks.get(i), Some(Tok::Punct("*"))) {
            stars += 1;
            i += 1;
        }
        if words.is_empty() || stars == 0 || !matches!(self.toks.get(i), Some(Tok::Punct(")"))) {
            return None;
        }
        Some((
            format!("{} {}", words.join(" "), "*".repeat(stars)),
            i + 1 - self.pos,
        ))
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                e = Expr::Member(Box::new(e), self.ident()?);
            } else if self.eat("->") {
                e = Expr::Arrow(Box::new(e), self.ident()?);
            } else if self.eat("[") {
                let i = self.binary(0)?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(i));
            } else {
                return Ok(e);
            }
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.toks.get(self.pos) {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s.clone())
            }
            _ => Err("expected a name".into()),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Int(i)) => {
                self.pos += 1;
                Ok(Expr::Int(i))
            }
            Some(Tok::Float(f)) => {
                self.pos += 1;
                Ok(Expr::Float(f))
            }
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(Expr::Name(s))
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Some(t) => Err(format!("unexpected {}", show(&t))),
            None => Err("the expression ends too soon".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_postfix() {
        let e = parse("p->next->value + a[2] * 3 == 7 && !done").unwrap();
        let Expr::Binary(BinOp::And, lhs, rhs) = e else {
            panic!("{e:?}")
        };
        assert!(matches!(*rhs, Expr::Not(_)));
        let Expr::Binary(BinOp::Eq, sum, seven) = *lhs else {
            panic!()
        };
        assert_eq!(*seven, Expr::Int(7));
        let Expr::Binary(BinOp::Add, arrow, _) = *sum else {
            panic!()
        };
        assert_eq!(
            *arrow,
            Expr::Arrow(
                Box::new(Expr::Arrow(Box::new(Expr::Name("p".into())), "next".into())),
                "value".into()
            )
        );
    }

    #[test]
    fn casts_numbers_and_wasm_names() {
        assert_eq!(
            parse("(unsigned char)x").unwrap(),
            Expr::Cast(
                ScalarType::Int {
                    bytes: 1,
                    signed: false
                },
                Box::new(Expr::Name("x".into()))
            )
        );
        assert_eq!(parse("0x10").unwrap(), Expr::Int(16));
        assert_eq!(parse("'A'").unwrap(), Expr::Int(65));
        assert_eq!(parse("1.5").unwrap(), Expr::Float(1.5));
        assert_eq!(parse("$var0").unwrap(), Expr::Name("$var0".into()));
        assert_eq!(
            parse("(struct node **)p").unwrap(),
            Expr::PointerCast("struct node **".into(), Box::new(Expr::Name("p".into())))
        );
        assert!(matches!(
            parse("(a * b)").unwrap(),
            Expr::Binary(BinOp::Mul, _, _)
        ));
        // A parenthesized expression is not a cast.
        assert!(matches!(
            parse("(a) + 1").unwrap(),
            Expr::Binary(BinOp::Add, _, _)
        ));
    }

    #[test]
    fn errors_are_messages() {
        assert!(parse("").is_err());
        assert!(parse("a +").is_err());
        assert!(parse("a ) b").unwrap_err().contains("unexpected"));
        assert!(parse("#").is_err());
        assert!(parse("a[1").is_err());
    }
}
