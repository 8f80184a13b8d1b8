//! Two panel events that name one client, payer or service before the worker runs. The
//! handler queues a job per event, keyed by how the event names the entity (its id, a
//! login or a user to look up, the newest payer of a login), so two keys can stand for one
//! entity, and an entity can also be made on the way as another's client or company. Both
//! jobs wait in the queue and go out in one run; amoCRM must end with one contact, company
//! or lead for the entity, each link table 1:1, and both jobs done. On SQLite always, on
//! MariaDB when the suite has a server.

mod one_run;
mod support;
mod workers;

use billmgr_amocrm::model::EntityKind;
use one_run::{
    Event, all_link_problems, assert_none, drain, emails, entities, event, id, main_contact, name,
    own_user_edit, panel_sql, payer_added_by, queue_while_the_worker_waits, register,
    unfinished_jobs,
};
use serde_json::Value;
use support::{Backend, MysqlDb, Panel, Sandbox};

/// What amoCRM must hold once, linked to its panel entity.
enum Once {
    Contact {
        account: i64,
        name: &'static str,
        email: &'static str,
    },
    Company {
        profile: i64,
        name: &'static str,
    },
    /// A lead is told from another of the same name by its main contact: its client's.
    Lead {
        item: i64,
        name: &'static str,
        account: i64,
    },
}

/// Two events (or more) that name the same entity, and what they must leave.
struct Pair {
    /// SQL the panel ran before the events (what they report), on the sample panel.
    setup: &'static str,
    events: Vec<Event>,
    /// The jobs the events queue.
    queued: Vec<&'static str>,
    once: Vec<Once>,
}

/// Runs the pair on `backend` and fails with what it got wrong.
fn check(backend: Backend, test: &str, pair: Pair) {
    let (db, conf, guard) = backend.database();
    let problems = run_pair(&pair, &conf, guard.as_ref());
    assert_none(test, &[(db.to_string(), problems)]);
}

fn run_pair(pair: &Pair, database: &str, mariadb: Option<&MysqlDb>) -> Vec<String> {
    let sandbox = Sandbox::start(&[]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, "batch_size = 50");
    p.sample_panel();
    panel_sql(&p, mariadb, pair.setup);
    let waiting = queue_while_the_worker_waits(&p, &pair.events);
    let mut queued: Vec<String> = pair.queued.iter().map(|k| k.to_string()).collect();
    queued.sort();
    assert_eq!(waiting, queued, "the jobs the events queue");
    drain(&p);
    let state = sandbox.get_json("/_sandbox/state");
    let mut problems = unfinished_jobs(&p, &waiting, false);
    for once in &pair.once {
        problems.extend(check_once(&p, &state, once));
    }
    problems.extend(all_link_problems(&p, &state));
    problems
}

impl Once {
    /// The panel entity, how its amoCRM entity is told, and the amoCRM ids that match.
    fn look_up(&self, p: &Panel, state: &Value) -> (EntityKind, i64, String, Vec<i64>) {
        match *self {
            Once::Contact {
                account,
                name: n,
                email,
            } => (
                EntityKind::Account,
                account,
                format!("named «{n}» with e-mail {email}"),
                matching(state, "contacts", |c| {
                    name(c) == n && emails(c).contains(&email.to_lowercase())
                }),
            ),
            Once::Company { profile, name: n } => (
                EntityKind::Profile,
                profile,
                format!("named «{n}»"),
                matching(state, "companies", |c| name(c) == n),
            ),
            Once::Lead {
                item,
                name: n,
                account,
            } => {
                let contact = linked(p, EntityKind::Account, account);
                (
                    EntityKind::Item,
                    item,
                    format!("named «{n}» with main contact {contact:?} (client {account})"),
                    matching(state, "leads", |l| {
                        name(l) == n && contact.is_some() && main_contact(l) == contact
                    }),
                )
            }
        }
    }
}

/// The one amoCRM entity that is this panel entity, and its link pointing at it.
fn check_once(p: &Panel, state: &Value, once: &Once) -> Vec<String> {
    let (kind, panel_id, what, found) = once.look_up(p, state);
    let entity = kind.amo_entity();
    if found.len() != 1 {
        return vec![format!("{} {entity} {what} (ids {found:?})", found.len())];
    }
    match linked(p, kind, panel_id) {
        Some(l) if l == found[0] => Vec::new(),
        other => vec![format!(
            "{kind} {panel_id} is linked to {other:?}, not to the one {what} ({})",
            found[0]
        )],
    }
}

fn matching(state: &Value, kind: &str, is: impl Fn(&Value) -> bool) -> Vec<i64> {
    entities(state, kind)
        .iter()
        .filter(|e| is(e))
        .map(id)
        .collect()
}

fn linked(p: &Panel, kind: EntityKind, panel_id: i64) -> Option<i64> {
    p.db()
        .link(kind, panel_id)
        .expect("link")
        .map(|l| l.amocrm_id)
}

// --- the sample's entities ---

const KUZNETSOVA: &str = "kuznetsova.ms@example.ru";
const SMIRNOV: &str = "a.smirnov@example.ru";

fn contact_5() -> Once {
    Once::Contact {
        account: 5,
        name: "Кузнецова Мария Сергеевна",
        email: KUZNETSOVA,
    }
}

/// Client 3 has two users: its contact is its first user's (12).
fn contact_3() -> Once {
    Once::Contact {
        account: 3,
        name: "Петров Пётр Петрович",
        email: "petrov@romashka.example",
    }
}

fn contact_7() -> Once {
    Once::Contact {
        account: 7,
        name: "Смирнов Алексей",
        email: SMIRNOV,
    }
}

fn company_22() -> Once {
    Once::Company {
        profile: 22,
        name: "ООО «Ромашка»",
    }
}

fn company_24() -> Once {
    Once::Company {
        profile: 24,
        name: "ИП Кузнецова Мария Сергеевна",
    }
}

fn lead(item: i64, name: &'static str, account: i64) -> Once {
    Once::Lead {
        item,
        name,
        account,
    }
}

/// Client 7 has no payer in the sample: it has just added a legal one, 27.
const NEW_PAYER_27: &str = "INSERT INTO profile (id, account, name, profiletype, person, email, phone, vatnum, kpp) \
     VALUES (27, 7, 'ООО «Смирнов и партнёры»', 2, 'Смирнов Алексей', 'office@smirnov.example', NULL, '7703123457', '770301001')";

fn company_27() -> Once {
    Once::Company {
        profile: 27,
        name: "ООО «Смирнов и партнёры»",
    }
}

// --- a client named twice ---

fn registration_and_the_admins_edit_make_one_contact(backend: Backend) {
    check(
        backend,
        "registration and the admin's edit",
        Pair {
            setup: "",
            events: vec![register(KUZNETSOVA), event("account.edit", "5")],
            queued: vec!["account?login=kuznetsova.ms@example.ru", "account:5"],
            once: vec![contact_5()],
        },
    );
}

fn the_admins_edit_and_a_user_edit_make_one_contact(backend: Backend) {
    check(
        backend,
        "the admin's edit and a user edit",
        Pair {
            setup: "",
            // User 13 is client 3's second user.
            events: vec![event("account.edit", "3"), event("user.edit", "13")],
            queued: vec!["account:3", "account?user=13"],
            once: vec![contact_3()],
        },
    );
}

fn registration_and_the_clients_own_user_edit_make_one_contact(backend: Backend) {
    check(
        backend,
        "registration and the client's own user edit",
        Pair {
            setup: "",
            events: vec![register(KUZNETSOVA), own_user_edit("15", KUZNETSOVA)],
            queued: vec!["account?login=kuznetsova.ms@example.ru", "account?user=15"],
            once: vec![contact_5()],
        },
    );
}

fn a_client_created_with_its_new_id_and_a_user_edit_make_one_contact(backend: Backend) {
    check(
        backend,
        "a client created (new id in the answer) and a user edit",
        Pair {
            setup: "",
            events: vec![
                event("account.edit", "")
                    .with("PARAM_email", SMIRNOV)
                    .answering("7"),
                event("user.edit", "17"),
            ],
            queued: vec!["account:7", "account?user=17"],
            once: vec![contact_7()],
        },
    );
}

fn a_client_saved_by_login_and_by_id_make_one_contact(backend: Backend) {
    check(
        backend,
        "a client saved by login and by id",
        Pair {
            setup: "",
            events: vec![
                event("account.edit", "").with("PARAM_email", SMIRNOV),
                event("account.edit", "7"),
            ],
            queued: vec!["account?login=a.smirnov@example.ru", "account:7"],
            once: vec![contact_7()],
        },
    );
}

fn two_users_of_one_client_edited_make_one_contact(backend: Backend) {
    check(
        backend,
        "two users of one client edited",
        Pair {
            setup: "",
            events: vec![
                own_user_edit("12", "petrov@romashka.example"),
                event("user.edit", "13"),
            ],
            queued: vec!["account?user=12", "account?user=13"],
            once: vec![contact_3()],
        },
    );
}

// --- a payer named twice, or its client made on the way ---

fn a_payer_added_without_an_id_and_edited_make_one_company(backend: Backend) {
    check(
        backend,
        "a payer added without an id and edited",
        Pair {
            setup: NEW_PAYER_27,
            events: vec![payer_added_by(SMIRNOV), event("profile.edit", "27")],
            queued: vec![
                "profile?newest-profile-of=a.smirnov@example.ru",
                "profile:27",
            ],
            once: vec![company_27(), contact_7()],
        },
    );
}

fn a_payer_added_by_an_admin_for_a_client_and_edited_make_one_company(backend: Backend) {
    check(
        backend,
        "a payer added by an admin for a client and edited",
        Pair {
            setup: "",
            events: vec![
                event("profile.add", "").with("PARAM_su", KUZNETSOVA),
                event("profile.edit", "24"),
            ],
            queued: vec![
                "profile?newest-profile-of=kuznetsova.ms@example.ru",
                "profile:24",
            ],
            once: vec![company_24(), contact_5()],
        },
    );
}

fn a_payer_added_with_its_new_id_and_edited_make_one_company(backend: Backend) {
    check(
        backend,
        "a payer added (new id in the answer) and edited",
        Pair {
            setup: NEW_PAYER_27,
            events: vec![
                payer_added_by(SMIRNOV).answering("27"),
                event("profile.edit", "27"),
            ],
            // One key: the queue itself keeps them one job.
            queued: vec!["profile:27"],
            once: vec![company_27(), contact_7()],
        },
    );
}

fn a_payer_and_its_clients_registration_make_one_contact(backend: Backend) {
    check(
        backend,
        "a payer and its client's registration",
        Pair {
            setup: "",
            events: vec![register(KUZNETSOVA), event("profile.edit", "24")],
            queued: vec!["account?login=kuznetsova.ms@example.ru", "profile:24"],
            once: vec![contact_5(), company_24()],
        },
    );
}

fn a_new_payer_and_a_user_edit_of_its_client_make_one_contact(backend: Backend) {
    check(
        backend,
        "a new payer and a user edit of its client",
        Pair {
            setup: NEW_PAYER_27,
            events: vec![own_user_edit("17", SMIRNOV), payer_added_by(SMIRNOV)],
            queued: vec![
                "account?user=17",
                "profile?newest-profile-of=a.smirnov@example.ru",
            ],
            once: vec![contact_7(), company_27()],
        },
    );
}

// --- a service named twice, or its client or company made on the way ---

fn a_service_callback_and_the_admins_open_make_one_lead(backend: Backend) {
    check(
        backend,
        "a service callback and the admin's open",
        Pair {
            setup: "",
            events: vec![
                event("service.postopen", "1010"),
                event("vds.open", "1010").with("PARAM_processingmodule", "3"),
            ],
            // One key: the queue itself keeps them one job.
            queued: vec!["item:1010"],
            once: vec![lead(1010, "vps-smirnov — VDS-Start", 7), contact_7()],
        },
    );
}

fn a_service_callback_and_a_group_suspend_make_one_lead_each(backend: Backend) {
    check(
        backend,
        "a service callback and a group suspend",
        Pair {
            setup: "",
            events: vec![
                event("service.postsuspend", "1009"),
                event("vhost.suspend", "1003, 1009"),
            ],
            queued: vec!["item:1003", "item:1009"],
            once: vec![
                lead(1009, "ivanov.su — Hosting Lite", 2),
                lead(1003, "romashka.ru — Hosting Lite", 3),
            ],
        },
    );
}

fn a_service_and_its_clients_registration_make_one_contact(backend: Backend) {
    check(
        backend,
        "a service and its client's registration",
        Pair {
            setup: "",
            events: vec![event("service.postopen", "1006"), register(KUZNETSOVA)],
            queued: vec!["account?login=kuznetsova.ms@example.ru", "item:1006"],
            // Its company, client 5's payer 24, is made on the way.
            once: vec![
                contact_5(),
                company_24(),
                lead(1006, "kuznetsova-shop.ru — Hosting Lite", 5),
            ],
        },
    );
}

fn a_service_and_a_user_edit_of_its_client_make_one_contact(backend: Backend) {
    check(
        backend,
        "a service and a user edit of its client",
        Pair {
            setup: "",
            events: vec![
                event("service.postprolong", "1002"),
                event("user.edit", "13"),
            ],
            queued: vec!["account?user=13", "item:1002"],
            once: vec![
                contact_3(),
                company_22(),
                lead(1002, "srv1.romashka.example — VDS-Pro", 3),
            ],
        },
    );
}

fn a_service_and_its_companys_payer_edit_make_one_company(backend: Backend) {
    check(
        backend,
        "a service and its company's payer edit",
        Pair {
            setup: "",
            events: vec![
                event("service.postopen", "1004"),
                event("profile.edit", "22"),
            ],
            queued: vec!["item:1004", "profile:22"],
            once: vec![
                company_22(),
                contact_3(),
                lead(1004, "romashka.ru — .RU", 3),
            ],
        },
    );
}

fn a_service_and_its_companys_new_payer_make_one_company(backend: Backend) {
    check(
        backend,
        "a service and its company's new payer",
        Pair {
            setup: NEW_PAYER_27,
            events: vec![event("service.postopen", "1010"), payer_added_by(SMIRNOV)],
            queued: vec![
                "item:1010",
                "profile?newest-profile-of=a.smirnov@example.ru",
            ],
            once: vec![
                company_27(),
                contact_7(),
                lead(1010, "vps-smirnov — VDS-Start", 7),
            ],
        },
    );
}

crate::on_each_database!(
    registration_and_the_admins_edit_make_one_contact,
    the_admins_edit_and_a_user_edit_make_one_contact,
    registration_and_the_clients_own_user_edit_make_one_contact,
    a_client_created_with_its_new_id_and_a_user_edit_make_one_contact,
    a_client_saved_by_login_and_by_id_make_one_contact,
    two_users_of_one_client_edited_make_one_contact,
    a_payer_added_without_an_id_and_edited_make_one_company,
    a_payer_added_by_an_admin_for_a_client_and_edited_make_one_company,
    a_payer_added_with_its_new_id_and_edited_make_one_company,
    a_payer_and_its_clients_registration_make_one_contact,
    a_new_payer_and_a_user_edit_of_its_client_make_one_contact,
    a_service_callback_and_the_admins_open_make_one_lead,
    a_service_callback_and_a_group_suspend_make_one_lead_each,
    a_service_and_its_clients_registration_make_one_contact,
    a_service_and_a_user_edit_of_its_client_make_one_contact,
    a_service_and_its_companys_payer_edit_make_one_company,
    a_service_and_its_companys_new_payer_make_one_company,
);
