//! Trouble on demand (`POST /_sandbox/faults`) and the requests-per-second limit: what a
//! real account does to a client on a bad day.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::Response;
use super::rng::Rng;

/// The faults in force. Each `POST /_sandbox/faults` replaces them all; `{}` clears them.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub error_rate: f64,
    pub error_statuses: Vec<u16>,
    pub lost_rate: f64,
    pub latency: Duration,
    pub outage_until: Option<Instant>,
    pub payment_required: bool,
    /// Until then every API and OAuth request gets 403, as amoCRM blocks a client.
    pub blocked_until: Option<Instant>,
    /// The next N API requests fail with an error status (deterministic `error_rate`).
    pub error_next: u64,
    /// The next N API requests are applied and their answers lost.
    pub lost_next: u64,
    /// The next N API requests are not applied and answered 200 with garbage.
    pub garbage_next: u64,
    pub garbage_kind: Garbage,
    /// Only requests for this path get garbage (`None`: every API request).
    pub garbage_path: Option<String>,
    /// How many garbage answers were given, to take the kinds of `mixed` in turn.
    garbage_given: u64,
}

/// What a garbage answer looks like: what a broken proxy or a half-deployed API sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Garbage {
    /// Each of the others in turn.
    #[default]
    Mixed,
    /// Plain text that is not JSON.
    Text,
    /// An HTML page.
    Html,
    /// JSON cut off in the middle.
    Truncated,
    /// JSON without `_embedded`.
    NoEmbedded,
    /// `_embedded` items without ids.
    NoIds,
}

impl Garbage {
    const TURN: [Garbage; 5] = [
        Garbage::Text,
        Garbage::Html,
        Garbage::Truncated,
        Garbage::NoEmbedded,
        Garbage::NoIds,
    ];

    fn name(self) -> &'static str {
        match self {
            Garbage::Mixed => "mixed",
            Garbage::Text => "text",
            Garbage::Html => "html",
            Garbage::Truncated => "truncated",
            Garbage::NoEmbedded => "no_embedded",
            Garbage::NoIds => "no_ids",
        }
    }

    /// The answer to a request for `path`.
    fn answer(self, path: &str) -> Response {
        // The list key the client looks for: `contacts` of `/api/v4/contacts/123`,
        // `pipelines` of `/api/v4/leads/pipelines`, `custom_fields` of `.../custom_fields`.
        let key = path
            .trim_start_matches("/api/v4/")
            .split('/')
            .rfind(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("items");
        let (content_type, body) = match self {
            Garbage::Text | Garbage::Mixed => {
                ("text/plain", "Service temporarily unavailable".to_string())
            }
            Garbage::Html => (
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><head><title>amoCRM</title></head>\
                 <body><h1>Технические работы</h1></body></html>\n"
                    .to_string(),
            ),
            Garbage::Truncated => (
                "application/hal+json",
                format!("{{\"_page\":1,\"_embedded\":{{\"{key}\":[{{\"id\":"),
            ),
            Garbage::NoEmbedded => (
                "application/hal+json",
                json!({"_page": 1, "_links": {"self": {"href": path}}}).to_string(),
            ),
            Garbage::NoIds => (
                "application/hal+json",
                json!({"_embedded": {key: [{"name": "?", "request_id": "0"}, {}]}}).to_string(),
            ),
        };
        Response {
            status: 200,
            content_type,
            body: body.into_bytes(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default)]
    error_rate: f64,
    #[serde(default)]
    error_statuses: Option<Vec<u16>>,
    #[serde(default)]
    lost_rate: f64,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    outage_seconds: f64,
    #[serde(default)]
    expire_tokens: bool,
    #[serde(default)]
    payment_required: bool,
    #[serde(default)]
    blocked_seconds: f64,
    #[serde(default)]
    revoke_tokens: bool,
    #[serde(default)]
    error_next: u64,
    #[serde(default)]
    lost_next: u64,
    #[serde(default)]
    garbage_next: u64,
    #[serde(default)]
    garbage_kind: Garbage,
    #[serde(default)]
    garbage_path: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
}

/// What a faults request asks for besides the faults themselves.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Actions {
    pub expire_tokens: bool,
    /// Every token stops working, as when the admin disconnects the integration in amoCRM.
    pub revoke_tokens: bool,
    pub rng_seed: Option<u64>,
}

impl Faults {
    /// Parses a faults request; the message says which key or value is wrong.
    pub fn parse(body: &[u8], now: Instant) -> Result<(Faults, Actions), String> {
        let req: FaultRequest = if body.iter().all(u8::is_ascii_whitespace) {
            FaultRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|e| format!("bad faults request: {e}"))?
        };
        for (name, rate) in [("error_rate", req.error_rate), ("lost_rate", req.lost_rate)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        for (name, secs) in [
            ("outage_seconds", req.outage_seconds),
            ("blocked_seconds", req.blocked_seconds),
        ] {
            if !(0.0..=86400.0).contains(&secs) {
                return Err(format!("{name} must be between 0 and 86400"));
            }
        }
        let statuses = req.error_statuses.unwrap_or_else(|| vec![500, 502, 504]);
        if statuses.is_empty() || statuses.iter().any(|s| !(400..=599).contains(s)) {
            return Err("error_statuses must list HTTP error statuses (400..599)".into());
        }
        let faults = Faults {
            error_rate: req.error_rate,
            error_statuses: statuses,
            lost_rate: req.lost_rate,
            latency: Duration::from_millis(req.latency_ms),
            outage_until: (req.outage_seconds > 0.0)
                .then(|| now + Duration::from_secs_f64(req.outage_seconds)),
            payment_required: req.payment_required,
            blocked_until: (req.blocked_seconds > 0.0)
                .then(|| now + Duration::from_secs_f64(req.blocked_seconds)),
            error_next: req.error_next,
            lost_next: req.lost_next,
            garbage_next: req.garbage_next,
            garbage_kind: req.garbage_kind,
            garbage_path: req.garbage_path,
            garbage_given: 0,
        };
        Ok((
            faults,
            Actions {
                expire_tokens: req.expire_tokens,
                revoke_tokens: req.revoke_tokens,
                rng_seed: req.seed,
            },
        ))
    }

    pub fn in_outage(&self, now: Instant) -> bool {
        self.outage_until.is_some_and(|t| now < t)
    }

    pub fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|t| now < t)
    }

    /// An injected error status for this request, if the dice (or `error_next`) say so.
    pub fn roll_error(&mut self, rng: &mut Rng) -> Option<u16> {
        let hit = if self.error_next > 0 {
            self.error_next -= 1;
            true
        } else {
            self.error_rate > 0.0 && rng.next_f64() < self.error_rate
        };
        if !hit {
            return None;
        }
        let i = (rng.next_u64() % self.error_statuses.len().max(1) as u64) as usize;
        Some(*self.error_statuses.get(i).unwrap_or(&500))
    }

    /// A garbage answer instead of this request's real one, while `garbage_next` lasts.
    pub fn roll_garbage(&mut self, path: &str) -> Option<Response> {
        if self.garbage_next == 0 || self.garbage_path.as_deref().is_some_and(|p| p != path) {
            return None;
        }
        self.garbage_next -= 1;
        let kind = match self.garbage_kind {
            Garbage::Mixed => Garbage::TURN[(self.garbage_given % 5) as usize],
            k => k,
        };
        self.garbage_given += 1;
        Some(kind.answer(path))
    }

    /// Whether this request's answer is to be lost after it is applied.
    pub fn roll_lost(&mut self, rng: &mut Rng) -> bool {
        if self.lost_next > 0 {
            self.lost_next -= 1;
            return true;
        }
        self.lost_rate > 0.0 && rng.next_f64() < self.lost_rate
    }

    pub fn to_json(&self, now: Instant) -> Value {
        json!({
            "error_rate": self.error_rate,
            "error_statuses": self.error_statuses,
            "lost_rate": self.lost_rate,
            "latency_ms": self.latency.as_millis() as u64,
            "outage_seconds_left": self.outage_until
                .map(|t| t.saturating_duration_since(now).as_secs_f64())
                .unwrap_or(0.0),
            "payment_required": self.payment_required,
            "blocked_seconds_left": self.blocked_until
                .map(|t| t.saturating_duration_since(now).as_secs_f64())
                .unwrap_or(0.0),
            "error_next": self.error_next,
            "lost_next": self.lost_next,
            "garbage_next": self.garbage_next,
            "garbage_kind": self.garbage_kind.name(),
            "garbage_path": self.garbage_path,
        })
    }
}

/// At most `limit` requests in any one-second window; requests refused do not count.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: u32,
    window: VecDeque<Instant>,
    policy: BlockPolicy,
    /// When recent requests were refused with 429.
    refusals: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

/// When sustained overruns turn into a block, as amoCRM blocks a client that keeps
/// exceeding the limit: `after` refusals within `window` block every request for `for_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPolicy {
    /// 0: never block.
    pub after: u32,
    pub window: Duration,
    pub for_: Duration,
}

impl Default for BlockPolicy {
    fn default() -> Self {
        BlockPolicy {
            after: 30,
            window: Duration::from_secs(60),
            for_: Duration::from_secs(60),
        }
    }
}

/// What the limiter says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Over the rate: 429.
    TooMany,
    /// Blocked for sustained overruns: 403 until the block ends.
    Blocked,
}

impl RateLimiter {
    /// `limit` 0: no limit.
    pub fn new(limit: u32, policy: BlockPolicy) -> RateLimiter {
        RateLimiter {
            limit,
            window: VecDeque::new(),
            policy,
            refusals: VecDeque::new(),
            blocked_until: None,
        }
    }

    pub fn check(&mut self, now: Instant) -> Admission {
        if self.limit == 0 {
            return Admission::Admitted;
        }
        if let Some(until) = self.blocked_until {
            if now < until {
                return Admission::Blocked;
            }
            self.blocked_until = None;
            self.refusals.clear();
        }
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.window.pop_front();
        }
        if self.window.len() >= self.limit as usize {
            self.refused(now);
            return Admission::TooMany;
        }
        self.window.push_back(now);
        Admission::Admitted
    }

    fn refused(&mut self, now: Instant) {
        if self.policy.after == 0 {
            return;
        }
        while self
            .refusals
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.policy.window)
        {
            self.refusals.pop_front();
        }
        self.refusals.push_back(now);
        if self.refusals.len() >= self.policy.after as usize {
            self.blocked_until = Some(now + self.policy.for_);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_overruns_block_for_a_while() {
        let policy = BlockPolicy {
            after: 3,
            window: Duration::from_secs(10),
            for_: Duration::from_secs(5),
        };
        let mut r = RateLimiter::new(1, policy);
        let t = Instant::now();
        assert_eq!(r.check(t), Admission::Admitted);
        for _ in 0..2 {
            assert_eq!(r.check(t), Admission::TooMany);
        }
        assert_eq!(
            r.check(t),
            Admission::TooMany,
            "the third refusal starts the block"
        );
        assert_eq!(r.check(t + Duration::from_secs(2)), Admission::Blocked);
        assert_eq!(
            r.check(t + Duration::from_secs(6)),
            Admission::Admitted,
            "the block ends"
        );
        let never = BlockPolicy { after: 0, ..policy };
        let mut r = RateLimiter::new(1, never);
        for _ in 0..100 {
            r.check(t);
        }
        assert_eq!(r.check(t), Admission::TooMany);
    }

    #[test]
    fn the_window_slides() {
        let mut r = RateLimiter::new(2, BlockPolicy::default());
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        assert_eq!(r.check(t), Admission::Admitted);
        assert_eq!(r.check(ms(500)), Admission::Admitted);
        assert_eq!(r.check(ms(900)), Admission::TooMany);
        assert_eq!(r.check(ms(1000)), Admission::Admitted);
        assert_eq!(r.check(ms(1400)), Admission::TooMany);
        assert_eq!(r.check(ms(1500)), Admission::Admitted);
        assert_eq!(
            RateLimiter::new(0, BlockPolicy::default()).check(t),
            Admission::Admitted
        );
    }

    #[test]
    fn parses_and_checks_fault_requests() {
        let now = Instant::now();
        let (f, a) = Faults::parse(
            br#"{"error_rate": 1.0, "error_statuses": [502], "outage_seconds": 2, "expire_tokens": true}"#,
            now,
        )
        .expect("valid");
        assert!(a.expire_tokens);
        assert!(f.in_outage(now + Duration::from_secs(1)));
        assert!(!f.in_outage(now + Duration::from_secs(3)));
        let mut f = f;
        assert_eq!(f.roll_error(&mut Rng::seeded(3)), Some(502));
        assert!(Faults::parse(br#"{"eror_rate": 1}"#, now).is_err());
        assert!(Faults::parse(br#"{"error_rate": 2}"#, now).is_err());
        let (cleared, _) = Faults::parse(b"", now).expect("empty clears");
        assert_eq!(cleared.error_rate, 0.0);
    }

    #[test]
    fn a_block_lasts_its_seconds_and_revoking_is_an_action() {
        let now = Instant::now();
        let (f, a) =
            Faults::parse(br#"{"blocked_seconds": 2, "revoke_tokens": true}"#, now).expect("valid");
        assert!(a.revoke_tokens && !a.expire_tokens);
        assert!(f.is_blocked(now + Duration::from_secs(1)));
        assert!(!f.is_blocked(now + Duration::from_secs(2)));
        assert_eq!(f.to_json(now)["blocked_seconds_left"], 2.0);
        let (none, a) = Faults::parse(b"{}", now).expect("valid");
        assert!(!none.is_blocked(now) && !a.revoke_tokens);
        assert!(Faults::parse(br#"{"blocked_seconds": -1}"#, now).is_err());
        assert!(Faults::parse(br#"{"blocked_seconds": 100000}"#, now).is_err());
    }

    #[test]
    fn counted_faults_run_out() {
        let (mut f, _) =
            Faults::parse(br#"{"error_next": 2, "lost_next": 1}"#, Instant::now()).expect("valid");
        let mut rng = Rng::seeded(1);
        assert!(f.roll_error(&mut rng).is_some());
        assert!(f.roll_error(&mut rng).is_some());
        assert!(f.roll_error(&mut rng).is_none());
        assert!(f.roll_lost(&mut rng));
        assert!(!f.roll_lost(&mut rng));
    }

    #[test]
    fn garbage_answers_take_their_kinds_in_turn() {
        let (mut f, _) = Faults::parse(br#"{"garbage_next": 6}"#, Instant::now()).expect("valid");
        let bodies: Vec<String> = (0..6)
            .map(|_| {
                let r = f.roll_garbage("/api/v4/leads/pipelines").expect("garbage");
                assert_eq!(r.status, 200);
                String::from_utf8(r.body).expect("text")
            })
            .collect();
        assert!(
            f.roll_garbage("/api/v4/account").is_none(),
            "six, then none"
        );
        let json = |b: &str| serde_json::from_str::<Value>(b).ok();
        assert!(json(&bodies[0]).is_none() && bodies[1].contains("<html>"));
        assert!(json(&bodies[2]).is_none() && bodies[2].contains("\"pipelines\""));
        assert!(json(&bodies[3]).is_some_and(|v| v.get("_embedded").is_none()));
        let no_ids = json(&bodies[4]).expect("json");
        assert!(no_ids["_embedded"]["pipelines"][0].get("id").is_none());
        assert_eq!(bodies[5], bodies[0], "round again");
        let (mut one, _) = Faults::parse(
            br#"{"garbage_next": 1, "garbage_kind": "html"}"#,
            Instant::now(),
        )
        .expect("valid");
        assert!(
            one.roll_garbage("/api/v4/contacts")
                .is_some_and(|r| r.content_type.starts_with("text/html"))
        );
        assert!(Faults::parse(br#"{"garbage_kind": "xml"}"#, Instant::now()).is_err());
        let (mut leads, _) = Faults::parse(
            br#"{"garbage_next": 1, "garbage_path": "/api/v4/leads"}"#,
            Instant::now(),
        )
        .expect("valid");
        assert!(leads.roll_garbage("/api/v4/leads/pipelines").is_none());
        assert!(leads.roll_garbage("/api/v4/leads").is_some());
        assert!(leads.roll_garbage("/api/v4/leads").is_none());
    }
}
