//! `POST /internal/v1/heartbeat`: a hospital reports its health and staff
//! directory for the tenant of its certificate, and learns that tenant's
//! status and plan. Owner never calls a hospital: this answer is how
//! anything reaches it.

use actix_web::{web, HttpResponse};
use common::audit::Severity;
use common::db::{now, Db};
use common::mtls::{internal_resource, Allowed, PeerFingerprint, PeerIdentity};
use common::response;
use common::security::{self, NewEvent};
use common::{ApiError, ApiResult};
use contracts::{paths, FirstAdminProvision, Heartbeat, HeartbeatAnswer, Provisioning};
use serde_json::json;

use super::commands;
use super::health::{self, HealthRow};
use super::store;

/// Most staff accounts one heartbeat reports.
pub const MAX_STAFF: usize = 20_000;

/// Mount the internal routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        internal_resource(paths::HEARTBEAT, &[Allowed::AnyHospital])
            .route(web::post().to(heartbeat)),
    )
    .service(
        internal_resource(paths::PROVISIONING, &[Allowed::AnyHospital])
            .route(web::get().to(provisioning)),
    );
}

fn validate(hb: &Heartbeat) -> ApiResult<()> {
    if !(1..=86_400).contains(&hb.interval_secs) {
        return Err(ApiError::field("interval_secs", "must be 1 to 86400"));
    }
    let h = &hb.health;
    if !matches!(h.backend.as_str(), "sqlite" | "postgres") {
        return Err(ApiError::field(
            "health.backend",
            "must be sqlite or postgres",
        ));
    }
    if h.migration_version.len() > 128 || h.migration_version.chars().any(char::is_control) {
        return Err(ApiError::field(
            "health.migration_version",
            "at most 128 printable characters",
        ));
    }
    let head = &h.audit_head;
    let hash_ok = head.hash.len() == 64 && head.hash.bytes().all(|b| b.is_ascii_hexdigit());
    if head.seq < 0 || !hash_ok {
        return Err(ApiError::field(
            "health.audit_head",
            "seq ≥ 0 and a 64-hex hash",
        ));
    }
    if let Some(f) = &h.files {
        if !matches!(f.backend.as_str(), "local" | "s3") {
            return Err(ApiError::field(
                "health.files.backend",
                "must be local or s3",
            ));
        }
    }
    let files = h.files.as_ref();
    let non_negative = [
        Some(h.pool_in_use),
        Some(h.pool_size),
        h.db_size_bytes,
        h.disk_free_bytes,
        files.map(|f| f.stored_bytes),
        files.map(|f| f.objects),
        files.and_then(|f| f.quota_bytes),
        h.sync.as_ref().map(|s| s.pending_changes),
        h.sync.as_ref().map(|s| s.last_batch_no),
    ];
    if non_negative.iter().flatten().any(|n| *n < 0) {
        return Err(ApiError::validation(
            "sizes and counts must not be negative",
        ));
    }
    if hb.staff.len() > MAX_STAFF {
        return Err(ApiError::field("staff", "at most 20000 accounts"));
    }
    for s in &hb.staff {
        if s.username.is_empty()
            || s.username.len() > 254
            || s.role.is_empty()
            || s.role.len() > 64
            || s.username
                .chars()
                .chain(s.role.chars())
                .any(char::is_control)
        {
            return Err(ApiError::field(
                "staff",
                "each needs a username (≤254) and a role (≤64)",
            ));
        }
    }
    if hb.results.len() > 200 {
        return Err(ApiError::field("results", "at most 200"));
    }
    for r in &hb.results {
        let long = r.id.len() > 64
            || r.user_id.as_ref().is_some_and(|u| u.len() > 64)
            || r.code.as_ref().is_some_and(|c| c.len() > 64)
            || r.message.as_ref().is_some_and(|m| m.len() > 500);
        if long || r.id.is_empty() {
            return Err(ApiError::field(
                "results",
                "ids and codes ≤ 64, messages ≤ 500",
            ));
        }
    }
    let mut names: Vec<&str> = hb.staff.iter().map(|s| s.username.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::field("staff", "usernames must be unique"));
    }
    Ok(())
}

/// Record a refusal. Owner's events name no tenant (company takes from a
/// sender only events of its certificate's tenant, and owner's has none):
/// the tenants concerned go in the details.
pub(crate) async fn refuse(
    db: &Db,
    kind: &str,
    severity: Severity,
    who: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    let event = NewEvent::new(kind, severity, who, None, details);
    db.write(move |c| security::record(c, &event))
        .await
        .map(|_| ())
}

async fn heartbeat(
    db: web::Data<Db>,
    peer: PeerIdentity,
    body: web::Json<Heartbeat>,
) -> ApiResult<HttpResponse> {
    let hb = body.into_inner();
    let who = peer.0.uri();
    let Some(cert_tenant) = peer.0.tenant().map(str::to_string) else {
        return Err(ApiError::Forbidden(
            "only a hospital sends heartbeats".into(),
        ));
    };
    if !hb.tenant_id.eq_ignore_ascii_case(&cert_tenant) {
        // A hospital reporting for another tenant: raise it, store nothing.
        refuse(
            &db,
            "plane.tenant_mismatch",
            Severity::Critical,
            &who,
            json!({ "route": paths::HEARTBEAT, "certificate_tenant": cert_tenant, "claimed_tenant": hb.tenant_id.chars().take(64).collect::<String>() }),
        )
        .await?;
        return Err(ApiError::Forbidden(
            "a heartbeat may only report the tenant of your certificate".into(),
        ));
    }
    validate(&hb)?;
    let tenant = cert_tenant;
    // Results may only acknowledge this tenant's commands.
    let ids: Vec<String> = hb.results.iter().map(|r| r.id.clone()).collect();
    let t1 = tenant.clone();
    if db.run(move |c| commands::foreign(c, &t1, &ids)).await? > 0 {
        refuse(
            &db,
            "plane.tenant_mismatch",
            Severity::Critical,
            &who,
            json!({ "route": paths::HEARTBEAT, "certificate_tenant": tenant, "reason": "results for another tenant's commands" }),
        )
        .await?;
        return Err(ApiError::Forbidden(
            "a heartbeat may only report on commands of your certificate's tenant".into(),
        ));
    }
    let t2 = tenant.clone();
    let answer = db
        .write(move |c| {
            let Some(row) = store::find_row(c, &t2)? else {
                return Ok(None);
            };
            let h = &hb.health;
            let files = h.files.as_ref();
            let report = HealthRow {
                tenant_id: t2.clone(),
                backend: h.backend.clone(),
                db_size_bytes: h.db_size_bytes,
                migration_version: h.migration_version.clone(),
                last_write_at: h.last_write_at,
                audit_seq: h.audit_head.seq,
                audit_hash: h.audit_head.hash.clone(),
                pool_in_use: h.pool_in_use,
                pool_size: h.pool_size,
                disk_free_bytes: h.disk_free_bytes,
                interval_secs: i64::try_from(hb.interval_secs).unwrap_or(86_400),
                received_at: now(),
                files_backend: files.map(|f| f.backend.clone()),
                files_reachable: files.map(|f| f.reachable),
                files_stored_bytes: files.map(|f| f.stored_bytes),
                files_objects: files.map(|f| f.objects),
                files_quota_bytes: files.and_then(|f| f.quota_bytes),
                update_status: h.update.as_ref().map(|u| u.status.clone()),
                update_current_version: h.update.as_ref().map(|u| u.current_version.clone()),
                update_version: h.update.as_ref().and_then(|u| u.version.clone()),
                update_checked_at: h.update.as_ref().and_then(|u| u.checked_at),
                update_detail: h.update.as_ref().and_then(|u| u.detail.clone()),
                sync_pending_changes: h.sync.as_ref().map(|s| s.pending_changes),
                sync_oldest_pending_at: h.sync.as_ref().and_then(|s| s.oldest_pending_at),
                sync_last_batch_no: h.sync.as_ref().map(|s| s.last_batch_no),
                sync_last_shipped_at: h.sync.as_ref().and_then(|s| s.last_shipped_at),
            };
            health::upsert(c, &report)?;
            store::replace_staff(c, &t2, &hb.staff)?;
            commands::complete(c, &t2, &hb.results)?;
            let plan = match row.plan_id() {
                Some(p) => crate::plans::store::find(c, p)?.map(|p| p.limits()),
                None => None,
            };
            Ok(Some(HeartbeatAnswer {
                tenant_id: t2.clone(),
                status: row.status().to_string(),
                plan,
                commands: commands::pending(c, &t2)?,
            }))
        })
        .await?;
    match answer {
        Some(a) => Ok(response::ok(a)),
        None => {
            refuse(
                &db,
                "plane.unknown_tenant",
                Severity::Warning,
                &who,
                json!({ "route": paths::HEARTBEAT, "certificate_tenant": tenant }),
            )
            .await?;
            Err(ApiError::NotFound(
                "this tenant is not registered with owner".into(),
            ))
        }
    }
}

/// What `provisioning` decided.
enum Handout {
    Unknown,
    Replay,
    Given(Provisioning),
}

/// `GET /internal/v1/provisioning`: the certificate's tenant's name and
/// first admin. Handed out to one certificate only: the first to ask gets
/// it (and may ask again, after a crash); any other certificate, even of
/// the same tenant, gets 409 and a critical `plane.provisioning_replay`.
async fn provisioning(
    db: web::Data<Db>,
    peer: PeerIdentity,
    cert: PeerFingerprint,
) -> ApiResult<HttpResponse> {
    let who = peer.0.uri();
    let Some(tenant) = peer.0.tenant().map(str::to_string) else {
        return Err(ApiError::Forbidden("only a hospital is provisioned".into()));
    };
    let t = tenant.clone();
    let fingerprint = cert.0;
    let handout = db
        .write(move |c| {
            let Some(row) = store::find_row(c, &t)? else {
                return Ok(Handout::Unknown);
            };
            let first_admin = match store::first_admin(c, &t)? {
                None => None,
                Some(a) => {
                    match a.provisioned_by.as_deref() {
                        Some(by) if by != fingerprint => return Ok(Handout::Replay),
                        Some(_) => {}
                        None => store::mark_provisioned(c, &t, &fingerprint)?,
                    }
                    Some(FirstAdminProvision {
                        email: a.email,
                        first_name: a.first_name,
                        last_name: a.last_name,
                        password_hash: a.password_hash,
                    })
                }
            };
            Ok(Handout::Given(Provisioning {
                tenant_id: t.clone(),
                name: row.name().to_string(),
                first_admin,
            }))
        })
        .await?;
    match handout {
        Handout::Given(p) => Ok(response::ok(p)),
        Handout::Unknown => {
            refuse(
                &db,
                "plane.unknown_tenant",
                Severity::Warning,
                &who,
                json!({ "route": paths::PROVISIONING, "certificate_tenant": tenant }),
            )
            .await?;
            Err(ApiError::NotFound(
                "this tenant is not registered with owner".into(),
            ))
        }
        Handout::Replay => {
            refuse(
                &db,
                "plane.provisioning_replay",
                Severity::Critical,
                &who,
                json!({ "route": paths::PROVISIONING, "certificate_tenant": tenant }),
            )
            .await?;
            Err(ApiError::Conflict(
                "this tenant was provisioned to another certificate".into(),
            ))
        }
    }
}
