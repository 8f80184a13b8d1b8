//! Notes on contacts, companies and leads: `POST`, `PATCH` and `GET /api/v4/{entity}/notes`
//! (also under `/{entity}/{id}/notes`), `GET /api/v4/{entity}/notes/{id}`. A note is
//! `common` (`params.text`) or a system line, `service_message` or
//! `extended_service_message` (`params.service` and `params.text`). `request_id` is only
//! echoed: a note sent again is a second note, as in amoCRM.

use serde_json::{Value, json};

use super::endpoint::{
    check_each, check_each_once, filter_ids, filter_values, hal_list, paging, parse_id, request_id,
    with_array,
};
use super::fields::as_u64;
use super::http::{Request, Response};
use super::people;
use super::problem::{self, FieldError};
use super::render::href;
use super::state::{Crm, Kind, Note, USER_ID};
use super::write::now;

/// `/api/v4/{entity}/notes...` (`owner` None) or `/api/v4/{entity}/{owner}/notes...`;
/// `rest` is what follows `notes`.
pub fn route(
    crm: &mut Crm,
    kind: Kind,
    owner: Option<u64>,
    m: &str,
    rest: &[&str],
    req: &Request,
    base: &str,
) -> Response {
    match (m, rest) {
        ("GET", []) => list(crm, kind, owner, req, base),
        ("POST", []) => with_array(req, |items| create(crm, kind, owner, items, base)),
        ("PATCH", []) => with_array(req, |items| update(crm, kind, owner, items, base)),
        ("GET", [id]) => match parse_id(id).and_then(|id| find(crm, kind, owner, id)) {
            Some(n) => Response::hal(200, &render(crm, n, base)),
            None if parse_id(id).is_some() => Response::no_content(),
            None => problem::not_found(),
        },
        _ => problem::not_found(),
    }
}

/// A note of this entity type (and of `owner`, when the path names one).
fn find(crm: &Crm, kind: Kind, owner: Option<u64>, id: u64) -> Option<&Note> {
    crm.notes
        .get(&id)
        .filter(|n| n.kind == kind && owner.is_none_or(|o| n.entity_id == o))
}

fn link(kind: Kind, entity_id: u64, id: u64, base: &str) -> Value {
    href(
        base,
        &format!("/api/v4/{}/{entity_id}/notes/{id}", kind.segment()),
    )
}

/// A note as `GET /api/v4/{entity}/notes` shows one.
pub fn render(crm: &Crm, n: &Note, base: &str) -> Value {
    json!({
        "id": n.id,
        "entity_id": n.entity_id,
        "created_by": USER_ID,
        "updated_by": USER_ID,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "responsible_user_id": n.responsible_user_id,
        "group_id": 0,
        "note_type": n.note_type,
        "params": n.params,
        "account_id": crm.account.id,
        "_links": link(n.kind, n.entity_id, n.id, base),
    })
}

/// Every note, for `/_sandbox/state`: as the API shows it, with its entity type.
pub fn state(crm: &Crm, base: &str) -> Value {
    crm.notes
        .values()
        .map(|n| {
            let mut v = render(crm, n, base);
            v["entity_type"] = json!(n.kind.segment());
            v
        })
        .collect()
}

/// What `params` a note type needs, each a non-blank string.
fn check_params(note_type: &str, params: &Value, errs: &mut Vec<FieldError>) {
    let needs: &[&str] = match note_type {
        "common" => &["text"],
        "service_message" | "extended_service_message" => &["service", "text"],
        _ => {
            errs.push(FieldError::new(
                "NotSupportedChoice",
                "note_type",
                "note_type must be common, service_message or extended_service_message.",
            ));
            return;
        }
    };
    for key in needs {
        let value = params.get(key).and_then(Value::as_str);
        if value.is_none_or(|s| s.trim().is_empty()) {
            let path = format!("params.{key}");
            let detail = format!("{path} is required for a {note_type} note.");
            errs.push(FieldError::new("NotBlank", path, detail));
        }
    }
}

fn create(crm: &mut Crm, kind: Kind, owner: Option<u64>, items: &[Value], base: &str) -> Response {
    let drafts = match check_each(items, |item| draft(crm, kind, owner, item)) {
        Ok(d) => d,
        Err(bad) => return problem::validation_failed(&bad),
    };
    let now = now();
    let mut out = Vec::with_capacity(drafts.len());
    for (i, mut n) in drafts.into_iter().enumerate() {
        n.id = crm.new_id();
        (n.created_at, n.updated_at) = (now, now);
        out.push(written(&n, &request_id(&items[i], i), None, base));
        crm.notes.insert(n.id, n);
    }
    answer(kind, out, base)
}

/// A new note from one item (its entity from the path when the path names one).
fn draft(crm: &Crm, kind: Kind, owner: Option<u64>, item: &Value) -> Result<Note, Vec<FieldError>> {
    let mut errs = Vec::new();
    let entity_id = entity(crm, kind, owner, item, &mut errs);
    let note_type = item.get("note_type").and_then(Value::as_str);
    let params = item.get("params").cloned().unwrap_or(Value::Null);
    match note_type {
        None => errs.push(FieldError::new(
            "NotBlank",
            "note_type",
            "note_type is required.",
        )),
        Some(t) => check_params(t, &params, &mut errs),
    }
    let responsible = people::responsible(crm, item, &mut errs);
    let (Some(entity_id), Some(note_type), true) = (entity_id, note_type, errs.is_empty()) else {
        return Err(errs);
    };
    Ok(Note {
        id: 0,
        kind,
        entity_id,
        note_type: note_type.to_string(),
        params,
        responsible_user_id: responsible.unwrap_or(USER_ID),
        created_at: 0,
        updated_at: 0,
    })
}

/// The entity a new note goes on: it must exist.
fn entity(
    crm: &Crm,
    kind: Kind,
    owner: Option<u64>,
    item: &Value,
    errs: &mut Vec<FieldError>,
) -> Option<u64> {
    let Some(id) = owner.or_else(|| item.get("entity_id").and_then(as_u64)) else {
        let detail = "entity_id is required.";
        errs.push(FieldError::new("NotBlank", "entity_id", detail));
        return None;
    };
    if crm.entity(kind, id).is_none() {
        let detail = format!("There is no {} with id {id}.", kind.segment());
        errs.push(FieldError::new("NotFound", "entity_id", detail));
    }
    Some(id)
}

/// What a `PATCH` item changes of one note.
#[derive(Debug)]
struct Change {
    id: u64,
    note_type: Option<String>,
    params: Option<Value>,
    responsible_user_id: Option<u64>,
}

fn update(crm: &mut Crm, kind: Kind, owner: Option<u64>, items: &[Value], base: &str) -> Response {
    let checked = check_each_once(
        items,
        |c: &Change| c.id,
        |item| change(crm, kind, owner, item),
    );
    let changes = match checked {
        Ok(c) => c,
        Err(bad) => return problem::validation_failed(&bad),
    };
    let now = now();
    let mut out = Vec::with_capacity(changes.len());
    for (i, c) in changes.into_iter().enumerate() {
        if let Some(n) = crm.notes.get_mut(&c.id) {
            n.note_type = c.note_type.unwrap_or(std::mem::take(&mut n.note_type));
            n.params = c.params.unwrap_or(n.params.take());
            n.responsible_user_id = c.responsible_user_id.unwrap_or(n.responsible_user_id);
            n.updated_at = now;
            out.push(written(n, &request_id(&items[i], i), Some(now), base));
        }
    }
    answer(kind, out, base)
}

/// One `PATCH` item checked: a note of this entity type, and a type and `params` that go
/// together once the change is made.
fn change(
    crm: &Crm,
    kind: Kind,
    owner: Option<u64>,
    item: &Value,
) -> Result<Change, Vec<FieldError>> {
    let current = match item.get("id").and_then(as_u64) {
        Some(id) => find(crm, kind, owner, id).ok_or_else(|| {
            let detail = format!("There is no {} note with id {id}.", kind.segment());
            vec![FieldError::new("NotFound", "id", detail)]
        })?,
        None => return Err(vec![FieldError::new("NotBlank", "id", "id is required.")]),
    };
    let mut errs = Vec::new();
    let given = |key: &str| item.get(key).filter(|v| !v.is_null());
    let note_type = given("note_type").map(|v| v.as_str().unwrap_or_default().to_string());
    let params = given("params").cloned();
    if params.as_ref().is_some_and(|p| !p.is_object()) {
        let detail = "This value should be of type object.";
        errs.push(FieldError::new("InvalidType", "params", detail));
    } else if note_type.is_some() || params.is_some() {
        let t = note_type.as_deref().unwrap_or(&current.note_type);
        check_params(t, params.as_ref().unwrap_or(&current.params), &mut errs);
    }
    let responsible_user_id = people::responsible(crm, item, &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Change {
        id: current.id,
        note_type,
        params,
        responsible_user_id,
    })
}

/// One item of a write's answer; `updated_at` only in an update's.
fn written(n: &Note, request_id: &str, updated_at: Option<i64>, base: &str) -> Value {
    let mut v = json!({
        "id": n.id,
        "entity_id": n.entity_id,
        "request_id": request_id,
        "_links": link(n.kind, n.entity_id, n.id, base),
    });
    if let Some(at) = updated_at {
        v["updated_at"] = json!(at);
    }
    v
}

fn answer(kind: Kind, items: Vec<Value>, base: &str) -> Response {
    Response::hal(
        200,
        &json!({
            "_links": href(base, &format!("/api/v4/{}/notes", kind.segment())),
            "_embedded": { "notes": items },
        }),
    )
}

/// The notes of one entity type, oldest first, with `filter[entity_id][]` (or the entity the
/// path names), `filter[note_type][]` and `filter[id][]`.
fn list(crm: &Crm, kind: Kind, owner: Option<u64>, req: &Request, base: &str) -> Response {
    let entity_ids = match owner {
        Some(id) => Some(vec![id]),
        None => filter_ids(req, "filter[entity_id]"),
    };
    let types = filter_values(req, "filter[note_type]");
    let ids = filter_ids(req, "filter[id]");
    let found: Vec<&Note> = crm
        .notes
        .values()
        .filter(|n| n.kind == kind)
        .filter(|n| entity_ids.as_ref().is_none_or(|l| l.contains(&n.entity_id)))
        .filter(|n| types.as_ref().is_none_or(|l| l.contains(&n.note_type)))
        .filter(|n| ids.as_ref().is_none_or(|l| l.contains(&n.id)))
        .collect();
    let limit = paging(req).1;
    hal_list((req, base), "notes", &found, limit, |n| {
        render(crm, n, base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use crate::sandbox::write;

    fn crm_with_contact() -> (Crm, u64) {
        let mut crm = default_crm();
        let w = write::create(&mut crm, Kind::Contacts, &[json!({"name": "c"})], false)
            .expect("contact");
        (crm, w[0].id)
    }

    #[test]
    fn each_note_type_needs_its_params() {
        let (crm, id) = crm_with_contact();
        let check = |item: Value| draft(&crm, Kind::Contacts, Some(id), &item);
        assert!(check(json!({"note_type": "common", "params": {"text": "t"}})).is_ok());
        let errs = check(json!({"note_type": "service_message", "params": {"text": "t"}}))
            .expect_err("no service");
        assert_eq!(
            (errs[0].code, errs[0].path.as_str()),
            ("NotBlank", "params.service")
        );
        let errs = check(json!({"note_type": "call_in", "params": {"text": "t"}}))
            .expect_err("not a type the sandbox takes");
        assert_eq!(errs[0].code, "NotSupportedChoice");
        let ok = check(json!({"note_type": "extended_service_message",
            "params": {"service": "billing", "text": "t"}}));
        assert_eq!(ok.expect("ok").entity_id, id);
        let errs = draft(
            &crm,
            Kind::Leads,
            None,
            &json!({"entity_id": id, "note_type": "common",
            "params": {"text": "t"}}),
        )
        .expect_err("a contact's id is no lead");
        assert_eq!(errs[0].code, "NotFound");
    }

    #[test]
    fn a_patch_is_checked_against_the_type_it_leaves() {
        let (mut crm, id) = crm_with_contact();
        let mut n = draft(
            &crm,
            Kind::Contacts,
            Some(id),
            &json!({"note_type": "common",
            "params": {"text": "t"}}),
        )
        .expect("ok");
        n.id = 9;
        crm.notes.insert(9, n);
        let change_of = |item: Value| change(&crm, Kind::Contacts, None, &item);
        assert!(change_of(json!({"id": 9, "params": {"text": "new"}})).is_ok());
        let errs = change_of(json!({"id": 9, "note_type": "service_message"}))
            .expect_err("a common note's params lack service");
        assert_eq!(errs[0].path, "params.service");
        let errs = change(&crm, Kind::Leads, None, &json!({"id": 9})).expect_err("a contact's");
        assert_eq!((errs[0].code, errs[0].path.as_str()), ("NotFound", "id"));
    }
}
