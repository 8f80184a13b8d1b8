//! The panel's database: MySQL/MariaDB on a panel, SQLite as the embedded default.
//!
//! One small interface ([`PanelDb`]) over both backends. It reads the panel's entities,
//! and owns only the module's tables (the three link tables, the queue and the creates in
//! flight), created on first use; it never alters the panel's own tables.
//!
//! Hands out [`target`] (which database the settings name; [`discover`] says where they
//! were found), [`open`] (a [`PanelDb`] on it) and [`sample`] (the sample panel for the demo and tests). Inside: `sql` is what each
//! driver (`sqlite`, `mysql`) provides, and the queue, links, entity reads and the
//! module's schema are written once over it (`backend`).

mod backend;
mod by_id;
mod creating;
pub mod discover;
mod entities;
mod error;
mod kept;
mod links;
mod money;
mod mysql;
mod panel_db;
mod payments;
mod posted;
mod queue;
mod records;
pub mod sample;
mod schema;
pub mod spool;
mod sql;
mod sqlite;
mod target;

pub use discover::target;
pub use entities::{EntityRows, Pick, Wanted};
pub use error::{DbError, DbResult};
pub use kept::Kept;
pub use panel_db::PanelDb;
pub use posted::{NewPost, PostKind, Posted};
pub use records::{Job, JobInfo, Link, Lookup, NewJob, Outcome, QueueSummary, Write};
pub use target::Target;

/// Opens the panel database the target names. Call [`PanelDb::ensure_schema`] before
/// using the module's tables.
pub fn open(target: &Target) -> DbResult<Box<dyn PanelDb>> {
    Ok(Box::new(backend::Database::new(open_driver(target)?)))
}

/// The panel database the settings name, with the module's tables in place and the panel
/// hook's spooled jobs moved into the queue: how every reader of the queue opens it.
pub fn open_panel(
    settings: &crate::config::DatabaseSettings,
    paths: &crate::paths::Paths,
) -> DbResult<Box<dyn PanelDb>> {
    let mut db = open(&target(settings, paths)?)?;
    db.ensure_schema()?;
    spool::fold(paths, db.as_mut())?;
    Ok(db)
}

/// A second connection to the panel database the settings name, for reads beside the
/// first (the module's tables are in place: the first opened them).
pub fn open_reader(
    settings: &crate::config::DatabaseSettings,
    paths: &crate::paths::Paths,
) -> DbResult<Box<dyn PanelDb>> {
    open(&target(settings, paths)?)
}

/// Drops the module's own tables (links, queue, creates in flight, posts) where they exist, and returns the
/// names of those dropped. The panel's tables are never touched.
pub fn drop_module_tables(target: &Target) -> DbResult<Vec<&'static str>> {
    schema::drop_all(open_driver(target)?.as_mut())
}

fn open_driver(target: &Target) -> DbResult<Box<dyn sql::Driver>> {
    Ok(match target {
        Target::Sqlite(path) => Box::new(sqlite::SqliteDriver::open(path)?),
        Target::Mysql(url) => Box::new(mysql::MysqlDriver::open(url)?),
    })
}
