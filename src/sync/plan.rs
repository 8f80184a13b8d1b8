//! What the module wants an amoCRM entity to look like, from a panel record and the
//! admin's rules; and the smallest change that gets an existing entity there without
//! overwriting what managers typed (unless the admin chose `overwrite`).

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use super::fields::{Meta, render};
use crate::config::UpdateMode;
use crate::model::{EntityKind, Record};
use crate::rules::{Rules, Stage};

/// The desired state of one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: EntityKind,
    pub billmgr_id: i64,
    pub name: String,
    /// Leads only: the service's cost, whole units (amoCRM prices are integers).
    pub price: Option<i64>,
    /// Rendered `custom_fields_values` entries.
    pub fields: Vec<Json>,
    /// Tags whose condition holds.
    pub tags: Vec<String>,
    /// Every tag the rules of this kind manage (removed in `overwrite` mode when false).
    pub managed_tags: Vec<String>,
    /// Leads: where a new lead goes.
    pub stage_new: Option<Stage>,
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
}

/// Why an entity never goes to amoCRM whatever the rules say: an individual payer is not a
/// company, and the panel's own staff accounts (level 28 and up, the provider's account 1
/// among them) are not clients.
pub fn never_synced(kind: EntityKind, rec: &Record) -> Option<&'static str> {
    match kind {
        EntityKind::Profile if rec.int("profile.profiletype") == Some(1) => {
            Some("an individual payer does not become a company")
        }
        EntityKind::Account if rec.int("account.level").is_some_and(|l| l >= 28) => {
            Some("the provider's own or a staff account is not a client")
        }
        _ => None,
    }
}

pub fn plan(kind: EntityKind, billmgr_id: i64, rec: &Record, rules: &Rules, meta: &Meta) -> Plan {
    let entity = kind.amo_entity();
    let mut warnings = Vec::new();
    let mut fields = Vec::new();
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
    let name = entity_name(kind, rec).unwrap_or_else(|| format!("{} {billmgr_id}", kind.as_str()));
    let mut stage_new = None;
    let mut stage_move = None;
    if kind == EntityKind::Item {
        stage_new = rules.stage_for_new(rec);
        stage_move = rules.stage_move(rec);
        for s in [stage_new, stage_move].into_iter().flatten() {
            if !meta.has_stage(s) {
                warnings.push(format!(
                    "amoCRM has no status {} in pipeline {}",
                    s.status_id, s.pipeline_id
                ));
            }
        }
        stage_new = stage_new.filter(|s| meta.has_stage(*s));
        stage_move = stage_move.filter(|s| meta.has_stage(*s));
    }
    Plan {
        kind,
        billmgr_id,
        name,
        price: (kind == EntityKind::Item)
            .then(|| {
                rec.get("item.cost")
                    .and_then(|c| c.trim().parse::<f64>().ok())
                    .map(|c| c.round() as i64)
            })
            .flatten(),
        fields,
        tags: rules.tags_for(kind, rec),
        managed_tags: rules.tags.get(kind).iter().map(|t| t.tag.clone()).collect(),
        stage_new,
        stage_move,
        warnings,
        email: rec.text("user.email").map(str::to_string),
        phone: rec.text("user.phone").map(str::to_string),
        account_id: rec.int("account.id"),
        state: (kind == EntityKind::Item)
            .then(|| rec.int("item.status"))
            .flatten(),
    }
}

fn first(rec: &Record, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| rec.text(k)).map(str::to_string)
}

fn field_name(r: &crate::rules::FieldRef) -> String {
    match r {
        crate::rules::FieldRef::Id(id) => id.to_string(),
        crate::rules::FieldRef::Code(c) => c.clone(),
    }
}

impl Plan {
    /// A stable hash of everything the module would send and of how it may update, then
    /// the service's state as synced (`3f…9a.2`): unchanged → nothing to send, and a lead
    /// moves only when the state it was synced in has changed.
    pub fn fingerprint(&self, mode: UpdateMode) -> String {
        let body = json!({
            "p": self.create_payload(None, None),
            "m": self.stage_move.map(|s| [s.pipeline_id, s.status_id]),
            "u": mode == UpdateMode::Overwrite,
        });
        let hash = format!("{:016x}", fnv1a(body.to_string().as_bytes()));
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

    /// The entity to POST. Leads are linked to their contact and company as they are made.
    pub fn create_payload(&self, contact: Option<i64>, company: Option<i64>) -> Json {
        let mut p = json!({"name": self.name});
        if !self.fields.is_empty() {
            p["custom_fields_values"] = Json::Array(self.fields.clone());
        }
        let mut embedded = serde_json::Map::new();
        if !self.tags.is_empty() {
            embedded.insert(
                "tags".into(),
                self.tags.iter().map(|t| json!({"name": t})).collect(),
            );
        }
        if self.kind == EntityKind::Item {
            if let Some(price) = self.price {
                p["price"] = json!(price);
            }
            if let Some(s) = self.stage_new {
                p["pipeline_id"] = json!(s.pipeline_id);
                p["status_id"] = json!(s.status_id);
            }
            if let Some(c) = contact {
                embedded.insert("contacts".into(), json!([{"id": c, "is_main": true}]));
            }
            if let Some(c) = company {
                embedded.insert("companies".into(), json!([{"id": c}]));
            }
        }
        if !embedded.is_empty() {
            p["_embedded"] = Json::Object(embedded);
        }
        p
    }

    /// The PATCH item that brings `current` (as amoCRM returned it) to this plan, or
    /// `None` when nothing needs to change. `state_changed`: the service's state moved
    /// since the last sync, so a pipeline rule that names it may move the lead.
    pub fn update_payload(
        &self,
        amo_id: i64,
        current: &Json,
        mode: UpdateMode,
        state_changed: bool,
    ) -> Option<Json> {
        let overwrite = mode == UpdateMode::Overwrite;
        let mut p = serde_json::Map::new();
        let cur_name = current
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .trim();
        if cur_name.is_empty() || (overwrite && cur_name != self.name) {
            p.insert("name".into(), json!(self.name));
        }
        let mut changed_fields = Vec::new();
        for want in &self.fields {
            let id = want.get("field_id").and_then(Json::as_i64);
            let have = current_values(current, id);
            let wanted = value_set(want.get("values"));
            let set = if have.is_empty() {
                true
            } else {
                overwrite && have != wanted
            };
            if set {
                changed_fields.push(want.clone());
            }
        }
        if !changed_fields.is_empty() {
            p.insert("custom_fields_values".into(), Json::Array(changed_fields));
        }
        let cur_tags: BTreeSet<String> = current
            .pointer("/_embedded/tags")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name").and_then(Json::as_str).map(str::to_string))
            .collect();
        let add: Vec<Json> = self
            .tags
            .iter()
            .filter(|t| !cur_tags.contains(*t))
            .map(|t| json!({"name": t}))
            .collect();
        if !add.is_empty() {
            p.insert("tags_to_add".into(), Json::Array(add));
        }
        if overwrite {
            let del: Vec<Json> = self
                .managed_tags
                .iter()
                .filter(|t| cur_tags.contains(*t) && !self.tags.contains(t))
                .map(|t| json!({"name": t}))
                .collect();
            if !del.is_empty() {
                p.insert("tags_to_delete".into(), Json::Array(del));
            }
        }
        if self.kind == EntityKind::Item {
            if let Some(price) = self.price {
                let cur = current.get("price").and_then(Json::as_i64).unwrap_or(0);
                if cur == 0 && price != 0 || overwrite && cur != price {
                    p.insert("price".into(), json!(price));
                }
            }
            if let Some(s) = self.stage_move.filter(|_| state_changed) {
                let cur = (
                    current.get("pipeline_id").and_then(Json::as_i64),
                    current.get("status_id").and_then(Json::as_i64),
                );
                if cur != (Some(s.pipeline_id), Some(s.status_id)) {
                    p.insert("pipeline_id".into(), json!(s.pipeline_id));
                    p.insert("status_id".into(), json!(s.status_id));
                }
            }
        }
        if p.is_empty() {
            return None;
        }
        p.insert("id".into(), json!(amo_id));
        Some(Json::Object(p))
    }
}

/// The values a field holds now, as comparable text.
fn current_values(current: &Json, field_id: Option<i64>) -> BTreeSet<String> {
    let Some(id) = field_id else {
        return BTreeSet::new();
    };
    current
        .get("custom_fields_values")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|f| f.get("field_id").and_then(Json::as_i64) == Some(id))
        .map(|f| value_set(f.get("values")))
        .unwrap_or_default()
}

fn value_set(values: Option<&Json>) -> BTreeSet<String> {
    values
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let x = v
                .get("enum_id")
                .filter(|_| v.get("value").is_none())
                .or_else(|| v.get("value"))?;
            let s = match x {
                Json::String(s) => s.trim().to_string(),
                Json::Null => return None,
                other => other.to_string(),
            };
            (!s.is_empty()).then_some(s)
        })
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The name an entity gets in amoCRM (and in the panel's lists of the module).
pub fn entity_name(kind: EntityKind, rec: &Record) -> Option<String> {
    match kind {
        EntityKind::Account => first(
            rec,
            &["user.realname", "account.name", "user.email", "user.name"],
        ),
        EntityKind::Profile => first(rec, &["profile.name", "profile.person"]),
        EntityKind::Item => {
            let service = first(rec, &["item.name", "itemparam.domain"]);
            let tariff = first(rec, &["pricelist.name", "pricelist.name_ru"]);
            match (service, tariff) {
                (Some(s), Some(t)) => Some(format!("{s} — {t}")),
                (s, t) => s.or(t),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead() -> Plan {
        Plan {
            kind: EntityKind::Item,
            billmgr_id: 1001,
            name: "vps — VDS-Start".into(),
            price: Some(590),
            fields: vec![json!({"field_id": 816001, "values": [{"value": "VDS-Start"}]})],
            tags: vec!["vds".into()],
            managed_tags: vec!["vds".into(), "trial".into()],
            stage_new: Some(Stage {
                pipeline_id: 1,
                status_id: 10,
            }),
            stage_move: Some(Stage {
                pipeline_id: 1,
                status_id: 143,
            }),
            warnings: vec![],
            email: None,
            phone: None,
            account_id: Some(2),
            state: Some(4),
        }
    }

    #[test]
    fn individuals_and_the_provider_are_never_synced() {
        let mut r = Record::default();
        r.set("profile.profiletype", "1");
        assert!(never_synced(EntityKind::Profile, &r).is_some());
        r.set("profile.profiletype", "2");
        assert!(never_synced(EntityKind::Profile, &r).is_none());
        r.set("account.level", "29");
        assert!(never_synced(EntityKind::Account, &r).is_some());
        r.set("account.level", "16");
        assert!(never_synced(EntityKind::Account, &r).is_none());
        assert!(never_synced(EntityKind::Account, &Record::default()).is_none());
    }

    #[test]
    fn a_new_lead_carries_its_stage_links_and_tags() {
        let p = lead().create_payload(Some(7), Some(8));
        assert_eq!(p["status_id"], 10);
        assert_eq!(
            p["_embedded"]["contacts"],
            json!([{"id": 7, "is_main": true}])
        );
        assert_eq!(p["_embedded"]["companies"], json!([{"id": 8}]));
        assert_eq!(p["_embedded"]["tags"], json!([{"name": "vds"}]));
        assert_eq!(p["price"], 590);
    }

    #[test]
    fn fill_empty_fills_only_what_is_empty() {
        let current = json!({"id": 5, "name": "Manager's name", "price": 0, "pipeline_id": 1, "status_id": 10,
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "typed by a manager"}]}],
            "_embedded": {"tags": [{"name": "trial"}]}});
        let patch = lead()
            .update_payload(5, &current, UpdateMode::FillEmpty, false)
            .unwrap();
        assert_eq!(
            patch,
            json!({"id": 5, "price": 590, "tags_to_add": [{"name": "vds"}]})
        );
    }

    #[test]
    fn overwrite_replaces_and_removes_rule_tags_that_no_longer_hold() {
        let current = json!({"id": 5, "name": "Manager's name", "price": 100, "pipeline_id": 1, "status_id": 10,
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "old"}]}],
            "_embedded": {"tags": [{"name": "trial"}, {"name": "manual"}]}});
        let patch = lead()
            .update_payload(5, &current, UpdateMode::Overwrite, false)
            .unwrap();
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
        let current = json!({"id": 5, "name": "x", "price": 590, "pipeline_id": 1, "status_id": 10,
            "_embedded": {"tags": [{"name": "vds"}]},
            "custom_fields_values": [{"field_id": 816001, "values": [{"value": "VDS-Start"}]}]});
        let patch = p
            .update_payload(5, &current, UpdateMode::FillEmpty, true)
            .unwrap();
        assert_eq!(patch, json!({"id": 5, "pipeline_id": 1, "status_id": 143}));
        assert_eq!(
            p.update_payload(5, &current, UpdateMode::FillEmpty, false),
            None
        );
    }

    #[test]
    fn the_fingerprint_follows_content_and_mode() {
        let a = lead();
        let mut b = lead();
        b.price = Some(600);
        assert_ne!(
            a.fingerprint(UpdateMode::FillEmpty),
            b.fingerprint(UpdateMode::FillEmpty)
        );
        assert_ne!(
            a.fingerprint(UpdateMode::FillEmpty),
            a.fingerprint(UpdateMode::Overwrite)
        );
        assert_eq!(
            a.fingerprint(UpdateMode::FillEmpty),
            lead().fingerprint(UpdateMode::FillEmpty)
        );
    }
}
