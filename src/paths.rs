//! The panel's file layout, rooted at `MGR_ROOT` (default `/usr/local/mgr5`), in one place.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/usr/local/mgr5";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    /// The layout under `MGR_ROOT`, or under the panel's default root.
    pub fn from_env() -> Paths {
        match std::env::var_os("MGR_ROOT") {
            Some(r) if !r.is_empty() => Paths::new(PathBuf::from(r)),
            _ => Paths::new(PathBuf::from(DEFAULT_ROOT)),
        }
    }

    pub fn new(root: impl Into<PathBuf>) -> Paths {
        Paths { root: root.into() }
    }

    /// A path from a setting: relative ones are taken from the root.
    pub fn resolve(&self, p: impl AsRef<Path>) -> PathBuf {
        let p = p.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    pub fn etc_dir(&self) -> PathBuf {
        self.root.join("etc/amocrm")
    }
    pub fn conf(&self) -> PathBuf {
        self.etc_dir().join("amocrm.conf")
    }
    pub fn presets_default(&self) -> PathBuf {
        self.etc_dir().join("presets.default")
    }
    pub fn presets_custom(&self) -> PathBuf {
        self.etc_dir().join("presets.custom")
    }
    pub fn access_token(&self) -> PathBuf {
        self.etc_dir().join("access_token")
    }
    pub fn refresh_token(&self) -> PathBuf {
        self.etc_dir().join("refresh_token")
    }
    /// Held exclusively while tokens are refreshed or exchanged.
    pub fn token_lock(&self) -> PathBuf {
        self.etc_dir().join(".token.lock")
    }
    pub fn var_dir(&self) -> PathBuf {
        self.root.join("var")
    }
    /// The panel hook's jobs until the next reader moves them into the queue.
    pub fn spool(&self) -> PathBuf {
        self.var_dir().join("amocrm_spool")
    }
    /// The rate budget every process of the module draws from: its recent requests.
    pub fn rate_budget(&self) -> PathBuf {
        self.var_dir().join("amocrm_rate")
    }
    /// Held by the one running worker.
    pub fn worker_lock(&self) -> PathBuf {
        self.var_dir().join("amocrm_task.lock")
    }
    /// Why the last run stopped (amoCRM refused, unreachable...), for `status`.
    pub fn run_state(&self) -> PathBuf {
        self.var_dir().join("amocrm_state.json")
    }
    pub fn task_log(&self) -> PathBuf {
        self.var_dir().join("amocrm_task.log")
    }
    pub fn action_log(&self) -> PathBuf {
        self.var_dir().join("amocrm_action.log")
    }
    /// The embedded panel database where no panel is installed, or where the settings name it.
    pub fn default_sqlite(&self) -> PathBuf {
        self.var_dir().join("amocrm.db")
    }
    /// The panel's log levels (`etc/debug.conf`).
    pub fn debug_conf(&self) -> PathBuf {
        self.root.join("etc/debug.conf")
    }
    /// The panel's main settings file; its database parameters may be here.
    pub fn billmgr_conf(&self) -> PathBuf {
        self.root.join("etc/billmgr.conf")
    }
    /// The panel's further settings files (`*.conf`), `db.conf` with the database's.
    pub fn billmgr_conf_dir(&self) -> PathBuf {
        self.root.join("etc/billmgr.conf.d")
    }
    /// The panel's command-line client: calls its functions, restarts it.
    pub fn mgrctl(&self) -> PathBuf {
        self.root.join("sbin/mgrctl")
    }
    pub fn addon_binary(&self) -> PathBuf {
        self.root.join("addon/amocrm")
    }
    pub fn module_xml(&self) -> PathBuf {
        self.root.join("etc/xml/billmgr_mod_amocrm.xml")
    }
}

/// Writes `value` as JSON to `path` through a temporary file beside it and a rename, so a
/// reader sees the old file or the new one, never half of one. Creates the directory.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // One temporary name per process: processes writing the same file at once must not
    // write into one temporary file.
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_settings_are_under_the_root() {
        let p = Paths::new("/srv/mgr");
        assert_eq!(p.resolve("var/x.db"), PathBuf::from("/srv/mgr/var/x.db"));
        assert_eq!(p.resolve("/tmp/x.db"), PathBuf::from("/tmp/x.db"));
        assert_eq!(p.conf(), PathBuf::from("/srv/mgr/etc/amocrm/amocrm.conf"));
    }
}
