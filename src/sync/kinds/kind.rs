//! What every kind answers: [`Kind`], with the parts of the plan only some kinds have.

use super::super::fields::Meta;
use crate::model::Record;
use crate::rules::{Rules, Stage};

/// A kind's own parts of the plan (a lead's price, stages and state); empty for others.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// The service's cost, whole units (amoCRM prices are integers).
    pub price: Option<i64>,
    /// Where a new one goes.
    pub stage_new: Option<Stage>,
    /// Where an existing one moves, when a rule names the service's state.
    pub stage_move: Option<Stage>,
    /// `item.status`, the state pipeline rules may name.
    pub state: Option<i64>,
    /// What could not be planned (the admin reads it in the task log).
    pub warnings: Vec<String>,
}

/// What an entity hangs on in amoCRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Its client's contact, synced first.
    pub contact: bool,
    /// Its client's first company, synced first.
    pub company: bool,
}

pub trait Kind: Sync {
    /// The panel tables its admission, name and extras read, beyond what the rules read.
    fn reads(&self) -> &'static [&'static str];

    /// Why this record never becomes an amoCRM entity, whatever the rules say.
    fn never_synced(&self, _rec: &Record) -> Option<&'static str> {
        None
    }

    /// The name it gets in amoCRM (and in the panel's lists of the module).
    fn name(&self, rec: &Record) -> Option<String>;

    fn extras(&self, _rec: &Record, _rules: &Rules, _meta: &Meta) -> Extras {
        Extras::default()
    }

    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// Whether a new one is made with its contact and company linked (a lead).
    fn made_linked(&self) -> bool {
        false
    }

    /// Whether a new one is then linked to its client's contact (a company: amoCRM keeps
    /// one company per contact, so only the client's first takes it).
    fn takes_contact(&self) -> bool {
        false
    }

    /// Whether an unlinked one is first looked for among existing amoCRM entities (a
    /// contact, by e-mail and phone).
    fn matches_existing(&self) -> bool {
        false
    }

    /// What amoCRM's newest entities are read with, to tell what a lost create made from
    /// another of the same name (a lead: its contacts).
    fn told_apart_by(&self) -> &'static str {
        ""
    }
}

/// The first of these columns that holds text.
pub(super) fn first(rec: &Record, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| rec.text(k)).map(str::to_string)
}
