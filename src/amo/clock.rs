//! The clock the rate budget runs on: CLOCK_MONOTONIC in nanoseconds.
//!
//! The budget's state is shared by every process of the module through a file, so its
//! times must mean the same in each of them, and a wall clock set back or forward (NTP,
//! an admin) must not make a process wait for hours or burst. CLOCK_MONOTONIC is one clock
//! for the whole machine that only moves forward; `Instant` reads it too, but cannot be
//! written to a file and read back in another process. It restarts at boot, so the state
//! file also names the boot it was written in (see `rate_state`).

use std::ops::Add;
use std::time::Duration;

/// A reading of CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Mono(u64);

impl Mono {
    pub fn now() -> Mono {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC always exists
        // on Linux, so the call cannot fail.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        Mono(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub const fn from_nanos(nanos: u64) -> Mono {
        Mono(nanos)
    }

    pub fn nanos(self) -> u64 {
        self.0
    }

    /// How long from `self` until `later`; zero when `later` is not later.
    pub fn until(self, later: Mono) -> Duration {
        Duration::from_nanos(later.0.saturating_sub(self.0))
    }
}

impl Add<Duration> for Mono {
    type Output = Mono;

    fn add(self, d: Duration) -> Mono {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Mono(self.0.saturating_add(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_forward_with_the_instant_clock() {
        let (m0, i0) = (Mono::now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (m1, i1) = (Mono::now(), std::time::Instant::now());
        let (mono, instant) = (m0.until(m1), i1 - i0);
        assert!(mono >= Duration::from_millis(20), "{mono:?}");
        // Both read CLOCK_MONOTONIC: they agree but for the moments between the reads.
        assert!(
            mono.abs_diff(instant) < Duration::from_millis(10),
            "{mono:?} {instant:?}"
        );
        assert_eq!(m1.until(m0), Duration::ZERO);
        assert_eq!(
            Mono::from_nanos(5) + Duration::from_nanos(7),
            Mono::from_nanos(12)
        );
        assert_eq!(
            Mono::from_nanos(u64::MAX) + Duration::MAX,
            Mono::from_nanos(u64::MAX)
        );
    }
}
