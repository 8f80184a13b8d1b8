//! Sync conditions, tags, custom-field values and pipeline rules: pure functions over a
//! [`Record`]. No I/O here; [`crate::config`] builds [`Rules`] from amocrm.conf.
//!
//! - `value`: typed values ([`ValueSpec`], [`Value`]) read from a record;
//! - `vocabulary`: the values and validators the presets define ([`Vocabulary`]);
//! - `lexer`, `parse`: the condition language → [`Condition`];
//! - `condition`: the parsed tree and its evaluation.

mod condition;
mod lexer;
mod parse;
mod retention;
mod value;
mod vocabulary;

pub use condition::{Arg, Condition, Test};
pub use lexer::{MAX_LEN, SyntaxError};
pub use parse::{MAX_DEPTH, MAX_LIST, parse_condition, parse_value_name};
pub use retention::{Due, NotesRules, Piece, Responsible, ResponsibleRule, TaskRule, UserRef};
pub use value::{Value, ValueSpec, ValueType, kind_noun, parse_date, source_kinds, source_tables};
pub use vocabulary::{
    Arity, Op, ValidatorDef, ValueDef, Vocabulary, is_reserved, is_symbol_char, is_valid_name,
    is_word_char,
};

use crate::model::{EntityKind, Record};

/// One setting per entity kind: client (contact), payer (company), service (lead).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerKind<T> {
    pub account: T,
    pub profile: T,
    pub item: T,
}

impl<T> PerKind<T> {
    pub fn get(&self, kind: EntityKind) -> &T {
        match kind {
            EntityKind::Account => &self.account,
            EntityKind::Profile => &self.profile,
            EntityKind::Item => &self.item,
        }
    }
    pub fn get_mut(&mut self, kind: EntityKind) -> &mut T {
        match kind {
            EntityKind::Account => &mut self.account,
            EntityKind::Profile => &mut self.profile,
            EntityKind::Item => &mut self.item,
        }
    }
}

/// An amoCRM custom field: by numeric id, or by code (`EMAIL`, `PHONE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    Id(i64),
    Code(String),
}

impl std::fmt::Display for FieldRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldRef::Id(id) => write!(f, "{id}"),
            FieldRef::Code(code) => f.write_str(code),
        }
    }
}

/// `[fields.*]`: this amoCRM field gets this panel value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRule {
    pub field: FieldRef,
    pub value: ValueSpec,
}

/// `[tags.*]`: this tag is set while the condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRule {
    pub tag: String,
    pub condition: Condition,
}

/// A pipeline and a status in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stage {
    pub pipeline_id: i64,
    pub status_id: i64,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.pipeline_id, self.status_id)
    }
}

/// `[pipelines]`: `name = CONDITION -> pipeline_id:status_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRule {
    pub name: String,
    pub condition: Condition,
    pub stage: Stage,
}

/// The service's state, the source a rule reads when it moves a lead on a status change.
pub const ITEM_STATUS: &str = "item.status";

/// Every rule of amocrm.conf, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// `[conditions]`; `None`: every entity of the kind is synced.
    pub conditions: PerKind<Option<Condition>>,
    /// `[fields.contact]` → account, `[fields.company]` → profile, `[fields.lead]` → item.
    pub fields: PerKind<Vec<FieldRule>>,
    /// `[tags.contact|company|lead]`.
    pub tags: PerKind<Vec<TagRule>>,
    /// `[pipelines]` in file order, without `default`.
    pub pipelines: Vec<PipelineRule>,
    /// `[pipelines] default = P:S`.
    pub default_stage: Option<Stage>,
    /// `[notes]`.
    pub notes: NotesRules,
    /// `[tasks]` in file order.
    pub tasks: Vec<TaskRule>,
    /// `[responsible]`.
    pub responsible: Responsible,
}

impl Rules {
    /// Whether what the rules make of an entity depends on the day (a `within` test), not
    /// only on its rows.
    pub fn depend_on_the_day(&self) -> bool {
        let mut conditions = (EntityKind::ALL.iter())
            .flat_map(|k| {
                let tags = self.tags.get(*k).iter().map(|t| &t.condition);
                self.conditions.get(*k).iter().chain(tags)
            })
            .chain(self.pipelines.iter().map(|p| &p.condition))
            .chain(self.tasks.iter().map(|t| &t.condition));
        conditions.any(|c| c.uses(vocabulary::Op::Within))
    }

    /// Whether a rule names the client's money (`money.*`), which is read only then.
    pub fn read_money(&self) -> bool {
        EntityKind::ALL
            .iter()
            .any(|k| self.tables(*k).contains(&"money"))
    }

    /// The panel tables the rules of a kind read (conditions, fields, tags and, for
    /// services, pipelines), each once.
    pub fn tables(&self, kind: EntityKind) -> Vec<&str> {
        let mut sources: Vec<&str> = Vec::new();
        let conditions = (self.conditions.get(kind).iter())
            .chain(self.tags.get(kind).iter().map(|t| &t.condition))
            .chain(
                (self.pipelines.iter())
                    .filter(|_| kind == EntityKind::Item)
                    .map(|p| &p.condition),
            )
            .chain(
                (self.tasks.iter())
                    .filter(|_| kind == EntityKind::Item)
                    .map(|t| &t.condition),
            );
        for c in conditions {
            sources.extend(c.sources());
        }
        if kind == EntityKind::Item {
            sources.extend(self.tasks.iter().flat_map(TaskRule::sources));
        }
        sources.extend(
            self.fields
                .get(kind)
                .iter()
                .map(|f| f.value.source.as_str()),
        );
        let mut tables: Vec<&str> = (sources.into_iter())
            .map(|s| s.split('.').next().unwrap_or_default())
            .collect();
        tables.sort_unstable();
        tables.dedup();
        tables
    }

    /// Whether the entity goes to amoCRM at all.
    pub fn should_sync(&self, kind: EntityKind, rec: &Record) -> bool {
        self.conditions
            .get(kind)
            .as_ref()
            .is_none_or(|c| c.eval(rec))
    }

    /// The tags whose condition holds, in file order.
    pub fn tags_for(&self, kind: EntityKind, rec: &Record) -> Vec<String> {
        self.tags
            .get(kind)
            .iter()
            .filter(|t| t.condition.eval(rec))
            .map(|t| t.tag.clone())
            .collect()
    }

    /// Every mapped field that has a value in `rec`, in file order.
    pub fn field_values(&self, kind: EntityKind, rec: &Record) -> Vec<(FieldRef, Value)> {
        self.fields
            .get(kind)
            .iter()
            .filter_map(|f| f.value.read(rec).map(|v| (f.field.clone(), v)))
            .collect()
    }

    /// Where a new lead goes: the first matching pipeline rule, else the default.
    pub fn stage_for_new(&self, rec: &Record) -> Option<Stage> {
        self.first_match(rec)
            .map(|r| r.stage)
            .or(self.default_stage)
    }

    /// Where an existing lead moves: the stage of the first matching rule if that rule
    /// looks at the service's state (a suspend, resume or close moves the lead); otherwise
    /// the lead stays where managers put it.
    pub fn stage_move(&self, rec: &Record) -> Option<Stage> {
        self.first_match(rec)
            .filter(|r| r.condition.sources().contains(&ITEM_STATUS))
            .map(|r| r.stage)
    }

    fn first_match(&self, rec: &Record) -> Option<&PipelineRule> {
        self.pipelines.iter().find(|r| r.condition.eval(rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::parse::tests::vocab;

    fn c(src: &str, kind: EntityKind) -> Condition {
        parse_condition(src, &vocab(), kind).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    fn stage(p: i64, s: i64) -> Stage {
        Stage {
            pipeline_id: p,
            status_id: s,
        }
    }

    fn rules() -> Rules {
        let k = EntityKind::Item;
        let pipe = |name: &str, src: &str, st: Stage| PipelineRule {
            name: name.into(),
            condition: c(src, k),
            stage: st,
        };
        Rules {
            conditions: PerKind {
                account: None,
                profile: Some(c("profile.profiletype in (2, 3)", EntityKind::Profile)),
                item: Some(c("item.status != 4 or item.itemtype = vds", k)),
            },
            fields: PerKind {
                account: vec![FieldRule {
                    field: FieldRef::Code("EMAIL".into()),
                    value: vocab().values["user.email"].spec.clone(),
                }],
                profile: vec![],
                item: vec![
                    FieldRule {
                        field: FieldRef::Id(816001),
                        value: vocab().values["item.pricelist"].spec.clone(),
                    },
                    FieldRule {
                        field: FieldRef::Id(816002),
                        value: vocab().values["item.expiredate"].spec.clone(),
                    },
                ],
            },
            tags: PerKind {
                account: vec![],
                profile: vec![],
                item: vec![
                    TagRule {
                        tag: "trial".into(),
                        condition: c("item.pricelist contains trial", k),
                    },
                    TagRule {
                        tag: "vds".into(),
                        condition: c("item.itemtype = vds", k),
                    },
                ],
            },
            pipelines: vec![
                pipe("suspended", "item.status = 3", stage(7000001, 7000102)),
                pipe("vds", "item.itemtype = vds", stage(7000001, 7000101)),
                pipe("closed", "item.status = 4", stage(7000001, 143)),
            ],
            default_stage: Some(stage(7000001, 7000100)),
            ..Rules::default()
        }
    }

    fn item(status: &str, itemtype: &str, pricelist: &str) -> Record {
        let mut r = Record::default();
        r.set("item.status", status);
        r.set("itemtype.intname", itemtype);
        r.set("pricelist.name", pricelist);
        r
    }

    #[test]
    fn conditions_decide_what_is_synced() {
        let r = rules();
        assert!(
            r.should_sync(EntityKind::Account, &Record::default()),
            "no condition: always"
        );
        assert!(r.should_sync(EntityKind::Item, &item("2", "vhost", "x")));
        assert!(!r.should_sync(EntityKind::Item, &item("4", "vhost", "x")));
        assert!(r.should_sync(EntityKind::Item, &item("4", "vds", "x")));
        let mut payer = Record::default();
        payer.set("profile.profiletype", "1");
        assert!(!r.should_sync(EntityKind::Profile, &payer));
        payer.set("profile.profiletype", "3");
        assert!(r.should_sync(EntityKind::Profile, &payer));
    }

    #[test]
    fn tags_are_those_whose_condition_holds() {
        let r = rules();
        assert_eq!(
            r.tags_for(EntityKind::Item, &item("2", "vds", "VDS trial")),
            vec!["trial", "vds"]
        );
        assert_eq!(
            r.tags_for(EntityKind::Item, &item("2", "vhost", "Lite")),
            Vec::<String>::new()
        );
        assert!(
            r.tags_for(EntityKind::Account, &item("2", "vds", "trial"))
                .is_empty()
        );
    }

    #[test]
    fn field_values_skip_absent_ones() {
        let r = rules();
        let mut rec = item("2", "vds", "VDS-Start");
        rec.set("item.expiredate", "");
        assert_eq!(
            r.field_values(EntityKind::Item, &rec),
            vec![(FieldRef::Id(816001), Value::Text("VDS-Start".into()))]
        );
        rec.set("item.expiredate", "2025-07-01");
        let got = r.field_values(EntityKind::Item, &rec);
        assert_eq!(
            got[1],
            (
                FieldRef::Id(816002),
                Value::Date {
                    unix: 1_751_328_000,
                    text: "2025-07-01".into()
                }
            )
        );
        let mut client = Record::default();
        client.set("user.email", "a@b.c");
        assert_eq!(
            r.field_values(EntityKind::Account, &client),
            vec![(FieldRef::Code("EMAIL".into()), Value::Text("a@b.c".into()))]
        );
    }

    #[test]
    fn new_leads_go_to_the_first_matching_stage_or_the_default() {
        let r = rules();
        assert_eq!(
            r.stage_for_new(&item("3", "vds", "x")),
            Some(stage(7000001, 7000102))
        );
        assert_eq!(
            r.stage_for_new(&item("2", "vds", "x")),
            Some(stage(7000001, 7000101))
        );
        assert_eq!(
            r.stage_for_new(&item("2", "vhost", "x")),
            Some(stage(7000001, 7000100))
        );
        let none = Rules {
            default_stage: None,
            ..rules()
        };
        assert_eq!(none.stage_for_new(&item("2", "vhost", "x")), None);
    }

    #[test]
    fn leads_move_only_on_rules_about_the_service_state() {
        let r = rules();
        assert_eq!(
            r.stage_move(&item("3", "vds", "x")),
            Some(stage(7000001, 7000102))
        );
        assert_eq!(
            r.stage_move(&item("4", "vhost", "x")),
            Some(stage(7000001, 143))
        );
        // The first match is the vds rule, which does not read item.status: no move.
        assert_eq!(r.stage_move(&item("2", "vds", "x")), None);
        assert_eq!(r.stage_move(&item("4", "vds", "x")), None);
        // Nothing matches: no move (the default is for new leads only).
        assert_eq!(r.stage_move(&item("2", "vhost", "x")), None);
    }

    #[test]
    fn per_kind_reads_by_kind() {
        let mut p = PerKind {
            account: 1,
            profile: 2,
            item: 3,
        };
        *p.get_mut(EntityKind::Profile) += 10;
        assert_eq!(EntityKind::ALL.map(|k| *p.get(k)), [1, 12, 3]);
    }
}
