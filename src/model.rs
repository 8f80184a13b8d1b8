//! Plain data shared by the database, the rules and the worker: no I/O here.

use std::collections::BTreeMap;
use std::fmt;

/// A panel entity the module syncs, and what it becomes in amoCRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A client (`account` + its first `user`) → a contact.
    Account,
    /// A payer (`profile`) that is a legal entity → a company.
    Profile,
    /// A service (`item`) → a lead.
    Item,
}

impl EntityKind {
    pub const ALL: [EntityKind; 3] = [EntityKind::Account, EntityKind::Profile, EntityKind::Item];

    /// The panel's table, also the name used in job keys and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Account => "account",
            EntityKind::Profile => "profile",
            EntityKind::Item => "item",
        }
    }
    pub fn parse(s: &str) -> Option<EntityKind> {
        match s {
            "account" => Some(EntityKind::Account),
            "profile" => Some(EntityKind::Profile),
            "item" => Some(EntityKind::Item),
            _ => None,
        }
    }
    /// The module's link table for this kind.
    pub fn link_table(self) -> &'static str {
        match self {
            EntityKind::Account => "amocrm_account2contact",
            EntityKind::Profile => "amocrm_profile2company",
            EntityKind::Item => "amocrm_item2lead",
        }
    }
    /// The amoCRM entity (API path segment) it becomes.
    pub fn amo_entity(self) -> &'static str {
        match self {
            EntityKind::Account => "contacts",
            EntityKind::Profile => "companies",
            EntityKind::Item => "leads",
        }
    }
    /// One of them, for messages: `contact`, `company`, `lead`.
    pub fn amo_one(self) -> &'static str {
        match self {
            EntityKind::Account => "contact",
            EntityKind::Profile => "company",
            EntityKind::Item => "lead",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entity as read from the panel: every column of every table it is made of,
/// keyed `table.column` (`account.name`, `user.email`, `item.status`, `pricelist.name`,
/// `itemparam.<intname>` ...). A NULL column is absent. Values are text as the
/// database gives them (dates `YYYY-MM-DD[ HH:MM:SS]`, decimals `590.00`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub values: BTreeMap<String, String>,
}

impl Record {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }
    /// An integer column, e.g. `item.status`.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
    /// A text column that is present and not blank.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.get(key).map(str::trim).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(EntityKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EntityKind::parse("user"), None);
    }

    #[test]
    fn record_reads_typed_values() {
        let mut r = Record::default();
        r.set("item.status", " 4 ");
        r.set("user.phone", "  ");
        assert_eq!(r.int("item.status"), Some(4));
        assert_eq!(r.text("user.phone"), None);
        assert_eq!(r.get("item.name"), None);
    }
}
