//! `[notes]`, `[tasks]` and `[responsible]` as rules: what the worker writes on amoCRM's
//! timeline, the tasks it sets managers, and who owns what it creates. Pure; the
//! config module parses them from amocrm.conf.

use super::PerKind;
use super::condition::Condition;
use super::value::ValueSpec;
use crate::model::Record;

/// `[notes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotesRules {
    /// A credited payment or a refund → a note on the client's contact.
    pub payments: bool,
}

impl Default for NotesRules {
    fn default() -> NotesRules {
        NotesRules { payments: true }
    }
}

/// When a task is due.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// `+N`: N days after the condition started to hold (the day the task is made).
    After(i64),
    /// `VALUE-N` / `VALUE+N`: N days before (or after) a date of the service.
    FromDate { value: ValueSpec, days: i64 },
}

/// A task's text: literal pieces and `{value}` holes, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Value(ValueSpec),
}

/// `[tasks] name = CONDITION -> DUE "TEXT"`: a task on the service's lead, once per rule,
/// service and occurrence, when the condition starts to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRule {
    pub name: String,
    pub condition: Condition,
    pub due: Due,
    pub text: Vec<Piece>,
}

impl TaskRule {
    /// The record keys its due date and text read (its condition's are the condition's).
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        let due = match &self.due {
            Due::FromDate { value, .. } => Some(value.source.as_str()),
            Due::After(_) => None,
        };
        let holes = self.text.iter().filter_map(|p| match p {
            Piece::Value(v) => Some(v.source.as_str()),
            Piece::Text(_) => None,
        });
        due.into_iter().chain(holes)
    }

    /// The text with the service's values in its holes (an absent value leaves the hole
    /// empty).
    pub fn text_for(&self, rec: &Record) -> String {
        let mut out = String::new();
        for piece in &self.text {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(v) => out.push_str(rec.get(&v.source).map_or("", str::trim)),
            }
        }
        out
    }

    /// When it is due (Unix time, the day's start in UTC), made on `today` (days since
    /// 1970, UTC); `None` when its date is absent from the record.
    pub fn due_for(&self, rec: &Record, today: i64) -> Option<i64> {
        let day = match &self.due {
            Due::After(n) => today + n,
            Due::FromDate { value, days } => {
                let date = super::value::parse_date(rec.get(&value.source)?.trim())?;
                date.div_euclid(86_400) + days
            }
        };
        Some(day * 86_400)
    }
}

/// An amoCRM user as amocrm.conf names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    Id(i64),
    Email(String),
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "{id}"),
            UserRef::Email(e) => f.write_str(e),
        }
    }
}

/// `[responsible] name = CONDITION -> USER`: who owns what is created for an entity the
/// condition holds for. A rule applies to the kinds whose values its condition can read
/// (a rule on a service's values owns leads and their tasks, not contacts).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsibleRule {
    pub name: String,
    /// The condition as each kind reads it; `None`: the rule does not apply to the kind.
    pub condition: PerKind<Option<Condition>>,
    pub user: UserRef,
}

/// `[responsible]` in file order, and its `default`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Responsible {
    pub rules: Vec<ResponsibleRule>,
    pub default: Option<UserRef>,
}

impl Responsible {
    /// The user of the first rule of the kind that holds, else the default.
    pub fn user_for(&self, kind: crate::model::EntityKind, rec: &Record) -> Option<&UserRef> {
        let first = self
            .rules
            .iter()
            .find(|r| r.condition.get(kind).as_ref().is_some_and(|c| c.eval(rec)));
        first.map(|r| &r.user).or(self.default.as_ref())
    }
}
