//! `[conditions]`, `[fields.*]`, `[tags.*]` and `[pipelines]` → [`Rules`], every condition
//! parsed once against the presets.

use super::ini_file::{Entry, IniDoc};
use super::settings::Report;
use crate::model::EntityKind;
use crate::rules::{
    Condition, FieldRef, FieldRule, PipelineRule, Rules, Stage, SyntaxError, TagRule, Vocabulary,
    parse_condition, parse_value_name,
};

/// The amoCRM entity each kind becomes, as section suffixes name it.
pub fn entity_suffix(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Account => "contact",
        EntityKind::Profile => "company",
        EntityKind::Item => "lead",
    }
}

/// One `key = value` line of the rule sections, as the panel's rules screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLine {
    pub section: String,
    pub key: String,
    /// Comment cut, trimmed.
    pub value: String,
    pub line: usize,
}

/// Whether `section` holds rules: conditions, fields, tags, pipelines, tasks, responsible
/// managers or the notes' switch.
pub fn is_rule_section(section: &str) -> bool {
    let kinds = EntityKind::ALL.map(entity_suffix);
    ["conditions", "pipelines", "tasks", "responsible", "notes"].contains(&section)
        || section
            .strip_prefix("fields.")
            .or_else(|| section.strip_prefix("tags."))
            .is_some_and(|k| kinds.contains(&k))
}

/// Every line of the rule sections of amocrm.conf's `text`, in file order; lines the file
/// reader refuses (and `amocrm check` reports) are left out.
pub fn rule_lines(text: &str) -> Vec<RuleLine> {
    let doc = super::ini_file::parse(std::path::Path::new("amocrm.conf"), text, &mut Vec::new());
    doc.entries
        .into_iter()
        .filter(|e| is_rule_section(&e.section))
        .map(|e| RuleLine {
            section: e.section,
            key: e.key,
            value: e.value,
            line: e.line,
        })
        .collect()
}

pub fn build(doc: &IniDoc, vocab: &Vocabulary, r: &mut Report<'_>) -> Rules {
    let mut rules = Rules::default();

    for e in doc.section("conditions") {
        match EntityKind::parse(&e.key) {
            // An empty condition is the same as none: everything of the kind is synced.
            Some(_) if e.value.is_empty() => {}
            Some(kind) => *rules.conditions.get_mut(kind) = condition(e, &e.value, vocab, kind, r),
            None => r.entry(
                e,
                format!(
                    "[conditions] {}: unknown; use account, profile or item",
                    e.key
                ),
            ),
        }
    }

    for kind in EntityKind::ALL {
        let section = format!("fields.{}", entity_suffix(kind));
        let mut seen: Vec<(FieldRef, usize)> = Vec::new();
        for e in doc.section(&section) {
            let Some(field) = field_ref(&e.key) else {
                r.entry(e, format!("[{section}] '{}' is not an amoCRM field: use its numeric id or its code (EMAIL, PHONE)", e.key));
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(f, _)| *f == field) {
                r.entry(
                    e,
                    format!("[{section}] field {field} is already mapped on line {first}"),
                );
                continue;
            }
            seen.push((field.clone(), e.line));
            match parse_value_name(&e.value, vocab, kind) {
                Ok(value) => rules.fields.get_mut(kind).push(FieldRule { field, value }),
                Err(err) => at_column(r, e, &err),
            }
        }

        let section = format!("tags.{}", entity_suffix(kind));
        for e in doc.section(&section) {
            if let Some(condition) = condition(e, &e.value, vocab, kind, r) {
                rules.tags.get_mut(kind).push(TagRule {
                    tag: e.key.clone(),
                    condition,
                });
            }
        }
    }

    for e in doc.section("pipelines") {
        if e.key == "default" {
            match stage(&e.value) {
                Ok(s) => rules.default_stage = Some(s),
                Err(why) => r.entry(e, format!("[pipelines] default: {why}")),
            }
            continue;
        }
        let Some(arrow) = find_arrow(&e.value) else {
            r.entry(
                e,
                format!(
                    "[pipelines] {}: write CONDITION -> pipeline_id:status_id",
                    e.key
                ),
            );
            continue;
        };
        let stage = match stage(e.value[arrow + 2..].trim()) {
            Ok(s) => Some(s),
            Err(why) => {
                r.entry(e, format!("[pipelines] {}: {why}", e.key));
                None
            }
        };
        let cond = condition(e, &e.value[..arrow], vocab, EntityKind::Item, r);
        if let (Some(condition), Some(stage)) = (cond, stage) {
            rules.pipelines.push(PipelineRule {
                name: e.key.clone(),
                condition,
                stage,
            });
        }
    }
    rules
}

pub(super) fn condition(
    e: &Entry,
    src: &str,
    vocab: &Vocabulary,
    kind: EntityKind,
    r: &mut Report<'_>,
) -> Option<Condition> {
    match parse_condition(src, vocab, kind) {
        Ok(c) => Some(c),
        Err(err) => {
            at_column(r, e, &err);
            None
        }
    }
}

/// Reports a condition error at its column in the file's line.
pub(super) fn at_column(r: &mut Report<'_>, e: &Entry, err: &SyntaxError) {
    let col = e.value_col + err.col - 1;
    let message = format!("[{}] {}: column {col}: {}", e.section, e.key, err.message);
    r.entry_column(e, col, message);
}

/// A field key: a numeric id, or a code (letters, digits, `_`; upper-cased).
fn field_ref(key: &str) -> Option<FieldRef> {
    if key.bytes().all(|b| b.is_ascii_digit()) {
        return key.parse().ok().filter(|id| *id > 0).map(FieldRef::Id);
    }
    let mut chars = key.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (starts_with_letter && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| FieldRef::Code(key.to_ascii_uppercase()))
}

/// `pipeline_id:status_id`.
fn stage(s: &str) -> Result<Stage, String> {
    let parsed = s.split_once(':').and_then(|(p, st)| {
        let p: i64 = p.trim().parse().ok()?;
        let st: i64 = st.trim().parse().ok()?;
        (p > 0 && st > 0).then_some(Stage {
            pipeline_id: p,
            status_id: st,
        })
    });
    parsed.ok_or_else(|| {
        format!("'{s}' is not a stage: write pipeline_id:status_id, e.g. 7000001:7000100")
    })
}

/// The byte index of the last `->` outside quotes: where a pipeline rule's condition
/// ends and its stage begins.
pub fn find_arrow(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    let mut found = None;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if in_quotes {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b'-' && bytes.get(i + 1) == Some(&b'>') {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_are_ids_or_codes() {
        assert_eq!(field_ref("812345"), Some(FieldRef::Id(812345)));
        assert_eq!(field_ref("email"), Some(FieldRef::Code("EMAIL".into())));
        assert_eq!(field_ref("0"), None);
        assert_eq!(field_ref("E-MAIL"), None);
        assert_eq!(field_ref("1x"), None);
    }

    #[test]
    fn rule_lines_are_those_of_the_rule_sections_in_file_order() {
        let text = "[auth]\nurl = x\n[tags.lead]\nHost, EU = a = 1 ; c\n[pipelines]\ndefault = 1:2\n[tags.other]\nz = 1\n[conditions]\nitem =\n";
        let got: Vec<(String, String, String, usize)> = rule_lines(text)
            .into_iter()
            .map(|l| (l.section, l.key, l.value, l.line))
            .collect();
        let want = [
            ("tags.lead", "Host, EU", "a = 1", 4),
            ("pipelines", "default", "1:2", 6),
            ("conditions", "item", "", 10),
        ];
        let want: Vec<(String, String, String, usize)> = want
            .iter()
            .map(|(s, k, v, l)| (s.to_string(), k.to_string(), v.to_string(), *l))
            .collect();
        assert_eq!(got, want);
        assert!(is_rule_section("fields.company"));
        assert!(!is_rule_section("fields.deal"));
        assert!(is_rule_section("tasks") && is_rule_section("responsible"));
        assert!(is_rule_section("notes") && !is_rule_section("sync"));
    }

    #[test]
    fn stages_and_arrows() {
        assert_eq!(
            stage("7000001:143"),
            Ok(Stage {
                pipeline_id: 7000001,
                status_id: 143
            })
        );
        assert!(stage("7000001").is_err());
        assert!(stage("a:b").is_err());
        assert!(stage("-1:2").is_err());
        assert_eq!(find_arrow(r#"x = "a->b" -> 1:2"#), Some(11));
        assert_eq!(find_arrow("x = 1"), None);
    }
}
