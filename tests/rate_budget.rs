//! One rate budget for every process of the module: workers, an admin's syncs and `status`
//! started together draw from the same `rate_limit` requests a second, so amoCRM never
//! answers 429 between them (nor blocks the integration with 403).

mod support;
mod workers;

use std::process::Output;
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Panel, Sandbox};
use workers::{requests, text, token_requests};

/// Generated services start here (see `amocrm sample-panel --generate`).
const FIRST_ITEM: i64 = 10001;
/// The generated panel: clients, payers, services.
const SIZE: (usize, usize, usize) = (20, 10, 40);
/// Small batches, so that the worker makes many requests while the others run; amoCRM's
/// own limit.
const SYNC: &str = "batch_size = 5\nrate_limit = 7";

/// Runs `amocrm ARGS` in a thread of its own once every other process is ready to start.
fn at_once(p: &Panel, args: &[&str], go: &Arc<Barrier>) -> JoinHandle<Output> {
    let cmd = p.command(args);
    let go = Arc::clone(go);
    std::thread::spawn(move || {
        go.wait();
        support::run_with_timeout(cmd, b"", Duration::from_secs(120))
    })
}

/// A generated panel with every service but the last three queued (sync off, so no
/// worker starts), then sync on, authorized, and the access token expired by amoCRM.
/// Returns the services the three `sync --item` runs add.
fn panel_with_queued_work(sandbox: &Sandbox, database: &str) -> (Panel, Vec<i64>) {
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, &format!("enabled = no\n{SYNC}"));
    p.write("etc/debug.conf", "amocrm 9\n");
    let (c, pay, s) = SIZE;
    let out = p.amocrm(&["sample-panel", "--generate", &format!("{c},{pay},{s}")]);
    assert!(out.status.success(), "sample-panel: {}", text(&out.stderr));
    let items: Vec<i64> = (0..s as i64).map(|i| FIRST_ITEM + i).collect();
    let (queued, by_sync) = items.split_at(items.len() - 3);
    for chunk in queued.chunks(10) {
        let elid: Vec<String> = chunk.iter().map(i64::to_string).collect();
        p.event("service.postopen", &elid.join(", "), &[]);
    }
    p.write_conf(&sandbox.url, database, SYNC);
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    let (status, _) = sandbox.post_json(
        "/_sandbox/faults",
        &serde_json::json!({"expire_tokens": true}),
    );
    assert_eq!(status, 200);
    (p, by_sync.to_vec())
}

/// The most requests the sandbox saw in any one second of `log` (by its own clock).
fn most_in_any_second(log: &[Value]) -> usize {
    let at: Vec<u64> = log.iter().filter_map(|r| r["at_ms"].as_u64()).collect();
    at.iter()
        .map(|a| at.iter().filter(|b| **b >= *a && **b < a + 1000).count())
        .max()
        .unwrap_or(0)
}

/// Every process ended well: workers and syncs exit 0, each status found amoCRM connected.
fn check_exits(p: &Panel, runs: Vec<(String, JoinHandle<Output>)>) {
    for (what, run) in runs {
        let out = run.join().expect("process thread");
        let logs = || p.read("var/amocrm_task.log") + &p.read("var/amocrm_action.log");
        if what.starts_with("status") {
            let v: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|_| panic!("{what}: {}", text(&out.stderr)));
            assert_eq!(v["amocrm"]["connected"], true, "{what}: {v}");
        } else {
            assert!(
                out.status.success(),
                "{what}: {}\n{}",
                text(&out.stderr),
                logs()
            );
        }
    }
}

/// Every service has its lead and its job is done; nothing is left pending or failed.
fn check_all_done(p: &Panel, items: usize) {
    use billmgr_amocrm::model::EntityKind;
    let mut db = p.db();
    let s = db.queue_summary(i64::MAX / 2).expect("queue summary");
    assert_eq!((s.pending, s.taken, s.failed), (0, 0, 0), "{s:?}");
    for id in (0..items as i64).map(|i| FIRST_ITEM + i) {
        assert!(
            db.link(EntityKind::Item, id).expect("link").is_some(),
            "item {id} has no lead"
        );
    }
}

fn eight_processes_started_at_once_share_one_rate_budget(backend: Backend) {
    let (name, database, _guard) = backend.database();
    // amoCRM's limit, 429 over it, 403 after sustained overruns.
    let sandbox = Sandbox::start(&["--rate", "7"]);
    let (p, by_sync) = panel_with_queued_work(&sandbox, &database);
    let before = requests(&sandbox).len();

    let mut commands: Vec<Vec<String>> = vec![vec!["task".into()]; 3];
    for id in &by_sync {
        commands.push(vec!["sync".into(), "--item".into(), id.to_string()]);
    }
    commands.extend(vec![vec!["status".into(), "--json".into()]; 2]);
    let go = Arc::new(Barrier::new(commands.len()));
    let started = Instant::now();
    let runs: Vec<(String, JoinHandle<Output>)> = commands
        .iter()
        .map(|c| {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            (c.join(" "), at_once(&p, &args, &go))
        })
        .collect();
    check_exits(&p, runs);
    let took = started.elapsed();

    let log = requests(&sandbox).split_off(before);
    let refused = |status: u64| log.iter().filter(|r| r["status"] == status).count();
    let (too_many, blocked) = (refused(429), refused(403));
    let busiest = most_in_any_second(&log);
    assert_eq!(
        (too_many, blocked),
        (0, 0),
        "{name}: {too_many} requests answered 429 and {blocked} 403 of {}; {busiest} in \
             the busiest second",
        log.len()
    );
    let tokens = token_requests(&log);
    assert_eq!(tokens.len(), 1, "one refresh for every process: {tokens:?}");
    assert_eq!(tokens[0]["status"], 200, "{tokens:?}");
    check_all_done(&p, SIZE.2);
    let logs = p.read("var/amocrm_task.log") + &p.read("var/amocrm_action.log");
    assert!(
        logs.contains("for the rate budget"),
        "nobody waited:\n{logs}"
    );
    eprintln!(
        "{name}: 8 processes in {took:?}: {} requests, none refused, at most {busiest} in \
             any second; one token refresh",
        log.len()
    );
}

crate::on_each_database!(eight_processes_started_at_once_share_one_rate_budget);
