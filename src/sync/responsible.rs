//! Who owns what the module creates: `[responsible]`'s user resolved among amoCRM's
//! users. A user amoCRM does not have, or has deactivated, would make amoCRM refuse the
//! whole request (400 `NotSupportedChoice`): such a user is not sent, and why is said.

use crate::amo::{AmoClient, ClientOptions, User};
use crate::config::Config;
use crate::paths::Paths;
use crate::rules::UserRef;

/// What a `[responsible]` user is in amoCRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// An active user: its id goes in `responsible_user_id`.
    Active(i64),
    Inactive(i64),
    Unknown,
}

impl Resolved {
    /// The id to send, if any.
    pub fn id(&self) -> Option<i64> {
        match self {
            Resolved::Active(id) => Some(*id),
            Resolved::Inactive(_) | Resolved::Unknown => None,
        }
    }
}

/// The user a `[responsible]` entry names, among amoCRM's (e-mails compared without
/// regard to case).
pub fn resolve(users: &[User], wanted: &UserRef) -> Resolved {
    let found = users.iter().find(|u| match wanted {
        UserRef::Id(id) => u.id == *id,
        UserRef::Email(email) => u.email.eq_ignore_ascii_case(email),
    });
    match found {
        Some(u) if u.is_active => Resolved::Active(u.id),
        Some(u) => Resolved::Inactive(u.id),
        None => Resolved::Unknown,
    }
}

/// Why a user cannot be made responsible, for `amocrm check` and the task log; `None`
/// for an active one.
pub fn problem(wanted: &UserRef, resolved: &Resolved) -> Option<String> {
    match resolved {
        Resolved::Active(_) => None,
        Resolved::Inactive(id) => Some(format!(
            "amoCRM user {wanted} (id {id}) is deactivated: amoCRM refuses it as responsible"
        )),
        Resolved::Unknown => Some(format!("amoCRM has no user {wanted}")),
    }
}

/// Every user `[responsible]` names, each once: the rules' in file order, then the default.
pub fn named(cfg: &Config) -> Vec<(String, &UserRef)> {
    let owners = &cfg.rules.responsible;
    let mut out: Vec<(String, &UserRef)> = (owners.rules.iter())
        .map(|r| (format!("[responsible] {}", r.name), &r.user))
        .collect();
    out.extend(
        owners
            .default
            .iter()
            .map(|u| ("[responsible] default".to_string(), u)),
    );
    out
}

/// `amocrm check`'s look at amoCRM: why each user `[responsible]` names cannot own what
/// the module creates (empty when all can, or none is named). `Err`: amoCRM could not be
/// asked, and why.
pub fn check_users(cfg: &Config, paths: &Paths) -> Result<Vec<String>, String> {
    let named = named(cfg);
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let opts = ClientOptions {
        // An admin waits at the terminal: one try, a short wait.
        timeout: std::time::Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let users = AmoClient::new(&cfg.auth, opts, paths)
        .and_then(|mut c| {
            c.set_attempts(1);
            c.users()
        })
        .map_err(|e| e.to_string())?;
    Ok((named.into_iter())
        .filter_map(|(at, u)| Some(format!("{at}: {}", problem(u, &resolve(&users, u))?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, email: &str, is_active: bool) -> User {
        User {
            id,
            name: format!("user {id}"),
            email: email.into(),
            is_active,
        }
    }

    #[test]
    fn users_are_found_by_id_or_email_and_only_active_ones_are_sent() {
        let users = [
            user(504142, "manager1@example.com", true),
            user(504144, "former@example.com", false),
        ];
        let by_mail = UserRef::Email("Manager1@Example.com".to_lowercase());
        assert_eq!(resolve(&users, &by_mail), Resolved::Active(504142));
        assert_eq!(resolve(&users, &UserRef::Id(504142)).id(), Some(504142));
        let former = UserRef::Email("former@example.com".into());
        let r = resolve(&users, &former);
        assert_eq!((r.id(), r.clone()), (None, Resolved::Inactive(504144)));
        assert!(problem(&former, &r).is_some_and(|p| p.contains("deactivated")));
        let nobody = UserRef::Id(1);
        assert_eq!(resolve(&users, &nobody), Resolved::Unknown);
        assert_eq!(
            problem(&nobody, &Resolved::Unknown).as_deref(),
            Some("amoCRM has no user 1")
        );
        assert_eq!(problem(&by_mail, &Resolved::Active(504142)), None);
    }
}
