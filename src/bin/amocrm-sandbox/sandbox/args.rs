//! The command line of `amocrm-sandbox`.

use std::time::Duration;

use super::seed;
use super::server::Options;
use crate::secret::Secret;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Run(Options),
    /// `show URL`: print what a running sandbox holds.
    Show(String),
    /// `load URL REQUESTS THREADS`: measure a running, unlimited sandbox.
    Load {
        url: String,
        requests: usize,
        threads: usize,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("unknown option {0}")]
    Unknown(String),
    #[error("{0} needs a value")]
    Missing(String),
    #[error("{flag} takes {expected}, not {value:?}")]
    Invalid {
        flag: String,
        expected: &'static str,
        value: String,
    },
}

pub const HELP: &str = "\
amocrm-sandbox: a stand-in amoCRM account on one port, for tests and the demo.

Usage: amocrm-sandbox --listen ADDR [OPTIONS]
       amocrm-sandbox show URL     print the contacts, companies and leads a running
                                   sandbox at URL holds
       amocrm-sandbox load URL N T send N requests from T connections to a running
                                   sandbox started with --rate 0 and the default
                                   integration; print requests a second

Prints its base URL (http://127.0.0.1:PORT) as the first line of standard output once it
accepts connections. Stops cleanly, exit 0, on SIGTERM or SIGINT.

Options:
  --listen ADDR            address to listen on; 127.0.0.1:0 takes a free port (default)
  --client-id ID           the integration's ID (default sandbox-client)
  --client-secret S        the integration's secret key (default sandbox-secret)
  --redirect-uri U         the integration's redirect URI
                           (default https://billing.example.com/billmgr)
  --code C                 a one-time authorization code, valid once, for 20 minutes from
                           start (default: none; POST /_sandbox/code makes more)
  --code-lifetime SECS     how long authorization codes stay valid (default 1200)
  --rate N                 API requests (/oauth2 and /api) allowed in any one-second window;
                           more get 429 (default 7; 0 = no limit)
  --token-lifetime SECS    access token lifetime (default 86400)
  --block-after N          sustained overrun: after N requests refused with 429 within
                           --block-window, every request gets 403 for --block-seconds,
                           as amoCRM blocks a client (default 30; 0 = never block)
  --block-window SECS      the window the refusals are counted in (default 60)
  --block-seconds SECS     how long a block lasts (default 60)
  --html-limit-pages       429 and 403 answers carry an HTML page instead of problem JSON,
                           as amoCRM's front servers sometimes answer
  --seed default|none|FILE.json
                           start state (default: default)
                             default: account 28805383, pipelines 7000001 \"Хостинг\" (main;
                               statuses 7000100, 7000101, 7000102, 142, 143) and 7000002
                               \"Домены\" (7000200, 142, 143); contact fields 810001 PHONE,
                               810002 EMAIL, 812345 numeric, 812346 select (1, 2), 812347
                               text; company fields 810101 PHONE, 810102 EMAIL, 815001,
                               815002 text, 815003 numeric; lead fields 816001 text, 816002
                               date, 816003 select, 816004 numeric, 816005 checkbox
                             none: the account and pipeline 7000001 (7000100, 142, 143)
                           both have users 504141 (the user who authorized the integration,
                           admin), 504142 manager1@example.com, 504143 manager2@example.com
                           (active) and 504144 former@example.com (deactivated)
  -h, --help               this text

API (as amoCRM's v4): POST /oauth2/access_token; /api/v4/account; /api/v4/{contacts,
companies,leads} (GET, POST, PATCH), /{id}, /custom_fields, /tags, /link, /unlink,
/{id}/link, /{id}/unlink, /{id}/links; /api/v4/leads/pipelines[/{id}];
GET /api/v4/events (newest first, at most 100 a page, 204 when none:
filter[type][]=contact_deleted|company_deleted|lead_deleted|entity_merged,
filter[entity][]=contact|company|lead, filter[entity_id][] (at most 10, one entity),
filter[created_at][from]=T, filter[created_at][to]=T, filter[id][]);
GET /api/v4/users[/{id}];
/api/v4/tasks (GET, POST, PATCH), GET /api/v4/tasks/{id}; GET filters
filter[entity_type], filter[entity_id][], filter[is_completed]=0|1,
filter[responsible_user_id][], filter[id][];
/api/v4/{contacts,companies,leads}/notes (GET, POST, PATCH), /notes/{id},
/{id}/notes (GET, POST, PATCH), /{id}/notes/{note_id}; GET filters filter[entity_id][],
filter[note_type][], filter[id][]; note_type common (params.text), service_message or
extended_service_message (params.service and params.text).

responsible_user_id (contacts, companies, leads, tasks, notes; create and update) must
name an active user: any other id is a 400 validation error, NotSupportedChoice on
responsible_user_id, and nothing of the request is applied. Without it, 504141.

An entity deleted or merged away (see /_sandbox/delete and /_sandbox/merge) is answered
as an unknown id: GET /{entity}/{id} 204, left out of lists and filter[id][]; a PATCH
naming it is a 400 validation error for that item, code NotFound on \"id\" [guess: amoCRM's
reference does not say]; a link or a new lead naming it, NotFound on that path.

Control (no authorization, no rate limit; errors are {\"error\": \"...\"} with 400):
  GET  /_sandbox/state      the whole account as JSON (the seed file format, plus counts)
  GET  /_sandbox/requests   API calls in order: [{method, path, query, status, lost, at_ms}];
                            ?body=1 adds each /api/ call's JSON body; the log keeps the
                            last 200000 calls and the bodies of the last 5000
  POST /_sandbox/faults     replaces the faults in force ({} clears them):
                            {\"error_rate\": 0.15, \"error_statuses\": [500, 502, 504],
                             \"error_next\": N, \"lost_rate\": 0.1, \"lost_next\": N,
                             \"latency_ms\": N, \"outage_seconds\": N,
                             \"payment_required\": true, \"blocked_seconds\": N,
                             \"expire_tokens\": true, \"revoke_tokens\": true, \"seed\": N,
                             \"garbage_next\": N, \"garbage_kind\": \"mixed\",
                             \"garbage_path\": \"/api/v4/leads\"}
                            lost: applied, then the connection closes without an answer;
                            garbage: not applied, answered 200 with a body that is not
                            what the API documents; garbage_kind is text (not JSON), html
                            (a page), truncated (JSON cut off), no_embedded (JSON without
                            _embedded), no_ids (items without ids), or mixed (each in
                            turn; the default); garbage_path: only requests for exactly
                            this path (default: every API request);
                            outage: every API request is closed unanswered for N seconds;
                            blocked: every API and OAuth request gets 403 for N seconds,
                            as amoCRM blocks a client;
                            expire_tokens: every access token issued so far expires now;
                            revoke_tokens: every token issued so far, refresh tokens too,
                            stops working, as when the integration is disconnected (only
                            a new code from POST /_sandbox/code helps)
  GET  /_sandbox/faults     the faults in force
  POST /_sandbox/clock      moves the sandbox's clock ahead: {\"advance\": SECONDS}; token
                            and code expiry, outages, blocks and the rate window all read
                            it, so a test moves time instead of waiting; it never goes
                            back (reset keeps it); answers {\"now\": UNIX_SECONDS,
                            \"advanced\": SECONDS}, as GET /_sandbox/clock does; records'
                            created_at and the tokens' claims keep the real clock
  POST /_sandbox/reset      back to the seed's state; log and faults cleared; tokens kept
  POST /_sandbox/code       a new authorization code: {\"code\": \"...\"} (or one you give)
  POST /_sandbox/delete     a manager deletes entities: {\"entity\": \"contacts\", \"ids\": [..]};
                            their links go; a contact_deleted (company_deleted,
                            lead_deleted) event each
  POST /_sandbox/merge      a manager merges duplicates: {\"entity\": \"contacts\",
                            \"into\": A, \"from\": [B, ..]}; B's links move to A (a lead
                            B was the main contact of takes A; a contact keeps one
                            company, A's if it has one), A's field values stay, a field
                            A has no value in takes B's, phones and e-mails are pooled;
                            B is removed; one entity_merged event on A, value_before
                            [{\"entity\": {\"id\": B, \"type\": \"contact\"}}], value_after
                            [{\"entity\": {\"id\": A, ...}}] [guess: amoCRM does not
                            document these values]
                            Both do all or nothing: an unknown id changes nothing (400)
  POST /_sandbox/users      adds a user or changes one: {\"id\"?, \"name\", \"email\",
                            \"is_active\"?, \"is_admin\"?}; without an id (or with one the
                            account lacks) a new user, name and email required; with
                            an id, what is given changes (\"is_active\": false deactivates
                            a manager); answers the user as GET /api/v4/users/{id}

";

/// `--help` in full: the text above and the seed file's format.
pub fn help() -> String {
    format!("{HELP}{}\n", seed::FILE_FORMAT)
}

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    if let [cmd, url] = args
        && cmd == "show"
    {
        return Ok(Command::Show(url.clone()));
    }
    if let [cmd, url, requests, threads] = args
        && cmd == "load"
    {
        let count = |v: &String, what: &'static str| {
            v.parse::<usize>().map_err(|_| UsageError::Invalid {
                flag: "load".into(),
                expected: what,
                value: v.clone(),
            })
        };
        return Ok(Command::Load {
            url: url.clone(),
            requests: count(requests, "a number of requests")?,
            threads: count(threads, "a number of threads")?,
        });
    }
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        if flag == "--html-limit-pages" {
            o.html_limit_pages = true;
            continue;
        }
        let known = [
            "--listen",
            "--client-id",
            "--client-secret",
            "--redirect-uri",
            "--code",
            "--code-lifetime",
            "--rate",
            "--token-lifetime",
            "--seed",
            "--block-after",
            "--block-window",
            "--block-seconds",
        ];
        if !known.contains(&flag) {
            return Err(UsageError::Unknown(flag.to_string()));
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .ok_or_else(|| UsageError::Missing(flag.to_string()))?,
        };
        let number = |expected: &'static str| {
            value.parse::<u64>().map_err(|_| UsageError::Invalid {
                flag: flag.to_string(),
                expected,
                value: value.clone(),
            })
        };
        match flag {
            "--listen" => o.listen = value,
            "--client-id" => o.client_id = value,
            "--client-secret" => o.client_secret = Secret::new(value),
            "--redirect-uri" => o.redirect_uri = value,
            "--code" => o.code = Some(Secret::new(value)),
            "--code-lifetime" => o.code_lifetime = Duration::from_secs(number("seconds")?),
            "--rate" => {
                o.rate = u32::try_from(number("requests a second")?).map_err(|_| {
                    UsageError::Invalid {
                        flag: flag.into(),
                        expected: "requests a second",
                        value: value.clone(),
                    }
                })?
            }
            "--token-lifetime" => o.token_lifetime = Duration::from_secs(number("seconds")?),
            "--block-after" => {
                o.block.after = u32::try_from(number("a count")?).unwrap_or(u32::MAX)
            }
            "--block-window" => o.block.window = Duration::from_secs(number("seconds")?),
            "--block-seconds" => o.block.for_ = Duration::from_secs(number("seconds")?),
            _ => o.seed = seed::parse_arg(&value),
        }
    }
    Ok(Command::Run(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::seed::Seed;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_every_flag() {
        let Ok(Command::Run(o)) = parse(&args(&[
            "--listen",
            "127.0.0.1:9",
            "--rate=0",
            "--code",
            "c",
            "--token-lifetime",
            "5",
            "--seed",
            "none",
        ])) else {
            panic!("should parse");
        };
        assert_eq!(o.listen, "127.0.0.1:9");
        assert_eq!(o.rate, 0);
        assert_eq!(o.code.as_ref().map(|c| c.expose()), Some("c"));
        assert_eq!(o.token_lifetime, Duration::from_secs(5));
        assert_eq!(o.seed, Seed::None);
        assert_eq!(o.client_id, "sandbox-client");
    }

    #[test]
    fn refuses_bad_usage() {
        assert_eq!(
            parse(&args(&["--nope"])).err(),
            Some(UsageError::Unknown("--nope".into()))
        );
        assert_eq!(
            parse(&args(&["--rate"])).err(),
            Some(UsageError::Missing("--rate".into()))
        );
        assert!(matches!(
            parse(&args(&["--rate", "fast"])),
            Err(UsageError::Invalid { .. })
        ));
        assert!(matches!(parse(&args(&["-h"])), Ok(Command::Help)));
    }
}
