//! The module's main job end to end: a panel database with the sample clients, payers and
//! services, events sent through the handler as the panel sends them, the worker, and the
//! sandbox amoCRM over HTTP. On SQLite always, on MariaDB when the suite has a server.

mod one_run;
mod support;
mod workers;

use one_run::{Event, drain, event, run_task};
use serde_json::Value;
use support::{Backend, MysqlDb, Panel, Sandbox};

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
    // amoCRM keeps one company per contact: client 3 has two legal payers (22 and 23), and
    // its contact keeps the first company, the one its leads take.
    assert_eq!(
        link_ids(by_id(contacts, contact3), "companies"),
        vec![company22]
    );

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
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn sample_panel_lands_in_amocrm_on_mariadb() {
    let server = support::mysql_server();
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
    // Running the export again (after an interruption, say) sends nothing twice.
    let writes = api_writes(&sandbox);
    let out = p.amocrm(&["sync", "--all"]);
    assert!(out.status.success());
    assert_eq!(api_writes(&sandbox), writes);
    check_sample_landed(&p, &sandbox);
}

#[test]
fn a_later_company_of_a_client_does_not_move_its_contact() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    // Client 3's two legal payers, in two runs: 22's company first, then 23's.
    for payer in ["22", "23"] {
        let out = p.amocrm(&["sync", "--profile", payer]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    use billmgr_amocrm::model::EntityKind::*;
    let mut db = p.db();
    let contact3 = db.link(Account, 3).unwrap().unwrap().amocrm_id;
    let company22 = db.link(Profile, 22).unwrap().unwrap().amocrm_id;
    let company23 = db.link(Profile, 23).unwrap().unwrap().amocrm_id;
    let state = sandbox.get_json("/_sandbox/state");
    // amoCRM keeps one company per contact: a link to 23's would have moved it.
    assert_eq!(
        link_ids(by_id(entities(&state, "contacts"), contact3), "companies"),
        vec![company22]
    );
    assert!(link_ids(by_id(entities(&state, "companies"), company23), "contacts").is_empty());
}

#[test]
fn sync_one_entity_sends_it_with_what_it_hangs_on() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    let out = p.amocrm(&["sync", "--account", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 1);
    assert_eq!(entities(&state, "companies").len(), 0);
    // A service: its client is linked already, its company is made on the way.
    let out = p.amocrm(&["sync", "--item", "1002"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 1);
    assert_eq!(entities(&state, "companies").len(), 1);
    assert_eq!(entities(&state, "leads").len(), 1);
    let mut db = p.db();
    use billmgr_amocrm::model::EntityKind::*;
    assert!(db.link(Profile, 22).unwrap().is_some());
    let usage = p.amocrm(&["sync", "--account"]);
    assert_eq!(usage.status.code(), Some(2), "bad usage exits 2");
}

#[test]
fn a_second_worker_exits_at_once_and_the_handler_does_not_wait() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    // Every answer takes a second: the worker the handler starts is busy for a while.
    sandbox.post_json("/_sandbox/faults", &serde_json::json!({"latency_ms": 1000}));
    p.event("account.edit", "2", &[]);
    // The handler has returned; its worker is still working.
    let held = |f: &std::fs::File| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock));
    // The worker creates the lock file itself: look until it exists and is held (a loaded
    // machine may take a while to start the process).
    let lock = support::wait_until(
        "the worker the handler started to hold its lock",
        std::time::Duration::from_secs(10),
        || {
            (std::fs::OpenOptions::new().write(true))
                .open(p.path("var/amocrm_task.lock"))
                .ok()
                .filter(held)
        },
    );
    let second = p.amocrm(&["task"]);
    assert_eq!(second.status.code(), Some(0));
    assert!(
        held(&lock),
        "the first worker still runs while the second has left"
    );
    sandbox.post_json("/_sandbox/faults", &serde_json::json!({}));
    drain(&p);
    assert_eq!(
        entities(&sandbox.get_json("/_sandbox/state"), "contacts").len(),
        1
    );
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

/// Runs `amocrm task` until a run ends with the given exit code (the worker the handler
/// started in the background may be finishing first).
fn task_until(p: &Panel, code: i32) -> std::process::Output {
    let what = format!("`amocrm task` to exit {code}");
    support::wait_until(&what, std::time::Duration::from_secs(60), || {
        Some(p.amocrm(&["task"])).filter(|out| out.status.code() == Some(code))
    })
}

/// A manager's call to amoCRM with the module's own token.
fn manager_patch(p: &Panel, sandbox: &Sandbox, path: &str, body: &Value) {
    let token = p.read("etc/amocrm/access_token");
    let resp = ureq::patch(&format!("{}{}", sandbox.url, path))
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("manager's PATCH");
    assert_eq!(resp.status().as_u16(), 200);
}

fn contact_of(sandbox: &Sandbox, id: i64) -> Value {
    let state = sandbox.get_json("/_sandbox/state");
    by_id(entities(&state, "contacts"), id).clone()
}

fn field_text(entity: &Value, code_or_id: &str) -> Vec<String> {
    entity["custom_fields_values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["field_code"].as_str() == Some(code_or_id)
                || f["field_id"].as_i64().map(|i| i.to_string()).as_deref() == Some(code_or_id)
        })
        .flat_map(|f| f["values"].as_array().cloned().unwrap_or_default())
        .map(|v| {
            v["value"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v["value"].to_string())
        })
        .collect()
}

#[test]
fn existing_contacts_are_linked_not_duplicated() {
    let seed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        seed.path(),
        serde_json::json!({
            "base": "default",
            "contacts": [
                {"id": 5001, "name": "Иван (карточка менеджера)", "custom_fields_values": [
                    {"field_code": "EMAIL", "values": [{"value": "IVAN.IVANOV@Example.RU", "enum_code": "WORK"}]}]},
                {"id": 5002, "name": "John S.", "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "1 (415) 555-01-34", "enum_code": "MOB"}]}]}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let sandbox = Sandbox::start(&["--seed", seed.path().to_str().unwrap()]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    p.event("account.edit", "6", &[]);
    drain(&p);
    let mut db = p.db();
    use billmgr_amocrm::model::EntityKind::Account;
    assert_eq!(
        db.link(Account, 2).unwrap().unwrap().amocrm_id,
        5001,
        "matched by e-mail, any case"
    );
    assert_eq!(
        db.link(Account, 6).unwrap().unwrap().amocrm_id,
        5002,
        "matched by phone digits"
    );
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 2, "nothing created");
    // The manager's name stays; what was empty is filled from the panel.
    let ivan = contact_of(&sandbox, 5001);
    assert_eq!(ivan["name"], "Иван (карточка менеджера)");
    assert_eq!(field_text(&ivan, "PHONE"), vec!["+7 (912) 345-67-89"]);
    assert_eq!(field_text(&ivan, "812345"), vec!["2"]);
}

#[test]
fn manager_edits_are_kept_unless_the_admin_chooses_overwrite() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "update = fill_empty");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    drain(&p);
    let id = p
        .db()
        .link(billmgr_amocrm::model::EntityKind::Account, 2)
        .unwrap()
        .unwrap()
        .amocrm_id;
    manager_patch(
        &p,
        &sandbox,
        &format!("/api/v4/contacts/{id}"),
        &serde_json::json!({"name": "Иван (VIP)", "custom_fields_values": [
            {"field_code": "EMAIL", "values": [{"value": "vip@example.ru", "enum_code": "PRIV"}]}]}),
    );
    let conn = rusqlite::Connection::open(p.path("var/billmgr.db")).unwrap();
    conn.execute(
        "UPDATE user SET realname = 'Иванов И. И.', email = 'new@example.ru' WHERE id = 11",
        [],
    )
    .unwrap();
    p.event("account.edit", "2", &[]);
    drain(&p);
    let c = contact_of(&sandbox, id);
    assert_eq!(
        c["name"], "Иван (VIP)",
        "fill_empty keeps the manager's name"
    );
    assert_eq!(field_text(&c, "EMAIL"), vec!["vip@example.ru"]);

    p.write_conf(&sandbox.url, Panel::sqlite(), "update = overwrite");
    p.event("account.edit", "2", &[]);
    drain(&p);
    let c = contact_of(&sandbox, id);
    assert_eq!(c["name"], "Иванов И. И.", "overwrite: the panel wins");
    assert_eq!(field_text(&c, "EMAIL"), vec!["new@example.ru"]);
}

/// A lead mirrors its service: with the default settings a renewal moves its expiry date
/// field, while what a manager typed on the contact stays.
fn a_renewal_moves_the_leads_expiry_and_the_managers_contact_edits_stay(backend: Backend) {
    let (label, database, mariadb) = backend.database();
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, &database, "batch_size = 50");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    p.event("service.postopen", "1001", &[]);
    drain(&p);
    use billmgr_amocrm::model::EntityKind;
    let contact = p
        .db()
        .link(EntityKind::Account, 2)
        .unwrap()
        .unwrap()
        .amocrm_id;
    let lead = p
        .db()
        .link(EntityKind::Item, 1001)
        .unwrap()
        .unwrap()
        .amocrm_id;
    let before = field_text(&lead_of(&sandbox, lead), "816002");
    manager_patch(
        &p,
        &sandbox,
        &format!("/api/v4/contacts/{contact}"),
        &serde_json::json!({"name": "Иван (VIP)"}),
    );
    // The panel renews the service a year ahead and the client's name changes.
    one_run::panel_sql(
        &p,
        mariadb.as_ref(),
        "UPDATE item SET expiredate = '2026-07-14' WHERE id = 1001; \
             UPDATE user SET realname = 'Иванов И. И.' WHERE id = 11;",
    );
    p.event("service.postprolong", "1001", &[]);
    p.event("account.edit", "2", &[]);
    drain(&p);
    let after = field_text(&lead_of(&sandbox, lead), "816002");
    // 2026-07-14 00:00 UTC.
    assert_eq!(
        after,
        ["1783987200"],
        "{label}: the lead's expiry, was {before:?}"
    );
    assert_eq!(
        contact_of(&sandbox, contact)["name"],
        "Иван (VIP)",
        "{label}: the manager's name for the contact stays"
    );
    let s = p.db().queue_summary(i64::MAX / 2).unwrap();
    assert_eq!((s.failed, s.pending), (0, 0), "{label}");
}

crate::on_each_database!(a_renewal_moves_the_leads_expiry_and_the_managers_contact_edits_stay);

fn lead_of(sandbox: &Sandbox, id: i64) -> Value {
    let state = sandbox.get_json("/_sandbox/state");
    by_id(entities(&state, "leads"), id).clone()
}

#[test]
fn an_unpaid_account_stops_the_run_and_keeps_the_queue() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    let (status, _) = sandbox.post_json(
        "/_sandbox/faults",
        &serde_json::json!({"payment_required": true}),
    );
    assert_eq!(status, 200);
    p.event("account.edit", "2", &[]);
    p.event("service.postopen", "1001", &[]);
    let out = task_until(&p, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("402"), "{err}");
    let s = p.db().queue_summary(i64::MAX / 2).unwrap();
    assert_eq!((s.pending, s.taken), (2, 0), "every job waits");
    let status: Value = serde_json::from_slice(&p.amocrm(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["ok"], false);
    assert_eq!(status["last_run"]["result"], "stopped");
    assert!(
        status["last_run"]["action"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("pa"),
        "{status}"
    );
    assert!(
        p.read("var/amocrm_task.log")
            .contains("the run stopped, the queue keeps every job")
    );

    sandbox.post_json("/_sandbox/faults", &serde_json::json!({}));
    drain(&p);
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 1);
    assert_eq!(entities(&state, "leads").len(), 1);
}

#[test]
fn an_outage_ends_the_run_cleanly_and_the_next_run_completes() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    // Short retry pauses: the run gives up on the outage at once, not after 15 s.
    p.write_conf(
        &sandbox.url,
        Panel::sqlite(),
        "batch_size = 50\nretry_pause_ms = 10",
    );
    p.sample_panel();
    // Authorize first, so the outage hits the sync itself.
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sandbox.post_json(
        "/_sandbox/faults",
        &serde_json::json!({"outage_seconds": 600}),
    );
    p.event("account.edit", "3", &[]);
    p.event("profile.edit", "22", &[]);
    let out = task_until(&p, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unavailable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = p.db().queue_summary(i64::MAX / 2).unwrap();
    assert_eq!((s.pending, s.taken), (2, 0));
    let status = String::from_utf8_lossy(&p.amocrm(&["status"]).stdout).to_string();
    assert!(status.contains("unreachable"), "{status}");

    sandbox.post_json("/_sandbox/faults", &serde_json::json!({}));
    drain(&p);
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(entities(&state, "contacts").len(), 1);
    assert_eq!(entities(&state, "companies").len(), 1);
}

#[test]
fn a_lead_moves_only_when_a_rule_names_the_new_state() {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.sample_panel();
    p.event("service.postopen", "1001", &[]);
    drain(&p);
    let lead = db_link(&p, 1001);
    let stage = || {
        let state = sandbox.get_json("/_sandbox/state");
        let l = by_id(entities(&state, "leads"), lead).clone();
        (
            l["pipeline_id"].as_i64().unwrap(),
            l["status_id"].as_i64().unwrap(),
        )
    };
    assert_eq!(stage(), (7000001, 7000101), "a VDS starts in the VDS stage");

    // A manager moves the deal by hand; a change that names no state leaves it there.
    manager_patch(
        &p,
        &sandbox,
        &format!("/api/v4/leads/{lead}"),
        &serde_json::json!({"pipeline_id": 7000001, "status_id": 7000100}),
    );
    let conn = rusqlite::Connection::open(p.path("var/billmgr.db")).unwrap();
    conn.execute(
        "UPDATE item SET expiredate = '2026-07-14' WHERE id = 1001",
        [],
    )
    .unwrap();
    p.event("service.postprolong", "1001", &[]);
    drain(&p);
    assert_eq!(
        stage(),
        (7000001, 7000100),
        "prolonging does not undo the manager's move"
    );

    // The service is closed: the `closed` rule names the state, the deal is lost.
    conn.execute("UPDATE item SET status = 4 WHERE id = 1001", [])
        .unwrap();
    p.event("service.postclose", "1001", &[]);
    drain(&p);
    assert_eq!(stage(), (7000001, 143));
}

#[test]
fn no_secret_reaches_a_log() {
    let sandbox = Sandbox::start(&["--token-lifetime", "60"]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    p.write("etc/debug.conf", "amocrm 9\n");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    drain(&p);
    let first_refresh = p.read("etc/amocrm/refresh_token");
    // The access token expires on amoCRM's side: a 401, then a refresh.
    sandbox.advance(61.0);
    p.event("service.postopen", "1001", &[]);
    drain(&p);
    assert_eq!(p.amocrm(&["status"]).status.code(), Some(0));
    let mut secrets = vec![
        support::CLIENT_SECRET.to_string(),
        support::AUTH_CODE.to_string(),
        first_refresh.trim().to_string(),
        p.read("etc/amocrm/access_token").trim().to_string(),
        p.read("etc/amocrm/refresh_token").trim().to_string(),
    ];
    secrets.retain(|s| s.len() > 8);
    assert_eq!(secrets.len(), 5, "tokens were written");
    assert_ne!(secrets[2], secrets[4], "the refresh token rotated");
    let logs = p.read("var/amocrm_task.log") + &p.read("var/amocrm_action.log");
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "the logs ran at the debug level"
    );
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret reached a log");
    }
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "etc/amocrm/access_token",
        "etc/amocrm/refresh_token",
        "etc/amocrm/amocrm.conf",
    ] {
        let mode = std::fs::metadata(p.path(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn a_block_for_overruns_stops_the_run_and_keeps_the_queue() {
    // A sandbox far stricter than the configured rate, answering with HTML pages: the
    // worker meets 429s it cannot read, then a 403 block.
    let sandbox = Sandbox::start(&[
        "--rate",
        "1",
        "--block-after",
        "3",
        "--block-seconds",
        "600",
        "--html-limit-pages",
    ]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "rate_limit = 7");
    p.sample_panel();
    p.event("account.edit", "2", &[]);
    p.event("account.edit", "3", &[]);
    let out = task_until(&p, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403"), "{err}");
    let s = p.db().queue_summary(i64::MAX / 2).unwrap();
    assert_eq!((s.pending, s.taken), (2, 0), "every job waits");
    let status: Value = serde_json::from_slice(&p.amocrm(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["last_run"]["result"], "stopped");
    assert!(
        !status["last_run"]["action"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{status}"
    );
}

/// The sample's clients by their first user's login, the user ids, the payers, and the
/// services of each item type.
const CLIENTS: [(&str, &str); 6] = [
    ("2", "ivan.ivanov@example.ru"),
    ("3", "petrov@romashka.example"),
    ("4", "patrick.obrien@example.ie"),
    ("5", "kuznetsova.ms@example.ru"),
    ("6", "john.smith@example.com"),
    ("7", "a.smirnov@example.ru"),
];
const USERS: [&str; 7] = ["11", "12", "13", "14", "15", "16", "17"];
const PAYERS: [&str; 6] = ["21", "22", "23", "24", "25", "26"];
const SERVICES_BY_TYPE: [(&str, &str); 3] = [
    ("vds", "1001, 1002, 1005, 1008, 1010"),
    ("vhost", "1003, 1006, 1009"),
    ("domain", "1004, 1007"),
];

/// Every kind of event the panel sends about the sample's clients, payers and services:
/// each names its entity in every way the handler knows (id, new id in the answer, login,
/// user, newest payer of a login, several ids at once).
fn every_sample_event() -> Vec<Event> {
    let mut events = Vec::new();
    for (id, login) in CLIENTS {
        events.push(one_run::register(login));
        events.push(event("account.edit", id));
        events.push(one_run::payer_added_by(login));
        events.push(event("profile.add", "").with("PARAM_su", login));
    }
    events.push(
        event("account.edit", "")
            .with("PARAM_email", "a.smirnov@example.ru")
            .answering("7"),
    );
    events.push(event("account.edit", "").with("PARAM_email", "patrick.obrien@example.ie"));
    events.extend(USERS.map(|u| event("user.edit", u)));
    events.push(one_run::own_user_edit(
        "13",
        "a.sidorova+billing@romashka.example",
    ));
    events.extend(PAYERS.map(|p| event("profile.edit", p)));
    events.push(one_run::payer_added_by("john.smith@example.com").answering("26"));
    for callback in [
        "postopen",
        "postprolong",
        "postsuspend",
        "postresume",
        "postclose",
        "postsetparam",
    ] {
        let func = format!("service.{callback}");
        events.extend((1001..=1010).map(|i| event(&func, i.to_string())));
    }
    // The renewal form names one service; the per-type group actions several.
    events.extend((1001..=1010).map(|i| event("service.prolong", i.to_string())));
    for (itemtype, group) in SERVICES_BY_TYPE {
        for action in ["open", "edit", "suspend", "resume", "delete"] {
            events.push(event(format!("{itemtype}.{action}"), group));
        }
    }
    events
}

/// What amoCRM holds after the whole sample went out in one run: nothing twice, nothing
/// without its link, the sample's count of each, and no job left failed or waiting.
fn sample_once_problems(p: &Panel, sandbox: &Sandbox, jobs: &[String]) -> Vec<String> {
    let state = sandbox.get_json("/_sandbox/state");
    let mut problems = one_run::any_duplicates(&state);
    problems.extend(one_run::all_link_problems(p, &state));
    for (kind, want) in [("contacts", 6), ("companies", 4), ("leads", 10)] {
        let got = one_run::entities(&state, kind).len();
        if got != want {
            problems.push(format!("{got} {kind}, the sample makes {want}"));
        }
    }
    // Individual payers, and the newest payer of a client with none, are skipped by rule.
    problems.extend(one_run::unfinished_jobs(p, jobs, true));
    problems
}

fn every_event_of_the_sample_panel_in_one_run_makes_nothing_twice(backend: Backend) {
    let test = "every event of the sample panel in one run";
    let mut problems = Vec::new();
    let (db, database, _guard) = backend.database();
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, &database, "batch_size = 50");
    p.sample_panel();
    let jobs = one_run::queue_while_the_worker_waits(&p, &every_sample_event());
    // 6 clients by id, 6 logins, 7 users; 6 payers by id, 6 logins; 10 services.
    assert_eq!(jobs.len(), 41, "{db}: the jobs queued: {jobs:?}");
    one_run::drain(&p);
    problems.push((db.to_string(), sample_once_problems(&p, &sandbox, &jobs)));
    one_run::assert_none(test, &problems);
}

crate::on_each_database!(every_event_of_the_sample_panel_in_one_run_makes_nothing_twice);
