//! The client's money in the rules, end to end: a tag on the contacts of clients whose
//! balance is below zero, set by the export and by the sweep when a balance changes with no
//! event; and `amocrm check` on a panel whose personal accounts lack the balance's
//! (inferred) column. The real binary, the sandbox over HTTP, SQLite always and MariaDB
//! when the suite has a server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind::Account;
use serde_json::Value;
use support::{Backend, MysqlDb, Panel, Sandbox};

/// A second `[tags.contact]` section: its rule joins the sample's.
const DEBTOR: &str = "\n[tags.contact]\ndebtor = account.balance < 0\n";

fn tags_of(p: &Panel, sandbox: &Sandbox, client: i64) -> Vec<String> {
    let id = p
        .db()
        .link(Account, client)
        .expect("links")
        .expect("linked")
        .amocrm_id;
    let state = sandbox.get_json("/_sandbox/state");
    let contact = one_run::entities(&state, "contacts")
        .iter()
        .find(|c| c["id"].as_i64() == Some(id))
        .cloned()
        .unwrap_or(Value::Null);
    let tags = contact["_embedded"]["tags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    tags.iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

/// After the export: the debtor's tag, and the sweep's when a balance drops.
fn debtor_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let mut found = Vec::new();
    // Client 3 owes 540.00; client 2 has 1,250.00.
    let has = |client| tags_of(p, sandbox, client).contains(&"debtor".to_string());
    if !has(3) || has(2) {
        found.push(format!(
            "after the export: client 3 {:?}, client 2 {:?}",
            tags_of(p, sandbox, 3),
            tags_of(p, sandbox, 2)
        ));
    }
    // Client 2's balance drops with no event: the sweep sees it.
    let drop = "UPDATE subaccount SET balance = -10.00 WHERE id = 41";
    one_run::panel_sql(p, mariadb, drop);
    let out = p.amocrm(&["sync", "--changed"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if !has(2) {
        found.push(format!(
            "after the sweep: client 2 {:?}",
            tags_of(p, sandbox, 2)
        ));
    }
    found
}

fn a_tag_for_debtors_follows_the_balance(backend: Backend) {
    workers::on_exported(backend, DEBTOR, debtor_problems);
}

crate::on_each_database!(a_tag_for_debtors_follows_the_balance);

#[test]
fn check_says_when_the_panel_has_no_balance_column() {
    let sandbox = Sandbox::start(&[]);
    let p = workers::exported(&sandbox, Panel::sqlite(), DEBTOR);
    let out = p.amocrm(&["check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = rusqlite::Connection::open(p.path("var/billmgr.db")).expect("open");
    db.execute_batch("ALTER TABLE subaccount RENAME COLUMN balance TO amount")
        .expect("rename");
    let out = p.amocrm(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("subaccount.balance, is a name inferred"),
        "{err}"
    );
    assert!(err.contains("balance"), "{err}");
}
