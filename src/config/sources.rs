//! The one way into the settings: [`Sources`], the three files read once (amocrm.conf,
//! presets.default, presets.custom, each with its name), and its views: the whole
//! [`Config`] for the worker and the commands, [`Sources::hook`] for the panel hook
//! (`[database]` and `[sync] enabled` only), [`Sources::auth`] for the screens that talk to
//! amoCRM, [`Sources::values`] for the settings form, [`Sources::problems`] for
//! `amocrm check` and the screens that check an edit first.

use std::path::{Path, PathBuf};

use super::ini_file::{self, IniDoc};
use super::retention_sections;
use super::rule_sections::{self, entity_suffix};
use super::settings::{self, AUTH_KEYS, DATABASE_KEYS, Report, SYNC_KEYS};
use super::{AuthConfig, Config, DatabaseSettings, Problem, ProblemKind, Problems, presets};
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

/// By file (the presets first, as amocrm.conf depends on them), then line.
fn sort(problems: &mut [Problem]) {
    let rank = |p: &Problem| match p.file.file_name().and_then(|n| n.to_str()) {
        Some("presets.default") => 0,
        Some("presets.custom") => 1,
        _ => 2,
    };
    problems.sort_by_key(|p| (rank(p), p.line));
}

/// One file of the settings as read.
#[derive(Clone)]
struct Source {
    file: PathBuf,
    /// `Ok(None)`: there is no such file; `Err`: why it cannot be read.
    bytes: Result<Option<Vec<u8>>, String>,
}

impl Source {
    fn read(file: PathBuf) -> Source {
        let bytes = match std::fs::read(&file) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read: {e}")),
        };
        Source { file, bytes }
    }

    fn text(name: &str, text: Option<&str>) -> Source {
        Source {
            file: PathBuf::from(name),
            bytes: Ok(text.map(|t| t.as_bytes().to_vec())),
        }
    }

    /// Its text, `None` when there is no such file, or why it cannot be read.
    fn str(&self) -> Result<Option<&str>, Problem> {
        match &self.bytes {
            Err(why) => Err(whole_file(&self.file, why.clone())),
            Ok(None) => Ok(None),
            Ok(Some(b)) => {
                (std::str::from_utf8(b).map(Some)).map_err(|bad| not_utf8(&self.file, b, bad))
            }
        }
    }

    /// Its text, which must be there.
    fn required(&self) -> Result<&str, Problem> {
        self.str()?.ok_or_else(|| {
            let how =
                "not found: install it from the module's etc/ directory (scripts/install.sh does)";
            whole_file(&self.file, how.into())
        })
    }
}

/// The settings' files as read, once; every reader of the settings takes its view here.
#[derive(Clone)]
pub struct Sources {
    conf: Source,
    /// presets.default (required) then presets.custom; empty when they were not read.
    presets: Vec<(Source, bool)>,
    /// Read from the panel's files: `problems` also looks at amocrm.conf's mode.
    on_disk: bool,
}

impl Sources {
    /// amocrm.conf and both presets files of the panel.
    pub fn read(paths: &Paths) -> Sources {
        Sources {
            conf: Source::read(paths.conf()),
            presets: vec![
                (Source::read(paths.presets_default()), true),
                (Source::read(paths.presets_custom()), false),
            ],
            on_disk: true,
        }
    }

    /// amocrm.conf alone: for the views that read no presets (the hook, `auth`, `values`).
    pub fn read_conf(paths: &Paths) -> Sources {
        Sources {
            conf: Source::read(paths.conf()),
            presets: Vec::new(),
            on_disk: true,
        }
    }

    /// The files' texts (presets.custom when there is one), named as the files are.
    pub fn texts(conf: &str, presets_default: &str, presets_custom: Option<&str>) -> Sources {
        Sources {
            conf: Source::text("amocrm.conf", Some(conf)),
            presets: vec![
                (Source::text("presets.default", Some(presets_default)), true),
                (Source::text("presets.custom", presets_custom), false),
            ],
            on_disk: false,
        }
    }

    /// The same presets with amocrm.conf holding `text`: an edit checked before it is
    /// written (its file mode aside).
    pub fn with_conf(&self, text: &str) -> Sources {
        Sources {
            conf: Source {
                file: self.conf.file.clone(),
                bytes: Ok(Some(text.as_bytes().to_vec())),
            },
            presets: self.presets.clone(),
            on_disk: false,
        }
    }

    /// The presets' values and validators, later files' names winning.
    pub fn vocabulary(&self, problems: &mut Vec<Problem>) -> Vocabulary {
        let mut vocab = Vocabulary::default();
        for (source, required) in &self.presets {
            let text = if *required {
                source.required().map(Some)
            } else {
                source.str()
            };
            match text {
                Ok(Some(text)) => presets::parse(&source.file, text, problems).apply_to(&mut vocab),
                Ok(None) => {}
                Err(p) => problems.push(p),
            }
        }
        vocab
    }

    /// The whole configuration, or every problem found in it.
    pub fn config(&self) -> Result<Config, Problems> {
        let mut problems = Vec::new();
        let vocab = self.vocabulary(&mut problems);
        match self.conf.required() {
            Ok(text) => valid(
                from_text(&self.conf.file, text, &vocab, &mut problems),
                problems,
            ),
            Err(p) => {
                problems.push(p);
                sort(&mut problems);
                Err(Problems(problems))
            }
        }
    }

    /// Every problem in amocrm.conf and the presets (and, read from the panel's files,
    /// amocrm.conf's permissions), by file and line: what `amocrm check` reports.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let vocab = self.vocabulary(&mut problems);
        match self.conf.required() {
            Ok(text) => {
                from_text(&self.conf.file, text, &vocab, &mut problems);
            }
            Err(p) => problems.push(p),
        }
        if self.on_disk {
            check_mode(&self.conf.file, &mut problems);
        }
        sort(&mut problems);
        problems
    }

    /// What the panel hook needs: `[database]` and `[sync] enabled`, and only the problems
    /// of those (the rest are `amocrm check`'s). No amocrm.conf gives the defaults: the
    /// hook must keep queueing before the module is configured.
    pub fn hook(&self) -> Result<LightConfig, Problems> {
        let text = match self.conf.str() {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(LightConfig::default()),
            Err(p) => return Err(Problems(vec![p])),
        };
        let file = &self.conf.file;
        let doc = ini_file::parse(file, text, &mut Vec::new());
        let mut problems = Vec::new();
        let mut r = Report {
            file,
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

    /// What the amoCRM client needs: `[auth]` and `[sync] rate_limit`, read even while the
    /// rules are broken (the rules screen reads amoCRM's fields meanwhile).
    pub fn auth(&self) -> Result<(AuthConfig, f64), Problems> {
        let file = &self.conf.file;
        let text = self.conf.required().map_err(|p| Problems(vec![p]))?;
        let doc = ini_file::parse(file, text, &mut Vec::new());
        let mut problems = Vec::new();
        let mut r = Report {
            file,
            problems: &mut problems,
        };
        let auth_line = (doc.sections.iter())
            .find(|(s, _)| s == "auth")
            .map_or(0, |(_, l)| *l);
        if auth_line == 0 {
            r.at(
                0,
                ProblemKind::Section("auth".into()),
                "there is no [auth] section",
            );
        }
        let auth = settings::auth(&doc, &mut r, auth_line);
        let mut ignored = Report {
            file,
            problems: &mut Vec::new(),
        };
        let rate = settings::sync(&doc, &mut ignored).rate_limit;
        if problems.is_empty() {
            Ok((auth, rate))
        } else {
            Err(Problems(problems))
        }
    }

    /// amocrm.conf's settings as written, line by line (a broken line elsewhere does not
    /// hide the rest; bytes that are not UTF-8 are replaced); none without the file.
    pub fn values(&self) -> Result<ConfValues, Problem> {
        let text = match &self.conf.bytes {
            Ok(Some(bytes)) => String::from_utf8_lossy(bytes),
            Ok(None) => return Ok(ConfValues::default()),
            Err(why) => return Err(whole_file(&self.conf.file, why.clone())),
        };
        let doc = ini_file::parse(&self.conf.file, &text, &mut Vec::new());
        Ok(ConfValues {
            entries: (doc.entries.into_iter())
                .map(|e| (e.section, e.key, settings::unquote(&e.value)))
                .collect(),
        })
    }

    /// The problems with the shape of amocrm.conf (sections, `key = value` lines,
    /// characters), before any setting or rule is read.
    pub fn shape_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        match self.conf.str() {
            Ok(Some(text)) => {
                ini_file::parse(&self.conf.file, text, &mut problems);
            }
            Ok(None) => {}
            Err(p) => problems.push(p),
        }
        problems
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
        r.at(0, ProblemKind::Section("auth".into()), "there is no [auth] section: add url, client_id, client_secret and redirect_uri of the amoCRM integration");
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
                ProblemKind::Section(name.clone()),
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
            r.entry(
                e,
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
            column: 0,
            kind: ProblemKind::File,
            message: format!(
                "is accessible to group or others (mode {mode:04o}) but holds the client secret: run chmod 600 {}",
                file.display()
            ),
        });
    }
}

/// A file that is not UTF-8 (saved in cp1251, or damaged): the line and column of the
/// first byte that is not, as for any other problem.
fn not_utf8(file: &Path, bytes: &[u8], bad: std::str::Utf8Error) -> Problem {
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
    Problem {
        file: file.to_path_buf(),
        line: 1 + before.iter().filter(|b| **b == b'\n').count(),
        column,
        kind: ProblemKind::File,
        message: format!(
            "column {column}: byte 0x{:02X} is not UTF-8 text: save the file as UTF-8",
            bytes.get(at).copied().unwrap_or(0)
        ),
    }
}

fn whole_file(file: &Path, message: String) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        kind: ProblemKind::File,
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
        let from_text = Sources::texts(&sample, &presets, None)
            .config()
            .expect("sample loads");
        let from_files = Sources::read(&paths).config().expect("sample loads");
        assert_eq!(from_text.sync, from_files.sync);
        assert_eq!(from_text.auth, from_files.auth);
        let broken = "[sync]\nbatch_size = 0\n";
        let problems = Sources::texts(broken, &presets, Some("value x = nowhere.x text"))
            .config()
            .unwrap_err();
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
        assert_eq!(
            Sources::texts(broken, "", None)
                .values()
                .expect("values")
                .get("sync", "batch_size"),
            Some("0")
        );
    }

    #[test]
    fn each_problem_says_where_it_is() {
        let presets = include_str!("../../etc/presets.default");
        let conf = "[auth]\nurl = https://a.amocrm.ru\nclient_id = i\nclient_secret = s\n\
                    redirect_uri = https://b.example/\n[colours]\nred = 1\n[tags.lead]\n\
                    vds = item.itemtyp = vds\nnot a line\n";
        let problems = Sources::texts(conf, presets, None).problems();
        let kinds: Vec<(usize, usize, ProblemKind)> = (problems.iter())
            .map(|p| (p.line, p.column, p.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (6, 0, ProblemKind::Section("colours".into())),
                (9, 7, ProblemKind::entry("tags.lead", "vds")),
                (10, 0, ProblemKind::Line),
            ],
            "{problems:#?}"
        );
        let not_text = Source {
            file: "amocrm.conf".into(),
            bytes: Ok(Some(b"[sync]\nbatch_size = 5\xff\n".to_vec())),
        };
        let p = not_text.str().unwrap_err();
        assert_eq!((p.line, p.column, p.kind), (2, 15, ProblemKind::File));
    }

    #[test]
    fn the_shipped_sample_loads_and_its_rules_work() {
        let (_dir, paths) = root(None);
        assert_eq!(
            messages(&Sources::read(&paths).problems()),
            Vec::<String>::new()
        );
        let config = Sources::read(&paths).config().expect("sample loads");
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
        let config = Sources::read(&paths)
            .config()
            .unwrap_or_else(|p| panic!("{p}"));
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
        let config = Sources::read(&paths)
            .config()
            .unwrap_or_else(|p| panic!("{p}"));
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
        let problems = Sources::read(&paths).problems();
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
        assert!(
            matches!(Sources::read(&paths).config(), Err(Problems(p)) if p.len() == expect.len())
        );
    }

    #[test]
    fn presets_custom_adds_values_and_overrides() {
        let conf = "[auth]\nurl = http://127.0.0.1:9/\nclient_id = i\nclient_secret = s\nredirect_uri = https://b.example/\n\
                    [conditions]\nitem = item.ip starts_with \"203.\" and item.cost > 100\n[fields.lead]\n1 = item.ip\n";
        let (_dir, paths) = root(Some(conf));
        let problems = Sources::read(&paths).problems();
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
        let config = Sources::read(&paths)
            .config()
            .expect("loads with the custom value");
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
        let got = messages(&Sources::read(&paths).problems());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(|m| m.contains("not found")));
        assert_eq!(
            Sources::read_conf(&paths).hook(),
            Ok(LightConfig::default())
        );
    }

    #[test]
    fn the_hook_reads_only_what_it_needs() {
        // A broken rule elsewhere does not stop the hook; the stop switch and database do count.
        let conf = "[database]\ndriver = sqlite\npath = var/x.db\n[sync]\nenabled = no\nbatch_size = 999\n[tags.lead]\nx = nonsense (\n";
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.etc_dir()).expect("mkdir");
        std::fs::write(paths.conf(), conf).expect("conf");
        let light = Sources::read_conf(&paths).hook().expect("light load");
        assert!(!light.sync_enabled);
        assert_eq!(light.database.path.as_deref(), Some("var/x.db"));
        std::fs::write(paths.conf(), "[database]\ndriver = oracle\n").expect("conf");
        let err = Sources::read_conf(&paths).hook().expect_err("bad driver");
        assert_eq!(err.0[0].line, 2);
    }

    #[test]
    fn values_are_read_as_written_despite_problems_elsewhere() {
        let conf = "[auth]\nurl = https://a.amocrm.ru ; ours\nclient_secret = \"s;x\"\n[sync]\nbatch_size = 999\ndedup =\n[tags.lead]\nx = nonsense (\n[broken\n";
        let (_dir, paths) = root(Some(conf));
        let v = Sources::read_conf(&paths).values().expect("values");
        assert_eq!(v.get("auth", "url"), Some("https://a.amocrm.ru"));
        assert_eq!(v.get("auth", "client_secret"), Some("s;x"));
        assert_eq!(v.get("sync", "batch_size"), Some("999"));
        assert_eq!(v.get("sync", "dedup"), Some(""));
        assert_eq!(v.get("sync", "update"), None);
        std::fs::remove_file(paths.conf()).expect("rm");
        assert_eq!(
            Sources::read_conf(&paths)
                .values()
                .expect("none")
                .get("auth", "url"),
            None
        );
    }

    #[test]
    fn a_conf_readable_by_others_is_a_problem() {
        let (_dir, paths) = root(None);
        std::fs::set_permissions(paths.conf(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let got = messages(&Sources::read(&paths).problems());
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("mode 0644") && got[0].contains("chmod 600"),
            "{}",
            got[0]
        );
        assert!(
            Sources::read(&paths).config().is_ok(),
            "permissions are for check to report"
        );
    }
}
