//! A payer (`profile`) that is a legal entity becomes a company, on its client's contact.

use super::kind::{Kind, Needs, first};
use crate::model::Record;

pub struct Company;

impl Kind for Company {
    fn reads(&self) -> &'static [&'static str] {
        &["profile"]
    }

    fn never_synced(&self, rec: &Record) -> Option<&'static str> {
        (rec.int("profile.profiletype") == Some(1))
            .then_some("an individual payer does not become a company")
    }

    fn name(&self, rec: &Record) -> Option<String> {
        first(rec, &["profile.name", "profile.person"])
    }

    fn needs(&self) -> Needs {
        Needs {
            contact: true,
            company: false,
        }
    }

    fn takes_contact(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn individuals_are_never_companies() {
        let mut r = Record::default();
        r.set("profile.profiletype", "1");
        assert!(Company.never_synced(&r).is_some());
        r.set("profile.profiletype", "2");
        assert!(Company.never_synced(&r).is_none());
        r.set("profile.person", "Петров П. П.");
        assert_eq!(Company.name(&r).as_deref(), Some("Петров П. П."));
    }
}
