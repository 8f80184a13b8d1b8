//! The little each backend must provide (statements with parameters, rows as text,
//! transactions), so the queue, links and entity reads are written once for both.

use super::{DbError, DbResult};

/// A statement parameter. Nothing from outside is ever spliced into SQL text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One result row: column names from the statement (shared by its rows: a page of a
/// wide table is not a copy of its names per row) and values as text (NULL is `None`),
/// all in one buffer: a sweep reads millions of values, and a string each costs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub names: std::sync::Arc<[String]>,
    /// Every value's text, one after another.
    text: String,
    /// Each value's place in `text`; `None`: NULL.
    spans: Vec<Option<(u32, u32)>>,
}

impl Row {
    pub fn new(names: std::sync::Arc<[String]>) -> Row {
        Row {
            spans: Vec::with_capacity(names.len()),
            // About what a panel row's values take: most rows need no second allocation.
            text: String::with_capacity(16 * names.len()),
            names,
        }
    }
    /// The next column's value.
    pub fn push(&mut self, value: Option<&str>) {
        match value {
            None => self.spans.push(None),
            Some(v) => self.push_with(|t| t.push_str(v)),
        }
    }
    /// The next column's value, written in place (a number printed without a string of
    /// its own).
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len() as u32;
        write(&mut self.text);
        self.spans.push(Some((start, self.text.len() as u32)));
    }
    fn value(&self, at: usize) -> Option<&str> {
        let (start, end) = (*self.spans.get(at)?)?;
        self.text.get(start as usize..end as usize)
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        let at = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        self.value(at)
    }
    /// Each column's name and value.
    pub fn cols(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        (self.names.iter().enumerate()).map(|(i, n)| (n.as_str(), self.value(i)))
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(parse_int)
    }
    /// The first column, for `SELECT COUNT(*)` and the like.
    pub fn first_int(&self) -> Option<i64> {
        self.value(0).and_then(parse_int)
    }
}

/// Integers as either database prints them (MySQL's SUM gives `3` or `3.0000`-like decimals).
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse()
        .ok()
        .or_else(|| s.split('.').next().and_then(|i| i.parse().ok()))
}

/// A backend failure; `transient` ones (deadlock, lock wait, busy) are worth retrying whole.
#[derive(Debug)]
pub(crate) struct SqlError {
    pub message: String,
    pub transient: bool,
}

impl From<SqlError> for DbError {
    fn from(e: SqlError) -> DbError {
        DbError::Query(e.message)
    }
}

pub(crate) type SqlResult<T> = Result<T, SqlError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Mysql,
}

/// One connection to the panel database.
pub(crate) trait Driver: Send {
    fn dialect(&self) -> Dialect;
    /// `sqlite:/path` or `mysql://user@host:port/db` (never the password).
    fn describe(&self) -> String;
    /// Runs one statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> SqlResult<u64>;
    fn query(&mut self, sql: &str, params: &[Value]) -> SqlResult<Vec<Row>>;
    /// A query over one panel table (`SELECT * FROM <table> ...`): values are printed the
    /// way the column is declared (a DECIMAL(12,2) keeps two places on SQLite too).
    fn query_table(&mut self, table: &str, sql: &str, params: &[Value]) -> SqlResult<Vec<Row>>;
    /// Runs a script of statements without parameters (schema files).
    fn batch(&mut self, script: &str) -> SqlResult<()>;
    /// Starts a transaction that will write (SQLite takes the write lock at once).
    fn begin_write(&mut self) -> SqlResult<()>;
    fn commit(&mut self) -> SqlResult<()>;
    fn rollback(&mut self);
    /// The columns of a table, or `None` if it does not exist.
    fn table_columns(&mut self, table: &str) -> SqlResult<Option<Vec<String>>>;
}

/// Runs `f` in one write transaction, retrying it whole a few times when the backend
/// reports a transient conflict (InnoDB deadlock, SQLite busy past its timeout).
pub(crate) fn write_tx<T>(
    d: &mut dyn Driver,
    mut f: impl FnMut(&mut dyn Driver) -> SqlResult<T>,
) -> DbResult<T> {
    let mut tries = 0;
    loop {
        tries += 1;
        let result = d.begin_write().and_then(|()| {
            let value = f(d)?;
            d.commit()?;
            Ok(value)
        });
        match result {
            Ok(v) => return Ok(v),
            Err(e) => {
                d.rollback();
                if !e.transient || tries >= 10 {
                    return Err(e.into());
                }
                // Jitter, so writers that collided do not collide again in step.
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::from(d.subsec_nanos()) % 20);
                std::thread::sleep(std::time::Duration::from_millis(10 * tries + jitter));
            }
        }
    }
}

/// `?, ?, ?` for an `IN (...)` list of `n` parameters.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// How a statement picks the rows of these ids (sorted, each once): `BETWEEN ? AND ?`
/// when they are dense, as a page of a keyset walk is (one index range where a list
/// probes the index once an id; the caller then keeps its ids' rows alone), else
/// `IN (?, …)`. The test and its parameters; `true` when it is a range.
pub(crate) fn ids_test(ids: &[i64]) -> (String, Vec<Value>, bool) {
    match (ids.first(), ids.last()) {
        (Some(&lo), Some(&hi)) if ids.len() > 8 && hi - lo < 2 * ids.len() as i64 => (
            "BETWEEN ? AND ?".into(),
            vec![Value::Int(lo), Value::Int(hi)],
            true,
        ),
        _ => {
            // Padded to a power of two with the last id: a few statement texts, each
            // prepared once and reused, where a length each would be prepared anew.
            let n = ids.len().max(1).next_power_of_two();
            let last = ids.last().copied().unwrap_or_default();
            let padded = (ids.iter().copied()).chain(std::iter::repeat_n(last, n - ids.len()));
            (
                format!("IN ({})", placeholders(n)),
                padded.map(Value::Int).collect(),
                false,
            )
        }
    }
}

/// Splits a script into statements at `;` outside quotes and `--` comments
/// (MySQL's text protocol takes one statement at a time).
pub(crate) fn split_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = script.chars().peekable();
    let mut in_quote = false;
    while let Some(c) = chars.next() {
        if in_quote {
            cur.push(c);
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    cur.push('\'');
                    chars.next();
                } else {
                    in_quote = false;
                }
            }
            continue;
        }
        match c {
            '\'' => {
                in_quote = true;
                cur.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Cuts text to at most `max` bytes on a character boundary (column limits).
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let script = "-- a; comment\nINSERT INTO t VALUES ('O''Brien; x', 1);\n\
                      CREATE TABLE u (a INT); -- tail; here\n  ";
        let got = split_statements(script);
        assert_eq!(
            got,
            vec![
                "INSERT INTO t VALUES ('O''Brien; x', 1)".to_string(),
                "CREATE TABLE u (a INT)".to_string()
            ]
        );
    }

    #[test]
    fn dense_ids_are_a_range_and_others_a_list_padded_to_a_power_of_two() {
        let page: Vec<i64> = (100..=150).filter(|i| i % 7 != 0).collect();
        let (test, params, range) = ids_test(&page);
        assert_eq!((test.as_str(), range), ("BETWEEN ? AND ?", true));
        assert_eq!(params, [Value::Int(100), Value::Int(150)]);
        let (test, params, range) = ids_test(&[3, 90, 4000]);
        assert_eq!((test.as_str(), range), ("IN (?, ?, ?, ?)", false));
        assert_eq!(params.last(), Some(&Value::Int(4000)));
    }

    #[test]
    fn clips_on_character_boundaries() {
        assert_eq!(clip("абв", 3), "а");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn rows_read_ints_either_way_printed() {
        let mut row = Row::new(["n", "s", "z"].map(String::from).into());
        for v in [Some("3"), Some("7.0000"), None] {
            row.push(v);
        }
        assert_eq!(row.int("N"), Some(3));
        assert_eq!(row.int("s"), Some(7));
        assert_eq!(row.int("z"), None);
        assert_eq!(row.first_int(), Some(3));
        let cols: Vec<_> = row.cols().collect();
        assert_eq!(cols, [("n", Some("3")), ("s", Some("7.0000")), ("z", None)]);
    }
}
