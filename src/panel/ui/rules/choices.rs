//! The choices of the rule form's selects: the presets' values and validators, amoCRM's
//! fields, pipelines, stages and users by name, and whatever amocrm.conf already names
//! that amoCRM did not, so a select always shows what a rule holds.

use super::super::Ctx;
use super::super::amo_meta::Meta;
use super::form::{Form, split_arrow};
use super::kinds::kind_of;
use crate::amo::User;
use crate::config::RuleLine;
use crate::rules::Vocabulary;

pub(super) fn with_current(
    mut choices: Vec<(String, String)>,
    current: &str,
    label: impl Fn(&str) -> String,
) -> Vec<(String, String)> {
    if !current.is_empty() && !choices.iter().any(|(k, _)| k == current) {
        choices.push((current.to_string(), label(current)));
    }
    choices
}

/// EMAIL and PHONE, the entity's custom fields by name, and the ids amocrm.conf maps that
/// amoCRM did not name.
pub(super) fn field_choices(
    ctx: &Ctx<'_>,
    form: &Form,
    lines: &[RuleLine],
    meta: Option<&Meta>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for code in ["EMAIL", "PHONE"] {
        let label = match meta.and_then(|m| m.field(&form.entity, code)) {
            Some(f) => format!("{} ({code})", f.name),
            None => code.to_string(),
        };
        out.push((code.to_string(), label));
    }
    if let Some(m) = meta {
        for f in m.fields(&form.entity) {
            let code = f.code.as_deref().unwrap_or("");
            if code.eq_ignore_ascii_case("EMAIL") || code.eq_ignore_ascii_case("PHONE") {
                continue;
            }
            out.push((f.id.to_string(), format!("{} ({})", f.name, f.id)));
        }
    }
    let section = format!("fields.{}", form.entity);
    let id_label = |key: &str| ctx.common("rules_field_id", &[("id", key)]);
    for l in lines.iter().filter(|l| l.section == section) {
        let known = out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&l.key))
            || meta.is_some_and(|m| m.field(&form.entity, &l.key).is_some());
        if !known {
            out.push((l.key.clone(), id_label(&l.key)));
        }
    }
    if !out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&form.field)) {
        out = with_current(out, &form.field, id_label);
    }
    out
}

/// The presets' values usable for the entity, with their labels.
pub(super) fn value_choices(form: &Form, vocab: &Vocabulary) -> Vec<(String, String)> {
    let kind = kind_of(&form.entity);
    let out = vocab
        .values
        .iter()
        .filter(|(_, v)| kind.is_none_or(|k| v.spec.kinds().contains(&k)))
        .map(|(name, v)| (name.clone(), labelled(name, &v.label)))
        .collect();
    with_current(out, &form.value, str::to_string)
}

pub(super) fn validator_choices(form: &Form, vocab: &Vocabulary) -> Vec<(String, String)> {
    let out = vocab
        .validators
        .iter()
        .map(|(name, v)| (name.clone(), labelled(name, &v.label)))
        .collect();
    with_current(out, &form.validator, str::to_string)
}

fn labelled(name: &str, label: &str) -> String {
    if label.is_empty() {
        name.to_string()
    } else {
        format!("{name} — {label}")
    }
}

/// `(pipeline, status)` of every stage amocrm.conf names.
fn conf_stages(lines: &[RuleLine]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.section == "pipelines")
        .filter_map(|l| {
            let stage = if l.key == "default" {
                l.value.as_str()
            } else {
                split_arrow(&l.value)?.1
            };
            let (p, s) = stage.split_once(':')?;
            Some((p.trim().to_string(), s.trim().to_string()))
        })
        .collect()
}

pub(super) fn pipeline_choices(
    ctx: &Ctx<'_>,
    form: &Form,
    lines: &[RuleLine],
    meta: Option<&Meta>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = meta
        .map(|m| {
            m.pipelines
                .iter()
                .map(|p| (p.id.to_string(), p.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let label = |id: &str| ctx.common("rules_pipeline_id", &[("id", id)]);
    for (p, _) in conf_stages(lines) {
        out = with_current(out, &p, label);
    }
    with_current(out, &form.pipeline, label)
}

/// The statuses of `pipeline`: by name from amoCRM, else the ones amocrm.conf uses.
pub(super) fn status_choices(
    ctx: &Ctx<'_>,
    pipeline: &str,
    lines: &[RuleLine],
    meta: Option<&Meta>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pipeline
        .parse::<i64>()
        .ok()
        .and_then(|id| meta?.pipeline(id))
        .map(|p| {
            p.statuses
                .iter()
                .map(|s| (s.id.to_string(), s.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (p, s) in conf_stages(lines) {
        if p == pipeline && !out.iter().any(|(k, _)| *k == s) {
            let label = ctx.common("rules_status_id", &[("id", &s)]);
            out.push((s, label));
        }
    }
    out
}

/// `[pipelines] default` as (pipeline, status).
pub(super) fn default_stage(lines: &[RuleLine]) -> Option<(String, String)> {
    lines
        .iter()
        .find(|l| l.section == "pipelines" && l.key == "default")
        .and_then(|l| l.value.split_once(':'))
        .map(|(p, s)| (p.trim().to_string(), s.trim().to_string()))
}

/// The pipeline a new rule starts with: amoCRM's main one; without amoCRM, that of
/// `[pipelines] default`, else the first amocrm.conf names.
pub(super) fn default_pipeline(lines: &[RuleLine], meta: Option<&Meta>) -> String {
    let from_conf = || {
        default_stage(lines)
            .map(|(p, _)| p)
            .or_else(|| conf_stages(lines).into_iter().next().map(|(p, _)| p))
    };
    meta.and_then(|m| {
        m.pipelines
            .iter()
            .find(|p| p.is_main)
            .or(m.pipelines.first())
    })
    .map(|p| p.id.to_string())
    .or_else(from_conf)
    .unwrap_or_default()
}

/// amoCRM's active users by name and e-mail, keyed by id; and the user the rule names,
/// under amoCRM's name when it is one of them (by id or e-mail).
pub(super) fn user_choices(
    ctx: &Ctx<'_>,
    form: &Form,
    meta: Option<&Meta>,
) -> Vec<(String, String)> {
    let users = meta.and_then(|m| m.users.as_deref()).unwrap_or(&[]);
    let out: Vec<(String, String)> = (users.iter())
        .filter(|u| u.is_active)
        .map(|u| (u.id.to_string(), user_label(u)))
        .collect();
    let current = form.user.as_str();
    let named = |u: &&User| u.id.to_string() == current || u.email.eq_ignore_ascii_case(current);
    with_current(out, current, |c| match users.iter().find(named) {
        Some(u) if u.is_active => user_label(u),
        Some(u) => ctx.common("rules_user_inactive", &[("user", &user_label(u))]),
        None => ctx.common("rules_user_id", &[("user", c)]),
    })
}

fn user_label(u: &User) -> String {
    match (u.name.is_empty(), u.email.is_empty()) {
        (false, false) => format!("{} <{}>", u.name, u.email),
        (false, true) => format!("{} ({})", u.name, u.id),
        _ => format!("{} ({})", u.email, u.id),
    }
}
