//! What a line of amocrm.conf's rule sections is — its kind and amoCRM entity — and the
//! row id the list gives it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::config;
use crate::model::EntityKind;

/// The kinds of rule, as the form's `type` and the list's `type` column name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleType {
    Condition,
    Tag,
    Field,
    Pipeline,
    Task,
    Responsible,
    Notes,
}

impl RuleType {
    pub(super) const ALL: [RuleType; 7] = [
        RuleType::Condition,
        RuleType::Tag,
        RuleType::Field,
        RuleType::Pipeline,
        RuleType::Task,
        RuleType::Responsible,
        RuleType::Notes,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            RuleType::Condition => "condition",
            RuleType::Tag => "tag",
            RuleType::Field => "field",
            RuleType::Pipeline => "pipeline",
            RuleType::Task => "task",
            RuleType::Responsible => "responsible",
            RuleType::Notes => "notes",
        }
    }

    pub(super) fn parse(s: &str) -> Option<RuleType> {
        RuleType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The entity a rule of this kind is always about, when it is not the admin's choice:
    /// tasks and pipelines are set on leads, payment notes on contacts, and a responsible
    /// rule owns whatever kinds its condition can read.
    pub(super) fn fixed_entity(self) -> Option<&'static str> {
        match self {
            RuleType::Pipeline | RuleType::Task => Some("lead"),
            RuleType::Notes => Some("contact"),
            RuleType::Responsible => Some(ANY),
            RuleType::Condition | RuleType::Tag | RuleType::Field => None,
        }
    }
}

/// amoCRM's entities as section suffixes name them.
pub(super) const ENTITIES: [&str; 3] = ["contact", "company", "lead"];

/// The list's entity of a responsible rule: any the condition can read.
pub(super) const ANY: &str = "any";

/// The panel entity behind an amoCRM entity (`contact` → clients); none for [`ANY`].
pub(super) fn kind_of(entity: &str) -> Option<EntityKind> {
    EntityKind::ALL
        .into_iter()
        .find(|k| config::entity_suffix(*k) == entity)
}

/// What a line of a rule section is: its type and amoCRM entity (empty when the file
/// names none the module knows, which `amocrm check` reports).
pub(super) fn classify(section: &str, key: &str) -> (RuleType, &'static str) {
    let entity = |suffix: &str| ENTITIES.into_iter().find(|e| *e == suffix).unwrap_or("");
    let fixed = |ty: RuleType| (ty, ty.fixed_entity().unwrap_or(""));
    match section {
        "conditions" => {
            let e = EntityKind::parse(key).map_or("", config::entity_suffix);
            (RuleType::Condition, e)
        }
        "tasks" => fixed(RuleType::Task),
        "responsible" => fixed(RuleType::Responsible),
        "notes" => fixed(RuleType::Notes),
        "pipelines" => fixed(RuleType::Pipeline),
        _ => match section.split_once('.') {
            Some(("tags", s)) => (RuleType::Tag, entity(s)),
            Some(("fields", s)) => (RuleType::Field, entity(s)),
            _ => (RuleType::Pipeline, ""),
        },
    }
}

/// What a row id leaves as it is in a key: the unreserved characters of a URL.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// A row's id: section, `/`, the key percent-encoded. Tag names may hold spaces and
/// commas, and the panel joins the ids of a group action with ", ".
pub(super) fn rule_id(section: &str, key: &str) -> String {
    format!("{section}/{}", utf8_percent_encode(key, KEPT))
}

/// The (section, key) of a row id; `None` for anything [`rule_id`] does not make.
pub(super) fn parse_id(id: &str) -> Option<(String, String)> {
    let (section, enc) = id.split_once('/')?;
    if !config::is_rule_section(section) {
        return None;
    }
    let key = percent_decode_str(enc).decode_utf8().ok()?;
    // Only the id the list gave: `%G1` or a lower-case `%2c` names no row.
    (!key.is_empty() && rule_id(section, &key) == id).then(|| (section.to_string(), key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            parse_id("responsible/default"),
            Some(("responsible".into(), "default".into()))
        );
        for bad in [
            "",
            "tags.lead",
            "tags.lead/",
            "auth/url",
            "tags.lead/%G1",
            "tags.lead/%E2%82",
            "tags.lead/a%2cb",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
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
        assert_eq!(classify("tasks", "renew"), (RuleType::Task, "lead"));
        assert_eq!(classify("responsible", "vds"), (RuleType::Responsible, ANY));
        assert_eq!(classify("notes", "payments"), (RuleType::Notes, "contact"));
    }
}
