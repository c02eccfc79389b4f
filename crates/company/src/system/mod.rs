//! System administration on company (issue 14, item 5): the plane's state
//! as company sees it — when each server last delivered security events
//! and audit anchors, their outbox backlogs (as they report them), anchors
//! that mismatched, certificates that expire within 30 days — for the admin.

pub mod config;
pub mod http;
pub mod pages;
pub mod scope;
pub mod store;
