//! The account's users: `GET /api/v4/users[/{id}]`, the check every write makes of a
//! `responsible_user_id` (only an active user may be responsible: amoCRM refuses a
//! deactivated manager with `NotSupportedChoice`), and `POST /_sandbox/users`, which adds
//! a user or changes one, as an admin does in amoCRM's settings.

use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint::{hal_page, page_of, paging, parse_id};
use super::fields::as_u64;
use super::http::{Request, Response};
use super::problem::{self, FieldError};
use super::render::href;
use super::state::{Crm, USER_ID, User};

/// A responsible user named in a write must be an active user of the account (any user
/// of it when `inactive_too`).
pub fn check_responsible(crm: &Crm, id: u64, inactive_too: bool, errs: &mut Vec<FieldError>) {
    if !crm
        .users
        .get(&id)
        .is_some_and(|u| u.is_active || inactive_too)
    {
        errs.push(FieldError::new(
            "NotSupportedChoice",
            "responsible_user_id",
            "The value you selected is not a valid choice.",
        ));
    }
}

/// An item's `responsible_user_id`, checked; `None` when the item names none (or a bad one).
pub fn responsible(crm: &Crm, item: &Value, errs: &mut Vec<FieldError>) -> Option<u64> {
    let v = item.get("responsible_user_id").filter(|v| !v.is_null())?;
    let Some(id) = as_u64(v) else {
        errs.push(FieldError::new(
            "InvalidType",
            "responsible_user_id",
            "This value should be of type int.",
        ));
        return None;
    };
    check_responsible(crm, id, false, errs);
    Some(id)
}

/// A user as `GET /api/v4/users` shows one: every manager here has full rights.
pub fn render(u: &User, base: &str) -> Value {
    let all = json!({ "view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A" });
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "lang": u.lang,
        "rights": {
            "leads": all,
            "contacts": all,
            "companies": all,
            "tasks": { "edit": "A", "delete": "A" },
            "mail_access": false,
            "catalog_access": false,
            "files_access": false,
            "status_rights": [],
            "is_admin": u.is_admin,
            "is_free": false,
            "is_active": u.is_active,
            "group_id": null,
            "role_id": null,
        },
        "_links": href(base, &format!("/api/v4/users/{}", u.id)),
    })
}

/// `/api/v4/users...`; `rest` is what follows `users`.
pub fn route(crm: &Crm, m: &str, rest: &[&str], req: &Request, base: &str) -> Response {
    match (m, rest) {
        ("GET", []) => list(crm, req, base),
        ("GET", [id]) => match parse_id(id) {
            Some(id) => match crm.users.get(&id) {
                Some(u) => Response::hal(200, &render(u, base)),
                None => Response::no_content(),
            },
            None => problem::not_found(),
        },
        _ => problem::not_found(),
    }
}

fn list(crm: &Crm, req: &Request, base: &str) -> Response {
    let all: Vec<&User> = crm.users.values().collect();
    let Some((page, items, more)) = page_of(req, &all) else {
        return Response::no_content();
    };
    let items = items.iter().map(|u| render(u, base)).collect();
    let (_, limit) = paging(req);
    let mut v = hal_page(req, base, "users", page, items, more);
    v["_total_items"] = json!(all.len());
    v["_page_count"] = json!(all.len().div_ceil(limit));
    Response::hal(200, &v)
}

/// What `POST /_sandbox/users` (or a seed file's `users`) says of one user. A user as the
/// API shows it is accepted too, `rights.is_active` and all, so a dumped state loads back.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    id: Option<u64>,
    name: Option<String>,
    email: Option<String>,
    lang: Option<String>,
    is_active: Option<bool>,
    is_admin: Option<bool>,
    rights: Option<Rights>,
    #[serde(rename = "_links")]
    _links: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Rights {
    is_active: Option<bool>,
    is_admin: Option<bool>,
}

/// `POST /_sandbox/users`: the user as the API now shows it, or why nothing was done.
pub fn upsert_call(crm: &mut Crm, body: &[u8], base: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let id = upsert(crm, v)?;
    crm.users
        .get(&id)
        .map(|u| render(u, base))
        .ok_or_else(|| "the user vanished".to_string())
}

/// Adds a user (no `id`, or an id the account does not have) or changes the one with `id`.
pub fn upsert(crm: &mut Crm, v: Value) -> Result<u64, String> {
    let c: Change = serde_json::from_value(v).map_err(|e| {
        format!("a user is {{\"id\"?, \"name\", \"email\", \"is_active\"?, \"is_admin\"?}}: {e}")
    })?;
    let rights = c.rights.as_ref();
    let is_active = c.is_active.or(rights.and_then(|r| r.is_active));
    let is_admin = c.is_admin.or(rights.and_then(|r| r.is_admin));
    if let Some(email) = &c.email
        && let Some(other) = crm
            .users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email) && Some(u.id) != c.id)
    {
        return Err(format!("user {} already has the e-mail {email}", other.id));
    }
    if let Some(u) = c.id.and_then(|id| crm.users.get_mut(&id)) {
        change(u, &c, is_active, is_admin)?;
        return Ok(u.id);
    }
    let id = c.id.unwrap_or_else(|| next_user_id(crm));
    let mut u = User {
        id,
        name: String::new(),
        email: String::new(),
        lang: "ru".into(),
        is_active: true,
        is_admin: false,
    };
    change(&mut u, &c, is_active, is_admin)?;
    if u.name.is_empty() || u.email.is_empty() {
        return Err("a new user needs a name and an email".into());
    }
    crm.users.insert(id, u);
    Ok(id)
}

fn change(
    u: &mut User,
    c: &Change,
    is_active: Option<bool>,
    is_admin: Option<bool>,
) -> Result<(), String> {
    for (given, what) in [(&c.name, "name"), (&c.email, "email")] {
        if given.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(format!("{what} must not be empty"));
        }
    }
    if let Some(name) = &c.name {
        u.name = name.clone();
    }
    if let Some(email) = &c.email {
        u.email = email.clone();
    }
    if let Some(lang) = &c.lang {
        u.lang = lang.clone();
    }
    u.is_active = is_active.unwrap_or(u.is_active);
    u.is_admin = is_admin.unwrap_or(u.is_admin);
    Ok(())
}

fn next_user_id(crm: &Crm) -> u64 {
    crm.users.keys().next_back().map_or(USER_ID, |id| id + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::default_crm;
    use crate::sandbox::state::{FORMER, MANAGER_1, MANAGER_2};

    #[test]
    fn only_active_users_may_be_responsible() {
        let crm = default_crm();
        let mut errs = Vec::new();
        for id in [USER_ID, MANAGER_1, MANAGER_2] {
            check_responsible(&crm, id, false, &mut errs);
        }
        check_responsible(&crm, FORMER, true, &mut errs);
        assert!(errs.is_empty());
        check_responsible(&crm, FORMER, false, &mut errs);
        check_responsible(&crm, 1, true, &mut errs);
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].code, "NotSupportedChoice");
        assert_eq!(errs[0].path, "responsible_user_id");
        let mut errs = Vec::new();
        assert_eq!(
            responsible(&crm, &json!({"responsible_user_id": "x"}), &mut errs),
            None
        );
        assert_eq!(errs[0].code, "InvalidType");
    }

    #[test]
    fn users_are_added_changed_and_read_back_from_their_api_shape() {
        let mut crm = default_crm();
        let id = upsert(
            &mut crm,
            json!({"name": "Новый", "email": "new@example.com"}),
        )
        .expect("added");
        assert_eq!(id, FORMER + 1);
        assert!(crm.users[&id].is_active);
        upsert(&mut crm, json!({"id": MANAGER_1, "is_active": false})).expect("changed");
        assert!(!crm.users[&MANAGER_1].is_active);
        assert_eq!(crm.users[&MANAGER_1].name, "Менеджер 1");
        let shown = render(&crm.users[&MANAGER_1], "http://h");
        let mut again = default_crm();
        upsert(&mut again, shown).expect("the API shape loads");
        assert_eq!(again.users[&MANAGER_1], crm.users[&MANAGER_1]);
        assert!(upsert(&mut crm, json!({"name": "x"})).is_err(), "no email");
        assert!(upsert(&mut crm, json!({"activ": true})).is_err(), "a typo");
        let taken = json!({"name": "y", "email": "MANAGER2@example.com"});
        assert!(upsert(&mut crm, taken).is_err(), "an e-mail is one user's");
    }
}
