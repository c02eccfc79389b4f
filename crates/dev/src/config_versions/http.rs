//! `/config/{kind}/versions…`: add a version, list and read them with their
//! differences, fetch the canonical document to sign, roll back, publish.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use common::audit::{self, Origin, Severity};
use common::auth::AuthUser;
use common::db::{Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Value};

use super::store::{self, ConfigVersionView, VersionRow};
use super::{check_document, check_kind, product, scope};
use crate::releases::{event, keys, store as releases};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/config/{kind}/versions")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/config/{kind}/versions/{version}").route(web::get().to(get)))
    .service(resource("/config/{kind}/versions/{version}/document").route(web::get().to(document)))
    .service(resource("/config/{kind}/versions/{version}/rollback").route(web::post().to(rollback)))
    .service(resource("/config/{kind}/versions/{version}/publish").route(web::post().to(publish)));
}

/// A new version.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVersionRequest {
    /// The whole document: a JSON object (keys a-z, 0-9, _; no secrets; at
    /// most 8 deep and 64 KiB).
    pub document: Value,
    /// Why (3 to 500 characters).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

/// A rollback.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRollbackRequest {
    /// Why (3 to 500 characters).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

/// Publishing with the release that signs the document.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPublishRequest {
    /// A release on dev of product `<kind>-config`, version `<version>`,
    /// whose sha256 and size are this version's document's.
    #[schema(min_length = 1, max_length = 64)]
    pub release_id: String,
}

fn check_reason(reason: &str) -> ApiResult<String> {
    let r = reason.trim();
    if (3..=500).contains(&r.chars().count()) && !r.chars().any(|c| c.is_control()) {
        Ok(r.to_string())
    } else {
        Err(ApiError::field(
            "reason",
            "3 to 500 characters, no control characters",
        ))
    }
}

fn not_found(kind: &str, n: i64) -> ApiError {
    ApiError::NotFound(format!("no version {n} of the {kind} configuration"))
}

fn audit_row(user: &AuthUser, action: &str, row: &VersionRow, extra: Value) -> audit::Event {
    let mut details = json!({ "kind": row.kind, "version": row.version, "sha256": row.sha256 });
    if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    event(
        user,
        action,
        &format!("config:{}:{}", row.kind, row.version),
        Severity::Info,
        details,
    )
}

#[utoipa::path(post, path = "/config/{kind}/versions", tag = "config", security(("bearer" = [])),
    summary = "Add the next version of a server kind's configuration document, with a reason (config.write)",
    params(("kind" = String, Path, description = "hospital, company or owner")),
    request_body = ConfigVersionRequest,
    responses((status = 201, description = "The new version with its document and its changes", body = ConfigVersionView),
        (status = 404, description = "No such kind"),
        (status = 409, description = "NO_CHANGE: the document is the newest version's already")))]
async fn create(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    kind: web::Path<String>,
    body: web::Json<ConfigVersionRequest>,
) -> ApiResult<HttpResponse> {
    let view = add_version(&db, user, origin, kind.into_inner(), body.into_inner()).await?;
    Ok(response::created(view))
}

/// Add a version, with the API's checks and audit row (shared with the page).
pub(crate) async fn add_version(
    db: &Db,
    user: AuthUser,
    origin: Origin,
    kind: String,
    body: ConfigVersionRequest,
) -> ApiResult<ConfigVersionView> {
    scope::require_writer(&user)?;
    check_kind(&kind)?;
    let canonical = check_document(&body.document)?;
    let reason = check_reason(&body.reason)?;
    db.write(move |conn| {
        let (row, before) = store::add(conn, &kind, canonical, &reason, &user.id, None)?;
        let view = row.full(before.as_ref())?;
        let changes = view.changes.as_ref().map_or(0, Vec::len);
        let e = audit_row(&user, "config.create", &row, json!({ "changes": changes }));
        audit::append(conn, &e, &origin)?;
        Ok(view)
    })
    .await
}

/// The list's page.
#[derive(utoipa::IntoParams, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVersionQuery {
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/config/{kind}/versions", tag = "config", security(("bearer" = [])),
    summary = "A kind's configuration versions, newest first (config.read)",
    params(("kind" = String, Path, description = "hospital, company or owner"), ConfigVersionQuery),
    responses((status = 200, description = "A page of versions (without documents)", body = Vec<ConfigVersionView>),
        (status = 404, description = "No such kind")))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    kind: web::Path<String>,
    q: web::Query<ConfigVersionQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let kind = kind.into_inner();
    check_kind(&kind)?;
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db.run(move |c| store::list(c, &kind, &page)).await?;
    let views: Vec<ConfigVersionView> = rows.iter().map(VersionRow::view).collect();
    Ok(response::page(views, &page, total))
}

fn path(p: (String, String)) -> ApiResult<(String, i64)> {
    let (kind, version) = p;
    check_kind(&kind)?;
    let n = version
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=1_000_000_000).contains(n))
        .ok_or_else(|| ApiError::field("version", "a version number from 1"))?;
    Ok((kind, n))
}

fn find(conn: &mut DbConn, kind: &str, n: i64) -> ApiResult<VersionRow> {
    store::get(conn, kind, n)?.ok_or_else(|| not_found(kind, n))
}

#[utoipa::path(get, path = "/config/{kind}/versions/{version}", tag = "config", security(("bearer" = [])),
    summary = "One version with its document and what changed from the version before (config.read)",
    params(("kind" = String, Path, description = "hospital, company or owner"),
        ("version" = i64, Path, description = "The version number")),
    responses((status = 200, description = "The version", body = ConfigVersionView),
        (status = 404, description = "No such kind or version")))]
async fn get(
    db: web::Data<Db>,
    user: AuthUser,
    p: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let (kind, n) = path(p.into_inner())?;
    let view = db
        .run(move |c| {
            let row = find(c, &kind, n)?;
            let before = store::get(c, &kind, n - 1)?;
            row.full(before.as_ref())
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(get, path = "/config/{kind}/versions/{version}/document", tag = "config", security(("bearer" = [])),
    summary = "The version's canonical document: the exact bytes to sign as release <kind>-config / <version> (config.read)",
    params(("kind" = String, Path, description = "hospital, company or owner"),
        ("version" = i64, Path, description = "The version number")),
    responses((status = 200, description = "Canonical JSON (keys sorted, no whitespace)", content_type = "application/json"),
        (status = 404, description = "No such kind or version")))]
async fn document(
    db: web::Data<Db>,
    user: AuthUser,
    p: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let (kind, n) = path(p.into_inner())?;
    let row = db.run(move |c| find(c, &kind, n)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header(("x-config-sha256", row.sha256.clone()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}-config-{}.json\"",
                row.kind, row.version
            ),
        ))
        .body(row.document))
}

#[utoipa::path(post, path = "/config/{kind}/versions/{version}/rollback", tag = "config", security(("bearer" = [])),
    summary = "Roll back: add a new version carrying this version's document (config.write)",
    params(("kind" = String, Path, description = "hospital, company or owner"),
        ("version" = i64, Path, description = "The version to return to")),
    request_body = ConfigRollbackRequest,
    responses((status = 201, description = "The new version", body = ConfigVersionView),
        (status = 404, description = "No such kind or version"),
        (status = 409, description = "NO_CHANGE: that document is the newest version's already")))]
async fn rollback(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    p: web::Path<(String, String)>,
    body: web::Json<ConfigRollbackRequest>,
) -> ApiResult<HttpResponse> {
    let (kind, n) = path(p.into_inner())?;
    let view = roll_back(&db, user, origin, kind, n, &body.reason).await?;
    Ok(response::created(view))
}

/// Roll back to version `n` (shared with the page).
pub(crate) async fn roll_back(
    db: &Db,
    user: AuthUser,
    origin: Origin,
    kind: String,
    n: i64,
    reason: &str,
) -> ApiResult<ConfigVersionView> {
    scope::require_writer(&user)?;
    check_kind(&kind)?;
    let reason = check_reason(reason)?;
    db.write(move |conn| {
        let target = find(conn, &kind, n)?;
        let (row, before) = store::add(conn, &kind, target.document, &reason, &user.id, Some(n))?;
        let view = row.full(before.as_ref())?;
        let e = audit_row(&user, "config.rollback", &row, json!({ "to": n }));
        audit::append(conn, &e, &origin)?;
        Ok(view)
    })
    .await
}

#[utoipa::path(post, path = "/config/{kind}/versions/{version}/publish", tag = "config", security(("bearer" = [])),
    summary = "Publish a version with the signed release of its document, which then goes through company's two-person approval like any release (config.write)",
    params(("kind" = String, Path, description = "hospital, company or owner"),
        ("version" = i64, Path, description = "The version number")),
    request_body = ConfigPublishRequest,
    responses((status = 200, description = "Published", body = ConfigVersionView),
        (status = 404, description = "No such kind, version or release"),
        (status = 409, description = "RELEASE_MISMATCH: the release is not this document (product, version, sha256 or size); SIGNING_KEY_REVOKED: its key was revoked since; CONFLICT: published already")))]
async fn publish(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    p: web::Path<(String, String)>,
    body: web::Json<ConfigPublishRequest>,
) -> ApiResult<HttpResponse> {
    let (kind, n) = path(p.into_inner())?;
    let view = publish_with(&db, user, origin, kind, n, body.into_inner().release_id).await?;
    Ok(response::ok(view))
}

/// Publish version `n` with release `release_id` (shared with the page).
pub(crate) async fn publish_with(
    db: &Db,
    user: AuthUser,
    origin: Origin,
    kind: String,
    n: i64,
    release_id: String,
) -> ApiResult<ConfigVersionView> {
    scope::require_writer(&user)?;
    check_kind(&kind)?;
    if release_id.is_empty() || release_id.len() > 64 {
        return Err(ApiError::field("release_id", "1 to 64 characters"));
    }
    db.write(move |conn| {
            let row = find(conn, &kind, n)?;
            if row.published_release_id.is_some() {
                return Err(ApiError::Conflict(format!(
                    "version {n} is published already"
                )));
            }
            let release = releases::find(conn, &release_id)?;
            let same = release.product == product(&kind)
                && release.version == n.to_string()
                && release.sha256 == row.sha256
                && release.size == row.document.len() as i64;
            if !same {
                return Err(ApiError::Warning {
                    code: "RELEASE_MISMATCH",
                    message: format!(
                        "the release must be product {}, version {n}, with this document's sha256 and size",
                        product(&kind)
                    ),
                    details: json!({ "product": product(&kind), "version": n.to_string(),
                        "sha256": row.sha256, "size": row.document.len() }),
                });
            }
            let revoked = keys::find(conn, &release.signing_key_id)?
                .is_none_or(|k| k.revoked_at.is_some());
            if revoked {
                return Err(ApiError::Warning {
                    code: "SIGNING_KEY_REVOKED",
                    message: "the release's signing key was revoked".into(),
                    details: json!({ "signing_key_id": release.signing_key_id }),
                });
            }
            if !store::publish(conn, &row, &release.id, &user.id)? {
                return Err(ApiError::Conflict(format!(
                    "version {n} is published already"
                )));
            }
            let e = audit_row(&user, "config.publish", &row, json!({ "release": release.id }));
            audit::append(conn, &e, &origin)?;
            let row = find(conn, &kind, n)?;
            let before = store::get(conn, &kind, n - 1)?;
            row.full(before.as_ref())
        })
        .await
}
