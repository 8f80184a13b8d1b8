//! Asking the panel: `sbin/mgrctl -m billmgr paramlist out=xml`, run from `MGR_ROOT` as
//! ISPsystem's Python library runs it (ea0hw33/billmgr `billmgr/misc.py` `MgrctlXml`:
//! `sbin/mgrctl -m billmgr <func> out=xml` with the panel's root as the working
//! directory; a non-zero exit is a failed call).
//!
//! The panel may be down or stuck: the answer is awaited for [`DEADLINE`], then mgrctl
//! and whatever it started (its own process group) are killed. A process asks at most
//! once per root; the answer, or the failure, is kept for its later openings.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// Ample for a list of settings from a busy panel, short enough that a stuck panel does
/// not hold up a command (or the panel's screen that asked) for long.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// More than any settings list; an answer this long is not one.
const MAX_ANSWER: u64 = 1 << 20;

/// The panel's answer, or why there is none.
type Answer = Result<Vec<u8>, String>;

/// The answers this process got, by mgrctl's path.
static ASKED: Mutex<Option<HashMap<PathBuf, Answer>>> = Mutex::new(None);

/// The panel's answer (its standard output), or why there is none, worded for the
/// "looked in" list: `exited with status 1`, `did not answer within 5 s`.
pub fn paramlist(mgrctl: &Path, root: &Path) -> Answer {
    let mut asked = ASKED.lock().unwrap_or_else(|e| e.into_inner());
    let answers = asked.get_or_insert_with(HashMap::new);
    if let Some(answer) = answers.get(mgrctl) {
        return answer.clone();
    }
    let answer = ask(mgrctl, root, DEADLINE);
    answers.insert(mgrctl.to_path_buf(), answer.clone());
    answer
}

/// Runs it once, waits up to `deadline`.
fn ask(mgrctl: &Path, root: &Path, deadline: Duration) -> Answer {
    let started = Instant::now();
    let mut child = Command::new(mgrctl)
        .args(["-m", "billmgr", "paramlist", "out=xml"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a kill reaches what it started too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let out = collect(child.stdout.take());
    let err = collect(child.stderr.take());
    let Some(status) = wait(&mut child, started + deadline) else {
        kill(&mut child);
        return Err(format!("did not answer within {}", seconds(deadline)));
    };
    // It has exited: its output is complete, or a moment away.
    let remaining = (started + deadline).saturating_duration_since(Instant::now());
    let stdout = out
        .recv_timeout(remaining.max(Duration::from_millis(200)))
        .unwrap_or_default();
    if !status.success() {
        let stderr = err.recv_timeout(Duration::from_millis(100));
        return Err(failed(status, &stderr.unwrap_or_default()));
    }
    Ok(stdout)
}

/// `5 s`, `0.3 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", (d.as_millis() as f64 / 100.0).round() / 10.0)
}

/// Reads a stream to its end on a thread of its own; the bytes arrive on the channel.
/// A stream a stray grandchild keeps open never blocks the caller, who waits on the
/// channel with a timeout.
fn collect<R: Read + Send + 'static>(stream: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(stream) = stream {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.take(MAX_ANSWER).read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
}

/// The exit status, or `None` at the deadline.
fn wait(child: &mut Child, until: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Kills mgrctl's process group and reaps mgrctl.
fn kill(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: a signal to the process group this process created for the child.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `exited with status 1: <its first line on stderr>`.
fn failed(status: std::process::ExitStatus, stderr: &[u8]) -> String {
    let said = String::from_utf8_lossy(stderr);
    let first: String = said
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    let how = match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "was killed".to_string(),
    };
    if first.is_empty() {
        how
    } else {
        format!("{how}: {}", first.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("mgrctl");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn an_answer_is_its_output() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = script(
            dir.path(),
            "[ \"$*\" = '-m billmgr paramlist out=xml' ] && pwd",
        );
        let out = ask(&m, dir.path(), DEADLINE).expect("answer");
        let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(String::from_utf8_lossy(&out).trim(), cwd.to_string_lossy());
    }

    #[test]
    fn a_failure_says_how() {
        let dir = tempfile::tempdir().expect("tmp");
        let m = script(dir.path(), "echo 'panel is down' >&2; exit 3");
        assert_eq!(
            ask(&m, dir.path(), DEADLINE).expect_err("fails"),
            "exited with status 3: panel is down"
        );
        let missing = dir.path().join("none");
        assert!(
            ask(&missing, dir.path(), DEADLINE)
                .expect_err("missing")
                .starts_with("cannot run")
        );
    }

    #[test]
    fn a_stuck_panel_is_given_up_and_killed_with_what_it_started() {
        let dir = tempfile::tempdir().expect("tmp");
        let pidfile = dir.path().join("child.pid");
        let m = script(
            dir.path(),
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
        );
        let started = Instant::now();
        let e = ask(&m, dir.path(), Duration::from_millis(300)).expect_err("stuck");
        assert_eq!(e, "did not answer within 0.3 s");
        assert_eq!(seconds(DEADLINE), "5 s");
        assert!(started.elapsed() < Duration::from_secs(3));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("number");
        // The grandchild went with the group: gone, or dead and not reaped yet.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(") ")
                .is_none_or(|(_, rest)| rest.starts_with('Z'))
        });
        assert!(gone, "sleep {pid} still runs");
    }
}
