//! The panel's settings files: `etc/billmgr.conf` and `etc/billmgr.conf.d/*.conf`.
//!
//! Each line is `Name value` (`DBHost localhost`): what BILLmanager installs write to
//! `etc/billmgr.conf.d/db.conf` (zaqwer101/docker_billmgr `billmgr/install.sh`, with
//! spaces around lines at times) and what pulivilizator/billmgr-addon
//! `billmgr_addon/db/db.py` `DBConfig.from_panel_config` reads there (`^(\w+) (\w+)`).
//! The value runs to the end of the line, trimmed, quotes and all: a password may hold
//! spaces, not leading or trailing ones. Inferred, for want of a source: that `#` starts a
//! comment line and that values are never quoted; a real `db.conf` with a comment, or a
//! password with spaces or quotes, would confirm it. Hidden files (an editor's leftovers)
//! are skipped.
//!
//! Order, inferred (no public source says how the panel merges them): `billmgr.conf`
//! first, then the `.d` files in name order, each file's parameters overriding the same
//! names before it, as `.d` directories usually do. A panel with a parameter set in two
//! files, asked `mgrctl -m billmgr paramlist`, would confirm it.

use std::path::{Path, PathBuf};

use super::params::{self, PanelParams};
use crate::db::{DbError, DbResult};
use crate::paths::Paths;

/// What the files gave: the merged parameters, the files that named any (in the order
/// read), and for each file or place looked at, what was found there.
#[derive(Default)]
pub struct Files {
    pub params: PanelParams,
    pub used: Vec<PathBuf>,
    pub looked: Vec<String>,
}

/// Reads every file there is. A file that exists but cannot be read is an error: the
/// settings it may hold would be missed.
pub fn read(paths: &Paths) -> DbResult<Files> {
    let mut files = Files::default();
    let main = paths.billmgr_conf();
    match read_one(&main)? {
        None => files.looked.push(format!("{}: not found", main.display())),
        Some(p) => files.add(main, p),
    }
    let dir = paths.billmgr_conf_dir();
    let listed = list(&dir)?;
    if listed.is_empty() {
        files.looked.push(format!("{}/*.conf: none", dir.display()));
    }
    for file in listed {
        // Listed a moment ago; gone now is as good as never there.
        if let Some(p) = read_one(&file)? {
            files.add(file, p);
        }
    }
    Ok(files)
}

impl Files {
    fn add(&mut self, file: PathBuf, params: PanelParams) {
        if params.is_empty() {
            self.looked
                .push(format!("{}: no {}", file.display(), params::names_or()));
        } else {
            self.params.merge(params);
            self.used.push(file);
        }
    }
}

/// The `*.conf` files of the directory, by name; none if it does not exist.
fn list(dir: &Path) -> DbResult<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(dir, &e)),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".conf") && !name.starts_with('.')
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// One file's parameters; `None` when it does not exist.
fn read_one(file: &Path) -> DbResult<Option<PanelParams>> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(Some(parse(&String::from_utf8_lossy(&bytes)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(file, &e)),
    }
}

fn unreadable(file: &Path, e: &std::io::Error) -> DbError {
    DbError::Open(format!(
        "cannot read {}: {e}; the panel's database settings may be there (run as root)",
        file.display()
    ))
}

/// `Name value` lines; a later line for the same name wins.
pub fn parse(text: &str) -> PanelParams {
    let mut params = PanelParams::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        params.set(name, value.trim());
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_installers_write_them() {
        // As written by `echo -e "DBHost mysql-service \n DBUser …"`.
        let p = parse(
            " \n    DBHost mysql-service \n    DBUser billmgr \n#DBName old\n\
             DBPassword pa ss \n    DBName billmgr\nOption EULA\n",
        );
        let mut want = PanelParams::default();
        want.set("DBHost", "mysql-service");
        want.set("DBUser", "billmgr");
        want.set("DBPassword", "pa ss");
        want.set("DBName", "billmgr");
        assert!(p == want);
        assert!(parse("# nothing\nLicense abc\nDBHostile x\n").is_empty());
    }

    #[test]
    fn the_d_files_override_billmgr_conf_in_name_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = Paths::new(dir.path());
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        write("etc/billmgr.conf", "DBHost old\nDBName kept\n");
        write("etc/billmgr.conf.d/db.conf", "DBHost db\nDBUser u1\n");
        write("etc/billmgr.conf.d/zz.conf", "DBUser u2\n");
        write("etc/billmgr.conf.d/other.conf", "License x\n");
        write("etc/billmgr.conf.d/.db.conf.swp", "DBHost wrong\n");
        write("etc/billmgr.conf.d/db.conf.bak", "DBHost wrong\n");
        let f = read(&paths).expect("read");
        assert_eq!(
            f.params.url().expose(),
            "mysql://u2@db:3306/kept",
            "later files win name by name"
        );
        let used: Vec<_> = f.used.iter().map(|p| p.strip_prefix(dir.path())).collect();
        assert_eq!(
            used,
            vec![
                Ok(Path::new("etc/billmgr.conf")),
                Ok(Path::new("etc/billmgr.conf.d/db.conf")),
                Ok(Path::new("etc/billmgr.conf.d/zz.conf")),
            ]
        );
        assert!(f.looked.iter().any(|l| l.contains("other.conf: no DBHost")));
    }
}
