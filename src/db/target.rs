//! Which database to open: `[database]` in amocrm.conf, else the panel's own MySQL
//! settings, else the embedded SQLite file.

use std::path::PathBuf;

use super::{DbError, DbResult};
use crate::config::DatabaseSettings;
use crate::paths::Paths;
use crate::secret::Secret;

/// A database to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    /// `mysql://user:password@host:port/db`.
    Mysql(Secret),
}

impl Target {
    /// For messages: `sqlite:/path` or `mysql://user@host:port/db` (never the password).
    pub fn describe(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("sqlite:{}", p.display()),
            Target::Mysql(url) => super::mysql::describe_url(url),
        }
    }
}

/// Resolves the settings: `driver = sqlite` → `path` (under `MGR_ROOT`) or the default file;
/// `driver = mysql` → `url`, else the panel's own settings; no driver → `url` if given, a
/// `path` if given, the panel's own settings if found, else the default SQLite file.
pub fn target(settings: &DatabaseSettings, paths: &Paths) -> DbResult<Target> {
    let sqlite = || {
        Target::Sqlite(match settings.path.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => paths.resolve(p),
            _ => paths.default_sqlite(),
        })
    };
    let url = settings
        .url
        .clone()
        .filter(|u| !u.expose().trim().is_empty());
    let driver = settings
        .driver
        .as_deref()
        .map(|d| d.trim().to_ascii_lowercase());
    match driver.as_deref() {
        Some("sqlite") => Ok(sqlite()),
        Some("mysql") => match url {
            Some(u) => Ok(Target::Mysql(u)),
            None => panel_settings(paths)?.map(Target::Mysql).ok_or_else(|| {
                DbError::Open(format!(
                    "[database] driver = mysql, but there is no url and no DBHost/DBName in {}; \
                     set [database] url = mysql://user:password@host:3306/billmgr",
                    paths.billmgr_conf().display()
                ))
            }),
        },
        Some("") | None => {
            if let Some(u) = url {
                return Ok(Target::Mysql(u));
            }
            if settings
                .path
                .as_deref()
                .is_some_and(|p| !p.trim().is_empty())
            {
                return Ok(sqlite());
            }
            Ok(panel_settings(paths)?
                .map(Target::Mysql)
                .unwrap_or_else(sqlite))
        }
        Some(other) => Err(DbError::Open(format!(
            "[database] driver = {other} is not known; use mysql or sqlite"
        ))),
    }
}

/// The panel's database from `etc/billmgr.conf`, as a url, if the file names one.
///
/// The parameter names (DBHost, DBUser, DBPassword, DBName) are those ISPsystem's own
/// Python helper reads through `mgrctl paramlist`; that they are kept in billmgr.conf as
/// `Name value` lines is inferred, not confirmed.
fn panel_settings(paths: &Paths) -> DbResult<Option<Secret>> {
    let file = paths.billmgr_conf();
    let text = match std::fs::read(&file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DbError::Open(format!(
                "cannot read {}: {e}; check its permissions",
                file.display()
            )));
        }
    };
    let (mut host, mut user, mut password, mut name) = (None, None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let value = value.trim().trim_matches('"').to_string();
        match key {
            "DBHost" => host = Some(value),
            "DBUser" => user = Some(value),
            "DBPassword" => password = Some(value),
            "DBName" => name = Some(value),
            _ => {}
        }
    }
    if host.is_none() && user.is_none() && password.is_none() && name.is_none() {
        return Ok(None);
    }
    let host = host
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let user = user
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".to_string());
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "billmgr".to_string());
    let auth = match password.filter(|p| !p.is_empty()) {
        Some(p) => format!("{}:{}", encode(&user), encode(&p)),
        None => encode(&user),
    };
    Ok(Some(Secret::new(format!(
        "mysql://{auth}@{host}:3306/{}",
        encode(&name)
    ))))
}

/// Percent-encodes everything but unreserved characters, for the url's user info and path.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_user_info() {
        assert_eq!(encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
        assert_eq!(encode("пароль").len(), 36);
        assert_eq!(encode("plain_1.x"), "plain_1.x");
    }
}
