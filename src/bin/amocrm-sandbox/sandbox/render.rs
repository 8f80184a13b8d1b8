//! The account's data in the shapes the API answers with.

use serde_json::{Value, json};

use super::state::{Crm, Entity, FieldDef, Kind, Pipeline, Tag};

/// Which linked entities `with=` asks to embed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct With {
    pub contacts: bool,
    pub companies: bool,
    pub leads: bool,
}

impl With {
    pub fn parse(s: &str) -> With {
        let mut w = With::default();
        for part in s.split(',').map(str::trim) {
            match part {
                "contacts" => w.contacts = true,
                "companies" => w.companies = true,
                "leads" => w.leads = true,
                _ => {}
            }
        }
        w
    }
    pub const ALL: With = With {
        contacts: true,
        companies: true,
        leads: true,
    };
}

pub fn href(base: &str, path: &str) -> Value {
    json!({ "self": { "href": format!("{base}{path}") } })
}

pub fn entity(crm: &Crm, kind: Kind, e: &Entity, base: &str, with: With) -> Value {
    let seg = kind.segment();
    let cfv: Value = if e.fields.is_empty() {
        Value::Null
    } else {
        e.fields
            .iter()
            .map(|f| {
                let def = crm.field_by_id(kind, f.field_id);
                json!({
                    "field_id": f.field_id,
                    "field_name": def.map(|d| d.name.as_str()),
                    "field_code": def.and_then(|d| d.code.as_deref()),
                    "field_type": def.map(|d| d.field_type.as_str()),
                    "values": f.values,
                })
            })
            .collect()
    };
    let tags: Vec<Value> = e
        .tags
        .iter()
        .filter_map(|id| crm.tag_by_id(kind, *id))
        .map(tag)
        .collect();
    let mut embedded = json!({ "tags": tags });
    let link = |k: Kind, id: u64| json!({ "id": id, "_links": href(base, &format!("/api/v4/{}/{id}", k.segment())) });
    // Contacts and leads always show their companies, as amoCRM does.
    if kind != Kind::Companies {
        embedded["companies"] = e
            .companies
            .iter()
            .map(|id| link(Kind::Companies, *id))
            .collect();
    }
    if with.contacts && kind != Kind::Contacts {
        embedded["contacts"] = e
            .contacts
            .iter()
            .map(|(id, main)| {
                let mut v = link(Kind::Contacts, *id);
                if kind == Kind::Leads {
                    v["is_main"] = json!(main);
                }
                v
            })
            .collect();
    }
    if with.leads && kind != Kind::Leads {
        embedded["leads"] = e.leads.iter().map(|id| link(Kind::Leads, *id)).collect();
    }
    let mut v = json!({
        "id": e.id,
        "name": e.name,
        "responsible_user_id": e.responsible_user_id,
        "group_id": 0,
        "created_by": 0,
        "updated_by": 0,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "closest_task_at": null,
        "is_deleted": false,
        "custom_fields_values": cfv,
        "account_id": crm.account.id,
        "_links": href(base, &format!("/api/v4/{seg}/{}", e.id)),
        "_embedded": embedded,
    });
    match kind {
        Kind::Contacts => {
            v["first_name"] = json!(e.first_name);
            v["last_name"] = json!(e.last_name);
            v["is_unsorted"] = json!(false);
        }
        Kind::Leads => {
            v["price"] = json!(e.price);
            v["pipeline_id"] = json!(e.pipeline_id);
            v["status_id"] = json!(e.status_id);
            v["closed_at"] = Value::Null;
            v["loss_reason_id"] = Value::Null;
        }
        Kind::Companies => {}
    }
    v
}

pub fn tag(t: &Tag) -> Value {
    json!({ "id": t.id, "name": t.name, "color": null })
}

pub fn custom_field(crm: &Crm, kind: Kind, f: &FieldDef, base: &str) -> Value {
    let enums: Value = if f.enums.is_empty() {
        Value::Null
    } else {
        f.enums
            .iter()
            .map(|e| json!({ "id": e.id, "value": e.value, "sort": e.sort }))
            .collect()
    };
    json!({
        "id": f.id,
        "name": f.name,
        "type": f.field_type,
        "account_id": crm.account.id,
        "code": f.code,
        "sort": f.sort,
        "is_api_only": false,
        "enums": enums,
        "group_id": null,
        "required_statuses": [],
        "is_deletable": f.code.is_none(),
        "is_predefined": f.code.is_some(),
        "entity_type": kind.segment(),
        "remind": null,
        "_links": href(base, &format!("/api/v4/{}/custom_fields/{}", kind.segment(), f.id)),
    })
}

pub fn pipeline(crm: &Crm, p: &Pipeline, base: &str) -> Value {
    let statuses: Vec<Value> = p
        .statuses
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "sort": s.sort,
                "is_editable": s.id != super::state::WON && s.id != super::state::LOST,
                "pipeline_id": p.id,
                "color": "#99ccff",
                "type": s.kind,
                "account_id": crm.account.id,
                "_links": href(base, &format!("/api/v4/leads/pipelines/{}/statuses/{}", p.id, s.id)),
            })
        })
        .collect();
    json!({
        "id": p.id,
        "name": p.name,
        "sort": p.sort,
        "is_main": p.is_main,
        "is_unsorted_on": false,
        "is_archive": p.is_archive,
        "account_id": crm.account.id,
        "_links": href(base, &format!("/api/v4/leads/pipelines/{}", p.id)),
        "_embedded": { "statuses": statuses },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use crate::sandbox::write;

    #[test]
    fn an_entity_reads_back_with_fields_tags_and_links() {
        let mut crm = default_crm();
        let c = write::create(
            &mut crm,
            Kind::Contacts,
            &[json!({"first_name": "Иван", "last_name": "Петров",
                "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": "+7912", "enum_code": "WORK"}]}],
                "_embedded": {"tags": [{"name": "billing"}]}})],
            false,
        )
        .expect("contact");
        let l = write::create(
            &mut crm,
            Kind::Leads,
            &[json!({"_embedded": {"contacts": [{"id": c[0].id}]}})],
            false,
        )
        .expect("lead");
        let e = crm.entity(Kind::Contacts, c[0].id).expect("contact");
        let v = entity(&crm, Kind::Contacts, e, "http://h", With::parse("leads"));
        assert_eq!(v["name"], "Иван Петров");
        assert_eq!(v["custom_fields_values"][0]["field_code"], "PHONE");
        assert_eq!(
            v["custom_fields_values"][0]["values"][0]["enum_code"],
            "WORK"
        );
        assert_eq!(v["_embedded"]["tags"][0]["name"], "billing");
        assert_eq!(v["_embedded"]["leads"][0]["id"], l[0].id);
        assert_eq!(v["_embedded"]["companies"], json!([]));
        let lead = crm.entity(Kind::Leads, l[0].id).expect("lead");
        let v = entity(&crm, Kind::Leads, lead, "http://h", With::default());
        assert_eq!(v["custom_fields_values"], Value::Null);
        assert!(v["_embedded"].get("contacts").is_none());
        let v = entity(&crm, Kind::Leads, lead, "http://h", With::ALL);
        assert_eq!(v["_embedded"]["contacts"][0]["is_main"], true);
    }
}
