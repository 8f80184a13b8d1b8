//! The module's two logs in the panel's own style:
//! `Nov 21 19:06:00 [4711] amocrm INFO message`, one line per record.
//!
//! `var/amocrm_task.log` is the worker's, `var/amocrm_action.log` everything else's
//! (handler, panel functions, admin commands). Each record is formatted whole and written
//! with one `write` on a file opened for appending, so lines of concurrent processes never
//! interleave. Known secret values are masked as a last guard; callers never log them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Which of the two logs a process writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Task,
    Action,
}

struct PanelLogger {
    path: PathBuf,
    file: Mutex<Option<File>>,
    /// Also print warnings and errors to stderr (admin commands on a terminal).
    echo: bool,
}

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static LOGGER: OnceLock<PanelLogger> = OnceLock::new();

/// Starts logging to the chosen log under the panel root, at the level `etc/debug.conf`
/// gives the module (info when it says nothing). Safe to call more than once.
pub fn init(paths: &crate::paths::Paths, which: Which, echo: bool) {
    let path = match which {
        Which::Task => paths.task_log(),
        Which::Action => paths.action_log(),
    };
    let level = level_from_debug_conf(&paths.debug_conf()).unwrap_or(LevelFilter::Info);
    let logger = LOGGER.get_or_init(|| PanelLogger {
        path,
        file: Mutex::new(None),
        echo,
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Masks this value wherever it would appear in a log line (tokens, codes, the secret).
pub fn register_secret(value: &str) {
    // Short values would mask ordinary words; real secrets are long.
    if value.len() < 8 {
        return;
    }
    if let Ok(mut s) = SECRETS.write()
        && !s.iter().any(|v| v == value)
    {
        s.push(value.to_string());
    }
}

/// The panel's `etc/debug.conf`: lines `NAME LEVEL` with levels 0..9. The module reads
/// the most specific of `amocrm`, `amocrm.*`, `*.*`/`*`. The file's exact grammar is
/// inferred from COREmanager's convention; unknown lines are ignored.
pub fn level_from_debug_conf(path: &Path) -> Option<LevelFilter> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut best: Option<(u8, u8)> = None; // (specificity, level)
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let (Some(name), Some(level)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(level) = level.parse::<u8>() else {
            continue;
        };
        let specificity = match name {
            "amocrm" => 3,
            "amocrm.*" => 2,
            "*" | "*.*" => 1,
            _ => continue,
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, level));
        }
    }
    best.map(|(_, level)| match level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 | 4 => LevelFilter::Info,
        5 | 6 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    })
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// The local time of a Unix time, if the system can tell it.
fn local_tm(unix: i64) -> Option<libc::tm> {
    // SAFETY: localtime_r only writes into the tm we own.
    unsafe {
        let t: libc::time_t = unix as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    }
}

/// `Nov 21 19:06:00` in local time, as the panel's logs show it.
pub fn timestamp(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(tm) = local_tm(unix) else {
        return format!("@{unix}");
    };
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    format!(
        "{month} {:2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// `2025-06-01 09:06:00` in local time, as the panel's DATETIME columns hold it (the panel
/// writes its own local time: inferred, as it runs on the same server).
pub fn local_datetime(unix: i64) -> String {
    match local_tm(unix) {
        Some(tm) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        ),
        None => "1970-01-01 00:00:00".to_string(),
    }
}

/// One record as a single line: newlines folded, known secrets masked.
pub fn format_line(unix: i64, pid: u32, level: Level, message: &str) -> String {
    let mut msg = message.replace(['\r', '\n'], " ");
    if let Ok(secrets) = SECRETS.read() {
        for s in secrets.iter() {
            if msg.contains(s.as_str()) {
                msg = msg.replace(s.as_str(), "***");
            }
        }
    }
    format!(
        "{} [{pid}] amocrm {} {msg}\n",
        timestamp(unix),
        level_word(level)
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl PanelLogger {
    fn write_line(&self, line: &str) {
        let Ok(mut guard) = self.file.lock() else {
            return;
        };
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            *guard = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = guard.as_mut() {
            // One write for the whole line: O_APPEND keeps concurrent lines whole.
            let _ = f.write(line.as_bytes());
        }
    }
}

impl Log for PanelLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        // The HTTP and TLS libraries log request bodies at their lower levels, and bodies
        // carry secrets (the OAuth exchange): they never go below info.
        let t = metadata.target();
        if (t.starts_with("ureq") || t.starts_with("rustls")) && metadata.level() > Level::Info {
            return false;
        }
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(
            now(),
            std::process::id(),
            record.level(),
            &record.args().to_string(),
        );
        self.write_line(&line);
        if self.echo && record.level() <= Level::Warn {
            eprint!(
                "{}",
                line.split_once(" amocrm ").map(|(_, m)| m).unwrap_or(&line)
            );
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_single_and_masked() {
        register_secret("s3cr3t-token-value");
        let line = format_line(0, 42, Level::Info, "got s3cr3t-token-value\nnext");
        assert!(line.ends_with("[42] amocrm INFO got *** next\n"), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn http_libraries_never_log_bodies() {
        let logger = PanelLogger {
            path: PathBuf::from("/nonexistent"),
            file: Mutex::new(None),
            echo: false,
        };
        log::set_max_level(LevelFilter::Trace);
        let meta =
            |target: &'static str, level| Metadata::builder().target(target).level(level).build();
        assert!(!logger.enabled(&meta("ureq::unversioned::transport", Level::Trace)));
        assert!(!logger.enabled(&meta("rustls::client", Level::Debug)));
        assert!(logger.enabled(&meta("ureq::pool", Level::Warn)));
        assert!(logger.enabled(&meta("billmgr_amocrm::amo", Level::Trace)));
    }

    #[test]
    fn timestamp_has_the_panel_shape() {
        let t = timestamp(1_700_000_000);
        let parts: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(parts.len(), 3, "{t}");
        assert_eq!(parts[2].len(), 8);
    }

    #[test]
    fn debug_conf_most_specific_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("debug.conf");
        std::fs::write(&p, "*.* 2\namocrm 9\nbillmgr 5\n").unwrap();
        assert_eq!(level_from_debug_conf(&p), Some(LevelFilter::Trace));
        std::fs::write(&p, "# levels\n* 1\n").unwrap();
        assert_eq!(level_from_debug_conf(&p), Some(LevelFilter::Error));
        std::fs::write(&p, "core 9\n").unwrap();
        assert_eq!(level_from_debug_conf(&p), None);
    }
}
