//! Queries on `releases` and `dev_signing_keys`.

use chrono::NaiveDateTime;
use common::db::{now, DbConn};
use common::response::Page;
use common::{ApiError, ApiResult};
use contracts::release::{Approval, Manifest, ReleaseOffer, SigningKeyOffer};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{dev_signing_keys, releases};

/// Where a release stands.
pub mod status {
    /// Pulled from dev, signature checked; nobody has acted on it.
    pub const CANDIDATE: &str = "candidate";
    /// A production user asked for it; company holds the checked artifact.
    pub const PROMOTED: &str = "promoted";
    /// A team lead approved it; company countersigned.
    pub const APPROVED: &str = "approved";
    /// Turned down, with a reason.
    pub const REJECTED: &str = "rejected";
    /// Every status, as the list's filter takes them.
    pub const ALL: [&str; 4] = [CANDIDATE, PROMOTED, APPROVED, REJECTED];
}

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
    pub signer_username: String,
    pub dev_created_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub status: String,
    pub promoted_by: Option<String>,
    pub promoted_by_username: Option<String>,
    pub promoted_at: Option<NaiveDateTime>,
    pub approved_by: Option<String>,
    pub approved_by_username: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    pub approval: Option<String>,
    pub countersignature: Option<String>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<NaiveDateTime>,
    pub reject_reason: Option<String>,
}

impl ReleaseRow {
    /// The manifest the developer signed.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            min_schema_version: self.min_schema_version,
            notes: self.notes.clone(),
            product: self.product.clone(),
            sha256: self.sha256.clone(),
            size: self.size,
            version: self.version.clone(),
        }
    }
}

/// A developer's signing key as company last pulled it from dev.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dev_signing_keys)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub public_key: String,
    pub owner_username: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A release as company lists it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = CompanyRelease)]
pub struct ReleaseView {
    /// Release id (dev's).
    pub id: String,
    /// Manifest: product.
    pub product: String,
    /// Manifest: version.
    pub version: String,
    /// Manifest: the artifact's SHA-256.
    pub sha256: String,
    /// Manifest: size in bytes.
    pub size: i64,
    /// Manifest: release notes.
    pub notes: String,
    /// Manifest: lowest schema version it runs against.
    pub min_schema_version: i64,
    /// The developer's Ed25519 signature of the manifest (base64).
    pub signature: String,
    /// The dev signing key that made it.
    pub signing_key_id: String,
    /// That key's name.
    pub signing_key_name: String,
    /// The developer who owns that key (username on dev).
    pub signer_username: String,
    /// Whether dev has revoked that key since.
    pub signing_key_revoked: bool,
    /// `candidate`, `promoted`, `approved` or `rejected`.
    pub status: String,
    /// The production user who promoted it.
    pub promoted_by_username: Option<String>,
    /// When (UTC).
    pub promoted_at: Option<NaiveDateTime>,
    /// The team lead who approved it.
    pub approved_by_username: Option<String>,
    /// When (UTC).
    pub approved_at: Option<NaiveDateTime>,
    /// What company countersigned (the approval document), once approved.
    #[schema(value_type = Option<Object>)]
    pub approval: Option<Approval>,
    /// Company's Ed25519 countersignature of `approval` (base64).
    pub countersignature: Option<String>,
    /// Who rejected it (username).
    pub rejected_by: Option<String>,
    /// When (UTC).
    pub rejected_at: Option<NaiveDateTime>,
    /// Why.
    pub reject_reason: Option<String>,
    /// When dev stored it (UTC).
    pub dev_created_at: NaiveDateTime,
    /// When company pulled it (UTC).
    pub received_at: NaiveDateTime,
}

/// The list's filters.
#[derive(utoipa::IntoParams, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReleaseQuery {
    /// Only releases in this status.
    #[param(pattern = "^(candidate|promoted|approved|rejected)$")]
    pub status: Option<String>,
    /// Only this product's releases.
    #[param(max_length = 64)]
    pub product: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Replace company's copy of dev's signing keys with `keys` (new ones
/// added, revocations recorded; a key is never forgotten).
pub fn upsert_keys(conn: &mut DbConn, keys: &[SigningKeyOffer]) -> ApiResult<()> {
    for k in keys {
        let n = diesel::update(dev_signing_keys::table.find(&k.id))
            .set((
                dev_signing_keys::name.eq(&k.name),
                dev_signing_keys::owner_username.eq(&k.owner_username),
                dev_signing_keys::revoked_at.eq(k.revoked_at),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(dev_signing_keys::table)
                .values(KeyRow {
                    id: k.id.clone(),
                    name: k.name.clone(),
                    public_key: k.public_key.clone(),
                    owner_username: k.owner_username.clone(),
                    created_at: k.created_at,
                    revoked_at: k.revoked_at,
                })
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Whether `keys` add to or change company's copy.
pub fn keys_changed(conn: &mut DbConn, keys: &[SigningKeyOffer]) -> ApiResult<bool> {
    let held: std::collections::HashMap<String, (String, String, Option<NaiveDateTime>)> =
        dev_signing_keys::table
            .select((
                dev_signing_keys::id,
                dev_signing_keys::name,
                dev_signing_keys::owner_username,
                dev_signing_keys::revoked_at,
            ))
            .load::<(String, String, String, Option<NaiveDateTime>)>(conn)?
            .into_iter()
            .map(|(id, name, owner, revoked)| (id, (name, owner, revoked)))
            .collect();
    Ok(keys.iter().any(|k| {
        held.get(&k.id) != Some(&(k.name.clone(), k.owner_username.clone(), k.revoked_at))
    }))
}

/// A signing key by id.
pub fn key(conn: &mut DbConn, id: &str) -> ApiResult<Option<KeyRow>> {
    Ok(dev_signing_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Why an offered release was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A manifest field is out of bounds.
    ManifestInvalid,
    /// Signed by a key dev did not publish.
    KeyUnknown,
    /// The signature does not verify against the key.
    SignatureInvalid,
    /// Another release already holds that product and version.
    Duplicate,
}

impl Refusal {
    /// Its name in audit rows and security events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::KeyUnknown => "SIGNING_KEY_UNKNOWN",
            Self::SignatureInvalid => "SIGNATURE_INVALID",
            Self::Duplicate => "DUPLICATE_VERSION",
        }
    }
}

/// Take an offered release as a candidate if its signature checks against
/// the key dev published; `Ok(None)` when taken (or already held).
pub fn admit(conn: &mut DbConn, offer: &ReleaseOffer) -> ApiResult<Option<Refusal>> {
    let held: Option<String> = releases::table
        .filter(
            releases::id.eq(&offer.id).or(releases::product
                .eq(&offer.manifest.product)
                .and(releases::version.eq(&offer.manifest.version))),
        )
        .select(releases::id)
        .first(conn)
        .optional()?;
    if let Some(id) = held {
        return Ok((id != offer.id).then_some(Refusal::Duplicate));
    }
    if offer.manifest.check().is_err() {
        return Ok(Some(Refusal::ManifestInvalid));
    }
    let Some(k) = key(conn, &offer.signing_key_id)? else {
        return Ok(Some(Refusal::KeyUnknown));
    };
    if !contracts::release::verify(&k.public_key, &offer.manifest, &offer.signature) {
        return Ok(Some(Refusal::SignatureInvalid));
    }
    let m = &offer.manifest;
    diesel::insert_into(releases::table)
        .values(ReleaseRow {
            id: offer.id.clone(),
            product: m.product.clone(),
            version: m.version.clone(),
            sha256: m.sha256.clone(),
            size: m.size,
            notes: m.notes.clone(),
            min_schema_version: m.min_schema_version,
            signature: offer.signature.clone(),
            signing_key_id: offer.signing_key_id.clone(),
            signer_username: k.owner_username,
            dev_created_at: offer.created_at,
            received_at: now(),
            status: status::CANDIDATE.into(),
            promoted_by: None,
            promoted_by_username: None,
            promoted_at: None,
            approved_by: None,
            approved_by_username: None,
            approved_at: None,
            approval: None,
            countersignature: None,
            rejected_by: None,
            rejected_at: None,
            reject_reason: None,
        })
        .execute(conn)?;
    Ok(None)
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

/// The newest approved release of `product`.
pub fn newest_approved(conn: &mut DbConn, product: &str) -> ApiResult<ReleaseRow> {
    releases::table
        .filter(releases::product.eq(product))
        .filter(releases::status.eq(status::APPROVED))
        .order((releases::approved_at.desc(), releases::id))
        .select(ReleaseRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no approved release of {product}")))
}

/// Move a release from `from` to promoted by `user`; false if it was no
/// longer in `from` (someone else acted first).
pub fn set_promoted(conn: &mut DbConn, id: &str, user_id: &str, username: &str) -> ApiResult<bool> {
    let n = diesel::update(
        releases::table
            .find(id)
            .filter(releases::status.eq(status::CANDIDATE)),
    )
    .set((
        releases::status.eq(status::PROMOTED),
        releases::promoted_by.eq(user_id),
        releases::promoted_by_username.eq(username),
        releases::promoted_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Record the approval and company's countersignature.
pub fn set_approved(
    conn: &mut DbConn,
    id: &str,
    user_id: &str,
    approval: &Approval,
    at: NaiveDateTime,
    countersignature: &str,
) -> ApiResult<bool> {
    let n = diesel::update(
        releases::table
            .find(id)
            .filter(releases::status.eq(status::PROMOTED)),
    )
    .set((
        releases::status.eq(status::APPROVED),
        releases::approved_by.eq(user_id),
        releases::approved_by_username.eq(&approval.approved_by),
        releases::approved_at.eq(at),
        releases::approval.eq(String::from_utf8_lossy(&approval.canonical()).into_owned()),
        releases::countersignature.eq(countersignature),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Reject a release that is a candidate or promoted.
pub fn set_rejected(conn: &mut DbConn, id: &str, username: &str, reason: &str) -> ApiResult<bool> {
    let n = diesel::update(
        releases::table
            .find(id)
            .filter(releases::status.eq_any([status::CANDIDATE, status::PROMOTED])),
    )
    .set((
        releases::status.eq(status::REJECTED),
        releases::rejected_by.eq(username),
        releases::rejected_at.eq(now()),
        releases::reject_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Views of `rows`, with their keys' names and revocation.
pub fn views(conn: &mut DbConn, rows: Vec<ReleaseRow>) -> ApiResult<Vec<ReleaseView>> {
    let ids: Vec<String> = rows.iter().map(|r| r.signing_key_id.clone()).collect();
    let keys: std::collections::HashMap<String, (String, bool)> = dev_signing_keys::table
        .filter(dev_signing_keys::id.eq_any(&ids))
        .select((
            dev_signing_keys::id,
            dev_signing_keys::name,
            dev_signing_keys::revoked_at,
        ))
        .load::<(String, String, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(id, name, revoked)| (id, (name, revoked.is_some())))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let (key_name, revoked) = keys.get(&r.signing_key_id).cloned().unwrap_or_default();
            ReleaseView {
                approval: r
                    .approval
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok()),
                signing_key_name: key_name,
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
                signer_username: r.signer_username,
                status: r.status,
                promoted_by_username: r.promoted_by_username,
                promoted_at: r.promoted_at,
                approved_by_username: r.approved_by_username,
                approved_at: r.approved_at,
                countersignature: r.countersignature,
                rejected_by: r.rejected_by,
                rejected_at: r.rejected_at,
                reject_reason: r.reject_reason,
                dev_created_at: r.dev_created_at,
                received_at: r.received_at,
            }
        })
        .collect())
}

/// One release's view.
pub fn view(conn: &mut DbConn, id: &str) -> ApiResult<ReleaseView> {
    let row = find(conn, id)?;
    views(conn, vec![row])?
        .pop()
        .ok_or_else(|| ApiError::NotFound("no such release".into()))
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
            if let Some(s) = &q.status {
                f = f.filter(releases::status.eq(s.clone()));
            }
            if let Some(p) = &q.product {
                f = f.filter(releases::product.eq(p.clone()));
            }
            f
        }};
    }
    let total: i64 = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order((releases::dev_created_at.desc(), releases::id))
        .limit(page.page_size)
        .offset(page.offset())
        .select(ReleaseRow::as_select())
        .load(conn)?;
    Ok((views(conn, rows)?, total))
}
