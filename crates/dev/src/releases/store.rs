//! Queries on `releases`.

use chrono::NaiveDateTime;
use common::db::DbConn;
use common::response::Page;
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{releases, signing_keys};

/// A stored release.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = releases)]
pub struct ReleaseRow {
    pub id: String,
    pub product: String,
    pub version: String,
    pub sha256: String,
    pub size: i64,
    pub notes: String,
    pub min_schema_version: i64,
    pub signature: String,
    pub signing_key_id: String,
    pub uploaded_by: String,
    pub created_at: NaiveDateTime,
}

/// A release as listed: its manifest, signature, signer and uploader.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = Release)]
pub struct ReleaseView {
    /// Release id.
    pub id: String,
    /// Manifest: product.
    pub product: String,
    /// Manifest: version.
    pub version: String,
    /// Manifest: the artifact's SHA-256 (lower-case hex).
    pub sha256: String,
    /// Manifest: the artifact's size in bytes.
    pub size: i64,
    /// Manifest: release notes.
    pub notes: String,
    /// Manifest: lowest schema version it runs against.
    pub min_schema_version: i64,
    /// Base64 Ed25519 signature over the manifest's canonical JSON.
    pub signature: String,
    /// The key that signed it.
    pub signing_key_id: String,
    /// That key's name.
    pub signing_key_name: String,
    /// That key's owner (user id).
    pub signer_id: String,
    /// Whether that key has been revoked since.
    pub signing_key_revoked: bool,
    /// Who uploaded it (user id).
    pub uploaded_by: String,
    /// Their username.
    pub uploaded_by_username: String,
    /// When uploaded (UTC).
    pub created_at: NaiveDateTime,
}

/// The list's filters.
#[derive(utoipa::IntoParams, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseQuery {
    /// Only this product's releases.
    pub product: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Whether a release of `product` `version` exists.
pub fn exists(conn: &mut DbConn, product: &str, version: &str) -> ApiResult<bool> {
    let n: i64 = releases::table
        .filter(releases::product.eq(product))
        .filter(releases::version.eq(version))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// How many releases keep the artifact of `sha256`.
pub fn refs(conn: &mut DbConn, sha256: &str) -> ApiResult<i64> {
    Ok(releases::table
        .filter(releases::sha256.eq(sha256))
        .count()
        .get_result(conn)?)
}

/// Insert a release.
pub fn insert(conn: &mut DbConn, row: &ReleaseRow) -> ApiResult<()> {
    diesel::insert_into(releases::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A release by id.
pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<ReleaseRow> {
    releases::table
        .find(id)
        .select(ReleaseRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound("no such release".into()))
}

/// Views of `rows`, with their signer and uploader.
pub fn views(conn: &mut DbConn, rows: Vec<ReleaseRow>) -> ApiResult<Vec<ReleaseView>> {
    let key_ids: Vec<String> = rows.iter().map(|r| r.signing_key_id.clone()).collect();
    let keys: std::collections::HashMap<String, (String, String, bool)> = signing_keys::table
        .filter(signing_keys::id.eq_any(&key_ids))
        .select((
            signing_keys::id,
            signing_keys::name,
            signing_keys::owner_id,
            signing_keys::revoked_at,
        ))
        .load::<(String, String, String, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(id, name, owner, revoked)| (id, (name, owner, revoked.is_some())))
        .collect();
    let user_ids: Vec<String> = rows.iter().map(|r| r.uploaded_by.clone()).collect();
    let names = super::keys::usernames(conn, &user_ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (key_name, signer, revoked) =
                keys.get(&r.signing_key_id).cloned().unwrap_or_default();
            ReleaseView {
                uploaded_by_username: names.get(&r.uploaded_by).cloned().unwrap_or_default(),
                signing_key_name: key_name,
                signer_id: signer,
                signing_key_revoked: revoked,
                id: r.id,
                product: r.product,
                version: r.version,
                sha256: r.sha256,
                size: r.size,
                notes: r.notes,
                min_schema_version: r.min_schema_version,
                signature: r.signature,
                signing_key_id: r.signing_key_id,
                uploaded_by: r.uploaded_by,
                created_at: r.created_at,
            }
        })
        .collect())
}

/// A page of releases, newest first, and the total.
pub fn list(
    conn: &mut DbConn,
    q: &ReleaseQuery,
    page: &Page,
) -> ApiResult<(Vec<ReleaseView>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut f = releases::table.into_boxed();
            if let Some(p) = &q.product {
                f = f.filter(releases::product.eq(p.clone()));
            }
            f
        }};
    }
    let total: i64 = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order((releases::created_at.desc(), releases::id))
        .limit(page.page_size)
        .offset(page.offset())
        .select(ReleaseRow::as_select())
        .load(conn)?;
    Ok((views(conn, rows)?, total))
}

/// Releases as offered to company: in the order stored, from `offset`.
pub fn offers(
    conn: &mut DbConn,
    offset: i64,
    limit: i64,
) -> ApiResult<Vec<contracts::release::ReleaseOffer>> {
    let rows: Vec<ReleaseRow> = releases::table
        .order((releases::created_at.asc(), releases::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(ReleaseRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| contracts::release::ReleaseOffer {
            manifest: super::manifest::Manifest {
                min_schema_version: r.min_schema_version,
                notes: r.notes,
                product: r.product,
                sha256: r.sha256,
                size: r.size,
                version: r.version,
            },
            id: r.id,
            signature: r.signature,
            signing_key_id: r.signing_key_id,
            created_at: r.created_at,
        })
        .collect())
}
