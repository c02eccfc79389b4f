//! User accounts every server has: login, logout, me, user management by
//! the server's admin, and the audit log reader. Each server mounts these
//! under its own API prefix, against its own database.

pub mod create;
pub mod enrolment;
pub mod http;
pub mod login;
pub mod mfa;
pub mod openapi;
pub mod password_change;
pub mod provision;
pub mod roles;
pub mod roles_store;
pub mod sessions;
pub mod store;
pub mod validate;
