//! When to try a failed request again, and after how long.

use std::time::Duration;

/// Attempts for one request, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 6;

/// A 429 asking to wait longer than this ends the run instead of holding the worker.
pub(crate) const LONGEST_RETRY_AFTER: u64 = 60;

/// The pauses between attempts at one request: `first`, doubling, at most 16 times
/// `first` (0.5 s to 8 s by default: 15.5 s for the whole schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPauses {
    first: Duration,
}

impl Default for RetryPauses {
    fn default() -> Self {
        RetryPauses::starting_at(Duration::from_millis(500))
    }
}

impl RetryPauses {
    /// The schedule that starts at `first` (`[sync] retry_pause_ms`).
    pub const fn starting_at(first: Duration) -> RetryPauses {
        RetryPauses { first }
    }

    /// The pause after failed attempt `attempt` (1-based).
    pub(crate) fn after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(4);
        self.first.saturating_mul(2u32.pow(doublings))
    }
}

/// Whether a status is worth trying again as it is.
pub(crate) fn is_transient(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// The seconds a 429 asks to wait: `retry_after` in its JSON body, else a `Retry-After`
/// header in seconds. `None` when neither says (a non-JSON body): back off normally.
pub(crate) fn retry_after(body: &str, header: Option<&str>) -> Option<u64> {
    let from_body = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let r = v.get("retry_after")?;
            r.as_u64()
                .or_else(|| {
                    r.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f.ceil() as u64)
                })
                .or_else(|| r.as_str().and_then(|s| s.trim().parse().ok()))
        });
    from_body.or_else(|| header.and_then(|h| h.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_and_caps() {
        let pauses = RetryPauses::default();
        let ms: Vec<u128> = (1..=MAX_ATTEMPTS + 2)
            .map(|a| pauses.after(a).as_millis())
            .collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
        assert_eq!(pauses.after(u32::MAX), Duration::from_secs(8));
        // The whole schedule stays short enough for one worker run.
        let total: Duration = (1..MAX_ATTEMPTS).map(|a| pauses.after(a)).sum();
        assert_eq!(total, Duration::from_millis(15_500));
    }

    #[test]
    fn a_shorter_schedule_keeps_its_shape() {
        let pauses = RetryPauses::starting_at(Duration::from_millis(10));
        let ms: Vec<u128> = (1..=6).map(|a| pauses.after(a).as_millis()).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 160]);
        let huge = RetryPauses::starting_at(Duration::MAX);
        assert_eq!(huge.after(5), Duration::MAX, "saturates, never overflows");
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_transient(s), "{s}");
        }
        for s in [200, 204, 400, 401, 402, 403, 404, 422] {
            assert!(!is_transient(s), "{s}");
        }
    }

    #[test]
    fn retry_after_from_body_or_header() {
        let body = r#"{"title":"Too Many Requests","status":429,"retry_after":300}"#;
        assert_eq!(retry_after(body, None), Some(300));
        assert_eq!(retry_after(r#"{"retry_after":"2"}"#, None), Some(2));
        assert_eq!(retry_after(r#"{"retry_after":1.2}"#, None), Some(2));
        assert_eq!(retry_after("<html>Too many</html>", None), None);
        assert_eq!(retry_after("<html>Too many</html>", Some("3")), Some(3));
        assert_eq!(retry_after(r#"{"status":429}"#, Some("soon")), None);
    }
}
