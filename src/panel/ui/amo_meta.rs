//! amoCRM's custom fields, pipelines and users as the rules screens offer them by name: read
//! from the live account with the module's client and kept in `var/amocrm_meta.json` for
//! a few minutes, so that opening a form again costs no request. The functions here are
//! the only ones of the panel screens that talk to amoCRM.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::amo::{AccountMeta, AmoClient, ClientOptions, CustomField, Pipeline};
use crate::paths::Paths;

/// A form waits at most this long to learn that amoCRM cannot be reached, instead of
/// trying each request again.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Each amoCRM request of a form: short, the admin is waiting.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The account's fields and pipelines as the forms look them up: by the rules' entity
/// names (`contact`, `company`, `lead`) and by a `[fields.*]` key.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta(pub AccountMeta);

impl std::ops::Deref for Meta {
    type Target = AccountMeta;
    fn deref(&self) -> &AccountMeta {
        &self.0
    }
}

impl Meta {
    /// The custom fields of `entity` (`contact`, `company`, `lead`).
    pub fn fields(&self, entity: &str) -> &[CustomField] {
        match entity {
            "contact" => self.0.fields_of("contacts"),
            "company" => self.0.fields_of("companies"),
            "lead" => self.0.fields_of("leads"),
            _ => &[],
        }
    }

    /// The field a `[fields.*]` key names: a numeric id, or a code such as `EMAIL`.
    pub fn field(&self, entity: &str, key: &str) -> Option<&CustomField> {
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

/// The account's address as amocrm.conf names it now.
fn current_url(paths: &Paths) -> Option<String> {
    crate::config::Sources::read_conf(paths)
        .auth()
        .ok()
        .map(|(auth, _)| auth.url)
}

/// The names last read from this account, however old; no request. For the list, which
/// only labels ids with them.
pub fn cached(paths: &Paths) -> Option<Meta> {
    AccountMeta::kept(paths, &current_url(paths)?).map(Meta)
}

/// The names for a form: as kept when read less than five minutes ago (by a form, or by
/// the worker when it read the users too), else from amoCRM now (and kept). When amoCRM
/// cannot be read, older names of the same account if there are any, and the reason.
pub fn load(paths: &Paths) -> Loaded {
    let now = crate::log::now();
    let kept = current_url(paths).and_then(|url| AccountMeta::kept(paths, &url));
    if let Some(m) = (kept.as_ref()).filter(|m| m.is_fresh(now) && m.users.is_some()) {
        return Loaded {
            meta: Some(Meta(m.clone())),
            problem: None,
        };
    }
    match fetch(paths, now) {
        Ok(meta) => {
            meta.keep(paths);
            Loaded {
                meta: Some(Meta(meta)),
                problem: None,
            }
        }
        Err(why) => {
            log::warn!("amoCRM fields and pipelines could not be read: {why}");
            Loaded {
                meta: kept.map(Meta),
                problem: Some(why),
            }
        }
    }
}

fn fetch(paths: &Paths, now: i64) -> Result<AccountMeta, String> {
    let (auth, rate) = crate::config::Sources::read_conf(paths)
        .auth()
        .map_err(|p| p.to_string())?;
    probe(&auth.url)?;
    let opts = ClientOptions {
        rate_limit: rate,
        timeout: REQUEST_TIMEOUT,
        ..ClientOptions::default()
    };
    let mut client = AmoClient::new(&auth, opts, paths).map_err(|e| e.to_string())?;
    // One retry: the admin is waiting at the form, which works without the names.
    client.set_attempts(2);
    let mut meta = AccountMeta::fetch(&mut client, &auth.url, now).map_err(|e| e.to_string())?;
    // The responsible rules' select offers them; one more request.
    meta.read_users(&mut client).map_err(|e| e.to_string())?;
    Ok(meta)
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::amo::PipelineStatus;

    fn field(id: i64, name: &str, code: Option<&str>) -> CustomField {
        CustomField {
            id,
            name: name.into(),
            code: code.map(str::to_string),
            field_type: "text".into(),
            enums: vec![],
        }
    }

    fn meta() -> Meta {
        let contacts = vec![
            field(810002, "Email", Some("EMAIL")),
            field(812345, "client id", None),
        ];
        Meta(AccountMeta {
            fetched_at: 1,
            url: "http://127.0.0.1:1".into(),
            fields: [("contacts".to_string(), contacts)].into(),
            pipelines: vec![Pipeline {
                id: 7,
                name: "Sales".into(),
                is_main: true,
                statuses: vec![PipelineStatus {
                    id: 70,
                    name: "New".into(),
                }],
            }],
            users: None,
        })
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
    fn an_unreachable_host_is_known_at_once() {
        // Port 1 on loopback refuses at once.
        let err = probe("http://127.0.0.1:1").unwrap_err();
        assert!(err.starts_with("cannot connect to 127.0.0.1:1"), "{err}");
        assert!(probe("ftp://x").is_err());
    }
}
