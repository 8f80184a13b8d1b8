//! What a full export must end with, whatever happened on the way: the clean export's
//! entities in amoCRM, links 1:1 onto them, no create left in flight, an empty queue. And
//! the panels and runs the fault and crash tests share.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use billmgr_amocrm::model::EntityKind;
use serde_json::Value;

use crate::support::{self, Panel, Sandbox};

/// `AMOCRM_STRESS=1` runs the bigger versions (for manual runs).
pub fn stress() -> bool {
    std::env::var("AMOCRM_STRESS").is_ok_and(|v| v == "1")
}

pub const KINDS: [(EntityKind, &str); 3] = [
    (EntityKind::Account, "contacts"),
    (EntityKind::Profile, "companies"),
    (EntityKind::Item, "leads"),
];

/// What amoCRM should hold, per entity type: every name with how many entities bear it,
/// and each lead's name with its main contact's name.
#[derive(Debug, PartialEq, Eq)]
pub struct Shape {
    pub names: BTreeMap<&'static str, BTreeMap<String, usize>>,
    pub leads: BTreeMap<(String, String), usize>,
}

impl Shape {
    pub fn of(state: &Value) -> Shape {
        let mut names = BTreeMap::new();
        for (_, entity) in KINDS {
            let mut m = BTreeMap::new();
            for e in list(state, entity) {
                *m.entry(name(e)).or_insert(0) += 1;
            }
            names.insert(entity, m);
        }
        let contact_names: BTreeMap<i64, String> = list(state, "contacts")
            .iter()
            .filter_map(|c| Some((c["id"].as_i64()?, name(c))))
            .collect();
        let mut leads = BTreeMap::new();
        for l in list(state, "leads") {
            let contact = l["_embedded"]["contacts"]
                .as_array()
                .and_then(|cs| cs.first())
                .and_then(|c| c["id"].as_i64())
                .and_then(|id| contact_names.get(&id).cloned())
                .unwrap_or_default();
            *leads.entry((name(l), contact)).or_insert(0) += 1;
        }
        Shape { names, leads }
    }
    pub fn count(&self, entity: &str) -> usize {
        self.names[entity].values().sum()
    }
}

pub fn list<'a>(state: &'a Value, entity: &str) -> &'a [Value] {
    state[entity]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("the sandbox state has no {entity}"))
}

pub fn name(e: &Value) -> String {
    e["name"].as_str().unwrap_or_default().to_string()
}

/// The sandbox's whole account: bigger than a default body limit for a big export.
pub fn state(sandbox: &Sandbox) -> Value {
    let body = ureq::get(&format!("{}/_sandbox/state", sandbox.url))
        .call()
        .expect("sandbox answers")
        .into_body()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .expect("sandbox body");
    serde_json::from_str(&body).expect("sandbox JSON")
}

/// A panel on SQLite (or the given `[database]` lines) with the sample and, when asked,
/// a generated panel on top, pointed at `sandbox`.
pub fn panel(sandbox: &Sandbox, database: &str, sync: &str, generate: Option<&str>) -> Panel {
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, sync);
    let out = match generate {
        Some(size) => p.amocrm(&["sample-panel", "--generate", size]),
        None => p.amocrm(&["sample-panel"]),
    };
    assert!(
        out.status.success(),
        "sample-panel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    p
}

/// Tokens first, so no fault hits the one-time code exchange.
pub fn authorize(p: &Panel) {
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(
        out.status.success(),
        "auth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a clean full export of the same panel makes, on a sandbox of its own.
pub fn reference(generate: Option<&str>) -> Shape {
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = panel(
        &sandbox,
        Panel::sqlite(),
        "batch_size = 100\nrate_limit = 50",
        generate,
    );
    let started = std::time::Instant::now();
    let out = p.amocrm(&["sync", "--all"]);
    eprintln!(
        "the clean export took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the clean export failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.read("var/amocrm_task.log")
    );
    Shape::of(&state(&sandbox))
}

/// Failed jobs wait for their backoff (a minute and more): make them due, as the queue
/// screen's "Retry now" does, so the next run takes them.
pub fn retry_failed(p: &Panel) -> usize {
    let mut db = p.db();
    let ids: Vec<i64> = db
        .list_jobs(&["failed"], 100_000)
        .expect("jobs")
        .iter()
        .map(|j| j.id)
        .collect();
    db.retry_jobs(&ids, 0).expect("retry");
    ids.len()
}

pub fn waiting(p: &Panel) -> i64 {
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    s.pending + s.taken
}

/// Runs the worker until the queue is empty, at most `most` times; returns how many runs.
pub fn run_until_drained(p: &Panel, most: usize) -> usize {
    for run in 1..=most {
        retry_failed(p);
        let out = p.amocrm(&["task"]);
        if out.status.success() && waiting(p) == 0 {
            return run;
        }
    }
    panic!(
        "the queue is not empty after {most} runs: {:?}\n{}",
        p.db().queue_summary(i64::MAX / 2),
        tail(&p.read("var/amocrm_task.log"), 40)
    );
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// amoCRM holds exactly `want`; every link names an entity there, no two links one entity;
/// no create is left marked in flight and no job waits or is left taken.
pub fn check_exact(p: &Panel, sandbox: &Sandbox, want: &Shape) {
    let state = state(sandbox);
    let got = Shape::of(&state);
    for (kind, entity) in KINDS {
        assert_eq!(
            got.count(entity),
            want.count(entity),
            "{entity}: {} in amoCRM, {} expected",
            got.count(entity),
            want.count(entity)
        );
        assert_eq!(got.names[entity], want.names[entity], "{entity} by name");
        let ids: HashSet<i64> = list(&state, entity)
            .iter()
            .filter_map(|e| e["id"].as_i64())
            .collect();
        let mut db = p.db();
        let links = db.links(kind, 0, 1_000_000).expect("links");
        let linked: HashSet<i64> = links.iter().map(|l| l.amocrm_id).collect();
        assert_eq!(
            linked.len(),
            links.len(),
            "{entity}: an entity linked twice"
        );
        assert!(
            linked.is_subset(&ids),
            "{entity}: links to entities amoCRM does not have: {:?}",
            linked.difference(&ids).collect::<Vec<_>>()
        );
        assert_eq!(
            db.creating(kind).expect("marks"),
            Vec::<(i64, i64)>::new(),
            "{kind}: creates left marked in flight"
        );
    }
    assert_eq!(got.leads, want.leads, "leads by name and contact");
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    assert_eq!(
        (s.pending, s.taken, s.failed),
        (0, 0, 0),
        "the queue: {s:?}"
    );
}
