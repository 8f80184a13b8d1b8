//! What managers removed in amoCRM since a time, read from the events API
//! (`GET /api/v4/events`): contacts, companies and leads deleted, and those merged into
//! another, with the one each was merged into.
//!
//! The reference (amocrm.ru/developers "События и примечания", Kommo "Events list") gives
//! the filters (`filter[type][]`, `filter[entity][]`, `filter[created_at][from]`), at most
//! 100 events a page, 204 when none match, and each event's `type`, `entity_id`,
//! `entity_type` (`contact`, `company`, `lead`), `created_at`, `value_before` and
//! `value_after`. It does not show those values for `entity_merged`: they are read as the
//! sandbox writes them, a guess to confirm on a real account: the event is the
//! survivor's (`entity_id`), and `value_before` names each entity merged into it as
//! `{"entity": {"id": …}}`.

use std::collections::HashMap;

use serde_json::Value;

use super::client::{AmoClient, embedded};
use super::error::AmoError;
use super::url;

/// amoCRM's ceiling on events a page.
const EVENTS_PER_PAGE: usize = 100;

/// The event types of a removal.
const TYPES: [&str; 4] = [
    "contact_deleted",
    "company_deleted",
    "lead_deleted",
    "entity_merged",
];

/// A contact, company or lead amoCRM no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// `contacts`, `companies` or `leads`, as the entity calls name them.
    pub entity: &'static str,
    pub id: i64,
    /// The entity it was merged into, when a merge removed it.
    pub merged_into: Option<i64>,
    /// When (Unix time, amoCRM's clock).
    pub at: i64,
}

impl AmoClient {
    /// Every contact, company and lead removed since `since` (Unix time), page by page
    /// (100 a page) until a short page or a 204; each once, a merge winning over a
    /// deletion of the same id.
    pub fn removed_since(&mut self, since: i64) -> Result<Vec<Removed>, AmoError> {
        let mut found = Vec::new();
        for page in 1.. {
            let Some(body) = self.get_json(&events_path(since, page))? else {
                break;
            };
            let events = embedded(&body, "events", "GET /api/v4/events")?;
            found.extend(events.iter().flat_map(removals));
            if events.len() < EVENTS_PER_PAGE {
                break;
            }
        }
        Ok(once_each(found))
    }
}

fn events_path(since: i64, page: usize) -> String {
    let (since, page, limit) = (
        since.to_string(),
        page.to_string(),
        EVENTS_PER_PAGE.to_string(),
    );
    let mut pairs: Vec<(&str, &str)> = TYPES.iter().map(|t| ("filter[type][]", *t)).collect();
    for entity in ["contact", "company", "lead"] {
        pairs.push(("filter[entity][]", entity));
    }
    pairs.extend([
        ("filter[created_at][from]", since.as_str()),
        ("page", page.as_str()),
        ("limit", limit.as_str()),
    ]);
    format!("/api/v4/events?{}", url::query(&pairs))
}

/// `contact` → `contacts`; `None` for what the module does not sync.
fn entity_of(event_entity: &str) -> Option<&'static str> {
    match event_entity {
        "contact" => Some("contacts"),
        "company" => Some("companies"),
        "lead" => Some("leads"),
        _ => None,
    }
}

/// What one event says was removed: nothing when it is not a removal or lacks an id.
fn removals(event: &Value) -> Vec<Removed> {
    let text = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or("");
    let (Some(entity), Some(id)) = (
        entity_of(text("entity_type")),
        event.get("entity_id").and_then(Value::as_i64),
    ) else {
        return Vec::new();
    };
    let at = event.get("created_at").and_then(Value::as_i64).unwrap_or(0);
    match text("type") {
        "entity_merged" => merged_into(event, id)
            .map(|gone| Removed {
                entity,
                id: gone,
                merged_into: Some(id),
                at,
            })
            .collect(),
        t if t.ends_with("_deleted") => vec![Removed {
            entity,
            id,
            merged_into: None,
            at,
        }],
        _ => Vec::new(),
    }
}

/// The ids `value_before` of a merge names, other than the survivor's.
fn merged_into(event: &Value, survivor: i64) -> impl Iterator<Item = i64> + '_ {
    (event.get("value_before").and_then(Value::as_array))
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("entity")?.get("id")?.as_i64())
        .filter(move |id| *id != survivor)
}

/// One of each entity, the first seen (the newest) unless a later one names a merge.
fn once_each(found: Vec<Removed>) -> Vec<Removed> {
    let mut at: HashMap<(&str, i64), usize> = HashMap::new();
    let mut out: Vec<Removed> = Vec::new();
    for r in found {
        match at.get(&(r.entity, r.id)) {
            Some(&i) if out[i].merged_into.is_none() && r.merged_into.is_some() => out[i] = r,
            Some(_) => {}
            None => {
                at.insert((r.entity, r.id), out.len());
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletions_and_merges_become_removals() {
        let deleted = json!({"id": "01a", "type": "lead_deleted", "entity_id": 7,
            "entity_type": "lead", "created_at": 100, "value_before": [], "value_after": []});
        assert_eq!(
            removals(&deleted),
            vec![Removed {
                entity: "leads",
                id: 7,
                merged_into: None,
                at: 100
            }]
        );
        let merged = json!({"type": "entity_merged", "entity_id": 5, "entity_type": "contact",
            "created_at": 200, "value_before": [{"entity": {"id": 6, "type": "contact"}},
            {"entity": {"id": 5}}, {"other": 1}], "value_after": [{"entity": {"id": 5}}]});
        let r = removals(&merged);
        assert_eq!((r.len(), r[0].id, r[0].merged_into), (1, 6, Some(5)));
        for other in [
            json!({"type": "lead_added", "entity_id": 1, "entity_type": "lead"}),
            json!({"type": "contact_deleted", "entity_type": "contact"}),
            json!({"type": "task_deleted", "entity_id": 1, "entity_type": "task"}),
            json!("garbage"),
        ] {
            assert!(removals(&other).is_empty(), "{other}");
        }
    }

    #[test]
    fn each_removal_once_a_merge_winning() {
        let r = |id, into: Option<i64>| Removed {
            entity: "contacts",
            id,
            merged_into: into,
            at: 1,
        };
        let out = once_each(vec![r(1, None), r(2, None), r(1, Some(9)), r(1, None)]);
        assert_eq!(out, vec![r(1, Some(9)), r(2, None)]);
    }

    #[test]
    fn the_query_names_the_removals_and_the_time() {
        let path = events_path(1700000000, 2);
        for part in [
            "filter%5Btype%5D%5B%5D=entity_merged",
            "filter%5Bentity%5D%5B%5D=company",
            "filter%5Bcreated_at%5D%5Bfrom%5D=1700000000",
            "page=2",
            "limit=100",
        ] {
            assert!(path.contains(part), "{path} lacks {part}");
        }
    }
}
