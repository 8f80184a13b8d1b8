//! The record stage: what the worker settled — links and job ends — kept until the end
//! of a batch and written in one transaction (one commit, and so one disk sync, per
//! batch); the run's counts; and which entities asked for as dependencies did not sync
//! in this run, so they are not tried again for each entity that hangs on them.

use std::collections::HashMap;

use super::target::Target;
use crate::db::{DbResult, Job, Outcome, PanelDb, Write};
use crate::model::EntityKind;

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

/// The delay before a failed job is tried again: 1 minute, doubling, at most 6 hours.
pub fn backoff(attempts: i64) -> i64 {
    let n = attempts.clamp(1, 20) as u32;
    (60i64 << (n - 1)).min(6 * 3600)
}

/// Why an entity something hangs on is not in amoCRM after this run tried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSynced {
    /// Its rules keep it out (or it is gone): what hangs on it is skipped for good.
    KeptOut,
    /// It could not be sent yet: what hangs on it is tried again later.
    NotYet,
}

/// Remembered dependencies that did not sync, at most this many (each costs a read of
/// the panel if asked for again, never a request).
const MOST_REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
pub struct Ledger {
    writes: Vec<Write>,
    /// Claimed jobs not finished yet (put back if the run stops).
    open: HashMap<i64, Job>,
    not_synced: HashMap<(EntityKind, i64), NotSynced>,
    pub report: RunReport,
}

impl Ledger {
    pub fn claimed(&mut self, jobs: &[Job]) {
        self.open.extend(jobs.iter().map(|j| (j.id, j.clone())));
    }

    /// The target is now the amoCRM entity `amo_id`: its link is saved, its jobs done.
    pub fn linked(&mut self, t: &Target, amo_id: i64, fingerprint: String, what: &str) {
        self.writes.push(Write::Link {
            kind: t.kind,
            billmgr_id: t.id,
            amocrm_id: amo_id,
            fingerprint,
        });
        self.done(t, amo_id, what);
    }

    /// The link stays, without the fingerprint of what was sent: the entity's next sync
    /// reads its amoCRM entity back (and finds it gone, if it is), even unchanged.
    pub fn stale(&mut self, kind: EntityKind, billmgr_id: i64, amo_id: i64) {
        self.writes.push(Write::Link {
            kind,
            billmgr_id,
            amocrm_id: amo_id,
            fingerprint: String::new(),
        });
    }

    /// Its jobs are done; the link stays as it is.
    pub fn done(&mut self, t: &Target, amo_id: i64, what: &str) {
        log::info!(
            "{} {} → {} {amo_id}: {what}",
            t.kind,
            t.id,
            t.kind.amo_entity()
        );
        for job in &t.jobs {
            self.finish(job, Outcome::Done);
        }
    }

    pub fn skipped(&mut self, t: &Target, why: &str) {
        if t.jobs.is_empty() {
            log::info!("{} {}: not synced: {why}", t.kind, t.id);
            self.remember(t, NotSynced::KeptOut);
        }
        for job in &t.jobs {
            self.skip_job(job, why);
        }
    }

    pub fn skip_job(&mut self, job: &Job, why: &str) {
        self.report.skipped += 1;
        log::info!("{}: skipped: {why}", job_label(job));
        self.finish(job, Outcome::Skipped(why.to_string()));
    }

    /// Not sent this time: its jobs are tried again after their backoff.
    pub fn failed(&mut self, t: &Target, error: &str) {
        if t.jobs.is_empty() {
            log::warn!("dependency not synced: {} {}: {error}", t.kind, t.id);
            self.remember(t, NotSynced::NotYet);
        }
        for job in &t.jobs {
            let next_try = crate::log::now() + backoff(job.attempts + 1);
            self.report.failed += 1;
            log::warn!(
                "{}: failed (attempt {}), next try in {} s: {error}",
                job_label(job),
                job.attempts + 1,
                next_try - crate::log::now()
            );
            let error = error.to_string();
            self.finish(job, Outcome::Failed { error, next_try });
        }
    }

    fn finish(&mut self, job: &Job, outcome: Outcome) {
        self.writes.push(Write::Finish {
            job: job.clone(),
            outcome,
        });
        self.open.remove(&job.id);
    }

    fn remember(&mut self, t: &Target, why: NotSynced) {
        if self.not_synced.len() >= MOST_REMEMBERED {
            self.not_synced.clear();
        }
        self.not_synced.insert((t.kind, t.id), why);
    }

    /// Why an entity asked for earlier in this run is not in amoCRM, if it is not.
    /// The amoCRM id a link this run made and has not recorded yet gives the entity.
    pub fn pending_link(&self, kind: EntityKind, id: i64) -> Option<i64> {
        self.writes.iter().rev().find_map(|w| match w {
            Write::Link {
                kind: k,
                billmgr_id,
                amocrm_id,
                ..
            } if *k == kind && *billmgr_id == id => Some(*amocrm_id),
            _ => None,
        })
    }

    pub fn not_synced(&self, kind: EntityKind, id: i64) -> Option<NotSynced> {
        self.not_synced.get(&(kind, id)).copied()
    }

    /// Commits what was kept, in one transaction.
    pub fn flush(&mut self, db: &mut dyn PanelDb) -> DbResult<()> {
        if !self.writes.is_empty() {
            db.record(&self.writes, crate::log::now())?;
            self.writes.clear();
        }
        Ok(())
    }

    /// The claimed jobs not finished: the run stopped before them.
    pub fn take_open(&mut self) -> Vec<Job> {
        self.open.drain().map(|(_, j)| j).collect()
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
    use crate::db::sample::{self, SampleOptions};
    use crate::db::{Lookup, NewJob};

    #[test]
    fn a_batch_is_recorded_in_one_go_and_every_job_of_a_target_ends() {
        let dir = tempfile::tempdir().unwrap();
        let target = crate::db::Target::Sqlite(dir.path().join("panel.db"));
        sample::create(&target, &SampleOptions::default()).unwrap();
        let mut db = crate::db::open(&target).unwrap();
        db.ensure_schema().unwrap();
        let login = Lookup::Login("petrov@romashka.example".into());
        db.enqueue(
            &[
                NewJob::for_id(EntityKind::Account, 3, "account.edit"),
                NewJob::for_lookup(EntityKind::Account, login, "register"),
                NewJob::for_id(EntityKind::Account, 2, "account.edit"),
            ],
            1,
        )
        .unwrap();
        let jobs = db.claim_of(EntityKind::Account, 1, 10).unwrap();
        let mut ledger = Ledger::default();
        ledger.claimed(&jobs);
        let three = Target {
            kind: EntityKind::Account,
            id: 3,
            jobs: jobs[..2].to_vec(),
        };
        ledger.linked(&three, 77, "fp".into(), "created");
        assert!(
            db.link(EntityKind::Account, 3).unwrap().is_none(),
            "not yet"
        );
        ledger.flush(db.as_mut()).unwrap();
        assert_eq!(
            db.link(EntityKind::Account, 3).unwrap().unwrap().amocrm_id,
            77
        );
        assert_eq!(db.count_jobs(&["done"]).unwrap(), 2);
        assert_eq!(
            ledger.take_open(),
            vec![jobs[2].clone()],
            "one job left open"
        );

        let dep = Target::dependency(EntityKind::Account, 2);
        ledger.failed(&dep, "amoCRM rejected it");
        assert_eq!(
            ledger.not_synced(EntityKind::Account, 2),
            Some(NotSynced::NotYet)
        );
        ledger.skipped(&Target::dependency(EntityKind::Account, 4), "its condition");
        assert_eq!(
            ledger.not_synced(EntityKind::Account, 4),
            Some(NotSynced::KeptOut)
        );
        assert_eq!(
            ledger.report.failed + ledger.report.skipped,
            0,
            "no job, no count"
        );
    }
}
