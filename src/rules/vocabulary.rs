//! The words conditions are written in: named values and named validators, as the
//! presets define them. The operations behind validators are code ([`Op`]); the presets
//! only name them, negate them, make them case-insensitive and say which types they take.

use std::collections::BTreeMap;
use std::fmt;

use super::value::{ValueSpec, ValueType};

/// A built-in comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    /// Equal to one of a list.
    In,
    Contains,
    StartsWith,
    EndsWith,
    /// No value (absent, blank or not of the value's type). Takes no argument.
    Empty,
    /// A date from today to N days ahead (N a whole number of days). It depends on the
    /// day it is evaluated: the sweep is what notices a date coming near.
    Within,
}

/// What an operation is compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    None,
    One,
    List,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::In,
        Op::Contains,
        Op::StartsWith,
        Op::EndsWith,
        Op::Empty,
        Op::Within,
    ];

    /// The name used in the presets files.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Empty => "empty",
            Op::Within => "within",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn arity(self) -> Arity {
        match self {
            Op::Empty => Arity::None,
            Op::In => Arity::List,
            _ => Arity::One,
        }
    }

    /// The types the code can apply this operation to.
    pub fn supports(self, ty: ValueType) -> bool {
        match self {
            Op::Eq | Op::In | Op::Empty => true,
            Op::Lt | Op::Le | Op::Gt | Op::Ge => ty != ValueType::Bool,
            Op::Contains | Op::StartsWith | Op::EndsWith => ty == ValueType::Text,
            Op::Within => ty == ValueType::Date,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validator as the presets define it: `not_in` is `In` negated, `icontains` is
/// `Contains` without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorDef {
    pub name: String,
    pub op: Op,
    /// True when the value is present and the operation does not hold (for `Empty`: the
    /// value is present). An absent value still fails every validator but `empty`.
    pub negate: bool,
    /// Text compared without regard to case.
    pub nocase: bool,
    /// The value types it may be used with.
    pub types: Vec<ValueType>,
    pub label: String,
}

impl ValidatorDef {
    pub fn applies_to(&self, ty: ValueType) -> bool {
        self.types.contains(&ty)
    }
}

/// A value as the presets define it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueDef {
    pub spec: ValueSpec,
    pub label: String,
}

/// Every value and validator a configuration may use, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    pub values: BTreeMap<String, ValueDef>,
    pub validators: BTreeMap<String, ValidatorDef>,
}

impl Vocabulary {
    pub fn value(&self, name: &str) -> Option<&ValueDef> {
        self.values.get(name)
    }
    pub fn validator(&self, name: &str) -> Option<&ValidatorDef> {
        self.validators.get(name)
    }
}

/// Characters that make up operator-like validator names (`=`, `!=`, `>=`, `~=`).
pub fn is_symbol_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>' | '~')
}

/// Characters that end a word in a condition.
pub fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !is_symbol_char(c) && !matches!(c, '(' | ')' | ',' | '"' | ';' | '#')
}

/// Whether `name` can be written as one token in a condition: all symbols or all word
/// characters, and not a reserved word.
pub fn is_valid_name(name: &str) -> bool {
    if name.is_empty() || is_reserved(name) {
        return false;
    }
    name.chars().all(is_symbol_char) || name.chars().all(is_word_char)
}

/// `and` / `or` join tests and cannot name anything.
pub fn is_reserved(word: &str) -> bool {
    word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_know_their_types_and_arguments() {
        assert!(Op::Contains.supports(ValueType::Text));
        assert!(!Op::Contains.supports(ValueType::Int));
        assert!(!Op::Gt.supports(ValueType::Bool));
        assert!(Op::Gt.supports(ValueType::Date));
        assert_eq!(Op::In.arity(), Arity::List);
        assert_eq!(Op::Empty.arity(), Arity::None);
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
        }
    }

    #[test]
    fn names_must_be_single_tokens() {
        assert!(is_valid_name("item.pricelist"));
        assert!(is_valid_name(">="));
        assert!(is_valid_name("not_in"));
        assert!(!is_valid_name("a=b"));
        assert!(!is_valid_name("two words"));
        assert!(!is_valid_name("AND"));
        assert!(!is_valid_name(""));
    }
}
