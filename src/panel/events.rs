//! Which panel events become which jobs. The table follows the panel's calling
//! conventions (see the README): form functions run their after-handler on open and on
//! submit, so they count only when submitted; the service callbacks of processing modules
//! may come without `sok`.

use super::doc::DocInfo;
use super::request::Request;
use crate::db::{Lookup, NewJob};
use crate::model::EntityKind;

/// What the handler does with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Queue(Vec<NewJob>),
    /// Nothing to sync, and why (for the debug log).
    Ignore(&'static str),
}

/// Service actions whose result the module follows, as `<itemtype>.<action>`.
const SERVICE_ACTIONS: [&str; 5] = ["open", "prolong", "suspend", "resume", "delete"];
/// Completion callbacks of processing modules, `service.<name>`.
const SERVICE_CALLBACKS: [&str; 6] = [
    "postopen",
    "postprolong",
    "postsuspend",
    "postresume",
    "postclose",
    "postsetparam",
];
/// Prefixes that are not item types.
const NOT_ITEM_TYPES: [&str; 6] = [
    "account", "profile", "user", "amocrm", "service", "register",
];

pub fn decide(req: &Request, doc: &DocInfo) -> Decision {
    if let Some(t) = req.event_type.as_deref()
        && t != "after"
    {
        return Decision::Ignore("not an after-event");
    }
    if doc.error {
        return Decision::Ignore("the panel's function answered with an error");
    }
    let func = req.func.as_str();
    let (prefix, action) = func.split_once('.').unwrap_or((func, ""));
    // `.suspend` names no item type: not a panel function.
    let is_item_action = SERVICE_ACTIONS.contains(&action)
        && !prefix.is_empty()
        && !NOT_ITEM_TYPES.contains(&prefix);
    let is_form = matches!(prefix, "register" | "account" | "user" | "profile")
        || (is_item_action && action == "open");
    if is_form && !req.submitted() {
        return Decision::Ignore("form opened, not submitted");
    }
    let ids = ids_or_new(req, doc);
    let login = |kind, lookup: fn(String) -> Lookup, login: Option<&str>, why| match login {
        Some(l) => Decision::Queue(vec![NewJob::for_lookup(kind, lookup(l.to_string()), func)]),
        None => Decision::Ignore(why),
    };
    match func {
        "register" => login(
            EntityKind::Account,
            Lookup::Login,
            req.param("email"),
            "registration without an e-mail",
        ),
        "account.edit" if !ids.is_empty() => by_ids(EntityKind::Account, ids, func),
        "account.edit" => login(
            EntityKind::Account,
            Lookup::Login,
            req.param("email"),
            "client saved without an id or e-mail",
        ),
        "user.edit" if ids.is_empty() => Decision::Ignore("user saved without an id"),
        "user.edit" => Decision::Queue(
            ids.into_iter()
                .map(|id| NewJob::for_lookup(EntityKind::Account, Lookup::User(id), func))
                .collect(),
        ),
        "profile.edit" | "profile.add" | "profile.add.profiledata" if !ids.is_empty() => {
            by_ids(EntityKind::Profile, ids, func)
        }
        "profile.edit" | "profile.add" | "profile.add.profiledata" => {
            // A new payer without its id: the newest payer of the client who added it.
            let client = req.param("su").or_else(|| {
                // An admin acting without `su` is not the payer's client.
                req.auth_user.as_deref().filter(|_| !req.is_admin())
            });
            login(
                EntityKind::Profile,
                Lookup::NewestProfileOfLogin,
                client,
                "payer saved without an id or its client's login",
            )
        }
        _ if (prefix == "service"
            && (SERVICE_CALLBACKS.contains(&action) || SERVICE_ACTIONS.contains(&action)))
            || is_item_action =>
        {
            // Services take `elid` only: group actions name several.
            match req.elids() {
                ids if ids.is_empty() => Decision::Ignore("service event without an elid"),
                ids => by_ids(EntityKind::Item, ids, func),
            }
        }
        _ => Decision::Ignore("not an event the module follows"),
    }
}

fn by_ids(kind: EntityKind, ids: Vec<i64>, event: &str) -> Decision {
    Decision::Queue(
        ids.into_iter()
            .map(|id| NewJob::for_id(kind, id, event))
            .collect(),
    )
}

/// `elid` on an edit; the new object's `<id>` in the answer on a create.
fn ids_or_new(req: &Request, doc: &DocInfo) -> Vec<i64> {
    let ids = req.elids();
    if !ids.is_empty() {
        return ids;
    }
    doc.id.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn req(vars: &[(&str, &str)]) -> Request {
        Request::from_vars(
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    fn keys(d: Decision) -> Vec<String> {
        match d {
            Decision::Queue(jobs) => jobs.iter().map(NewJob::key).collect(),
            Decision::Ignore(why) => vec![format!("ignored: {why}")],
        }
    }

    fn ok() -> DocInfo {
        DocInfo {
            well_formed: true,
            ok: true,
            ..DocInfo::default()
        }
    }

    #[test]
    fn registration_is_found_by_login() {
        let r = req(&[
            ("PARAM_func", "register"),
            ("PARAM_sok", "ok"),
            ("PARAM_email", "m@example.ru"),
        ]);
        assert_eq!(keys(decide(&r, &ok())), vec!["account?login=m@example.ru"]);
    }

    #[test]
    fn client_create_uses_the_new_id_and_edit_the_elid() {
        let r = req(&[
            ("PARAM_func", "account.edit"),
            ("PARAM_sok", "ok"),
            ("PARAM_elid", ""),
        ]);
        let doc = DocInfo {
            id: Some(7),
            ..ok()
        };
        assert_eq!(keys(decide(&r, &doc)), vec!["account:7"]);
        let r = req(&[
            ("PARAM_func", "account.edit"),
            ("PARAM_sok", "ok"),
            ("PARAM_elid", "3"),
        ]);
        assert_eq!(keys(decide(&r, &ok())), vec!["account:3"]);
    }

    #[test]
    fn forms_count_only_when_submitted() {
        for f in [
            "account.edit",
            "profile.edit",
            "register",
            "user.edit",
            "vds.open",
        ] {
            let r = req(&[("PARAM_func", f), ("PARAM_elid", "3")]);
            assert!(matches!(decide(&r, &ok()), Decision::Ignore(_)), "{f}");
        }
    }

    #[test]
    fn service_events_take_every_elid() {
        let r = req(&[("PARAM_func", "vds.suspend"), ("PARAM_elid", "1001, 1002")]);
        assert_eq!(keys(decide(&r, &ok())), vec!["item:1001", "item:1002"]);
        let r = req(&[
            ("PARAM_func", "service.postprolong"),
            ("PARAM_elid", "1002"),
        ]);
        assert_eq!(keys(decide(&r, &ok())), vec!["item:1002"]);
        let r = req(&[
            ("PARAM_func", "domain.open"),
            ("PARAM_elid", "1004"),
            ("PARAM_sok", "ok"),
        ]);
        assert_eq!(keys(decide(&r, &ok())), vec!["item:1004"]);
    }

    #[test]
    fn new_payer_without_id_is_the_newest_of_its_client() {
        let r = req(&[
            ("PARAM_func", "profile.add.profiledata"),
            ("PARAM_sok", "ok"),
            ("AUTH_USER", "petrov@romashka.example"),
            ("AUTH_LEVEL", "16"),
        ]);
        let doc = DocInfo {
            well_formed: true,
            ..DocInfo::default()
        };
        assert_eq!(
            keys(decide(&r, &doc)),
            vec!["profile?newest-profile-of=petrov@romashka.example"]
        );
        let admin = req(&[
            ("PARAM_func", "profile.edit"),
            ("PARAM_sok", "ok"),
            ("AUTH_USER", "admin"),
            ("AUTH_LEVEL", "29"),
        ]);
        assert!(matches!(decide(&admin, &doc), Decision::Ignore(_)));
        let su = req(&[
            ("PARAM_func", "profile.edit"),
            ("PARAM_sok", "ok"),
            ("PARAM_su", "c@x.ru"),
            ("AUTH_LEVEL", "29"),
        ]);
        assert_eq!(
            keys(decide(&su, &doc)),
            vec!["profile?newest-profile-of=c@x.ru"]
        );
    }

    #[test]
    fn failures_and_other_stages_are_ignored() {
        let r = req(&[("PARAM_func", "vds.suspend"), ("PARAM_elid", "1001")]);
        let err = DocInfo {
            error: true,
            ..ok()
        };
        assert!(matches!(decide(&r, &err), Decision::Ignore(_)));
        let before = req(&[
            ("PARAM_func", "vds.suspend"),
            ("PARAM_elid", "1001"),
            ("EVENT_TYPE", "before"),
        ]);
        assert!(matches!(decide(&before, &ok()), Decision::Ignore(_)));
        let other = req(&[("PARAM_func", "account.delete"), ("PARAM_elid", "3")]);
        assert!(matches!(decide(&other, &ok()), Decision::Ignore(_)));
        let no_type = req(&[("PARAM_func", ".suspend"), ("PARAM_elid", "3")]);
        assert!(matches!(decide(&no_type, &ok()), Decision::Ignore(_)));
        let user = req(&[
            ("PARAM_func", "user.edit"),
            ("PARAM_sok", "ok"),
            ("PARAM_elid", "13"),
        ]);
        assert_eq!(keys(decide(&user, &ok())), vec!["account?user=13"]);
    }
}
