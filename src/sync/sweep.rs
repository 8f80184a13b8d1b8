//! The sweep's steps. The module hears of changes from the panel's events, and many
//! changes raise none: renewals whose processing module never calls
//! `service.postprolong`, the provider's own product types, rows written straight into the
//! tables. The sweep reads every client, payer and service a page at a time, plans each as
//! the worker would, and compares the plan with the link's fingerprint (what was last
//! sent): what differs, or was never linked, is queued with the event `sweep`.
//!
//! The steps: page (keyset paging of one kind), read (a page's rows, links and waiting
//! jobs, a query per table), recall (what the last sweep found, for an entity whose rows
//! and link did not move: `sweep_cache`), compare (pure: records built and planned only
//! for the rest, with the clients they hang on) and take (queue the page in one short
//! transaction, or print it for a dry run). Memory holds one page.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Serialize;

use super::fields::Meta;
use super::kinds;
use super::plan::{Admission, admit, plan};
use super::sweep_cache::{Cached, Digests};
use super::sweep_state::{Counts, Tally};
use crate::config::{Config, UpdateMode};
use crate::db::{DbError, EntityRows, Kept, Link, NewJob, PanelDb, Wanted};
use crate::model::{EntityKind, Record};
use crate::rules::Rules;

/// Entities read at a time: each panel table is then read in one statement a page.
pub const PAGE: usize = 500;

/// The event a sweep's jobs carry in the queue.
pub const EVENT: &str = "sweep";

/// Why an entity is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// For amoCRM and never linked.
    New,
    /// What the rules make of it now differs from what was last sent.
    Changed,
    /// amoCRM removed its entity since the sweep before.
    Removed,
    /// As last sent, and a `[tasks]` rule holds whose task amoCRM has not got.
    Task,
}

/// What the sweep makes of one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Queue(Reason),
    Unchanged,
    /// Not for amoCRM, and why.
    Out(String),
}

/// What the worker plans with: the rules, amoCRM's fields and pipelines, the update mode.
pub struct Basis<'a> {
    pub rules: &'a Rules,
    pub meta: &'a Meta,
    pub mode: UpdateMode,
}

/// Why an entity is queued, or why not: the worker's own admission, then its plan against
/// the link's fingerprint. `client_out`: its client is neither linked nor for amoCRM, so
/// the worker would skip it. Pure.
pub fn compare(
    kind: EntityKind,
    id: i64,
    rec: Option<&Record>,
    link: Option<&Link>,
    client_out: bool,
    b: &Basis<'_>,
) -> Verdict {
    match admit(kind, rec, b.rules) {
        Admission::In => {}
        Admission::Gone => return Verdict::Out("not in the panel".into()),
        Admission::Out(why) => return Verdict::Out(why),
    }
    let Some(rec) = rec else {
        return Verdict::Out("not in the panel".into());
    };
    if client_out {
        return Verdict::Out("its client is not synced".into());
    }
    let p = plan(kind, id, rec, b.rules, b.meta);
    match link {
        None => Verdict::Queue(Reason::New),
        Some(_) if p.unchanged(link, b.mode).is_some() => Verdict::Unchanged,
        Some(_) => Verdict::Queue(Reason::Changed),
    }
}

/// The update mode the worker plans this kind with (its fingerprints depend on it).
pub fn update_mode(cfg: &Config, kind: EntityKind) -> UpdateMode {
    cfg.sync.mode_for(kind)
}

/// One entity to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub reason: Reason,
    pub amocrm_id: Option<i64>,
}

/// Where the queued entities go.
pub enum Output<'a> {
    /// Into the queue, for the worker.
    Queue,
    /// A dry run: one JSON object a line, nothing queued.
    Print(&'a mut dyn Write),
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("cannot write the dry run's output: {0}")]
    Output(#[from] std::io::Error),
    /// amoCRM's fields and pipelines could be neither read nor found kept.
    #[error("{0}")]
    Meta(String),
    /// Another sweep holds the lock.
    #[error("{0}")]
    Busy(String),
}

/// A page read for the comparison.
struct Page {
    /// Those without a waiting job, in order.
    ids: Vec<i64>,
    rows: EntityRows,
    links: HashMap<i64, Link>,
}

/// What is known of an entity of a page before it is compared: the digest of its rows
/// and link, and the verdict the last sweep kept for that digest.
#[derive(Clone, Copy)]
struct Known {
    digest: Option<u64>,
    cached: Option<Cached>,
}

/// A sweep over the panel, with what it found so far.
pub struct Sweeper<'a, 'o> {
    pub db: &'a mut dyn PanelDb,
    pub cfg: &'a Config,
    pub meta: &'a Meta,
    pub out: Output<'o>,
    pub page: usize,
    pub tally: Tally,
    /// What the last sweep found, by digest; `None`: compare everything.
    pub digests: Option<Digests>,
    /// Entities settled by their digest, without a record or a plan.
    pub recalled: u64,
    /// A second connection to the panel's database: pages are read on it in a thread
    /// while the sweep compares. `None`: read between the comparisons.
    pub reader: Option<Box<dyn PanelDb>>,
    /// A third, for the pages' links, read in a thread of their own after the rows; `None`:
    /// the links are read with the rows.
    pub link_reader: Option<Box<dyn PanelDb>>,
    /// Whether any job waited when this kind's pass began.
    some_wait: bool,
}

impl<'a, 'o> Sweeper<'a, 'o> {
    pub fn new(
        db: &'a mut dyn PanelDb,
        cfg: &'a Config,
        meta: &'a Meta,
        out: Output<'o>,
    ) -> Sweeper<'a, 'o> {
        Sweeper {
            db,
            cfg,
            meta,
            out,
            page: PAGE,
            tally: Tally::default(),
            digests: None,
            recalled: 0,
            reader: None,
            link_reader: None,
            some_wait: false,
        }
    }

    /// Every kind, clients first: the worker sends them in that order too.
    pub fn run(&mut self) -> Result<(), SweepError> {
        for kind in EntityKind::ALL {
            self.sweep_kind(kind)?;
        }
        Ok(())
    }

    /// The page step ([`pages`]): in threads on the readers' connections when there are
    /// any, else on this one between the comparisons.
    fn sweep_kind(&mut self, kind: EntityKind) -> Result<(), SweepError> {
        let tables = wanted(&self.cfg.rules, kind);
        // Jobs rarely wait: one count a kind spares a look-up a page.
        self.some_wait = self.db.count_jobs(&["pending", "failed", "taken"])? > 0;
        let Some(mut reader) = self.reader.take() else {
            return self.sweep_in_turn(kind, &tables);
        };
        let mut link_reader = self.link_reader.take();
        let result = std::thread::scope(|s| {
            let links = link_reader.as_deref_mut().map(|d| d as &mut dyn PanelDb);
            let rows = reader.as_mut();
            let rx = pages::spawn(s, rows, links, (kind, &tables), self.page);
            // An early return drops `rx`: the readers' next sends fail and they stop.
            for page in rx {
                self.sweep_page(kind, page?)?;
            }
            Ok(())
        });
        (self.reader, self.link_reader) = (Some(reader), link_reader);
        result
    }

    /// Pages read on this connection, each before its comparison.
    fn sweep_in_turn(&mut self, kind: EntityKind, tables: &[&str]) -> Result<(), SweepError> {
        let (kept, mut after) = (Kept::default(), 0);
        let wanted = Wanted::only(tables, &kept);
        while let Some(page) = pages::read_page(self.db, kind, wanted, (after, self.page), true)? {
            after = page.ids.last().copied().unwrap_or(after);
            self.sweep_page(kind, page)?;
        }
        Ok(())
    }

    fn sweep_page(&mut self, kind: EntityKind, read: pages::Read) -> Result<(), SweepError> {
        self.tally.examined += read.ids.len() as u64;
        let page = self.without_waiting(kind, read)?;
        let known = self.known(kind, &page);
        // Records only for what the digests do not settle.
        let records: HashMap<i64, Record> = (page.ids.iter().zip(&known))
            .filter(|(_, k)| k.cached.is_none())
            .filter_map(|(id, _)| Some((*id, page.rows.record(*id)?)))
            .collect();
        let clients_out = clients_kept_out(self.db, &self.cfg.rules, kind, &records)?;
        let (mut queued, mut unchanged) = (Vec::new(), Vec::new());
        for (&id, k) in page.ids.iter().zip(known) {
            let link = page.links.get(&id);
            let verdict = match k.cached {
                Some(cached) => self.recall(kind, id, k.digest, cached),
                None => self.judge(kind, id, records.get(&id), link, &clients_out, k.digest),
            };
            match verdict {
                Verdict::Queue(reason) => queued.push(Queued {
                    id,
                    reason,
                    amocrm_id: link.map(|l| l.amocrm_id),
                }),
                Verdict::Unchanged => unchanged.push(id),
                Verdict::Out(_) => self.tally.kept_out += 1,
            }
        }
        if kind == EntityKind::Item {
            queued.extend(self.tasks_due(&records, &mut unchanged, &page.links)?);
        }
        self.tally.unchanged += unchanged.len() as u64;
        self.take(kind, &queued)
    }

    /// The page without its entities that have a waiting job: that job sends such an
    /// entity as it is when it goes, and queueing it again would make a failed one due
    /// before its retry.
    fn without_waiting(&mut self, kind: EntityKind, read: pages::Read) -> Result<Page, SweepError> {
        let waiting = match self.some_wait {
            false => HashSet::new(),
            true => self.db.waiting_among(kind, &read.ids)?,
        };
        self.tally.waiting += waiting.len() as u64;
        let ids: Vec<i64> = (read.ids.into_iter())
            .filter(|id| !waiting.contains(id))
            .collect();
        Ok(Page {
            links: read.links,
            rows: read.rows,
            ids,
        })
    }

    /// Each entity's digest and the verdict the last sweep kept for it, in page order.
    fn known(&mut self, kind: EntityKind, page: &Page) -> Vec<Known> {
        let unknown = Known {
            digest: None,
            cached: None,
        };
        let Some(d) = self.digests.as_mut() else {
            return vec![unknown; page.ids.len()];
        };
        (page.ids.iter())
            .map(|&id| {
                let seed = d.seed(kind, id, page.links.get(&id));
                let digest = page.rows.digest(id, seed);
                let cached = digest.and_then(|g| d.lookup(kind, id, g));
                Known { digest, cached }
            })
            .collect()
    }

    /// A verdict the last sweep kept, kept again for the next.
    fn recall(
        &mut self,
        kind: EntityKind,
        id: i64,
        digest: Option<u64>,
        cached: Cached,
    ) -> Verdict {
        self.recalled += 1;
        if let (Some(d), Some(g)) = (self.digests.as_mut(), digest) {
            d.keep(kind, id, g, cached);
        }
        match cached {
            Cached::Unchanged => Verdict::Unchanged,
            Cached::Out => Verdict::Out("as at the last sweep".into()),
        }
    }

    /// The compare step for one entity, its verdict kept when it depends on its own rows
    /// alone (unchanged, or kept out by its own admission).
    fn judge(
        &mut self,
        kind: EntityKind,
        id: i64,
        rec: Option<&Record>,
        link: Option<&Link>,
        clients_out: &HashSet<i64>,
        digest: Option<u64>,
    ) -> Verdict {
        let basis = Basis {
            rules: &self.cfg.rules,
            meta: self.meta,
            mode: update_mode(self.cfg, kind),
        };
        let client = rec.and_then(|r| r.int("account.id"));
        let client_out = client.is_some_and(|c| clients_out.contains(&c));
        let verdict = compare(kind, id, rec, link, client_out, &basis);
        let keep = match verdict {
            Verdict::Unchanged => Some(Cached::Unchanged),
            Verdict::Out(_) if !client_out => Some(Cached::Out),
            _ => None,
        };
        if let (Some(d), Some(g), Some(c)) = (self.digests.as_mut(), digest, keep) {
            d.keep(kind, id, g, c);
        }
        verdict
    }

    /// The take step: the page's queued entities into the queue (one transaction) or out
    /// as lines, and into the counts.
    fn take(&mut self, kind: EntityKind, queued: &[Queued]) -> Result<(), SweepError> {
        let counts = self.tally.queued.entry(kind.as_str().into()).or_default();
        for q in queued {
            count(counts, q.reason);
        }
        match &mut self.out {
            Output::Queue => queue(self.db, kind, queued)?,
            Output::Print(w) => print(&mut **w, kind, queued)?,
        }
        Ok(())
    }

    /// Queues the panel entities linked to what amoCRM removed, `(kind, amoCRM id)`.
    pub fn queue_removed(&mut self, removed: &[(EntityKind, i64)]) -> Result<(), SweepError> {
        for kind in EntityKind::ALL {
            let mut queued = Vec::new();
            for &(_, amo_id) in removed.iter().filter(|(k, _)| *k == kind) {
                if let Some(id) = self.db.linked_to(kind, amo_id)? {
                    queued.push(Queued {
                        id,
                        reason: Reason::Removed,
                        amocrm_id: Some(amo_id),
                    });
                }
            }
            self.take(kind, &queued)?;
        }
        Ok(())
    }
}

/// The tables a kind's plan reads: its own and those its rules name. The others' rows
/// are not read whole, nor part of the digest: they change no plan.
pub fn wanted(rules: &Rules, kind: EntityKind) -> Vec<&str> {
    let mut tables = rules.tables(kind);
    tables.extend(kinds::of(kind).reads());
    tables.sort_unstable();
    tables.dedup();
    tables
}

fn count(c: &mut Counts, reason: Reason) {
    match reason {
        Reason::New => c.new += 1,
        Reason::Changed => c.changed += 1,
        Reason::Removed => c.removed += 1,
        Reason::Task => c.task += 1,
    }
}

/// The clients of these payers or services that are neither linked nor for amoCRM (their
/// condition, a staff account, gone): the worker skips what hangs on them, and the sweep
/// must not queue it at every pass.
fn clients_kept_out(
    db: &mut dyn PanelDb,
    rules: &Rules,
    kind: EntityKind,
    records: &HashMap<i64, Record>,
) -> Result<HashSet<i64>, DbError> {
    if !kinds::of(kind).needs().contact {
        return Ok(HashSet::new());
    }
    let mut clients: Vec<i64> = records
        .values()
        .filter_map(|r| r.int("account.id"))
        .collect();
    clients.sort_unstable();
    clients.dedup();
    let linked = db.links_of(EntityKind::Account, &clients)?;
    clients.retain(|c| !linked.contains_key(c));
    let read = db.read_many(EntityKind::Account, &clients)?;
    Ok((clients.into_iter())
        .filter(|c| admit(EntityKind::Account, read.get(c), rules) != Admission::In)
        .collect())
}

/// Queues a page in one short transaction. An entity amoCRM removed loses its link's
/// fingerprint first: the worker then reads it back rather than settling it as unchanged,
/// and finds it gone.
fn queue(db: &mut dyn PanelDb, kind: EntityKind, queued: &[Queued]) -> Result<(), DbError> {
    let now = crate::log::now();
    for q in queued.iter().filter(|q| q.reason == Reason::Removed) {
        if let Some(amo_id) = q.amocrm_id {
            db.save_link(kind, q.id, amo_id, "", now)?;
        }
    }
    let jobs: Vec<NewJob> = (queued.iter())
        .map(|q| NewJob::for_id(kind, q.id, EVENT))
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    db.enqueue(&jobs, now)
}

/// A dry run's line for one entity.
#[derive(Serialize)]
struct Line {
    kind: &'static str,
    id: i64,
    entity: &'static str,
    reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    amocrm_id: Option<i64>,
}

fn print(w: &mut dyn Write, kind: EntityKind, queued: &[Queued]) -> std::io::Result<()> {
    for q in queued {
        let line = Line {
            kind: kind.as_str(),
            id: q.id,
            entity: kind.amo_entity(),
            reason: q.reason,
            amocrm_id: q.amocrm_id,
        };
        writeln!(w, "{}", serde_json::to_string(&line)?)?;
    }
    Ok(())
}

mod pages;
mod tasks_due;
#[cfg(test)]
mod tests;
