//! `[tasks]` end to end: the real binary exports the sample panel with a rule for services
//! about to expire and one for suspended services. A suspended service gets its task once;
//! an expiry date moved near with no event is noticed by the sweep; a second sweep sets
//! nothing; a renewal starts a new occurrence and its task. SQLite always, MariaDB with a
//! server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind::Item;
use billmgr_amocrm::rules::parse_date;
use one_run::event;
use support::{Backend, MysqlDb, Panel, Sandbox};

const RULES: &str = "\n[tasks]\n\
    renew = item.status = 2 and item.expiredate within 7 -> item.expiredate-1 \"Позвонить: продление {item.name}\"\n\
    suspended = item.status = 3 -> +1 \"Услуга {item.name} приостановлена\"\n";

/// The tasks on a service's lead: `(text, due)`.
fn tasks_of(p: &Panel, sandbox: &Sandbox, item: i64) -> Vec<(String, i64)> {
    let Some(link) = p.db().link(Item, item).expect("links") else {
        return Vec::new();
    };
    let state = sandbox.get_json("/_sandbox/state");
    one_run::entities(&state, "tasks")
        .iter()
        .filter(|t| t["entity_type"] == "leads" && t["entity_id"].as_i64() == Some(link.amocrm_id))
        .map(|t| {
            let text = t["text"].as_str().unwrap_or("").to_string();
            (text, t["complete_till"].as_i64().unwrap_or(0))
        })
        .collect()
}

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The panel's date (local) `days` from now.
fn date_in(days: i64) -> String {
    let now = billmgr_amocrm::log::now();
    billmgr_amocrm::log::local_datetime(now + days * 86_400)[..10].to_string()
}

fn writes_of_a_sweep(p: &Panel, sandbox: &Sandbox) -> usize {
    let before = workers::requests(sandbox).len();
    ok(p.amocrm(&["sync", "--changed"]));
    (workers::requests(sandbox)[before..].iter())
        .filter(|r| r["method"] != "GET")
        .count()
}

fn task_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let mut problems = Vec::new();
    let today = billmgr_amocrm::log::now().div_euclid(86_400);
    let suspended = tasks_of(p, sandbox, 1003);
    let want = vec![(
        "Услуга romashka.ru приостановлена".to_string(),
        (today + 1) * 86_400,
    )];
    if suspended != want {
        problems.push(format!(
            "service 1003, suspended: {suspended:?}, not {want:?}"
        ));
    }
    if !tasks_of(p, sandbox, 1001).is_empty() {
        problems.push("service 1001, expired long ago, has a task".into());
    }
    // The expiry date comes near, written straight into the panel.
    let near = date_in(3);
    one_run::panel_sql(
        p,
        mariadb,
        &format!("UPDATE item SET expiredate = '{near}' WHERE id = 1001"),
    );
    ok(p.amocrm(&["sync", "--changed"]));
    let due = parse_date(&near).expect("date") - 86_400;
    let renew = vec![("Позвонить: продление ivanov-vps.ru".to_string(), due)];
    if tasks_of(p, sandbox, 1001) != renew {
        problems.push(format!(
            "service 1001 near its date: {:?}",
            tasks_of(p, sandbox, 1001)
        ));
    }
    let writes = writes_of_a_sweep(p, sandbox);
    if writes > 0 || tasks_of(p, sandbox, 1003).len() != 1 {
        problems.push(format!("the second sweep wrote {writes} time(s)"));
    }
    // Renewed: the next period's task comes when its date is near.
    let renewed = date_in(5);
    one_run::panel_sql(
        p,
        mariadb,
        &format!("UPDATE item SET expiredate = '{renewed}' WHERE id = 1001"),
    );
    p.db().prune_jobs(i64::MAX / 2).expect("pruned");
    // The answers to the lead's update and to the task's create are lost.
    let lost = serde_json::json!({"lost_next": 2});
    assert_eq!(sandbox.post_json("/_sandbox/faults", &lost).0, 200);
    one_run::queue_while_the_worker_waits(p, &[event("service.postprolong", "1001")]);
    one_run::drain(p);
    if tasks_of(p, sandbox, 1001).len() != 2 {
        problems.push(format!(
            "after the renewal: {:?}",
            tasks_of(p, sandbox, 1001)
        ));
    }
    problems
}

fn tasks_are_set_once_per_rule_service_and_occurrence(backend: Backend) {
    workers::on_exported(backend, RULES, task_problems);
}

crate::on_each_database!(tasks_are_set_once_per_rule_service_and_occurrence);
