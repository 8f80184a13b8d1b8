//! `amocrm status [--json]`: connection, account, token expiry, queue depth, failures and
//! the last run, in words for a terminal or as JSON for scripts.

use serde_json::{Value, json};

use std::fs::{OpenOptions, TryLockError};
use std::time::{Duration, Instant};

use crate::amo::{AmoError, NEW_CODE_ACTION, OAuthRefusal};
use crate::config;
use crate::db;
use crate::log::{Which, now, timestamp};
use crate::model::EntityKind;
use crate::paths::Paths;
use crate::sync::state::RunState;

pub fn status(paths: &Paths, as_json: bool) -> i32 {
    crate::log::init(paths, Which::Action, false);
    let report = gather(paths);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_text(&report);
    }
    if report["ok"].as_bool() == Some(true) {
        0
    } else {
        1
    }
}

/// The report being built, and whether all is well so far.
struct Report {
    out: Value,
    ok: bool,
}

fn gather(paths: &Paths) -> Value {
    let mut r = Report {
        out: json!({}),
        ok: true,
    };
    let (cfg, settings) = settings(paths, &mut r);
    if let Some(c) = &cfg {
        crate::log::register_secret(c.auth.client_secret.expose());
        amocrm(paths, c, &mut r);
    }
    database(paths, settings, &mut r);
    if let Some(c) = &cfg {
        r.out["sweep"] = crate::sync::sweep_state::report(paths, c.sync.reconcile);
    }
    last_run(paths, &mut r);
    r.out["ok"] = json!(r.ok);
    r.out
}

/// The settings, or their problems; the database's settings even then, when the hook's
/// part of amocrm.conf reads.
fn settings(
    paths: &Paths,
    r: &mut Report,
) -> (Option<config::Config>, Option<config::DatabaseSettings>) {
    match config::Sources::read(paths).config() {
        Ok(c) => {
            r.out["config"] = json!({"ok": true, "sync_enabled": c.sync.enabled, "update": format!("{:?}", c.sync.update), "update_leads": format!("{:?}", c.sync.update_leads)});
            let s = c.database.clone();
            (Some(c), Some(s))
        }
        Err(problems) => {
            r.ok = false;
            r.out["config"] = json!({"ok": false, "problems": problems.0.iter().map(|p| p.to_string()).collect::<Vec<_>>()});
            let hook = config::Sources::read_conf(paths).hook();
            (None, hook.ok().map(|l| l.database))
        }
    }
}

/// The tokens and whether amoCRM answers with them.
fn amocrm(paths: &Paths, c: &config::Config, r: &mut Report) {
    let opts = crate::amo::ClientOptions {
        rate_limit: c.sync.rate_limit,
        timeout: LIVE_TIMEOUT,
        retry: crate::amo::RetryPauses::starting_at(c.sync.retry_pause),
    };
    let mut client = match crate::amo::AmoClient::new(&c.auth, opts, paths) {
        Ok(client) => client,
        Err(e) => {
            r.ok = false;
            r.out["amocrm"] =
                json!({"url": c.auth.url, "connected": false, "error": e.to_string()});
            return;
        }
    };
    // The admin waits at a terminal: one brief try says whether amoCRM answers; the
    // worker's retries are for the queue, not for this.
    client.set_attempts(1);
    let t = client.token_status();
    r.out["token"] = json!({
        "present": t.present,
        "access_expires_at": t.access_expires_at,
        "access_expires": t.access_expires_at.map(timestamp),
        "authorization_lapses_at": t.authorization_lapses_at(),
        "authorization_days_left": t.authorization_lapses_at()
            .map(|at| (at - now()).max(0) / 86_400),
    });
    if !(t.present || c.auth.code.is_some()) {
        r.ok = false;
        r.out["amocrm"] = json!({"url": c.auth.url, "connected": false,
            "error": "not authorized yet: set [auth] code or run `amocrm auth CODE`"});
        r.out["action"] = json!(NEW_CODE_ACTION);
    } else if !token_lock_free(paths, TOKEN_LOCK_PATIENCE) {
        r.ok = false;
        r.out["amocrm"] = json!({"url": c.auth.url, "connected": false,
            "error": "another amocrm process has been renewing the tokens for a while \
                      (amoCRM is slow or unreachable); try again in a minute"});
    } else {
        connect(&mut client, c, r);
    }
}

/// One call to amoCRM: the account's name, or why it does not answer.
fn connect(client: &mut crate::amo::AmoClient, c: &config::Config, r: &mut Report) {
    match client.account() {
        Ok(a) => {
            r.out["amocrm"] = json!({"url": c.auth.url, "connected": true,
                "account": a.get("name"), "account_id": a.get("id")});
            let t = client.token_status();
            r.out["token"]["access_expires_at"] = json!(t.access_expires_at);
            r.out["token"]["access_expires"] = json!(t.access_expires_at.map(timestamp));
        }
        Err(e) => {
            r.ok = false;
            r.out["amocrm"] =
                json!({"url": c.auth.url, "connected": false, "error": e.to_string()});
            if let AmoError::Refused { action, .. } = &e {
                r.out["amocrm"]["refused"] = json!(true);
                r.out["action"] = json!(action);
            }
            if tokens_refused(&e) {
                r.out["token"]["refused"] = json!(true);
            }
        }
    }
}

/// The database, the queue, the failures, the links and the hook's spool.
fn database(paths: &Paths, settings: Option<config::DatabaseSettings>, r: &mut Report) {
    let mut spool = json!({});
    let (database, opened) = match settings {
        Some(s) => open_database(&s, paths),
        None => (Value::Null, None),
    };
    if database["error"].is_string() {
        r.ok = false;
    }
    if !database.is_null() {
        r.out["database"] = database;
    }
    if let Some(mut d) = opened {
        let _ = d.ensure_schema();
        if let Err(e) = db::spool::fold(paths, d.as_mut()) {
            r.ok = false;
            spool["error"] = json!(e.to_string());
        }
        queue(d.as_mut(), r);
    }
    // Jobs the panel hook left that could not be moved into the queue yet.
    let waiting = db::spool::waiting(paths);
    if waiting > 0 || spool.get("error").is_some() {
        spool["waiting"] = json!(waiting);
        r.out["spool"] = spool;
    }
}

fn queue(d: &mut dyn db::PanelDb, r: &mut Report) {
    match d.queue_summary(now()) {
        Ok(q) => r.out["queue"] = json!(q),
        Err(e) => {
            r.ok = false;
            r.out["queue"] = json!({"error": e.to_string()});
        }
    }
    if let Ok(failed) = d.list_jobs(&["failed"], 10) {
        r.out["failures"] = json!(failed);
    }
    let mut links = serde_json::Map::new();
    for k in EntityKind::ALL {
        links.insert(
            k.amo_entity().to_string(),
            json!(d.link_count(k).unwrap_or(0)),
        );
    }
    r.out["links"] = Value::Object(links);
}

/// The last run, and whether what stopped it is over.
fn last_run(paths: &Paths, r: &mut Report) {
    let Some(s) = RunState::load(paths) else {
        return;
    };
    // A run stopped because amoCRM refused or did not answer needs nothing more once it
    // answers again: the next run sends the queue. Other stops (an answer the API does not
    // document, a database error) are not shown resolved by one good call.
    let out = &mut r.out;
    let resolved = s.result == "stopped"
        && s.stopped_by_access
        && out["amocrm"]["connected"] == json!(true)
        && out["database"].is_object()
        && out["database"]["error"].is_null();
    if (s.result == "stopped" && !resolved) || s.result == "config" {
        r.ok = false;
    }
    if resolved {
        out["resolved"] = json!(
            "amoCRM answers again: the waiting jobs go out on the next run (the cron entry, \
             a panel event, or `amocrm task` now)"
        );
    }
    out["last_run"] = json!({
        "finished_at": s.finished_at, "finished": timestamp(s.finished_at),
        "result": s.result, "message": s.message, "action": s.action,
        "sent": s.sent, "failed": s.failed, "skipped": s.skipped,
    });
}

/// The `database` part of the report: where the database is and where its settings were
/// read (`url`, `source`), and `error` when it cannot be found or opened; and the
/// database, when it opens.
fn open_database(
    settings: &config::DatabaseSettings,
    paths: &Paths,
) -> (Value, Option<Box<dyn db::PanelDb>>) {
    let resolved = match db::discover::resolve(settings, paths) {
        Ok(r) => r,
        Err(e) => return (json!({"error": e.to_string()}), None),
    };
    let mut part =
        json!({"url": resolved.target.describe(), "source": resolved.source.to_string()});
    match db::open(&resolved.target) {
        Ok(d) => (part, Some(d)),
        Err(e) => {
            part["error"] = json!(e.to_string());
            (part, None)
        }
    }
}

/// How long the live check waits for amoCRM's answer.
const LIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long status waits for another process's token refresh to finish.
const TOKEN_LOCK_PATIENCE: Duration = Duration::from_secs(3);

/// Whether the token lock is free or comes free within `patience`. A worker refreshing
/// the tokens while amoCRM hangs holds it through all its retries (minutes); status would
/// wait as long for it before its own request.
fn token_lock_free(paths: &Paths, patience: Duration) -> bool {
    // No lock file: no process has ever renewed the tokens here.
    let Ok(file) = OpenOptions::new().write(true).open(paths.token_lock()) else {
        return true;
    };
    let deadline = Instant::now() + patience;
    loop {
        match file.try_lock() {
            // Released as `file` closes, before the client takes it for itself.
            Ok(()) => return true,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => return false,
            // The client meets the same problem and names it.
            Err(TryLockError::Error(_)) => return true,
        }
    }
}

/// Whether amoCRM no longer takes the integration's tokens (revoked, invalid, or a fresh
/// access token refused too), so that only a new authorization code helps.
fn tokens_refused(e: &AmoError) -> bool {
    matches!(e, AmoError::Refused { status: 401, .. })
        || e.oauth_refusal() == Some(OAuthRefusal::RefreshToken)
}

fn print_text(r: &Value) {
    print_config(&r["config"]);
    print_amocrm(&r["amocrm"], &r["token"]);
    print_database(r);
    print_queue(&r["queue"], &r["links"]);
    print_last_run(r);
    if r["sweep"].is_object() {
        let line = crate::sync::sweep_state::status_line(&r["sweep"]);
        println!("sweep:      {line}");
    }
    // What amoCRM says now comes before what the last run met.
    if let Some(action) = r["action"].as_str() {
        println!("to do:      {action}");
    }
    if let Some(f) = r["failures"].as_array().filter(|f| !f.is_empty()) {
        println!("failures:");
        for j in f {
            println!(
                "  {} (attempt {}): {}",
                s(&j["key"]),
                j["attempts"],
                s(&j["last_error"])
            );
        }
    }
}

/// A value as text: a string as it is, anything else as JSON.
fn s(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

fn print_config(c: &Value) {
    if let Some(problems) = c["problems"].as_array() {
        println!(
            "config:     {} problem(s) — run `amocrm check`",
            problems.len()
        );
    } else if c["sync_enabled"] == json!(false) {
        println!(
            "config:     ok; sync is DISABLED ([sync] enabled = no): events wait in the queue"
        );
    } else if c["ok"] == json!(true) {
        println!("config:     ok");
    }
}

fn print_amocrm(a: &Value, t: &Value) {
    if a.is_object() {
        if a["connected"] == json!(true) {
            println!(
                "amoCRM:     {} — connected, account {} (id {})",
                s(&a["url"]),
                s(&a["account"]),
                s(&a["account_id"])
            );
        } else {
            println!(
                "amoCRM:     {} — NOT connected: {}",
                s(&a["url"]),
                s(&a["error"])
            );
        }
    }
    if t["refused"] == json!(true) {
        println!("token:      REFUSED by amoCRM: a new authorization code is needed");
    } else if t.is_object() {
        print_token(t);
    }
}

fn print_token(t: &Value) {
    match t["access_expires_at"].as_i64() {
        Some(exp) => {
            let left = exp - now();
            let when = if left > 0 {
                format!("in {} h {} min", left / 3600, left % 3600 / 60)
            } else {
                "EXPIRED (refreshed on next use)".into()
            };
            println!(
                "token:      access token valid until {} ({when})",
                s(&t["access_expires"])
            );
        }
        None if t["present"] == json!(true) => println!("token:      present, expiry unknown"),
        None => println!("token:      none"),
    }
    if let Some(days) = t["authorization_days_left"].as_i64() {
        println!(
            "authorization: {days} day(s) left unless the module uses it (`amocrm task` renews it after 30 days)"
        );
    }
}

fn print_database(r: &Value) {
    let d = &r["database"];
    let from = d["source"]
        .as_str()
        .map(|src| format!(" (settings from {src})"))
        .unwrap_or_default();
    if let Some(e) = d["error"].as_str() {
        let at = d["url"]
            .as_str()
            .map(|u| format!("{u}{from}: "))
            .unwrap_or_default();
        println!("database:   ERROR {at}{e}");
    } else if let Some(url) = d["url"].as_str() {
        println!("database:   {url}{from}");
    }
    if let Some(n) = r["spool"]["waiting"].as_u64() {
        let why = r["spool"]["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        println!("spool:      {n} job(s) from panel events not in the queue yet{why}");
    }
}

fn print_queue(q: &Value, links: &Value) {
    if q.is_object() && q.get("pending").is_some() {
        let next = q["next_try"]
            .as_i64()
            .map(|t| format!(", next retry {}", timestamp(t)))
            .unwrap_or_default();
        println!(
            "queue:      {} pending ({} due now), {} failed{next}, {} done, {} skipped",
            q["pending"], q["due"], q["failed"], q["done"], q["skipped"]
        );
        if let Some(t) = q["last_done_at"].as_i64() {
            println!("last sync:  {}", timestamp(t));
        }
    }
    if let Some(l) = links.as_object() {
        println!(
            "links:      {} contacts, {} companies, {} leads",
            l.get("contacts").unwrap_or(&json!(0)),
            l.get("companies").unwrap_or(&json!(0)),
            l.get("leads").unwrap_or(&json!(0))
        );
    }
}

fn print_last_run(r: &Value) {
    let lr = &r["last_run"];
    if !lr.is_object() {
        return;
    }
    println!(
        "last run:   {} {} — {}",
        s(&lr["finished"]),
        s(&lr["result"]),
        s(&lr["message"])
    );
    if let Some(now) = r["resolved"].as_str() {
        println!("now:        {now}");
    } else if let Some(action) = lr["action"].as_str().filter(|a| !a.is_empty())
        && r["action"].as_str() != Some(action)
    {
        println!("to do:      {action}");
    }
}

/// `amocrm links [KIND]`: the link tables as the admin reads them.
pub fn links(paths: &Paths, only: Option<EntityKind>) -> i32 {
    crate::log::init(paths, Which::Action, true);
    let settings = match config::Sources::read_conf(paths).hook() {
        Ok(l) => l.database,
        Err(problems) => {
            eprintln!("amocrm: configuration problems (run `amocrm check`):\n{problems}");
            return 1;
        }
    };
    let mut d = match crate::db::open_panel(&settings, paths) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("amocrm: {e}");
            return 1;
        }
    };
    for kind in EntityKind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k))
    {
        let count = d.link_count(kind).unwrap_or(0);
        println!("{} ({count} rows)", kind.link_table());
        println!("  {:>10}  {:>12}  last sync", "billmgr_id", "amocrm_id");
        let mut after = i64::MIN;
        loop {
            let page = match d.links(kind, after, 500) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("amocrm: {e}");
                    return 1;
                }
            };
            let Some(last) = page.last() else { break };
            after = last.billmgr_id;
            for l in &page {
                println!(
                    "  {:>10}  {:>12}  {}",
                    l.billmgr_id,
                    l.amocrm_id,
                    timestamp(l.synced_at)
                );
            }
        }
    }
    0
}
