//! `amocrm sync --dry-run`: what would be sent, printed as one JSON object per entity.
//! Nothing is queued and nothing reaches amoCRM (custom fields are shown by the id or
//! code the configuration names, values as plain text).

use std::io::Write;

use serde_json::json;

use super::fields::Meta;
use super::plan::{never_synced, plan};
use crate::config::Config;
use crate::db::PanelDb;
use crate::model::EntityKind;

/// Prints the plan for each entity; returns how many were printed.
pub fn print_plans(
    cfg: &Config,
    db: &mut dyn PanelDb,
    selection: &[(EntityKind, i64)],
    out: &mut dyn Write,
) -> Result<u64, Box<dyn std::error::Error>> {
    let meta = Meta {
        offline: true,
        ..Meta::default()
    };
    let mut n = 0;
    for &(kind, id) in selection {
        let rec = match kind {
            EntityKind::Account => db.read_account(id)?,
            EntityKind::Profile => db.read_profile(id)?,
            EntityKind::Item => db.read_item(id)?,
        };
        let line = match rec {
            None => {
                json!({"kind": kind.as_str(), "id": id, "action": "skip", "reason": "not in the panel"})
            }
            Some(rec) if never_synced(kind, &rec).is_some() => {
                json!({"kind": kind.as_str(), "id": id, "action": "skip", "reason": never_synced(kind, &rec)})
            }
            Some(rec) if !cfg.rules.should_sync(kind, &rec) => {
                json!({"kind": kind.as_str(), "id": id, "action": "skip", "reason": "its sync condition does not hold"})
            }
            Some(rec) => {
                let p = plan(kind, id, &rec, &cfg.rules, &meta);
                let link = db.link(kind, id)?;
                let mut v = json!({
                    "kind": kind.as_str(),
                    "id": id,
                    "entity": kind.amo_entity(),
                    "action": if link.is_some() { "update" } else { "create" },
                    "payload": p.create_payload(None, None),
                });
                if let Some(l) = link {
                    v["amocrm_id"] = json!(l.amocrm_id);
                    if l.fingerprint == p.fingerprint(cfg.sync.update) {
                        v["action"] = json!("unchanged");
                    }
                }
                if let Some(s) = p.stage_move {
                    v["move_to"] = json!({"pipeline_id": s.pipeline_id, "status_id": s.status_id});
                }
                if !p.warnings.is_empty() {
                    v["warnings"] = json!(p.warnings);
                }
                v
            }
        };
        writeln!(out, "{line}")?;
        n += 1;
    }
    Ok(n)
}
