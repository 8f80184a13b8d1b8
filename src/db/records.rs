//! What the module's queue and link tables hold, as the interface hands them out.

use crate::model::EntityKind;

/// A job to put in the queue. Jobs are keyed: a second event for the same entity before
/// the first is done does not add a row, it marks the one row pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: EntityKind,
    /// The entity's id, when the event carried it.
    pub billmgr_id: Option<i64>,
    /// How the worker finds the entity when no id was given (see [`Lookup`]).
    pub lookup: Option<Lookup>,
    /// The panel function that queued it (`account.edit`, `service.postclose`, `sync`).
    pub event: String,
}

impl NewJob {
    pub fn for_id(kind: EntityKind, id: i64, event: &str) -> NewJob {
        NewJob {
            kind,
            billmgr_id: Some(id),
            lookup: None,
            event: event.to_string(),
        }
    }
    pub fn for_lookup(kind: EntityKind, lookup: Lookup, event: &str) -> NewJob {
        NewJob {
            kind,
            billmgr_id: None,
            lookup: Some(lookup),
            event: event.to_string(),
        }
    }
    /// The queue's unique key: `item:1001`, `account?login=a@b.c`.
    pub fn key(&self) -> String {
        match (&self.billmgr_id, &self.lookup) {
            (Some(id), _) => format!("{}:{}", self.kind, id),
            (None, Some(l)) => format!("{}?{}", self.kind, l.encode()),
            (None, None) => format!("{}?", self.kind),
        }
    }
}

/// How to find an entity the event did not name by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The client whose user has this login (`user.name`), e.g. after `register`.
    Login(String),
    /// The client of this user (`user.id`), after `user.edit`.
    User(i64),
    /// The newest payer of the client whose user has this login, after a payer was added.
    NewestProfileOfLogin(String),
    /// The client a payment was made to (`payment.id`), after the payment was credited:
    /// the client is synced, then the payment's note written.
    Payment(i64),
}

impl Lookup {
    pub fn encode(&self) -> String {
        match self {
            Lookup::Login(l) => format!("login={l}"),
            Lookup::User(id) => format!("user={id}"),
            Lookup::NewestProfileOfLogin(l) => format!("newest-profile-of={l}"),
            Lookup::Payment(id) => format!("payment={id}"),
        }
    }
    pub fn decode(s: &str) -> Option<Lookup> {
        let (k, v) = s.split_once('=')?;
        match k {
            "login" => Some(Lookup::Login(v.to_string())),
            "user" => v.parse().ok().map(Lookup::User),
            "newest-profile-of" => Some(Lookup::NewestProfileOfLogin(v.to_string())),
            "payment" => v.parse().ok().map(Lookup::Payment),
            _ => None,
        }
    }
}

/// A job as the worker sees it after claiming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: EntityKind,
    pub billmgr_id: Option<i64>,
    pub lookup: Option<Lookup>,
    pub event: String,
    /// Failed attempts so far (for the backoff).
    pub attempts: i64,
    /// Bumped by every new event for the same key; finishing is guarded by it so an
    /// event that arrives while the job is being worked on is not lost.
    pub generation: i64,
    pub last_error: Option<String>,
}

/// How a claimed job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent (or nothing needed sending).
    Done,
    /// Not sent on purpose (a condition does not hold, the entity is gone...): the reason.
    Skipped(String),
    /// Not sent this time: kept with its error and tried again at `next_try` (unix seconds).
    Failed { error: String, next_try: i64 },
}

/// One write of the worker's, kept until the end of a batch so that the batch's links and
/// job ends go in one transaction (one commit, and so one disk sync, per batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Saves a link (upsert by `billmgr_id`) and clears the entity's create mark.
    Link {
        kind: EntityKind,
        billmgr_id: i64,
        amocrm_id: i64,
        fingerprint: String,
    },
    /// Ends a claimed job (see [`PanelDb::finish`]).
    Finish { job: Job, outcome: Outcome },
}

/// Counts for `amocrm status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueSummary {
    /// Waiting to be sent (including failed ones waiting for their next try).
    pub pending: i64,
    /// Of those, due now.
    pub due: i64,
    /// Failed at least once and waiting for a retry.
    pub failed: i64,
    /// Claimed by a worker right now (or by one that died: reset at the next start).
    pub taken: i64,
    pub done: i64,
    pub skipped: i64,
    /// Unix time the last job was done, if any.
    pub last_done_at: Option<i64>,
    /// The next retry time among failed jobs.
    pub next_try: Option<i64>,
}

/// A job as listed for the admin (status, UI).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobInfo {
    pub id: i64,
    pub key: String,
    /// `account`, `profile` or `item`.
    pub kind: String,
    /// The panel entity, when the job names it by id (not by a login to look up).
    pub billmgr_id: Option<i64>,
    pub event: String,
    pub state: String,
    pub attempts: i64,
    pub next_try: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// A recorded BILLmanager id → amoCRM id link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub id: i64,
    pub billmgr_id: i64,
    pub amocrm_id: i64,
    /// Unix time of the last successful sync.
    pub synced_at: i64,
    /// A hash of what was last sent, so an unchanged entity costs no request.
    pub fingerprint: String,
}
