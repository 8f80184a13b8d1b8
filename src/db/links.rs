//! The link tables (`amocrm_account2contact`, `amocrm_profile2company`, `amocrm_item2lead`):
//! which amoCRM entity a panel entity became, when it was last synced and what was sent.

use std::collections::HashMap;

use super::sql::{Driver, Row, SqlResult, Value, ids_test, write_tx};
use super::{DbResult, Link};
use crate::model::EntityKind;

fn link_of(r: &Row) -> Option<Link> {
    Some(Link {
        id: r.int("id")?,
        billmgr_id: r.int("billmgr_id")?,
        amocrm_id: r.int("amocrm_id")?,
        synced_at: r.int("synced_at").unwrap_or(0),
        fingerprint: r.get("fingerprint").unwrap_or_default().to_string(),
    })
}

pub(crate) fn get(d: &mut dyn Driver, kind: EntityKind, billmgr_id: i64) -> DbResult<Option<Link>> {
    let sql = format!(
        "SELECT id, billmgr_id, amocrm_id, synced_at, fingerprint FROM {} \
         WHERE billmgr_id = ? ORDER BY id LIMIT 1",
        kind.link_table()
    );
    Ok(d.query(&sql, &[Value::Int(billmgr_id)])?
        .iter()
        .find_map(link_of))
}

/// The links of these panel entities (the first row of each, as [`get`] reads it), in as
/// few statements as the ids allow.
pub(crate) fn of_ids(
    d: &mut dyn Driver,
    kind: EntityKind,
    ids: &[i64],
) -> DbResult<HashMap<i64, Link>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut links = HashMap::new();
    for chunk in ids.chunks(500) {
        let (test, params, _) = ids_test(chunk);
        let sql = format!(
            "SELECT id, billmgr_id, amocrm_id, synced_at, fingerprint FROM {} \
             WHERE billmgr_id {test} ORDER BY id",
            kind.link_table(),
        );
        let rows = d.query(&sql, &params)?;
        for link in rows.iter().filter_map(link_of) {
            if chunk.binary_search(&link.billmgr_id).is_ok() {
                links.entry(link.billmgr_id).or_insert(link);
            }
        }
    }
    Ok(links)
}

/// Update-or-insert by `billmgr_id`, read first rather than relying on a unique index,
/// since a link table left by the official module may not have one. The entity's create
/// mark goes in the same transaction (the caller's): linked, it is no longer in flight.
pub(crate) fn save(
    d: &mut dyn Driver,
    kind: EntityKind,
    billmgr_id: i64,
    amocrm_id: i64,
    fingerprint: &str,
    now: i64,
) -> SqlResult<()> {
    let table = kind.link_table();
    let lock = match d.dialect() {
        super::sql::Dialect::Mysql => " FOR UPDATE",
        super::sql::Dialect::Sqlite => "",
    };
    let find = format!("SELECT id FROM {table} WHERE billmgr_id = ? ORDER BY id LIMIT 1{lock}");
    let update =
        format!("UPDATE {table} SET amocrm_id = ?, synced_at = ?, fingerprint = ? WHERE id = ?");
    let insert = format!(
        "INSERT INTO {table} (billmgr_id, amocrm_id, synced_at, fingerprint) VALUES (?, ?, ?, ?)"
    );
    let existing = d
        .query(&find, &[Value::Int(billmgr_id)])?
        .first()
        .and_then(|r| r.int("id"));
    let values = [
        Value::Int(amocrm_id),
        Value::Int(now),
        Value::from(fingerprint),
    ];
    match existing {
        Some(id) => d.execute(&update, &[values.as_slice(), &[Value::Int(id)]].concat())?,
        None => d.execute(
            &insert,
            &[&[Value::Int(billmgr_id)], values.as_slice()].concat(),
        )?,
    };
    super::creating::clear_one(d, kind, billmgr_id)?;
    Ok(())
}

pub(crate) fn page(
    d: &mut dyn Driver,
    kind: EntityKind,
    after: i64,
    limit: usize,
) -> DbResult<Vec<Link>> {
    let sql = format!(
        "SELECT id, billmgr_id, amocrm_id, synced_at, fingerprint FROM {} \
         WHERE billmgr_id > ? ORDER BY billmgr_id LIMIT ?",
        kind.link_table()
    );
    Ok(
        d.query(&sql, &[Value::Int(after), Value::Int(limit as i64)])?
            .iter()
            .filter_map(link_of)
            .collect(),
    )
}

/// The panel entity an amoCRM entity is already linked to, if any.
pub(crate) fn billmgr_of(
    d: &mut dyn Driver,
    kind: EntityKind,
    amocrm_id: i64,
) -> DbResult<Option<i64>> {
    let sql = format!(
        "SELECT billmgr_id FROM {} WHERE amocrm_id = ? ORDER BY id LIMIT 1",
        kind.link_table()
    );
    Ok(d.query(&sql, &[Value::Int(amocrm_id)])?
        .first()
        .and_then(Row::first_int))
}

pub(crate) fn count(d: &mut dyn Driver, kind: EntityKind) -> DbResult<i64> {
    let sql = format!("SELECT COUNT(*) AS n FROM {}", kind.link_table());
    Ok(d.query(&sql, &[])?
        .first()
        .and_then(Row::first_int)
        .unwrap_or(0))
}

/// Links ordered by `billmgr_id`, a page at `offset`.
pub(crate) fn page_at(
    d: &mut dyn Driver,
    kind: EntityKind,
    offset: usize,
    limit: usize,
) -> DbResult<Vec<Link>> {
    let sql = format!(
        "SELECT id, billmgr_id, amocrm_id, synced_at, fingerprint FROM {} \
         ORDER BY billmgr_id LIMIT ? OFFSET ?",
        kind.link_table()
    );
    Ok(
        d.query(&sql, &[Value::Int(limit as i64), Value::Int(offset as i64)])?
            .iter()
            .filter_map(link_of)
            .collect(),
    )
}

/// Removes the link of a panel entity; the amoCRM entity itself is untouched.
pub(crate) fn remove(d: &mut dyn Driver, kind: EntityKind, billmgr_id: i64) -> DbResult<u64> {
    let sql = format!("DELETE FROM {} WHERE billmgr_id = ?", kind.link_table());
    write_tx(d, |d| d.execute(&sql, &[Value::Int(billmgr_id)]))
}
