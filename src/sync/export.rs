//! The full export's progress (`amocrm sync --all`), for the panel's export screen.
//!
//! The exporting process holds `var/amocrm_export.lock` for its whole life (the kernel
//! drops it however the process ends, so "running" is never stale) and keeps
//! `var/amocrm_export.json` current: when it started, how many entities it queued, and
//! the queue's counts once queueing was over, so that what was sent since can be told
//! from the queue itself. At the end it records the final counts and how the run ended.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::db::{PanelDb, QueueSummary};
use crate::paths::Paths;

pub fn progress_file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_export.json")
}

pub fn lock_file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_export.lock")
}

/// What an export did so far, as `var/amocrm_export.json` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportProgress {
    pub pid: u32,
    pub started_at: i64,
    /// Entities queued so far.
    pub queued: u64,
    /// Still reading the panel's ids and queueing them.
    pub queueing: bool,
    /// The queue's done / skipped / failed counts right after queueing: what changes
    /// from there on is the export's doing.
    pub base_done: i64,
    pub base_skipped: i64,
    pub base_failed: i64,
    pub finished_at: Option<i64>,
    /// How it ended: `ok`, `disabled`, `stopped`, `config`, `busy` or `error`.
    pub result: String,
    pub message: String,
    /// The counts when it ended (the queue moves on afterwards).
    pub last: Option<ExportCounts>,
}

/// Jobs sent, not sent by the rules, failed and still waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCounts {
    pub sent: i64,
    pub skipped: i64,
    pub failed: i64,
    pub remaining: i64,
}

impl ExportProgress {
    pub fn load(paths: &Paths) -> Option<ExportProgress> {
        let text = std::fs::read_to_string(progress_file(paths)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Never seen half-written (see [`crate::paths::write_json`]).
    fn save(&self, paths: &Paths) {
        let path = progress_file(paths);
        if let Err(e) = crate::paths::write_json(&path, self) {
            log::warn!("cannot write {}: {e}", path.display());
        }
    }

    /// The counts now, from the queue's: done and skipped since queueing ended, failed
    /// beyond those failing before, and every job still waiting or being sent.
    pub fn counts(&self, s: &QueueSummary) -> ExportCounts {
        let remaining = (s.pending - s.failed) + s.taken;
        if self.queueing {
            return ExportCounts {
                remaining,
                ..ExportCounts::default()
            };
        }
        ExportCounts {
            sent: (s.done - self.base_done).max(0),
            skipped: (s.skipped - self.base_skipped).max(0),
            failed: (s.failed - self.base_failed).max(0),
            remaining,
        }
    }
}

/// Where the export is, for the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportState {
    /// Never run on this panel.
    Idle,
    Queueing,
    Sending,
    Finished,
    /// The process ended without recording an end (killed, or the machine restarted).
    Interrupted,
}

/// The state and the progress file, read together.
pub fn status(paths: &Paths) -> (ExportState, Option<ExportProgress>) {
    let progress = ExportProgress::load(paths);
    let state = if is_running(paths) {
        // Until the new process writes its file, the file may still be the last run's.
        match &progress {
            Some(p) if !p.queueing && p.finished_at.is_none() => ExportState::Sending,
            _ => ExportState::Queueing,
        }
    } else {
        match &progress {
            None => ExportState::Idle,
            Some(p) if p.finished_at.is_some() => ExportState::Finished,
            Some(_) => ExportState::Interrupted,
        }
    };
    (state, progress)
}

/// Whether an export runs now (its lock cannot be taken).
pub fn is_running(paths: &Paths) -> bool {
    let Ok(file) = OpenOptions::new().write(true).open(lock_file(paths)) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

/// An export under way in this process: holds the lock and writes the progress.
pub struct ExportRun {
    _lock: File,
    paths: Paths,
    progress: ExportProgress,
}

impl ExportRun {
    /// Takes the export lock and records the start; the error says why it cannot.
    pub fn start(paths: &Paths) -> Result<ExportRun, String> {
        let path = lock_file(paths);
        let opened = std::fs::create_dir_all(paths.var_dir()).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        });
        let file = opened.map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let since = ExportProgress::load(paths)
                    .map(|p| {
                        format!(
                            " (pid {}, started {})",
                            p.pid,
                            crate::log::timestamp(p.started_at)
                        )
                    })
                    .unwrap_or_default();
                return Err(format!("a full export is already running{since}"));
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
        let run = ExportRun {
            _lock: file,
            paths: paths.clone(),
            progress: ExportProgress {
                pid: std::process::id(),
                started_at: crate::log::now(),
                queueing: true,
                ..ExportProgress::default()
            },
        };
        run.progress.save(paths);
        Ok(run)
    }

    pub fn queued(&mut self, n: usize) {
        self.progress.queued += n as u64;
        self.progress.save(&self.paths);
    }

    /// Queueing is over: remembers the queue's counts to measure the sending against.
    pub fn queueing_done(&mut self, db: &mut dyn PanelDb) {
        match db.queue_summary(crate::log::now()) {
            Ok(s) => {
                self.progress.base_done = s.done;
                self.progress.base_skipped = s.skipped;
                self.progress.base_failed = s.failed;
            }
            Err(e) => log::warn!("export: cannot read the queue's counts: {e}"),
        }
        self.progress.queueing = false;
        self.progress.save(&self.paths);
    }

    /// Waits for a worker that runs already (a panel event woke it), so that this export
    /// runs its own worker afterwards and ends only when its jobs are through.
    pub fn wait_for_worker(&self) {
        if !super::lock::is_held(&self.paths) {
            return;
        }
        eprintln!("a worker is running; waiting for it to finish");
        while super::lock::is_held(&self.paths) {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// Records the end: how the worker's run ended (its state file) and the counts.
    pub fn finish(mut self, db: Option<&mut dyn PanelDb>, error: Option<&str>) {
        let p = &mut self.progress;
        let run =
            super::state::RunState::load(&self.paths).filter(|s| s.finished_at >= p.started_at);
        (p.result, p.message) = match (error, run) {
            (Some(e), _) => ("error".into(), e.to_string()),
            (None, Some(s)) => (s.result, s.message),
            // No run of its own ended after the start: another worker had the lock.
            (None, None) => ("busy".into(), "another worker sends the queued jobs".into()),
        };
        if let Some(db) = db {
            match db.queue_summary(crate::log::now()) {
                Ok(s) => p.last = Some(p.counts(&s)),
                Err(e) => log::warn!("export: cannot read the queue's counts: {e}"),
            }
        }
        p.finished_at = Some(crate::log::now());
        log::info!(
            "export finished ({}): {} queued{}",
            p.result,
            p.queued,
            p.last
                .map(|c| format!(
                    ", {} sent, {} skipped, {} failed, {} waiting",
                    c.sent, c.skipped, c.failed, c.remaining
                ))
                .unwrap_or_default()
        );
        // Saved while the lock is still held: once it is free, the file tells the end.
        p.save(&self.paths);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_export_at_a_time_and_its_end_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(status(&paths).0, ExportState::Idle);
        let mut run = ExportRun::start(&paths).unwrap();
        assert!(is_running(&paths));
        assert_eq!(status(&paths).0, ExportState::Queueing);
        let second = ExportRun::start(&paths).err().unwrap();
        assert!(
            second.starts_with("a full export is already running (pid"),
            "{second}"
        );
        run.queued(3);
        run.progress.queueing = false;
        run.progress.save(&paths);
        assert_eq!(status(&paths).0, ExportState::Sending);
        run.finish(None, Some("database gone"));
        let (state, p) = status(&paths);
        assert_eq!(state, ExportState::Finished);
        let p = p.unwrap();
        assert_eq!((p.queued, p.result.as_str()), (3, "error"));
        assert_eq!(p.pid, std::process::id());
    }

    #[test]
    fn an_end_never_recorded_is_an_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        drop(ExportRun::start(&paths).unwrap());
        assert_eq!(status(&paths).0, ExportState::Interrupted);
    }

    #[test]
    fn counts_are_measured_from_the_end_of_queueing() {
        let p = ExportProgress {
            base_done: 5,
            base_skipped: 1,
            base_failed: 2,
            ..ExportProgress::default()
        };
        let s = QueueSummary {
            pending: 4, // 1 of them failed
            failed: 1,
            taken: 2,
            done: 12,
            skipped: 3,
            ..QueueSummary::default()
        };
        assert_eq!(
            p.counts(&s),
            ExportCounts {
                sent: 7,
                skipped: 2,
                failed: 0,
                remaining: 5
            }
        );
    }
}
