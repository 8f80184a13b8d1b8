//! Tables of few rows that every page of a sweep reads (tariffs, service types,
//! currencies, providers), read whole once and kept for the sweep's pages: a statement a
//! sweep where there was one a page, which on MariaDB is most of a page's cost.

use std::cell::RefCell;
use std::collections::HashMap;

use super::DbResult;
use super::by_id::ById;
use super::sql::{Driver, Row};

/// The tables kept.
const SMALL: [&str; 4] = ["pricelist", "itemtype", "currency", "project"];

/// The tables whose ids alone are kept (a client's, which a payer or a service hangs on).
const IDS: [&str; 1] = ["account"];

/// The small tables read so far, and the ids of those kept by id, for the reads that share
/// this (one thread's).
#[derive(Default)]
pub struct Kept {
    tables: RefCell<HashMap<&'static str, ById<Row>>>,
    ids: RefCell<HashMap<&'static str, Vec<i64>>>,
}

impl Kept {
    /// Whether `table` is one kept.
    pub(crate) fn keeps(table: &str) -> Option<&'static str> {
        SMALL.into_iter().find(|t| *t == table)
    }

    /// Whether the ids of `table` are kept.
    pub(crate) fn keeps_ids(table: &str) -> Option<&'static str> {
        IDS.into_iter().find(|t| *t == table)
    }

    /// Those of these ids the table has, each as a row of its `id` alone (as a `SELECT id`
    /// reads it), the table's ids read once, in order (8 bytes a row).
    pub(crate) fn ids_only(
        &self,
        d: &mut dyn Driver,
        table: &'static str,
        ids: &[i64],
    ) -> DbResult<ById<Row>> {
        let mut kept = self.ids.borrow_mut();
        if !kept.contains_key(table) {
            let sql = format!("SELECT id FROM {table} ORDER BY id");
            let all = d
                .query(&sql, &[])?
                .iter()
                .filter_map(|r| r.int("id"))
                .collect();
            kept.insert(table, all);
        }
        let all = &kept[table];
        let names: std::sync::Arc<[String]> = ["id".to_string()].into();
        let found = (ids.iter().copied())
            .filter(|id| all.binary_search(id).is_ok())
            .map(|id| {
                let mut row = Row::new(names.clone());
                row.push(Some(&id.to_string()));
                (id, row)
            });
        Ok(ById::first_of(found.collect()))
    }

    /// The rows of these ids, the table read whole the first time.
    pub(crate) fn rows(
        &self,
        d: &mut dyn Driver,
        table: &'static str,
        ids: &[i64],
    ) -> DbResult<ById<Row>> {
        let mut tables = self.tables.borrow_mut();
        if !tables.contains_key(table) {
            let sql = format!("SELECT * FROM {table} ORDER BY id");
            let rows = d.query_table(table, &sql, &[])?;
            let rows = (rows.into_iter()).filter_map(|r| Some((r.int("id")?, r)));
            tables.insert(table, ById::first_of(rows.collect()));
        }
        let whole = &tables[table];
        let picked = ids
            .iter()
            .filter_map(|id| Some((*id, whole.get(id)?.clone())));
        Ok(ById::first_of(picked.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::sqlite::SqliteDriver;

    /// A SQLite file with one table of `id` and `name`, these rows in it.
    fn table(dir: &tempfile::TempDir, table: &str, rows: &[(i64, &str)]) -> SqliteDriver {
        use crate::db::sql::Value;
        let mut d = SqliteDriver::open(&dir.path().join("panel.db")).expect("open");
        let create = format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)");
        d.batch(&create).expect("schema");
        let insert = format!("INSERT INTO {table} (id, name) VALUES (?, ?)");
        for (id, name) in rows {
            let params = [Value::Int(*id), Value::from(*name)];
            d.execute(&insert, &params).expect("row");
        }
        d
    }

    #[test]
    fn a_small_table_is_read_whole_once_and_served_by_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut d = table(&dir, "pricelist", &[(1, "Start"), (2, "Pro"), (3, "Max")]);
        let kept = Kept::default();
        assert_eq!(Kept::keeps("account"), None);
        let rows = kept.rows(&mut d, "pricelist", &[3, 1, 9]).expect("read");
        let names: Vec<_> = rows.values().map(|r| r.get("name")).collect();
        assert_eq!(names, [Some("Start"), Some("Max")]);
        // Kept: a later page sees the table as the first read it.
        d.batch("UPDATE pricelist SET name = 'Pro+' WHERE id = 2;")
            .expect("update");
        let rows = kept.rows(&mut d, "pricelist", &[2]).expect("read");
        assert_eq!(rows.get(&2).and_then(|r| r.get("name")), Some("Pro"));
    }

    #[test]
    fn the_clients_ids_are_read_once_and_served_as_a_select_of_the_id_reads_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut d = table(&dir, "account", &[(2, "a"), (5, "b"), (9, "c")]);
        let kept = Kept::default();
        let table = Kept::keeps_ids("account").expect("kept");
        let rows = kept.ids_only(&mut d, table, &[9, 3, 2]).expect("read");
        let read = d.query("SELECT id FROM account WHERE id IN (9, 2) ORDER BY id", &[]);
        let want: Vec<Row> = read.expect("select");
        assert_eq!(rows.values().cloned().collect::<Vec<_>>(), want);
    }
}
