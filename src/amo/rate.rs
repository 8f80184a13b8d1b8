//! The rate limit: amoCRM counts requests per integration, and repeated overruns get the
//! integration blocked for everyone. Every process of the module (the worker, the admin's
//! commands, the panel's screens) draws from one budget of `rate_limit` requests a second,
//! kept in a state file under the panel's `var/` (see `rate_state`); a process that cannot
//! use the file keeps a budget of its own.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::clock::Mono;
use super::rate_state::StateFile;
use super::rate_window::State;

/// The budget of a process that cannot use the state file: its own requests only.
static LOCAL: Mutex<State> = Mutex::new(State::new());

/// A slot's id: the process and a counter. Pids are not reused within the second or so a
/// slot counts, so the slot a dead process left is never taken for a live one's.
fn next_id() -> u64 {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    u64::from(std::process::id()) << 32 | u64::from(SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Where a slot was reserved, so that its end is recorded there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    File,
    Process,
}

/// A request's place in the budget; [`Budget::finished`] counts it from its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    /// The slot's id, where it is kept, and the start it was given.
    slot: Option<(u64, Place, Mono)>,
}

/// The state file of one client, opened at its first request.
enum Shared {
    Unopened,
    Open(StateFile),
    /// It could not be created, opened, locked, read or written: the process's own budget.
    Unusable,
}

/// `rate` requests a second for every process of the module that uses the same state file.
pub(crate) struct Budget {
    rate: f64,
    path: PathBuf,
    /// Also keeps this process's threads apart: the file's lock is the process's, not a
    /// thread's.
    shared: Mutex<Shared>,
}

impl Budget {
    /// `rate` is requests a second; zero, negative or not a number means no limit (and no
    /// state file).
    pub fn new(path: PathBuf, rate: f64) -> Budget {
        Budget {
            rate,
            path,
            shared: Mutex::new(Shared::Unopened),
        }
    }

    fn limited(&self) -> bool {
        self.rate.is_finite() && self.rate > 0.0
    }

    /// Waits until another request may start, and reserves its slot.
    pub fn acquire(&self) -> Ticket {
        if !self.limited() {
            return Ticket { slot: None };
        }
        let id = next_id();
        let (at, place) = self.change(|s| {
            let now = Mono::now().max(s.hold);
            s.window.reserve_for(id, now, self.rate)
        });
        let wait = Mono::now().until(at);
        if !wait.is_zero() {
            log::debug!(
                "waiting {} ms for the rate budget ({} requests a second for every amocrm process)",
                wait.as_millis(),
                self.rate
            );
            std::thread::sleep(wait);
        }
        Ticket {
            slot: Some((id, place, at)),
        }
    }

    /// The request of `ticket` is over: its answer came (or it gave up) now.
    pub fn finished(&self, ticket: Ticket) {
        let Some((id, place, _)) = ticket.slot else {
            return;
        };
        let end = |s: &mut State| s.window.finish(id, Mono::now());
        match place {
            Place::File => {
                let mut shared = lock(&self.shared);
                if let Shared::Open(file) = &mut *shared
                    && let Err(e) = file.update(end)
                {
                    self.unusable(&mut shared, &e);
                }
            }
            Place::Process => end(&mut lock(&LOCAL)),
        }
    }

    /// amoCRM answered 429: no process starts a request for `pause` from now.
    pub fn hold(&self, pause: Duration) {
        if self.limited() {
            let until = Mono::now() + pause;
            self.change(|s| s.hold = s.hold.max(until));
        }
    }

    /// Runs `f` on the shared state, or on the process's own when the file cannot be used,
    /// and says which it was.
    fn change<R>(&self, mut f: impl FnMut(&mut State) -> R) -> (R, Place) {
        let mut shared = lock(&self.shared);
        if matches!(*shared, Shared::Unopened) {
            match StateFile::open(&self.path) {
                Ok(file) => *shared = Shared::Open(file),
                Err(e) => self.unusable(&mut shared, &e),
            }
        }
        if let Shared::Open(file) = &mut *shared {
            match file.update(&mut f) {
                Ok(r) => return (r, Place::File),
                Err(e) => self.unusable(&mut shared, &e),
            }
        }
        drop(shared);
        (f(&mut lock(&LOCAL)), Place::Process)
    }

    /// Gives up the state file for the life of this client (closing it drops its lock),
    /// and says so once a process: requests still go out, at this process's own pace.
    fn unusable(&self, shared: &mut Shared, e: &std::io::Error) {
        static WARNED: AtomicBool = AtomicBool::new(false);
        *shared = Shared::Unusable;
        if !WARNED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "the rate budget shared by the module's processes cannot be used ({}: {e}); \
                 this process keeps its own {} requests a second, so processes running at \
                 the same time may exceed amoCRM's limit",
                self.path.display(),
                self.rate
            );
        }
    }

    /// Whether this client draws from the state file (false before its first request).
    #[cfg(test)]
    fn is_shared(&self) -> bool {
        matches!(*lock(&self.shared), Shared::Open(_))
    }
}

#[cfg(test)]
impl Ticket {
    fn start(&self) -> Mono {
        self.slot.map(|(_, _, at)| at).unwrap_or_default()
    }
    fn id(&self) -> u64 {
        self.slot.map(|(id, _, _)| id).unwrap_or_default()
    }
}

/// A poisoned lock still holds a usable window: a panic elsewhere must not stop requests.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::super::rate_window::tests::most_in_any;
    use super::*;
    use std::time::Instant;

    fn budget_file(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("var/amocrm_rate")
    }

    #[test]
    fn two_handles_on_one_file_never_start_more_than_rate_in_any_second() {
        let dir = tempfile::tempdir().expect("temp dir");
        // As two processes would: each its own open file, each used by three threads.
        let handles = [
            Budget::new(budget_file(&dir), 7.0),
            Budget::new(budget_file(&dir), 7.0),
        ];
        let starts = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for h in &handles {
                for _ in 0..3 {
                    scope.spawn(|| {
                        for _ in 0..4 {
                            let t = h.acquire();
                            assert!(Mono::now() >= t.start(), "started before its slot");
                            lock(&starts).push(t.start());
                            h.finished(t);
                        }
                    });
                }
            }
        });
        assert!(handles.iter().all(Budget::is_shared));
        let mut starts = starts.into_inner().expect("starts");
        starts.sort();
        assert_eq!(starts.len(), 24);
        assert_eq!(most_in_any(&starts, Duration::from_secs(1)), 7);
        // Finished at once, so each seven start a second (and the margin) after the last.
        let took = starts[0].until(starts[23]);
        assert!(took < Duration::from_millis(3 * 1015 + 300), "{took:?}");
    }

    #[test]
    fn a_slot_left_by_a_process_that_died_ages_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dead = Budget::new(budget_file(&dir), 7.0);
        let left: Vec<Ticket> = (0..7).map(|_| dead.acquire()).collect();
        drop(dead);
        let live = Budget::new(budget_file(&dir), 7.0);
        let t = live.acquire();
        let gap = left[0].start().until(t.start());
        assert!(
            gap >= Duration::from_millis(1100) && gap < Duration::from_millis(1200),
            "{gap:?}"
        );
        live.finished(t);
        // Its answer marked its own slot; the dead process's stay under way until they age out.
        let mut file = StateFile::open(&budget_file(&dir)).expect("open");
        let ended = file
            .update(|s| {
                let slots = s.window.slots();
                slots
                    .filter(|s| s.end.is_some())
                    .map(|s| s.id)
                    .collect::<Vec<_>>()
            })
            .expect("read");
        assert_eq!(ended, [t.id()]);
    }

    #[test]
    fn a_429_holds_off_every_handle() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (
            Budget::new(budget_file(&dir), 7.0),
            Budget::new(budget_file(&dir), 7.0),
        );
        let before = Mono::now();
        a.hold(Duration::from_millis(300));
        let t = b.acquire();
        assert!(t.start() >= before + Duration::from_millis(300));
        assert!(Mono::now() >= t.start());
        b.finished(t);
        // Unlimited: no hold, no file.
        let none = Budget::new(dir.path().join("other/amocrm_rate"), 0.0);
        none.hold(Duration::from_secs(60));
        none.finished(none.acquire());
        assert!(!dir.path().join("other").exists());
    }

    #[test]
    fn without_a_usable_file_the_process_keeps_its_own_budget() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file where the directory should be: the state file cannot be made.
        std::fs::write(dir.path().join("var"), "").expect("write");
        let b = Budget::new(budget_file(&dir), 7.0);
        let tickets: Vec<Ticket> = (0..8).map(|_| b.acquire()).collect();
        assert!(!b.is_shared());
        assert!(
            tickets
                .iter()
                .all(|t| matches!(t.slot, Some((_, Place::Process, _))))
        );
        // Still limited, in this process.
        let gap = tickets[0].start().until(tickets[7].start());
        assert!(gap >= Duration::from_millis(1100), "{gap:?}");
        for t in tickets {
            b.finished(t);
        }
    }

    /// The budget's cost to each request, printed: `cargo test --release --lib
    /// amo::rate::tests::the_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn the_cost_of_the_budget_to_a_request() {
        let dir = tempfile::tempdir().expect("temp dir");
        let b = Budget::new(budget_file(&dir), 7.0);
        b.finished(b.acquire());
        // Back to back, on times 200 ms apart so that nothing waits.
        let n = 20_000u32;
        let started = Instant::now();
        let mut now = Mono::now();
        for _ in 0..n {
            now = now + Duration::from_millis(200);
            let id = next_id();
            let (at, _) = b.change(|s| s.window.reserve_for(id, now, 7.0));
            b.change(|s| s.window.finish(id, at + Duration::from_millis(30)));
        }
        let hot = started.elapsed() / n;
        // As a worker makes them: a request now and then, caches cold in between.
        let b = Budget::new(dir.path().join("var/amocrm_rate.2"), 7.0);
        b.finished(b.acquire());
        let mut spent = Duration::ZERO;
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(150));
            let started = Instant::now();
            b.finished(b.acquire());
            spent += started.elapsed();
        }
        eprintln!(
            "reserve + finish on the state file: {} µs back to back, {} µs a request 150 ms apart",
            hot.as_micros(),
            (spent / 20).as_micros()
        );
    }
}
