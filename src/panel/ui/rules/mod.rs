//! `amocrm.rules`: every rule of amocrm.conf — sync conditions, tags, custom fields,
//! pipelines, tasks, responsible managers and the payment notes' switch — in file order;
//! `amocrm.rules.edit`: one rule as a form, its choices from the presets and amoCRM's
//! fields, pipelines and users by name; `amocrm.rules.delete`.
//!
//! A rule is saved only when the whole file, with it, passes the checks `amocrm check`
//! makes; then it is written with the admin's comments and order kept.

mod choices;
mod form;
mod kinds;
mod line;
mod render;
mod save;

use super::amo_meta::{self, Meta};
use super::{Ctx, ListPage, UiError, UiResult};
use crate::config::edit::{self, Change};
use crate::config::{self, RuleLine};
use crate::rules::Vocabulary;
use choices::{default_pipeline, default_stage, status_choices};
use form::Form;
use kinds::{RuleType, classify, parse_id, rule_id};

// ---- reading ------------------------------------------------------------------------------

/// amocrm.conf's text; none yet is no rules.
fn read_conf(ctx: &Ctx<'_>) -> Result<String, UiError> {
    match std::fs::read(ctx.paths.conf()) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| ctx.fail("config", &[("error", "amocrm.conf is not UTF-8 text")])),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(ctx.fail("config", &[("error", &e.to_string())])),
    }
}

/// The values and validators of the presets; their own problems are `amocrm check`'s.
fn vocabulary(ctx: &Ctx<'_>) -> Vocabulary {
    config::Sources::read(ctx.paths).vocabulary(&mut Vec::new())
}

/// How the list names a rule: the key, and for a custom field amoCRM's name of it.
fn shown_name(line: &RuleLine, ty: RuleType, entity: &str, meta: Option<&Meta>) -> String {
    match (ty, meta.and_then(|m| m.field(entity, &line.key))) {
        (RuleType::Field, Some(f)) => format!("{} ({})", f.name, line.key),
        _ => line.key.clone(),
    }
}

/// The values of the list's `type="msg"` columns (a test checks each has its texts).
#[cfg(test)]
pub(super) fn msg_cells() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("type", RuleType::ALL.map(RuleType::as_str).to_vec()),
        ("entity", [&kinds::ENTITIES[..], &[kinds::ANY]].concat()),
    ]
}

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    let text = read_conf(ctx)?;
    let lines = config::rule_lines(&text);
    // Names only from what was read before: a list never waits for amoCRM.
    let meta = amo_meta::cached(ctx.paths);
    let paging = ctx.paging();
    let mut page = ListPage::new();
    for line in lines.iter().skip(paging.offset()).take(paging.cnt) {
        let (ty, entity) = classify(&line.section, &line.key);
        page.row(&[
            ("id", rule_id(&line.section, &line.key)),
            ("type", ty.as_str().to_string()),
            ("entity", entity.to_string()),
            ("name", shown_name(line, ty, entity, meta.as_ref())),
            ("rule", line.value.clone()),
        ]);
    }
    Ok(page.render(ctx, lines.len(), paging))
}

pub fn edit(ctx: &Ctx<'_>) -> UiResult {
    let text = read_conf(ctx)?;
    let lines = config::rule_lines(&text);
    let vocab = vocabulary(ctx);
    let old = match ctx.param("elid") {
        Some(id) => Some(find_line(ctx, &lines, id)?),
        None => None,
    };
    if ctx.req.submitted() {
        return save::save(ctx, &text, &lines, old);
    }
    let meta = amo_meta::load(ctx.paths);
    // Opened on an existing rule: as the file has it. Otherwise (new, or refreshed
    // because a select changed) as the admin has filled it in so far.
    let as_written = old.is_some() && ctx.param("sv_field").is_none();
    let mut form = match &old {
        Some(line) if as_written => Form::from_line(line, &vocab),
        _ => Form::from_params(ctx).with_defaults(),
    };
    if form.pipeline.is_empty() {
        form.pipeline = default_pipeline(&lines, meta.meta.as_ref());
    }
    // Another pipeline chosen (or none yet): the default's stage when it is in that
    // pipeline, else its first.
    let statuses = status_choices(ctx, &form.pipeline, &lines, meta.meta.as_ref());
    if form.status.is_empty() || (!as_written && !statuses.iter().any(|(k, _)| *k == form.status)) {
        form.status = default_stage(&lines)
            .filter(|(p, s)| *p == form.pipeline && statuses.iter().any(|(k, _)| k == s))
            .map(|(_, s)| s)
            .or_else(|| statuses.first().map(|(k, _)| k.clone()))
            .unwrap_or_default();
    }
    Ok(render::render_form(ctx, &form, &lines, &vocab, &meta))
}

/// The line a row id names.
fn find_line(ctx: &Ctx<'_>, lines: &[RuleLine], id: &str) -> Result<RuleLine, UiError> {
    parse_id(id)
        .and_then(|(s, k)| lines.iter().find(|l| l.section == s && l.key == k))
        .cloned()
        .ok_or_else(|| ctx.fail("bad_elid", &[("elid", id)]))
}

pub fn delete(ctx: &Ctx<'_>) -> UiResult {
    let ids = ctx.elid_list();
    let elid = ctx.param("elid").unwrap_or("");
    if ids.is_empty() {
        return Err(ctx.fail("bad_elid", &[("elid", elid)]));
    }
    let text = read_conf(ctx)?;
    let lines = config::rule_lines(&text);
    let mut chosen = Vec::new();
    for id in &ids {
        let line = find_line(ctx, &lines, id)?;
        chosen.push((line.section, line.key));
    }
    let changes: Vec<Change> = chosen.iter().map(|(s, k)| Change::remove(s, k)).collect();
    edit::apply(&ctx.paths.conf(), &changes)
        .map_err(|e| ctx.fail("rules_write", &[("error", &e.to_string())]))?;
    let what: Vec<String> = chosen.iter().map(|(s, k)| format!("[{s}] {k}")).collect();
    ctx.audit(&format!("removed {}", what.join(", ")));
    Ok(ctx.ok())
}
