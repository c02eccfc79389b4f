//! `/releases`: the releases company pulled from dev, and the two-person
//! path to production — promote (a production user; company fetches the
//! artifact from dev and checks it against the signed manifest), approve
//! (a team lead; company countersigns), reject. `/release-approval-key`:
//! the public key hospitals pin to check company's countersignature.
//!
//! Every refusal of promote or approve after the permission check is an
//! audit row (`denied`) and a security event (`release.refused`); a
//! tampered artifact is a critical one (`release.tampered`).

use actix_web::{web, HttpResponse};
use common::audit::{Origin, Severity};
use common::auth::AuthUser;
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use contracts::release::Approval;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::config::Desk;
use super::record;
use super::scope;
use super::store::{self, ReleaseQuery, ReleaseRow, ReleaseView};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/releases").route(web::get().to(list)))
        .service(resource("/releases/{id}").route(web::get().to(get)))
        .service(resource("/releases/{id}/promote").route(web::post().to(promote)))
        .service(resource("/releases/{id}/approve").route(web::post().to(approve)))
        .service(resource("/releases/{id}/reject").route(web::post().to(reject)))
        .service(resource("/release-approval-key").route(web::get().to(approval_key)));
}

#[utoipa::path(get, path = "/releases", tag = "releases", security(("bearer" = [])),
    summary = "Releases pulled from dev, newest first, with signer, status and approvals (releases.read)",
    params(ReleaseQuery),
    responses((status = 200, description = "A page of releases", body = Vec<ReleaseView>),
        (status = 400, description = "A bad filter or page")))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<ReleaseQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let q = q.into_inner();
    if let Some(s) = &q.status {
        if !store::status::ALL.contains(&s.as_str()) {
            return Err(ApiError::field(
                "status",
                "one of candidate, promoted, approved, rejected",
            ));
        }
    }
    if q.product
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > 64)
    {
        return Err(ApiError::field("product", "1 to 64 characters"));
    }
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db.run(move |c| store::list(c, &q, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/releases/{id}", tag = "releases", security(("bearer" = [])),
    summary = "One release (releases.read)",
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "The release", body = ReleaseView),
        (status = 404, description = "No such release")))]
async fn get(db: web::Data<Db>, user: AuthUser, id: web::Path<String>) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let id = id.into_inner();
    Ok(response::ok(db.run(move |c| store::view(c, &id)).await?))
}

/// Record a refusal (audit row `denied`, security event) and hand back `err`.
async fn refuse(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    action: &'static str,
    row: &ReleaseRow,
    kind: &'static str,
    err: ApiError,
) -> ApiError {
    let severity = if kind == "release.tampered" {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let details = json!({
        "reason": err.code(), "product": row.product, "version": row.version,
        "sha256": row.sha256, "signing_key_id": row.signing_key_id,
    });
    let (u, o, id) = (user.clone(), origin.clone(), row.id.clone());
    match db
        .write(move |c| {
            record(
                c,
                &u,
                &o,
                action,
                &id,
                ("denied", severity, details),
                Some(kind),
            )
        })
        .await
    {
        Ok(()) => err,
        Err(write) => write,
    }
}

/// The release's row and its signing key as company last pulled it.
async fn row_and_key(db: &Db, id: String) -> ApiResult<(ReleaseRow, Option<store::KeyRow>)> {
    db.run(move |c| {
        let row = store::find(c, &id)?;
        let key = store::key(c, &row.signing_key_id)?;
        Ok((row, key))
    })
    .await
}

/// Why fetching the artifact failed.
enum Fetch {
    /// Dev answered, but not with the bytes the manifest names.
    Mismatch(String),
    /// Dev or company's storage could not be used.
    Unavailable(String),
}

/// Fetch `row`'s artifact from dev into company's store, checking its size
/// and sha256 against the signed manifest on the way.
async fn fetch_artifact(desk: &Desk, row: &ReleaseRow) -> Result<(), Fetch> {
    let dest = desk.artifact_path(&row.sha256);
    if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        // Kept for an earlier release with the same bytes (checked then);
        // check again, it is cheap next to a wrong binary in production.
        let path = dest.clone();
        let seen = tokio::task::spawn_blocking(move || contracts::release::sha256_file(&path))
            .await
            .map_err(|e| Fetch::Unavailable(e.to_string()))?
            .map_err(|e| Fetch::Unavailable(e.to_string()))?;
        if seen.0 == row.sha256 {
            return Ok(());
        }
        let _ = tokio::fs::remove_file(&dest).await;
    }
    let Some(dev) = &desk.dev else {
        return Err(Fetch::Unavailable(
            "the internal plane is off: company cannot reach dev".into(),
        ));
    };
    let path = contracts::paths::DEV_RELEASE_ARTIFACT.replace("{id}", &row.id);
    let mut res = dev
        .download(&path, u64::try_from(row.size).unwrap_or(0))
        .await
        .map_err(|e| Fetch::Unavailable(format!("dev: {e}")))?;
    let tmp = desk.temp_path();
    let result = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| Fetch::Unavailable(e.to_string()))?;
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let declared = u64::try_from(row.size).unwrap_or(0);
        let mut seen: u64 = 0;
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| Fetch::Unavailable(format!("dev: {e}")))?
        {
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > declared {
                return Err(Fetch::Mismatch(
                    "dev sent more bytes than the manifest's size".into(),
                ));
            }
            digest.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Fetch::Unavailable(e.to_string()))?;
        }
        if seen != declared {
            return Err(Fetch::Mismatch(format!(
                "dev sent {seen} bytes; the manifest says {declared}"
            )));
        }
        if hex::encode(digest.finish().as_ref()) != row.sha256 {
            return Err(Fetch::Mismatch(
                "the artifact's sha256 is not the one the developer signed".into(),
            ));
        }
        file.sync_all()
            .await
            .map_err(|e| Fetch::Unavailable(e.to_string()))?;
        tokio::fs::rename(&tmp, &dest)
            .await
            .map_err(|e| Fetch::Unavailable(e.to_string()))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

#[utoipa::path(post, path = "/releases/{id}/promote", tag = "releases", security(("bearer" = [])),
    summary = "Promote a candidate release to production (releases.promote): company fetches its artifact from dev and checks it against the signed manifest; a team lead must then approve it",
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "Promoted; waiting for a team lead's approval", body = ReleaseView),
        (status = 403, description = "The role may not promote"),
        (status = 404, description = "No such release"),
        (status = 409, description = "Not a candidate (CONFLICT); SIGNING_KEY_REVOKED, SIGNATURE_INVALID; ARTIFACT_MISMATCH: dev's bytes are not the signed ones"),
        (status = 503, description = "Dev or company's release storage cannot be reached")))]
async fn promote(
    db: web::Data<Db>,
    desk: web::Data<Desk>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(
        promote_release(&db, &desk, &user, &origin, id.into_inner()).await?,
    ))
}

/// Promote release `id` as `user` (the API and the page).
pub(crate) async fn promote_release(
    db: &Db,
    desk: &Desk,
    user: &AuthUser,
    origin: &Origin,
    id: String,
) -> ApiResult<ReleaseView> {
    scope::require_promoter(user)?;
    let (row, key) = row_and_key(db, id).await?;
    if let Err(e) = scope::check_promotable(&row, key.as_ref()) {
        return Err(match e {
            ApiError::Warning { .. } => {
                refuse(
                    db,
                    user,
                    origin,
                    "release.promote",
                    &row,
                    "release.refused",
                    e,
                )
                .await
            }
            other => other,
        });
    }
    match fetch_artifact(desk, &row).await {
        Ok(()) => {}
        Err(Fetch::Unavailable(why)) => {
            tracing::warn!(release = %row.id, error = %why, "could not fetch a release's artifact");
            return Err(ApiError::Unavailable(
                "the release's artifact could not be fetched from dev; try again shortly".into(),
            ));
        }
        Err(Fetch::Mismatch(why)) => {
            let err = ApiError::Warning {
                code: "ARTIFACT_MISMATCH",
                message: format!("refused: {why}; the artifact was not kept"),
                details: json!({ "sha256": row.sha256, "size": row.size }),
            };
            return Err(refuse(
                db,
                user,
                origin,
                "release.promote",
                &row,
                "release.tampered",
                err,
            )
            .await);
        }
    }
    let (u, o) = (user.clone(), origin.clone());
    let view = db
        .write(move |c| {
            if !store::set_promoted(c, &row.id, &u.id, &u.username)? {
                return Err(ApiError::Conflict(
                    "the release is no longer a candidate: someone acted on it first".into(),
                ));
            }
            record(
                c,
                &u,
                &o,
                "release.promote",
                &row.id,
                (
                    "success",
                    Severity::Info,
                    json!({ "product": row.product, "version": row.version, "sha256": row.sha256 }),
                ),
                None,
            )?;
            store::view(c, &row.id)
        })
        .await?;
    Ok(view)
}

#[utoipa::path(post, path = "/releases/{id}/approve", tag = "releases", security(("bearer" = [])),
    summary = "Approve a promoted release for production (releases.approve): a second person — never the promoter, never the signer; company countersigns the approval",
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "Approved and countersigned", body = ReleaseView),
        (status = 403, description = "The role may not approve; SAME_PERSON: the promoter cannot approve; SIGNER_CANNOT_APPROVE: the developer who signed cannot"),
        (status = 404, description = "No such release"),
        (status = 409, description = "Not promoted (CONFLICT); SIGNING_KEY_REVOKED, SIGNATURE_INVALID"),
        (status = 503, description = "Company has no approval key configured")))]
async fn approve(
    db: web::Data<Db>,
    desk: web::Data<Desk>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(
        approve_release(&db, &desk, &user, &origin, id.into_inner()).await?,
    ))
}

/// Approve release `id` as `user` (the API and the page).
pub(crate) async fn approve_release(
    db: &Db,
    desk: &Desk,
    user: &AuthUser,
    origin: &Origin,
    id: String,
) -> ApiResult<ReleaseView> {
    scope::require_approver(user)?;
    let (row, key) = row_and_key(db, id).await?;
    if let Err(e) = scope::check_approvable(&row, key.as_ref(), user) {
        return Err(match e {
            ApiError::Warning { .. } | ApiError::Refused { .. } => {
                refuse(
                    db,
                    user,
                    origin,
                    "release.approve",
                    &row,
                    "release.refused",
                    e,
                )
                .await
            }
            other => other,
        });
    }
    let Some(approval_key) = desk.approval_key.clone() else {
        return Err(ApiError::Unavailable(
            "company has no approval key (releases.approval_key_file); nothing can be approved"
                .into(),
        ));
    };
    let at = now();
    let approval = Approval {
        approved_at: at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        approved_by: user.username.clone(),
        manifest: row.manifest(),
        promoted_by: row.promoted_by_username.clone().unwrap_or_default(),
        release_id: row.id.clone(),
        signature: row.signature.clone(),
        signing_key_id: row.signing_key_id.clone(),
        signing_public_key: key.map(|k| k.public_key).unwrap_or_default(),
    };
    let countersignature = contracts::release::countersign(&approval_key, &approval)?;
    let (u, o) = (user.clone(), origin.clone());
    let view = db
        .write(move |c| {
            if !store::set_approved(c, &row.id, &u.id, &approval, at, &countersignature)? {
                return Err(ApiError::Conflict(
                    "the release is no longer promoted: someone acted on it first".into(),
                ));
            }
            record(
                c,
                &u,
                &o,
                "release.approve",
                &row.id,
                (
                    "success",
                    Severity::Info,
                    json!({
                        "product": row.product, "version": row.version, "sha256": row.sha256,
                        "promoted_by": approval.promoted_by, "approved_by": approval.approved_by,
                    }),
                ),
                Some("release.approved"),
            )?;
            store::view(c, &row.id)
        })
        .await?;
    Ok(view)
}

/// Why a release is turned down.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = ReleaseRejection)]
pub struct Rejection {
    /// 3 to 500 characters.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

#[utoipa::path(post, path = "/releases/{id}/reject", tag = "releases", security(("bearer" = [])),
    summary = "Reject a candidate or promoted release, with a reason (releases.promote or releases.approve)",
    params(("id" = String, Path, description = "Release id")),
    request_body = Rejection,
    responses((status = 200, description = "Rejected", body = ReleaseView),
        (status = 400, description = "The reason is missing, too short or too long"),
        (status = 403, description = "The role may not reject"),
        (status = 404, description = "No such release"),
        (status = 409, description = "Already approved or rejected")))]
async fn reject(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<Rejection>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(
        reject_release(&db, &user, &origin, id.into_inner(), &body.reason).await?,
    ))
}

/// Reject release `id` as `user` with `reason` (the API and the page).
pub(crate) async fn reject_release(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    id: String,
    reason: &str,
) -> ApiResult<ReleaseView> {
    scope::require_rejecter(user)?;
    let reason = reason.trim().to_string();
    let n = reason.chars().count();
    if !(3..=500).contains(&n) || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            "reason",
            "3 to 500 characters, without control characters",
        ));
    }
    let (u, o) = (user.clone(), origin.clone());
    let view = db
        .write(move |c| {
            let row = store::find(c, &id)?;
            scope::check_rejectable(&row)?;
            if !store::set_rejected(c, &row.id, &u.username, &reason)? {
                return Err(ApiError::Conflict(
                    "someone acted on the release first".into(),
                ));
            }
            record(
                c,
                &u,
                &o,
                "release.reject",
                &row.id,
                (
                    "success",
                    Severity::Info,
                    json!({ "product": row.product, "version": row.version }),
                ),
                None,
            )?;
            store::view(c, &row.id)
        })
        .await?;
    Ok(view)
}

/// Company's approval key, for hospitals to pin.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct ApprovalKey {
    /// Raw Ed25519 public key, base64.
    pub public_key: String,
    /// SHA-256 of the raw key (hex), to compare out of band.
    pub fingerprint: String,
}

#[utoipa::path(get, path = "/release-approval-key", tag = "releases", security(("bearer" = [])),
    summary = "Company's release-approval public key, which hospitals pin (releases.read)",
    responses((status = 200, description = "The key", body = ApprovalKey),
        (status = 503, description = "Company has no approval key configured")))]
async fn approval_key(desk: web::Data<Desk>, user: AuthUser) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let Some(public_key) = desk.approval_public_key.clone() else {
        return Err(ApiError::Unavailable(
            "company has no approval key (releases.approval_key_file)".into(),
        ));
    };
    let fingerprint = contracts::release::decode_public_key(&public_key)
        .map(|k| contracts::release::sha256_hex(&k))
        .unwrap_or_default();
    Ok(response::ok(ApprovalKey {
        public_key,
        fingerprint,
    }))
}
