//! Starting the module's own background work from a panel call: the worker after an event
//! or an admin's retry, the full export from its form. The panel's call never waits for
//! either.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::paths::Paths;

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
pub fn release_stdio() {
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
