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
pub mod sandbox;
pub mod secret;
pub mod sync;
