//! Draining the queue: kind by kind (clients, then payers, then services), jobs are
//! claimed, resolved and merged, read, planned and settled; what is to be sent waits
//! until a batch is full, so skipped, excluded and unchanged entities take no place in a
//! request; full batches are sent and recorded.

use std::io::IsTerminal;

use super::dedup::Finder;
use super::fields::Meta;
use super::record::Ledger;
use super::target::{Ready, Target};
use crate::amo::{AccountMeta, AmoClient, AmoError, ClientOptions, LinkRequest};
use crate::config::Config;
use crate::db::{self, DbError, Job, PanelDb};
use crate::model::EntityKind;
use crate::paths::Paths;

/// A run that must stop: amoCRM refused or is unreachable, or the database failed.
#[derive(Debug)]
pub(super) enum Stop {
    Amo(AmoError),
    Db(DbError),
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Self {
        Stop::Db(e)
    }
}

/// Above this many due jobs the worker reads every contact once to find duplicates,
/// instead of one search per new client.
const FULL_SCAN_THRESHOLD: i64 = 200;

/// amoCRM takes this many links a request: new companies' links to their contacts are
/// gathered across batches and sent this many at a time.
const LINKS_PER_REQUEST: usize = 250;

pub(super) struct Worker<'a> {
    pub cfg: &'a Config,
    pub paths: Paths,
    pub db: Box<dyn PanelDb>,
    pub amo: AmoClient,
    /// amoCRM's fields and pipelines, read at most once in the worker's life.
    pub meta: Option<Meta>,
    pub finder: Finder,
    pub ledger: Ledger,
    /// New companies' links to their contacts not sent yet.
    pub company_links: Vec<LinkRequest>,
    /// Links whose amoCRM entity is gone, being replaced in this batch.
    pub heals: super::heal::Heals,
    /// The kept fields and pipelines were dropped in this run already.
    pub meta_forgotten: bool,
    pub progress: bool,
    /// The users `[responsible]` names, as resolved in this run.
    pub owners: super::owners::Owners,
    /// Notes and tasks marked in this run and not sent yet.
    pub fresh_posts: super::posting::Fresh,
    /// Payments of this pass whose clients have no contact yet: `(client, payment)`.
    pub payments_waiting: Vec<(i64, i64)>,
    /// Tasks of this pass's services, waiting for their leads: `(service, task)`.
    pub tasks_waiting: Vec<(
        i64,
        super::task_plan::PlannedTask,
        Option<crate::rules::UserRef>,
    )>,
}

impl<'a> Worker<'a> {
    pub fn new(
        paths: &Paths,
        cfg: &'a Config,
        mut db: Box<dyn PanelDb>,
        progress: bool,
    ) -> Result<Worker<'a>, Stop> {
        let opts = ClientOptions {
            rate_limit: cfg.sync.rate_limit,
            timeout: std::time::Duration::from_secs(30),
            retry: crate::amo::RetryPauses::starting_at(cfg.sync.retry_pause),
        };
        let amo = AmoClient::new(&cfg.auth, opts, paths).map_err(Stop::Amo)?;
        let due = db.due_jobs(crate::log::now())?;
        Ok(Worker {
            cfg,
            paths: paths.clone(),
            db,
            amo,
            meta: None,
            finder: Finder::new(due > FULL_SCAN_THRESHOLD),
            ledger: Ledger::default(),
            company_links: Vec::new(),
            heals: Default::default(),
            meta_forgotten: false,
            progress: progress && std::io::stderr().is_terminal(),
            owners: Default::default(),
            fresh_posts: Default::default(),
            payments_waiting: Vec::new(),
            tasks_waiting: Vec::new(),
        })
    }

    pub fn into_db(self) -> Box<dyn PanelDb> {
        self.db
    }

    /// Drains the queue. On a stop, what was done is kept and the jobs not finished go
    /// back to the queue untouched.
    pub fn drain(&mut self) -> Result<(), Stop> {
        let outcome = self.passes();
        if let Err(stop) = &outcome {
            self.keep_what_was_done(stop);
        }
        outcome
    }

    fn passes(&mut self) -> Result<(), Stop> {
        // Notes and tasks an earlier run marked and may not have sent.
        self.post_marked()?;
        loop {
            let mut claimed = false;
            for kind in EntityKind::ALL {
                claimed |= self.pass(kind)?;
                // The payers are through: their companies' links go out.
                if kind == EntityKind::Profile {
                    self.send_company_links()?;
                }
            }
            // Jobs of an earlier kind may have come while later ones were sent.
            if !claimed {
                return self.send_company_links();
            }
        }
    }

    /// Claims and sends every due job of one kind, in full batches; whether any was
    /// claimed.
    fn pass(&mut self, kind: EntityKind) -> Result<bool, Stop> {
        let size = self.cfg.sync.batch_size;
        let mut ready: Vec<Ready> = Vec::new();
        let mut claimed = false;
        loop {
            let jobs = self.claim(kind, size)?;
            if jobs.is_empty() {
                break;
            }
            claimed = true;
            self.take(kind, jobs, &mut ready)?;
            while ready.len() >= size {
                let batch: Vec<Ready> = ready.drain(..size).collect();
                self.send(kind, batch)?;
                self.show_progress();
            }
        }
        if !ready.is_empty() {
            self.send(kind, ready)?;
            self.show_progress();
        }
        self.mark_waiting_notes()?;
        self.mark_waiting_tasks()?;
        self.drop_waiting_tasks();
        // What was settled without a request (skipped, unchanged) is recorded too.
        self.flush()?;
        self.post_marked()?;
        Ok(claimed)
    }

    /// The claim stage. Events that came during the run join it.
    fn claim(&mut self, kind: EntityKind, limit: usize) -> Result<Vec<Job>, Stop> {
        db::spool::fold(&self.paths, self.db.as_mut())?;
        let jobs = self.db.claim_of(kind, crate::log::now(), limit)?;
        self.ledger.claimed(&jobs);
        Ok(jobs)
    }

    /// Resolves and merges claimed jobs, and plans them into `ready`. A target already
    /// waiting there takes the new jobs and is read again: they may carry a change made
    /// after it was read.
    fn take(
        &mut self,
        kind: EntityKind,
        jobs: Vec<Job>,
        ready: &mut Vec<Ready>,
    ) -> Result<(), Stop> {
        let resolved = super::target::resolve(self.db.as_mut(), jobs)?;
        for (job, why) in &resolved.unresolved {
            self.ledger.skip_job(job, why);
        }
        let mut targets = resolved.targets;
        for t in targets.iter_mut() {
            if let Some(at) = ready
                .iter()
                .position(|r| (r.target.kind, r.target.id) == (t.kind, t.id))
            {
                let waiting = ready.remove(at).target;
                t.jobs.splice(0..0, waiting.jobs);
            }
        }
        let (mine, others): (Vec<Target>, Vec<Target>) =
            targets.into_iter().partition(|t| t.kind == kind);
        // Marked before any of their jobs can be recorded done.
        let waiting = self.mark_payment_notes(&super::notes::payments_named(&mine))?;
        self.payments_waiting.extend(waiting);
        ready.extend(self.prepare(kind, mine)?);
        // A lookup that found another kind of entity than its job's: sent on its own.
        for t in others {
            let kind = t.kind;
            let batch = self.prepare(kind, vec![t])?;
            self.send(kind, batch)?;
        }
        Ok(())
    }

    /// Commits the links and job ends kept so far, in one transaction.
    pub fn flush(&mut self) -> Result<(), Stop> {
        Ok(self.ledger.flush(self.db.as_mut())?)
    }

    /// What this run did before a stop is kept: its links, its jobs' ends, and (when
    /// amoCRM still answers) its companies' links to their contacts.
    fn keep_what_was_done(&mut self, stop: &Stop) {
        if let Err(e) = self.flush() {
            log::error!("cannot record the last links and job ends: {e:?}");
        }
        if matches!(stop, Stop::Db(_))
            && let Err(e) = self.send_company_links()
        {
            log::warn!("companies not linked to their contacts: {e:?}");
        }
        let left = self.ledger.take_open();
        if let Err(e) = self.db.release(&left) {
            log::error!(
                "cannot put {} job(s) back: {e}; the next worker start does",
                left.len()
            );
        }
    }

    /// Sends the new companies' links to their contacts gathered so far.
    pub fn send_company_links(&mut self) -> Result<(), Stop> {
        let links = std::mem::take(&mut self.company_links);
        self.link_companies(links)
    }

    /// Sends as many full requests of links as are gathered; the rest wait for more.
    pub fn send_full_company_links(&mut self) -> Result<(), Stop> {
        let full = self.company_links.len() / LINKS_PER_REQUEST * LINKS_PER_REQUEST;
        let links: Vec<LinkRequest> = self.company_links.drain(..full).collect();
        self.link_companies(links)
    }

    fn link_companies(&mut self, links: Vec<LinkRequest>) -> Result<(), Stop> {
        self.send_links("companies", links)
    }

    /// `POST /api/v4/{entity}/link`, 250 a request. A link amoCRM refuses is logged and
    /// left: the entities stay, only that link is missing.
    pub fn send_links(&mut self, entity: &str, links: Vec<LinkRequest>) -> Result<(), Stop> {
        if links.is_empty() {
            return Ok(());
        }
        match self.amo.link(entity, &links) {
            Ok(answers) => {
                for (l, a) in links.iter().zip(answers) {
                    if let Err(msg) = a {
                        let (from, to) = (l.entity_id, l.to_entity_id);
                        let (one, to_one) = (one_of(entity), one_of(&l.to_entity_type));
                        log::warn!("{one} {from} not linked to {to_one} {to}: {msg}");
                    }
                }
            }
            Err(e @ (AmoError::Refused { .. } | AmoError::Unavailable(_))) => {
                return Err(Stop::Amo(e));
            }
            Err(e) => log::warn!("{entity} not linked: {e}"),
        }
        Ok(())
    }

    /// amoCRM's fields and pipelines: as another process kept them less than five minutes
    /// ago, else read now (and kept for the others).
    pub fn meta(&mut self) -> Result<&Meta, Stop> {
        if self.meta.is_none() {
            let (url, now) = (self.cfg.auth.url.as_str(), crate::log::now());
            let with_users = super::owners::wanted(self.cfg);
            let fresh = AccountMeta::fresh(&self.paths, url, now)
                .filter(|m| !with_users || m.users.is_some());
            let account = match fresh {
                Some(m) => m,
                None => {
                    let mut m = AccountMeta::fetch(&mut self.amo, url, now).map_err(Stop::Amo)?;
                    if with_users && let Err(e) = m.read_users(&mut self.amo) {
                        log::warn!(
                            "amoCRM's users not read ({e}): created without a responsible user"
                        );
                    }
                    m.keep(&self.paths);
                    m
                }
            };
            self.meta = Some(Meta {
                account,
                offline: false,
            });
        }
        Ok(self.meta.as_ref().expect("read above"))
    }

    /// amoCRM rejected a write: perhaps a field or stage changed there, so the next
    /// process reads them again. Once a run: rejections come by the batch.
    pub fn forget_meta(&mut self) {
        if !self.meta_forgotten {
            AccountMeta::forget(&self.paths);
            self.meta_forgotten = true;
        }
    }

    fn show_progress(&mut self) {
        if !self.progress {
            return;
        }
        let waiting = self
            .db
            .queue_summary(crate::log::now())
            .map(|s| s.due)
            .unwrap_or(0);
        let r = &self.ledger.report;
        eprint!(
            "\r{} sent, {} unchanged, {} skipped, {} failed, {} waiting   ",
            r.sent, r.unchanged, r.skipped, r.failed, waiting
        );
    }
}

/// `companies` → `company`, `leads` → `lead`, for messages.
fn one_of(entity: &str) -> &str {
    match entity {
        "companies" => "company",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::*;
    use crate::db::NewJob;

    #[test]
    fn excluded_and_unchanged_entities_take_no_place_in_a_batch() {
        // Four of the six clients are of project 1; two a request.
        let stand = Stand::new("dedup =\nbatch_size = 2", |rules| {
            rules.replace(
                "; account = account.project = 1",
                "account = account.project = 1",
            )
        });
        let all: Vec<NewJob> = (2..=7)
            .map(|id| NewJob::for_id(EntityKind::Account, id, "sync"))
            .collect();
        let mut w = stand.worker();
        w.db.enqueue(&all, 1).unwrap();
        w.drain().expect("drained");
        assert_eq!(
            stand.count("POST /api/v4/contacts"),
            2,
            "{:?}",
            stand.calls()
        );
        assert_eq!((w.ledger.report.sent, w.ledger.report.skipped), (4, 2));
        // Everything again: nothing changed, nothing is sent or read back.
        let calls = stand.calls().len();
        w.db.enqueue(&all, 2).unwrap();
        w.drain().expect("drained");
        assert_eq!(stand.calls().len(), calls);
        assert_eq!(w.ledger.report.unchanged, 4);
        let s = w.db.queue_summary(i64::MAX / 2).unwrap();
        assert_eq!((s.pending, s.taken, s.done, s.skipped), (0, 0, 4, 2));
    }

    #[test]
    fn jobs_naming_one_client_in_different_claims_make_one_contact() {
        let stand = Stand::sample("dedup =\nbatch_size = 1");
        let mut w = stand.worker();
        let login = crate::db::Lookup::Login("petrov@romashka.example".into());
        w.db.enqueue(
            &[
                NewJob::for_id(EntityKind::Account, 3, "account.edit"),
                NewJob::for_lookup(
                    EntityKind::Account,
                    crate::db::Lookup::User(13),
                    "user.edit",
                ),
                NewJob::for_lookup(EntityKind::Account, login, "register"),
            ],
            1,
        )
        .unwrap();
        w.drain().expect("drained");
        assert_eq!(stand.count("POST /api/v4/contacts"), 1);
        let s = w.db.queue_summary(i64::MAX / 2).unwrap();
        assert_eq!((s.pending, s.done), (0, 3));
    }
}
