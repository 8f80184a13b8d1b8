//! The sample panel for the demo and tests: the panel's tables (the subset the module
//! reads, `src/db/billmgr/schema.*.sql`), the hand-written sample data (`sample.sql`) and,
//! on request, a generated panel of any size on top of it ([`generate`]).
//! Only ever created in an empty database.

mod generate;

pub use generate::Size;

use std::fmt;

use super::sql::{Dialect, Driver, Row};
use super::{DbError, DbResult, Target};

const SCHEMA_SQLITE: &str = include_str!("../billmgr/schema.sqlite.sql");
const SCHEMA_MYSQL: &str = include_str!("../billmgr/schema.mysql.sql");
const SAMPLE: &str = include_str!("../billmgr/sample.sql");

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleOptions {
    /// Also generate a panel of this size (ids above the sample's).
    pub generate: Option<Size>,
}

/// What the database holds once created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// `sqlite:/path` or `mysql://user@host:port/db`.
    pub database: String,
    pub accounts: i64,
    pub users: i64,
    pub profiles: i64,
    pub items: i64,
    pub itemparams: i64,
}

impl fmt::Display for SampleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sample panel in {}: {} clients, {} users, {} payers, {} services, {} service parameters",
            self.database, self.accounts, self.users, self.profiles, self.items, self.itemparams
        )
    }
}

/// Creates the panel's tables and loads the sample (and a generated panel, if asked).
/// Refuses a database that already has an `account` table: this never writes into a
/// real panel.
pub fn create(target: &Target, opts: &SampleOptions) -> DbResult<SampleReport> {
    if let Target::Mysql(url) = target {
        super::mysql::create_database_if_missing(url)?;
    }
    let mut driver = super::open_driver(target)?;
    let d = driver.as_mut();
    if d.table_columns("account")?.is_some() {
        return Err(DbError::Query(format!(
            "{}: this database already holds panel tables; the sample panel is created only \
             in an empty database",
            d.describe()
        )));
    }
    load(d).inspect_err(|_| d.rollback())?;
    if let Some(size) = opts.generate {
        generate::run(d, &size)?;
    }
    let count = |d: &mut dyn Driver, table: &str| -> DbResult<i64> {
        let rows = d.query(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])?;
        Ok(rows.first().and_then(Row::first_int).unwrap_or(0))
    };
    Ok(SampleReport {
        database: d.describe(),
        accounts: count(d, "account")?,
        users: count(d, "user")?,
        profiles: count(d, "profile")?,
        items: count(d, "item")?,
        itemparams: count(d, "itemparam")?,
    })
}

fn load(d: &mut dyn Driver) -> DbResult<()> {
    match d.dialect() {
        // SQLite's DDL is transactional: all or nothing.
        Dialect::Sqlite => {
            d.begin_write()?;
            d.batch(SCHEMA_SQLITE)?;
            d.batch(SAMPLE)?;
            d.commit()?;
        }
        Dialect::Mysql => {
            d.batch(SCHEMA_MYSQL)?;
            d.begin_write()?;
            d.batch(SAMPLE)?;
            d.commit()?;
        }
    }
    Ok(())
}
