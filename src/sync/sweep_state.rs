//! When the sweep last ran and what it queued, kept in `var/amocrm_sweep.json` for
//! `amocrm status` and for `amocrm task`, which runs the next sweep once `[sync]
//! reconcile` minutes have passed; and the lock that keeps two sweeps from running at once.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::paths::Paths;

/// After a sweep that failed (amoCRM's fields unreadable, the database gone), the next
/// try waits this long (seconds), so that the cron entry and panel events do not retry it
/// every minute.
pub const RETRY_SECS: i64 = 300;

pub fn state_file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_sweep.json")
}

fn lock_file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_sweep.lock")
}

/// New and changed entities queued, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(default)]
    pub new: u64,
    #[serde(default)]
    pub changed: u64,
    /// Removed in amoCRM since the sweep before.
    #[serde(default)]
    pub removed: u64,
    /// Services as last sent with a `[tasks]` rule's task to set.
    #[serde(default)]
    pub task: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.new + self.changed + self.removed + self.task
    }
}

/// What one sweep found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Entities read from the panel.
    pub examined: u64,
    /// Queued, by kind (`account`, `profile`, `item`).
    pub queued: BTreeMap<String, Counts>,
    /// Linked, and the same as last sent.
    pub unchanged: u64,
    /// Not for amoCRM: their condition, never synced, or their client kept out.
    pub kept_out: u64,
    /// A job of theirs waits in the queue already: it sends what they are now.
    pub waiting: u64,
}

impl Tally {
    pub fn queued_total(&self) -> u64 {
        self.queued.values().map(Counts::total).sum()
    }

    /// `3 queued (account: 1 new; item: 2 changed)`, or `nothing queued`.
    pub fn describe(&self) -> String {
        if self.queued_total() == 0 {
            return "nothing queued".into();
        }
        let kinds: Vec<String> = (self.queued.iter())
            .filter(|(_, c)| c.total() > 0)
            .map(|(kind, c)| {
                let parts: Vec<String> = [("new", c.new), ("changed", c.changed)]
                    .into_iter()
                    .chain([
                        ("removed in amoCRM", c.removed),
                        ("with a task due", c.task),
                    ])
                    .filter(|(_, n)| *n > 0)
                    .map(|(why, n)| format!("{n} {why}"))
                    .collect();
                format!("{kind}: {}", parts.join(", "))
            })
            .collect();
        format!("{} queued ({})", self.queued_total(), kinds.join("; "))
    }
}

/// A sweep that ran to its end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSweep {
    pub started_at: i64,
    pub finished_at: i64,
    /// `task` (due by `[sync] reconcile`) or `sync --changed`.
    pub by: String,
    #[serde(flatten)]
    pub tally: Tally,
}

/// A sweep that stopped before its end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub at: i64,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepState {
    /// When the first `amocrm task` found no state: sweeps are counted from there, so the
    /// first comes `reconcile` minutes after the module is installed or upgraded.
    pub since: i64,
    pub last: Option<LastSweep>,
    /// The last try failed (after `last`, if any).
    pub failed: Option<Failure>,
    /// The start of the last sweep that read what amoCRM removed: the next reads from there,
    /// so a sweep that could not read them leaves no gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_from: Option<i64>,
}

impl SweepState {
    pub fn load(paths: &Paths) -> Option<SweepState> {
        let text = std::fs::read_to_string(state_file(paths)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Never seen half-written (see [`crate::paths::write_json`]).
    pub fn save(&self, paths: &Paths) {
        let path = state_file(paths);
        if let Err(e) = crate::paths::write_json(&path, self) {
            log::warn!("cannot write {}: {e}", path.display());
        }
    }

    /// When the next sweep is due, `reconcile` minutes after the last one started (or
    /// after `since`), later if the last try failed; `None` when sweeps are off.
    pub fn next_due(&self, reconcile_minutes: u32) -> Option<i64> {
        if reconcile_minutes == 0 {
            return None;
        }
        let from = self.last.as_ref().map_or(self.since, |l| l.started_at);
        let due = from + i64::from(reconcile_minutes) * 60;
        let retry = self.failed.as_ref().map_or(i64::MIN, |f| f.at + RETRY_SECS);
        Some(due.max(retry))
    }

    pub fn is_due(&self, reconcile_minutes: u32, now: i64) -> bool {
        self.next_due(reconcile_minutes).is_some_and(|at| at <= now)
    }

    /// The `sweep` part of `amocrm status --json`.
    pub fn report(&self, reconcile_minutes: u32) -> Value {
        let ts = crate::log::timestamp;
        let mut out = json!({"reconcile": reconcile_minutes});
        if let Some(l) = &self.last {
            out["last_at"] = json!(l.started_at);
            out["last"] = json!(ts(l.started_at));
            out["took_s"] = json!(l.finished_at - l.started_at);
            out["by"] = json!(l.by);
            out["queued"] = json!(l.tally.queued);
            out["queued_total"] = json!(l.tally.queued_total());
            for (k, v) in [
                ("examined", l.tally.examined),
                ("unchanged", l.tally.unchanged),
                ("kept_out", l.tally.kept_out),
                ("waiting", l.tally.waiting),
            ] {
                out[k] = json!(v);
            }
        }
        if let Some(f) = &self.failed {
            out["failed_at"] = json!(f.at);
            out["error"] = json!(f.error);
        }
        if let Some(at) = self.next_due(reconcile_minutes) {
            out["next_at"] = json!(at);
            out["next"] = json!(ts(at));
        }
        out
    }
}

/// The `sweep` part of `amocrm status --json` when no state was kept yet.
pub fn report(paths: &Paths, reconcile_minutes: u32) -> Value {
    match SweepState::load(paths) {
        Some(s) => s.report(reconcile_minutes),
        None => json!({"reconcile": reconcile_minutes}),
    }
}

/// The `sweep:` line of `amocrm status`.
pub fn status_line(s: &Value) -> String {
    let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
    let mut line = match s["last_at"].as_i64() {
        Some(_) => {
            let tally: Tally = serde_json::from_value(s.clone()).unwrap_or_default();
            format!(
                "last {} ({} s, by {}): {}, {} unchanged",
                text("last"),
                s["took_s"].as_i64().unwrap_or(0),
                text("by"),
                tally.describe(),
                tally.unchanged
            )
        }
        None => "no sweep yet".into(),
    };
    if let Some(e) = s["error"].as_str() {
        line.push_str(&format!("; the last try FAILED: {e}"));
    }
    match s["next"].as_str() {
        _ if s["reconcile"].as_u64() == Some(0) => line.push_str("; off ([sync] reconcile = 0)"),
        Some(next) => line.push_str(&format!("; next due {next}")),
        None => line.push_str("; the first is due an interval after the next worker run"),
    }
    line
}

/// Held while a sweep runs; the kernel drops it however the process ends.
pub struct SweepLock {
    _file: File,
}

impl SweepLock {
    /// The lock, `Ok(None)` when another sweep holds it.
    pub fn try_acquire(paths: &Paths) -> std::io::Result<Option<SweepLock>> {
        std::fs::create_dir_all(paths.var_dir())?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_file(paths))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SweepLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swept(at: i64) -> SweepState {
        SweepState {
            since: 0,
            last: Some(LastSweep {
                started_at: at,
                finished_at: at + 2,
                by: "task".into(),
                tally: Tally::default(),
            }),
            failed: None,
            removed_from: None,
        }
    }

    #[test]
    fn due_an_interval_after_the_last_start_and_never_when_off() {
        let s = swept(10_000);
        assert!(!s.is_due(60, 10_000 + 3599));
        assert!(s.is_due(60, 10_000 + 3600));
        assert!(!s.is_due(0, i64::MAX / 2), "reconcile = 0: never");
        let fresh = SweepState {
            since: 500,
            ..SweepState::default()
        };
        assert_eq!(fresh.next_due(60), Some(500 + 3600), "counted from `since`");
    }

    #[test]
    fn a_failed_try_waits_before_the_next() {
        let mut s = swept(0);
        s.failed = Some(Failure {
            at: 7200,
            error: "amoCRM is unreachable".into(),
        });
        assert!(!s.is_due(60, 7200 + RETRY_SECS - 1));
        assert!(s.is_due(60, 7200 + RETRY_SECS));
    }

    #[test]
    fn kept_and_reported_with_counts_by_kind_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(SweepState::load(&paths), None);
        let mut s = swept(1000);
        let tally = &mut s.last.as_mut().unwrap().tally;
        tally.queued.insert(
            "item".into(),
            Counts {
                changed: 2,
                ..Counts::default()
            },
        );
        tally.queued.insert(
            "account".into(),
            Counts {
                new: 1,
                ..Counts::default()
            },
        );
        tally.unchanged = 9;
        s.save(&paths);
        assert_eq!(SweepState::load(&paths).as_ref(), Some(&s));
        let r = report(&paths, 60);
        assert_eq!(r["queued"]["item"]["changed"], 2);
        assert_eq!(
            (r["queued_total"].as_u64(), r["last_at"].as_i64()),
            (Some(3), Some(1000))
        );
        assert_eq!(r["next_at"], 1000 + 3600);
        let line = status_line(&r);
        assert!(
            line.contains("3 queued (account: 1 new; item: 2 changed), 9 unchanged"),
            "{line}"
        );
        assert!(status_line(&report(&paths, 0)).ends_with("off ([sync] reconcile = 0)"));
    }

    #[test]
    fn one_sweep_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let first = SweepLock::try_acquire(&paths).unwrap();
        assert!(first.is_some());
        assert!(SweepLock::try_acquire(&paths).unwrap().is_none());
        drop(first);
        assert!(SweepLock::try_acquire(&paths).unwrap().is_some());
    }
}
