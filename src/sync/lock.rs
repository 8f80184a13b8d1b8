//! The worker's lock: one worker at a time, held for the life of the process. The kernel
//! drops it when the process dies, however it dies, so no lock is ever stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use crate::paths::Paths;

pub struct WorkerLock {
    _file: File,
    pub path: PathBuf,
}

impl WorkerLock {
    /// Takes the lock, or `None` when another worker holds it.
    pub fn try_acquire(paths: &Paths) -> std::io::Result<Option<WorkerLock>> {
        let path = paths.worker_lock();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {
                // With its pair in `drop`, the debug log shows who held the lock when.
                log::debug!("worker lock taken");
                Ok(Some(WorkerLock { _file: file, path }))
            }
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for WorkerLock {
    fn drop(&mut self) {
        // Written before the file closes and the kernel lets the next worker in.
        log::debug!("worker lock released");
    }
}

/// Whether a worker runs now (a lock file that cannot be taken).
pub fn is_held(paths: &Paths) -> bool {
    let Ok(file) = OpenOptions::new().write(true).open(paths.worker_lock()) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert!(!is_held(&paths));
        let first = WorkerLock::try_acquire(&paths).unwrap();
        assert!(first.is_some());
        assert!(WorkerLock::try_acquire(&paths).unwrap().is_none());
        assert!(is_held(&paths));
        drop(first);
        assert!(!is_held(&paths));
        assert!(WorkerLock::try_acquire(&paths).unwrap().is_some());
    }
}
