//! A client's money as the rules read it (`money.*` in a record): the balance of its
//! personal accounts, the total credited, and the last credited payment's amount and
//! date. Read only when a rule names one of them. `subaccount.balance` is an inferred
//! column name (no public SQL names it); `amocrm check` probes it before the worker needs
//! it ([`probe`]).

use std::sync::Arc;

use super::DbResult;
use super::by_id::ById;
use super::sql::{Driver, Row, Value, placeholders};

/// The columns of a client's money row, as `money.<name>` in a record.
const NAMES: [&str; 4] = [
    "balance",
    "paid_total",
    "last_payment_amount",
    "last_payment_date",
];

/// What the reads below need of the panel's tables, in one statement that fails when a
/// column is missing.
const PROBE: &str = "SELECT s.account, s.balance, p.subaccountamount, p.paydate, \
     p.status FROM subaccount s, payment p WHERE p.subaccount = s.id AND 1 = 0";

/// Whether the panel's tables have what the money values read; `Err` says what is missing.
pub(crate) fn probe(d: &mut dyn Driver) -> Result<(), String> {
    d.query(PROBE, &[]).map(|_| ()).map_err(|e| e.message)
}

/// Each client's money row, by client id (clients with no personal account have none).
pub(crate) fn of_clients(d: &mut dyn Driver, clients: &[i64]) -> DbResult<ById<Row>> {
    let names: Arc<[String]> = NAMES.iter().map(|n| n.to_string()).collect();
    let mut rows = Vec::new();
    for chunk in clients.chunks(500) {
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        let balances = by_account(d, &balances_sql(chunk.len()), &params)?;
        let paid = by_account(d, &paid_sql(chunk.len()), &params)?;
        let last = last_payments(d, &paid)?;
        for (&client, balance) in balances.iter() {
            let mut row = Row::new(names.clone());
            row.push(balance.get("balance").map(money).as_deref());
            let p = paid.get(&client);
            row.push(p.and_then(|r| r.get("paid_total")).map(money).as_deref());
            let l = p
                .and_then(|r| r.int("last_id"))
                .and_then(|id| last.get(&id));
            row.push(
                l.and_then(|r| r.get("subaccountamount"))
                    .map(money)
                    .as_deref(),
            );
            row.push(l.and_then(|r| r.get("paydate")));
            rows.push((client, row));
        }
    }
    Ok(ById::first_of(rows))
}

/// Each client's personal accounts' balance, summed.
fn balances_sql(n: usize) -> String {
    format!(
        "SELECT account, SUM(balance) AS balance FROM subaccount WHERE account IN ({}) \
         GROUP BY account",
        placeholders(n)
    )
}

/// Each client's credited payments (refunds, negative, left out): their total and the
/// newest (the greatest id: ids grow as payments are made).
fn paid_sql(n: usize) -> String {
    format!(
        "SELECT s.account AS account, SUM(p.subaccountamount) AS paid_total, \
         MAX(p.id) AS last_id FROM payment p JOIN subaccount s ON s.id = p.subaccount \
         WHERE p.status = 4 AND p.subaccountamount > 0 AND s.account IN ({}) \
         GROUP BY s.account",
        placeholders(n)
    )
}

/// A grouped statement's rows by their `account`.
fn by_account(d: &mut dyn Driver, sql: &str, params: &[Value]) -> DbResult<ById<Row>> {
    let rows = d.query(sql, params)?;
    Ok(ById::first_of(
        (rows.into_iter())
            .filter_map(|r| Some((r.int("account")?, r)))
            .collect(),
    ))
}

/// The payments these rows name as their newest, by id.
fn last_payments(d: &mut dyn Driver, paid: &ById<Row>) -> DbResult<ById<Row>> {
    let ids: Vec<i64> = paid.values().filter_map(|r| r.int("last_id")).collect();
    if ids.is_empty() {
        return Ok(ById::default());
    }
    let sql = format!(
        "SELECT id, subaccountamount, paydate FROM payment WHERE id IN ({}) ORDER BY id",
        placeholders(ids.len())
    );
    let params: Vec<Value> = ids.iter().map(|id| Value::Int(*id)).collect();
    let rows = d.query(&sql, &params)?;
    Ok(ById::first_of(
        (rows.into_iter())
            .filter_map(|r| Some((r.int("id")?, r)))
            .collect(),
    ))
}

/// An amount with two decimals, whatever the database's sum looks like (`1500`, `1500.0`).
fn money(s: &str) -> String {
    match s.trim().parse::<f64>() {
        Ok(v) => format!("{v:.2}"),
        Err(_) => s.to_string(),
    }
}
