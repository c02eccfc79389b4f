//! Security events of every server: received from hospitals and owner over
//! mTLS, moved from company's own outbox, pulled from dev; listed for the
//! company admin.

pub mod http;
pub mod internal;
pub mod pages;
pub mod store;
