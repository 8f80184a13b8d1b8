//! Reading the three files together: the full [`load`] for the worker and commands, the
//! cheap [`load_light`] for the panel hook, and [`check`] for `amocrm check`.

use std::path::Path;

use super::ini_file::{self, IniDoc};
use super::retention_sections;
use super::rule_sections::{self, entity_suffix};
use super::settings::{self, AUTH_KEYS, DATABASE_KEYS, Report, SYNC_KEYS};
use super::{AuthConfig, Config, DatabaseSettings, Problem, Problems, presets};
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
    sort(&mut problems);
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
    sort(&mut problems);
    problems
}

/// By file (the presets first, as amocrm.conf depends on them), then line.
fn sort(problems: &mut [Problem]) {
    let rank = |p: &Problem| match p.file.file_name().and_then(|n| n.to_str()) {
        Some("presets.default") => 0,
        Some("presets.custom") => 1,
        _ => 2,
    };
    problems.sort_by_key(|p| (rank(p), p.line));
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

/// amocrm.conf's settings as written: `(section, key) → value`, comments cut and quotes
/// removed. For the panel's settings form, which must show what is there even when other
/// parts of the file have problems. Holds the client secret: it has no `Debug`.
#[derive(Clone, Default)]
pub struct ConfValues {
    entries: Vec<(String, String, String)>,
}

impl ConfValues {
    /// The value of `key` in `[section]`, if the line is there (it may be empty).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }
}

/// amocrm.conf's values, read line by line (a broken line elsewhere does not hide the
/// rest); a missing file has none. An unreadable file is the one problem returned.
pub fn read_values(paths: &Paths) -> Result<ConfValues, Problem> {
    let file = paths.conf();
    let text = match std::fs::read(&file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfValues::default()),
        Err(e) => return Err(unreadable(&file, &e)),
    };
    Ok(values_text(&text))
}

/// The problems with the shape of amocrm.conf's text (sections, `key = value` lines,
/// characters), before any setting or rule is read.
pub fn shape_problems(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    ini_file::parse(Path::new("amocrm.conf"), text, &mut problems);
    problems
}

/// [`read_values`] of amocrm.conf's text.
pub fn values_text(text: &str) -> ConfValues {
    let doc = ini_file::parse(Path::new("amocrm.conf"), text, &mut Vec::new());
    ConfValues {
        entries: doc
            .entries
            .into_iter()
            .map(|e| (e.section, e.key, settings::unquote(&e.value)))
            .collect(),
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
    Some(from_text(&file, &text, &vocab, problems))
}

/// Every problem `amocrm check` would report if amocrm.conf held `text` (its file mode
/// aside): how the panel validates an edit before writing it.
pub fn check_text(paths: &Paths, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let vocab = read_presets(paths, &mut problems);
    from_text(&paths.conf(), text, &vocab, &mut problems);
    sort(&mut problems);
    problems
}

/// What the amoCRM client needs, read from amocrm.conf alone (the rules may be broken
/// while the panel's rules screen reads amoCRM's fields and pipelines).
pub fn load_auth(paths: &Paths) -> Result<(AuthConfig, f64), Problems> {
    let file = paths.conf();
    let text = std::fs::read_to_string(&file).map_err(|e| Problems(vec![unreadable(&file, &e)]))?;
    let doc = ini_file::parse(&file, &text, &mut Vec::new());
    let mut problems = Vec::new();
    let mut r = Report {
        file: &file,
        problems: &mut problems,
    };
    let auth_line = doc
        .sections
        .iter()
        .find(|(s, _)| s == "auth")
        .map_or(0, |(_, l)| *l);
    if auth_line == 0 {
        r.at(0, "there is no [auth] section");
    }
    let auth = settings::auth(&doc, &mut r, auth_line);
    let rate = settings::sync(
        &doc,
        &mut Report {
            file: &file,
            problems: &mut Vec::new(),
        },
    )
    .rate_limit;
    if problems.is_empty() {
        Ok((auth, rate))
    } else {
        Err(Problems(problems))
    }
}

/// The configuration in `text` (the contents of `file`), collecting problems.
fn from_text(file: &Path, text: &str, vocab: &Vocabulary, problems: &mut Vec<Problem>) -> Config {
    let doc = ini_file::parse(file, text, problems);
    let mut r = Report { file, problems };
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
    let mut rules = rule_sections::build(&doc, vocab, &mut r);
    retention_sections::build(&doc, vocab, &mut r, &mut rules);
    Config {
        auth,
        database,
        sync,
        rules,
    }
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

/// The whole configuration from the texts of amocrm.conf, presets.default and (when there
/// is one) presets.custom: [`load`] without the files, through the same parsers.
pub fn load_text(
    conf: &str,
    presets_default: &str,
    presets_custom: Option<&str>,
) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let vocab = presets_text(presets_default, presets_custom, &mut problems);
    let config = from_text(Path::new("amocrm.conf"), conf, &vocab, &mut problems);
    valid(config, problems)
}

/// The vocabulary of the presets' texts, as [`read_presets`] reads the files.
pub fn presets_text(
    presets_default: &str,
    presets_custom: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Vocabulary {
    let mut vocab = Vocabulary::default();
    presets::parse(Path::new("presets.default"), presets_default, problems).apply_to(&mut vocab);
    if let Some(text) = presets_custom {
        presets::parse(Path::new("presets.custom"), text, problems).apply_to(&mut vocab);
    }
    vocab
}

/// amocrm.conf's text read against a vocabulary already built from the presets.
pub fn conf_text(conf: &str, vocab: &Vocabulary) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let config = from_text(Path::new("amocrm.conf"), conf, vocab, &mut problems);
    valid(config, problems)
}

fn valid(config: Config, mut problems: Vec<Problem>) -> Result<Config, Problems> {
    sort(&mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(Problems(problems))
    }
}

/// Unknown sections and keys (a typo would otherwise be silently ignored).
fn check_names(doc: &IniDoc, r: &mut Report<'_>) {
    let mut sections: Vec<String> = [
        "auth",
        "database",
        "sync",
        "conditions",
        "pipelines",
        "notes",
        "tasks",
        "responsible",
    ]
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
            "notes" => &retention_sections::NOTES_KEYS,
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
    // Not UTF-8 (saved in cp1251, or damaged): name the line, as for any other problem.
    if e.kind() == std::io::ErrorKind::InvalidData
        && let Ok(bytes) = std::fs::read(file)
        && let Err(bad) = std::str::from_utf8(&bytes)
    {
        let at = bad.valid_up_to();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        return Problem {
            file: file.to_path_buf(),
            line: 1 + before.iter().filter(|b| **b == b'\n').count(),
            message: format!(
                "column {column}: byte 0x{:02X} is not UTF-8 text: save the file as UTF-8",
                bytes.get(at).copied().unwrap_or(0)
            ),
        };
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;
    use crate::rules::{FieldRef, Stage, Value};
    use std::os::unix::fs::PermissionsExt;

    /// A panel root holding the shipped sample and presets.
    fn root(conf: Option<&str>) -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.etc_dir()).expect("mkdir");
        let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
        std::fs::copy(etc.join("presets.default"), paths.presets_default()).expect("presets");
        let sample = std::fs::read_to_string(etc.join("amocrm.conf")).expect("sample");
        let text = conf.map(str::to_string).unwrap_or(sample);
        std::fs::write(paths.conf(), text).expect("conf");
        std::fs::set_permissions(paths.conf(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        (dir, paths)
    }

    fn messages(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn text_and_files_give_the_same_answer() {
        let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
        let presets = std::fs::read_to_string(etc.join("presets.default")).expect("presets");
        let (_dir, paths) = root(None);
        let sample = std::fs::read_to_string(paths.conf()).expect("sample");
        let from_text = load_text(&sample, &presets, None).expect("sample loads");
        let from_files = load(&paths).expect("sample loads");
        assert_eq!(from_text.sync, from_files.sync);
        assert_eq!(from_text.auth, from_files.auth);
        let broken = "[sync]\nbatch_size = 0\n";
        let problems = load_text(broken, &presets, Some("value x = nowhere.x text")).unwrap_err();
        let lines: Vec<(String, usize)> = problems
            .0
            .iter()
            .map(|p| (p.file.display().to_string(), p.line))
            .collect();
        assert!(
            lines.contains(&("presets.custom".to_string(), 1)),
            "{lines:?}"
        );
        assert!(lines.contains(&("amocrm.conf".to_string(), 2)), "{lines:?}");
        assert_eq!(values_text(broken).get("sync", "batch_size"), Some("0"));
    }

    #[test]
    fn the_shipped_sample_loads_and_its_rules_work() {
        let (_dir, paths) = root(None);
        assert_eq!(messages(&check(&paths)), Vec::<String>::new());
        let config = load(&paths).expect("sample loads");
        assert_eq!(config.auth.url, "https://example.amocrm.ru");
        assert_eq!(config.sync.batch_size, 50);
        let rules = &config.rules;
        assert!(rules.conditions.account.is_none());

        let mut payer = Record::default();
        payer.set("profile.profiletype", "2");
        payer.set("profile.vatnum", "7701234560");
        assert!(rules.should_sync(EntityKind::Profile, &payer));
        let fields = rules.field_values(EntityKind::Profile, &payer);
        assert_eq!(
            fields,
            vec![(FieldRef::Id(815001), Value::Text("7701234560".into()))]
        );
        payer.set("profile.profiletype", "1");
        assert!(!rules.should_sync(EntityKind::Profile, &payer));

        let mut item = Record::default();
        for (k, v) in [
            ("item.status", "2"),
            ("itemtype.intname", "vds"),
            ("pricelist.name", "VDS-Start"),
            ("item.period", "-100"),
        ] {
            item.set(k, v);
        }
        assert_eq!(
            rules.tags_for(EntityKind::Item, &item),
            vec!["trial", "vds"]
        );
        let vds = Stage {
            pipeline_id: 7000001,
            status_id: 7000101,
        };
        assert_eq!(rules.stage_for_new(&item), Some(vds));
        assert_eq!(rules.stage_move(&item), Some(vds));
        item.set("item.status", "3");
        assert_eq!(
            rules.stage_move(&item),
            Some(Stage {
                pipeline_id: 7000001,
                status_id: 7000102
            })
        );
        item.set("itemtype.intname", "domain");
        item.set("item.status", "4");
        assert_eq!(
            rules.stage_for_new(&item),
            Some(Stage {
                pipeline_id: 7000002,
                status_id: 143
            })
        );
        item.set("itemtype.intname", "vhost");
        item.set("item.status", "2");
        assert_eq!(
            rules.stage_for_new(&item),
            Some(Stage {
                pipeline_id: 7000001,
                status_id: 7000100
            })
        );
        assert_eq!(rules.stage_move(&item), None);

        let mut client = Record::default();
        client.set("project.name", "HostCom EU");
        assert_eq!(
            rules.tags_for(EntityKind::Account, &client),
            vec!["HostCom EU"]
        );
    }

    #[test]
    fn the_documented_example_loads() {
        // INTERFACE.md's amocrm.conf, with a tag on a column the panel has.
        let conf = r#"
[auth]
url = https://example.amocrm.ru        ; the account's address
client_id = id
client_secret = secret
redirect_uri = https://billing.example.com/billmgr
code = def502

[database]                             ; optional
driver = mysql                         ; mysql | sqlite
url = mysql://user:password@127.0.0.1:3306/billmgr

[sync]
enabled = yes
batch_size = 50
rate_limit = 7
update = fill_empty
dedup = email, phone

[conditions]
account = account.project = 1
profile = profile.profiletype in (2, 3)
item = item.itemtype in (vds, vhost) and item.status != 4

[fields.contact]
EMAIL = user.email
PHONE = user.phone
812345 = account.id
[fields.company]
815001 = profile.inn
[fields.lead]
816001 = item.pricelist
816002 = item.expiredate

[tags.contact]
vip = account.registration_date < 2023-01-01
[tags.lead]
trial = item.pricelist contains "trial"

[pipelines]
vds = item.itemtype = vds -> 7000001:7000101
closed = item.status = 4 -> 7000001:143
default = 7000001:7000100
"#;
        let (_dir, paths) = root(Some(conf));
        let config = load(&paths).unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(
            config.auth.code.as_ref().map(|c| c.expose()),
            Some("def502")
        );
        assert_eq!(config.database.driver.as_deref(), Some("mysql"));
        assert_eq!(config.rules.fields.account.len(), 3);
        assert_eq!(config.rules.pipelines.len(), 2);
        let text = config
            .rules
            .conditions
            .item
            .as_ref()
            .map(ToString::to_string);
        assert_eq!(
            text.as_deref(),
            Some("item.itemtype in (vds, vhost) and item.status != 4")
        );
    }

    #[test]
    fn an_empty_condition_means_always() {
        let conf = "[auth]\nurl = https://a.amocrm.ru\nclient_id = i\nclient_secret = s\nredirect_uri = https://b\n[conditions]\nitem =\n";
        let (_dir, paths) = root(Some(conf));
        let config = load(&paths).unwrap_or_else(|p| panic!("{p}"));
        assert!(config.rules.conditions.item.is_none());
    }

    #[test]
    fn every_problem_of_every_file_is_reported() {
        let conf = "[auth]\nurl = http://example.amocrm.ru\nclient_id = x\ncolor = red\n\n[sync]\nbatch_size = 0\n\n\
                    [weird]\n[tags.lead]\nbad = item.sttus = 4\nworse = profile.inn not_empty\n[fields.lead]\n816001 = item.pricelist\nE-MAIL = user.email\n\
                    [pipelines]\nx = item.status = 4\ndefault = 1\n";
        let (_dir, paths) = root(Some(conf));
        std::fs::write(
            paths.presets_custom(),
            "value item.ip = itemparam.ip text\nvalue broken\n",
        )
        .expect("custom");
        let problems = check(&paths);
        let got = messages(&problems);
        let conf_path = paths.conf().display().to_string();
        let custom_path = paths.presets_custom().display().to_string();
        let expect = [
            format!("{custom_path}:2: malformed value"),
            format!("{conf_path}:4: [auth] color: unknown setting"),
            format!("{conf_path}:9: unknown section [weird]"),
            format!("{conf_path}:2: [auth] url: "),
            format!("{conf_path}:1: [auth] client_secret is missing"),
            format!("{conf_path}:1: [auth] redirect_uri is missing"),
            format!("{conf_path}:7: [sync] batch_size '0'"),
            format!("{conf_path}:15: [fields.lead] 'E-MAIL' is not an amoCRM field"),
            format!("{conf_path}:11: [tags.lead] bad: column 7: unknown value 'item.sttus'"),
            format!(
                "{conf_path}:12: [tags.lead] worse: column 9: value 'profile.inn' comes from profile.vatnum, which a service (lead) does not have"
            ),
            format!("{conf_path}:17: [pipelines] x: write CONDITION -> pipeline_id:status_id"),
            format!("{conf_path}:18: [pipelines] default: '1' is not a stage"),
        ];
        for e in &expect {
            assert!(
                got.iter().any(|g| g.starts_with(e.as_str())),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        assert!(matches!(load(&paths), Err(Problems(p)) if p.len() == expect.len()));
    }

    #[test]
    fn presets_custom_adds_values_and_overrides() {
        let conf = "[auth]\nurl = http://127.0.0.1:9/\nclient_id = i\nclient_secret = s\nredirect_uri = https://b.example/\n\
                    [conditions]\nitem = item.ip starts_with \"203.\" and item.cost > 100\n[fields.lead]\n1 = item.ip\n";
        let (_dir, paths) = root(Some(conf));
        let problems = check(&paths);
        assert!(
            messages(&problems)
                .iter()
                .any(|m| m.contains("unknown value 'item.ip'")),
            "{problems:?}"
        );
        std::fs::write(
            paths.presets_custom(),
            "# ours\nvalue item.ip = itemparam.ip text \"IP address\"\nvalue item.cost = item.cost int\n",
        )
        .expect("custom");
        let config = load(&paths).expect("loads with the custom value");
        assert_eq!(config.auth.url, "http://127.0.0.1:9");
        let mut item = Record::default();
        item.set("itemparam.ip", "203.0.113.41");
        item.set("item.cost", "590.00");
        assert!(config.rules.should_sync(EntityKind::Item, &item));
        item.set("itemparam.ip", "10.0.0.1");
        assert!(!config.rules.should_sync(EntityKind::Item, &item));
        let cond = config
            .rules
            .conditions
            .item
            .as_ref()
            .expect("item condition");
        assert_eq!(cond.sources(), vec!["itemparam.ip", "item.cost"]);
        assert_eq!(
            cond.values()[1].ty,
            crate::rules::ValueType::Int,
            "custom overrides default"
        );
    }

    #[test]
    fn missing_files_are_problems_but_not_for_the_hook() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        let got = messages(&check(&paths));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|m| m.contains("not found")));
        assert_eq!(load_light(&paths), Ok(LightConfig::default()));
    }

    #[test]
    fn the_hook_reads_only_what_it_needs() {
        // A broken rule elsewhere does not stop the hook; the stop switch and database do count.
        let conf = "[database]\ndriver = sqlite\npath = var/x.db\n[sync]\nenabled = no\nbatch_size = 999\n[tags.lead]\nx = nonsense (\n";
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.etc_dir()).expect("mkdir");
        std::fs::write(paths.conf(), conf).expect("conf");
        let light = load_light(&paths).expect("light load");
        assert!(!light.sync_enabled);
        assert_eq!(light.database.path.as_deref(), Some("var/x.db"));
        std::fs::write(paths.conf(), "[database]\ndriver = oracle\n").expect("conf");
        let err = load_light(&paths).expect_err("bad driver");
        assert_eq!(err.0[0].line, 2);
    }

    #[test]
    fn values_are_read_as_written_despite_problems_elsewhere() {
        let conf = "[auth]\nurl = https://a.amocrm.ru ; ours\nclient_secret = \"s;x\"\n[sync]\nbatch_size = 999\ndedup =\n[tags.lead]\nx = nonsense (\n[broken\n";
        let (_dir, paths) = root(Some(conf));
        let v = read_values(&paths).expect("values");
        assert_eq!(v.get("auth", "url"), Some("https://a.amocrm.ru"));
        assert_eq!(v.get("auth", "client_secret"), Some("s;x"));
        assert_eq!(v.get("sync", "batch_size"), Some("999"));
        assert_eq!(v.get("sync", "dedup"), Some(""));
        assert_eq!(v.get("sync", "update"), None);
        std::fs::remove_file(paths.conf()).expect("rm");
        assert_eq!(read_values(&paths).expect("none").get("auth", "url"), None);
    }

    #[test]
    fn a_conf_readable_by_others_is_a_problem() {
        let (_dir, paths) = root(None);
        std::fs::set_permissions(paths.conf(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let got = messages(&check(&paths));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("mode 0644") && got[0].contains("chmod 600"),
            "{}",
            got[0]
        );
        assert!(load(&paths).is_ok(), "permissions are for check to report");
    }
}
