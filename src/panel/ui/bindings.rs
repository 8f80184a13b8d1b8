//! `amocrm.bindings`: the three link tables (client → contact, payer → company, service →
//! lead) as one list, with each entity's last sync and the state of its queued job.
//! `amocrm.bindings.filter` chooses the kind shown, `amocrm.bindings.resync` queues the
//! chosen entities again, `amocrm.bindings.unlink` forgets their links (amoCRM keeps its
//! entities) and `amocrm.bindings.open` opens one card in amoCRM.
//!
//! A row's key is `kind:billmgr_id` (`account:3`): unique across the three tables and
//! free of ", ", which the panel puts between the keys of a group action.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::page::datetime;
use super::{Ctx, FormPage, ListPage, UiError, UiResult, entity_label};
use crate::db::{Link, NewJob, PanelDb};
use crate::model::EntityKind;
use crate::panel::doc::escape;

/// The event recorded on the jobs this screen queues.
const RESYNC_EVENT: &str = "amocrm.bindings.resync";

fn key(kind: EntityKind, id: i64) -> String {
    format!("{kind}:{id}")
}

/// `account:3` → (account, 3); anything else (`account:x`, `nothing:1`, `item:+4`) is junk.
fn parse_key(s: &str) -> Option<(EntityKind, i64)> {
    let (kind, id) = s.split_once(':')?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    Some((EntityKind::parse(kind)?, id))
}

/// The values of the list's `type="msg"` columns (a test checks each has its texts).
#[cfg(test)]
pub(super) fn msg_cells() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![("kind", EntityKind::ALL.map(EntityKind::as_str).to_vec())]
}

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    let filter = current_filter(ctx)?;
    let kinds: Vec<EntityKind> = match filter {
        Some(k) => vec![k],
        None => EntityKind::ALL.to_vec(),
    };
    let mut db = ctx.db()?;
    let paging = ctx.paging();

    // One page across the tables in the order account, profile, item.
    let (mut skip, mut want, mut total) = (paging.offset(), paging.cnt, 0usize);
    let mut rows: Vec<(EntityKind, Link)> = Vec::new();
    for kind in kinds {
        let n = usize::try_from(db.link_count(kind).map_err(|e| ctx.db_error(e))?).unwrap_or(0);
        total += n;
        if want == 0 {
            continue;
        }
        if skip >= n {
            skip -= n;
            continue;
        }
        let links = db
            .links_page(kind, skip, want)
            .map_err(|e| ctx.db_error(e))?;
        skip = 0;
        want = want.saturating_sub(links.len());
        rows.extend(links.into_iter().map(|l| (kind, l)));
    }

    let account_url = account_url(ctx).ok();
    let mut page = ListPage::new();
    for (kind, link) in &rows {
        let state = state_of(ctx, db.as_mut(), *kind, link.billmgr_id)?;
        page.row(&[
            ("id", key(*kind, link.billmgr_id)),
            ("kind", kind.as_str().to_string()),
            ("name", entity_label(db.as_mut(), *kind, link.billmgr_id)),
            ("billmgr_id", link.billmgr_id.to_string()),
            ("amocrm_id", link.amocrm_id.to_string()),
            (
                "synced",
                datetime(link.synced_at).unwrap_or_else(|| ctx.common("never", &[])),
            ),
            ("state", state),
            // No documented way makes a list cell a link: the "open" button is the link
            // to the card, and the card's address rides along in the row (not a declared
            // column) for API callers (inferred).
            (
                "card_url",
                account_url
                    .as_deref()
                    .map(|u| card_url(u, *kind, link.amocrm_id))
                    .unwrap_or_default(),
            ),
        ]);
    }
    let doc = page.render(ctx, total, paging);
    Ok(match filter {
        Some(kind) => with_filter_note(doc, &filter_note(ctx, kind)),
        None => doc,
    })
}

/// The state of the entity's queued job: its error, waiting, or synced.
fn state_of(
    ctx: &Ctx<'_>,
    db: &mut dyn PanelDb,
    kind: EntityKind,
    id: i64,
) -> Result<String, UiError> {
    let job = db.job_of(kind, id).map_err(|e| ctx.db_error(e))?;
    let reason = |j: &crate::db::JobInfo| j.last_error.clone().unwrap_or_default();
    Ok(match job {
        Some(j) if j.state == "failed" => ctx.common("binding_failed", &[("error", &reason(&j))]),
        Some(j) if j.state == "pending" || j.state == "taken" => ctx.common("binding_waiting", &[]),
        Some(j) if j.state == "skipped" => {
            ctx.common("binding_skipped", &[("reason", &reason(&j))])
        }
        _ => ctx.common("binding_synced", &[]),
    })
}

/// The list's filter as the panel shows it above a list (`<p_filter>`, inferred from
/// public clients of the panel's XML), put after the rows.
fn with_filter_note(doc: String, note: &str) -> String {
    match doc.rfind("<p_elems>") {
        Some(at) => format!(
            "{}<p_filter>{}</p_filter>{}",
            &doc[..at],
            escape(note),
            &doc[at..]
        ),
        None => doc,
    }
}

fn filter_note(ctx: &Ctx<'_>, kind: EntityKind) -> String {
    format!(
        "{}: {}",
        ctx.text("amocrm.bindings.filter", "kind", &[]),
        kind_label(ctx, Some(kind))
    )
}

fn kind_label(ctx: &Ctx<'_>, kind: Option<EntityKind>) -> String {
    let name = kind.map_or("all", EntityKind::as_str);
    ctx.text("amocrm.bindings.filter", &format!("kind_{name}"), &[])
}

// --- the filter ---
//
// The panel keeps the filters of its own lists itself; a module's list has to keep its
// own. It is kept per admin in var/amocrm_bindings_filter.json, so it lasts across the
// paging and refreshes of the list, whose calls carry only the panel's own parameters.
// A `kind` parameter given to the list itself wins for that call.

/// `all` → no filter; a kind; `None` for anything else.
fn parse_filter(s: &str) -> Option<Option<EntityKind>> {
    if s == "all" {
        Some(None)
    } else {
        EntityKind::parse(s).map(Some)
    }
}

fn filter_file(ctx: &Ctx<'_>) -> PathBuf {
    ctx.paths.var_dir().join("amocrm_bindings_filter.json")
}

fn saved_filters(ctx: &Ctx<'_>) -> BTreeMap<String, String> {
    std::fs::read_to_string(filter_file(ctx))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn who(ctx: &Ctx<'_>) -> String {
    ctx.req.auth_user.clone().unwrap_or_default()
}

fn current_filter(ctx: &Ctx<'_>) -> Result<Option<EntityKind>, UiError> {
    if let Some(k) = ctx.param("kind") {
        return parse_filter(k).ok_or_else(|| ctx.fail("bad_kind", &[("kind", k)]));
    }
    Ok(saved_filters(ctx)
        .get(&who(ctx))
        .and_then(|k| parse_filter(k))
        .flatten())
}

fn save_filter(ctx: &Ctx<'_>, kind: Option<EntityKind>) -> Result<(), UiError> {
    let mut all = saved_filters(ctx);
    all.insert(who(ctx), kind.map_or("all", EntityKind::as_str).to_string());
    crate::paths::write_json(&filter_file(ctx), &all)
        .map_err(|e| ctx.fail("filter_not_saved", &[("error", &e.to_string())]))
}

/// The filter form: the kind shown now; on submit, back to the list with the new one.
pub fn filter(ctx: &Ctx<'_>) -> UiResult {
    if ctx.req.submitted() {
        let raw = ctx.param("kind").unwrap_or("all");
        let kind = parse_filter(raw).ok_or_else(|| ctx.fail("bad_kind", &[("kind", raw)]))?;
        save_filter(ctx, kind)?;
        return Ok(ctx.ok_redirect("list", "func=amocrm.bindings"));
    }
    let current = current_filter(ctx)?;
    let choices: Vec<(String, String)> = [None]
        .into_iter()
        .chain(EntityKind::ALL.into_iter().map(Some))
        .map(|k| {
            (
                k.map_or("all", EntityKind::as_str).to_string(),
                kind_label(ctx, k),
            )
        })
        .collect();
    let mut form = FormPage::new();
    form.value("kind", current.map_or("all", EntityKind::as_str))
        .slist("kind", &choices);
    Ok(form.render(ctx))
}

// --- the actions ---

/// The chosen rows, each linked now. Any key that is junk or not linked refuses the
/// whole action: nothing is changed.
fn chosen(ctx: &Ctx<'_>, db: &mut dyn PanelDb) -> Result<Vec<(EntityKind, Link)>, UiError> {
    let raw = ctx.elid_list();
    let bad = || ctx.fail("bad_elid", &[("elid", ctx.param("elid").unwrap_or(""))]);
    if raw.is_empty() {
        return Err(bad());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in &raw {
        let (kind, id) = parse_key(s).ok_or_else(bad)?;
        if !seen.insert((kind, id)) {
            continue;
        }
        let link = db.link(kind, id).map_err(|e| ctx.db_error(e))?;
        out.push((kind, link.ok_or_else(bad)?));
    }
    Ok(out)
}

fn keys(rows: &[(EntityKind, Link)]) -> String {
    rows.iter()
        .map(|(k, l)| key(*k, l.billmgr_id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Queues the chosen entities to be sent again, and wakes the worker.
pub fn resync(ctx: &Ctx<'_>) -> UiResult {
    let mut db = ctx.db()?;
    let rows = chosen(ctx, db.as_mut())?;
    let jobs: Vec<NewJob> = rows
        .iter()
        .map(|(k, l)| NewJob::for_id(*k, l.billmgr_id, RESYNC_EVENT))
        .collect();
    db.enqueue(&jobs, crate::log::now())
        .map_err(|e| ctx.db_error(e))?;
    ctx.audit(&format!("queued {} to sync again", keys(&rows)));
    drop(db);
    if crate::config::Sources::read_conf(ctx.paths)
        .hook()
        .is_ok_and(|c| c.sync_enabled)
    {
        crate::sync::wake::wake_worker(ctx.paths);
    }
    Ok(ctx.ok())
}

/// Forgets the chosen links; the contacts, companies and leads stay in amoCRM.
pub fn unlink(ctx: &Ctx<'_>) -> UiResult {
    let mut db = ctx.db()?;
    let rows = chosen(ctx, db.as_mut())?;
    let mut done = Vec::new();
    let mut failure = None;
    for (kind, link) in &rows {
        match db.unlink(*kind, link.billmgr_id) {
            Ok(_) => done.push(format!(
                "{} ({} {})",
                key(*kind, link.billmgr_id),
                kind.amo_entity(),
                link.amocrm_id
            )),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if !done.is_empty() {
        // The amoCRM ids are logged so that a link removed by mistake can be found again.
        ctx.audit(&format!("unlinked {}; amoCRM keeps them", done.join(", ")));
    }
    match failure {
        Some(e) => Err(ctx.db_error(e)),
        None => Ok(ctx.ok()),
    }
}

/// The account's address from amocrm.conf, checked as the worker checks it.
fn account_url(ctx: &Ctx<'_>) -> Result<String, UiError> {
    crate::config::Sources::read(ctx.paths)
        .config()
        .map(|c| c.auth.url)
        .map_err(|p| ctx.fail("config", &[("error", &p.to_string())]))
}

fn card_url(account_url: &str, kind: EntityKind, amocrm_id: i64) -> String {
    format!(
        "{}/{}/detail/{amocrm_id}",
        account_url.trim_end_matches('/'),
        kind.amo_entity()
    )
}

/// Opens one entity's card in amoCRM in a new window.
pub fn open(ctx: &Ctx<'_>) -> UiResult {
    let mut db = ctx.db()?;
    let rows = chosen(ctx, db.as_mut())?;
    let [(kind, link)] = rows.as_slice() else {
        return Err(ctx.fail("open_one", &[]));
    };
    let url = card_url(&account_url(ctx)?, *kind, link.amocrm_id);
    // `<ok type="blank">` opens the address in a new window (inferred from public
    // plugins; ISPsystem's documentation does not describe the ok types).
    Ok(ctx.ok_redirect("blank", &url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_kind_and_id_and_nothing_else() {
        assert_eq!(parse_key("account:3"), Some((EntityKind::Account, 3)));
        assert_eq!(parse_key("item:1001"), Some((EntityKind::Item, 1001)));
        for junk in [
            "account:x",
            "nothing:1",
            "",
            "account:",
            ":3",
            "item:+4",
            "item:-4",
            "item:0",
            "account:3:4",
            "account: 3",
        ] {
            assert_eq!(parse_key(junk), None, "{junk}");
        }
        assert_eq!(key(EntityKind::Profile, 22), "profile:22");
    }

    #[test]
    fn cards_are_under_the_account() {
        assert_eq!(
            card_url("https://x.amocrm.ru/", EntityKind::Profile, 5),
            "https://x.amocrm.ru/companies/detail/5"
        );
        assert_eq!(
            card_url("https://x.amocrm.ru", EntityKind::Item, 7),
            "https://x.amocrm.ru/leads/detail/7"
        );
    }

    #[test]
    fn the_filter_note_goes_before_the_paging() {
        let doc = "<doc><elem/><p_elems>1</p_elems><p_num>1</p_num></doc>".to_string();
        assert_eq!(
            with_filter_note(doc, "Kind: <all>"),
            "<doc><elem/><p_filter>Kind: &lt;all&gt;</p_filter><p_elems>1</p_elems><p_num>1</p_num></doc>"
        );
    }
}
