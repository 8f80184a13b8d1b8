//! amoCRM's custom fields and pipelines, read from the account in four requests and kept
//! in `var/amocrm_meta.json` for every process of the module: the worker renders values
//! with them, the rules screens offer them by name. A process reads them at most once in
//! its life; what another read less than [`FRESH_SECS`] ago is taken as it is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::client::AmoClient;
use super::error::AmoError;
use super::models::{CustomField, Pipeline, User};
use crate::paths::Paths;

/// How long what was read is trusted (seconds). A field or stage changed in amoCRM within
/// that time makes a write rejected, and a rejection drops the file.
pub const FRESH_SECS: i64 = 300;

/// The entities that have custom fields, as the API names them.
pub const ENTITIES: [&str; 3] = ["contacts", "companies", "leads"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountMeta {
    /// `[auth] url` it was read from: another account's fields are never used.
    pub url: String,
    /// Unix time it was read.
    pub fetched_at: i64,
    /// Custom fields by entity (`contacts`, `companies`, `leads`).
    pub fields: BTreeMap<String, Vec<CustomField>>,
    pub pipelines: Vec<Pipeline>,
    /// The account's users, when they were read (only `[responsible]` needs them).
    #[serde(default)]
    pub users: Option<Vec<User>>,
}

fn file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_meta.json")
}

impl AccountMeta {
    /// Reads the fields of every entity and the pipelines from amoCRM.
    pub fn fetch(client: &mut AmoClient, url: &str, now: i64) -> Result<AccountMeta, AmoError> {
        let mut fields = BTreeMap::new();
        for entity in ENTITIES {
            fields.insert(entity.to_string(), client.custom_fields(entity)?);
        }
        Ok(AccountMeta {
            url: url.to_string(),
            fetched_at: now,
            fields,
            pipelines: client.pipelines()?,
            users: None,
        })
    }

    /// Reads the account's users too (one request a 250 users).
    pub fn read_users(&mut self, client: &mut AmoClient) -> Result<(), AmoError> {
        self.users = Some(client.users()?);
        Ok(())
    }

    /// What was last read from this account, however old; no request.
    pub fn kept(paths: &Paths, url: &str) -> Option<AccountMeta> {
        let text = std::fs::read_to_string(file(paths)).ok()?;
        let meta: AccountMeta = serde_json::from_str(&text).ok()?;
        (meta.url == url).then_some(meta)
    }

    /// What was read from this account less than [`FRESH_SECS`] before `now`.
    pub fn fresh(paths: &Paths, url: &str, now: i64) -> Option<AccountMeta> {
        AccountMeta::kept(paths, url).filter(|m| m.is_fresh(now))
    }

    pub fn is_fresh(&self, now: i64) -> bool {
        (0..FRESH_SECS).contains(&(now - self.fetched_at))
    }

    /// Keeps it for the other processes; a reader never sees half a file.
    pub fn keep(&self, paths: &Paths) {
        let path = file(paths);
        if let Err(e) = crate::paths::write_json(&path, self) {
            log::warn!("cannot keep amoCRM's fields in {}: {e}", path.display());
        }
    }

    /// Drops what is kept: the next process reads amoCRM again.
    pub fn forget(paths: &Paths) {
        let _ = std::fs::remove_file(file(paths));
    }

    /// The custom fields of an entity (`contacts`, `companies`, `leads`).
    pub fn fields_of(&self, entity: &str) -> &[CustomField] {
        self.fields.get(entity).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(url: &str, at: i64) -> AccountMeta {
        let field = CustomField {
            id: 816001,
            name: "Тариф".into(),
            code: None,
            field_type: "text".into(),
            enums: vec![],
        };
        AccountMeta {
            url: url.into(),
            fetched_at: at,
            fields: BTreeMap::from([("leads".to_string(), vec![field])]),
            pipelines: vec![],
            users: None,
        }
    }

    #[test]
    fn kept_for_the_same_account_and_fresh_for_five_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let url = "http://127.0.0.1:1";
        assert!(AccountMeta::kept(&paths, url).is_none());
        meta(url, 1000).keep(&paths);
        assert_eq!(AccountMeta::kept(&paths, url), Some(meta(url, 1000)));
        assert!(AccountMeta::fresh(&paths, url, 1000 + FRESH_SECS - 1).is_some());
        assert!(AccountMeta::fresh(&paths, url, 1000 + FRESH_SECS).is_none());
        assert!(AccountMeta::kept(&paths, "http://127.0.0.1:2").is_none());
        assert_eq!(meta(url, 1).fields_of("leads").len(), 1);
        assert!(meta(url, 1).fields_of("contacts").is_empty());
        AccountMeta::forget(&paths);
        assert!(AccountMeta::kept(&paths, url).is_none());
    }
}
