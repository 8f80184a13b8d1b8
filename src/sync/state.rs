//! Why the last run stopped, kept in `var/amocrm_state.json` so `amocrm status` can tell
//! the admin why jobs wait even when no worker runs.

use serde::{Deserialize, Serialize};

use crate::paths::Paths;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Unix time the last run ended.
    pub finished_at: i64,
    /// `ok`, `stopped` (amoCRM refused or was unreachable), `disabled`, `config`.
    pub result: String,
    /// What happened, for the admin.
    pub message: String,
    /// What the admin should do, if anything.
    pub action: String,
    /// Stopped because amoCRM refused or did not answer: resolved once it answers again.
    #[serde(default)]
    pub stopped_by_access: bool,
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl RunState {
    pub fn load(paths: &Paths) -> Option<RunState> {
        let text = std::fs::read_to_string(paths.run_state()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Never seen half-written (see [`crate::paths::write_json`]).
    pub fn save(&self, paths: &Paths) {
        let _ = crate::paths::write_json(&paths.run_state(), self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(RunState::load(&paths), None);
        let s = RunState {
            finished_at: 5,
            result: "stopped".into(),
            message: "402".into(),
            ..Default::default()
        };
        s.save(&paths);
        assert_eq!(RunState::load(&paths), Some(s));
    }
}
