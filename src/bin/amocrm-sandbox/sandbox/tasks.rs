//! Tasks: `POST`, `PATCH` and `GET /api/v4/tasks`, `GET /api/v4/tasks/{id}`. A task may
//! name an entity (`entity_type` + `entity_id`), which must exist, and a responsible user,
//! who must be active; a `PATCH` with `is_completed` and `result.text` closes one.

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
use super::state::{Crm, Kind, Task, USER_ID};
use super::write::now;

/// `/api/v4/tasks...`; `rest` is what follows `tasks`.
pub fn route(crm: &mut Crm, m: &str, rest: &[&str], req: &Request, base: &str) -> Response {
    match (m, rest) {
        ("GET", []) => list(crm, req, base),
        ("POST", []) => with_array(req, |items| create(crm, items, base)),
        ("PATCH", []) => with_array(req, |items| update(crm, items, base)),
        ("GET", [id]) => match parse_id(id) {
            Some(id) => match crm.tasks.get(&id) {
                Some(t) => Response::hal(200, &render(crm, t, base)),
                None => Response::no_content(),
            },
            None => problem::not_found(),
        },
        _ => problem::not_found(),
    }
}

/// A task as `GET /api/v4/tasks` shows one.
pub fn render(crm: &Crm, t: &Task, base: &str) -> Value {
    json!({
        "id": t.id,
        "created_by": USER_ID,
        "updated_by": USER_ID,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "responsible_user_id": t.responsible_user_id,
        "group_id": 0,
        "entity_id": t.entity.map(|e| e.1),
        "entity_type": t.entity.map(|e| e.0.segment()),
        "duration": 0,
        "is_completed": t.is_completed,
        "task_type_id": t.task_type_id,
        "text": t.text,
        // amoCRM shows a task without a result as an empty list, not as null.
        "result": t.result.as_ref().map_or(json!([]), |r| json!({ "text": r })),
        "complete_till": t.complete_till,
        "account_id": crm.account.id,
        "_links": href(base, &format!("/api/v4/tasks/{}", t.id)),
    })
}

fn create(crm: &mut Crm, items: &[Value], base: &str) -> Response {
    let drafts = match check_each(items, |item| draft(crm, item)) {
        Ok(d) => d,
        Err(bad) => return problem::validation_failed(&bad),
    };
    let now = now();
    let mut out = Vec::with_capacity(drafts.len());
    for (i, mut t) in drafts.into_iter().enumerate() {
        t.id = crm.new_id();
        (t.created_at, t.updated_at) = (now, now);
        out.push(written(t.id, &request_id(&items[i], i), None, base));
        crm.tasks.insert(t.id, t);
    }
    answer(out, base)
}

/// A new task from one item, or what is wrong with it.
fn draft(crm: &Crm, item: &Value) -> Result<Task, Vec<FieldError>> {
    let mut errs = Vec::new();
    let text = text(item, &mut errs);
    if text.is_none() && !errs.iter().any(|e| e.path == "text") {
        errs.push(FieldError::new("NotBlank", "text", "text is required."));
    }
    let complete_till = item.get("complete_till").and_then(Value::as_i64);
    if complete_till.is_none() {
        errs.push(FieldError::new(
            "InvalidType",
            "complete_till",
            "complete_till is required, a unix timestamp.",
        ));
    }
    let entity = entity(crm, item, &mut errs);
    let task_type_id = match item.get("task_type_id").filter(|v| !v.is_null()) {
        None => Some(1),
        Some(v) => as_u64(v).or_else(|| invalid(&mut errs, "task_type_id", "int")),
    };
    let responsible = people::responsible(crm, item, &mut errs);
    let (Some(text), Some(complete_till), Some(task_type_id), true) =
        (text, complete_till, task_type_id, errs.is_empty())
    else {
        return Err(errs);
    };
    Ok(Task {
        id: 0,
        text,
        complete_till,
        entity,
        task_type_id,
        responsible_user_id: responsible.unwrap_or(USER_ID),
        is_completed: false,
        result: None,
        created_at: 0,
        updated_at: 0,
    })
}

/// `text` when given: a string with something in it.
fn text(item: &Value, errs: &mut Vec<FieldError>) -> Option<String> {
    match item.get("text").filter(|v| !v.is_null())? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => {
            errs.push(FieldError::new(
                "NotBlank",
                "text",
                "text must not be blank.",
            ));
            None
        }
    }
}

fn invalid<T>(errs: &mut Vec<FieldError>, path: &str, kind: &str) -> Option<T> {
    errs.push(FieldError::new(
        "InvalidType",
        path,
        format!("This value should be of type {kind}."),
    ));
    None
}

/// The entity a task names: both `entity_type` and `entity_id`, or neither.
fn entity(crm: &Crm, item: &Value, errs: &mut Vec<FieldError>) -> Option<(Kind, u64)> {
    let given = |key: &str| item.get(key).filter(|v| !v.is_null());
    let (kind, id) = (given("entity_type"), given("entity_id"));
    if kind.is_none() && id.is_none() {
        return None;
    }
    let Some(kind) = kind.and_then(Value::as_str).and_then(Kind::parse) else {
        errs.push(FieldError::new(
            "NotSupportedChoice",
            "entity_type",
            "entity_type must be contacts, companies or leads.",
        ));
        return None;
    };
    let Some(id) = id.and_then(as_u64) else {
        errs.push(FieldError::new(
            "NotBlank",
            "entity_id",
            "entity_id is required with entity_type, an id.",
        ));
        return None;
    };
    if crm.entity(kind, id).is_none() {
        errs.push(FieldError::new(
            "NotFound",
            "entity_id",
            format!("There is no {} with id {id}.", kind.segment()),
        ));
    }
    Some((kind, id))
}

/// What a `PATCH` item changes of one task.
#[derive(Debug, Default)]
struct Change {
    id: u64,
    text: Option<String>,
    complete_till: Option<i64>,
    is_completed: Option<bool>,
    result: Option<String>,
    responsible_user_id: Option<u64>,
}

fn update(crm: &mut Crm, items: &[Value], base: &str) -> Response {
    let checked = check_each_once(items, |c: &Change| c.id, |item| change(crm, item));
    let changes = match checked {
        Ok(c) => c,
        Err(bad) => return problem::validation_failed(&bad),
    };
    let now = now();
    let mut out = Vec::with_capacity(changes.len());
    for (i, c) in changes.into_iter().enumerate() {
        if let Some(t) = crm.tasks.get_mut(&c.id) {
            apply(t, c, now);
            out.push(written(t.id, &request_id(&items[i], i), Some(now), base));
        }
    }
    answer(out, base)
}

fn apply(t: &mut Task, c: Change, now: i64) {
    t.text = c.text.unwrap_or(std::mem::take(&mut t.text));
    t.complete_till = c.complete_till.unwrap_or(t.complete_till);
    t.is_completed = c.is_completed.unwrap_or(t.is_completed);
    t.result = c.result.or(t.result.take());
    t.responsible_user_id = c.responsible_user_id.unwrap_or(t.responsible_user_id);
    t.updated_at = now;
}

/// One `PATCH` item checked: an existing `id`, and well-typed values for what it changes.
fn change(crm: &Crm, item: &Value) -> Result<Change, Vec<FieldError>> {
    let mut errs = Vec::new();
    let id = match item.get("id").and_then(as_u64) {
        Some(id) if crm.tasks.contains_key(&id) => id,
        Some(id) => {
            let detail = format!("There is no task with id {id}.");
            return Err(vec![FieldError::new("NotFound", "id", detail)]);
        }
        None => return Err(vec![FieldError::new("NotBlank", "id", "id is required.")]),
    };
    let given = |key: &str| item.get(key).filter(|v| !v.is_null());
    let c = Change {
        id,
        text: text(item, &mut errs),
        complete_till: given("complete_till").and_then(|v| {
            v.as_i64()
                .or_else(|| invalid(&mut errs, "complete_till", "int"))
        }),
        is_completed: given("is_completed").and_then(|v| {
            v.as_bool()
                .or_else(|| invalid(&mut errs, "is_completed", "bool"))
        }),
        result: given("result").and_then(|v| {
            let text = v.get("text").and_then(Value::as_str).map(str::to_string);
            text.or_else(|| invalid(&mut errs, "result.text", "string"))
        }),
        responsible_user_id: people::responsible(crm, item, &mut errs),
    };
    if errs.is_empty() { Ok(c) } else { Err(errs) }
}

/// One item of a write's answer; `updated_at` only in an update's.
fn written(id: u64, request_id: &str, updated_at: Option<i64>, base: &str) -> Value {
    let mut v = json!({
        "id": id,
        "request_id": request_id,
        "_links": href(base, &format!("/api/v4/tasks/{id}")),
    });
    if let Some(at) = updated_at {
        v["updated_at"] = json!(at);
    }
    v
}

fn answer(items: Vec<Value>, base: &str) -> Response {
    Response::hal(
        200,
        &json!({ "_links": href(base, "/api/v4/tasks"), "_embedded": { "tasks": items } }),
    )
}

/// `GET /api/v4/tasks` with `filter[entity_type]`, `filter[entity_id][]`,
/// `filter[is_completed]` (0 or 1), `filter[responsible_user_id][]` and `filter[id][]`.
fn list(crm: &Crm, req: &Request, base: &str) -> Response {
    let completed = match req.query_param("filter[is_completed]").as_deref() {
        None => None,
        Some("1" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(_) => return problem::bad_request("filter[is_completed] takes 0 or 1"),
    };
    let types = filter_values(req, "filter[entity_type]");
    let entity_ids = filter_ids(req, "filter[entity_id]");
    let users = filter_ids(req, "filter[responsible_user_id]");
    let ids = filter_ids(req, "filter[id]");
    let within = |list: &Option<Vec<u64>>, v: Option<u64>| {
        list.as_ref()
            .is_none_or(|l| v.is_some_and(|v| l.contains(&v)))
    };
    let found: Vec<&Task> = crm
        .tasks
        .values()
        .filter(|t| completed.is_none_or(|c| t.is_completed == c))
        .filter(|t| {
            let seg = t.entity.map(|e| e.0.segment().to_string());
            types
                .as_ref()
                .is_none_or(|l| seg.is_some_and(|s| l.contains(&s)))
        })
        .filter(|t| within(&entity_ids, t.entity.map(|e| e.1)))
        .filter(|t| within(&users, Some(t.responsible_user_id)) && within(&ids, Some(t.id)))
        .collect();
    let limit = paging(req).1;
    hal_list((req, base), "tasks", &found, limit, |t| {
        render(crm, t, base)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use crate::sandbox::state::FORMER;

    #[test]
    fn a_task_is_checked_whole_before_it_is_made() {
        let crm = default_crm();
        let errs = draft(
            &crm,
            &json!({"text": " ", "entity_type": "customers", "entity_id": 1,
                "responsible_user_id": FORMER}),
        )
        .expect_err("refused");
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "text",
                "complete_till",
                "entity_type",
                "responsible_user_id"
            ]
        );
        let t = draft(&crm, &json!({"text": "Позвонить", "complete_till": 1})).expect("ok");
        assert_eq!((t.task_type_id, t.responsible_user_id), (1, USER_ID));
        assert_eq!(t.entity, None);
    }

    #[test]
    fn a_patch_closes_a_task_with_its_result() {
        let mut crm = default_crm();
        let mut t = draft(&crm, &json!({"text": "a", "complete_till": 5})).expect("ok");
        t.id = 77;
        crm.tasks.insert(77, t);
        let c = change(
            &crm,
            &json!({"id": 77, "is_completed": true, "result": {"text": "done"}}),
        )
        .expect("ok");
        let t = crm.tasks.get_mut(&77).expect("task");
        apply(t, c, 9);
        assert!(t.is_completed);
        assert_eq!((t.result.as_deref(), t.updated_at), (Some("done"), 9));
        assert_eq!(t.text, "a", "what the patch does not name stays");
        let errs = change(&crm, &json!({"id": 78})).expect_err("unknown");
        assert_eq!((errs[0].code, errs[0].path.as_str()), ("NotFound", "id"));
        let errs = change(&crm, &json!({"id": 77, "is_completed": "yes"})).expect_err("bad");
        assert_eq!(errs[0].path, "is_completed");
    }
}
