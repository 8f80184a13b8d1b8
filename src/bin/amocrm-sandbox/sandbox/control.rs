//! `/_sandbox/*`: what tests and the demo use to look inside and to make trouble. No
//! authorization, no rate limit; errors are `{"error": "..."}` with 400.

use std::time::Instant;

use serde_json::{Value, json};

use super::faults::{Faults, RateLimiter};
use super::http::{Request, Response};
use super::render::{self, With};
use super::rng::Rng;
use super::state::Kind;
use super::world::{World, log_json};
use super::{notes, people, removal, tasks};
use crate::secret::Secret;

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "error": message }))
}

pub fn handle(w: &mut World, req: &Request, now: Instant) -> Response {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/_sandbox/state") => Response::json(200, &state(w, now)),
        ("GET", "/_sandbox/requests") => {
            let with_body = req
                .query_param("body")
                .is_some_and(|v| v == "1" || v == "true");
            Response::json(200, &log_json(&w.log, with_body))
        }
        ("GET", "/_sandbox/faults") => Response::json(200, &w.faults.to_json(now)),
        ("POST", "/_sandbox/faults") => match Faults::parse(&req.body, now) {
            Ok((faults, actions)) => {
                w.faults = faults;
                if actions.expire_tokens {
                    w.oauth.expire_all(now);
                }
                if actions.revoke_tokens {
                    w.oauth.revoke_all(now);
                }
                if let Some(seed) = actions.rng_seed {
                    w.rng = Rng::seeded(seed);
                }
                Response::json(200, &w.faults.to_json(now))
            }
            Err(e) => error(400, &e),
        },
        ("POST", "/_sandbox/reset") => {
            w.crm = w.pristine.clone();
            w.log.clear();
            w.faults = Faults::default();
            w.rate = RateLimiter::new(w.setup.rate, w.setup.block);
            Response::json(200, &json!({ "reset": true }))
        }
        ("GET", "/_sandbox/clock") => Response::json(200, &clock_json(w)),
        ("POST", "/_sandbox/clock") => match advance_by(&req.body) {
            Ok(by) => {
                w.advanced += by;
                Response::json(200, &clock_json(w))
            }
            Err(e) => error(400, &e),
        },
        ("POST", "/_sandbox/delete") => answer(removal::delete_call(&mut w.crm, &req.body)),
        ("POST", "/_sandbox/merge") => answer(removal::merge_call(&mut w.crm, &req.body)),
        ("POST", "/_sandbox/users") => answer(people::upsert_call(&mut w.crm, &req.body, &w.base)),
        ("POST", "/_sandbox/code") => {
            // A new one-time authorization code, as the account's "integration" page gives.
            let given = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string));
            let expires = now + w.setup.code_lifetime;
            let code = match given {
                Some(c) if !c.is_empty() => {
                    let c = Secret::new(c);
                    w.oauth.add_code(&c, expires);
                    c
                }
                _ => w.oauth.new_code(expires),
            };
            Response::json(
                200,
                &json!({ "code": code.expose(), "expires_in": w.setup.code_lifetime.as_secs() }),
            )
        }
        (
            _,
            "/_sandbox/state" | "/_sandbox/requests" | "/_sandbox/faults" | "/_sandbox/reset"
            | "/_sandbox/code" | "/_sandbox/delete" | "/_sandbox/merge" | "/_sandbox/users"
            | "/_sandbox/clock",
        ) => error(405, "method not allowed here; see amocrm-sandbox --help"),
        _ => error(
            404,
            "unknown control path; use /_sandbox/state, /requests, /faults, /reset, /code, \
             /delete, /merge, /users or /clock",
        ),
    }
}

/// The longest single move of the clock: ten years, far beyond any lifetime or window.
const LONGEST_ADVANCE: f64 = 10.0 * 365.0 * 86_400.0;

/// `{"advance": SECONDS}`: how far to move the clock; it never goes back, as tokens issued
/// and windows begun must not come back to life.
fn advance_by(body: &[u8]) -> Result<std::time::Duration, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let secs = v
        .get("advance")
        .and_then(Value::as_f64)
        .ok_or("give {\"advance\": SECONDS}")?;
    if !(0.0..=LONGEST_ADVANCE).contains(&secs) {
        return Err(format!("advance must be 0..={LONGEST_ADVANCE} seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The sandbox's time as Unix seconds, and how far it is ahead of the real clock.
fn clock_json(w: &World) -> Value {
    let real = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let now = real.unwrap_or_default() + w.advanced;
    json!({ "now": now.as_secs_f64(), "advanced": w.advanced.as_secs_f64() })
}

/// What a manager's action came to, or why nothing was done.
fn answer(outcome: Result<Value, String>) -> Response {
    match outcome {
        Ok(v) => Response::json(200, &v),
        Err(e) => error(400, &e),
    }
}

/// The whole account, in a shape `--seed FILE.json` reads back.
pub fn state(w: &World, now: Instant) -> Value {
    let crm = &w.crm;
    let base = &w.base;
    let per_kind = |f: &dyn Fn(Kind) -> Value| -> Value {
        let mut m = serde_json::Map::new();
        for k in Kind::ALL {
            m.insert(k.segment().into(), f(k));
        }
        Value::Object(m)
    };
    let entities = |k: Kind| -> Value {
        crm.entities[k.idx()]
            .values()
            .map(|e| render::entity(crm, k, e, base, With::ALL))
            .collect()
    };
    let counts = json!({
        "contacts": crm.entities[Kind::Contacts.idx()].len(),
        "companies": crm.entities[Kind::Companies.idx()].len(),
        "leads": crm.entities[Kind::Leads.idx()].len(),
        "users": crm.users.len(),
        "tasks": crm.tasks.len(),
        "notes": crm.notes.len(),
        "events": crm.events.len(),
        "requests": w.log.len(),
    });
    json!({
        "account": {
            "id": crm.account.id,
            "name": crm.account.name,
            "subdomain": crm.account.subdomain,
        },
        "pipelines": crm.pipelines.iter().map(|p| render::pipeline(crm, p, base)).collect::<Vec<_>>(),
        "custom_fields": per_kind(&|k| crm.fields[k.idx()]
            .iter()
            .map(|f| render::custom_field(crm, k, f, base))
            .collect()),
        "tags": per_kind(&|k| crm.tags[k.idx()].iter().map(render::tag).collect()),
        "contacts": entities(Kind::Contacts),
        "companies": entities(Kind::Companies),
        "leads": entities(Kind::Leads),
        "users": crm.users.values().map(|u| people::render(u, base)).collect::<Vec<_>>(),
        "tasks": crm.tasks.values().map(|t| tasks::render(crm, t, base)).collect::<Vec<_>>(),
        "notes": notes::state(crm, base),
        "events": super::events::state(crm, base),
        "counts": counts,
        "oauth": {
            "codes_exchanged": w.oauth.counts.codes_exchanged,
            "refreshes": w.oauth.counts.refreshes,
            "access_tokens": w.oauth.counts.access_tokens,
        },
        "faults": w.faults.to_json(now),
    })
}
