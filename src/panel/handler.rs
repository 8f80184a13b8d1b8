//! The handler the panel runs on every event it was told to call us for. It records the
//! job, wakes the worker and hands the panel its document back unchanged. It never talks
//! to amoCRM, never reads the presets, and never fails the panel's operation.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

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
        release_stdio();
        wake_worker(paths);
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
    let (settings, enabled) = match crate::config::load_light(paths) {
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

/// Starts `amocrm task` in the background unless a worker already runs; never waits.
pub fn wake_worker(paths: &Paths) {
    if crate::sync::lock::is_held(paths) {
        // The running worker looks at the queue again before it exits.
        return;
    }
    if let Err(e) = start_worker(paths) {
        log::error!("cannot start the worker: {e}");
    }
}

/// Points standard input, output and error at /dev/null: nothing this process starts
/// from here on holds the panel's pipes. Only async-signal-safe calls: a forked child
/// makes it too.
fn release_stdio() {
    // SAFETY: plain descriptor calls on a descriptor this function opened.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null < 0 {
            return;
        }
        for fd in 0..=2 {
            libc::dup2(null, fd);
        }
        // A standard stream that was closed got /dev/null itself: it stays open.
        if null > 2 {
            libc::close(null);
        }
    }
}

/// The woken worker's niceness: sending to amoCRM is background work, and a worker that
/// shares a CPU with the hook that woke it (or with the panel) gives way at once.
const WORKER_NICE: libc::c_int = 10;

/// `amocrm task` as a child that this process does not wait for, not even for its exec
/// (std's spawn waits for it, to report exec errors): whenever the new worker took the
/// CPU first, that wait cost the panel hook up to a scheduler tick, 4 ms. The child gets
/// a process group of its own, /dev/null for its standard streams and [`WORKER_NICE`].
/// It is not reaped here: every caller is a panel call that ends right after. An exec
/// that fails ends the child with 127; the next event, or the periodic `amocrm task`,
/// starts a worker again.
fn start_worker(paths: &Paths) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cstring = |bytes: Vec<u8>| CString::new(bytes).map_err(std::io::Error::other);
    let exe = cstring(std::env::current_exe()?.as_os_str().as_bytes().to_vec())?;
    let task = cstring(b"task".to_vec())?;
    let mut vars = vec![cstring(
        [b"MGR_ROOT=".as_slice(), paths.root.as_os_str().as_bytes()].concat(),
    )?];
    for (k, v) in std::env::vars_os().filter(|(k, _)| k != "MGR_ROOT") {
        if let Ok(var) = cstring([k.as_bytes(), b"=", v.as_bytes()].concat()) {
            vars.push(var);
        }
    }
    // Everything the child needs is built before the fork: after it, the child makes only
    // async-signal-safe calls.
    let argv = [exe.as_ptr(), task.as_ptr(), std::ptr::null()];
    let envp: Vec<*const libc::c_char> = vars
        .iter()
        .map(|v| v.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    // SAFETY: the child calls only setpgid, open, dup2, close, setpriority, execve and
    // _exit, all async-signal-safe, on data prepared above.
    unsafe {
        match libc::fork() {
            -1 => Err(std::io::Error::last_os_error()),
            0 => {
                libc::setpgid(0, 0);
                release_stdio();
                libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICE);
                libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127)
            }
            _ => Ok(()),
        }
    }
}

/// Runs this binary with `args` in the background, in its own process group, so the panel
/// neither waits for it nor signals it; stdin, stdout and stderr go nowhere. For a caller
/// that watches the child (the export form); a process group rather than a new session
/// lets std start it with posix_spawn.
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
