//! Queries on `clinical_notes` and `clinical_note_amendments`. Content and
//! amendment reasons are sealed with the tenant's data key, bound to
//! tenant, table, column and row.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{ClinicalNoteView, NoteAmendmentView, NoteContent, NoteStatus, NoteType};
use super::scope::Visible;
use crate::appointments::model::utc;
use crate::schema::{clinical_note_amendments, clinical_notes};

/// A note as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clinical_notes)]
pub struct Note {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The author.
    pub author_id: String,
    /// `NoteType`, stored by name.
    pub kind: String,
    /// `NoteStatus`, stored by name.
    pub status: String,
    /// Sealed JSON of the `NoteContent`.
    pub content_enc: String,
    /// SHA-256 of the signed content.
    pub content_hash: Option<String>,
    /// When signed.
    pub signed_at: Option<NaiveDateTime>,
    /// Written at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Note {
    /// The stored status.
    pub fn status(&self) -> ApiResult<NoteStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown note status")))
    }

    /// The stored type.
    pub fn kind(&self) -> ApiResult<NoteType> {
        self.kind
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown note type")))
    }
}

/// An amendment as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clinical_note_amendments)]
pub struct Amendment {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The amended note.
    pub note_id: String,
    /// Who amended.
    pub author_id: String,
    /// Sealed reason.
    pub reason_enc: String,
    /// Sealed JSON of the corrected `NoteContent`.
    pub content_enc: String,
    /// SHA-256 of the corrected content.
    pub content_hash: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// The associated data of a sealed column of `table` row `id`.
pub fn aad(tenant: &str, table: &str, column: &str, id: &str) -> Aad {
    Aad::new(tenant, table, column, id)
}

/// Seal `value` into `table.column` of row `id`.
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    table: &str,
    column: &str,
    id: &str,
    value: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, value, &aad(tenant, table, column, id))
}

fn open_content(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    table: &str,
    id: &str,
    stored: &str,
) -> ApiResult<NoteContent> {
    let json = keyring.decrypt(conn, tenant, stored, &aad(tenant, table, "content", id))?;
    serde_json::from_str(&json)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("a sealed note is not JSON")))
}

/// Insert a new note.
pub fn insert(conn: &mut DbConn, n: &Note) -> ApiResult<()> {
    diesel::insert_into(clinical_notes::table)
        .values(n)
        .execute(conn)?;
    Ok(())
}

/// The note `id` among those `visible`.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<Note>> {
    Ok(visible
        .filter(clinical_notes::id.eq(id.to_string()))
        .select(Note::as_select())
        .first(conn)
        .optional()?)
}

/// Replace a draft's content; false if it is no longer a draft of `author`.
pub fn rewrite_draft(
    conn: &mut DbConn,
    n: &Note,
    content_enc: &str,
    author: &str,
) -> ApiResult<bool> {
    let changed = diesel::update(
        clinical_notes::table
            .filter(clinical_notes::tenant_id.eq(&n.tenant_id))
            .filter(clinical_notes::id.eq(&n.id))
            .filter(clinical_notes::author_id.eq(author))
            .filter(clinical_notes::status.eq(NoteStatus::Draft.as_str())),
    )
    .set((
        clinical_notes::content_enc.eq(content_enc),
        clinical_notes::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Sign a draft with the hash of its content; false if it is no longer a
/// draft of `author` (signed meanwhile).
pub fn sign(conn: &mut DbConn, n: &Note, hash: &str, author: &str) -> ApiResult<bool> {
    let t = now();
    let changed = diesel::update(
        clinical_notes::table
            .filter(clinical_notes::tenant_id.eq(&n.tenant_id))
            .filter(clinical_notes::id.eq(&n.id))
            .filter(clinical_notes::author_id.eq(author))
            .filter(clinical_notes::status.eq(NoteStatus::Draft.as_str()))
            .filter(clinical_notes::content_enc.eq(&n.content_enc)),
    )
    .set((
        clinical_notes::status.eq(NoteStatus::Signed.as_str()),
        clinical_notes::content_hash.eq(hash),
        clinical_notes::signed_at.eq(t),
        clinical_notes::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Add an amendment.
pub fn insert_amendment(conn: &mut DbConn, a: &Amendment) -> ApiResult<()> {
    diesel::insert_into(clinical_note_amendments::table)
        .values(a)
        .execute(conn)?;
    Ok(())
}

/// A list's filters (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// One patient.
    pub patient_id: Option<String>,
    /// One type.
    pub kind: Option<NoteType>,
    /// One status.
    pub status: Option<NoteStatus>,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    if let Some(v) = &f.patient_id {
        q = q.filter(clinical_notes::patient_id.eq(v.clone()));
    }
    if let Some(v) = f.kind {
        q = q.filter(clinical_notes::kind.eq(v.as_str().to_string()));
    }
    if let Some(v) = f.status {
        q = q.filter(clinical_notes::status.eq(v.as_str().to_string()));
    }
    q
}

/// A page of notes, newest first, and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Note>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((clinical_notes::created_at.desc(), clinical_notes::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Note::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Decrypt a note and its amendments.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, n: &Note) -> ApiResult<ClinicalNoteView> {
    let tenant = &n.tenant_id;
    let content = open_content(
        conn,
        keyring,
        tenant,
        "clinical_notes",
        &n.id,
        &n.content_enc,
    )?;
    let rows: Vec<Amendment> = clinical_note_amendments::table
        .filter(clinical_note_amendments::tenant_id.eq(tenant))
        .filter(clinical_note_amendments::note_id.eq(&n.id))
        .order((
            clinical_note_amendments::created_at.asc(),
            clinical_note_amendments::id.asc(),
        ))
        .select(Amendment::as_select())
        .load(conn)?;
    let mut amendments = Vec::with_capacity(rows.len());
    for a in &rows {
        let table = "clinical_note_amendments";
        amendments.push(NoteAmendmentView {
            id: a.id.clone(),
            author_id: a.author_id.clone(),
            reason: keyring.decrypt(
                conn,
                tenant,
                &a.reason_enc,
                &aad(tenant, table, "reason", &a.id),
            )?,
            content: open_content(conn, keyring, tenant, table, &a.id, &a.content_enc)?,
            content_hash: a.content_hash.clone(),
            created_at: utc(a.created_at),
        });
    }
    let current = amendments
        .last()
        .map(|a| a.content.clone())
        .unwrap_or_else(|| content.clone());
    Ok(ClinicalNoteView {
        id: n.id.clone(),
        patient_id: n.patient_id.clone(),
        author_id: n.author_id.clone(),
        kind: n.kind()?,
        status: n.status()?,
        content,
        content_hash: n.content_hash.clone(),
        signed_at: n.signed_at.map(utc),
        amendments,
        current,
        created_at: utc(n.created_at),
        updated_at: utc(n.updated_at),
    })
}
