//! The sandbox amoCRM's users, responsible users, tasks and notes, driven over real HTTP:
//! the users list, a deactivated manager refused as responsible, task filters and closing,
//! notes listed, filtered, edited and checked by type, and the faults on these calls.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{AUTH_CODE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SANDBOX, Sandbox};

/// The user who authorized the integration, two active managers, one who left.
const OWNER: u64 = 504141;
const MANAGER_1: u64 = 504142;
const MANAGER_2: u64 = 504143;
const FORMER: u64 = 504144;

/// An answer: status, raw body, and the body parsed (Null when empty or not JSON).
struct Answer {
    status: u16,
    text: String,
    body: Value,
}

/// One API call with the token; `Err` when the connection closed without an answer.
fn try_call(
    sb: &Sandbox,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Answer, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!("{}{}", sb.url, path);
    let auth = format!("Bearer {token}");
    let mut resp = match method {
        "GET" => agent.get(&url).header("Authorization", &auth).call()?,
        m => {
            let r = match m {
                "POST" => agent.post(&url),
                "PATCH" => agent.patch(&url),
                other => panic!("method {other}"),
            };
            r.header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.map(Value::to_string).unwrap_or_default())?
        }
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, text, body })
}

fn get(sb: &Sandbox, t: &str, path: &str) -> Answer {
    try_call(sb, "GET", path, t, None).expect("the sandbox answers")
}

fn post(sb: &Sandbox, t: &str, path: &str, body: Value) -> Answer {
    try_call(sb, "POST", path, t, Some(&body)).expect("the sandbox answers")
}

fn patch(sb: &Sandbox, t: &str, path: &str, body: Value) -> Answer {
    try_call(sb, "PATCH", path, t, Some(&body)).expect("the sandbox answers")
}

/// An unlimited sandbox and an access token for it.
fn start() -> (Sandbox, String) {
    start_with(&["--rate", "0"])
}

fn start_with(flags: &[&str]) -> (Sandbox, String) {
    let sb = Sandbox::start(flags);
    let grant = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT_URI,
        "grant_type": "authorization_code", "code": AUTH_CODE,
    });
    let (status, text) = sb.post_json("/oauth2/access_token", &grant);
    assert_eq!(status, 200, "{text}");
    let tokens: Value = serde_json::from_str(&text).expect("tokens");
    let token = tokens["access_token"].as_str().expect("access").to_string();
    (sb, token)
}

/// The ids of `_embedded.{name}` in a list or write answer; none for a 204.
fn ids(a: &Answer, name: &str) -> Vec<u64> {
    a.body["_embedded"][name]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["id"].as_u64()).collect())
        .unwrap_or_default()
}

/// Makes one contact, company, lead (or task) through the API; its id.
fn make(sb: &Sandbox, t: &str, path: &str, item: Value) -> u64 {
    let a = post(sb, t, path, json!([item]));
    assert_eq!(a.status, 200, "{}", a.text);
    let name = path.rsplit('/').next().expect("name");
    ids(&a, name)[0]
}

/// A control call: status and answer.
fn control(sb: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = sb.post_json(path, &body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The first validation error of a refused batch: (request_id, code, path).
fn refusal(a: &Answer) -> (String, String, String) {
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.body["detail"], "Request validation failed", "{}", a.text);
    let item = &a.body["validation-errors"][0];
    let err = &item["errors"][0];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&item["request_id"]), s(&err["code"]), s(&err["path"]))
}

fn counts(sb: &Sandbox) -> Value {
    sb.get_json("/_sandbox/state")["counts"].clone()
}

#[test]
fn users_are_listed_and_read_one_by_one() {
    let (sb, t) = start();
    let all = get(&sb, &t, "/api/v4/users");
    assert_eq!(all.status, 200);
    assert_eq!(ids(&all, "users"), [OWNER, MANAGER_1, MANAGER_2, FORMER]);
    assert_eq!(all.body["_total_items"], 4);
    let users = &all.body["_embedded"]["users"];
    assert_eq!(users[0]["rights"]["is_admin"], true);
    assert_eq!(users[1]["email"], "manager1@example.com");
    assert_eq!(users[1]["lang"], "ru");
    let active: Vec<&Value> = (0..4).map(|i| &users[i]["rights"]["is_active"]).collect();
    assert_eq!(
        active,
        [&json!(true), &json!(true), &json!(true), &json!(false)]
    );

    let first = get(&sb, &t, "/api/v4/users?limit=2");
    assert_eq!(ids(&first, "users"), [OWNER, MANAGER_1]);
    assert!(first.body["_links"]["next"]["href"].is_string());
    let second = get(&sb, &t, "/api/v4/users?limit=2&page=2");
    assert_eq!(ids(&second, "users"), [MANAGER_2, FORMER]);
    let beyond = get(&sb, &t, "/api/v4/users?limit=2&page=3");
    assert_eq!((beyond.status, beyond.text.as_str()), (204, ""));

    let one = get(&sb, &t, &format!("/api/v4/users/{FORMER}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.body["email"], "former@example.com");
    assert_eq!(one.body["rights"]["is_active"], false);
    let unknown = get(&sb, &t, "/api/v4/users/1");
    assert_eq!((unknown.status, unknown.text.as_str()), (204, ""));
    assert_eq!(counts(&sb)["users"], 4);
}

#[test]
fn the_control_adds_and_changes_users_and_a_dump_keeps_them() {
    let (sb, t) = start();
    let (status, added) = control(
        &sb,
        "/_sandbox/users",
        json!({"name": "Новый менеджер", "email": "new@example.com"}),
    );
    assert_eq!(status, 200, "{added}");
    let new_id = added["id"].as_u64().expect("id");
    assert_eq!(added["rights"]["is_active"], true);
    // A contact of a manager who then leaves stays theirs, and so does a dump of it.
    let kept = make(
        &sb,
        &t,
        "/api/v4/contacts",
        json!({"name": "k", "responsible_user_id": MANAGER_1}),
    );
    let (status, changed) = control(
        &sb,
        "/_sandbox/users",
        json!({"id": MANAGER_1, "is_active": false}),
    );
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["email"], "manager1@example.com", "the rest stays");
    let one = get(&sb, &t, &format!("/api/v4/users/{MANAGER_1}"));
    assert_eq!(one.body["rights"]["is_active"], false);
    assert_eq!(ids(&get(&sb, &t, "/api/v4/users"), "users").len(), 5);

    let (status, err) = control(&sb, "/_sandbox/users", json!({"name": "no e-mail"}));
    assert_eq!(status, 400);
    assert!(err["error"].is_string(), "{err}");
    let (status, err) = control(&sb, "/_sandbox/nope", json!({}));
    assert_eq!(status, 404);
    assert!(err["error"].as_str().is_some_and(|e| e.contains("/users")));

    // A dumped state loads back as a seed with its users as they were.
    let dir = tempfile::tempdir().expect("tmp");
    let dump = dir.path().join("dump.json");
    std::fs::write(&dump, sb.get_json("/_sandbox/state").to_string()).expect("write");
    let again = Sandbox::start(&["--seed", dump.to_str().expect("path")]);
    let state = again.get_json("/_sandbox/state");
    assert_eq!(state["contacts"][0]["id"], kept);
    assert_eq!(state["contacts"][0]["responsible_user_id"], MANAGER_1);
    let users = state["users"].clone();
    let active: Vec<(u64, bool)> = users
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            (
                u["id"].as_u64().unwrap_or(0),
                u["rights"]["is_active"] == true,
            )
        })
        .collect();
    assert_eq!(
        active,
        [
            (OWNER, true),
            (MANAGER_1, false),
            (MANAGER_2, true),
            (FORMER, false),
            (new_id, true)
        ]
    );
}

#[test]
fn a_deactivated_user_is_refused_as_responsible_and_nothing_is_stored() {
    let (sb, t) = start();
    let contacts = post(
        &sb,
        &t,
        "/api/v4/contacts",
        json!([{"name": "ok"}, {"name": "Иван", "responsible_user_id": FORMER}]),
    );
    let expected = (
        "1".to_string(),
        "NotSupportedChoice".into(),
        "responsible_user_id".into(),
    );
    assert_eq!(refusal(&contacts), expected);
    let task = post(
        &sb,
        &t,
        "/api/v4/tasks",
        json!([{"text": "Позвонить", "complete_till": 1900000000, "responsible_user_id": FORMER}]),
    );
    assert_eq!(
        refusal(&task),
        (
            "0".into(),
            "NotSupportedChoice".into(),
            "responsible_user_id".into()
        )
    );
    let unknown = post(
        &sb,
        &t,
        "/api/v4/leads",
        json!([{"responsible_user_id": 1}]),
    );
    assert_eq!(refusal(&unknown).1, "NotSupportedChoice");
    let c = counts(&sb);
    assert_eq!(
        (
            c["contacts"].clone(),
            c["leads"].clone(),
            c["tasks"].clone()
        ),
        (json!(0), json!(0), json!(0))
    );

    // A manager deactivated after the fact can no longer be given a contact.
    let id = make(&sb, &t, "/api/v4/contacts", json!({"name": "Пётр"}));
    let (status, _) = control(
        &sb,
        "/_sandbox/users",
        json!({"id": MANAGER_2, "is_active": false}),
    );
    assert_eq!(status, 200);
    let moved = patch(
        &sb,
        &t,
        "/api/v4/contacts",
        json!([{"id": id, "name": "Пётр Петров", "responsible_user_id": MANAGER_2}]),
    );
    assert_eq!(refusal(&moved).2, "responsible_user_id");
    let stored = get(&sb, &t, &format!("/api/v4/contacts/{id}"));
    assert_eq!(stored.body["responsible_user_id"], OWNER);
    assert_eq!(
        stored.body["name"], "Пётр",
        "nothing of the refused PATCH applied"
    );
}

#[test]
fn a_valid_responsible_is_stored_and_shown() {
    let (sb, t) = start();
    let mine = make(&sb, &t, "/api/v4/contacts", json!({"name": "a"}));
    let theirs = make(
        &sb,
        &t,
        "/api/v4/contacts",
        json!({"name": "b", "responsible_user_id": MANAGER_1}),
    );
    let shown = |path: String| get(&sb, &t, &path).body["responsible_user_id"].clone();
    assert_eq!(shown(format!("/api/v4/contacts/{mine}")), OWNER);
    assert_eq!(shown(format!("/api/v4/contacts/{theirs}")), MANAGER_1);
    let a = patch(
        &sb,
        &t,
        &format!("/api/v4/contacts/{mine}"),
        json!({"responsible_user_id": MANAGER_2}),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(shown(format!("/api/v4/contacts/{mine}")), MANAGER_2);

    let company = make(
        &sb,
        &t,
        "/api/v4/companies",
        json!({"name": "c", "responsible_user_id": MANAGER_2}),
    );
    assert_eq!(shown(format!("/api/v4/companies/{company}")), MANAGER_2);
    let lead = make(
        &sb,
        &t,
        "/api/v4/leads",
        json!({"responsible_user_id": MANAGER_1}),
    );
    let list = get(&sb, &t, &format!("/api/v4/leads?filter[id][]={lead}"));
    assert_eq!(
        list.body["_embedded"]["leads"][0]["responsible_user_id"],
        MANAGER_1
    );
    let task = make(
        &sb,
        &t,
        "/api/v4/tasks",
        json!({"text": "t", "complete_till": 1900000000, "entity_type": "leads",
            "entity_id": lead, "responsible_user_id": MANAGER_1}),
    );
    assert_eq!(shown(format!("/api/v4/tasks/{task}")), MANAGER_1);
    let a = patch(
        &sb,
        &t,
        "/api/v4/tasks",
        json!([{"id": task, "responsible_user_id": MANAGER_2}]),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(shown(format!("/api/v4/tasks/{task}")), MANAGER_2);
}

#[test]
fn tasks_are_filtered_and_a_patch_closes_one() {
    let (sb, t) = start();
    let contact = make(&sb, &t, "/api/v4/contacts", json!({"name": "c"}));
    let lead = make(&sb, &t, "/api/v4/leads", json!({"name": "l"}));
    let task = |entity: Value| {
        let mut item = json!({"text": "Позвонить", "complete_till": 1900000000});
        for (k, v) in entity.as_object().expect("object") {
            item[k] = v.clone();
        }
        make(&sb, &t, "/api/v4/tasks", item)
    };
    let on_contact = task(json!({"entity_type": "contacts", "entity_id": contact}));
    let on_lead = task(json!({"entity_type": "leads", "entity_id": lead, "task_type_id": 2}));
    let theirs = task(json!({"entity_type": "contacts", "entity_id": contact,
        "responsible_user_id": MANAGER_1}));
    let loose = task(json!({}));
    let found = |query: &str| ids(&get(&sb, &t, &format!("/api/v4/tasks?{query}")), "tasks");
    assert_eq!(found("filter[entity_type]=leads"), [on_lead]);
    let by_contact = format!("filter[entity_type]=contacts&filter[entity_id][]={contact}");
    assert_eq!(found(&by_contact), [on_contact, theirs]);
    assert_eq!(
        found(&format!("filter[entity_id]={contact}")),
        [on_contact, theirs]
    );
    let both = format!("filter[entity_id][]={contact}&filter[entity_id][]={lead}");
    assert_eq!(found(&both), [on_contact, on_lead, theirs]);
    assert_eq!(
        found("filter[is_completed]=0"),
        [on_contact, on_lead, theirs, loose]
    );
    assert_eq!(
        found(&format!("filter[responsible_user_id][]={MANAGER_1}")),
        [theirs]
    );
    let none = get(&sb, &t, "/api/v4/tasks?filter[is_completed]=1");
    assert_eq!((none.status, none.text.as_str()), (204, ""));

    let closed = patch(
        &sb,
        &t,
        "/api/v4/tasks",
        json!([{"id": on_contact, "is_completed": true, "result": {"text": "Дозвонились"},
            "request_id": "close-1"}]),
    );
    assert_eq!(closed.status, 200, "{}", closed.text);
    let item = &closed.body["_embedded"]["tasks"][0];
    assert_eq!(item["id"], on_contact);
    assert_eq!(item["request_id"], "close-1");
    assert!(
        item["updated_at"].as_i64().is_some_and(|at| at > 0),
        "{item}"
    );
    let href = item["_links"]["self"]["href"].as_str().expect("href");
    assert!(
        href.ends_with(&format!("/api/v4/tasks/{on_contact}")),
        "{href}"
    );
    assert!(closed.body["_links"]["self"]["href"].is_string());

    let one = get(&sb, &t, &format!("/api/v4/tasks/{on_contact}"));
    assert_eq!(one.body["is_completed"], true);
    assert_eq!(one.body["result"]["text"], "Дозвонились");
    assert_eq!(
        one.body["text"], "Позвонить",
        "what the PATCH does not name stays"
    );
    assert_eq!(one.body["entity_type"], "contacts");
    assert_eq!(found("filter[is_completed]=1"), [on_contact]);
    assert_eq!(
        found(&format!("{by_contact}&filter[is_completed]=0")),
        [theirs]
    );
    let open = get(&sb, &t, &format!("/api/v4/tasks/{on_lead}"));
    assert_eq!(
        (
            open.body["task_type_id"].clone(),
            open.body["result"].clone()
        ),
        (json!(2), json!([]))
    );

    let unknown = patch(
        &sb,
        &t,
        "/api/v4/tasks",
        json!([{"id": loose, "text": "x"}, {"id": 1, "is_completed": true}]),
    );
    assert_eq!(
        refusal(&unknown),
        ("1".into(), "NotFound".into(), "id".into())
    );
    assert_eq!(
        get(&sb, &t, &format!("/api/v4/tasks/{loose}")).body["text"],
        "Позвонить"
    );
    assert_eq!(get(&sb, &t, "/api/v4/tasks/1").status, 204);
    assert_eq!(
        get(&sb, &t, "/api/v4/tasks?filter[is_completed]=yes").status,
        400
    );
}

#[test]
fn notes_are_listed_by_entity_and_filter() {
    let (sb, t) = start();
    let c1 = make(&sb, &t, "/api/v4/contacts", json!({"name": "c1"}));
    let c2 = make(&sb, &t, "/api/v4/contacts", json!({"name": "c2"}));
    let lead = make(&sb, &t, "/api/v4/leads", json!({"name": "l"}));
    let made = post(
        &sb,
        &t,
        "/api/v4/contacts/notes",
        json!([
            {"entity_id": c1, "note_type": "common", "params": {"text": "первая"}},
            {"entity_id": c1, "note_type": "service_message",
                "params": {"service": "BILLmanager", "text": "Оплата 590 ₽"}},
            {"entity_id": c2, "note_type": "extended_service_message",
                "params": {"service": "BILLmanager", "text": "Возврат"}},
        ]),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let [n1, n2, n3] = ids(&made, "notes")[..] else {
        panic!("three notes: {}", made.text);
    };
    assert_eq!(made.body["_embedded"]["notes"][1]["entity_id"], c1);
    let on_lead = post(
        &sb,
        &t,
        &format!("/api/v4/leads/{lead}/notes"),
        json!([{"note_type": "common", "params": {"text": "к сделке"}}]),
    );
    let n4 = ids(&on_lead, "notes")[0];

    let found = |path: &str| ids(&get(&sb, &t, path), "notes");
    assert_eq!(found("/api/v4/contacts/notes"), [n1, n2, n3]);
    assert_eq!(
        found(&format!("/api/v4/contacts/notes?filter[entity_id][]={c1}")),
        [n1, n2]
    );
    assert_eq!(
        found(&format!("/api/v4/contacts/notes?filter[entity_id]={c2}")),
        [n3]
    );
    assert_eq!(
        found("/api/v4/contacts/notes?filter[note_type][]=service_message"),
        [n2]
    );
    let kinds = "filter[note_type][]=common&filter[note_type][]=extended_service_message";
    assert_eq!(found(&format!("/api/v4/contacts/notes?{kinds}")), [n1, n3]);
    assert_eq!(found(&format!("/api/v4/contacts/{c1}/notes")), [n1, n2]);
    assert_eq!(found("/api/v4/leads/notes"), [n4]);
    let one = get(&sb, &t, &format!("/api/v4/contacts/notes/{n2}"));
    assert_eq!(one.body["params"]["service"], "BILLmanager");
    assert_eq!(one.body["entity_id"], c1);
    assert_eq!(one.body["note_type"], "service_message");
    assert_eq!(
        get(&sb, &t, &format!("/api/v4/leads/notes/{n2}")).status,
        204
    );
    assert_eq!(
        get(&sb, &t, &format!("/api/v4/contacts/{c2}/notes/{n1}")).status,
        204
    );
    assert_eq!(
        get(&sb, &t, &format!("/api/v4/contacts/{c2}/notes/{n3}")).status,
        200
    );
    assert_eq!(
        get(
            &sb,
            &t,
            &format!("/api/v4/contacts/{c2}/notes?filter[note_type][]=common")
        )
        .status,
        204
    );
}

#[test]
fn a_patch_edits_a_note_of_its_entity_type() {
    let (sb, t) = start();
    let c1 = make(&sb, &t, "/api/v4/contacts", json!({"name": "c1"}));
    let n1 = make(
        &sb,
        &t,
        "/api/v4/contacts/notes",
        json!({"entity_id": c1, "note_type": "common", "params": {"text": "первая"}}),
    );
    let edited = patch(
        &sb,
        &t,
        "/api/v4/contacts/notes",
        json!([{"id": n1, "params": {"text": "исправлена"}}]),
    );
    assert_eq!(edited.status, 200, "{}", edited.text);
    let item = &edited.body["_embedded"]["notes"][0];
    assert_eq!(
        (item["id"].clone(), item["entity_id"].clone()),
        (json!(n1), json!(c1))
    );
    assert_eq!(item["request_id"], "0");
    assert!(
        item["updated_at"].as_i64().is_some_and(|at| at > 0),
        "{item}"
    );
    let after = get(&sb, &t, &format!("/api/v4/contacts/notes/{n1}"));
    assert_eq!(after.body["params"]["text"], "исправлена");
    let wrong_entity = patch(
        &sb,
        &t,
        "/api/v4/leads/notes",
        json!([{"id": n1, "params": {"text": "x"}}]),
    );
    assert_eq!(
        refusal(&wrong_entity),
        ("0".into(), "NotFound".into(), "id".into())
    );
    let lacks_service = patch(
        &sb,
        &t,
        "/api/v4/contacts/notes",
        json!([{"id": n1, "note_type": "service_message"}]),
    );
    assert_eq!(refusal(&lacks_service).2, "params.service");
    assert_eq!(
        get(&sb, &t, &format!("/api/v4/contacts/notes/{n1}")).body["note_type"],
        "common"
    );
}

#[test]
fn a_note_type_and_its_params_are_checked() {
    let (sb, t) = start();
    let c = make(&sb, &t, "/api/v4/contacts", json!({"name": "c"}));
    let refused = |item: Value| {
        let ok = json!({"entity_id": c, "note_type": "common", "params": {"text": "ok"}});
        refusal(&post(&sb, &t, "/api/v4/contacts/notes", json!([ok, item])))
    };
    let (rid, code, path) =
        refused(json!({"entity_id": c, "note_type": "call_in", "params": {"text": "x"}}));
    assert_eq!(
        (rid.as_str(), code.as_str(), path.as_str()),
        ("1", "NotSupportedChoice", "note_type")
    );
    let (_, code, path) = refused(json!({"entity_id": c, "note_type": "common", "params": {}}));
    assert_eq!((code.as_str(), path.as_str()), ("NotBlank", "params.text"));
    let (_, code, path) =
        refused(json!({"entity_id": c, "note_type": "service_message", "params": {"text": "x"}}));
    assert_eq!(
        (code.as_str(), path.as_str()),
        ("NotBlank", "params.service")
    );
    let (_, code, path) = refused(
        json!({"entity_id": c, "note_type": "extended_service_message",
        "params": {"service": "s"}}),
    );
    assert_eq!((code.as_str(), path.as_str()), ("NotBlank", "params.text"));
    let (_, code, path) = refused(json!({"entity_id": c, "note_type": "common",
        "params": {"text": "x"}, "responsible_user_id": FORMER}));
    assert_eq!(
        (code.as_str(), path.as_str()),
        ("NotSupportedChoice", "responsible_user_id")
    );
    assert_eq!(
        counts(&sb)["notes"],
        0,
        "a batch with one bad note stores none"
    );
}

#[test]
fn a_lost_answer_on_a_note_or_task_create_still_stores_it_once() {
    let (sb, t) = start();
    let c = make(&sb, &t, "/api/v4/contacts", json!({"name": "c"}));
    let faults = |v: Value| assert_eq!(control(&sb, "/_sandbox/faults", v).0, 200);

    faults(json!({"lost_next": 1}));
    let note = json!([{"entity_id": c, "note_type": "common", "params": {"text": "Оплата"}}]);
    let lost = try_call(&sb, "POST", "/api/v4/contacts/notes", &t, Some(&note));
    assert!(lost.is_err(), "the answer is lost");
    let kept = get(&sb, &t, &format!("/api/v4/contacts/{c}/notes"));
    assert_eq!(ids(&kept, "notes").len(), 1, "{}", kept.text);
    assert_eq!(
        kept.body["_embedded"]["notes"][0]["params"]["text"],
        "Оплата"
    );
    let log = sb.get_json("/_sandbox/requests");
    let posted: Vec<&Value> = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|e| e["path"] == "/api/v4/contacts/notes")
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        (posted[0]["status"].clone(), posted[0]["lost"].clone()),
        (json!(200), json!(true))
    );

    faults(json!({"lost_next": 1}));
    let task = json!([{"text": "t", "complete_till": 1900000000, "entity_type": "contacts", "entity_id": c}]);
    assert!(try_call(&sb, "POST", "/api/v4/tasks", &t, Some(&task)).is_err());
    let tasks = get(&sb, &t, &format!("/api/v4/tasks?filter[entity_id][]={c}"));
    assert_eq!(ids(&tasks, "tasks").len(), 1, "{}", tasks.text);
    assert_eq!(counts(&sb)["notes"], 1);
}

#[test]
fn injected_errors_and_garbage_apply_nothing_to_notes_and_tasks() {
    let (sb, t) = start();
    let c = make(&sb, &t, "/api/v4/contacts", json!({"name": "c"}));
    let faults = |v: Value| assert_eq!(control(&sb, "/_sandbox/faults", v).0, 200);
    let note = json!([{"entity_id": c, "note_type": "common", "params": {"text": "x"}}]);
    let task = json!([{"text": "t", "complete_till": 1900000000}]);

    faults(json!({"error_next": 1, "error_statuses": [502]}));
    assert_eq!(
        post(&sb, &t, "/api/v4/contacts/notes", note.clone()).status,
        502
    );
    faults(json!({"garbage_next": 1, "garbage_kind": "text", "garbage_path": "/api/v4/tasks"}));
    let garbage = post(&sb, &t, "/api/v4/tasks", task.clone());
    assert_eq!(
        (garbage.status, garbage.body.clone()),
        (200, Value::Null),
        "{}",
        garbage.text
    );
    faults(json!({"payment_required": true}));
    assert_eq!(get(&sb, &t, "/api/v4/users").status, 402);
    faults(json!({}));
    let c = counts(&sb);
    assert_eq!(
        (c["notes"].clone(), c["tasks"].clone()),
        (json!(0), json!(0))
    );
    let log = sb.get_json("/_sandbox/requests");
    let statuses: Vec<u64> = log
        .as_array()
        .expect("log")
        .iter()
        .skip(2)
        .map(|e| e["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, [502, 200, 402], "every call is logged");
}

#[test]
fn a_task_refused_by_the_rate_limit_is_not_stored() {
    let (sb, t) = start_with(&["--rate", "2", "--block-after", "0"]);
    let task = json!([{"text": "t", "complete_till": 1900000000}]);
    // Two a second: a few calls in a row meet the limit however slow the machine is.
    let mut statuses = Vec::new();
    while !statuses.contains(&429) && statuses.len() < 50 {
        statuses.push(post(&sb, &t, "/api/v4/tasks", task.clone()).status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    let stored = sb.get_json("/_sandbox/state")["counts"]["tasks"].as_u64();
    assert_eq!(
        stored,
        Some(admitted as u64),
        "a refused task is not stored: {statuses:?}"
    );
}

#[test]
fn help_names_the_new_endpoints() {
    let out = Command::new(SANDBOX).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "/_sandbox/users",
        "GET /api/v4/users",
        "filter[is_completed]",
        "filter[note_type][]",
        "extended_service_message",
        "NotSupportedChoice",
        "former@example.com",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}
