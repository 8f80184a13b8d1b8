//! The bindings screen as the panel calls it, after a real export of the sample panel to
//! the sandbox amoCRM: the list with every declared column in both languages, paging
//! across the three link tables, the kind filter, and the actions (sync again, unlink,
//! open in amoCRM) with what they change, what they refuse, and the action log.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use billmgr_amocrm::db::{NewJob, Outcome};
use billmgr_amocrm::model::EntityKind::{self, Account, Item, Profile};
use support::{Panel, Sandbox};

const LIST: &str = "amocrm.bindings";

/// The sample panel, exported to the sandbox with `amocrm sync --all`: 6 contacts,
/// 4 companies, 10 leads.
fn synced_panel() -> (Sandbox, Panel) {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    panel.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    panel.sample_panel();
    let out = panel.amocrm(&["sync", "--all"]);
    assert!(
        out.status.success(),
        "sync --all: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (sandbox, panel)
}

fn amocrm_id(panel: &Panel, kind: EntityKind, id: i64) -> i64 {
    panel
        .db()
        .link(kind, id)
        .unwrap()
        .unwrap_or_else(|| panel_missing(kind, id))
        .amocrm_id
}

fn panel_missing(kind: EntityKind, id: i64) -> ! {
    panic!("{kind}:{id} is not linked")
}

fn api_calls(sandbox: &Sandbox) -> usize {
    sandbox
        .get_json("/_sandbox/requests")
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn the_list_shows_every_binding_with_every_column() {
    let (sandbox, panel) = synced_panel();
    for (lang, synced) in [("en", "synced"), ("ru", "синхронизирован")] {
        let a = panel.call_as(LIST, "admin", 29, lang, &[]);
        a.assert_complete(LIST);
        assert_eq!(a.p_elems, Some(20), "{}", a.raw);
        assert_eq!(a.elems.len(), 20);
        for e in &a.elems {
            assert_eq!(e["state"], synced, "{e:?}");
        }
    }

    let a = panel.call(LIST, 29, &[]);
    // The three tables in the order account, profile, item, each by id.
    let order: Vec<&str> = a.elems.iter().map(|e| e["kind"].as_str()).collect();
    let mut expected = vec!["account"; 6];
    expected.extend(["profile"; 4]);
    expected.extend(["item"; 10]);
    assert_eq!(order, expected);
    let mut keys = BTreeSet::new();
    for e in &a.elems {
        let kind = EntityKind::parse(&e["kind"]).unwrap();
        let id: i64 = e["billmgr_id"].parse().unwrap();
        assert_eq!(e["id"], format!("{kind}:{id}"));
        assert!(
            !e["id"].contains(", "),
            "a key never holds the panel's separator"
        );
        assert!(keys.insert(e["id"].clone()), "keys are unique");
        let amo = amocrm_id(&panel, kind, id);
        assert_eq!(e["amocrm_id"], amo.to_string());
        assert!(e["name"].ends_with(&format!("(#{id})")), "{e:?}");
        assert_eq!(
            e["card_url"],
            format!("{}/{}/detail/{amo}", sandbox.url, kind.amo_entity())
        );
        // YYYY-MM-DD HH:MM
        let s = &e["synced"];
        assert_eq!((s.len(), &s[4..5], &s[10..11]), (16, "-", " "), "{s}");
    }
    let row = |key: &str| a.elems.iter().find(|e| e["id"] == key).unwrap().clone();
    assert_eq!(row("account:3")["name"], "Петров Пётр Петрович (#3)");
    assert_eq!(row("profile:22")["name"], "ООО «Ромашка» (#22)");
    assert!(row("item:1002")["name"].starts_with("srv1.romashka.example"));
    assert!(
        !keys.contains("profile:21"),
        "an individual payer is not a company"
    );
}

#[test]
fn pages_run_across_the_three_tables() {
    let (_sandbox, panel) = synced_panel();
    let page = |n: &str| panel.call(LIST, 29, &[("p_num", n), ("p_cnt", "4")]);
    let ids = |a: &support::ui::Answer| -> Vec<String> {
        a.elems.iter().map(|e| e["id"].clone()).collect()
    };
    let p1 = page("1");
    assert_eq!(p1.p_elems, Some(20));
    assert_eq!(
        ids(&p1),
        ["account:2", "account:3", "account:4", "account:5"]
    );
    let p2 = page("2");
    assert_eq!(
        ids(&p2),
        ["account:6", "account:7", "profile:22", "profile:23"]
    );
    let p5 = page("5");
    assert_eq!(
        ids(&p5),
        ["item:1007", "item:1008", "item:1009", "item:1010"]
    );
    let p6 = page("6");
    assert!(p6.elems.is_empty());
    assert_eq!(p6.p_elems, Some(20));
    // Every row once over all pages.
    let all: BTreeSet<String> = (1..=5).flat_map(|n| ids(&page(&n.to_string()))).collect();
    assert_eq!(all.len(), 20);
}

#[test]
fn the_state_column_tells_waiting_and_failed_jobs() {
    let (_sandbox, panel) = synced_panel();
    // Sending off, so that the jobs below stay as they are put.
    let url = panel_url(&panel);
    panel.write_conf(&url, Panel::sqlite(), "enabled = no");
    {
        let mut db = panel.db();
        let now = billmgr_amocrm::log::now();
        db.enqueue(&[NewJob::for_id(Item, 1001, "test")], now)
            .unwrap();
        let claimed = db.claim(now, 10).unwrap();
        assert_eq!(claimed.len(), 1);
        let failed = Outcome::Failed {
            error: "amoCRM refused the lead: price < 0".into(),
            next_try: now + 3600,
        };
        db.finish(&claimed[0], &failed, now).unwrap();
        db.enqueue(&[NewJob::for_id(Account, 2, "test")], now)
            .unwrap();
    }
    for (lang, waiting, failed) in [
        (
            "en",
            "waiting to be sent",
            "error: amoCRM refused the lead: price < 0",
        ),
        (
            "ru",
            "ждёт отправки",
            "ошибка: amoCRM refused the lead: price < 0",
        ),
    ] {
        let a = panel.call_as(LIST, "admin", 29, lang, &[]);
        a.assert_complete(LIST);
        let state = |key: &str| a.elems.iter().find(|e| e["id"] == key).unwrap()["state"].clone();
        assert_eq!(state("account:2"), waiting);
        assert_eq!(state("item:1001"), failed);
    }
}

/// The account address the test conf names.
fn panel_url(panel: &Panel) -> String {
    let conf = panel.read("etc/amocrm/amocrm.conf");
    conf.lines()
        .find_map(|l| l.strip_prefix("url = "))
        .expect("url in conf")
        .to_string()
}

#[test]
fn the_filter_shows_one_kind_and_lasts_per_admin() {
    let (_sandbox, panel) = synced_panel();
    // A kind given to the list itself.
    let a = panel.call(LIST, 29, &[("kind", "profile")]);
    a.assert_complete(LIST);
    assert_eq!(a.p_elems, Some(4));
    assert!(a.elems.iter().all(|e| e["kind"] == "profile"));
    assert_eq!(a.values["p_filter"], "Kind: Payers → companies");

    // The filter form: the choices, the current one, both languages.
    for lang in ["en", "ru"] {
        let f = panel.call_as("amocrm.bindings.filter", "admin", 29, lang, &[]);
        f.assert_complete("amocrm.bindings.filter");
        assert_eq!(f.values["kind"], "all");
        let keys: Vec<&str> = f.slists["kind"].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["all", "account", "profile", "item"]);
    }
    let ru = panel.call_as("amocrm.bindings.filter", "admin", 29, "ru", &[]);
    assert_eq!(ru.slists["kind"][3].1, "Услуги → сделки");

    // Submitted: back to the list, which keeps showing services only, page after page.
    let s = panel.call(
        "amocrm.bindings.filter",
        29,
        &[("sok", "ok"), ("kind", "item")],
    );
    assert_eq!(
        s.ok,
        Some((Some("list".into()), "func=amocrm.bindings".into())),
        "{}",
        s.raw
    );
    let a = panel.call(LIST, 29, &[]);
    assert_eq!(a.p_elems, Some(10));
    assert!(a.elems.iter().all(|e| e["kind"] == "item"));
    let p2 = panel.call(LIST, 29, &[("p_num", "2"), ("p_cnt", "4")]);
    assert_eq!(p2.elems.len(), 4);
    assert_eq!(p2.elems[0]["id"], "item:1005");
    assert_eq!(
        panel.call("amocrm.bindings.filter", 29, &[]).values["kind"],
        "item"
    );
    // Another admin's list is not filtered.
    let other = panel.call_as(LIST, "manager", 29, "en", &[]);
    assert_eq!(other.p_elems, Some(20));
    assert!(!other.values.contains_key("p_filter"));

    // Back to all.
    panel.call(
        "amocrm.bindings.filter",
        29,
        &[("sok", "ok"), ("kind", "all")],
    );
    assert_eq!(panel.call(LIST, 29, &[]).p_elems, Some(20));

    // Junk kinds are refused and change nothing.
    let bad = panel.call(
        "amocrm.bindings.filter",
        29,
        &[("sok", "ok"), ("kind", "contacts")],
    );
    assert_eq!(
        bad.error.as_deref(),
        Some("Unknown kind of binding: \"contacts\" (account, profile, item or all).")
    );
    let bad = panel.call(LIST, 29, &[("kind", "item; drop table")]);
    assert!(bad.error.unwrap().starts_with("Unknown kind of binding"));
    assert_eq!(panel.call(LIST, 29, &[]).p_elems, Some(20));
}

#[test]
fn sync_again_queues_the_chosen_entities_and_wakes_the_worker() {
    let (sandbox, panel) = synced_panel();
    let url = sandbox.url.clone();
    // Sending off first: the jobs stay queued for a look.
    panel.write_conf(&url, Panel::sqlite(), "enabled = no");
    let a = panel.call_as(
        "amocrm.bindings.resync",
        "manager",
        29,
        "en",
        &[("elid", "account:3, item:1002")],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let mut db = panel.db();
    for (kind, id) in [(Account, 3), (Item, 1002)] {
        let job = db.job_of(kind, id).unwrap().unwrap();
        assert_eq!(
            (job.state.as_str(), job.event.as_str()),
            ("pending", "amocrm.bindings.resync"),
            "{kind}:{id}"
        );
    }
    assert_eq!(db.job_of(Profile, 22).unwrap().unwrap().state, "done");
    let list = panel.call(LIST, 29, &[]);
    let state = |key: &str| list.elems.iter().find(|e| e["id"] == key).unwrap()["state"].clone();
    assert_eq!(state("account:3"), "waiting to be sent");
    assert_eq!(state("profile:22"), "synced");
    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains("amocrm.bindings.resync: queued account:3, item:1002 to sync again by manager (level 29)"),
        "{log}"
    );

    // Sending on: the worker is woken and sends them.
    panel.write_conf(&url, Panel::sqlite(), "batch_size = 50");
    let a = panel.call("amocrm.bindings.resync", 29, &[("elid", "profile:22")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let start = Instant::now();
    loop {
        let done = [(Account, 3), (Item, 1002), (Profile, 22)]
            .iter()
            .all(|(k, id)| db.job_of(*k, *id).unwrap().unwrap().state == "done");
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the woken worker did not send the jobs:\n{}",
            panel.read("var/amocrm_task.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing was made twice.
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(state["contacts"].as_array().unwrap().len(), 6);
    assert_eq!(state["companies"].as_array().unwrap().len(), 4);
    assert_eq!(state["leads"].as_array().unwrap().len(), 10);
}

#[test]
fn unlink_forgets_links_and_leaves_amocrm_alone() {
    let (sandbox, panel) = synced_panel();
    let contact7 = amocrm_id(&panel, Account, 7);
    let company26 = amocrm_id(&panel, Profile, 26);
    let calls = api_calls(&sandbox);
    let a = panel.call(
        "amocrm.bindings.unlink",
        29,
        &[("elid", "account:7, profile:26")],
    );
    assert!(a.ok.is_some(), "{}", a.raw);
    let mut db = panel.db();
    assert!(db.link(Account, 7).unwrap().is_none());
    assert!(db.link(Profile, 26).unwrap().is_none());
    assert!(
        db.link(Account, 6).unwrap().is_some(),
        "only the chosen ones"
    );
    assert_eq!(
        (
            db.link_count(Account).unwrap(),
            db.link_count(Profile).unwrap()
        ),
        (5, 3)
    );
    assert_eq!(panel.call(LIST, 29, &[]).p_elems, Some(18));
    // amoCRM was not asked anything and still holds both.
    assert_eq!(api_calls(&sandbox), calls);
    let state = sandbox.get_json("/_sandbox/state");
    let has = |kind: &str, id: i64| {
        state[kind]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"].as_i64() == Some(id))
    };
    assert!(has("contacts", contact7) && has("companies", company26));
    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains(&format!(
            "amocrm.bindings.unlink: unlinked account:7 (contacts {contact7}), profile:26 (companies {company26}); amoCRM keeps them by admin (level 29)"
        )),
        "{log}"
    );
    // Already unlinked: unknown now.
    let again = panel.call("amocrm.bindings.unlink", 29, &[("elid", "account:7")]);
    assert_eq!(
        again.error.as_deref(),
        Some("Nothing selected, or not found: account:7")
    );
}

#[test]
fn open_answers_the_card_of_the_right_entity_type() {
    let (sandbox, panel) = synced_panel();
    for (key, kind, id, path) in [
        ("account:3", Account, 3, "contacts"),
        ("profile:22", Profile, 22, "companies"),
        ("item:1002", Item, 1002, "leads"),
    ] {
        let a = panel.call("amocrm.bindings.open", 29, &[("elid", key)]);
        let amo = amocrm_id(&panel, kind, id);
        assert_eq!(
            a.ok,
            Some((
                Some("blank".into()),
                format!("{}/{path}/detail/{amo}", sandbox.url)
            )),
            "{}",
            a.raw
        );
    }
    let two = panel.call(
        "amocrm.bindings.open",
        29,
        &[("elid", "account:3, item:1002")],
    );
    assert_eq!(
        two.error.as_deref(),
        Some("Choose one binding to open in amoCRM.")
    );
    let ru = panel.call_as(
        "amocrm.bindings.open",
        "admin",
        29,
        "ru",
        &[("elid", "item:9999")],
    );
    assert!(ru.error.unwrap().starts_with("Не выбран объект"));
}

#[test]
fn junk_selections_are_refused_and_change_nothing() {
    let (_sandbox, panel) = synced_panel();
    let url = panel_url(&panel);
    panel.write_conf(&url, Panel::sqlite(), "enabled = no");
    let snapshot = |panel: &Panel| {
        let mut db = panel.db();
        let links: Vec<i64> = [Account, Profile, Item]
            .iter()
            .map(|k| db.link_count(*k).unwrap())
            .collect();
        let jobs = db.list_jobs(&[], 1000).unwrap();
        (links, jobs)
    };
    let before = snapshot(&panel);
    let log_before = panel.read("var/amocrm_action.log");
    for func in [
        "amocrm.bindings.resync",
        "amocrm.bindings.unlink",
        "amocrm.bindings.open",
    ] {
        for bad in [
            "account:x",
            "nothing:1",
            "",
            "account:999",
            "3",
            "account:3, account:x",
            "item:1002,account:3",
        ] {
            let a = panel.call(func, 29, &[("elid", bad)]);
            let err = a
                .error
                .unwrap_or_else(|| panic!("{func} took {bad:?}: {}", a.raw));
            assert!(
                err.starts_with("Nothing selected, or not found"),
                "{func} {bad:?}: {err}"
            );
            assert!(a.ok.is_none());
        }
    }
    assert_eq!(snapshot(&panel), before, "nothing changed");
    let log = panel.read("var/amocrm_action.log");
    let added = &log[log_before.len()..];
    assert!(
        !added.contains("queued") && !added.contains("unlinked"),
        "{added}"
    );
    assert!(
        added.contains("amocrm.bindings.unlink: admin (level 29) got an error"),
        "refusals are logged with who: {added}"
    );
}
