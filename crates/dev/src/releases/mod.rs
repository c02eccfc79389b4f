//! Signing keys and signed releases (issue 15, items 1 and 2): developers
//! register Ed25519 public keys; a release is uploaded with its manifest
//! and a signature by a registered, unrevoked key, checked before a byte is
//! kept and against the bytes that arrive.

pub mod config;
pub mod http;
pub mod keys;
pub mod manifest;
pub mod scope;
pub mod store;

use common::audit::{self, Event, Origin, Severity};
use common::auth::AuthUser;
use common::db::DbConn;
use common::security::{self, NewEvent};
use common::ApiResult;
use serde_json::Value;

/// Append an audit row and raise the matching security event, in the
/// caller's write transaction.
pub(crate) fn audit_and_raise(
    conn: &mut DbConn,
    user: &AuthUser,
    origin: &Origin,
    event: Event,
    kind: &str,
) -> ApiResult<()> {
    audit::append(conn, &event, origin)?;
    let raised = NewEvent::new(kind, event.severity, &user.id, None, event.details.clone());
    security::record(conn, &raised)?;
    Ok(())
}

/// An audit event by `user`.
pub(crate) fn event(
    user: &AuthUser,
    action: &str,
    resource: &str,
    severity: Severity,
    details: Value,
) -> Event {
    Event::new(&user.id, &user.role, action, resource)
        .severity(severity)
        .details(details)
}
