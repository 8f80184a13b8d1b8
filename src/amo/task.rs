//! Tasks for managers (`/api/v4/tasks`), typed: the module sets them on leads and reads a
//! lead's tasks back to find one whose answer was lost (amoCRM does not deduplicate them).

use serde_json::{Map, Value};

/// A task to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// `leads`, `contacts` or `companies`.
    pub entity_type: String,
    pub entity_id: i64,
    pub text: String,
    /// When it is due (Unix time).
    pub complete_till: i64,
    pub responsible_user_id: Option<i64>,
}

impl NewTask {
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("text".into(), Value::from(self.text.as_str()));
        m.insert("complete_till".into(), Value::from(self.complete_till));
        m.insert("entity_type".into(), Value::from(self.entity_type.as_str()));
        m.insert("entity_id".into(), Value::from(self.entity_id));
        if let Some(id) = self.responsible_user_id {
            m.insert("responsible_user_id".into(), Value::from(id));
        }
        Value::Object(m)
    }
}

/// A task as amoCRM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: i64,
    pub text: String,
    pub complete_till: i64,
}

impl Task {
    pub(crate) fn from_json(v: &Value) -> Option<Task> {
        Some(Task {
            id: v.get("id")?.as_i64()?,
            text: v.get("text")?.as_str()?.to_string(),
            complete_till: v.get("complete_till").and_then(Value::as_i64).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_is_written_and_read_as_the_api_has_it() {
        let t = NewTask {
            entity_type: "leads".into(),
            entity_id: 9,
            text: "Позвонить".into(),
            complete_till: 1_752_364_800,
            responsible_user_id: Some(504142),
        };
        let v = t.to_json();
        assert_eq!(v["responsible_user_id"], 504142);
        let back = json!({"id": 3, "text": v["text"], "complete_till": v["complete_till"]});
        assert_eq!(
            Task::from_json(&back),
            Some(Task {
                id: 3,
                text: "Позвонить".into(),
                complete_till: 1_752_364_800
            })
        );
        let plain = NewTask {
            responsible_user_id: None,
            ..t
        };
        assert!(plain.to_json().get("responsible_user_id").is_none());
    }
}
