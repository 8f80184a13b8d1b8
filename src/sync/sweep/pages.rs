//! The sweep's page step: a kind's rows in id order, a page at a time (keyset paging),
//! with their links. Given a connection of its own, a thread reads the next page while
//! the sweep compares this one: the database works while the module hashes, and the
//! other way round. At most one page waits, so memory still holds a page or two.

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;

use crate::db::{DbError, EntityRows, Kept, Link, PanelDb, Pick, Wanted};
use crate::model::EntityKind;

/// A page as read.
pub struct Read {
    /// In id order.
    pub ids: Vec<i64>,
    pub rows: EntityRows,
    pub links: HashMap<i64, Link>,
}

/// The page after `after`, of at most `limit` entities; `None` past the last.
pub fn read_page(
    db: &mut dyn PanelDb,
    kind: EntityKind,
    wanted: Wanted<'_>,
    after: i64,
    limit: usize,
) -> Result<Option<Read>, DbError> {
    let rows = db.read_rows(kind, Pick::After { after, limit }, wanted)?;
    let ids = rows.ids();
    if ids.is_empty() {
        return Ok(None);
    }
    let links = db.links_of(kind, &ids)?;
    Ok(Some(Read { ids, rows, links }))
}

/// Every page of a kind into `tx`, until the last, a failure, or the receiver is gone.
pub fn send_pages(
    db: &mut dyn PanelDb,
    kind: EntityKind,
    tables: &[&str],
    limit: usize,
    tx: SyncSender<Result<Read, DbError>>,
) {
    let kept = Kept::default();
    let mut after = 0;
    loop {
        let page = match read_page(db, kind, Wanted::only(tables, &kept), after, limit) {
            Ok(None) => return,
            Ok(Some(page)) => page,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        after = page.ids.last().copied().unwrap_or(after);
        if tx.send(Ok(page)).is_err() {
            return;
        }
    }
}
