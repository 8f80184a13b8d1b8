//! The module's own tables (three link tables, the queue and the creates in flight), in
//! both dialects.
//! Created when missing, dropped only on request (uninstall --purge); nothing else in the
//! database is ever created, altered or dropped.

use super::DbResult;
use super::sql::{Dialect, Driver, SqlError};
use crate::model::EntityKind;

/// One cheap statement that fails unless every table and column the module needs exists:
/// the panel hook calls `ensure_schema` on every event.
const PROBE: &str = "SELECT a.synced_at, a.fingerprint, p.synced_at, p.fingerprint, \
     i.synced_at, i.fingerprint, q.next_try, q.generation, c.since \
     FROM amocrm_account2contact a, amocrm_profile2company p, amocrm_item2lead i, amocrm_queue q, \
     amocrm_creating c WHERE 1 = 0";

/// Creates in flight: one row per panel entity whose create may have reached amoCRM.
fn creating_table(dialect: Dialect) -> String {
    let mut sql = "CREATE TABLE IF NOT EXISTS amocrm_creating (
               kind        VARCHAR(16) NOT NULL,
               billmgr_id  BIGINT NOT NULL,
               since       BIGINT NOT NULL,
               PRIMARY KEY (kind, billmgr_id)
             )"
    .to_string();
    if dialect == Dialect::Mysql {
        sql.push_str(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    }
    sql
}

fn link_table(dialect: Dialect, table: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
               id          INTEGER PRIMARY KEY AUTOINCREMENT,
               billmgr_id  INTEGER NOT NULL UNIQUE,
               amocrm_id   INTEGER NOT NULL,
               synced_at   BIGINT NOT NULL DEFAULT 0,
               fingerprint VARCHAR(64) NOT NULL DEFAULT ''
             )"
        ),
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {table} (
               id          BIGINT NOT NULL AUTO_INCREMENT,
               billmgr_id  BIGINT NOT NULL,
               amocrm_id   BIGINT NOT NULL,
               synced_at   BIGINT NOT NULL DEFAULT 0,
               fingerprint VARCHAR(64) NOT NULL DEFAULT '',
               PRIMARY KEY (id),
               UNIQUE KEY uq_{table}_billmgr_id (billmgr_id),
               KEY idx_{table}_amocrm_id (amocrm_id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        ),
    }
}

fn queue_table(dialect: Dialect) -> Vec<String> {
    match dialect {
        Dialect::Sqlite => vec![
            "CREATE TABLE IF NOT EXISTS amocrm_queue (
               id          INTEGER PRIMARY KEY AUTOINCREMENT,
               job_key     VARCHAR(191) NOT NULL UNIQUE,
               kind        VARCHAR(16) NOT NULL,
               billmgr_id  BIGINT NULL,
               lookup      TEXT NULL,
               event       VARCHAR(128) NOT NULL,
               state       VARCHAR(16) NOT NULL DEFAULT 'pending',
               generation  BIGINT NOT NULL DEFAULT 1,
               attempts    INTEGER NOT NULL DEFAULT 0,
               next_try    BIGINT NOT NULL DEFAULT 0,
               last_error  TEXT NULL,
               created_at  BIGINT NOT NULL,
               updated_at  BIGINT NOT NULL
             )"
            .to_string(),
            "CREATE INDEX IF NOT EXISTS idx_amocrm_queue_state_next_try \
             ON amocrm_queue (state, next_try)"
                .to_string(),
            // The claim reads one kind at a time in id order.
            "CREATE INDEX IF NOT EXISTS idx_amocrm_queue_state_kind_id \
             ON amocrm_queue (state, kind, id)"
                .to_string(),
        ],
        Dialect::Mysql => vec![
            "CREATE TABLE IF NOT EXISTS amocrm_queue (
               id          BIGINT NOT NULL AUTO_INCREMENT,
               job_key     VARCHAR(191) NOT NULL,
               kind        VARCHAR(16) NOT NULL,
               billmgr_id  BIGINT NULL,
               lookup      TEXT NULL,
               event       VARCHAR(128) NOT NULL,
               state       VARCHAR(16) NOT NULL DEFAULT 'pending',
               generation  BIGINT NOT NULL DEFAULT 1,
               attempts    INT NOT NULL DEFAULT 0,
               next_try    BIGINT NOT NULL DEFAULT 0,
               last_error  TEXT NULL,
               created_at  BIGINT NOT NULL,
               updated_at  BIGINT NOT NULL,
               PRIMARY KEY (id),
               UNIQUE KEY uq_amocrm_queue_job_key (job_key),
               KEY idx_amocrm_queue_state_next_try (state, next_try),
               KEY idx_amocrm_queue_state_kind_id (state, kind, id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                .to_string(),
        ],
    }
}

/// Creates what is missing. A link table left by the official module (only `id`,
/// `billmgr_id`, `amocrm_id`) gets the two bookkeeping columns added.
pub(crate) fn ensure(d: &mut dyn Driver) -> DbResult<()> {
    if d.query(PROBE, &[]).is_ok() {
        return Ok(());
    }
    let dialect = d.dialect();
    for kind in EntityKind::ALL {
        let table = kind.link_table();
        d.batch(&link_table(dialect, table))?;
        add_missing_columns(d, table)?;
        if dialect == Dialect::Sqlite {
            // Finding which client a contact already belongs to (duplicate matching).
            d.batch(&format!(
                "CREATE INDEX IF NOT EXISTS idx_{table}_amocrm_id ON {table} (amocrm_id)"
            ))?;
        }
    }
    for stmt in queue_table(dialect) {
        d.batch(&stmt)?;
    }
    d.batch(&creating_table(dialect))?;
    d.query(PROBE, &[])?;
    Ok(())
}

/// Drops those of the module's tables (the links, the queue, the creates in flight) that
/// exist; returns their names.
pub(crate) fn drop_all(d: &mut dyn Driver) -> DbResult<Vec<&'static str>> {
    let tables = EntityKind::ALL.map(EntityKind::link_table);
    let mut dropped = Vec::new();
    for table in tables
        .into_iter()
        .chain(["amocrm_queue", "amocrm_creating"])
    {
        if d.table_columns(table)?.is_some() {
            d.batch(&format!("DROP TABLE {table}"))?;
            dropped.push(table);
        }
    }
    Ok(dropped)
}

fn add_missing_columns(d: &mut dyn Driver, table: &str) -> DbResult<()> {
    let wanted = [
        ("synced_at", "BIGINT NOT NULL DEFAULT 0"),
        ("fingerprint", "VARCHAR(64) NOT NULL DEFAULT ''"),
    ];
    for (col, ty) in wanted {
        if has_column(d, table, col)? {
            continue;
        }
        let sql = format!("ALTER TABLE {table} ADD COLUMN {col} {ty}");
        if let Err(e) = d.batch(&sql) {
            // Another process may have added it a moment ago.
            if !has_column(d, table, col)? {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

fn has_column(d: &mut dyn Driver, table: &str, col: &str) -> Result<bool, SqlError> {
    Ok(d.table_columns(table)?
        .is_some_and(|cols| cols.iter().any(|c| c.eq_ignore_ascii_case(col))))
}
