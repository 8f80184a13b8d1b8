//! The module's own panel functions as the panel calls them: the module description is
//! consistent (well-formed, every message in ru and en), non-admins are refused, unknown
//! functions get an error, and the queue screen lists, retries and drops jobs.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use support::Panel;
use support::ui::{DESCRIPTION, declared};

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

const DENIED: &str = "Access denied: only administrators may manage the amoCRM integration.";

/// lang → messages name → msg names.
fn messages() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut reader = Reader::from_str(DESCRIPTION);
    let (mut lang, mut section) = (String::new(), String::new());
    loop {
        match reader.read_event().expect("well-formed") {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"lang" => lang = attr(&e, b"name").unwrap(),
                b"messages" => section = attr(&e, b"name").unwrap(),
                b"msg" => {
                    out.entry(lang.clone())
                        .or_default()
                        .entry(section.clone())
                        .or_default()
                        .insert(attr(&e, b"name").unwrap());
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// Every message name the description's metadata and menu use: (messages name, msg name).
fn used_messages() -> BTreeSet<(String, String)> {
    let mut used = BTreeSet::new();
    let mut reader = Reader::from_str(DESCRIPTION);
    let mut meta: Option<String> = None;
    let mut in_menu = false;
    loop {
        match reader.read_event().expect("well-formed") {
            Event::Start(e) | Event::Empty(e) => {
                let name = attr(&e, b"name");
                match e.local_name().as_ref() {
                    b"metadata" => {
                        let m = name.unwrap();
                        used.insert((m.clone(), "title".into()));
                        meta = Some(m);
                    }
                    b"mainmenu" => in_menu = true,
                    b"plugin" => {
                        let n = name.unwrap();
                        used.insert(("plugin".into(), format!("desc_short_{n}")));
                        used.insert(("plugin".into(), format!("desc_full_{n}")));
                    }
                    b"node" if in_menu => {
                        used.insert(("desktop".into(), format!("menu_{}", name.unwrap())));
                    }
                    b"col" | b"field" | b"page" => {
                        if let (Some(m), Some(n)) = (&meta, name) {
                            used.insert((m.clone(), n));
                        }
                    }
                    b"button" => {
                        if let (Some(m), Some(n)) = (&meta, name) {
                            used.insert((m.clone(), format!("msg_{n}")));
                        }
                    }
                    b"toolbtn" => {
                        if let (Some(m), Some(n)) = (&meta, name) {
                            used.insert((m.clone(), format!("short_{n}")));
                            used.insert((m.clone(), format!("hint_{n}")));
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"metadata" => meta = None,
                b"mainmenu" => in_menu = false,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    used
}

#[test]
fn description_is_well_formed_and_every_message_exists_in_ru_and_en() {
    // XML forbids "--" inside a comment; quick-xml lets it pass, stricter parsers (the
    // panel's may be one) refuse the whole file.
    for comment in DESCRIPTION.split("<!--").skip(1) {
        let inner = &comment[..comment.find("-->").expect("comment closed")];
        assert!(!inner.contains("--"), "'--' inside a comment: {inner}");
    }
    assert!(
        DESCRIPTION.contains("<plugin name=\"amocrm\">"),
        "the module list needs the plugin descriptor"
    );
    let msgs = messages();
    assert_eq!(
        msgs.keys().cloned().collect::<Vec<_>>(),
        vec!["en".to_string(), "ru".to_string()]
    );
    // Both languages carry exactly the same messages.
    assert_eq!(msgs["ru"], msgs["en"], "ru and en messages differ");
    let mut missing = Vec::new();
    for (section, name) in used_messages() {
        for lang in ["ru", "en"] {
            if !msgs[lang].get(&section).is_some_and(|s| s.contains(&name)) {
                missing.push(format!("{lang}: {section}/{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "messages missing: {missing:#?}");
    // Form fields carry hints too.
    for (func, d) in declared() {
        if d.kind == "form" {
            for f in &d.fields {
                assert!(
                    msgs["en"][&func].contains(&format!("hint_{f}")),
                    "{func}: no hint_{f}"
                );
            }
        }
    }
}

/// (metadata, button name) of every form button the description declares.
fn buttons() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut reader = Reader::from_str(DESCRIPTION);
    let mut meta = String::new();
    loop {
        match reader.read_event().expect("well-formed") {
            Event::Start(e) if e.local_name().as_ref() == b"metadata" => {
                meta = attr(&e, b"name").unwrap();
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"button" => {
                out.push((meta.clone(), attr(&e, b"name").unwrap()));
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

#[test]
fn every_button_has_its_caption_in_ru_and_en() {
    // The panel captions a button with the message msg_<name>, as its own forms do
    // (msg_save, msg_ok_configure); a bare <name> leaves "Test connection" blank.
    let all = buttons();
    assert!(
        all.contains(&("amocrm.settings".into(), "test".into())),
        "{all:?}"
    );
    let msgs = messages();
    for (func, button) in all {
        for lang in ["ru", "en"] {
            let names = &msgs[lang][&func];
            assert!(
                names.contains(&format!("msg_{button}")),
                "{lang}: {func} has no msg_{button}"
            );
            assert!(
                !names.contains(&button),
                "{lang}: {func}/{button} is not a caption; name it msg_{button}"
            );
        }
    }
}

#[test]
fn the_module_has_one_menu_group_of_its_own() {
    // No public source names the panel's own groups: a group of the module's own shows
    // once whatever they are called.
    let menu = &DESCRIPTION[DESCRIPTION.find("<mainmenu").unwrap()..];
    let menu = &menu[..menu.find("</mainmenu>").unwrap()];
    assert_eq!(menu.matches("<node name=\"amocrm\">").count(), 1, "{menu}");
    let items = menu.matches(" action=\"").count();
    assert_eq!(items, menu.matches("<node ").count() - 1, "{menu}");
}

#[test]
fn texts_the_module_writes_itself_exist_in_both_languages() {
    // Every `fail("x"` / `common("x"` in the panel code names a message of amocrm.common.
    let msgs = messages();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/panel/ui");
    let mut names = BTreeSet::new();
    let mut files = vec![];
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(
        files.iter().any(|f| f.ends_with("rules/line.rs")),
        "{files:?}"
    );
    for file in files {
        let code = std::fs::read_to_string(file).unwrap();
        for pat in ["fail(\"", "common(\""] {
            for part in code.split(pat).skip(1) {
                if let Some(end) = part.find('"') {
                    names.insert(part[..end].to_string());
                }
            }
        }
    }
    assert!(names.contains("denied"), "scan found {names:?}");
    for n in names {
        for lang in ["ru", "en"] {
            assert!(
                msgs[lang]["amocrm.common"].contains(&n),
                "{lang}: amocrm.common/{n} missing"
            );
        }
    }
}

#[test]
fn every_module_function_refuses_non_admins() {
    let panel = Panel::new();
    panel.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    let funcs = support::ui::declared_functions();
    assert!(funcs.len() >= 14, "{funcs:?}");
    // 28 is a department in the panel's user table, not an administrator's login.
    for func in &funcs {
        for level in [0, 16, 28] {
            let a = panel.call_as(func, "client@example.com", level, "en", &[("sok", "ok")]);
            assert_eq!(a.error.as_deref(), Some(DENIED), "{func} at level {level}");
        }
    }
    let ru = panel.call_as("amocrm.settings", "client", 16, "ru", &[]);
    assert!(ru.error.unwrap().starts_with("Доступ запрещён"));
    let log = panel.read("var/amocrm_action.log");
    assert!(log.contains("amocrm.settings: refused to client@example.com (level 16)"));
    assert!(log.contains("amocrm.queue.drop: refused to client@example.com (level 28)"));
    // Nothing was written by the refused calls.
    assert!(
        panel
            .read("etc/amocrm/amocrm.conf")
            .contains("enabled = no")
    );
}

#[test]
fn every_module_function_lets_admin_and_root_in() {
    let panel = Panel::new();
    panel.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    // Opened, not submitted: a refusal is the only error that matters here.
    for func in support::ui::declared_functions() {
        for level in [29, 30] {
            let a = panel.call_as(&func, "admin", level, "en", &[]);
            assert_ne!(a.error.as_deref(), Some(DENIED), "{func} at level {level}");
        }
    }
}

#[test]
fn unknown_functions_and_missing_levels_get_an_error_document() {
    let panel = Panel::new();
    panel.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    let a = panel.call("amocrm.nothing", 29, &[]);
    assert_eq!(
        a.error.as_deref(),
        Some("Unknown amoCRM module function: amocrm.nothing.")
    );
    // No AUTH_LEVEL at all is not an admin.
    let out = panel.handler(
        &[("EVENT_TYPE", "action"), ("PARAM_func", "amocrm.queue")],
        b"<doc/>",
    );
    let a = support::ui::parse(&String::from_utf8(out.stdout).unwrap());
    // Without a language from the panel, Russian (the panel's default).
    assert!(a.error.unwrap().starts_with("Доступ запрещён"));
}

fn queue_panel() -> Panel {
    let panel = Panel::new();
    panel.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    panel.sample_panel();
    panel.event("account.edit", "2", &[]);
    panel.event("profile.edit", "22", &[]);
    panel.event("service.postopen", "1001", &[]);
    panel
}

#[test]
fn queue_lists_waiting_jobs_with_every_declared_column() {
    let panel = queue_panel();
    for lang in ["ru", "en"] {
        let a = panel.call_as("amocrm.queue", "admin", 29, lang, &[]);
        a.assert_complete("amocrm.queue");
        assert_eq!(a.p_elems, Some(3));
        assert_eq!(a.elems.len(), 3);
    }
    let a = panel.call("amocrm.queue", 29, &[]);
    let kinds: BTreeSet<&str> = a.elems.iter().map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["account", "item", "profile"]));
    let client = a.elems.iter().find(|e| e["kind"] == "account").unwrap();
    assert!(client["entity"].ends_with("(#2)"), "{client:?}");
    assert_eq!(client["state"], "pending");
    assert_eq!(client["event"], "account.edit");

    // Paging: two a page.
    let p2 = panel.call("amocrm.queue", 29, &[("p_num", "2"), ("p_cnt", "2")]);
    assert_eq!(p2.elems.len(), 1);
    assert_eq!(p2.p_elems, Some(3));
}

#[test]
fn queue_retry_and_drop_change_the_queue_and_are_logged_with_who() {
    let panel = queue_panel();
    let ids: Vec<String> = panel
        .call("amocrm.queue", 29, &[])
        .elems
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    let two = format!("{}, {}", ids[0], ids[1]);
    let a = panel.call_as("amocrm.queue.drop", "manager", 29, "en", &[("elid", &two)]);
    assert!(a.ok.is_some(), "{}", a.raw);
    let left = panel.call("amocrm.queue", 29, &[]);
    assert_eq!(left.elems.len(), 1);
    assert_eq!(left.elems[0]["id"], ids[2]);

    let a = panel.call_as("amocrm.queue.retry", "root", 30, "en", &[("elid", &ids[2])]);
    assert!(a.ok.is_some(), "{}", a.raw);

    let log = panel.read("var/amocrm_action.log");
    assert!(
        log.contains(&format!(
            "amocrm.queue.drop: dropped 2 of jobs {two} by manager (level 29)"
        )),
        "{log}"
    );
    assert!(
        log.contains("amocrm.queue.retry: retry now: 1 of jobs"),
        "{log}"
    );
    assert!(log.contains("by root (level 30)"), "{log}");

    // Junk and empty selections are refused, nothing changes.
    for bad in ["", "x", "1, y", "-4"] {
        let a = panel.call("amocrm.queue.drop", 29, &[("elid", bad)]);
        assert!(a.error.unwrap().starts_with("Nothing selected"), "{bad}");
    }
    assert_eq!(panel.call("amocrm.queue", 29, &[]).elems.len(), 1);
}

#[test]
fn a_broken_database_setting_is_an_error_document_not_a_crash() {
    let panel = Panel::new();
    panel.write_conf(
        "http://127.0.0.1:9",
        "driver = mysql\nurl = mysql://nobody:s3cret-pw@127.0.0.1:1/none",
        "enabled = no",
    );
    let a = panel.call("amocrm.queue", 29, &[]);
    assert!(
        a.error
            .as_deref()
            .unwrap_or("")
            .starts_with("Cannot reach the database"),
        "{}",
        a.raw
    );
    assert!(
        !a.raw.contains("s3cret-pw"),
        "the password is not shown: {}",
        a.raw
    );
}

#[test]
fn every_screen_answers_with_every_declared_column_and_field() {
    let sandbox = support::Sandbox::start(&[]);
    let panel = Panel::new();
    panel.write_conf(&sandbox.url, Panel::sqlite(), "batch_size = 50");
    panel.sample_panel();
    let out = panel.amocrm(&["sync", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A note marked as the worker marks one, so the notes' list has a row.
    let note = billmgr_amocrm::db::NewPost {
        key: "payment:31:credited".into(),
        kind: billmgr_amocrm::db::PostKind::Note,
        entity_type: "contacts".into(),
        entity_id: 1,
        text: "Оплата 1500.00 RUB зачислена.".into(),
        due: 0,
        owner: None,
    };
    panel.db().mark_posts(&[note], 1).expect("a note marked");
    // Sending off: one event stays in the queue, so the queue list has a row.
    panel.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");
    panel.event("account.edit", "2", &[]);

    let screens = declared();
    assert!(screens.len() >= 8, "{:?}", screens.keys());
    for (func, d) in &screens {
        for lang in ["ru", "en"] {
            let a = panel.call_as(func, "admin", 29, lang, &[]);
            a.assert_complete(func);
            if d.kind == "list" {
                assert!(
                    !a.elems.is_empty(),
                    "{func} ({lang}) lists nothing:\n{}",
                    a.raw
                );
            }
        }
    }
}
