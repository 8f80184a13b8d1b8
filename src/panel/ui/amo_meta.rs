//! amoCRM's custom fields and pipelines as the rules screens offer them by name: read
//! from the live account with the module's client and kept in `var/amocrm_meta.json` for
//! a few minutes, so that opening a form again costs no request. The functions here are
//! the only ones of the panel screens that talk to amoCRM.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::amo::{AmoClient, ClientOptions};
use crate::paths::Paths;

/// How long what was read stays good for the forms.
pub const FRESH_SECS: i64 = 300;

/// A form waits at most this long to learn that amoCRM cannot be reached, instead of
/// trying each request again.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Each amoCRM request of a form: short, the admin is waiting.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub is_main: bool,
    pub statuses: Vec<Status>,
}

/// What was read from one account, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub fetched_at: i64,
    /// `[auth] url` it was read from: another account's names are never shown.
    pub url: String,
    pub contact: Vec<Field>,
    pub company: Vec<Field>,
    pub lead: Vec<Field>,
    pub pipelines: Vec<Pipeline>,
}

impl Meta {
    /// The custom fields of `entity` (`contact`, `company`, `lead`).
    pub fn fields(&self, entity: &str) -> &[Field] {
        match entity {
            "contact" => &self.contact,
            "company" => &self.company,
            "lead" => &self.lead,
            _ => &[],
        }
    }

    /// The field a `[fields.*]` key names: a numeric id, or a code such as `EMAIL`.
    pub fn field(&self, entity: &str, key: &str) -> Option<&Field> {
        let fields = self.fields(entity);
        match key.parse::<i64>() {
            Ok(id) => fields.iter().find(|f| f.id == id),
            Err(_) => fields.iter().find(|f| {
                f.code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(key))
            }),
        }
    }

    pub fn pipeline(&self, id: i64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }
}

/// What a form gets: the names (fresh, or older ones when amoCRM cannot be read now) and
/// why they could not be read now, if so.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub meta: Option<Meta>,
    pub problem: Option<String>,
}

fn cache_file(paths: &Paths) -> PathBuf {
    paths.var_dir().join("amocrm_meta.json")
}

/// The account's address as amocrm.conf names it now.
fn current_url(paths: &Paths) -> Option<String> {
    crate::config::load_auth(paths)
        .ok()
        .map(|(auth, _)| auth.url)
}

fn read_cache(paths: &Paths) -> Option<Meta> {
    let text = std::fs::read_to_string(cache_file(paths)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The names last read from this account, however old; no request. For the list, which
/// only labels ids with them.
pub fn cached(paths: &Paths) -> Option<Meta> {
    let url = current_url(paths)?;
    read_cache(paths).filter(|m| m.url == url)
}

/// The names for a form: from the cache when read less than [`FRESH_SECS`] ago, else
/// from amoCRM now (and cached). When amoCRM cannot be read, older names of the same
/// account if there are any, and the reason.
pub fn load(paths: &Paths) -> Loaded {
    let now = crate::log::now();
    let url = current_url(paths);
    let cached = read_cache(paths).filter(|m| Some(&m.url) == url.as_ref());
    if let Some(m) = &cached
        && (0..FRESH_SECS).contains(&(now - m.fetched_at))
    {
        return Loaded {
            meta: cached,
            problem: None,
        };
    }
    match fetch(paths, now) {
        Ok(meta) => {
            if let Err(e) = store(paths, &meta) {
                log::warn!("cannot write {}: {e}", cache_file(paths).display());
            }
            Loaded {
                meta: Some(meta),
                problem: None,
            }
        }
        Err(why) => {
            log::warn!("amoCRM fields and pipelines could not be read: {why}");
            Loaded {
                meta: cached,
                problem: Some(why),
            }
        }
    }
}

fn fetch(paths: &Paths, now: i64) -> Result<Meta, String> {
    let (auth, rate) = crate::config::load_auth(paths).map_err(|p| p.to_string())?;
    probe(&auth.url)?;
    let opts = ClientOptions {
        rate_limit: rate,
        timeout: REQUEST_TIMEOUT,
    };
    let mut client = AmoClient::new(&auth, opts, paths).map_err(|e| e.to_string())?;
    // One retry: the admin is waiting at the form, which works without the names.
    client.set_attempts(2);
    let mut fields = |entity: &str| -> Result<Vec<Field>, String> {
        Ok(client
            .custom_fields(entity)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| Field {
                id: f.id,
                name: f.name,
                code: f.code,
            })
            .collect())
    };
    let contact = fields("contacts")?;
    let company = fields("companies")?;
    let lead = fields("leads")?;
    let pipelines = client
        .pipelines()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|p| Pipeline {
            id: p.id,
            name: p.name,
            is_main: p.is_main,
            statuses: p
                .statuses
                .into_iter()
                .map(|s| Status {
                    id: s.id,
                    name: s.name,
                })
                .collect(),
        })
        .collect();
    Ok(Meta {
        fetched_at: now,
        url: auth.url,
        contact,
        company,
        lead,
        pipelines,
    })
}

/// One TCP connection to the account's host, so that a form learns within seconds that
/// amoCRM is unreachable instead of waiting out the client's retries.
fn probe(url: &str) -> Result<(), String> {
    let (default_port, rest) = if let Some(r) = url.strip_prefix("https://") {
        (443, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (80, r)
    } else {
        return Err(format!("[auth] url '{url}' is not an http(s) address"));
    };
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let has_port = !host_port.ends_with(']')
        && host_port
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let target = if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    };
    let addrs = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host_port}: {e}"))?;
    let mut last = format!("{host_port} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("cannot connect to {host_port}: {e}"),
        }
    }
    Err(last)
}

/// Written beside the cache and renamed over it: a reader never sees half a file.
fn store(paths: &Paths, meta: &Meta) -> std::io::Result<()> {
    let file = cache_file(paths);
    let dir = paths.var_dir();
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!(".amocrm_meta.json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string(meta)?.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            fetched_at: 1,
            url: "http://127.0.0.1:1".into(),
            contact: vec![
                Field {
                    id: 810002,
                    name: "Email".into(),
                    code: Some("EMAIL".into()),
                },
                Field {
                    id: 812345,
                    name: "client id".into(),
                    code: None,
                },
            ],
            company: vec![],
            lead: vec![],
            pipelines: vec![Pipeline {
                id: 7,
                name: "Sales".into(),
                is_main: true,
                statuses: vec![Status {
                    id: 70,
                    name: "New".into(),
                }],
            }],
        }
    }

    #[test]
    fn fields_are_found_by_id_or_code() {
        let m = meta();
        assert_eq!(
            m.field("contact", "812345").map(|f| f.name.as_str()),
            Some("client id")
        );
        assert_eq!(m.field("contact", "email").map(|f| f.id), Some(810002));
        assert_eq!(m.field("lead", "812345"), None);
        assert_eq!(m.field("deal", "1"), None);
        assert_eq!(m.pipeline(7).map(|p| p.statuses.len()), Some(1));
    }

    #[test]
    fn the_cache_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        store(&paths, &meta()).unwrap();
        assert_eq!(read_cache(&paths), Some(meta()));
        let names: Vec<_> = std::fs::read_dir(paths.var_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["amocrm_meta.json".to_string()]);
    }

    #[test]
    fn an_unreachable_host_is_known_at_once() {
        // Port 1 on loopback refuses at once.
        let err = probe("http://127.0.0.1:1").unwrap_err();
        assert!(err.starts_with("cannot connect to 127.0.0.1:1"), "{err}");
        assert!(probe("ftp://x").is_err());
    }
}
