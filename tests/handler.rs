//! The handler as the panel runs it: environment + document on stdin, the document back on
//! stdout, exit 0, and the job in the queue.

mod support;

use billmgr_amocrm::db::PanelDb;
use support::Panel;

/// A panel whose sync is switched off, so no worker sends anything: the queue is what
/// the handler left.
fn panel() -> Panel {
    let p = Panel::new();
    p.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    p
}

fn queued(db: &mut dyn PanelDb) -> Vec<String> {
    let mut keys: Vec<String> = db
        .list_jobs(&["pending"], 100)
        .expect("jobs")
        .into_iter()
        .map(|j| j.key)
        .collect();
    keys.sort();
    keys
}

#[test]
fn events_are_queued_and_the_document_passes_unchanged() {
    let p = panel();
    p.event("service.postopen", "1001", &[]);
    p.event("vds.suspend", "1002, 1003", &[]);
    p.event("account.edit", "3", &[]);
    p.event("register", "", &[("PARAM_email", "new.client@example.ru")]);
    p.event("service.postopen", "1001", &[]);
    let mut db = p.db();
    assert_eq!(
        queued(db.as_mut()),
        vec![
            "account:3",
            "account?login=new.client@example.ru",
            "item:1001",
            "item:1002",
            "item:1003"
        ]
    );
    let log = p.read("var/amocrm_action.log");
    assert!(
        log.contains("amocrm INFO vds.suspend: queued item:1002, item:1003"),
        "{log}"
    );
}

#[test]
fn a_form_opened_but_not_submitted_queues_nothing() {
    let p = panel();
    let doc = "<doc func=\"account.edit\"><metadata name=\"account.edit\" type=\"form\"/><elid>3</elid></doc>";
    let out = p.handler(
        &[
            ("PARAM_func", "account.edit"),
            ("PARAM_elid", "3"),
            ("EVENT_TYPE", "after"),
        ],
        doc.as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, doc.as_bytes());
    assert!(queued(p.db().as_mut()).is_empty());
}

#[test]
fn the_renewal_form_queues_only_when_submitted() {
    // service.prolong opens without sok (the periods and the new expiry date to choose
    // from) and orders the renewal when submitted.
    let p = panel();
    let doc = "<doc func=\"service.prolong\"><expiredate>2025-01-31</expiredate><newexpiredate>2026-01-31</newexpiredate><slist name=\"period\"><val key=\"12\">1 year</val></slist></doc>";
    let env = [
        ("PARAM_func", "service.prolong"),
        ("PARAM_elid", "1002"),
        ("EVENT_TYPE", "after"),
        ("AUTH_USER", "ivanov@example.ru"),
        ("AUTH_LEVEL", "16"),
    ];
    let out = p.handler(&env, doc.as_bytes());
    assert!(out.status.success());
    assert_eq!(out.stdout, doc.as_bytes());
    assert!(queued(p.db().as_mut()).is_empty());

    p.event("service.prolong", "1002", &[("PARAM_period", "12")]);
    assert_eq!(queued(p.db().as_mut()), vec!["item:1002"]);
}

#[test]
fn a_new_client_is_found_by_the_id_in_the_document() {
    let p = panel();
    let doc = "<?xml version=\"1.0\"?>\n<doc func=\"account.edit\"><ok/><id>7</id></doc>";
    let out = p.handler(
        &[
            ("PARAM_func", "account.edit"),
            ("PARAM_sok", "ok"),
            ("PARAM_elid", ""),
            ("EVENT_TYPE", "after"),
        ],
        doc.as_bytes(),
    );
    assert_eq!(out.stdout, doc.as_bytes());
    assert_eq!(queued(p.db().as_mut()), vec!["account:7"]);
}

/// Sends `service.postopen` of item 1001 with each of `blocked` made a directory, so that
/// it cannot be opened as a file; checks the document came back, returns the action log.
fn postopen_with_blocked_files(p: &Panel, blocked: &[&str]) -> String {
    for path in blocked {
        std::fs::create_dir_all(p.path(path)).unwrap();
    }
    p.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    let doc = b"<doc func=\"service.postopen\"><ok/></doc>";
    let out = p.handler(
        &[("PARAM_func", "service.postopen"), ("PARAM_elid", "1001")],
        doc,
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, doc);
    p.read("var/amocrm_action.log")
}

#[test]
fn an_event_waits_in_the_spool_while_the_database_cannot_be_opened() {
    let p = Panel::new();
    let log = postopen_with_blocked_files(&p, &["var/billmgr.db"]);
    assert!(log.contains("service.postopen: queued item:1001"), "{log}");
    // status says where the job is while the database stays out of reach.
    let status = p.amocrm(&["status", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(report["spool"]["waiting"], 1, "{report}");
    assert!(report["database"]["error"].is_string(), "{report}");
    // Once the database opens, the first reader finds the job in the queue.
    std::fs::remove_dir(p.path("var/billmgr.db")).unwrap();
    assert_eq!(queued(p.db().as_mut()), vec!["item:1001"]);
    assert_eq!(
        std::fs::metadata(p.path("var/amocrm_spool")).unwrap().len(),
        0
    );
}

#[test]
fn the_document_passes_even_when_nothing_can_be_written() {
    let p = Panel::new();
    let log = postopen_with_blocked_files(&p, &["var/billmgr.db", "var/amocrm_spool"]);
    assert!(
        log.contains("WARNING cannot write") && log.contains("queueing in the database instead"),
        "{log}"
    );
    assert!(
        log.contains("ERROR service.postopen: could not queue item:1001"),
        "{log}"
    );
}

#[test]
fn the_database_takes_the_event_while_the_spool_is_being_moved() {
    let p = panel();
    p.event("service.postopen", "1001", &[]);
    // A reader holds the spool to move it: the hook must neither wait nor lose the event.
    let spool = std::fs::File::open(p.path("var/amocrm_spool")).unwrap();
    spool.lock().unwrap();
    p.event("service.postopen", "1002", &[]);
    assert_eq!(
        std::fs::read_to_string(p.path("var/amocrm_spool"))
            .unwrap()
            .matches("\"id\":")
            .count(),
        1,
        "the second event went to the database, not the spool"
    );
    drop(spool);
    assert_eq!(queued(p.db().as_mut()), vec!["item:1001", "item:1002"]);
}

#[test]
fn a_torn_spool_line_is_dropped_and_spoils_no_other() {
    let p = panel();
    p.event("service.postopen", "1001", &[]);
    // A crash in the middle of a hook's write leaves half a line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p.path("var/amocrm_spool"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"\n{\"at\":1,\"kind\":\"item\",\"i").unwrap();
    drop(f);
    p.event("service.postopen", "1002", &[]);
    // status moves the spool, as every reader of the queue does, and logs what it dropped.
    p.amocrm(&["status"]);
    let log = p.read("var/amocrm_action.log");
    assert!(
        log.contains(
            "amocrm_spool: line 4 is not a job and is dropped: {\"at\":1,\"kind\":\"item\",\"i"
        ),
        "{log}"
    );
    assert_eq!(queued(p.db().as_mut()), vec!["item:1001", "item:1002"]);
}

#[test]
fn odd_input_still_gets_a_document_back() {
    let p = panel();
    let out = p.handler(
        &[("PARAM_func", "service.postopen"), ("PARAM_elid", "1001")],
        b"",
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("<doc/>"));
    let binary: Vec<u8> = (0u8..=255).cycle().take(5000).collect();
    let out = p.handler(
        &[("PARAM_func", "service.postopen"), ("PARAM_elid", "1001")],
        &binary,
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, binary);
    // A broken amocrm.conf: the job still lands in the default database.
    p.write("etc/amocrm/amocrm.conf", "[sync\nbatch_size = many\n");
    let out = p.handler(
        &[("PARAM_func", "service.postopen"), ("PARAM_elid", "1005")],
        b"<doc/>",
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, b"<doc/>");
}

#[test]
fn concurrent_handlers_lose_no_event() {
    let p = panel();
    p.event("service.postopen", "1", &[]); // creates the tables first
    let root = p.root().to_path_buf();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let id = (100 + i).to_string();
                let mut cmd = std::process::Command::new(support::AMOCRM);
                cmd.env_clear()
                    .env("MGR_ROOT", &root)
                    .env("PARAM_func", "service.postopen")
                    .env("PARAM_elid", &id)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let out = support::run_with_timeout(
                    cmd,
                    b"<doc><ok/></doc>",
                    std::time::Duration::from_secs(60),
                );
                assert!(out.status.success());
                assert_eq!(out.stdout, b"<doc><ok/></doc>");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("handler thread");
    }
    let keys = queued(p.db().as_mut());
    assert_eq!(keys.len(), 21, "{keys:?}");
    // Each process wrote whole lines in the panel's format.
    let log = p.read("var/amocrm_action.log");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("service.postopen: queued"))
            .count(),
        21
    );
    for line in log.lines() {
        let (_, rest) = line.split_once(" [").expect("a [pid]");
        assert!(
            rest.contains("] amocrm INFO ") || rest.contains("] amocrm DEBUG "),
            "{line}"
        );
        assert_eq!(line.matches(" amocrm ").count(), 1, "interleaved: {line}");
    }
    for i in 0..20 {
        assert!(keys.contains(&format!("item:{}", 100 + i)));
    }
}

#[test]
fn every_event_the_module_description_declares_is_queued() {
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/xml/billmgr_mod_amocrm.xml"
    ))
    .unwrap();
    let events: Vec<&str> = xml
        .split("<event name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(events.len() >= 60, "{events:?}");
    let p = panel();
    for (n, func) in events.iter().enumerate() {
        let id = (n + 1).to_string();
        p.event(func, &id, &[("PARAM_email", &format!("c{id}@example.ru"))]);
        let keys = queued(p.db().as_mut());
        assert!(
            keys.iter().any(|k| k.ends_with(&format!(":{id}"))
                || k.contains(&format!("c{id}@"))
                || k.ends_with(&format!("user={id}"))
                || k.ends_with(&format!("payment={id}"))),
            "{func} queued nothing: {keys:?}"
        );
    }
}
