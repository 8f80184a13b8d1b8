//! Reading the three files together: the full [`load`] for the worker and commands, the
//! cheap [`load_light`] for the panel hook, and [`check`] for `amocrm check`.

use std::path::Path;

use super::ini_file::{self, IniDoc};
use super::rule_sections::{self, entity_suffix};
use super::settings::{self, AUTH_KEYS, DATABASE_KEYS, Report, SYNC_KEYS};
use super::{Config, DatabaseSettings, Problem, Problems, presets};
use crate::model::EntityKind;
use crate::paths::Paths;
use crate::rules::Vocabulary;

/// What the panel hook needs, read from amocrm.conf alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightConfig {
    pub database: DatabaseSettings,
    pub sync_enabled: bool,
}

impl Default for LightConfig {
    fn default() -> Self {
        LightConfig {
            database: DatabaseSettings::default(),
            sync_enabled: true,
        }
    }
}

/// The whole configuration, or every problem found in it.
pub fn load(paths: &Paths) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let config = read_all(paths, &mut problems);
    match config {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(Problems(problems)),
    }
}

/// Every problem in amocrm.conf and the presets, including amocrm.conf's permissions.
pub fn check(paths: &Paths) -> Vec<Problem> {
    let mut problems = Vec::new();
    read_all(paths, &mut problems);
    check_mode(&paths.conf(), &mut problems);
    problems
}

/// `[database]` and `[sync] enabled` only; no presets, no rules. A missing amocrm.conf
/// gives the defaults: the hook must keep queueing before the module is configured.
pub fn load_light(paths: &Paths) -> Result<LightConfig, Problems> {
    let file = paths.conf();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LightConfig::default()),
        Err(e) => return Err(Problems(vec![unreadable(&file, &e)])),
    };
    // Problems elsewhere in the file are for `amocrm check`; only what is read here counts.
    let doc = ini_file::parse(&file, &text, &mut Vec::new());
    let mut problems = Vec::new();
    let mut r = Report {
        file: &file,
        problems: &mut problems,
    };
    let database = settings::database(&doc, &mut r);
    let sync_enabled = settings::enabled(&doc, &mut r);
    if problems.is_empty() {
        Ok(LightConfig {
            database,
            sync_enabled,
        })
    } else {
        Err(Problems(problems))
    }
}

/// Reads everything, collecting problems; `None` when amocrm.conf cannot be read.
fn read_all(paths: &Paths, problems: &mut Vec<Problem>) -> Option<Config> {
    let vocab = read_presets(paths, problems);

    let file = paths.conf();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            problems.push(unreadable(&file, &e));
            return None;
        }
    };
    let doc = ini_file::parse(&file, &text, problems);
    let mut r = Report {
        file: &file,
        problems,
    };
    check_names(&doc, &mut r);
    let auth_line = doc
        .sections
        .iter()
        .find(|(s, _)| s == "auth")
        .map_or(0, |(_, l)| *l);
    if auth_line == 0 {
        r.at(0, "there is no [auth] section: add url, client_id, client_secret and redirect_uri of the amoCRM integration");
    }
    let auth = if auth_line == 0 {
        Default::default()
    } else {
        settings::auth(&doc, &mut r, auth_line)
    };
    let database = settings::database(&doc, &mut r);
    let sync = settings::sync(&doc, &mut r);
    let rules = rule_sections::build(&doc, &vocab, &mut r);
    Some(Config {
        auth,
        database,
        sync,
        rules,
    })
}

/// presets.default (required) then presets.custom (optional), later names winning.
pub fn read_presets(paths: &Paths, problems: &mut Vec<Problem>) -> Vocabulary {
    let mut vocab = Vocabulary::default();
    for (file, required) in [
        (paths.presets_default(), true),
        (paths.presets_custom(), false),
    ] {
        match std::fs::read_to_string(&file) {
            Ok(text) => presets::parse(&file, &text, problems).apply_to(&mut vocab),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
            Err(e) => problems.push(unreadable(&file, &e)),
        }
    }
    vocab
}

/// Unknown sections and keys (a typo would otherwise be silently ignored).
fn check_names(doc: &IniDoc, r: &mut Report<'_>) {
    let mut sections: Vec<String> = ["auth", "database", "sync", "conditions", "pipelines"]
        .map(String::from)
        .to_vec();
    for kind in EntityKind::ALL {
        sections.push(format!("fields.{}", entity_suffix(kind)));
        sections.push(format!("tags.{}", entity_suffix(kind)));
    }
    for (name, line) in &doc.sections {
        if !sections.contains(name) {
            r.at(
                *line,
                format!("unknown section [{name}]; known: {}", sections.join(", ")),
            );
        }
    }
    for e in &doc.entries {
        let known: &[&str] = match e.section.as_str() {
            "auth" => &AUTH_KEYS,
            "database" => &DATABASE_KEYS,
            "sync" => &SYNC_KEYS,
            _ => continue,
        };
        if !known.contains(&e.key.as_str()) {
            r.at(
                e.line,
                format!(
                    "[{}] {}: unknown setting; known: {}",
                    e.section,
                    e.key,
                    known.join(", ")
                ),
            );
        }
    }
}

/// amocrm.conf holds the client secret: only its owner may read it.
fn check_mode(file: &Path, problems: &mut Vec<Problem>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        problems.push(Problem {
            file: file.to_path_buf(),
            line: 0,
            message: format!(
                "is accessible to group or others (mode {mode:04o}) but holds the client secret: run chmod 600 {}",
                file.display()
            ),
        });
    }
}

fn unreadable(file: &Path, e: &std::io::Error) -> Problem {
    let message = if e.kind() == std::io::ErrorKind::NotFound {
        "not found: install it from the module's etc/ directory (scripts/install.sh does)"
            .to_string()
    } else {
        format!("cannot read: {e}")
    };
    Problem {
        file: file.to_path_buf(),
        line: 0,
        message,
    }
}
