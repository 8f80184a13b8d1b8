//! What the worker and refusal tests share: the databases to run on, the sandbox's request
//! log, the worker's lock sessions read back from the task log, and timed runs.
#![allow(dead_code)]

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Backend, MysqlDb, Panel, Sandbox};

/// `AMOCRM_STRESS=1` raises the counts for a manual run.
pub fn stress() -> bool {
    std::env::var("AMOCRM_STRESS").is_ok_and(|v| v == "1")
}

/// The sandbox's request log: `{method, path, status, ...}` in order.
pub fn requests(sandbox: &Sandbox) -> Vec<Value> {
    match sandbox.get_json("/_sandbox/requests") {
        Value::Array(list) => list,
        other => panic!("the request log is not a list: {other}"),
    }
}

/// Token requests (`POST /oauth2/access_token`) in a slice of the request log.
pub fn token_requests(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/oauth2/access_token")
        .collect()
}

/// API calls (`/api/v4/...`) in a slice of the request log.
pub fn api_calls(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
        .collect()
}

/// Runs `amocrm ARGS` and measures it.
pub fn timed(p: &Panel, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = p.amocrm(args);
    (out, started.elapsed())
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether a worker holds the lock now.
pub fn worker_running(p: &Panel) -> bool {
    billmgr_amocrm::sync::lock::is_held(&billmgr_amocrm::paths::Paths::new(p.root()))
}

/// Waits until the queue has nothing pending or taken and no worker has run for a moment
/// (workers the handler started detached may still be starting). Panics after `limit`.
pub fn wait_until_drained(p: &Panel, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let s = p.db().queue_summary(i64::MAX / 2).expect("queue summary");
        let idle = s.pending == 0 && s.taken == 0 && !worker_running(p);
        match (idle, quiet_since) {
            (true, Some(t)) if t.elapsed() >= Duration::from_millis(500) => {
                return started.elapsed();
            }
            (true, None) => quiet_since = Some(Instant::now()),
            (true, Some(_)) => {}
            (false, _) => quiet_since = None,
        }
        assert!(
            started.elapsed() < limit,
            "the queue did not drain within {limit:?}: {s:?}\n{}",
            p.read("var/amocrm_task.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How the worker lock was held, read from the task log at the debug level.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Lock sessions, in order.
    pub count: usize,
    /// Distinct processes that held the lock.
    pub holders: usize,
    /// Entities reported sent (`→` lines), all inside their process's session.
    pub sent_lines: usize,
}

/// Reads the task log's `worker lock taken` / `released` lines and checks that no two
/// processes held the lock at once and that every entity sent was sent by the holder.
pub fn lock_sessions(task_log: &str) -> Result<Sessions, String> {
    let mut holder: Option<&str> = None;
    let mut holders = std::collections::HashSet::new();
    let mut s = Sessions::default();
    for (n, line) in task_log.lines().enumerate() {
        let pid = line
            .split_once(" [")
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(pid, _)| pid)
            .ok_or_else(|| format!("line {}: no [pid]: {line}", n + 1))?;
        if line.ends_with("worker lock taken") {
            if let Some(h) = holder {
                return Err(format!(
                    "line {}: {pid} took the lock while {h} held it",
                    n + 1
                ));
            }
            holder = Some(pid);
            holders.insert(pid);
            s.count += 1;
        } else if line.ends_with("worker lock released") {
            if holder != Some(pid) {
                return Err(format!(
                    "line {}: {pid} released a lock held by {holder:?}",
                    n + 1
                ));
            }
            holder = None;
        } else if line.contains(" → ") {
            if holder != Some(pid) {
                return Err(format!(
                    "line {}: {pid} sent while {holder:?} held the lock: {line}",
                    n + 1
                ));
            }
            s.sent_lines += 1;
        }
    }
    if let Some(h) = holder {
        return Err(format!("{h} never released the lock"));
    }
    s.holders = holders.len();
    Ok(s)
}

/// The processes (pids) with a log line containing `what` (every process for "").
pub fn pids_saying(log: &str, what: &str) -> std::collections::BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_once(" [")?.1.split_once(']'))
        .map(|(pid, _)| pid.to_string())
        .collect()
}

/// `entity id` → how many times the task log says it was created in amoCRM.
pub fn creations(task_log: &str) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for line in task_log.lines().filter(|l| l.ends_with(": created")) {
        // `... amocrm INFO item 1001 → leads 40401637: created`
        if let Some((left, _)) = line.split_once(" → ")
            && let Some(entity) = left.split(" INFO ").nth(1)
        {
            *seen.entry(entity.to_string()).or_insert(0) += 1;
        }
    }
    seen
}

/// The sample panel on `database`, with `extra` added at the end of amocrm.conf (more
/// sections), exported to the sandbox by `amocrm sync --all`.
pub fn exported(sandbox: &Sandbox, database: &str, extra: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, "");
    let conf = p.read("etc/amocrm/amocrm.conf") + extra;
    p.write("etc/amocrm/amocrm.conf", &conf);
    p.sample_panel();
    let out = p.amocrm(&["sync", "--all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sync --all: {err}");
    p
}

/// Runs `problems` on `backend` with a sandbox of its own and the sample panel exported
/// with `extra` in amocrm.conf; fails with all it found.
pub fn on_exported(
    backend: Backend,
    extra: &str,
    problems: impl Fn(&Panel, &Sandbox, Option<&MysqlDb>) -> Vec<String>,
) {
    let (db, database, mariadb) = backend.database();
    let sandbox = Sandbox::start(&[]);
    let p = exported(&sandbox, &database, extra);
    let found = problems(&p, &sandbox, mariadb.as_ref());
    assert!(found.is_empty(), "on {db}:\n  {}", found.join("\n  "));
}
