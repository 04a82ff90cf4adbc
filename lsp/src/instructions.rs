//! The instruction mnemonics the engine accepts in text (the MVP, sign
//! extension, saturating truncation, bulk memory, reference types, tail
//! calls and the basic SIMD memory instructions), for completion and
//! highlighting. A test checks each one against `wast`'s own parser.

use crate::index::Space;
use std::collections::HashSet;
use std::sync::OnceLock;

fn build() -> Vec<&'static str> {
    let mut v: Vec<String> = [
        "unreachable",
        "nop",
        "block",
        "loop",
        "if",
        "else",
        "end",
        "br",
        "br_if",
        "br_table",
        "return",
        "call",
        "call_indirect",
        "return_call",
        "return_call_indirect",
        "drop",
        "select",
        "local.get",
        "local.set",
        "local.tee",
        "global.get",
        "global.set",
        "memory.size",
        "memory.grow",
        "memory.fill",
        "memory.copy",
        "memory.init",
        "data.drop",
        "table.get",
        "table.set",
        "table.size",
        "table.grow",
        "table.fill",
        "table.copy",
        "table.init",
        "elem.drop",
        "ref.null",
        "ref.is_null",
        "ref.func",
        "i32.wrap_i64",
        "f32.demote_f64",
        "f64.promote_f32",
        "i32.reinterpret_f32",
        "i64.reinterpret_f64",
        "f32.reinterpret_i32",
        "f64.reinterpret_i64",
        "i64.extend_i32_s",
        "i64.extend_i32_u",
        "v128.const",
        "v128.load",
        "v128.store",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for t in ["i32", "i64"] {
        for op in [
            "const",
            "clz",
            "ctz",
            "popcnt",
            "add",
            "sub",
            "mul",
            "div_s",
            "div_u",
            "rem_s",
            "rem_u",
            "and",
            "or",
            "xor",
            "shl",
            "shr_s",
            "shr_u",
            "rotl",
            "rotr",
            "eqz",
            "eq",
            "ne",
            "lt_s",
            "lt_u",
            "gt_s",
            "gt_u",
            "le_s",
            "le_u",
            "ge_s",
            "ge_u",
            "load",
            "load8_s",
            "load8_u",
            "load16_s",
            "load16_u",
            "store",
            "store8",
            "store16",
            "extend8_s",
            "extend16_s",
        ] {
            v.push(format!("{t}.{op}"));
        }
        for f in ["f32", "f64"] {
            for s in ["s", "u"] {
                v.push(format!("{t}.trunc_{f}_{s}"));
                v.push(format!("{t}.trunc_sat_{f}_{s}"));
                v.push(format!("{f}.convert_{t}_{s}"));
            }
        }
    }
    v.extend(
        [
            "i64.load32_s",
            "i64.load32_u",
            "i64.store32",
            "i64.extend32_s",
        ]
        .map(String::from),
    );
    for t in ["f32", "f64"] {
        for op in [
            "const", "abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt", "add", "sub",
            "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt", "le", "ge", "load",
            "store",
        ] {
            v.push(format!("{t}.{op}"));
        }
    }
    v.into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect()
}

/// Every mnemonic, in a stable order.
pub fn all() -> &'static [&'static str] {
    static ALL: OnceLock<Vec<&'static str>> = OnceLock::new();
    ALL.get_or_init(build)
}

pub fn is_instruction(word: &str) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| all().iter().copied().collect())
        .contains(word)
}

/// The index space of an instruction's first index immediate.
pub fn space_of(instr: &str) -> Option<Space> {
    crate::index::immediates(instr, 1)?.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wast_knows_every_mnemonic() {
        for name in all() {
            let text = format!("(module (func {name}))");
            let buf = wast::parser::ParseBuffer::new(&text).unwrap();
            if let Err(e) = wast::parser::parse::<wast::Wat>(&buf) {
                assert!(
                    !e.message().contains("unknown operator"),
                    "{name}: {}",
                    e.message()
                );
            }
        }
        assert!(all().len() > 190, "{}", all().len());
    }
}
