//! Audit anchors: the heads of the other servers' audit chains, sent by
//! hospitals and owner, pulled from dev. A server whose whole chain was
//! rewritten locally no longer matches what company holds.

pub mod http;
pub mod internal;
pub mod pages;
pub mod store;
