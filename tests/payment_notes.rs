//! Payments as notes, end to end: after the sample panel's export, payments are credited
//! and refunded in the panel and their events go through the handler; `amocrm task` writes
//! one note each on the client's contact, never a second for the same payment, with the
//! client synced first when amoCRM has no contact for it yet; under lost answers each
//! payment still has exactly one note. The real binary, the sandbox over HTTP, SQLite
//! always and MariaDB when the suite has a server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind::Account;
use one_run::event;
use serde_json::{Value, json};
use support::{Backend, MysqlDb, Panel, Sandbox};

/// The notes amoCRM holds on a contact: their texts.
fn notes_on(sandbox: &Sandbox, contact: i64) -> Vec<String> {
    let state = sandbox.get_json("/_sandbox/state");
    one_run::entities(&state, "notes")
        .iter()
        .filter(|n| n["entity_type"] == "contacts" && n["entity_id"].as_i64() == Some(contact))
        .filter_map(|n| n["params"]["text"].as_str().map(str::to_string))
        .collect()
}

fn contact_of(p: &Panel, client: i64) -> Option<i64> {
    p.db()
        .link(Account, client)
        .expect("links")
        .map(|l| l.amocrm_id)
}

/// Notes on the client's contact that contain every one of `words`, and how many.
fn count(sandbox: &Sandbox, p: &Panel, client: i64, words: &[&str]) -> usize {
    let Some(contact) = contact_of(p, client) else {
        return 0;
    };
    let notes = notes_on(sandbox, contact);
    notes
        .iter()
        .filter(|t| words.iter().all(|w| t.contains(w)))
        .count()
}

/// Client 8, new in the panel (no event for it), with a personal account and payment 38
/// credited.
const NEW_CLIENT_PAID: &str = "INSERT INTO account (id, name, parent, level, project, country, \
     registration_date) VALUES (8, 'Орлова Ольга', 1, 16, 1, 182, '2025-06-01 09:00:00');
     INSERT INTO user (id, account, name, realname, email, language, level, enabled) VALUES \
     (18, 8, 'orlova@example.ru', 'Орлова Ольга', 'orlova@example.ru', 'ru', 16, 'on');
     INSERT INTO subaccount (id, account, project, currency, name, balance, credit) VALUES \
     (47, 8, 1, 126, 'Основной', 700.00, 0.00);
     INSERT INTO payment (id, subaccount, paymethod, status, number, subaccountamount, \
     paymethodamount, currency, createdate, paydate) VALUES (38, 47, 1, 4, '2025-000038', \
     700.00, 700.00, 126, '2025-06-01 09:05:00', '2025-06-01 09:06:00');";

fn sql_each(p: &Panel, mariadb: Option<&MysqlDb>, script: &str) {
    for stmt in script.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        one_run::panel_sql(p, mariadb, stmt.trim_end_matches(';'));
    }
}

fn after(p: &Panel, events: &[one_run::Event]) {
    // The runs before leave their jobs done: only the new ones are to wait.
    p.db().prune_jobs(i64::MAX / 2).expect("done jobs pruned");
    one_run::queue_while_the_worker_waits(p, events);
    one_run::drain(p);
}

fn note_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |what: &str, got: usize, want: usize| {
        if got != want {
            problems.push(format!("{what}: {got} note(s), not {want}"));
        }
    };
    let paid31 = [
        "Оплата 1500.00 RUB зачислена",
        "Банковская карта",
        "№ 2025-000031",
    ];
    after(p, &[event("payment.setpaid", "31")]);
    expect("payment 31 credited", count(sandbox, p, 2, &paid31), 1);
    // The same payment again, by its event and by an admin's form: no second note.
    let edit31 = event("payment.edit", "31").with("PARAM_sok", "ok");
    after(p, &[event("payment.setpaid", "31"), edit31]);
    expect("payment 31 seen again", count(sandbox, p, 2, &paid31), 1);
    // A partial refund (its own negative payment) and a payment refunded in full.
    let edit34 = event("payment.edit", "34").with("PARAM_sok", "ok");
    after(p, &[event("payment.setpaid", "35"), edit34]);
    expect(
        "refund 35",
        count(sandbox, p, 2, &["Возврат 300.00 RUB", "id 31"]),
        1,
    );
    expect(
        "payment 34 refunded",
        count(sandbox, p, 4, &["9.99 USD возвращён полностью"]),
        1,
    );
    // Nothing credited: no note.
    after(p, &[event("payment.setpaid", "33")]);
    expect(
        "payment 33 not paid",
        count(sandbox, p, 3, &["2025-000033"]),
        0,
    );
    // A client amoCRM does not have yet: its contact first, then the note.
    sql_each(p, mariadb, NEW_CLIENT_PAID);
    after(p, &[event("payment.setpaid", "38")]);
    expect(
        "payment 38 of a new client",
        count(sandbox, p, 8, &["700.00 RUB", "2025-000038"]),
        1,
    );
    problems.extend(one_run::any_duplicates(
        &sandbox.get_json("/_sandbox/state"),
    ));
    problems
}

fn each_payment_is_one_note_on_its_clients_contact(backend: Backend) {
    workers::on_exported(backend, "", note_problems);
}

crate::on_each_database!(each_payment_is_one_note_on_its_clients_contact);

/// Payments `ids` of clients 2 and 3 (even and odd), credited now.
fn credited(ids: std::ops::Range<i64>) -> String {
    ids.map(|id| {
        let sub = if id % 2 == 0 { 41 } else { 42 };
        format!(
            "INSERT INTO payment (id, subaccount, paymethod, status, number, \
             subaccountamount, currency, paydate) VALUES ({id}, {sub}, 1, 4, 'N-{id}', \
             {id}.00, 126, '2025-06-02 10:00:00');\n"
        )
    })
    .collect()
}

fn faults(sandbox: &Sandbox, faults: Value) {
    let (status, body) = sandbox.post_json("/_sandbox/faults", &faults);
    assert_eq!(status, 200, "{body}");
}

/// Each of these payments has exactly one note on its client's contact.
fn once_each(p: &Panel, sandbox: &Sandbox, ids: std::ops::Range<i64>) -> Vec<String> {
    ids.filter_map(|id| {
        let client = if id % 2 == 0 { 2 } else { 3 };
        let n = count(sandbox, p, client, &[&format!("№ N-{id} ")]);
        (n != 1).then(|| format!("payment {id}: {n} notes"))
    })
    .collect()
}

fn lost_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    // The answer to the notes' request is lost: they are found, not sent again.
    sql_each(p, mariadb, &credited(100..120));
    faults(sandbox, json!({"lost_next": 1}));
    let events: Vec<_> = (100..120)
        .map(|id| event("payment.setpaid", id.to_string()))
        .collect();
    after(p, &events);
    let mut problems = once_each(p, sandbox, 100..120);
    if !p.read("var/amocrm_task.log").contains("found in amoCRM") {
        problems.push("the task log does not say the lost notes were found".into());
    }
    // A run for each payment, a third of the answers lost.
    sql_each(p, mariadb, &credited(120..132));
    faults(sandbox, json!({"lost_rate": 0.3}));
    for id in 120..132 {
        after(p, &[event("payment.setpaid", id.to_string())]);
    }
    faults(sandbox, json!({"lost_rate": 0.0}));
    problems.extend(once_each(p, sandbox, 120..132));
    let lost = (workers::requests(sandbox).iter())
        .filter(|r| r["lost"] == Value::Bool(true))
        .count();
    if lost < 2 {
        problems.push(format!(
            "only {lost} answer(s) lost: the faults did not bite"
        ));
    }
    problems
}

fn with_answers_lost_each_payment_still_has_one_note(backend: Backend) {
    workers::on_exported(backend, "", lost_problems);
}

crate::on_each_database!(with_answers_lost_each_payment_still_has_one_note);

/// Payment 39 of client 2, credited a moment ago as the panel dates it, with no event; and
/// payment 40, credited long ago, with none either.
fn paid_without_events(now: i64) -> String {
    let paid = billmgr_amocrm::log::local_datetime(now - 60);
    format!(
        "INSERT INTO payment (id, subaccount, paymethod, status, number, subaccountamount, \
         currency, paydate) VALUES (39, 41, 2, 4, 'N-39', 250.00, 126, '{paid}');\n\
         INSERT INTO payment (id, subaccount, paymethod, status, number, subaccountamount, \
         currency, paydate) VALUES (40, 41, 2, 4, 'N-40', 10.00, 126, '2020-01-10 10:00:00');\n"
    )
}

fn sweep(p: &Panel) -> String {
    let out = p.amocrm(&["sync", "--changed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sweep_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let mut problems = Vec::new();
    sweep(p);
    sql_each(p, mariadb, &paid_without_events(billmgr_amocrm::log::now()));
    let said = sweep(p);
    let notes = |id: &str| count(sandbox, p, 2, &[&format!("№ N-{id} ")]);
    if (notes("39"), notes("40")) != (1, 0) {
        problems.push(format!(
            "after the sweep, payment 39 has {} note(s) (not 1) and 40, paid long ago, {} (not 0); it said: {said}",
            notes("39"),
            notes("40")
        ));
    }
    let before = workers::requests(sandbox).len();
    sweep(p);
    let writes = workers::requests(sandbox)[before..]
        .iter()
        .filter(|r| r["method"] != "GET")
        .count();
    if writes > 0 || notes("39") != 1 {
        problems.push(format!("the second sweep wrote {writes} time(s)"));
    }
    problems
}

fn a_payment_no_event_reported_becomes_its_note_at_the_sweep(backend: Backend) {
    workers::on_exported(backend, "", sweep_problems);
}

crate::on_each_database!(a_payment_no_event_reported_becomes_its_note_at_the_sweep);

#[test]
fn the_panels_list_shows_the_notes_set() {
    let sandbox = Sandbox::start(&[]);
    let p = workers::exported(&sandbox, Panel::sqlite(), "");
    after(&p, &[event("payment.setpaid", "31")]);
    for lang in ["ru", "en"] {
        let answer = p.call_as("amocrm.posts", "admin", 29, lang, &[]);
        answer.assert_complete("amocrm.posts");
        let row = (answer.elems.iter())
            .find(|e| e.get("id").map(String::as_str) == Some("payment:31:credited"))
            .unwrap_or_else(|| panic!("no row for payment 31: {}", answer.raw));
        let contact = contact_of(&p, 2).expect("client 2 linked");
        assert_eq!(row["what"], "note");
        assert_eq!(row["on"], format!("contact {contact}"));
        assert!(
            !row["amocrm_id"].is_empty() && !row["posted"].is_empty(),
            "{row:?}"
        );
        assert!(row["text"].contains("Оплата 1500.00 RUB"), "{row:?}");
    }
}

/// `[notes] payments = no`: a credited payment makes no note, by its event or by the
/// sweep; with notes on, a dry sweep prints the payment it would queue and queues nothing.
fn switch_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let mut problems = Vec::new();
    let set = |from: &str, to: &str| {
        let conf = p.read("etc/amocrm/amocrm.conf").replace(from, to);
        p.write("etc/amocrm/amocrm.conf", &conf);
    };
    set("payments = yes", "payments = no");
    sql_each(p, mariadb, &paid_without_events(billmgr_amocrm::log::now()));
    after(p, &[event("payment.setpaid", "31")]);
    sweep(p);
    let notes = one_run::entities(&sandbox.get_json("/_sandbox/state"), "notes").len();
    if notes != 0 {
        problems.push(format!("{notes} note(s) with notes off"));
    }
    let conf = p
        .read("etc/amocrm/amocrm.conf")
        .replace("payments = no", "payments = yes");
    p.write("etc/amocrm/amocrm.conf", &conf);
    let out = p.amocrm(&["sync", "--changed", "--dry-run"]);
    let said = String::from_utf8_lossy(&out.stdout);
    let line = r#"{"kind":"payment","id":39,"entity":"notes","reason":"new"}"#;
    if !out.status.success() || !said.contains(line) {
        problems.push(format!("the dry sweep said: {said}"));
    }
    if p.db().count_jobs(&["pending"]).expect("queue") != 0 {
        problems.push("the dry sweep queued".into());
    }
    problems
}

fn with_notes_off_no_payment_makes_a_note(backend: Backend) {
    workers::on_exported(backend, "", switch_problems);
}

crate::on_each_database!(with_notes_off_no_payment_makes_a_note);
