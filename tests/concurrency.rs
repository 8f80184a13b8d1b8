//! Many processes at once, as on a busy panel: handlers run in parallel and each wakes the
//! worker, workers start together, processes find the access token expired at the same
//! moment. Nothing is lost or done twice, one worker works at a time, the refresh token is
//! spent once. `AMOCRM_STRESS=1` raises the counts; `--nocapture` prints the figures.

mod support;
mod workers;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Panel, Sandbox};
use workers::{
    api_calls, creations, lock_sessions, pids_saying, requests, stress, text, token_requests,
    wait_until_drained, worker_running,
};

/// Generated services start here (see `amocrm sample-panel --generate`).
const FIRST_ITEM: i64 = 10001;

/// Small batches, so a run makes many requests; no rate limit to speak of on the module's
/// side (the sandbox runs without one), so the tests spend their time on concurrency.
const SYNC: &str = "batch_size = 10\nrate_limit = 100";

/// A panel with generated clients, payers and services, sync on, the debug log on (it
/// records the worker lock's sessions).
fn busy_panel(sandbox: &Sandbox, database: &str, services: usize) -> Panel {
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, SYNC);
    p.write("etc/debug.conf", "amocrm 9\n");
    let size = format!("{},{},{services}", services / 2, services / 4);
    let out = p.amocrm(&["sample-panel", "--generate", &size]);
    assert!(out.status.success(), "sample-panel: {}", text(&out.stderr));
    p
}

/// Runs the handler as the panel does for `func` on `elid`, in a thread of its own.
fn handler_thread(p: &Panel, func: &str, elid: String) -> std::thread::JoinHandle<()> {
    let root = p.root().to_path_buf();
    let func = func.to_string();
    std::thread::spawn(move || {
        let doc = format!("<doc func=\"{func}\"><ok/><elid>{elid}</elid></doc>");
        let mut cmd = Command::new(support::AMOCRM);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MGR_ROOT", &root)
            .env("EVENT_TYPE", "after")
            .env("AUTH_USER", "admin")
            .env("AUTH_LEVEL", "29")
            .env("PARAM_func", &func)
            .env("PARAM_elid", &elid)
            .env("PARAM_sok", "ok")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = support::run_with_timeout(cmd, doc.as_bytes(), Duration::from_secs(60));
        assert!(out.status.success(), "handler for {elid}");
        assert_eq!(text(&out.stdout), doc, "the document passes unchanged");
    })
}

/// Runs `amocrm ARGS` in a thread of its own.
fn amocrm_thread(p: &Panel, args: &[&str]) -> std::thread::JoinHandle<std::process::Output> {
    let cmd = p.command(args);
    std::thread::spawn(move || support::run_with_timeout(cmd, b"", Duration::from_secs(120)))
}

/// Every service queued went out once: its job is done, it has one link, the sandbox
/// holds one lead for it, and the task log says it was created once. Likewise for the
/// clients the leads hang on. Returns the number of leads.
fn each_sent_once(p: &Panel, sandbox: &Sandbox, items: &[i64]) -> usize {
    use billmgr_amocrm::model::EntityKind;
    let mut db = p.db();
    let jobs = db
        .list_jobs(&["pending", "taken", "failed", "done", "skipped"], 10_000)
        .expect("jobs");
    for id in items {
        let key = format!("item:{id}");
        let job = jobs
            .iter()
            .find(|j| j.key == key)
            .unwrap_or_else(|| panic!("{key} was never queued"));
        assert_eq!(job.state, "done", "{job:?}");
    }
    let state = sandbox.get_json("/_sandbox/state");
    let leads = state["leads"].as_array().expect("leads");
    let contacts = state["contacts"].as_array().expect("contacts");
    assert_eq!(leads.len(), items.len(), "one lead per service");
    assert_eq!(
        db.link_count(EntityKind::Item).expect("links"),
        items.len() as i64
    );
    assert_eq!(
        contacts.len() as i64,
        db.link_count(EntityKind::Account).expect("links"),
        "one contact per linked client"
    );
    let mut lead_ids: Vec<i64> = items
        .iter()
        .map(|id| {
            db.link(EntityKind::Item, *id)
                .expect("link")
                .unwrap_or_else(|| panic!("item {id} has no link"))
                .amocrm_id
        })
        .collect();
    lead_ids.sort();
    lead_ids.dedup();
    assert_eq!(lead_ids.len(), items.len(), "two services share a lead");
    let created = creations(&p.read("var/amocrm_task.log"));
    for (entity, n) in &created {
        assert_eq!(*n, 1, "{entity} was created {n} times");
    }
    assert_eq!(
        created.keys().filter(|k| k.starts_with("item ")).count(),
        items.len()
    );
    leads.len()
}

fn twenty_handlers_at_once_queue_every_event_and_one_worker_sends_each_once(backend: Backend) {
    let n = if stress() { 100 } else { 20 };
    let (name, database, _guard) = backend.database();
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = busy_panel(&sandbox, &database, n);
    // Authorized before, so the workers race over the queue, not over the first code.
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    let items: Vec<i64> = (0..n as i64).map(|i| FIRST_ITEM + i).collect();

    // Handler i sends services i and i+1: every service gets two events from two
    // processes at the same time. Half start at once, the other half while the
    // worker the first half woke is still sending.
    let started = Instant::now();
    let mut handlers = Vec::new();
    for (wave, range) in [0..n / 2, n / 2..n].into_iter().enumerate() {
        for i in range {
            let elid = format!("{}, {}", items[i], items[(i + 1) % n]);
            handlers.push(handler_thread(&p, "service.postopen", elid));
        }
        if wave == 0 {
            support::wait_until(
                "a worker woken by the first handlers",
                Duration::from_secs(60),
                || worker_running(&p) || !api_calls(&requests(&sandbox)).is_empty(),
            );
        }
    }
    for h in handlers {
        h.join().expect("handler");
    }
    let handlers_took = started.elapsed();
    let queued = p
        .read("var/amocrm_action.log")
        .lines()
        .filter(|l| l.contains("service.postopen: queued item:"))
        .count();
    assert_eq!(queued, n, "every handler queued its event");
    let drained = wait_until_drained(&p, Duration::from_secs(90));

    let leads = each_sent_once(&p, &sandbox, &items);
    let log = p.read("var/amocrm_task.log");
    let sessions = lock_sessions(&log).unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(
        sessions.count >= 1 && sessions.sent_lines >= n,
        "{sessions:?}"
    );
    let worker_pids = pids_saying(&log, "");
    eprintln!(
        "{name}: {n} handlers ({} events) in {handlers_took:?}; queue drained \
             {drained:?} later; {leads} leads; {} worker processes ran, {} took the lock \
             in {} sessions, never two at once",
        2 * n,
        worker_pids.len(),
        sessions.holders,
        sessions.count
    );
}

crate::on_each_database!(twenty_handlers_at_once_queue_every_event_and_one_worker_sends_each_once);

fn four_workers_started_together_one_works_the_others_stand_aside_nothing_is_lost(
    backend: Backend,
) {
    let (n, workers) = if stress() { (300, 16) } else { (40, 4) };
    let (name, database, _guard) = backend.database();
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = busy_panel(&sandbox, &database, n);
    // Queued with sync off, so no handler wakes a worker: the test starts them.
    p.write_conf(&sandbox.url, &database, &format!("enabled = no\n{SYNC}"));
    let items: Vec<i64> = (0..n as i64).map(|i| FIRST_ITEM + i).collect();
    for chunk in items.chunks(10) {
        let elid: Vec<String> = chunk.iter().map(i64::to_string).collect();
        p.event("service.postopen", &elid.join(", "), &[]);
    }
    p.write_conf(&sandbox.url, &database, SYNC);

    let started = Instant::now();
    let threads: Vec<_> = (0..workers).map(|_| amocrm_thread(&p, &["task"])).collect();
    for t in threads {
        let out = t.join().expect("worker");
        assert!(
            out.status.success(),
            "a worker failed: {}\n{}",
            text(&out.stderr),
            p.read("var/amocrm_task.log")
        );
    }
    let took = started.elapsed();
    let leads = each_sent_once(&p, &sandbox, &items);
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    assert_eq!((s.pending, s.taken, s.failed), (0, 0, 0), "{s:?}");
    let log = p.read("var/amocrm_task.log");
    let sessions = lock_sessions(&log).unwrap_or_else(|e| panic!("{e}\n{log}"));
    assert!(sessions.count >= 1, "{sessions:?}");
    // Each worker either held the lock or saw it held and stood aside.
    let aside = pids_saying(&log, "another worker is running");
    let mut seen = pids_saying(&log, "worker lock taken");
    seen.extend(aside.iter().cloned());
    assert_eq!(seen.len(), workers, "{log}");
    let creates = api_calls(&requests(&sandbox))
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v4/leads")
        .count();
    eprintln!(
        "{name}: {workers} workers started together on {n} services: all exited 0 in \
             {took:?}; {leads} leads from {creates} create requests; {} took the lock in {} \
             sessions, never two at once; {} stood aside",
        sessions.holders,
        sessions.count,
        aside.len()
    );
}

crate::on_each_database!(
    four_workers_started_together_one_works_the_others_stand_aside_nothing_is_lost
);

/// Starts `count` processes at once that each need amoCRM with the token as it is: all
/// but one `amocrm status --json`, and one worker with a job to send. Checks that each
/// got through and returns the token requests they made.
fn all_at_once_with_one_token(p: &Panel, sandbox: &Sandbox, count: usize) -> (usize, Duration) {
    let before = requests(sandbox).len();
    let started = Instant::now();
    let worker = amocrm_thread(p, &["task"]);
    let status: Vec<_> = (1..count)
        .map(|_| amocrm_thread(p, &["status", "--json"]))
        .collect();
    for t in status {
        let out = t.join().expect("status");
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("status --json: {}", text(&out.stderr)));
        assert_eq!(v["amocrm"]["connected"], true, "{v}");
    }
    let out = worker.join().expect("worker");
    assert!(out.status.success(), "worker: {}", text(&out.stderr));
    let took = started.elapsed();
    let log = requests(sandbox);
    let tokens = token_requests(&log[before..]);
    for r in &tokens {
        assert_eq!(r["status"], 200, "a token request was refused: {r}");
    }
    let logs = p.read("var/amocrm_task.log") + &p.read("var/amocrm_action.log");
    assert!(!logs.contains("revoked"), "{logs}");
    (tokens.len(), took)
}

#[test]
fn processes_that_find_the_token_expired_together_refresh_it_once() {
    let count = if stress() { 32 } else { 8 };
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");
    p.sample_panel();
    p.event("service.postopen", "1001", &[]);
    p.event("service.postopen", "1002", &[]);
    p.write_conf(&sandbox.url, Panel::sqlite(), SYNC);
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));

    // amoCRM stops taking the access token before its time: each process meets a 401.
    let (status, _) = sandbox.post_json(
        "/_sandbox/faults",
        &serde_json::json!({"expire_tokens": true}),
    );
    assert_eq!(status, 200);
    let (refreshes, took) = all_at_once_with_one_token(&p, &sandbox, count);
    assert_eq!(refreshes, 1, "one refresh for {count} processes");
    eprintln!("{count} processes met an expired access token: {refreshes} refresh, {took:?}");
}

#[test]
fn processes_that_find_the_token_running_out_together_refresh_it_once() {
    let count = if stress() { 32 } else { 8 };
    // Tokens of 12 s: refreshed in their last 3 s (a quarter of their life).
    let sandbox = Sandbox::start(&["--rate", "0", "--token-lifetime", "12"]);
    let p = Panel::new();
    p.write_conf(&sandbox.url, Panel::sqlite(), "enabled = no");
    p.sample_panel();
    p.event("service.postopen", "1001", &[]);
    p.write_conf(&sandbox.url, Panel::sqlite(), SYNC);
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    let status: Value =
        serde_json::from_slice(&p.amocrm(&["status", "--json"]).stdout).expect("status");
    let expires = status["token"]["access_expires_at"]
        .as_i64()
        .unwrap_or_else(|| panic!("no expiry: {status}"));
    // Into the refresh window, with the token still valid on amoCRM's side. The module
    // reads the real clock against the token's `exp`: the sandbox's clock cannot stand in.
    let unix_now = || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.expect("clock").as_secs() as i64
    };
    support::wait_until(
        "the token's refresh window",
        Duration::from_secs(20),
        || expires - unix_now() <= 2,
    );

    let (refreshes, took) = all_at_once_with_one_token(&p, &sandbox, count);
    assert_eq!(refreshes, 1, "one refresh for {count} processes");
    eprintln!(
        "{count} processes found the access token about to expire: {refreshes} refresh, {took:?}"
    );
}
