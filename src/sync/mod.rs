//! The worker (`amocrm task`): claims queued jobs, reads the entities, applies the
//! admin's rules, creates or updates contacts, companies and leads in amoCRM in batches,
//! records the links and marks the jobs done. One worker runs at a time.
//!
//! Data moves through named stages, each a room of its own: claim and the passes over the
//! kinds (`drain`), resolve and merge (`target`), read (`read`), admit and hang on what
//! it needs (`prepare`, `depends`), plan (`plan`, pure, with what differs by kind in
//! `kinds`), send (`send`, with lost creates in `recover` and links to entities amoCRM
//! no longer has replaced in `heal`), record (`record`).
//!
//! The sweep (`sweep`, run by `sweep_run`, its state in `sweep_state`) finds what no
//! panel event reported: it compares every entity with its link and queues what differs.

pub mod dedup;
mod depends;
mod drain;
pub mod dry_run;
pub mod export;
pub mod fields;
mod heal;
mod kinds;
pub mod lock;
mod notes;
mod owners;
pub mod payment_note;
pub mod plan;
mod posting;
mod prepare;
mod read;
mod record;
mod recover;
pub mod responsible;
mod runner;
mod send;
#[cfg(test)]
mod stand;
pub mod state;
pub mod sweep;
mod sweep_cache;
mod sweep_payments;
pub mod sweep_run;
pub mod sweep_state;
mod target;
pub mod task_plan;
mod tasks;
pub mod wake;
pub mod worker;

pub use record::RunReport;
pub use worker::{RunError, run};
