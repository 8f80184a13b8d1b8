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

/// Per-type service functions, `<itemtype>.<action>` (BILLmanager 6 API documentation,
/// "List of API functions": `dnshost.open`, `dnshost.edit`, …). `open` and `edit` are forms.
const ITEM_FORMS: [&str; 2] = ["open", "edit"];
/// Group actions on the selected services: they act when called, with no `sok`.
const ITEM_ACTIONS: [&str; 3] = ["suspend", "resume", "delete"];
/// Completion callbacks of processing modules, `service.<name>`; some modules call them
/// without `sok`.
const SERVICE_CALLBACKS: [&str; 6] = [
    "postopen",
    "postprolong",
    "postsuspend",
    "postresume",
    "postclose",
    "postsetparam",
];
/// The renewal form: it opens without `sok`, and its submit orders the renewal (paid at
/// once, or put in the cart), which the lead is refreshed after.
const RENEWAL: &str = "service.prolong";
/// Prefixes that are not item types.
const NOT_ITEM_TYPES: [&str; 7] = [
    "account", "profile", "user", "amocrm", "service", "register", "payment",
];
/// A payment credited: payment modules call it when the gateway confirms (ISPsystem's own
/// modules, `payment.setpaid elid=<id>`), and staff with the toolbar's button [inferred].
const PAYMENT_PAID: &str = "payment.setpaid";
/// The admin's payment form, which can set any status (a refund, a manual credit).
const PAYMENT_EDIT: &str = "payment.edit";

/// The events the module follows, by what they are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    Registration,
    Client,
    User,
    Payer,
    /// A service's form: the renewal, a type's `open` and `edit`.
    ServiceForm,
    /// A service's callback or group action.
    ServiceAction,
    /// A payment credited (an action) or edited (a form): its note, on its client.
    PaymentAction,
    PaymentForm,
}

impl Followed {
    fn of(func: &str) -> Option<Followed> {
        let (prefix, action) = func.split_once('.').unwrap_or((func, ""));
        // Any item type, the provider's own included: the description declares which.
        let item_type = !prefix.is_empty() && !NOT_ITEM_TYPES.contains(&prefix);
        Some(match func {
            "register" => Followed::Registration,
            "account.edit" => Followed::Client,
            "user.edit" => Followed::User,
            "profile.edit" | "profile.add" | "profile.add.profiledata" => Followed::Payer,
            RENEWAL => Followed::ServiceForm,
            PAYMENT_PAID => Followed::PaymentAction,
            PAYMENT_EDIT => Followed::PaymentForm,
            _ if prefix == "service" && SERVICE_CALLBACKS.contains(&action) => {
                Followed::ServiceAction
            }
            _ if item_type && ITEM_FORMS.contains(&action) => Followed::ServiceForm,
            _ if item_type && ITEM_ACTIONS.contains(&action) => Followed::ServiceAction,
            _ => return None,
        })
    }

    /// Form functions run their after-handler on open too; only a submit counts.
    fn is_form(self) -> bool {
        !matches!(self, Followed::ServiceAction | Followed::PaymentAction)
    }
}

pub fn decide(req: &Request, doc: &DocInfo) -> Decision {
    if let Some(why) = not_a_success(req, doc) {
        return Decision::Ignore(why);
    }
    let Some(followed) = Followed::of(&req.func) else {
        return Decision::Ignore("not an event the module follows");
    };
    if followed.is_form() && !req.submitted() {
        return Decision::Ignore("form opened, not submitted");
    }
    match followed {
        Followed::Registration => registration(req),
        Followed::Client => client(req, doc),
        Followed::User => user(req, doc),
        Followed::Payer => payer(req, doc),
        Followed::ServiceForm | Followed::ServiceAction => services(req),
        Followed::PaymentForm | Followed::PaymentAction => payments(req),
    }
}

/// Why an event is no success the module follows: another stage, or the panel's error.
fn not_a_success(req: &Request, doc: &DocInfo) -> Option<&'static str> {
    if req.event_type.as_deref().is_some_and(|t| t != "after") {
        return Some("not an after-event");
    }
    doc.error
        .then_some("the panel's function answered with an error")
}

/// A job found by a login, or why there is none.
fn by_login(
    req: &Request,
    kind: EntityKind,
    lookup: fn(String) -> Lookup,
    login: Option<&str>,
    why: &'static str,
) -> Decision {
    match login {
        Some(l) => Decision::Queue(vec![NewJob::for_lookup(
            kind,
            lookup(l.to_string()),
            &req.func,
        )]),
        None => Decision::Ignore(why),
    }
}

fn registration(req: &Request) -> Decision {
    by_login(
        req,
        EntityKind::Account,
        Lookup::Login,
        req.param("email"),
        "registration without an e-mail",
    )
}

fn client(req: &Request, doc: &DocInfo) -> Decision {
    match ids_or_new(req, doc) {
        ids if !ids.is_empty() => by_ids(EntityKind::Account, ids, &req.func),
        _ => by_login(
            req,
            EntityKind::Account,
            Lookup::Login,
            req.param("email"),
            "client saved without an id or e-mail",
        ),
    }
}

fn user(req: &Request, doc: &DocInfo) -> Decision {
    match ids_or_new(req, doc) {
        ids if ids.is_empty() => Decision::Ignore("user saved without an id"),
        ids => Decision::Queue(
            ids.into_iter()
                .map(|id| NewJob::for_lookup(EntityKind::Account, Lookup::User(id), &req.func))
                .collect(),
        ),
    }
}

fn payer(req: &Request, doc: &DocInfo) -> Decision {
    let ids = ids_or_new(req, doc);
    if !ids.is_empty() {
        return by_ids(EntityKind::Profile, ids, &req.func);
    }
    // A new payer without its id: the newest payer of the client who added it. An admin
    // acting without `su` is not the payer's client.
    let client = req
        .param("su")
        .or_else(|| req.auth_user.as_deref().filter(|_| !req.is_admin()));
    by_login(
        req,
        EntityKind::Profile,
        Lookup::NewestProfileOfLogin,
        client,
        "payer saved without an id or its client's login",
    )
}

/// Services take `elid` only: group actions name several.
fn services(req: &Request) -> Decision {
    match req.elids() {
        ids if ids.is_empty() => Decision::Ignore("service event without an elid"),
        ids => by_ids(EntityKind::Item, ids, &req.func),
    }
}

/// Each payment named (`elid`) → its client, looked up by the worker, then its note.
fn payments(req: &Request) -> Decision {
    match req.elids() {
        ids if ids.is_empty() => Decision::Ignore("payment event without an elid"),
        ids => Decision::Queue(
            ids.into_iter()
                .map(|id| NewJob::for_lookup(EntityKind::Account, Lookup::Payment(id), &req.func))
                .collect(),
        ),
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
            "dnshost.edit",
            "service.prolong",
        ] {
            let r = req(&[("PARAM_func", f), ("PARAM_elid", "3")]);
            assert_eq!(
                decide(&r, &ok()),
                Decision::Ignore("form opened, not submitted"),
                "{f}"
            );
        }
    }

    #[test]
    fn a_submitted_renewal_refreshes_the_service() {
        // The submit orders the renewal; the lead is read again (unchanged, it costs no
        // request) and once more when a processing module reports the renewal done.
        let r = req(&[
            ("PARAM_func", "service.prolong"),
            ("PARAM_elid", "1002"),
            ("PARAM_period", "12"),
            ("PARAM_sok", "ok"),
        ]);
        assert_eq!(keys(decide(&r, &ok())), vec!["item:1002"]);
    }

    /// The `<event name>`s of the module description.
    fn declared_events() -> Vec<String> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(crate::panel::ui::text::DESCRIPTION);
        let mut out = Vec::new();
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Empty(e) | Event::Start(e) if e.local_name().as_ref() == b"event" => {
                    let name = e.attributes().flatten().find(|a| a.key.as_ref() == b"name");
                    out.push(String::from_utf8_lossy(&name.expect("name").value).into_owned());
                }
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    #[test]
    fn every_declared_event_is_followed() {
        let events = declared_events();
        assert!(events.len() > 40, "{events:?}");
        for types in ["dedic", "certificate", "dnshost", "soft", "softexternal"] {
            assert!(events.contains(&format!("{types}.open")), "{types}");
        }
        for func in &events {
            let followed = Followed::of(func).unwrap_or_else(|| panic!("{func} is not followed"));
            let vars = |sok: bool| {
                let mut v = vec![
                    ("PARAM_func", func.as_str()),
                    ("PARAM_elid", "7"),
                    ("PARAM_email", "c7@example.ru"),
                    ("AUTH_LEVEL", "29"),
                    ("EVENT_TYPE", "after"),
                ];
                if sok {
                    v.push(("PARAM_sok", "ok"));
                }
                req(&v)
            };
            // Submitted, each queues a job; opened, a form queues nothing.
            assert!(
                matches!(decide(&vars(true), &ok()), Decision::Queue(j) if !j.is_empty()),
                "{func}"
            );
            let opened = decide(&vars(false), &ok());
            if followed.is_form() {
                assert_eq!(
                    opened,
                    Decision::Ignore("form opened, not submitted"),
                    "{func}"
                );
            } else {
                assert!(matches!(opened, Decision::Queue(_)), "{func}");
            }
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
