//! `amocrm.rules`: every rule of amocrm.conf — sync conditions, tags, custom fields and
//! pipelines — in file order; `amocrm.rules.edit`: one rule as a form, its choices from
//! the presets and amoCRM's fields and pipelines by name; `amocrm.rules.delete`.
//!
//! A rule is saved only when the whole file, with it, passes the checks `amocrm check`
//! makes; then it is written with the admin's comments and order kept.

use std::collections::HashSet;

use super::amo_meta::{self, Loaded, Meta};
use super::page::datetime;
use super::{Ctx, FormPage, ListPage, UiError, UiResult};
use crate::config::edit::{self, Change};
use crate::config::{self, RuleLine};
use crate::model::EntityKind;
use crate::rules::{Condition, Vocabulary, parse_condition};

/// The kinds of rule, as the form's `type` and the list's `type` column name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleType {
    Condition,
    Tag,
    Field,
    Pipeline,
}

impl RuleType {
    const ALL: [RuleType; 4] = [
        RuleType::Condition,
        RuleType::Tag,
        RuleType::Field,
        RuleType::Pipeline,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RuleType::Condition => "condition",
            RuleType::Tag => "tag",
            RuleType::Field => "field",
            RuleType::Pipeline => "pipeline",
        }
    }

    fn parse(s: &str) -> Option<RuleType> {
        RuleType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// amoCRM's entities as section suffixes name them.
const ENTITIES: [&str; 3] = ["contact", "company", "lead"];

/// The panel entity behind an amoCRM entity (`contact` → clients).
fn kind_of(entity: &str) -> Option<EntityKind> {
    EntityKind::ALL
        .into_iter()
        .find(|k| config::entity_suffix(*k) == entity)
}

/// What a line of a rule section is: its type and amoCRM entity (empty when the file
/// names none the module knows, which `amocrm check` reports).
fn classify(section: &str, key: &str) -> (RuleType, &'static str) {
    let entity = |suffix: &str| ENTITIES.into_iter().find(|e| *e == suffix).unwrap_or("");
    if section == "conditions" {
        let e = EntityKind::parse(key).map_or("", config::entity_suffix);
        return (RuleType::Condition, e);
    }
    if let Some(s) = section.strip_prefix("tags.") {
        return (RuleType::Tag, entity(s));
    }
    if let Some(s) = section.strip_prefix("fields.") {
        return (RuleType::Field, entity(s));
    }
    (RuleType::Pipeline, "lead")
}

// ---- row ids ----------------------------------------------------------------------------

/// A row's id: section, `/`, the key percent-encoded. Tag names may hold spaces and
/// commas, and the panel joins the ids of a group action with ", ".
fn rule_id(section: &str, key: &str) -> String {
    let mut out = format!("{section}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The (section, key) of a row id; `None` for anything [`rule_id`] does not make.
fn parse_id(id: &str) -> Option<(String, String)> {
    let (section, enc) = id.split_once('/')?;
    if !config::is_rule_section(section) {
        return None;
    }
    let bytes = enc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let key = String::from_utf8(out).ok()?;
    (!key.is_empty()).then(|| (section.to_string(), key))
}

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
    config::read_presets(ctx.paths, &mut Vec::new())
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
        ("entity", ENTITIES.to_vec()),
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

// ---- the form -----------------------------------------------------------------------------

/// The form's fields, as shown or as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Form {
    ty: String,
    entity: String,
    name: String,
    field: String,
    value: String,
    validator: String,
    argument: String,
    condition: String,
    pipeline: String,
    status: String,
}

impl Form {
    fn from_params(ctx: &Ctx<'_>) -> Form {
        let p = |n: &str| ctx.param(n).unwrap_or("").to_string();
        Form {
            ty: p("type"),
            entity: p("entity"),
            name: p("name"),
            field: p("field"),
            value: p("value"),
            validator: p("validator"),
            argument: p("argument"),
            // A long condition may be broken over the textarea's lines.
            condition: ctx
                .param("condition")
                .unwrap_or("")
                .split(['\r', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            pipeline: p("pipeline"),
            status: p("status"),
        }
    }

    /// What the form shows for what is missing or unknown: a tag of a lead; a pipeline
    /// rule is always about leads.
    fn with_defaults(mut self) -> Form {
        if RuleType::parse(&self.ty).is_none() {
            self.ty = RuleType::Tag.as_str().into();
        }
        if self.ty == RuleType::Pipeline.as_str() || !ENTITIES.contains(&self.entity.as_str()) {
            self.entity = "lead".into();
        }
        self
    }

    /// The form of an existing line.
    fn from_line(line: &RuleLine, vocab: &Vocabulary) -> Form {
        let (ty, entity) = classify(&line.section, &line.key);
        let mut f = Form {
            ty: ty.as_str().into(),
            entity: entity.into(),
            ..Form::default()
        };
        let kind = kind_of(entity);
        match ty {
            RuleType::Condition | RuleType::Tag => {
                f.name = line.key.clone();
                f.set_condition(&line.value, vocab, kind);
            }
            RuleType::Field => {
                f.field = line.key.clone();
                f.value = line.value.clone();
            }
            RuleType::Pipeline => {
                f.name = line.key.clone();
                let (cond, stage) = if line.key == "default" {
                    ("", line.value.as_str())
                } else {
                    match split_arrow(&line.value) {
                        Some((c, s)) => (c, s),
                        None => (line.value.as_str(), ""),
                    }
                };
                if !cond.is_empty() {
                    f.set_condition(cond, vocab, kind);
                }
                if let Some((p, s)) = stage.split_once(':') {
                    f.pipeline = p.trim().to_string();
                    f.status = s.trim().to_string();
                }
            }
        }
        f
    }

    /// A single test goes into value / validator / argument; anything else into the
    /// whole-condition field.
    fn set_condition(&mut self, src: &str, vocab: &Vocabulary, kind: Option<EntityKind>) {
        match kind.and_then(|k| split_simple(src, vocab, k)) {
            Some((value, validator, argument)) => {
                self.value = value;
                self.validator = validator;
                self.argument = argument;
            }
            None => self.condition = src.trim().to_string(),
        }
    }
}

/// `VALUE VALIDATOR [ARGUMENT]` when `src` is exactly one test that reads back the same
/// from those three parts.
fn split_simple(
    src: &str,
    vocab: &Vocabulary,
    kind: EntityKind,
) -> Option<(String, String, String)> {
    let cond = parse_condition(src, vocab, kind).ok()?;
    let Condition::Test(t) = &cond else {
        return None;
    };
    let rest = src.trim().strip_prefix(t.value.name.as_str())?.trim_start();
    let argument = rest.strip_prefix(t.validator.as_str())?.trim();
    let rebuilt = join_test(&t.value.name, &t.validator, argument);
    (parse_condition(&rebuilt, vocab, kind).ok()? == cond).then(|| {
        (
            t.value.name.clone(),
            t.validator.clone(),
            argument.to_string(),
        )
    })
}

fn join_test(value: &str, validator: &str, argument: &str) -> String {
    if argument.is_empty() {
        format!("{value} {validator}")
    } else {
        format!("{value} {validator} {argument}")
    }
}

/// `CONDITION -> P:S` split at its last arrow outside quotes.
fn split_arrow(value: &str) -> Option<(&str, &str)> {
    config::find_arrow(value).map(|i| (value[..i].trim(), value[i + 2..].trim()))
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
        return save(ctx, &text, &lines, old);
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
    Ok(render_form(ctx, &form, &lines, &vocab, &meta))
}

/// The line a row id names.
fn find_line(ctx: &Ctx<'_>, lines: &[RuleLine], id: &str) -> Result<RuleLine, UiError> {
    parse_id(id)
        .and_then(|(s, k)| lines.iter().find(|l| l.section == s && l.key == k))
        .cloned()
        .ok_or_else(|| ctx.fail("bad_elid", &[("elid", id)]))
}

fn render_form(
    ctx: &Ctx<'_>,
    form: &Form,
    lines: &[RuleLine],
    vocab: &Vocabulary,
    loaded: &Loaded,
) -> String {
    let meta = loaded.meta.as_ref();
    let why = loaded.problem.as_deref();
    let names = match meta {
        Some(m) => {
            let time = datetime(m.fetched_at).unwrap_or_default();
            match why {
                None => ctx.common("rules_names_read", &[("time", &time)]),
                Some(why) => ctx.common("rules_names_old", &[("error", why), ("time", &time)]),
            }
        }
        None => ctx.common("rules_names_unavailable", &[("error", why.unwrap_or(""))]),
    };
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
        .value("names", &names);
    let types: Vec<(String, String)> = RuleType::ALL
        .iter()
        .map(|t| {
            let key = t.as_str().to_string();
            let label = ctx.text("amocrm.rules.edit", &format!("type_{key}"), &[]);
            (key, label)
        })
        .collect();
    let entities: Vec<(String, String)> = ENTITIES
        .iter()
        .map(|e| {
            let label = ctx.text("amocrm.rules.edit", &format!("entity_{e}"), &[]);
            (e.to_string(), label)
        })
        .collect();
    page.slist("type", &types)
        .slist("entity", &entities)
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
        );
    page.render(ctx)
}

/// `choices`, plus `current` (labelled by `label`) when it is set and not among them, so a
/// select always shows what the rule holds.
fn with_current(
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
fn field_choices(
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
fn value_choices(form: &Form, vocab: &Vocabulary) -> Vec<(String, String)> {
    let kind = kind_of(&form.entity);
    let out = vocab
        .values
        .iter()
        .filter(|(_, v)| kind.is_none_or(|k| v.spec.kinds().contains(&k)))
        .map(|(name, v)| (name.clone(), labelled(name, &v.label)))
        .collect();
    with_current(out, &form.value, str::to_string)
}

fn validator_choices(form: &Form, vocab: &Vocabulary) -> Vec<(String, String)> {
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

fn pipeline_choices(
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
fn status_choices(
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
fn default_stage(lines: &[RuleLine]) -> Option<(String, String)> {
    lines
        .iter()
        .find(|l| l.section == "pipelines" && l.key == "default")
        .and_then(|l| l.value.split_once(':'))
        .map(|(p, s)| (p.trim().to_string(), s.trim().to_string()))
}

/// The pipeline a new rule starts with: amoCRM's main one; without amoCRM, that of
/// `[pipelines] default`, else the first amocrm.conf names.
fn default_pipeline(lines: &[RuleLine], meta: Option<&Meta>) -> String {
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

// ---- saving -------------------------------------------------------------------------------

/// Characters a rule's name cannot hold: they would end the key, start a comment or a
/// section, or are refused by the file reader.
const BAD_KEY_CHARS: [char; 9] = ['=', ';', '#', '[', ']', '"', ':', '\\', '\0'];

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

/// The line the form describes: (section, key, value).
fn build_line(ctx: &Ctx<'_>, form: &Form) -> Result<(String, String, String), UiError> {
    let ty = RuleType::parse(&form.ty)
        .ok_or_else(|| ctx.fail("rules_bad_type", &[("type", &form.ty)]))?;
    let entity = if ty == RuleType::Pipeline {
        "lead"
    } else {
        ENTITIES
            .into_iter()
            .find(|e| *e == form.entity)
            .ok_or_else(|| ctx.fail("rules_bad_entity", &[("entity", &form.entity)]))?
    };
    Ok(match ty {
        RuleType::Condition => {
            let kind = kind_of(entity).map_or("", |k| k.as_str());
            ("conditions".into(), kind.into(), condition_text(ctx, form)?)
        }
        RuleType::Tag => {
            let key = checked_key(ctx, "name", &form.name)?;
            (format!("tags.{entity}"), key, condition_text(ctx, form)?)
        }
        RuleType::Field => {
            let (param, key) = if form.field.is_empty() {
                ("name", &form.name)
            } else {
                ("field", &form.field)
            };
            let key = checked_key(ctx, param, key)?;
            if form.value.is_empty() {
                return Err(ctx.fail("rules_value_missing", &[]));
            }
            (format!("fields.{entity}"), key, form.value.clone())
        }
        RuleType::Pipeline => {
            let key = checked_key(ctx, "name", &form.name)?;
            let stage = stage_text(ctx, form)?;
            let value = if key == "default" {
                stage
            } else {
                format!("{} -> {stage}", condition_text(ctx, form)?)
            };
            ("pipelines".into(), key, value)
        }
    })
}

/// A problem's message without line numbers, which move when lines are added or removed.
fn without_lines(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find("line ") {
        // "line 12", not "pipeline 7000001".
        let word = !rest[..i].ends_with(char::is_alphanumeric);
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if word && digits > 0 {
            out.push('_');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn save(ctx: &Ctx<'_>, text: &str, lines: &[RuleLine], old: Option<RuleLine>) -> UiResult {
    let form = Form::from_params(ctx);
    let (section, key, value) = build_line(ctx, &form)?;
    let taken = lines.iter().any(|l| l.section == section && l.key == key);
    let same = old
        .as_ref()
        .is_some_and(|o| o.section == section && o.key == key);
    if taken && !same {
        return Err(ctx.fail("rules_exists", &[("rule", &format!("[{section}] {key}"))]));
    }
    let changes = match &old {
        Some(o) if o.section == section => {
            vec![Change::rename_raw(&section, &o.key, &key, &value)]
        }
        Some(o) => vec![
            Change::remove(&o.section, &o.key),
            Change::set_raw(&section, &key, &value),
        ],
        None => vec![Change::set_raw(&section, &key, &value)],
    };
    let invalid = |error: &str| ctx.fail("rules_invalid", &[("error", error)]);
    let candidate = edit::apply_text(text, &changes).map_err(|e| invalid(&e.to_string()))?;

    // Exactly the checks of `amocrm check`; what was wrong before this edit is not the
    // admin's doing now, but anything about the edited line is.
    let before: HashSet<String> = config::check_text(ctx.paths, text)
        .iter()
        .map(|p| without_lines(&p.message))
        .collect();
    let new_line = config::rule_lines(&candidate)
        .into_iter()
        .find(|l| l.section == section && l.key == key)
        .map(|l| l.line);
    let problems: Vec<String> = config::check_text(ctx.paths, &candidate)
        .into_iter()
        .filter(|p| Some(p.line) == new_line || !before.contains(&without_lines(&p.message)))
        .map(|p| p.message)
        .collect();
    if !problems.is_empty() {
        let written = new_line
            .and_then(|n| candidate.lines().nth(n - 1))
            .unwrap_or("");
        return Err(ctx.fail(
            "rules_invalid_line",
            &[("error", &problems.join("; ")), ("line", written.trim())],
        ));
    }

    edit::apply(&ctx.paths.conf(), &changes)
        .map_err(|e| ctx.fail("rules_write", &[("error", &e.to_string())]))?;
    let what = match &old {
        Some(o) if o.section != section || o.key != key => format!(
            "replaced [{}] {} with [{section}] {key} = {value}",
            o.section, o.key
        ),
        Some(_) => format!("changed [{section}] {key} = {value}"),
        None => format!("added [{section}] {key} = {value}"),
    };
    ctx.audit(&what);
    Ok(ctx.ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths::new(dir.path());
        std::fs::create_dir_all(paths.etc_dir()).unwrap();
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/presets.default");
        std::fs::copy(shipped, paths.presets_default()).unwrap();
        let mut problems = Vec::new();
        let v = config::read_presets(&paths, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        v
    }

    #[test]
    fn ids_round_trip_and_never_hold_the_group_separator() {
        for key in ["HostCom EU", "a, b", "ХостКом", "x%y/z", "default"] {
            let id = rule_id("tags.lead", key);
            assert!(!id.contains(", ") && !id.contains(' '), "{id}");
            assert_eq!(parse_id(&id), Some(("tags.lead".into(), key.into())));
        }
        assert_eq!(
            rule_id("tags.contact", "HostCom EU"),
            "tags.contact/HostCom%20EU"
        );
        for bad in [
            "",
            "tags.lead",
            "tags.lead/",
            "auth/url",
            "tags.lead/%G1",
            "tags.lead/%E2%82",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn single_tests_split_into_their_parts_and_others_stay_whole() {
        let v = vocab();
        let item = EntityKind::Item;
        let split = |s: &str| split_simple(s, &v, item);
        assert_eq!(
            split("item.itemtype = vds"),
            Some(("item.itemtype".into(), "=".into(), "vds".into()))
        );
        assert_eq!(
            split("item.status!=4"),
            Some(("item.status".into(), "!=".into(), "4".into()))
        );
        assert_eq!(
            split("item.status in (1, 2, 5)"),
            Some(("item.status".into(), "in".into(), "(1, 2, 5)".into()))
        );
        assert_eq!(
            split("item.name not_empty"),
            Some(("item.name".into(), "not_empty".into(), String::new()))
        );
        assert_eq!(split("item.status = 4 and item.itemtype = domain"), None);
        assert_eq!(split("(item.status = 4)"), None);
        assert_eq!(split("item.nothing = 4"), None);
    }

    #[test]
    fn lines_are_classified_by_section_and_key() {
        assert_eq!(
            classify("conditions", "profile"),
            (RuleType::Condition, "company")
        );
        assert_eq!(classify("conditions", "other"), (RuleType::Condition, ""));
        assert_eq!(classify("tags.contact", "vip"), (RuleType::Tag, "contact"));
        assert_eq!(classify("fields.lead", "816001"), (RuleType::Field, "lead"));
        assert_eq!(
            classify("pipelines", "default"),
            (RuleType::Pipeline, "lead")
        );
    }

    #[test]
    fn arrows_and_line_numbers() {
        assert_eq!(
            split_arrow(r#"item.name = "a->b" -> 1:2"#),
            Some((r#"item.name = "a->b""#, "1:2"))
        );
        assert_eq!(split_arrow("1:2"), None);
        assert_eq!(
            without_lines("field 5 is already mapped on line 12; line x"),
            "field 5 is already mapped on line _; line x"
        );
        assert_eq!(without_lines("pipeline 7000001"), "pipeline 7000001");
    }
}
