//! What a database call can fail with.

/// What a database call can fail with; the message names the backend and what to check.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open the panel database: {0}")]
    Open(String),
    #[error("panel database error: {0}")]
    Query(String),
}

pub type DbResult<T> = Result<T, DbError>;
