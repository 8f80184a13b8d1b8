//! The handler the panel runs on every event it was told to call us for. It records the
//! job, wakes the worker and hands the panel its document back unchanged. It never talks
//! to amoCRM, never reads the presets, and never fails the panel's operation.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::doc::{self, DocInfo};
use super::events::{self, Decision};
use super::request::Request;
use crate::db::{self, NewJob};
use crate::paths::Paths;

/// Runs one panel call: reads stdin, answers on stdout. Always exits 0 for events: the
/// panel's own change is already committed, and a failure here must not be shown as its.
pub fn run_handler(paths: &Paths) -> i32 {
    let mut input = Vec::new();
    let read = std::io::stdin().read_to_end(&mut input);
    crate::log::init(paths, crate::log::Which::Action, false);
    if let Err(e) = read {
        log::error!("handler: cannot read the panel's document: {e}");
    }
    let req = Request::from_env();

    let answer: Vec<u8> = if is_own_function(&req) {
        super::ui::run(paths, &req, &input).into_bytes()
    } else {
        // Whatever happens inside, the panel gets its document back.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle_event(paths, &req, &input)
        }));
        if outcome.is_err() {
            log::error!(
                "{}: internal error while queueing; the panel's document was passed through",
                req.func
            );
        }
        if input.iter().all(u8::is_ascii_whitespace) {
            doc::EMPTY_DOC.as_bytes().to_vec()
        } else {
            input
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&answer).and_then(|_| out.flush()) {
        log::error!("{}: cannot answer the panel: {e}", req.func);
    }
    0
}

fn is_own_function(req: &Request) -> bool {
    req.func.starts_with("amocrm.") || req.event_type.as_deref() == Some("action")
}

fn handle_event(paths: &Paths, req: &Request, input: &[u8]) {
    let info: DocInfo = doc::inspect(input);
    match events::decide(req, &info) {
        Decision::Ignore(why) => log::debug!("{}: nothing to queue: {why}", display_func(req)),
        Decision::Queue(jobs) => {
            let keys: Vec<String> = jobs.iter().map(NewJob::key).collect();
            match enqueue(paths, &jobs) {
                Ok(enabled) => {
                    log::info!("{}: queued {}", display_func(req), keys.join(", "));
                    if enabled {
                        wake_worker(paths);
                    }
                }
                Err(e) => log::error!(
                    "{}: could not queue {}: {e}",
                    display_func(req),
                    keys.join(", ")
                ),
            }
        }
    }
}

fn display_func(req: &Request) -> &str {
    if req.func.is_empty() {
        "(no function)"
    } else {
        &req.func
    }
}

/// Records the jobs; returns whether syncing is enabled.
fn enqueue(paths: &Paths, jobs: &[NewJob]) -> Result<bool, Box<dyn std::error::Error>> {
    let (settings, enabled) = match crate::config::load_light(paths) {
        Ok(light) => (light.database, light.sync_enabled),
        Err(problems) => {
            // The queue must not be lost over a typo elsewhere in the file: fall back to
            // the default database choice and say so.
            log::error!("amocrm.conf has problems (run `amocrm check`): {problems}");
            (crate::config::DatabaseSettings::default(), true)
        }
    };
    let target = db::target(&settings, paths)?;
    let mut db = db::open(&target)?;
    db.ensure_schema()?;
    db.enqueue(jobs, crate::log::now())?;
    if enabled {
        // The worker woken next closes the database after this and checkpoints then.
        db.defer_checkpoint();
    }
    Ok(enabled)
}

/// Starts `amocrm task` in the background unless a worker already runs; never waits.
pub fn wake_worker(paths: &Paths) {
    if crate::sync::lock::is_held(paths) {
        // The running worker looks at the queue again before it exits.
        return;
    }
    if let Err(e) = spawn_detached(paths, &["task"]) {
        log::error!("cannot start the worker: {e}");
    }
}

/// Runs this binary with `args` in the background, in its own process group, so the panel
/// neither waits for it nor signals it; stdin, stdout and stderr go nowhere. A process
/// group rather than a new session: std starts it with posix_spawn then, without copying
/// this process first, which halves what the start costs the panel hook.
pub fn spawn_detached(paths: &Paths, args: &[&str]) -> std::io::Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .env("MGR_ROOT", &paths.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.process_group(0);
    cmd.spawn()
}
