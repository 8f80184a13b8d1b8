//! Reads of the panel's own tables (never written here). Every table is read with
//! `SELECT *`, so a real panel's extra columns come through and missing ones are absent.

use super::DbResult;
use super::sql::{Driver, Row, Value};
use crate::model::{EntityKind, Record};

/// The row of `table` with this id, if any.
fn by_id(d: &mut dyn Driver, table: &str, id: i64) -> DbResult<Option<Row>> {
    let sql = format!("SELECT * FROM {table} WHERE id = ?");
    Ok(d.query_table(table, &sql, &[Value::Int(id)])?
        .into_iter()
        .next())
}

/// The client's first user by id: the main contact.
fn first_user(d: &mut dyn Driver, account: i64) -> DbResult<Option<Row>> {
    let sql = "SELECT * FROM user WHERE account = ? ORDER BY id LIMIT 1";
    Ok(d.query_table("user", sql, &[Value::Int(account)])?
        .into_iter()
        .next())
}

/// Copies every non-NULL column as `table.column`.
fn add(rec: &mut Record, table: &str, row: Option<&Row>) {
    for (col, value) in row.into_iter().flat_map(|r| r.cols.iter()) {
        if let Some(v) = value {
            rec.set(format!("{table}.{col}"), v.clone());
        }
    }
}

/// `table.*` of the row `key` points to (`account.project` → `project`), when it does.
fn add_ref(d: &mut dyn Driver, rec: &mut Record, table: &str, key: &str) -> DbResult<Option<Row>> {
    let Some(id) = rec.int(key) else {
        return Ok(None);
    };
    let row = by_id(d, table, id)?;
    add(rec, table, row.as_ref());
    Ok(row)
}

pub(crate) fn account(d: &mut dyn Driver, id: i64) -> DbResult<Option<Record>> {
    let Some(row) = by_id(d, "account", id)? else {
        return Ok(None);
    };
    let mut rec = Record::default();
    add(&mut rec, "account", Some(&row));
    add_ref(d, &mut rec, "project", "account.project")?;
    let user = first_user(d, id)?;
    add(&mut rec, "user", user.as_ref());
    Ok(Some(rec))
}

pub(crate) fn profile(d: &mut dyn Driver, id: i64) -> DbResult<Option<Record>> {
    let Some(row) = by_id(d, "profile", id)? else {
        return Ok(None);
    };
    let mut rec = Record::default();
    add(&mut rec, "profile", Some(&row));
    add_ref(d, &mut rec, "account", "profile.account")?;
    Ok(Some(rec))
}

pub(crate) fn item(d: &mut dyn Driver, id: i64) -> DbResult<Option<Record>> {
    let Some(row) = by_id(d, "item", id)? else {
        return Ok(None);
    };
    let mut rec = Record::default();
    add(&mut rec, "item", Some(&row));
    add_ref(d, &mut rec, "pricelist", "item.pricelist")?;
    add_ref(d, &mut rec, "itemtype", "pricelist.itemtype")?;
    add_ref(d, &mut rec, "currency", "item.currency")?;
    let account = add_ref(d, &mut rec, "account", "item.account")?;
    // The tariff's provider; a tariff without one falls back to the client's.
    if add_ref(d, &mut rec, "project", "pricelist.project")?.is_none() {
        add_ref(d, &mut rec, "project", "account.project")?;
    }
    if let Some(account) = account.as_ref().and_then(|a| a.int("id")) {
        let user = first_user(d, account)?;
        add(&mut rec, "user", user.as_ref());
    }
    let params = d.query(
        "SELECT intname, value FROM itemparam WHERE item = ? ORDER BY id",
        &[Value::Int(id)],
    )?;
    for p in &params {
        if let (Some(name), Some(value)) = (p.get("intname"), p.get("value")) {
            rec.set(format!("itemparam.{name}"), value);
        }
    }
    Ok(Some(rec))
}

pub(crate) fn account_by_login(d: &mut dyn Driver, login: &str) -> DbResult<Option<i64>> {
    let rows = d.query(
        "SELECT account FROM user WHERE LOWER(name) = LOWER(?) ORDER BY id LIMIT 1",
        &[Value::from(login.trim())],
    )?;
    Ok(rows.first().and_then(|r| r.int("account")))
}

pub(crate) fn account_of_user(d: &mut dyn Driver, user: i64) -> DbResult<Option<i64>> {
    let rows = d.query("SELECT account FROM user WHERE id = ?", &[Value::Int(user)])?;
    Ok(rows.first().and_then(|r| r.int("account")))
}

pub(crate) fn profiles_of_account(d: &mut dyn Driver, account: i64) -> DbResult<Vec<i64>> {
    let rows = d.query(
        "SELECT id FROM profile WHERE account = ? ORDER BY id",
        &[Value::Int(account)],
    )?;
    Ok(rows.iter().filter_map(|r| r.int("id")).collect())
}

pub(crate) fn ids(
    d: &mut dyn Driver,
    kind: EntityKind,
    after: i64,
    limit: usize,
) -> DbResult<Vec<i64>> {
    let sql = format!("SELECT id FROM {kind} WHERE id > ? ORDER BY id LIMIT ?");
    let rows = d.query(&sql, &[Value::Int(after), Value::Int(limit as i64)])?;
    Ok(rows.iter().filter_map(|r| r.int("id")).collect())
}
