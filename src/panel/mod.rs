//! BILLmanager's side: the request the panel hands the handler, the documents it reads
//! back, which events become which jobs, and the handler itself.

pub mod doc;
pub mod events;
pub mod handler;
pub mod request;
pub mod ui;

pub use handler::run_handler;
pub use request::Request;
