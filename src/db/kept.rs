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

/// The small tables read so far, for the reads that share this (one thread's).
#[derive(Default)]
pub struct Kept(RefCell<HashMap<&'static str, ById<Row>>>);

impl Kept {
    /// Whether `table` is one kept.
    pub(crate) fn keeps(table: &str) -> Option<&'static str> {
        SMALL.into_iter().find(|t| *t == table)
    }

    /// The rows of these ids, the table read whole the first time.
    pub(crate) fn rows(
        &self,
        d: &mut dyn Driver,
        table: &'static str,
        ids: &[i64],
    ) -> DbResult<ById<Row>> {
        let mut tables = self.0.borrow_mut();
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

    #[test]
    fn a_small_table_is_read_whole_once_and_served_by_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut d = SqliteDriver::open(&dir.path().join("panel.db")).expect("open");
        d.batch(
            "CREATE TABLE pricelist (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO pricelist VALUES (1, 'Start'), (2, 'Pro'), (3, 'Max');",
        )
        .expect("schema");
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
}
