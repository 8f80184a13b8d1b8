//! amoCRM refusing the integration: the account unpaid (402), the integration blocked (403),
//! the refresh token revoked. The worker stops sending and keeps the queue; `amocrm status`
//! and the task log say what the admin must do; once it is resolved the queue goes out with
//! nothing else re-entered. `amocrm status` answers within seconds whatever amoCRM does.

mod support;
mod workers;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Panel, Sandbox};
use workers::{api_calls, requests, text, timed, token_requests};

/// `amocrm status` answers within this, amoCRM down or refusing (it tries once, briefly).
const STATUS_PROMPTLY: Duration = Duration::from_secs(8);

/// A panel authorized in the sandbox, with a client, a payer and a service queued (sync
/// off while queueing, so no worker starts before the test runs one).
fn queued_panel(sandbox: &Sandbox, database: &str) -> Panel {
    let p = Panel::new();
    p.write_conf(&sandbox.url, database, "enabled = no");
    p.sample_panel();
    p.event("account.edit", "3", &[]);
    p.event("profile.edit", "22", &[]);
    p.event("service.postopen", "1002", &[]);
    p.write_conf(&sandbox.url, database, "batch_size = 50");
    let out = p.amocrm(&["auth", support::AUTH_CODE]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    p
}

/// A sandbox without its rate limit: these tests make a few calls a second from several
/// processes, and a 429 is not what they are about.
fn sandbox() -> Sandbox {
    Sandbox::start(&["--rate", "0"])
}

fn faults(sandbox: &Sandbox, body: Value) {
    let (status, answer) = sandbox.post_json("/_sandbox/faults", &body);
    assert_eq!(status, 200, "{answer}");
}

/// `amocrm status --json` and the text, each checked to come back promptly.
fn status(p: &Panel) -> (Value, String, i32) {
    let (out, took) = timed(p, &["status", "--json"]);
    assert!(took < STATUS_PROMPTLY, "status --json took {took:?}");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("status --json: {}", text(&out.stderr)));
    let (out, took) = timed(p, &["status"]);
    assert!(took < STATUS_PROMPTLY, "status took {took:?}");
    (json, text(&out.stdout), out.status.code().unwrap_or(-1))
}

/// The worker stops at the refusal: it exits 1 saying why, having sent at most a couple
/// of requests, and every job waits as it was (no attempt counted against it).
fn run_is_refused(p: &Panel, sandbox: &Sandbox, says: &str) -> String {
    let before = requests(sandbox).len();
    let (out, took) = timed(p, &["task"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "task: {err}");
    assert!(err.contains(says), "task said: {err}");
    let log = requests(sandbox);
    let calls = api_calls(&log[before..]).len() + token_requests(&log[before..]).len();
    assert!(calls <= 3, "the worker kept sending: {calls} requests");
    let mut db = p.db();
    let s = db.queue_summary(i64::MAX / 2).expect("summary");
    assert_eq!((s.pending, s.taken, s.failed), (3, 0, 0), "every job waits");
    for j in db.list_jobs(&["pending"], 10).expect("jobs") {
        assert_eq!(j.attempts, 0, "a refusal is not the job's failure: {j:?}");
    }
    let task_log = p.read("var/amocrm_task.log");
    let last = task_log
        .lines()
        .rfind(|l| l.contains("the run stopped"))
        .unwrap_or_else(|| panic!("the task log does not say the run stopped:\n{task_log}"));
    eprintln!("refused run: {calls} request(s), {took:?}; task log: {last}");
    last.to_string()
}

/// With the refusal lifted, `amocrm task` sends the whole queue and status is clean.
fn queue_goes_out(p: &Panel, sandbox: &Sandbox) {
    let out = p.amocrm(&["task"]);
    assert!(
        out.status.success(),
        "task: {}\n{}",
        text(&out.stderr),
        p.read("var/amocrm_task.log")
    );
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    assert_eq!(
        (s.pending, s.taken, s.failed, s.done),
        (0, 0, 0, 3),
        "{s:?}"
    );
    let state = sandbox.get_json("/_sandbox/state");
    assert_eq!(state["counts"]["contacts"], 1, "{}", state["counts"]);
    assert_eq!(state["counts"]["companies"], 1, "{}", state["counts"]);
    assert_eq!(state["counts"]["leads"], 1, "{}", state["counts"]);
    let (json, shown, code) = status(p);
    assert_eq!((json["ok"].clone(), code), (json!(true), 0), "{json}");
    assert_eq!(json["last_run"]["result"], "ok");
    assert!(!shown.contains("to do:"), "{shown}");
}

fn unpaid(p: &Panel, sandbox: &Sandbox) {
    faults(sandbox, json!({"payment_required": true}));
    let line = run_is_refused(p, sandbox, "402");
    assert!(line.contains("pay for the account"), "{line}");
    let (json, shown, code) = status(p);
    assert_eq!(code, 1, "{shown}");
    assert_eq!(json["amocrm"]["connected"], false);
    assert_eq!(json["amocrm"]["refused"], true, "{json}");
    assert_ne!(
        json["token"]["refused"], true,
        "the tokens are fine: {json}"
    );
    assert!(shown.contains("402"), "{shown}");
    assert!(shown.contains("to do:      pay for the account"), "{shown}");
    assert!(
        shown.contains("token:      access token valid until"),
        "{shown}"
    );

    // Paid: nothing to re-enter, the next run just works.
    faults(sandbox, json!({}));
    let (json, shown, code) = status(p);
    assert_eq!((code, json["ok"].clone()), (0, json!(true)), "{shown}");
    assert!(
        shown.contains("now:        amoCRM answers again"),
        "{shown}"
    );
    queue_goes_out(p, sandbox);
}

fn blocked(p: &Panel, sandbox: &Sandbox) {
    // Far longer than the runs below take: the block ends when the sandbox's clock says.
    let block = 600.0;
    faults(sandbox, json!({"blocked_seconds": block}));
    let line = run_is_refused(p, sandbox, "403");
    assert!(line.contains("wait until amoCRM lifts the block"), "{line}");
    let (json, shown, code) = status(p);
    assert_eq!(code, 1, "{shown}");
    assert_eq!(json["amocrm"]["refused"], true, "{json}");
    assert!(
        shown.contains("to do:      wait until amoCRM lifts the block"),
        "{shown}"
    );
    // The block ends by itself: the next run just works, the fault never cleared.
    sandbox.advance(block);
    queue_goes_out(p, sandbox);
    assert!(
        sandbox.get_json("/_sandbox/faults")["blocked_seconds_left"] == json!(0.0),
        "the block ran out on its own"
    );
}

fn revoked(p: &Panel, sandbox: &Sandbox) {
    // The admin disconnects the integration in amoCRM: every token stops working.
    faults(sandbox, json!({"revoke_tokens": true}));
    let line = run_is_refused(p, sandbox, "amocrm auth CODE");
    assert!(line.contains("Token has been revoked"), "{line}");
    assert!(line.contains("generate a new authorization code"), "{line}");
    // A second run (the cron's) refuses the same way and spends nothing new.
    run_is_refused(p, sandbox, "amocrm auth CODE");
    let (json, shown, code) = status(p);
    assert_eq!(code, 1, "{shown}");
    assert_eq!(json["token"]["refused"], true, "{json}");
    assert!(
        shown.contains("token:      REFUSED by amoCRM: a new authorization code is needed"),
        "{shown}"
    );
    assert!(
        !shown.contains("valid until"),
        "a revoked token shown as valid: {shown}"
    );
    assert!(
        shown.contains("to do:      generate a new authorization code"),
        "{shown}"
    );
    assert_eq!(
        shown.matches("to do:").count(),
        1,
        "the same advice twice: {shown}"
    );

    // Only a new code: `amocrm auth CODE`, nothing else.
    let (code_status, body) = sandbox.post_json("/_sandbox/code", &json!({}));
    assert_eq!(code_status, 200);
    let body: Value = serde_json::from_str(&body).expect("code JSON");
    let code = body["code"].as_str().expect("a code");
    let out = p.amocrm(&["auth", code]);
    assert!(out.status.success(), "auth: {}", text(&out.stderr));
    queue_goes_out(p, sandbox);
}

#[test]
fn an_unpaid_account_stops_the_worker_until_it_is_paid() {
    let sandbox = sandbox();
    let p = queued_panel(&sandbox, Panel::sqlite());
    unpaid(&p, &sandbox);
}

#[test]
fn a_blocked_integration_stops_the_worker_until_the_block_ends() {
    let sandbox = sandbox();
    let p = queued_panel(&sandbox, Panel::sqlite());
    blocked(&p, &sandbox);
}

#[test]
fn a_revoked_refresh_token_stops_the_worker_until_a_new_code() {
    let sandbox = sandbox();
    let p = queued_panel(&sandbox, Panel::sqlite());
    revoked(&p, &sandbox);
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn refusals_keep_the_queue_on_mariadb() {
    let server = support::mysql_server();
    for (what, scenario) in [
        ("unpaid", unpaid as fn(&Panel, &Sandbox)),
        ("blocked", blocked),
        ("revoked", revoked),
    ] {
        let sandbox = sandbox();
        // A database of its own for each: the scenarios count the jobs.
        let db = support::MysqlDb::create(&server);
        let p = queued_panel(&sandbox, &db.conf_lines());
        scenario(&p, &sandbox);
        eprintln!("mariadb: {what}: the queue waited and went out");
    }
}

#[test]
fn status_answers_promptly_while_amocrm_is_down_or_slow() {
    let sandbox = sandbox();
    let p = queued_panel(&sandbox, Panel::sqlite());
    for (what, fault) in [
        ("closing every connection", json!({"outage_seconds": 600})),
        (
            "answering after half a minute",
            json!({"latency_ms": 30_000}),
        ),
        (
            "failing with 503",
            json!({"error_rate": 1.0, "error_statuses": [503]}),
        ),
        (
            "with the access token expired",
            json!({"expire_tokens": true, "outage_seconds": 600}),
        ),
    ] {
        faults(&sandbox, fault);
        let (json, shown, code) = status(&p);
        assert_eq!(code, 1, "{what}: {shown}");
        assert_eq!(json["amocrm"]["connected"], false, "{what}: {json}");
        assert!(shown.contains("NOT connected"), "{what}: {shown}");
        assert!(shown.contains("queue:      3 pending"), "{what}: {shown}");
        let (_, took) = timed(&p, &["status"]);
        eprintln!("status while amoCRM is {what}: {took:?}");
    }
    // The tokens survived all of it.
    faults(&sandbox, json!({}));
    let (json, _, code) = status(&p);
    assert_eq!(
        (code, json["amocrm"]["connected"].clone()),
        (0, json!(true)),
        "{json}"
    );
}

#[test]
fn status_does_not_wait_for_a_worker_renewing_the_tokens_against_a_dead_amocrm() {
    // An authorization last renewed a month ago: the worker renews it first, under the
    // token lock, and with amoCRM down it holds the lock through all its retries.
    let sandbox = Sandbox::start(&["--rate", "0"]);
    let p = queued_panel(&sandbox, Panel::sqlite());
    let month_ago = std::time::SystemTime::now() - Duration::from_secs(31 * 86_400);
    (std::fs::File::options().write(true))
        .open(p.path("etc/amocrm/refresh_token"))
        .and_then(|f| f.set_modified(month_ago))
        .expect("age the refresh token");
    faults(&sandbox, json!({"outage_seconds": 600}));
    let root = p.root().to_path_buf();
    let worker = std::thread::spawn(move || {
        let mut cmd = std::process::Command::new(support::AMOCRM);
        cmd.arg("task")
            .env_clear()
            .env("MGR_ROOT", &root)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        support::run_with_timeout(cmd, b"", Duration::from_secs(120))
    });
    let lock = billmgr_amocrm::paths::Paths::new(p.root()).token_lock();
    let held = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&lock)
            .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
    };
    support::wait_until(
        "the worker to take the token lock",
        Duration::from_secs(20),
        held,
    );

    let (json, shown, code) = status(&p);
    assert_eq!(code, 1, "{shown}");
    assert!(
        json["amocrm"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("renewing the tokens")),
        "{json}"
    );
    let (_, took) = timed(&p, &["status"]);
    eprintln!("status while a worker renews the tokens against a dead amoCRM: {took:?}");

    // amoCRM comes back while the worker still retries: its renewal goes through and it
    // sends the queue.
    faults(&sandbox, json!({}));
    let out = worker.join().expect("worker");
    assert!(out.status.success(), "task: {}", text(&out.stderr));
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    assert_eq!((s.pending, s.done), (0, 3), "{s:?}");
    assert_eq!(
        token_requests(&requests(&sandbox))
            .iter()
            .filter(|r| r["status"] == 200)
            .count(),
        2,
        "the code, then one renewal"
    );
}
