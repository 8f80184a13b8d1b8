//! amocrm.conf as sections of `key = value` entries, each with its line.
//!
//! rust-ini reads the file but gives no line numbers and knows no comments after a value,
//! so the file is first scanned here: comments (`;` or `#` outside quotes) are cut, each
//! line's shape is checked, and an index (section, key) → line is kept. rust-ini then
//! parses the cleaned text, which has the same lines.

use std::collections::HashMap;
use std::path::Path;

use ini::{Ini, ParseOption};

use super::{Problem, ProblemKind};

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub section: String,
    pub key: String,
    /// Comment cut, trimmed.
    pub value: String,
    pub line: usize,
    /// 1-based column (in characters) where the value starts in the line.
    pub value_col: usize,
}

/// The file's sections (first line of each) and entries, in file order.
#[derive(Debug, Clone, Default)]
pub struct IniDoc {
    pub sections: Vec<(String, usize)>,
    pub entries: Vec<Entry>,
}

impl IniDoc {
    pub fn section(&self, name: &str) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.section == name)
    }
    pub fn get(&self, section: &str, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.section == section && e.key == key)
    }
}

/// The text before a comment: `;` or `#` outside a double-quoted string.
pub fn strip_comment(line: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == '"' {
            in_quotes = true;
        } else if c == ';' || c == '#' {
            return &line[..i];
        }
    }
    line
}

/// Reads `text` (the contents of `file`); problems with the file's shape go to `problems`.
pub fn parse(file: &Path, text: &str, problems: &mut Vec<Problem>) -> IniDoc {
    let mut scan = Scan {
        file,
        problems,
        doc: IniDoc::default(),
        cleaned: String::with_capacity(text.len()),
        index: HashMap::new(),
        seen: HashMap::new(),
        section: None,
    };
    // A byte-order mark some editors add is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        let keep = scan.line(i + 1, raw.strip_suffix('\r').unwrap_or(raw));
        scan.cleaned.push_str(&keep);
        scan.cleaned.push('\n');
    }
    scan.finish()
}

/// The scan of amocrm.conf's lines: each checked, and what rust-ini may read kept.
struct Scan<'a> {
    file: &'a Path,
    problems: &'a mut Vec<Problem>,
    doc: IniDoc,
    /// The lines rust-ini reads: headers and settings, nothing else.
    cleaned: String,
    /// (section, key) → (line, value column), in order, to give rust-ini's entries theirs.
    index: HashMap<(String, String), Vec<(usize, usize)>>,
    /// (section, key) → the line that set it first.
    seen: HashMap<(String, String), usize>,
    section: Option<String>,
}

impl Scan<'_> {
    fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            column: 0,
            kind: ProblemKind::Line,
            message,
        });
    }

    /// One line; what of it rust-ini reads (empty for a comment or a bad line).
    fn line(&mut self, line_no: usize, raw: &str) -> String {
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            return String::new();
        }
        if let Some(c) = content.chars().find(|c| c.is_control() && *c != '\t') {
            // A NUL or an escape sequence in a setting is a damaged file, not a value.
            let message = format!(
                "the line holds a control character (U+{:04X}): remove it",
                u32::from(c)
            );
            self.problem(line_no, message);
            return String::new();
        }
        if let Some(rest) = content.strip_prefix('[') {
            return self.header(line_no, content, rest);
        }
        match content.find('=') {
            Some(eq) => self.setting(line_no, raw, content, eq),
            None => {
                let message = format!("'{content}' is not a setting: write key = value");
                self.problem(line_no, message);
                String::new()
            }
        }
    }

    fn header(&mut self, line_no: usize, content: &str, rest: &str) -> String {
        match rest.strip_suffix(']').map(str::trim) {
            // rust-ini reads a backslash in a header as an escape and loses what follows.
            Some(name) if !name.is_empty() && !name.contains(['[', ']', '\\']) => {
                if !self.doc.sections.iter().any(|(s, _)| s == name) {
                    self.doc.sections.push((name.to_string(), line_no));
                }
                self.section = Some(name.to_string());
                return format!("[{name}]");
            }
            Some(name) if name.contains('\\') => {
                let message = format!("'{content}': a section name cannot contain '\\'");
                self.problem(line_no, message);
            }
            _ => {
                let message = format!("'{content}' is not a section header: write [name]");
                self.problem(line_no, message);
            }
        }
        // Keys below would land in the wrong section: ignore them until the next header.
        self.section = None;
        String::new()
    }

    fn setting(&mut self, line_no: usize, raw: &str, content: &str, eq: usize) -> String {
        let key = content[..eq].trim();
        let value = content[eq + 1..].trim();
        let value_col = value_column(raw, eq_in_raw(raw, content, eq));
        let why = if key.is_empty() {
            "a setting without a name: write key = value".to_string()
        } else if key.contains([':', '\\']) {
            format!("'{key}': a name cannot contain ':' or '\\'")
        } else if value.ends_with('\\') {
            "a line cannot end with '\\' (values do not continue on the next line)".to_string()
        } else if let Some(sec) = self.section.clone() {
            let id = (sec.clone(), key.to_string());
            match self.seen.get(&id) {
                Some(first) => format!("[{sec}] {key} is already set on line {first}"),
                None => {
                    self.seen.insert(id.clone(), line_no);
                    self.index.entry(id).or_default().push((line_no, value_col));
                    return format!("{key}={value}");
                }
            }
        } else if self.doc.sections.is_empty() {
            format!("'{key}' is outside any section: put it under [auth], [sync] ...")
        } else {
            // Under a bad header: that header's problem says it.
            return String::new();
        };
        self.problem(line_no, why);
        String::new()
    }

    /// rust-ini's reading of the kept lines, each entry given its line and value column.
    fn finish(mut self) -> IniDoc {
        let opt = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        };
        let ini = match Ini::load_from_str_opt(&self.cleaned, opt) {
            Ok(ini) => ini,
            Err(e) => {
                self.problem(e.line, format!("cannot read the file: {}", e.msg));
                return self.doc;
            }
        };
        for (sec, props) in ini.iter() {
            let Some(sec) = sec else { continue };
            for (key, value) in props.iter() {
                let id = (sec.to_string(), key.to_string());
                let Some(lines) = self.index.get_mut(&id).filter(|l| !l.is_empty()) else {
                    continue;
                };
                let (line, value_col) = lines.remove(0);
                self.doc.entries.push(Entry {
                    section: id.0,
                    key: id.1,
                    value: value.to_string(),
                    line,
                    value_col,
                });
            }
        }
        self.doc.entries.sort_by_key(|e| e.line);
        self.doc
    }
}

/// The byte index of the `=` in the raw line, given its index in the trimmed content.
fn eq_in_raw(raw: &str, content: &str, eq_in_content: usize) -> usize {
    let offset = raw.find(content).unwrap_or(0);
    offset + eq_in_content
}

/// 1-based character column of the first non-blank after the `=` at byte `eq`.
fn value_column(raw: &str, eq: usize) -> usize {
    let after = &raw[eq + 1..];
    let skip = after.len() - after.trim_start().len();
    raw[..eq + 1 + skip].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (IniDoc, Vec<Problem>) {
        let mut problems = Vec::new();
        let doc = parse(Path::new("amocrm.conf"), text, &mut problems);
        (doc, problems)
    }

    #[test]
    fn comments_are_cut_outside_quotes() {
        assert_eq!(strip_comment("a = 1 ; note"), "a = 1 ");
        assert_eq!(strip_comment("a = 1 # note"), "a = 1 ");
        assert_eq!(
            strip_comment(r#"t = x contains "a;b#c" ; real"#),
            r#"t = x contains "a;b#c" "#
        );
        assert_eq!(
            strip_comment(r#"t = "say \";\"" # c"#),
            r#"t = "say \";\"" "#
        );
        assert_eq!(strip_comment("; whole line"), "");
    }

    #[test]
    fn entries_know_their_lines_and_columns() {
        let text = "; head\n[auth]\nurl = https://x.amocrm.ru ; the account\n\n[tags.lead]\ntrial   =  item.pricelist contains \"trial\"\n";
        let (doc, problems) = read(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            doc.sections,
            vec![("auth".to_string(), 2), ("tags.lead".to_string(), 5)]
        );
        let url = doc.get("auth", "url").expect("url");
        assert_eq!(
            (url.value.as_str(), url.line, url.value_col),
            ("https://x.amocrm.ru", 3, 7)
        );
        let trial = doc.get("tags.lead", "trial").expect("trial");
        assert_eq!(
            (trial.value.as_str(), trial.line, trial.value_col),
            ("item.pricelist contains \"trial\"", 6, 12)
        );
    }

    #[test]
    fn bad_lines_are_problems_with_lines() {
        let text = "stray = 1\n[auth]\nurl\nurl = a\nurl = b\n[broken\n= x\nx:y = 1\nz = a\\\n";
        let (doc, problems) = read(text);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 3, 5, 6, 7, 8, 9], "{problems:?}");
        assert!(problems[2].message.contains("already set on line 4"));
        assert_eq!(doc.get("auth", "url").map(|e| e.value.as_str()), Some("a"));
        assert_eq!(doc.entries.len(), 1);
    }

    #[test]
    fn a_backslash_in_a_section_name_is_a_problem_and_hides_nothing() {
        let (doc, problems) =
            read("[auth]\nurl = a\n[fields.lea\\]\n1 = x\n[sync]\nbatch_size = 5\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 3);
        assert!(problems[0].message.contains("cannot contain '\\'"));
        assert_eq!(
            doc.get("sync", "batch_size").map(|e| e.value.as_str()),
            Some("5")
        );
    }

    #[test]
    fn control_characters_are_problems_outside_comments() {
        let (doc, problems) =
            read("[auth]\nclient_id = a\0b\n; \x1b[1m bold note\n\x1b[31mred = 1\ntab\t= ok\n");
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 4], "{problems:?}");
        assert!(problems[0].message.contains("U+0000"));
        assert_eq!(doc.entries.len(), 1, "only the line with a tab is read");
    }

    #[test]
    fn repeated_sections_merge_in_file_order() {
        let (doc, problems) = read("[pipelines]\na = 1\n[sync]\nx = 2\n[pipelines]\nb = 3\n");
        assert!(problems.is_empty(), "{problems:?}");
        let keys: Vec<&str> = doc.section("pipelines").map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b"]);
    }

    #[test]
    fn quotes_and_backslashes_pass_through_unchanged() {
        let (doc, problems) = read("[tags.lead]\nt = x contains \"a\\\"b;\\\\\" ; c\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            doc.get("tags.lead", "t").map(|e| e.value.as_str()),
            Some(r#"x contains "a\"b;\\""#)
        );
    }

    #[test]
    fn unicode_and_crlf() {
        let (doc, problems) = read("\u{feff}[tags.contact]\r\nХостКом = account.project = 1\r\n");
        assert!(problems.is_empty(), "{problems:?}");
        let e = doc.get("tags.contact", "ХостКом").expect("cyrillic key");
        assert_eq!((e.value.as_str(), e.value_col), ("account.project = 1", 11));
    }
}
