//! The panel's own backend: MySQL/MariaDB through `mysql::Conn`, utf8mb4, with timeouts
//! so a stuck server fails a call instead of hanging a panel handler.

use std::time::Duration;

use mysql::consts::ColumnType;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Params};

use super::sql::{Dialect, Driver, Row, SqlError, SqlResult, Value, split_statements};
use super::{DbError, DbResult};
use crate::secret::Secret;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Generous: a claim waits on row locks, a sample load sends big batches.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// InnoDB's "Deadlock found" and "Lock wait timeout exceeded": retry the transaction.
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_BAD_DB_ERROR: u16 = 1049;

pub(crate) struct MysqlDriver {
    conn: Conn,
    shown: String,
    password: Option<String>,
}

/// What the url says, parsed; the password only travels inside `opts`.
struct Parsed {
    opts: Opts,
    shown: String,
    password: Option<String>,
}

fn parse(url: &Secret) -> DbResult<Parsed> {
    // The parser's own messages may quote the url, so they are not passed on.
    let opts = Opts::from_url(url.expose()).map_err(|_| {
        DbError::Open(
            "the database url is not a valid mysql://user:password@host:port/db address; \
             check [database] url in amocrm.conf"
                .to_string(),
        )
    })?;
    let shown = shown(&opts);
    let password = opts
        .get_pass()
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    Ok(Parsed {
        opts,
        shown,
        password,
    })
}

/// `mysql://user@host:port/db`, or `mysql://user@host/db?socket=/path` over a unix
/// socket: how the database is named in messages.
fn shown(opts: &Opts) -> String {
    let (user, db) = (
        opts.get_user().unwrap_or(""),
        opts.get_db_name().unwrap_or(""),
    );
    let host = opts.get_ip_or_hostname();
    match opts.get_socket() {
        Some(socket) => format!("mysql://{user}@{host}/{db}?socket={socket}"),
        None => format!("mysql://{user}@{host}:{}/{db}", opts.get_tcp_port()),
    }
}

/// The url as shown in messages, or a placeholder if it does not parse.
pub(crate) fn describe_url(url: &Secret) -> String {
    parse(url)
        .map(|p| p.shown)
        .unwrap_or_else(|_| "mysql://(invalid url)".to_string())
}

fn connect(opts: Opts, with_db: bool) -> Result<Conn, mysql::Error> {
    let mut b = OptsBuilder::from_opts(opts)
        .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT))
        .init(vec!["SET NAMES utf8mb4"]);
    if !with_db {
        b = b.db_name(None::<String>);
    }
    Conn::new(b)
}

impl MysqlDriver {
    pub fn open(url: &Secret) -> DbResult<MysqlDriver> {
        let p = parse(url)?;
        let conn = connect(p.opts, true).map_err(|e| {
            DbError::Open(format!(
                "{}: {}; check that the server runs and that the user, password and database \
                 of the settings are right (`amocrm status` says where they were read)",
                p.shown,
                scrub(&e.to_string(), p.password.as_deref())
            ))
        })?;
        Ok(MysqlDriver {
            conn,
            shown: p.shown,
            password: p.password,
        })
    }

    fn fail(&self, e: mysql::Error, sql: &str) -> SqlError {
        let transient = matches!(&e, mysql::Error::MySqlError(m)
            if m.code == ER_LOCK_DEADLOCK || m.code == ER_LOCK_WAIT_TIMEOUT);
        let head: String = sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        SqlError {
            transient,
            message: format!(
                "{}: {} (in `{head} …`)",
                self.shown,
                scrub(&e.to_string(), self.password.as_deref())
            ),
        }
    }
}

/// Creates the url's database (utf8mb4) when the server says it does not exist; for the
/// sample panel only, never for a configured panel database.
pub(crate) fn create_database_if_missing(url: &Secret) -> DbResult<()> {
    let p = parse(url)?;
    let db = p.opts.get_db_name().unwrap_or("").to_string();
    match connect(p.opts.clone(), true) {
        Ok(_) => return Ok(()),
        Err(mysql::Error::MySqlError(m)) if m.code == ER_BAD_DB_ERROR => {}
        Err(e) => {
            return Err(DbError::Open(format!(
                "{}: {}",
                p.shown,
                scrub(&e.to_string(), p.password.as_deref())
            )));
        }
    }
    if db.is_empty()
        || !db
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    {
        return Err(DbError::Open(format!(
            "{}: the database name must be letters, digits and _ to be created here",
            p.shown
        )));
    }
    let mut conn = connect(p.opts, false).map_err(|e| {
        DbError::Open(format!(
            "{}: {}",
            p.shown,
            scrub(&e.to_string(), p.password.as_deref())
        ))
    })?;
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4"
    ))
    .map_err(|e| {
        DbError::Query(format!(
            "{}: cannot create the database: {}",
            p.shown,
            scrub(&e.to_string(), p.password.as_deref())
        ))
    })
}

/// Never lets the password through, whatever a server or driver message quotes.
fn scrub(msg: &str, password: Option<&str>) -> String {
    match password {
        Some(p) if !p.is_empty() => msg.replace(p, "***"),
        _ => msg.to_string(),
    }
}

fn params(values: &[Value]) -> Params {
    if values.is_empty() {
        return Params::Empty;
    }
    Params::Positional(
        values
            .iter()
            .map(|v| match v {
                Value::Null => mysql::Value::NULL,
                Value::Int(i) => mysql::Value::Int(*i),
                Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
            })
            .collect(),
    )
}

/// A value as the server prints it, written at the end of `t`: dates by the column's type,
/// decimals as sent. Written in place: a sweep prints millions, and a string each costs.
fn write_text(t: &mut String, v: &mysql::Value, ty: ColumnType) {
    use mysql::Value as V;
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = match v {
        V::NULL => Ok(()),
        V::Bytes(b) => {
            t.push_str(&String::from_utf8_lossy(b));
            Ok(())
        }
        V::Int(i) => {
            t.push_str(itoa::Buffer::new().format(*i));
            Ok(())
        }
        V::UInt(u) => {
            t.push_str(itoa::Buffer::new().format(*u));
            Ok(())
        }
        V::Float(f) => write!(t, "{f}"),
        V::Double(f) => write!(t, "{f}"),
        V::Date(y, mo, d, h, mi, s, us) => {
            let is_date = matches!(
                ty,
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE
            );
            if is_date {
                write!(t, "{y:04}-{mo:02}-{d:02}")
            } else if *us > 0 {
                write!(t, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            } else {
                write!(t, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        V::Time(neg, d, h, mi, s, _) => {
            let hours = u64::from(*d) * 24 + u64::from(*h);
            write!(
                t,
                "{}{hours:02}:{mi:02}:{s:02}",
                if *neg { "-" } else { "" }
            )
        }
    };
}

/// A statement's rows, converted as they arrive: one copy of them in memory, not two.
fn read_rows(conn: &mut Conn, sql: &str, values: &[Value]) -> Result<Vec<Row>, mysql::Error> {
    let mut names: Option<std::sync::Arc<[String]>> = None;
    let mut rows = Vec::new();
    for r in conn.exec_iter(sql, params(values))? {
        let r = r?;
        let columns = r.columns();
        // The rows of one statement share its columns' names.
        let names = names
            .get_or_insert_with(|| columns.iter().map(|c| c.name_str().into_owned()).collect());
        rows.push(row_of(names, &columns, r.unwrap()));
    }
    Ok(rows)
}

/// A server's row as text, in one buffer.
fn row_of(
    names: &std::sync::Arc<[String]>,
    columns: &[mysql::Column],
    values: Vec<mysql::Value>,
) -> Row {
    let mut row = Row::new(names.clone());
    for (c, v) in columns.iter().zip(&values) {
        match v {
            mysql::Value::NULL => row.push(None),
            v => row.push_with(|t| write_text(t, v, c.column_type())),
        }
    }
    row
}

impl Driver for MysqlDriver {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> SqlResult<u64> {
        match self.conn.exec_drop(sql, params(values)) {
            Ok(()) => Ok(self.conn.affected_rows()),
            Err(e) => Err(self.fail(e, sql)),
        }
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> SqlResult<Vec<Row>> {
        read_rows(&mut self.conn, sql, values).map_err(|e| self.fail(e, sql))
    }

    fn query_table(&mut self, _table: &str, sql: &str, values: &[Value]) -> SqlResult<Vec<Row>> {
        self.query(sql, values)
    }

    fn batch(&mut self, script: &str) -> SqlResult<()> {
        for stmt in split_statements(script) {
            if let Err(e) = self.conn.query_drop(&stmt) {
                return Err(self.fail(e, &stmt));
            }
        }
        Ok(())
    }

    fn begin_write(&mut self) -> SqlResult<()> {
        self.conn
            .query_drop("START TRANSACTION")
            .map_err(|e| self.fail(e, "START TRANSACTION"))
    }

    fn commit(&mut self) -> SqlResult<()> {
        self.conn
            .query_drop("COMMIT")
            .map_err(|e| self.fail(e, "COMMIT"))
    }

    fn rollback(&mut self) {
        let _ = self.conn.query_drop("ROLLBACK");
    }

    fn table_columns(&mut self, table: &str) -> SqlResult<Option<Vec<String>>> {
        let rows = self.query(
            "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            &[Value::from(table)],
        )?;
        let cols: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get("name").map(str::to_string))
            .collect();
        Ok(if cols.is_empty() { None } else { Some(cols) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_database_without_the_password() {
        let url = Secret::new("mysql://billing:s3cr%40t@db.example:3307/billmgr");
        assert_eq!(
            describe_url(&url),
            "mysql://billing@db.example:3307/billmgr"
        );
        let p = parse(&url).expect("parses");
        assert_eq!(p.password.as_deref(), Some("s3cr@t"));
        let socket = Secret::new("mysql://root:s3cr%40t@localhost/billmgr?socket=%2Frun%2Fmy.sock");
        assert_eq!(
            describe_url(&socket),
            "mysql://root@localhost/billmgr?socket=/run/my.sock"
        );
        assert_eq!(scrub("denied for s3cr@t", Some("s3cr@t")), "denied for ***");
    }

    #[test]
    fn a_bad_url_is_refused_without_quoting_it() {
        let e = parse(&Secret::new("postgres://u:hunter2@h/db"))
            .err()
            .expect("refused");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("[database] url"), "{e}");
    }

    fn text_of(v: mysql::Value, ty: ColumnType) -> Option<String> {
        let mut row = Row::new(["v".to_string()].into());
        match v {
            mysql::Value::NULL => row.push(None),
            v => row.push_with(|t| write_text(t, &v, ty)),
        }
        row.get("v").map(str::to_string)
    }

    #[test]
    fn dates_print_by_column_type() {
        let d = mysql::Value::Date(2025, 7, 14, 0, 0, 0, 0);
        assert_eq!(
            text_of(d.clone(), ColumnType::MYSQL_TYPE_DATE).as_deref(),
            Some("2025-07-14")
        );
        assert_eq!(
            text_of(d, ColumnType::MYSQL_TYPE_DATETIME).as_deref(),
            Some("2025-07-14 00:00:00")
        );
        let b = mysql::Value::Bytes(b"590.00".to_vec());
        assert_eq!(
            text_of(b, ColumnType::MYSQL_TYPE_NEWDECIMAL).as_deref(),
            Some("590.00")
        );
        assert_eq!(
            text_of(mysql::Value::NULL, ColumnType::MYSQL_TYPE_LONG),
            None
        );
    }
}
