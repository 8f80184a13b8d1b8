//! presets.default / presets.custom → the [`Vocabulary`] conditions are written in.
//!
//! One definition a line (the format is documented at the top of `etc/presets.default`):
//! ```text
//! value     NAME = SOURCE TYPE ["label"]
//! validator NAME = [not] OPERATION [nocase] TYPE[, TYPE ...] ["label"]
//! ```

use std::collections::HashMap;
use std::path::Path;

use super::ini_file::strip_comment;
use super::{Problem, ProblemKind};
use crate::rules::{
    Op, ValidatorDef, ValueDef, ValueSpec, ValueType, Vocabulary, is_valid_name, is_word_char,
    source_kinds, source_tables,
};

/// The definitions of one presets file, each with its line.
#[derive(Debug, Clone, Default)]
pub struct PresetFile {
    pub values: Vec<(ValueDef, usize)>,
    pub validators: Vec<(ValidatorDef, usize)>,
}

impl PresetFile {
    /// Adds this file's definitions to `vocab`, replacing those of the same name.
    pub fn apply_to(self, vocab: &mut Vocabulary) {
        for (def, _) in self.values {
            vocab.values.insert(def.spec.name.clone(), def);
        }
        for (def, _) in self.validators {
            vocab.validators.insert(def.name.clone(), def);
        }
    }
}

/// A word of a presets line and its 1-based column.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    quoted: bool,
    col: usize,
}

/// Reads one presets file; problems (with lines) go to `problems`.
pub fn parse(file: &Path, text: &str, problems: &mut Vec<Problem>) -> PresetFile {
    let mut out = PresetFile::default();
    let mut value_lines: HashMap<String, usize> = HashMap::new();
    let mut validator_lines: HashMap<String, usize> = HashMap::new();
    // A byte-order mark some editors add is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let mut problem = |message: String| {
            problems.push(Problem {
                file: file.to_path_buf(),
                line,
                column: 0,
                kind: ProblemKind::Line,
                message,
            })
        };
        let content = strip_comment(raw.strip_suffix('\r').unwrap_or(raw));
        let words = match split_words(content) {
            Ok(w) if w.is_empty() => continue,
            Ok(w) => w,
            Err(e) => {
                problem(e);
                continue;
            }
        };
        match words[0].text.as_str() {
            "value" if !words[0].quoted => match value_line(&words) {
                Ok(def) => {
                    let name = def.spec.name.clone();
                    if let Some(first) = value_lines.get(&name) {
                        problem(format!("value '{name}' is already defined on line {first}"));
                    } else {
                        value_lines.insert(name, line);
                        out.values.push((def, line));
                    }
                }
                Err(e) => problem(e),
            },
            "validator" if !words[0].quoted => match validator_line(&words) {
                Ok(def) => {
                    let name = def.name.clone();
                    if let Some(first) = validator_lines.get(&name) {
                        problem(format!(
                            "validator '{name}' is already defined on line {first}"
                        ));
                    } else {
                        validator_lines.insert(name, line);
                        out.validators.push((def, line));
                    }
                }
                Err(e) => problem(e),
            },
            other => problem(format!(
                "'{other}' is not a definition: a line is `value NAME = SOURCE TYPE [\"label\"]` or `validator NAME = [not] OPERATION [nocase] TYPES [\"label\"]`"
            )),
        }
    }
    out
}

/// Splits on blanks; `"..."` is one word (backslash escapes `\"` and `\\`).
fn split_words(line: &str) -> Result<Vec<Word>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let col = i + 1;
        let mut text = String::new();
        if chars[i] == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "column {col}: the quoted text is not closed: add the closing \""
                        ));
                    }
                    Some('"') => break,
                    Some('\\') if i + 1 < chars.len() => {
                        text.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        text.push(c);
                        i += 1;
                    }
                }
            }
            i += 1;
            words.push(Word {
                text,
                quoted: true,
                col,
            });
        } else {
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '"' {
                text.push(chars[i]);
                i += 1;
            }
            words.push(Word {
                text,
                quoted: false,
                col,
            });
        }
    }
    Ok(words)
}

/// The label: an optional last quoted word. Returns it and the words before it.
fn take_label(words: &[Word]) -> (&[Word], String) {
    match words.split_last() {
        Some((last, rest)) if last.quoted => (rest, last.text.clone()),
        _ => (words, String::new()),
    }
}

/// `value NAME = SOURCE TYPE ["label"]`.
fn value_line(words: &[Word]) -> Result<ValueDef, String> {
    const USAGE: &str = "write `value NAME = SOURCE TYPE [\"label\"]`, e.g. `value item.ip = itemparam.ip text \"IP address\"`";
    let (words, label) = take_label(words);
    let [_, name, eq, source, ty] = words else {
        return Err(format!("malformed value: {USAGE}"));
    };
    if eq.text != "=" {
        return Err(format!(
            "column {}: expected '=' after the name: {USAGE}",
            eq.col
        ));
    }
    if name.quoted {
        return Err(format!("malformed value: the name is not quoted; {USAGE}"));
    }
    let name = &name.text;
    if !is_valid_name(name) || !name.chars().all(is_word_char) {
        return Err(format!(
            "'{name}' cannot name a value: use letters, digits, '.', '_' or '-'"
        ));
    }
    let (table, column) = source.text.split_once('.').unwrap_or((&source.text, ""));
    if source_kinds(&source.text).is_empty() {
        return Err(format!(
            "column {}: source '{}' must be table.column with a table among {}",
            source.col,
            source.text,
            source_tables().join(", ")
        ));
    }
    if column.is_empty()
        || !column
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "column {}: '{}' is not a column of {table}: write {table}.COLUMN",
            source.col, source.text
        ));
    }
    let Some(ty) = ValueType::parse(&ty.text) else {
        return Err(format!(
            "column {}: unknown type '{}': use int, number, text, date or bool",
            ty.col, ty.text
        ));
    };
    Ok(ValueDef {
        spec: ValueSpec {
            name: name.clone(),
            source: source.text.clone(),
            ty,
        },
        label,
    })
}

/// `validator NAME = [not] OPERATION [nocase] TYPE[, TYPE ...] ["label"]`.
fn validator_line(words: &[Word]) -> Result<ValidatorDef, String> {
    const USAGE: &str = "write `validator NAME = [not] OPERATION [nocase] TYPES [\"label\"]`, e.g. `validator not_in = not in int, text`";
    let (words, label) = take_label(words);
    if words.len() < 5 {
        return Err(format!("malformed validator: {USAGE}"));
    }
    let name = &words[1].text;
    if !is_valid_name(name) {
        return Err(format!(
            "'{name}' cannot name a validator: use only symbols (= ! < > ~) or only letters, digits, '.', '_' and '-'"
        ));
    }
    if words[2].text != "=" {
        return Err(format!(
            "column {}: expected '=' after the name: {USAGE}",
            words[2].col
        ));
    }
    let mut rest = &words[3..];
    let negate = rest.first().is_some_and(|w| w.text == "not");
    if negate {
        rest = &rest[1..];
    }
    let Some((op_word, after)) = rest.split_first() else {
        return Err(format!("malformed validator: {USAGE}"));
    };
    let Some(op) = Op::parse(&op_word.text) else {
        let known: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
        return Err(format!(
            "column {}: unknown operation '{}': use one of {}",
            op_word.col,
            op_word.text,
            known.join(", ")
        ));
    };
    rest = after;
    let nocase = rest.first().is_some_and(|w| w.text == "nocase");
    if nocase {
        rest = &rest[1..];
    }
    let mut types = Vec::new();
    for w in rest {
        for t in w.text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let ty = if t == "any" {
                ValueType::ALL
                    .iter()
                    .copied()
                    .filter(|ty| op.supports(*ty))
                    .collect::<Vec<_>>()
            } else {
                match ValueType::parse(t) {
                    Some(ty) if op.supports(ty) => vec![ty],
                    Some(ty) => {
                        return Err(format!(
                            "column {}: operation '{op}' cannot apply to {ty}",
                            w.col
                        ));
                    }
                    None => {
                        return Err(format!(
                            "column {}: unknown type '{t}': use int, number, text, date, bool or any",
                            w.col
                        ));
                    }
                }
            };
            for ty in ty {
                if !types.contains(&ty) {
                    types.push(ty);
                }
            }
        }
    }
    if types.is_empty() {
        return Err(format!("validator '{name}' names no types: {USAGE}"));
    }
    if nocase && types.iter().any(|t| *t != ValueType::Text) {
        return Err(format!("validator '{name}': nocase applies to text only"));
    }
    Ok(ValidatorDef {
        name: name.clone(),
        op,
        negate,
        nocase,
        types,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (PresetFile, Vec<Problem>) {
        let mut problems = Vec::new();
        let f = parse(Path::new("presets.custom"), text, &mut problems);
        (f, problems)
    }

    #[test]
    fn values_and_validators_parse() {
        let (f, problems) = read(
            "# comment\nvalue item.ip = itemparam.ip text \"IP address\" ; trailing\n\
             validator != = not eq any \"differs\"\nvalidator icontains = contains nocase text\n\
             validator in = in int, number,text date\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let (ip, line) = &f.values[0];
        assert_eq!(*line, 2);
        assert_eq!(
            ip.spec,
            ValueSpec {
                name: "item.ip".into(),
                source: "itemparam.ip".into(),
                ty: ValueType::Text
            }
        );
        assert_eq!(ip.label, "IP address");
        let ne = &f.validators[0].0;
        assert_eq!(
            (
                ne.op,
                ne.negate,
                ne.nocase,
                ne.types.len(),
                ne.label.as_str()
            ),
            (Op::Eq, true, false, 5, "differs")
        );
        let ic = &f.validators[1].0;
        assert_eq!(
            (ic.op, ic.nocase, ic.types.clone()),
            (Op::Contains, true, vec![ValueType::Text])
        );
        assert_eq!(
            f.validators[2].0.types,
            vec![
                ValueType::Int,
                ValueType::Number,
                ValueType::Text,
                ValueType::Date
            ]
        );
    }

    #[test]
    fn malformed_lines_are_problems_with_lines() {
        let (f, problems) = read(
            "value a = nosuch.x text\nvalue b = item.x float\nvalue c = item.x\nvalidator d = between int\n\
             validator e = contains int\nvalidator f = eq nocase int\nvalues g = item.x text\n\
             value h = item.x text\nvalue h = item.y text\nvalue \"i\" = item.x text\nvalue j = item text\n\
             value k = item.x text \"open\n",
        );
        assert!(f.values.len() == 1 && f.validators.is_empty(), "{f:?}");
        let got: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        let expect = [
            (1, "table among"),
            (2, "unknown type 'float'"),
            (3, "malformed value"),
            (4, "unknown operation 'between'"),
            (5, "cannot apply to int"),
            (6, "nocase applies to text only"),
            (7, "not a definition"),
            (9, "already defined on line 8"),
            (10, "malformed value"),
            (11, "is not a column"),
            (12, "not closed"),
        ];
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for ((line, msg), (el, em)) in got.iter().zip(expect) {
            assert_eq!(*line, el, "{msg}");
            assert!(msg.contains(em), "line {line}: {msg} (wanted {em})");
        }
    }

    #[test]
    fn a_later_file_overrides_by_name() {
        let (default, p1) = read("value item.cost = item.cost number\nvalidator = = eq any\n");
        let (custom, p2) =
            read("value item.cost = item.cost int \"whole\"\nvalue item.ip = itemparam.ip text\n");
        assert!(p1.is_empty() && p2.is_empty());
        let mut vocab = Vocabulary::default();
        default.apply_to(&mut vocab);
        custom.apply_to(&mut vocab);
        assert_eq!(vocab.values["item.cost"].spec.ty, ValueType::Int);
        assert_eq!(vocab.values["item.cost"].label, "whole");
        assert!(vocab.values.contains_key("item.ip"));
        assert!(vocab.validators.contains_key("="));
    }
}
