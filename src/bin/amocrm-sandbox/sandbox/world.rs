//! Everything the sandbox keeps behind its one lock: the account, the OAuth server's
//! state, the faults, the rate limit, the request log and the clock. The service answers
//! calls with it; the control endpoint reads and changes it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::faults::{BlockPolicy, Faults, RateLimiter};
use super::http::Request;
use super::oauth::{Integration, OAuth};
use super::rng::Rng;
use super::state::Crm;
use crate::secret::Secret;

/// The log keeps this many calls (the oldest go first) ...
pub const LOG_LIMIT: usize = 200_000;
/// ... and the bodies of this many recent ones, so a long benchmark stays within memory.
pub const LOG_BODIES: usize = 5_000;

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

    pub fn record(&mut self, req: &Request, status: u16, lost: bool, now: Instant) {
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
