//! Bad input of every kind, as it reaches the module: the panel's environment and document,
//! data in the panel's tables, amocrm.conf and the presets, and amoCRM's answers. Each gets
//! a clear error or a safe skip, never a crash (a panic's exit code, a signal) or a hang
//! (every run has a time limit); the panel always gets its document back and nothing
//! already queued is lost.

mod support;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Panel, Sandbox, ui};

const CONF: &str = "etc/amocrm/amocrm.conf";
const CUSTOM: &str = "etc/amocrm/presets.custom";
/// Far above what any of these runs needs, even on a loaded machine: a hang fails the test.
const LIMIT: Duration = Duration::from_secs(60);
/// What the handler answers when the panel gave it no document.
const EMPTY_DOC: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc/>\n";

/// The files of `tests/corpus/DIR`, by name.
fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("corpus file"))
        })
        .collect();
    files.sort();
    files
}

/// A panel whose sync is switched off: the queue holds what the handlers left.
fn quiet_panel() -> Panel {
    let p = Panel::new();
    p.write_conf("http://127.0.0.1:9", Panel::sqlite(), "enabled = no");
    p
}

/// Environment variables as the panel may set them: values need not be UTF-8.
type Env = Vec<(OsString, OsString)>;

fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// Runs the binary under the panel's root with exactly these variables (values need not be
/// UTF-8) and this standard input.
fn run_raw(p: &Panel, args: &[&str], env: &[(OsString, OsString)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(support::AMOCRM);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MGR_ROOT", p.root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    support::run_with_timeout(cmd, stdin, LIMIT)
}

/// The handler as the panel runs it for an after-event.
fn event_raw(p: &Panel, func: &str, elid: &str, stdin: &[u8]) -> Output {
    run_raw(
        p,
        &[],
        &[
            (os("EVENT_TYPE"), os("after")),
            (os("PARAM_func"), os(func)),
            (os("PARAM_elid"), os(elid)),
            (os("AUTH_USER"), os("admin")),
            (os("AUTH_LEVEL"), os("29")),
        ],
        stdin,
    )
}

/// Exited 0 by itself: not killed by a signal, no panic.
fn assert_clean(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {:?}\nstderr: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// Exited with one of `codes` by itself (no signal, no panic's 101).
fn assert_exit_in(out: &Output, codes: &[i32], what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{what}: {:?}\nstderr: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
}

/// The handler gave the panel its document back: byte for byte, or the empty document when
/// there was none.
fn assert_doc_back(out: &Output, stdin: &[u8], what: &str) {
    let want = if stdin.iter().all(u8::is_ascii_whitespace) {
        EMPTY_DOC
    } else {
        stdin
    };
    assert!(
        out.stdout == want,
        "{what}: the document did not come back unchanged ({} bytes in, {} out)",
        stdin.len(),
        out.stdout.len()
    );
}

/// Every job key in the queue, whatever its state.
fn keys(p: &Panel) -> BTreeSet<String> {
    p.db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 100_000)
        .expect("jobs")
        .into_iter()
        .map(|j| j.key)
        .collect()
}

/// No panic was caught and logged as an internal error.
fn assert_no_internal_error(p: &Panel) {
    let logs = p.read("var/amocrm_action.log") + &p.read("var/amocrm_task.log");
    assert!(
        !logs.contains("internal error"),
        "a panic was caught:\n{logs}"
    );
}

/// Fails unless every character of `xml` may appear in an XML 1.0 document.
fn assert_xml_chars(xml: &str, what: &str) {
    let bad = xml.chars().find(|c| {
        !matches!(*c as u32,
            0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
    });
    assert!(
        bad.is_none(),
        "{what}: U+{:04X} cannot appear in XML",
        bad.map_or(0, u32::from)
    );
}

// ---- the handler's standard input ----

/// Documents no panel should send, generated: they are too big or too regular for files.
fn generated_documents() -> Vec<(String, Vec<u8>)> {
    let mut big = b"<?xml version=\"1.0\"?>\n<doc><ok/><big>".to_vec();
    big.resize(big.len() + 10 * 1024 * 1024, b'x');
    big.extend_from_slice(b"</big></doc>\n");
    let depth = 100_000;
    let deep = format!(
        "<doc>{}<ok/>{}</doc>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"{i}\"")).collect();
    vec![
        ("empty".into(), Vec::new()),
        ("whitespace".into(), b" \n\t\r\n ".to_vec()),
        (
            "binary".into(),
            (0u8..=255).cycle().take(64 * 1024).collect(),
        ),
        ("10 MB".into(), big),
        ("100000 levels deep".into(), deep.into_bytes()),
        (
            "100000 attributes".into(),
            format!("<doc{attrs}><ok/></doc>").into_bytes(),
        ),
        (
            "a 1 MB element name".into(),
            format!("<doc><{0}/><ok/></doc>", "n".repeat(1 << 20)).into_bytes(),
        ),
    ]
}

#[test]
fn the_document_comes_back_whatever_stdin_holds() {
    let p = quiet_panel();
    p.event("service.postopen", "1", &[]);
    let mut inputs = corpus("stdin");
    assert!(inputs.len() >= 10, "the stdin corpus is missing");
    inputs.extend(generated_documents());
    for (i, (name, input)) in inputs.iter().enumerate() {
        let before = keys(&p);
        let elid = (100 + i).to_string();
        let out = event_raw(&p, "vds.suspend", &elid, input);
        assert_clean(&out, name);
        assert_doc_back(&out, input, name);
        let after = keys(&p);
        assert!(after.is_superset(&before), "{name}: a queued job was lost");
        let new: Vec<&String> = after.difference(&before).collect();
        let job = format!("item:{elid}");
        assert!(
            new.iter().all(|k| **k == job),
            "{name}: unexpected jobs {new:?}"
        );
        // A document holding <error> means the panel's operation failed: nothing to sync
        // (two-roots.xml's second root is one). Any other document, however odd, does not
        // hide the event.
        let holds_error = name.starts_with("error-") || name.starts_with("two-roots");
        assert_eq!(after.contains(&job), !holds_error, "{name}: queued {new:?}");
    }
    assert!(keys(&p).contains("item:1"), "the first job is still there");
    assert_no_internal_error(&p);
}

// ---- the handler's environment ----

#[test]
fn odd_parameters_are_skipped_or_queued_never_fatal() {
    let p = quiet_panel();
    p.event("service.postopen", "1", &[]);
    let doc = b"<doc><ok/></doc>".to_vec();
    let ev = |func: &str| {
        vec![
            (os("EVENT_TYPE"), os("after")),
            (os("PARAM_func"), os(func)),
        ]
    };
    let with = |mut v: Env, k: &str, val: OsString| {
        v.push((os(k), val));
        v
    };
    let elid = |func: &str, e: &str| with(ev(func), "PARAM_elid", os(e));
    let many_ids: Vec<String> = (0..2000).map(|i| (200_000 + i).to_string()).collect();
    let long_login = format!("{}@example.ru", "a".repeat(100_000));
    let mut ten_thousand = elid("vds.suspend", "10");
    ten_thousand.extend((0..10_000).map(|i| (os(&format!("PARAM_p{i}")), os(&format!("v{i}")))));
    let raw = |b: &[u8]| OsString::from_vec(b.to_vec());

    // (what, environment, jobs it adds)
    let cases: Vec<(&str, Env, Vec<String>)> = vec![
        (
            "no function at all",
            vec![(os("EVENT_TYPE"), os("after")), (os("PARAM_elid"), os("5"))],
            vec![],
        ),
        (
            "only ACTION_NAME",
            vec![
                (os("ACTION_NAME"), os("vds.suspend")),
                (os("PARAM_elid"), os("6")),
            ],
            vec!["item:6".into()],
        ),
        ("an empty function", elid("", "5"), vec![]),
        ("a blank function", elid("   ", "5"), vec![]),
        ("an empty elid", elid("vds.suspend", ""), vec![]),
        (
            "an elid with junk",
            elid("vds.suspend", "7, x, -3, 0, 7,  , 8,"),
            vec!["item:7".into(), "item:8".into()],
        ),
        (
            "an elid beyond 64 bits",
            elid("vds.suspend", "99999999999999999999999"),
            vec![],
        ),
        (
            "the largest elid",
            elid("vds.suspend", "9223372036854775807"),
            vec!["item:9223372036854775807".into()],
        ),
        (
            "a group of 2000",
            elid("vds.suspend", &many_ids.join(", ")),
            many_ids.iter().map(|i| format!("item:{i}")).collect(),
        ),
        (
            "a non-UTF-8 elid",
            with(ev("vds.suspend"), "PARAM_elid", raw(b"9\xff")),
            vec![],
        ),
        (
            "a non-UTF-8 function",
            with(
                vec![(os("EVENT_TYPE"), os("after"))],
                "PARAM_func",
                raw(b"vds.suspend\xff"),
            ),
            vec![],
        ),
        (
            "a non-UTF-8 login",
            with(
                with(ev("register"), "PARAM_sok", os("ok")),
                "PARAM_email",
                raw(b"a\xffb@example.ru"),
            ),
            vec!["account?login=a\u{fffd}b@example.ru".into()],
        ),
        (
            "non-UTF-8 caller and cookie",
            with(
                with(elid("vds.suspend", "11"), "AUTH_LEVEL", raw(b"\xff29")),
                "HTTP_COOKIE",
                raw(b"billmgrlang5=\xff\xfe; ;;=;"),
            ),
            vec!["item:11".into()],
        ),
        (
            "10000 PARAM_ variables",
            ten_thousand,
            vec!["item:10".into()],
        ),
        (
            "a before-event",
            with(elid("vds.suspend", "12"), "EVENT_TYPE", os("before")),
            vec![],
        ),
        ("an unknown event", elid("vds.explode", "13"), vec![]),
        (
            "an unknown callback",
            elid("service.postnothing", "13"),
            vec![],
        ),
        ("a function without a type", elid(".suspend", "13"), vec![]),
        ("a type without an action", elid("vds.", "13"), vec![]),
        ("dots only", elid("..", "13"), vec![]),
        ("a delete of a client", elid("account.delete", "13"), vec![]),
    ];
    for (what, env, added) in cases {
        let before = keys(&p);
        let out = run_raw(&p, &[], &env, &doc);
        assert_clean(&out, what);
        assert_doc_back(&out, &doc, what);
        let after = keys(&p);
        assert!(after.is_superset(&before), "{what}: a queued job was lost");
        let new: BTreeSet<String> = after.difference(&before).cloned().collect();
        assert_eq!(new, added.into_iter().collect(), "{what}");
    }

    // A login too long for the key column is kept distinct and readable (hashed tail).
    let before = keys(&p);
    let env = with(
        with(ev("register"), "PARAM_sok", os("ok")),
        "PARAM_email",
        os(&long_login),
    );
    let out = run_raw(&p, &[], &env, &doc);
    assert_clean(&out, "a 100000-character login");
    let new: Vec<String> = keys(&p).difference(&before).cloned().collect();
    assert!(
        new.len() == 1 && new[0].starts_with("account?login=aaaa") && new[0].len() <= 191,
        "{new:?}"
    );
    assert!(keys(&p).contains("item:1"));
    assert_no_internal_error(&p);
}

/// Junk every module function may receive from a crafted request.
const JUNK: &[(&str, &str)] = &[
    (
        "elid",
        "x, -1, 0, 99999999999999999999, account:, :5, item:-7, <&>\"', ",
    ),
    ("p_num", "-5"),
    ("p_cnt", "99999999999999999999"),
    ("filter", "<script>alert(1)</script>"),
    ("kind", "'; DROP TABLE amocrm_queue; --"),
    ("name", "]]><!--"),
    ("value", "item.id = ((((("),
    ("section", "../../etc/passwd"),
    ("url", "javascript:alert(1)"),
    ("batch_size", "1e9"),
    ("rate_limit", "NaN"),
    ("code", "\u{1b}[31m\u{7}"),
];

#[test]
fn module_functions_answer_odd_calls_with_a_document() {
    let p = quiet_panel();
    p.sample_panel();
    p.event("service.postopen", "1001", &[]);
    let conf_before = p.read(CONF);
    for func in &ui::declared_functions() {
        let func = func.as_str();
        let mut calls = vec![JUNK.to_vec()];
        // The export is opened only: submitted, it starts an export in the background.
        if func != "amocrm.export" {
            let mut submitted = JUNK.to_vec();
            submitted.push(("sok", "ok"));
            calls.push(submitted);
        }
        for params in calls {
            let what = format!("{func} {params:?}");
            let mut env = vec![
                (os("EVENT_TYPE"), os("action")),
                (os("PARAM_func"), os(func)),
                (os("AUTH_USER"), os("admin")),
                (os("AUTH_LEVEL"), os("29")),
            ];
            env.extend(
                params
                    .iter()
                    .map(|(k, v)| (os(&format!("PARAM_{k}")), os(v))),
            );
            let out = run_raw(&p, &[], &env, ui::panel_doc(func, "en").as_bytes());
            assert_clean(&out, &what);
            let text = String::from_utf8(out.stdout).expect("UTF-8 answer");
            assert_xml_chars(&text, &what);
            ui::parse(&text);
        }
    }
    // Nothing of the junk was saved, and the job is still queued.
    assert_eq!(p.read(CONF), conf_before);
    assert!(keys(&p).contains("item:1001"));

    // Unknown functions, callers who are not admins, documents that are not documents.
    for (func, level, stdin) in [
        (
            "amocrm.nope",
            "29",
            ui::panel_doc("amocrm.queue", "en").into_bytes(),
        ),
        ("amocrm.", "29", Vec::new()),
        ("amocrm.queue.drop.extra", "30", b"\xff\xfe<doc".to_vec()),
        ("amocrm.QUEUE", "29", b"<doc/>".to_vec()),
        ("amocrm.queue", "16", b"<doc/>".to_vec()),
        ("amocrm.queue", "", b"<doc/>".to_vec()),
    ] {
        let env = vec![
            (os("EVENT_TYPE"), os("action")),
            (os("PARAM_func"), os(func)),
            (os("AUTH_LEVEL"), os(level)),
        ];
        let out = run_raw(&p, &[], &env, &stdin);
        let what = format!("{func} at level {level:?}");
        assert_clean(&out, &what);
        let a = ui::parse(&String::from_utf8(out.stdout).expect("UTF-8"));
        assert!(a.error.is_some(), "{what}: {}", a.raw);
    }
    // The queue screen still reads its document when the panel's is not one.
    let env = vec![
        (os("EVENT_TYPE"), os("action")),
        (os("PARAM_func"), os("amocrm.queue")),
        (os("AUTH_LEVEL"), os("29")),
    ];
    let out = run_raw(&p, &[], &env, b"\x00\xff<doc lang=\"en\"");
    assert_clean(&out, "amocrm.queue with a broken document");
    let a = ui::parse(&String::from_utf8(out.stdout).expect("UTF-8"));
    assert_eq!(a.elems.len(), 1, "{}", a.raw);
    assert_no_internal_error(&p);
}

// ---- data in the panel's tables ----

/// Markup, SQL and JSON metacharacters, and lengths no form would let through.
fn evil() -> [(&'static str, String); 6] {
    [
        (
            "xml",
            "<b>Ivanov & Sons</b> \"quoted\" 'apos' ]]> <!-- x --> <![CDATA[y]]> &amp; &#0; \u{fffe}"
                .to_string(),
        ),
        (
            "sql",
            "Robert'); DROP TABLE account; -- \" OR \"1\"=\"1 \\' %_ `x`".to_string(),
        ),
        (
            "json",
            "\"}]}, {\"id\": 1, \"name\": \"x\\\" \\u0000 \u{2028}\u{2029} </script>".to_string(),
        ),
        ("long", "Щ<&>'\"".repeat(100_000 / 6)),
        ("long ascii", "x".repeat(100_000)),
        ("control", "tab\tnew\nline\rbell\u{7}nul\u{0}end".to_string()),
    ]
}

/// Rows in the panel's tables.
fn counts(db: &rusqlite::Connection) -> Vec<i64> {
    [
        "account",
        "user",
        "profile",
        "item",
        "itemparam",
        "pricelist",
    ]
    .iter()
    .map(|t| {
        db.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
            .expect(t)
    })
    .collect()
}

fn sqlite(p: &Panel) -> rusqlite::Connection {
    rusqlite::Connection::open(p.path("var/billmgr.db")).expect("panel db")
}

/// Runs the worker until nothing is due and nothing is taken; every run ends cleanly.
fn run_until_idle(p: &Panel) -> Vec<Output> {
    let mut runs = Vec::new();
    for _ in 0..300 {
        let out = p.amocrm(&["task"]);
        assert_exit_in(&out, &[0, 1], "amocrm task");
        runs.push(out);
        let s = p
            .db()
            .queue_summary(billmgr_amocrm::log::now())
            .expect("summary");
        if s.due == 0 && s.taken == 0 {
            return runs;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the queue never settled:\n{}",
        p.read("var/amocrm_task.log")
    );
}

#[test]
fn metacharacters_and_long_strings_reach_amocrm_as_escaped_json() {
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = Panel::new();
    p.write_conf(
        &sandbox.url,
        Panel::sqlite(),
        "batch_size = 50\nrate_limit = 50",
    );
    p.sample_panel();
    let [xml, sql, json_s, long, long_ascii, control] = evil().map(|(_, s)| s);
    let db = sqlite(&p);
    // Names, e-mails and phones of clients (users), payers and services.
    let writes: [(&str, &str, i64); 16] = [
        ("UPDATE user SET realname = ?1 WHERE id = ?2", &xml, 11),
        (
            "UPDATE user SET email = ?1 WHERE id = ?2",
            "o'hara+<x>&\"y\"@example.ru",
            11,
        ),
        (
            "UPDATE user SET phone = ?1 WHERE id = ?2",
            "+7 (912) 345-67-89'); --",
            11,
        ),
        ("UPDATE user SET realname = ?1 WHERE id = ?2", &sql, 14),
        ("UPDATE user SET email = ?1 WHERE id = ?2", &long_ascii, 14),
        ("UPDATE user SET realname = ?1 WHERE id = ?2", &long, 16),
        ("UPDATE user SET phone = ?1 WHERE id = ?2", &long, 16),
        ("UPDATE user SET realname = ?1 WHERE id = ?2", &control, 17),
        ("UPDATE profile SET name = ?1 WHERE id = ?2", &json_s, 22),
        (
            "UPDATE profile SET email = ?1 WHERE id = ?2",
            "buh@romashka.example<script>",
            22,
        ),
        (
            "UPDATE profile SET phone = ?1 WHERE id = ?2",
            "8' OR '1'='1",
            22,
        ),
        ("UPDATE profile SET name = ?1 WHERE id = ?2", &long, 26),
        ("UPDATE profile SET email = ?1 WHERE id = ?2", &long, 26),
        ("UPDATE item SET name = ?1 WHERE id = ?2", &xml, 1001),
        ("UPDATE item SET name = ?1 WHERE id = ?2", &long, 1005),
        ("UPDATE item SET name = ?1 WHERE id = ?2", &sql, 1008),
    ];
    for (stmt, value, id) in writes {
        db.execute(stmt, rusqlite::params![value, id]).expect(stmt);
    }
    let tables = counts(&db);
    for a in ["2", "4", "6", "7"] {
        p.event("account.edit", a, &[]);
    }
    for pr in ["22", "26"] {
        p.event("profile.edit", pr, &[]);
    }
    for i in ["1001", "1005", "1008", "9223372036854775807"] {
        p.event("service.postopen", i, &[]);
    }
    run_until_idle(&p);

    // The panel's database is intact: its tables and the values, as they were written.
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(check, "ok");
    let text = |q: &str| -> String { db.query_row(q, [], |r| r.get(0)).expect(q) };
    assert_eq!(text("SELECT realname FROM user WHERE id = 11"), xml);
    assert_eq!(text("SELECT realname FROM user WHERE id = 14"), sql);
    assert_eq!(text("SELECT name FROM profile WHERE id = 26"), long);
    assert_eq!(counts(&db), tables, "rows came or went");

    // Every job ended, and the one for a service that does not exist was skipped.
    let jobs = p
        .db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 1000)
        .expect("jobs");
    for j in &jobs {
        assert!(
            j.state == "done"
                || (j.state == "skipped" || j.state == "failed") && j.last_error.is_some(),
            "{j:?}"
        );
    }
    let state_of = |key: &str| {
        jobs.iter()
            .find(|j| j.key == key)
            .map(|j| j.state.clone())
            .unwrap_or_else(|| panic!("no job {key}"))
    };
    assert_eq!(state_of("item:9223372036854775807"), "skipped");
    for key in [
        "account:2",
        "account:4",
        "account:7",
        "profile:22",
        "item:1001",
        "item:1008",
    ] {
        assert_eq!(state_of(key), "done", "{key}");
    }

    // What went to amoCRM was JSON, and the values arrived exactly.
    let requests = sandbox.get_json("/_sandbox/requests?body=1");
    for r in requests.as_array().expect("log") {
        if r["path"].as_str().unwrap_or("").starts_with("/api/")
            && matches!(r["method"].as_str(), Some("POST" | "PATCH"))
        {
            assert!(!r["body"].is_null(), "a body that is not JSON: {r}");
        }
    }
    let state = sandbox.get_json("/_sandbox/state");
    let names = |kind: &str| -> Vec<String> {
        state[kind]
            .as_array()
            .expect(kind)
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    };
    let contacts = names("contacts");
    for want in [&xml, &sql, &control] {
        assert!(contacts.contains(want), "{want:?} not among {contacts:?}");
    }
    assert!(names("companies").contains(&json_s));
    assert!(names("leads").iter().any(|n| n.starts_with(&xml)));

    // The module's screens stay well-formed with all of it, and show it.
    for func in ["amocrm.bindings", "amocrm.queue"] {
        let a = p.call(func, 29, &[("p_cnt", "1000")]);
        a.assert_complete(func);
        assert_xml_chars(&a.raw, func);
    }
    let bindings = p.call("amocrm.bindings", 29, &[("p_cnt", "1000")]);
    let shown: Vec<&str> = bindings.elems.iter().map(|e| e["name"].as_str()).collect();
    assert!(
        shown.contains(
            &format!("{xml} (#2)")
                .replace('\u{fffe}', "\u{fffd}")
                .as_str()
        ),
        "{shown:?}"
    );
    assert!(shown.contains(&format!("{sql} (#4)").as_str()), "{shown:?}");
    assert!(
        shown.contains(&format!("{json_s} (#22)").as_str()),
        "{shown:?}"
    );
    assert_no_internal_error(&p);
}

// ---- amocrm.conf and the presets ----

/// `tests/corpus/conf/expected.txt`: `FILE:LINE: TEXT` — `amocrm check` reports a problem
/// at that line of that file (0: the file as a whole) whose message contains TEXT.
fn expectations() -> Vec<(String, usize, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/conf/expected.txt");
    std::fs::read_to_string(path)
        .expect("expected.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (file, rest) = l.split_once(':').expect("FILE:LINE: TEXT");
            let (line, text) = rest.split_once(": ").expect("FILE:LINE: TEXT");
            (
                file.to_string(),
                line.parse().expect("a line number"),
                text.to_string(),
            )
        })
        .collect()
}

/// An amocrm.conf with nothing wrong in it, for the presets files of the corpus.
const GOOD_CONF: &str = "[auth]\nurl = http://127.0.0.1:9\nclient_id = corpus-client\n\
    client_secret = corpus-secret-5e1d\nredirect_uri = https://billing.example.com/billmgr\n\n\
    [database]\ndriver = sqlite\npath = var/billmgr.db\n";

#[test]
fn broken_settings_are_named_by_file_and_line_and_events_still_queue() {
    let expected = expectations();
    let files = corpus("conf");
    for (name, bytes) in &files {
        if name == "expected.txt" {
            continue;
        }
        let wanted: Vec<&(String, usize, String)> =
            expected.iter().filter(|(f, _, _)| f == name).collect();
        assert!(!wanted.is_empty(), "{name} has no line in expected.txt");
        let p = Panel::new();
        let (target, conf): (&str, &[u8]) = if name.ends_with(".presets") {
            std::fs::write(p.path(CUSTOM), bytes).expect("presets");
            (CUSTOM, GOOD_CONF.as_bytes())
        } else {
            (CONF, bytes)
        };
        std::fs::write(p.path(CONF), conf).expect("conf");
        std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let out = p.amocrm(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {:?}\n{err}",
            out.status
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        let file = p.path(target).display().to_string();
        for (_, line, text) in wanted {
            let prefix = match line {
                0 => format!("{file}: "),
                n => format!("{file}:{n}: "),
            };
            assert!(
                err.lines()
                    .any(|l| l.starts_with(&prefix) && l.contains(text.as_str())),
                "{name}: no {prefix:?} … {text:?} in:\n{err}"
            );
        }

        // The panel's hook reads only what it needs, and never loses the event.
        let doc = b"<doc><ok/></doc>";
        let out = event_raw(&p, "vds.suspend", "4242", doc);
        assert_clean(&out, name);
        assert_doc_back(&out, doc, name);
        let paths = billmgr_amocrm::paths::Paths::new(p.root());
        let settings = billmgr_amocrm::config::Sources::read_conf(&paths)
            .hook()
            .map(|l| l.database)
            .unwrap_or_default();
        let queued = billmgr_amocrm::db::open_panel(&settings, &paths)
            .and_then(|mut db| db.list_jobs(&["pending"], 10))
            .map(|jobs| jobs.into_iter().map(|j| j.key).collect::<Vec<_>>());
        match queued {
            Ok(keys) => assert_eq!(keys, ["item:4242"], "{name}"),
            // A database the settings name but that cannot be opened: the job waits in
            // the spool for it.
            Err(e) => assert_eq!(billmgr_amocrm::db::spool::waiting(&paths), 1, "{name}: {e}"),
        }
        assert_no_internal_error(&p);
    }
    // Every expectation names a file of the corpus.
    for (file, _, _) in &expected {
        assert!(
            files.iter().any(|(n, _)| n == file),
            "{file} is not in the corpus"
        );
    }
}

#[test]
fn huge_settings_are_refused_or_read_without_trouble() {
    // Generated: a 1 MB value, a list of 100000 items, 20000 rules.
    let long_value = format!(
        "{GOOD_CONF}\n[tags.lead]\nbig = item.name = \"{}\"\n",
        "x".repeat(1 << 20)
    );
    let list: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let long_list = format!(
        "{GOOD_CONF}\n[conditions]\nitem = item.id in ({})\n",
        list.join(", ")
    );
    let tags: String = (0..20_000)
        .map(|i| format!("tag{i} = item.id = {i}\n"))
        .collect();
    let many_rules = format!("{GOOD_CONF}\n[tags.lead]\n{tags}");
    let junk_line = format!("{GOOD_CONF}\n[sync]\n{}\n", "=".repeat(1 << 20));
    for (what, conf) in [
        ("a 1 MB value", long_value),
        ("a list of 100000", long_list),
        ("20000 rules", many_rules),
        ("a 1 MB line of '='", junk_line),
    ] {
        let p = Panel::new();
        p.write(CONF, &conf);
        std::fs::set_permissions(p.path(CONF), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let out = p.amocrm(&["check"]);
        assert_exit_in(&out, &[0, 1], what);
        if out.status.code() == Some(1) {
            // Refused: with a line and a reason, not a wall of text.
            let err = String::from_utf8_lossy(&out.stderr);
            let conf = p.path(CONF).display().to_string();
            assert!(
                err.starts_with(&format!("{conf}:")) && err.len() < 10_000,
                "{what}: {err}"
            );
        }
        let doc = b"<doc><ok/></doc>";
        let out = event_raw(&p, "vds.suspend", "77", doc);
        assert_clean(&out, what);
        assert_doc_back(&out, doc, what);
        assert_eq!(
            keys(&p).into_iter().collect::<Vec<_>>(),
            ["item:77"],
            "{what}"
        );
    }
}

// ---- amoCRM's answers ----

/// Runs `amocrm task` until a run ends with `code` (a worker the handler started may be
/// finishing first: a second worker exits 0 at once).
fn task_until_exit(p: &Panel, code: i32) -> Output {
    for _ in 0..300 {
        let out = p.amocrm(&["task"]);
        assert_exit_in(&out, &[0, 1], "amocrm task");
        if out.status.code() == Some(code) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "`amocrm task` never exited {code}:\n{}",
        p.read("var/amocrm_task.log")
    );
}

fn faults(sandbox: &Sandbox, body: Value) {
    let (status, text) = sandbox.post_json("/_sandbox/faults", &body);
    assert_eq!(status, 200, "{text}");
}

#[test]
fn answers_that_are_not_what_the_api_documents_keep_the_jobs() {
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = Panel::new();
    p.write_conf(
        &sandbox.url,
        Panel::sqlite(),
        "batch_size = 50\nrate_limit = 50",
    );
    p.sample_panel();
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert_clean(&out, "auth");

    // Every kind of garbage for every call: the run stops at the first (the reading of
    // amoCRM's fields) and every job waits.
    for kind in ["text", "html", "truncated", "no_embedded", "no_ids"] {
        faults(
            &sandbox,
            json!({"garbage_next": 1000, "garbage_kind": kind}),
        );
        p.event("account.edit", "2", &[]);
        p.event("service.postopen", "1001", &[]);
        // The worker the handler started may hold the lock: a second one exits 0 at once.
        let out = task_until_exit(&p, 1);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unexpected answer"), "{kind}: {err}");
        // A worker the second event started after the first one ended may still be on its
        // way to the same stop: what it claimed goes back when it ends.
        let paths = billmgr_amocrm::paths::Paths::new(p.root());
        support::wait_until(
            "the handler's worker to end",
            Duration::from_secs(60),
            || !billmgr_amocrm::sync::lock::is_held(&paths),
        );
        let s = p
            .db()
            .queue_summary(billmgr_amocrm::log::now())
            .expect("summary");
        assert_eq!((s.pending, s.taken), (2, 0), "{kind}: every job waits");
        let status = p.amocrm(&["status"]);
        assert_exit_in(&status, &[1], kind);
    }
    assert!(
        p.read("var/amocrm_task.log")
            .contains("the run stopped, the queue keeps every job"),
    );
    faults(&sandbox, json!({}));
    run_until_idle(&p);

    // Garbage for the contacts' and the leads' calls only (searches, creates, updates), each
    // kind in turn: what fails, fails with its reason and waits; nothing is lost.
    for (path, func, ids) in [
        ("/api/v4/contacts", "account.edit", ["3", "4", "6"]),
        (
            "/api/v4/leads",
            "service.postopen",
            ["1002", "1005", "1008"],
        ),
    ] {
        faults(&sandbox, json!({"garbage_next": 5, "garbage_path": path}));
        for id in ids {
            p.event(func, id, &[]);
        }
        run_until_idle(&p);
        let left = sandbox.get_json("/_sandbox/faults")["garbage_next"].as_u64();
        assert!(left < Some(5), "{path}: no garbage answer was given");
    }
    let all = p
        .db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 100)
        .expect("jobs");
    let ids = ["account:2", "account:3", "account:4", "account:6"]
        .into_iter()
        .chain(["item:1001", "item:1002", "item:1005", "item:1008"]);
    for key in ids {
        assert!(all.iter().any(|j| j.key == key), "{key} was lost: {all:?}");
    }
    for j in &all {
        assert!(
            j.state == "done"
                || j.state == "failed" && j.last_error.as_deref().is_some_and(|e| !e.is_empty()),
            "{j:?}"
        );
    }
    assert!(
        all.iter().any(|j| j.state == "failed"),
        "garbage answers to creates fail their jobs: {all:?}"
    );

    // amoCRM answers properly again and the admin retries the failed ones: the next run
    // completes.
    faults(&sandbox, json!({}));
    let failed: Vec<String> = all
        .iter()
        .filter(|j| j.state == "failed")
        .map(|j| j.id.to_string())
        .collect();
    if !failed.is_empty() {
        let a = p.call("amocrm.queue.retry", 29, &[("elid", &failed.join(", "))]);
        assert!(a.error.is_none(), "{}", a.raw);
    }
    let runs = run_until_idle(&p);
    assert_clean(runs.last().expect("a run"), "the last run");
    let all = p
        .db()
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 100)
        .expect("jobs");
    assert!(all.iter().all(|j| j.state == "done"), "{all:?}");
    let state = sandbox.get_json("/_sandbox/state");
    let count = |k: &str| state[k].as_array().map_or(0, Vec::len);
    // Clients 2, 3, 4, 6 and the six services' leads.
    assert_eq!((count("contacts"), count("leads")), (4, 4), "{state}");
    assert_exit_in(&p.amocrm(&["status"]), &[0], "status after the garbage");
    assert_no_internal_error(&p);
}
