//! `[auth]`, `[database]` and `[sync]`: plain settings, validated one by one.

use std::path::Path;

use super::ini_file::{Entry, IniDoc};
use super::{AuthConfig, DatabaseSettings, DedupKey, Problem, ProblemKind, SyncConfig, UpdateMode};
use crate::amo::check_account_url;
use crate::secret::Secret;

pub const AUTH_KEYS: [&str; 5] = ["url", "client_id", "client_secret", "redirect_uri", "code"];
pub const DATABASE_KEYS: [&str; 3] = ["driver", "url", "path"];
pub const SYNC_KEYS: [&str; 8] = [
    "enabled",
    "batch_size",
    "rate_limit",
    "update",
    "update_leads",
    "dedup",
    "reconcile",
    "retry_pause_ms",
];

/// The longest `[sync] retry_pause_ms`: the default schedule starts at 500.
pub const RETRY_PAUSE_MAX_MS: u64 = 500;

/// The longest `[sync] reconcile` (minutes): 30 days.
pub const RECONCILE_MAX: u32 = 30 * 24 * 60;

/// Collects problems for one file.
pub struct Report<'a> {
    pub file: &'a Path,
    pub problems: &'a mut Vec<Problem>,
}

impl Report<'_> {
    pub fn at(&mut self, line: usize, kind: ProblemKind, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column: 0,
            kind,
            message: message.into(),
        });
    }

    /// A problem with one setting or rule line.
    pub fn entry(&mut self, e: &Entry, message: impl Into<String>) {
        self.at(e.line, ProblemKind::entry(&e.section, &e.key), message);
    }

    /// A problem at a column of a setting or rule line.
    pub fn entry_column(&mut self, e: &Entry, column: usize, message: impl Into<String>) {
        self.entry(e, message);
        if let Some(p) = self.problems.last_mut() {
            p.column = column;
        }
    }
}

/// A setting's value; a value wholly in double quotes is unquoted (so it may hold `;` or `#`).
pub fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `[auth]`. The required settings are reported missing only when `require` is set.
pub fn auth(doc: &IniDoc, r: &mut Report<'_>, header_line: usize) -> AuthConfig {
    let mut auth = AuthConfig::default();
    let value = |key: &str| doc.get("auth", key).map(|e| (unquote(&e.value), e.line));
    match value("url") {
        Some((url, line)) => match check_account_url(&url) {
            Ok(url) => auth.url = url,
            Err(why) => r.at(
                line,
                ProblemKind::entry("auth", "url"),
                format!("[auth] url: {why}"),
            ),
        },
        None => r.at(
            header_line,
            ProblemKind::entry("auth", "url"),
            "[auth] url is missing: set the account's address, e.g. https://example.amocrm.ru",
        ),
    }
    let required = [
        ("client_id", "the integration's ID (\"ID интеграции\")"),
        (
            "client_secret",
            "the integration's secret key (\"Секретный ключ\")",
        ),
        (
            "redirect_uri",
            "the integration's redirect URI, as set in amoCRM",
        ),
    ];
    for (key, what) in required {
        match value(key) {
            Some((v, _)) if !v.is_empty() => match key {
                "client_id" => auth.client_id = v,
                "client_secret" => auth.client_secret = Secret::new(v),
                _ => auth.redirect_uri = v,
            },
            Some((_, line)) => r.at(
                line,
                ProblemKind::entry("auth", key),
                format!("[auth] {key} is empty: set {what}"),
            ),
            None => r.at(
                header_line,
                ProblemKind::entry("auth", key),
                format!("[auth] {key} is missing: set {what}"),
            ),
        }
    }
    if let Some((uri, line)) = value("redirect_uri")
        && !uri.is_empty()
        && !(uri.starts_with("https://") || uri.starts_with("http://"))
    {
        r.at(
            line,
            ProblemKind::entry("auth", "redirect_uri"),
            "[auth] redirect_uri must be an http(s) address, as set in the amoCRM integration",
        );
    }
    auth.code = value("code")
        .map(|(c, _)| c)
        .filter(|c| !c.is_empty())
        .map(Secret::new);
    auth
}

/// `[database]`.
pub fn database(doc: &IniDoc, r: &mut Report<'_>) -> DatabaseSettings {
    let mut db = DatabaseSettings::default();
    for e in doc.section("database") {
        let v = unquote(&e.value);
        match e.key.as_str() {
            "driver" => match v.as_str() {
                "mysql" | "sqlite" => db.driver = Some(v),
                "" => {}
                _ => r.entry(e, format!("[database] driver '{v}' is unknown: use mysql or sqlite"),
                ),
            },
            "url" if v.is_empty() => {}
            "url" if !v.starts_with("mysql://") => {
                // The url may hold a password: never echo it.
                r.entry(e, "[database] url must start with mysql:// (mysql://user:password@host:3306/billmgr)");
            }
            // Parsed as the driver will parse it; its messages may quote the password.
            "url" if mysql::Opts::from_url(&v).is_err() => r.entry(e, "[database] url is not a valid address: write mysql://user:password@host:3306/billmgr \
                 (percent-encode special characters in the password)",
            ),
            "url" => db.url = Some(Secret::new(v)),
            "path" if !v.is_empty() => db.path = Some(v),
            _ => {}
        }
    }
    if db.driver.as_deref() == Some("sqlite")
        && let Some(e) = doc.get("database", "url")
        && !e.value.is_empty()
    {
        r.entry(e, "[database] url is for driver = mysql; sqlite uses path");
    }
    if db.driver.as_deref() == Some("mysql")
        && let Some(e) = doc.get("database", "path")
    {
        r.entry(e, "[database] path is for driver = sqlite; mysql uses url");
    }
    db
}

/// `[sync] enabled` alone, for the panel hook.
pub fn enabled(doc: &IniDoc, r: &mut Report<'_>) -> bool {
    match doc.get("sync", "enabled") {
        Some(e) => flag(e, r).unwrap_or(true),
        None => true,
    }
}

fn update_mode(v: &str) -> Option<UpdateMode> {
    match v {
        "fill_empty" => Some(UpdateMode::FillEmpty),
        "overwrite" => Some(UpdateMode::Overwrite),
        _ => None,
    }
}

/// `[sync]`.
pub fn sync(doc: &IniDoc, r: &mut Report<'_>) -> SyncConfig {
    let mut sync = SyncConfig::default();
    for e in doc.section("sync") {
        let v = unquote(&e.value);
        match e.key.as_str() {
            "enabled" => sync.enabled = flag(e, r).unwrap_or(true),
            "batch_size" => match v.parse::<usize>() {
                Ok(n) if (1..=250).contains(&n) => sync.batch_size = n,
                _ => r.entry(e, format!("[sync] batch_size '{v}' must be a whole number from 1 to 250 (amoCRM takes at most 250 a request; 50 is recommended)")),
            },
            "rate_limit" => match v.parse::<f64>() {
                // Below one request in 100 s a run would never end; NaN and inf are not rates.
                Ok(n) if n.is_finite() && n >= 0.01 => sync.rate_limit = n,
                _ => r.entry(e, format!("[sync] rate_limit '{v}' must be a number of requests a second from 0.01 (one in 100 s) up (amoCRM allows 7)")),
            },
            "update" | "update_leads" => match update_mode(&v) {
                Some(mode) if e.key == "update" => sync.update = mode,
                Some(mode) => sync.update_leads = mode,
                None => r.entry(e, format!("[sync] {} '{v}' is unknown: use fill_empty or overwrite", e.key)),
            },
            "dedup" => {
                let mut keys = Vec::new();
                for word in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                    let key = match word {
                        "email" => DedupKey::Email,
                        "phone" => DedupKey::Phone,
                        _ => {
                            r.entry(e, format!("[sync] dedup '{word}' is unknown: list email and/or phone, or leave it empty"));
                            continue;
                        }
                    };
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                sync.dedup = keys;
            }
            "reconcile" => match v.parse::<u32>() {
                Ok(n) if n <= RECONCILE_MAX => sync.reconcile = n,
                _ => r.entry(e, format!("[sync] reconcile '{v}' must be a whole number of minutes from 0 (never) to {RECONCILE_MAX} (30 days); 60 is the default")),
            },
            "retry_pause_ms" => match v.parse::<u64>() {
                Ok(n) if (1..=RETRY_PAUSE_MAX_MS).contains(&n) => sync.retry_pause = std::time::Duration::from_millis(n),
                _ => r.entry(e, format!("[sync] retry_pause_ms '{v}' must be a whole number of milliseconds from 1 to {RETRY_PAUSE_MAX_MS} (the default; shorter is for tests)")),
            },
            _ => {}
        }
    }
    sync
}

pub(super) fn flag(e: &Entry, r: &mut Report<'_>) -> Option<bool> {
    let v = unquote(&e.value);
    match v.to_ascii_lowercase().as_str() {
        "yes" | "on" | "true" | "1" => Some(true),
        "no" | "off" | "false" | "0" => Some(false),
        _ => {
            r.entry(
                e,
                format!("[{}] {} '{v}' must be yes or no", e.section, e.key),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ini_file;
    use super::*;

    fn read(text: &str) -> (IniDoc, Vec<Problem>) {
        let mut problems = Vec::new();
        let doc = ini_file::parse(Path::new("amocrm.conf"), text, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        (doc, problems)
    }

    #[test]
    fn auth_requires_the_integration() {
        let (doc, mut problems) = read(
            "[auth]\nurl = https://a.amocrm.ru/\nclient_id = id\nclient_secret = \"s;cret\"\nredirect_uri =\n",
        );
        let a = auth(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
            1,
        );
        assert_eq!(a.url, "https://a.amocrm.ru");
        assert_eq!(a.client_secret.expose(), "s;cret");
        assert_eq!(a.code, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 5);
        assert!(problems[0].message.contains("redirect_uri is empty"));

        let (doc, mut problems) = read("[auth]\nurl = https://a.amocrm.ru\n");
        auth(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
            1,
        );
        let missing: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(missing.len(), 3, "{missing:?}");
        assert!(missing.iter().all(|m| m.contains("is missing")));
    }

    #[test]
    fn sync_settings_are_checked() {
        let (doc, mut problems) = read(
            "[sync]\nenabled = off\nbatch_size = 250\nrate_limit = 2.5\nupdate = overwrite\nupdate_leads = fill_empty\ndedup = phone, email, phone\nretry_pause_ms = 20\n",
        );
        let s = sync(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            s,
            SyncConfig {
                enabled: false,
                batch_size: 250,
                rate_limit: 2.5,
                update: UpdateMode::Overwrite,
                update_leads: UpdateMode::FillEmpty,
                dedup: vec![DedupKey::Phone, DedupKey::Email],
                retry_pause: std::time::Duration::from_millis(20),
                ..SyncConfig::default()
            }
        );
        let (doc, mut problems) = read(
            "[sync]\nenabled = maybe\nbatch_size = 251\nrate_limit = 0\nupdate = always\nupdate_leads = never\ndedup = fax\nretry_pause_ms = 501\n",
        );
        let s = sync(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert_eq!(
            problems.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!((s.batch_size, s.rate_limit), (50, 7.0));
        let (doc, mut problems) = read("[sync]\ndedup =\n");
        let s = sync(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert!(s.dedup.is_empty() && problems.is_empty());
    }

    #[test]
    fn reconcile_is_whole_minutes_up_to_thirty_days() {
        let check = |text: &str| {
            let (doc, mut problems) = read(text);
            let s = sync(
                &doc,
                &mut Report {
                    file: Path::new("amocrm.conf"),
                    problems: &mut problems,
                },
            );
            (s.reconcile, problems.len())
        };
        assert_eq!(check("[sync]\n"), (60, 0), "the default");
        assert_eq!(check("[sync]\nreconcile = 0\n"), (0, 0), "never");
        assert_eq!(check("[sync]\nreconcile = 43200\n"), (43200, 0));
        for bad in ["43201", "-5", "1.5", "hourly", ""] {
            assert_eq!(
                check(&format!("[sync]\nreconcile = {bad}\n")),
                (60, 1),
                "{bad}"
            );
        }
    }

    #[test]
    fn database_settings_are_checked_without_echoing_the_url() {
        let (doc, mut problems) =
            read("[database]\ndriver = mysql\nurl = mysql://root:pw@127.0.0.1:3306/billmgr\n");
        let db = database(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(db.driver.as_deref(), Some("mysql"));
        assert_eq!(
            db.url.as_ref().map(Secret::expose),
            Some("mysql://root:pw@127.0.0.1:3306/billmgr")
        );

        let (doc, mut problems) =
            read("[database]\ndriver = postgres\nurl = pg://u:hunter2@h/db\n");
        database(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert_eq!(problems.len(), 2);
        assert!(problems.iter().all(|p| !p.message.contains("hunter2")));

        let (doc, mut problems) = read("[database]\ndriver = sqlite\npath = var/x.db\n");
        let db = database(
            &doc,
            &mut Report {
                file: Path::new("amocrm.conf"),
                problems: &mut problems,
            },
        );
        assert!(problems.is_empty());
        assert_eq!(db.path.as_deref(), Some("var/x.db"));
    }

    #[test]
    fn quoted_values_are_unquoted() {
        assert_eq!(unquote(r#""a \"b\" ;c""#), r#"a "b" ;c"#);
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("\""), "\"");
    }
}
