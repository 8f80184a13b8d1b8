//! The module's own tables (three link tables, the queue, the creates in flight and the
//! notes and tasks posted), in both dialects.
//! Created when missing, dropped only on request (uninstall --purge); nothing else in the
//! database is ever created, altered or dropped.

use super::DbResult;
use super::sql::{Dialect, Driver, SqlError};
use crate::model::EntityKind;

/// One cheap statement that fails unless every table, column and index the module needs
/// exists: every reader of the queue calls `ensure_schema` when it opens the database.
/// The queue's index is named as each dialect names one to use, which fails when it is
/// missing (a table made by an older version), so the probe sees it too.
fn probe(dialect: Dialect) -> String {
    let index = match dialect {
        Dialect::Sqlite => format!("INDEXED BY {PRUNE_INDEX}"),
        Dialect::Mysql => format!("FORCE INDEX ({PRUNE_INDEX})"),
    };
    format!(
        "SELECT a.synced_at, a.fingerprint, p.synced_at, p.fingerprint, \
         i.synced_at, i.fingerprint, q.next_try, q.generation, c.since, o.posted_at, o.body \
         FROM amocrm_account2contact a, amocrm_profile2company p, amocrm_item2lead i, \
         amocrm_queue q {index}, amocrm_creating c, amocrm_posted o WHERE 1 = 0"
    )
}

/// Finished jobs by their age: the worker removes the old ones at every start, and without
/// it that is a scan of every job the queue ever kept.
const PRUNE_INDEX: &str = "idx_amocrm_queue_state_updated";

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

/// The columns of `amocrm_posted` after its id, the same in both dialects.
const POSTED_COLUMNS: &str = "post_key    VARCHAR(191) NOT NULL,
               what        VARCHAR(8) NOT NULL,
               entity_type VARCHAR(16) NOT NULL,
               entity_id   BIGINT NOT NULL,
               amocrm_id   BIGINT NULL,
               body        TEXT NOT NULL,
               due         BIGINT NOT NULL DEFAULT 0,
               owner       BIGINT NULL,
               since       BIGINT NOT NULL,
               posted_at   BIGINT NOT NULL DEFAULT 0";

/// Notes and tasks posted once: `src/db/posted.rs`.
fn posted_table(dialect: Dialect) -> String {
    let (id, keys) = match dialect {
        Dialect::Sqlite => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            ",\n               UNIQUE (post_key)\n             )",
        ),
        Dialect::Mysql => (
            "BIGINT NOT NULL AUTO_INCREMENT",
            ",\n               PRIMARY KEY (id),\n               \
             UNIQUE KEY uq_amocrm_posted_key (post_key)\n             \
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        ),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS amocrm_posted (\n               id          {id},\n               \
         {POSTED_COLUMNS}{keys}"
    )
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
            format!("CREATE INDEX IF NOT EXISTS {PRUNE_INDEX} ON amocrm_queue (state, updated_at)"),
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
               KEY idx_amocrm_queue_state_kind_id (state, kind, id),
               KEY idx_amocrm_queue_state_updated (state, updated_at)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
                .to_string(),
        ],
    }
}

/// Creates what is missing. A link table left by the official module (only `id`,
/// `billmgr_id`, `amocrm_id`) gets the two bookkeeping columns added.
pub(crate) fn ensure(d: &mut dyn Driver) -> DbResult<()> {
    let dialect = d.dialect();
    let probe = probe(dialect);
    if d.query(&probe, &[]).is_ok() {
        return Ok(());
    }
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
    if dialect == Dialect::Mysql {
        add_prune_index(d)?;
    }
    d.batch(&creating_table(dialect))?;
    d.batch(&posted_table(dialect))?;
    d.query(&probe, &[])?;
    Ok(())
}

/// Drops those of the module's tables (the links, the queue, the creates in flight) that
/// exist; returns their names.
pub(crate) fn drop_all(d: &mut dyn Driver) -> DbResult<Vec<&'static str>> {
    let tables = EntityKind::ALL.map(EntityKind::link_table);
    let mut dropped = Vec::new();
    for table in tables
        .into_iter()
        .chain(["amocrm_queue", "amocrm_creating", "amocrm_posted"])
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

/// The queue's prune index on a MySQL table made before it existed (MySQL has no
/// `CREATE INDEX IF NOT EXISTS`).
fn add_prune_index(d: &mut dyn Driver) -> DbResult<()> {
    let has = |d: &mut dyn Driver| {
        let sql = format!("SELECT id FROM amocrm_queue FORCE INDEX ({PRUNE_INDEX}) WHERE 1 = 0");
        d.query(&sql, &[]).is_ok()
    };
    if has(d) {
        return Ok(());
    }
    let sql = format!("CREATE INDEX {PRUNE_INDEX} ON amocrm_queue (state, updated_at)");
    match d.batch(&sql) {
        // Another process may have made it a moment ago.
        Err(e) if !has(d) => Err(e.into()),
        _ => Ok(()),
    }
}

fn has_column(d: &mut dyn Driver, table: &str, col: &str) -> Result<bool, SqlError> {
    Ok(d.table_columns(table)?
        .is_some_and(|cols| cols.iter().any(|c| c.eq_ignore_ascii_case(col))))
}
