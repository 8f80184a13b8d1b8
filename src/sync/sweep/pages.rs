//! The sweep's page step: a kind's rows in id order, a page at a time (keyset paging),
//! with their links. Given connections of their own, threads read ahead while the sweep
//! compares: one the next page's rows, another the links of the page it read before. The
//! database works while the module converts and hashes, and the other way round. At most
//! one page waits at each step, so memory still holds a few pages.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use crate::db::{DbError, EntityRows, Kept, Link, PanelDb, Pick, Wanted};
use crate::model::EntityKind;

/// A page as read.
pub struct Read {
    /// In id order.
    pub ids: Vec<i64>,
    pub rows: EntityRows,
    pub links: HashMap<i64, Link>,
}

type Sent = Result<Read, DbError>;

/// The page after `after`, of at most `limit` entities, with its links when `links`;
/// `None` past the last.
pub fn read_page(
    db: &mut dyn PanelDb,
    kind: EntityKind,
    wanted: Wanted<'_>,
    (after, limit): (i64, usize),
    links: bool,
) -> Result<Option<Read>, DbError> {
    let rows = db.read_rows(kind, Pick::After { after, limit }, wanted)?;
    let ids = rows.ids();
    if ids.is_empty() {
        return Ok(None);
    }
    let links = match links {
        true => db.links_of(kind, &ids)?,
        false => HashMap::new(),
    };
    Ok(Some(Read { ids, rows, links }))
}

/// Every page of a kind into `tx`, until the last, a failure, or the receiver is gone.
fn send_pages(
    db: &mut dyn PanelDb,
    (kind, tables): (EntityKind, &[&str]),
    limit: usize,
    links: bool,
    tx: SyncSender<Sent>,
) {
    let kept = Kept::default();
    let mut after = 0;
    loop {
        let wanted = Wanted::only(tables, &kept);
        let page = match read_page(db, kind, wanted, (after, limit), links) {
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

/// Each page from `rx` with its links, into `tx`.
fn add_links(db: &mut dyn PanelDb, kind: EntityKind, rx: Receiver<Sent>, tx: SyncSender<Sent>) {
    for page in rx {
        let page = page.and_then(|mut p| {
            p.links = db.links_of(kind, &p.ids)?;
            Ok(p)
        });
        let failed = page.is_err();
        if tx.send(page).is_err() || failed {
            return;
        }
    }
}

/// The threads that read a kind's pages, on `rows` (and the links on `links`, when there
/// is a connection for them): the pages come out of the receiver in order. A receiver
/// dropped early stops them at their next send.
pub fn spawn<'scope>(
    s: &'scope Scope<'scope, '_>,
    rows: &'scope mut dyn PanelDb,
    links: Option<&'scope mut dyn PanelDb>,
    (kind, tables): (EntityKind, &'scope [&'scope str]),
    limit: usize,
) -> Receiver<Sent> {
    let (tx, rx) = sync_channel(1);
    let inline = links.is_none();
    s.spawn(move || send_pages(rows, (kind, tables), limit, inline, tx));
    let Some(db) = links else {
        return rx;
    };
    let (tx, linked) = sync_channel(1);
    s.spawn(move || add_links(db, kind, rx, tx));
    linked
}
