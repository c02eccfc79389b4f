//! Types of the internal plane (`/internal/v1/…`), shared by the server
//! that answers and the server that calls. Changing one is a protocol
//! change: keep fields additive.

pub mod backup;
pub mod release;
pub mod report;

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
    /// owner: a hospital's heartbeat (health report and staff directory).
    pub const HEARTBEAT: &str = "/internal/v1/heartbeat";
    /// owner: a new hospital fetches its first admin (once per certificate).
    pub const PROVISIONING: &str = "/internal/v1/provisioning";
    /// dev: company pulls the signed releases (offset and limit).
    pub const DEV_RELEASES: &str = "/internal/v1/releases";
    /// dev: company downloads a release's artifact (`{id}` replaced).
    pub const DEV_RELEASE_ARTIFACT: &str = "/internal/v1/releases/{id}/artifact";
    /// dev: company pulls the developers' signing keys (revocations included).
    pub const DEV_SIGNING_KEYS: &str = "/internal/v1/signing-keys";
    /// company: hospitals and owner ask which release of a product is approved.
    pub const APPROVED_RELEASE: &str = "/internal/v1/releases/approved";
    /// company: hospitals and owner download an approved release's artifact (`{id}` replaced).
    pub const APPROVED_ARTIFACT: &str = "/internal/v1/approved-releases/{id}/artifact";
    /// company: hospitals submit de-identified reports ([`crate::report`]).
    pub const REPORTS: &str = "/internal/v1/reports";
    /// owner: hospitals ship sealed change-log batches ([`crate::backup`])
    /// and, restoring, list them (`after`, `limit`).
    pub const BACKUPS: &str = "/internal/v1/backups";
    /// owner: a restoring hospital fetches one batch as stored (`{batch_no}` replaced).
    pub const BACKUP: &str = "/internal/v1/backups/{batch_no}";
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
    /// How many events the sender still holds undelivered after this
    /// batch (its outbox backlog), for company's system view. Optional:
    /// a sender that does not report it leaves the last value in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i64>,
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

/// A hospital's heartbeat to owner: health and staff directory of the
/// tenant in its certificate. Never patients, never PHI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The tenant reported on (must be the certificate's).
    pub tenant_id: String,
    /// Seconds until the next heartbeat (owner judges silence by it).
    pub interval_secs: u64,
    /// The database's health.
    pub health: HealthReport,
    /// Every staff account of the tenant (patients' portal accounts excluded).
    pub staff: Vec<StaffEntry>,
    /// What became of commands not yet acknowledged (owner marks them done).
    #[serde(default)]
    pub results: Vec<CommandResult>,
}

/// The database's health as the hospital sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Database size in bytes, if known.
    pub db_size_bytes: Option<i64>,
    /// The newest migration applied.
    pub migration_version: String,
    /// The newest audit row's time (the last write), if any.
    pub last_write_at: Option<NaiveDateTime>,
    /// The audit chain head.
    pub audit_head: AuditHead,
    /// Connections in use / pool size.
    pub pool_in_use: i64,
    /// Pool size.
    pub pool_size: i64,
    /// Free bytes on the database's disk (SQLite), if known.
    pub disk_free_bytes: Option<i64>,
    /// The patient-file store's health (absent from a hospital that does
    /// not report it).
    #[serde(default)]
    pub files: Option<FilesHealth>,
    /// Where the hospital stands with the approved release (absent from a
    /// hospital that does not report it).
    #[serde(default)]
    pub update: Option<UpdateHealth>,
    /// The online copy: what is not yet shipped to owner (absent from a
    /// hospital that does not report it).
    #[serde(default)]
    pub sync: Option<SyncHealth>,
}

/// The online copy as the hospital sees it: counts and times only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyncHealth {
    /// Changes written and not yet acknowledged by owner (in the change
    /// log, or sealed in batches waiting to be sent).
    pub pending_changes: i64,
    /// When the oldest of them was written (UTC), if any is pending.
    pub oldest_pending_at: Option<NaiveDateTime>,
    /// The last batch owner acknowledged (0: none yet).
    pub last_batch_no: i64,
    /// When owner acknowledged it (UTC).
    pub last_shipped_at: Option<NaiveDateTime>,
}

/// The hospital's view of the release company approved for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpdateHealth {
    /// `unchecked`, `current`, `available`, `staged`, `verified`, `refused`
    /// or `unreachable`.
    pub status: String,
    /// The version the hospital runs.
    pub current_version: String,
    /// The approved version, when one was seen.
    pub version: Option<String>,
    /// When the hospital last asked company (UTC).
    pub checked_at: Option<NaiveDateTime>,
    /// Why it was refused or could not be checked (a code, no PHI).
    pub detail: Option<String>,
}

/// The patient-file store as the hospital sees it: sizes and counts only,
/// never names, never PHI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FilesHealth {
    /// `local` or `s3`.
    pub backend: String,
    /// Whether the store answered its check.
    pub reachable: bool,
    /// Bytes the tenant stores (each object once, as sealed).
    pub stored_bytes: i64,
    /// Objects the tenant stores.
    pub objects: i64,
    /// The plan's storage limit in bytes, if it has one.
    pub quota_bytes: Option<i64>,
}

/// One staff account in the directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StaffEntry {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Whether it may log in.
    pub active: bool,
    /// Last successful login (UTC).
    pub last_login_at: Option<NaiveDateTime>,
}

/// Owner's answer to a heartbeat: the tenant's standing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeartbeatAnswer {
    /// The tenant.
    pub tenant_id: String,
    /// `active`, `suspended` or `archived`.
    pub status: String,
    /// Its plan, if one is assigned.
    pub plan: Option<PlanLimits>,
    /// Commands queued for the hospital and not yet acknowledged (a
    /// command may come again until its result reached owner: the hospital
    /// applies each id once).
    #[serde(default)]
    pub commands: Vec<OwnerCommand>,
}

/// A command owner queued for a hospital.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OwnerCommand {
    /// Its id (UUID): the hospital applies each id once.
    pub id: String,
    /// `create_user` or `sync_now` (ship the online copy now).
    pub kind: String,
    /// For `create_user`.
    pub create_user: Option<CreateUserCommand>,
}

/// Create a staff account (it must change its password at first login).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateUserCommand {
    /// Login name.
    pub username: String,
    /// Role (one of the hospital's).
    pub role: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// bcrypt hash of the initial password (owner never keeps the password).
    pub password_hash: String,
}

/// What the hospital did with a command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    /// The command's id.
    pub id: String,
    /// Applied.
    pub ok: bool,
    /// The account created, if any.
    pub user_id: Option<String>,
    /// The error code when refused (`CONFLICT`, `PLAN_LIMIT`, `VALIDATION_ERROR`, …).
    pub code: Option<String>,
    /// Why, for the owner operator (no PHI).
    pub message: Option<String>,
}

/// A plan's limits as the hospital enforces them (`None`: no limit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanLimits {
    /// Plan name.
    pub name: String,
    /// Active staff accounts (patients excluded).
    pub max_staff: Option<i64>,
    /// Patients.
    pub max_patients: Option<i64>,
    /// File storage in MiB.
    pub max_storage_mb: Option<i64>,
    /// Modules enabled.
    pub modules: Vec<String>,
    /// Features enabled (`break_glass_review`, `api_access`, …).
    pub features: Vec<String>,
}

/// What a new hospital needs from owner: its name and its first admin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Provisioning {
    /// The tenant (the certificate's).
    pub tenant_id: String,
    /// The hospital's name.
    pub name: String,
    /// The first admin chosen at registration (none for a tenant
    /// registered without one).
    pub first_admin: Option<FirstAdminProvision>,
}

/// The first admin: logs in with the e-mail and the password chosen at
/// registration (owner kept only its bcrypt hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirstAdminProvision {
    /// E-mail, the login name.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// bcrypt hash.
    pub password_hash: String,
}
