//! Finding a client who already exists in amoCRM: e-mails compared case-insensitively,
//! phones compared as digits with the Russian 8… / +7… / 7… forms equal. And finding what a
//! create whose answer was lost made, among amoCRM's newest entities.

use std::collections::{HashMap, HashSet};

use crate::amo::{AmoClient, AmoError, Entity, FieldValue, FieldValues, NewEntity};
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
    /// Adds a contact as amoCRM holds it: its EMAIL and PHONE fields, by code or, when
    /// the code is missing, by the ids of those fields.
    pub fn add(&mut self, contact: &Entity, email_field: Option<i64>, phone_field: Option<i64>) {
        for v in contact.values_of(email_field, "EMAIL") {
            if let Some(e) = v.text().and_then(normalize_email) {
                self.by_email.entry(e).or_insert(contact.id);
            }
        }
        for v in contact.values_of(phone_field, "PHONE") {
            if let Some(p) = v.text().and_then(normalize_phone) {
                self.by_phone.entry(p).or_insert(contact.id);
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

/// Finds the existing contact of an unlinked client: one search per client when a few
/// are new, and for a large run every contact read once, page by page, and matched here.
#[derive(Debug, Default)]
pub struct Finder {
    index: ContactIndex,
    full_scan: bool,
    loaded: bool,
}

/// What a client is looked for by.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    /// The ids of the contacts' EMAIL and PHONE fields.
    pub email_field: Option<i64>,
    pub phone_field: Option<i64>,
}

impl Finder {
    pub fn new(full_scan: bool) -> Finder {
        Finder {
            full_scan,
            ..Finder::default()
        }
    }

    /// The amoCRM contact with this e-mail or phone, trying the keys in the admin's order.
    pub fn find(
        &mut self,
        amo: &mut AmoClient,
        keys: &[DedupKey],
        w: Wanted,
    ) -> Result<Option<i64>, AmoError> {
        if self.full_scan {
            self.load_all(amo, w)?;
        } else {
            self.search(amo, w)?;
        }
        Ok(self.index.find(keys, w.email, w.phone))
    }

    fn load_all(&mut self, amo: &mut AmoClient, w: Wanted) -> Result<(), AmoError> {
        if self.loaded {
            return Ok(());
        }
        let (index, mut n) = (&mut self.index, 0usize);
        amo.for_each_page("contacts", "", &mut |page| {
            n += page.len();
            for c in &page {
                index.add(c, w.email_field, w.phone_field);
            }
        })?;
        log::info!("read {n} existing amoCRM contacts to match clients against");
        self.loaded = true;
        Ok(())
    }

    fn search(&mut self, amo: &mut AmoClient, w: Wanted) -> Result<(), AmoError> {
        let mut queries = Vec::new();
        queries.extend(w.email.and_then(normalize_email));
        if let Some(ph) = w.phone.and_then(normalize_phone) {
            // The last ten digits: the part every written form of the number shares.
            queries.push(ph[ph.len().saturating_sub(10)..].to_string());
        }
        for q in queries {
            for c in amo.search("contacts", &q)? {
                self.index.add(&c, w.email_field, w.phone_field);
            }
        }
        Ok(())
    }
}

/// An entity a create may have made: what it was sent as.
#[derive(Debug, Clone)]
pub struct Sent {
    pub billmgr_id: i64,
    pub entity: NewEntity,
}

/// Pairs entities sent in a create with amoCRM entities that are them: the same name;
/// for a lead, the same main contact; for a contact, the same e-mail when both have one.
/// Among several that fit, the one that has more of the sent field values wins. Each
/// amoCRM entity goes to one panel entity at most; `free` says whether an amoCRM entity
/// may be taken at all (it is nobody else's already). `email_field`: the id of the
/// contacts' EMAIL field. Returns `(billmgr_id, amoCRM id)`, by panel id.
pub fn match_made(
    sent: &[Sent],
    found: &[Entity],
    email_field: Option<i64>,
    free: &mut dyn FnMut(i64, i64) -> bool,
) -> Vec<(i64, i64)> {
    let mut by_name: HashMap<&str, Vec<&Entity>> = HashMap::new();
    for f in found {
        by_name.entry(f.name.trim()).or_default().push(f);
    }
    let mut pairs: Vec<(usize, i64, i64, i64)> = Vec::new();
    for s in sent {
        for f in by_name.get(s.entity.name.trim()).into_iter().flatten() {
            if fits(&s.entity, f, email_field) && free(s.billmgr_id, f.id) {
                let evidence = shared_values(&s.entity, f);
                pairs.push((evidence, s.billmgr_id, f.id, f.created_at.unwrap_or(0)));
            }
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

/// What rules a candidate out: a lead of another main contact, a contact whose e-mails
/// are all others.
fn fits(sent: &NewEntity, found: &Entity, email_field: Option<i64>) -> bool {
    if let Some(c) = sent.contact
        && !found.contacts.is_empty()
        && !found.contacts.contains(&c)
    {
        return false;
    }
    let emails = |fields: &[FieldValues]| -> Vec<String> {
        fields
            .iter()
            .filter(|f| f.is(email_field, "EMAIL"))
            .flat_map(|f| f.values.iter())
            .filter_map(|v| v.text().and_then(normalize_email))
            .collect()
    };
    let (want, have) = (emails(&sent.fields), emails(&found.fields));
    want.is_empty() || have.is_empty() || want.iter().any(|e| have.contains(e))
}

/// How many of the sent field values the found entity has, in the same field.
fn shared_values(sent: &NewEntity, found: &Entity) -> usize {
    let same_field = |a: &FieldValues, b: &FieldValues| {
        (a.field_id.is_some() && a.field_id == b.field_id)
            || (a.field_code.is_some() && b.is(None, a.field_code.as_deref().unwrap_or("")))
    };
    let text = |v: &FieldValue| v.value.as_ref().and(v.comparable());
    let mut n = 0;
    for want in &sent.fields {
        for w in want.values.iter().filter_map(text) {
            let found_it = found
                .fields
                .iter()
                .filter(|h| same_field(want, h))
                .any(|h| h.values.iter().filter_map(text).any(|t| t == w));
            n += usize::from(found_it);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amo::Scalar;
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
            &entity(json!({"id": 5, "custom_fields_values": [
                {"field_code": "EMAIL", "values": [{"value": "A@B.ru"}]},
                {"field_id": 77, "values": [{"value": "+7 912 345-67-89"}]}
            ]})),
            None,
            Some(77),
        );
        idx.add(
            &entity(
                json!({"id": 6, "custom_fields_values": [{"field_code": "EMAIL", "values": [{"value": "a@b.ru"}]}]}),
            ),
            None,
            None,
        );
        let both = [DedupKey::Email, DedupKey::Phone];
        assert_eq!(idx.find(&both, Some("a@b.RU"), None), Some(5));
        assert_eq!(idx.find(&both, None, Some("89123456789")), Some(5));
        assert_eq!(
            idx.find(&[DedupKey::Email], None, Some("89123456789")),
            None
        );
        assert_eq!(idx.find(&[], Some("a@b.ru"), None), None);
    }

    fn entity(v: serde_json::Value) -> Entity {
        Entity::from_json(&v).expect("entity")
    }

    /// What was sent for panel entity `id`: a name, a main contact, text field values.
    fn sent(id: i64, name: &str, contact: Option<i64>, fields: &[(i64, &str)]) -> Sent {
        let fields = fields
            .iter()
            .map(|(field, text)| FieldValues {
                field_id: Some(*field),
                values: vec![FieldValue::of(Scalar::Text(text.to_string()))],
                ..FieldValues::default()
            })
            .collect();
        Sent {
            billmgr_id: id,
            entity: NewEntity {
                name: name.into(),
                contact,
                fields,
                ..NewEntity::default()
            },
        }
    }

    fn lead(id: i64, name: &str, contact: i64, created_at: i64) -> Entity {
        entity(json!({"id": id, "name": name, "created_at": created_at,
               "_embedded": {"contacts": [{"id": contact, "is_main": true}]}}))
    }

    #[test]
    fn what_a_lost_create_made_is_found_by_name_and_contact_once() {
        let found = [
            lead(501, "vps — VDS-Start", 77, 100),
            lead(502, "vps — VDS-Start", 78, 101),
            lead(503, "site.example — Host", 77, 102),
            lead(504, "vps — VDS-Start", 77, 103),
        ];
        let sent = [
            sent(1001, "vps — VDS-Start", Some(77), &[]),
            sent(1002, "vps — VDS-Start", Some(77), &[]),
            sent(1003, "vps — VDS-Start", Some(77), &[]),
            sent(1004, "other — Host", Some(77), &[]),
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
            entity(
                json!({"id": id, "name": "Иванов Иван", "created_at": 5, "custom_fields_values": [
                {"field_id": 1, "field_code": "EMAIL", "values": [{"value": email}]},
                {"field_id": 2, "field_code": "PHONE", "values": [{"value": phone}]}]}),
            )
        };
        let found = [
            contact(11, "a@x.ru", "+7 912 000-00-01"),
            contact(12, "B@X.ru", "+7 912 000-00-02"),
        ];
        let name = "Иванов Иван";
        let both = [
            sent(3, name, None, &[(1, "b@x.ru"), (2, "+7 912 000-00-09")]),
            sent(4, name, None, &[(1, "c@x.ru"), (2, "+7 912 000-00-01")]),
        ];
        // 3 is 12 by its e-mail; 4's e-mail is nobody's, so neither is it.
        assert_eq!(
            match_made(&both, &found, Some(1), &mut |_, _| true),
            vec![(3, 12)]
        );
        // Without e-mails, the one that shares more sent values wins.
        let phone_only = [sent(5, name, None, &[(2, "+7 912 000-00-02")])];
        assert_eq!(
            match_made(&phone_only, &found, Some(1), &mut |_, _| true),
            vec![(5, 12)]
        );
    }
}
