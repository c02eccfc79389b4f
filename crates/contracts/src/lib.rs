//! Types of the internal plane (`/internal/v1/…`), shared by the server
//! that answers and the server that calls. Changing one is a protocol
//! change: keep fields additive.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Paths of the internal API, so both ends name them once.
pub mod paths {
    /// company: hospitals and owner post security events.
    pub const SECURITY_EVENTS: &str = "/internal/v1/security-events";
    /// company: hospitals and owner post their audit head; they read back their anchors.
    pub const AUDIT_ANCHORS: &str = "/internal/v1/audit-anchors";
    /// dev: company pulls dev's security events.
    pub const DEV_SECURITY_EVENTS: &str = "/internal/v1/security-events";
    /// every internal listener: the caller's verified identity (connectivity check).
    pub const WHOAMI: &str = "/internal/v1/whoami";
    /// dev: company pulls dev's audit head.
    pub const AUDIT_HEAD: &str = "/internal/v1/audit/head";
}

/// One security event as the sender recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityEvent {
    /// The sender's id for it (UUID): delivery is idempotent on it.
    pub id: String,
    /// Position in the sender's outbox (pull cursor).
    #[serde(default)]
    pub seq: i64,
    /// `auth.login_failed`, `auth.lockout`, `authz.denied`, `cert.refused`, …
    pub kind: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// User id or identity (never a patient's name).
    pub actor: String,
    /// The tenant concerned (hospital events; must match the sender's certificate).
    pub tenant_id: Option<String>,
    /// Extra facts, no PHI.
    pub details: Value,
    /// When it happened (UTC).
    pub occurred_at: NaiveDateTime,
}

/// A batch of events pushed to company.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityEventBatch {
    /// At most 500 events.
    pub events: Vec<SecurityEvent>,
}

/// What company did with a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchReceipt {
    /// Newly stored.
    pub accepted: usize,
    /// Already held (a retry).
    pub duplicates: usize,
}

/// The head of an audit chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// Last seq.
    pub seq: i64,
    /// Its hash (hex SHA-256).
    pub hash: String,
}

/// An anchor company holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditAnchor {
    /// `hospital`, `owner`, `dev`.
    pub source_service: String,
    /// The tenant (hospital) or empty.
    pub source_tenant: String,
    /// Chain position.
    pub seq: i64,
    /// Hash at that position.
    pub hash: String,
    /// When company received it.
    pub received_at: NaiveDateTime,
}

/// The `data` of an envelope: internal answers use the same envelope as
/// the public API.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    /// Always true on success.
    pub success: bool,
    /// The payload.
    pub data: T,
}
