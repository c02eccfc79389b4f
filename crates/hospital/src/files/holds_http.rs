//! Legal holds on patients, storage usage against the plan, and running the
//! retention job on request.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use common::db::{now, Db, DbConn};
use common::objects::Objects;
use common::response::{self};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

use super::rules::FilesRules;
use super::scope;
use super::store::{self};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;
use crate::owner_link::standing;
use crate::patients::scope as patient_scope;

// ---------------------------------------------------------- legal holds

/// A legal hold on a patient.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct HoldView {
    /// The patient.
    pub patient_id: String,
    /// Why (sealed at rest).
    pub reason: String,
    /// Placed by.
    pub placed_by: String,
    /// Placed at (UTC).
    pub placed_at: NaiveDateTime,
}

/// Placing a hold.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why: 3 to 500 characters.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

fn require_patient(conn: &mut DbConn, c: &Ctx, patient: &str) -> ApiResult<()> {
    if patient_scope::can_see(conn, &c.user, &c.tenant, patient, false)? {
        Ok(())
    } else {
        Err(patient_scope::not_found())
    }
}

fn hold_view(conn: &mut DbConn, c: &Ctx, h: store::Hold) -> ApiResult<HoldView> {
    let reason = c.keyring.decrypt(
        conn,
        &c.tenant,
        &h.reason_enc,
        &store::hold_aad(&c.tenant, &h.patient_id),
    )?;
    Ok(HoldView {
        patient_id: h.patient_id,
        reason,
        placed_by: h.placed_by,
        placed_at: h.placed_at,
    })
}

#[utoipa::path(get, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "The legal hold on a patient, if any (files.manage)",
    responses((status = 200, description = "The hold", body = HoldView),
        (status = 404, description = "No hold, or no such patient")))]
pub(super) async fn get_hold(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            require_patient(conn, &c, &id)?;
            let h = store::hold(conn, &c.tenant, &id)?.ok_or_else(|| {
                ApiError::NotFound("the patient is not under a legal hold".into())
            })?;
            hold_view(conn, &c, h)
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(put, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "Place a legal hold on a patient (files.manage): no file of theirs is deleted, soft or for good, until it is lifted",
    request_body = HoldRequest,
    responses((status = 200, description = "The hold (an existing one is kept as it was)", body = HoldView)))]
pub(super) async fn place_hold(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<HoldRequest>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let reason = check_text("reason", &body.reason, 3, 500)?;
    let c = ctx.clone();
    let view = db
        .write(move |conn| {
            require_patient(conn, &c, &id)?;
            let h = store::Hold {
                reason_enc: c.keyring.encrypt(
                    conn,
                    &c.tenant,
                    &reason,
                    &store::hold_aad(&c.tenant, &id),
                )?,
                tenant_id: c.tenant.clone(),
                patient_id: id.clone(),
                placed_by: c.user.id.clone(),
                placed_at: now(),
            };
            if store::place_hold(conn, &h)? {
                c.audit(conn, &c.patient_event("legal_hold.place", &id))?;
            }
            let h = store::hold(conn, &c.tenant, &id)?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("hold vanished")))?;
            hold_view(conn, &c, h)
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(delete, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "Lift the legal hold on a patient (files.manage)",
    responses((status = 204, description = "Lifted"),
        (status = 404, description = "No hold, or no such patient")))]
pub(super) async fn lift_hold(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    db.write(move |conn| {
        require_patient(conn, &c, &id)?;
        if !store::lift_hold(conn, &c.tenant, &id)? {
            return Err(ApiError::NotFound(
                "the patient is not under a legal hold".into(),
            ));
        }
        c.audit(conn, &c.patient_event("legal_hold.lift", &id))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ------------------------------------------------------ usage, retention

/// Storage used by one doctor's workspace.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct WorkspaceUsage {
    /// Module.
    pub module: String,
    /// Doctor.
    pub doctor_id: String,
    /// Files (not deleted).
    pub files: i64,
    /// Their bytes as uploaded.
    pub bytes: i64,
}

/// Storage used by one module.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct ModuleUsage {
    /// Module.
    pub module: String,
    /// Files (not deleted).
    pub files: i64,
    /// Their bytes as uploaded.
    pub bytes: i64,
}

/// The tenant's storage: what is stored (each content once, encrypted),
/// per module and per doctor, against the plan.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct UsageView {
    /// `local` or `s3`.
    pub backend: &'static str,
    /// Whether the store answered just now.
    pub reachable: bool,
    /// Bytes stored (each content once, encrypted, as stored).
    pub stored_bytes: i64,
    /// Objects stored.
    pub objects: i64,
    /// The plan's storage in bytes, if the plan limits it.
    pub quota_bytes: Option<i64>,
    /// stored_bytes as a percentage of quota_bytes.
    pub used_percent: Option<f64>,
    /// Usage is past the warning threshold of the quota.
    pub quota_warning: bool,
    /// Per module.
    pub modules: Vec<ModuleUsage>,
    /// Per doctor's workspace.
    pub workspaces: Vec<WorkspaceUsage>,
}

#[utoipa::path(get, path = "/file-usage", tag = "files", security(("bearer" = [])),
    summary = "Storage used by the tenant, per module and per doctor, against the plan (files.manage)",
    responses((status = 200, description = "Usage", body = UsageView)))]
pub(super) async fn usage(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(usage_for(&db, ctx, &rules, &objects).await?))
}

/// The tenant's storage usage (shared with pages).
pub(crate) async fn usage_for(
    db: &Db,
    ctx: Ctx,
    rules: &FilesRules,
    objects: &Objects,
) -> ApiResult<UsageView> {
    scope::require_manager(&ctx.user)?;
    let c = ctx.clone();
    let (stored, n, quota, rows) = db
        .run(move |conn| {
            let (stored, n) = store::stored_bytes(conn, &c.tenant)?;
            let quota = standing::find(conn, &c.tenant)?
                .and_then(|s| s.max_storage_mb)
                .map(|mb| mb.saturating_mul(1024 * 1024));
            Ok((
                stored,
                n,
                quota,
                store::usage_by_workspace(conn, &c.tenant)?,
            ))
        })
        .await?;
    let reachable = objects.check().await.is_ok();
    let used_percent = quota
        .filter(|q| *q > 0)
        .map(|q| stored as f64 * 100.0 / q as f64);
    let mut modules: Vec<ModuleUsage> = Vec::new();
    for (m, _, bytes, files) in &rows {
        match modules.iter_mut().find(|u| &u.module == m) {
            Some(u) => {
                u.bytes += bytes;
                u.files += files;
            }
            None => modules.push(ModuleUsage {
                module: m.clone(),
                files: *files,
                bytes: *bytes,
            }),
        }
    }
    Ok(UsageView {
        backend: objects.backend(),
        reachable,
        stored_bytes: stored,
        objects: n,
        quota_bytes: quota,
        used_percent,
        quota_warning: used_percent.is_some_and(|p| p >= rules.quota_warning_percent as f64),
        modules,
        workspaces: rows
            .into_iter()
            .map(|(module, doctor_id, bytes, files)| WorkspaceUsage {
                module,
                doctor_id,
                files,
                bytes,
            })
            .collect(),
    })
}

#[utoipa::path(post, path = "/file-retention/run", tag = "files", security(("bearer" = [])),
    summary = "Run the retention job for the caller's hospital now (files.manage): archive old files, purge files past retention (never under a legal hold)",
    responses((status = 200, description = "What the job did", body = super::retention::Outcome)))]
pub(super) async fn run_retention(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    auth: web::Data<common::auth::AuthContext>,
) -> ApiResult<HttpResponse> {
    let outcome = retention_now(&db, &ctx, &rules, &objects, auth.clock.now()).await?;
    Ok(response::ok(outcome))
}

/// Run the retention job for the caller's tenant now (shared with pages).
pub(crate) async fn retention_now(
    db: &Db,
    ctx: &Ctx,
    rules: &FilesRules,
    objects: &Objects,
    at: NaiveDateTime,
) -> ApiResult<super::retention::Outcome> {
    scope::require_manager(&ctx.user)?;
    let actor = super::retention::Actor {
        id: ctx.user.id.clone(),
        role: ctx.user.role.clone(),
        origin: ctx.origin.clone(),
    };
    super::retention::run_tenant(db, objects, rules, &ctx.tenant, at, &actor).await
}
