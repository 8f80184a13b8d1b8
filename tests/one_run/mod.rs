//! Events queued while the worker waits, sent in one run, and what amoCRM holds after it.
//! The test holds the worker lock while the handler runs, so every job the events queue
//! waits in the queue and the next `amocrm task` sees them all at once: the worst case for
//! two jobs that name one entity. The checks return what is wrong, one line each, so a
//! test can gather them over every database before it fails.
#![allow(dead_code)]

use std::collections::BTreeMap;

use billmgr_amocrm::model::EntityKind;
use billmgr_amocrm::paths::Paths;
use billmgr_amocrm::sync::lock::WorkerLock;
use serde_json::Value;

use crate::support::{MysqlDb, Panel};

/// One panel event as the handler gets it: the function, its `elid`, the new object's id
/// in the answer document (after a create), and the environment beyond the defaults
/// (an admin at level 29 who submitted the form).
#[derive(Debug, Clone)]
pub struct Event {
    pub func: String,
    pub elid: String,
    pub new_id: Option<String>,
    pub env: Vec<(&'static str, String)>,
}

pub fn event(func: impl Into<String>, elid: impl Into<String>) -> Event {
    Event {
        func: func.into(),
        elid: elid.into(),
        new_id: None,
        env: Vec::new(),
    }
}

impl Event {
    /// A `PARAM_*` or other variable of the request.
    pub fn with(mut self, name: &'static str, value: &str) -> Event {
        self.env.push((name, value.to_string()));
        self
    }
    /// Who called the function: `AUTH_USER` and `AUTH_LEVEL`.
    pub fn by(self, user: &str, level: &str) -> Event {
        self.with("AUTH_USER", user).with("AUTH_LEVEL", level)
    }
    /// The answer document carries the new object's `<id>`, as after a create.
    pub fn answering(mut self, id: &str) -> Event {
        self.new_id = Some(id.to_string());
        self
    }
}

/// A client's own registration: anonymous, the login in `PARAM_email`.
pub fn register(login: &str) -> Event {
    event("register", "").by("", "0").with("PARAM_email", login)
}

/// A client edits their own user.
pub fn own_user_edit(user: &str, login: &str) -> Event {
    event("user.edit", user).by(login, "16")
}

/// A client adds a payer in the client area: no id anywhere, its login is the caller.
pub fn payer_added_by(login: &str) -> Event {
    event("profile.add.profiledata", "").by(login, "16")
}

/// Sends the event through the handler as the panel does and checks that the document
/// comes back unchanged.
pub fn send(p: &Panel, e: &Event) {
    let env: Vec<(&str, &str)> = e.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.event_answering(&e.func, &e.elid, e.new_id.as_deref(), &env);
}

/// Sends the events while the test holds the worker lock (the worker each handler would
/// wake does not start), and returns the keys of the jobs waiting then, sorted.
pub fn queue_while_the_worker_waits(p: &Panel, events: &[Event]) -> Vec<String> {
    let lock = WorkerLock::try_acquire(&Paths::new(p.root()))
        .expect("worker lock")
        .expect("no worker runs before the events");
    for e in events {
        send(p, e);
    }
    let mut keys: Vec<String> = p
        .db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 1000)
        .expect("jobs")
        .into_iter()
        .map(|j| {
            assert_eq!(j.state, "pending", "nothing ran while the lock was held");
            j.key
        })
        .collect();
    keys.sort();
    drop(lock);
    keys
}

/// `amocrm task`, which must succeed.
pub fn run_task(p: &Panel) -> std::process::Output {
    let out = p.amocrm(&["task"]);
    assert!(
        out.status.success(),
        "task failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.read("var/amocrm_task.log")
    );
    out
}

/// Runs `amocrm task` until nothing waits or is taken (a worker the handler started may
/// hold the lock: a second one exits at once, and the next try follows it).
pub fn drain(p: &Panel) {
    for _ in 0..600 {
        run_task(p);
        let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
        if s.pending == 0 && s.taken == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "the queue did not drain:\n{}",
        p.read("var/amocrm_task.log")
    );
}

/// Runs SQL on the test's panel database: a plain table of the panel changed as the
/// panel would change it before its event.
pub fn panel_sql(p: &Panel, mariadb: Option<&MysqlDb>, sql: &str) {
    if sql.is_empty() {
        return;
    }
    match mariadb {
        None => rusqlite::Connection::open(p.path("var/billmgr.db"))
            .and_then(|c| c.execute_batch(sql))
            .expect("SQLite statement"),
        Some(db) => {
            use mysql::prelude::Queryable;
            let url = format!("{}/{}", db.server, db.name);
            let mut conn = mysql::Conn::new(mysql::Opts::from_url(&url).expect("mysql url"))
                .expect("connect MariaDB");
            conn.query_drop("SET NAMES utf8mb4").expect("charset");
            conn.query_drop(sql).expect("MariaDB statement");
        }
    }
}

// --- what amoCRM holds ---

pub fn entities<'a>(state: &'a Value, kind: &str) -> &'a [Value] {
    state[kind]
        .as_array()
        .unwrap_or_else(|| panic!("state has no {kind}: {state}"))
}

pub fn id(e: &Value) -> i64 {
    e["id"].as_i64().expect("entity id")
}

pub fn name(e: &Value) -> &str {
    e["name"].as_str().unwrap_or("")
}

/// A contact's e-mails, lower case.
pub fn emails(contact: &Value) -> Vec<String> {
    contact["custom_fields_values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["field_code"] == "EMAIL")
        .flat_map(|f| f["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["value"].as_str().map(str::to_lowercase))
        .collect()
}

/// A lead's main contact.
pub fn main_contact(lead: &Value) -> Option<i64> {
    lead["_embedded"]["contacts"]
        .as_array()?
        .iter()
        .find(|c| c["is_main"] == true)
        .and_then(|c| c["id"].as_i64())
}

/// What makes two amoCRM entities of a kind the same panel entity made twice: contacts by
/// name and e-mail, companies by name, leads by name and main contact.
fn identity(kind: &str, e: &Value) -> String {
    match kind {
        "contacts" => format!("named «{}» with e-mail {:?}", name(e), emails(e)),
        "leads" => format!(
            "named «{}» with main contact {:?}",
            name(e),
            main_contact(e)
        ),
        _ => format!("named «{}»", name(e)),
    }
}

/// Entities of a kind (`contacts`, `companies`, `leads`) that exist more than once.
pub fn duplicates(state: &Value, kind: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in entities(state, kind) {
        seen.entry(identity(kind, e)).or_default().push(id(e));
    }
    seen.into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(what, ids)| format!("{} {kind} {what} (ids {ids:?})", ids.len()))
        .collect()
}

/// Nothing of any kind exists twice.
pub fn any_duplicates(state: &Value) -> Vec<String> {
    ["contacts", "companies", "leads"]
        .into_iter()
        .flat_map(|kind| duplicates(state, kind))
        .collect()
}

/// The link table of a kind against amoCRM: each panel entity linked once, no amoCRM
/// entity linked twice, every amoCRM entity of the kind linked, no link to one amoCRM
/// lacks.
pub fn link_problems(p: &Panel, state: &Value, kind: EntityKind) -> Vec<String> {
    let entity = kind.amo_entity();
    let links = p.db().links(kind, 0, 100_000).expect("links");
    let mut problems = Vec::new();
    let mut by_panel: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut by_amo: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for l in &links {
        by_panel.entry(l.billmgr_id).or_default().push(l.amocrm_id);
        by_amo.entry(l.amocrm_id).or_default().push(l.billmgr_id);
    }
    let one = one_of(entity);
    for (panel, amo) in by_panel.iter().filter(|(_, v)| v.len() > 1) {
        problems.push(format!("{kind} {panel} is linked to {entity} {amo:?}"));
    }
    for (amo, panel) in by_amo.iter().filter(|(_, v)| v.len() > 1) {
        problems.push(format!("{one} {amo} is linked to {kind} {panel:?}"));
    }
    let in_amo: BTreeMap<i64, &Value> =
        entities(state, entity).iter().map(|e| (id(e), e)).collect();
    for (amo, e) in in_amo.iter().filter(|(a, _)| !by_amo.contains_key(a)) {
        problems.push(format!(
            "{one} {amo} {} is linked to no {kind}",
            identity(entity, e)
        ));
    }
    for (amo, panel) in by_amo.iter().filter(|(a, _)| !in_amo.contains_key(a)) {
        problems.push(format!(
            "{kind} {panel:?} is linked to {one} {amo}, which amoCRM lacks"
        ));
    }
    problems
}

/// `contacts` → `contact`, for messages.
fn one_of(entity: &str) -> &str {
    match entity {
        "companies" => "company",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

/// [`link_problems`] for the three kinds.
pub fn all_link_problems(p: &Panel, state: &Value) -> Vec<String> {
    EntityKind::ALL
        .into_iter()
        .flat_map(|kind| link_problems(p, state, kind))
        .collect()
}

/// Jobs that ended otherwise than `done` (or `skipped`, where `skipped_ok`), with why.
pub fn unfinished_jobs(p: &Panel, keys: &[String], skipped_ok: bool) -> Vec<String> {
    let jobs = p
        .db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 100_000)
        .expect("jobs");
    let mut problems = Vec::new();
    for key in keys {
        match jobs.iter().find(|j| &j.key == key) {
            None => problems.push(format!("job {key} is gone from the queue")),
            Some(j) if j.state == "done" || (skipped_ok && j.state == "skipped") => {}
            Some(j) => problems.push(format!(
                "job {key} ended {}: {}",
                j.state,
                j.last_error.as_deref().unwrap_or("")
            )),
        }
    }
    problems
}

/// Fails with every database's problems, or passes when there are none.
pub fn assert_none(test: &str, problems: &[(String, Vec<String>)]) {
    let report: Vec<String> = problems
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(db, p)| format!("on {db}:\n  {}", p.join("\n  ")))
        .collect();
    assert!(report.is_empty(), "{test}:\n{}", report.join("\n"));
}
