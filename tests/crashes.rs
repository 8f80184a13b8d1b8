//! The worker killed with SIGKILL at random moments, again and again, during a full export
//! of thousands of entities: after the restarts amoCRM holds exactly what a clean export
//! makes, nothing twice, no job left taken and no create left marked in flight.

mod exact;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exact::{KINDS, authorize, check_exact, panel, reference, run_until_drained, stress};
use support::{MysqlDb, Panel, Sandbox};

/// A small xorshift generator: the kill times, reproducible from the printed seed.
struct Dice(u64);

impl Dice {
    fn new() -> Dice {
        let seed = std::env::var("AMOCRM_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("kill times from AMOCRM_CRASH_SEED={seed}");
        Dice(seed)
    }
    /// A whole number in `lo..hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo).max(1)
    }
}

fn spawn(p: &Panel, args: &[&str]) -> Child {
    Command::new(support::AMOCRM)
        .args(args)
        .env_clear()
        .env("MGR_ROOT", p.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the worker")
}

/// Creates marked in flight right now, over the three kinds.
fn in_flight(p: &Panel) -> usize {
    let mut db = p.db();
    KINDS
        .iter()
        .map(|(k, _)| db.creating(*k).expect("marks").len())
        .sum()
}

/// Whether an export has queued every entity (its progress file says queueing ended).
fn export_queued(p: &Panel) -> bool {
    let paths = billmgr_amocrm::paths::Paths::new(p.root());
    billmgr_amocrm::sync::export::ExportProgress::load(&paths).is_some_and(|e| !e.queueing)
}

/// Requests amoCRM has had so far.
fn sent(sandbox: &Sandbox) -> usize {
    sandbox
        .get_json("/_sandbox/requests")
        .as_array()
        .map_or(0, Vec::len)
}

/// Jobs the queue has had so far, whatever became of them.
fn jobs(p: &Panel) -> i64 {
    let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
    s.pending + s.taken + s.done + s.skipped
}

/// Where a run stands: the jobs queued and the requests sent so far.
type Progress = (i64, usize);

fn progress(p: &Panel, sandbox: &Sandbox) -> Progress {
    (jobs(p), sent(sandbox))
}

/// Waits for a random moment of a run that has begun: an export that has queued more
/// (killed early: a small one can finish within a second, and an export that ends at once
/// leaves nothing to kill), or a worker at a random request of its first ten; then up to
/// 100 ms more. A run that ends first ends the wait.
fn random_moment(
    p: &Panel,
    sandbox: &Sandbox,
    child: &mut Child,
    before: Progress,
    dice: &mut Dice,
) {
    let nth = before.1 + dice.between(1, 11) as usize;
    let begun = || {
        if export_queued(p) {
            sent(sandbox) >= nth
        } else {
            jobs(p) > before.0
        }
    };
    let mut ended = || child.try_wait().expect("wait").is_some();
    support::wait_until("the run to begin or end", Duration::from_secs(60), || {
        ended() || begun()
    });
    let moment = Instant::now() + Duration::from_millis(dice.between(0, 101));
    support::wait_until("a random moment", Duration::from_secs(5), || {
        ended() || Instant::now() >= moment
    });
}

/// Kills the worker `kills` times at random moments of the export, then lets one finish.
fn crashes_end_exact(database: &str, label: &str, generate: &str, kills: usize) {
    let want = reference(Some(generate));
    let entities = want.count("contacts") + want.count("companies") + want.count("leads");
    let sandbox = Sandbox::start(&["--rate", "0"]);
    // Slow enough that the kills, up to ten requests (2.5 s) apart, fall in the middle of the export:
    // its batches are full, so it takes few requests.
    let p = panel(
        &sandbox,
        database,
        "batch_size = 50\nrate_limit = 4",
        Some(generate),
    );
    authorize(&p);
    let mut dice = Dice::new();
    let started = Instant::now();
    let (mut killed, mut spawned, mut marks_left, mut taken_left) = (0, 0, 0, 0);
    while killed < kills && spawned < kills * 3 {
        // `sync --all` until one has queued the whole export (a kill may come before its
        // queueing is over); then workers carry on with the queue.
        let queued = export_queued(&p);
        let args: &[&str] = if queued {
            &["task"]
        } else {
            &["sync", "--all"]
        };
        let before = progress(&p, &sandbox);
        let mut child = spawn(&p, args);
        spawned += 1;
        random_moment(&p, &sandbox, &mut child, before, &mut dice);
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        }
        child.wait().expect("reap");
        let flight = in_flight(&p);
        marks_left += usize::from(flight > 0);
        let s = p.db().queue_summary(i64::MAX / 2).expect("summary");
        taken_left += usize::from(s.taken > 0);
        if export_queued(&p) && s.pending + s.taken == 0 {
            break;
        }
    }
    if !export_queued(&p) {
        let out = p.amocrm(&["sync", "--all"]);
        assert!(
            out.status.success(),
            "sync --all: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let finishing = run_until_drained(&p, 5);
    eprintln!(
        "{label}: {entities} entities; {spawned} runs, {killed} killed by SIGKILL \
         ({marks_left} kills left creates in flight, {taken_left} left jobs taken), \
         then {finishing} clean run(s); {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    check_exact(&p, &sandbox, &want);
    assert!(killed > 0, "no run was killed: the test proves nothing");
}

#[test]
fn sigkill_during_a_full_export_on_sqlite() {
    if stress() {
        crashes_end_exact(Panel::sqlite(), "sqlite", "3000,1500,5000", 40);
    } else {
        crashes_end_exact(Panel::sqlite(), "sqlite", "800,400,1200", 8);
    }
}

#[test]
#[cfg_attr(not(mariadb), ignore = "needs MariaDB: set AMOCRM_TEST_MYSQL_URL")]
fn sigkill_during_a_full_export_on_mariadb() {
    let server = support::mysql_server();
    let mdb = MysqlDb::create(&server);
    if stress() {
        crashes_end_exact(&mdb.conf_lines(), "mariadb", "2000,1000,3000", 25);
    } else {
        crashes_end_exact(&mdb.conf_lines(), "mariadb", "300,150,450", 5);
    }
}
