//! A client (`account` and its first user) becomes a contact.

use super::kind::{Kind, first};
use crate::model::Record;

pub struct Contact;

impl Kind for Contact {
    fn reads(&self) -> &'static [&'static str] {
        &["account", "user"]
    }

    /// The panel's own staff accounts (level 28 and up, the provider's account 1 among
    /// them) are not clients.
    fn never_synced(&self, rec: &Record) -> Option<&'static str> {
        rec.int("account.level")
            .is_some_and(|l| l >= 28)
            .then_some("the provider's own or a staff account is not a client")
    }

    fn name(&self, rec: &Record) -> Option<String> {
        first(
            rec,
            &["user.realname", "account.name", "user.email", "user.name"],
        )
    }

    fn matches_existing(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_are_never_contacts_and_names_fall_back() {
        let mut r = Record::default();
        r.set("account.level", "29");
        assert!(Contact.never_synced(&r).is_some());
        r.set("account.level", "16");
        assert!(Contact.never_synced(&r).is_none());
        assert!(Contact.never_synced(&Record::default()).is_none());
        r.set("user.email", "a@b.ru");
        assert_eq!(Contact.name(&r).as_deref(), Some("a@b.ru"));
        r.set("user.realname", "Иванов Иван");
        assert_eq!(Contact.name(&r).as_deref(), Some("Иванов Иван"));
    }
}
