//! The spool (`var/amocrm_spool`): where the panel hook leaves its jobs. One appended line
//! and one fdatasync cost the hook a fraction of opening the database and committing to it
//! (on SQLite a first connection creates the write-ahead log and syncs three times; MariaDB
//! needs a connection). Whoever reads the queue next — the worker before each claim, the
//! panel screens, `status`, the admin commands — first moves the spool into `amocrm_queue`
//! ([`fold`]), so every reader sees every job.
//!
//! Writers hold a shared lock on the file while they write and sync; [`fold`] holds it
//! exclusively from its read to its truncate, so no line can land between the two and be
//! lost. A crash after the queue's commit but before the truncate moves the same lines
//! again: an upsert by entity, so nothing is doubled.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{DbResult, Lookup, NewJob, PanelDb};
use crate::model::EntityKind;
use crate::paths::Paths;

/// Lines moved into the queue per transaction: a spool that grew while nobody read the
/// queue is moved in steps of bounded memory.
const FOLD_CHUNK: usize = 1000;

/// One job as a line of the spool.
#[derive(Serialize, Deserialize)]
struct Line {
    /// When the hook saw the event (the queue row's times).
    at: i64,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lookup: Option<String>,
    event: String,
}

impl Line {
    fn of(job: &NewJob, at: i64) -> Line {
        Line {
            at,
            kind: job.kind.as_str().to_string(),
            id: job.billmgr_id,
            lookup: job.lookup.as_ref().map(Lookup::encode),
            event: job.event.clone(),
        }
    }

    /// The job a line of the spool holds, with its time; `None` for anything else (a line
    /// torn by a crash, an empty one).
    fn parse(line: &[u8]) -> Option<(NewJob, i64)> {
        serde_json::from_slice::<Line>(line).ok()?.job()
    }

    fn job(self) -> Option<(NewJob, i64)> {
        let lookup = match self.lookup {
            Some(l) => Some(Lookup::decode(&l)?),
            None => None,
        };
        if self.id.is_none() && lookup.is_none() {
            return None;
        }
        let job = NewJob {
            kind: EntityKind::parse(&self.kind)?,
            billmgr_id: self.id,
            lookup,
            event: self.event,
        };
        Some((job, self.at))
    }
}

/// What [`append`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// The jobs are in the spool, synced to disk.
    Spooled,
    /// A reader is moving the spool into the queue right now: the caller queues directly.
    Busy,
}

/// Appends the jobs, one line each, and syncs them to disk before it returns.
pub fn append(paths: &Paths, jobs: &[NewJob], at: i64) -> std::io::Result<Appended> {
    let mut text = String::new();
    for job in jobs {
        // Each line starts with a newline too: a line torn by a crash mid-write then
        // spoils only itself, never the next one written after it.
        text.push('\n');
        text.push_str(&serde_json::to_string(&Line::of(job, at)).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    let path = paths.spool();
    let mut file = match open_append(&path, false) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = open_append(&path, true)?;
            // A new file's name must survive a crash as well as its lines.
            if let Some(dir) = path.parent() {
                File::open(dir)?.sync_all()?;
            }
            file
        }
        other => other?,
    };
    match file.try_lock_shared() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Appended::Busy),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    Ok(Appended::Spooled)
}

fn open_append(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(create)
        .mode(0o600)
        .open(path)
}

/// Moves every job of the spool into the queue and empties the spool; returns how many
/// lines it moved. A line that cannot be read (torn by a crash) is logged and dropped. On a
/// database error the spool keeps every line for the next reader.
pub fn fold(paths: &Paths, db: &mut dyn PanelDb) -> DbResult<usize> {
    let path = paths.spool();
    // The common case, an empty spool, costs one stat and no lock.
    match std::fs::metadata(&path) {
        Ok(m) if m.len() > 0 => {}
        _ => return Ok(0),
    }
    let spool_error = |e: std::io::Error| super::DbError::Query(format!("{}: {e}", path.display()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(spool_error)?;
    file.lock().map_err(spool_error)?;
    let mut moved = 0;
    let mut chunk: Vec<(NewJob, i64)> = Vec::new();
    for (n, line) in BufReader::new(&file).split(b'\n').enumerate() {
        let line = line.map_err(spool_error)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match Line::parse(&line) {
            Some(job) => chunk.push(job),
            None => log::error!(
                "{}: line {} is not a job and is dropped: {}",
                path.display(),
                n + 1,
                super::sql::clip(&String::from_utf8_lossy(&line), 300)
            ),
        }
        if chunk.len() == FOLD_CHUNK {
            db.enqueue_each(&chunk)?;
            moved += chunk.len();
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        db.enqueue_each(&chunk)?;
        moved += chunk.len();
    }
    // Every line is in the queue: the spool starts again empty. The lock goes with `file`.
    file.set_len(0).map_err(spool_error)?;
    if moved > 0 {
        log::debug!("{moved} job(s) moved from the spool into the queue");
    }
    Ok(moved)
}

/// The jobs waiting in the spool, read without moving them: for `status` when the
/// database cannot be opened.
pub fn waiting(paths: &Paths) -> usize {
    let Ok(file) = File::open(paths.spool()) else {
        return 0;
    };
    BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .filter(|l| Line::parse(l).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Target, open};

    fn panel() -> (tempfile::TempDir, Paths, Box<dyn PanelDb>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let mut db = open(&Target::Sqlite(dir.path().join("panel.db"))).unwrap();
        db.ensure_schema().unwrap();
        (dir, paths, db)
    }

    #[test]
    fn spooled_jobs_reach_the_queue_with_their_time_and_the_spool_empties() {
        let (_dir, paths, mut db) = panel();
        let jobs = [
            NewJob::for_id(EntityKind::Item, 1001, "service.postopen"),
            NewJob::for_lookup(
                EntityKind::Account,
                Lookup::Login("new\tclient\n@example.ru".into()),
                "register",
            ),
        ];
        assert_eq!(
            append(&paths, &jobs, 1_700_000_000).unwrap(),
            Appended::Spooled
        );
        assert_eq!(waiting(&paths), 2);
        assert_eq!(fold(&paths, db.as_mut()).unwrap(), 2);
        assert_eq!(waiting(&paths), 0);
        assert_eq!(std::fs::metadata(paths.spool()).unwrap().len(), 0);
        let mut got: Vec<(String, String, i64)> = db
            .list_jobs(&["pending"], 10)
            .unwrap()
            .into_iter()
            .map(|j| (j.key, j.event, j.updated_at))
            .collect();
        got.sort();
        let want = |j: &NewJob| (j.key(), j.event.clone(), 1_700_000_000);
        assert_eq!(got, vec![want(&jobs[1]), want(&jobs[0])]);
        // Nothing more to move: no lock, no transaction.
        assert_eq!(fold(&paths, db.as_mut()).unwrap(), 0);
    }

    #[test]
    fn appends_racing_with_moves_lose_nothing() {
        let (_dir, paths, mut db) = panel();
        let (writers, each) = (4, 150);
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for w in 0..writers {
                let (paths, done) = (&paths, &done);
                s.spawn(move || {
                    for i in 0..each {
                        let job = NewJob::for_id(EntityKind::Item, w * 10_000 + i, "vds.open");
                        // Busy: a reader holds the spool; the hook would queue directly, so
                        // here it tries again.
                        while append(paths, std::slice::from_ref(&job), 1).unwrap()
                            == Appended::Busy
                        {}
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            while done.load(std::sync::atomic::Ordering::SeqCst) < writers as usize {
                fold(&paths, db.as_mut()).unwrap();
            }
        });
        fold(&paths, db.as_mut()).unwrap();
        let queued = db.count_jobs(&["pending"]).unwrap();
        assert_eq!(queued, writers * each);
    }
}
