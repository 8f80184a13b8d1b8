//! One request in, one outcome out, with no sockets: the control endpoint, then for API
//! calls the outage, the rate limit, injected errors, payment, authorization, the call
//! itself, a possibly lost answer, and the request log.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::faults::{Admission, BlockPolicy, Faults, RateLimiter};
use super::http::{Request, Response};
use super::oauth::{self, Integration, OAuth};
use super::rng::Rng;
use super::state::Crm;
use super::{api, control, problem};
use crate::secret::Secret;

/// The log keeps this many calls (the oldest go first) ...
pub const LOG_LIMIT: usize = 200_000;
/// ... and the bodies of this many recent ones, so a long benchmark stays within memory.
pub const LOG_BODIES: usize = 5_000;

/// What the connection does with a request's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer(Response),
    /// Applied, but the answer never reaches the client: the connection is closed.
    Lost(Response),
    /// The account is "down": the connection is closed without an answer.
    Refused,
}

/// One line of `/_sandbox/requests`.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// 0 when the request was refused by an outage.
    pub status: u16,
    pub lost: bool,
    pub at_ms: u64,
    /// The JSON body of an `/api/` call (never of an OAuth call: it holds secrets).
    pub body: Option<Value>,
}

/// How the sandbox was set up; what it needs again on reset.
#[derive(Debug, Clone)]
pub struct Setup {
    pub integration: Integration,
    pub code: Option<Secret>,
    pub code_lifetime: Duration,
    pub token_lifetime: Duration,
    pub rate: u32,
    pub block: BlockPolicy,
    /// 429 and 403 carry an HTML page instead of problem JSON.
    pub html_limit_pages: bool,
}

/// Everything behind the one lock.
#[derive(Debug)]
pub struct World {
    pub crm: Crm,
    pub pristine: Crm,
    pub oauth: OAuth,
    pub faults: Faults,
    pub rate: RateLimiter,
    pub log: VecDeque<LogEntry>,
    pub rng: Rng,
    pub base: String,
    pub started: Instant,
    pub setup: Setup,
    /// How far `POST /_sandbox/clock` has moved the sandbox's clock ahead of the real one.
    pub advanced: Duration,
}

impl World {
    /// The sandbox's time: what every expiry, outage, block and rate window is measured by,
    /// so a test moves it forward instead of waiting.
    pub fn now(&self) -> Instant {
        Instant::now() + self.advanced
    }

    fn record(&mut self, req: &Request, status: u16, lost: bool, now: Instant) {
        let body = if req.path.starts_with("/api/") && !req.body.is_empty() {
            serde_json::from_slice(&req.body).ok()
        } else {
            None
        };
        if self.log.len() >= LOG_LIMIT {
            self.log.pop_front();
        }
        if self.log.len() >= LOG_BODIES {
            let old = self.log.len() - LOG_BODIES;
            self.log[old].body = None;
        }
        self.log.push_back(LogEntry {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            status,
            lost,
            at_ms: now.duration_since(self.started).as_millis() as u64,
            body,
        });
    }
}

pub struct Service {
    world: Mutex<World>,
}

impl Service {
    pub fn new(crm: Crm, setup: Setup, base: String) -> Service {
        let started = Instant::now();
        let mut oauth = OAuth::new(
            setup.integration.clone(),
            crm.account.id,
            setup.token_lifetime,
        );
        if let Some(code) = &setup.code {
            oauth.add_code(code, started + setup.code_lifetime);
        }
        Service {
            world: Mutex::new(World {
                pristine: crm.clone(),
                crm,
                oauth,
                faults: Faults::default(),
                rate: RateLimiter::new(setup.rate, setup.block),
                log: VecDeque::new(),
                rng: Rng::from_time(),
                base,
                started,
                setup,
                advanced: Duration::ZERO,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, World> {
        // A panic inside one request must not take the whole sandbox down with it.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn handle(&self, req: &Request) -> Outcome {
        if req.path.starts_with("/_sandbox/") || req.path == "/_sandbox" {
            let mut w = self.lock();
            let now = w.now();
            return Outcome::Answer(control::handle(&mut w, req, now));
        }
        let is_api = req.path.starts_with("/api/") || req.path.starts_with("/oauth2/");
        if !is_api {
            return Outcome::Answer(problem::not_found());
        }
        let latency = {
            let mut w = self.lock();
            let now = w.now();
            if w.faults.in_outage(now) {
                w.record(req, 0, false, now);
                return Outcome::Refused;
            }
            let admission = if w.faults.is_blocked(now) {
                Admission::Blocked
            } else {
                w.rate.check(now)
            };
            match admission {
                Admission::Admitted => {}
                refused => {
                    let (status, page) = match refused {
                        Admission::Blocked => (403, problem::blocked()),
                        _ => (429, problem::too_many_requests()),
                    };
                    w.record(req, status, false, now);
                    let page = if w.setup.html_limit_pages {
                        problem::html_page(status)
                    } else {
                        page
                    };
                    return Outcome::Answer(page);
                }
            }
            w.faults.latency
        };
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut guard = self.lock();
        let w = &mut *guard;
        let now = w.now();
        let resp = if let Some(status) = w.faults.roll_error(&mut w.rng) {
            problem::problem(status, "Injected fault: the server failed to answer")
        } else if let Some(garbage) = w.faults.roll_garbage(&req.path) {
            garbage
        } else if w.faults.payment_required && req.path.starts_with("/api/") {
            problem::payment_required()
        } else {
            route(w, req, now)
        };
        // Only an applied request can lose its answer.
        let lost = resp.status < 500 && w.faults.roll_lost(&mut w.rng);
        w.record(req, resp.status, lost, now);
        if lost {
            Outcome::Lost(resp)
        } else {
            Outcome::Answer(resp)
        }
    }
}

fn route(w: &mut World, req: &Request, now: Instant) -> Response {
    if req.path.starts_with("/oauth2/") {
        if req.path.trim_end_matches('/') != "/oauth2/access_token" {
            return problem::not_found();
        }
        if req.method != "POST" {
            return problem::problem(405, "Use POST");
        }
        return match oauth::params(req.header("content-type"), &req.body) {
            Some(params) => w.oauth.grant(&params, now),
            None => problem::oauth_request(400, "Check the `grant_type` parameter"),
        };
    }
    let token = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    match token {
        Some(t) if w.oauth.check_access(t, now) => {}
        _ => return problem::unauthorized(),
    }
    api::route(&mut w.crm, req, &w.base)
}

/// The log as `/_sandbox/requests` shows it.
pub fn log_json(log: &VecDeque<LogEntry>, with_body: bool) -> Value {
    log.iter()
        .map(|e| {
            let mut v = json!({
                "method": e.method,
                "path": e.path,
                "query": e.query,
                "status": e.status,
                "lost": e.lost,
                "at_ms": e.at_ms,
            });
            if with_body {
                v["body"] = e.body.clone().unwrap_or(Value::Null);
            }
            v
        })
        .collect()
}
