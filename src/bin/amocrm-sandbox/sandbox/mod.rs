//! `amocrm-sandbox`: a stand-in amoCRM account on 127.0.0.1 for tests and the demo. It
//! keeps an account in memory and answers OAuth and API v4 calls as amoCRM documents them,
//! including its limits and errors, and lets tests look inside and inject faults through
//! `/_sandbox/*`.
//!
//! Hands out [`Options`], [`serve`] and [`Server`]; the binary only parses flags
//! ([`args`]) and waits for a stop [`signal`].

pub mod args;
pub mod load;
pub mod show;
pub mod signal;

mod api;
mod control;
mod endpoint;
mod events;
mod faults;
mod fields;
mod http;
mod notes;
mod oauth;
mod people;
mod problem;
mod removal;
mod render;
mod rng;
mod seed;
mod server;
mod service;
mod state;
mod tasks;
mod world;
mod write;

// The binary only calls `serve`; the library's own tests name the rest.
#[allow(unused_imports)]
pub use server::{Options, Server, serve};
