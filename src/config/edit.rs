//! Changes to amocrm.conf made from the panel: a key set, renamed or removed, everything
//! else — the admin's comments, blank lines, order and alignment — kept as written.
//! The file is replaced atomically (written beside it, then renamed) with mode 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::ini_file::strip_comment;

/// One change to one `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Replace the value (keeping the line's comment), or add the line, and the section
    /// too, when missing.
    Set {
        section: String,
        key: String,
        value: String,
    },
    /// Like `Set`, but the value is written as given, without quoting: for rule values
    /// (conditions), which carry their own quotes. Refused when reading the line back
    /// would not give the same text (a comment character outside quotes, surrounding
    /// spaces).
    SetRaw {
        section: String,
        key: String,
        value: String,
    },
    /// `SetRaw` under a new key, on the line of `old_key` (so a renamed rule keeps its
    /// place: the first matching pipeline rule wins); added like `SetRaw` when that line
    /// is gone. Other lines of `key` in the section are removed.
    RenameRaw {
        section: String,
        old_key: String,
        key: String,
        value: String,
    },
    /// Remove every line of that key in that section.
    Remove { section: String, key: String },
}

impl Change {
    pub fn set(section: &str, key: &str, value: &str) -> Change {
        Change::Set {
            section: section.into(),
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn set_raw(section: &str, key: &str, value: &str) -> Change {
        Change::SetRaw {
            section: section.into(),
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn rename_raw(section: &str, old_key: &str, key: &str, value: &str) -> Change {
        Change::RenameRaw {
            section: section.into(),
            old_key: old_key.into(),
            key: key.into(),
            value: value.into(),
        }
    }
    pub fn remove(section: &str, key: &str) -> Change {
        Change::Remove {
            section: section.into(),
            key: key.into(),
        }
    }
}

/// Why a change cannot be written; the text is shown to the admin.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A value as it must be written: quoted when it holds a comment character or has
/// leading or trailing spaces, so that reading it back gives the same text.
pub fn quote(value: &str) -> String {
    // The reader refuses a line ending with '\\' (no continuation lines): quote that too.
    let needs = value.contains([';', '#', '"'])
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.ends_with('\\');
    if !needs {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn check(section: &str, key: &str, value: Option<&str>) -> Result<(), EditError> {
    // Any control character but a tab makes the reader refuse the whole line.
    let bad_line = |s: &str| s.chars().any(|c| c.is_control() && c != '\t');
    if section.is_empty() || bad_line(section) || section.contains([']', '[', ';', '#', '\\']) {
        return Err(EditError::Invalid(format!(
            "'{section}' cannot be a section name"
        )));
    }
    let k = key.trim();
    if k.is_empty() || k != key || bad_line(key) || key.contains(['=', ';', '#', '[', '"']) {
        return Err(EditError::Invalid(format!(
            "'{key}' cannot be a key: no '=', ';', '#', '[', quotes or surrounding spaces"
        )));
    }
    if value.is_some_and(bad_line) {
        return Err(EditError::Invalid(format!(
            "the value of '{key}' must be one line, without control characters"
        )));
    }
    Ok(())
}

/// What a line is, for finding keys and sections.
enum Line<'a> {
    Section(&'a str),
    Entry { key: &'a str },
    Other,
}

fn classify(line: &str) -> Line<'_> {
    let body = strip_comment(line).trim();
    if let Some(rest) = body.strip_prefix('[') {
        if let Some(name) = rest.strip_suffix(']') {
            return Line::Section(name.trim());
        }
        return Line::Other;
    }
    match body.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() => Line::Entry { key: k.trim() },
        _ => Line::Other,
    }
}

/// The line with its value replaced; the key as written, the comment and, where the new
/// value is not longer, the column the comment started at are kept.
fn replace_value(line: &str, value: &str) -> String {
    let body_len = strip_comment(line).len();
    let (body, comment) = line.split_at(body_len);
    let eq = body.find('=').unwrap_or(body.len());
    let key_part = &body[..eq];
    let after_eq = &body[eq + 1..];
    // Only blanks are kept: a carriage return the old line ended with is no part of it.
    let lead = &after_eq[..after_eq.len() - after_eq.trim_start_matches([' ', '\t']).len()];
    let lead = if lead.is_empty() { " " } else { lead };
    with_comment(format!("{key_part}={lead}{value}"), body_len, comment)
}

/// `body` followed by the line's old comment, at the column it started at where it fits.
fn with_comment(mut out: String, old_body_len: usize, comment: &str) -> String {
    if !comment.is_empty() {
        let width = old_body_len.max(out.len() + 1);
        while out.len() < width {
            out.push(' ');
        }
        out.push_str(comment);
    }
    out
}

/// Applies the changes to the text of amocrm.conf.
pub fn apply_text(text: &str, changes: &[Change]) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for change in changes {
        match change {
            Change::Set {
                section,
                key,
                value,
            } => {
                check(section, key, Some(value))?;
                set(&mut lines, section, key, &quote(value));
            }
            Change::SetRaw {
                section,
                key,
                value,
            } => {
                check_raw(section, key, value)?;
                set(&mut lines, section, key, value);
            }
            Change::RenameRaw {
                section,
                old_key,
                key,
                value,
            } => {
                check(section, old_key, None)?;
                check_raw(section, key, value)?;
                match find(&lines, section, old_key) {
                    Some(i) if old_key != key => {
                        remove(&mut lines, section, key);
                        // Removing lines of `key` may have moved the old key's line.
                        let i = find(&lines, section, old_key).unwrap_or(i);
                        lines[i] = replace_entry(&lines[i], key, value);
                    }
                    _ => set(&mut lines, section, key, value),
                }
            }
            Change::Remove { section, key } => {
                check(section, key, None)?;
                remove(&mut lines, section, key);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

fn check_raw(section: &str, key: &str, value: &str) -> Result<(), EditError> {
    check(section, key, Some(value))?;
    if strip_comment(value) != value || value.trim() != value {
        return Err(EditError::Invalid(format!(
            "the value of '{key}' cannot be written as it is: a ';' or '#' outside quotes, or surrounding spaces"
        )));
    }
    Ok(())
}

/// The index of the line of `key` in `section`.
fn find(lines: &[String], section: &str, key: &str) -> Option<usize> {
    let mut current: Option<&str> = None;
    for (i, l) in lines.iter().enumerate() {
        match classify(l) {
            Line::Section(s) => current = Some(s),
            Line::Entry { key: k } if current == Some(section) && k == key => return Some(i),
            _ => {}
        }
    }
    None
}

fn remove(lines: &mut Vec<String>, section: &str, key: &str) {
    let mut current: Option<String> = None;
    lines.retain(|l| match classify(l) {
        Line::Section(s) => {
            current = Some(s.to_string());
            true
        }
        Line::Entry { key: k } => !(current.as_deref() == Some(section) && k == key),
        Line::Other => true,
    });
}

/// `key = value` in place of the line, its comment kept at its column where it fits.
fn replace_entry(line: &str, key: &str, value: &str) -> String {
    let body_len = strip_comment(line).len();
    let comment = &line[body_len..];
    with_comment(format!("{key} = {value}"), body_len, comment)
}

fn set(lines: &mut Vec<String>, section: &str, key: &str, value: &str) {
    let mut current: Option<&str> = None;
    let mut section_at: Option<usize> = None;
    let mut last_entry: Option<usize> = None;
    for (i, l) in lines.iter().enumerate() {
        match classify(l) {
            Line::Section(s) => {
                current = Some(s);
                if s == section && section_at.is_none() {
                    section_at = Some(i);
                }
            }
            Line::Entry { key: k } if current == Some(section) => {
                if k == key {
                    lines[i] = replace_value(&lines[i].clone(), value);
                    return;
                }
                last_entry = Some(i);
            }
            _ => {}
        }
    }
    let new_line = format!("{key} = {value}");
    match (section_at, last_entry) {
        (_, Some(i)) => lines.insert(i + 1, new_line),
        (Some(s), None) => lines.insert(s + 1, new_line),
        (None, _) => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(format!("[{section}]"));
            lines.push(new_line);
        }
    }
}

/// Applies the changes to the file: read, change, write beside it with mode 0600, rename.
/// An exclusive lock beside the file keeps two admins' saves from interleaving.
pub fn apply(path: &Path, changes: &[Change]) -> Result<(), EditError> {
    let io = |source: std::io::Error| EditError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let lock_path = dir.join(".amocrm.conf.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io)?;
    // Released when `lock` is dropped.
    lock.lock().map_err(io)?;
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| EditError::Invalid(format!("{} is not UTF-8 text", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(e)),
    };
    let new = apply_text(&text, changes)?;
    let tmp = dir.join(format!(".amocrm.conf.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(new.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "\
; header comment
[auth]
url = https://old.amocrm.ru          ; the account
client_id = abc

[sync]
enabled = yes   ; stop switch
; batch_size = 50
rate_limit = 7

[tags.lead]
trial = item.period = -100
";

    #[test]
    fn set_keeps_comments_and_alignment() {
        let out = apply_text(
            CONF,
            &[
                Change::set("auth", "url", "https://new.amocrm.ru"),
                Change::set("sync", "enabled", "no"),
            ],
        )
        .unwrap();
        assert!(out.contains("url = https://new.amocrm.ru          ; the account\n"));
        assert!(out.contains("enabled = no    ; stop switch\n"));
        assert!(out.starts_with("; header comment\n[auth]\n"));
        assert!(out.contains("; batch_size = 50\n"));
    }

    #[test]
    fn a_carriage_return_after_the_equals_sign_is_not_kept() {
        // The last line of a CRLF file cut before its line feed: no value, then `\r`.
        let out = apply_text(
            "[sync]\nbatch_size =\r",
            &[Change::set("sync", "batch_size", "0")],
        )
        .unwrap();
        assert_eq!(out, "[sync]\nbatch_size = 0\n");
        assert!(
            crate::config::Sources::texts(&out, "", None)
                .shape_problems()
                .is_empty(),
            "{out:?}"
        );
    }

    #[test]
    fn missing_keys_and_sections_are_added_in_place() {
        let out = apply_text(
            CONF,
            &[
                Change::set("auth", "redirect_uri", "https://b.example/billmgr"),
                Change::set("sync", "batch_size", "100"),
                Change::set("tags.contact", "VIP", "account.id in (1, 2)"),
            ],
        )
        .unwrap();
        assert!(out.contains("client_id = abc\nredirect_uri = https://b.example/billmgr\n"));
        assert!(out.contains("rate_limit = 7\nbatch_size = 100\n"));
        assert!(out.ends_with(
            "trial = item.period = -100\n\n[tags.contact]\nVIP = account.id in (1, 2)\n"
        ));
    }

    #[test]
    fn remove_takes_only_that_key_of_that_section() {
        let out = apply_text(CONF, &[Change::remove("tags.lead", "trial")]).unwrap();
        assert!(!out.contains("trial"));
        assert!(out.contains("[tags.lead]\n"));
        let same = apply_text(CONF, &[Change::remove("auth", "trial")]).unwrap();
        assert_eq!(same, CONF);
    }

    #[test]
    fn values_with_comment_characters_are_quoted_and_bad_keys_refused() {
        let out = apply_text(CONF, &[Change::set("auth", "client_id", "a;b#c\"d")]).unwrap();
        assert!(out.contains("client_id = \"a;b#c\\\"d\"\n"));
        assert!(apply_text(CONF, &[Change::set("auth", "x\ny", "1")]).is_err());
        assert!(apply_text(CONF, &[Change::set("auth", "k", "two\nlines")]).is_err());
        assert!(apply_text(CONF, &[Change::set("a]b", "k", "v")]).is_err());
        assert!(apply_text(CONF, &[Change::set("auth", "a = b", "v")]).is_err());
    }

    #[test]
    fn values_the_reader_would_refuse_are_not_written() {
        // The reader refuses a line holding any control character but a tab: writing one
        // would turn a saved setting into a broken file.
        for bad in ["\u{e}s absent", "a\u{1b}[0m", "x\u{7f}", "\u{85}"] {
            let err = apply_text(CONF, &[Change::set("sync", "batch_size", bad)]).unwrap_err();
            assert!(err.to_string().contains("control characters"), "{err}");
            assert!(apply_text(CONF, &[Change::set_raw("tags.lead", "x", bad)]).is_err());
        }
        let out = apply_text(CONF, &[Change::set("auth", "client_secret", "C:\\")]).unwrap();
        assert!(
            crate::config::Sources::texts(&out, "", None)
                .shape_problems()
                .is_empty(),
            "{out}"
        );
        assert_eq!(
            crate::config::Sources::texts(&out, "", None)
                .values()
                .expect("values")
                .get("auth", "client_secret"),
            Some("C:\\")
        );
        let out = apply_text(CONF, &[Change::set("auth", "client_id", "a\tb")]).unwrap();
        assert_eq!(
            crate::config::Sources::texts(&out, "", None)
                .values()
                .expect("values")
                .get("auth", "client_id"),
            Some("a\tb")
        );
    }

    #[test]
    fn raw_values_keep_their_quotes_and_refuse_comments() {
        let out = apply_text(
            CONF,
            &[Change::set_raw(
                "tags.lead",
                "EU",
                "project.name = \"HostCom; EU\"",
            )],
        )
        .unwrap();
        assert!(
            out.ends_with("EU = project.name = \"HostCom; EU\"\n"),
            "{out}"
        );
        assert!(apply_text(CONF, &[Change::set_raw("tags.lead", "x", "a = 1 ; c")]).is_err());
        assert!(apply_text(CONF, &[Change::set_raw("tags.lead", "x", " a")]).is_err());
    }

    #[test]
    fn a_renamed_key_keeps_its_place_and_comment() {
        let text = "[pipelines]\na = x -> 1:2   ; first\nb = y -> 1:3\n";
        let out = apply_text(
            text,
            &[Change::rename_raw("pipelines", "a", "aa", "z -> 1:4")],
        )
        .unwrap();
        assert_eq!(out, "[pipelines]\naa = z -> 1:4  ; first\nb = y -> 1:3\n");
        // Gone meanwhile: added instead.
        let out = apply_text(
            text,
            &[Change::rename_raw("pipelines", "q", "c", "w -> 1:5")],
        )
        .unwrap();
        assert!(out.ends_with("b = y -> 1:3\nc = w -> 1:5\n"), "{out}");
        // Onto an existing key: that line goes, the renamed one stays in place.
        let out = apply_text(
            text,
            &[Change::rename_raw("pipelines", "b", "a", "v -> 1:6")],
        )
        .unwrap();
        assert_eq!(out, "[pipelines]\na = v -> 1:6\n");
    }

    #[test]
    fn the_file_is_replaced_with_mode_600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("amocrm.conf");
        std::fs::write(&path, CONF).unwrap();
        apply(&path, &[Change::set("sync", "rate_limit", "5")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("rate_limit = 5\n"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
