//! A database to open, as the settings resolve it ([`super::discover`]).

use std::path::PathBuf;

use super::DbResult;
use crate::config::DatabaseSettings;
use crate::paths::Paths;
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

/// The database the settings name (see [`super::discover::resolve`] for the order).
pub fn target(settings: &DatabaseSettings, paths: &Paths) -> DbResult<Target> {
    super::discover::resolve(settings, paths).map(|r| r.target)
}
