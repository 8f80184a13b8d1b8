//! The token files (`etc/amocrm/access_token`, `refresh_token`: just the token text, 0600),
//! written atomically, and the lock every refresh and exchange is made under.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::AmoError;
use super::jwt;
use crate::paths::Paths;
use crate::secret::Secret;

/// What the token files say, read from disk (no network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenStatus {
    /// Both token files exist and are not empty.
    pub present: bool,
    /// The access token's `exp` claim (unix seconds), when it is a JWT.
    pub access_expires_at: Option<i64>,
    /// When the refresh token was written (unix seconds): its file is rewritten at every
    /// exchange and refresh, and nothing else writes it.
    pub refreshed_at: Option<i64>,
}

/// A refresh token lapses when the integration is not used for three months (amoCRM's
/// OAuth documentation); counted as 90 days.
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 86_400;

/// A refresh token this old is renewed even when nothing is sent, so that a quiet panel
/// keeps its authorization with two months to spare.
pub const KEEP_ALIVE_AFTER_SECS: i64 = 30 * 86_400;

impl TokenStatus {
    /// When the authorization lapses unless the module uses it before.
    pub fn authorization_lapses_at(&self) -> Option<i64> {
        self.refreshed_at.map(|t| t + REFRESH_TOKEN_LIFETIME_SECS)
    }

    /// Whether the refresh token is old enough to be renewed now.
    pub fn wants_keep_alive(&self, now: i64) -> bool {
        self.present
            && self
                .refreshed_at
                .is_some_and(|t| now - t >= KEEP_ALIVE_AFTER_SECS)
    }
}

/// Refresh at most this long before the access token expires.
const REFRESH_AHEAD_SECS: i64 = 300;

/// Whether `token` expires so soon that it should be refreshed before use. Short-lived
/// tokens (tests, the sandbox) refresh in the last quarter of their life rather than always.
pub(crate) fn needs_refresh(token: &Secret, now: i64) -> bool {
    let Some(claims) = jwt::claims(token.expose()) else {
        return false;
    };
    let Some(exp) = claims.exp else { return false };
    // The claims are whatever the token says: far-off or negative times must not overflow.
    let lifetime = claims
        .iat
        .map(|iat| exp.saturating_sub(iat))
        .filter(|l| *l > 0)
        .unwrap_or(86_400);
    exp.saturating_sub(now) < REFRESH_AHEAD_SECS.min(lifetime / 4)
}

/// A file's modification time (unix seconds), if it exists.
fn modified_at(path: &Path) -> Option<i64> {
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    i64::try_from(secs).ok()
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Held while tokens are refreshed or exchanged; released when dropped.
pub(crate) struct TokenLock {
    _file: File,
}

pub(crate) struct TokenFiles {
    dir: PathBuf,
    access: PathBuf,
    refresh: PathBuf,
    lock: PathBuf,
}

impl TokenFiles {
    pub fn new(paths: &Paths) -> TokenFiles {
        TokenFiles {
            dir: paths.etc_dir(),
            access: paths.access_token(),
            refresh: paths.refresh_token(),
            lock: paths.token_lock(),
        }
    }

    pub fn access_path(&self) -> &Path {
        &self.access
    }

    pub fn refresh_path(&self) -> &Path {
        &self.refresh
    }

    pub fn read_access(&self) -> Result<Option<Secret>, AmoError> {
        read_token(&self.access)
    }

    pub fn read_refresh(&self) -> Result<Option<Secret>, AmoError> {
        read_token(&self.refresh)
    }

    pub fn status(&self) -> TokenStatus {
        let access = self.read_access().ok().flatten();
        let refresh = self.read_refresh().ok().flatten();
        TokenStatus {
            present: access.is_some() && refresh.is_some(),
            access_expires_at: access
                .and_then(|t| jwt::claims(t.expose()))
                .and_then(|c| c.exp),
            refreshed_at: modified_at(&self.refresh),
        }
    }

    /// Writes both tokens, the refresh token first: whoever sees the new access token on
    /// disk also finds the refresh token that goes with it.
    pub fn write(&self, access: &Secret, refresh: &Secret) -> Result<(), AmoError> {
        self.make_dir()?;
        for (path, token) in [(&self.refresh, refresh), (&self.access, access)] {
            crate::log::register_secret(token.expose());
            write_atomic(path, token.expose()).map_err(|e| {
                AmoError::Local(format!(
                    "cannot write the token file {}: {e}; check that the directory is writable \
                     by the panel's user, then run `amocrm auth CODE` with a new code",
                    path.display()
                ))
            })?;
        }
        Ok(())
    }

    /// Takes the exclusive lock on the lock file (waits for another process holding it).
    pub fn lock(&self) -> Result<TokenLock, AmoError> {
        self.make_dir()?;
        let fail = |e: io::Error| {
            AmoError::Local(format!(
                "cannot lock {}: {e}; check that the directory is writable by the panel's user",
                self.lock.display()
            ))
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&self.lock)
            .map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(TokenLock { _file: file })
    }

    fn make_dir(&self) -> Result<(), AmoError> {
        fs::create_dir_all(&self.dir).map_err(|e| {
            AmoError::Local(format!(
                "cannot create the directory {}: {e}",
                self.dir.display()
            ))
        })
    }
}

fn read_token(path: &Path) -> Result<Option<Secret>, AmoError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            // A last guard should anything ever try to log it.
            crate::log::register_secret(text);
            Ok(Some(Secret::new(text)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AmoError::Local(format!(
            "cannot read the token file {}: {e}; check its owner and permissions (0600, the panel's user)",
            path.display()
        ))),
    }
}

/// A temporary file in the same directory (0600, synced) renamed over the target, so a
/// reader sees the old token or the new one, never half of one.
fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("token");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn jwt(payload: &str) -> Secret {
        Secret::new(format!(
            "eyJ0eXAiOiJKV1QifQ.{}.sig",
            jwt::b64url(payload.as_bytes())
        ))
    }

    #[test]
    fn a_month_old_refresh_token_is_renewed_and_three_months_end_it() {
        let at = |refreshed: i64| TokenStatus {
            present: true,
            access_expires_at: None,
            refreshed_at: Some(refreshed),
        };
        let now = 100 * 86_400;
        assert!(!at(now - 29 * 86_400).wants_keep_alive(now));
        assert!(at(now - 30 * 86_400).wants_keep_alive(now));
        assert_eq!(at(now).authorization_lapses_at(), Some(now + 90 * 86_400));
        let absent = TokenStatus {
            present: false,
            ..at(0)
        };
        assert!(!absent.wants_keep_alive(now), "nothing to renew");
    }

    #[test]
    fn extreme_claims_do_not_overflow() {
        let now = 1_700_000_000;
        assert!(!needs_refresh(&jwt(r#"{"exp":1e300,"iat":-1e300}"#), now));
        assert!(needs_refresh(&jwt(r#"{"exp":-1e300,"iat":1}"#), now));
        assert!(!needs_refresh(
            &jwt(r#"{"exp":9223372036854775807,"nbf":-9223372036854775808}"#),
            now
        ));
    }

    #[test]
    fn refreshes_in_the_last_five_minutes_or_last_quarter() {
        let day = jwt(r#"{"iat":1000,"exp":87400}"#);
        assert!(!needs_refresh(&day, 87400 - 301));
        assert!(needs_refresh(&day, 87400 - 299));
        assert!(needs_refresh(&day, 90000));
        let short = jwt(r#"{"iat":1000,"exp":1008}"#);
        assert!(!needs_refresh(&short, 1005));
        assert!(needs_refresh(&short, 1007));
        let no_iat = jwt(r#"{"exp":5000}"#);
        assert!(needs_refresh(&no_iat, 4800));
        assert!(!needs_refresh(&Secret::new("opaque"), i64::MAX));
    }

    #[test]
    fn writes_both_files_0600_and_reads_them_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        let files = TokenFiles::new(&paths);
        assert_eq!(files.status(), TokenStatus::default());
        assert_eq!(files.read_access().ok().flatten(), None);

        let access = jwt(r#"{"iat":1,"exp":123456}"#);
        files
            .write(&access, &Secret::new("refresh-1"))
            .expect("write");
        files
            .write(&access, &Secret::new("refresh-2"))
            .expect("overwrite");
        for p in [paths.access_token(), paths.refresh_token()] {
            let mode = fs::metadata(&p).expect("token file").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        assert_eq!(files.read_access().ok().flatten(), Some(access));
        assert_eq!(
            files.read_refresh().ok().flatten(),
            Some(Secret::new("refresh-2"))
        );
        let status = files.status();
        assert_eq!(
            (status.present, status.access_expires_at),
            (true, Some(123456))
        );
        let written = status.refreshed_at.expect("the refresh token's time");
        assert!((now_unix() - written).abs() < 60, "{written}");
        let leftovers: Vec<_> = fs::read_dir(paths.etc_dir())
            .expect("list")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn unwritable_directory_is_a_local_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file where the directory should be.
        fs::write(dir.path().join("etc"), "").expect("write");
        let files = TokenFiles::new(&Paths::new(dir.path()));
        match files.write(&Secret::new("a"), &Secret::new("r")) {
            Err(AmoError::Local(m)) => assert!(m.contains("etc/amocrm"), "{m}"),
            other => panic!("expected a local error, got {other:?}"),
        }
    }

    #[test]
    fn the_lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = TokenFiles::new(&Paths::new(dir.path()));
        let held = files.lock().expect("lock");
        let probe = File::options()
            .write(true)
            .open(Paths::new(dir.path()).token_lock())
            .expect("open");
        assert!(probe.try_lock().is_err(), "a second open file got the lock");
        drop(held);
        assert!(probe.try_lock().is_ok());
    }
}
