//! Contacts, companies and leads as the client writes and reads them: what a create
//! sends ([`NewEntity`]), what an update changes ([`EntityPatch`]) and what amoCRM holds
//! ([`Entity`]), with custom field values in the form amoCRM takes them. The JSON of the
//! API is made and read here only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A custom field value's content: amoCRM takes text, numbers and booleans, and reads
/// back other shapes for field types the module never writes (addresses, legal entities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Other(Value),
}

/// One value of a custom field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enum_code: Option<String>,
}

impl FieldValue {
    pub fn of(value: Scalar) -> FieldValue {
        FieldValue {
            value: Some(value),
            ..FieldValue::default()
        }
    }

    pub fn choice(enum_id: i64) -> FieldValue {
        FieldValue {
            enum_id: Some(enum_id),
            ..FieldValue::default()
        }
    }

    /// The value as comparable text: a choice by its id when it carries no value; `None`
    /// when empty.
    pub fn comparable(&self) -> Option<String> {
        let text = match (&self.value, self.enum_id) {
            (Some(Scalar::Text(s)), _) => s.trim().to_string(),
            (Some(Scalar::Other(Value::Null)) | None, Some(id)) => id.to_string(),
            (Some(Scalar::Other(Value::Null)) | None, None) => return None,
            (Some(Scalar::Other(v)), _) => v.to_string(),
            (Some(other), _) => serde_json::to_value(other).ok()?.to_string(),
        };
        (!text.is_empty()).then_some(text)
    }

    /// The text of a text value (e-mails and phones are read this way).
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Some(Scalar::Text(s)) => Some(s),
            _ => None,
        }
    }
}

/// The values of one custom field, named by id or by code (`EMAIL`, `PHONE`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_code: Option<String>,
    #[serde(default)]
    pub values: Vec<FieldValue>,
}

impl FieldValues {
    /// Whether this is the field with this id, or this code (case-insensitively).
    pub fn is(&self, id: Option<i64>, code: &str) -> bool {
        (id.is_some() && self.field_id == id)
            || self
                .field_code
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }
}

/// An entity to create. A lead is linked to its main contact and company as it is made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEntity {
    pub name: String,
    pub price: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub status_id: Option<i64>,
    pub fields: Vec<FieldValues>,
    pub tags: Vec<String>,
    pub contact: Option<i64>,
    pub company: Option<i64>,
    /// Who owns it, set by the send step: only a create carries it, and it is not part of
    /// what a fingerprint hashes (a new `[responsible]` rule re-sends nothing).
    pub responsible_user_id: Option<i64>,
}

impl NewEntity {
    /// The item of `POST /api/v4/{entity}`, with its owner.
    pub fn to_create_json(&self) -> Value {
        let mut v = self.to_json();
        if let (Some(id), Some(obj)) = (self.responsible_user_id, v.as_object_mut()) {
            obj.insert("responsible_user_id".into(), Value::from(id));
        }
        v
    }

    /// The item of `POST /api/v4/{entity}` without its owner; also the stable form a
    /// fingerprint hashes.
    pub fn to_json(&self) -> Value {
        let mut p = Map::new();
        p.insert("name".into(), Value::from(self.name.as_str()));
        insert_common(&mut p, &self.fields, self.price);
        insert_stage(&mut p, self.pipeline_id, self.status_id);
        let mut embedded = Map::new();
        if !self.tags.is_empty() {
            embedded.insert("tags".into(), tag_list(&self.tags));
        }
        if let Some(c) = self.contact {
            let main = Map::from_iter([("id".into(), c.into()), ("is_main".into(), true.into())]);
            embedded.insert("contacts".into(), Value::Array(vec![main.into()]));
        }
        if let Some(c) = self.company {
            let company = Map::from_iter([("id".to_string(), Value::from(c))]);
            embedded.insert("companies".into(), Value::Array(vec![company.into()]));
        }
        if !embedded.is_empty() {
            p.insert("_embedded".into(), embedded.into());
        }
        Value::Object(p)
    }
}

/// What an update changes in an existing entity; only what is set is sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityPatch {
    pub id: i64,
    pub name: Option<String>,
    pub price: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub status_id: Option<i64>,
    pub fields: Vec<FieldValues>,
    pub tags_to_add: Vec<String>,
    pub tags_to_delete: Vec<String>,
}

impl EntityPatch {
    /// Whether it changes nothing (then it is not sent).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.price.is_none()
            && self.pipeline_id.is_none()
            && self.status_id.is_none()
            && self.fields.is_empty()
            && self.tags_to_add.is_empty()
            && self.tags_to_delete.is_empty()
    }

    /// The item of `PATCH /api/v4/{entity}`.
    pub fn to_json(&self) -> Value {
        let mut p = Map::new();
        p.insert("id".into(), self.id.into());
        if let Some(name) = &self.name {
            p.insert("name".into(), Value::from(name.as_str()));
        }
        insert_common(&mut p, &self.fields, self.price);
        insert_stage(&mut p, self.pipeline_id, self.status_id);
        if !self.tags_to_add.is_empty() {
            p.insert("tags_to_add".into(), tag_list(&self.tags_to_add));
        }
        if !self.tags_to_delete.is_empty() {
            p.insert("tags_to_delete".into(), tag_list(&self.tags_to_delete));
        }
        Value::Object(p)
    }
}

fn insert_common(p: &mut Map<String, Value>, fields: &[FieldValues], price: Option<i64>) {
    if !fields.is_empty() {
        let values = serde_json::to_value(fields).unwrap_or(Value::Null);
        p.insert("custom_fields_values".into(), values);
    }
    if let Some(price) = price {
        p.insert("price".into(), price.into());
    }
}

fn insert_stage(p: &mut Map<String, Value>, pipeline: Option<i64>, status: Option<i64>) {
    if let (Some(pipeline), Some(status)) = (pipeline, status) {
        p.insert("pipeline_id".into(), pipeline.into());
        p.insert("status_id".into(), status.into());
    }
}

fn tag_list(tags: &[String]) -> Value {
    tags.iter()
        .map(|t| Value::Object(Map::from_iter([("name".into(), Value::from(t.as_str()))])))
        .collect()
}

/// An entity as amoCRM holds it: what the worker compares, matches and links against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    pub id: i64,
    pub name: String,
    pub price: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub status_id: Option<i64>,
    pub created_at: Option<i64>,
    pub fields: Vec<FieldValues>,
    pub tags: Vec<String>,
    /// Linked contacts (`with=contacts` for leads), the main one first when amoCRM says.
    pub contacts: Vec<i64>,
    pub companies: Vec<i64>,
    /// Linked leads (`with=leads` for contacts and companies).
    pub leads: Vec<i64>,
}

impl Entity {
    /// Read leniently, as amoCRM's lists carry much more; `None` without an id.
    pub fn from_json(v: &Value) -> Option<Entity> {
        Some(Entity {
            id: v.get("id")?.as_i64()?,
            name: v.get("name").and_then(Value::as_str).unwrap_or("").into(),
            price: v.get("price").and_then(Value::as_i64),
            pipeline_id: v.get("pipeline_id").and_then(Value::as_i64),
            status_id: v.get("status_id").and_then(Value::as_i64),
            created_at: v.get("created_at").and_then(Value::as_i64),
            fields: read_fields(v.get("custom_fields_values")),
            tags: embedded(v, "tags")
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect(),
            contacts: embedded(v, "contacts").filter_map(id_of).collect(),
            companies: embedded(v, "companies").filter_map(id_of).collect(),
            leads: embedded(v, "leads").filter_map(id_of).collect(),
        })
    }

    /// The values of the field with this id or code.
    pub fn values_of(&self, id: Option<i64>, code: &str) -> impl Iterator<Item = &FieldValue> {
        self.fields
            .iter()
            .filter(move |f| f.is(id, code))
            .flat_map(|f| f.values.iter())
    }
}

fn id_of(v: &Value) -> Option<i64> {
    v.get("id")?.as_i64()
}

fn embedded<'a>(v: &'a Value, what: &str) -> impl Iterator<Item = &'a Value> {
    v.get("_embedded")
        .and_then(|e| e.get(what))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `custom_fields_values` as read: `null` is none, and a field that does not parse is
/// left out rather than failing the whole entity.
fn read_fields(v: Option<&Value>) -> Vec<FieldValues> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            let mut parsed: FieldValues = serde_json::from_value(f.clone()).ok()?;
            parsed.field_code = parsed.field_code.filter(|c| !c.is_empty());
            Some(parsed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn email(v: &str) -> FieldValues {
        FieldValues {
            field_code: Some("EMAIL".into()),
            values: vec![FieldValue {
                value: Some(Scalar::Text(v.into())),
                enum_code: Some("WORK".into()),
                ..FieldValue::default()
            }],
            ..FieldValues::default()
        }
    }

    #[test]
    fn a_new_lead_is_written_as_the_api_takes_it() {
        let lead = NewEntity {
            name: "vps — VDS-Start".into(),
            price: Some(590),
            pipeline_id: Some(1),
            status_id: Some(10),
            fields: vec![FieldValues {
                field_id: Some(816001),
                values: vec![FieldValue::of(Scalar::Int(5))],
                ..FieldValues::default()
            }],
            tags: vec!["vds".into()],
            contact: Some(7),
            company: Some(8),
            responsible_user_id: None,
        };
        assert_eq!(
            lead.to_json(),
            json!({"name": "vps — VDS-Start", "price": 590, "pipeline_id": 1, "status_id": 10,
                "custom_fields_values": [{"field_id": 816001, "values": [{"value": 5}]}],
                "_embedded": {"tags": [{"name": "vds"}], "contacts": [{"id": 7, "is_main": true}],
                    "companies": [{"id": 8}]}})
        );
        let plain = NewEntity {
            name: "x".into(),
            ..NewEntity::default()
        };
        assert_eq!(plain.to_json(), json!({"name": "x"}));
    }

    #[test]
    fn a_patch_carries_only_what_changes() {
        let patch = EntityPatch {
            id: 5,
            price: Some(590),
            tags_to_add: vec!["vds".into()],
            ..EntityPatch::default()
        };
        assert!(!patch.is_empty());
        assert_eq!(
            patch.to_json(),
            json!({"id": 5, "price": 590, "tags_to_add": [{"name": "vds"}]})
        );
        assert!(EntityPatch::default().is_empty());
    }

    #[test]
    fn entities_read_leniently() {
        let v = json!({"id": 5, "name": "Иванов", "created_at": 10, "custom_fields_values": [
            {"field_id": 1, "field_code": "EMAIL", "values": [{"value": "a@b.ru", "enum_code": "WORK"}]},
            {"field_id": 2, "field_code": null, "values": [{"value": {"street": "x"}}]},
            {"field_id": 3, "values": [{"enum_id": 77, "value": null}]},
            "not a field"],
            "_embedded": {"tags": [{"id": 1, "name": "vip"}], "contacts": [{"id": 9, "is_main": true}],
                "leads": [{"id": 11}]}});
        let e = Entity::from_json(&v).expect("entity");
        assert_eq!(
            (e.id, e.name.as_str(), e.created_at),
            (5, "Иванов", Some(10))
        );
        assert_eq!(e.fields.len(), 3);
        assert_eq!(
            e.values_of(None, "email").next(),
            email("a@b.ru").values.first()
        );
        assert_eq!(e.fields[2].values[0].comparable().as_deref(), Some("77"));
        assert_eq!((e.tags, e.contacts), (vec!["vip".to_string()], vec![9]));
        assert_eq!(e.leads, vec![11]);
        assert_eq!(Entity::from_json(&json!({"name": "no id"})), None);
        let bare = Entity::from_json(&json!({"id": 1, "custom_fields_values": null})).unwrap();
        assert!(bare.fields.is_empty());
    }

    #[test]
    fn values_compare_as_text() {
        let t = |s: Scalar| FieldValue::of(s).comparable();
        assert_eq!(t(Scalar::Text(" a ".into())).as_deref(), Some("a"));
        assert_eq!(t(Scalar::Int(590)).as_deref(), Some("590"));
        assert_eq!(t(Scalar::Bool(true)).as_deref(), Some("true"));
        assert_eq!(t(Scalar::Text("  ".into())), None);
        assert_eq!(FieldValue::choice(3).comparable().as_deref(), Some("3"));
    }
}
