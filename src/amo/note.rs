//! Notes on an entity's timeline (`/api/v4/{entity}/notes`), typed: the module writes
//! plain notes (`common`) and reads them back to find one whose answer was lost (amoCRM
//! does not deduplicate notes).

use serde_json::{Value, json};

/// A note to add: its text on one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    pub entity_id: i64,
    pub text: String,
}

impl NewNote {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "entity_id": self.entity_id,
            "note_type": "common",
            "params": { "text": self.text },
        })
    }
}

/// A plain note as amoCRM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: i64,
    pub entity_id: i64,
    pub text: String,
}

impl Note {
    pub(crate) fn from_json(v: &Value) -> Option<Note> {
        Some(Note {
            id: v.get("id")?.as_i64()?,
            entity_id: v.get("entity_id").and_then(Value::as_i64).unwrap_or(0),
            text: v.pointer("/params/text")?.as_str()?.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_written_and_read_as_the_api_has_it() {
        let n = NewNote {
            entity_id: 7,
            text: "Оплата 10.00 RUB зачислена.".into(),
        };
        let v = n.to_json();
        assert_eq!(v["note_type"], "common");
        let back = json!({"id": 5, "entity_id": 7, "note_type": "common", "params": v["params"]});
        assert_eq!(
            Note::from_json(&back),
            Some(Note {
                id: 5,
                entity_id: 7,
                text: n.text.clone()
            })
        );
        assert_eq!(Note::from_json(&json!({"id": 5, "params": {}})), None);
    }
}
