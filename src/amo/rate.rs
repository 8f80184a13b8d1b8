//! One rate limiter for every request of the process: amoCRM counts requests per
//! integration, and repeated overruns get the integration blocked.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window is widened by this factor so that request starts a little apart on this side
/// still arrive within the limit on amoCRM's side.
const SAFETY: f64 = 1.1;

/// The start times handed out lately, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Window {
    starts: VecDeque<Instant>,
}

impl Window {
    pub const fn new() -> Window {
        Window {
            starts: VecDeque::new(),
        }
    }

    /// Reserves the earliest start at or after `now` that keeps at most `rate` starts in any
    /// one-second window (with the safety margin), and returns it. Reservations never go back
    /// in time, so callers may sleep until theirs without holding the limiter.
    pub fn reserve(&mut self, now: Instant, rate: f64) -> Instant {
        // `n` whole starts per second, or one per `1 / rate` seconds below one a second:
        // 7/s → 7 per 1.1 s; 2.5/s → 2 per 1.1 s; 0.5/s → 1 per 2.2 s.
        let n = (rate.floor() as usize).max(1);
        // Capped: a rate too small for a Duration must not panic (the settings refuse it).
        let span = Duration::from_secs_f64(((1.0 / rate).max(1.0) * SAFETY).min(3600.0));
        while self.starts.len() > n {
            self.starts.pop_front();
        }
        let mut at = now;
        if self.starts.len() == n
            && let Some(oldest) = self.starts.front()
        {
            at = at.max(*oldest + span);
        }
        if let Some(last) = self.starts.back() {
            at = at.max(*last);
        }
        self.starts.push_back(at);
        if self.starts.len() > n {
            self.starts.pop_front();
        }
        at
    }
}

static LIMITER: Mutex<Window> = Mutex::new(Window::new());

/// Waits until this process may start another request. `rate` is requests a second; zero,
/// negative or not a number means no limit.
pub(crate) fn acquire(rate: f64) {
    if !(rate.is_finite() && rate > 0.0) {
        return;
    }
    let at = {
        let mut window = LIMITER
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        window.reserve(Instant::now(), rate)
    };
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most starts found in any window of `len` beginning at a start.
    fn most_in_any(starts: &[Instant], len: Duration) -> usize {
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
}
