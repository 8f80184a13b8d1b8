//! Saving a rule: the line the form describes is written only when the whole file, with
//! it, passes the checks `amocrm check` makes (and a responsible user is one amoCRM has,
//! when its users can be read); the admin's comments and order are kept.

use std::collections::HashSet;
use std::path::PathBuf;

use super::super::amo_meta;
use super::super::{Ctx, UiError, UiResult};
use super::form::Form;
use super::kinds::RuleType;
use super::line::{Line, build_line, chosen_user};
use crate::config::edit::{self, Change};
use crate::config::{self, ProblemKind, RuleLine};

pub(super) fn save(
    ctx: &Ctx<'_>,
    text: &str,
    lines: &[RuleLine],
    old: Option<RuleLine>,
) -> UiResult {
    let form = Form::from_params(ctx);
    let line = build_line(ctx, &form)?;
    let (section, key, value) = &line;
    let taken = lines.iter().any(|l| l.section == *section && l.key == *key);
    let same = (old.as_ref()).is_some_and(|o| o.section == *section && o.key == *key);
    if taken && !same {
        return Err(ctx.fail("rules_exists", &[("rule", &format!("[{section}] {key}"))]));
    }
    if RuleType::parse(&form.ty) == Some(RuleType::Responsible) {
        known_user(ctx, &chosen_user(ctx, &form)?)?;
    }
    let changes = changes_for(old.as_ref(), &line);
    let invalid = |error: &str| ctx.fail("rules_invalid", &[("error", error)]);
    let candidate = edit::apply_text(text, &changes).map_err(|e| invalid(&e.to_string()))?;
    checked(ctx, text, &candidate, &line)?;
    edit::apply(&ctx.paths.conf(), &changes)
        .map_err(|e| ctx.fail("rules_write", &[("error", &e.to_string())]))?;
    let what = match &old {
        Some(o) if o.section != *section || o.key != *key => format!(
            "replaced [{}] {} with [{section}] {key} = {value}",
            o.section, o.key
        ),
        Some(_) => format!("changed [{section}] {key} = {value}"),
        None => format!("added [{section}] {key} = {value}"),
    };
    ctx.audit(&what);
    Ok(ctx.ok())
}

/// The edit of amocrm.conf: in place when the rule stays in its section, else out of the
/// old one and into the new.
fn changes_for(old: Option<&RuleLine>, (section, key, value): &Line) -> Vec<Change> {
    match old {
        Some(o) if o.section == *section => {
            vec![Change::rename_raw(section, &o.key, key, value)]
        }
        Some(o) => vec![
            Change::remove(&o.section, &o.key),
            Change::set_raw(section, key, value),
        ],
        None => vec![Change::set_raw(section, key, value)],
    }
}

/// Exactly the checks of `amocrm check` on the file as it would be; what was wrong before
/// this edit is not the admin's doing now, but anything about the edited line is. Problems
/// are told apart by where they are (their kind), which stays when lines move.
fn checked(ctx: &Ctx<'_>, text: &str, candidate: &str, line: &Line) -> Result<(), UiError> {
    let (section, key, _) = line;
    let sources = config::Sources::read(ctx.paths);
    let before: HashSet<(PathBuf, ProblemKind)> = (sources.with_conf(text).problems())
        .into_iter()
        .map(|p| (p.file, p.kind))
        .collect();
    let new_line = config::rule_lines(candidate)
        .into_iter()
        .find(|l| l.section == *section && l.key == *key)
        .map(|l| l.line);
    let problems: Vec<String> = (sources.with_conf(candidate).problems())
        .into_iter()
        .filter(|p| Some(p.line) == new_line || !before.contains(&(p.file.clone(), p.kind.clone())))
        .map(|p| p.message)
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let written = (new_line.and_then(|n| candidate.lines().nth(n - 1))).unwrap_or("");
    Err(ctx.fail(
        "rules_invalid_line",
        &[("error", &problems.join("; ")), ("line", written.trim())],
    ))
}

/// A responsible user amoCRM lacks or has deactivated is refused, as `amocrm check`
/// would report it; when amoCRM's users cannot be read, `check` is left to tell.
fn known_user(ctx: &Ctx<'_>, user: &str) -> Result<(), UiError> {
    let loaded = amo_meta::load(ctx.paths);
    let Some(users) = loaded.meta.as_ref().and_then(|m| m.users.as_ref()) else {
        return Ok(());
    };
    let found = (users.iter()).find(|u| {
        u.id.to_string() == user || (!u.email.is_empty() && u.email.eq_ignore_ascii_case(user))
    });
    match found {
        Some(u) if u.is_active => Ok(()),
        Some(_) => Err(ctx.fail("rules_user_deactivated", &[("user", user)])),
        None => Err(ctx.fail("rules_user_unknown", &[("user", user)])),
    }
}
