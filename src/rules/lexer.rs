//! Splits a condition into words, operator symbols, quoted strings, parentheses and commas,
//! each with its column.

use super::vocabulary::{is_symbol_char, is_word_char};

/// Longer conditions are refused before any work is done on them.
pub const MAX_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A bare word: a value name, a validator name, `and`, `or`, an unquoted argument.
    Word(String),
    /// A run of `= ! < > ~`: an operator-like validator name.
    Symbol(String),
    /// A `"quoted string"`, escapes resolved.
    Str(String),
    Open,
    Close,
    Comma,
}

impl Tok {
    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) | Tok::Symbol(w) => format!("'{w}'"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::Comma => "','".into(),
        }
    }
}

/// A token and its 1-based column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub col: usize,
}

/// A syntax error at a 1-based column of the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub col: usize,
    pub message: String,
}

impl SyntaxError {
    pub fn new(col: usize, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            col,
            message: message.into(),
        }
    }
}

pub fn tokenize(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let len = src.chars().count();
    if len > MAX_LEN {
        return Err(SyntaxError::new(
            1,
            format!("condition is {len} characters long; at most {MAX_LEN} are allowed"),
        ));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '"' => {
                let (s, next) = quoted(&chars, i)?;
                i = next;
                Tok::Str(s)
            }
            c if is_symbol_char(c) => {
                let start = i;
                while i < chars.len() && is_symbol_char(chars[i]) {
                    i += 1;
                }
                Tok::Symbol(chars[start..i].iter().collect())
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
            other => {
                return Err(SyntaxError::new(
                    col,
                    format!("unexpected character '{other}'"),
                ));
            }
        };
        out.push(Token { tok, col });
    }
    Ok(out)
}

/// A string opening at `chars[start]`; returns it and the index after the closing quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), SyntaxError> {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((s, i + 1)),
            '\\' => {
                let escaped = match chars.get(i + 1) {
                    Some('"') => '"',
                    Some('\\') => '\\',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some(other) => {
                        return Err(SyntaxError::new(
                            i + 1,
                            format!("unknown escape '\\{other}' (use \\\" \\\\ \\n or \\t)"),
                        ));
                    }
                    None => break,
                };
                s.push(escaped);
                i += 2;
            }
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Err(SyntaxError::new(
        start + 1,
        "the quoted string is not closed: add the closing \"",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn splits_words_symbols_strings_and_lists() {
        assert_eq!(
            toks(r#"item.status!=4 and x in (a, "c d")"#),
            vec![
                Tok::Word("item.status".into()),
                Tok::Symbol("!=".into()),
                Tok::Word("4".into()),
                Tok::Word("and".into()),
                Tok::Word("x".into()),
                Tok::Word("in".into()),
                Tok::Open,
                Tok::Word("a".into()),
                Tok::Comma,
                Tok::Str("c d".into()),
                Tok::Close,
            ]
        );
    }

    #[test]
    fn strings_resolve_escapes() {
        assert_eq!(
            toks(r#""say \"hi\"\\ \n""#),
            vec![Tok::Str("say \"hi\"\\ \n".into())]
        );
        assert_eq!(toks(r#""Хост ""#), vec![Tok::Str("Хост ".into())]);
    }

    #[test]
    fn columns_count_characters() {
        let t = tokenize("имя = \"x\"").expect("tokenizes");
        assert_eq!(t.iter().map(|t| t.col).collect::<Vec<_>>(), vec![1, 5, 7]);
    }

    #[test]
    fn errors_name_their_column() {
        let e = tokenize(r#"a = "open"#).expect_err("unterminated");
        assert_eq!(e.col, 5);
        assert!(e.message.contains("not closed"), "{}", e.message);
        let e = tokenize(r#"a = "x\q""#).expect_err("bad escape");
        assert_eq!(e.col, 7);
        let e = tokenize(&"a".repeat(MAX_LEN + 1)).expect_err("too long");
        assert!(e.message.contains("at most"), "{}", e.message);
    }
}
