//! One request in, one outcome out, with no sockets: the control endpoint, then for API
//! calls the outage, the rate limit, injected errors, payment, authorization, the call
//! itself, a possibly lost answer, and the request log.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::faults::{Admission, Faults, RateLimiter};
use super::http::{Request, Response};
use super::oauth::{self, OAuth};
use super::rng::Rng;
use super::state::Crm;
use super::world::{Setup, World};
use super::{api, control, problem};

/// What the connection does with a request's result.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer(Response),
    /// Applied, but the answer never reaches the client: the connection is closed.
    Lost(Response),
    /// The account is "down": the connection is closed without an answer.
    Refused,
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
