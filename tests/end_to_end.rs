//! The module's main job end to end: a panel database with the sample clients, payers and
//! services, events sent through the handler as the panel sends them, the worker, and the
//! sandbox amoCRM over HTTP. On SQLite always, on MariaDB when the suite has a server.

mod support;

use serde_json::Value;
use support::{MysqlDb, Panel, Sandbox};

/// Every sample event: the registration, clients edited, payers saved, services opened,
/// suspended and closed.
fn send_sample_events(p: &Panel) {
    p.event(
        "register",
        "",
        &[("PARAM_email", "kuznetsova.ms@example.ru")],
    );
    for a in ["2", "3", "4", "6", "7"] {
        p.event("account.edit", a, &[]);
    }
    for pr in ["21", "22", "23", "24", "26"] {
        p.event("profile.edit", pr, &[]);
    }
    for i in ["1001", "1002", "1004", "1005", "1006", "1007", "1010"] {
        p.event("service.postopen", i, &[]);
    }
    p.event("vhost.suspend", "1003, 1009", &[]);
    p.event("service.postclose", "1008", &[]);
}

fn run_task(p: &Panel) -> std::process::Output {
    let out = p.amocrm(&["task"]);
    assert!(
        out.status.success(),
        "task failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.read("var/amocrm_task.log")
    );
    out
}

/// Waits for the worker the handler started, then runs one more to be sure the queue is
/// drained (a second worker exits at once while the first runs).
fn drain(p: &Panel) {
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

fn entities<'a>(state: &'a Value, kind: &str) -> &'a Vec<Value> {
    state[kind]
        .as_array()
        .unwrap_or_else(|| panic!("state has no {kind}: {state}"))
}

fn by_id(list: &[Value], id: i64) -> &Value {
    list.iter()
        .find(|e| e["id"].as_i64() == Some(id))
        .unwrap_or_else(|| panic!("no entity {id}"))
}

fn link_ids(v: &Value, kind: &str) -> Vec<i64> {
    v["_embedded"][kind]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["id"].as_i64())
        .collect()
}

/// The whole sample lands: 6 contacts, 4 companies (legal entities and sole proprietors),
/// 10 leads in the stages the rules give, every link recorded, nothing twice.
fn check_sample_landed(p: &Panel, sandbox: &Sandbox) {
    let state = sandbox.get_json("/_sandbox/state");
    let contacts = entities(&state, "contacts");
    let companies = entities(&state, "companies");
    let leads = entities(&state, "leads");
    assert_eq!(contacts.len(), 6, "contacts: {contacts:#?}");
    assert_eq!(companies.len(), 4, "companies: {companies:#?}");
    assert_eq!(leads.len(), 10, "leads");

    let mut db = p.db();
    use billmgr_amocrm::model::EntityKind::*;
    assert_eq!(db.link_count(Account).unwrap(), 6);
    assert_eq!(db.link_count(Profile).unwrap(), 4);
    assert_eq!(db.link_count(Item).unwrap(), 10);
    assert!(
        db.link(Profile, 21).unwrap().is_none(),
        "an individual payer is not a company"
    );

    let contact3 = db.link(Account, 3).unwrap().unwrap().amocrm_id;
    let company22 = db.link(Profile, 22).unwrap().unwrap().amocrm_id;
    assert_eq!(by_id(contacts, contact3)["name"], "Петров Пётр Петрович");
    assert_eq!(by_id(companies, company22)["name"], "ООО «Ромашка»");

    // A service's lead hangs on its client's contact and its first company.
    let lead1002 = by_id(leads, db.link(Item, 1002).unwrap().unwrap().amocrm_id);
    assert_eq!(link_ids(lead1002, "contacts"), vec![contact3]);
    assert_eq!(link_ids(lead1002, "companies"), vec![company22]);
    assert_eq!(
        (
            lead1002["pipeline_id"].as_i64(),
            lead1002["status_id"].as_i64()
        ),
        (Some(7000001), Some(7000101))
    );
    assert_eq!(lead1002["price"].as_i64(), Some(14280));

    let stage = |item: i64| {
        let l = by_id(leads, db_link(p, item));
        (
            l["pipeline_id"].as_i64().unwrap(),
            l["status_id"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        stage(1008),
        (7000001, 143),
        "a closed service's lead is lost"
    );
    assert_eq!(
        stage(1004),
        (7000002, 7000200),
        "a domain goes to the domains pipeline"
    );
    assert_eq!(stage(1003), (7000001, 7000102), "suspended");
    assert_eq!(stage(1006), (7000001, 7000100), "the default stage");

    // Nothing was created twice: every amoCRM id is linked once.
    let mut ids: Vec<i64> = contacts.iter().filter_map(|c| c["id"].as_i64()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
}

fn db_link(p: &Panel, item: i64) -> i64 {
    p.db()
        .link(billmgr_amocrm::model::EntityKind::Item, item)
        .unwrap()
        .unwrap()
        .amocrm_id
}

fn api_writes(sandbox: &Sandbox) -> usize {
    let log = sandbox.get_json("/_sandbox/requests");
    log.as_array()
        .expect("request log")
        .iter()
        .filter(|r| {
            let m = r["method"].as_str().unwrap_or("");
            let path = r["path"].as_str().unwrap_or("");
            (m == "POST" || m == "PATCH") && path.starts_with("/api/")
        })
        .count()
}

#[test]
fn sample_panel_lands_in_amocrm_on_sqlite() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    send_sample_events(&p);
    drain(&p);
    check_sample_landed(&p, &sandbox);

    // The same events again change nothing: no write reaches amoCRM.
    let writes = api_writes(&sandbox);
    send_sample_events(&p);
    drain(&p);
    assert_eq!(
        api_writes(&sandbox),
        writes,
        "unchanged entities cost no write"
    );
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 6);

    let status = p.amocrm(&["status", "--json"]);
    let s: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(s["queue"]["pending"], 0);
    assert_eq!(s["links"]["leads"], 10);
    assert_eq!(s["amocrm"]["connected"], true, "{s}");
}

#[test]
fn sample_panel_lands_in_amocrm_on_mariadb() {
    let Some(server) = support::skip_without_mysql("sample_panel_lands_in_amocrm_on_mariadb")
    else {
        return;
    };
    let mdb = MysqlDb::create(&server);
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, &mdb.conf_lines(), "batch_size = 50");
    p.sample_panel();
    send_sample_events(&p);
    drain(&p);
    check_sample_landed(&p, &sandbox);
}

#[test]
fn full_export_with_sync_all() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 3");
    p.sample_panel();
    let out = p.amocrm(&["sync", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_sample_landed(&p, &sandbox);
}

#[test]
fn dry_run_prints_and_sends_nothing() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    let out = p.amocrm(&["sync", "--item", "1008", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap())
        .expect("json line");
    assert_eq!(line["action"], "create");
    assert_eq!(line["payload"]["status_id"], 143);
    assert_eq!(
        sandbox
            .get_json("/_sandbox/requests")
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        p.db().queue_summary(0).unwrap().pending,
        0,
        "a dry run queues nothing"
    );
}

#[test]
fn the_stop_switch_keeps_jobs_and_sends_nothing() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    p.event("service.postopen", "1001", &[]);
    run_task(&p);
    assert_eq!(
        sandbox
            .get_json("/_sandbox/requests")
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(p.db().queue_summary(0).unwrap().pending, 2);
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = yes");
    drain(&p);
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 1);
    assert_eq!(entities(&state, "leads").len(), 1);
}
