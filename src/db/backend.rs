//! [`PanelDb`] over either driver: the queue, links and entity reads are written once.

use super::sql::Driver;
use super::{
    DbResult, Job, JobInfo, Link, NewJob, NewPost, Outcome, PanelDb, PostKind, Posted,
    QueueSummary, Write, creating, entities, links, money, payments, posted, queue, schema,
};
use std::collections::HashMap;

use crate::model::{EntityKind, Record};

pub(crate) struct Database {
    driver: Box<dyn Driver>,
    /// Entity reads take the client's money too.
    money: bool,
}

impl Database {
    pub fn new(driver: Box<dyn Driver>) -> Database {
        Database {
            driver,
            money: false,
        }
    }
    fn d(&mut self) -> &mut dyn Driver {
        self.driver.as_mut()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl PanelDb for Database {
    fn describe(&self) -> String {
        self.driver.describe()
    }
    fn ensure_schema(&mut self) -> DbResult<()> {
        schema::ensure(self.d())
    }
    fn enqueue(&mut self, jobs: &[NewJob], now: i64) -> DbResult<()> {
        let jobs: Vec<_> = jobs.iter().map(|j| (j, now)).collect();
        queue::enqueue(self.d(), &jobs)
    }
    fn enqueue_each(&mut self, jobs: &[(NewJob, i64)]) -> DbResult<()> {
        let jobs: Vec<_> = jobs.iter().map(|(j, at)| (j, *at)).collect();
        queue::enqueue(self.d(), &jobs)
    }
    fn reset_taken(&mut self) -> DbResult<u64> {
        queue::reset_taken(self.d())
    }
    fn claim(&mut self, now: i64, limit: usize) -> DbResult<Vec<Job>> {
        queue::claim(self.d(), &EntityKind::ALL, now, limit)
    }
    fn claim_of(&mut self, kind: EntityKind, now: i64, limit: usize) -> DbResult<Vec<Job>> {
        queue::claim(self.d(), &[kind], now, limit)
    }
    fn finish(&mut self, job: &Job, outcome: &Outcome, now: i64) -> DbResult<()> {
        queue::finish(self.d(), job, outcome, now)
    }
    fn record(&mut self, writes: &[Write], now: i64) -> DbResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        super::sql::write_tx(self.d(), |d| {
            for w in writes {
                match w {
                    Write::Link {
                        kind,
                        billmgr_id,
                        amocrm_id,
                        fingerprint,
                    } => links::save(d, *kind, *billmgr_id, *amocrm_id, fingerprint, now)?,
                    Write::Finish { job, outcome } => queue::finish_in(d, job, outcome, now)?,
                }
            }
            Ok(())
        })
    }
    fn release(&mut self, jobs: &[Job]) -> DbResult<()> {
        queue::release(self.d(), jobs, unix_now())
    }
    fn queue_summary(&mut self, now: i64) -> DbResult<QueueSummary> {
        queue::summary(self.d(), now)
    }
    fn jobs_page(
        &mut self,
        states: &[&str],
        offset: usize,
        limit: usize,
    ) -> DbResult<Vec<JobInfo>> {
        queue::list(self.d(), states, offset, limit)
    }
    fn due_jobs(&mut self, now: i64) -> DbResult<i64> {
        queue::due(self.d(), now)
    }
    fn count_jobs(&mut self, states: &[&str]) -> DbResult<i64> {
        queue::count(self.d(), states)
    }
    fn job_of(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<Option<JobInfo>> {
        queue::of_entity(self.d(), kind, billmgr_id)
    }
    fn waiting_among(
        &mut self,
        kind: EntityKind,
        ids: &[i64],
    ) -> DbResult<std::collections::HashSet<i64>> {
        queue::waiting_among(self.d(), kind, ids)
    }
    fn retry_jobs(&mut self, ids: &[i64], now: i64) -> DbResult<u64> {
        queue::retry(self.d(), ids, now)
    }
    fn prune_jobs(&mut self, before: i64) -> DbResult<u64> {
        queue::prune(self.d(), before)
    }
    fn drop_jobs(&mut self, ids: &[i64]) -> DbResult<u64> {
        queue::drop(self.d(), ids)
    }
    fn link(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<Option<Link>> {
        links::get(self.d(), kind, billmgr_id)
    }
    fn links_of(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<HashMap<i64, Link>> {
        links::of_ids(self.d(), kind, ids)
    }
    fn save_link(
        &mut self,
        kind: EntityKind,
        billmgr_id: i64,
        amocrm_id: i64,
        fingerprint: &str,
        now: i64,
    ) -> DbResult<()> {
        super::sql::write_tx(self.d(), |d| {
            links::save(d, kind, billmgr_id, amocrm_id, fingerprint, now)
        })
    }
    fn links(&mut self, kind: EntityKind, after: i64, limit: usize) -> DbResult<Vec<Link>> {
        links::page(self.d(), kind, after, limit)
    }
    fn linked_to(&mut self, kind: EntityKind, amocrm_id: i64) -> DbResult<Option<i64>> {
        links::billmgr_of(self.d(), kind, amocrm_id)
    }
    fn links_page(&mut self, kind: EntityKind, offset: usize, limit: usize) -> DbResult<Vec<Link>> {
        links::page_at(self.d(), kind, offset, limit)
    }
    fn unlink(&mut self, kind: EntityKind, billmgr_id: i64) -> DbResult<u64> {
        links::remove(self.d(), kind, billmgr_id)
    }
    fn link_count(&mut self, kind: EntityKind) -> DbResult<i64> {
        links::count(self.d(), kind)
    }
    fn read_payments(&mut self, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
        payments::read(self.d(), ids)
    }
    fn account_of_payment(&mut self, payment: i64) -> DbResult<Option<i64>> {
        payments::account_of(self.d(), payment)
    }
    fn noted_payments(&mut self, from: &str, after: i64, limit: usize) -> DbResult<Vec<i64>> {
        payments::noted_after(self.d(), from, after, limit)
    }
    fn mark_posts(&mut self, posts: &[NewPost], now: i64) -> DbResult<()> {
        posted::mark(self.d(), posts, now)
    }
    fn posts(&mut self, keys: &[&str]) -> DbResult<HashMap<String, Posted>> {
        posted::of_keys(self.d(), keys)
    }
    fn posts_in_flight(&mut self, kind: PostKind) -> DbResult<Vec<Posted>> {
        posted::in_flight(self.d(), kind)
    }
    fn record_post(&mut self, key: &str, amocrm_id: i64, now: i64) -> DbResult<bool> {
        posted::record(self.d(), key, amocrm_id, now)
    }
    fn forget_post(&mut self, key: &str) -> DbResult<bool> {
        posted::forget(self.d(), key)
    }
    fn post_count(&mut self) -> DbResult<i64> {
        posted::count(self.d())
    }
    fn disown_post(&mut self, key: &str) -> DbResult<()> {
        posted::disown(self.d(), key)
    }
    fn posts_page(&mut self, offset: usize, limit: usize) -> DbResult<Vec<Posted>> {
        posted::page(self.d(), offset, limit)
    }
    fn mark_creating(&mut self, kind: EntityKind, ids: &[i64], now: i64) -> DbResult<()> {
        creating::mark(self.d(), kind, ids, now)
    }
    fn creating(&mut self, kind: EntityKind) -> DbResult<Vec<(i64, i64)>> {
        creating::of_kind(self.d(), kind)
    }
    fn clear_creating(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<u64> {
        creating::clear(self.d(), kind, ids)
    }
    fn read_many(&mut self, kind: EntityKind, ids: &[i64]) -> DbResult<HashMap<i64, Record>> {
        let money = self.money;
        entities::read(self.d(), kind, ids, money)
    }
    fn read_money(&mut self, on: bool) {
        self.money = on;
    }
    fn money_problem(&mut self) -> Option<String> {
        money::probe(self.d()).err()
    }
    fn read_rows(
        &mut self,
        kind: EntityKind,
        pick: entities::Pick<'_>,
        wanted: entities::Wanted<'_>,
    ) -> DbResult<entities::EntityRows> {
        entities::read_rows(self.d(), kind, pick, wanted)
    }
    fn account_by_login(&mut self, login: &str) -> DbResult<Option<i64>> {
        entities::account_by_login(self.d(), login)
    }
    fn account_of_user(&mut self, user_id: i64) -> DbResult<Option<i64>> {
        entities::account_of_user(self.d(), user_id)
    }
    fn profiles_of_account(&mut self, account: i64) -> DbResult<Vec<i64>> {
        entities::profiles_of_account(self.d(), account)
    }
    fn profiles_of_accounts(&mut self, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>> {
        entities::profiles_of_accounts(self.d(), accounts)
    }
    fn items_of_accounts(&mut self, accounts: &[i64]) -> DbResult<Vec<(i64, i64)>> {
        entities::items_of_accounts(self.d(), accounts)
    }
    fn ids(&mut self, kind: EntityKind, after: i64, limit: usize) -> DbResult<Vec<i64>> {
        entities::ids(self.d(), kind, after, limit)
    }
}
