//! Creating and updating contacts, companies and leads: every item of a batch is checked
//! first, and only a batch without errors is applied (amoCRM rejects it whole).

use serde_json::Value;

use super::endpoint::request_id;
use super::fields::{self, FieldWrite, as_u64};
use super::problem::{FieldError, ItemErrors};
use super::state::{Crm, Entity, FieldValues, Kind, USER_ID};

/// One applied item, for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: u64,
    pub request_id: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum TagRef {
    Id(u64),
    Name(String),
}

#[derive(Debug, Default)]
struct Prepared {
    request_id: String,
    id: Option<u64>,
    name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    price: Option<i64>,
    pipeline_id: Option<u64>,
    status_id: Option<u64>,
    responsible_user_id: Option<u64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
    fields: Vec<FieldWrite>,
    tags_set: Option<Vec<TagRef>>,
    tags_add: Vec<TagRef>,
    tags_del: Vec<TagRef>,
    contacts: Vec<(u64, bool)>,
    companies: Vec<u64>,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `POST /api/v4/{kind}`. `with_ids` lets a seed choose ids.
pub fn create(
    crm: &mut Crm,
    kind: Kind,
    items: &[Value],
    with_ids: bool,
) -> Result<Vec<Written>, ItemErrors> {
    let prepared = prepare_all(crm, kind, items, Mode::Create { with_ids })?;
    let now = now();
    let mut out = Vec::with_capacity(prepared.len());
    for p in prepared {
        let id = match p.id {
            Some(id) => {
                crm.reserve_id(id);
                id
            }
            None => crm.new_id(),
        };
        let mut e = Entity {
            id,
            responsible_user_id: USER_ID,
            created_at: p.created_at.unwrap_or(now),
            updated_at: p.updated_at.or(p.created_at).unwrap_or(now),
            ..Entity::default()
        };
        e.first_name = p.first_name.clone().unwrap_or_default();
        e.last_name = p.last_name.clone().unwrap_or_default();
        e.name = match (&p.name, kind) {
            (Some(n), _) => n.clone(),
            (None, Kind::Contacts) => format!("{} {}", e.first_name, e.last_name)
                .trim()
                .to_string(),
            (None, Kind::Leads) => format!("Сделка #{id}"),
            (None, Kind::Companies) => format!("Компания #{id}"),
        };
        let updated_at = e.updated_at;
        crm.entities[kind.idx()].insert(id, e);
        apply_common(crm, kind, id, &p);
        for &(contact, is_main) in &p.contacts {
            crm.link((kind, id), (Kind::Contacts, contact), is_main);
        }
        for &company in &p.companies {
            crm.link((kind, id), (Kind::Companies, company), false);
        }
        out.push(Written {
            id,
            request_id: p.request_id,
            updated_at,
        });
    }
    Ok(out)
}

/// `PATCH /api/v4/{kind}`: items carry their `id`.
pub fn update(crm: &mut Crm, kind: Kind, items: &[Value]) -> Result<Vec<Written>, ItemErrors> {
    let prepared = prepare_all(crm, kind, items, Mode::Update)?;
    let now = now();
    let mut out = Vec::with_capacity(prepared.len());
    for p in prepared {
        let Some(id) = p.id else { continue };
        let updated_at = p.updated_at.unwrap_or(now);
        if let Some(e) = crm.entities[kind.idx()].get_mut(&id) {
            if let Some(n) = &p.name {
                e.name = n.clone();
            }
            if let Some(n) = &p.first_name {
                e.first_name = n.clone();
            }
            if let Some(n) = &p.last_name {
                e.last_name = n.clone();
            }
            e.updated_at = updated_at;
        }
        apply_common(crm, kind, id, &p);
        out.push(Written {
            id,
            request_id: p.request_id,
            updated_at,
        });
    }
    Ok(out)
}

/// What create and update share: plain fields, custom fields, tags.
fn apply_common(crm: &mut Crm, kind: Kind, id: u64, p: &Prepared) {
    let resolve = |crm: &mut Crm, t: &TagRef| match t {
        TagRef::Id(id) => *id,
        TagRef::Name(n) => crm.tag_id(kind, n),
    };
    let set: Option<Vec<u64>> = p
        .tags_set
        .as_ref()
        .map(|tags| tags.iter().map(|t| resolve(crm, t)).collect());
    let add: Vec<u64> = p.tags_add.iter().map(|t| resolve(crm, t)).collect();
    let del: Vec<u64> = p
        .tags_del
        .iter()
        .filter_map(|t| match t {
            TagRef::Id(id) => Some(*id),
            TagRef::Name(n) => crm.tag_by_name(kind, n).map(|t| t.id),
        })
        .collect();
    let Some(e) = crm.entities[kind.idx()].get_mut(&id) else {
        return;
    };
    if let Some(price) = p.price {
        e.price = price;
    }
    if let Some(pid) = p.pipeline_id {
        e.pipeline_id = pid;
    }
    if let Some(sid) = p.status_id {
        e.status_id = sid;
    }
    if let Some(r) = p.responsible_user_id {
        e.responsible_user_id = r;
    }
    for (field_id, values) in &p.fields {
        let pos = e.fields.iter().position(|f| f.field_id == *field_id);
        match (values, pos) {
            (Some(v), Some(i)) => e.fields[i].values = v.clone(),
            (Some(v), None) => e.fields.push(FieldValues {
                field_id: *field_id,
                values: v.clone(),
            }),
            (None, Some(i)) => {
                e.fields.remove(i);
            }
            (None, None) => {}
        }
    }
    if let Some(set) = set {
        e.tags.clear();
        for t in set {
            if !e.tags.contains(&t) {
                e.tags.push(t);
            }
        }
    }
    for t in add {
        if !e.tags.contains(&t) {
            e.tags.push(t);
        }
    }
    e.tags.retain(|t| !del.contains(t));
    e.reindex();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create { with_ids: bool },
    Update,
}

fn prepare_all(
    crm: &Crm,
    kind: Kind,
    items: &[Value],
    mode: Mode,
) -> Result<Vec<Prepared>, ItemErrors> {
    let mut ok = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let (p, mut errs) = prepare(crm, kind, item, i, mode);
        if let Some(id) = p.id
            && !seen_ids.insert(id)
        {
            errs.push(FieldError::new(
                "Duplicate",
                "id",
                "The same id appears twice in one request.",
            ));
        }
        if errs.is_empty() {
            ok.push(p);
        } else {
            bad.push((p.request_id, errs));
        }
    }
    if bad.is_empty() { Ok(ok) } else { Err(bad) }
}

fn prepare(
    crm: &Crm,
    kind: Kind,
    item: &Value,
    index: usize,
    mode: Mode,
) -> (Prepared, Vec<FieldError>) {
    let mut p = Prepared {
        request_id: request_id(item, index),
        ..Prepared::default()
    };
    if !item.is_object() {
        let not_object = FieldError::new("InvalidType", "", "Each item should be an object.");
        return (p, vec![not_object]);
    }
    let mut f = Fields {
        item,
        errs: Vec::new(),
    };
    let current = target(crm, kind, mode, &mut f, &mut p);
    own_values(crm, kind, mode, current, &mut f, &mut p);
    let custom = item.get("custom_fields_values").unwrap_or(&Value::Null);
    let (fw, ferrs) = fields::parse(crm, kind, custom);
    p.fields = fw;
    f.errs.extend(ferrs);
    tags(crm, kind, item, &mut p, &mut f.errs);
    if matches!(mode, Mode::Create { .. }) {
        links(crm, kind, item, &mut p, &mut f.errs);
    }
    (p, f.errs)
}

/// An item's own values read with amoCRM's type checks: one that does not read is an
/// error, a null or missing one is none.
struct Fields<'v> {
    item: &'v Value,
    errs: Vec<FieldError>,
}

impl Fields<'_> {
    fn present(&self, key: &str) -> Option<&Value> {
        self.item.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&mut self, key: &str, ty: &str) {
        let detail = format!("This value should be of type {ty}.");
        self.errs.push(FieldError::new("InvalidType", key, detail));
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        let v = self.present(key)?.as_i64();
        if v.is_none() {
            self.wrong(key, "int");
        }
        v
    }

    fn id(&mut self, key: &str) -> Option<u64> {
        let v = as_u64(self.present(key)?);
        if v.is_none() {
            self.wrong(key, "int");
        }
        v
    }

    fn text(&mut self, key: &str) -> Option<String> {
        let v = self.present(key)?.as_str().map(str::to_string);
        if v.is_none() {
            self.wrong(key, "string");
        }
        v
    }
}

/// The entity an update changes (its id must exist), or the id a seed's create restores
/// (it must be free).
fn target<'c>(
    crm: &'c Crm,
    kind: Kind,
    mode: Mode,
    f: &mut Fields<'_>,
    p: &mut Prepared,
) -> Option<&'c Entity> {
    match mode {
        Mode::Update => {
            let Some(id) = f.id("id") else {
                if f.item.get("id").is_none() {
                    f.errs
                        .push(FieldError::new("NotBlank", "id", "id is required."));
                }
                return None;
            };
            let current = crm.entity(kind, id);
            match current {
                Some(_) => p.id = Some(id),
                None => f.errs.push(FieldError::new(
                    "NotFound",
                    "id",
                    format!("There is no {} with id {id}.", kind.segment()),
                )),
            }
            current
        }
        Mode::Create { with_ids: true } => {
            p.id = f.id("id");
            if let Some(id) = p.id
                && Kind::ALL.iter().any(|k| crm.entity(*k, id).is_some())
            {
                f.errs
                    .push(FieldError::new("Duplicate", "id", "This id is taken."));
            }
            None
        }
        Mode::Create { with_ids: false } => None,
    }
}

/// Name, owner, times, and a lead's price and stage.
fn own_values(
    crm: &Crm,
    kind: Kind,
    mode: Mode,
    current: Option<&Entity>,
    f: &mut Fields<'_>,
    p: &mut Prepared,
) {
    p.name = f.text("name");
    if kind == Kind::Contacts {
        p.first_name = f.text("first_name");
        p.last_name = f.text("last_name");
    }
    p.responsible_user_id = f.id("responsible_user_id");
    if let Some(id) = p.responsible_user_id {
        // A seed restores what the account held: an entity may belong to a manager who
        // has left since, which only a new write may not name.
        let restored = mode == Mode::Create { with_ids: true };
        super::people::check_responsible(crm, id, restored, &mut f.errs);
    }
    p.created_at = f.int("created_at");
    p.updated_at = f.int("updated_at");
    if kind == Kind::Leads {
        p.price = f.int("price");
        let pipeline_id = f.id("pipeline_id");
        let status_id = f.id("status_id");
        resolve_status(crm, current, pipeline_id, status_id, p, &mut f.errs);
    }
}

/// The tags set whole (`_embedded.tags`), added and removed.
fn tags(crm: &Crm, kind: Kind, item: &Value, p: &mut Prepared, errs: &mut Vec<FieldError>) {
    if let Some(tags) = item.get("_embedded").and_then(|e| e.get("tags")) {
        p.tags_set = Some(tag_refs(crm, kind, tags, "_embedded.tags", errs));
    }
    if let Some(tags) = item.get("tags_to_add") {
        p.tags_add = tag_refs(crm, kind, tags, "tags_to_add", errs);
    }
    if let Some(tags) = item.get("tags_to_delete") {
        p.tags_del = tag_refs(crm, kind, tags, "tags_to_delete", errs);
    }
}

/// What a new entity is linked to: a lead's contacts, a contact's or lead's companies.
fn links(crm: &Crm, kind: Kind, item: &Value, p: &mut Prepared, errs: &mut Vec<FieldError>) {
    let embedded = item.get("_embedded");
    // Only leads take contacts on create; a company's contacts (as /_sandbox/state shows
    // them) are the other side of the contacts' own links.
    if kind == Kind::Leads
        && let Some(list) = embedded.and_then(|e| e.get("contacts"))
    {
        for (i, id) in linked_ids(crm, Kind::Contacts, list, "_embedded.contacts", errs) {
            let main = (list.get(i))
                .and_then(|c| c.get("is_main"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            p.contacts.push((id, main));
        }
    }
    if kind != Kind::Companies
        && let Some(list) = embedded.and_then(|e| e.get("companies"))
    {
        p.companies = linked_ids(crm, Kind::Companies, list, "_embedded.companies", errs)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        if kind == Kind::Contacts && p.companies.len() > 1 {
            errs.push(FieldError::new(
                "InvalidType",
                "_embedded.companies",
                "A contact can be linked to one company only.",
            ));
        }
    }
}

/// A lead's pipeline and status: the status must be in the pipeline; 142/143 are in all.
fn resolve_status(
    crm: &Crm,
    current: Option<&Entity>,
    pipeline_id: Option<u64>,
    status_id: Option<u64>,
    p: &mut Prepared,
    errs: &mut Vec<FieldError>,
) {
    let pipeline = match (pipeline_id, current) {
        (Some(id), _) => match crm.pipeline(id) {
            Some(pl) => pl,
            None => {
                errs.push(FieldError::new(
                    "NotSupportedChoice",
                    "pipeline_id",
                    format!("Pipeline {id} does not exist."),
                ));
                return;
            }
        },
        (None, Some(cur)) => match crm.pipeline(cur.pipeline_id) {
            Some(pl) => pl,
            None => return,
        },
        (None, None) => match crm.main_pipeline() {
            Some(pl) => pl,
            None => return,
        },
    };
    let status = match status_id {
        Some(s) if pipeline.has_status(s) => s,
        Some(s) => {
            errs.push(FieldError::new(
                "NotSupportedChoice",
                "status_id",
                format!(
                    "Status {s} is not in pipeline {}; use a status of that pipeline.",
                    pipeline.id
                ),
            ));
            return;
        }
        // An update that does not move the lead keeps its status.
        None => match current {
            Some(cur) if cur.pipeline_id == pipeline.id && pipeline.has_status(cur.status_id) => {
                cur.status_id
            }
            _ => pipeline.first_open_status(),
        },
    };
    if current.is_none() || pipeline_id.is_some() || status_id.is_some() {
        p.pipeline_id = Some(pipeline.id);
        p.status_id = Some(status);
    }
}

fn tag_refs(
    crm: &Crm,
    kind: Kind,
    tags: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Vec<TagRef> {
    let mut out = Vec::new();
    let Some(list) = tags.as_array() else {
        if !tags.is_null() {
            errs.push(FieldError::new(
                "InvalidType",
                path,
                "This value should be of type array.",
            ));
        }
        return out;
    };
    for (i, t) in list.iter().enumerate() {
        let name = match t {
            Value::String(s) => Some(s.as_str()),
            _ => t.get("name").and_then(Value::as_str),
        };
        match (name, t.get("id").and_then(as_u64)) {
            (Some(n), _) if !n.trim().is_empty() => out.push(TagRef::Name(n.to_string())),
            (_, Some(id)) if crm.tag_by_id(kind, id).is_some() => out.push(TagRef::Id(id)),
            (_, Some(id)) => errs.push(FieldError::new(
                "NotFound",
                format!("{path}.{i}.id"),
                format!("There is no {} tag with id {id}.", kind.segment()),
            )),
            _ => errs.push(FieldError::new(
                "NotBlank",
                format!("{path}.{i}.name"),
                "A tag needs a name or an id.",
            )),
        }
    }
    out
}

/// Ids of existing entities to link, with their index in the list.
fn linked_ids(
    crm: &Crm,
    to: Kind,
    list: &Value,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    let Some(list) = list.as_array() else {
        errs.push(FieldError::new(
            "InvalidType",
            path,
            "This value should be of type array.",
        ));
        return out;
    };
    for (i, item) in list.iter().enumerate() {
        match item.get("id").and_then(as_u64) {
            Some(id) if crm.entity(to, id).is_some() => out.push((i, id)),
            Some(id) => errs.push(FieldError::new(
                "NotFound",
                format!("{path}.{i}.id"),
                format!("There is no {} with id {id}.", to.segment()),
            )),
            None => errs.push(FieldError::new(
                "InvalidType",
                format!("{path}.{i}.id"),
                "This value should be of type int.",
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use serde_json::json;

    #[test]
    fn a_batch_with_one_bad_item_changes_nothing() {
        let mut crm = default_crm();
        let err = create(
            &mut crm,
            Kind::Contacts,
            &[
                json!({"name": "ok"}),
                json!({"name": "bad", "request_id": "b", "custom_fields_values": [{"field_id": 812346, "values": [{"value": "nope"}]}]}),
            ],
            false,
        )
        .expect_err("rejected");
        assert_eq!(err[0].0, "b");
        assert!(crm.entities[Kind::Contacts.idx()].is_empty());
    }

    #[test]
    fn leads_land_in_the_main_pipeline_and_statuses_are_checked() {
        let mut crm = default_crm();
        let w = create(
            &mut crm,
            Kind::Leads,
            &[json!({"name": "a"}), json!({"status_id": 142})],
            false,
        )
        .expect("created");
        let a = crm.entity(Kind::Leads, w[0].id).expect("lead");
        assert_eq!((a.pipeline_id, a.status_id), (7000001, 7000100));
        let b = crm.entity(Kind::Leads, w[1].id).expect("lead");
        assert_eq!((b.pipeline_id, b.status_id), (7000001, 142));
        let err = create(
            &mut crm,
            Kind::Leads,
            &[json!({"pipeline_id": 7000002, "status_id": 7000101})],
            false,
        )
        .expect_err("status of another pipeline");
        assert_eq!(err[0].1[0].path, "status_id");
        // Moving to another pipeline without a status takes its first open status.
        update(
            &mut crm,
            Kind::Leads,
            &[json!({"id": w[0].id, "pipeline_id": 7000002})],
        )
        .expect("moved");
        let a = crm.entity(Kind::Leads, w[0].id).expect("lead");
        assert_eq!((a.pipeline_id, a.status_id), (7000002, 7000200));
    }

    #[test]
    fn patch_replaces_named_fields_and_keeps_the_rest() {
        let mut crm = default_crm();
        let w = create(
            &mut crm,
            Kind::Companies,
            &[json!({"name": "c", "custom_fields_values": [
                {"field_id": 815001, "values": [{"value": "7701"}]},
                {"field_id": 815002, "values": [{"value": "7702"}]}]})],
            false,
        )
        .expect("created");
        update(
            &mut crm,
            Kind::Companies,
            &[json!({"id": w[0].id, "custom_fields_values": [
                {"field_id": 815001, "values": [{"value": "9999"}]},
                {"field_id": 815002, "values": null}]})],
        )
        .expect("updated");
        let c = crm.entity(Kind::Companies, w[0].id).expect("company");
        assert_eq!(c.fields.len(), 1);
        assert_eq!(c.fields[0].values[0]["value"], "9999");
        let err = update(&mut crm, Kind::Companies, &[json!({"id": 1})]).expect_err("unknown");
        assert_eq!(err[0].1[0].code, "NotFound");
    }
}
