//! Typed panel values: what a value of the presets reads from a [`Record`], and how the
//! text the database gives becomes an int, a number, a date or a flag.

use std::fmt;

use crate::model::{EntityKind, Record};

/// The type a value is read and compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    Int,
    Number,
    Text,
    Date,
    Bool,
}

impl ValueType {
    pub const ALL: [ValueType; 5] = [
        ValueType::Int,
        ValueType::Number,
        ValueType::Text,
        ValueType::Date,
        ValueType::Bool,
    ];

    /// The name used in the presets files.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Int => "int",
            ValueType::Number => "number",
            ValueType::Text => "text",
            ValueType::Date => "date",
            ValueType::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Option<ValueType> {
        ValueType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What a literal of this type looks like, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            ValueType::Int => "a whole number",
            ValueType::Number => "a number such as 590.00",
            ValueType::Text => "a text",
            ValueType::Date => "a date YYYY-MM-DD (or \"YYYY-MM-DD HH:MM:SS\")",
            ValueType::Bool => "yes or no",
        }
    }

    /// Parses a literal written in a condition or read from the database.
    pub fn parse_value(self, raw: &str) -> Option<Value> {
        let s = raw.trim();
        if s.is_empty() {
            return None;
        }
        match self {
            ValueType::Int => parse_int(s).map(Value::Int),
            ValueType::Number => s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::Number),
            ValueType::Text => Some(Value::Text(s.to_string())),
            ValueType::Date => parse_date(s).map(|unix| Value::Date {
                unix,
                text: s.to_string(),
            }),
            ValueType::Bool => parse_bool(s).map(Value::Bool),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value read from a record, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Number(f64),
    Text(String),
    /// `unix`: midnight UTC of a `YYYY-MM-DD`, or the datetime read as UTC; `text` as given.
    Date {
        unix: i64,
        text: String,
    },
    Bool(bool),
}

impl Value {
    /// The value as amoCRM text fields want it.
    pub fn to_text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Text(t) => t.clone(),
            Value::Date { text, .. } => text.clone(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        }
    }

    pub fn ty(&self) -> ValueType {
        match self {
            Value::Int(_) => ValueType::Int,
            Value::Number(_) => ValueType::Number,
            Value::Text(_) => ValueType::Text,
            Value::Date { .. } => ValueType::Date,
            Value::Bool(_) => ValueType::Bool,
        }
    }
}

/// A named panel value: where it comes from in a [`Record`] and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSpec {
    /// The name used in amocrm.conf, e.g. `item.pricelist`.
    pub name: String,
    /// The Record key, e.g. `pricelist.name`, `itemparam.ip`.
    pub source: String,
    pub ty: ValueType,
}

impl ValueSpec {
    /// The value in `rec`; `None` when absent, blank or not of the value's type.
    pub fn read(&self, rec: &Record) -> Option<Value> {
        self.ty.parse_value(rec.get(&self.source)?)
    }

    /// The entity kinds whose records hold this value's source.
    pub fn kinds(&self) -> &'static [EntityKind] {
        source_kinds(&self.source)
    }
}

/// The tables a Record key may start with, and the kinds whose records carry them
/// (what the database layer fills for each kind).
const TABLES: [(&str, &[EntityKind]); 10] = [
    (
        "account",
        &[EntityKind::Account, EntityKind::Profile, EntityKind::Item],
    ),
    ("project", &[EntityKind::Account, EntityKind::Item]),
    ("user", &[EntityKind::Account, EntityKind::Item]),
    ("profile", &[EntityKind::Profile]),
    ("item", &[EntityKind::Item]),
    ("pricelist", &[EntityKind::Item]),
    ("itemtype", &[EntityKind::Item]),
    ("currency", &[EntityKind::Item]),
    ("itemparam", &[EntityKind::Item]),
    // The client's money (`src/db/money.rs`): computed from its personal accounts and
    // payments, not a table of the panel.
    ("money", &[EntityKind::Account, EntityKind::Item]),
];

/// The kinds whose records can hold `source` (`table.column`); empty for an unknown table.
pub fn source_kinds(source: &str) -> &'static [EntityKind] {
    let table = source.split('.').next().unwrap_or_default();
    TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, k)| *k)
        .unwrap_or(&[])
}

/// The tables a source may name, for error messages.
pub fn source_tables() -> Vec<&'static str> {
    TABLES.iter().map(|(t, _)| *t).collect()
}

/// How an entity kind is called to an admin.
pub fn kind_noun(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Account => "a client (contact)",
        EntityKind::Profile => "a payer (company)",
        EntityKind::Item => "a service (lead)",
    }
}

/// A whole number; `590.00` is 590 (decimal columns holding whole values).
fn parse_int(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    let f = s.parse::<f64>().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "1" => Some(true),
        "no" | "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DD HH:MM:SS` (also with `T`) as unix
/// seconds, UTC. MySQL's zero date `0000-00-00` is no date.
pub fn parse_date(s: &str) -> Option<i64> {
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let (y, m, day): (i64, u32, u32) = (digits(y)?, digits(m)? as u32, digits(day)? as u32);
    if !(1..=12).contains(&m) || day < 1 || day > days_in_month(y, m) || y < 1 {
        return None;
    }
    let mut secs = 0;
    if let Some(t) = time {
        let parts: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let h = digits(parts[0])?;
        let min = digits(parts[1])?;
        let sec = match parts.get(2) {
            Some(p) => digits(p)?,
            None => 0,
        };
        if h > 23 || min > 59 || sec > 59 {
            return None;
        }
        secs = h * 3600 + min * 60 + sec;
    }
    Some(days_from_civil(y, m, day) * 86_400 + secs)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &str, ty: ValueType) -> ValueSpec {
        ValueSpec {
            name: "v".into(),
            source: source.into(),
            ty,
        }
    }

    #[test]
    fn dates_are_unix_seconds_utc() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2025-06-01"), Some(1_748_736_000));
        assert_eq!(
            parse_date("2025-06-01 10:22:05"),
            Some(1_748_736_000 + 36_000 + 1320 + 5)
        );
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("2025-6-1"), None);
        assert_eq!(parse_date("2025-06-01 25:00"), None);
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn reads_typed_values_from_a_record() {
        let mut r = Record::default();
        r.set("item.cost", "590.00");
        r.set("item.status", " 2 ");
        r.set("item.autosuspend", "on");
        r.set("item.expiredate", "2025-07-01");
        r.set("user.phone", "  ");
        r.set("item.name", "junk");
        assert_eq!(
            spec("item.cost", ValueType::Number).read(&r),
            Some(Value::Number(590.0))
        );
        assert_eq!(
            spec("item.cost", ValueType::Int).read(&r),
            Some(Value::Int(590))
        );
        assert_eq!(
            spec("item.status", ValueType::Int).read(&r),
            Some(Value::Int(2))
        );
        assert_eq!(
            spec("item.autosuspend", ValueType::Bool).read(&r),
            Some(Value::Bool(true))
        );
        let date = spec("item.expiredate", ValueType::Date).read(&r);
        assert_eq!(
            date,
            Some(Value::Date {
                unix: 1_751_328_000,
                text: "2025-07-01".into()
            })
        );
        // Absent, blank and unparsable values are all "no value".
        assert_eq!(spec("user.phone", ValueType::Text).read(&r), None);
        assert_eq!(spec("user.email", ValueType::Text).read(&r), None);
        assert_eq!(spec("item.name", ValueType::Int).read(&r), None);
    }

    #[test]
    fn values_print_as_text() {
        assert_eq!(Value::Number(590.0).to_text(), "590");
        assert_eq!(Value::Number(12.5).to_text(), "12.5");
        assert_eq!(Value::Int(-100).to_text(), "-100");
        assert_eq!(Value::Bool(false).to_text(), "no");
        assert_eq!(
            Value::Date {
                unix: 0,
                text: "1970-01-01".into()
            }
            .to_text(),
            "1970-01-01"
        );
    }

    #[test]
    fn sources_belong_to_the_kinds_whose_records_hold_them() {
        assert_eq!(source_kinds("profile.vatnum"), &[EntityKind::Profile]);
        assert_eq!(source_kinds("itemparam.ip"), &[EntityKind::Item]);
        assert!(source_kinds("user.email").contains(&EntityKind::Account));
        assert!(!source_kinds("user.email").contains(&EntityKind::Profile));
        assert!(source_kinds("nosuch.column").is_empty());
    }
}
