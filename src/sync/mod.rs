//! The worker (`amocrm task`): claims queued jobs, reads the entities, applies the
//! admin's rules, creates or updates contacts, companies and leads in amoCRM in batches,
//! records the links and marks the jobs done. One worker runs at a time.

pub mod dedup;
pub mod dry_run;
pub mod export;
pub mod fields;
pub mod lock;
pub mod plan;
pub mod state;
pub mod worker;

pub use worker::{RunError, RunReport, run};
