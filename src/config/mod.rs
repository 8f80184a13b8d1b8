//! `amocrm.conf` + `presets.default` / `presets.custom` → one typed, validated [`Config`].
//! Every problem names its file and line.
//!
//! - `ini_file`: amocrm.conf's lines, comments and sections (rust-ini plus a line index);
//! - `settings`: `[auth]`, `[database]`, `[sync]`;
//! - `presets`: the presets files → [`crate::rules::Vocabulary`];
//! - `rule_sections`: conditions, fields, tags, pipelines → [`Rules`];
//! - `sources`: [`Sources`], the files read once, and its views: the whole [`Config`], the
//!   panel hook's, the amoCRM client's, the settings form's values, `amocrm check`'s problems;
//! - `edit`: changes made from the panel, written back with the admin's comments kept.

pub mod edit;
mod ini_file;
mod presets;
mod retention_sections;
mod rule_sections;
mod settings;
mod sources;

pub use retention_sections::NOTES_KEYS;
pub use rule_sections::{RuleLine, entity_suffix, find_arrow, is_rule_section, rule_lines};
pub use sources::{ConfValues, LightConfig, Sources};

use crate::rules::Rules;
use crate::secret::Secret;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: std::path::PathBuf,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// 1-based in the line; 0 when it is about the whole line.
    pub column: usize,
    /// Where in the file's structure it is: what tells one problem from another when lines
    /// move (the rules screen's edits).
    pub kind: ProblemKind,
    /// What is wrong and what to write instead, as the admin reads it.
    pub message: String,
}

/// Where a problem is, as the file's structure names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The file as a whole: it cannot be read, is not UTF-8, or others may read it.
    File,
    /// A line that is not what the file's format allows.
    Line,
    /// A section: unknown, or missing.
    Section(String),
    /// One setting or rule: `[section] key`.
    Entry { section: String, key: String },
}

impl ProblemKind {
    pub fn entry(section: &str, key: &str) -> ProblemKind {
        ProblemKind::Entry {
            section: section.to_string(),
            key: key.to_string(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

/// Every problem found, so the admin can fix them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// `[auth]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The account's address, without a trailing slash.
    pub url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    /// A one-time authorization code, exchanged on first use.
    pub code: Option<Secret>,
}

/// `[database]` as written; [`crate::db::target`] turns it into a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `mysql` | `sqlite`; `None`: the url or path given, else the panel's own database
    /// (SQLite only where no panel is installed).
    pub driver: Option<String>,
    pub url: Option<Secret>,
    /// For SQLite; relative to `MGR_ROOT`.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Never overwrite a value a manager set in amoCRM (the default).
    FillEmpty,
    Overwrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupKey {
    Email,
    Phone,
}

/// `[sync]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// `no`: events are still queued, nothing is sent.
    pub enabled: bool,
    /// 1..=250.
    pub batch_size: usize,
    /// Requests a second for every process of the module together.
    pub rate_limit: f64,
    /// How contacts and companies are updated: what managers type about people is theirs.
    pub update: UpdateMode,
    /// How leads are updated: a lead mirrors its service, so by default its billing facts
    /// (mapped fields, price) follow the panel.
    pub update_leads: UpdateMode,
    /// Empty: never match an unlinked client to an existing contact.
    pub dedup: Vec<DedupKey>,
    /// Minutes between the sweeps `amocrm task` runs by itself; 0: never.
    pub reconcile: u32,
    /// The first pause before a request that failed in passing is tried again (then
    /// doubling); shortened by tests against the sandbox.
    pub retry_pause: std::time::Duration,
}

impl SyncConfig {
    /// How an entity of this kind is updated in amoCRM.
    pub fn mode_for(&self, kind: crate::model::EntityKind) -> UpdateMode {
        match kind {
            crate::model::EntityKind::Item => self.update_leads,
            _ => self.update,
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: true,
            batch_size: 50,
            rate_limit: 7.0,
            update: UpdateMode::FillEmpty,
            update_leads: UpdateMode::Overwrite,
            dedup: vec![DedupKey::Email, DedupKey::Phone],
            reconcile: 60,
            retry_pause: std::time::Duration::from_millis(500),
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub auth: AuthConfig,
    pub database: DatabaseSettings,
    pub sync: SyncConfig,
    pub rules: Rules,
}
