//! amoCRM API v4: OAuth with token files under a lock, a retrying HTTP client within one
//! rate budget for every process of the module, and the calls the worker needs. The API's
//! JSON is made and read here only.
//!
//! Hands out [`AmoClient`] (the calls), [`ClientOptions`], [`AmoError`], [`TokenStatus`],
//! the typed requests and answers ([`NewEntity`], [`EntityPatch`], [`Entity`] with their
//! [`FieldValues`], [`CustomField`], [`Pipeline`], [`LinkRequest`]), why one item of a
//! batch was refused ([`Rejection`]), what a manager removed ([`Removed`]) and
//! [`AccountMeta`], the account's fields and pipelines as every process of the module
//! shares them.

mod batch;
mod client;
mod clock;
mod entity;
mod error;
mod jwt;
mod meta;
mod models;
mod note;
mod problem;
mod rate;
mod rate_state;
mod rate_window;
mod rejection;
mod removed;
mod retry;
mod task;
mod tokens;
mod transport;
mod url;

pub use self::url::check_account_url;
pub use client::{AmoClient, ClientOptions};
pub use entity::{Entity, EntityPatch, FieldValue, FieldValues, NewEntity, Scalar};
pub use error::{AmoError, NEW_CODE_ACTION, OAuthRefusal};
pub use meta::AccountMeta;
pub use models::{CustomField, FieldEnum, LinkRequest, Pipeline, PipelineStatus, User};
pub use note::{NewNote, Note};
pub use rejection::Rejection;
pub use removed::Removed;
pub use retry::RetryPauses;
pub use task::{NewTask, Task};
pub use tokens::TokenStatus;

/// Pure entry points for the fuzz targets in `fuzz/` (see `crate::fuzz_entry`).
#[doc(hidden)]
#[cfg(fuzzing)]
pub mod fuzz_entry {
    use serde_json::Value;

    use super::entity::Entity;
    use super::models::{CustomField, Pipeline};
    use super::{jwt, problem, tokens};
    use crate::secret::Secret;

    /// An answer from amoCRM: the first two bytes are the HTTP status, the rest the body.
    /// `token` is an access token built around the body (the body as its payload).
    pub fn amo_response(data: &[u8], token: &str) {
        let (status, body) = match data {
            [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
            _ => (0, data),
        };
        let body = String::from_utf8_lossy(body);
        if let Some(errors) = problem::item_errors(&body) {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(!e.rejection.message().is_empty());
            }
        }
        assert!(!problem::describe(status, &body).is_empty());
        assert!(!problem::oauth_reason(&body).is_empty());
        assert!(problem::excerpt(&body).chars().count() <= 201);
        if let Ok(json) = serde_json::from_str::<Value>(&body) {
            // The lists the client reads: custom fields, pipelines, or a bare object.
            for key in ["custom_fields", "pipelines"] {
                if let Some(Value::Array(items)) = json.get("_embedded").and_then(|e| e.get(key)) {
                    for item in items {
                        let _ = CustomField::from_json(item);
                        let _ = Pipeline::from_json(item);
                    }
                }
            }
            // The lists of entities the worker reads back.
            for key in ["contacts", "companies", "leads"] {
                if let Some(Value::Array(items)) = json.get("_embedded").and_then(|e| e.get(key)) {
                    for item in items {
                        if let Some(e) = Entity::from_json(item) {
                            for v in e.fields.iter().flat_map(|f| &f.values) {
                                let _ = v.comparable();
                            }
                        }
                    }
                }
            }
            let _ = CustomField::from_json(&json);
            let _ = Pipeline::from_json(&json);
            let _ = Entity::from_json(&json);
        }
        for t in [&*body, token] {
            let _ = jwt::claims(t);
            for now in [0, tokens::now_unix()] {
                let _ = tokens::needs_refresh(&Secret::new(t), now);
            }
        }
    }
}
