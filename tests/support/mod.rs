//! Shared helpers for the black-box tests: a temporary panel root, the sandbox amoCRM as a
//! real process on 127.0.0.1, the module's binary run as the panel runs it, and the
//! MariaDB server when `AMOCRM_TEST_MYSQL_URL` names one.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const AMOCRM: &str = env!("CARGO_BIN_EXE_amocrm");
pub const SANDBOX: &str = env!("CARGO_BIN_EXE_amocrm-sandbox");

/// The integration the sandbox knows in tests.
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-5f2b";
pub const REDIRECT_URI: &str = "https://billing.example.com/billmgr";
pub const AUTH_CODE: &str = "def50200aa11bb22cc33dd44";

/// A running `amocrm-sandbox`, stopped when dropped.
pub struct Sandbox {
    pub child: Child,
    pub url: String,
}

impl Sandbox {
    /// Starts the sandbox on a free loopback port with the test integration and extra flags.
    pub fn start(extra: &[&str]) -> Sandbox {
        let mut cmd = Command::new(SANDBOX);
        cmd.args(["--listen", "127.0.0.1:0"])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--redirect-uri", REDIRECT_URI, "--code", AUTH_CODE])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start amocrm-sandbox");
        let stdout = child.stdout.take().expect("sandbox stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sandbox prints its URL");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "sandbox printed {url:?}"
        );
        Sandbox { child, url }
    }

    /// GET a path of the sandbox (API or control) and parse the JSON answer.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let body = ureq::get(&format!("{}{}", self.url, path))
            .call()
            .expect("sandbox answers")
            .into_body()
            .read_to_string()
            .expect("sandbox body");
        serde_json::from_str(&body).expect("sandbox JSON")
    }

    /// POST JSON to a path of the sandbox; returns (status, body).
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .post(&format!("{}{}", self.url, path))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .expect("sandbox answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap_or_default())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary `MGR_ROOT` laid out as on a panel.
pub struct Panel {
    pub dir: tempfile::TempDir,
}

impl Panel {
    pub fn new() -> Panel {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["etc/amocrm", "var", "addon", "etc/xml"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/presets.default");
        if presets.exists() {
            std::fs::copy(presets, dir.path().join("etc/amocrm/presets.default"))
                .expect("copy presets");
        }
        Panel { dir }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// Runs `amocrm ARGS` under this root, with a cleared environment and a timeout.
    pub fn amocrm(&self, args: &[&str]) -> Output {
        self.run(args, &[], b"")
    }

    /// Runs the binary as the panel runs a handler: `PARAM_*` and friends in the
    /// environment, the function's document on stdin.
    pub fn handler(&self, env: &[(&str, &str)], stdin: &[u8]) -> Output {
        self.run(&[], env, stdin)
    }

    pub fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(AMOCRM);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MGR_ROOT", self.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd, stdin, Duration::from_secs(120))
    }
}

/// Runs a command to its end, feeding stdin, failing the test if it hangs.
pub fn run_with_timeout(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = feeder.join();
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// The MariaDB server for the MySQL suite, or `None` (the caller says it is skipped).
pub fn mysql_url() -> Option<String> {
    std::env::var("AMOCRM_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Prints the skip notice the MariaDB tests give without a server.
pub fn skip_without_mysql(test: &str) -> Option<String> {
    let url = mysql_url();
    if url.is_none() {
        eprintln!(
            "skipped: {test} needs MariaDB (set AMOCRM_TEST_MYSQL_URL, e.g. mysql://root@127.0.0.1:3306)"
        );
    }
    url
}
