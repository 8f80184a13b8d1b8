//! `[notes]`, `[tasks]` and `[responsible]` → the rules of the notes on amoCRM's timeline,
//! the tasks set for managers and who owns what the module creates.

use super::ini_file::{Entry, IniDoc};
use super::rule_sections::{at_column, condition, find_arrow};
use super::settings::{Report, flag};
use crate::model::EntityKind;
use crate::rules::{
    Due, NotesRules, PerKind, Piece, Responsible, ResponsibleRule, Rules, TaskRule, UserRef,
    ValueType, Vocabulary, parse_condition, parse_value_name,
};

/// The keys `[notes]` knows.
pub const NOTES_KEYS: [&str; 1] = ["payments"];

/// The longest a task's due may be from its day or its date, in days (ten years).
const MAX_DAYS: i64 = 3650;

pub fn build(doc: &IniDoc, vocab: &Vocabulary, r: &mut Report<'_>, rules: &mut Rules) {
    rules.notes = notes(doc, r);
    rules.tasks = (doc.section("tasks"))
        .filter_map(|e| task(e, vocab, r))
        .collect();
    rules.responsible = responsible(doc, vocab, r);
}

fn notes(doc: &IniDoc, r: &mut Report<'_>) -> NotesRules {
    let mut notes = NotesRules::default();
    for e in doc.section("notes") {
        if e.key == "payments"
            && let Some(on) = flag(e, r)
        {
            notes.payments = on;
        }
    }
    notes
}

/// `name = CONDITION -> DUE "TEXT"`.
fn task(e: &Entry, vocab: &Vocabulary, r: &mut Report<'_>) -> Option<TaskRule> {
    let shape = || {
        format!(
            "[tasks] {}: write CONDITION -> DUE \"TEXT\" (DUE: +N or a date value-N, e.g. item.expiredate-1)",
            e.key
        )
    };
    let Some(arrow) = find_arrow(&e.value) else {
        r.entry(e, shape());
        return None;
    };
    let cond = condition(e, &e.value[..arrow], vocab, EntityKind::Item, r);
    let rest = e.value[arrow + 2..].trim();
    let Some((due, text)) = rest.split_once(char::is_whitespace) else {
        r.entry(e, shape());
        return None;
    };
    let due = parse_due(due, vocab).map_err(|why| r.entry(e, format!("[tasks] {}: {why}", e.key)));
    let text = parse_text(text.trim(), vocab)
        .map_err(|why| r.entry(e, format!("[tasks] {}: {why}", e.key)));
    Some(TaskRule {
        name: e.key.clone(),
        condition: cond?,
        due: due.ok()?,
        text: text.ok()?,
    })
}

/// `+N`, or a service's date value with `-N` / `+N` after it (or alone: the date itself).
fn parse_due(s: &str, vocab: &Vocabulary) -> Result<Due, String> {
    if let Some(n) = s.strip_prefix('+') {
        return days(n).map(Due::After);
    }
    let (name, days_off) = match s.rfind(['-', '+']) {
        // A date value's name has no sign in it; what follows the last one is the count.
        Some(i) if i > 0 => {
            let n = days(&s[i + 1..])?;
            (&s[..i], if &s[i..=i] == "-" { -n } else { n })
        }
        _ => (s, 0),
    };
    let value = parse_value_name(name, vocab, EntityKind::Item).map_err(|e| e.message)?;
    if value.ty != ValueType::Date {
        return Err(format!(
            "'{name}' is not a date, which a due date counts from"
        ));
    }
    Ok(Due::FromDate {
        value,
        days: days_off,
    })
}

fn days(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if (0..=MAX_DAYS).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a number of days from 0 to {MAX_DAYS}"
        )),
    }
}

/// A quoted text with `{value}` holes: `"Позвонить: продление {item.name}"`.
fn parse_text(s: &str, vocab: &Vocabulary) -> Result<Vec<Piece>, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.trim().is_empty())
        .ok_or("the task's text must be a quoted, non-empty string")?;
    let mut pieces = Vec::new();
    let mut rest = inner;
    while let Some(open) = rest.find('{') {
        let close = (rest[open..].find('}').map(|c| open + c))
            .ok_or_else(|| format!("'{{' without '}}' in the text: {inner}"))?;
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let name = rest[open + 1..close].trim();
        let value = parse_value_name(name, vocab, EntityKind::Item)
            .map_err(|e| format!("{{{name}}} in the text: {}", e.message))?;
        pieces.push(Piece::Value(value));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn responsible(doc: &IniDoc, vocab: &Vocabulary, r: &mut Report<'_>) -> Responsible {
    let mut out = Responsible::default();
    for e in doc.section("responsible") {
        let fail = |why: String| format!("[responsible] {}: {why}", e.key);
        if e.key == "default" {
            match user(&e.value) {
                Ok(u) => out.default = Some(u),
                Err(why) => r.entry(e, fail(why)),
            }
            continue;
        }
        let Some(arrow) = find_arrow(&e.value) else {
            r.entry(
                e,
                fail("write CONDITION -> USER (an amoCRM user's e-mail or id)".into()),
            );
            continue;
        };
        let user = user(e.value[arrow + 2..].trim()).map_err(|why| r.entry(e, fail(why)));
        let condition = per_kind(e, &e.value[..arrow], vocab, r);
        if let (Ok(user), Some(condition)) = (user, condition) {
            out.rules.push(ResponsibleRule {
                name: e.key.clone(),
                condition,
                user,
            });
        }
    }
    out
}

/// The condition as each kind reads it; reported (as a service's rule) when no kind can.
fn per_kind(
    e: &Entry,
    src: &str,
    vocab: &Vocabulary,
    r: &mut Report<'_>,
) -> Option<PerKind<Option<crate::rules::Condition>>> {
    let mut out = PerKind::default();
    for kind in EntityKind::ALL {
        *out.get_mut(kind) = parse_condition(src, vocab, kind).ok();
    }
    if EntityKind::ALL.iter().all(|k| out.get(*k).is_none()) {
        if let Err(err) = parse_condition(src, vocab, EntityKind::Item) {
            at_column(r, e, &err);
        }
        return None;
    }
    Some(out)
}

/// An amoCRM user: a numeric id or an e-mail.
fn user(s: &str) -> Result<UserRef, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .map(UserRef::Id)
            .ok_or_else(|| format!("'{s}' is not a user id"));
    }
    match s.split_once('@') {
        Some((name, host))
            if !name.is_empty() && host.contains('.') && !s.contains(char::is_whitespace) =>
        {
            Ok(UserRef::Email(s.to_lowercase()))
        }
        _ => Err(format!(
            "'{s}' is neither an amoCRM user's id nor an e-mail"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Problems, Sources};
    use crate::model::{EntityKind, Record};
    use crate::rules::{Due, Piece, UserRef};

    const AUTH: &str = "[auth]\nurl = https://a.amocrm.ru\nclient_id = i\nclient_secret = s\n\
                        redirect_uri = https://b.example/\n";

    fn load(sections: &str) -> Result<Config, Problems> {
        let presets = include_str!("../../etc/presets.default");
        Sources::texts(&format!("{AUTH}{sections}"), presets, None).config()
    }

    fn problems(sections: &str) -> Vec<String> {
        match load(sections) {
            Ok(_) => panic!("loaded: {sections}"),
            Err(Problems(p)) => p
                .iter()
                .map(|p| format!("{}: {}", p.line, p.message))
                .collect(),
        }
    }

    fn rec(pairs: &[(&str, &str)]) -> Record {
        let mut r = Record::default();
        pairs.iter().for_each(|(k, v)| r.set(*k, *v));
        r
    }

    #[test]
    fn the_interfaces_example_loads() {
        let c = load(
            "[notes]\npayments = no\n[tasks]\n\
             renew = item.status = 2 and item.expiredate within 7 -> item.expiredate-1 \"Позвонить: продление {item.name}\"\n\
             suspended = item.status = 3 -> +1 \"Услуга {item.name} приостановлена\"\n\
             [responsible]\nvds = item.itemtype = vds -> VDS-Sales@provider.example\n\
             mail = user.email ends_with \"@romashka.example\" -> 504142\ndefault = 1234567\n",
        )
        .unwrap_or_else(|p| panic!("{p}"));
        let rules = &c.rules;
        assert!(!rules.notes.payments);
        assert_eq!(rules.tasks.len(), 2);
        let renew = &rules.tasks[0];
        assert!(
            matches!(&renew.due, Due::FromDate { value, days: -1 } if value.source == "item.expiredate")
        );
        assert!(matches!(rules.tasks[1].due, Due::After(1)));
        assert!(matches!(&renew.text[1], Piece::Value(v) if v.source == "item.name"));
        let service = rec(&[("item.name", "vps1"), ("item.expiredate", "2025-07-14")]);
        assert_eq!(renew.text_for(&service), "Позвонить: продление vps1");
        // The day before the date, at the day's start (UTC).
        assert_eq!(renew.due_for(&service, 0), Some(1_752_364_800));
        assert_eq!(
            rules.tasks[1].due_for(&service, 20_000),
            Some(20_001 * 86_400)
        );

        let owners = &rules.responsible;
        assert_eq!(owners.default, Some(UserRef::Id(1_234_567)));
        let vds = rec(&[("itemtype.intname", "vds"), ("user.email", "x@y.example")]);
        let email = UserRef::Email("vds-sales@provider.example".into());
        assert_eq!(owners.user_for(EntityKind::Item, &vds), Some(&email));
        // A service's rule owns no contact: the contact falls to the next rule or the default.
        assert_eq!(
            owners.user_for(EntityKind::Account, &vds),
            Some(&UserRef::Id(1_234_567))
        );
        let client = rec(&[("user.email", "petrov@romashka.example")]);
        assert_eq!(
            owners.user_for(EntityKind::Account, &client),
            Some(&UserRef::Id(504_142))
        );
        assert!(rules.depend_on_the_day(), "a task rule reads the day");
    }

    #[test]
    fn without_the_sections_notes_are_on_and_nothing_else() {
        let c = load("").unwrap_or_else(|p| panic!("{p}"));
        assert!(c.rules.notes.payments);
        assert!(c.rules.tasks.is_empty() && c.rules.responsible.rules.is_empty());
        assert_eq!(c.rules.responsible.default, None);
    }

    #[test]
    fn each_mistake_is_reported_at_its_line() {
        let got = problems(
            "[notes]\npayments = maybe\ncolour = red\n[tasks]\n\
             a = item.status = 2\n\
             b = item.status = 2 -> item.name-1 \"x\"\n\
             c = item.status = 2 -> +1 unquoted\n\
             d = item.status = 2 -> +99999 \"x\"\n\
             e = item.status = 2 -> +1 \"hello {item.nme}\"\n\
             f = item.sttus = 2 -> +1 \"x\"\n\
             [responsible]\ng = item.status = 2 -> nobody\nh = item.sttus = 1 -> 5\ndefault = 0\n",
        );
        let expect = [
            "7: [notes] payments 'maybe' must be yes or no",
            "8: [notes] colour: unknown setting",
            "10: [tasks] a: write CONDITION -> DUE",
            "11: [tasks] b: 'item.name' is not a date",
            "12: [tasks] c: the task's text must be a quoted",
            "13: [tasks] d: '99999' is not a number of days",
            "14: [tasks] e: {item.nme} in the text: unknown value",
            "15: [tasks] f: column 5: unknown value 'item.sttus'",
            "17: [responsible] g: 'nobody' is neither",
            "18: [responsible] h: column 5: unknown value 'item.sttus'",
            "19: [responsible] default: '0' is not a user id",
        ];
        for e in expect {
            assert!(
                got.iter().any(|g| g.starts_with(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expect.len(), "{got:#?}");
    }
}
