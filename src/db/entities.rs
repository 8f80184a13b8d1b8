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
fn add(rec: &mut Record, table: &str, row: &Row) {
    for (col, value) in row.cols() {
        if let Some(v) = value {
            // Built by hand: a sweep makes millions of these keys, and `format!` costs.
            let mut key = String::with_capacity(table.len() + 1 + col.len());
            key.push_str(table);
            key.push('.');
            key.push_str(col);
            rec.set(key, v);
        }
    }
}

/// The id a row's column points to, read as the record reads it (`Record::int`).
fn pointer(row: &Row, column: &str) -> Option<i64> {
    row.get(column).and_then(|v| v.trim().parse().ok())
}

/// The row of `rows` that `from`'s column points to.
fn pointed<'a>(from: Option<&Row>, column: &str, rows: &'a HashMap<i64, Row>) -> Option<&'a Row> {
    from.and_then(|r| pointer(r, column))
        .and_then(|id| rows.get(&id))
}

/// The rows one entity is made from, each with the table its columns are named after,
/// in the order the record takes them. The record and the digest are both made from
/// these, so they cover the same values.
type Parts<'a> = Vec<(&'static str, &'a Row)>;

/// A service's parameters are named by their `intname`.
const PARAM: &str = "itemparam";

fn record_of(parts: &Parts<'_>) -> Record {
    let mut rec = Record::default();
    for &(table, row) in parts {
        if table != PARAM {
            add(&mut rec, table, row);
        } else if let (Some(name), Some(value)) = (row.get("intname"), row.get("value")) {
            rec.set(format!("{PARAM}.{name}"), value);
        }
    }
    rec
}

/// A 64-bit digest of every table name, column name and value (NULL apart from empty),
/// from `seed`. Digests are compared only with digests this same build made under the
/// same seed, so the hasher need not be stable across builds: a different one only makes
/// a sweep compare everything once.
fn digest_of(parts: &Parts<'_>, seed: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    seed.hash(&mut h);
    for &(table, row) in parts {
        table.hash(&mut h);
        for col in row.cols() {
            col.hash(&mut h);
        }
    }
    h.finish()
}

/// Clients: every column of `account`, of its project and of its first user.
struct AccountRows {
    accounts: HashMap<i64, Row>,
    projects: HashMap<i64, Row>,
    users: HashMap<i64, Row>,
}

impl AccountRows {
    fn read(d: &mut dyn Driver, ids: &[i64]) -> DbResult<AccountRows> {
        let accounts = by_ids(d, "account", ids)?;
        Ok(AccountRows {
            projects: by_ids(d, "project", &column(&accounts, "project"))?,
            users: first_users(d, ids)?,
            accounts,
        })
    }

    fn parts(&self, id: i64) -> Option<Parts<'_>> {
        let row = self.accounts.get(&id)?;
        let mut parts = vec![("account", row)];
        parts.extend(
            pointer(row, "project")
                .and_then(|p| self.projects.get(&p))
                .map(|p| ("project", p)),
        );
        parts.extend(self.users.get(&id).map(|u| ("user", u)));
        Some(parts)
    }
}

/// Payers: `profile.*` and their client's `account.*`.
struct ProfileRows {
    profiles: HashMap<i64, Row>,
    accounts: HashMap<i64, Row>,
}

impl ProfileRows {
    fn read(d: &mut dyn Driver, ids: &[i64]) -> DbResult<ProfileRows> {
        let profiles = by_ids(d, "profile", ids)?;
        Ok(ProfileRows {
            accounts: by_ids(d, "account", &column(&profiles, "account"))?,
            profiles,
        })
    }

    fn parts(&self, id: i64) -> Option<Parts<'_>> {
        let row = self.profiles.get(&id)?;
        let mut parts = vec![("profile", row)];
        parts.extend(
            pointer(row, "account")
                .and_then(|a| self.accounts.get(&a))
                .map(|a| ("account", a)),
        );
        Some(parts)
    }
}

/// Services: `item.*`, `pricelist.*`, `itemtype.*`, `currency.*`, `account.*`,
/// `project.*`, the client's first `user.*` and every parameter as `itemparam.<intname>`.
struct ItemRows {
    items: HashMap<i64, Row>,
    pricelists: HashMap<i64, Row>,
    itemtypes: HashMap<i64, Row>,
    currencies: HashMap<i64, Row>,
    accounts: HashMap<i64, Row>,
    projects: HashMap<i64, Row>,
    users: HashMap<i64, Row>,
    /// Each service's parameters, by its id.
    params: HashMap<i64, Vec<Row>>,
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
            params: by_item(rows_where_in(d, PARAM, "item", ids)?),
            items,
            pricelists,
            accounts,
        })
    }

    fn parts(&self, id: i64) -> Option<Parts<'_>> {
        let row = self.items.get(&id)?;
        let pricelist = pointed(Some(row), "pricelist", &self.pricelists);
        let account = pointed(Some(row), "account", &self.accounts);
        // The tariff's provider; a tariff without one falls back to the client's.
        let project = pointed(pricelist, "project", &self.projects)
            .or_else(|| pointed(account, "project", &self.projects));
        let mut parts = vec![("item", row)];
        let more = [
            ("pricelist", pricelist),
            ("itemtype", pointed(pricelist, "itemtype", &self.itemtypes)),
            ("currency", pointed(Some(row), "currency", &self.currencies)),
            ("account", account),
            ("project", project),
            ("user", pointed(account, "id", &self.users)),
        ];
        parts.extend(more.into_iter().filter_map(|(t, r)| Some((t, r?))));
        let params = self.params.get(&id).into_iter().flatten();
        parts.extend(params.map(|p| (PARAM, p)));
        Some(parts)
    }
}

/// Parameter rows grouped by their service, in their order: a page of services is not
/// matched against every parameter of the page.
fn by_item(rows: Vec<Row>) -> HashMap<i64, Vec<Row>> {
    let mut params: HashMap<i64, Vec<Row>> = HashMap::new();
    for row in rows {
        if let Some(item) = row.int("item") {
            params.entry(item).or_default().push(row);
        }
    }
    params
}

enum Rows {
    Accounts(AccountRows),
    Profiles(ProfileRows),
    Items(Box<ItemRows>),
}

/// A batch of one kind's entities as read from the panel, one query per table: each
/// entity's record, or a digest of the rows its record is made from (a sweep compares
/// digests and builds records only for what changed).
pub struct EntityRows(Rows);

impl EntityRows {
    fn parts(&self, id: i64) -> Option<Parts<'_>> {
        match &self.0 {
            Rows::Accounts(r) => r.parts(id),
            Rows::Profiles(r) => r.parts(id),
            Rows::Items(r) => r.parts(id),
        }
    }

    /// The entities read (an id the panel no longer has is missing), in no order.
    pub fn ids(&self) -> Vec<i64> {
        let keys = match &self.0 {
            Rows::Accounts(r) => r.accounts.keys(),
            Rows::Profiles(r) => r.profiles.keys(),
            Rows::Items(r) => r.items.keys(),
        };
        keys.copied().collect()
    }

    pub fn record(&self, id: i64) -> Option<Record> {
        self.parts(id).map(|p| record_of(&p))
    }

    /// Equal for two reads exactly when their records are, but for a 64-bit collision.
    pub fn digest(&self, id: i64, seed: u64) -> Option<u64> {
        self.parts(id).map(|p| digest_of(&p, seed))
    }

    pub fn records(&self) -> HashMap<i64, Record> {
        (self.ids().into_iter())
            .filter_map(|id| Some((id, self.record(id)?)))
            .collect()
    }
}

/// The rows the entities of one kind with these ids are made from.
pub(crate) fn read_rows(d: &mut dyn Driver, kind: EntityKind, ids: &[i64]) -> DbResult<EntityRows> {
    Ok(EntityRows(match kind {
        EntityKind::Account => Rows::Accounts(AccountRows::read(d, ids)?),
        EntityKind::Profile => Rows::Profiles(ProfileRows::read(d, ids)?),
        EntityKind::Item => Rows::Items(Box::new(ItemRows::read(d, ids)?)),
    }))
}

/// The entities of one kind with these ids; an id the panel no longer has is missing.
pub(crate) fn read(
    d: &mut dyn Driver,
    kind: EntityKind,
    ids: &[i64],
) -> DbResult<HashMap<i64, Record>> {
    Ok(read_rows(d, kind, ids)?.records())
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
