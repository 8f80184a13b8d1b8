//! HTTP to the account: one keep-alive agent, the rate budget every process of the module
//! shares, and retries with backoff on what is worth retrying (5xx, 429, connection
//! errors, timeouts).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::AmoError;
use super::{problem, rate, retry, tokens};
use crate::secret::Secret;

/// The longest wait after a 429 for a caller allowed a single attempt; also how long every
/// other process of the module holds off after one.
const SHORT_429_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// One request as the client means it; the transport may send it several times.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// Path and query, from the leading slash.
    pub path: &'a str,
    /// JSON text.
    pub body: Option<&'a str>,
    pub bearer: Option<&'a Secret>,
    /// Statuses handed back at once instead of retried (a batch the caller will split).
    pub pass: &'a [u16],
    /// Whether sending it twice does no harm. A create is not: amoCRM does not remember
    /// `request_id`, so after an answer is lost it is not sent again blindly.
    pub repeatable: bool,
}

/// A final answer: 2xx, or a status retrying does not change (or one in `pass`).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

pub(crate) struct Transport {
    agent: ureq::Agent,
    base: String,
    budget: rate::Budget,
    /// Attempts for one request, the first included.
    attempts: u32,
    pauses: retry::RetryPauses,
}

/// What one attempt came to.
enum Attempt {
    Answered {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// No answer. `maybe_applied`: the request may have reached amoCRM (it was sent, or a
    /// reply was under way), as opposed to a failure to connect at all.
    Failed { error: String, maybe_applied: bool },
}

impl Transport {
    /// `rate` requests a second, drawn from the budget kept in `budget_file` with every
    /// other process of the module.
    pub fn new(base: String, rate: f64, timeout: Duration, budget_file: PathBuf) -> Transport {
        let timeout = if timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            timeout
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            // A separate connect timeout tells "never reached amoCRM" from "no answer".
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            // Idle connections are dropped well before servers close them (60 s and more), so
            // a request is not written into a connection the server has already closed.
            .max_idle_age(Duration::from_secs(10))
            // amoCRM has no reason to redirect API calls; following one would be a surprise.
            .max_redirects(0)
            .user_agent(concat!("billmgr-amocrm/", env!("CARGO_PKG_VERSION")))
            .build();
        Transport {
            agent: config.into(),
            base,
            budget: rate::Budget::new(budget_file, rate),
            attempts: retry::MAX_ATTEMPTS,
            pauses: retry::RetryPauses::default(),
        }
    }

    /// The pauses between attempts (the default: 0.5 s doubling to 8 s).
    pub fn set_pauses(&mut self, pauses: retry::RetryPauses) {
        self.pauses = pauses;
    }

    /// Fewer attempts for someone waiting at a screen (at least one, at most the default).
    pub fn set_attempts(&mut self, attempts: u32) {
        self.attempts = attempts.clamp(1, retry::MAX_ATTEMPTS);
    }

    pub fn send(&self, req: &Request) -> Result<Answer, AmoError> {
        // Queries may carry what was searched for (e-mails, phones): keep them out of logs.
        let shown = req.path.split('?').next().unwrap_or(req.path);
        let method = req.method.as_str();
        let mut last = String::new();
        let mut attempts = self.attempts;
        let mut attempt = 0;
        while attempt < attempts {
            attempt += 1;
            let ticket = self.budget.acquire();
            let started = Instant::now();
            let outcome = self.once(req);
            self.budget.finished(ticket);
            let ms = started.elapsed().as_millis();
            let pause = match outcome {
                Attempt::Answered {
                    status,
                    body,
                    retry_after,
                } => {
                    log::debug!("amoCRM {method} {shown}: {status} in {ms} ms");
                    if !retry::is_transient(status) || req.pass.contains(&status) {
                        return Ok(Answer { status, body });
                    }
                    last = problem::describe(status, &body);
                    if status == 429 {
                        let asked = retry::retry_after(&body, retry_after.as_deref());
                        let pause = self.pause_after_429(asked, attempt).map_err(|secs| {
                            AmoError::Unavailable(format!(
                                "amoCRM rate-limited {method} {shown} and asks to wait {secs} s; \
                                 retry after {}",
                                clock_in(secs)
                            ))
                        })?;
                        // A 429 is amoCRM answering, busy with this integration's other
                        // processes (the worker, a screen): even a caller allowed one attempt
                        // gets a second after a short wait.
                        if attempts == 1 && pause <= SHORT_429_WAIT {
                            attempts = 2;
                        }
                        pause
                    } else {
                        self.pauses.after(attempt)
                    }
                }
                Attempt::Failed {
                    error,
                    maybe_applied,
                } => {
                    if maybe_applied && !req.repeatable {
                        log::debug!("amoCRM {method} {shown}: {error} after {ms} ms");
                        return Err(AmoError::MaybeApplied(format!(
                            "{method} {shown}: {error}; it is not sent again before looking \
                             for what it made"
                        )));
                    }
                    log::debug!("amoCRM {method} {shown}: {error} after {ms} ms");
                    last = error;
                    self.pauses.after(attempt)
                }
            };
            if attempt < attempts {
                log::warn!(
                    "amoCRM {method} {shown}: {last}; attempt {attempt} of {attempts}, retrying in {} ms",
                    pause.as_millis()
                );
                std::thread::sleep(pause);
            }
        }
        Err(AmoError::Unavailable(match attempts {
            1 => format!("{method} {shown}: {last}"),
            n => format!("{method} {shown}: {last} ({n} attempts)"),
        }))
    }

    /// The pause after a 429 (`asked`: the seconds amoCRM asked for), or the seconds asked
    /// when they are more than a run waits. Every other process of the module holds off
    /// too, as briefly as a caller allowed one attempt waits: amoCRM counts their requests
    /// with this one's.
    fn pause_after_429(&self, asked: Option<u64>, attempt: u32) -> Result<Duration, u64> {
        let pause = match asked {
            Some(secs) => Duration::from_secs(secs).max(self.pauses.after(attempt)),
            None => self.pauses.after(attempt),
        };
        self.budget.hold(pause.min(SHORT_429_WAIT));
        match asked {
            Some(secs) if secs > retry::LONGEST_RETRY_AFTER => Err(secs),
            _ => Ok(pause),
        }
    }

    fn once(&self, req: &Request) -> Attempt {
        let url = format!("{}{}", self.base, req.path);
        let bearer = req.bearer.map(|t| format!("Bearer {}", t.expose()));
        let sent = match (req.method, req.body) {
            (Method::Get, _) => {
                let mut r = self.agent.get(&url).header("Accept", "application/json");
                if let Some(b) = &bearer {
                    r = r.header("Authorization", b);
                }
                r.call()
            }
            (method, body) => {
                let mut r = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.patch(&url)
                };
                r = r
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/json");
                if let Some(b) = &bearer {
                    r = r.header("Authorization", b);
                }
                r.send(body.unwrap_or(""))
            }
        };
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Failed {
                    error: describe_transport(&e),
                    maybe_applied: maybe_applied(&e),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match response.body_mut().read_to_string() {
            Ok(body) => Attempt::Answered {
                status,
                body,
                retry_after,
            },
            // A body cut short is like no answer at all, except for statuses with none.
            Err(_) if status == 204 => Attempt::Answered {
                status,
                body: String::new(),
                retry_after,
            },
            Err(e) => Attempt::Failed {
                error: format!("HTTP {status}, body unreadable: {}", describe_transport(&e)),
                maybe_applied: true,
            },
        }
    }
}

/// Whether a request that failed this way may still have reached amoCRM: only failures to
/// resolve or connect say for sure that it did not.
fn maybe_applied(e: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match e {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl => false,
        ureq::Error::Timeout(t) => !matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            ErrorKind::ConnectionRefused
                | ErrorKind::AddrNotAvailable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::HostUnreachable
        ),
        _ => true,
    }
}

fn describe_transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => format!("no answer in time ({e})"),
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        ureq::Error::HostNotFound => "the host name does not resolve".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        other => other.to_string(),
    }
}

/// `HH:MM UTC` `secs` from now, for "retry after" messages.
fn clock_in(secs: u64) -> String {
    let at = tokens::now_unix().max(0) as u64 + secs;
    format!("{:02}:{:02} UTC", at % 86_400 / 3600, at % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A loopback server that answers each connection with the next canned response and
    /// records the request lines it saw.
    fn serve(responses: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for response in responses {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                seen.push(line.trim().to_string());
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).expect("header");
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                // An empty response: the answer is lost (the connection closes unanswered).
                let mut stream = stream;
                stream.write_all(response.as_bytes()).expect("respond");
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            seen
        });
        (url, handle)
    }

    /// The budget file of a transport without a rate limit: never opened.
    fn no_budget() -> PathBuf {
        PathBuf::from("/nonexistent/amocrm_rate")
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn get<'a>(path: &'a str, pass: &'a [u16]) -> Request<'a> {
        Request {
            method: Method::Get,
            path,
            body: None,
            bearer: None,
            pass,
            repeatable: true,
        }
    }

    #[test]
    fn retries_5xx_and_non_json_429_then_answers() {
        let (url, server) = serve(vec![
            http("503 Service Unavailable", "down"),
            http("429 Too Many Requests", "<html>slow down</html>"),
            http("200 OK", r#"{"id":1}"#),
        ]);
        let t = Transport::new(url, 0.0, Duration::from_secs(5), no_budget());
        let started = Instant::now();
        let answer = t.send(&get("/api/v4/account", &[])).expect("answer");
        assert_eq!((answer.status, answer.body.as_str()), (200, r#"{"id":1}"#));
        // 0.5 s after the 503, 1 s after the 429.
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(server.join().expect("server").len(), 3);
    }

    #[test]
    fn a_long_retry_after_gives_up_at_once() {
        let (url, server) = serve(vec![http(
            "429 Too Many Requests",
            r#"{"status":429,"retry_after":300}"#,
        )]);
        let t = Transport::new(url, 0.0, Duration::from_secs(5), no_budget());
        match t.send(&get("/api/v4/leads?query=secret%40mail", &[])) {
            Err(AmoError::Unavailable(m)) => {
                assert!(m.contains("300 s") && m.contains("UTC"), "{m}");
                assert!(!m.contains("secret"), "the query leaked: {m}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert_eq!(
            server.join().expect("server"),
            ["GET /api/v4/leads?query=secret%40mail HTTP/1.1"]
        );
    }

    #[test]
    fn passed_and_final_statuses_come_back_unretried() {
        let (url, server) = serve(vec![
            http("504 Gateway Timeout", ""),
            http("400 Bad Request", "{}"),
        ]);
        let t = Transport::new(url, 0.0, Duration::from_secs(5), no_budget());
        assert_eq!(t.send(&get("/a", &[504])).expect("504").status, 504);
        assert_eq!(t.send(&get("/b", &[])).expect("400").status, 400);
        assert_eq!(server.join().expect("server").len(), 2);
    }

    #[test]
    fn an_unreachable_host_is_unavailable_after_the_retries() {
        // A port nothing listens on: bind, note the port, close.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut t = Transport::new(
            format!("http://127.0.0.1:{port}"),
            0.0,
            Duration::from_secs(2),
            no_budget(),
        );
        // The default schedule's shape (retry.rs) at 10 ms: 10 + 20 + 40 + 80 + 160.
        t.set_pauses(retry::RetryPauses::starting_at(Duration::from_millis(10)));
        let started = Instant::now();
        match t.send(&get("/api/v4/account", &[])) {
            Err(AmoError::Unavailable(m)) => assert!(m.contains("6 attempts"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(310));
    }

    #[test]
    fn a_single_attempt_still_waits_out_one_429() {
        let (url, server) = serve(vec![
            http("429 Too Many Requests", "<html>slow down</html>"),
            http("200 OK", "{}"),
        ]);
        let mut t = Transport::new(url, 0.0, Duration::from_secs(2), no_budget());
        t.set_attempts(1);
        let answer = t.send(&get("/api/v4/account", &[])).expect("answered");
        assert_eq!(answer.status, 200);
        assert_eq!(server.join().expect("server").len(), 2);
    }

    #[test]
    fn fewer_attempts_give_up_sooner() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut t = Transport::new(
            format!("http://127.0.0.1:{port}"),
            0.0,
            Duration::from_secs(2),
            no_budget(),
        );
        t.set_attempts(2);
        let started = Instant::now();
        match t.send(&get("/api/v4/account", &[])) {
            Err(AmoError::Unavailable(m)) => assert!(m.contains("2 attempts"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        // One pause of 0.5 s between the two.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        t.set_attempts(0);
        match t.send(&get("/api/v4/account", &[])) {
            Err(AmoError::Unavailable(m)) => assert!(!m.contains("attempts"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn a_lost_answer_is_retried_only_when_repeating_is_harmless() {
        let (url, server) = serve(vec![String::new(), http("200 OK", "{}"), String::new()]);
        let t = Transport::new(url, 0.0, Duration::from_secs(5), no_budget());
        assert_eq!(
            t.send(&get("/api/v4/account", &[]))
                .expect("retried")
                .status,
            200
        );
        let create = Request {
            method: Method::Post,
            path: "/api/v4/leads",
            body: Some("[{}]"),
            bearer: None,
            pass: &[],
            repeatable: false,
        };
        match t.send(&create) {
            Err(AmoError::MaybeApplied(m)) => assert!(m.contains("POST /api/v4/leads"), "{m}"),
            other => panic!("expected MaybeApplied, got {other:?}"),
        }
        assert_eq!(
            server.join().expect("server"),
            [
                "GET /api/v4/account HTTP/1.1",
                "GET /api/v4/account HTTP/1.1",
                "POST /api/v4/leads HTTP/1.1"
            ]
        );
    }

    #[test]
    fn a_429_holds_off_the_other_processes_briefly() {
        let (url, server) = serve(vec![
            http(
                "429 Too Many Requests",
                r#"{"status":429,"retry_after":300}"#,
            ),
            http("200 OK", "{}"),
        ]);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("var/amocrm_rate");
        let timeout = Duration::from_secs(5);
        // Two processes' clients, drawing from one budget.
        let a = Transport::new(url.clone(), 7.0, timeout, file.clone());
        let b = Transport::new(url, 7.0, timeout, file);
        assert!(matches!(
            a.send(&get("/a", &[])),
            Err(AmoError::Unavailable(_))
        ));
        let started = Instant::now();
        assert_eq!(b.send(&get("/b", &[])).expect("answer").status, 200);
        let waited = started.elapsed();
        assert!(
            waited >= SHORT_429_WAIT - Duration::from_millis(200) && waited < SHORT_429_WAIT * 2,
            "{waited:?}"
        );
        assert_eq!(server.join().expect("server").len(), 2);
    }
}
