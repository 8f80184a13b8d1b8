//! The worker's run as every stage sees it: [`Worker`], what it holds from its start to
//! its end, and [`Stop`], why a run ends early. The stages (`drain`, `prepare`, `send`,
//! `heal`, `notes`, `tasks`, `posting`, `owners`, …) are its methods, each in its file.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;

use super::dedup::Finder;
use super::fields::Meta;
use super::record::Ledger;
use crate::amo::{AmoClient, AmoError, ClientOptions, LinkRequest};
use crate::config::Config;
use crate::db::{DbError, PanelDb};
use crate::model::EntityKind;
use crate::paths::Paths;
use crate::rules::UserRef;

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
    pub heals: Heals,
    /// The kept fields and pipelines were dropped in this run already.
    pub meta_forgotten: bool,
    pub progress: bool,
    /// The users `[responsible]` names, as resolved in this run.
    pub owners: Owners,
    /// Notes and tasks marked in this run and not sent yet.
    pub fresh_posts: Fresh,
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
}

/// The heals of the batch being sent.
#[derive(Debug, Default)]
pub(super) struct Heals {
    /// Targets whose link is being replaced: (kind, panel id) → the amoCRM id that is gone.
    pub pending: HashMap<(EntityKind, i64), i64>,
    /// Those linked again, waiting for what hung on the old entity.
    pub done: Vec<Healed>,
}

/// A target linked to a new amoCRM entity in place of one that is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Healed {
    pub kind: EntityKind,
    pub id: i64,
    /// Its client (a client's own id, a payer's client).
    pub account: Option<i64>,
    pub was: i64,
    pub now: i64,
    /// Made just now, so nothing hangs on it yet (an existing one matched may have some).
    pub fresh: bool,
}

/// What is known of the users named in this run.
#[derive(Debug, Default)]
pub(super) struct Owners {
    pub resolved: HashMap<UserRef, Option<i64>>,
    /// Ids amoCRM refused as responsible in this run.
    pub refused: HashSet<i64>,
}

/// Keys marked in this run and not sent yet: they need no look in amoCRM first.
pub type Fresh = HashSet<String>;
