//! `custom_fields_values` as written by a client: each field found by id or code, each value
//! checked against the field's type and stored in the shape it is read back in.

use serde_json::{Value, json};

use super::problem::FieldError;
use super::state::{Crm, EnumDef, FieldDef, Kind};

/// A field to set (`Some(values)`) or clear (`None`, from `"values": null` or `[]`).
pub type FieldWrite = (u64, Option<Vec<Value>>);

/// Checks every field of one item; errors carry paths relative to the item.
pub fn parse(crm: &Crm, kind: Kind, cfv: &Value) -> (Vec<FieldWrite>, Vec<FieldError>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let items = match cfv {
        Value::Null => return (out, errs),
        Value::Array(a) => a,
        _ => {
            errs.push(FieldError::new(
                "InvalidType",
                "custom_fields_values",
                "This value should be of type array.",
            ));
            return (out, errs);
        }
    };
    for (i, item) in items.iter().enumerate() {
        let base = format!("custom_fields_values.{i}");
        let def = match (item.get("field_id"), item.get("field_code")) {
            (Some(id), _) if !id.is_null() => match as_u64(id) {
                Some(id) => crm.field_by_id(kind, id),
                None => {
                    errs.push(FieldError::new(
                        "InvalidType",
                        format!("{base}.field_id"),
                        "This value should be of type int.",
                    ));
                    continue;
                }
            },
            (_, Some(Value::String(code))) => crm.field_by_code(kind, code),
            _ => {
                errs.push(FieldError::new(
                    "NotBlank",
                    format!("{base}.field_id"),
                    "field_id or field_code is required.",
                ));
                continue;
            }
        };
        let Some(def) = def else {
            let which = if item.get("field_id").is_some_and(|v| !v.is_null()) {
                "field_id"
            } else {
                "field_code"
            };
            errs.push(FieldError::new(
                "FieldNotFound",
                format!("{base}.{which}"),
                format!("Field not found for {}.", kind.segment()),
            ));
            continue;
        };
        let values = match item.get("values") {
            None | Some(Value::Null) => {
                out.push((def.id, None));
                continue;
            }
            Some(Value::Array(v)) if v.is_empty() => {
                out.push((def.id, None));
                continue;
            }
            Some(Value::Array(v)) => v,
            Some(_) => {
                errs.push(FieldError::new(
                    "InvalidType",
                    format!("{base}.values"),
                    "This value should be of type array.",
                ));
                continue;
            }
        };
        let single = matches!(
            def.field_type.as_str(),
            "select" | "radiobutton" | "checkbox" | "date" | "date_time" | "birthday"
        );
        if single && values.len() > 1 {
            errs.push(FieldError::new(
                "InvalidType",
                format!("{base}.values"),
                "This field takes one value.",
            ));
            continue;
        }
        let mut stored = Vec::new();
        for (j, v) in values.iter().enumerate() {
            match value(def, v, &format!("{base}.values.{j}")) {
                Ok(s) => stored.push(s),
                Err(e) => errs.push(e),
            }
        }
        out.push((def.id, Some(stored)));
    }
    (out, errs)
}

/// One value of one field, checked and put in its read shape.
fn value(def: &FieldDef, v: &Value, path: &str) -> Result<Value, FieldError> {
    if !v.is_object() {
        return Err(FieldError::new(
            "InvalidType",
            path,
            "This value should be of type object.",
        ));
    }
    let raw = v.get("value").unwrap_or(&Value::Null);
    let vpath = format!("{path}.value");
    let invalid = |expected: &str| {
        FieldError::new(
            "InvalidType",
            vpath.clone(),
            format!("This value should be of type {expected}."),
        )
    };
    match def.field_type.as_str() {
        "numeric" | "monetary" => {
            let n = match raw {
                Value::Number(n) => n.to_string(),
                Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                    s.trim().to_string()
                }
                _ => return Err(invalid("numeric")),
            };
            Ok(json!({ "value": n }))
        }
        "checkbox" => match raw {
            Value::Bool(b) => Ok(json!({ "value": b })),
            _ => Err(invalid("bool")),
        },
        "date" | "date_time" | "birthday" => {
            let ts = match raw {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .or_else(|| parse_rfc3339(s.trim())),
                _ => None,
            };
            match ts {
                Some(ts) => Ok(json!({ "value": ts })),
                None => Err(invalid("timestamp or RFC 3339 date")),
            }
        }
        "select" | "radiobutton" | "multiselect" => {
            let e = choice(def, v, path)?;
            Ok(json!({ "value": e.value, "enum_id": e.id, "enum_code": e.code }))
        }
        "multitext" => {
            let Value::String(s) = raw else {
                return Err(invalid("string"));
            };
            let e = multitext_enum(def, v, path)?;
            Ok(json!({ "value": s, "enum_id": e.id, "enum_code": e.value }))
        }
        // text, textarea, url and anything a seed may declare.
        _ => match raw {
            Value::String(s) => Ok(json!({ "value": s })),
            _ => Err(invalid("string")),
        },
    }
}

fn not_a_choice(path: String) -> FieldError {
    FieldError::new(
        "NotSupportedChoice",
        path,
        "The value you selected is not a valid choice.",
    )
}

/// A select's option, by `enum_id`, `enum_code` or the option's text in `value`.
fn choice<'a>(def: &'a FieldDef, v: &Value, path: &str) -> Result<&'a EnumDef, FieldError> {
    if let Some(id) = v.get("enum_id").filter(|x| !x.is_null()) {
        return as_u64(id)
            .and_then(|id| def.enums.iter().find(|e| e.id == id))
            .ok_or_else(|| not_a_choice(format!("{path}.enum_id")));
    }
    if let Some(code) = v.get("enum_code").filter(|x| !x.is_null()) {
        return code
            .as_str()
            .and_then(|c| {
                def.enums.iter().find(|e| {
                    e.code.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(c))
                        || e.value.eq_ignore_ascii_case(c)
                })
            })
            .ok_or_else(|| not_a_choice(format!("{path}.enum_code")));
    }
    let text = match v.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(not_a_choice(format!("{path}.value"))),
    };
    def.enums
        .iter()
        .find(|e| e.value == text)
        .ok_or_else(|| not_a_choice(format!("{path}.value")))
}

/// A phone's or e-mail's kind (WORK, MOB ...): required, by `enum_code` or `enum_id`.
fn multitext_enum<'a>(def: &'a FieldDef, v: &Value, path: &str) -> Result<&'a EnumDef, FieldError> {
    if let Some(id) = v.get("enum_id").filter(|x| !x.is_null()) {
        return as_u64(id)
            .and_then(|id| def.enums.iter().find(|e| e.id == id))
            .ok_or_else(|| not_a_choice(format!("{path}.enum_id")));
    }
    match v.get("enum_code").or_else(|| v.get("enum")) {
        Some(Value::String(c)) => def
            .enums
            .iter()
            .find(|e| e.value.eq_ignore_ascii_case(c))
            .ok_or_else(|| not_a_choice(format!("{path}.enum_code"))),
        _ => Err(FieldError::new(
            "NotSupportedChoice",
            format!("{path}.enum_code"),
            format!(
                "enum_code is required, one of: {}.",
                def.enums
                    .iter()
                    .map(|e| e.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `2026-03-01T12:00:00+03:00`, `...Z`, with optional fractions → unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') { -o } else { o }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed;

    fn crm() -> Crm {
        seed::default_crm()
    }

    #[test]
    fn multitext_needs_a_known_enum_code() {
        let crm = crm();
        let (ok, errs) = parse(
            &crm,
            Kind::Contacts,
            &json!([{"field_code": "PHONE", "values": [{"value": "+79120000000", "enum_code": "MOB"}]}]),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(ok[0].0, 810001);
        let v = &ok[0].1.as_ref().expect("values")[0];
        assert_eq!(v["enum_code"], "MOB");
        assert!(v["enum_id"].as_u64().is_some());

        let (_, errs) = parse(
            &crm,
            Kind::Contacts,
            &json!([{"field_code": "EMAIL", "values": [{"value": "a@b.c", "enum_code": "MOB"}]}]),
        );
        assert_eq!(errs[0].code, "NotSupportedChoice");
        assert_eq!(errs[0].path, "custom_fields_values.0.values.0.enum_code");
    }

    #[test]
    fn select_takes_a_known_value_only() {
        let crm = crm();
        let (ok, errs) = parse(
            &crm,
            Kind::Contacts,
            &json!([{"field_id": 812346, "values": [{"value": "HostCom EU"}]}]),
        );
        assert!(errs.is_empty());
        assert_eq!(ok[0].1.as_ref().expect("values")[0]["enum_id"], 2);
        let (_, errs) = parse(
            &crm,
            Kind::Contacts,
            &json!([{"field_id": 812346, "values": [{"value": "Nope"}]}]),
        );
        assert_eq!(errs[0].code, "NotSupportedChoice");
        assert_eq!(errs[0].path, "custom_fields_values.0.values.0.value");
    }

    #[test]
    fn types_are_checked() {
        let crm = crm();
        let (ok, errs) = parse(
            &crm,
            Kind::Leads,
            &json!([
                {"field_id": 816004, "values": [{"value": "17"}]},
                {"field_id": 816005, "values": [{"value": true}]},
                {"field_id": 816002, "values": [{"value": "2026-01-01T00:00:00+03:00"}]},
                {"field_id": 816001, "values": null},
            ]),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(ok[2].1.as_ref().expect("date")[0]["value"], 1767214800);
        assert_eq!(ok[3].1, None);
        let (_, errs) = parse(
            &crm,
            Kind::Leads,
            &json!([
                {"field_id": 816004, "values": [{"value": "seventeen"}]},
                {"field_id": 816005, "values": [{"value": "yes"}]},
                {"field_id": 816001, "values": [{"value": 5}]},
                {"field_id": 999, "values": [{"value": 5}]},
            ]),
        );
        let codes: Vec<_> = errs.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            ["InvalidType", "InvalidType", "InvalidType", "FieldNotFound"]
        );
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00.5Z"), Some(951868800));
        assert_eq!(parse_rfc3339("2024-02-29T10:00:00-02:00"), Some(1709208000));
        assert_eq!(parse_rfc3339("2024-02-29"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }
}
