//! A sweep's run: one at a time (its lock), amoCRM's fields and pipelines for the
//! comparison, what amoCRM removed since the sweep before, the steps (`sweep`), and what
//! it came to, kept for `amocrm status` and for the next due time (`sweep_state`). And the
//! sweep `amocrm task` runs by itself when `[sync] reconcile` says one is due.

use super::fields::Meta;
use super::sweep::{Output, SweepError, Sweeper};
use super::sweep_cache::{Digests, basis};
use super::sweep_state::{Failure, LastSweep, SweepLock, SweepState, Tally};
use crate::amo::{AccountMeta, AmoClient, ClientOptions};
use crate::config::Config;
use crate::log::now;
use crate::model::EntityKind;
use crate::paths::Paths;

/// How a sweep is run.
pub struct Run<'a> {
    /// Where the queued entities go; a dry run (`Output::Print`) keeps no state.
    pub out: Output<'a>,
    /// Who ran it, for the state: `task` or `sync --changed`.
    pub by: &'static str,
    /// Only if one is still due once the lock is taken (another may just have run).
    pub only_if_due: bool,
}

/// Runs a sweep; `Ok(None)` when `only_if_due` and none is due any more.
pub fn run(paths: &Paths, cfg: &Config, run: Run<'_>) -> Result<Option<Tally>, SweepError> {
    let lock = SweepLock::try_acquire(paths)
        .map_err(|e| SweepError::Busy(format!("cannot take the sweep's lock: {e}")))?;
    let Some(_lock) = lock else {
        return Err(SweepError::Busy("another sweep is running".into()));
    };
    let started = now();
    let state = SweepState::load(paths);
    if run.only_if_due && !(state.as_ref()).is_some_and(|s| s.is_due(cfg.sync.reconcile, started)) {
        return Ok(None);
    }
    let dry_run = matches!(run.out, Output::Print(_));
    let since = state.and_then(|s| s.removed_from.or(s.last.map(|l| l.started_at)));
    let mut removed_read = since.is_none();
    let result = sweep(paths, cfg, run.out, since, &mut removed_read);
    if !dry_run {
        record(paths, started, run.by, &result, removed_read);
    }
    result.map(Some)
}

/// The steps, with amoCRM's fields and pipelines as the worker renders values with them.
fn sweep(
    paths: &Paths,
    cfg: &Config,
    out: Output<'_>,
    since: Option<i64>,
    removed_read: &mut bool,
) -> Result<Tally, SweepError> {
    let meta = Meta {
        account: account_meta(paths, cfg)?,
        offline: false,
    };
    let mut db = crate::db::open_panel(&cfg.database, paths)?;
    db.read_money(cfg.rules.read_money());
    // A dry run reads the last sweep's digests but keeps none of its own.
    let write = matches!(out, Output::Queue);
    let mut s = Sweeper::new(db.as_mut(), cfg, &meta, out);
    s.reader = crate::db::open_reader(&cfg.database, paths)
        .inspect_err(|e| log::warn!("sweep: no second connection ({e}); pages read in turn"))
        .ok();
    if s.reader.is_some() {
        s.link_reader = crate::db::open_reader(&cfg.database, paths)
            .inspect_err(|e| log::warn!("sweep: no third connection ({e}); links read with rows"))
            .ok();
    }
    s.digests = Some(Digests::open(paths, basis(cfg, &meta), write));
    if let Some(removed) = since.and_then(|since| removed_in_amocrm(paths, cfg, since)) {
        s.queue_removed(&removed)?;
        *removed_read = true;
    }
    s.run()?;
    let from = since.unwrap_or_else(now) - super::sweep_payments::OVERLAP_SECS;
    s.queue_payments(from)?;
    if let Some(d) = s.digests.take() {
        d.finish(paths);
    }
    Ok(s.tally)
}

/// What amoCRM removed (deleted, or merged into another entity) since `since`, the start
/// of the sweep before, as `(kind, amoCRM id)`: their panel entities are queued with the
/// reason `removed` ([`Sweeper::queue_removed`]), so that the worker finds or makes them
/// again. `None` when amoCRM cannot be read: the sweep still compares every row, the
/// worker heals a gone link on the entity's next change, and the next sweep reads from
/// the same time.
fn removed_in_amocrm(paths: &Paths, cfg: &Config, since: i64) -> Option<Vec<(EntityKind, i64)>> {
    let read = AmoClient::new(&cfg.auth, client_options(cfg), paths)
        .and_then(|mut amo| amo.removed_since(since));
    match read {
        Ok(removed) => Some(removed.iter().filter_map(kind_and_id).collect()),
        Err(e) => {
            log::warn!("sweep: what amoCRM removed cannot be read ({e}); checked again next sweep");
            None
        }
    }
}

fn kind_and_id(r: &crate::amo::Removed) -> Option<(EntityKind, i64)> {
    let kind = (EntityKind::ALL.into_iter()).find(|k| k.amo_entity() == r.entity)?;
    Some((kind, r.id))
}

fn client_options(cfg: &Config) -> ClientOptions {
    ClientOptions {
        rate_limit: cfg.sync.rate_limit,
        timeout: std::time::Duration::from_secs(30),
        retry: crate::amo::RetryPauses::starting_at(cfg.sync.retry_pause),
    }
}

/// amoCRM's fields and pipelines: as a process of the module read them less than five
/// minutes ago (no request), else read now (a read, never a write); when amoCRM cannot be
/// read, the last ones read, however old. Without them every value would be compared in
/// the wrong form and every entity look changed.
fn account_meta(paths: &Paths, cfg: &Config) -> Result<AccountMeta, SweepError> {
    let url = cfg.auth.url.as_str();
    if let Some(m) = AccountMeta::fresh(paths, url, now()) {
        return Ok(m);
    }
    let read = AmoClient::new(&cfg.auth, client_options(cfg), paths)
        .and_then(|mut amo| AccountMeta::fetch(&mut amo, url, now()));
    match read {
        Ok(m) => {
            m.keep(paths);
            Ok(m)
        }
        Err(e) => match AccountMeta::kept(paths, url) {
            Some(m) => {
                let when = crate::log::timestamp(m.fetched_at);
                log::warn!("sweep: amoCRM's fields cannot be read ({e}); using those read {when}");
                Ok(m)
            }
            None => Err(SweepError::Meta(format!(
                "cannot read amoCRM's custom fields and pipelines, which the comparison needs: {e}"
            ))),
        },
    }
}

/// Keeps what the sweep came to: its counts, or why it failed (the next try waits); and,
/// when it read amoCRM's removals, that they were read up to its start.
fn record(
    paths: &Paths,
    started: i64,
    by: &str,
    result: &Result<Tally, SweepError>,
    removed_read: bool,
) {
    let mut state = SweepState::load(paths).unwrap_or(SweepState {
        since: started,
        ..SweepState::default()
    });
    match result {
        Ok(tally) => {
            log::info!(
                "sweep: {} entities read, {}, {} unchanged, {} kept out, {} already queued",
                tally.examined,
                tally.describe(),
                tally.unchanged,
                tally.kept_out,
                tally.waiting
            );
            state.last = Some(LastSweep {
                started_at: started,
                finished_at: now(),
                by: by.into(),
                tally: tally.clone(),
            });
            state.failed = None;
            if removed_read {
                state.removed_from = Some(started);
            }
        }
        Err(e) => {
            log::error!("sweep failed, tried again in a few minutes: {e}");
            state.failed = Some(Failure {
                at: now(),
                error: e.to_string(),
            });
        }
    }
    state.save(paths);
}

/// `amocrm task`'s sweep, when `[sync] reconcile` minutes have passed since the last one.
/// While sync is disabled none runs (nothing would be sent); the one due runs at the first
/// run after it is enabled again. The first run that finds no state only starts the clock.
/// Problems with the settings or the database are the worker's to report.
pub fn when_due(paths: &Paths) {
    let Ok(cfg) = crate::config::Sources::read(paths).config() else {
        return;
    };
    if !cfg.sync.enabled || cfg.sync.reconcile == 0 {
        return;
    }
    let Some(state) = SweepState::load(paths) else {
        SweepState {
            since: now(),
            ..SweepState::default()
        }
        .save(paths);
        return;
    };
    if !state.is_due(cfg.sync.reconcile, now()) {
        return;
    }
    let due = Run {
        out: Output::Queue,
        by: "task",
        only_if_due: true,
    };
    // A failure is logged and kept in the state by the run itself.
    if let Err(SweepError::Busy(why)) = run(paths, &cfg, due) {
        log::debug!("sweep not run: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::stand::Stand;
    use super::*;

    fn state(stand: &Stand) -> SweepState {
        SweepState::load(&stand.paths).expect("state kept")
    }

    /// Moves every time in the state back by `secs`, as if it had been written that long ago.
    fn age(stand: &Stand, secs: i64) {
        let mut s = state(stand);
        s.since -= secs;
        if let Some(l) = s.last.as_mut() {
            l.started_at -= secs;
        }
        s.save(&stand.paths);
    }

    fn queue_run() -> Run<'static> {
        Run {
            out: Output::Queue,
            by: "sync --changed",
            only_if_due: false,
        }
    }

    #[test]
    fn the_task_starts_the_clock_then_sweeps_each_interval() {
        let stand = Stand::sample("reconcile = 60");
        when_due(&stand.paths);
        let s = state(&stand);
        assert!(s.last.is_none(), "the first run only starts the clock");
        age(&stand, 59 * 60);
        when_due(&stand.paths);
        assert!(state(&stand).last.is_none(), "not due before the hour");
        age(&stand, 60);
        when_due(&stand.paths);
        let last = state(&stand).last.expect("swept");
        assert_eq!(last.by, "task");
        assert_eq!(last.tally.queued["item"].new, 10, "nothing was linked");
        when_due(&stand.paths);
        assert_eq!(state(&stand).last, Some(last), "not again within the hour");
    }

    #[test]
    fn no_sweep_by_the_task_while_sync_is_off_or_reconcile_is_zero() {
        for sync in ["enabled = no\nreconcile = 60", "reconcile = 0"] {
            let stand = Stand::sample(sync);
            SweepState::default().save(&stand.paths);
            when_due(&stand.paths);
            assert_eq!(state(&stand), SweepState::default(), "{sync}");
        }
    }

    #[test]
    fn amocrm_unreadable_the_fields_last_read_serve_its_removals_wait_and_without_fields_it_waits()
    {
        let stand = Stand::sample("");
        stand.faults(serde_json::json!({"payment_required": true}));
        let failed = run(&stand.paths, &stand.cfg, queue_run()).expect_err("no fields");
        assert!(matches!(failed, SweepError::Meta(_)), "{failed}");
        let s = state(&stand);
        assert!(s.failed.is_some() && s.last.is_none());
        assert!(
            !s.is_due(60, now() + super::super::sweep_state::RETRY_SECS - 1),
            "the next try waits"
        );
        // Read an hour ago, before amoCRM stopped answering: enough to compare.
        stand.faults(serde_json::json!({}));
        let mut amo = AmoClient::new(&stand.cfg.auth, ClientOptions::default(), &stand.paths)
            .expect("client");
        let url = &stand.cfg.auth.url;
        let mut kept = AccountMeta::fetch(&mut amo, url, now()).expect("read");
        kept.fetched_at -= 3600;
        kept.keep(&stand.paths);
        stand.faults(serde_json::json!({"payment_required": true}));
        let tally = run(&stand.paths, &stand.cfg, queue_run()).expect("swept");
        assert_eq!(tally.map(|t| t.queued["account"].new), Some(6));
        let s = state(&stand);
        assert!(s.failed.is_none() && s.last.is_some(), "{s:?}");

        // amoCRM's removals unread: the next sweep reads them from the same time.
        let from = s
            .removed_from
            .expect("the first sweep starts the removals' clock")
            - 100;
        let mut aged = s.clone();
        aged.removed_from = Some(from);
        aged.save(&stand.paths);
        run(&stand.paths, &stand.cfg, queue_run()).expect("swept");
        assert_eq!(state(&stand).removed_from, Some(from), "kept for the next");
        stand.faults(serde_json::json!({}));
        run(&stand.paths, &stand.cfg, queue_run()).expect("swept");
        assert!(
            state(&stand).removed_from > Some(from),
            "read up to this sweep"
        );
    }
}
