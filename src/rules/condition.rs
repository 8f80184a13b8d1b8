//! A parsed condition: a tree of tests joined with and / or, evaluated over a record.

use std::cmp::Ordering;
use std::fmt;

use super::value::{Value, ValueSpec};
use super::vocabulary::{Op, is_reserved, is_word_char};
use crate::model::Record;

/// A condition, parsed once from amocrm.conf.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every part holds.
    All(Vec<Condition>),
    /// At least one part holds.
    Any(Vec<Condition>),
    Test(Test),
}

/// `VALUE VALIDATOR [ARGUMENT]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub value: ValueSpec,
    /// The validator's name as written, for display.
    pub validator: String,
    pub op: Op,
    pub negate: bool,
    pub nocase: bool,
    /// Already of the value's type (and lower-cased for `nocase`).
    pub arg: Arg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    None,
    One(Value),
    List(Vec<Value>),
}

impl Condition {
    pub fn eval(&self, rec: &Record) -> bool {
        match self {
            Condition::All(parts) => parts.iter().all(|c| c.eval(rec)),
            Condition::Any(parts) => parts.iter().any(|c| c.eval(rec)),
            Condition::Test(t) => t.eval(rec),
        }
    }

    /// Whether any of its tests uses this operation.
    pub fn uses(&self, op: Op) -> bool {
        match self {
            Condition::All(parts) | Condition::Any(parts) => parts.iter().any(|c| c.uses(op)),
            Condition::Test(t) => t.op == op,
        }
    }

    /// The Record keys the condition reads, each once, in order of appearance.
    pub fn sources(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_sources(&mut out);
        out
    }

    fn collect_sources<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().for_each(|c| c.collect_sources(out));
            }
            Condition::Test(t) => {
                if !out.contains(&t.value.source.as_str()) {
                    out.push(&t.value.source);
                }
            }
        }
    }

    /// The names of the values the condition uses.
    pub fn values(&self) -> Vec<&ValueSpec> {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().flat_map(Condition::values).collect()
            }
            Condition::Test(t) => vec![&t.value],
        }
    }
}

impl Test {
    pub fn eval(&self, rec: &Record) -> bool {
        let value = self.value.read(rec);
        if self.op == Op::Empty {
            return value.is_none() != self.negate;
        }
        // An absent value satisfies nothing but `empty`, negated validators included.
        let Some(value) = value else { return false };
        let value = if self.nocase { lower(value) } else { value };
        let holds = match (&self.op, &self.arg) {
            (Op::In, Arg::List(list)) => list
                .iter()
                .any(|a| compare(&value, a) == Some(Ordering::Equal)),
            (op, Arg::One(arg)) => match op {
                Op::Eq => compare(&value, arg) == Some(Ordering::Equal),
                Op::Lt => compare(&value, arg) == Some(Ordering::Less),
                Op::Le => matches!(compare(&value, arg), Some(Ordering::Less | Ordering::Equal)),
                Op::Gt => compare(&value, arg) == Some(Ordering::Greater),
                Op::Ge => matches!(
                    compare(&value, arg),
                    Some(Ordering::Greater | Ordering::Equal)
                ),
                Op::Contains => text_pair(&value, arg).is_some_and(|(v, a)| v.contains(a)),
                Op::StartsWith => text_pair(&value, arg).is_some_and(|(v, a)| v.starts_with(a)),
                Op::EndsWith => text_pair(&value, arg).is_some_and(|(v, a)| v.ends_with(a)),
                Op::Within => within(&value, arg, crate::log::now()),
                Op::In | Op::Empty => false,
            },
            // The parser never builds these; a mismatch holds nothing.
            _ => return false,
        };
        holds != self.negate
    }
}

/// A date from `now`'s day to `days` days after it, counted in whole days (UTC).
fn within(value: &Value, days: &Value, now: i64) -> bool {
    match (value, days) {
        (Value::Date { unix, .. }, Value::Int(n)) => {
            let ahead = unix.div_euclid(86_400) - now.div_euclid(86_400);
            (0..=*n).contains(&ahead)
        }
        _ => false,
    }
}

/// Two values of the same type, compared as that type.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Date { unix: x, .. }, Value::Date { unix: y, .. }) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text_pair<'a>(a: &'a Value, b: &'a Value) -> Option<(&'a str, &'a str)> {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => Some((x, y)),
        _ => None,
    }
}

/// Text lower-cased for case-insensitive validators; other types unchanged.
pub(super) fn lower(v: Value) -> Value {
    match v {
        Value::Text(t) => Value::Text(t.to_lowercase()),
        other => other,
    }
}

/// Prints a condition back in the amocrm.conf language.
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Test(t) => t.fmt(f),
            Condition::Any(parts) => join(f, parts, " or ", |_| false),
            Condition::All(parts) => join(f, parts, " and ", |c| matches!(c, Condition::Any(_))),
        }
    }
}

fn join(
    f: &mut fmt::Formatter<'_>,
    parts: &[Condition],
    sep: &str,
    needs_parens: impl Fn(&Condition) -> bool,
) -> fmt::Result {
    for (i, c) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_parens(c) {
            write!(f, "({c})")?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value.name, self.validator)?;
        match &self.arg {
            Arg::None => Ok(()),
            Arg::One(v) => write!(f, " {}", literal(v)),
            Arg::List(list) => {
                let items: Vec<String> = list.iter().map(literal).collect();
                write!(f, " ({})", items.join(", "))
            }
        }
    }
}

/// A value as a condition literal: quoted when it would not read back as one word.
fn literal(v: &Value) -> String {
    let text = v.to_text();
    if !text.is_empty() && text.chars().all(is_word_char) && !is_reserved(&text) {
        return text;
    }
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::value::ValueType;

    fn date(s: &str) -> Value {
        ValueType::Date.parse_value(s).expect("a date")
    }

    #[test]
    fn within_counts_whole_days_from_today() {
        // 2025-06-28 15:30 UTC.
        let now = 1_751_124_600;
        let days = |n| Value::Int(n);
        assert!(within(&date("2025-06-28"), &days(0), now), "today");
        assert!(
            within(&date("2025-07-05"), &days(7), now),
            "the 7th day ahead"
        );
        assert!(!within(&date("2025-07-06"), &days(7), now), "the 8th");
        assert!(!within(&date("2025-06-27"), &days(7), now), "yesterday");
        assert!(!within(&Value::Int(3), &days(7), now), "not a date");
    }
}
