//! What the validator knows at each instruction of a text module: the
//! operand stack's types before and after it, and whether it is reachable.
//! Also which types the binary really uses (a function with an inline
//! signature silently uses an explicit type with the same signature).
//!
//! The stack shown is the validator's: exact types for reachable code; in
//! code after an unconditional branch, values of unknown type appear as
//! `unknown` (the validator's bottom type), as the spec defines them.

use std::ops::Range;
use wasmscope_engine::wasmparser::{
    BlockType, FuncValidator, Operator, Parser, Payload, TypeRef, ValType, Validator,
    ValidatorResources,
};

/// The top of an operand stack, bottom first, at most `SHOWN` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    pub height: usize,
    pub top: Vec<Option<ValType>>,
}

const SHOWN: usize = 6;

impl Stack {
    fn of(v: &FuncValidator<ValidatorResources>) -> Stack {
        let height = v.operand_stack_height() as usize;
        let mut top: Vec<Option<ValType>> = (0..height.min(SHOWN))
            .filter_map(|d| v.get_operand_type(d))
            .collect();
        top.reverse();
        Stack { height, top }
    }

    /// `[i32 i64]`, with `…` when deeper values are not shown.
    pub fn render(&self) -> String {
        let mut out = String::from("[");
        if self.height > self.top.len() {
            out.push_str("… ");
        }
        let items: Vec<String> = self
            .top
            .iter()
            .map(|t| t.map_or("unknown".to_string(), |t| t.to_string()))
            .collect();
        out.push_str(&items.join(" "));
        out.push(']');
        out
    }
}

#[derive(Clone, Debug)]
pub struct OpFact {
    /// Text offset of the instruction's keyword.
    pub at: usize,
    pub before: Stack,
    pub after: Stack,
    pub unreachable: bool,
    /// `end`, `else` and their kin: structure, not computation.
    pub structural: bool,
}

#[derive(Debug, Default)]
pub struct ModuleFacts {
    pub ops: Vec<OpFact>,
    /// Per type index: used by a function, import, indirect call or block.
    pub used_types: Vec<bool>,
}

/// Walks a valid binary; `spans[f][k]` is the text offset of function `f`'s
/// operator `k`. Returns `None` if the binary does not validate.
pub fn module_facts(binary: &[u8], spans: &[Vec<usize>]) -> Option<ModuleFacts> {
    let mut validator = Validator::new_with_features(wasmscope_engine::supported_features());
    let mut facts = ModuleFacts::default();
    let mut func = 0;
    let use_type = |facts: &mut ModuleFacts, t: u32| {
        if let Some(u) = facts.used_types.get_mut(t as usize) {
            *u = true;
        }
    };
    for payload in Parser::new(0).parse_all(binary) {
        let payload = payload.ok()?;
        if !matches!(payload, Payload::CodeSectionEntry(_)) {
            validator.payload(&payload).ok()?;
        }
        match &payload {
            Payload::TypeSection(s) => {
                let count: u32 = s
                    .clone()
                    .into_iter()
                    .map(|g| g.map_or(0, |g| g.types().len() as u32))
                    .sum();
                facts.used_types = vec![false; count as usize];
            }
            Payload::ImportSection(s) => {
                for i in s.clone() {
                    if let TypeRef::Func(t) = i.ok()?.ty {
                        use_type(&mut facts, t);
                    }
                }
            }
            Payload::FunctionSection(s) => {
                for t in s.clone() {
                    use_type(&mut facts, t.ok()?);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut v = validator
                    .code_section_entry(body)
                    .ok()?
                    .into_validator(Default::default());
                let mut reader = body.get_binary_reader();
                v.read_locals(&mut reader).ok()?;
                let text = spans.get(func);
                let mut k = 0;
                while !reader.eof() {
                    let offset = reader.original_position();
                    let op = reader.read_operator().ok()?;
                    match &op {
                        Operator::CallIndirect { type_index, .. }
                        | Operator::ReturnCallIndirect { type_index, .. } => {
                            use_type(&mut facts, *type_index)
                        }
                        Operator::Block {
                            blockty: BlockType::FuncType(t),
                        }
                        | Operator::Loop {
                            blockty: BlockType::FuncType(t),
                        }
                        | Operator::If {
                            blockty: BlockType::FuncType(t),
                        } => use_type(&mut facts, *t),
                        _ => {}
                    }
                    let before = Stack::of(&v);
                    let unreachable = v.get_control_frame(0).is_some_and(|f| f.unreachable);
                    v.op(offset, &op).ok()?;
                    if let Some(at) = text.and_then(|t| t.get(k)) {
                        facts.ops.push(OpFact {
                            at: *at,
                            before,
                            after: Stack::of(&v),
                            unreachable,
                            structural: matches!(
                                op,
                                Operator::End
                                    | Operator::Else
                                    | Operator::Delegate { .. }
                                    | Operator::Catch { .. }
                                    | Operator::CatchAll
                            ),
                        });
                    }
                    k += 1;
                }
                v.finish(reader.original_position()).ok()?;
                func += 1;
            }
            _ => {}
        }
    }
    Some(facts)
}

/// Runs of unreachable, non-structural instructions: (first, last) offsets.
pub fn unreachable_runs(facts: &ModuleFacts) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut open = false;
    for op in &facts.ops {
        if op.unreachable && !op.structural {
            match out.last_mut() {
                Some(r) if open => r.end = op.at,
                _ => out.push(op.at..op.at),
            }
            open = true;
        } else {
            open = false;
        }
    }
    out
}
