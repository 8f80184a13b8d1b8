//! The admin's commands other than `status`.

use super::usage::usage;
use crate::config;
use crate::db::{self, NewJob, PanelDb};
use crate::log::Which;
use crate::model::EntityKind;
use crate::paths::Paths;
use crate::secret::Secret;
use crate::sync::RunError;

/// `amocrm task`: the worker.
pub fn task(paths: &Paths) -> i32 {
    crate::log::init(paths, Which::Task, false);
    crate::sync::sweep_run::when_due(paths);
    run_worker(paths, false)
}

fn run_worker(paths: &Paths, progress: bool) -> i32 {
    match crate::sync::run(paths, progress) {
        Ok(r) if r.busy => {
            if progress {
                eprintln!("a worker is already running; it sends the queued entities");
            }
            0
        }
        Ok(r) if r.disabled => {
            eprintln!("sync is disabled ([sync] enabled = no): the jobs wait in the queue");
            0
        }
        Ok(r) => {
            if progress {
                eprintln!(
                    "{} sent, {} unchanged, {} skipped, {} failed",
                    r.sent, r.unchanged, r.skipped, r.failed
                );
            }
            0
        }
        Err(e) => {
            eprintln!("amocrm: {e}");
            if let RunError::Amo(_) = e
                && let Some(s) = crate::sync::state::RunState::load(paths)
                && !s.action.is_empty()
            {
                eprintln!("what to do: {}", s.action);
            }
            1
        }
    }
}

/// `amocrm sync --all | --changed | --account N | --profile N | --item N [--dry-run]`.
pub fn sync(paths: &Paths, args: &[String]) -> i32 {
    let Some((what, dry_run)) = sync_args(args) else {
        return usage();
    };
    match what {
        Selection::Changed => sync_changed(paths, dry_run),
        Selection::All => sync_selected(paths, None, dry_run),
        Selection::One(kind, id) => sync_selected(paths, Some((kind, id)), dry_run),
    }
}

/// What `amocrm sync` is asked to send.
enum Selection {
    All,
    Changed,
    One(EntityKind, i64),
}

/// `--all`, `--changed` or one `--account|--profile|--item N`, and `--dry-run`.
fn sync_args(args: &[String]) -> Option<(Selection, bool)> {
    let mut dry_run = false;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dry-run" => dry_run = true,
            "--all" => chosen.push(Selection::All),
            "--changed" => chosen.push(Selection::Changed),
            "--account" | "--profile" | "--item" => {
                let kind = EntityKind::parse(&a[2..]).expect("listed kinds");
                let id = it.next()?.parse::<i64>().ok().filter(|v| *v > 0)?;
                chosen.push(Selection::One(kind, id));
            }
            _ => return None,
        }
    }
    (chosen.len() == 1).then(|| (chosen.remove(0), dry_run))
}

/// Queues every entity (or one) and sends them now; a full export records its progress
/// for the panel's export screen, one at a time.
fn sync_selected(paths: &Paths, one: Option<(EntityKind, i64)>, dry_run: bool) -> i32 {
    crate::log::init(paths, Which::Task, true);
    let Some(cfg) = load_config(paths) else {
        return 1;
    };
    let mut db = match crate::db::open_panel(&cfg.database, paths) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("amocrm: {e}");
            return 1;
        }
    };
    db.read_money(cfg.rules.read_money());
    let mut export = None;
    if one.is_none() && !dry_run {
        match crate::sync::export::ExportRun::start(paths) {
            Ok(run) => export = Some(run),
            Err(e) => {
                eprintln!("amocrm: {e}");
                return 1;
            }
        }
    }
    let queued = match queue_selection(&cfg, db.as_mut(), one, dry_run, export.as_mut()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("amocrm: {e}");
            if let Some(run) = export {
                run.finish(Some(db.as_mut()), Some(&e));
            }
            return 1;
        }
    };
    if dry_run {
        eprintln!("dry run: {queued} entities shown, nothing queued or sent");
        return 0;
    }
    log::info!("sync: queued {queued} entities");
    eprintln!("queued {queued} entities");
    if let Some(run) = export.as_mut() {
        run.queueing_done(db.as_mut());
        run.wait_for_worker();
    }
    drop(db);
    let code = run_worker(paths, true);
    if let Some(run) = export {
        match crate::db::open_panel(&cfg.database, paths) {
            Ok(mut db) => run.finish(Some(db.as_mut()), None),
            Err(_) => run.finish(None, None),
        }
    }
    code
}

/// Queues (or, dry, prints the plans of) one entity or every one, a thousand ids at a
/// time so that the panel's rows are never all held; how many.
fn queue_selection(
    cfg: &config::Config,
    db: &mut dyn PanelDb,
    one: Option<(EntityKind, i64)>,
    dry_run: bool,
    mut export: Option<&mut crate::sync::export::ExportRun>,
) -> Result<u64, String> {
    let mut queued = 0u64;
    let mut send = |db: &mut dyn PanelDb, kind: EntityKind, ids: &[i64]| -> Result<(), String> {
        queued += ids.len() as u64;
        if dry_run {
            let sel: Vec<(EntityKind, i64)> = ids.iter().map(|id| (kind, *id)).collect();
            let mut out = std::io::stdout().lock();
            return crate::sync::dry_run::print_plans(cfg, db, &sel, &mut out)
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let jobs: Vec<NewJob> = (ids.iter())
            .map(|id| NewJob::for_id(kind, *id, "sync"))
            .collect();
        db.enqueue(&jobs, crate::log::now())
            .map_err(|e| e.to_string())?;
        if let Some(run) = export.as_deref_mut() {
            run.queued(ids.len());
        }
        Ok(())
    };
    if let Some((kind, id)) = one {
        send(db, kind, &[id])?;
        return Ok(queued);
    }
    for kind in EntityKind::ALL {
        let mut after = 0;
        loop {
            let ids = db.ids(kind, after, 1000).map_err(|e| e.to_string())?;
            let Some(&last) = ids.last() else {
                break;
            };
            after = last;
            send(db, kind, &ids)?;
        }
    }
    Ok(queued)
}

/// `amocrm sync --changed [--dry-run]`: the sweep, then the worker.
fn sync_changed(paths: &Paths, dry_run: bool) -> i32 {
    use crate::sync::sweep::Output;
    crate::log::init(paths, Which::Task, true);
    let Some(cfg) = load_config(paths) else {
        return 1;
    };
    let mut stdout = std::io::stdout();
    let run = crate::sync::sweep_run::Run {
        out: if dry_run {
            Output::Print(&mut stdout)
        } else {
            Output::Queue
        },
        by: "sync --changed",
        only_if_due: false,
    };
    match crate::sync::sweep_run::run(paths, &cfg, run) {
        Ok(tally) => {
            let tally = tally.unwrap_or_default();
            if dry_run {
                eprintln!("dry run: {}; nothing queued or sent", tally.describe());
                return 0;
            }
            eprintln!("sweep: {}", tally.describe());
            run_worker(paths, true)
        }
        Err(crate::sync::sweep::SweepError::Busy(why)) => {
            eprintln!("amocrm: {why}; it queues what changed");
            1
        }
        Err(e) => {
            eprintln!("amocrm: the sweep failed: {e}");
            1
        }
    }
}

/// `amocrm auth CODE`.
pub fn auth(paths: &Paths, code: &str) -> i32 {
    crate::log::init(paths, Which::Action, true);
    crate::log::register_secret(code);
    let Some(cfg) = load_config(paths) else {
        return 1;
    };
    crate::log::register_secret(cfg.auth.client_secret.expose());
    let opts = crate::amo::ClientOptions {
        rate_limit: cfg.sync.rate_limit,
        timeout: std::time::Duration::from_secs(30),
        retry: crate::amo::RetryPauses::starting_at(cfg.sync.retry_pause),
    };
    let result = crate::amo::AmoClient::new(&cfg.auth, opts, paths)
        .and_then(|mut c| c.exchange_code(&Secret::new(code)));
    match result {
        Ok(t) => {
            let until = t
                .access_expires_at
                .map(crate::log::timestamp)
                .unwrap_or_else(|| "unknown".into());
            log::info!("auth: authorization code exchanged; access token valid until {until}");
            println!("authorized: tokens saved; the access token is valid until {until}");
            0
        }
        Err(e) => {
            log::error!("auth: the authorization code was not accepted: {e}");
            eprintln!("amocrm: the authorization code was not accepted: {e}");
            eprintln!(
                "a code is valid once and for 20 minutes: generate a new one in amoCRM (the integration's Keys and access tab) and run `amocrm auth CODE` again"
            );
            1
        }
    }
}

/// `amocrm check`: the configuration's problems, and which database the settings name and
/// where they were read (no connection is made).
pub fn check(paths: &Paths) -> i32 {
    let problems = config::Sources::read(paths).problems();
    let database = config::Sources::read_conf(paths)
        .hook()
        .ok()
        .map(|l| db::discover::resolve(&l.database, paths));
    let mut count = problems.len();
    if problems.is_empty() {
        println!("configuration ok");
    }
    for p in &problems {
        eprintln!("{p}");
    }
    count += check_users(paths, problems.is_empty());
    count += check_money(paths, problems.is_empty());
    match database {
        Some(Ok(r)) => println!(
            "database: {} (settings from {})",
            r.target.describe(),
            r.source
        ),
        Some(Err(e)) => {
            count += 1;
            eprintln!("database: {e}");
        }
        None => {}
    }
    if count == 0 {
        return 0;
    }
    eprintln!("{count} problem(s)");
    1
}

/// The users `[responsible]` names, looked up in amoCRM when the settings are sound and
/// amoCRM answers; returns how many cannot own what the module creates.
fn check_users(paths: &Paths, sound: bool) -> usize {
    let Some(cfg) = sound
        .then(|| config::Sources::read(paths).config().ok())
        .flatten()
    else {
        return 0;
    };
    match crate::sync::responsible::check_users(&cfg, paths) {
        Ok(problems) => {
            problems.iter().for_each(|p| eprintln!("{p}"));
            problems.len()
        }
        Err(e) => {
            println!("responsible users not checked: amoCRM did not answer: {e}");
            0
        }
    }
}

/// When a rule names the client's money, whether the panel's database has the columns it
/// is read from (the balance's is an inferred name); 1 when it has not.
fn check_money(paths: &Paths, sound: bool) -> usize {
    let Some(cfg) = sound
        .then(|| config::Sources::read(paths).config().ok())
        .flatten()
    else {
        return 0;
    };
    if !cfg.rules.read_money() {
        return 0;
    }
    let problem = match crate::db::open_panel(&cfg.database, paths) {
        Ok(mut db) => db.money_problem(),
        // The database's own problem is reported with its settings.
        Err(_) => None,
    };
    let Some(why) = problem else {
        return 0;
    };
    eprintln!(
        "the rules name the client's money (account.balance, account.paid_total, \
         account.last_payment…), read from the panel's subaccount and payment tables, and \
         this database cannot give it: {why}. The balance's column, subaccount.balance, is a \
         name inferred from the panel's forms; if this panel names it otherwise, take the \
         money values out of the rules"
    );
    1
}

/// `amocrm init`: the module's tables in the panel database, at install time.
pub fn init(paths: &Paths) -> i32 {
    // No log file: the installer runs this on every install, and a rerun must leave the
    // tree as it was.
    let settings = match config::Sources::read_conf(paths).hook() {
        Ok(l) => l.database,
        Err(problems) => {
            eprintln!("amocrm: configuration problems (run `amocrm check`):\n{problems}");
            return 1;
        }
    };
    match crate::db::open_panel(&settings, paths) {
        Ok(db) => {
            println!("tables ready in {}", db.describe());
            0
        }
        Err(e) => {
            eprintln!("amocrm: {e}");
            1
        }
    }
}

/// `amocrm drop-tables --yes`: drops the link tables, the queue, the create marks and the
/// posts (uninstall --purge).
pub fn drop_tables(paths: &Paths, args: &[String]) -> i32 {
    if !matches!(args, [y] if y == "--yes") {
        eprintln!(
            "amocrm drop-tables drops the link tables (amocrm_account2contact, \
             amocrm_profile2company, amocrm_item2lead), the queue (amocrm_queue), the \
             create marks (amocrm_creating) and the notes and tasks posted (amocrm_posted) \
             with every link they hold; a panel that had the \
             official amoCRM module may share the link tables. Run `amocrm drop-tables --yes` to go ahead."
        );
        return 2;
    }
    crate::log::init(paths, Which::Action, false);
    let settings = match config::Sources::read_conf(paths).hook() {
        Ok(l) => l.database,
        Err(problems) => {
            eprintln!("amocrm: configuration problems (run `amocrm check`):\n{problems}");
            return 1;
        }
    };
    let target = match db::target(&settings, paths) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("amocrm: {e}");
            return 1;
        }
    };
    match db::drop_module_tables(&target) {
        Ok(dropped) if dropped.is_empty() => {
            println!("no module tables in {}", target.describe());
            0
        }
        Ok(dropped) => {
            let names = dropped.join(", ");
            log::warn!("drop-tables: dropped {names} in {}", target.describe());
            println!("dropped {names} in {}", target.describe());
            0
        }
        Err(e) => {
            eprintln!("amocrm: {e}");
            1
        }
    }
}

/// `amocrm sample-panel [--generate C,P,S]`.
pub fn sample_panel(paths: &Paths, args: &[String]) -> i32 {
    let mut opts = db::sample::SampleOptions::default();
    match args {
        [] => {}
        [flag, size] if flag == "--generate" => {
            let n: Vec<Option<usize>> = size.split(',').map(|s| s.trim().parse().ok()).collect();
            match n.as_slice() {
                [Some(c), Some(p), Some(s)] => {
                    opts.generate = Some(db::sample::Size {
                        clients: *c,
                        legal_payers: *p,
                        services: *s,
                    })
                }
                _ => return usage(),
            }
        }
        _ => return usage(),
    }
    crate::log::init(paths, Which::Action, true);
    let settings = match config::Sources::read_conf(paths).hook() {
        Ok(l) => l.database,
        Err(problems) => {
            eprintln!("amocrm: configuration problems (run `amocrm check`):\n{problems}");
            return 1;
        }
    };
    let target = match db::target(&settings, paths) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("amocrm: {e}");
            return 1;
        }
    };
    match db::sample::create(&target, &opts) {
        Ok(report) => {
            println!("sample panel created: {report}");
            0
        }
        Err(e) => {
            eprintln!("amocrm: {e}");
            1
        }
    }
}

/// amocrm.conf, or `None` once its problems are printed (the command then exits 1).
fn load_config(paths: &Paths) -> Option<config::Config> {
    config::Sources::read(paths)
        .config()
        .inspect_err(|problems| {
            eprintln!("amocrm: configuration problems (run `amocrm check`):\n{problems}");
        })
        .ok()
}
