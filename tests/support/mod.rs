//! Shared helpers for the black-box tests: a temporary panel root, the sandbox amoCRM as a
//! real process on 127.0.0.1, the module's binary run as the panel runs it, and the
//! MariaDB server when `AMOCRM_TEST_MYSQL_URL` names one, and the one way the tests wait.
#![allow(dead_code)]

pub mod ui;

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

impl Sandbox {
    /// Moves the sandbox's clock `secs` ahead (`POST /_sandbox/clock`): its tokens, codes,
    /// outages, blocks and rate windows age at once. Answers the seconds moved in all.
    pub fn advance(&self, secs: f64) -> f64 {
        let (status, body) =
            self.post_json("/_sandbox/clock", &serde_json::json!({ "advance": secs }));
        assert_eq!(status, 200, "POST /_sandbox/clock: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("clock JSON");
        v["advanced"].as_f64().expect("advanced")
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

    /// `amocrm ARGS` under this root, with a cleared environment and piped streams.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(AMOCRM);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MGR_ROOT", self.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
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
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd, stdin, Duration::from_secs(120))
    }
}

/// Every test's panel root is searched for leaked secrets as it goes: the client secret, the
/// tokens and the authorization codes must never reach a log, whatever the test did.
impl Drop for Panel {
    fn drop(&mut self) {
        // A failing test has said what failed; a second panic would abort the process.
        if std::thread::panicking() {
            return;
        }
        let leaks = secret_leaks(self.root(), &known_secrets(self.root()));
        assert!(
            leaks.is_empty(),
            "a secret reached a log (shown masked):\n{}",
            leaks.join("\n")
        );
    }
}

/// Secrets shorter than this are not searched for (the module masks none shorter either):
/// they would match ordinary words.
pub const SHORTEST_SECRET: usize = 8;

/// The secrets a panel root holds or the tests use: the test integration's secret and
/// code, amocrm.conf's `client_secret` and `code` and the database password, the panel's
/// `DBPassword`, the token files (and a JWT's signature on its own).
pub fn known_secrets(root: &Path) -> Vec<String> {
    let mut secrets = vec![CLIENT_SECRET.to_string(), AUTH_CODE.to_string()];
    let paths = billmgr_amocrm::paths::Paths::new(root);
    if let Ok(values) = billmgr_amocrm::config::Sources::read_conf(&paths).values() {
        for (section, key) in [("auth", "client_secret"), ("auth", "code")] {
            secrets.extend(values.get(section, key).map(str::to_string));
        }
        // `mysql://user:password@host/db`
        if let Some(url) = values.get("database", "url")
            && let Some((userinfo, _)) = url.split_once("://").and_then(|(_, r)| r.split_once('@'))
            && let Some((_, password)) = userinfo.split_once(':')
        {
            secrets.push(password.to_string());
        }
    }
    // The panel's own database password (`DBPassword value` lines).
    let mut panel_files = vec![paths.billmgr_conf()];
    if let Ok(dir) = std::fs::read_dir(paths.billmgr_conf_dir()) {
        panel_files.extend(dir.flatten().map(|e| e.path()));
    }
    for file in panel_files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        secrets.extend(text.lines().filter_map(|l| {
            let rest = l.trim().strip_prefix("DBPassword")?;
            rest.starts_with(char::is_whitespace)
                .then(|| rest.trim().to_string())
        }));
    }
    for file in [paths.access_token(), paths.refresh_token()] {
        let token = std::fs::read_to_string(file).unwrap_or_default();
        let token = token.trim();
        if let [_, _, signature] = token.split('.').collect::<Vec<_>>()[..] {
            secrets.push(signature.to_string());
        }
        secrets.push(token.to_string());
    }
    secrets.retain(|s| s.len() >= SHORTEST_SECRET);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Where any of `secrets` occurs in a log under `root/var` (`*.log`): `file:line` and the
/// secret's first characters, never the secret itself.
pub fn secret_leaks(root: &Path, secrets: &[String]) -> Vec<String> {
    let mut leaks = Vec::new();
    let Ok(dir) = std::fs::read_dir(root.join("var")) else {
        return leaks;
    };
    let mut logs: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for log in logs {
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        for (n, line) in text.lines().enumerate() {
            for s in secrets.iter().filter(|s| line.contains(s.as_str())) {
                let head: String = s.chars().take(4).collect();
                leaks.push(format!("{}:{}: {head}…", log.display(), n + 1));
            }
        }
    }
    leaks
}

/// What a condition polled by [`wait_until`] answers: `true` or `Some` when it holds.
pub trait Reached {
    type Out;
    fn reached(self) -> Option<Self::Out>;
}

impl Reached for bool {
    type Out = ();
    fn reached(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Reached for Option<T> {
    type Out = T;
    fn reached(self) -> Option<T> {
        self
    }
}

/// How often [`wait_until`] looks again: short, so a test goes on soon after the state is
/// reached, and the only pause the tests take.
const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` until it holds and answers what it found; fails the test, naming
/// `what` was awaited, if it still does not hold after `limit`. Tests wait on a state (a
/// file, a lock, a request in the sandbox's log), never for a time and a hope.
pub fn wait_until<R: Reached>(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> R,
) -> R::Out {
    let started = Instant::now();
    loop {
        if let Some(found) = condition().reached() {
            return found;
        }
        assert!(
            started.elapsed() < limit,
            "waited {limit:?} in vain for {what}"
        );
        std::thread::sleep(POLL);
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

/// The MariaDB server of the MySQL suite. Its tests are built to run (`cfg(mariadb)`, see
/// build.rs) only when `AMOCRM_TEST_MYSQL_URL` was set for the build, and are listed as
/// ignored otherwise; one run without it after all fails here and says so.
pub fn mysql_server() -> String {
    std::env::var("AMOCRM_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("AMOCRM_TEST_MYSQL_URL was set when the tests were built: set it again (mysql://root@127.0.0.1:3306)")
}

/// The panel database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mariadb,
}

impl Backend {
    /// Its name, for messages; the `[database]` lines of a fresh panel database on it; and
    /// for MariaDB, the guard that drops that database at the end.
    pub fn database(self) -> (&'static str, String, Option<MysqlDb>) {
        match self {
            Backend::Sqlite => ("sqlite", Panel::sqlite().to_string(), None),
            Backend::Mariadb => {
                let db = MysqlDb::create(&mysql_server());
                ("mariadb", db.conf_lines(), Some(db))
            }
        }
    }
}

/// Two tests from `fn NAME(backend: Backend)`: `NAME::sqlite`, and `NAME::mariadb`, listed
/// as ignored unless the tests were built with `AMOCRM_TEST_MYSQL_URL` set.
#[macro_export]
macro_rules! on_each_database {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::support::Backend::Sqlite)
            }
            #[test]
            #[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
            fn mariadb() {
                super::$name($crate::support::Backend::Mariadb)
            }
        }
    )+};
}

impl Panel {
    /// Writes amocrm.conf: the test integration pointed at `url`, the given `[database]`
    /// and `[sync]` lines, and the sample's rules (everything from `[conditions]` on).
    pub fn write_conf(&self, url: &str, database: &str, sync: &str) {
        let sample =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/amocrm.conf"))
                .unwrap_or_default();
        let rules = sample
            .find("\n[conditions]")
            .map(|i| &sample[i + 1..])
            .unwrap_or("");
        let conf = format!(
            "[auth]\nurl = {url}\nclient_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n\
             redirect_uri = {REDIRECT_URI}\ncode = {AUTH_CODE}\n\n[database]\n{database}\n\n[sync]\n{sync}\n\n{rules}"
        );
        self.write("etc/amocrm/amocrm.conf", &conf);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.path("etc/amocrm/amocrm.conf"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod conf");
    }

    /// The `[database]` lines of a SQLite panel inside this root.
    pub fn sqlite() -> &'static str {
        "driver = sqlite\npath = var/billmgr.db"
    }

    /// The panel database as amocrm.conf names it, opened as the module's readers open it
    /// (the panel hook's spool moved into the queue first).
    pub fn db(&self) -> Box<dyn billmgr_amocrm::db::PanelDb> {
        let paths = billmgr_amocrm::paths::Paths::new(self.root());
        let light = billmgr_amocrm::config::Sources::read_conf(&paths)
            .hook()
            .expect("conf");
        billmgr_amocrm::db::open_panel(&light.database, &paths).expect("open db")
    }

    /// Runs `amocrm sample-panel` and checks it worked.
    pub fn sample_panel(&self) {
        let out = self.amocrm(&["sample-panel"]);
        assert!(
            out.status.success(),
            "sample-panel: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends one panel event through the handler as BILLmanager does and checks that the
    /// document comes back unchanged.
    pub fn event(&self, func: &str, elid: &str, extra: &[(&str, &str)]) {
        self.event_answering(func, elid, None, extra);
    }

    /// [`Panel::event`] whose answer document carries the new object's `<id>`, as after a
    /// create. Variables in `extra` replace the defaults (an admin at level 29).
    pub fn event_answering(
        &self,
        func: &str,
        elid: &str,
        new_id: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let id = new_id.map(|i| format!("<id>{i}</id>")).unwrap_or_default();
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc lang=\"ru\" func=\"{func}\"><ok/>{id}<tparams><func>{func}</func><elid>{elid}</elid><sok>ok</sok></tparams></doc>"
        );
        let mut env = vec![
            ("EVENT_TYPE", "after"),
            ("ACTION_NAME", func),
            ("AUTH_USER", "admin"),
            ("AUTH_LEVEL", "29"),
            ("PARAM_func", func),
            ("PARAM_elid", elid),
            ("PARAM_sok", "ok"),
        ];
        env.extend_from_slice(extra);
        let out = self.handler(&env, doc.as_bytes());
        assert!(out.status.success(), "handler exit for {func}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            doc,
            "handler must pass the document through"
        );
    }
}

/// MySQL `[database]` lines for a fresh database on the test server, and a guard that drops
/// it at the end of the test.
pub struct MysqlDb {
    pub server: String,
    pub name: String,
}

impl MysqlDb {
    pub fn create(server: &str) -> MysqlDb {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "amocrm_e2e_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(server).expect("mysql url"))
            .expect("connect MariaDB");
        use mysql::prelude::Queryable;
        conn.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .expect("create db");
        MysqlDb {
            server: server.trim_end_matches('/').to_string(),
            name,
        }
    }
    pub fn conf_lines(&self) -> String {
        format!("driver = mysql\nurl = {}/{}", self.server, self.name)
    }
}

impl Drop for MysqlDb {
    fn drop(&mut self) {
        if let Ok(opts) = mysql::Opts::from_url(&self.server)
            && let Ok(mut conn) = mysql::Conn::new(opts)
        {
            use mysql::prelude::Queryable;
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}
