//! The rule form's fields: as the panel submits them, and as an existing line of
//! amocrm.conf fills them in.

use super::super::Ctx;
use super::kinds::{ENTITIES, RuleType, classify, kind_of};
use crate::config::{self, RuleLine};
use crate::model::EntityKind;
use crate::rules::{Condition, Vocabulary, parse_condition};

/// The form's fields, as shown or as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Form {
    pub ty: String,
    pub entity: String,
    pub name: String,
    pub field: String,
    pub value: String,
    pub validator: String,
    pub argument: String,
    pub condition: String,
    pub pipeline: String,
    pub status: String,
    /// A task's due: `+N`, `VALUE-N`, `VALUE+N` or `VALUE`.
    pub due: String,
    /// A task's text, without its quotes.
    pub text: String,
    /// A responsible user chosen from amoCRM's (an id), or as the file names them.
    pub user: String,
    /// A user written in (an e-mail or id): replaces the choice when filled.
    pub user_other: String,
    /// `[notes] payments`: `yes` or `no`.
    pub enabled: String,
}

impl Form {
    pub fn from_params(ctx: &Ctx<'_>) -> Form {
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
            due: p("due").trim().to_string(),
            text: p("text"),
            user: p("user").trim().to_string(),
            user_other: p("user_other").trim().to_string(),
            enabled: p("enabled"),
        }
    }

    /// What the form shows for what is missing or unknown: a tag of a lead; the entity a
    /// kind is always about; notes on.
    pub fn with_defaults(mut self) -> Form {
        let ty = RuleType::parse(&self.ty).unwrap_or(RuleType::Tag);
        self.ty = ty.as_str().into();
        match ty.fixed_entity() {
            Some(e) => self.entity = e.into(),
            None if !ENTITIES.contains(&self.entity.as_str()) => self.entity = "lead".into(),
            None => {}
        }
        if self.enabled.is_empty() {
            self.enabled = "yes".into();
        }
        self
    }

    /// The form of an existing line.
    pub fn from_line(line: &RuleLine, vocab: &Vocabulary) -> Form {
        let (ty, entity) = classify(&line.section, &line.key);
        let mut f = Form {
            ty: ty.as_str().into(),
            entity: entity.into(),
            enabled: "yes".into(),
            ..Form::default()
        };
        match ty {
            RuleType::Condition | RuleType::Tag => {
                f.name = line.key.clone();
                f.set_condition(&line.value, vocab, entity);
            }
            RuleType::Field => {
                f.field = line.key.clone();
                f.value = line.value.clone();
            }
            RuleType::Pipeline => f.fill_pipeline(line, vocab),
            RuleType::Task => f.fill_task(line, vocab),
            RuleType::Responsible => f.fill_responsible(line, vocab),
            RuleType::Notes => {
                f.name = line.key.clone();
                f.enabled = line.value.to_ascii_lowercase();
            }
        }
        f
    }

    /// `[pipelines] name = CONDITION -> P:S`, or `default = P:S`.
    fn fill_pipeline(&mut self, line: &RuleLine, vocab: &Vocabulary) {
        self.name = line.key.clone();
        let (cond, stage) = if line.key == "default" {
            ("", line.value.as_str())
        } else {
            split_arrow(&line.value).unwrap_or((line.value.as_str(), ""))
        };
        if !cond.is_empty() {
            self.set_condition(cond, vocab, "lead");
        }
        if let Some((p, s)) = stage.split_once(':') {
            self.pipeline = p.trim().to_string();
            self.status = s.trim().to_string();
        }
    }

    /// `[tasks] name = CONDITION -> DUE "TEXT"`; what does not read so stays whole in the
    /// condition, for the admin to mend.
    fn fill_task(&mut self, line: &RuleLine, vocab: &Vocabulary) {
        self.name = line.key.clone();
        let Some((cond, rest)) = split_arrow(&line.value) else {
            self.condition = line.value.clone();
            return;
        };
        self.set_condition(cond, vocab, "lead");
        let (due, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        self.due = due.to_string();
        let text = text.trim();
        self.text = (text.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
            .unwrap_or(text)
            .to_string();
    }

    /// `[responsible] name = CONDITION -> USER`, or `default = USER`.
    fn fill_responsible(&mut self, line: &RuleLine, vocab: &Vocabulary) {
        self.name = line.key.clone();
        let user = if line.key == "default" {
            line.value.as_str()
        } else {
            match split_arrow(&line.value) {
                Some((cond, user)) => {
                    self.set_condition(cond, vocab, "");
                    user
                }
                None => {
                    self.condition = line.value.clone();
                    ""
                }
            }
        };
        self.user = user.to_string();
    }

    /// A single test goes into value / validator / argument; anything else into the
    /// whole-condition field. The test is read as the entity's (any kind for none).
    fn set_condition(&mut self, src: &str, vocab: &Vocabulary, entity: &str) {
        let kinds: Vec<EntityKind> = match kind_of(entity) {
            Some(k) => vec![k],
            None => EntityKind::ALL.to_vec(),
        };
        match kinds.into_iter().find_map(|k| split_simple(src, vocab, k)) {
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
pub(super) fn split_simple(
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

pub(super) fn join_test(value: &str, validator: &str, argument: &str) -> String {
    if argument.is_empty() {
        format!("{value} {validator}")
    } else {
        format!("{value} {validator} {argument}")
    }
}

/// `CONDITION -> REST` split at its last arrow outside quotes.
pub(super) fn split_arrow(value: &str) -> Option<(&str, &str)> {
    config::find_arrow(value).map(|i| (value[..i].trim(), value[i + 2..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(in super::super) fn vocab() -> Vocabulary {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths::new(dir.path());
        std::fs::create_dir_all(paths.etc_dir()).unwrap();
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/presets.default");
        std::fs::copy(shipped, paths.presets_default()).unwrap();
        let mut problems = Vec::new();
        let v = config::Sources::read(&paths).vocabulary(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        v
    }

    fn line(section: &str, key: &str, value: &str) -> RuleLine {
        RuleLine {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            line: 1,
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
    fn arrows_split_outside_quotes() {
        assert_eq!(
            split_arrow(r#"item.name = "a->b" -> 1:2"#),
            Some((r#"item.name = "a->b""#, "1:2"))
        );
        assert_eq!(split_arrow("1:2"), None);
    }

    #[test]
    fn task_responsible_and_notes_lines_fill_their_fields() {
        let v = vocab();
        let task = Form::from_line(
            &line(
                "tasks",
                "renew",
                r#"item.status = 2 and item.expiredate within 7 -> item.expiredate-1 "Продлить {item.name}""#,
            ),
            &v,
        );
        assert_eq!(
            (task.ty.as_str(), task.entity.as_str(), task.name.as_str()),
            ("task", "lead", "renew")
        );
        assert_eq!(
            task.condition,
            "item.status = 2 and item.expiredate within 7"
        );
        assert_eq!(
            (task.due.as_str(), task.text.as_str()),
            ("item.expiredate-1", "Продлить {item.name}")
        );
        let simple = Form::from_line(&line("tasks", "s", r#"item.status = 3 -> +1 "x""#), &v);
        assert_eq!(
            (
                simple.value.as_str(),
                simple.validator.as_str(),
                simple.argument.as_str()
            ),
            ("item.status", "=", "3")
        );

        let owner = Form::from_line(
            &line(
                "responsible",
                "mail",
                r#"user.email ends_with "@x.example" -> 504142"#,
            ),
            &v,
        );
        assert_eq!(
            (
                owner.value.as_str(),
                owner.validator.as_str(),
                owner.user.as_str()
            ),
            ("user.email", "ends_with", "504142")
        );
        let default = Form::from_line(&line("responsible", "default", "a@b.example"), &v);
        assert_eq!(
            (default.user.as_str(), default.condition.as_str()),
            ("a@b.example", "")
        );
        let notes = Form::from_line(&line("notes", "payments", "No"), &v);
        assert_eq!((notes.ty.as_str(), notes.enabled.as_str()), ("notes", "no"));
    }
}
