//! The kernel every Bulkhead server links: configuration, the error
//! envelope, the database layer over SQLite and PostgreSQL, authentication
//! and roles, the hash-chained audit log, HTTP middleware and probes,
//! telemetry, and the application builder.
#![warn(missing_docs)]

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod fsutil;
pub mod http;
pub mod mtls;
pub mod objects;
pub mod plane;
pub mod public_tls;
pub mod rbac;
pub mod realtime;
pub mod response;
pub mod schema;
pub mod security;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod updates;
pub mod web;

pub use error::{ApiError, ApiResult};
pub use service::Service;
