//! Finding a client who already exists in amoCRM: e-mails compared case-insensitively,
//! phones compared as digits with the Russian 8… / +7… / 7… forms equal. And finding what a
//! create whose answer was lost made, among amoCRM's newest entities.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::config::DedupKey;

/// The comparable form of a phone: its digits, with a Russian trunk `8` or a bare
/// ten-digit mobile number turned into `7…`. Too few digits to be a phone → `None`.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 || digits.len() > 15 {
        return None;
    }
    let d = if digits.len() == 11 && digits.starts_with('8') {
        format!("7{}", &digits[1..])
    } else if digits.len() == 10 && digits.starts_with('9') {
        format!("7{digits}")
    } else {
        digits
    };
    Some(d)
}

/// The comparable form of an e-mail: trimmed, lower-case; not an address → `None`.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (user, domain) = e.split_once('@')?;
    (!user.is_empty() && !domain.is_empty() && !e.contains(char::is_whitespace)).then_some(e)
}

/// E-mails and phones of amoCRM contacts → contact id. The first contact seen wins, so
/// matching is stable when amoCRM itself holds duplicates. It holds the contacts read
/// from amoCRM, never those the run creates: each of those is linked to its client,
/// which no other client may take, so keeping them would only grow with the export.
#[derive(Debug, Default)]
pub struct ContactIndex {
    by_email: HashMap<String, i64>,
    by_phone: HashMap<String, i64>,
}

impl ContactIndex {
    /// Adds a contact as amoCRM returns it (`custom_fields_values` with `field_code`
    /// EMAIL / PHONE, or the ids of those fields when the code is missing).
    pub fn add(&mut self, contact: &Value, email_field: Option<i64>, phone_field: Option<i64>) {
        let Some(id) = contact.get("id").and_then(Value::as_i64) else {
            return;
        };
        let Some(fields) = contact
            .get("custom_fields_values")
            .and_then(Value::as_array)
        else {
            return;
        };
        for f in fields {
            let code = f.get("field_code").and_then(Value::as_str).unwrap_or("");
            let fid = f.get("field_id").and_then(Value::as_i64);
            let is_email =
                code.eq_ignore_ascii_case("EMAIL") || (fid.is_some() && fid == email_field);
            let is_phone =
                code.eq_ignore_ascii_case("PHONE") || (fid.is_some() && fid == phone_field);
            for v in f
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(text) = v.get("value").and_then(Value::as_str) else {
                    continue;
                };
                if is_email && let Some(e) = normalize_email(text) {
                    self.by_email.entry(e).or_insert(id);
                }
                if is_phone && let Some(p) = normalize_phone(text) {
                    self.by_phone.entry(p).or_insert(id);
                }
            }
        }
    }

    /// The existing contact for this e-mail / phone, trying the keys in the admin's order.
    pub fn find(&self, keys: &[DedupKey], email: Option<&str>, phone: Option<&str>) -> Option<i64> {
        keys.iter().find_map(|k| match k {
            DedupKey::Email => email
                .and_then(normalize_email)
                .and_then(|e| self.by_email.get(&e).copied()),
            DedupKey::Phone => phone
                .and_then(normalize_phone)
                .and_then(|p| self.by_phone.get(&p).copied()),
        })
    }

    pub fn len(&self) -> usize {
        self.by_email.len() + self.by_phone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An entity a create may have made: what it was sent as.
#[derive(Debug, Clone)]
pub struct Sent {
    pub billmgr_id: i64,
    /// The create's body (`name`, `custom_fields_values`, a lead's `_embedded.contacts`).
    pub body: Value,
}

/// Pairs entities sent in a create with amoCRM entities that are them: the same name;
/// for a lead, the same main contact; for a contact, the same e-mail when both have one.
/// Among several that fit, the one that has more of the sent field values wins. Each
/// amoCRM entity goes to one panel entity at most; `free` says whether an amoCRM entity
/// may be taken at all (it is nobody else's already). `email_field`: the id of the
/// contacts' EMAIL field. Returns `(billmgr_id, amoCRM id)`, by panel id.
pub fn match_made(
    sent: &[Sent],
    found: &[Value],
    email_field: Option<i64>,
    free: &mut dyn FnMut(i64, i64) -> bool,
) -> Vec<(i64, i64)> {
    let mut by_name: HashMap<String, Vec<&Value>> = HashMap::new();
    for f in found {
        if let Some(name) = f.get("name").and_then(Value::as_str) {
            by_name.entry(name.trim().to_string()).or_default().push(f);
        }
    }
    let mut pairs: Vec<(i64, i64, i64, i64)> = Vec::new();
    for s in sent {
        let name = s
            .body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        for f in by_name.get(name).into_iter().flatten() {
            let Some(id) = f.get("id").and_then(Value::as_i64) else {
                continue;
            };
            if !fits(&s.body, f, email_field) || !free(s.billmgr_id, id) {
                continue;
            }
            pairs.push((shared_values(&s.body, f), s.billmgr_id, id, created_at(f)));
        }
    }
    // Best evidence first; among equals, the oldest amoCRM entity (made first).
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.3.cmp(&b.3)).then(a.2.cmp(&b.2)));
    let (mut done, mut taken) = (HashSet::new(), HashSet::new());
    let mut out = Vec::new();
    for (_, billmgr_id, id, _) in pairs {
        if !done.contains(&billmgr_id) && !taken.contains(&id) {
            done.insert(billmgr_id);
            taken.insert(id);
            out.push((billmgr_id, id));
        }
    }
    out.sort_unstable();
    out
}

fn created_at(v: &Value) -> i64 {
    v.get("created_at").and_then(Value::as_i64).unwrap_or(0)
}

/// The ids of `_embedded.<what>` (`contacts`, `companies`).
fn embedded_ids(v: &Value, what: &str) -> Vec<i64> {
    v.pointer(&format!("/_embedded/{what}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("id").and_then(Value::as_i64))
        .collect()
}

/// One value of a custom field: the field's id and code (either may be missing), the text.
struct FieldValue {
    id: Option<i64>,
    code: Option<String>,
    text: String,
}

impl FieldValue {
    fn same_field(&self, other: &FieldValue) -> bool {
        (self.id.is_some() && self.id == other.id)
            || (self.code.is_some() && self.code == other.code)
    }
    fn is_email(&self, email_field: Option<i64>) -> bool {
        self.code.as_deref() == Some("EMAIL") || (self.id.is_some() && self.id == email_field)
    }
}

fn field_values(v: &Value) -> Vec<FieldValue> {
    let mut out = Vec::new();
    for f in v
        .get("custom_fields_values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = f.get("field_id").and_then(Value::as_i64);
        let code = f
            .get("field_code")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_uppercase);
        for x in f
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = match x.get("value") {
                Some(Value::String(t)) => t.trim().to_string(),
                Some(Value::Null) | None => continue,
                Some(other) => other.to_string(),
            };
            out.push(FieldValue {
                id,
                code: code.clone(),
                text,
            });
        }
    }
    out
}

/// What rules a candidate out: a lead of another main contact, a contact whose e-mails
/// are all others.
fn fits(body: &Value, found: &Value, email_field: Option<i64>) -> bool {
    let want = embedded_ids(body, "contacts");
    if !want.is_empty() {
        let have = embedded_ids(found, "contacts");
        if !have.is_empty() && !want.iter().all(|c| have.contains(c)) {
            return false;
        }
    }
    let emails = |v: &Value| -> Vec<String> {
        field_values(v)
            .into_iter()
            .filter(|f| f.is_email(email_field))
            .filter_map(|f| normalize_email(&f.text))
            .collect()
    };
    let (want, have) = (emails(body), emails(found));
    want.is_empty() || have.is_empty() || want.iter().any(|e| have.contains(e))
}

/// How many of the sent field values the found entity has.
fn shared_values(body: &Value, found: &Value) -> i64 {
    let have = field_values(found);
    field_values(body)
        .iter()
        .filter(|w| have.iter().any(|h| h.text == w.text && h.same_field(w)))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn russian_phone_forms_are_equal() {
        let forms = [
            "+7 (912) 345-67-89",
            "89123456789",
            "8-912-345-67-89",
            "7 912 345 67 89",
            "9123456789",
        ];
        for f in forms {
            assert_eq!(normalize_phone(f).as_deref(), Some("79123456789"), "{f}");
        }
        assert_eq!(
            normalize_phone("+353 87 123 4567").as_deref(),
            Some("353871234567")
        );
        assert_eq!(normalize_phone("12-34"), None);
        assert_eq!(normalize_phone(""), None);
    }

    #[test]
    fn emails_compare_case_insensitively() {
        assert_eq!(
            normalize_email(" Ivan.Ivanov@Example.RU ").as_deref(),
            Some("ivan.ivanov@example.ru")
        );
        assert_eq!(normalize_email("not an email"), None);
        assert_eq!(normalize_email("@x"), None);
    }

    #[test]
    fn index_matches_by_configured_keys() {
        let mut idx = ContactIndex::default();
        idx.add(
            &json!({"id": 5, "custom_fields_values": [
                {"field_code": "EMAIL", "values": [{"value": "A@B.ru"}]},
                {"field_id": 77, "values": [{"value": "+7 912 345-67-89"}]}
            ]}),
            None,
            Some(77),
        );
        idx.add(&json!({"id": 6, "custom_fields_values": [{"field_code": "EMAIL", "values": [{"value": "a@b.ru"}]}]}), None, None);
        let both = [DedupKey::Email, DedupKey::Phone];
        assert_eq!(idx.find(&both, Some("a@b.RU"), None), Some(5));
        assert_eq!(idx.find(&both, None, Some("89123456789")), Some(5));
        assert_eq!(
            idx.find(&[DedupKey::Email], None, Some("89123456789")),
            None
        );
        assert_eq!(idx.find(&[], Some("a@b.ru"), None), None);
    }
    fn item(id: i64, body: Value) -> Sent {
        Sent {
            billmgr_id: id,
            body,
        }
    }

    fn lead(id: i64, name: &str, contact: i64, created_at: i64) -> Value {
        json!({"id": id, "name": name, "created_at": created_at,
               "_embedded": {"contacts": [{"id": contact, "is_main": true}]}})
    }

    #[test]
    fn what_a_lost_create_made_is_found_by_name_and_contact_once() {
        let body = |name: &str, contact: i64| json!({"name": name, "_embedded": {"contacts": [{"id": contact, "is_main": true}]}});
        let found = [
            lead(501, "vps — VDS-Start", 77, 100),
            lead(502, "vps — VDS-Start", 78, 101),
            lead(503, "site.example — Host", 77, 102),
            lead(504, "vps — VDS-Start", 77, 103),
        ];
        let sent = [
            item(1001, body("vps — VDS-Start", 77)),
            item(1002, body("vps — VDS-Start", 77)),
            item(1003, body("vps — VDS-Start", 77)),
            item(1004, body("other — Host", 77)),
        ];
        // 502 is another contact's; 503 another name; two of the three fit, oldest first.
        let got = match_made(&sent, &found, None, &mut |_, _| true);
        assert_eq!(got, vec![(1001, 501), (1002, 504)]);
        // One already linked to another panel entity is not taken.
        let got = match_made(&sent, &found, None, &mut |b, id| id != 501 || b == 9);
        assert_eq!(got, vec![(1001, 504)]);
    }

    #[test]
    fn a_contact_of_another_email_is_not_what_was_made() {
        let contact = |id: i64, email: &str, phone: &str| {
            json!({"id": id, "name": "Иванов Иван", "created_at": 5, "custom_fields_values": [
                {"field_id": 1, "field_code": "EMAIL", "values": [{"value": email}]},
                {"field_id": 2, "field_code": "PHONE", "values": [{"value": phone}]}]})
        };
        let body = |email: &str, phone: &str| {
            json!({"name": "Иванов Иван", "custom_fields_values": [
                {"field_id": 1, "values": [{"value": email}]},
                {"field_id": 2, "values": [{"value": phone}]}]})
        };
        let found = [
            contact(11, "a@x.ru", "+7 912 000-00-01"),
            contact(12, "B@X.ru", "+7 912 000-00-02"),
        ];
        let sent = [
            item(3, body("b@x.ru", "+7 912 000-00-09")),
            item(4, body("c@x.ru", "+7 912 000-00-01")),
        ];
        // 3 is 12 by its e-mail; 4's e-mail is nobody's, so neither is it.
        assert_eq!(
            match_made(&sent, &found, Some(1), &mut |_, _| true),
            vec![(3, 12)]
        );
        // Without e-mails, the one that shares more sent values wins.
        let sent = [item(
            5,
            json!({"name": "Иванов Иван", "custom_fields_values": [
            {"field_id": 2, "values": [{"value": "+7 912 000-00-02"}]}]}),
        )];
        assert_eq!(
            match_made(&sent, &found, Some(1), &mut |_, _| true),
            vec![(5, 12)]
        );
    }
}
