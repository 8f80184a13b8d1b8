//! Reads of the panel's own tables (never written here). Every table is read with
//! `SELECT *`, so a real panel's extra columns come through and missing ones are absent.

use std::collections::HashMap;

use super::DbResult;
use super::by_id::ById;
use super::kept::Kept;
use super::sql::{Driver, Row, Value, ids_test, placeholders};
use crate::model::{EntityKind, Record};

/// Ids per statement: a batch is at most 250 entities, and every backend takes this many
/// parameters.
const IDS_PER_QUERY: usize = 500;

/// The rows of `table` whose `column` is one of `ids`, in as few statements as the ids
/// allow, ordered by `id`.
fn rows_where_in(d: &mut dyn Driver, table: &str, column: &str, ids: &[i64]) -> DbResult<Vec<Row>> {
    select_where_in(d, "*", table, column, ids)
}

/// `SELECT <columns> FROM <table> WHERE <column> IN (ids)`, a chunk of ids at a time.
fn select_where_in(
    d: &mut dyn Driver,
    columns: &str,
    table: &str,
    column: &str,
    ids: &[i64],
) -> DbResult<Vec<Row>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let (test, params, range) = ids_test(chunk);
        let sql = format!("SELECT {columns} FROM {table} WHERE {column} {test} ORDER BY id");
        let mut found = d.query_table(table, &sql, &params)?;
        if range {
            found.retain(|r| {
                r.int(column)
                    .is_some_and(|v| chunk.binary_search(&v).is_ok())
            });
        }
        rows.extend(found);
    }
    Ok(rows)
}

/// Rows by id.
pub(super) fn by_ids(d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<ById<Row>> {
    Ok(ById::first_of(
        (rows_where_in(d, table, "id", ids)?.into_iter())
            .filter_map(|r| Some((r.int("id")?, r)))
            .collect(),
    ))
}

/// Which entities a read is of.
#[derive(Clone, Copy)]
pub enum Pick<'a> {
    /// These (an id the panel does not have is missing from the read).
    Ids(&'a [i64]),
    /// A page of a walk in id order: the first `limit` after `after`.
    After { after: i64, limit: usize },
}

/// The main table's rows of a read.
fn picked(d: &mut dyn Driver, table: &str, pick: Pick<'_>) -> DbResult<ById<Row>> {
    let (after, limit) = match pick {
        Pick::Ids(ids) => return by_ids(d, table, ids),
        Pick::After { after, limit } => (after, limit),
    };
    let sql = format!("SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?");
    let rows = d.query_table(table, &sql, &[Value::Int(after), Value::Int(limit as i64)])?;
    Ok(ById::first_of(
        (rows.into_iter())
            .filter_map(|r| Some((r.int("id")?, r)))
            .collect(),
    ))
}

/// The ids among these that `table` has, each as a row of its `id` alone: what a record
/// needs of a row no rule reads (that the client exists), for the cost of an index read.
fn ids_only(d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<ById<Row>> {
    Ok(ById::first_of(
        (select_where_in(d, "id", table, "id", ids)?.into_iter())
            .filter_map(|r| Some((r.int("id")?, r)))
            .collect(),
    ))
}

/// The tables a read needs: all of them, or those a sweep's rules read; and where the
/// small ones are kept between reads, if anywhere.
#[derive(Clone, Copy)]
pub struct Wanted<'a> {
    pub tables: Option<&'a [&'a str]>,
    pub kept: Option<&'a Kept>,
    /// The client's money (`money.*`): read only when a rule names it, since its columns
    /// are partly inferred.
    pub money: bool,
}

/// The client's money, as records name it (`src/db/money.rs`).
pub const MONEY: &str = "money";

impl<'a> Wanted<'a> {
    pub const ALL: Wanted<'static> = Wanted {
        tables: None,
        kept: None,
        money: false,
    };

    /// These tables only, small ones kept in `kept`.
    pub fn only(tables: &'a [&'a str], kept: &'a Kept) -> Wanted<'a> {
        Wanted {
            tables: Some(tables),
            kept: Some(kept),
            money: tables.contains(&MONEY),
        }
    }

    fn has(&self, table: &str) -> bool {
        if table == MONEY {
            return self.money;
        }
        self.tables.is_none_or(|t| t.contains(&table))
    }

    /// The money rows of these clients when wanted; none otherwise.
    fn money(&self, d: &mut dyn Driver, clients: &[i64]) -> DbResult<ById<Row>> {
        match self.money {
            true => super::money::of_clients(d, clients),
            false => Ok(ById::default()),
        }
    }

    /// A table's rows by id, from the kept ones when it is small and they are kept.
    fn whole(&self, d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<ById<Row>> {
        match (self.kept, Kept::keeps(table)) {
            (Some(kept), Some(table)) => kept.rows(d, table, ids),
            _ => by_ids(d, table, ids),
        }
    }

    /// A table's rows by id: whole when wanted, else their ids alone.
    fn rows(&self, d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<ById<Row>> {
        match (self.has(table), self.kept, Kept::keeps_ids(table)) {
            (true, _, _) => self.whole(d, table, ids),
            (false, Some(kept), Some(table)) => kept.ids_only(d, table, ids),
            (false, _, _) => ids_only(d, table, ids),
        }
    }

    /// A table's rows by id when wanted; none otherwise.
    fn some(&self, d: &mut dyn Driver, table: &str, ids: &[i64]) -> DbResult<ById<Row>> {
        match self.has(table) {
            true => self.whole(d, table, ids),
            false => Ok(ById::default()),
        }
    }
}

/// Each client's first user by id: the main contact.
fn first_users(d: &mut dyn Driver, accounts: &[i64]) -> DbResult<ById<Row>> {
    Ok(ById::first_of(
        (rows_where_in(d, "user", "account", accounts)?.into_iter())
            .filter_map(|r| Some((r.int("account")?, r)))
            .collect(),
    ))
}

/// The values of an integer column across rows (the ids they point to).
fn column(rows: &ById<Row>, name: &str) -> Vec<i64> {
    rows.values().filter_map(|r| r.int(name)).collect()
}

/// Copies every non-NULL column as `table.column`.
pub(super) fn add(rec: &mut Record, table: &str, row: &Row) {
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
fn pointed<'a>(from: Option<&Row>, column: &str, rows: &'a ById<Row>) -> Option<&'a Row> {
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
fn digest_of(parts: &Parts<'_>, seed: u64, scratch: &mut Scratch) -> u64 {
    use std::hash::{Hash, Hasher};
    // The rows' text in one buffer, hashed in one write: a write a column costs more than
    // the copy. A statement's column names, the same for all its rows, go in as their hash.
    let mut bytes = std::mem::take(&mut scratch.bytes);
    bytes.clear();
    for &(table, row) in parts {
        bytes.extend_from_slice(table.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(&scratch.names_hash(row).to_le_bytes());
        for (_, value) in row.cols() {
            match value {
                // 0xfe and 0xff never occur in UTF-8: the separators cannot be forged.
                None => bytes.push(0xfe),
                Some(v) => {
                    bytes.push(0xff);
                    bytes.extend_from_slice(v.as_bytes());
                }
            }
        }
    }
    let mut h = std::hash::DefaultHasher::new();
    seed.hash(&mut h);
    h.write(&bytes);
    scratch.bytes = bytes;
    h.finish()
}

/// What digests reuse across a page's entities: the buffer, and each statement's names'
/// hash by the address of its rows' shared names (unique while the page's rows live).
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    names: Vec<(usize, u64)>,
}

impl Scratch {
    fn names_hash(&mut self, row: &Row) -> u64 {
        use std::hash::{Hash, Hasher};
        let at = std::sync::Arc::as_ptr(&row.names) as *const String as usize;
        if let Some((_, h)) = self.names.iter().find(|(a, _)| *a == at) {
            return *h;
        }
        let mut h = std::hash::DefaultHasher::new();
        row.names.hash(&mut h);
        let h = h.finish();
        self.names.push((at, h));
        h
    }
}

/// Clients: every column of `account`, of its project and of its first user.
struct AccountRows {
    accounts: ById<Row>,
    projects: ById<Row>,
    users: ById<Row>,
    money: ById<Row>,
}

impl AccountRows {
    fn read(d: &mut dyn Driver, pick: Pick<'_>, w: Wanted<'_>) -> DbResult<AccountRows> {
        let accounts = picked(d, "account", pick)?;
        let ids: Vec<i64> = accounts.keys().copied().collect();
        Ok(AccountRows {
            projects: w.some(d, "project", &column(&accounts, "project"))?,
            users: first_users(d, &ids)?,
            money: w.money(d, &ids)?,
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
        parts.extend(self.money.get(&id).map(|m| (MONEY, m)));
        Some(parts)
    }
}

/// Payers: `profile.*` and their client's `account.*`.
struct ProfileRows {
    profiles: ById<Row>,
    accounts: ById<Row>,
}

impl ProfileRows {
    fn read(d: &mut dyn Driver, pick: Pick<'_>, w: Wanted<'_>) -> DbResult<ProfileRows> {
        let profiles = picked(d, "profile", pick)?;
        Ok(ProfileRows {
            accounts: w.rows(d, "account", &column(&profiles, "account"))?,
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
    items: ById<Row>,
    pricelists: ById<Row>,
    itemtypes: ById<Row>,
    currencies: ById<Row>,
    accounts: ById<Row>,
    projects: ById<Row>,
    users: ById<Row>,
    /// The clients' money, by client id.
    money: ById<Row>,
    /// Each service's parameters, by its id.
    params: ById<Vec<Row>>,
}

impl ItemRows {
    fn read(d: &mut dyn Driver, pick: Pick<'_>, w: Wanted<'_>) -> DbResult<ItemRows> {
        let items = picked(d, "item", pick)?;
        let pricelists = w.whole(d, "pricelist", &column(&items, "pricelist"))?;
        // The client's project is the fallback of the tariff's.
        let whole_accounts = Wanted {
            tables: w.tables.filter(|_| !w.has("project")),
            ..w
        };
        let accounts = whole_accounts.rows(d, "account", &column(&items, "account"))?;
        let mut project_ids = column(&pricelists, "project");
        project_ids.extend(column(&accounts, "project"));
        let users = match w.has("user") {
            true => first_users(d, &accounts.keys().copied().collect::<Vec<_>>())?,
            false => ById::default(),
        };
        Ok(ItemRows {
            money: w.money(d, &column(&items, "account"))?,
            itemtypes: w.some(d, "itemtype", &column(&pricelists, "itemtype"))?,
            currencies: w.some(d, "currency", &column(&items, "currency"))?,
            projects: w.some(d, "project", &project_ids)?,
            users,
            params: params_of(d, &items, w)?,
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
            (MONEY, pointed(Some(row), "account", &self.money)),
        ];
        parts.extend(more.into_iter().filter_map(|(t, r)| Some((t, r?))));
        let params = self.params.get(&id).into_iter().flatten();
        parts.extend(params.map(|p| (PARAM, p)));
        Some(parts)
    }
}

/// The services' parameters: of every service when wanted; otherwise only of a service
/// without a name, which its `domain` parameter names (a lead's name).
fn params_of(d: &mut dyn Driver, items: &ById<Row>, w: Wanted<'_>) -> DbResult<ById<Vec<Row>>> {
    let nameless = |r: &&Row| r.get("name").is_none_or(|n| n.trim().is_empty());
    let ids: Vec<i64> = match w.has(PARAM) {
        true => items.keys().copied().collect(),
        false => items
            .values()
            .filter(nameless)
            .filter_map(|r| r.int("id"))
            .collect(),
    };
    match ids.is_empty() {
        true => Ok(ById::default()),
        false => Ok(by_item(rows_where_in(d, PARAM, "item", &ids)?)),
    }
}

/// Parameter rows grouped by their service, in their order: a page of services is not
/// matched against every parameter of the page.
fn by_item(rows: Vec<Row>) -> ById<Vec<Row>> {
    ById::grouped(
        (rows.into_iter())
            .filter_map(|r| Some((r.int("item")?, r)))
            .collect(),
    )
}

enum Rows {
    Accounts(AccountRows),
    Profiles(ProfileRows),
    Items(Box<ItemRows>),
}

/// A batch of one kind's entities as read from the panel, one query per table: each
/// entity's record, or a digest of the rows its record is made from (a sweep compares
/// digests and builds records only for what changed).
pub struct EntityRows(Rows, std::cell::RefCell<Scratch>);

impl EntityRows {
    fn parts(&self, id: i64) -> Option<Parts<'_>> {
        match &self.0 {
            Rows::Accounts(r) => r.parts(id),
            Rows::Profiles(r) => r.parts(id),
            Rows::Items(r) => r.parts(id),
        }
    }

    /// The entities read (an id the panel no longer has is missing), in id order.
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
        let scratch = &mut self.1.borrow_mut();
        self.parts(id).map(|p| digest_of(&p, seed, scratch))
    }

    pub fn records(&self) -> HashMap<i64, Record> {
        (self.ids().into_iter())
            .filter_map(|id| Some((id, self.record(id)?)))
            .collect()
    }
}

/// The rows the entities of one kind with these ids are made from: of every table, or
/// of the wanted ones (a client's row not wanted is read as its id: the record still
/// says which client it hangs on).
pub(crate) fn read_rows(
    d: &mut dyn Driver,
    kind: EntityKind,
    pick: Pick<'_>,
    w: Wanted<'_>,
) -> DbResult<EntityRows> {
    let rows = match kind {
        EntityKind::Account => Rows::Accounts(AccountRows::read(d, pick, w)?),
        EntityKind::Profile => Rows::Profiles(ProfileRows::read(d, pick, w)?),
        EntityKind::Item => Rows::Items(Box::new(ItemRows::read(d, pick, w)?)),
    };
    Ok(EntityRows(rows, Default::default()))
}

/// The entities of one kind with these ids; an id the panel no longer has is missing.
/// `money`: with the client's money (`money.*`), which only rules that name it need.
pub(crate) fn read(
    d: &mut dyn Driver,
    kind: EntityKind,
    ids: &[i64],
    money: bool,
) -> DbResult<HashMap<i64, Record>> {
    let wanted = Wanted {
        money,
        ..Wanted::ALL
    };
    Ok(read_rows(d, kind, Pick::Ids(ids), wanted)?.records())
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
