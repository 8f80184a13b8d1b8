//! Links that heal, end to end: after a full export, a manager deletes a client's contact
//! and one of its leads in amoCRM and merges another client's contact into a third's;
//! the clients and the service are then edited in the panel, the events go through the
//! handler and `amocrm task` runs. Every link ends on an entity amoCRM holds, the
//! clients' leads hang on their new contacts, and no job fails. The real binary, the
//! sandbox process over HTTP, on SQLite always and on MariaDB when the suite has a server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind::{self, Account, Item, Profile};
use one_run::{Event, event, main_contact};
use serde_json::{Value, json};
use support::{Backend, MysqlDb, Panel, Sandbox};

/// What the manager removed, by the amoCRM ids the export had linked.
struct Removed {
    contact3: i64,
    lead1002: i64,
    contact4: i64,
    into: i64,
}

fn linked(p: &Panel, kind: EntityKind, id: i64) -> i64 {
    let link = p.db().link(kind, id).expect("link table");
    link.unwrap_or_else(|| panic!("{kind} {id} is not linked"))
        .amocrm_id
}

fn manager(sandbox: &Sandbox, action: &str, body: Value) {
    let (status, answer) = sandbox.post_json(&format!("/_sandbox/{action}"), &body);
    assert_eq!(status, 200, "{action}: {answer}");
}

/// The manager deletes client 3's contact and service 1002's lead, and merges client 4's
/// contact into client 2's.
fn managers_remove(p: &Panel, sandbox: &Sandbox) -> Removed {
    let r = Removed {
        contact3: linked(p, Account, 3),
        lead1002: linked(p, Item, 1002),
        contact4: linked(p, Account, 4),
        into: linked(p, Account, 2),
    };
    manager(
        sandbox,
        "delete",
        json!({"entity": "contacts", "ids": [r.contact3]}),
    );
    manager(
        sandbox,
        "delete",
        json!({"entity": "leads", "ids": [r.lead1002]}),
    );
    let merge = json!({"entity": "contacts", "into": r.into, "from": [r.contact4]});
    manager(sandbox, "merge", merge);
    r
}

/// Clients 3 and 4 and service 1002 edited in the panel, and their events.
fn panel_edits(p: &Panel, mariadb: Option<&MysqlDb>) -> Vec<Event> {
    for sql in [
        "UPDATE user SET realname = 'Петров П. П.' WHERE id = 12",
        "UPDATE user SET realname = 'Patrick O''Brien Jr.' WHERE id = 14",
        "UPDATE item SET cost = 15000.00 WHERE id = 1002",
    ] {
        one_run::panel_sql(p, mariadb, sql);
    }
    vec![
        event("account.edit", "3"),
        event("account.edit", "4"),
        event("vds.edit", "1002"),
    ]
}

fn ids(v: &Value, kind: &str) -> Vec<i64> {
    let list = v["_embedded"][kind].as_array().into_iter().flatten();
    list.filter_map(|x| x["id"].as_i64()).collect()
}

fn held<'a>(state: &'a Value, kind: &str, id: i64) -> Option<&'a Value> {
    one_run::entities(state, kind)
        .iter()
        .find(|e| e["id"].as_i64() == Some(id))
}

/// Each client's leads hang on its new contact (main), which is not the removed one.
fn lead_problems(p: &Panel, state: &Value, client: i64, was: i64, items: &[i64]) -> Vec<String> {
    let contact = linked(p, Account, client);
    let mut problems = Vec::new();
    if contact == was {
        problems.push(format!("account {client} is still linked to contact {was}"));
    }
    for &item in items {
        let lead = held(state, "leads", linked(p, Item, item));
        let main = lead.and_then(main_contact);
        if main != Some(contact) {
            problems.push(format!(
                "item {item}'s lead has main contact {main:?}, not {contact}"
            ));
        }
    }
    problems
}

fn heal_problems(p: &Panel, sandbox: &Sandbox, r: &Removed, jobs: &[String]) -> Vec<String> {
    let state = sandbox.get_json("/_sandbox/state");
    let mut problems = one_run::all_link_problems(p, &state);
    problems.extend(one_run::any_duplicates(&state));
    problems.extend(one_run::unfinished_jobs(p, jobs, false));
    problems.extend(lead_problems(p, &state, 3, r.contact3, &[1002, 1003, 1004]));
    problems.extend(lead_problems(p, &state, 4, r.contact4, &[1005]));
    if linked(p, Item, 1002) == r.lead1002 {
        problems.push("item 1002 is still linked to the deleted lead".into());
    }
    let contact3 = held(&state, "contacts", linked(p, Account, 3));
    let company22 = linked(p, Profile, 22);
    if contact3.map(|c| ids(c, "companies")) != Some(vec![company22]) {
        problems.push(format!("client 3's new contact lacks company {company22}"));
    }
    if linked(p, Account, 2) != r.into {
        problems.push("the survivor of the merge lost its client".into());
    }
    problems.extend(log_problems(p, r));
    problems
}

/// The task log says what happened.
fn log_problems(p: &Panel, r: &Removed) -> Vec<String> {
    let log = p.read("var/amocrm_task.log");
    let new3 = linked(p, Account, 3);
    [
        format!("account 3: contact {} is gone from amoCRM", r.contact3),
        format!(
            "account 3: created contact {new3} in place of {}; 3 leads and company",
            r.contact3
        ),
        format!("item 1002: lead {} is gone from amoCRM", r.lead1002),
        format!("account 4: contact {} is gone from amoCRM", r.contact4),
        "matches but belongs to account 2".to_string(),
    ]
    .into_iter()
    .filter(|line| !log.contains(line.as_str()))
    .map(|line| format!("the task log lacks «{line}»"))
    .collect()
}

fn links_to_entities_managers_removed_heal_on_the_next_change(backend: Backend) {
    let test = "links to entities managers removed heal on the next change";
    let mut problems = Vec::new();
    let (db, database, mariadb) = backend.database();
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, &database, "batch_size = 50");
    p.sample_panel();
    let out = p.amocrm(&["sync", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.db()
        .prune_jobs(i64::MAX / 2)
        .expect("the export's jobs pruned");
    let removed = managers_remove(&p, &sandbox);
    let events = panel_edits(&p, mariadb.as_ref());
    let jobs = one_run::queue_while_the_worker_waits(&p, &events);
    assert_eq!(jobs.len(), 3, "{db}: {jobs:?}");
    one_run::drain(&p);
    problems.push((db.to_string(), heal_problems(&p, &sandbox, &removed, &jobs)));
    one_run::assert_none(test, &problems);
}

crate::on_each_database!(links_to_entities_managers_removed_heal_on_the_next_change);
