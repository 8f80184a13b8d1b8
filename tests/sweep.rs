//! The sweep through the real binary: changes no panel event reports (a renewal, a
//! suspension, a new service, a new client, all written straight into the panel's tables)
//! reach amoCRM through `amocrm sync --changed`, a second sweep sends nothing, and
//! `amocrm task` sweeps when `[sync] reconcile` says one is due and not before. On SQLite
//! always, on MariaDB when the suite has a server.

mod support;
mod workers;

use std::collections::BTreeSet;

use billmgr_amocrm::model::EntityKind::{self, Account, Item};
use serde_json::Value;
use support::{Backend, MysqlDb, Panel, Sandbox};
use workers::{requests, text};

/// A sample panel on this database, every entity synced to the sandbox. `overwrite`: the
/// expiry date of a lead is filled already, and only `overwrite` replaces it.
fn synced_panel(sandbox: &Sandbox, database: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(
        &sandbox.url,
        database,
        "update = overwrite\ndedup =\nreconcile = 60",
    );
    p.sample_panel();
    let out = p.amocrm(&["sync", "--all"]);
    assert!(out.status.success(), "sync --all: {}", text(&out.stderr));
    p
}

/// SQL on the panel's own tables, as a panel module or an admin writes them: no event.
fn panel_sql(p: &Panel, mysql: Option<&MysqlDb>, statements: &[&str]) {
    match mysql {
        None => {
            let conn = rusqlite::Connection::open(p.path("var/billmgr.db")).expect("open");
            for s in statements {
                conn.execute_batch(s).expect("SQL");
            }
        }
        Some(db) => {
            use mysql::prelude::Queryable;
            let url = format!("{}/{}", db.server, db.name);
            let mut conn =
                mysql::Conn::new(mysql::Opts::from_url(&url).expect("url")).expect("connect");
            for s in statements {
                conn.query_drop(*s).expect("SQL");
            }
        }
    }
}

/// A renewal, a suspension, a new service of a client in amoCRM and a new client.
const CHANGES: [&str; 5] = [
    "UPDATE item SET expiredate = '2025-08-14' WHERE id = 1001",
    "UPDATE item SET status = 3, suspenddate = '2025-06-02' WHERE id = 1002",
    "INSERT INTO item (id, account, pricelist, name, status, period, currency, cost, \
     createdate, opendate, expiredate) VALUES (1011, 2, 12, 'ivanov-2.ru', 2, 1, 126, 249.00, \
     '2025-06-01', '2025-06-01', '2025-07-01')",
    "INSERT INTO account (id, name, parent, level, project, country, registration_date) \
     VALUES (8, 'Новиков Олег', 1, 16, 1, 182, '2025-06-01 10:00:00')",
    "INSERT INTO user (id, account, name, realname, email, phone, language, level, enabled) \
     VALUES (18, 8, 'novikov@example.ru', 'Новиков Олег', 'novikov@example.ru', NULL, 'ru', 16, 'on')",
];

/// Writes to amoCRM's API (POST, PATCH) in the request log from `from` on.
fn writes(sandbox: &Sandbox, from: usize) -> Vec<String> {
    requests(sandbox)[from..]
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
        .filter(|r| r["method"] != "GET")
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            format!("{} {}", s("method"), s("path"))
        })
        .collect()
}

fn leads(sandbox: &Sandbox) -> Vec<Value> {
    let state = sandbox.get_json("/_sandbox/state");
    state["leads"].as_array().cloned().unwrap_or_default()
}

fn lead<'a>(leads: &'a [Value], name: &str) -> &'a Value {
    leads
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no lead {name}"))
}

fn field(entity: &Value, id: i64) -> Value {
    (entity["custom_fields_values"]
        .as_array()
        .into_iter()
        .flatten())
    .find(|f| f["field_id"] == id)
    .map_or(Value::Null, |f| f["values"][0]["value"].clone())
}

fn status_sweep(p: &Panel) -> Value {
    let out = p.amocrm(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    status["sweep"].clone()
}

fn sweep_state(p: &Panel) -> Value {
    serde_json::from_str(&p.read("var/amocrm_sweep.json")).expect("the sweep's state")
}

/// The dry run names exactly what the sweep then queues, and sends nothing.
fn dry_run_names_the_changes(p: &Panel, sandbox: &Sandbox, db: &str) {
    let before = requests(sandbox).len();
    let out = p.amocrm(&["sync", "--changed", "--dry-run"]);
    assert!(out.status.success(), "{db}: {}", text(&out.stderr));
    let lines: BTreeSet<(String, i64, String)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON object a line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("kind"), v["id"].as_i64().unwrap_or(0), s("reason"))
        })
        .collect();
    let want: BTreeSet<(String, i64, String)> = [
        ("account", 8, "new"),
        ("item", 1001, "changed"),
        ("item", 1002, "changed"),
        ("item", 1011, "new"),
    ]
    .map(|(k, id, r)| (k.to_string(), id, r.to_string()))
    .into();
    assert_eq!(lines, want, "{db}");
    assert!(
        writes(sandbox, before).is_empty(),
        "{db}: a dry run sends nothing"
    );
    assert_eq!(p.db().count_jobs(&["pending"]).expect("count"), 0, "{db}");
}

fn what_no_event_reported_reaches_amocrm_through_the_sweep(backend: Backend) {
    let (db, database, mysql) = backend.database();
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = synced_panel(&sandbox, &database);
    let paid_until = field(lead(&leads(&sandbox), "ivanov-vps.ru — VDS-Start"), 816002);
    panel_sql(&p, mysql.as_ref(), &CHANGES);
    dry_run_names_the_changes(&p, &sandbox, db);

    let out = p.amocrm(&["sync", "--changed"]);
    assert!(out.status.success(), "{db}: {}", text(&out.stderr));
    let all = leads(&sandbox);
    let renewed = field(lead(&all, "ivanov-vps.ru — VDS-Start"), 816002);
    let days = (renewed.as_i64().unwrap_or(0) - paid_until.as_i64().unwrap_or(0)) / 86_400;
    assert_eq!(days, 31, "{db}: the lead is paid until a month later");
    let suspended = lead(&all, "srv1.romashka.example — VDS-Pro");
    assert_eq!(
        suspended["status_id"], 7000102,
        "{db}: moved by the `suspended` rule"
    );
    lead(&all, "ivanov-2.ru — Hosting Lite");
    let state = sandbox.get_json("/_sandbox/state");
    let contacts = state["contacts"].as_array().cloned().unwrap_or_default();
    assert!(
        contacts.iter().any(|c| c["name"] == "Новиков Олег"),
        "{db}: the new client is a contact"
    );
    let s = status_sweep(&p);
    assert_eq!(
        (
            &s["queued"]["item"],
            &s["queued"]["account"]["new"],
            &s["by"]
        ),
        (
            &serde_json::json!({"new": 1, "changed": 2, "removed": 0, "task": 0}),
            &Value::from(1),
            &Value::from("sync --changed")
        ),
        "{db}: {s}"
    );

    let before = requests(&sandbox).len();
    let out = p.amocrm(&["sync", "--changed"]);
    assert!(out.status.success(), "{db}: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("sweep: nothing queued"), "{db}");
    assert_eq!(writes(&sandbox, before), Vec::<String>::new(), "{db}");
    assert_eq!(status_sweep(&p)["queued_total"], 0, "{db}");
}

crate::on_each_database!(what_no_event_reported_reaches_amocrm_through_the_sweep);

fn the_task_sweeps_when_due_and_not_before(backend: Backend) {
    let (db, database, mysql) = backend.database();
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = synced_panel(&sandbox, &database);
    let task = |what: &str| {
        let out = p.amocrm(&["task"]);
        assert!(
            out.status.success(),
            "{db}: task {what}: {}",
            text(&out.stderr)
        );
    };
    task("after the export");
    let started = sweep_state(&p);
    assert!(
        started["last"].is_null(),
        "{db}: the first run starts the clock"
    );
    panel_sql(&p, mysql.as_ref(), &CHANGES[..1]);
    let before = requests(&sandbox).len();
    task("before the hour");
    assert_eq!(sweep_state(&p), started, "{db}: no sweep before the hour");
    assert!(writes(&sandbox, before).is_empty(), "{db}");

    // An hour and a second ago, as far as the state says.
    let mut aged = started.clone();
    aged["since"] = Value::from(started["since"].as_i64().unwrap_or(0) - 3601);
    p.write("var/amocrm_sweep.json", &aged.to_string());
    task("an hour later");
    let last = sweep_state(&p)["last"].clone();
    assert_eq!(
        (&last["by"], &last["queued"]["item"]["changed"]),
        (&Value::from("task"), &Value::from(1)),
        "{db}: {last}"
    );
    assert_eq!(writes(&sandbox, before), ["PATCH /api/v4/leads"], "{db}");

    let before = requests(&sandbox).len();
    task("right after the sweep");
    assert_eq!(
        sweep_state(&p)["last"],
        last,
        "{db}: not again within the hour"
    );
    assert!(writes(&sandbox, before).is_empty(), "{db}");
    let s = status_sweep(&p);
    assert_eq!(
        s["next_at"],
        last["started_at"].as_i64().unwrap_or(0) + 3600,
        "{db}: {s}"
    );
}

crate::on_each_database!(the_task_sweeps_when_due_and_not_before);

#[test]
fn with_sync_off_the_sweep_queues_and_sends_nothing_and_two_never_run_at_once() {
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = synced_panel(&sandbox, Panel::sqlite());
    panel_sql(&p, None, &CHANGES);
    p.write_conf(
        &sandbox.url,
        Panel::sqlite(),
        "enabled = no\nupdate = overwrite\ndedup =\nreconcile = 60",
    );
    let before = requests(&sandbox).len();
    let out = p.amocrm(&["sync", "--changed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("sync is disabled"),
        "{}",
        text(&out.stderr)
    );
    assert!(writes(&sandbox, before).is_empty(), "nothing sent");
    assert_eq!(p.db().count_jobs(&["pending"]).expect("count"), 4, "queued");
    let status = p.amocrm(&["status"]);
    let shown = text(&status.stdout);
    assert!(
        shown.contains("sweep:      last")
            && shown.contains("4 queued (account: 1 new; item: 1 new, 2 changed)"),
        "{shown}"
    );

    // Another sweep holds the lock: this one says so and leaves.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p.path("var/amocrm_sweep.lock"))
        .expect("lock file");
    lock.try_lock().expect("the lock is free");
    let out = p.amocrm(&["sync", "--changed"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("another sweep is running"),
        "{}",
        text(&out.stderr)
    );
}

fn linked(p: &Panel, kind: EntityKind, id: i64) -> i64 {
    let link = p.db().link(kind, id).expect("link table");
    link.unwrap_or_else(|| panic!("{kind} {id} is not linked"))
        .amocrm_id
}

/// Whether the sandbox holds this entity.
fn holds(sandbox: &Sandbox, entity: &str, id: i64) -> bool {
    let state = sandbox.get_json("/_sandbox/state");
    (state[entity].as_array().into_iter().flatten()).any(|e| e["id"] == id)
}

fn manager_deletes(sandbox: &Sandbox, entity: &str, id: i64) {
    let body = serde_json::json!({"entity": entity, "ids": [id]});
    let (status, answer) = sandbox.post_json("/_sandbox/delete", &body);
    assert_eq!(status, 200, "delete: {answer}");
}

fn what_managers_deleted_in_amocrm_is_made_again_by_the_next_sweep(backend: Backend) {
    let (db, database, _guard) = backend.database();
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = synced_panel(&sandbox, &database);
    let out = p.amocrm(&["sync", "--changed"]);
    assert!(out.status.success(), "{db}: {}", text(&out.stderr));
    let (contact, lead) = (linked(&p, Account, 3), linked(&p, Item, 1002));
    manager_deletes(&sandbox, "contacts", contact);
    manager_deletes(&sandbox, "leads", lead);

    let out = p.amocrm(&["sync", "--changed"]);
    assert!(out.status.success(), "{db}: {}", text(&out.stderr));
    let s = status_sweep(&p);
    assert_eq!(
        (
            &s["queued"]["account"]["removed"],
            &s["queued"]["item"]["removed"]
        ),
        (&Value::from(1), &Value::from(1)),
        "{db}: {s}"
    );
    let (now_contact, now_lead) = (linked(&p, Account, 3), linked(&p, Item, 1002));
    assert_ne!((now_contact, now_lead), (contact, lead), "{db}");
    assert!(
        holds(&sandbox, "contacts", now_contact),
        "{db}: a live contact"
    );
    assert!(holds(&sandbox, "leads", now_lead), "{db}: a live lead");
    assert_eq!(p.db().count_jobs(&["failed"]).expect("count"), 0, "{db}");
}

crate::on_each_database!(what_managers_deleted_in_amocrm_is_made_again_by_the_next_sweep);
