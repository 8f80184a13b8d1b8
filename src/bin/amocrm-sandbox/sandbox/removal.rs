//! What a manager does in amoCRM's interface and the API cannot: deleting contacts,
//! companies and leads, and merging duplicates. Both go through the control endpoint
//! (`POST /_sandbox/delete`, `POST /_sandbox/merge`) and are recorded as events.
//!
//! A removed id is then answered as amoCRM documents an unknown one: `GET /{entity}/{id}`
//! 204, left out of lists, and a PATCH of it a 400 validation error naming the item
//! (`NotFound` on `id`), which is a guess: amoCRM's reference does not say.
//!
//! A merge keeps the survivor (`into`) and removes the others (`from`): their links move
//! to the survivor (a lead they were the main contact of takes it as its main contact; a
//! contact keeps one company, the survivor's if it has one), the survivor's field values
//! stay, a field it has no value in takes theirs, phones and e-mails (multitext fields)
//! are pooled, tags too. One `entity_merged` event on the survivor names the removed in
//! `value_before` and the survivor in `value_after`, each as
//! `{"entity": {"id": …, "type": "contact"}}`: the shape of those values is a guess too.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::events::named;
use super::state::{Crm, FieldValues, Kind};

#[derive(Deserialize)]
struct DeleteCall {
    entity: String,
    ids: Vec<u64>,
}

#[derive(Deserialize)]
struct MergeCall {
    entity: String,
    into: u64,
    from: Vec<u64>,
}

fn kind_of(entity: &str) -> Result<Kind, String> {
    Kind::parse(entity)
        .ok_or_else(|| format!("entity {entity:?} is not contacts, companies or leads"))
}

/// `POST /_sandbox/delete` `{"entity": "contacts", "ids": [...]}`.
pub fn delete_call(crm: &mut Crm, body: &[u8]) -> Result<Value, String> {
    let call: DeleteCall = serde_json::from_slice(body)
        .map_err(|e| format!("the body must be {{\"entity\": ..., \"ids\": [...]}}: {e}"))?;
    let kind = kind_of(&call.entity)?;
    delete(crm, kind, &call.ids)?;
    Ok(json!({ "deleted": call.ids, "entity": kind.segment() }))
}

/// `POST /_sandbox/merge` `{"entity": "contacts", "into": A, "from": [B, ...]}`.
pub fn merge_call(crm: &mut Crm, body: &[u8]) -> Result<Value, String> {
    let call: MergeCall = serde_json::from_slice(body).map_err(|e| {
        format!("the body must be {{\"entity\": ..., \"into\": ..., \"from\": [...]}}: {e}")
    })?;
    let kind = kind_of(&call.entity)?;
    merge(crm, kind, call.into, &call.from)?;
    Ok(json!({ "merged": call.from, "into": call.into, "entity": kind.segment() }))
}

/// Every id must be held, once: otherwise nothing is done.
fn check_held(crm: &Crm, kind: Kind, ids: &[u64]) -> Result<(), String> {
    if ids.is_empty() {
        return Err("no ids given".into());
    }
    let mut seen = HashSet::new();
    for &id in ids {
        if crm.entity(kind, id).is_none() {
            return Err(format!("there is no {} with id {id}", kind.segment()));
        }
        if !seen.insert(id) {
            return Err(format!("id {id} is given twice"));
        }
    }
    Ok(())
}

/// Deletes entities as a manager does: every link to them goes, and a
/// `contact_deleted` / `company_deleted` / `lead_deleted` event is recorded for each.
pub fn delete(crm: &mut Crm, kind: Kind, ids: &[u64]) -> Result<(), String> {
    check_held(crm, kind, ids)?;
    for &id in ids {
        detach(crm, kind, id);
        crm.entities[kind.idx()].remove(&id);
        let what = format!("{}_deleted", kind.singular());
        crm.record_event(&what, (kind, id), json!([]), json!([]));
    }
    Ok(())
}

/// Removes every link of an entity, on both sides.
fn detach(crm: &mut Crm, kind: Kind, id: u64) {
    let Some(e) = crm.entity(kind, id).cloned() else {
        return;
    };
    let others = (e.contacts.iter().map(|(c, _)| (Kind::Contacts, *c)))
        .chain(e.companies.iter().map(|c| (Kind::Companies, *c)))
        .chain(e.leads.iter().map(|l| (Kind::Leads, *l)));
    for other in others.collect::<Vec<_>>() {
        crm.unlink((kind, id), other);
    }
}

/// Merges `from` into `into` (see the module's head) and records one `entity_merged`.
pub fn merge(crm: &mut Crm, kind: Kind, into: u64, from: &[u64]) -> Result<(), String> {
    check_held(crm, kind, &[into])?;
    check_held(crm, kind, from)?;
    if from.contains(&into) {
        return Err(format!("{into} cannot be merged into itself"));
    }
    for &gone in from {
        move_links(crm, kind, gone, into);
        pool_values(crm, kind, gone, into);
        crm.entities[kind.idx()].remove(&gone);
    }
    if let Some(e) = crm.entities[kind.idx()].get_mut(&into) {
        e.updated_at = super::write::now();
        e.reindex();
    }
    let before: Vec<Value> = from.iter().map(|id| named(kind, *id)).collect();
    let after = json!([named(kind, into)]);
    crm.record_event("entity_merged", (kind, into), Value::Array(before), after);
    Ok(())
}

/// The links of `gone` become the survivor's.
fn move_links(crm: &mut Crm, kind: Kind, gone: u64, into: u64) {
    let Some(e) = crm.entity(kind, gone).cloned() else {
        return;
    };
    let survivor = crm.entity(kind, into).cloned().unwrap_or_default();
    let has_main = survivor.contacts.iter().any(|(_, main)| *main);
    for (contact, main) in e.contacts {
        crm.unlink((kind, gone), (Kind::Contacts, contact));
        crm.link((kind, into), (Kind::Contacts, contact), main && !has_main);
    }
    // A contact keeps one company: the survivor's, when it has one.
    let keeps_its_company = kind == Kind::Contacts && !survivor.companies.is_empty();
    for company in e.companies {
        crm.unlink((kind, gone), (Kind::Companies, company));
        if !keeps_its_company {
            crm.link((kind, into), (Kind::Companies, company), false);
        }
    }
    for lead in e.leads {
        let main = was_main(crm, lead, gone) && kind == Kind::Contacts;
        crm.unlink((kind, gone), (Kind::Leads, lead));
        crm.link((kind, into), (Kind::Leads, lead), main);
    }
}

/// Whether a contact is the lead's main contact.
fn was_main(crm: &Crm, lead: u64, contact: u64) -> bool {
    crm.entity(Kind::Leads, lead)
        .is_some_and(|l| l.contacts.contains(&(contact, true)))
}

/// Field values and tags of `gone` the survivor takes (see the module's head).
fn pool_values(crm: &mut Crm, kind: Kind, gone: u64, into: u64) {
    let Some(src) = crm.entity(kind, gone).cloned() else {
        return;
    };
    let pooled: HashSet<u64> = (crm.fields[kind.idx()].iter())
        .filter(|f| f.field_type == "multitext")
        .map(|f| f.id)
        .collect();
    let Some(e) = crm.entities[kind.idx()].get_mut(&into) else {
        return;
    };
    for field in src.fields {
        take_field(&mut e.fields, field, &pooled);
    }
    for tag in src.tags {
        if !e.tags.contains(&tag) {
            e.tags.push(tag);
        }
    }
}

fn take_field(fields: &mut Vec<FieldValues>, field: FieldValues, pooled: &HashSet<u64>) {
    match fields.iter_mut().find(|f| f.field_id == field.field_id) {
        None => fields.push(field),
        Some(mine) if pooled.contains(&field.field_id) => {
            for v in field.values {
                if !mine.values.iter().any(|m| m["value"] == v["value"]) {
                    mine.values.push(v);
                }
            }
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use crate::sandbox::write;

    fn made(crm: &mut Crm, kind: Kind, item: Value) -> u64 {
        write::create(crm, kind, &[item], false).expect("created")[0].id
    }

    fn email(v: &str) -> Value {
        json!([{"field_code": "EMAIL", "values": [{"value": v, "enum_code": "WORK"}]}])
    }

    #[test]
    fn a_deleted_entity_goes_with_its_links_and_leaves_an_event() {
        let mut crm = default_crm();
        let company = made(&mut crm, Kind::Companies, json!({"name": "ООО"}));
        let contact = made(
            &mut crm,
            Kind::Contacts,
            json!({"name": "Иван", "_embedded": {"companies": [{"id": company}]}}),
        );
        let lead = made(
            &mut crm,
            Kind::Leads,
            json!({"name": "vps", "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}),
        );
        delete(&mut crm, Kind::Contacts, &[contact]).expect("deleted");
        assert!(crm.entity(Kind::Contacts, contact).is_none());
        assert!(
            crm.entity(Kind::Leads, lead)
                .expect("lead")
                .contacts
                .is_empty()
        );
        assert!(
            crm.entity(Kind::Companies, company)
                .expect("co")
                .contacts
                .is_empty()
        );
        let e = crm.events.last().expect("event");
        assert_eq!((e.kind.as_str(), e.entity_id), ("contact_deleted", contact));
        assert!(
            delete(&mut crm, Kind::Contacts, &[contact]).is_err(),
            "gone already"
        );
        assert!(
            delete(&mut crm, Kind::Leads, &[lead, lead]).is_err(),
            "twice"
        );
        assert!(crm.entity(Kind::Leads, lead).is_some(), "all or nothing");
    }

    #[test]
    fn a_merge_moves_links_pools_phones_and_names_the_survivor() {
        let mut crm = default_crm();
        let (c1, c2) = (
            made(&mut crm, Kind::Companies, json!({"name": "A"})),
            made(&mut crm, Kind::Companies, json!({"name": "B"})),
        );
        let keep = made(
            &mut crm,
            Kind::Contacts,
            json!({"name": "Иван", "custom_fields_values": email("a@x.ru"),
                   "_embedded": {"companies": [{"id": c1}]}}),
        );
        let dup = made(
            &mut crm,
            Kind::Contacts,
            json!({"name": "Иван П.", "custom_fields_values": email("b@x.ru"),
                   "_embedded": {"companies": [{"id": c2}]}}),
        );
        let lead = made(
            &mut crm,
            Kind::Leads,
            json!({"name": "vps", "_embedded": {"contacts": [{"id": dup, "is_main": true}]}}),
        );
        merge(&mut crm, Kind::Contacts, keep, &[dup]).expect("merged");
        assert!(crm.entity(Kind::Contacts, dup).is_none());
        let survivor = crm.entity(Kind::Contacts, keep).expect("survivor");
        assert_eq!(survivor.name, "Иван");
        assert_eq!(survivor.companies, vec![c1], "its own company stays");
        assert_eq!(survivor.leads, vec![lead]);
        assert_eq!(survivor.fields[0].values.len(), 2, "e-mails pooled");
        assert_eq!(
            crm.entity(Kind::Leads, lead).unwrap().contacts,
            vec![(keep, true)]
        );
        assert!(crm.entity(Kind::Companies, c2).unwrap().contacts.is_empty());
        let e = crm.events.last().expect("event");
        assert_eq!((e.kind.as_str(), e.entity_id), ("entity_merged", keep));
        assert_eq!(e.value_before[0]["entity"]["id"], dup);
        assert_eq!(
            e.value_after[0]["entity"],
            json!({"id": keep, "type": "contact"})
        );
        assert!(merge(&mut crm, Kind::Contacts, keep, &[keep]).is_err());
        assert!(merge(&mut crm, Kind::Contacts, keep, &[]).is_err());
    }

    #[test]
    fn control_calls_check_their_bodies() {
        let mut crm = default_crm();
        let id = made(&mut crm, Kind::Leads, json!({"name": "x"}));
        let bad = |crm: &mut Crm, body: &str| delete_call(crm, body.as_bytes()).expect_err("bad");
        assert!(bad(&mut crm, r#"{"entity": "deals", "ids": [1]}"#).contains("deals"));
        assert!(bad(&mut crm, r#"{"ids": [1]}"#).contains("entity"));
        let body = format!(r#"{{"entity": "leads", "ids": [{id}]}}"#);
        let done = delete_call(&mut crm, body.as_bytes()).expect("deleted");
        assert_eq!(done["deleted"], json!([id]));
        assert!(merge_call(&mut crm, br#"{"entity": "leads", "into": 1}"#).is_err());
    }
}
