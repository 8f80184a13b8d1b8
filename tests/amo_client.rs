//! The amoCRM client against the sandbox amoCRM over real HTTP on 127.0.0.1: OAuth and the
//! token files, refreshes under concurrency, the entity calls, per-item errors, refusals,
//! retries and the rate limit.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use billmgr_amocrm::amo::{
    AmoClient, AmoError, ClientOptions, EntityPatch, FieldValue, FieldValues, LinkRequest,
    NEW_CODE_ACTION, NewEntity, Rejection, Removed, RetryPauses, Scalar,
};
use billmgr_amocrm::config::AuthConfig;
use billmgr_amocrm::paths::Paths;
use billmgr_amocrm::secret::Secret;
use serde_json::{Value, json};
use support::{Panel, Sandbox};

fn auth(sandbox: &Sandbox, code: Option<&str>) -> AuthConfig {
    AuthConfig {
        url: sandbox.url.clone(),
        client_id: support::CLIENT_ID.to_string(),
        client_secret: Secret::new(support::CLIENT_SECRET),
        redirect_uri: support::REDIRECT_URI.to_string(),
        code: code.map(Secret::new),
    }
}

/// Retries 10 ms apart, doubling: the schedule's shape without its 15.5 s.
const SHORT_PAUSES: Duration = Duration::from_millis(10);

fn options() -> ClientOptions {
    ClientOptions {
        rate_limit: 7.0,
        timeout: Duration::from_secs(10),
        retry: RetryPauses::starting_at(SHORT_PAUSES),
    }
}

fn client(sandbox: &Sandbox, panel: &Panel) -> AmoClient {
    AmoClient::new(&auth(sandbox, None), options(), &Paths::new(panel.root())).expect("client")
}

/// A client whose tokens come from the test code, exchanged now.
fn authorized(sandbox: &Sandbox, panel: &Panel) -> AmoClient {
    let mut c = client(sandbox, panel);
    c.exchange_code(&Secret::new(support::AUTH_CODE))
        .expect("exchange the code");
    c
}

/// The sandbox's request log: (method, path, status), oldest first.
fn requests(sandbox: &Sandbox) -> Vec<(String, String, u64)> {
    let log = sandbox.get_json("/_sandbox/requests");
    log.as_array()
        .expect("a list of requests")
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_string(),
                r["path"].as_str().unwrap_or_default().to_string(),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn token_requests(sandbox: &Sandbox) -> usize {
    requests(sandbox)
        .iter()
        .filter(|(_, p, _)| p == "/oauth2/access_token")
        .count()
}

fn refreshes(sandbox: &Sandbox) -> u64 {
    sandbox.get_json("/_sandbox/state")["oauth"]["refreshes"]
        .as_u64()
        .expect("refresh count")
}

fn faults(sandbox: &Sandbox, body: Value) {
    let (status, text) = sandbox.post_json("/_sandbox/faults", &body);
    assert_eq!(status, 200, "faults {body}: {text}");
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn contact(name: &str, email: &str) -> NewEntity {
    let email = FieldValue {
        enum_code: Some("WORK".into()),
        ..FieldValue::of(Scalar::Text(email.into()))
    };
    NewEntity {
        fields: vec![FieldValues {
            field_code: Some("EMAIL".into()),
            values: vec![email],
            ..FieldValues::default()
        }],
        ..named(name)
    }
}

fn named(name: &str) -> NewEntity {
    NewEntity {
        name: name.into(),
        ..NewEntity::default()
    }
}

/// A value of the sample's select field 812346 (brand).
fn brand(value: &str) -> FieldValues {
    FieldValues {
        field_id: Some(812346),
        values: vec![FieldValue::of(Scalar::Text(value.into()))],
        ..FieldValues::default()
    }
}

#[test]
fn code_exchange_writes_private_token_files() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = client(&sandbox, &panel);
    assert!(!c.token_status().present);

    let status = c
        .exchange_code(&Secret::new(support::AUTH_CODE))
        .expect("exchange");
    assert!(status.present);
    let exp = status
        .access_expires_at
        .expect("the access token is a JWT with exp");
    assert!((exp - now_unix() - 86_400).abs() < 60, "expires at {exp}");
    assert_eq!(c.token_status(), status);
    for file in ["etc/amocrm/access_token", "etc/amocrm/refresh_token"] {
        let meta = std::fs::metadata(panel.path(file)).expect("token file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        assert!(!panel.read(file).trim().is_empty(), "{file} is empty");
    }
    let account = c.account().expect("account with the new token");
    assert!(account["id"].as_i64().is_some(), "{account}");

    // The code works once; the error tells the admin what to do and never shows the code.
    match c.exchange_code(&Secret::new(support::AUTH_CODE)) {
        Err(e @ AmoError::Refused { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("revoked") && text.contains("amocrm auth CODE"),
                "{text}"
            );
            assert!(
                !text.contains(support::AUTH_CODE) && !text.contains(support::CLIENT_SECRET),
                "{text}"
            );
        }
        other => panic!("a used code must be refused, got {other:?}"),
    }
}

#[test]
fn a_code_in_the_config_is_exchanged_on_first_use() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let paths = Paths::new(panel.root());
    let mut c = AmoClient::new(&auth(&sandbox, Some(support::AUTH_CODE)), options(), &paths)
        .expect("client");
    c.account().expect("account");
    assert!(c.token_status().present);
    // A second process with the same (now spent) code in its config uses the files instead.
    let mut again = AmoClient::new(&auth(&sandbox, Some(support::AUTH_CODE)), options(), &paths)
        .expect("client");
    again.account().expect("account");
    assert_eq!(
        sandbox.get_json("/_sandbox/state")["oauth"]["codes_exchanged"],
        1
    );
    assert_eq!(token_requests(&sandbox), 1);
}

#[test]
fn no_tokens_and_no_code_is_refused() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    match client(&sandbox, &panel).account() {
        Err(AmoError::Refused { action, .. }) => assert_eq!(action, NEW_CODE_ACTION),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(
        requests(&sandbox).is_empty(),
        "nothing should have been sent"
    );
}

#[test]
fn refreshes_shortly_before_expiry() {
    let sandbox = Sandbox::start(&["--token-lifetime", "8"]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let first = panel.read("etc/amocrm/access_token");
    c.account().expect("account");
    assert_eq!(
        refreshes(&sandbox),
        0,
        "a young token must not be refreshed"
    );

    // In the last quarter of its life the token is still valid, but renewed before use.
    // The client reads the real clock against the token's `exp`, so real time must reach
    // that quarter (the last 2 s of 8): the sandbox's clock cannot stand in for it.
    let expires = c.token_status().access_expires_at.expect("a JWT with exp");
    let unix_now = || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.expect("clock").as_secs() as i64
    };
    support::wait_until("the token's last quarter", Duration::from_secs(20), || {
        expires - unix_now() < 2
    });
    c.account().expect("account");
    assert_eq!(refreshes(&sandbox), 1);
    assert_ne!(panel.read("etc/amocrm/access_token"), first);
    let log = requests(&sandbox);
    assert!(
        log.iter().all(|(_, _, s)| *s != 401),
        "the refresh came too late: {log:?}"
    );
    let tail: Vec<&str> = log
        .iter()
        .rev()
        .take(2)
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert_eq!(tail, ["/api/v4/account", "/oauth2/access_token"]);
}

#[test]
fn refreshes_once_after_a_401() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    c.account().expect("account");
    let before = panel.read("etc/amocrm/access_token");
    faults(&sandbox, json!({"expire_tokens": true}));

    c.account().expect("account after the refresh");
    assert_eq!(refreshes(&sandbox), 1);
    assert_ne!(panel.read("etc/amocrm/access_token"), before);
    let statuses: Vec<(String, u64)> = requests(&sandbox)
        .into_iter()
        .skip(2)
        .map(|(_, p, s)| (p, s))
        .collect();
    assert_eq!(
        statuses,
        [
            ("/api/v4/account".to_string(), 401),
            ("/oauth2/access_token".to_string(), 200),
            ("/api/v4/account".to_string(), 200)
        ]
    );
}

#[test]
fn eight_clients_with_an_expired_token_refresh_once() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    authorized(&sandbox, &panel);
    // Each client stands for a separate process: its own token copy, its own lock file handle.
    let mut clients: Vec<AmoClient> = (0..8).map(|_| client(&sandbox, &panel)).collect();
    for c in &mut clients {
        c.account().expect("account");
    }
    faults(&sandbox, json!({"expire_tokens": true}));

    let barrier = Arc::new(Barrier::new(clients.len()));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                c.account().map(|_| ())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .expect("thread")
            .expect("every client gets through");
    }
    assert_eq!(refreshes(&sandbox), 1);
    assert_eq!(token_requests(&sandbox), 2, "one exchange and one refresh");
}

#[test]
fn a_refused_refresh_token_asks_for_a_new_code() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    panel.write("etc/amocrm/refresh_token", "def50200not-a-real-token");
    faults(&sandbox, json!({"expire_tokens": true}));
    match c.account() {
        Err(e @ AmoError::Refused { .. }) => {
            let text = e.to_string();
            assert!(text.contains("Invalid refresh token"), "{text}");
            assert!(!text.contains("def50200not-a-real-token"), "{text}");
            let AmoError::Refused { action, .. } = e else {
                unreachable!()
            };
            assert_eq!(action, NEW_CODE_ACTION);
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[test]
fn fields_and_pipelines_of_the_account() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let fields = c.custom_fields("contacts").expect("contact fields");
    let by_code = |code: &str| fields.iter().find(|f| f.code.as_deref() == Some(code));
    assert_eq!(
        by_code("PHONE").map(|f| f.field_type.as_str()),
        Some("multitext")
    );
    assert_eq!(
        by_code("EMAIL").map(|f| f.field_type.as_str()),
        Some("multitext")
    );
    assert_eq!(
        fields
            .iter()
            .find(|f| f.id == 812345)
            .map(|f| f.field_type.as_str()),
        Some("numeric")
    );
    let select = fields
        .iter()
        .find(|f| f.id == 812346)
        .expect("field 812346");
    let choices: Vec<&str> = select.enums.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(
        (select.field_type.as_str(), choices),
        ("select", vec!["ХостКом", "HostCom EU"])
    );

    let pipelines = c.pipelines().expect("pipelines");
    let main = pipelines
        .iter()
        .find(|p| p.id == 7000001)
        .expect("pipeline 7000001");
    let statuses: Vec<i64> = main.statuses.iter().map(|s| s.id).collect();
    for id in [7000100, 7000101, 142, 143] {
        assert!(
            statuses.contains(&id),
            "status {id} missing from {statuses:?}"
        );
    }
}

#[test]
fn the_accounts_users_with_who_is_active() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let users = c.users().expect("users");
    let by_mail = |mail: &str| {
        users
            .iter()
            .find(|u| u.email == mail)
            .map(|u| (u.id, u.is_active))
    };
    assert_eq!(by_mail("manager1@example.com"), Some((504142, true)));
    assert_eq!(by_mail("former@example.com"), Some((504144, false)));
    assert_eq!(users.len(), 4, "{users:?}");
    // More than a page: every user of every page.
    for i in 0..260 {
        let body = serde_json::json!({"name": format!("Менеджер {i}"), "email": format!("m{i}@example.com")});
        assert_eq!(sandbox.post_json("/_sandbox/users", &body).0, 200);
    }
    assert_eq!(c.users().expect("two pages").len(), 264);
}

#[test]
fn entities_round_trip() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);

    let items = [
        contact("Иван Петров", "ivan@example.com"),
        contact("Anna Smith", "anna@example.com"),
        contact("Пётр Сидоров", "petr@example.com"),
    ];
    let ids: Vec<i64> = c
        .create("contacts", &items)
        .expect("create")
        .into_iter()
        .map(|r| r.expect("created"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);

    let updated = c
        .update(
            "contacts",
            &[EntityPatch {
                id: ids[1],
                name: Some("Anna Smith-Jones".into()),
                ..EntityPatch::default()
            }],
        )
        .expect("update");
    assert_eq!(updated, [Ok(())]);

    let mut wanted = ids.clone();
    wanted.push(999_999_999);
    let got = c.get_by_ids("contacts", &wanted, "").expect("get by ids");
    let mut names: Vec<(i64, String)> = got.iter().map(|v| (v.id, v.name.clone())).collect();
    names.sort();
    assert_eq!(
        names,
        [
            (ids[0], "Иван Петров".into()),
            (ids[1], "Anna Smith-Jones".into()),
            (ids[2], "Пётр Сидоров".into())
        ]
    );
    assert!(
        c.get_by_ids("contacts", &[999_999_999], "")
            .expect("unknown id")
            .is_empty()
    );

    let found = c.search("contacts", "anna@example.com").expect("search");
    assert_eq!(found.iter().map(|v| v.id).collect::<Vec<_>>(), [ids[1]]);
    assert!(
        c.search("contacts", "nobody@nowhere.example")
            .expect("search")
            .is_empty()
    );

    let company = c
        .create("companies", &[named("ООО Ромашка")])
        .expect("company")[0]
        .clone()
        .expect("id");
    let lead = c
        .create(
            "leads",
            &[NewEntity {
                price: Some(590),
                pipeline_id: Some(7000001),
                status_id: Some(7000100),
                ..named("VDS-1")
            }],
        )
        .expect("lead")[0]
        .clone()
        .expect("id");
    let linked = c
        .link(
            "leads",
            &[
                LinkRequest {
                    entity_id: lead,
                    to_entity_type: "contacts".into(),
                    to_entity_id: ids[0],
                    is_main: true,
                },
                LinkRequest {
                    entity_id: lead,
                    to_entity_type: "companies".into(),
                    to_entity_id: company,
                    is_main: false,
                },
            ],
        )
        .expect("link");
    assert_eq!(linked, [Ok(()), Ok(())]);
    let leads = c
        .get_by_ids("leads", &[lead], "contacts")
        .expect("lead with contacts");
    assert_eq!(leads[0].contacts, [ids[0]]);
    assert_eq!(leads[0].companies, [company]);
}

#[test]
fn pages_cover_every_entity() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let seeded = sandbox.get_json("/_sandbox/state")["counts"]["contacts"]
        .as_u64()
        .expect("count") as usize;
    // Enough for a full page and a short one.
    let items: Vec<NewEntity> = (0..260)
        .map(|i| contact(&format!("Client {i}"), &format!("c{i}@example.com")))
        .collect();
    let created = c.create("contacts", &items).expect("create 260");
    assert!(
        created.iter().all(Result::is_ok),
        "{:?}",
        created.iter().find(|r| r.is_err())
    );

    let mut sizes = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    c.for_each_page("contacts", "", &mut |page| {
        sizes.push(page.len());
        ids.extend(page.iter().map(|v| v.id));
    })
    .expect("pages");
    assert_eq!(ids.len(), seeded + 260);
    assert_eq!(sizes.iter().sum::<usize>(), seeded + 260);
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 250),
        "{sizes:?}"
    );
    // Two POSTs for 260 items: amoCRM takes 250 at most.
    let posts = requests(&sandbox)
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/v4/contacts")
        .count();
    assert_eq!(posts, 2);
}

#[test]
fn invalid_items_fail_alone() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let mut bad = contact("Bad Choice", "bad@example.com");
    bad.fields.push(brand("No such brand"));
    let results = c
        .create(
            "contacts",
            &[
                contact("Good One", "one@example.com"),
                bad,
                contact("Good Two", "two@example.com"),
            ],
        )
        .expect("create");
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let message = results[1].clone().expect_err("the bad choice is rejected");
    assert!(
        matches!(&message, Rejection::Invalid(m) if m.contains("NotSupportedChoice")),
        "{message}"
    );
    let names: Vec<String> = sandbox.get_json("/_sandbox/state")["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    assert!(names.contains(&"Good One".to_string()) && names.contains(&"Good Two".to_string()));
    assert!(!names.contains(&"Bad Choice".to_string()));

    let (one, two) = (
        results[0].clone().expect("id"),
        results[2].clone().expect("id"),
    );
    let updates = c
        .update(
            "contacts",
            &[
                EntityPatch {
                    id: one,
                    fields: vec![brand("Nope")],
                    ..EntityPatch::default()
                },
                EntityPatch {
                    id: two,
                    name: Some("Good Two Renamed".into()),
                    ..EntityPatch::default()
                },
            ],
        )
        .expect("update");
    assert!(
        updates[0]
            .as_ref()
            .is_err_and(|m| m.message().contains("NotSupportedChoice")),
        "{updates:?}"
    );
    assert_eq!(updates[1], Ok(()));
    let renamed = c.get_by_ids("contacts", &[two], "").expect("get");
    assert_eq!(renamed[0].name, "Good Two Renamed");
}

#[test]
fn a_lost_create_answer_is_not_sent_again() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    faults(&sandbox, json!({"lost_next": 1}));
    match c.create("leads", &[named("Lost answer")]) {
        Err(AmoError::MaybeApplied(m)) => assert!(m.contains("/api/v4/leads"), "{m}"),
        other => panic!("expected MaybeApplied, got {other:?}"),
    }
    let posts = requests(&sandbox)
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/v4/leads")
        .count();
    assert_eq!(
        posts, 1,
        "a create whose answer was lost must not be repeated blindly"
    );
    let leads = sandbox.get_json("/_sandbox/state")["leads"].clone();
    let made = leads
        .as_array()
        .map(|a| a.iter().filter(|l| l["name"] == "Lost answer").count());
    assert_eq!(made, Some(1));
    // An update is safe to repeat: it goes through despite a lost answer.
    let id = c.search("leads", "Lost answer").expect("search")[0].id;
    faults(&sandbox, json!({"lost_next": 1}));
    assert_eq!(
        c.update(
            "leads",
            &[EntityPatch {
                id,
                price: Some(990),
                ..EntityPatch::default()
            }]
        )
        .expect("update"),
        [Ok(())]
    );
}

#[test]
fn an_unpaid_account_is_refused() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    faults(&sandbox, json!({"payment_required": true}));
    match c.create("contacts", &[contact("Paid Later", "later@example.com")]) {
        Err(AmoError::Refused {
            status: 402,
            action,
            ..
        }) => assert!(action.contains("pay"), "{action}"),
        other => panic!("expected Refused 402, got {other:?}"),
    }
}

#[test]
fn server_errors_are_retried_and_a_504_splits_the_batch() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    faults(&sandbox, json!({"error_next": 2, "error_statuses": [503]}));
    c.account().expect("account after two 503s");
    let api: Vec<u64> = requests(&sandbox)
        .iter()
        .filter(|(_, p, _)| p == "/api/v4/account")
        .map(|r| r.2)
        .collect();
    assert_eq!(api, [503, 503, 200]);

    faults(&sandbox, json!({"error_next": 1, "error_statuses": [504]}));
    let items: Vec<NewEntity> = (0..4)
        .map(|i| contact(&format!("Split {i}"), &format!("s{i}@example.com")))
        .collect();
    let results = c.create("contacts", &items).expect("create");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let posts: Vec<u64> = requests(&sandbox)
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/api/v4/contacts")
        .map(|r| r.2)
        .collect();
    assert_eq!(posts, [504, 200, 200], "the 504 batch goes again in halves");
    assert_eq!(
        sandbox.get_json("/_sandbox/state")["contacts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("Split ")))
                    .count()
            }),
        Some(4)
    );
}

#[test]
fn a_lasting_outage_is_unavailable() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    faults(
        &sandbox,
        json!({"error_rate": 1.0, "error_statuses": [502]}),
    );
    let started = Instant::now();
    match c.account() {
        Err(AmoError::Unavailable(m)) => {
            assert!(m.contains("502") && m.contains("(6 attempts)"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Six attempts with every pause of the schedule between them: 10 + 20 + … + 160 ms.
    assert!(
        started.elapsed() >= SHORT_PAUSES * 31,
        "gave up after {:?}",
        started.elapsed()
    );
    let tries = requests(&sandbox)
        .iter()
        .filter(|(_, p, s)| p == "/api/v4/account" && *s == 502)
        .count();
    assert_eq!(tries, 6);
}

#[test]
fn a_burst_stays_under_the_rate_limit() {
    let sandbox = Sandbox::start(&["--rate", "7"]);
    let panel = Panel::new();
    authorized(&sandbox, &panel);
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut c = client(&sandbox, &panel);
            std::thread::spawn(move || {
                for _ in 0..8 {
                    c.account().expect("account");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let log = requests(&sandbox);
    assert_eq!(log.len(), 33);
    assert!(log.iter().all(|(_, _, s)| *s == 200), "{log:?}");
    // 32 requests at 7 a second cannot take less than four seconds.
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// A manager's deletion or merge in amoCRM, through the sandbox's control endpoint.
fn manager(sandbox: &Sandbox, action: &str, body: Value) {
    let (status, answer) = sandbox.post_json(&format!("/_sandbox/{action}"), &body);
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn an_update_of_a_removed_entity_is_told_apart_from_other_rejections() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let ids: Vec<i64> = c
        .create("contacts", &[named("Kept"), named("Deleted")])
        .expect("create")
        .into_iter()
        .map(|r| r.expect("created"))
        .collect();
    manager(
        &sandbox,
        "delete",
        json!({"entity": "contacts", "ids": [ids[1]]}),
    );
    let patch = |id| EntityPatch {
        id,
        name: Some("Renamed".into()),
        ..EntityPatch::default()
    };
    let results = c
        .update("contacts", &[patch(ids[0]), patch(ids[1])])
        .expect("update");
    assert_eq!(results[0], Ok(()), "the rest of the batch goes through");
    assert!(
        matches!(&results[1], Err(Rejection::Gone(m)) if m.contains("NotFound")),
        "{results:?}"
    );
    // A new lead naming the removed contact: the contact is what is gone.
    let lead = NewEntity {
        contact: Some(ids[1]),
        ..named("A lead")
    };
    let made = c.create("leads", &[lead]).expect("create");
    assert!(
        matches!(
            &made[0],
            Err(Rejection::LinkGone {
                entity: "contacts",
                ..
            })
        ),
        "{made:?}"
    );
}

#[test]
fn what_managers_removed_since_a_time_is_read_from_the_events_page_by_page() {
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let panel = Panel::new();
    let mut c = authorized(&sandbox, &panel);
    let since = now_unix();
    assert_eq!(c.removed_since(since).expect("none yet"), Vec::new());
    let made = |c: &mut AmoClient, entity: &str, n: usize| -> Vec<i64> {
        let items: Vec<NewEntity> = (0..n).map(|i| named(&format!("{entity} {i}"))).collect();
        (c.create(entity, &items).expect("create").into_iter())
            .map(|r| r.expect("created"))
            .collect()
    };
    // More than a page of events: 101 leads deleted, a company deleted, a merge.
    let leads = made(&mut c, "leads", 101);
    let contacts = made(&mut c, "contacts", 2);
    let company = made(&mut c, "companies", 1)[0];
    manager(&sandbox, "delete", json!({"entity": "leads", "ids": leads}));
    manager(
        &sandbox,
        "delete",
        json!({"entity": "companies", "ids": [company]}),
    );
    let (keep, dup) = (contacts[0], contacts[1]);
    manager(
        &sandbox,
        "merge",
        json!({"entity": "contacts", "into": keep, "from": [dup]}),
    );
    let removed = c.removed_since(since).expect("removed");
    assert_eq!(removed.len(), 103, "{removed:?}");
    assert!(removed.iter().all(|r| r.at >= since));
    let merged: Vec<&Removed> = removed.iter().filter(|r| r.merged_into.is_some()).collect();
    assert_eq!(merged.len(), 1);
    assert_eq!(
        (merged[0].entity, merged[0].id, merged[0].merged_into),
        ("contacts", dup, Some(keep))
    );
    assert!(
        (removed.iter()).any(|r| (r.entity, r.id, r.merged_into) == ("companies", company, None))
    );
    let mut lead_ids: Vec<i64> = (removed.iter())
        .filter(|r| r.entity == "leads")
        .map(|r| r.id)
        .collect();
    lead_ids.sort_unstable();
    assert_eq!(lead_ids, leads);
    let pages = requests(&sandbox)
        .iter()
        .filter(|(m, p, s)| m == "GET" && p == "/api/v4/events" && *s == 200)
        .count();
    assert_eq!(pages, 2, "100 a page");
    assert_eq!(
        c.removed_since(now_unix() + 3600).expect("later"),
        Vec::new()
    );
}
