//! The window of the requests started lately, as the rate budget counts them: when the
//! next request may start so that amoCRM sees at most `rate_limit` in any second. Pure: the
//! budget (`rate`) keeps it in the shared state file (`rate_state`).

use std::collections::VecDeque;
use std::ops::Add;
use std::time::Duration;

use super::clock::Mono;

/// For a request still under way, whose arrival at amoCRM is not known yet, the window
/// is widened by this factor so that starts a little apart on this side still arrive
/// within the limit on amoCRM's side.
const SAFETY: f64 = 1.1;

/// Added to a window that counts from a request's answer: amoCRM counted that request at
/// some moment before it answered, so this only covers clocks reading a little apart.
const MARGIN: Duration = Duration::from_millis(15);

/// A point in time the window can count with (`Instant` in the tests, [`Mono`] otherwise).
pub(crate) trait Moment: Copy + Ord + Add<Duration, Output = Self> {}
impl<T: Copy + Ord + Add<Duration, Output = T>> Moment for T {}

/// One request handed a start: which, when, and once it is over, when its answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot<T> {
    /// Unique among the processes sharing the budget (see [`next_id`]).
    pub id: u64,
    pub start: T,
    pub end: Option<T>,
}

/// The requests started lately, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Window<T> {
    slots: VecDeque<Slot<T>>,
}

impl<T: Moment> Window<T> {
    pub const fn new() -> Window<T> {
        Window {
            slots: VecDeque::new(),
        }
    }

    /// A window as the state file holds it, oldest first.
    pub fn from_slots(slots: impl IntoIterator<Item = Slot<T>>) -> Window<T> {
        Window {
            slots: slots.into_iter().collect(),
        }
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot<T>> {
        self.slots.iter()
    }

    /// Reserves for request `id` the earliest start at or after `now` that keeps at most
    /// `rate` requests in any one-second window as amoCRM counts them, and returns it. A
    /// request reaches amoCRM before its answer comes back, so a finished one is counted
    /// from its answer (exact, whatever the network's delay); one still under way from its
    /// start, with the safety margin. Reservations never go back in time, so callers may
    /// sleep until theirs without holding the limiter.
    pub fn reserve_for(&mut self, id: u64, now: T, rate: f64) -> T {
        // `n` whole requests per second, or one per `1 / rate` seconds below one a second:
        // 7/s → 7 a second; 2.5/s → 2 a second; 0.5/s → 1 per 2 s.
        let n = (rate.floor() as usize).max(1);
        // Capped: a rate too small for a Duration must not panic (the settings refuse it).
        let span = (1.0 / rate).max(1.0);
        let plain = Duration::from_secs_f64(span.min(3600.0));
        let widened = Duration::from_secs_f64((span * SAFETY).min(3600.0));
        while self.slots.len() > n {
            self.slots.pop_front();
        }
        let mut at = now;
        if self.slots.len() == n
            && let Some(oldest) = self.slots.front()
        {
            let free = match oldest.end {
                Some(end) => end + plain + MARGIN,
                None => oldest.start + widened,
            };
            at = at.max(free);
        }
        if let Some(last) = self.slots.back() {
            at = at.max(last.start);
        }
        self.slots.push_back(Slot {
            id,
            start: at,
            end: None,
        });
        if self.slots.len() > n {
            self.slots.pop_front();
        }
        at
    }

    /// Request `id` got its answer (or gave up) at `end`. A slot that has left the window
    /// no longer matters; one whose process died before this simply ages out.
    pub fn finish(&mut self, id: u64, end: T) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.id == id && s.end.is_none())
        {
            slot.end = Some(end.max(slot.start));
        }
    }
}

/// What the processes sharing a budget agree on: the window, and how long amoCRM asked
/// every one of them to hold off after a 429.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub hold: Mono,
    pub window: Window<Mono>,
}

impl State {
    pub const fn new() -> State {
        State {
            hold: Mono::from_nanos(0),
            window: Window::new(),
        }
    }
}

#[cfg(test)]
pub(in crate::amo) mod tests {
    use super::*;
    use std::time::Instant;

    /// The shorthand of the window's tests: slots numbered in order, finished by their start.
    impl<T: Moment> Window<T> {
        fn reserve(&mut self, now: T, rate: f64) -> T {
            let id = self.slots.back().map_or(0, |s| s.id + 1);
            self.reserve_for(id, now, rate)
        }

        fn finished(&mut self, start: T, end: T) {
            let id = self
                .slots
                .iter()
                .find(|s| s.start == start && s.end.is_none())
                .map(|s| s.id);
            if let Some(id) = id {
                self.finish(id, end);
            }
        }
    }

    /// The most starts found in any window of `len` beginning at a start.
    pub(in crate::amo) fn most_in_any<T: Moment>(starts: &[T], len: Duration) -> usize {
        starts
            .iter()
            .map(|s| {
                starts
                    .iter()
                    .filter(|t| **t >= *s && **t < *s + len)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_goes_out_seven_per_widened_second() {
        let t0 = Instant::now();
        let mut w = Window::new();
        let starts: Vec<Instant> = (0..21).map(|_| w.reserve(t0, 7.0)).collect();
        let ms: Vec<u128> = starts.iter().map(|s| (*s - t0).as_millis()).collect();
        assert_eq!(&ms[..7], &[0; 7]);
        assert_eq!(&ms[7..14], &[1100; 7]);
        assert_eq!(&ms[14..], &[2200; 7]);
        assert_eq!(most_in_any(&starts, Duration::from_secs(1)), 7);
    }

    #[test]
    fn spread_out_requests_are_not_delayed() {
        let t0 = Instant::now();
        let mut w = Window::new();
        for i in 0..30 {
            let now = t0 + Duration::from_millis(200 * i);
            assert_eq!(w.reserve(now, 7.0), now, "request {i} was delayed");
        }
    }

    #[test]
    fn any_second_holds_at_most_rate_starts_under_jittered_load() {
        let t0 = Instant::now();
        let mut w = Window::new();
        let mut starts = Vec::new();
        let mut now = t0;
        for i in 0..200u64 {
            now += Duration::from_millis((i * 37) % 90);
            let at = w.reserve(now, 7.0);
            assert!(at >= now);
            assert!(starts.last().is_none_or(|l| at >= *l), "went back in time");
            starts.push(at);
        }
        assert!(most_in_any(&starts, Duration::from_secs(1)) <= 7);
    }

    #[test]
    fn answered_requests_count_from_their_answers() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = Window::new();
        // Seven answered 30 ms after each start, one after the other.
        let mut now = t0;
        for _ in 0..7 {
            let at = w.reserve(now, 7.0);
            assert_eq!(at, now);
            now = at + Duration::from_millis(30);
            w.finished(at, now);
        }
        // The first was counted by amoCRM by 30 ms at the latest: the eighth starts a
        // second (and the margin) after that, not 1.1 s after the first start.
        assert_eq!(
            w.reserve(now, 7.0),
            ms(30) + Duration::from_secs(1) + MARGIN
        );
        // A request still under way keeps the widened window from its start.
        let mut w = Window::new();
        for _ in 0..7 {
            w.reserve(t0, 7.0);
        }
        assert_eq!(w.reserve(t0, 7.0), ms(1100));
    }

    #[test]
    fn fractional_rates_space_single_requests() {
        let t0 = Instant::now();
        let mut w = Window::new();
        assert_eq!(w.reserve(t0, 0.5), t0);
        assert_eq!(w.reserve(t0, 0.5) - t0, Duration::from_millis(2200));
        let mut w = Window::new();
        let starts: Vec<Instant> = (0..15).map(|_| w.reserve(t0, 2.5)).collect();
        assert!(most_in_any(&starts, Duration::from_secs(1)) <= 2);
    }

    #[test]
    fn a_vanishing_rate_waits_an_hour_at_most() {
        let t0 = Instant::now();
        let mut w = Window::new();
        w.reserve(t0, 1e-300);
        assert_eq!(w.reserve(t0, 1e-300) - t0, Duration::from_secs(3600));
    }

    #[test]
    fn a_slot_is_finished_by_its_id_not_by_its_start() {
        let t0 = Instant::now();
        let mut w = Window::new();
        w.reserve_for(1, t0, 7.0);
        w.reserve_for(2, t0, 7.0);
        w.finish(2, t0 + Duration::from_millis(30));
        w.finish(3, t0 + Duration::from_millis(40));
        let ends: Vec<(u64, Option<Instant>)> = w.slots().map(|s| (s.id, s.end)).collect();
        assert_eq!(ends, [(1, None), (2, Some(t0 + Duration::from_millis(30)))]);
    }
}
