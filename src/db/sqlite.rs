//! The embedded backend: one SQLite file shared by up to 20 panel handler processes and
//! the worker, so every connection waits for the lock instead of failing, and every write
//! transaction takes the write lock up front (`BEGIN IMMEDIATE`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode};

use super::sql::{Dialect, Driver, Row, SqlError, SqlResult, Value};
use super::{DbError, DbResult};

/// Long enough for a burst of handlers and a worker batch to take turns.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct SqliteDriver {
    conn: Connection,
    path: PathBuf,
    /// Per panel table: the decimal places of its DECIMAL(p,s) columns.
    scales: HashMap<String, HashMap<String, usize>>,
}

impl SqliteDriver {
    pub fn open(path: &Path) -> DbResult<SqliteDriver> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            DbError::Open(format!(
                "sqlite:{}: {what}: {e}; check that the directory exists and is writable",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("cannot create its directory", &e))?;
        }
        let conn = Connection::open(path).map_err(|e| fail("cannot open", &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| fail("cannot set the busy timeout", &e))?;
        // Switching to WAL needs a moment of exclusive access and does not always go
        // through the busy handler, so a crowd of first openers retries it.
        let mut tries = 0;
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(fail("cannot switch to WAL journal", &e)),
            }
        }
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| fail("cannot enable foreign keys", &e))?;
        Ok(SqliteDriver {
            conn,
            path: path.to_path_buf(),
            scales: HashMap::new(),
        })
    }

    fn scales_of(&mut self, table: &str) -> SqlResult<&HashMap<String, usize>> {
        if !self.scales.contains_key(table) {
            let mut scales = HashMap::new();
            let sql = format!("PRAGMA table_info(\"{table}\")");
            let mut stmt = self.conn.prepare(&sql).map_err(|e| err(e, &sql))?;
            let mut rows = stmt.query([]).map_err(|e| err(e, &sql))?;
            while let Some(r) = rows.next().map_err(|e| err(e, &sql))? {
                let name: String = r.get(1).map_err(|e| err(e, &sql))?;
                let decl: Option<String> = r.get(2).map_err(|e| err(e, &sql))?;
                if let Some(scale) = decl.as_deref().and_then(decimal_scale) {
                    scales.insert(name.to_ascii_lowercase(), scale);
                }
            }
            self.scales.insert(table.to_string(), scales);
        }
        Ok(&self.scales[table])
    }

    fn run_query(
        &mut self,
        sql: &str,
        params: &[Value],
        scales: Option<&HashMap<String, usize>>,
    ) -> SqlResult<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| err(e, sql))?;
        let names: std::sync::Arc<[String]> =
            stmt.column_names().iter().map(|s| s.to_string()).collect();
        let places: Vec<Option<usize>> = names
            .iter()
            .map(|n| scales.and_then(|s| s.get(&n.to_ascii_lowercase()).copied()))
            .collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(|e| err(e, sql))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(|e| err(e, sql))? {
            let mut row = Row::new(names.clone());
            for (i, place) in places.iter().enumerate() {
                let v = r.get_ref(i).map_err(|e| err(e, sql))?;
                push_text(&mut row, v, *place);
            }
            out.push(row);
        }
        Ok(out)
    }
}

impl Driver for SqliteDriver {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> SqlResult<u64> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| err(e, sql))?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(|e| err(e, sql))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> SqlResult<Vec<Row>> {
        self.run_query(sql, params, None)
    }

    fn query_table(&mut self, table: &str, sql: &str, params: &[Value]) -> SqlResult<Vec<Row>> {
        let scales = self.scales_of(table)?.clone();
        self.run_query(sql, params, Some(&scales))
    }

    fn batch(&mut self, script: &str) -> SqlResult<()> {
        self.conn.execute_batch(script).map_err(|e| err(e, script))
    }

    fn begin_write(&mut self) -> SqlResult<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| err(e, "BEGIN IMMEDIATE"))
    }

    fn commit(&mut self) -> SqlResult<()> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| err(e, "COMMIT"))
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn table_columns(&mut self, table: &str) -> SqlResult<Option<Vec<String>>> {
        let rows = self.query(&format!("PRAGMA table_info(\"{table}\")"), &[])?;
        let cols: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get("name").map(str::to_string))
            .collect();
        Ok(if cols.is_empty() { None } else { Some(cols) })
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

/// A stored value as the panel prints it; a DECIMAL(p,s) column keeps its `s` places,
/// since SQLite stores `590.00` as the integer 590.
fn push_text(row: &mut Row, v: ValueRef<'_>, places: Option<usize>) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    match v {
        ValueRef::Null => row.push(None),
        // itoa: a sweep prints millions of integers, and `write!` is several times slower.
        ValueRef::Integer(i) => row.push_with(|t| {
            t.push_str(itoa::Buffer::new().format(i));
            if let Some(p @ 1..) = places {
                t.push('.');
                t.extend(std::iter::repeat_n('0', p));
            }
        }),
        ValueRef::Real(f) => row.push_with(|t| {
            let _ = match places {
                Some(p) => write!(t, "{f:.p$}"),
                None => write!(t, "{f}"),
            };
        }),
        ValueRef::Text(b) | ValueRef::Blob(b) => row.push(Some(&String::from_utf8_lossy(b))),
    }
}

/// `DECIMAL(12,2)` / `NUMERIC(10, 3)` → the places after the point.
fn decimal_scale(decl: &str) -> Option<usize> {
    let d = decl.trim().to_ascii_uppercase();
    if !(d.starts_with("DECIMAL") || d.starts_with("NUMERIC")) {
        return None;
    }
    let inner = d.split_once('(')?.1.split_once(')')?.0;
    let (_, scale) = inner.split_once(',')?;
    scale.trim().parse().ok()
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn err(e: rusqlite::Error, sql: &str) -> SqlError {
    let head: String = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
    SqlError {
        transient: is_busy(&e),
        message: format!("sqlite: {e} (in `{head} …`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(v: ValueRef<'_>, places: Option<usize>) -> Option<String> {
        let mut row = Row::new(["v".to_string()].into());
        push_text(&mut row, v, places);
        row.get("v").map(str::to_string)
    }

    #[test]
    fn decimal_columns_keep_their_places() {
        assert_eq!(decimal_scale("DECIMAL(12,2)"), Some(2));
        assert_eq!(decimal_scale("numeric(10, 3)"), Some(3));
        assert_eq!(decimal_scale("INTEGER"), None);
        assert_eq!(
            text_of(ValueRef::Integer(590), Some(2)).as_deref(),
            Some("590.00")
        );
        assert_eq!(
            text_of(ValueRef::Real(9.99), Some(2)).as_deref(),
            Some("9.99")
        );
        assert_eq!(text_of(ValueRef::Integer(12), None).as_deref(), Some("12"));
        assert_eq!(text_of(ValueRef::Null, None), None);
    }

    #[test]
    fn opens_in_wal_and_creates_the_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("var/sub/amocrm.db");
        let mut d = SqliteDriver::open(&path).expect("open");
        assert!(path.exists());
        let mode = d.query("PRAGMA journal_mode", &[]).expect("pragma");
        assert_eq!(mode[0].get("journal_mode"), Some("wal"));
        let fk = d.query("PRAGMA foreign_keys", &[]).expect("pragma");
        assert_eq!(fk[0].first_int(), Some(1));
        assert_eq!(d.table_columns("nothing").expect("columns"), None);
        assert!(d.describe().starts_with("sqlite:"));
    }
}
