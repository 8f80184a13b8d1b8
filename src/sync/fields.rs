//! amoCRM's custom fields and pipelines as the worker uses them, and panel values written
//! in the form each field type needs.

use crate::amo::{AccountMeta, CustomField, FieldValue, FieldValues, Scalar};
use crate::rules::{FieldRef, Stage, Value};

/// What the worker knows of the account's fields and pipelines. Empty in a dry run that
/// cannot reach amoCRM: values are then shown as plain text.
#[derive(Debug, Default)]
pub struct Meta {
    pub account: AccountMeta,
    pub offline: bool,
}

impl Meta {
    pub fn field(&self, entity: &str, r: &FieldRef) -> Option<&CustomField> {
        let fields = self.account.fields_of(entity);
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
            || self.account.pipelines.iter().any(|p| {
                p.id == stage.pipeline_id && p.statuses.iter().any(|s| s.id == stage.status_id)
            })
    }
}

/// The field's values, or why the value cannot be written (the rest of the entity is
/// still sent). Without the field (offline, or a field amoCRM does not have) the value
/// goes as plain text under the id or code the rule names.
pub fn render(
    field: Option<&CustomField>,
    r: &FieldRef,
    value: &Value,
) -> Result<FieldValues, String> {
    let Some(f) = field else {
        let (field_id, field_code) = match r {
            FieldRef::Id(id) => (Some(*id), None),
            FieldRef::Code(c) => (None, Some(c.clone())),
        };
        return Ok(FieldValues {
            field_id,
            field_code,
            values: vec![FieldValue::of(Scalar::Text(value.to_text()))],
        });
    };
    let value = match f.field_type.as_str() {
        "multitext" => FieldValue {
            enum_code: Some("WORK".into()),
            ..FieldValue::of(Scalar::Text(value.to_text()))
        },
        "numeric" | "monetary" => FieldValue::of(number(f, value)?),
        "checkbox" => FieldValue::of(Scalar::Bool(truth(value))),
        "select" | "radiobutton" | "multiselect" => FieldValue::choice(choice(f, value)?),
        "date" | "date_time" | "birthday" => FieldValue::of(Scalar::Int(date(f, value)?)),
        _ => FieldValue::of(Scalar::Text(value.to_text())),
    };
    Ok(FieldValues {
        field_id: Some(f.id),
        field_code: None,
        values: vec![value],
    })
}

fn number(f: &CustomField, value: &Value) -> Result<Scalar, String> {
    Ok(match value {
        Value::Int(i) => Scalar::Int(*i),
        Value::Number(n) => Scalar::Float(*n),
        _ => {
            let text = value.to_text();
            match text.trim().parse::<f64>() {
                Ok(n) if n.fract() == 0.0 && n.abs() < 9e15 => Scalar::Int(n as i64),
                Ok(n) => Scalar::Float(n),
                Err(_) => {
                    return Err(format!(
                        "field {} is numeric, the value '{text}' is not a number",
                        f.id
                    ));
                }
            }
        }
    })
}

fn truth(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        _ => matches!(
            value.to_text().trim().to_lowercase().as_str(),
            "on" | "yes" | "true" | "1" | "да"
        ),
    }
}

fn choice(f: &CustomField, value: &Value) -> Result<i64, String> {
    let text = value.to_text();
    let wanted = text.trim();
    match f
        .enums
        .iter()
        .find(|e| e.value.trim().eq_ignore_ascii_case(wanted))
    {
        Some(e) => Ok(e.id),
        None => Err(format!(
            "field {} offers no choice '{wanted}' (choices: {})",
            f.id,
            f.enums
                .iter()
                .map(|e| e.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn date(f: &CustomField, value: &Value) -> Result<i64, String> {
    match value {
        Value::Date { unix, .. } => Ok(*unix),
        Value::Int(i) => Ok(*i),
        _ => {
            let text = value.to_text();
            parse_date(&text)
                .ok_or_else(|| format!("field {} is a date, the value '{text}' is not", f.id))
        }
    }
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
    use serde_json::json;

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

    /// The JSON amoCRM gets for the field's values.
    fn json(v: Result<FieldValues, String>) -> serde_json::Value {
        serde_json::to_value(v.expect("rendered")).expect("json")
    }

    #[test]
    fn values_take_the_form_of_their_field() {
        let r = FieldRef::Id(1);
        let t = |s: &str| Value::Text(s.to_string());
        assert_eq!(
            json(render(Some(&field(1, "multitext", &[])), &r, &t("a@b.ru"))),
            json!({"field_id": 1, "values": [{"value": "a@b.ru", "enum_code": "WORK"}]})
        );
        assert_eq!(
            json(render(Some(&field(1, "numeric", &[])), &r, &t("590.00")))["values"][0]["value"],
            json!(590)
        );
        assert_eq!(
            json(render(Some(&field(1, "checkbox", &[])), &r, &t("on")))["values"][0]["value"],
            json!(true)
        );
        let select = field(1, "select", &["vds", "vhost"]);
        assert_eq!(
            json(render(Some(&select), &r, &t("VHOST")))["values"][0],
            json!({"enum_id": 101})
        );
        assert!(
            render(Some(&field(1, "select", &["vds"])), &r, &t("domain"))
                .unwrap_err()
                .contains("vds")
        );
        assert_eq!(
            json(render(Some(&field(1, "date", &[])), &r, &t("2025-07-14")))["values"][0]["value"],
            json!(1_752_451_200)
        );
        assert!(render(Some(&field(1, "numeric", &[])), &r, &t("n/a")).is_err());
        assert_eq!(
            json(render(None, &FieldRef::Code("EMAIL".into()), &t("x"))),
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
