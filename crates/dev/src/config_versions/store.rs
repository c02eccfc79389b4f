//! Queries on `config_versions`.

use chrono::{DateTime, NaiveDateTime, Utc};
use common::db::{now, DbConn};
use common::response::Page;
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::diff::{self, ConfigChange};
use crate::schema::config_versions;

/// A stored version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = config_versions)]
pub struct VersionRow {
    pub id: String,
    pub kind: String,
    pub version: i64,
    pub document: String,
    pub sha256: String,
    pub reason: String,
    pub author_id: String,
    pub rolled_back_to: Option<i64>,
    pub created_at: NaiveDateTime,
    pub published_release_id: Option<String>,
    pub published_by: Option<String>,
    pub published_at: Option<NaiveDateTime>,
}

/// A version as listed and read.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ConfigVersionView {
    /// Row id.
    pub id: String,
    /// hospital, company or owner.
    pub kind: String,
    /// 1, 2, 3, … per kind.
    pub version: i64,
    /// Why it was made.
    pub reason: String,
    /// Who made it (user id).
    pub author_id: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The version whose document this one restores (a rollback).
    pub rolled_back_to: Option<i64>,
    /// SHA-256 (hex) of the canonical document: what the signing release's
    /// manifest must name.
    pub sha256: String,
    /// Its size in bytes: the release's manifest `size`.
    pub size: i64,
    /// The release (product `<kind>-config`, version `<version>`) it was
    /// published with.
    pub published_release_id: Option<String>,
    /// Who published it.
    pub published_by: Option<String>,
    /// When.
    pub published_at: Option<DateTime<Utc>>,
    /// The document (on a single version only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
    /// What changed from the version before (on a single version only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<ConfigChange>>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn parse(doc: &str) -> ApiResult<Value> {
    serde_json::from_str(doc)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("a stored configuration is not JSON")))
}

impl VersionRow {
    /// The listed view (no document, no changes).
    pub fn view(&self) -> ConfigVersionView {
        ConfigVersionView {
            id: self.id.clone(),
            kind: self.kind.clone(),
            version: self.version,
            reason: self.reason.clone(),
            author_id: self.author_id.clone(),
            created_at: utc(self.created_at),
            rolled_back_to: self.rolled_back_to,
            sha256: self.sha256.clone(),
            size: self.document.len() as i64,
            published_release_id: self.published_release_id.clone(),
            published_by: self.published_by.clone(),
            published_at: self.published_at.map(utc),
            document: None,
            changes: None,
        }
    }

    /// The full view: the document and its difference from `before`.
    pub fn full(&self, before: Option<&VersionRow>) -> ApiResult<ConfigVersionView> {
        let doc = parse(&self.document)?;
        let before = before.map(|b| parse(&b.document)).transpose()?;
        let mut v = self.view();
        v.changes = Some(diff::diff(before.as_ref(), &doc));
        v.document = Some(doc);
        Ok(v)
    }
}

/// The newest version of `kind`.
pub fn latest(conn: &mut DbConn, kind: &str) -> ApiResult<Option<VersionRow>> {
    Ok(config_versions::table
        .filter(config_versions::kind.eq(kind))
        .order(config_versions::version.desc())
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Version `n` of `kind`.
pub fn get(conn: &mut DbConn, kind: &str, n: i64) -> ApiResult<Option<VersionRow>> {
    Ok(config_versions::table
        .filter(config_versions::kind.eq(kind))
        .filter(config_versions::version.eq(n))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of `kind`'s versions, newest first, and how many there are.
pub fn list(conn: &mut DbConn, kind: &str, page: &Page) -> ApiResult<(Vec<VersionRow>, i64)> {
    let total = config_versions::table
        .filter(config_versions::kind.eq(kind))
        .count()
        .get_result(conn)?;
    let rows = config_versions::table
        .filter(config_versions::kind.eq(kind))
        .order(config_versions::version.desc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(VersionRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Add the next version of `kind` with `canonical` (checked), in the
/// caller's write transaction. 409 `NO_CHANGE` when it is the newest
/// version's document already.
pub fn add(
    conn: &mut DbConn,
    kind: &str,
    canonical: String,
    reason: &str,
    author: &str,
    rolled_back_to: Option<i64>,
) -> ApiResult<(VersionRow, Option<VersionRow>)> {
    let before = latest(conn, kind)?;
    if before.as_ref().is_some_and(|b| b.document == canonical) {
        return Err(ApiError::Warning {
            code: "NO_CHANGE",
            message: "the document is the newest version's already".into(),
            details: serde_json::json!({ "version": before.as_ref().map(|b| b.version) }),
        });
    }
    let row = VersionRow {
        id: uuid::Uuid::new_v4().to_string(),
        kind: kind.to_string(),
        version: before.as_ref().map_or(1, |b| b.version + 1),
        sha256: hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        )),
        document: canonical,
        reason: reason.to_string(),
        author_id: author.to_string(),
        rolled_back_to,
        created_at: now(),
        published_release_id: None,
        published_by: None,
        published_at: None,
    };
    diesel::insert_into(config_versions::table)
        .values(&row)
        .execute(conn)?;
    Ok((row, before))
}

/// Mark version `row` published with `release`, unless it is already
/// (a conditional update: of two racing publishers one wins).
pub fn publish(conn: &mut DbConn, row: &VersionRow, release: &str, by: &str) -> ApiResult<bool> {
    let n = diesel::update(
        config_versions::table
            .filter(config_versions::id.eq(&row.id))
            .filter(config_versions::published_release_id.is_null()),
    )
    .set((
        config_versions::published_release_id.eq(release),
        config_versions::published_by.eq(by),
        config_versions::published_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
