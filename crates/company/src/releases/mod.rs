//! Releases on company (issue 15, item 3): company pulls the signed
//! releases and the developers' signing keys from dev over mTLS (dev makes
//! no outbound call), checks every signature itself, and takes a release to
//! production with two people — a production user promotes it (company
//! then fetches the artifact from dev and checks it against the signed
//! manifest), a team lead approves it (never the promoter, never the
//! developer who signed it) — and countersigns the approval with its own
//! Ed25519 key, which hospitals pin.

pub mod config;
pub mod http;
pub mod internal;
pub mod pages;
pub mod pull;
pub mod scope;
pub mod store;

use common::audit::{self, Event, Origin, Severity};
use common::auth::AuthUser;
use common::db::DbConn;
use common::security::{self, NewEvent};
use common::ApiResult;
use serde_json::Value;

/// Append an audit row by `user` on `release:<id>` and, when `kind` is
/// given, raise the matching security event — in the caller's transaction.
pub(crate) fn record(
    conn: &mut DbConn,
    user: &AuthUser,
    origin: &Origin,
    action: &str,
    release: &str,
    (outcome, severity, details): (&str, Severity, Value),
    kind: Option<&str>,
) -> ApiResult<()> {
    let event = Event::new(&user.id, &user.role, action, &format!("release:{release}"))
        .severity(severity)
        .outcome(outcome)
        .details(details.clone());
    audit::append(conn, &event, origin)?;
    if let Some(kind) = kind {
        security::record(
            conn,
            &NewEvent::new(kind, severity, &user.id, None, details),
        )?;
    }
    Ok(())
}
