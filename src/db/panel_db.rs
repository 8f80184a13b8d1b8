//! The one interface over both backends.

use std::collections::HashMap;

use super::entities::{EntityRows, Pick, Wanted};
use super::error::DbResult;
use super::posted::{NewPost, PostKind, Posted};
use super::records::{Job, JobInfo, Link, NewJob, Outcome, QueueSummary, Write};
use crate::model::{EntityKind, Record};

/// The one interface over both backends. Every statement takes parameters; nothing from
/// outside is ever spliced into SQL.
pub trait PanelDb: Send {
    /// Which backend, for messages: `sqlite:/path` or `mysql://host/db` (no password).
    fn describe(&self) -> String;

    /// Creates the module's own tables if missing (idempotent). Never touches others.
    fn ensure_schema(&mut self) -> DbResult<()>;

    // --- queue ---
    /// Records jobs in one short transaction (upsert by [`NewJob::key`]): a new key is
    /// inserted pending; an existing one becomes pending again, due now, generation + 1.
    fn enqueue(&mut self, jobs: &[NewJob], now: i64) -> DbResult<()>;
    /// [`PanelDb::enqueue`] with a time for each job: the spool's jobs keep the time the
    /// panel hook saw them.
    fn enqueue_each(&mut self, jobs: &[(NewJob, i64)]) -> DbResult<()>;
    /// Puts back jobs left `taken` by a worker that died. Called by the worker holding the lock.
    fn reset_taken(&mut self) -> DbResult<u64>;
    /// Marks up to `limit` due jobs (pending, or failed with `next_try <= now`) taken and
    /// returns them: accounts first, then payers, then services; oldest first within a kind.
    fn claim(&mut self, now: i64, limit: usize) -> DbResult<Vec<Job>>;
    /// [`PanelDb::claim`] of one kind only.
    fn claim_of(&mut self, kind: EntityKind, now: i64, limit: usize) -> DbResult<Vec<Job>>;
    /// Ends a claimed job. If its generation moved on meanwhile, it stays pending instead.
    fn finish(&mut self, job: &Job, outcome: &Outcome, now: i64) -> DbResult<()>;
    /// Applies the writes in order, in one transaction: all or none.
    fn record(&mut self, writes: &[Write], now: i64) -> DbResult<()>;
    /// Returns claimed jobs to pending untouched (the run stopped before them).
    fn release(&mut self, jobs: &[Job]) -> DbResult<()>;
    fn queue_summary(&mut self, now: i64) -> DbResult<QueueSummary>;
    /// Jobs in the given states (`pending`, `failed`, `taken`, `done`, `skipped`), newest first.
    fn list_jobs(&mut self, states: &[&str], limit: usize) -> DbResult<Vec<JobInfo>> {
        self.jobs_page(states, 0, limit)
    }
    /// A page of [`PanelDb::list_jobs`] at `offset`.
    fn jobs_page(&mut self, states: &[&str], offset: usize, limit: usize)
    -> DbResult<Vec<JobInfo>>;
    /// [`QueueSummary::due`] alone, without reading the whole queue.
    fn due_jobs(&mut self, now: i64) -> DbResult<i64>;
    /// How many jobs are in the given states (all when empty).
    fn count_jobs(&mut self, states: &[&str]) -> DbResult<i64>;
    /// The queued job of one entity, in whatever state.
    fn job_of(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<Option<JobInfo>>;
    /// Which of these entities (by id) have a job waiting: pending, failed and waiting for
    /// its retry, or being sent.
    fn waiting_among(
        &mut self,
        kind: EntityKind,
        ids: &[i64],
    ) -> DbResult<std::collections::HashSet<i64>>;
    /// Makes these waiting jobs due now; returns how many were.
    fn retry_jobs(&mut self, ids: &[i64], now: i64) -> DbResult<u64>;
    /// Deletes done and skipped jobs last touched before `before`; returns how many.
    fn prune_jobs(&mut self, before: i64) -> DbResult<u64>;
    /// Deletes these jobs unless a worker holds them; returns how many went.
    fn drop_jobs(&mut self, ids: &[i64]) -> DbResult<u64>;

    // --- links ---
    fn link(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<Option<Link>>;
    /// The links of these panel entities, by panel id (one query for a batch).
    fn links_of(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<HashMap<i64, Link>>;
    /// Upsert by `billmgr_id`.
    fn save_link(
        &mut self,
        kind: EntityKind,
        billmgr_id: i64,
        amocrm_id: i64,
        fingerprint: &str,
        now: i64,
    ) -> DbResult<()>;
    /// Links ordered by `billmgr_id`, those above `after`, at most `limit`.
    fn links(&mut self, kind: EntityKind, after: i64, limit: usize) -> DbResult<Vec<Link>>;
    /// The panel entity this amoCRM entity is linked to already, if any.
    fn linked_to(&mut self, kind: EntityKind, amocrm_id: i64) -> DbResult<Option<i64>>;
    fn link_count(&mut self, kind: EntityKind) -> DbResult<i64>;
    /// Links ordered by `billmgr_id`, a page at `offset` (for the panel's list).
    fn links_page(&mut self, kind: EntityKind, offset: usize, limit: usize) -> DbResult<Vec<Link>>;
    /// Forgets the link of a panel entity (amoCRM keeps its entity); returns rows removed.
    fn unlink(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<u64>;

    /// Whether [`PanelDb::read_many`] takes the client's money (`money.*`) too: on when a
    /// rule names it.
    fn read_money(&mut self, on: bool);
    /// What the money values need of the panel's tables and this database lacks, if
    /// anything (the balance's column name is inferred).
    fn money_problem(&mut self) -> Option<String>;

    // --- payments ---
    /// These payments as records: `payment.*`, `paymethod.*` (not its settings),
    /// `currency.*`, `subaccount.*` (`subaccount.account` is the client) and
    /// `payment2payment.payment_base` for a refund; an id the panel lacks is missing.
    fn read_payments(&mut self, ids: &[i64]) -> DbResult<HashMap<i64, Record>>;
    /// The client a payment was made to, if the panel has the payment.
    fn account_of_payment(&mut self, payment: i64) -> DbResult<Option<i64>>;
    /// Ids of credited and refunded payments paid at `from` or later (`YYYY-MM-DD
    /// HH:MM:SS`, the panel's time), above `after`, at most `limit`, in order.
    fn noted_payments(&mut self, from: &str, after: i64, limit: usize) -> DbResult<Vec<i64>>;

    // --- notes and tasks posted once ---
    /// Marks these as about to be posted (committed before the create is sent); a key
    /// recorded already keeps its row.
    fn mark_posts(&mut self, posts: &[NewPost], now: i64) -> DbResult<()>;
    /// The recorded ones among these keys, by key.
    fn posts(&mut self, keys: &[&str]) -> DbResult<HashMap<String, Posted>>;
    /// Those of a kind sent with no answer recorded, oldest first.
    fn posts_in_flight(&mut self, kind: PostKind) -> DbResult<Vec<Posted>>;
    /// Records amoCRM's id of a posted one; whether its key was marked.
    fn record_post(&mut self, key: &str, amocrm_id: i64, now: i64) -> DbResult<bool>;
    /// Forgets a key; whether it was there.
    fn forget_post(&mut self, key: &str) -> DbResult<bool>;
    /// Takes a post's owner off (amoCRM refused the user).
    fn disown_post(&mut self, key: &str) -> DbResult<()>;
    /// How many notes and tasks are recorded.
    fn post_count(&mut self) -> DbResult<i64>;
    /// A page of what was posted, newest first.
    fn posts_page(&mut self, offset: usize, limit: usize) -> DbResult<Vec<Posted>>;

    // --- creates in flight ---
    /// Marks entities as about to be created in amoCRM (committed before the create is
    /// sent); an entity marked already keeps its older mark. Saving a link clears it.
    fn mark_creating(&mut self, kind: EntityKind, ids: &[i64], now: i64) -> DbResult<()>;
    /// The marks of one kind: `(billmgr_id, since)` (unix seconds), by id.
    fn creating(&mut self, kind: EntityKind) -> DbResult<Vec<(i64, i64)>>;
    /// Removes marks (amoCRM rejected the create: nothing was made); returns how many.
    fn clear_creating(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<u64>;

    // --- the panel's entities (read only) ---
    /// Entities of one kind, by id, one query per panel table for the whole batch; an id
    /// the panel no longer has is missing. A client: every column of `account`
    /// (`account.*`), of its project (`project.*`) and of its first user by id (`user.*`).
    /// A payer: `profile.*` and its client's `account.*`. A service: `item.*`,
    /// `pricelist.*`, `itemtype.*`, `currency.*`, `account.*`, `project.*` (of the
    /// pricelist), the client's first `user.*`, and every parameter as
    /// `itemparam.<intname>`.
    fn read_many(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<HashMap<i64, Record>>;
    /// [`PanelDb::read_many`]'s rows, before they are made records: a sweep makes only
    /// the records whose rows' digest changed.
    /// `wanted`: the tables whose rows are read whole ([`Wanted::ALL`]: every table).
    fn read_rows(
        &mut self,
        kind: EntityKind,
        pick: Pick<'_>,
        wanted: Wanted<'_>,
    ) -> DbResult<EntityRows>;
    /// One entity of [`PanelDb::read_many`].
    fn read(&mut self, kind: EntityKind, id: i64) -> DbResult<Option<Record>> {
        Ok(self.read_many(kind, &[id])?.remove(&id))
    }
    fn read_account(&mut self, id: i64) -> DbResult<Option<Record>> {
        self.read(EntityKind::Account, id)
    }
    fn read_profile(&mut self, id: i64) -> DbResult<Option<Record>> {
        self.read(EntityKind::Profile, id)
    }
    fn read_item(&mut self, id: i64) -> DbResult<Option<Record>> {
        self.read(EntityKind::Item, id)
    }
    /// The client whose user has this login (`user.name`, compared case-insensitively).
    fn account_by_login(&mut self, login: &str) -> DbResult<Option<i64>>;
    fn account_of_user(&mut self, user_id: i64) -> DbResult<Option<i64>>;
    /// The client's payers' ids, oldest first.
    fn profiles_of_account(&mut self, account: i64) -> DbResult<Vec<i64>>;
    /// `(client, payer)` of these clients' payers, oldest payer first.
    fn profiles_of_accounts(&mut self, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>>;
    /// `(client, service)` of these clients' services, oldest service first.
    fn items_of_accounts(&mut self, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>>;
    /// Ids of one kind above `after`, ascending, at most `limit` (keyset paging, so a full
    /// export streams and never holds every row).
    fn ids(&mut self, kind: EntityKind, after: i64, limit: usize) -> DbResult<Vec<i64>>;
}
