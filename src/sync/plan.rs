//! What the module wants an amoCRM entity to look like, from a panel record and the
//! admin's rules; and the smallest change that gets an existing entity there without
//! overwriting what managers typed (unless the admin chose `overwrite`). Pure: rules and
//! records in, typed requests of `crate::amo` out.

use std::collections::BTreeSet;

use serde::Serialize;

use super::fields::{Meta, render};
use super::kinds;
use crate::amo::{Entity, EntityPatch, FieldValues, NewEntity};
use crate::config::UpdateMode;
use crate::db::Link;
use crate::model::{EntityKind, Record};
use crate::rules::{Rules, Stage, UserRef};

/// The desired state of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: EntityKind,
    pub billmgr_id: i64,
    /// What a create sends, but the links a new lead is made with.
    pub entity: NewEntity,
    /// Every tag the rules of this kind manage (removed in `overwrite` mode when false).
    pub managed_tags: Vec<String>,
    /// Leads: where an existing lead moves, when a rule names the service's state.
    pub stage_move: Option<Stage>,
    /// Values that could not be written (the admin reads them in the task log).
    pub warnings: Vec<String>,
    /// Clients: what duplicates are looked up by.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The client the payer or service belongs to.
    pub account_id: Option<i64>,
    /// Services: `item.status`, the state pipeline rules may name.
    pub state: Option<i64>,
    /// Who `[responsible]` says owns it when it is created.
    pub owner: Option<UserRef>,
}

/// Whether an entity goes to amoCRM at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    In,
    /// Gone from the panel: nothing will ever be made for it again.
    Gone,
    /// Kept out, and why.
    Out(String),
}

/// Decides from the record alone: gone, never synced (an individual payer, a staff
/// account), its sync condition false, or a payer or service of no client.
pub fn admit(kind: EntityKind, rec: Option<&Record>, rules: &Rules) -> Admission {
    let Some(rec) = rec else {
        return Admission::Gone;
    };
    if let Some(why) = never_synced(kind, rec) {
        return Admission::Out(why.into());
    }
    if !rules.should_sync(kind, rec) {
        return Admission::Out("its sync condition does not hold".into());
    }
    if kinds::of(kind).needs().contact && rec.int("account.id").is_none() {
        return Admission::Out("it belongs to no client".into());
    }
    Admission::In
}

/// Why an entity never goes to amoCRM whatever the rules say.
pub fn never_synced(kind: EntityKind, rec: &Record) -> Option<&'static str> {
    kinds::of(kind).never_synced(rec)
}

/// The name an entity gets in amoCRM (and in the panel's lists of the module).
pub fn entity_name(kind: EntityKind, rec: &Record) -> Option<String> {
    kinds::of(kind).name(rec)
}

pub fn plan(kind: EntityKind, billmgr_id: i64, rec: &Record, rules: &Rules, meta: &Meta) -> Plan {
    let k = kinds::of(kind);
    let (fields, mut warnings) = field_values(kind, rec, rules, meta);
    let extras = k.extras(rec, rules, meta);
    warnings.extend(extras.warnings);
    let name = k
        .name(rec)
        .unwrap_or_else(|| format!("{} {billmgr_id}", kind.as_str()));
    Plan {
        kind,
        billmgr_id,
        entity: NewEntity {
            name,
            price: extras.price,
            pipeline_id: extras.stage_new.map(|s| s.pipeline_id),
            status_id: extras.stage_new.map(|s| s.status_id),
            fields,
            tags: rules.tags_for(kind, rec),
            contact: None,
            company: None,
            responsible_user_id: None,
        },
        managed_tags: rules.tags.get(kind).iter().map(|t| t.tag.clone()).collect(),
        stage_move: extras.stage_move,
        warnings,
        email: rec.text("user.email").map(str::to_string),
        phone: rec.text("user.phone").map(str::to_string),
        account_id: rec.int("account.id"),
        state: extras.state,
        owner: rules.responsible.user_for(kind, rec).cloned(),
    }
}

/// The custom field values the rules give, and what could not be written.
fn field_values(
    kind: EntityKind,
    rec: &Record,
    rules: &Rules,
    meta: &Meta,
) -> (Vec<FieldValues>, Vec<String>) {
    let entity = kind.amo_entity();
    let (mut fields, mut warnings) = (Vec::new(), Vec::new());
    for (r, value) in rules.field_values(kind, rec) {
        let field = meta.field(entity, &r);
        if field.is_none() && !meta.offline {
            warnings.push(format!("amoCRM has no {entity} field {}", field_name(&r)));
            continue;
        }
        match render(field, &r, &value) {
            Ok(entry) => fields.push(entry),
            Err(why) => warnings.push(why),
        }
    }
    (fields, warnings)
}

fn field_name(r: &crate::rules::FieldRef) -> String {
    match r {
        crate::rules::FieldRef::Id(id) => id.to_string(),
        crate::rules::FieldRef::Code(c) => c.clone(),
    }
}

/// What a fingerprint hashes: the create, the move a rule asks for, the update mode, and
/// in `overwrite` mode the rule tags that do not hold (an update removes them).
#[derive(Serialize)]
struct Hashed<'a> {
    m: Option<[i64; 2]>,
    p: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    r: Vec<&'a str>,
    u: bool,
}

impl Plan {
    /// A stable hash of everything the module would send and of how it may update, then
    /// the service's state as synced (`3f…9a.2`): unchanged → nothing to send, and a lead
    /// moves only when the state it was synced in has changed.
    pub fn fingerprint(&self, mode: UpdateMode) -> String {
        let create = self.entity.to_json();
        let overwrite = mode == UpdateMode::Overwrite;
        let hashed = Hashed {
            m: self.stage_move.map(|s| [s.pipeline_id, s.status_id]),
            p: &create,
            r: (self.managed_tags.iter())
                .filter(|t| overwrite && !self.entity.tags.contains(t))
                .map(String::as_str)
                .collect(),
            u: overwrite,
        };
        let text = serde_json::to_string(&hashed).unwrap_or_default();
        let hash = format!("{:016x}", fnv1a(text.as_bytes()));
        match self.state {
            Some(s) => format!("{hash}.{s}"),
            None => hash,
        }
    }

    /// Whether the service's state differs from the one recorded with the last sync.
    pub fn state_changed(&self, last_fingerprint: &str) -> bool {
        let last = last_fingerprint
            .split_once('.')
            .and_then(|(_, s)| s.parse::<i64>().ok());
        self.state.is_some() && last != self.state
    }

    /// The amoCRM id when the link's fingerprint says nothing changed since the last sync.
    pub fn unchanged(&self, link: Option<&Link>, mode: UpdateMode) -> Option<i64> {
        let link = link?;
        (link.fingerprint == self.fingerprint(mode)).then_some(link.amocrm_id)
    }

    /// The entity to create. A lead is linked to its contact and company as it is made.
    pub fn create(&self, contact: Option<i64>, company: Option<i64>) -> NewEntity {
        let linked = kinds::of(self.kind).made_linked();
        NewEntity {
            contact: contact.filter(|_| linked),
            company: company.filter(|_| linked),
            responsible_user_id: None,
            ..self.entity.clone()
        }
    }

    /// What brings `current` (as amoCRM holds it) to this plan, or `None` when nothing
    /// needs to change. `state_changed`: the service's state moved since the last sync, so
    /// a pipeline rule that names it may move the lead.
    pub fn patch(
        &self,
        current: &Entity,
        mode: UpdateMode,
        state_changed: bool,
    ) -> Option<EntityPatch> {
        let overwrite = mode == UpdateMode::Overwrite;
        let want = &self.entity;
        let cur_name = current.name.trim();
        let mut p = EntityPatch {
            id: current.id,
            name: (cur_name.is_empty() || (overwrite && cur_name != want.name))
                .then(|| want.name.clone()),
            fields: self.changed_fields(current, overwrite),
            ..EntityPatch::default()
        };
        self.patch_tags(&mut p, current, overwrite);
        if let Some(price) = want.price {
            let cur = current.price.unwrap_or(0);
            if cur == 0 && price != 0 || overwrite && cur != price {
                p.price = Some(price);
            }
        }
        if let Some(s) = self.stage_move.filter(|_| state_changed)
            && (current.pipeline_id, current.status_id) != (Some(s.pipeline_id), Some(s.status_id))
        {
            (p.pipeline_id, p.status_id) = (Some(s.pipeline_id), Some(s.status_id));
        }
        (!p.is_empty()).then_some(p)
    }

    /// Fields empty in amoCRM; in `overwrite` mode, also those that differ.
    fn changed_fields(&self, current: &Entity, overwrite: bool) -> Vec<FieldValues> {
        self.entity
            .fields
            .iter()
            .filter(|want| {
                let have = current_values(current, want.field_id);
                have.is_empty() || overwrite && have != value_set(want)
            })
            .cloned()
            .collect()
    }

    /// Tags added, never removed; in `overwrite` mode, rule tags that no longer hold go.
    fn patch_tags(&self, p: &mut EntityPatch, current: &Entity, overwrite: bool) {
        let have: BTreeSet<&str> = current.tags.iter().map(String::as_str).collect();
        p.tags_to_add = (self.entity.tags.iter())
            .filter(|t| !have.contains(t.as_str()))
            .cloned()
            .collect();
        if overwrite {
            p.tags_to_delete = (self.managed_tags.iter())
                .filter(|t| have.contains(t.as_str()) && !self.entity.tags.contains(t))
                .cloned()
                .collect();
        }
    }
}

/// The values a field holds now, as comparable text.
fn current_values(current: &Entity, field_id: Option<i64>) -> BTreeSet<String> {
    let Some(id) = field_id else {
        return BTreeSet::new();
    };
    current
        .fields
        .iter()
        .find(|f| f.field_id == Some(id))
        .map(value_set)
        .unwrap_or_default()
}

fn value_set(f: &FieldValues) -> BTreeSet<String> {
    f.values.iter().filter_map(|v| v.comparable()).collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amo::{FieldValue, Scalar};
    use serde_json::json;

    fn lead() -> Plan {
        Plan {
            kind: EntityKind::Item,
            billmgr_id: 1001,
            entity: NewEntity {
                name: "vps — VDS-Start".into(),
                price: Some(590),
                pipeline_id: Some(1),
                status_id: Some(10),
                fields: vec![FieldValues {
                    field_id: Some(816001),
                    values: vec![FieldValue::of(Scalar::Text("VDS-Start".into()))],
                    ..FieldValues::default()
                }],
                tags: vec!["vds".into()],
                contact: None,
                company: None,
                responsible_user_id: None,
            },
            managed_tags: vec!["vds".into(), "trial".into()],
            stage_move: Some(Stage {
                pipeline_id: 1,
                status_id: 143,
            }),
            warnings: vec![],
            email: None,
            phone: None,
            account_id: Some(2),
            state: Some(4),
            owner: None,
        }
    }

    fn current(v: serde_json::Value) -> Entity {
        Entity::from_json(&v).expect("entity")
    }

    #[test]
    fn gone_kept_out_and_orphans_are_not_admitted() {
        let rules = Rules::default();
        assert_eq!(admit(EntityKind::Item, None, &rules), Admission::Gone);
        let mut r = Record::default();
        r.set("profile.profiletype", "1");
        assert!(matches!(
            admit(EntityKind::Profile, Some(&r), &rules),
            Admission::Out(_)
        ));
        r.set("profile.profiletype", "2");
        assert_eq!(
            admit(EntityKind::Profile, Some(&r), &rules),
            Admission::Out("it belongs to no client".into())
        );
        r.set("account.id", "2");
        assert_eq!(admit(EntityKind::Profile, Some(&r), &rules), Admission::In);
        assert_eq!(
            admit(EntityKind::Account, Some(&Record::default()), &rules),
            Admission::In
        );
    }

    #[test]
    fn a_new_lead_carries_its_stage_links_and_tags() {
        let p = lead().create(Some(7), Some(8)).to_json();
        assert_eq!(p["status_id"], 10);
        assert_eq!(
            p["_embedded"]["contacts"],
            json!([{"id": 7, "is_main": true}])
        );
        assert_eq!(p["_embedded"]["companies"], json!([{"id": 8}]));
        assert_eq!(p["_embedded"]["tags"], json!([{"name": "vds"}]));
        assert_eq!(p["price"], 590);
        let company = Plan {
            kind: EntityKind::Profile,
            ..lead()
        };
        assert_eq!(company.create(Some(7), None).contact, None, "made unlinked");
    }

    #[test]
    fn fill_empty_fills_only_what_is_empty() {
        let current = current(
            json!({"id": 5, "name": "Manager's name", "price": 0, "pipeline_id": 1, "status_id": 10,
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "typed by a manager"}]}],
            "_embedded": {"tags": [{"name": "trial"}]}}),
        );
        let patch = lead()
            .patch(&current, UpdateMode::FillEmpty, false)
            .unwrap();
        assert_eq!(
            patch.to_json(),
            json!({"id": 5, "price": 590, "tags_to_add": [{"name": "vds"}]})
        );
    }

    #[test]
    fn overwrite_replaces_and_removes_rule_tags_that_no_longer_hold() {
        let current = current(
            json!({"id": 5, "name": "Manager's name", "price": 100, "pipeline_id": 1, "status_id": 10,
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "old"}]}],
            "_embedded": {"tags": [{"name": "trial"}, {"name": "manual"}]}}),
        );
        let patch = lead()
            .patch(&current, UpdateMode::Overwrite, false)
            .unwrap()
            .to_json();
        assert_eq!(patch["name"], "vps — VDS-Start");
        assert_eq!(patch["price"], 590);
        assert_eq!(
            patch["custom_fields_values"][0]["values"][0]["value"],
            "VDS-Start"
        );
        assert_eq!(
            patch["tags_to_delete"],
            json!([{"name": "trial"}]),
            "the manager's own tag stays"
        );
        assert!(patch.get("status_id").is_none(), "no state change, no move");
    }

    #[test]
    fn a_lead_moves_only_when_its_state_changed() {
        let p = lead();
        let fp_active = Plan {
            state: Some(2),
            ..lead()
        }
        .fingerprint(UpdateMode::FillEmpty);
        assert!(p.state_changed(&fp_active));
        assert!(!p.state_changed(&p.fingerprint(UpdateMode::FillEmpty)));
        assert!(
            p.state_changed(""),
            "a link made before states were recorded"
        );
        let current = current(
            json!({"id": 5, "name": "x", "price": 590, "pipeline_id": 1, "status_id": 10,
            "_embedded": {"tags": [{"name": "vds"}]},
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "VDS-Start"}]}]}),
        );
        let patch = p.patch(&current, UpdateMode::FillEmpty, true).unwrap();
        assert_eq!(
            patch.to_json(),
            json!({"id": 5, "pipeline_id": 1, "status_id": 143})
        );
        assert_eq!(p.patch(&current, UpdateMode::FillEmpty, false), None);
    }

    #[test]
    fn the_fingerprint_follows_content_and_mode() {
        let a = lead();
        let mut b = lead();
        b.entity.price = Some(600);
        assert_ne!(
            a.fingerprint(UpdateMode::FillEmpty),
            b.fingerprint(UpdateMode::FillEmpty)
        );
        assert_ne!(
            a.fingerprint(UpdateMode::FillEmpty),
            a.fingerprint(UpdateMode::Overwrite)
        );
        // In overwrite mode a rule tag that stops being managed is no longer removed.
        let mut c = lead();
        c.managed_tags.retain(|t| t != "trial");
        assert_eq!(
            a.fingerprint(UpdateMode::FillEmpty),
            c.fingerprint(UpdateMode::FillEmpty)
        );
        assert_ne!(
            a.fingerprint(UpdateMode::Overwrite),
            c.fingerprint(UpdateMode::Overwrite)
        );
        let link = Link {
            id: 1,
            billmgr_id: 1001,
            amocrm_id: 77,
            synced_at: 0,
            fingerprint: a.fingerprint(UpdateMode::FillEmpty),
        };
        assert_eq!(a.unchanged(Some(&link), UpdateMode::FillEmpty), Some(77));
        assert_eq!(b.unchanged(Some(&link), UpdateMode::FillEmpty), None);
        assert_eq!(a.unchanged(None, UpdateMode::FillEmpty), None);
    }

    #[test]
    fn fingerprints_recorded_by_earlier_versions_still_match() {
        // Links saved before hold the hash of this JSON text: an unchanged entity must
        // stay unchanged after an upgrade, not be read back from amoCRM.
        let earlier = json!({
            "p": {"name": "vps — VDS-Start", "price": 590, "pipeline_id": 1, "status_id": 10,
                  "custom_fields_values": [{"field_id": 816001, "values": [{"value": "VDS-Start"}]}],
                  "_embedded": {"tags": [{"name": "vds"}]}},
            "m": [1, 143],
            "u": false,
        });
        let hash = format!("{:016x}.4", fnv1a(earlier.to_string().as_bytes()));
        assert_eq!(lead().fingerprint(UpdateMode::FillEmpty), hash);
    }
}
