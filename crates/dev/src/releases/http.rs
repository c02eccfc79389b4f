//! `/releases`: upload a signed release (the artifact streamed in the body,
//! the manifest and signature in the query), list them, read one, download
//! its artifact.
//!
//! An upload is checked in this order: the manifest's fields (400), the
//! declared size against `[releases] max_mb` (413), a signature and key id
//! present (400), the key known (403 `SIGNING_KEY_UNKNOWN`), not revoked
//! (403 `SIGNING_KEY_REVOKED`) and its signature of the canonical manifest
//! valid (403 `SIGNATURE_INVALID`) — all before a byte is kept — then the
//! bytes that arrive against the declared size and sha256 (400). Every
//! refusal after the fields is an audit row (`denied`) and a security event.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use common::audit::{Origin, Severity};
use common::auth::AuthUser;
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::config::Releases;
use super::manifest::{self, Manifest};
use super::store::{self, ReleaseQuery, ReleaseRow, ReleaseView};
use super::{audit_and_raise, event, keys, scope};

/// Header alternative to the `signature` query field.
pub const SIGNATURE_HEADER: &str = "x-release-signature";
/// Header alternative to the `signing_key_id` query field.
pub const KEY_HEADER: &str = "x-signing-key-id";

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/releases")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(resource("/releases/{id}").route(web::get().to(get)))
    .service(resource("/releases/{id}/artifact").route(web::get().to(artifact)));
}

/// The manifest and signature of an upload (the body is the artifact).
#[derive(utoipa::IntoParams, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// Product: 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.'.
    pub product: String,
    /// Version: 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.', '+'.
    pub version: String,
    /// The artifact's SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// The artifact's size in bytes.
    #[param(minimum = 1)]
    pub size: i64,
    /// Release notes (up to 4000 characters).
    #[serde(default)]
    pub notes: String,
    /// The lowest schema version the release runs against.
    #[serde(default)]
    #[param(minimum = 0, maximum = 1_000_000)]
    pub min_schema_version: i64,
    /// The signing key's id (or the `X-Signing-Key-Id` header).
    pub signing_key_id: Option<String>,
    /// Base64 Ed25519 signature of the canonical manifest (or the
    /// `X-Release-Signature` header).
    pub signature: Option<String>,
}

fn header_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Record a refused upload (audit row `denied` and a security event) and
/// hand back the error the caller gets.
async fn refuse(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    m: &Manifest,
    key_id: Option<&str>,
    (reason, severity, err): (&str, Severity, ApiError),
) -> ApiError {
    let e = event(
        user,
        "release.upload",
        &format!("release:{}@{}", m.product, m.version),
        severity,
        json!({
            "reason": reason, "product": m.product, "version": m.version,
            "sha256": m.sha256, "size": m.size, "signing_key_id": key_id,
        }),
    )
    .outcome("denied");
    let (u, o) = (user.clone(), origin.clone());
    match db
        .write(move |c| audit_and_raise(c, &u, &o, e, "release.refused"))
        .await
    {
        Ok(()) => err,
        Err(write) => write,
    }
}

fn storage_error(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "release storage failed");
    ApiError::Unavailable("release storage is unavailable, try again shortly".into())
}

async fn remove(path: &std::path::Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, path = %path.display(), "could not remove a release file");
        }
    }
}

/// Why the body was not taken.
enum BodyFailure {
    Longer,
    Broken(String),
    Storage(std::io::Error),
}

/// Write the body to `path`, hashing it, up to `declared` bytes.
async fn receive(
    path: &std::path::Path,
    mut body: web::Payload,
    declared: u64,
) -> Result<(u64, String), BodyFailure> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(BodyFailure::Storage)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut seen: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BodyFailure::Broken(e.to_string()))?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > declared {
            return Err(BodyFailure::Longer);
        }
        digest.update(&chunk);
        file.write_all(&chunk).await.map_err(BodyFailure::Storage)?;
    }
    file.sync_all().await.map_err(BodyFailure::Storage)?;
    Ok((seen, hex::encode(digest.finish().as_ref())))
}

#[utoipa::path(post, path = "/releases", tag = "releases", security(("bearer" = [])),
    summary = "Upload a signed release: the manifest and signature in the query, the artifact streamed in the body (releases.upload)",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The artifact's bytes"),
    responses((status = 201, description = "Stored", body = ReleaseView),
        (status = 400, description = "A manifest field is invalid, the signature is missing, or the bytes do not match the declared sha256 or size"),
        (status = 403, description = "The role may not upload, or SIGNATURE_INVALID, SIGNING_KEY_UNKNOWN, SIGNING_KEY_REVOKED"),
        (status = 409, description = "That product and version exist already"),
        (status = 413, description = "Larger than releases.max_mb")))]
#[allow(clippy::too_many_lines)]
async fn upload(
    db: web::Data<Db>,
    cfg: web::Data<Releases>,
    user: AuthUser,
    origin: Origin,
    req: HttpRequest,
    q: web::Query<UploadQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    scope::require_uploader(&user)?;
    let q = q.into_inner();
    let m = Manifest {
        min_schema_version: q.min_schema_version,
        notes: q.notes,
        product: q.product,
        sha256: q.sha256,
        size: q.size,
        version: q.version,
    };
    m.check()
        .map_err(|(field, problem)| ApiError::field(field, problem))?;
    let declared = u64::try_from(m.size).unwrap_or(0);
    if declared > cfg.max_bytes {
        let err = ApiError::PayloadTooLarge(format!(
            "the artifact is larger than the {} MiB a release may be",
            cfg.max_bytes / (1024 * 1024)
        ));
        return Err(refuse(
            &db,
            &user,
            &origin,
            &m,
            None,
            ("too_large", Severity::Warning, err),
        )
        .await);
    }
    let signature = q
        .signature
        .or_else(|| header_value(&req, SIGNATURE_HEADER))
        .filter(|s| !s.trim().is_empty());
    let key_id = q
        .signing_key_id
        .or_else(|| header_value(&req, KEY_HEADER))
        .filter(|s| !s.trim().is_empty());
    let (Some(signature), Some(key_id)) = (signature, key_id) else {
        let err = ApiError::field(
            "signature",
            "a release must be signed: give signature and signing_key_id",
        );
        return Err(refuse(
            &db,
            &user,
            &origin,
            &m,
            None,
            ("unsigned", Severity::Warning, err),
        )
        .await);
    };
    let (kid, pv) = (key_id.clone(), (m.product.clone(), m.version.clone()));
    let (key, taken) = db
        .run(move |c| Ok((keys::find(c, &kid)?, store::exists(c, &pv.0, &pv.1)?)))
        .await?;
    let refused = match &key {
        None => Some((
            "unknown_key",
            Severity::Critical,
            ApiError::Refused {
                code: "SIGNING_KEY_UNKNOWN",
                message: "the release is signed by a key that is not registered".into(),
            },
        )),
        Some(k) if k.revoked_at.is_some() => Some((
            "revoked_key",
            Severity::Critical,
            ApiError::Refused {
                code: "SIGNING_KEY_REVOKED",
                message: format!("the signing key {} is revoked", k.name),
            },
        )),
        Some(k) if !manifest::verify(&k.public_key, &m, &signature) => Some((
            "bad_signature",
            Severity::Critical,
            ApiError::Refused {
                code: "SIGNATURE_INVALID",
                message: "the signature does not verify against the manifest and the named key"
                    .into(),
            },
        )),
        Some(_) => None,
    };
    if let Some((reason, severity, err)) = refused {
        return Err(refuse(
            &db,
            &user,
            &origin,
            &m,
            Some(&key_id),
            (reason, severity, err),
        )
        .await);
    }
    if taken {
        return Err(ApiError::Conflict(format!(
            "{} {} exists already",
            m.product, m.version
        )));
    }

    let tmp = cfg.temp_path();
    let received = receive(&tmp, body, declared).await;
    let (seen, sha256) = match received {
        Ok(r) => r,
        Err(failure) => {
            remove(&tmp).await;
            return Err(match failure {
                BodyFailure::Storage(e) => storage_error(e),
                BodyFailure::Broken(e) => {
                    ApiError::validation(format!("the upload did not arrive whole: {e}"))
                }
                BodyFailure::Longer => {
                    let err = ApiError::field(
                        "size",
                        format!("the artifact is longer than the {declared} bytes declared"),
                    );
                    refuse(
                        &db,
                        &user,
                        &origin,
                        &m,
                        Some(&key_id),
                        ("size_mismatch", Severity::Critical, err),
                    )
                    .await
                }
            });
        }
    };
    if seen != declared {
        remove(&tmp).await;
        let err = ApiError::field(
            "size",
            format!("{seen} bytes arrived, the manifest declares {declared}"),
        );
        return Err(refuse(
            &db,
            &user,
            &origin,
            &m,
            Some(&key_id),
            ("size_mismatch", Severity::Critical, err),
        )
        .await);
    }
    if sha256 != m.sha256 {
        remove(&tmp).await;
        let err = ApiError::field(
            "sha256",
            "the bytes that arrived do not have the declared sha256",
        );
        return Err(refuse(
            &db,
            &user,
            &origin,
            &m,
            Some(&key_id),
            ("sha256_mismatch", Severity::Critical, err),
        )
        .await);
    }
    let dest = cfg.artifact_path(&sha256);
    let fresh = match tokio::fs::try_exists(&dest).await {
        Ok(true) => {
            remove(&tmp).await;
            false
        }
        Ok(false) => {
            if let Err(e) = tokio::fs::rename(&tmp, &dest).await {
                remove(&tmp).await;
                return Err(storage_error(e));
            }
            true
        }
        Err(e) => {
            remove(&tmp).await;
            return Err(storage_error(e));
        }
    };
    let row = ReleaseRow {
        id: uuid::Uuid::new_v4().to_string(),
        product: m.product.clone(),
        version: m.version.clone(),
        sha256: sha256.clone(),
        size: m.size,
        notes: m.notes.clone(),
        min_schema_version: m.min_schema_version,
        signature: signature.trim().to_string(),
        signing_key_id: key_id.clone(),
        uploaded_by: user.id.clone(),
        created_at: now(),
    };
    let (u, o) = (user.clone(), origin.clone());
    let written = db
        .write(move |c| {
            store::insert(c, &row)?;
            let e = event(
                &u,
                "release.upload",
                &format!("release:{}", row.id),
                Severity::Info,
                json!({
                    "release": row.id, "product": row.product, "version": row.version,
                    "sha256": row.sha256, "size": row.size, "signing_key_id": row.signing_key_id,
                }),
            );
            common::audit::append(c, &e, &o)?;
            let view = store::views(c, vec![row])?.pop().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("a release view went missing"))
            })?;
            Ok(view)
        })
        .await;
    match written {
        Ok(view) => Ok(response::created(view)),
        Err(e) => {
            if fresh {
                let sha = sha256.clone();
                if matches!(db.run(move |c| store::refs(c, &sha)).await, Ok(0)) {
                    remove(&dest).await;
                }
            }
            Err(e)
        }
    }
}

#[utoipa::path(get, path = "/releases", tag = "releases", security(("bearer" = [])),
    summary = "Releases, newest first, with their signer and uploader (releases.read)",
    params(ReleaseQuery),
    responses((status = 200, description = "A page of releases", body = Vec<ReleaseView>)))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<ReleaseQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_release_reader(&user)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db.run(move |c| store::list(c, &q, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/releases/{id}", tag = "releases", security(("bearer" = [])),
    summary = "One release: manifest, signature, signer, uploader (releases.read)",
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "The release", body = ReleaseView),
        (status = 404, description = "No such release")))]
async fn get(db: web::Data<Db>, user: AuthUser, id: web::Path<String>) -> ApiResult<HttpResponse> {
    scope::require_release_reader(&user)?;
    let id = id.into_inner();
    let view = db
        .run(move |c| {
            let row = store::find(c, &id)?;
            store::views(c, vec![row])?
                .pop()
                .ok_or_else(|| ApiError::NotFound("no such release".into()))
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(get, path = "/releases/{id}/artifact", tag = "releases", security(("bearer" = [])),
    summary = "Download a release's artifact, streamed; its sha256 and signature are in X-Release-Sha256 and X-Release-Signature (releases.read)",
    params(("id" = String, Path, description = "Release id")),
    responses((status = 200, description = "The artifact's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such release")))]
async fn artifact(
    db: web::Data<Db>,
    cfg: web::Data<Releases>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    artifact_response(&db, &cfg, &user, origin, id.into_inner()).await
}

/// A release's artifact as a streamed answer (shared with the pages).
pub(crate) async fn artifact_response(
    db: &Db,
    cfg: &Releases,
    user: &AuthUser,
    origin: Origin,
    id: String,
) -> ApiResult<HttpResponse> {
    scope::require_release_reader(user)?;
    let (who, role) = (user.id.clone(), user.role.clone());
    let row = db
        .write(move |c| {
            let row = store::find(c, &id)?;
            downloaded(c, &row, &who, &role, &origin)?;
            Ok(row)
        })
        .await?;
    stream_artifact(cfg, row).await
}

/// The audit row of an artifact handed out (to a developer or to company).
pub(crate) fn downloaded(
    c: &mut common::db::DbConn,
    row: &ReleaseRow,
    actor: &str,
    role: &str,
    origin: &Origin,
) -> ApiResult<()> {
    let e = common::audit::Event::new(
        actor,
        role,
        "release.download",
        &format!("release:{}", row.id),
    )
    .details(json!({ "product": row.product, "version": row.version, "sha256": row.sha256 }));
    common::audit::append(c, &e, origin)?;
    Ok(())
}

/// A release's artifact as a streamed answer, its hash and signature in headers.
pub(crate) async fn stream_artifact(cfg: &Releases, row: ReleaseRow) -> ApiResult<HttpResponse> {
    let file = tokio::fs::File::open(cfg.artifact_path(&row.sha256))
        .await
        .map_err(|e| {
            tracing::error!(release = %row.id, error = %e, "a release's artifact is missing");
            ApiError::Damaged(
                "the release's artifact is missing from storage; an administrator must restore it"
                    .into(),
            )
        })?;
    let size = u64::try_from(row.size).unwrap_or(0);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-{}\"", row.product, row.version),
        ))
        .insert_header(("X-Release-Sha256", row.sha256.clone()))
        .insert_header(("X-Release-Signature", row.signature.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(common::http::file_body(file, size)))
}
