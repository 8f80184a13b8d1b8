//! `amocrm.export`: the full export. Opened, the form shows where the last export is
//! (idle, running, finished) with its numbers; submitted, it starts `amocrm sync --all`
//! in the background, unless one runs already, and comes back to the form.
//!
//! The numbers are real state: the exporting process writes var/amocrm_export.json (see
//! [`crate::sync::export`]) and holds an exclusive lock while it lives; what was sent,
//! skipped or failed since it queued everything is read from the queue.

use std::time::{Duration, Instant};

use super::page::datetime;
use super::{Ctx, FormPage, UiError, UiResult};
use crate::sync::export::{self, ExportCounts, ExportProgress, ExportState};

/// How long a start waits for the export to record itself before answering.
const START_WAIT: Duration = Duration::from_secs(10);

pub fn form(ctx: &Ctx<'_>) -> UiResult {
    if ctx.req.submitted() {
        start(ctx)?;
        return Ok(ctx.ok_redirect("form", "func=amocrm.export"));
    }
    show(ctx)
}

fn show(ctx: &Ctx<'_>) -> UiResult {
    let (state, progress) = export::status(ctx.paths);
    let counts = match (&state, &progress) {
        (ExportState::Idle, _) | (_, None) => ExportCounts::default(),
        (ExportState::Finished, Some(p)) if p.last.is_some() => p.last.unwrap_or_default(),
        (_, Some(p)) => {
            let mut db = ctx.db()?;
            let summary = db
                .queue_summary(crate::log::now())
                .map_err(|e| ctx.db_error(e))?;
            p.counts(&summary)
        }
    };
    let p = progress.unwrap_or_default();
    let started = match state {
        ExportState::Idle => ctx.common("never", &[]),
        _ => datetime(p.started_at).unwrap_or_default(),
    };
    let finished = match state {
        ExportState::Finished => p.finished_at.and_then(datetime).unwrap_or_default(),
        _ => String::new(),
    };
    let n = |v: i64| v.to_string();
    let mut form = FormPage::new();
    form.value("state", &state_text(ctx, state, &p))
        .value("started", &started)
        .value("finished", &finished)
        .value("queued", &p.queued.to_string())
        .value("sent", &n(counts.sent))
        .value("skipped", &n(counts.skipped))
        .value("failed", &n(counts.failed))
        .value("remaining", &n(counts.remaining));
    Ok(form.render(ctx))
}

fn state_text(ctx: &Ctx<'_>, state: ExportState, p: &ExportProgress) -> String {
    match state {
        ExportState::Idle => ctx.common("export_idle", &[]),
        ExportState::Queueing => ctx.common("export_queueing", &[]),
        ExportState::Sending => ctx.common("export_sending", &[]),
        ExportState::Interrupted => ctx.common("export_interrupted", &[]),
        ExportState::Finished => match p.result.as_str() {
            "ok" => ctx.common("export_finished", &[]),
            "disabled" => ctx.common("export_disabled", &[]),
            "busy" => ctx.common("export_busy", &[]),
            _ => ctx.common("export_stopped", &[("error", &p.message)]),
        },
    }
}

/// Starts `amocrm sync --all` detached from the panel, and waits (briefly) until it has
/// taken the export lock and recorded its start, so that the form shows it running.
fn start(ctx: &Ctx<'_>) -> Result<(), UiError> {
    if export::is_running(ctx.paths) {
        return Err(already_running(ctx));
    }
    // What would stop the export at once is told here, in the admin's language.
    crate::config::Sources::read(ctx.paths)
        .config()
        .map_err(|p| ctx.fail("config", &[("error", &p.to_string())]))?;
    drop(ctx.db()?);

    let not_started =
        |e: &dyn std::fmt::Display| ctx.fail("export_not_started", &[("error", &e.to_string())]);
    let mut child = crate::sync::wake::spawn_detached(ctx.paths, &["sync", "--all"])
        .map_err(|e| not_started(&e))?;
    let pid = child.id();

    let begun = Instant::now();
    loop {
        // Whether it ended is asked first: one that recorded itself and ended at once
        // (a panel with little to export) started fine.
        let ended = child.try_wait().ok().flatten();
        if ExportProgress::load(ctx.paths).is_some_and(|p| p.pid == pid) {
            break;
        }
        if let Some(status) = ended {
            // Gone without recording itself: another export took the lock first, or it
            // failed at once (the task log says why).
            if export::is_running(ctx.paths) {
                return Err(already_running(ctx));
            }
            return Err(not_started(&status));
        }
        if begun.elapsed() > START_WAIT {
            // Slow to start (a busy database): it runs on; the form shows it soon.
            log::warn!("the export (pid {pid}) has not recorded its start yet");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.audit(&format!("started the full export (pid {pid})"));
    Ok(())
}

fn already_running(ctx: &Ctx<'_>) -> UiError {
    let started = ExportProgress::load(ctx.paths)
        .and_then(|p| datetime(p.started_at))
        .unwrap_or_default();
    ctx.fail("export_already_running", &[("started", &started)])
}
