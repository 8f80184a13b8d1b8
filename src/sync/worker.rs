//! The worker's loop and the per-kind sync of a batch.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;

use super::dedup::{ContactIndex, Sent};
use super::fields::Meta;
use super::lock::WorkerLock;
use super::plan::{Plan, plan};
use super::state::RunState;
use crate::amo::{AmoClient, AmoError, ClientOptions, LinkRequest};
use crate::config::{Config, Problems};
use crate::db::{self, DbError, Job, Lookup, Outcome, PanelDb, Write};
use crate::model::{EntityKind, Record};
use crate::paths::Paths;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Another worker holds the lock: this one did nothing.
    pub busy: bool,
    /// `[sync] enabled = no`: jobs wait, nothing was sent.
    pub disabled: bool,
    pub sent: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("configuration problems (run `amocrm check`):\n{0}")]
    Config(#[from] Problems),
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{0}")]
    Amo(#[from] AmoError),
    #[error("cannot take the worker lock: {0}")]
    Lock(#[from] std::io::Error),
}

/// A run that must stop: amoCRM refused or is unreachable, or the database failed.
#[derive(Debug)]
enum Stop {
    Amo(AmoError),
    Db(DbError),
}

impl From<DbError> for Stop {
    fn from(e: DbError) -> Self {
        Stop::Db(e)
    }
}

/// Drains the queue until it is empty, then exits. A second worker exits at once.
pub fn run(paths: &Paths, progress: bool) -> Result<RunReport, RunError> {
    let mut total = RunReport::default();
    loop {
        let Some(lock) = WorkerLock::try_acquire(paths)? else {
            log::debug!("another worker is running; it will see the queued jobs");
            total.busy = total.sent + total.skipped + total.failed + total.unchanged == 0;
            return Ok(total);
        };
        let cfg = match crate::config::load(paths) {
            Ok(c) => c,
            Err(problems) => {
                log::error!(
                    "the worker cannot start: configuration problems (run `amocrm check`): {problems}"
                );
                save_state(
                    paths,
                    "config",
                    &problems.to_string(),
                    "fix the configuration: run `amocrm check`",
                    &total,
                );
                return Err(problems.into());
            }
        };
        crate::log::register_secret(cfg.auth.client_secret.expose());
        if let Some(code) = &cfg.auth.code {
            crate::log::register_secret(code.expose());
        }
        let mut db = db::open_panel(&cfg.database, paths)?;
        let reset = db.reset_taken()?;
        if reset > 0 {
            log::warn!("{reset} job(s) left taken by a worker that stopped are pending again");
        }
        let pruned = db.prune_jobs(crate::log::now() - KEEP_FINISHED_JOBS)?;
        if pruned > 0 {
            log::debug!("{pruned} finished job(s) older than 30 days removed from the queue");
        }
        if !cfg.sync.enabled {
            let waiting = db.queue_summary(crate::log::now())?.pending;
            log::info!(
                "sync is disabled ([sync] enabled = no): {waiting} job(s) wait, nothing is sent"
            );
            total.disabled = true;
            save_state(
                paths,
                "disabled",
                &format!("sync is disabled; {waiting} job(s) wait"),
                "set [sync] enabled = yes to send them",
                &total,
            );
            return Ok(total);
        }
        let mut w = Worker::new(paths, &cfg, db, progress)?;
        let outcome = w.drain();
        total.sent += w.report.sent;
        total.unchanged += w.report.unchanged;
        total.skipped += w.report.skipped;
        total.failed += w.report.failed;
        if w.progress {
            eprintln!();
        }
        match outcome {
            Ok(()) => {}
            Err(Stop::Amo(e)) => {
                let (message, action) = describe_stop(&e);
                log::error!("the run stopped, the queue keeps every job: {message}; {action}");
                RunState {
                    stopped_by_access: matches!(
                        e,
                        AmoError::Refused { .. } | AmoError::Unavailable(_)
                    ),
                    ..run_state("stopped", &message, &action, &total)
                }
                .save(paths);
                return Err(e.into());
            }
            Err(Stop::Db(e)) => {
                log::error!("the run stopped on a database error, the queue keeps every job: {e}");
                save_state(
                    paths,
                    "stopped",
                    &e.to_string(),
                    "check the panel database",
                    &total,
                );
                return Err(e.into());
            }
        }
        let mut db = w.into_db();
        drop(lock);
        // A job queued after the last claim but before the unlock woke no other worker:
        // look once more, and go on if there is one.
        db::spool::fold(paths, db.as_mut())?;
        if db.queue_summary(crate::log::now())?.due == 0 {
            break;
        }
    }
    log::info!(
        "run finished: {} sent, {} unchanged, {} skipped, {} failed",
        total.sent,
        total.unchanged,
        total.skipped,
        total.failed
    );
    save_state(paths, "ok", "the queue is drained", "", &total);
    Ok(total)
}

/// How long done and skipped jobs stay in the queue table (seconds): long enough to see
/// what happened recently, short enough that the table does not grow for ever.
const KEEP_FINISHED_JOBS: i64 = 30 * 24 * 3600;

fn save_state(paths: &Paths, result: &str, message: &str, action: &str, r: &RunReport) {
    run_state(result, message, action, r).save(paths);
}

fn run_state(result: &str, message: &str, action: &str, r: &RunReport) -> RunState {
    RunState {
        finished_at: crate::log::now(),
        result: result.into(),
        message: message.into(),
        action: action.into(),
        stopped_by_access: false,
        sent: r.sent,
        failed: r.failed,
        skipped: r.skipped,
    }
}

fn describe_stop(e: &AmoError) -> (String, String) {
    match e {
        AmoError::Refused {
            status,
            message,
            action,
        } => (
            format!("amoCRM refused ({status}): {message}"),
            action.clone(),
        ),
        AmoError::Unavailable(m) => (
            format!("amoCRM is unreachable: {m}"),
            "the next run retries; nothing to do unless it lasts".into(),
        ),
        AmoError::MaybeApplied(m) => (
            format!("amoCRM did not answer creates: {m}"),
            "the next run looks for what they made before creating again; nothing to do unless it lasts"
                .into(),
        ),
        other => (other.to_string(), "see the task log".into()),
    }
}

/// The delay before a failed job is tried again: 1 minute, doubling, at most 6 hours.
pub fn backoff(attempts: i64) -> i64 {
    let n = attempts.clamp(1, 20) as u32;
    (60i64 << (n - 1)).min(6 * 3600)
}

/// How far amoCRM's clock may be behind this machine's (seconds): what a lost create made
/// is looked for back to this long before it was sent.
const CLOCK_SKEW: i64 = 15 * 60;

/// Sends of one create batch whose answers were lost, each followed by a look for what it
/// made, before the run stops and leaves the rest to the next one.
const CREATE_ROUNDS: usize = 3;

/// The request that hangs a new company on its client's contact.
fn company_link(kind: EntityKind, company: i64, contact: Option<i64>) -> Option<LinkRequest> {
    (kind == EntityKind::Profile).then_some(())?;
    Some(LinkRequest {
        entity_id: company,
        to_entity_type: "contacts".into(),
        to_entity_id: contact?,
        is_main: false,
    })
}

/// amoCRM takes this many links a request: new companies' links to their contacts are
/// gathered across batches up to this many.
const LINKS_PER_REQUEST: usize = 250;

/// Above this many due jobs the worker reads every contact once to find duplicates,
/// instead of one search per new client.
const FULL_SCAN_THRESHOLD: i64 = 200;

struct Worker<'a> {
    cfg: &'a Config,
    paths: Paths,
    db: Box<dyn PanelDb>,
    amo: AmoClient,
    meta: Option<Meta>,
    index: ContactIndex,
    full_scan: bool,
    index_loaded: bool,
    /// Claimed jobs not finished yet (released if the run stops).
    open: HashMap<i64, Job>,
    /// Entities found not to sync in this run (asked for again as others' dependencies).
    not_synced: HashSet<(EntityKind, i64)>,
    /// Links and job ends not committed yet: one transaction per sync of a batch.
    writes: Vec<Write>,
    /// New companies' links to their contacts not sent yet.
    company_links: Vec<LinkRequest>,
    /// The kept fields and pipelines were dropped in this run already.
    meta_forgotten: bool,
    report: RunReport,
    progress: bool,
}

/// One entity to sync, with the job that asked for it (none when synced as a dependency).
struct Target {
    job: Option<Job>,
    id: i64,
}

impl<'a> Worker<'a> {
    fn new(
        paths: &Paths,
        cfg: &'a Config,
        mut db: Box<dyn PanelDb>,
        progress: bool,
    ) -> Result<Worker<'a>, RunError> {
        let opts = ClientOptions {
            rate_limit: cfg.sync.rate_limit,
            timeout: std::time::Duration::from_secs(30),
        };
        let amo = AmoClient::new(&cfg.auth, opts, paths)?;
        let due = db.queue_summary(crate::log::now())?.due;
        Ok(Worker {
            cfg,
            paths: paths.clone(),
            db,
            amo,
            meta: None,
            index: ContactIndex::default(),
            full_scan: due > FULL_SCAN_THRESHOLD,
            index_loaded: false,
            open: HashMap::new(),
            not_synced: HashSet::new(),
            writes: Vec::new(),
            company_links: Vec::new(),
            meta_forgotten: false,
            report: RunReport::default(),
            progress: progress && std::io::stderr().is_terminal(),
        })
    }

    fn into_db(self) -> Box<dyn PanelDb> {
        self.db
    }

    fn drain(&mut self) -> Result<(), Stop> {
        loop {
            // Events that came during the run join it.
            let claimed = db::spool::fold(&self.paths, self.db.as_mut())
                .and_then(|_| self.db.claim(crate::log::now(), self.cfg.sync.batch_size));
            let outcome = match claimed {
                Ok(jobs) if jobs.is_empty() => return self.send_company_links(),
                Ok(jobs) => {
                    for j in &jobs {
                        self.open.insert(j.id, j.clone());
                    }
                    self.process(jobs)
                }
                Err(e) => Err(e.into()),
            };
            if let Err(stop) = outcome {
                // What this run did before the stop is kept: its links, its jobs' ends,
                // and (when amoCRM still answers) its companies' links to their contacts.
                if let Err(e) = self.flush() {
                    log::error!("cannot record the last links and job ends: {e:?}");
                }
                if matches!(stop, Stop::Db(_))
                    && let Err(e) = self.send_company_links()
                {
                    log::warn!("companies not linked to their contacts: {e:?}");
                }
                let left: Vec<Job> = self.open.drain().map(|(_, j)| j).collect();
                if let Err(e) = self.db.release(&left) {
                    log::error!(
                        "cannot put {} job(s) back: {e}; the next worker start does",
                        left.len()
                    );
                }
                return Err(stop);
            }
            self.show_progress();
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
        let r = &self.report;
        eprint!(
            "\r{} sent, {} unchanged, {} skipped, {} failed, {} waiting   ",
            r.sent, r.unchanged, r.skipped, r.failed, waiting
        );
    }

    fn process(&mut self, jobs: Vec<Job>) -> Result<(), Stop> {
        let mut by_kind: HashMap<EntityKind, Vec<Target>> = HashMap::new();
        for job in jobs {
            match self.resolve(&job)? {
                Ok((kind, id)) => by_kind
                    .entry(kind)
                    .or_default()
                    .push(Target { job: Some(job), id }),
                Err(why) => self.finish(&job, Outcome::Skipped(why))?,
            }
        }
        // Payers come in a row (claims go by kind): once a batch holds none, the links
        // gathered for their companies go out.
        let payers = by_kind.contains_key(&EntityKind::Profile);
        for kind in EntityKind::ALL {
            if let Some(targets) = by_kind.remove(&kind) {
                self.sync(kind, targets)?;
            }
        }
        self.flush()?;
        if !payers {
            self.send_company_links()?;
        }
        Ok(())
    }

    /// Commits the links and job ends kept so far, in one transaction.
    fn flush(&mut self) -> Result<(), Stop> {
        if !self.writes.is_empty() {
            self.db.record(&self.writes, crate::log::now())?;
            self.writes.clear();
        }
        Ok(())
    }

    /// Sends the new companies' links to their contacts gathered so far.
    fn send_company_links(&mut self) -> Result<(), Stop> {
        if self.company_links.is_empty() {
            return Ok(());
        }
        let links = std::mem::take(&mut self.company_links);
        match self.amo.link("companies", &links) {
            Ok(answers) => {
                for (l, a) in links.iter().zip(answers) {
                    if let Err(msg) = a {
                        log::warn!(
                            "company {} not linked to contact {}: {msg}",
                            l.entity_id,
                            l.to_entity_id
                        );
                    }
                }
            }
            Err(e @ (AmoError::Refused { .. } | AmoError::Unavailable(_))) => {
                return Err(Stop::Amo(e));
            }
            Err(e) => log::warn!("companies not linked to their contacts: {e}"),
        }
        Ok(())
    }

    /// The entity a job is about; `Err(reason)` when it cannot be found.
    fn resolve(&mut self, job: &Job) -> Result<Result<(EntityKind, i64), String>, Stop> {
        if let Some(id) = job.billmgr_id {
            return Ok(Ok((job.kind, id)));
        }
        Ok(match &job.lookup {
            Some(Lookup::Login(login)) => match self.db.account_by_login(login)? {
                Some(id) => Ok((EntityKind::Account, id)),
                None => Err(format!("no client has a user with login {login}")),
            },
            Some(Lookup::User(user)) => match self.db.account_of_user(*user)? {
                Some(id) => Ok((EntityKind::Account, id)),
                None => Err(format!("user {user} no longer exists in the panel")),
            },
            Some(Lookup::NewestProfileOfLogin(login)) => match self.db.account_by_login(login)? {
                Some(acc) => match self.db.profiles_of_account(acc)?.into_iter().max() {
                    Some(p) => Ok((EntityKind::Profile, p)),
                    None => Err(format!("client {acc} has no payer")),
                },
                None => Err(format!("no client has a user with login {login}")),
            },
            None => Err("the job names no entity".to_string()),
        })
    }

    fn finish(&mut self, job: &Job, outcome: Outcome) -> Result<(), Stop> {
        let key = job_label(job);
        match &outcome {
            Outcome::Done => {}
            Outcome::Skipped(why) => {
                self.report.skipped += 1;
                log::info!("{key}: skipped: {why}");
            }
            Outcome::Failed { error, next_try } => {
                self.report.failed += 1;
                log::warn!(
                    "{key}: failed (attempt {}), next try in {} s: {error}",
                    job.attempts + 1,
                    next_try - crate::log::now()
                );
            }
        }
        self.writes.push(Write::Finish {
            job: job.clone(),
            outcome,
        });
        self.open.remove(&job.id);
        Ok(())
    }

    fn fail(&mut self, job: &Option<Job>, error: String) -> Result<(), Stop> {
        match job {
            Some(j) => {
                let next_try = crate::log::now() + backoff(j.attempts + 1);
                self.finish(j, Outcome::Failed { error, next_try })
            }
            None => {
                log::warn!("dependency not synced: {error}");
                Ok(())
            }
        }
    }

    fn done(
        &mut self,
        job: &Option<Job>,
        kind: EntityKind,
        id: i64,
        amo_id: i64,
        what: &str,
    ) -> Result<(), Stop> {
        log::info!("{kind} {id} → {} {amo_id}: {what}", kind.amo_entity());
        match job {
            Some(j) => self.finish(j, Outcome::Done),
            None => Ok(()),
        }
    }

    fn skip(
        &mut self,
        job: &Option<Job>,
        kind: EntityKind,
        id: i64,
        why: String,
    ) -> Result<(), Stop> {
        match job {
            Some(j) => self.finish(j, Outcome::Skipped(why)),
            None => {
                log::info!("{kind} {id}: not synced: {why}");
                Ok(())
            }
        }
    }

    /// amoCRM rejected a write: perhaps a field or stage changed there, so the next worker
    /// reads them again. Once a run: rejections come by the batch.
    fn forget_meta(&mut self) {
        if !self.meta_forgotten {
            Meta::forget(&self.paths);
            self.meta_forgotten = true;
        }
    }

    fn meta(&mut self) -> Result<&Meta, Stop> {
        let cfg = self.cfg;
        let (url, now) = (cfg.auth.url.as_str(), crate::log::now());
        if self.meta.is_none() {
            self.meta = Meta::cached(&self.paths, url, now);
        }
        if self.meta.is_none() {
            let mut m = Meta::default();
            for e in ["contacts", "companies", "leads"] {
                m.fields
                    .insert(e.to_string(), self.amo.custom_fields(e).map_err(Stop::Amo)?);
            }
            m.pipelines = self.amo.pipelines().map_err(Stop::Amo)?;
            m.store(&self.paths, url, now);
            self.meta = Some(m);
        }
        Ok(self.meta.as_ref().expect("loaded above"))
    }

    fn read(&mut self, kind: EntityKind, id: i64) -> Result<Option<Record>, DbError> {
        match kind {
            EntityKind::Account => self.db.read_account(id),
            EntityKind::Profile => self.db.read_profile(id),
            EntityKind::Item => self.db.read_item(id),
        }
    }

    /// The amoCRM id of an entity, syncing it first if it was never synced. `None` when
    /// its rules keep it out of amoCRM.
    fn ensure(&mut self, kind: EntityKind, id: i64) -> Result<Option<i64>, Stop> {
        if let Some(l) = self.db.link(kind, id)? {
            return Ok(Some(l.amocrm_id));
        }
        if self.not_synced.contains(&(kind, id)) {
            return Ok(None);
        }
        let got = self
            .sync(kind, vec![Target { job: None, id }])?
            .into_iter()
            .next()
            .flatten();
        if got.is_none() {
            self.not_synced.insert((kind, id));
        }
        Ok(got)
    }

    /// The company of a client's services: its first payer that is (or can be) a company.
    fn company_of(&mut self, account: i64) -> Result<Option<i64>, Stop> {
        let payers = self.db.profiles_of_account(account)?;
        for p in &payers {
            if let Some(l) = self.db.link(EntityKind::Profile, *p)? {
                return Ok(Some(l.amocrm_id));
            }
        }
        for p in payers {
            if let Some(c) = self.ensure(EntityKind::Profile, p)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Whether another payer of the client is linked to a company already.
    fn client_has_company(&mut self, account: Option<i64>, profile: i64) -> Result<bool, Stop> {
        let Some(account) = account else {
            return Ok(false);
        };
        for other in self.db.profiles_of_account(account)? {
            if other != profile && self.db.link(EntityKind::Profile, other)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Syncs entities of one kind in as few requests as the batch allows, and commits what
    /// it recorded (later reads of the links, a dependency's among them, must see it).
    /// Returns the amoCRM id of each target (`None` when not synced).
    fn sync(&mut self, kind: EntityKind, targets: Vec<Target>) -> Result<Vec<Option<i64>>, Stop> {
        let result = self.sync_batch(kind, targets)?;
        self.flush()?;
        Ok(result)
    }

    fn sync_batch(
        &mut self,
        kind: EntityKind,
        targets: Vec<Target>,
    ) -> Result<Vec<Option<i64>>, Stop> {
        let entity = kind.amo_entity();
        let mut result = vec![None; targets.len()];
        let mut creates: Vec<(usize, Plan, Option<i64>, Option<i64>)> = Vec::new();
        let mut updates: Vec<(usize, Plan, i64, &'static str, String)> = Vec::new();
        self.meta()?;
        for (i, t) in targets.iter().enumerate() {
            let rec = match self.read(kind, t.id) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    // Gone from the panel: nothing will ever be created for it again.
                    self.db.clear_creating(kind, &[t.id])?;
                    self.skip(
                        &t.job,
                        kind,
                        t.id,
                        format!("{kind} {} no longer exists in the panel", t.id),
                    )?;
                    continue;
                }
                Err(e) => {
                    self.fail(&t.job, e.to_string())?;
                    continue;
                }
            };
            if let Some(why) = super::plan::never_synced(kind, &rec) {
                self.skip(&t.job, kind, t.id, why.into())?;
                continue;
            }
            if !self.cfg.rules.should_sync(kind, &rec) {
                self.skip(
                    &t.job,
                    kind,
                    t.id,
                    "its sync condition does not hold".into(),
                )?;
                continue;
            }
            let (mut contact, mut company) = (None, None);
            if kind != EntityKind::Account {
                let Some(account) = rec.int("account.id") else {
                    self.skip(&t.job, kind, t.id, "it belongs to no client".into())?;
                    continue;
                };
                contact = self.ensure(EntityKind::Account, account)?;
                if contact.is_none() {
                    // Kept out by the rules: skip for good; failed to send: try again later.
                    let kept_out = match self.read(EntityKind::Account, account) {
                        Ok(Some(r)) => !self.cfg.rules.should_sync(EntityKind::Account, &r),
                        Ok(None) => true,
                        Err(_) => false,
                    };
                    if kept_out {
                        self.skip(
                            &t.job,
                            kind,
                            t.id,
                            format!(
                                "its client {account} is not synced (its condition does not hold)"
                            ),
                        )?;
                    } else {
                        self.fail(
                            &t.job,
                            format!("its client {account} could not be sent to amoCRM yet"),
                        )?;
                    }
                    continue;
                }
                if kind == EntityKind::Item {
                    company = self.company_of(account)?;
                }
            }
            let p = plan(
                kind,
                t.id,
                &rec,
                &self.cfg.rules,
                self.meta.as_ref().expect("loaded"),
            );
            for w in &p.warnings {
                log::warn!("{kind} {}: {w}", t.id);
            }
            match self.db.link(kind, t.id)? {
                Some(l) if l.fingerprint == p.fingerprint(self.cfg.sync.update) => {
                    result[i] = Some(l.amocrm_id);
                    self.report.unchanged += 1;
                    self.done(&t.job, kind, t.id, l.amocrm_id, "unchanged")?;
                }
                Some(l) => updates.push((i, p, l.amocrm_id, "updated", l.fingerprint)),
                None => match self.find_duplicate(kind, &p)? {
                    Some(existing) => updates.push((
                        i,
                        p,
                        existing,
                        "linked to the existing contact",
                        String::new(),
                    )),
                    None => {
                        // amoCRM keeps one company per contact, and a link to a second
                        // moves the contact: only the client's first company takes it,
                        // whether made in an earlier batch or earlier in this one.
                        if kind == EntityKind::Profile
                            && contact.is_some()
                            && (creates.iter().any(|c| c.2 == contact)
                                || self.client_has_company(rec.int("account.id"), t.id)?)
                        {
                            contact = None;
                        }
                        creates.push((i, p, contact, company))
                    }
                },
            }
        }

        let mut company_links: Vec<LinkRequest> = Vec::new();
        // Entities an earlier create may have made (its answer lost, or the worker stopped
        // before saving the link): linked to what is found, created only if nothing is.
        let marked: HashSet<i64> = self.db.creating(kind)?.into_iter().map(|m| m.0).collect();
        let sent: Vec<Sent> = creates
            .iter()
            .filter(|c| marked.contains(&targets[c.0].id))
            .map(|(i, p, c, co)| Sent {
                billmgr_id: targets[*i].id,
                body: p.create_payload(*c, *co),
            })
            .collect();
        if !sent.is_empty() {
            match self.find_made(kind, &sent)? {
                Ok(found) => {
                    let mut rest = Vec::new();
                    for (i, p, contact, company) in creates.drain(..) {
                        match found.get(&targets[i].id) {
                            Some(&amo_id) => {
                                company_links.extend(company_link(kind, amo_id, contact));
                                let what = "found in amoCRM (an earlier create's answer was lost)";
                                updates.push((i, p, amo_id, what, String::new()));
                            }
                            None => rest.push((i, p, contact, company)),
                        }
                    }
                    creates = rest;
                }
                Err(e) => {
                    let idx = sent
                        .iter()
                        .filter_map(|s| targets.iter().position(|t| t.id == s.billmgr_id))
                        .collect();
                    self.batch_failed(e, &targets, idx)?;
                    creates.retain(|c| !marked.contains(&targets[c.0].id));
                }
            }
        }

        if !updates.is_empty() {
            let ids: Vec<i64> = updates.iter().map(|u| u.2).collect();
            let current = match self.amo.get_by_ids(entity, &ids, "") {
                Ok(v) => v,
                Err(e) => {
                    return self
                        .batch_failed(e, &targets, updates.iter().map(|u| u.0).collect())
                        .map(|_| result);
                }
            };
            let by_id: HashMap<i64, serde_json::Value> = current
                .into_iter()
                .filter_map(|v| Some((v.get("id")?.as_i64()?, v)))
                .collect();
            let mut sends: Vec<(usize, Plan, i64, &'static str, serde_json::Value)> = Vec::new();
            for (i, p, amo_id, what, last) in updates {
                let t = &targets[i];
                match by_id.get(&amo_id) {
                    None => {
                        // Deleted in amoCRM by a manager: the panel entity is made again.
                        log::warn!(
                            "{kind} {}: {entity} {amo_id} is gone from amoCRM; creating it again",
                            t.id
                        );
                        let (contact, company) = self.lead_links(kind, &p)?;
                        creates.push((i, p, contact, company));
                    }
                    Some(cur) => match p.update_payload(
                        amo_id,
                        cur,
                        self.cfg.sync.update,
                        p.state_changed(&last),
                    ) {
                        Some(body) => sends.push((i, p, amo_id, what, body)),
                        None => {
                            self.report.unchanged += 1;
                            let what = format!("{what}, nothing to change");
                            result[i] = Some(self.linked(t, kind, amo_id, &p, &what)?);
                        }
                    },
                }
            }
            if !sends.is_empty() {
                let bodies: Vec<serde_json::Value> = sends.iter().map(|s| s.4.clone()).collect();
                match self.amo.update(entity, &bodies) {
                    Ok(answers) => {
                        for ((i, p, amo_id, what, _), answer) in sends.into_iter().zip(answers) {
                            let t = &targets[i];
                            match answer {
                                Ok(()) => {
                                    self.report.sent += 1;
                                    result[i] = Some(self.linked(t, kind, amo_id, &p, what)?);
                                }
                                Err(msg) => {
                                    self.forget_meta();
                                    self.fail(&t.job, format!("amoCRM rejected the update: {msg}"))?
                                }
                            }
                        }
                    }
                    Err(e) => {
                        self.batch_failed(e, &targets, sends.iter().map(|s| s.0).collect())?
                    }
                }
            }
        }

        let mut round = 0;
        while !creates.is_empty() {
            round += 1;
            // Committed before the request leaves: if its answer is lost, or this process
            // dies before the links are saved, the next attempt looks before creating.
            let ids: Vec<i64> = creates.iter().map(|c| targets[c.0].id).collect();
            self.db.mark_creating(kind, &ids, crate::log::now())?;
            let bodies: Vec<serde_json::Value> = creates
                .iter()
                .map(|(_, p, c, co)| p.create_payload(*c, *co))
                .collect();
            match self.amo.create(entity, &bodies) {
                Ok(answers) => {
                    let mut rejected = Vec::new();
                    for ((i, p, contact, _), answer) in creates.drain(..).zip(answers) {
                        let t = &targets[i];
                        match answer {
                            Ok(new_id) => {
                                self.report.sent += 1;
                                result[i] = Some(self.linked(t, kind, new_id, &p, "created")?);
                                company_links.extend(company_link(kind, new_id, contact));
                            }
                            Err(msg) => {
                                rejected.push(t.id);
                                self.forget_meta();
                                self.fail(&t.job, format!("amoCRM rejected it: {msg}"))?
                            }
                        }
                    }
                    // Rejected: nothing was made, there is nothing to look for.
                    self.db.clear_creating(kind, &rejected)?;
                }
                Err(AmoError::MaybeApplied(why)) if round < CREATE_ROUNDS => {
                    log::warn!("{why}; looking for what it made before sending it again");
                    let sent: Vec<Sent> = creates
                        .iter()
                        .zip(bodies)
                        .map(|(c, body)| Sent {
                            billmgr_id: targets[c.0].id,
                            body,
                        })
                        .collect();
                    let found = match self.find_made(kind, &sent)? {
                        Ok(found) => found,
                        Err(e) => {
                            let idx = creates.iter().map(|c| c.0).collect();
                            self.batch_failed(e, &targets, idx)?;
                            break;
                        }
                    };
                    let mut rest = Vec::new();
                    for (i, p, contact, company) in creates.drain(..) {
                        let t = &targets[i];
                        match found.get(&t.id) {
                            Some(&amo_id) => {
                                self.report.sent += 1;
                                let what = "created (found in amoCRM after the answer was lost)";
                                result[i] = Some(self.linked(t, kind, amo_id, &p, what)?);
                                company_links.extend(company_link(kind, amo_id, contact));
                            }
                            None => rest.push((i, p, contact, company)),
                        }
                    }
                    creates = rest;
                }
                Err(e) => {
                    let idx = creates.iter().map(|c| c.0).collect();
                    self.batch_failed(e, &targets, idx)?;
                    break;
                }
            }
        }
        self.company_links.extend(company_links);
        if self.company_links.len() >= LINKS_PER_REQUEST {
            self.flush()?;
            self.send_company_links()?;
        }
        Ok(result)
    }

    /// What earlier creates whose answers were lost made, among amoCRM's newest entities
    /// (one pass for the whole batch): panel id → amoCRM id. The marks say since when.
    fn find_made(
        &mut self,
        kind: EntityKind,
        sent: &[Sent],
    ) -> Result<Result<HashMap<i64, i64>, AmoError>, Stop> {
        // The links saved so far decide which found entity is already another's.
        self.flush()?;
        let marks: HashMap<i64, i64> = self.db.creating(kind)?.into_iter().collect();
        let now = crate::log::now();
        let since = sent
            .iter()
            .map(|s| marks.get(&s.billmgr_id).copied().unwrap_or(now))
            .min()
            .unwrap_or(now)
            - CLOCK_SKEW;
        let entity = kind.amo_entity();
        // A lead is told from another of the same name by its contact.
        let with = if kind == EntityKind::Item {
            "contacts"
        } else {
            ""
        };
        let mut found = Vec::new();
        if let Err(e) = self
            .amo
            .newest_since(entity, with, since, &mut |page| found.extend(page))
        {
            return Ok(Err(e));
        }
        found.retain(|v| {
            v.get("created_at")
                .and_then(serde_json::Value::as_i64)
                .is_none_or(|t| t >= since)
        });
        let email_field = self
            .meta
            .as_ref()
            .and_then(|m| m.field_id_by_code("contacts", "EMAIL"));
        let db = &mut self.db;
        let mut db_error = None;
        let pairs =
            super::dedup::match_made(sent, &found, email_field, &mut |billmgr_id, id| match db
                .linked_to(kind, id)
            {
                Ok(owner) => owner.is_none_or(|o| o == billmgr_id),
                Err(e) => {
                    db_error.get_or_insert(e);
                    false
                }
            });
        if let Some(e) = db_error {
            return Err(e.into());
        }
        log::info!(
            "looked for {} {entity} a create may have made among the {} made since {since}: {} found",
            sent.len(),
            found.len(),
            pairs.len()
        );
        Ok(Ok(pairs.into_iter().collect()))
    }

    /// Records that the entity is (now) the amoCRM one, and ends its job.
    fn linked(
        &mut self,
        t: &Target,
        kind: EntityKind,
        amo_id: i64,
        p: &Plan,
        what: &str,
    ) -> Result<i64, Stop> {
        self.writes.push(Write::Link {
            kind,
            billmgr_id: t.id,
            amocrm_id: amo_id,
            fingerprint: p.fingerprint(self.cfg.sync.update),
        });
        self.done(&t.job, kind, t.id, amo_id, what)?;
        Ok(amo_id)
    }

    /// For a lead made again: its contact and company (already linked by now).
    fn lead_links(
        &mut self,
        kind: EntityKind,
        p: &Plan,
    ) -> Result<(Option<i64>, Option<i64>), Stop> {
        if kind != EntityKind::Item {
            return Ok((None, None));
        }
        let Some(acc) = p.account_id else {
            return Ok((None, None));
        };
        let contact = self.db.link(EntityKind::Account, acc)?.map(|l| l.amocrm_id);
        Ok((contact, self.company_of(acc)?))
    }

    /// A whole request failed: stop the run if amoCRM refuses or is gone, else fail the
    /// batch's jobs with the reason and go on.
    fn batch_failed(
        &mut self,
        e: AmoError,
        targets: &[Target],
        idx: Vec<usize>,
    ) -> Result<(), Stop> {
        match e {
            AmoError::Refused { .. } | AmoError::Unavailable(_) | AmoError::MaybeApplied(_) => {
                Err(Stop::Amo(e))
            }
            other => {
                self.forget_meta();
                let msg = other.to_string();
                for i in idx {
                    self.fail(&targets[i].job, msg.clone())?;
                }
                Ok(())
            }
        }
    }

    /// An existing amoCRM contact that is this client (same e-mail or phone).
    fn find_duplicate(&mut self, kind: EntityKind, p: &Plan) -> Result<Option<i64>, Stop> {
        let keys = self.cfg.sync.dedup.clone();
        if kind != EntityKind::Account
            || keys.is_empty()
            || (p.email.is_none() && p.phone.is_none())
        {
            return Ok(None);
        }
        let meta = self.meta.as_ref().expect("loaded");
        let (email_f, phone_f) = (
            meta.field_id_by_code("contacts", "EMAIL"),
            meta.field_id_by_code("contacts", "PHONE"),
        );
        if self.full_scan {
            if !self.index_loaded {
                let index = &mut self.index;
                let mut n = 0usize;
                self.amo
                    .for_each_page("contacts", "", &mut |page| {
                        n += page.len();
                        for c in &page {
                            index.add(c, email_f, phone_f);
                        }
                    })
                    .map_err(Stop::Amo)?;
                log::info!("read {n} existing amoCRM contacts to match clients against");
                self.index_loaded = true;
            }
        } else {
            let mut queries = Vec::new();
            if let Some(e) = p.email.as_deref().and_then(super::dedup::normalize_email) {
                queries.push(e);
            }
            if let Some(ph) = p.phone.as_deref().and_then(super::dedup::normalize_phone) {
                // The last ten digits: the part every written form of the number shares.
                queries.push(ph[ph.len().saturating_sub(10)..].to_string());
            }
            for q in queries {
                for c in self.amo.search("contacts", &q).map_err(Stop::Amo)? {
                    self.index.add(&c, email_f, phone_f);
                }
            }
        }
        let Some(found) = self
            .index
            .find(&keys, p.email.as_deref(), p.phone.as_deref())
        else {
            return Ok(None);
        };
        // A contact that is already another panel client's is that client's: two clients
        // sharing a phone (a family, a company's switchboard) stay two contacts.
        match self.db.linked_to(EntityKind::Account, found)? {
            Some(other) if other != p.billmgr_id => {
                log::info!(
                    "account {}: contact {found} matches but belongs to account {other}; creating a new one",
                    p.billmgr_id
                );
                Ok(None)
            }
            _ => Ok(Some(found)),
        }
    }
}

fn job_label(job: &Job) -> String {
    match (&job.billmgr_id, &job.lookup) {
        (Some(id), _) => format!("{} {id}", job.kind),
        (None, Some(l)) => format!("{} ({})", job.kind, l.encode()),
        _ => format!("{} job {}", job.kind, job.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), 60);
        assert_eq!(backoff(2), 120);
        assert_eq!(backoff(5), 960);
        assert_eq!(backoff(30), 6 * 3600);
        assert_eq!(backoff(0), 60);
    }
}
