//! amoCRM's custom fields and pipelines as read once per run, and panel values written in
//! the form each field type needs.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use crate::amo::{CustomField, Pipeline};
use crate::rules::{FieldRef, Stage, Value};

/// What the worker knows of the account's fields and pipelines. Empty in a dry run that
/// cannot reach amoCRM: values are then shown as plain `{"value": …}`.
#[derive(Debug, Default)]
pub struct Meta {
    pub fields: HashMap<String, Vec<CustomField>>,
    pub pipelines: Vec<Pipeline>,
    pub offline: bool,
}

/// How long the worker trusts the fields and pipelines it read (seconds): a worker woken by
/// a panel event then starts with its first create instead of four reads. A field or stage
/// changed in amoCRM within that time makes a create rejected, which drops the cache.
pub const FRESH_SECS: i64 = 300;

/// What `var/amocrm_worker_meta.json` holds: the account it was read from and when.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cached {
    url: String,
    read_at: i64,
    fields: HashMap<String, Vec<CustomField>>,
    pipelines: Vec<Pipeline>,
}

fn cache_file(paths: &crate::paths::Paths) -> std::path::PathBuf {
    paths.var_dir().join("amocrm_worker_meta.json")
}

impl Meta {
    /// The fields and pipelines read from `url` less than [`FRESH_SECS`] ago, if kept.
    pub fn cached(paths: &crate::paths::Paths, url: &str, now: i64) -> Option<Meta> {
        let text = std::fs::read_to_string(cache_file(paths)).ok()?;
        let c: Cached = serde_json::from_str(&text).ok()?;
        (c.url == url && (0..FRESH_SECS).contains(&(now - c.read_at))).then_some(Meta {
            fields: c.fields,
            pipelines: c.pipelines,
            offline: false,
        })
    }

    /// Keeps what was read for the next workers.
    pub fn store(&self, paths: &crate::paths::Paths, url: &str, now: i64) {
        let c = Cached {
            url: url.to_string(),
            read_at: now,
            fields: self.fields.clone(),
            pipelines: self.pipelines.clone(),
        };
        let path = cache_file(paths);
        if let Err(e) = crate::paths::write_json(&path, &c) {
            log::debug!("cannot keep amoCRM's fields in {}: {e}", path.display());
        }
    }

    /// Forgets the kept fields and pipelines: the next worker reads them again.
    pub fn forget(paths: &crate::paths::Paths) {
        let _ = std::fs::remove_file(cache_file(paths));
    }

    pub fn field(&self, entity: &str, r: &FieldRef) -> Option<&CustomField> {
        let fields = self.fields.get(entity)?;
        match r {
            FieldRef::Id(id) => fields.iter().find(|f| f.id == *id),
            FieldRef::Code(code) => fields.iter().find(|f| {
                f.code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(code))
            }),
        }
    }

    /// The id of a field by its code (EMAIL, PHONE), for reading contacts back.
    pub fn field_id_by_code(&self, entity: &str, code: &str) -> Option<i64> {
        self.field(entity, &FieldRef::Code(code.to_string()))
            .map(|f| f.id)
    }

    /// Whether the stage exists in the account (unknown when offline).
    pub fn has_stage(&self, stage: Stage) -> bool {
        self.offline
            || self.pipelines.iter().any(|p| {
                p.id == stage.pipeline_id && p.statuses.iter().any(|s| s.id == stage.status_id)
            })
    }
}

/// One `custom_fields_values` entry for the field, or why the value cannot be written
/// (the rest of the entity is still sent).
pub fn render(field: Option<&CustomField>, r: &FieldRef, value: &Value) -> Result<Json, String> {
    let Some(f) = field else {
        // Offline (dry run) or a field amoCRM does not have: the caller decides.
        let key = match r {
            FieldRef::Id(id) => json!({"field_id": id}),
            FieldRef::Code(c) => json!({"field_code": c}),
        };
        let mut entry = key;
        entry["values"] = json!([{"value": value.to_text()}]);
        return Ok(entry);
    };
    let text = value.to_text();
    let values = match f.field_type.as_str() {
        "multitext" => json!([{"value": text, "enum_code": "WORK"}]),
        "numeric" | "monetary" => match value {
            Value::Int(i) => json!([{"value": i}]),
            Value::Number(n) => json!([{"value": n}]),
            _ => match text.trim().parse::<f64>() {
                Ok(n) if n.fract() == 0.0 && n.abs() < 9e15 => json!([{"value": n as i64}]),
                Ok(n) => json!([{"value": n}]),
                Err(_) => {
                    return Err(format!(
                        "field {} is numeric, the value '{text}' is not a number",
                        f.id
                    ));
                }
            },
        },
        "checkbox" => {
            let b = match value {
                Value::Bool(b) => *b,
                Value::Int(i) => *i != 0,
                _ => matches!(
                    text.trim().to_lowercase().as_str(),
                    "on" | "yes" | "true" | "1" | "да"
                ),
            };
            json!([{"value": b}])
        }
        "select" | "radiobutton" | "multiselect" => {
            let wanted = text.trim();
            match f
                .enums
                .iter()
                .find(|e| e.value.trim().eq_ignore_ascii_case(wanted))
            {
                Some(e) => json!([{"enum_id": e.id}]),
                None => {
                    return Err(format!(
                        "field {} offers no choice '{wanted}' (choices: {})",
                        f.id,
                        f.enums
                            .iter()
                            .map(|e| e.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        "date" | "date_time" | "birthday" => match value {
            Value::Date { unix, .. } => json!([{"value": unix}]),
            Value::Int(i) => json!([{"value": i}]),
            _ => match crate::sync::fields::parse_date(&text) {
                Some(unix) => json!([{"value": unix}]),
                None => {
                    return Err(format!(
                        "field {} is a date, the value '{text}' is not",
                        f.id
                    ));
                }
            },
        },
        _ => json!([{"value": text}]),
    };
    Ok(json!({"field_id": f.id, "values": values}))
}

/// `YYYY-MM-DD[ HH:MM:SS]` as unix seconds (UTC).
pub fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut tm = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (
        tm.next().flatten().unwrap_or(0),
        tm.next().flatten().unwrap_or(0),
        tm.next().flatten().unwrap_or(0),
    );
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amo::FieldEnum;

    #[test]
    fn kept_fields_serve_the_same_account_for_five_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths::new(dir.path());
        std::fs::create_dir_all(paths.var_dir()).unwrap();
        let url = "http://127.0.0.1:1";
        assert!(Meta::cached(&paths, url, 1000).is_none());
        let mut m = Meta::default();
        m.fields
            .insert("leads".into(), vec![field(816001, "select", &["a", "b"])]);
        m.store(&paths, url, 1000);
        let back = Meta::cached(&paths, url, 1000 + FRESH_SECS - 1).expect("fresh");
        assert_eq!(back.fields, m.fields);
        assert!(
            Meta::cached(&paths, url, 1000 + FRESH_SECS).is_none(),
            "stale"
        );
        assert!(
            Meta::cached(&paths, "http://127.0.0.1:2", 1000).is_none(),
            "another account"
        );
        Meta::forget(&paths);
        assert!(Meta::cached(&paths, url, 1000).is_none(), "forgotten");
    }

    fn field(id: i64, ty: &str, enums: &[&str]) -> CustomField {
        CustomField {
            id,
            name: format!("f{id}"),
            code: None,
            field_type: ty.to_string(),
            enums: enums
                .iter()
                .enumerate()
                .map(|(i, v)| FieldEnum {
                    id: 100 + i as i64,
                    value: v.to_string(),
                    code: None,
                })
                .collect(),
        }
    }

    #[test]
    fn values_take_the_form_of_their_field() {
        let r = FieldRef::Id(1);
        let t = |s: &str| Value::Text(s.to_string());
        assert_eq!(
            render(Some(&field(1, "multitext", &[])), &r, &t("a@b.ru")).unwrap(),
            json!({"field_id": 1, "values": [{"value": "a@b.ru", "enum_code": "WORK"}]})
        );
        assert_eq!(
            render(Some(&field(1, "numeric", &[])), &r, &t("590.00")).unwrap()["values"][0]["value"],
            json!(590)
        );
        assert_eq!(
            render(Some(&field(1, "checkbox", &[])), &r, &t("on")).unwrap()["values"][0]["value"],
            json!(true)
        );
        assert_eq!(
            render(
                Some(&field(1, "select", &["vds", "vhost"])),
                &r,
                &t("VHOST")
            )
            .unwrap()["values"][0],
            json!({"enum_id": 101})
        );
        assert!(
            render(Some(&field(1, "select", &["vds"])), &r, &t("domain"))
                .unwrap_err()
                .contains("vds")
        );
        assert_eq!(
            render(Some(&field(1, "date", &[])), &r, &t("2025-07-14")).unwrap()["values"][0]["value"],
            json!(1_752_451_200)
        );
        assert!(render(Some(&field(1, "numeric", &[])), &r, &t("n/a")).is_err());
        assert_eq!(
            render(None, &FieldRef::Code("EMAIL".into()), &t("x")).unwrap(),
            json!({"field_code": "EMAIL", "values": [{"value": "x"}]})
        );
    }

    #[test]
    fn dates_parse_as_utc() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-03-14 10:22:05"), Some(1_710_411_725));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("soon"), None);
    }
}
