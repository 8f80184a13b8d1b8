//! Sync conditions, tags, custom-field values and pipeline rules: pure functions over a
//! [`Record`](crate::model::Record). No I/O here.

/// Placeholder until the rule types land.
#[derive(Debug, Clone, Default)]
pub struct Rules;
