//! Why amoCRM refused one item of a batch, typed, so that the worker can tell an entity a
//! manager removed (deleted, or merged into another) from anything else amoCRM objected to.

/// One item amoCRM refused; the rest of its batch went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// amoCRM no longer has the entity the item names (a PATCH of a removed id).
    Gone(String),
    /// amoCRM no longer has an entity the item was to be linked to: `contacts` or
    /// `companies` (a new lead naming a removed contact or company).
    LinkGone {
        entity: &'static str,
        message: String,
    },
    /// The responsible user the item names is not one amoCRM takes (deactivated, or not
    /// a user of the account): the item may go again without one.
    Owner(String),
    /// Anything else amoCRM found wrong with the item.
    Invalid(String),
}

impl Rejection {
    /// amoCRM's words: `path: code: detail` for each problem, joined with `; `.
    pub fn message(&self) -> &str {
        match self {
            Rejection::Gone(m) | Rejection::Owner(m) | Rejection::Invalid(m) => m,
            Rejection::LinkGone { message, .. } => message,
        }
    }

    /// Whether it says the item's own entity is gone.
    pub fn is_gone(&self) -> bool {
        matches!(self, Rejection::Gone(_))
    }

    /// What a validation error's problems (`(code, path)` each) say of the item. An id
    /// amoCRM does not hold is named with code `NotFound` on its path: `id` for the item
    /// itself, `_embedded.contacts.0.id` for a contact it links to. That amoCRM answers a
    /// removed id so is a guess (its reference does not say); the sandbox answers so.
    pub(crate) fn classify(problems: &[(&str, &str)], message: String) -> Rejection {
        let not_found = |want: &dyn Fn(&str) -> bool| {
            problems
                .iter()
                .any(|(code, path)| code.eq_ignore_ascii_case("NotFound") && want(path))
        };
        if not_found(&|p| p == "id") {
            return Rejection::Gone(message);
        }
        for entity in ["contacts", "companies"] {
            let prefix = format!("_embedded.{entity}");
            if not_found(&|p| p.starts_with(&prefix)) {
                return Rejection::LinkGone { entity, message };
            }
        }
        if problems
            .iter()
            .all(|(_, path)| *path == "responsible_user_id")
            && !problems.is_empty()
        {
            return Rejection::Owner(message);
        }
        Rejection::Invalid(message)
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_responsible_user_alone_is_told_apart() {
        let m = || "m".to_string();
        let owner = [("NotSupportedChoice", "responsible_user_id")];
        assert_eq!(Rejection::classify(&owner, m()), Rejection::Owner(m()));
        // With another problem the item would be refused without the user too.
        let both = [owner[0], ("NotBlank", "name")];
        assert_eq!(Rejection::classify(&both, m()), Rejection::Invalid(m()));
    }

    #[test]
    fn not_found_on_the_id_or_a_link_is_told_apart() {
        let m = || "m".to_string();
        assert!(Rejection::classify(&[("NotFound", "id")], m()).is_gone());
        assert_eq!(
            Rejection::classify(
                &[("X", "name"), ("NotFound", "_embedded.companies.0.id")],
                m()
            ),
            Rejection::LinkGone {
                entity: "companies",
                message: m()
            }
        );
        assert_eq!(
            Rejection::classify(&[("NotFound", "custom_fields_values.0.field_id")], m()),
            Rejection::Invalid(m())
        );
        assert_eq!(Rejection::Invalid("why".into()).to_string(), "why");
    }
}
