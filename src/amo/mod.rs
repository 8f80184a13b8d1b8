//! amoCRM API v4: OAuth with token files under a lock, one rate-limited, retrying HTTP
//! client, and the calls the worker needs.
//!
//! Hands out [`AmoClient`] (the calls), [`ClientOptions`], [`AmoError`], [`TokenStatus`] and
//! the models the calls return ([`CustomField`], [`Pipeline`], [`LinkRequest`]).

mod batch;
mod client;
mod error;
mod jwt;
mod models;
mod problem;
mod rate;
mod retry;
mod tokens;
mod transport;
mod url;

pub use client::{AmoClient, ClientOptions};
pub use error::{AmoError, NEW_CODE_ACTION, OAuthRefusal};
pub use models::{CustomField, FieldEnum, LinkRequest, Pipeline, PipelineStatus};
pub use tokens::TokenStatus;
