//! The rule form as the panel shows it: the fields' values and every select's choices.

use super::super::amo_meta::Loaded;
use super::super::page::datetime;
use super::super::{Ctx, FormPage};
use super::choices::{
    field_choices, pipeline_choices, status_choices, user_choices, validator_choices,
    value_choices, with_current,
};
use super::form::Form;
use super::kinds::{ENTITIES, RuleType};
use crate::config::RuleLine;
use crate::rules::Vocabulary;

pub(super) fn render_form(
    ctx: &Ctx<'_>,
    form: &Form,
    lines: &[RuleLine],
    vocab: &Vocabulary,
    loaded: &Loaded,
) -> String {
    let meta = loaded.meta.as_ref();
    let mut page = FormPage::new();
    page.value("type", &form.ty)
        .value("entity", &form.entity)
        .value("name", &form.name)
        .value("field", &form.field)
        .value("value", &form.value)
        .value("validator", &form.validator)
        .value("argument", &form.argument)
        .value("condition", &form.condition)
        .value("pipeline", &form.pipeline)
        .value("status", &form.status)
        .value("due", &form.due)
        .value("text", &form.text)
        .value("user", &form.user)
        .value("user_other", &form.user_other)
        .value("enabled", &form.enabled)
        .value("names", &names_origin(ctx, loaded));
    let labels = |prefix: &str, keys: &[&str]| -> Vec<(String, String)> {
        let section = "amocrm.rules.edit";
        (keys.iter())
            .map(|k| {
                (
                    k.to_string(),
                    ctx.text(section, &format!("{prefix}_{k}"), &[]),
                )
            })
            .collect()
    };
    page.slist(
        "type",
        &labels("type", &RuleType::ALL.map(RuleType::as_str)),
    )
    .slist("entity", &labels("entity", &ENTITIES))
    .slist("enabled", &labels("enabled", &["yes", "no"]))
    .slist("field", &field_choices(ctx, form, lines, meta))
    .slist("value", &value_choices(form, vocab))
    .slist("validator", &validator_choices(form, vocab))
    .slist("pipeline", &pipeline_choices(ctx, form, lines, meta))
    .slist(
        "status",
        &with_current(
            status_choices(ctx, &form.pipeline, lines, meta),
            &form.status,
            |s| ctx.common("rules_status_id", &[("id", s)]),
        ),
    )
    .slist("user", &user_choices(ctx, form, meta));
    page.render(ctx)
}

/// Where the names of fields, pipelines, stages and users come from, and how old they are.
fn names_origin(ctx: &Ctx<'_>, loaded: &Loaded) -> String {
    let why = loaded.problem.as_deref();
    match loaded.meta.as_ref() {
        Some(m) => {
            let time = datetime(m.fetched_at).unwrap_or_default();
            match why {
                None => ctx.common("rules_names_read", &[("time", &time)]),
                Some(why) => ctx.common("rules_names_old", &[("error", why), ("time", &time)]),
            }
        }
        None => ctx.common("rules_names_unavailable", &[("error", why.unwrap_or(""))]),
    }
}
