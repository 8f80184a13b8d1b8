//! The condition language, parsed once into a [`Condition`] by recursive descent:
//!
//! ```text
//! condition := all ("or" all)*
//! all       := term ("and" term)*
//! term      := "(" condition ")" | VALUE VALIDATOR [argument]
//! argument  := literal | "(" literal ("," literal)* ")"      -- a list for `in`-like validators
//! literal   := WORD | "quoted string"
//! ```
//! Names are checked against the presets, arguments against the value's type, and values
//! against the entity kind the condition is for.

use super::condition::{Arg, Condition, Test, lower};
use super::lexer::{SyntaxError, Tok, Token, tokenize};
use super::value::{Value, ValueSpec, ValueType, kind_noun};
use super::vocabulary::{Arity, Op, Vocabulary, is_reserved};
use crate::model::EntityKind;

/// Parentheses nested deeper than this are refused (the parser recurses on them).
pub const MAX_DEPTH: usize = 32;
/// Lists longer than this are refused.
pub const MAX_LIST: usize = 1000;

/// Parses `src` as a condition over entities of `kind`.
pub fn parse_condition(
    src: &str,
    vocab: &Vocabulary,
    kind: EntityKind,
) -> Result<Condition, SyntaxError> {
    let tokens = tokenize(src)?;
    let end = src.chars().count() + 1;
    if tokens.is_empty() {
        return Err(SyntaxError::new(
            1,
            "the condition is empty: write VALUE VALIDATOR [ARGUMENT]",
        ));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        end,
        vocab,
        kind,
    };
    let cond = p.any(0)?;
    if let Some(t) = p.peek() {
        let hint = if t.tok == Tok::Close {
            "no '(' opens it"
        } else {
            "join tests with 'and' or 'or'"
        };
        return Err(SyntaxError::new(
            t.col,
            format!("unexpected {}: {hint}", t.tok.describe()),
        ));
    }
    Ok(cond)
}

/// Parses a single value name (a custom field's source), checked against `kind`.
pub fn parse_value_name(
    src: &str,
    vocab: &Vocabulary,
    kind: EntityKind,
) -> Result<ValueSpec, SyntaxError> {
    let name = src.trim();
    let col = src
        .find(|c: char| !c.is_whitespace())
        .map_or(1, |i| src[..i].chars().count() + 1);
    if name.is_empty() {
        return Err(SyntaxError::new(
            1,
            "no value given: name a value of the presets, e.g. user.email",
        ));
    }
    if name.contains(char::is_whitespace) {
        return Err(SyntaxError::new(
            col,
            format!("expected one value name, found '{name}'"),
        ));
    }
    lookup_value(name, col, vocab, kind)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    /// The column just past the text, for "expected ... at the end" errors.
    end: usize,
    vocab: &'a Vocabulary,
    kind: EntityKind,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn at_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn any(&mut self, depth: usize) -> Result<Condition, SyntaxError> {
        let mut parts = vec![self.all(depth)?];
        while self.at_keyword("or") {
            self.pos += 1;
            parts.push(self.all(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Any(parts)
        })
    }

    fn all(&mut self, depth: usize) -> Result<Condition, SyntaxError> {
        let mut parts = vec![self.term(depth)?];
        while self.at_keyword("and") {
            self.pos += 1;
            parts.push(self.term(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::All(parts)
        })
    }

    fn term(&mut self, depth: usize) -> Result<Condition, SyntaxError> {
        let Some(t) = self.next() else {
            return Err(SyntaxError::new(
                self.end,
                "expected a test (VALUE VALIDATOR [ARGUMENT]) at the end",
            ));
        };
        match t.tok {
            Tok::Open => {
                if depth + 1 > MAX_DEPTH {
                    return Err(SyntaxError::new(
                        t.col,
                        format!("parentheses nested deeper than {MAX_DEPTH}"),
                    ));
                }
                let inner = self.any(depth + 1)?;
                match self.next() {
                    Some(Token {
                        tok: Tok::Close, ..
                    }) => Ok(inner),
                    Some(other) => Err(SyntaxError::new(
                        other.col,
                        format!("expected ')' or 'and'/'or', found {}", other.tok.describe()),
                    )),
                    None => Err(SyntaxError::new(t.col, "this '(' is not closed: add ')'")),
                }
            }
            Tok::Word(w) if !is_reserved(&w) => self.test(&w, t.col),
            other => Err(SyntaxError::new(
                t.col,
                format!(
                    "expected a value name (such as item.status), found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn test(&mut self, name: &str, col: usize) -> Result<Condition, SyntaxError> {
        let value = lookup_value(name, col, self.vocab, self.kind)?;
        let (vname, vcol) = match self.next() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Symbol(w),
                col,
            }) if !is_reserved(&w) => (w, col),
            Some(t) => {
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "expected a validator after {name} (such as =, in, contains), found {}",
                        t.tok.describe()
                    ),
                ));
            }
            None => {
                return Err(SyntaxError::new(
                    self.end,
                    format!("expected a validator after {name} (such as =, in, contains)"),
                ));
            }
        };
        let Some(def) = self.vocab.validator(&vname) else {
            let hint = suggest(&vname, self.vocab.validators.keys());
            return Err(SyntaxError::new(
                vcol,
                format!("unknown validator '{vname}': it is not in the presets{hint}"),
            ));
        };
        if !def.applies_to(value.ty) {
            let types: Vec<&str> = def.types.iter().map(|t| t.as_str()).collect();
            return Err(SyntaxError::new(
                vcol,
                format!(
                    "validator '{vname}' does not apply to {name}, which is {}; it takes {}",
                    value.ty,
                    types.join(", ")
                ),
            ));
        }
        let ty = value.ty;
        let nocase = def.nocase;
        let arg = match def.op.arity() {
            Arity::None => Arg::None,
            // `within`'s argument is a count of days, whatever the value's type.
            Arity::One if def.op == Op::Within => {
                Arg::One(self.literal(ValueType::Int, false, &vname, vcol)?)
            }
            Arity::One => Arg::One(self.literal(ty, nocase, &vname, vcol)?),
            Arity::List => Arg::List(self.list(ty, nocase, &vname, vcol)?),
        };
        Ok(Condition::Test(Test {
            value,
            validator: vname,
            op: def.op,
            negate: def.negate,
            nocase,
            arg,
        }))
    }

    fn literal(
        &mut self,
        ty: ValueType,
        nocase: bool,
        after: &str,
        after_col: usize,
    ) -> Result<Value, SyntaxError> {
        let (raw, col) = match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                col,
            }) if !is_reserved(&w) => (w, col),
            Some(Token {
                tok: Tok::Str(s),
                col,
            }) => (s, col),
            Some(t) => {
                let hint = if matches!(&t.tok, Tok::Word(_)) {
                    " (quote it to mean the word)"
                } else {
                    ""
                };
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "expected {} after '{after}', found {}{hint}",
                        ty.expected(),
                        t.tok.describe()
                    ),
                ));
            }
            None => {
                return Err(SyntaxError::new(
                    self.end.max(after_col),
                    format!("expected {} after '{after}'", ty.expected()),
                ));
            }
        };
        let value = match ty {
            // Text is taken as written: a quoted blank or padded string is meant.
            ValueType::Text => Some(Value::Text(raw.clone())),
            _ => ty.parse_value(&raw),
        };
        match value {
            Some(v) if nocase => Ok(lower(v)),
            Some(v) => Ok(v),
            None => Err(SyntaxError::new(
                col,
                format!("expected {}, found '{raw}'", ty.expected()),
            )),
        }
    }

    fn list(
        &mut self,
        ty: ValueType,
        nocase: bool,
        after: &str,
        after_col: usize,
    ) -> Result<Vec<Value>, SyntaxError> {
        match self.next() {
            Some(Token { tok: Tok::Open, .. }) => {}
            Some(t) => {
                return Err(SyntaxError::new(
                    t.col,
                    format!(
                        "expected a list after '{after}', like ({}), found {}",
                        example(ty),
                        t.tok.describe()
                    ),
                ));
            }
            None => {
                return Err(SyntaxError::new(
                    self.end.max(after_col),
                    format!("expected a list after '{after}', like ({})", example(ty)),
                ));
            }
        }
        let mut items = vec![self.literal(ty, nocase, after, after_col)?];
        loop {
            match self.next() {
                Some(Token {
                    tok: Tok::Comma,
                    col,
                }) => {
                    if items.len() >= MAX_LIST {
                        return Err(SyntaxError::new(
                            col,
                            format!("a list holds at most {MAX_LIST} items"),
                        ));
                    }
                    items.push(self.literal(ty, nocase, ",", col)?);
                }
                Some(Token {
                    tok: Tok::Close, ..
                }) => return Ok(items),
                Some(t) => {
                    return Err(SyntaxError::new(
                        t.col,
                        format!(
                            "expected ',' or ')' in the list, found {}",
                            t.tok.describe()
                        ),
                    ));
                }
                None => {
                    return Err(SyntaxError::new(
                        self.end,
                        "the list is not closed: add ')'",
                    ));
                }
            }
        }
    }
}

fn example(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Int => "2, 3",
        ValueType::Number => "9.90, 590.00",
        ValueType::Date => "2025-01-01, 2025-06-01",
        ValueType::Bool => "yes",
        ValueType::Text => "vds, vhost, \"two words\"",
    }
}

fn lookup_value(
    name: &str,
    col: usize,
    vocab: &Vocabulary,
    kind: EntityKind,
) -> Result<ValueSpec, SyntaxError> {
    let Some(def) = vocab.value(name) else {
        let hint = suggest(name, vocab.values.keys());
        return Err(SyntaxError::new(
            col,
            format!(
                "unknown value '{name}': it is not in the presets (add it to presets.custom){hint}"
            ),
        ));
    };
    if !def.spec.kinds().contains(&kind) {
        return Err(SyntaxError::new(
            col,
            format!(
                "value '{name}' comes from {}, which {} does not have",
                def.spec.source,
                kind_noun(kind)
            ),
        ));
    }
    Ok(def.spec.clone())
}

/// `; did you mean X?` for the closest known name within a couple of typos, else nothing.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let len = name.chars().count();
    let limit = (len / 4).clamp(1, 3);
    // Names whose lengths differ by more than the limit are too far apart anyway: skipping
    // them keeps a long unknown name from costing a full distance against every known one.
    known
        .filter(|k| k.chars().count().abs_diff(len) <= limit)
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| format!("; did you mean {k}?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
pub(in crate::rules) mod tests {
    use super::super::vocabulary::{Op, ValidatorDef, ValueDef};
    use super::*;
    use crate::model::Record;

    /// A small vocabulary for the rules' tests: values of every type, every operation.
    pub(in crate::rules) fn vocab() -> Vocabulary {
        let mut v = Vocabulary::default();
        for (name, source, ty) in [
            ("item.status", "item.status", ValueType::Int),
            ("profile.profiletype", "profile.profiletype", ValueType::Int),
            ("item.cost", "item.cost", ValueType::Number),
            ("item.itemtype", "itemtype.intname", ValueType::Text),
            ("item.pricelist", "pricelist.name", ValueType::Text),
            ("item.expiredate", "item.expiredate", ValueType::Date),
            ("item.autosuspend", "item.autosuspend", ValueType::Bool),
            ("item.ip", "itemparam.ip", ValueType::Text),
            ("profile.inn", "profile.vatnum", ValueType::Text),
            ("user.email", "user.email", ValueType::Text),
        ] {
            let spec = ValueSpec {
                name: name.into(),
                source: source.into(),
                ty,
            };
            v.values.insert(
                name.into(),
                ValueDef {
                    spec,
                    label: String::new(),
                },
            );
        }
        use ValueType::*;
        let all = vec![Int, Number, Text, Date, Bool];
        let ord = vec![Int, Number, Text, Date];
        for (name, op, negate, nocase, types) in [
            ("=", Op::Eq, false, false, all.clone()),
            ("!=", Op::Eq, true, false, all.clone()),
            ("==", Op::Eq, false, true, vec![Text]),
            (">", Op::Gt, false, false, ord.clone()),
            (">=", Op::Ge, false, false, ord.clone()),
            ("<", Op::Lt, false, false, ord.clone()),
            ("<=", Op::Le, false, false, ord.clone()),
            ("in", Op::In, false, false, ord.clone()),
            ("not_in", Op::In, true, false, ord.clone()),
            ("in_nocase", Op::In, false, true, vec![Text]),
            ("contains", Op::Contains, false, false, vec![Text]),
            ("not_contains", Op::Contains, true, false, vec![Text]),
            ("icontains", Op::Contains, false, true, vec![Text]),
            ("starts_with", Op::StartsWith, false, false, vec![Text]),
            ("ends_with", Op::EndsWith, false, false, vec![Text]),
            ("empty", Op::Empty, false, false, all.clone()),
            ("not_empty", Op::Empty, true, false, all.clone()),
            ("within", Op::Within, false, false, vec![Date]),
        ] {
            let def = ValidatorDef {
                name: name.into(),
                op,
                negate,
                nocase,
                types,
                label: String::new(),
            };
            v.validators.insert(name.into(), def);
        }
        v
    }

    fn cond(src: &str) -> Condition {
        parse_condition(src, &vocab(), EntityKind::Item).unwrap_or_else(|e| panic!("{src}: {e:?}"))
    }

    fn err(src: &str) -> SyntaxError {
        parse_condition(src, &vocab(), EntityKind::Item).expect_err(src)
    }

    fn rec(pairs: &[(&str, &str)]) -> Record {
        let mut r = Record::default();
        for (k, v) in pairs {
            r.set(*k, *v);
        }
        r
    }

    fn vds(status: &str) -> Record {
        rec(&[
            ("item.status", status),
            ("itemtype.intname", "vds"),
            ("pricelist.name", "VDS-Start trial"),
            ("item.cost", "590.00"),
            ("item.expiredate", "2025-07-01"),
            ("item.autosuspend", "off"),
        ])
    }

    #[test]
    fn within_takes_a_date_and_a_count_of_days() {
        let c = cond("item.status = 2 and item.expiredate within 7");
        assert!(c.uses(Op::Within) && !cond("item.status = 2").uses(Op::Within));
        let e = err("item.status within 7");
        assert!(e.message.contains("does not apply to item.status"), "{e:?}");
        let e = err("item.expiredate within 2025-07-01");
        assert!(e.message.contains("expected"), "{e:?}");
        // A date long past is not within any number of days ahead.
        assert!(!c.eval(&vds("2")));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // a or b and c == a or (b and c)
        let c = cond("item.status = 4 or item.itemtype = vds and item.status = 2");
        assert!(c.eval(&vds("4")));
        assert!(c.eval(&vds("2")));
        assert!(!c.eval(&vds("3")));
        let c = cond("(item.status = 4 or item.itemtype = vds) and item.status = 2");
        assert!(!c.eval(&vds("4")));
        assert!(c.eval(&vds("2")));
        assert!(
            matches!(cond("item.status = 1 or item.status = 2 and item.status = 3"), Condition::Any(p) if p.len() == 2)
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_parentheses_nest() {
        let c = cond("((item.status = 2) AND (item.itemtype = vds OR item.itemtype = vhost))");
        assert!(c.eval(&vds("2")));
        assert!(!c.eval(&vds("3")));
    }

    #[test]
    fn numbers_compare_numerically_and_dates_as_dates() {
        assert!(cond("item.cost > 99.5").eval(&vds("2")));
        assert!(cond("item.cost = 590").eval(&vds("2")));
        assert!(!cond("item.cost < 1000.0 and item.cost > 600").eval(&vds("2")));
        assert!(cond("item.status >= 2 and item.status <= 2").eval(&vds("2")));
        // "10" > "9" as numbers, though not as text.
        assert!(cond("item.status > 9").eval(&vds("10")));
        assert!(cond("item.expiredate > 2025-06-30").eval(&vds("2")));
        assert!(cond("item.expiredate < \"2025-07-01 00:00:01\"").eval(&vds("2")));
        assert!(!cond("item.expiredate < 2025-07-01").eval(&vds("2")));
        assert!(cond("item.autosuspend = no").eval(&vds("2")));
    }

    #[test]
    fn text_is_case_sensitive_unless_the_validator_says_otherwise() {
        let r = vds("2");
        assert!(cond("item.pricelist contains trial").eval(&r));
        assert!(!cond("item.pricelist contains TRIAL").eval(&r));
        assert!(cond("item.pricelist icontains TRIAL").eval(&r));
        assert!(cond("item.itemtype == VDS").eval(&r));
        assert!(!cond("item.itemtype = VDS").eval(&r));
        assert!(cond("item.itemtype in_nocase (VHOST, Vds)").eval(&r));
        assert!(cond("item.pricelist starts_with VDS-").eval(&r));
        assert!(cond("item.pricelist ends_with \"Start trial\"").eval(&r));
        assert!(cond("item.pricelist not_contains pro").eval(&r));
        assert!(!cond("item.pricelist not_contains Start").eval(&r));
    }

    #[test]
    fn lists_take_words_and_quoted_strings() {
        let c = cond(r#"item.pricelist in (a, "VDS-Start trial", b)"#);
        assert!(c.eval(&vds("2")));
        assert!(cond("item.status in (2,3)").eval(&vds("3")));
        assert!(!cond("item.status in (2,3)").eval(&vds("4")));
        assert!(cond("item.status not_in (4, 5)").eval(&vds("2")));
        assert!(!cond("item.status not_in (4, 5)").eval(&vds("4")));
    }

    #[test]
    fn absent_values_fail_everything_but_empty() {
        let none = rec(&[("item.status", "2"), ("item.cost", "")]);
        for src in [
            "item.ip = 1.2.3.4",
            "item.ip != 1.2.3.4",
            "item.ip not_contains x",
            "item.ip not_in (x)",
            "item.cost < 1",
            "item.cost != 1",
            "item.ip not_empty",
        ] {
            assert!(!cond(src).eval(&none), "{src} holds for an absent value");
        }
        assert!(cond("item.ip empty").eval(&none));
        assert!(cond("item.cost empty").eval(&none));
        assert!(!cond("item.status empty").eval(&none));
        assert!(cond("item.status not_empty").eval(&none));
        // A value that does not parse as its type counts as absent.
        assert!(cond("item.expiredate empty").eval(&rec(&[("item.expiredate", "0000-00-00")])));
    }

    #[test]
    fn arguments_must_fit_the_value_type() {
        let e = err("item.status = four");
        assert_eq!(e.col, 15);
        assert!(e.message.contains("whole number"), "{}", e.message);
        assert!(
            err("item.expiredate > tomorrow")
                .message
                .contains("YYYY-MM-DD")
        );
        assert!(
            err("item.autosuspend = maybe")
                .message
                .contains("yes or no")
        );
    }

    #[test]
    fn validators_must_apply_to_the_value_type() {
        let e = err("item.status contains 4");
        assert_eq!(e.col, 13);
        assert!(
            e.message
                .contains("does not apply to item.status, which is int"),
            "{}",
            e.message
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = err("item.status = 2 and item.sttus = 3");
        assert_eq!(
            (e.col, e.message.contains("unknown value 'item.sttus'")),
            (21, true),
            "{e:?}"
        );
        let e = err("item.status equals 2");
        assert_eq!(e.col, 13);
        assert!(e.message.contains("unknown validator 'equals'"));
        assert!(!e.message.contains("did you mean"), "{}", e.message);
        let e = err("item.pricelist containz x");
        assert!(
            e.message.ends_with("did you mean contains?"),
            "{}",
            e.message
        );
        let e = err("item.pricelsit = x");
        assert!(
            e.message.ends_with("did you mean item.pricelist?"),
            "{}",
            e.message
        );
        // One letter short, and a long unknown name, which is near nothing.
        let e = err("item.pricelis = x");
        assert!(
            e.message.ends_with("did you mean item.pricelist?"),
            "{}",
            e.message
        );
        let long = format!("item.{} = x", "s".repeat(10_000));
        assert!(!err(&long).message.contains("did you mean"));
        let e = err("item.status = 2 item.status = 3");
        assert_eq!(e.col, 17);
        assert!(e.message.contains("join tests with 'and' or 'or'"));
        let e = err("(item.status = 2");
        assert_eq!(e.col, 1);
        assert!(e.message.contains("not closed"));
        assert_eq!(err("item.status = 2)").col, 16);
        assert_eq!(err("item.status = 2 and").col, 20);
        assert_eq!(err("item.status =").col, 14);
        assert!(err("item.status in 2").message.contains("expected a list"));
        assert!(
            err("item.status in (2 3)")
                .message
                .contains("expected ',' or ')'")
        );
        assert!(err("item.pricelist = and").message.contains("quote it"));
        assert!(err("   ").message.contains("empty"));
    }

    #[test]
    fn values_must_belong_to_the_kind() {
        let e = parse_condition("profile.inn = 1", &vocab(), EntityKind::Item)
            .expect_err("payer value in a service rule");
        assert!(e.message.contains("profile.vatnum"), "{}", e.message);
        assert!(parse_condition("profile.inn not_empty", &vocab(), EntityKind::Profile).is_ok());
        assert!(parse_condition("user.email not_empty", &vocab(), EntityKind::Account).is_ok());
        assert!(parse_condition("user.email not_empty", &vocab(), EntityKind::Profile).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let ok = format!(
            "{}item.status = 2{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(cond(&ok).eval(&vds("2")));
        let deep = format!(
            "{}item.status = 2{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&deep).message.contains("nested deeper"));
        // Hostile input far beyond the limit fails cleanly too.
        let hostile = "(".repeat(100_000);
        assert!(parse_condition(&hostile, &vocab(), EntityKind::Item).is_err());
    }

    #[test]
    fn sources_and_display_round_trip() {
        let c = cond(
            r#"item.status = 2 and (item.itemtype in (vds, "a b") or item.ip not_empty) and item.status != 4"#,
        );
        assert_eq!(
            c.sources(),
            vec!["item.status", "itemtype.intname", "itemparam.ip"]
        );
        let printed = c.to_string();
        assert_eq!(
            printed,
            r#"item.status = 2 and (item.itemtype in (vds, "a b") or item.ip not_empty) and item.status != 4"#
        );
        assert_eq!(cond(&printed), c);
    }

    #[test]
    fn value_names_for_fields() {
        let v = vocab();
        let spec = parse_value_name(" user.email ", &v, EntityKind::Account).expect("known");
        assert_eq!(spec.source, "user.email");
        let e =
            parse_value_name("item.pricelist", &v, EntityKind::Profile).expect_err("wrong kind");
        assert!(e.message.contains("a payer (company)"), "{}", e.message);
        assert!(parse_value_name("user.email x", &v, EntityKind::Account).is_err());
        assert_eq!(
            parse_value_name("  nope", &v, EntityKind::Account)
                .expect_err("unknown")
                .col,
            3
        );
    }
}
