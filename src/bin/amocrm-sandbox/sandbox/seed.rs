//! What the account holds at start: the fixed default (whose ids the sample amocrm.conf and
//! the demo rely on), a bare account, or a JSON file in the shape `/_sandbox/state` answers.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::state::{
    ACCOUNT_ID, Account, Crm, EnumDef, FieldDef, Kind, LOST, Pipeline, Status, Tag, WON,
};
use super::write;

/// Where the start state comes from (`--seed`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seed {
    #[default]
    Default,
    None,
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "cannot read the seed file {path}: {source}; give an existing JSON file, or --seed default|none"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the seed file {path} is not valid: {reason}; see `amocrm-sandbox --help` for its format"
    )]
    Invalid { path: PathBuf, reason: String },
}

/// Builds the start state.
pub fn load(seed: &Seed) -> Result<Crm, SeedError> {
    match seed {
        Seed::Default => Ok(default_crm()),
        Seed::None => Ok(none_crm()),
        Seed::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
                path: path.clone(),
                source,
            })?;
            from_json(&text).map_err(|reason| SeedError::Invalid {
                path: path.clone(),
                reason,
            })
        }
    }
}

fn account() -> Account {
    Account {
        id: ACCOUNT_ID,
        name: "Sandbox".into(),
        subdomain: "sandbox".into(),
    }
}

fn status(id: u64, name: &str, sort: i64) -> Status {
    Status {
        id,
        name: name.into(),
        sort,
        kind: 0,
    }
}

fn closing_statuses() -> [Status; 2] {
    [
        status(WON, "Успешно реализовано", 10000),
        status(LOST, "Закрыто и не реализовано", 11000),
    ]
}

/// `--seed none`: the account and one main pipeline with an open status, won and lost.
pub fn none_crm() -> Crm {
    let mut crm = Crm::new(account());
    let mut statuses = vec![status(7000100, "Первичный контакт", 10)];
    statuses.extend(closing_statuses());
    crm.pipelines.push(Pipeline {
        id: 7000001,
        name: "Воронка".into(),
        sort: 1,
        is_main: true,
        is_archive: false,
        statuses,
    });
    crm
}

fn multitext(id: u64, name: &str, code: &str, enums: &[(u64, &str)]) -> FieldDef {
    FieldDef {
        id,
        name: name.into(),
        field_type: "multitext".into(),
        code: Some(code.into()),
        sort: 4,
        enums: enums
            .iter()
            .enumerate()
            .map(|(i, (id, v))| EnumDef {
                id: *id,
                value: (*v).into(),
                sort: 2 * (i as i64 + 1),
                code: None,
            })
            .collect(),
    }
}

fn plain(id: u64, name: &str, field_type: &str, sort: i64) -> FieldDef {
    FieldDef {
        id,
        name: name.into(),
        field_type: field_type.into(),
        code: None,
        sort,
        enums: Vec::new(),
    }
}

fn select(id: u64, name: &str, sort: i64, enums: &[(u64, &str)]) -> FieldDef {
    FieldDef {
        enums: enums
            .iter()
            .enumerate()
            .map(|(i, (id, v))| EnumDef {
                id: *id,
                value: (*v).into(),
                sort: 500 + i as i64,
                code: None,
            })
            .collect(),
        ..plain(id, name, "select", sort)
    }
}

const PHONE_ENUMS: [&str; 6] = ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"];
const EMAIL_ENUMS: [&str; 3] = ["WORK", "PRIV", "OTHER"];

fn phone_email(phone_id: u64, email_id: u64, enum_base: u64) -> [FieldDef; 2] {
    let phones: Vec<(u64, &str)> = PHONE_ENUMS
        .iter()
        .enumerate()
        .map(|(i, v)| (enum_base + i as u64, *v))
        .collect();
    let emails: Vec<(u64, &str)> = EMAIL_ENUMS
        .iter()
        .enumerate()
        .map(|(i, v)| (enum_base + 10 + i as u64, *v))
        .collect();
    [
        multitext(phone_id, "Телефон", "PHONE", &phones),
        multitext(email_id, "Email", "EMAIL", &emails),
    ]
}

/// `--seed default`: the ids the sample configuration and the demo use.
pub fn default_crm() -> Crm {
    let mut crm = Crm::new(account());
    let mut hosting = vec![
        status(7000100, "Новая услуга", 10),
        status(7000101, "VDS", 20),
        status(7000102, "Приостановлена", 30),
    ];
    hosting.extend(closing_statuses());
    let mut domains = vec![status(7000200, "Новый домен", 10)];
    domains.extend(closing_statuses());
    crm.pipelines = vec![
        Pipeline {
            id: 7000001,
            name: "Хостинг".into(),
            sort: 1,
            is_main: true,
            is_archive: false,
            statuses: hosting,
        },
        Pipeline {
            id: 7000002,
            name: "Домены".into(),
            sort: 2,
            is_main: false,
            is_archive: false,
            statuses: domains,
        },
    ];
    let mut contacts = phone_email(810001, 810002, 900001).to_vec();
    contacts.extend([
        plain(812345, "ID клиента в BILLmanager", "numeric", 510),
        select(812346, "Проект", 511, &[(1, "ХостКом"), (2, "HostCom EU")]),
        plain(812347, "Страна", "text", 512),
    ]);
    let mut companies = phone_email(810101, 810102, 900101).to_vec();
    companies.extend([
        plain(815001, "ИНН", "text", 510),
        plain(815002, "КПП", "text", 511),
        plain(815003, "ID плательщика", "numeric", 512),
    ]);
    let leads = vec![
        plain(816001, "Тариф", "text", 510),
        plain(816002, "Оплачено до", "date", 511),
        select(
            816003,
            "Тип услуги",
            512,
            &[(901001, "vds"), (901002, "vhost"), (901003, "domain")],
        ),
        plain(816004, "ID услуги", "numeric", 513),
        plain(816005, "Автопродление", "checkbox", 514),
    ];
    crm.fields = [contacts, companies, leads];
    crm
}

#[derive(Deserialize)]
struct FileSeed {
    #[serde(default)]
    base: Option<String>,
    account: Option<FileAccount>,
    pipelines: Option<Vec<FilePipeline>>,
    custom_fields: Option<PerKind<FileField>>,
    tags: Option<PerKind<FileTag>>,
    #[serde(default)]
    users: Vec<Value>,
    #[serde(default)]
    contacts: Vec<Value>,
    #[serde(default)]
    companies: Vec<Value>,
    #[serde(default)]
    leads: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct PerKind<T> {
    #[serde(default)]
    contacts: Vec<T>,
    #[serde(default)]
    companies: Vec<T>,
    #[serde(default)]
    leads: Vec<T>,
}

#[derive(Deserialize)]
struct FileAccount {
    id: Option<u64>,
    name: Option<String>,
    subdomain: Option<String>,
}

#[derive(Deserialize)]
struct FilePipeline {
    id: u64,
    name: String,
    #[serde(default)]
    sort: i64,
    #[serde(default)]
    is_main: bool,
    #[serde(default)]
    is_archive: bool,
    #[serde(default)]
    statuses: Vec<FileStatus>,
    #[serde(rename = "_embedded")]
    embedded: Option<FileStatuses>,
}

#[derive(Deserialize)]
struct FileStatuses {
    #[serde(default)]
    statuses: Vec<FileStatus>,
}

#[derive(Deserialize)]
struct FileStatus {
    id: u64,
    name: String,
    #[serde(default)]
    sort: i64,
    #[serde(default, rename = "type")]
    kind: i64,
}

#[derive(Deserialize)]
struct FileField {
    id: u64,
    name: String,
    #[serde(rename = "type")]
    field_type: String,
    code: Option<String>,
    #[serde(default)]
    sort: i64,
    #[serde(default)]
    enums: Option<Vec<FileEnum>>,
}

#[derive(Deserialize)]
struct FileEnum {
    id: u64,
    value: String,
    #[serde(default)]
    sort: i64,
    code: Option<String>,
}

#[derive(Deserialize)]
struct FileTag {
    id: u64,
    name: String,
}

/// A seed file: `base` (`none` by default, or `default`) and then what the file adds or replaces.
pub fn from_json(text: &str) -> Result<Crm, String> {
    let seed: FileSeed = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut crm = match seed.base.as_deref() {
        None | Some("none") => none_crm(),
        Some("default") => default_crm(),
        Some(other) => return Err(format!("base {other:?} is not \"default\" or \"none\"")),
    };
    if let Some(a) = seed.account {
        crm.account.id = a.id.unwrap_or(crm.account.id);
        crm.account.name = a.name.unwrap_or(crm.account.name);
        crm.account.subdomain = a.subdomain.unwrap_or(crm.account.subdomain);
    }
    if let Some(pipelines) = seed.pipelines {
        if pipelines.is_empty() {
            return Err("pipelines is empty; an account has at least one".into());
        }
        crm.pipelines = pipelines.into_iter().map(pipeline).collect();
        if !crm.pipelines.iter().any(|p| p.is_main) {
            crm.pipelines[0].is_main = true;
        }
    }
    if let Some(fields) = seed.custom_fields {
        crm.fields = [fields.contacts, fields.companies, fields.leads].map(|list| {
            list.into_iter()
                .map(|f| FieldDef {
                    id: f.id,
                    name: f.name,
                    field_type: f.field_type,
                    code: f.code,
                    sort: f.sort,
                    enums: f
                        .enums
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| EnumDef {
                            id: e.id,
                            value: e.value,
                            sort: e.sort,
                            code: e.code,
                        })
                        .collect(),
                })
                .collect()
        });
    }
    if let Some(tags) = seed.tags {
        for (kind, list) in Kind::ALL
            .into_iter()
            .zip([tags.contacts, tags.companies, tags.leads])
        {
            for t in list {
                crm.reserve_tag_id(t.id);
                crm.tags[kind.idx()].push(Tag {
                    id: t.id,
                    name: t.name,
                });
            }
        }
    }
    // Users before entities: an entity's responsible user must be one of them.
    for u in seed.users {
        super::people::upsert(&mut crm, u).map_err(|e| format!("users: {e}"))?;
    }
    // Companies first, so contacts and leads can link to them; contacts before leads.
    for (kind, items) in [
        (Kind::Companies, seed.companies),
        (Kind::Contacts, seed.contacts),
        (Kind::Leads, seed.leads),
    ] {
        if items.is_empty() {
            continue;
        }
        write::create(&mut crm, kind, &items, true).map_err(|errors| {
            format!(
                "{}: {}",
                kind.segment(),
                errors
                    .iter()
                    .flat_map(|(rid, errs)| errs
                        .iter()
                        .map(move |e| format!("item {rid} {}: {}", e.path, e.detail)))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
    }
    Ok(crm)
}

fn pipeline(p: FilePipeline) -> Pipeline {
    let mut statuses: Vec<Status> = p
        .statuses
        .into_iter()
        .chain(p.embedded.map(|e| e.statuses).unwrap_or_default())
        .map(|s| Status {
            id: s.id,
            name: s.name,
            sort: s.sort,
            kind: s.kind,
        })
        .collect();
    for closing in closing_statuses() {
        if !statuses.iter().any(|s| s.id == closing.id) {
            statuses.push(closing);
        }
    }
    Pipeline {
        id: p.id,
        name: p.name,
        sort: p.sort,
        is_main: p.is_main,
        is_archive: p.is_archive,
        statuses,
    }
}

/// For `--help`: the seed file's format.
pub const FILE_FORMAT: &str = r#"A seed file is JSON; every key is optional:
  {"base": "default" | "none",          start from that seed (default: none)
   "account": {"id", "name", "subdomain"},
   "pipelines": [{"id", "name", "sort", "is_main",
                  "statuses": [{"id", "name", "sort"}]}],   142 and 143 are added
   "custom_fields": {"contacts"|"companies"|"leads":
                  [{"id", "name", "type", "code", "sort", "enums": [{"id", "value", "sort"}]}]},
   "tags": {"contacts"|"companies"|"leads": [{"id", "name"}]},
   "users": [{"id", "name", "email", "is_active", "is_admin"}],   added to the base's, or
                  changing one of them (every base has users 504141-504144)
   "companies": [...], "contacts": [...], "leads": [...]}
Entities are written as to the API, plus their "id" (e.g. what /_sandbox/state shows):
  {"id": 1001, "name": "Иван", "custom_fields_values": [{"field_code": "EMAIL",
   "values": [{"value": "ivan@example.com", "enum_code": "WORK"}]}],
   "_embedded": {"tags": [{"name": "vip"}], "companies": [{"id": 2001}]}}
pipelines, custom_fields and tags given replace the base's."#;

/// The seed file's path as given on the command line.
pub fn parse_arg(s: &str) -> Seed {
    match s {
        "default" => Seed::Default,
        "none" => Seed::None,
        path => Seed::File(Path::new(path).to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_seed_has_the_documented_ids() {
        let crm = default_crm();
        assert_eq!(crm.account.id, 28805383);
        let main = crm.main_pipeline().expect("main pipeline");
        assert_eq!(main.id, 7000001);
        assert!(main.has_status(7000102) && main.has_status(142) && main.has_status(143));
        assert!(crm.pipeline(7000002).expect("domains").has_status(7000200));
        assert_eq!(
            crm.field_by_code(Kind::Contacts, "PHONE").map(|f| f.id),
            Some(810001)
        );
        assert_eq!(
            crm.field_by_code(Kind::Companies, "EMAIL").map(|f| f.id),
            Some(810102)
        );
        for (kind, id) in [
            (Kind::Contacts, 812347),
            (Kind::Companies, 815003),
            (Kind::Leads, 816005),
        ] {
            assert!(crm.field_by_id(kind, id).is_some(), "{id}");
        }
    }

    #[test]
    fn a_file_seed_adds_entities_with_links() {
        let crm = from_json(
            r#"{"base": "default",
                "companies": [{"id": 2001, "name": "ООО Ромашка"}],
                "contacts": [{"id": 1001, "name": "Иван",
                   "custom_fields_values": [{"field_code": "EMAIL", "values": [{"value": "i@example.com", "enum_code": "WORK"}]}],
                   "_embedded": {"tags": [{"name": "vip"}], "companies": [{"id": 2001}]}}]}"#,
        )
        .expect("seed loads");
        let c = crm.entity(Kind::Contacts, 1001).expect("contact");
        assert_eq!(c.companies, vec![2001]);
        assert_eq!(crm.tags[Kind::Contacts.idx()][0].name, "vip");
        assert!(crm.field_by_id(Kind::Leads, 816001).is_some());
        // New ids never collide with seeded ones.
        let mut crm = crm;
        assert!(crm.new_id() > 2001);
    }

    #[test]
    fn a_bad_seed_says_what_is_wrong() {
        let err = from_json(r#"{"contacts": [{"id": 5, "custom_fields_values": [{"field_id": 1, "values": [{"value": "x"}]}]}]}"#)
            .expect_err("unknown field");
        assert!(err.contains("custom_fields_values.0.field_id"), "{err}");
        assert!(from_json(r#"{"base": "full"}"#).is_err());
    }
}
