//! `[responsible]` end to end: the real binary exports the sample panel to the sandbox
//! with owners by service type and by the client's e-mail, and a default amoCRM has
//! deactivated. New contacts and leads carry the rule's user; what no active user owns
//! is created without one (the integration's user), and the task log says why. A manager
//! deactivated after the users were read is refused by amoCRM: the entity is created again
//! without a responsible user, and no job fails. SQLite always, MariaDB with a server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind::{self, Account, Item, Profile};
use serde_json::{Value, json};
use support::{Backend, MysqlDb, Panel, Sandbox};

/// The sandbox's users: the integration's, two managers, one deactivated.
const OWNER: i64 = 504141;
const MANAGER1: i64 = 504142;
const MANAGER2: i64 = 504143;

const RULES: &str = "\n[responsible]\nvds = item.itemtype = vds -> Manager1@example.com\n\
                     romashka = user.email ends_with \"@romashka.example\" -> 504143\n\
                     default = former@example.com\n\
                     [tasks]\nsuspended = item.status = 3 -> +1 \"{item.name}: позвонить\"\n";

/// The owner of the task on a service's lead.
fn task_owner(p: &Panel, state: &Value, item: i64) -> Option<i64> {
    let lead = p.db().link(Item, item).expect("link table")?.amocrm_id;
    one_run::entities(state, "tasks")
        .iter()
        .find(|t| t["entity_id"].as_i64() == Some(lead))
        .and_then(|t| t["responsible_user_id"].as_i64())
}

/// The amoCRM owner of a panel entity's linked entity.
fn owner(p: &Panel, state: &Value, kind: EntityKind, id: i64) -> Option<i64> {
    let link = p.db().link(kind, id).expect("link table")?;
    one_run::entities(state, kind.amo_entity())
        .iter()
        .find(|e| e["id"].as_i64() == Some(link.amocrm_id))
        .and_then(|e| e["responsible_user_id"].as_i64())
}

fn owner_problems(p: &Panel, state: &Value) -> Vec<String> {
    let want = [
        (Account, 2, OWNER),
        (Account, 3, MANAGER2),
        (Profile, 22, OWNER),
        (Item, 1001, MANAGER1),
        (Item, 1002, MANAGER1),
        (Item, 1003, MANAGER2),
        (Item, 1004, MANAGER2),
    ];
    let mut problems: Vec<String> = want
        .into_iter()
        .filter_map(|(kind, id, user)| {
            let got = owner(p, state, kind, id);
            (got != Some(user)).then(|| format!("{kind} {id}: owner {got:?}, not {user}"))
        })
        .collect();
    // Suspended services' tasks: owned as their leads are.
    for (item, user) in [(1003, MANAGER2), (1009, OWNER)] {
        let got = task_owner(p, state, item);
        if got != Some(user) {
            problems.push(format!(
                "the task of item {item}: owner {got:?}, not {user}"
            ));
        }
    }
    problems
}

/// Service 1011, a new VDS of client 2, written into the panel.
const NEW_VDS: &str = "INSERT INTO item (id, account, pricelist, name, status, period, currency, \
     cost, createdate, opendate, expiredate, autosuspend, employeesuspend, abusesuspend, \
     scheduledclose) VALUES (1011, 2, 10, 'vps2.ivanov.ru', 2, 1, 126, 590.00, '2025-06-01', \
     '2025-06-01', '2025-07-01', 'off', 'off', 'off', 'off')";

/// An admin's command, which must succeed.
fn run(p: &Panel, args: &[&str]) {
    let out = p.amocrm(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// After the export: owners as the rules say; manager 1 and then manager 2 leave.
fn export_problems(p: &Panel, sandbox: &Sandbox, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let state = sandbox.get_json("/_sandbox/state");
    let mut found = owner_problems(p, &state);
    let log = p.read("var/amocrm_task.log");
    if !log.contains("amoCRM user former@example.com (id 504144) is deactivated") {
        found.push("the task log does not say the default is deactivated".into());
    }

    // Manager 1 leaves after the users were read: amoCRM refuses the owner.
    let body = json!({"id": MANAGER1, "is_active": false});
    assert_eq!(sandbox.post_json("/_sandbox/users", &body).0, 200);
    one_run::panel_sql(p, mariadb, NEW_VDS);
    run(p, &["sync", "--item", "1011"]);
    let state = sandbox.get_json("/_sandbox/state");
    if owner(p, &state, Item, 1011) != Some(OWNER) {
        found.push(format!(
            "item 1011: owner {:?}",
            owner(p, &state, Item, 1011)
        ));
    }
    let log = p.read("var/amocrm_task.log");
    if !log.contains("amoCRM refused user 504142 as responsible") {
        found.push("the task log does not say amoCRM refused manager 1".into());
    }
    let refused = workers::requests(sandbox)
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v4/leads" && r["status"] == 400)
        .count();
    if refused != 1 {
        found.push(format!(
            "{refused} lead creates refused, not the one with manager 1"
        ));
    }
    // Manager 2 leaves too, after a run read the users again, and a service of hers
    // is suspended: its task goes out without her once amoCRM refuses her.
    run(p, &["sync", "--item", "1001"]);
    let body = json!({"id": MANAGER2, "is_active": false});
    assert_eq!(sandbox.post_json("/_sandbox/users", &body).0, 200);
    one_run::panel_sql(p, mariadb, "UPDATE item SET status = 3 WHERE id = 1004");
    run(p, &["sync", "--item", "1004"]);
    let state = sandbox.get_json("/_sandbox/state");
    if task_owner(p, &state, 1004) != Some(OWNER) {
        found.push(format!(
            "the task of item 1004: owner {:?}",
            task_owner(p, &state, 1004)
        ));
    }
    if !p
        .read("var/amocrm_task.log")
        .contains("amoCRM refused user 504143 as responsible")
    {
        found.push("the task log does not say amoCRM refused manager 2".into());
    }
    let failed = p.db().count_jobs(&["failed"]).expect("queue");
    if failed > 0 {
        found.push(format!("{failed} failed job(s)"));
    }
    found
}

fn new_entities_are_owned_as_the_rules_say_and_a_refused_owner_is_left_out(backend: Backend) {
    workers::on_exported(backend, RULES, export_problems);
}

crate::on_each_database!(new_entities_are_owned_as_the_rules_say_and_a_refused_owner_is_left_out);
