//! billmgr-amocrm: a BILLmanager module that keeps amoCRM in step with the billing panel.
//!
//! Data flows one way: panel event → [`panel`] → [`db`] queue → worker ([`sync`]) →
//! [`amo`] → [`db`] links. The panel side never talks to amoCRM, the amoCRM client never
//! reads the panel's tables, and the [`rules`] never do I/O.

pub mod amo;
pub mod cli;
pub mod config;
pub mod db;
pub mod log;
pub mod model;
pub mod panel;
pub mod paths;
pub mod rules;
pub mod secret;
pub mod sync;

/// The sandbox amoCRM is the `amocrm-sandbox` binary's; the library builds it only for the
/// stages' own tests, which run against it in-process.
#[cfg(test)]
#[allow(dead_code)]
#[path = "bin/amocrm-sandbox/sandbox/mod.rs"]
mod sandbox;

/// Pure entry points over bytes for the fuzz targets in `fuzz/`.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_entry;
