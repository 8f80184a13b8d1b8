//! `amocrm.queue`: the jobs waiting to be sent or failed, with their error and next try;
//! `amocrm.queue.retry` makes the chosen ones due now, `amocrm.queue.drop` removes them.

use super::page::datetime;
use super::{Ctx, ListPage, UiError, UiResult, entity_label};
use crate::db::{JobInfo, Lookup, PanelDb};
use crate::model::EntityKind;

/// The states the list shows; done and skipped jobs are history, not work.
const SHOWN: &[&str] = &["pending", "failed", "taken"];

/// The values of the list's `type="msg"` columns (a test checks each has its texts).
#[cfg(test)]
pub(super) fn msg_cells() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("kind", EntityKind::ALL.map(EntityKind::as_str).to_vec()),
        ("state", SHOWN.to_vec()),
    ]
}

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    let mut db = ctx.db()?;
    let paging = ctx.paging();
    let total = db.count_jobs(SHOWN).map_err(|e| ctx.db_error(e))?;
    let jobs = db
        .jobs_page(SHOWN, paging.offset(), paging.cnt)
        .map_err(|e| ctx.db_error(e))?;
    let mut page = ListPage::new();
    for job in &jobs {
        let next_try = if job.state == "failed" {
            datetime(job.next_try).unwrap_or_default()
        } else {
            String::new()
        };
        page.row(&[
            ("id", job.id.to_string()),
            ("kind", job.kind.clone()),
            ("entity", entity_of(db.as_mut(), job)),
            ("event", job.event.clone()),
            ("state", job.state.clone()),
            ("attempts", job.attempts.to_string()),
            ("next_try", next_try),
            ("error", job.last_error.clone().unwrap_or_default()),
        ]);
    }
    Ok(page.render(ctx, usize::try_from(total).unwrap_or(0), paging))
}

/// The entity a job is about: its name from the panel, or the login it waits to find.
fn entity_of(db: &mut dyn PanelDb, job: &JobInfo) -> String {
    if let (Some(kind), Some(id)) = (EntityKind::parse(&job.kind), job.billmgr_id) {
        return entity_label(db, kind, id);
    }
    match job.key.split_once('?').and_then(|(_, l)| Lookup::decode(l)) {
        Some(Lookup::Login(login)) | Some(Lookup::NewestProfileOfLogin(login)) => login,
        Some(Lookup::User(id)) => format!("user #{id}"),
        Some(Lookup::Payment(id)) => format!("payment #{id}"),
        None => job.key.clone(),
    }
}

/// The job ids chosen in the list; an error when none is a job id.
fn chosen(ctx: &Ctx<'_>) -> Result<Vec<i64>, UiError> {
    let raw = ctx.elid_list();
    let ids: Vec<i64> = raw
        .iter()
        .filter_map(|s| s.parse().ok())
        .filter(|id| *id > 0)
        .collect();
    if ids.is_empty() || ids.len() != raw.len() {
        return Err(ctx.fail("bad_elid", &[("elid", ctx.param("elid").unwrap_or(""))]));
    }
    Ok(ids)
}

pub fn retry(ctx: &Ctx<'_>) -> UiResult {
    let ids = chosen(ctx)?;
    let mut db = ctx.db()?;
    let n = db
        .retry_jobs(&ids, crate::log::now())
        .map_err(|e| ctx.db_error(e))?;
    ctx.audit(&format!("retry now: {n} of jobs {}", join(&ids)));
    if crate::config::Sources::read_conf(ctx.paths)
        .hook()
        .is_ok_and(|c| c.sync_enabled)
    {
        crate::sync::wake::wake_worker(ctx.paths);
    }
    Ok(ctx.ok())
}

pub fn drop(ctx: &Ctx<'_>) -> UiResult {
    let ids = chosen(ctx)?;
    let mut db = ctx.db()?;
    let n = db.drop_jobs(&ids).map_err(|e| ctx.db_error(e))?;
    ctx.audit(&format!("dropped {n} of jobs {}", join(&ids)));
    Ok(ctx.ok())
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
