//! Where the panel's database is, and where that was read.
//!
//! In order, the first that names a database wins:
//! 1. `[database]` in amocrm.conf (a url, or SQLite);
//! 2. the panel's answer to `sbin/mgrctl -m billmgr paramlist` (how ISPsystem's own
//!    modules find it), when mgrctl is there and answers in time. An answer naming none
//!    of the database parameters counts as none: ISPsystem's code would fall back on its
//!    defaults, this reads the files next, and failing them says so;
//! 3. the panel's files, `etc/billmgr.conf` and `etc/billmgr.conf.d/*.conf`;
//! 4. only where no panel is installed (no `sbin/mgrctl`, no `etc/billmgr.conf*`): the
//!    embedded SQLite file. On a panel, nothing found is an error that says where it
//!    looked and what to set: never a private file the panel knows nothing of.

mod conf_files;
mod mgrctl;
mod paramlist;
mod params;

use std::fmt;
use std::path::{Path, PathBuf};

use super::{DbError, DbResult, Target};
use crate::config::DatabaseSettings;
use crate::paths::Paths;
use params::PanelParams;

/// A database to open and where its settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub target: Target,
    pub source: Source,
}

/// Where the settings of the database came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `[database]` in amocrm.conf.
    Conf,
    /// The panel's answer to `sbin/mgrctl -m billmgr paramlist`.
    Paramlist,
    /// The panel's settings files that named the database, relative to `MGR_ROOT`, in
    /// the order read (a later one won where they differ).
    Files(Vec<PathBuf>),
    /// No panel installed: the embedded SQLite file.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Conf => f.write_str("amocrm.conf [database]"),
            Source::Paramlist => f.write_str("sbin/mgrctl paramlist"),
            Source::Files(files) => {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                f.write_str(&names.join(", "))
            }
            Source::Default => f.write_str("default (no panel installed)"),
        }
    }
}

/// For the panel hook, which never waits on the panel that is waiting on it: the error
/// every reader of the queue will meet, when that is certain without asking the panel
/// (no settings anywhere, and no `sbin/mgrctl` that could name them).
pub fn missing_settings(settings: &DatabaseSettings, paths: &Paths) -> Option<DbError> {
    if paths.mgrctl().exists() {
        return None;
    }
    resolve(settings, paths).err()
}

/// The database the settings name (see [`resolve`] for the order).
pub fn target(settings: &DatabaseSettings, paths: &Paths) -> DbResult<Target> {
    resolve(settings, paths).map(|r| r.target)
}

/// Resolves the settings in the order above, asking the panel if it comes to that.
pub fn resolve(settings: &DatabaseSettings, paths: &Paths) -> DbResult<Resolved> {
    let conf = from_conf(settings, paths)?;
    let mut looked = Vec::new();
    let must = match conf {
        FromConf::Target(target) => {
            return Ok(Resolved {
                target,
                source: Source::Conf,
            });
        }
        FromConf::Panel { must, note } => {
            let conf = paths.conf();
            let note = if conf.exists() { note } else { "not found" };
            looked.push(format!("{}: {note}", conf.display()));
            must
        }
    };
    if let Some((params, source)) = from_panel(paths, &mut looked)? {
        if let Some(p) = params.password() {
            crate::log::register_secret(p);
        }
        return Ok(Resolved {
            target: Target::Mysql(params.url()),
            source,
        });
    }
    if must || installed(paths) {
        return Err(not_found(paths, &looked));
    }
    Ok(Resolved {
        target: Target::Sqlite(paths.default_sqlite()),
        source: Source::Default,
    })
}

/// What amocrm.conf settles.
enum FromConf {
    Target(Target),
    /// The panel's settings decide; `must`: they must be found (`driver = mysql`), even
    /// where no panel is installed. `note` says what amocrm.conf had.
    Panel {
        must: bool,
        note: &'static str,
    },
}

/// `driver = sqlite` → `path` (under `MGR_ROOT`) or the default file; `driver = mysql` →
/// `url`, else the panel's; no driver → `url` if given, a `path` if given, else the panel's.
fn from_conf(settings: &DatabaseSettings, paths: &Paths) -> DbResult<FromConf> {
    let path = settings
        .path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let sqlite = || {
        FromConf::Target(Target::Sqlite(
            path.map_or_else(|| paths.default_sqlite(), |p| paths.resolve(p)),
        ))
    };
    let url = settings
        .url
        .clone()
        .filter(|u| !u.expose().trim().is_empty());
    let driver = settings
        .driver
        .as_deref()
        .map(|d| d.trim().to_ascii_lowercase());
    Ok(match (driver.as_deref(), url) {
        (Some("sqlite"), _) => sqlite(),
        (Some("mysql") | Some("") | None, Some(u)) => FromConf::Target(Target::Mysql(u)),
        (Some("mysql"), None) => FromConf::Panel {
            must: true,
            note: "[database] driver = mysql without a url",
        },
        (Some("") | None, None) if path.is_some() => sqlite(),
        (Some("") | None, None) => FromConf::Panel {
            must: false,
            note: "no [database] url or path",
        },
        (Some(other), _) => {
            return Err(DbError::Open(format!(
                "[database] driver = {other} is not known; use mysql or sqlite"
            )));
        }
    })
}

/// The panel's settings: its answer to `paramlist`, else its files. Each place looked at
/// adds what it held to `looked`.
fn from_panel(paths: &Paths, looked: &mut Vec<String>) -> DbResult<Option<(PanelParams, Source)>> {
    let mgrctl = paths.mgrctl();
    let asked = format!("{} -m billmgr paramlist", mgrctl.display());
    if !mgrctl.exists() {
        looked.push(format!("{}: not found", mgrctl.display()));
    } else {
        let answer = mgrctl::paramlist(&mgrctl, &paths.root).and_then(|xml| paramlist::parse(&xml));
        match answer {
            Ok(p) if !p.is_empty() => return Ok(Some((p, Source::Paramlist))),
            Ok(_) => looked.push(format!("{asked}: no {}", params::names_or())),
            Err(why) => looked.push(format!("{asked}: {why}")),
        }
    }
    let files = conf_files::read(paths)?;
    looked.extend(files.looked);
    if files.params.is_empty() {
        return Ok(None);
    }
    let used = files
        .used
        .iter()
        .map(|f| relative(f, &paths.root))
        .collect();
    Ok(Some((files.params, Source::Files(used))))
}

/// Whether a BILLmanager panel is installed under the root.
fn installed(paths: &Paths) -> bool {
    paths.mgrctl().exists() || paths.billmgr_conf().exists() || paths.billmgr_conf_dir().exists()
}

fn relative(file: &Path, root: &Path) -> PathBuf {
    file.strip_prefix(root).unwrap_or(file).to_path_buf()
}

/// Where it looked, and what to set.
fn not_found(paths: &Paths, looked: &[String]) -> DbError {
    DbError::Open(format!(
        "no settings name the panel's database (looked in {}); set [database] url = \
         mysql://user:password@host:3306/billmgr in {}, or DBHost, DBUser, DBPassword and \
         DBName in {}",
        looked.join("; "),
        paths.conf().display(),
        paths.billmgr_conf_dir().join("db.conf").display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(driver: Option<&str>, url: Option<&str>, path: Option<&str>) -> DatabaseSettings {
        DatabaseSettings {
            driver: driver.map(str::to_string),
            url: url.map(crate::secret::Secret::new),
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn sources_read_as_the_admin_reads_them() {
        assert_eq!(Source::Conf.to_string(), "amocrm.conf [database]");
        assert_eq!(Source::Paramlist.to_string(), "sbin/mgrctl paramlist");
        let files = Source::Files(vec![
            "etc/billmgr.conf".into(),
            "etc/billmgr.conf.d/db.conf".into(),
        ]);
        assert_eq!(
            files.to_string(),
            "etc/billmgr.conf, etc/billmgr.conf.d/db.conf"
        );
        assert_eq!(Source::Default.to_string(), "default (no panel installed)");
    }

    #[test]
    fn sqlite_is_the_default_only_where_no_panel_is_installed() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = Paths::new(dir.path());
        let none = settings(None, None, None);
        let r = resolve(&none, &paths).expect("no panel");
        assert_eq!(r.source, Source::Default);
        assert_eq!(r.target, Target::Sqlite(paths.default_sqlite()));

        std::fs::create_dir_all(paths.billmgr_conf_dir()).expect("mkdir");
        let e = resolve(&none, &paths).expect_err("a panel without settings");
        let e = e.to_string();
        assert!(e.contains("amocrm/amocrm.conf: not found"), "{e}");
        assert!(e.contains("sbin/mgrctl: not found"), "{e}");
        assert!(e.contains("billmgr.conf.d/*.conf: none"), "{e}");
        assert!(e.contains("etc/billmgr.conf: not found"), "{e}");
        assert!(e.contains("set [database] url = mysql://"), "{e}");
        assert!(missing_settings(&none, &paths).is_some());
        // An explicit choice is the admin's, panel or not.
        let r = resolve(&settings(Some("sqlite"), None, None), &paths).expect("sqlite");
        assert_eq!(r.source, Source::Conf);
    }

    #[test]
    fn the_hook_does_not_guess_when_the_panel_could_answer() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(dir.path().join("sbin")).expect("mkdir");
        std::fs::write(paths.mgrctl(), "").expect("write");
        assert!(missing_settings(&settings(None, None, None), &paths).is_none());
    }
}
