//! The line of amocrm.conf a submitted rule form describes, or why the form cannot be one.
//! Whether the line then means what it should is the parser's to say (`save`).

use super::super::{Ctx, UiError};
use super::form::{Form, join_test};
use super::kinds::{ENTITIES, RuleType, kind_of};
use crate::config;

/// A line of a rule section: (section, key, value).
pub(super) type Line = (String, String, String);

/// Characters a rule's name cannot hold: they would end the key, start a comment or a
/// section, or are refused by the file reader.
const BAD_KEY_CHARS: [char; 9] = ['=', ';', '#', '[', ']', '"', ':', '\\', '\0'];

/// Characters a task's text or a user cannot hold: they would end the quoted text or
/// start a comment after it.
const BAD_TEXT_CHARS: [char; 2] = ['"', '\\'];

pub(super) fn build_line(ctx: &Ctx<'_>, form: &Form) -> Result<Line, UiError> {
    let ty = RuleType::parse(&form.ty)
        .ok_or_else(|| ctx.fail("rules_bad_type", &[("type", &form.ty)]))?;
    let entity = match ty.fixed_entity() {
        Some(e) => e,
        None => (ENTITIES.into_iter())
            .find(|e| *e == form.entity)
            .ok_or_else(|| ctx.fail("rules_bad_entity", &[("entity", &form.entity)]))?,
    };
    match ty {
        RuleType::Condition => {
            let kind = kind_of(entity).map_or("", |k| k.as_str());
            Ok(("conditions".into(), kind.into(), condition_text(ctx, form)?))
        }
        RuleType::Tag => {
            let key = checked_key(ctx, "name", &form.name)?;
            Ok((format!("tags.{entity}"), key, condition_text(ctx, form)?))
        }
        RuleType::Field => field_line(ctx, form, entity),
        RuleType::Pipeline => pipeline_line(ctx, form),
        RuleType::Task => task_line(ctx, form),
        RuleType::Responsible => responsible_line(ctx, form),
        RuleType::Notes => notes_line(ctx, form),
    }
}

fn field_line(ctx: &Ctx<'_>, form: &Form, entity: &str) -> Result<Line, UiError> {
    let (param, key) = if form.field.is_empty() {
        ("name", &form.name)
    } else {
        ("field", &form.field)
    };
    let key = checked_key(ctx, param, key)?;
    if form.value.is_empty() {
        return Err(ctx.fail("rules_value_missing", &[]));
    }
    Ok((format!("fields.{entity}"), key, form.value.clone()))
}

/// `name = CONDITION -> P:S`, or `default = P:S`.
fn pipeline_line(ctx: &Ctx<'_>, form: &Form) -> Result<Line, UiError> {
    let key = checked_key(ctx, "name", &form.name)?;
    let stage = stage_text(ctx, form)?;
    let value = if key == "default" {
        stage
    } else {
        format!("{} -> {stage}", condition_text(ctx, form)?)
    };
    Ok(("pipelines".into(), key, value))
}

/// `name = CONDITION -> DUE "TEXT"`.
fn task_line(ctx: &Ctx<'_>, form: &Form) -> Result<Line, UiError> {
    let key = checked_key(ctx, "name", &form.name)?;
    let due = form.due.as_str();
    if due.is_empty() {
        return Err(ctx.fail("rules_due_missing", &[]));
    }
    if due.contains(char::is_whitespace) || due.contains(BAD_KEY_CHARS) {
        return Err(ctx.fail("rules_bad_due", &[("due", due)]));
    }
    let text = form.text.trim();
    if text.is_empty() {
        return Err(ctx.fail("rules_text_missing", &[]));
    }
    if text.contains(BAD_TEXT_CHARS) || text.contains(char::is_control) {
        return Err(ctx.fail("rules_bad_text", &[("text", text)]));
    }
    let value = format!("{} -> {due} \"{text}\"", condition_text(ctx, form)?);
    Ok(("tasks".into(), key, value))
}

/// `name = CONDITION -> USER`, or `default = USER`.
fn responsible_line(ctx: &Ctx<'_>, form: &Form) -> Result<Line, UiError> {
    let key = checked_key(ctx, "name", &form.name)?;
    let user = chosen_user(ctx, form)?;
    let value = if key == "default" {
        user
    } else {
        format!("{} -> {user}", condition_text(ctx, form)?)
    };
    Ok(("responsible".into(), key, value))
}

/// The user written in, else the one chosen.
pub(super) fn chosen_user(ctx: &Ctx<'_>, form: &Form) -> Result<String, UiError> {
    let user = if form.user_other.is_empty() {
        form.user.as_str()
    } else {
        form.user_other.as_str()
    };
    if user.is_empty() {
        return Err(ctx.fail("rules_user_missing", &[]));
    }
    let bad = |c: char| c.is_whitespace() || c.is_control() || BAD_KEY_CHARS.contains(&c);
    if user.contains(bad) {
        return Err(ctx.fail("rules_bad_user", &[("user", user)]));
    }
    Ok(user.to_string())
}

/// `payments = yes|no`: the one key `[notes]` has.
fn notes_line(ctx: &Ctx<'_>, form: &Form) -> Result<Line, UiError> {
    let flag = form.enabled.trim().to_ascii_lowercase();
    if flag != "yes" && flag != "no" {
        return Err(ctx.fail("rules_bad_flag", &[("value", &form.enabled)]));
    }
    Ok(("notes".into(), config::NOTES_KEYS[0].into(), flag))
}

/// The name as the key of a line, or why it cannot be one.
fn checked_key(ctx: &Ctx<'_>, param: &str, key: &str) -> Result<String, UiError> {
    let raw = ctx.req.params.get(param).map(String::as_str).unwrap_or("");
    if key.is_empty() {
        return Err(ctx.fail("rules_name_missing", &[]));
    }
    if raw.contains(['\n', '\r'])
        || key.contains(BAD_KEY_CHARS)
        || key.chars().any(char::is_control)
    {
        return Err(ctx.fail("rules_bad_name", &[("name", key.trim())]));
    }
    Ok(key.to_string())
}

/// The condition the form describes: the whole-condition field when filled, else
/// value, validator and argument.
fn condition_text(ctx: &Ctx<'_>, form: &Form) -> Result<String, UiError> {
    if !form.condition.is_empty() {
        return Ok(form.condition.clone());
    }
    if form.value.is_empty() || form.validator.is_empty() {
        return Err(ctx.fail("rules_condition_missing", &[]));
    }
    Ok(join_test(&form.value, &form.validator, &form.argument))
}

/// `pipeline_id:status_id` from the two selects.
fn stage_text(ctx: &Ctx<'_>, form: &Form) -> Result<String, UiError> {
    let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    match (id(&form.pipeline), id(&form.status)) {
        (Some(p), Some(s)) => Ok(format!("{p}:{s}")),
        _ => Err(ctx.fail("rules_stage_missing", &[])),
    }
}
