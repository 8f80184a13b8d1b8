//! A worker's run (`amocrm task`): one at a time, under the worker lock; the settings
//! and the queue made ready; the drain; and what the run came to, kept for `status`.

use super::lock::WorkerLock;
use super::record::RunReport;
use super::runner::{Stop, Worker};
use super::state::RunState;
use crate::amo::{AmoClient, AmoError, ClientOptions};
use crate::config::{Config, Problems};
use crate::db::{self, DbError, PanelDb};
use crate::paths::Paths;

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

/// Drains the queue until it is empty, then exits. A second worker exits at once.
pub fn run(paths: &Paths, progress: bool) -> Result<RunReport, RunError> {
    let mut total = RunReport::default();
    loop {
        let Some(lock) = WorkerLock::try_acquire(paths)? else {
            log::debug!("another worker is running; it will see the queued jobs");
            total.busy = total.sent + total.skipped + total.failed + total.unchanged == 0;
            return Ok(total);
        };
        let cfg = config(paths, &total)?;
        let db = open_queue(&cfg, paths)?;
        keep_authorized(paths, &cfg, &total)?;
        if !cfg.sync.enabled {
            return disabled(paths, db, total);
        }
        let mut db = drain(paths, &cfg, db, progress, &mut total)?;
        drop(lock);
        // A job queued after the last claim but before the unlock woke no other worker:
        // look once more, and go on if there is one.
        db::spool::fold(paths, db.as_mut())?;
        if db.due_jobs(crate::log::now())? == 0 {
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

/// The settings, or the run ends (and says why in the state) before anything is done.
fn config(paths: &Paths, total: &RunReport) -> Result<Config, RunError> {
    let cfg = crate::config::Sources::read(paths)
        .config()
        .inspect_err(|problems| {
            log::error!(
                "the worker cannot start: configuration problems (run `amocrm check`): {problems}"
            );
            save_state(
                paths,
                "config",
                &problems.to_string(),
                "fix the configuration: run `amocrm check`",
                total,
            );
        })?;
    crate::log::register_secret(cfg.auth.client_secret.expose());
    if let Some(code) = &cfg.auth.code {
        crate::log::register_secret(code.expose());
    }
    Ok(cfg)
}

/// The panel database with the queue ready: jobs a dead worker left taken are pending
/// again, and finished jobs older than a month are gone.
fn open_queue(cfg: &Config, paths: &Paths) -> Result<Box<dyn PanelDb>, RunError> {
    // Said in the task log too: a worker the panel hook woke has no terminal.
    let mut db = db::open_panel(&cfg.database, paths)
        .inspect_err(|e| log::error!("the worker cannot start: {e}"))?;
    db.read_money(cfg.rules.read_money());
    let reset = db.reset_taken()?;
    if reset > 0 {
        log::warn!("{reset} job(s) left taken by a worker that stopped are pending again");
    }
    let pruned = db.prune_jobs(crate::log::now() - KEEP_FINISHED_JOBS)?;
    if pruned > 0 {
        log::debug!("{pruned} finished job(s) older than 30 days removed from the queue");
    }
    Ok(db)
}

/// Renews the tokens when they were last renewed a month ago, whatever the queue holds
/// and even with syncing off: amoCRM drops an authorization unused for three months. A
/// refusal ends the run as any other would; amoCRM out of reach waits for the next run.
fn keep_authorized(paths: &Paths, cfg: &Config, total: &RunReport) -> Result<(), RunError> {
    let opts = ClientOptions {
        rate_limit: cfg.sync.rate_limit,
        timeout: std::time::Duration::from_secs(30),
        retry: crate::amo::RetryPauses::starting_at(cfg.sync.retry_pause),
    };
    let renewed = AmoClient::new(&cfg.auth, opts, paths).and_then(|mut c| c.keep_alive());
    match renewed {
        Ok(_) => Ok(()),
        Err(e @ AmoError::Refused { .. }) => Err(stopped(paths, Stop::Amo(e), total)),
        Err(e) => {
            log::warn!("the amoCRM authorization was not renewed now, the next run tries: {e}");
            Ok(())
        }
    }
}

/// `[sync] enabled = no`: the jobs wait, and the state says so.
fn disabled(
    paths: &Paths,
    mut db: Box<dyn PanelDb>,
    mut total: RunReport,
) -> Result<RunReport, RunError> {
    let waiting = db.queue_summary(crate::log::now())?.pending;
    log::info!("sync is disabled ([sync] enabled = no): {waiting} job(s) wait, nothing is sent");
    total.disabled = true;
    save_state(
        paths,
        "disabled",
        &format!("sync is disabled; {waiting} job(s) wait"),
        "set [sync] enabled = yes to send them",
        &total,
    );
    Ok(total)
}

/// One worker's drain of the queue; its counts join `total`. A stop is recorded in the
/// state with what to do.
fn drain(
    paths: &Paths,
    cfg: &Config,
    db: Box<dyn PanelDb>,
    progress: bool,
    total: &mut RunReport,
) -> Result<Box<dyn PanelDb>, RunError> {
    let mut w = match Worker::new(paths, cfg, db, progress) {
        Ok(w) => w,
        Err(stop) => return Err(stopped(paths, stop, total)),
    };
    let outcome = w.drain();
    let r = &w.ledger.report;
    total.sent += r.sent;
    total.unchanged += r.unchanged;
    total.skipped += r.skipped;
    total.failed += r.failed;
    if w.progress {
        eprintln!();
    }
    match outcome {
        Ok(()) => Ok(w.into_db()),
        Err(stop) => Err(stopped(paths, stop, total)),
    }
}

/// Records why the run stopped; the queue keeps every job.
fn stopped(paths: &Paths, stop: Stop, total: &RunReport) -> RunError {
    match stop {
        Stop::Amo(e) => {
            let (message, action) = describe_stop(&e);
            log::error!("the run stopped, the queue keeps every job: {message}; {action}");
            RunState {
                stopped_by_access: matches!(e, AmoError::Refused { .. } | AmoError::Unavailable(_)),
                ..run_state("stopped", &message, &action, total)
            }
            .save(paths);
            e.into()
        }
        Stop::Db(e) => {
            log::error!("the run stopped on a database error, the queue keeps every job: {e}");
            let action = "check the panel database";
            save_state(paths, "stopped", &e.to_string(), action, total);
            e.into()
        }
    }
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
            ..
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
