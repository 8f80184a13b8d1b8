//! The full export screen as the panel calls it: idle before any export, started from the
//! form as a detached `amocrm sync --all`, followed to its end against the sandbox amoCRM
//! with numbers that match what landed there, refused while one runs, and an export run
//! from the command line shown the same way.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use billmgr_amocrm::model::EntityKind;
use support::{Panel, Sandbox};

const FORM: &str = "amocrm.export";

/// How many entities of each kind the panel holds: what a full export queues.
fn panel_entities(panel: &Panel) -> i64 {
    let mut db = panel.db();
    EntityKind::ALL
        .iter()
        .map(|k| db.ids(*k, 0, 10_000).unwrap().len() as i64)
        .sum()
}

fn values(panel: &Panel) -> BTreeMap<String, String> {
    let a = panel.call(FORM, 29, &[]);
    a.assert_complete(FORM);
    a.values
}

/// Opens the form until the export has finished; fails the test after `limit`.
fn wait_finished(panel: &Panel, limit: Duration) -> BTreeMap<String, String> {
    let start = Instant::now();
    loop {
        let v = values(panel);
        if !v["state"].starts_with("running") {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "the export did not finish: {v:?}\n{}",
            panel.read("var/amocrm_task.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn num(v: &BTreeMap<String, String>, field: &str) -> i64 {
    v[field]
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number: {v:?}"))
}

fn count(sandbox: &Sandbox, kind: &str) -> usize {
    sandbox.get_json("/_sandbox/state")[kind]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn the_form_starts_an_export_and_follows_it_to_the_end() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    panel.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 3");
    panel.sample_panel();
    let total = panel_entities(&panel);
    assert_eq!(total, 22);

    // Before any export: idle, every field there, in both languages.
    for (lang, idle, never) in [
        ("en", "not run yet", "never"),
        ("ru", "не запускалась", "никогда"),
    ] {
        let a = panel.call_as(FORM, "admin", 29, lang, &[]);
        a.assert_complete(FORM);
        assert_eq!(a.values["state"], idle);
        assert_eq!(a.values["started"], never);
        for f in ["queued", "sent", "skipped", "failed", "remaining"] {
            assert_eq!(a.values[f], "0", "{f}");
        }
    }

    let a = panel.call(FORM, 29, &[("sok", "ok")]);
    assert_eq!(
        a.ok,
        Some((Some("form".into()), "func=amocrm.export".into())),
        "{}",
        a.raw
    );
    let v = wait_finished(&panel, Duration::from_secs(120));
    assert_eq!(v["state"], "finished", "{v:?}");

    // What landed in amoCRM is what the form counts.
    let (contacts, companies, leads) = (
        count(&sandbox, "contacts"),
        count(&sandbox, "companies"),
        count(&sandbox, "leads"),
    );
    assert_eq!((contacts, companies, leads), (6, 4, 10));
    assert_eq!(num(&v, "queued"), total);
    assert_eq!(num(&v, "sent"), (contacts + companies + leads) as i64);
    assert_eq!(num(&v, "skipped"), 2, "the two payers that are individuals");
    assert_eq!((num(&v, "failed"), num(&v, "remaining")), (0, 0));
    assert!(
        !v["started"].is_empty() && !v["finished"].is_empty(),
        "{v:?}"
    );
    let mut db = panel.db();
    let links: i64 = EntityKind::ALL
        .iter()
        .map(|k| db.link_count(*k).unwrap())
        .sum();
    assert_eq!(links, num(&v, "sent"));

    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains("amocrm.export: started the full export (pid ")
            && log.contains(") by admin (level 29)"),
        "{log}"
    );
    assert!(
        panel
            .read("var/amocrm_task.log")
            .contains("export finished (ok): 22 queued"),
        "{}",
        panel.read("var/amocrm_task.log")
    );

    // An export from the command line shows the same way; nothing is sent twice.
    let writes = sandbox
        .get_json("/_sandbox/requests")
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] != "GET")
        .count();
    let out = panel.amocrm(&["sync", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2 = values(&panel);
    assert_eq!(v2["state"], "finished");
    assert_eq!(
        (num(&v2, "queued"), num(&v2, "sent"), num(&v2, "skipped")),
        (22, 20, 2)
    );
    let writes_after = sandbox
        .get_json("/_sandbox/requests")
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] != "GET")
        .count();
    assert_eq!(writes_after, writes, "unchanged entities cost no write");
}

#[test]
fn a_second_export_is_refused_while_one_runs() {
    let sandbox = Sandbox::start(&[]);
    let panel = Panel::new();
    panel.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 3");
    panel.sample_panel();
    // Every answer of amoCRM takes a second: the export runs for a while.
    let (status, _) =
        sandbox.post_json("/_sandbox/faults", &serde_json::json!({"latency_ms": 1000}));
    assert_eq!(status, 200);

    let a = panel.call(FORM, 29, &[("sok", "ok")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let v = values(&panel);
    assert!(v["state"].starts_with("running"), "{v:?}");
    assert!(
        num(&v, "queued") > 0 || v["state"].contains("queueing"),
        "{v:?}"
    );

    let again = panel.call(FORM, 29, &[("sok", "ok")]);
    let err = again
        .error
        .unwrap_or_else(|| panic!("a second export started: {}", again.raw));
    assert!(
        err.starts_with("A full export is already running (started "),
        "{err}"
    );
    let ru = panel.call_as(FORM, "admin", 29, "ru", &[("sok", "ok")]);
    assert!(ru.error.unwrap().starts_with("Полная выгрузка уже идёт"));
    // From the command line too.
    let cli = panel.amocrm(&["sync", "--all"]);
    assert_eq!(cli.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("a full export is already running (pid "),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    sandbox.post_json("/_sandbox/faults", &serde_json::json!({}));
    let v = wait_finished(&panel, Duration::from_secs(180));
    assert_eq!(v["state"], "finished", "{v:?}");
    assert_eq!((num(&v, "sent"), num(&v, "remaining")), (20, 0));
    let log = panel.read("var/amocrm_action.log");
    assert_eq!(log.matches("started the full export").count(), 1, "{log}");
    assert!(log.contains(
        "amocrm.export: admin (level 29) got an error: A full export is already running"
    ));
}

#[test]
fn with_sending_off_the_export_queues_and_says_the_jobs_wait() {
    let panel = Panel::new();
    panel.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    panel.sample_panel();
    let a = panel.call(FORM, 29, &[("sok", "ok")]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let v = wait_finished(&panel, Duration::from_secs(60));
    assert_eq!(
        v["state"],
        "entities queued, but sending is off ([sync] enabled = no): the jobs wait"
    );
    assert_eq!(
        (num(&v, "queued"), num(&v, "sent"), num(&v, "remaining")),
        (22, 0, 22)
    );
    assert_eq!(panel.db().count_jobs(&["pending"]).unwrap(), 22);
}

#[test]
fn a_broken_configuration_is_told_before_anything_starts() {
    let panel = Panel::new();
    panel.write_conf("ftp://amocrm.example", Panel::sqlite(), "enabled = no");
    let a = panel.call(FORM, 29, &[("sok", "ok")]);
    let err = a.error.unwrap_or_else(|| panic!("started: {}", a.raw));
    assert!(err.starts_with("amocrm.conf has an error"), "{err}");
    assert!(!panel.path("var/amocrm_export.json").exists());
    assert_eq!(values(&panel)["state"], "not run yet");
}
