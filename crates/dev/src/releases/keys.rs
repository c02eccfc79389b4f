//! `/signing-keys`: register, list and revoke developers' Ed25519 public
//! keys. A revoked key stays listed, marked; every change is an audit row
//! and a security event.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use common::audit::{Origin, Severity};
use common::auth::AuthUser;
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::schema::users;
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::manifest::decode_public_key;
use super::{audit_and_raise, event, scope};
use crate::schema::signing_keys;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/signing-keys")
            .route(web::get().to(list))
            .route(web::post().to(register)),
    )
    .service(resource("/signing-keys/{id}/revoke").route(web::post().to(revoke)));
}

/// A stored key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub owner_id: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

/// A signing key as listed.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = SigningKey)]
pub struct KeyView {
    /// Key id (named by a release's `signing_key_id`).
    pub id: String,
    /// The owner's name for it.
    pub name: String,
    /// Base64 of the raw 32-byte Ed25519 public key.
    pub public_key: String,
    /// Lower-case hex SHA-256 of the raw public key.
    pub fingerprint: String,
    /// The developer who registered it.
    pub owner_id: String,
    /// Their username.
    pub owner_username: String,
    /// `active` or `revoked`.
    pub status: String,
    /// When registered (UTC).
    pub created_at: NaiveDateTime,
    /// When revoked (UTC), if it is.
    pub revoked_at: Option<NaiveDateTime>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// `POST /signing-keys`.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = SigningKeyCreate)]
pub struct NewKey {
    /// 1 to 100 characters.
    pub name: String,
    /// Base64 of the raw 32-byte Ed25519 public key (`signing.pub`).
    pub public_key: String,
}

/// The list's filters.
#[derive(utoipa::IntoParams, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// Only one developer's keys.
    pub owner_id: Option<String>,
    /// Only revoked (true) or active (false) keys.
    pub revoked: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "1 to 100 characters, without control characters",
        ));
    }
    Ok(name.to_string())
}

/// A key by id.
pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<KeyRow>> {
    Ok(signing_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Usernames of `ids` (a missing user shows as empty).
pub fn usernames(
    conn: &mut DbConn,
    ids: &[String],
) -> ApiResult<std::collections::HashMap<String, String>> {
    let rows: Vec<(String, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::username))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

fn views(conn: &mut DbConn, rows: Vec<KeyRow>) -> ApiResult<Vec<KeyView>> {
    let ids: Vec<String> = rows.iter().map(|r| r.owner_id.clone()).collect();
    let names = usernames(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| KeyView {
            fingerprint: decode_public_key(&r.public_key)
                .map(|k| super::manifest::sha256_hex(&k))
                .unwrap_or_default(),
            owner_username: names.get(&r.owner_id).cloned().unwrap_or_default(),
            status: if r.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            }
            .into(),
            id: r.id,
            name: r.name,
            public_key: r.public_key,
            owner_id: r.owner_id,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
        })
        .collect())
}

fn view(conn: &mut DbConn, row: KeyRow) -> ApiResult<KeyView> {
    views(conn, vec![row])?
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a key view went missing")))
}

#[utoipa::path(post, path = "/signing-keys", tag = "releases", security(("bearer" = [])),
    summary = "Register an Ed25519 public key for signing releases (releases.keys)",
    request_body = NewKey,
    responses((status = 201, description = "Registered", body = KeyView),
        (status = 409, description = "That public key is registered already")))]
async fn register(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<NewKey>,
) -> ApiResult<HttpResponse> {
    Ok(response::created(
        register_key(&db, &user, &origin, body.into_inner()).await?,
    ))
}

/// Register `body`'s key as `user`'s (the API and the page).
pub(crate) async fn register_key(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    body: NewKey,
) -> ApiResult<KeyView> {
    scope::require_key_holder(user)?;
    let (user, origin) = (user.clone(), origin.clone());
    let name = check_name(&body.name)?;
    let raw = decode_public_key(&body.public_key).ok_or_else(|| {
        ApiError::field("public_key", "base64 of the raw 32-byte Ed25519 public key")
    })?;
    let public_key = super::manifest::b64(&raw);
    let fingerprint = super::manifest::sha256_hex(&raw);
    db.write(move |conn| {
        let taken: i64 = signing_keys::table
            .filter(signing_keys::public_key.eq(&public_key))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(ApiError::Conflict(
                "that public key is registered already".into(),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::id.eq(&id),
                signing_keys::name.eq(&name),
                signing_keys::public_key.eq(&public_key),
                signing_keys::owner_id.eq(&user.id),
                signing_keys::created_at.eq(now()),
            ))
            .execute(conn)?;
        let e = event(
            &user,
            "signing_key.register",
            &format!("signing_key:{id}"),
            Severity::Warning,
            json!({ "key": id, "name": name, "fingerprint": fingerprint }),
        );
        audit_and_raise(conn, &user, &origin, e, "signing_key.registered")?;
        let row = find(conn, &id)?.ok_or_else(|| ApiError::NotFound("no such key".into()))?;
        view(conn, row)
    })
    .await
}

#[utoipa::path(get, path = "/signing-keys", tag = "releases", security(("bearer" = [])),
    summary = "Signing keys, active and revoked, newest first (releases.keys or releases.keys_manage)",
    params(KeyQuery),
    responses((status = 200, description = "A page of keys", body = Vec<KeyView>)))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<KeyQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_key_reader(&user)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db.run(move |conn| list_keys(conn, &q, &page)).await?;
    Ok(response::page(rows, &page, total))
}

/// A page of keys, newest first (shared with the pages).
pub(crate) fn list_keys(
    conn: &mut DbConn,
    q: &KeyQuery,
    page: &Page,
) -> ApiResult<(Vec<KeyView>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut f = signing_keys::table.into_boxed();
            if let Some(o) = &q.owner_id {
                f = f.filter(signing_keys::owner_id.eq(o.clone()));
            }
            match q.revoked {
                Some(true) => f = f.filter(signing_keys::revoked_at.is_not_null()),
                Some(false) => f = f.filter(signing_keys::revoked_at.is_null()),
                None => {}
            }
            f
        }};
    }
    let total: i64 = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order((signing_keys::created_at.desc(), signing_keys::id))
        .limit(page.page_size)
        .offset(page.offset())
        .select(KeyRow::as_select())
        .load(conn)?;
    Ok((views(conn, rows)?, total))
}

#[utoipa::path(post, path = "/signing-keys/{id}/revoke", tag = "releases", security(("bearer" = [])),
    summary = "Revoke a signing key: one's own (releases.keys), or any (releases.keys_manage); it stays listed as revoked",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked", body = KeyView),
        (status = 404, description = "No such key"),
        (status = 409, description = "Revoked already")))]
async fn revoke(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(
        revoke_key(&db, &user, &origin, id.into_inner()).await?,
    ))
}

/// Revoke key `id` as `user` (the API and the page).
pub(crate) async fn revoke_key(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    id: String,
) -> ApiResult<KeyView> {
    scope::require_key_reader(user)?;
    let (user, origin) = (user.clone(), origin.clone());
    db.write(move |conn| {
        let row = find(conn, &id)?.ok_or_else(|| ApiError::NotFound("no such key".into()))?;
        scope::check_revoker(&user, &row)?;
        if row.revoked_at.is_some() {
            return Err(ApiError::Conflict("the key is revoked already".into()));
        }
        diesel::update(signing_keys::table.find(&id))
            .set((
                signing_keys::revoked_at.eq(Some(now())),
                signing_keys::revoked_by.eq(Some(&user.id)),
            ))
            .execute(conn)?;
        let e = event(
            &user,
            "signing_key.revoke",
            &format!("signing_key:{id}"),
            Severity::Warning,
            json!({ "key": id, "name": row.name, "owner": row.owner_id }),
        );
        audit_and_raise(conn, &user, &origin, e, "signing_key.revoked")?;
        let row = find(conn, &id)?.ok_or_else(|| ApiError::NotFound("no such key".into()))?;
        view(conn, row)
    })
    .await
}

/// Every signing key as published to company, with its owner's username.
pub fn offers(conn: &mut DbConn) -> ApiResult<Vec<contracts::release::SigningKeyOffer>> {
    let rows: Vec<KeyRow> = signing_keys::table
        .order((signing_keys::created_at.asc(), signing_keys::id.asc()))
        .select(KeyRow::as_select())
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.owner_id.clone()).collect();
    let names = usernames(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| contracts::release::SigningKeyOffer {
            owner_username: names.get(&r.owner_id).cloned().unwrap_or_default(),
            id: r.id,
            name: r.name,
            public_key: r.public_key,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}
