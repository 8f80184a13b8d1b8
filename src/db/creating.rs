//! Creates in flight (`amocrm_creating`): a panel entity is marked, and the mark committed,
//! before its create is sent to amoCRM, and the mark goes when its link is saved. A mark
//! still there means a create may have been made whose answer never came back, so amoCRM
//! is searched before the entity is created again.

use super::DbResult;
use super::sql::{Driver, Row, Value, write_tx};
use crate::model::EntityKind;

/// Marks the entities as being created since `now`. An entity marked already keeps its
/// older mark: an earlier create may have been made then.
pub(crate) fn mark(d: &mut dyn Driver, kind: EntityKind, ids: &[i64], now: i64) -> DbResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    write_tx(d, |d| {
        for id in ids {
            let params = [Value::from(kind.as_str()), Value::Int(*id)];
            let known = d.query(
                "SELECT since FROM amocrm_creating WHERE kind = ? AND billmgr_id = ?",
                &params,
            )?;
            if known.is_empty() {
                d.execute(
                    "INSERT INTO amocrm_creating (kind, billmgr_id, since) VALUES (?, ?, ?)",
                    &[params[0].clone(), params[1].clone(), Value::Int(now)],
                )?;
            }
        }
        Ok(())
    })
}

/// Every mark of one kind: `(billmgr_id, since)`, by id.
pub(crate) fn of_kind(d: &mut dyn Driver, kind: EntityKind) -> DbResult<Vec<(i64, i64)>> {
    Ok(d.query(
        "SELECT billmgr_id, since FROM amocrm_creating WHERE kind = ? ORDER BY billmgr_id",
        &[Value::from(kind.as_str())],
    )?
    .iter()
    .filter_map(|r: &Row| Some((r.int("billmgr_id")?, r.int("since")?)))
    .collect())
}

/// Removes the marks of these entities; returns how many there were.
pub(crate) fn clear(d: &mut dyn Driver, kind: EntityKind, ids: &[i64]) -> DbResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    write_tx(d, |d| {
        let mut n = 0;
        for id in ids {
            n += clear_one(d, kind, *id)?;
        }
        Ok(n)
    })
}

/// Inside a transaction of the caller's (the link's save).
pub(crate) fn clear_one(
    d: &mut dyn Driver,
    kind: EntityKind,
    id: i64,
) -> super::sql::SqlResult<u64> {
    d.execute(
        "DELETE FROM amocrm_creating WHERE kind = ? AND billmgr_id = ?",
        &[Value::from(kind.as_str()), Value::Int(id)],
    )
}
