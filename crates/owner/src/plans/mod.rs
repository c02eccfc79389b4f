//! Plans (subscriptions): the limits a tenant's hospital enforces, sent
//! with each heartbeat answer.

pub mod http;
pub mod store;
