//! The kinds of thing the worker sends, each in a file of its own behind [`Kind`]: what
//! never syncs, the name, a kind's own parts of the plan, what it hangs on and how it is
//! linked. Everything else — reading, planning fields and tags, batching, recording — is
//! the same for every kind.

mod company;
mod contact;
mod kind;
mod lead;

use crate::model::EntityKind;
pub use kind::Kind;

/// The kind of a panel entity.
pub fn of(kind: EntityKind) -> &'static dyn Kind {
    match kind {
        EntityKind::Account => &contact::Contact,
        EntityKind::Profile => &company::Company,
        EntityKind::Item => &lead::Lead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_its_own() {
        assert!(of(EntityKind::Account).matches_existing());
        assert!(of(EntityKind::Profile).takes_contact());
        let lead = of(EntityKind::Item);
        assert!(lead.made_linked() && lead.needs().company && lead.needs().contact);
        assert_eq!(lead.told_apart_by(), "contacts");
    }
}
