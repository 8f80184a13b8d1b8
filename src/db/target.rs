//! A database to open: a SQLite file or a MySQL address ([`super::discover`] finds which).

use std::path::PathBuf;

use crate::secret::Secret;

/// A database to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    /// `mysql://user:password@host:port/db`, or `…@localhost/db?socket=/path`.
    Mysql(Secret),
}

impl Target {
    /// For messages: `sqlite:/path`, `mysql://user@host:port/db` or
    /// `mysql://user@localhost/db?socket=/path` (never the password).
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            Target::Mysql(url) => super::mysql::describe_url(url),
        }
    }
}
