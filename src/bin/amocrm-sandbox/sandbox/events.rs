//! The account's events as `GET /api/v4/events` answers them: what a manager did that the
//! API has no other trace of (an entity deleted, duplicates merged). The sandbox records
//! only what its control endpoint does (`/_sandbox/delete`, `/_sandbox/merge`).
//!
//! amoCRM's reference (amocrm.ru/developers, "События и примечания"; Kommo's "Events
//! list"): `filter[type]`, `filter[entity]` (`lead`, `contact`, `company`),
//! `filter[entity_id]` (at most 10, with exactly one entity), `filter[created_at]` (one
//! time: from then on; or `[from]` / `[to]`), `filter[id]`; at most 100 a page; 204 when
//! none match. Each event: `id` (a string), `type`, `entity_id`, `entity_type`,
//! `created_by`, `created_at`, `value_after`, `value_before`, `account_id`.

use serde_json::{Value, json};

use super::endpoint::{hal_list, paging};
use super::http::{Request, Response};
use super::problem;
use super::render::href;
use super::state::{Crm, Event, Kind, USER_ID};

/// amoCRM's ceiling on events a page.
pub const MOST_A_PAGE: usize = 100;
/// `filter[entity_id]` takes at most this many ids.
const MOST_ENTITY_IDS: usize = 10;

impl Crm {
    /// Records an event of `entity`, now.
    pub fn record_event(&mut self, kind: &str, entity: (Kind, u64), before: Value, after: Value) {
        let at = super::write::now();
        let id = event_id(at, self.events.len() as u64);
        self.events.push(Event {
            id,
            kind: kind.to_string(),
            entity: entity.0,
            entity_id: entity.1,
            created_at: at,
            value_before: before,
            value_after: after,
        });
    }
}

/// A ULID-like id: the time and a sequence number in Crockford's base32, lower case.
fn event_id(at: i64, seq: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut out = Vec::with_capacity(26);
    for (mut n, width) in [(at.max(0) as u64, 10), (seq, 16)] {
        let mut part = vec![b'0'; width];
        for slot in part.iter_mut().rev() {
            *slot = DIGITS[(n % 32) as usize];
            n /= 32;
        }
        out.extend(part);
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `{"entity": {"id": …, "type": "contact"}}`: how an event's values name an entity.
pub fn named(kind: Kind, id: u64) -> Value {
    json!({ "entity": { "id": id, "type": kind.singular() } })
}

/// What `GET /api/v4/events` asks for.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    types: Vec<String>,
    entities: Vec<Kind>,
    entity_ids: Vec<u64>,
    ids: Vec<String>,
    from: Option<i64>,
    to: Option<i64>,
}

impl Filter {
    fn parse(pairs: &[(String, String)]) -> Result<Filter, String> {
        let mut f = Filter::default();
        for (k, v) in pairs {
            let values = v.split(',').map(str::trim).filter(|s| !s.is_empty());
            match list_key(k) {
                Some("filter[type]") => f.types.extend(values.map(str::to_string)),
                Some("filter[id]") => f.ids.extend(values.map(str::to_string)),
                Some("filter[entity]") => {
                    for name in values {
                        f.entities.push(Kind::from_singular(name).ok_or_else(|| {
                            format!("filter[entity]: {name:?} is not lead, contact or company")
                        })?);
                    }
                }
                Some("filter[entity_id]") => {
                    for id in values {
                        f.entity_ids.push(number(k, id)? as u64);
                    }
                }
                _ => f.time(k, v)?,
            }
        }
        f.check()?;
        Ok(f)
    }

    /// `filter[created_at]` as one time (from then on) or two (`from,to`), or its
    /// `[from]` and `[to]`.
    fn time(&mut self, k: &str, v: &str) -> Result<(), String> {
        match k {
            "filter[created_at][from]" => self.from = Some(number(k, v)?),
            "filter[created_at][to]" => self.to = Some(number(k, v)?),
            "filter[created_at]" => {
                let mut parts = v.split(',');
                self.from = parts.next().map(|p| number(k, p)).transpose()?;
                self.to = parts.next().map(|p| number(k, p)).transpose()?;
            }
            _ => {}
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        if self.entity_ids.len() > MOST_ENTITY_IDS {
            return Err(format!(
                "filter[entity_id] takes at most {MOST_ENTITY_IDS} ids"
            ));
        }
        if !self.entity_ids.is_empty() && self.entities.len() != 1 {
            return Err("filter[entity_id] needs exactly one filter[entity]".into());
        }
        Ok(())
    }

    fn admits(&self, e: &Event) -> bool {
        open_or(&self.types, &e.kind)
            && open_or(&self.entities, &e.entity)
            && open_or(&self.entity_ids, &e.entity_id)
            && open_or(&self.ids, &e.id)
            && self.from.is_none_or(|t| e.created_at >= t)
            && self.to.is_none_or(|t| e.created_at <= t)
    }
}

/// An empty filter list lets everything through.
fn open_or<T: PartialEq>(list: &[T], v: &T) -> bool {
    list.is_empty() || list.contains(v)
}

/// `filter[type][]`, `filter[type][0]` and `filter[type]` are one list.
fn list_key(k: &str) -> Option<&str> {
    [
        "filter[type]",
        "filter[id]",
        "filter[entity]",
        "filter[entity_id]",
    ]
    .into_iter()
    .find(|name| k.strip_prefix(name).is_some_and(is_index))
}

fn is_index(rest: &str) -> bool {
    rest.is_empty()
        || (rest.starts_with('[')
            && rest.ends_with(']')
            && rest[1..rest.len() - 1].bytes().all(|b| b.is_ascii_digit()))
}

fn number(key: &str, v: &str) -> Result<i64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{key}: {v:?} is not a whole number"))
}

/// `GET /api/v4/events`: the newest first.
pub fn list(crm: &Crm, req: &Request, base: &str) -> Response {
    let filter = match Filter::parse(&req.query_pairs()) {
        Ok(f) => f,
        Err(e) => return problem::bad_request(&e),
    };
    let limit = paging(req).1;
    let limit = limit.min(MOST_A_PAGE);
    let found: Vec<&Event> = crm
        .events
        .iter()
        .rev()
        .filter(|e| filter.admits(e))
        .collect();
    hal_list((req, base), "events", &found, limit, |e| {
        render(crm, e, base)
    })
}

fn render(crm: &Crm, e: &Event, base: &str) -> Value {
    let entity_path = format!("/api/v4/{}/{}", e.entity.segment(), e.entity_id);
    json!({
        "id": e.id,
        "type": e.kind,
        "entity_id": e.entity_id,
        "entity_type": e.entity.singular(),
        "created_by": USER_ID,
        "created_at": e.created_at,
        "value_after": e.value_after,
        "value_before": e.value_before,
        "account_id": crm.account.id,
        "_links": href(base, &format!("/api/v4/events/{}", e.id)),
        "_embedded": { "entity": { "id": e.entity_id, "_links": href(base, &entity_path) } },
    })
}

/// The events as `/_sandbox/state` shows them, oldest first.
pub fn state(crm: &Crm, base: &str) -> Value {
    crm.events.iter().map(|e| render(crm, e, base)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn event(kind: &str, entity: Kind, id: u64, at: i64) -> Event {
        Event {
            id: event_id(at, id),
            kind: kind.into(),
            entity,
            entity_id: id,
            created_at: at,
            value_before: json!([]),
            value_after: json!([]),
        }
    }

    #[test]
    fn ids_look_like_amocrms() {
        let id = event_id(1_700_000_000, 7);
        assert_eq!(id.len(), 26);
        assert!(id.ends_with('7') && id.starts_with("0001"), "{id}");
        assert!(event_id(1, 1) < event_id(2, 0), "ordered by time");
    }

    #[test]
    fn filters_take_every_spelling_and_select_events() {
        let f = Filter::parse(&pairs(&[
            ("filter[type][]", "contact_deleted"),
            ("filter[type][1]", "entity_merged,lead_deleted"),
            ("filter[entity]", "contact"),
            ("filter[created_at][from]", "100"),
            ("limit", "5"),
        ]))
        .expect("filter");
        assert_eq!(f.types.len(), 3);
        assert!(f.admits(&event("contact_deleted", Kind::Contacts, 1, 100)));
        assert!(!f.admits(&event("contact_deleted", Kind::Contacts, 1, 99)));
        assert!(!f.admits(&event("lead_deleted", Kind::Leads, 1, 100)));
        assert!(!f.admits(&event("contact_added", Kind::Contacts, 1, 100)));
        let both = Filter::parse(&pairs(&[("filter[created_at]", "10,20")])).expect("filter");
        assert_eq!((both.from, both.to), (Some(10), Some(20)));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let err = |q: &[(&str, &str)]| Filter::parse(&pairs(q)).expect_err("refused");
        assert!(err(&[("filter[entity]", "deal")]).contains("deal"));
        assert!(err(&[("filter[created_at][from]", "yesterday")]).contains("yesterday"));
        assert!(err(&[("filter[entity_id][]", "5")]).contains("exactly one"));
        let eleven: Vec<(&str, &str)> = std::iter::once(("filter[entity]", "lead"))
            .chain(std::iter::repeat_n(("filter[entity_id][]", "1"), 11))
            .collect();
        assert!(err(&eleven).contains("at most 10"));
    }
}
