//! The listening socket: a thread per connection, keep-alive, and a clean stop.

use std::io::BufReader;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::faults::BlockPolicy;
use super::http::{self, ReadError};
use super::oauth::Integration;
use super::seed::{self, Seed, SeedError};
use super::service::{Outcome, Service};
use super::world::Setup;
use crate::secret::Secret;

/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(120);

/// How to run the sandbox; `Default` is what the integration's defaults and `--help` say.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub redirect_uri: String,
    /// A one-time authorization code valid for `code_lifetime` from start.
    pub code: Option<Secret>,
    pub code_lifetime: Duration,
    /// API requests a second; 0: no limit.
    pub rate: u32,
    pub token_lifetime: Duration,
    pub seed: Seed,
    /// When sustained overruns are answered 403 for a while.
    pub block: BlockPolicy,
    /// 429 and 403 carry an HTML page instead of problem JSON.
    pub html_limit_pages: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:0".into(),
            client_id: "sandbox-client".into(),
            client_secret: Secret::new("sandbox-secret"),
            redirect_uri: "https://billing.example.com/billmgr".into(),
            code: None,
            code_lifetime: Duration::from_secs(20 * 60),
            rate: 7,
            token_lifetime: Duration::from_secs(86400),
            seed: Seed::Default,
            block: BlockPolicy::default(),
            html_limit_pages: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source}; pick another address or port (127.0.0.1:0 takes a free one)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seed(#[from] SeedError),
}

/// A running sandbox; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections and waits for the accepting thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Loads the seed, binds, and starts accepting: connections are accepted once this returns.
pub fn serve(options: Options) -> Result<Server, ServeError> {
    let crm = seed::load(&options.seed)?;
    let listener = TcpListener::bind(&options.listen).map_err(|source| ServeError::Bind {
        addr: options.listen.clone(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: options.listen.clone(),
        source,
    })?;
    let mut connect = addr;
    if connect.ip().is_unspecified() {
        connect.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{connect}");
    let setup = Setup {
        integration: Integration {
            client_id: options.client_id,
            client_secret: options.client_secret,
            redirect_uri: options.redirect_uri,
        },
        code: options.code,
        code_lifetime: options.code_lifetime,
        token_lifetime: options.token_lifetime,
        rate: options.rate,
        block: options.block,
        html_limit_pages: options.html_limit_pages,
    };
    let service = Arc::new(Service::new(crm, setup, url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("sandbox-accept".into())
            .spawn(move || accept_loop(listener, service, stop))
            .map_err(|source| ServeError::Bind {
                addr: options.listen.clone(),
                source,
            })?
    };
    Ok(Server {
        addr: connect,
        url,
        stop,
        thread: Some(thread),
    })
}

fn accept_loop(listener: TcpListener, service: Arc<Service>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let service = service.clone();
        let stop = stop.clone();
        let _ = std::thread::Builder::new()
            .name("sandbox-conn".into())
            .stack_size(1024 * 1024)
            .spawn(move || connection(stream, &service, &stop));
    }
}

fn connection(stream: TcpStream, service: &Service, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let req = match http::read_request(&mut reader, &mut writer) {
            Ok(req) => req,
            Err(ReadError::Bad(msg)) => {
                let resp = http::Response::json(400, &serde_json::json!({ "error": msg }));
                let _ = http::write_response(&mut writer, &resp, false);
                break;
            }
            Err(ReadError::Closed | ReadError::Io) => break,
        };
        let keep = req.keep_alive && !stop.load(Ordering::SeqCst);
        match service.handle(&req) {
            Outcome::Answer(resp) => {
                if http::write_response(&mut writer, &resp, keep).is_err() || !keep {
                    break;
                }
            }
            Outcome::Lost(_) | Outcome::Refused => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}
