//! The one error type of the amoCRM client: what the worker must do differs by variant.

/// What the admin does when amoCRM no longer accepts the integration's tokens.
pub const NEW_CODE_ACTION: &str =
    "generate a new authorization code in amoCRM (valid 20 minutes) and run `amocrm auth CODE`";

#[derive(Debug, thiserror::Error)]
pub enum AmoError {
    /// amoCRM refuses this integration until the admin acts (401 after a refresh, refresh
    /// token revoked or invalid, 402 unpaid, 403 blocked, no tokens and no code): the run
    /// stops and the queue stays. `action` tells the admin what to do.
    #[error("amoCRM refused the integration (HTTP {status}): {message}; to fix: {action}")]
    Refused {
        status: u16,
        message: String,
        action: String,
    },
    /// Unreachable, 5xx, timeouts, 429 after the retries: the run stops, the queue stays.
    #[error("amoCRM is unavailable: {0}; the queue keeps the changes, they go out on a later run")]
    Unavailable(String),
    /// A bad request not attributable to single items, or an answer that is not what the
    /// API documents.
    #[error("amoCRM gave an unexpected answer: {0}")]
    Protocol(String),
    /// A local problem: bad URL, token files unreadable or unwritable.
    #[error("{0}")]
    Local(String),
}
