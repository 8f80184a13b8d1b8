//! What the calls hand out and take: custom fields, pipelines, links. Parsed from the
//! API's JSON leniently (unknown keys ignored) but never past a missing id or name.

use serde_json::Value;

/// One custom field of contacts, companies or leads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomField {
    pub id: i64,
    pub name: String,
    /// `PHONE`, `EMAIL`... for the built-in fields.
    pub code: Option<String>,
    /// `text`, `numeric`, `select`, `multitext`, `date`...
    pub field_type: String,
    /// The choices of select, radiobutton, multiselect and multitext fields.
    pub enums: Vec<FieldEnum>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldEnum {
    pub id: i64,
    pub value: String,
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    pub is_main: bool,
    pub statuses: Vec<PipelineStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PipelineStatus {
    pub id: i64,
    pub name: String,
}

/// Link `entity_id` (of the entity the call is made for) to another entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    pub entity_id: i64,
    /// `contacts`, `companies`, `leads`.
    pub to_entity_type: String,
    pub to_entity_id: i64,
    /// The main contact of a lead.
    pub is_main: bool,
}

impl LinkRequest {
    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({
            "entity_id": self.entity_id,
            "to_entity_id": self.to_entity_id,
            "to_entity_type": self.to_entity_type,
            "metadata": {"is_main": self.is_main},
        })
    }
}

fn int(v: &Value, key: &str) -> Option<i64> {
    let x = v.get(key)?;
    x.as_i64()
        .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl CustomField {
    pub(crate) fn from_json(v: &Value) -> Result<CustomField, String> {
        let id = int(v, "id").ok_or("a custom field without an id")?;
        let name = text(v, "name").ok_or_else(|| format!("custom field {id} has no name"))?;
        let field_type = text(v, "type").ok_or_else(|| format!("custom field {id} has no type"))?;
        let enums = match v.get("enums") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|e| {
                    Some(FieldEnum {
                        id: int(e, "id")?,
                        value: text(e, "value")?,
                        code: text(e, "code"),
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("custom field {id} has a choice without an id or value"))?,
            Some(_) => return Err(format!("custom field {id} has enums that are not a list")),
        };
        Ok(CustomField {
            id,
            name,
            code: text(v, "code").filter(|c| !c.is_empty()),
            field_type,
            enums,
        })
    }
}

impl Pipeline {
    pub(crate) fn from_json(v: &Value) -> Result<Pipeline, String> {
        let id = int(v, "id").ok_or("a pipeline without an id")?;
        let name = text(v, "name").ok_or_else(|| format!("pipeline {id} has no name"))?;
        let statuses = match v.pointer("/_embedded/statuses") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| {
                    Some(PipelineStatus {
                        id: int(s, "id")?,
                        name: text(s, "name")?,
                    })
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("pipeline {id} has a status without an id or name"))?,
            Some(_) => return Err(format!("pipeline {id} has statuses that are not a list")),
        };
        Ok(Pipeline {
            id,
            name,
            is_main: v.get("is_main").and_then(Value::as_bool).unwrap_or(false),
            statuses,
        })
    }
}

/// An amoCRM user (`GET /api/v4/users`): who may own entities and tasks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    /// `rights.is_active`: a deactivated user cannot be made responsible.
    pub is_active: bool,
}

impl User {
    pub(crate) fn from_json(v: &Value) -> Result<User, String> {
        let id = int(v, "id").ok_or("a user without an id")?;
        let active = v.pointer("/rights/is_active").and_then(Value::as_bool);
        Ok(User {
            id,
            name: text(v, "name").unwrap_or_default(),
            email: text(v, "email").unwrap_or_default(),
            // amoCRM always sends it; a user whose rights say nothing is taken as active.
            is_active: active.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_fields_parse_with_and_without_choices() {
        let select = json!({"id":812346,"name":"Brand","type":"select","code":null,"sort":510,"is_api_only":false,
            "enums":[{"id":1,"value":"ХостКом","sort":1},{"id":2,"value":"HostCom EU","sort":2}]});
        assert_eq!(
            CustomField::from_json(&select),
            Ok(CustomField {
                id: 812346,
                name: "Brand".into(),
                code: None,
                field_type: "select".into(),
                enums: vec![
                    FieldEnum {
                        id: 1,
                        value: "ХостКом".into(),
                        code: None
                    },
                    FieldEnum {
                        id: 2,
                        value: "HostCom EU".into(),
                        code: None
                    },
                ],
            })
        );
        let phone = json!({"id":1,"name":"Телефон","type":"multitext","code":"PHONE","enums":null});
        let f = CustomField::from_json(&phone).expect("phone");
        assert_eq!((f.code.as_deref(), f.enums.len()), (Some("PHONE"), 0));
    }

    #[test]
    fn broken_fields_are_errors_not_panics() {
        assert!(CustomField::from_json(&json!({"name":"x","type":"text"})).is_err());
        assert!(CustomField::from_json(&json!({"id":1,"type":"text"})).is_err());
        assert!(
            CustomField::from_json(
                &json!({"id":1,"name":"x","type":"select","enums":[{"value":"a"}]})
            )
            .is_err()
        );
        assert!(CustomField::from_json(&json!("nope")).is_err());
    }

    #[test]
    fn pipelines_parse_their_statuses() {
        let p = json!({"id":7000001,"name":"Воронка","is_main":true,"is_archive":false,
            "_embedded":{"statuses":[{"id":7000100,"name":"Новая","pipeline_id":7000001},{"id":142,"name":"Успешно"}]}});
        assert_eq!(
            Pipeline::from_json(&p),
            Ok(Pipeline {
                id: 7000001,
                name: "Воронка".into(),
                is_main: true,
                statuses: vec![
                    PipelineStatus {
                        id: 7000100,
                        name: "Новая".into()
                    },
                    PipelineStatus {
                        id: 142,
                        name: "Успешно".into()
                    },
                ],
            })
        );
        assert!(
            Pipeline::from_json(&json!({"id":1,"name":"x","_embedded":{"statuses":[{"id":1}]}}))
                .is_err()
        );
    }

    #[test]
    fn links_carry_metadata() {
        let l = LinkRequest {
            entity_id: 5,
            to_entity_type: "contacts".into(),
            to_entity_id: 9,
            is_main: true,
        };
        assert_eq!(
            l.to_json(),
            json!({"entity_id":5,"to_entity_id":9,"to_entity_type":"contacts","metadata":{"is_main":true}})
        );
    }
}
