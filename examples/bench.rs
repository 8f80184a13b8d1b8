//! The module's speed against its targets, each printed next to its bound or baseline as a
//! ratio: the handler against `cat` given the same stdin (SQLite, and MariaDB when a URL is
//! given), the full export's throughput against `rate_limit × batch_size` on a sandbox that
//! enforces amoCRM's rate, an export where the sync conditions keep out a third of the
//! panel (its requests against the fewest possible, its time against those requests at
//! amoCRM's rate), the export's peak RSS at two sizes, the time from a panel event to
//! the entity existing in amoCRM, and the sweep (`amocrm sync --changed`) of a linked panel
//! where nothing changed against a plain read of the same tables, with its peak RSS, on
//! SQLite and MariaDB. Everything runs the real release binaries as the panel
//! and an admin run them; `scripts/bench.sh` builds them and runs this.
//!
//! Usage: bench [--quick] [--mysql URL] [--only handler,export,export-excluded,rss,latency,sweep]

use std::error::Error;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use billmgr_amocrm::db::{self, PanelDb};
use billmgr_amocrm::model::EntityKind;
use billmgr_amocrm::paths::Paths;
use serde_json::Value;

type R<T> = Result<T, Box<dyn Error>>;

const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret-7d3e91";
const REDIRECT_URI: &str = "https://billing.example.com/billmgr";
const AUTH_CODE: &str = "def50200bench0000code";
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The targets, from the product's acceptance list.
const HANDLER_MEDIAN_MS: f64 = 3.0;
const HANDLER_P95_MS: f64 = 10.0;
const HANDLER_MYSQL_MEDIAN_MS: f64 = 10.0;
const THROUGHPUT_SHARE: f64 = 0.90;
const RSS_MB: f64 = 64.0;
/// "Flat" from the small size to the large one: at most this much growth.
const RSS_FLAT_RATIO: f64 = 1.10;
const LATENCY_S: f64 = 1.5;
/// The sweep with nothing changed: at most this many times a plain read of the same rows.
const SWEEP_TIME_RATIO: f64 = 3.0;
/// amoCRM's own limit, which the sandbox enforces in the throughput run.
const AMO_RATE: u32 = 7;

/// Clients, legal payers, services. The generator's payers are all legal entities
/// (profiletype 2), so these are the sizes of the targets as they stand.
type Mix = (usize, usize, usize);

struct Sizes {
    handler_runs: usize,
    export: Mix,
    /// The same proportions, clients a multiple of three: a third of each kind excluded.
    export_excluded: Mix,
    /// The same proportions as the export (1 : 1 : 3), at 10,000 and 100,000 entities.
    rss: [Mix; 2],
    latency_events: usize,
    /// The sweep's panel, 1 : 1 : 3 as the export's.
    sweep: Mix,
}

const FULL: Sizes = Sizes {
    handler_runs: 300,
    export: (10_000, 10_000, 30_000),
    export_excluded: (3_000, 3_000, 9_000),
    rss: [(2_000, 2_000, 6_000), (20_000, 20_000, 60_000)],
    latency_events: 20,
    sweep: (20_000, 20_000, 60_000),
};

const QUICK: Sizes = Sizes {
    handler_runs: 60,
    export: (400, 400, 1_200),
    export_excluded: (600, 600, 1_800),
    rss: [(200, 200, 600), (2_000, 2_000, 6_000)],
    latency_events: 6,
    sweep: (2_000, 2_000, 6_000),
};

/// The parts `--only` may name.
const PARTS: [&str; 6] = [
    "handler",
    "export",
    "export-excluded",
    "rss",
    "latency",
    "sweep",
];

struct Opts {
    quick: bool,
    mysql: Option<String>,
    only: Vec<String>,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut opts = Opts {
            quick: false,
            mysql: std::env::var("AMOCRM_BENCH_MYSQL_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            only: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => opts.quick = true,
                "--mysql" => opts.mysql = Some(args.next().ok_or("--mysql takes a URL")?),
                "--only" => {
                    let list = args.next().ok_or("--only takes a list")?;
                    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if !PARTS.contains(&part) {
                            return Err(format!(
                                "--only: unknown part {part:?} ({})",
                                PARTS.join(", ")
                            ));
                        }
                        opts.only.push(part.to_string());
                    }
                }
                other => {
                    return Err(format!(
                        "unknown argument {other:?}; usage: bench [--quick] [--mysql URL] [--only {}]",
                        PARTS.join(",")
                    ));
                }
            }
        }
        Ok(opts)
    }
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

fn main() -> ExitCode {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Opts) -> R<()> {
    let sizes = if opts.quick { &QUICK } else { &FULL };
    let env = Env::new()?;
    println!("machine: {}", machine_line());
    println!("load at start: {}", load_average());
    println!(
        "sizes: {}",
        if opts.quick {
            "--quick (smaller than the targets' sizes)"
        } else {
            "full (the targets' sizes)"
        }
    );
    let mut report = Vec::new();
    if opts.wants("handler") {
        let sqlite = Panel::sqlite_lines();
        let f = bench_handler(&env, "SQLite", &sqlite, true, sizes.handler_runs)?;
        report.push(f.line_median(HANDLER_MEDIAN_MS));
        report.push(f.line_p95(HANDLER_P95_MS));
        // The same with the stop switch on: what the worker's start costs the handler.
        let f = bench_handler(&env, "SQLite", &sqlite, false, sizes.handler_runs)?;
        report.push(f.line_info());
        match &opts.mysql {
            Some(url) => {
                let scratch = MysqlScratch::create(url)?;
                let lines = scratch.conf_lines();
                let f = bench_handler(&env, "MariaDB", &lines, true, sizes.handler_runs)?;
                report.push(f.line_median(HANDLER_MYSQL_MEDIAN_MS));
                report.push(f.line_info());
            }
            None => println!(
                "handler (MariaDB): skipped (pass --mysql URL or set AMOCRM_BENCH_MYSQL_URL)"
            ),
        }
    }
    if opts.wants("export") {
        report.push(bench_export(&env, sizes.export)?);
    }
    if opts.wants("export-excluded") {
        report.extend(bench_export_excluded(&env, sizes.export_excluded)?);
    }
    if opts.wants("rss") {
        report.extend(bench_rss(&env, sizes.rss)?);
    }
    if opts.wants("latency") {
        report.push(bench_latency(&env, sizes.latency_events)?);
    }
    if opts.wants("sweep") {
        report.extend(bench_sweep(&env, sizes.sweep, opts.mysql.as_deref())?);
    }
    println!();
    println!("load at end: {}", load_average());
    println!("figure | measured | bound or baseline | ratio | target");
    for line in &report {
        println!("{line}");
    }
    Ok(())
}

// ---------------------------------------------------------------- the machine

fn machine_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, Linux {}, {cpu}", kernel.trim())
}

fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- binaries, sandbox, panel

/// Where the release binaries are and where the scratch panels go.
struct Env {
    amocrm: PathBuf,
    sandbox: PathBuf,
    work: PathBuf,
}

impl Env {
    fn new() -> R<Env> {
        // This example is target/release/examples/bench; the binaries are in target/release.
        let exe = std::env::current_exe()?;
        let dir = match std::env::var_os("AMOCRM_BENCH_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => exe
                .parent()
                .and_then(Path::parent)
                .ok_or("cannot tell where the binaries are")?
                .to_path_buf(),
        };
        let env = Env {
            amocrm: dir.join("amocrm"),
            sandbox: dir.join("amocrm-sandbox"),
            work: dir.join("bench-work"),
        };
        for bin in [&env.amocrm, &env.sandbox] {
            if !bin.exists() {
                return Err(format!(
                    "{} is missing: build with `cargo build --release` first",
                    bin.display()
                )
                .into());
            }
        }
        Ok(env)
    }
}

/// A running `amocrm-sandbox`, stopped when dropped.
struct Sandbox {
    child: Child,
    url: String,
}

impl Sandbox {
    fn start(env: &Env, rate: u32, extra: &[&str]) -> R<Sandbox> {
        let mut child = Command::new(&env.sandbox)
            .args(["--listen", "127.0.0.1:0", "--client-id", CLIENT_ID])
            .args([
                "--client-secret",
                CLIENT_SECRET,
                "--redirect-uri",
                REDIRECT_URI,
            ])
            .args(["--code", AUTH_CODE, "--rate", &rate.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("sandbox stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line.trim().to_string();
        if !url.starts_with("http://") {
            return Err(format!("the sandbox printed {url:?} instead of its URL").into());
        }
        Ok(Sandbox { child, url })
    }

    fn get(&self, path: &str) -> R<Value> {
        let body = ureq::get(&format!("{}{path}", self.url))
            .call()?
            .into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_string()?;
        Ok(serde_json::from_str(&body)?)
    }

    fn contacts(&self) -> R<u64> {
        let state = self.get("/_sandbox/state")?;
        state["counts"]["contacts"]
            .as_u64()
            .ok_or_else(|| "the sandbox's state has no contact count".into())
    }

    /// The API calls so far: (method, path, status, milliseconds since the sandbox started).
    fn requests(&self) -> R<Vec<(String, String, u64, u64)>> {
        let log = self.get("/_sandbox/requests")?;
        Ok(log
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["method"].as_str().unwrap_or("").to_string(),
                            e["path"].as_str().unwrap_or("").to_string(),
                            e["status"].as_u64().unwrap_or(0),
                            e["at_ms"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // SIGTERM: the sandbox stops cleanly on it.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// A scratch `MGR_ROOT` laid out as on a panel, with amocrm.conf pointed at a sandbox.
struct Panel {
    root: PathBuf,
}

impl Panel {
    fn sqlite_lines() -> String {
        "driver = sqlite\npath = var/billmgr.db".to_string()
    }

    /// `settings` (section, key, value) are set in the sample's settings from `[sync]` on;
    /// the rest of the sample (batch_size, rules) is used as shipped.
    fn create(
        env: &Env,
        name: &str,
        url: &str,
        database: &str,
        settings: &[(&str, &str, &str)],
    ) -> R<Panel> {
        let root = env.work.join(name);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        for d in ["etc/amocrm", "var", "addon"] {
            fs::create_dir_all(root.join(d))?;
        }
        fs::copy(
            Path::new(REPO).join("etc/presets.default"),
            root.join("etc/amocrm/presets.default"),
        )?;
        let sample = fs::read_to_string(Path::new(REPO).join("etc/amocrm.conf"))?;
        let from_sync = sample
            .find("\n[sync]")
            .map(|i| &sample[i + 1..])
            .ok_or("etc/amocrm.conf has no [sync] section")?;
        let rest = settings
            .iter()
            .fold(from_sync.to_string(), |text, (section, key, value)| {
                set_key(&text, section, key, value)
            });
        let conf = format!(
            "[auth]\nurl = {url}\nclient_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n\
             redirect_uri = {REDIRECT_URI}\ncode = {AUTH_CODE}\n\n[database]\n{database}\n\n{rest}"
        );
        let conf_path = root.join("etc/amocrm/amocrm.conf");
        fs::write(&conf_path, conf)?;
        fs::set_permissions(&conf_path, fs::Permissions::from_mode(0o600))?;
        Ok(Panel { root })
    }

    fn command(&self, env: &Env) -> Command {
        let mut cmd = Command::new(&env.amocrm);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MGR_ROOT", &self.root);
        cmd
    }

    /// Runs an admin command to its end; its output when it succeeds.
    fn amocrm(&self, env: &Env, args: &[&str]) -> R<String> {
        let out = self.command(env).args(args).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(format!(
                "amocrm {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn generate(&self, env: &Env, (c, p, s): Mix) -> R<Duration> {
        let start = Instant::now();
        self.amocrm(
            env,
            &["sample-panel", "--generate", &format!("{c},{p},{s}")],
        )?;
        Ok(start.elapsed())
    }

    fn db(&self) -> R<Box<dyn PanelDb>> {
        let paths = Paths::new(&self.root);
        let light = billmgr_amocrm::config::Sources::read_conf(&paths)
            .hook()
            .map_err(|p| p.to_string())?;
        Ok(db::open_panel(&light.database, &paths)?)
    }

    /// Waits until no job waits or is being sent and no worker holds the lock.
    fn wait_idle(&self, db: &mut dyn PanelDb, limit: Duration) -> R<()> {
        let paths = Paths::new(&self.root);
        let start = Instant::now();
        loop {
            let busy = db.count_jobs(&["pending", "taken"])? as usize + db::spool::waiting(&paths);
            if busy == 0 && !billmgr_amocrm::sync::lock::is_held(&paths) {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(
                    format!("the worker did not drain {busy} jobs within {limit:?}").into(),
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until no `amocrm task` of this panel is alive (found in /proc by its command
    /// line and MGR_ROOT).
    fn wait_no_worker(&self, env: &Env, limit: Duration) -> R<()> {
        let cmdline = format!("{}\0task\0", env.amocrm.display()).into_bytes();
        let root = format!("MGR_ROOT={}", self.root.display()).into_bytes();
        let start = Instant::now();
        loop {
            let alive = fs::read_dir("/proc")?.flatten().any(|e| {
                fs::read(e.path().join("cmdline")).is_ok_and(|c| c == cmdline)
                    && fs::read(e.path().join("environ"))
                        .is_ok_and(|v| v.split(|b| *b == 0).any(|var| var == root.as_slice()))
            });
            if !alive {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!("the worker still runs after {limit:?}").into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn linked(&self, db: &mut dyn PanelDb) -> R<i64> {
        let mut n = 0;
        for kind in [EntityKind::Account, EntityKind::Profile, EntityKind::Item] {
            n += db.link_count(kind)?;
        }
        Ok(n)
    }

    /// The sample's `[sync] batch_size` (the module's default when absent).
    fn batch_size() -> R<usize> {
        let sample = fs::read_to_string(Path::new(REPO).join("etc/amocrm.conf"))?;
        let mut in_sync = false;
        for line in sample.lines() {
            let t = line.trim_start();
            if t.starts_with('[') {
                in_sync = t.starts_with("[sync]");
            }
            if in_sync && let Some(v) = t.strip_prefix("batch_size") {
                let v = v.trim_start().trim_start_matches('=');
                let v = v.split([';', '#']).next().unwrap_or("").trim();
                return Ok(v.parse()?);
            }
        }
        Ok(50)
    }
}

/// `text` (amocrm.conf) with `key = value` in `[section]`: the line setting the key is
/// replaced; when there is none (absent or commented out) one is added under the header,
/// and the section at the end when it is missing.
fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let header = format!("[{section}]");
    let setting = format!("{key} = {value}");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (mut inside, mut header_at, mut found) = (false, None, None);
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            inside = t.starts_with(&header);
            header_at = header_at.or(inside.then_some(i));
        } else if inside
            && t.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            found = Some(i);
            break;
        }
    }
    match (found, header_at) {
        (Some(i), _) => lines[i] = setting,
        (None, Some(h)) => lines.insert(h + 1, setting),
        (None, None) => lines.extend([String::new(), header, setting]),
    }
    lines.join("\n") + "\n"
}

/// A database of its own on the MariaDB server, dropped at the end.
struct MysqlScratch {
    server: String,
    name: String,
}

impl MysqlScratch {
    fn create(url: &str) -> R<MysqlScratch> {
        use mysql::prelude::Queryable;
        // The server part only: a database named in the URL is not the bench's to fill.
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("--mysql: expected mysql://user@host:port")?;
        let host = rest.split(['/', '?']).next().unwrap_or(rest);
        let server = format!("{scheme}://{host}");
        let name = format!("amocrm_bench_{}", std::process::id());
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&server)?)?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))?;
        Ok(MysqlScratch { server, name })
    }
    fn conf_lines(&self) -> String {
        format!("driver = mysql\nurl = {}/{}", self.server, self.name)
    }
}

impl Drop for MysqlScratch {
    fn drop(&mut self) {
        use mysql::prelude::Queryable;
        if let Ok(opts) = mysql::Opts::from_url(&self.server)
            && let Ok(mut conn) = mysql::Conn::new(opts)
        {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}

// ---------------------------------------------------------------- statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

// ---------------------------------------------------------------- the handler

/// One panel event as BILLmanager sends it: the environment and the document on stdin.
fn event(n: usize) -> (String, String, Vec<u8>) {
    let (func, elid) = match n % 3 {
        0 => ("account.edit", 1001 + n % 100),
        1 => ("profile.edit", 1001 + n % 100),
        _ => ("service.postopen", 10_001 + n % 300),
    };
    let elid = elid.to_string();
    let doc = event_doc(func, &elid);
    (func.to_string(), elid, doc)
}

/// The document the panel hands an after-handler of a submitted form.
fn event_doc(func: &str, elid: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc lang=\"ru\" func=\"{func}\"><ok/><tparams><func>{func}</func><elid>{elid}</elid><sok>ok</sok></tparams></doc>"
    )
    .into_bytes()
}

fn panel_call(cmd: &mut Command, func: &str, elid: &str) {
    cmd.env("EVENT_TYPE", "after")
        .env("ACTION_NAME", func)
        .env("AUTH_USER", "admin")
        .env("AUTH_LEVEL", "29")
        .env("PARAM_func", func)
        .env("PARAM_elid", elid)
        .env("PARAM_sok", "ok");
}

/// Wall time of one run from spawn to exit, as the panel waits for it; checks the
/// document came back unchanged.
fn timed_run(cmd: &mut Command, stdin: &[u8]) -> R<Duration> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        // The document is far smaller than a pipe's buffer: no deadlock with stdout.
        input.write_all(stdin)?;
    }
    let out = child.wait_with_output()?;
    let took = start.elapsed();
    if !out.status.success() || out.stdout != stdin {
        return Err(format!(
            "{:?} exited {} and answered {} bytes instead of the document",
            cmd.get_program(),
            out.status,
            out.stdout.len()
        )
        .into());
    }
    Ok(took)
}

struct HandlerFigures {
    /// The backend, and whether the worker was started.
    backend: String,
    runs: usize,
    handler: Vec<f64>,
    cat: Vec<f64>,
}

impl HandlerFigures {
    fn median_delta(&self) -> f64 {
        percentile(&self.handler, 50.0) - percentile(&self.cat, 50.0)
    }
    fn p95_delta(&self) -> f64 {
        percentile(&self.handler, 95.0) - percentile(&self.cat, 95.0)
    }
    fn line_median(&self, bound: f64) -> String {
        let d = self.median_delta();
        format!(
            "handler median, {} ({} runs) | {:.2} ms (cat {:.2} ms): +{d:.2} ms | +{bound} ms | {:.2} | {}",
            self.backend,
            self.runs,
            percentile(&self.handler, 50.0),
            percentile(&self.cat, 50.0),
            d / bound,
            verdict(d <= bound)
        )
    }
    fn line_p95(&self, bound: f64) -> String {
        let d = self.p95_delta();
        format!(
            "handler p95, {} | {:.2} ms (cat {:.2} ms): +{d:.2} ms | +{bound} ms | {:.2} | {}",
            self.backend,
            percentile(&self.handler, 95.0),
            percentile(&self.cat, 95.0),
            d / bound,
            verdict(d <= bound)
        )
    }
    /// Median and p95 of a variant without a target of its own.
    fn line_info(&self) -> String {
        format!(
            "handler, {} | median +{:.2} ms, p95 +{:.2} ms over cat | (no target) | - | -",
            self.backend,
            self.median_delta(),
            self.p95_delta()
        )
    }
}

/// Handler and `cat` runs interleaved (which goes first alternates), each given the same
/// environment and document. Syncing is on, so every handler run wakes the worker as on a
/// panel; the bench waits for that worker to finish before the next run, so each handler
/// run starts a worker and neither kind of run competes with one. With `syncing` off (the
/// stop switch) events are only queued and no worker starts.
fn bench_handler(
    env: &Env,
    backend: &str,
    database: &str,
    syncing: bool,
    runs: usize,
) -> R<HandlerFigures> {
    let name = format!(
        "handler-{}{}",
        backend.to_lowercase(),
        if syncing { "" } else { "-off" }
    );
    let backend = if syncing {
        backend.to_string()
    } else {
        format!("{backend}, syncing off (no worker started)")
    };
    // No rate limit here: the woken workers must not queue behind amoCRM's limit.
    let sandbox = Sandbox::start(env, 0, &[])?;
    let switch: &[(&str, &str, &str)] = if syncing {
        &[]
    } else {
        &[("sync", "enabled", "no")]
    };
    let panel = Panel::create(env, &name, &sandbox.url, database, switch)?;
    panel.generate(env, (100, 100, 300))?;
    // The bench's own connection is open only between runs: one held open would keep the
    // handler from ever being the database's last connection, as it is on a panel. The
    // woken worker unlocks before it closes the database and exits: the next run waits
    // for its process to end too, or it would compete with that ending.
    let settle = || -> R<()> {
        if syncing {
            panel.wait_idle(panel.db()?.as_mut(), Duration::from_secs(60))?;
            panel.wait_no_worker(env, Duration::from_secs(10))?;
        }
        Ok(())
    };
    // Events then concern entities already in amoCRM, as on a panel in service.
    if syncing {
        panel.amocrm(env, &["sync", "--all"])?;
        settle()?;
    }

    // The disk writes still pending (the release build's, the panel just generated) would
    // land in the handler's own syncs: flush them first, as on a panel in service.
    // SAFETY: sync(2) takes no arguments and touches no memory of this process.
    unsafe { libc::sync() };

    let warmup = 5;
    let mut handler = Vec::with_capacity(runs);
    let mut cat = Vec::with_capacity(runs);
    for n in 0..runs + warmup {
        let (func, elid, doc) = event(n);
        let mut h = panel.command(env);
        panel_call(&mut h, &func, &elid);
        let mut c = Command::new("cat");
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MGR_ROOT", &panel.root);
        panel_call(&mut c, &func, &elid);
        let (th, tc) = if n % 2 == 0 {
            let tc = timed_run(&mut c, &doc)?;
            let th = timed_run(&mut h, &doc)?;
            settle()?;
            (th, tc)
        } else {
            let th = timed_run(&mut h, &doc)?;
            settle()?;
            (th, timed_run(&mut c, &doc)?)
        };
        if n >= warmup {
            handler.push(ms(th));
            cat.push(ms(tc));
        }
    }
    let f = HandlerFigures {
        backend,
        runs,
        handler: sorted(handler),
        cat: sorted(cat),
    };
    println!(
        "handler ({}, {runs} runs each, interleaved with cat): median {:.2} ms vs cat {:.2} ms (+{:.2}); p95 {:.2} ms vs cat {:.2} ms (+{:.2}); max {:.2} ms",
        f.backend,
        percentile(&f.handler, 50.0),
        percentile(&f.cat, 50.0),
        f.median_delta(),
        percentile(&f.handler, 95.0),
        percentile(&f.cat, 95.0),
        f.p95_delta(),
        f.handler.last().copied().unwrap_or(f64::NAN),
    );
    Ok(f)
}

// ---------------------------------------------------------------- the full export

/// Runs `amocrm sync --all` to its end and returns its wall time and peak RSS in KiB, from
/// wait4's rusage of that process.
fn export_with_rusage(env: &Env, panel: &Panel) -> R<(Duration, i64)> {
    run_with_rusage(env, panel, &["sync", "--all"])
}

/// Runs an admin command to its end: its wall time and peak RSS in KiB (wait4's rusage).
fn run_with_rusage(env: &Env, panel: &Panel, args: &[&str]) -> R<(Duration, i64)> {
    let out = fs::File::create(panel.root.join("var/bench-sync.out"))?;
    let start = Instant::now();
    let child = panel
        .command(env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The child is reaped here rather than by `Child::wait`, which gives no rusage.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = start.elapsed();
    if got != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()).into());
    }
    let status = ExitStatus::from_raw(status);
    if !status.success() {
        let text = fs::read_to_string(panel.root.join("var/bench-sync.out")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let cmd = args.join(" ");
        return Err(format!("amocrm {cmd} exited {status}: {}", tail.join(" / ")).into());
    }
    Ok((took, usage.ru_maxrss))
}

/// A sandbox enforcing amoCRM's rate (and its block on sustained overrun) and a SQLite
/// panel whose `rate_limit` is that rate, with these sync conditions (key, condition)
/// instead of the sample's.
fn at_amo_rate(env: &Env, name: &str, conditions: &[(&str, &str)]) -> R<(Sandbox, Panel)> {
    let sandbox = Sandbox::start(env, AMO_RATE, &[])?;
    let rate = AMO_RATE.to_string();
    let mut settings = vec![("sync", "rate_limit", rate.as_str())];
    settings.extend(conditions.iter().map(|(k, c)| ("conditions", *k, *c)));
    let panel = Panel::create(env, name, &sandbox.url, &Panel::sqlite_lines(), &settings)?;
    Ok((sandbox, panel))
}

fn bench_export(env: &Env, mix: Mix) -> R<String> {
    let (sandbox, panel) = at_amo_rate(env, "export", &[])?;
    let made = panel.generate(env, mix)?;
    println!(
        "export: generated {} clients, {} legal payers, {} services (plus the sample's) in {:.1} s",
        mix.0,
        mix.1,
        mix.2,
        made.as_secs_f64()
    );
    let (took, rss_kib) = export_with_rusage(env, &panel)?;
    let mut db = panel.db()?;
    let entities = panel.linked(db.as_mut())?;
    let failed = db.count_jobs(&["failed", "pending", "taken"])?;
    let log = sandbox.requests()?;
    let writes: Vec<u64> = log
        .iter()
        .filter(|(m, p, s, _)| {
            (m == "POST" || m == "PATCH")
                && *s == 200
                && ["contacts", "companies", "leads"]
                    .iter()
                    .any(|k| p.trim_end_matches('/') == format!("/api/v4/{k}"))
        })
        .map(|e| e.3)
        .collect();
    let blocked = log.iter().filter(|e| e.2 == 403).count();
    let limited = log.iter().filter(|e| e.2 == 429).count();
    let (first, last) = (
        writes.iter().min().copied().unwrap_or(0),
        writes.iter().max().copied().unwrap_or(0),
    );
    let span = (last.saturating_sub(first)) as f64 / 1000.0;
    let per_s = entities as f64 / span.max(0.001);
    let whole = entities as f64 / took.as_secs_f64();
    let batch = Panel::batch_size()?;
    let bound = f64::from(AMO_RATE) * batch as f64;
    println!(
        "export: {entities} entities in amoCRM ({} left in the queue), {} requests ({} entity writes), {limited} × 429, {blocked} × 403; \
         first to last entity {span:.1} s = {per_s:.1}/s; whole run {:.1} s = {whole:.1}/s; bound {AMO_RATE} req/s × {batch} = {bound}/s; peak RSS {:.1} MB",
        failed,
        log.len(),
        writes.len(),
        took.as_secs_f64(),
        rss_kib as f64 / 1024.0
    );
    let ratio = per_s / bound;
    Ok(format!(
        "export throughput ({entities} entities, SQLite) | {per_s:.1}/s (whole run {whole:.1}/s), {limited} × 429, {blocked} × 403 | {bound}/s | {ratio:.2} | {} (≥ {THROUGHPUT_SHARE:.2}, zero 403: {})",
        verdict(ratio >= THROUGHPUT_SHARE && blocked == 0 && failed == 0),
        if blocked == 0 { "yes" } else { "no" }
    ))
}

// ---------------------------------------------------------------- a third excluded

/// The export where a third is kept out by the sync conditions: only the first provider's
/// clients, their companies and services go to amoCRM. The generator puts every third
/// client under the second provider, and with clients a multiple of three, every third
/// payer and service belongs to one of them.
const EXCLUDING: [(&str, &str); 3] = [
    ("account", "account.project = 1"),
    (
        "profile",
        "profile.profiletype in (2, 3) and account.project = 1",
    ),
    ("item", "account.project = 1"),
];

/// What meets [`EXCLUDING`] in SQL, with the worker's own rules: a staff account (level 28
/// and up) is never a contact, an individual payer (profiletype 1) never a company.
const CLIENT_SYNCED: &str = "a.project = 1 AND a.level < 28";
const PAYER_SYNCED: &str = "p.profiletype IN (2, 3)";

/// The bounds: requests made against the fewest possible, time against those requests at
/// amoCRM's rate.
const REQUESTS_RATIO: f64 = 1.15;
const PACE_RATIO: f64 = 1.10;

/// amoCRM's most entities (and links) a request, and its page of a list.
const MOST_PER_REQUEST: i64 = 250;
/// The custom-field lists of contacts, companies and leads, and the pipelines.
const METADATA_READS: i64 = 4;

/// What the panel holds that meets the conditions.
struct Eligible {
    contacts: i64,
    companies: i64,
    leads: i64,
    /// New companies linked to their client's contact: one per client with a company, as
    /// a contact takes only the first company made for its client.
    company_links: i64,
}

impl Eligible {
    fn count(panel: &Panel) -> R<Eligible> {
        let conn = rusqlite::Connection::open_with_flags(
            panel.root.join("var/billmgr.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let count = |sql: String| -> R<i64> { Ok(conn.query_row(&sql, [], |r| r.get(0))?) };
        let payers = format!(
            "FROM profile p JOIN account a ON a.id = p.account WHERE {PAYER_SYNCED} AND {CLIENT_SYNCED}"
        );
        Ok(Eligible {
            contacts: count(format!(
                "SELECT COUNT(*) FROM account a WHERE {CLIENT_SYNCED}"
            ))?,
            companies: count(format!("SELECT COUNT(*) {payers}"))?,
            leads: count(format!(
                "SELECT COUNT(*) FROM item i JOIN account a ON a.id = i.account WHERE {CLIENT_SYNCED}"
            ))?,
            company_links: count(format!("SELECT COUNT(DISTINCT p.account) {payers}"))?,
        })
    }

    fn entities(&self) -> i64 {
        self.contacts + self.companies + self.leads
    }

    fn describe(&self) -> String {
        format!(
            "{} clients, {} payers, {} services, {} clients with a company",
            self.contacts, self.companies, self.leads, self.company_links
        )
    }
}

/// The fewest requests that export the eligible entities, part by part.
struct Fewest {
    parts: Vec<(String, i64)>,
}

impl Fewest {
    /// Full batches of each kind, the companies' links 250 a request and the metadata
    /// reads; and, since the run needs them, the one token exchange (the panel starts with
    /// an authorization code and no tokens) and the one read of amoCRM's existing contacts
    /// for duplicate matching (more than 200 jobs are due), page by page until a short
    /// page: ⌊existing / 250⌋ + 1 requests.
    fn new(e: &Eligible, batch: i64, existing_contacts: i64) -> Fewest {
        let up = |n: i64, per: i64| (n + per - 1) / per;
        let parts = [
            (
                format!("contact creates (⌈{}/{batch}⌉)", e.contacts),
                up(e.contacts, batch),
            ),
            (
                format!("company creates (⌈{}/{batch}⌉)", e.companies),
                up(e.companies, batch),
            ),
            (
                format!("lead creates (⌈{}/{batch}⌉)", e.leads),
                up(e.leads, batch),
            ),
            (
                format!(
                    "company link requests (⌈{}/{MOST_PER_REQUEST}⌉)",
                    e.company_links
                ),
                up(e.company_links, MOST_PER_REQUEST),
            ),
            ("metadata reads".to_string(), METADATA_READS),
            ("token exchange".to_string(), 1),
            (
                format!("contact list pages ({existing_contacts} existing)"),
                existing_contacts / MOST_PER_REQUEST + 1,
            ),
        ];
        Fewest {
            parts: parts.into(),
        }
    }

    fn total(&self) -> i64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(|(w, n)| format!("{n} {w}")).collect();
        format!("{} = {}", parts.join(" + "), self.total())
    }
}

/// The sandbox's request log: how many of each endpoint, the 429s and 403s, and the time
/// from the first request to the last.
struct RequestLog {
    by_endpoint: std::collections::BTreeMap<String, usize>,
    total: usize,
    limited: usize,
    blocked: usize,
    span_s: f64,
}

impl RequestLog {
    fn read(sandbox: &Sandbox) -> R<RequestLog> {
        let log = sandbox.requests()?;
        let mut by_endpoint = std::collections::BTreeMap::new();
        for (method, path, _, _) in &log {
            *by_endpoint.entry(format!("{method} {path}")).or_insert(0) += 1;
        }
        let at = log.iter().map(|e| e.3);
        let span_ms = at.clone().max().unwrap_or(0) - at.min().unwrap_or(0);
        Ok(RequestLog {
            by_endpoint,
            total: log.len(),
            limited: log.iter().filter(|e| e.2 == 429).count(),
            blocked: log.iter().filter(|e| e.2 == 403).count(),
            span_s: span_ms as f64 / 1000.0,
        })
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .by_endpoint
            .iter()
            .map(|(e, n)| format!("{n} {e}"))
            .collect();
        parts.join(", ")
    }
}

/// The full export of a panel where a third of the clients, payers and services are kept
/// out by the conditions: requests made against the fewest possible for that data, and
/// the time they took against the same requests at amoCRM's rate.
fn bench_export_excluded(env: &Env, mix: Mix) -> R<Vec<String>> {
    let (sandbox, panel) = at_amo_rate(env, "export-excluded", &EXCLUDING)?;
    let made = panel.generate(env, mix)?;
    let eligible = Eligible::count(&panel)?;
    let existing = sandbox.contacts()? as i64;
    let batch = Panel::batch_size()? as i64;
    let fewest = Fewest::new(&eligible, batch, existing);
    println!(
        "export-excluded: generated {} clients, {} legal payers, {} services (plus the sample's) in {:.1} s; \
         meeting the conditions: {}",
        mix.0,
        mix.1,
        mix.2,
        made.as_secs_f64(),
        eligible.describe()
    );
    let (took, _) = export_with_rusage(env, &panel)?;
    let log = RequestLog::read(&sandbox)?;
    let synced = synced_as_eligible(&panel, &eligible)?;
    println!(
        "export-excluded: whole run {:.1} s; {} requests: {}",
        took.as_secs_f64(),
        log.total,
        log.describe()
    );
    println!(
        "export-excluded: fewest possible (the token exchange and the read of existing contacts counted, as this run needs both): {}",
        fewest.describe()
    );
    Ok(excluded_lines(&eligible, &fewest, &log, synced))
}

/// Whether the run linked exactly the entities that meet the conditions and left no job
/// waiting or failed; says what differs when not.
fn synced_as_eligible(panel: &Panel, e: &Eligible) -> R<bool> {
    let mut db = panel.db()?;
    let linked = [
        db.link_count(EntityKind::Account)?,
        db.link_count(EntityKind::Profile)?,
        db.link_count(EntityKind::Item)?,
    ];
    let left = db.count_jobs(&["failed", "pending", "taken"])?;
    let ok = linked == [e.contacts, e.companies, e.leads] && left == 0;
    if !ok {
        println!(
            "export-excluded: linked {linked:?} contacts, companies, leads against {:?} meeting the conditions; {left} jobs left",
            [e.contacts, e.companies, e.leads]
        );
    }
    Ok(ok)
}

fn excluded_lines(e: &Eligible, fewest: &Fewest, log: &RequestLog, synced: bool) -> Vec<String> {
    let requests = log.total as f64 / fewest.total() as f64;
    let bound_s = log.total as f64 / f64::from(AMO_RATE);
    let pace = log.span_s / bound_s;
    vec![
        format!(
            "export requests, a third excluded ({} entities, SQLite) | {} requests | {} fewest | {requests:.2} | {} (≤ {REQUESTS_RATIO:.2}{})",
            e.entities(),
            log.total,
            fewest.total(),
            verdict(requests <= REQUESTS_RATIO && synced),
            if synced {
                ""
            } else {
                "; not every eligible entity synced"
            }
        ),
        format!(
            "export time, a third excluded | {:.1} s, {} × 429, {} × 403 | {} requests / {AMO_RATE} = {bound_s:.1} s | {pace:.2} | {} (≤ {PACE_RATIO:.2}, zero 403: {})",
            log.span_s,
            log.limited,
            log.blocked,
            log.total,
            verdict(pace <= PACE_RATIO && log.blocked == 0),
            if log.blocked == 0 { "yes" } else { "no" }
        ),
    ]
}

// ---------------------------------------------------------------- peak RSS

fn bench_rss(env: &Env, mixes: [Mix; 2]) -> R<Vec<String>> {
    let mut peaks = Vec::new();
    for (i, mix) in mixes.iter().enumerate() {
        // Memory does not depend on the pace, so these runs are not held to amoCRM's rate.
        let sandbox = Sandbox::start(env, 0, &["--block-after", "0"])?;
        let panel = Panel::create(
            env,
            &format!("rss-{i}"),
            &sandbox.url,
            &Panel::sqlite_lines(),
            &[("sync", "rate_limit", "100000")],
        )?;
        panel.generate(env, *mix)?;
        let (took, rss_kib) = export_with_rusage(env, &panel)?;
        let mut db = panel.db()?;
        let entities = panel.linked(db.as_mut())?;
        let mb = rss_kib as f64 / 1024.0;
        println!(
            "rss: {entities} entities exported in {:.1} s (no rate limit), peak RSS {mb:.1} MB",
            took.as_secs_f64()
        );
        peaks.push((entities, mb));
        // The large panel's files are big: not kept once measured.
        drop(db);
        let _ = fs::remove_dir_all(&panel.root);
    }
    let mut lines: Vec<String> = peaks
        .iter()
        .map(|(n, mb)| {
            format!(
                "export peak RSS at {n} entities | {mb:.1} MB | {RSS_MB} MB | {:.2} | {}",
                mb / RSS_MB,
                verdict(*mb <= RSS_MB)
            )
        })
        .collect();
    if let [(n0, a), (n1, b)] = peaks[..] {
        let growth = b / a;
        lines.push(format!(
            "peak RSS growth {n0} → {n1} entities | ×{growth:.2} | ×{RSS_FLAT_RATIO:.2} (flat) | {:.2} | {}",
            growth / RSS_FLAT_RATIO,
            verdict(growth <= RSS_FLAT_RATIO)
        ));
    }
    Ok(lines)
}

// ---------------------------------------------------------------- event to amoCRM

/// With the queue idle and no worker running, one `account.edit` for a client not yet in
/// amoCRM goes through the handler (which wakes the worker as on a panel); the sandbox is
/// polled every 5 ms until the contact is there.
fn bench_latency(env: &Env, events: usize) -> R<String> {
    let (sandbox, panel) = at_amo_rate(env, "latency", &[])?;
    panel.generate(env, (events, 0, 0))?;
    // One sample client first, so the tokens exist as on a panel in service.
    panel.amocrm(env, &["sync", "--account", "2"])?;
    let mut db = panel.db()?;
    panel.wait_idle(db.as_mut(), Duration::from_secs(60))?;
    let mut took = Vec::new();
    for k in 0..events {
        // A fresh one-second window at amoCRM, as between a panel's sporadic events.
        std::thread::sleep(Duration::from_millis(1100));
        let before = sandbox.contacts()?;
        let elid = (1001 + k).to_string();
        let doc = event_doc("account.edit", &elid);
        let mut h = panel.command(env);
        panel_call(&mut h, "account.edit", &elid);
        timed_run(&mut h, &doc)?;
        let start = Instant::now();
        loop {
            if sandbox.contacts()? > before {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!("client {elid} did not reach amoCRM within 60 s").into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        took.push(start.elapsed().as_secs_f64());
        panel.wait_idle(db.as_mut(), Duration::from_secs(60))?;
    }
    let took = sorted(took);
    let median = percentile(&took, 50.0);
    println!(
        "event→amoCRM ({events} new clients): median {:.3} s, min {:.3} s, max {:.3} s",
        median,
        took.first().copied().unwrap_or(f64::NAN),
        took.last().copied().unwrap_or(f64::NAN)
    );
    Ok(format!(
        "event → amoCRM median ({events} events, SQLite) | {median:.3} s | {LATENCY_S} s | {:.2} | {}",
        median / LATENCY_S,
        verdict(median <= LATENCY_S)
    ))
}

// ---------------------------------------------------------------- the sweep

/// The tables a sweep reads, read whole by the baseline: those the panel's entities are
/// made from, and the links it compares them with (what was last sent).
const SWEPT_TABLES: [&str; 9] = [
    "account",
    "user",
    "profile",
    "item",
    "pricelist",
    "itemparam",
    "amocrm_account2contact",
    "amocrm_profile2company",
    "amocrm_item2lead",
];

/// Runs of the sweep and of the baseline, interleaved; the medians are compared.
const SWEEP_RUNS: usize = 7;

/// `SELECT *` of every table a sweep reads, through the driver the module uses, every value
/// turned into text as the module's driver turns it and dropped row by row: what any sweep
/// must at least do. Returns the rows read.
fn plain_read(db: &BaseDb) -> R<u64> {
    let mut rows = 0u64;
    match db {
        BaseDb::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path)?;
            for table in SWEPT_TABLES {
                rows += sqlite_select_all(&conn, table)?;
            }
        }
        BaseDb::Mysql(url) => {
            let mut conn = mysql::Conn::new(mysql::Opts::from_url(url)?)?;
            for table in SWEPT_TABLES {
                rows += mysql_select_all(&mut conn, table)?;
            }
        }
    }
    Ok(rows)
}

enum BaseDb {
    Sqlite(PathBuf),
    Mysql(String),
}

fn sqlite_select_all(conn: &rusqlite::Connection, table: &str) -> R<u64> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table}"))?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let mut values: Vec<Option<String>> = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            let text = match r.get_ref(i)? {
                ValueRef::Null => None,
                ValueRef::Integer(v) => Some(v.to_string()),
                ValueRef::Real(v) => Some(v.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Some(String::from_utf8_lossy(t).into_owned())
                }
            };
            values.push(text);
        }
        std::hint::black_box((&names, values));
        n += 1;
    }
    Ok(n)
}

fn mysql_select_all(conn: &mut mysql::Conn, table: &str) -> R<u64> {
    use mysql::prelude::Queryable;
    let mut n = 0;
    // The binary protocol, as the module's driver reads with prepared statements.
    let result = conn.exec_iter(format!("SELECT * FROM {table}"), ())?;
    let mut names: Option<Vec<String>> = None;
    for row in result {
        let row = row?;
        // As the module's driver: the column names once a statement.
        let names = names.get_or_insert_with(|| {
            (row.columns_ref().iter())
                .map(|c| c.name_str().into_owned())
                .collect()
        });
        let values: Vec<Option<String>> = (row.unwrap().into_iter())
            .map(|v| match v {
                mysql::Value::NULL => None,
                mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                other => Some(other.as_sql(true)),
            })
            .collect();
        std::hint::black_box((&*names, values));
        n += 1;
    }
    Ok(n)
}

/// The sweep of a linked panel where nothing changed, on SQLite and (with a server) on
/// MariaDB: its time against the baseline's, and its peak RSS.
fn bench_sweep(env: &Env, mix: Mix, mysql: Option<&str>) -> R<Vec<String>> {
    let mut lines = sweep_on(env, "SQLite", &Panel::sqlite_lines(), None, mix)?;
    match mysql {
        Some(url) => {
            let scratch = MysqlScratch::create(url)?;
            let base = format!("{}/{}", scratch.server, scratch.name);
            lines.extend(sweep_on(
                env,
                "MariaDB",
                &scratch.conf_lines(),
                Some(base),
                mix,
            )?);
        }
        None => {
            println!("sweep (MariaDB): skipped (pass --mysql URL or set AMOCRM_BENCH_MYSQL_URL)")
        }
    }
    Ok(lines)
}

fn sweep_on(
    env: &Env,
    backend: &str,
    database: &str,
    mysql: Option<String>,
    mix: Mix,
) -> R<Vec<String>> {
    // The export that links everything first is not what is measured: no rate limit.
    let sandbox = Sandbox::start(env, 0, &["--block-after", "0"])?;
    let name = format!("sweep-{}", backend.to_lowercase());
    let panel = Panel::create(
        env,
        &name,
        &sandbox.url,
        database,
        &[("sync", "rate_limit", "100000")],
    )?;
    panel.generate(env, mix)?;
    let (took, _) = export_with_rusage(env, &panel)?;
    let linked = panel.linked(panel.db()?.as_mut())?;
    println!(
        "sweep, {backend}: {linked} entities linked by the export in {:.1} s",
        took.as_secs_f64()
    );
    let base = match mysql {
        Some(url) => BaseDb::Mysql(url),
        None => BaseDb::Sqlite(panel.root.join("var/billmgr.db")),
    };
    // The first sweep after the export has no digests yet: it compares every entity.
    let before = sandbox.requests()?.len();
    let (first, first_rss) = run_with_rusage(env, &panel, &["sync", "--changed"])?;
    check_swept_nothing(&panel, &sandbox, before)?;
    let (mut sweeps, mut reads, mut peak, mut rows) = (Vec::new(), Vec::new(), first_rss, 0);
    for _ in 0..SWEEP_RUNS {
        let start = Instant::now();
        rows = plain_read(&base)?;
        reads.push(start.elapsed().as_secs_f64());
        let before = sandbox.requests()?.len();
        let (took, rss_kib) = run_with_rusage(env, &panel, &["sync", "--changed"])?;
        sweeps.push(took.as_secs_f64());
        peak = peak.max(rss_kib);
        check_swept_nothing(&panel, &sandbox, before)?;
    }
    let (sweep, read) = (
        percentile(&sorted(sweeps), 50.0),
        percentile(&sorted(reads), 50.0),
    );
    let (first, mb) = (first.as_secs_f64(), peak as f64 / 1024.0);
    println!(
        "sweep, {backend}: {linked} entities unchanged in {sweep:.2} s (median of {SWEEP_RUNS}; \
         the first after the export, without digests, {first:.2} s); the baseline read {rows} \
         rows in {read:.2} s (median of {SWEEP_RUNS}); peak RSS {mb:.1} MB"
    );
    let bound = SWEEP_TIME_RATIO * read;
    let _ = fs::remove_dir_all(&panel.root);
    Ok(vec![
        format!(
            "sweep, nothing changed, {linked} entities, {backend}: time | {sweep:.2} s (×{:.2} the baseline) | {SWEEP_TIME_RATIO} × baseline {read:.2} s = {bound:.2} s | {:.2} | {}",
            sweep / read,
            sweep / bound,
            verdict(sweep <= bound)
        ),
        format!(
            "sweep, the first after the export (no digests yet), {backend} | {first:.2} s (×{:.2} the baseline) | (no target) | - | -",
            first / read
        ),
        format!(
            "sweep peak RSS, {linked} entities, {backend} | {mb:.1} MB | {RSS_MB} MB | {:.2} | {}",
            mb / RSS_MB,
            verdict(mb <= RSS_MB)
        ),
    ])
}

/// A sweep of a panel where nothing changed queues nothing and writes nothing to amoCRM.
fn check_swept_nothing(panel: &Panel, sandbox: &Sandbox, before: usize) -> R<()> {
    let state: Value = serde_json::from_str(&fs::read_to_string(
        panel.root.join("var/amocrm_sweep.json"),
    )?)?;
    let queued = state["last"]["queued"].as_object().map_or(0, |m| {
        m.values()
            .map(|c| {
                c.as_object()
                    .map_or(0, |c| c.values().filter_map(Value::as_u64).sum::<u64>())
            })
            .sum::<u64>()
    });
    let writes = sandbox.requests()?[before..]
        .iter()
        .filter(|r| r.0 != "GET")
        .count();
    if queued > 0 || writes > 0 {
        return Err(format!(
            "the sweep of an unchanged panel queued {queued} and wrote {writes} times"
        )
        .into());
    }
    Ok(())
}
