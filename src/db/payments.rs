//! The panel's payments, read for the notes on a client's contact: each payment's row
//! with its payment method, its currency, its personal account (whose `account` is the
//! client) and, for a refund made as a payment of its own, the payment it returns
//! (`payment2payment`). The tables and what is inferred of them: `billmgr/schema.*.sql`.
//! Never written.

use std::collections::HashMap;

use super::DbResult;
use super::by_id::ById;
use super::entities::{add, by_ids};
use super::sql::{Driver, Row, Value, placeholders};
use crate::model::Record;

/// Credited (4) and refunded in full (6): the statuses a note is written for.
pub const NOTED: [i64; 2] = [4, 6];

/// A payment method's settings hold the gateway's secrets: never part of a record.
const SECRET_COLUMNS: [&str; 1] = ["paymethod.xmlparams"];

/// These payments as records (`payment.*`, `paymethod.*`, `currency.*`, `subaccount.*`,
/// and `payment2payment.payment_base` for a refund); an id the panel does not have is
/// missing.
pub(crate) fn read(d: &mut dyn Driver, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
    let payments = by_ids(d, "payment", ids)?;
    let subaccounts = by_ids(d, "subaccount", &column(&payments, "subaccount"))?;
    let methods = by_ids(d, "paymethod", &column(&payments, "paymethod"))?;
    let mut currencies = column(&payments, "currency");
    currencies.extend(column(&subaccounts, "currency"));
    let currencies = by_ids(d, "currency", &currencies)?;
    let bases = refunded_bases(d, ids)?;
    let mut out = HashMap::new();
    for (&id, row) in payments.iter() {
        let subaccount = pointed(row, "subaccount", &subaccounts);
        // Which currency `payment.currency` is, is not documented; the personal account's
        // is the fallback.
        let currency = pointed(row, "currency", &currencies)
            .or_else(|| subaccount.and_then(|s| pointed(s, "currency", &currencies)));
        let parts = [
            ("payment", Some(row)),
            ("subaccount", subaccount),
            ("paymethod", pointed(row, "paymethod", &methods)),
            ("currency", currency),
        ];
        let mut rec = Record::default();
        for (table, r) in parts.into_iter().filter_map(|(t, r)| Some((t, r?))) {
            add(&mut rec, table, r);
        }
        SECRET_COLUMNS
            .iter()
            .for_each(|c| drop(rec.values.remove(*c)));
        if let Some(base) = bases.get(&id) {
            rec.set("payment2payment.payment_base", base.to_string());
        }
        out.insert(id, rec);
    }
    Ok(out)
}

/// The client a payment was made to (its personal account's), if the panel has it.
pub(crate) fn account_of(d: &mut dyn Driver, payment: i64) -> DbResult<Option<i64>> {
    let rows = d.query(
        "SELECT s.account AS account FROM payment p JOIN subaccount s ON s.id = p.subaccount \
         WHERE p.id = ?",
        &[Value::Int(payment)],
    )?;
    Ok(rows.first().and_then(|r| r.int("account")))
}

/// Ids of the payments a note is written for, credited at `from` or later (the panel's
/// local time, `YYYY-MM-DD HH:MM:SS`), above `after`, at most `limit`, in id order.
pub(crate) fn noted_after(
    d: &mut dyn Driver,
    from: &str,
    after: i64,
    limit: usize,
) -> DbResult<Vec<i64>> {
    let rows = d.query(
        "SELECT id FROM payment WHERE id > ? AND status IN (?, ?) AND paydate >= ? \
         ORDER BY id LIMIT ?",
        &[
            Value::Int(after),
            Value::Int(NOTED[0]),
            Value::Int(NOTED[1]),
            Value::from(from),
            Value::Int(limit as i64),
        ],
    )?;
    Ok(rows.iter().filter_map(|r| r.int("id")).collect())
}

/// The payment each of these refunds returns, by the refund's id.
fn refunded_bases(d: &mut dyn Driver, ids: &[i64]) -> DbResult<HashMap<i64, i64>> {
    let rows = refund_rows(d, ids)?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r.int("payment_refund")?, r.int("payment_base")?)))
        .collect())
}

/// The `payment2payment` rows of these refunds (the table has no `id` to read by).
fn refund_rows(d: &mut dyn Driver, ids: &[i64]) -> DbResult<Vec<Row>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT payment_base, payment_refund FROM payment2payment \
             WHERE payment_refund IN ({}) ORDER BY payment_refund, payment_base",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|id| Value::Int(*id)).collect();
        rows.extend(d.query(&sql, &params)?);
    }
    Ok(rows)
}

fn column(rows: &ById<Row>, name: &str) -> Vec<i64> {
    rows.values().filter_map(|r| r.int(name)).collect()
}

fn pointed<'a>(row: &Row, column: &str, rows: &'a ById<Row>) -> Option<&'a Row> {
    row.int(column).and_then(|id| rows.get(&id))
}
