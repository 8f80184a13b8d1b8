//! The handler the panel runs on every event it was told to call us for. It records the
//! job, wakes the worker and hands the panel its document back unchanged. It never talks
//! to amoCRM, never reads the presets, and never fails the panel's operation.

use std::io::{Read, Write};

use super::doc::{self, DocInfo};
use super::events::{self, Decision};
use super::request::Request;
use crate::db::{self, NewJob, spool::Appended};
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

    let mut wake = false;
    let answer: Vec<u8> = if is_own_function(&req) {
        super::ui::run(paths, &req, &input).into_bytes()
    } else {
        // Whatever happens inside, the panel gets its document back.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle_event(paths, &req, &input)
        }));
        match outcome {
            Ok(w) => wake = w,
            Err(_) => log::error!(
                "{}: internal error while queueing; the panel's document was passed through",
                req.func
            ),
        }
        if input.iter().all(u8::is_ascii_whitespace) {
            doc::EMPTY_DOC.as_bytes().to_vec()
        } else {
            input
        }
    };
    {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(&answer).and_then(|_| out.flush()) {
            log::error!("{}: cannot answer the panel: {e}", req.func);
        }
    }
    if wake {
        // The panel has its answer: its pipes are let go before the worker starts, so
        // that the panel sees the end of the answer when this process ends.
        crate::sync::wake::release_stdio();
        crate::sync::wake::wake_worker(paths);
    }
    0
}

fn is_own_function(req: &Request) -> bool {
    req.func.starts_with("amocrm.") || req.event_type.as_deref() == Some("action")
}

/// Queues what the event calls for; returns whether the worker is to be woken.
fn handle_event(paths: &Paths, req: &Request, input: &[u8]) -> bool {
    let info: DocInfo = doc::inspect(input);
    match events::decide(req, &info) {
        Decision::Ignore(why) => {
            log::debug!("{}: nothing to queue: {why}", display_func(req));
            false
        }
        Decision::Queue(jobs) => {
            let keys: Vec<String> = jobs.iter().map(NewJob::key).collect();
            match enqueue(paths, &jobs) {
                Ok(enabled) => {
                    log::info!("{}: queued {}", display_func(req), keys.join(", "));
                    enabled
                }
                Err(e) => {
                    log::error!(
                        "{}: could not queue {}: {e}",
                        display_func(req),
                        keys.join(", ")
                    );
                    false
                }
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

/// Records the jobs in the spool (in the queue itself while a reader empties the spool, or
/// if the spool cannot be written); returns whether syncing is enabled.
fn enqueue(paths: &Paths, jobs: &[NewJob]) -> Result<bool, Box<dyn std::error::Error>> {
    let (settings, enabled) = match crate::config::Sources::read_conf(paths).hook() {
        Ok(light) => (light.database, light.sync_enabled),
        Err(problems) => {
            // The queue must not be lost over a typo elsewhere in the file: fall back to
            // the default database choice and say so.
            log::error!("amocrm.conf has problems (run `amocrm check`): {problems}");
            (crate::config::DatabaseSettings::default(), true)
        }
    };
    let now = crate::log::now();
    match db::spool::append(paths, jobs, now) {
        Ok(Appended::Spooled) => {
            // The spool keeps the jobs until a reader opens the database: say so now if
            // none can, when that is certain without asking the panel, which is waiting
            // on this hook (the worker asks it, and says so in the task log).
            if let Some(e) = db::discover::missing_settings(&settings, paths) {
                log::error!("the jobs wait in {}: {e}", paths.spool().display());
            }
            return Ok(enabled);
        }
        // A reader is moving the spool into the queue this moment.
        Ok(Appended::Busy) => {}
        Err(e) => log::warn!(
            "cannot write {} ({e}); queueing in the database instead",
            paths.spool().display()
        ),
    }
    let target = db::target(&settings, paths)?;
    let mut db = db::open(&target)?;
    db.ensure_schema()?;
    db.enqueue(jobs, now)?;
    Ok(enabled)
}
