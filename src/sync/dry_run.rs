//! `amocrm sync --dry-run`: what would be sent, printed as one JSON object per entity.
//! Nothing is queued and nothing reaches amoCRM (custom fields are shown by the id or
//! code the configuration names, values as plain text).

use std::io::Write;

use serde::Serialize;

use super::fields::Meta;
use super::plan::{Admission, admit, plan};
use crate::config::Config;
use crate::db::PanelDb;
use crate::model::EntityKind;

/// One printed line.
#[derive(Serialize, Default)]
struct Line {
    kind: &'static str,
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<&'static str>,
    /// `create`, `update`, `unchanged` or `skip`.
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amocrm_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    move_to: Option<MoveTo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct MoveTo {
    pipeline_id: i64,
    status_id: i64,
}

/// Prints the plan for each entity; returns how many were printed.
pub fn print_plans(
    cfg: &Config,
    db: &mut dyn PanelDb,
    selection: &[(EntityKind, i64)],
    out: &mut dyn Write,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut n = 0;
    for &(kind, id) in selection {
        let line = line(cfg, db, kind, id)?;
        // Keys in a stable order, as a JSON object's are read.
        writeln!(out, "{}", serde_json::to_value(&line)?)?;
        n += 1;
    }
    Ok(n)
}

fn line(
    cfg: &Config,
    db: &mut dyn PanelDb,
    kind: EntityKind,
    id: i64,
) -> Result<Line, Box<dyn std::error::Error>> {
    let skip = |reason: &str| Line {
        kind: kind.as_str(),
        id,
        action: "skip",
        reason: Some(reason.to_string()),
        ..Line::default()
    };
    let rec = db.read(kind, id)?;
    let rec = match admit(kind, rec.as_ref(), &cfg.rules) {
        Admission::Gone => return Ok(skip("not in the panel")),
        Admission::Out(why) => return Ok(skip(&why)),
        Admission::In => rec.unwrap_or_default(),
    };
    let meta = Meta {
        offline: true,
        ..Meta::default()
    };
    let p = plan(kind, id, &rec, &cfg.rules, &meta);
    let link = db.link(kind, id)?;
    let action = match &link {
        None => "create",
        Some(_)
            if p.unchanged(link.as_ref(), cfg.sync.mode_for(kind))
                .is_some() =>
        {
            "unchanged"
        }
        Some(_) => "update",
    };
    Ok(Line {
        kind: kind.as_str(),
        id,
        entity: Some(kind.amo_entity()),
        action,
        payload: Some(p.entity.to_json()),
        amocrm_id: link.map(|l| l.amocrm_id),
        move_to: p.stage_move.map(|s| MoveTo {
            pipeline_id: s.pipeline_id,
            status_id: s.status_id,
        }),
        warnings: p.warnings,
        ..Line::default()
    })
}
