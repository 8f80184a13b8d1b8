//! Reads of the panel's own tables (never written here). Every table is read with
//! `SELECT *`, so a real panel's extra columns come through and missing ones are absent.

use std::collections::HashMap;

use super::DbResult;
use super::sql::{Driver, Row, Value, placeholders};
use crate::model::{EntityKind, Record};

/// Ids per statement: a batch is at most 250 entities, and every backend takes this many
/// parameters.
const IDS_PER_QUERY: usize = 500;

/// The rows of `table` whose `column` is one of `ids`, in as few statements as the ids
/// allow, ordered by `id`.
fn rows_where_in(d: &mut dyn Driver, table: &str, column: &str, ids: &[i64]) -> DbResult<Vec<Row>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT * FROM {table} WHERE {column} IN ({}) ORDER BY id",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        rows.extend(d.query_table(table, &sql, &params)?);
    }
    Ok(rows)
}

/// Rows by id.
fn by_ids(d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<HashMap<i64, Row>> {
    Ok(rows_where_in(d, table, "id", ids)?
        .into_iter()
        .filter_map(|r| Some((r.int("id")?, r)))
        .collect())
}

/// Each client's first user by id: the main contact.
fn first_users(d: &mut dyn Driver, accounts: &[i64]) -> DbResult<HashMap<i64, Row>> {
    let mut users = HashMap::new();
    for row in rows_where_in(d, "user", "account", accounts)? {
        if let Some(account) = row.int("account") {
            users.entry(account).or_insert(row);
        }
    }
    Ok(users)
}

/// The values of an integer column across rows (the ids they point to).
fn column(rows: &HashMap<i64, Row>, name: &str) -> Vec<i64> {
    rows.values().filter_map(|r| r.int(name)).collect()
}

/// Copies every non-NULL column as `table.column`.
fn add(rec: &mut Record, table: &str, row: Option<&Row>) {
    for (col, value) in row.into_iter().flat_map(|r| r.cols.iter()) {
        if let Some(v) = value {
            rec.set(format!("{table}.{col}"), v.clone());
        }
    }
}

/// Adds `table.*` of the row the record's `key` points to (`account.project` → its
/// project); whether there was one.
fn add_pointed(rec: &mut Record, table: &str, key: &str, rows: &HashMap<i64, Row>) -> bool {
    let row = rec.int(key).and_then(|id| rows.get(&id));
    add(rec, table, row);
    row.is_some()
}

/// Clients: every column of `account`, of its project and of its first user. One query
/// per table for the whole batch.
pub(crate) fn accounts(d: &mut dyn Driver, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
    let accounts = by_ids(d, "account", ids)?;
    let projects = by_ids(d, "project", &column(&accounts, "project"))?;
    let users = first_users(d, ids)?;
    Ok(accounts
        .iter()
        .map(|(id, row)| {
            let mut rec = Record::default();
            add(&mut rec, "account", Some(row));
            add_pointed(&mut rec, "project", "account.project", &projects);
            add(&mut rec, "user", users.get(id));
            (*id, rec)
        })
        .collect())
}

/// Payers: `profile.*` and their client's `account.*`.
pub(crate) fn profiles(d: &mut dyn Driver, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
    let profiles = by_ids(d, "profile", ids)?;
    let accounts = by_ids(d, "account", &column(&profiles, "account"))?;
    Ok(profiles
        .iter()
        .map(|(id, row)| {
            let mut rec = Record::default();
            add(&mut rec, "profile", Some(row));
            add_pointed(&mut rec, "account", "profile.account", &accounts);
            (*id, rec)
        })
        .collect())
}

/// What a batch of services is read from: one query per table.
struct ItemRows {
    items: HashMap<i64, Row>,
    pricelists: HashMap<i64, Row>,
    itemtypes: HashMap<i64, Row>,
    currencies: HashMap<i64, Row>,
    accounts: HashMap<i64, Row>,
    projects: HashMap<i64, Row>,
    users: HashMap<i64, Row>,
    params: Vec<Row>,
}

impl ItemRows {
    fn read(d: &mut dyn Driver, ids: &[i64]) -> DbResult<ItemRows> {
        let items = by_ids(d, "item", ids)?;
        let pricelists = by_ids(d, "pricelist", &column(&items, "pricelist"))?;
        let accounts = by_ids(d, "account", &column(&items, "account"))?;
        let mut project_ids = column(&pricelists, "project");
        project_ids.extend(column(&accounts, "project"));
        Ok(ItemRows {
            itemtypes: by_ids(d, "itemtype", &column(&pricelists, "itemtype"))?,
            currencies: by_ids(d, "currency", &column(&items, "currency"))?,
            projects: by_ids(d, "project", &project_ids)?,
            users: first_users(d, &accounts.keys().copied().collect::<Vec<_>>())?,
            params: rows_where_in(d, "itemparam", "item", ids)?,
            items,
            pricelists,
            accounts,
        })
    }

    fn record(&self, id: i64, row: &Row) -> Record {
        let mut rec = Record::default();
        add(&mut rec, "item", Some(row));
        add_pointed(&mut rec, "pricelist", "item.pricelist", &self.pricelists);
        add_pointed(&mut rec, "itemtype", "pricelist.itemtype", &self.itemtypes);
        add_pointed(&mut rec, "currency", "item.currency", &self.currencies);
        add_pointed(&mut rec, "account", "item.account", &self.accounts);
        // The tariff's provider; a tariff without one falls back to the client's.
        if !add_pointed(&mut rec, "project", "pricelist.project", &self.projects) {
            add_pointed(&mut rec, "project", "account.project", &self.projects);
        }
        if let Some(account) = rec.int("account.id") {
            add(&mut rec, "user", self.users.get(&account));
        }
        for p in self.params.iter().filter(|p| p.int("item") == Some(id)) {
            if let (Some(name), Some(value)) = (p.get("intname"), p.get("value")) {
                rec.set(format!("itemparam.{name}"), value);
            }
        }
        rec
    }
}

/// Services: `item.*`, `pricelist.*`, `itemtype.*`, `currency.*`, `account.*`,
/// `project.*`, the client's first `user.*` and every parameter as `itemparam.<intname>`.
pub(crate) fn items(d: &mut dyn Driver, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
    let rows = ItemRows::read(d, ids)?;
    Ok(rows
        .items
        .iter()
        .map(|(id, row)| (*id, rows.record(*id, row)))
        .collect())
}

/// The entities of one kind with these ids; an id the panel no longer has is missing.
pub(crate) fn read(
    d: &mut dyn Driver,
    kind: EntityKind,
    ids: &[i64],
) -> DbResult<HashMap<i64, Record>> {
    match kind {
        EntityKind::Account => accounts(d, ids),
        EntityKind::Profile => profiles(d, ids),
        EntityKind::Item => items(d, ids),
    }
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
    Ok(profiles_of_accounts(d, &[account])?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// `(client, payer)` of these clients' payers, oldest payer first.
pub(crate) fn profiles_of_accounts(
    d: &mut dyn Driver,
    accounts: &[i64],
) -> DbResult<Vec<(i64, i64)>> {
    owned_by(d, "profile", accounts)
}

/// `(client, service)` of these clients' services, oldest service first.
pub(crate) fn items_of_accounts(d: &mut dyn Driver, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>> {
    owned_by(d, "item", accounts)
}

/// `(account, id)` of the rows of a table these clients own, by id.
fn owned_by(d: &mut dyn Driver, table: &str, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>> {
    let mut pairs = Vec::new();
    for chunk in accounts.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT id, account FROM {table} WHERE account IN ({}) ORDER BY id",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        let rows = d.query(&sql, &params)?;
        pairs.extend(
            rows.iter()
                .filter_map(|r| Some((r.int("account")?, r.int("id")?))),
        );
    }
    pairs.sort_by_key(|(_, id)| *id);
    Ok(pairs)
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
