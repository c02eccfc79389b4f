//! `POST|GET …/notes`, `GET|PUT …/notes/{id}`, `POST …/notes/{id}/sign`,
//! `POST …/notes/{id}/amendments`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{content_for, ClinicalNoteView, ContentFields, NoteStatus, NoteType};
use super::scope;
use super::store::{self, Amendment, ListFilter, Note};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/notes")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/notes/{id}")
            .route(web::get().to(get))
            .route(web::put().to(edit)),
    )
    .service(resource("/notes/{id}/sign").route(web::post().to(sign)))
    .service(resource("/notes/{id}/amendments").route(web::post().to(amend)));
}

/// A new note (a draft unless `sign` is true).
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClinicalNoteRequest {
    /// The patient (on the author's care team).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// `soap`, or a report type.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: NoteType,
    /// Sign at once (default false: a draft).
    #[serde(default)]
    pub sign: bool,
    /// SOAP: subjective.
    #[schema(max_length = 10000)]
    pub subjective: Option<String>,
    /// SOAP: objective.
    #[schema(max_length = 10000)]
    pub objective: Option<String>,
    /// SOAP: assessment.
    #[schema(max_length = 10000)]
    pub assessment: Option<String>,
    /// SOAP: plan.
    #[schema(max_length = 10000)]
    pub plan: Option<String>,
    /// Report: title.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// Report: body.
    #[schema(max_length = 20000)]
    pub body: Option<String>,
}

impl ClinicalNoteRequest {
    fn fields(&self) -> ContentFields {
        ContentFields {
            subjective: self.subjective.clone(),
            objective: self.objective.clone(),
            assessment: self.assessment.clone(),
            plan: self.plan.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
        }
    }
}

/// A correction of a signed note: why, and the whole corrected content.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NoteAmendRequest {
    /// Why (3 to 500 characters; sealed).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
    /// SOAP: subjective.
    #[schema(max_length = 10000)]
    pub subjective: Option<String>,
    /// SOAP: objective.
    #[schema(max_length = 10000)]
    pub objective: Option<String>,
    /// SOAP: assessment.
    #[schema(max_length = 10000)]
    pub assessment: Option<String>,
    /// SOAP: plan.
    #[schema(max_length = 10000)]
    pub plan: Option<String>,
    /// Report: title.
    #[schema(max_length = 200)]
    pub title: Option<String>,
    /// Report: body.
    #[schema(max_length = 20000)]
    pub body: Option<String>,
}

impl NoteAmendRequest {
    fn fields(&self) -> ContentFields {
        ContentFields {
            subjective: self.subjective.clone(),
            objective: self.objective.clone(),
            assessment: self.assessment.clone(),
            plan: self.plan.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
        }
    }
}

#[utoipa::path(post, path = "/notes", tag = "notes", security(("bearer" = [])),
    summary = "Write a clinical note or medical report for a patient on one's care team (notes.write)",
    request_body = ClinicalNoteRequest,
    responses((status = 201, description = "Written (a draft, or signed with `sign: true`)", body = ClinicalNoteView)))]
async fn create(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<ClinicalNoteRequest>,
) -> ApiResult<HttpResponse> {
    let view = create_note(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Write a note, with the API's checks and audit rows (shared with pages).
pub(crate) async fn create_note(
    db: &Db,
    ctx: Ctx,
    req: ClinicalNoteRequest,
) -> ApiResult<ClinicalNoteView> {
    scope::require_writer(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    let content = content_for(req.kind, &req.fields())?;
    let c = ctx.clone();
    let n = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_author_for(conn, user, tenant, &req.patient_id)?;
            write_in(conn, &c, &req.patient_id, req.kind, &content, req.sign)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &n)).await
}

/// Write a note of `kind` for `patient_id` by the caller, with its
/// `note.create` (and, signed at once, `note.sign`) audit rows, inside the
/// caller's write transaction; the caller has checked that they may write
/// it ([`scope::require_author_for`]). Shared with a discharge, whose
/// summary is a `discharge_summary` report.
pub(crate) fn write_in(
    conn: &mut common::db::DbConn,
    c: &Ctx,
    patient_id: &str,
    kind: NoteType,
    content: &super::model::NoteContent,
    sign: bool,
) -> ApiResult<Note> {
    let (tenant, user) = (&c.tenant, &c.user);
    let id = uuid::Uuid::new_v4().to_string();
    let t = now();
    let json = content.to_json()?;
    let mut n = Note {
        content_enc: store::seal(
            conn,
            &c.keyring,
            tenant,
            "clinical_notes",
            "content",
            &id,
            &json,
        )?,
        id,
        tenant_id: tenant.clone(),
        patient_id: patient_id.to_string(),
        author_id: user.id.clone(),
        kind: kind.as_str().to_string(),
        status: NoteStatus::Draft.as_str().to_string(),
        content_hash: None,
        signed_at: None,
        created_at: t,
        updated_at: t,
    };
    store::insert(conn, &n)?;
    let event = c
        .patient_event("note.create", &n.patient_id)
        .details(json!({ "note": n.id, "type": n.kind }));
    c.audit(conn, &event)?;
    if sign {
        let hash = content.hash()?;
        if !store::sign(conn, &n, &hash, &user.id)? {
            return Err(ApiError::Conflict("the note could not be signed".into()));
        }
        let event = c
            .patient_event("note.sign", &n.patient_id)
            .details(json!({ "note": n.id, "content_hash": hash }));
        c.audit(conn, &event)?;
        n = reread(conn, c, &n.id)?;
    }
    Ok(n)
}

fn reread(conn: &mut common::db::DbConn, c: &Ctx, id: &str) -> ApiResult<Note> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

#[utoipa::path(get, path = "/notes/{id}", tag = "notes", security(("bearer" = [])),
    summary = "One note with its amendments (notes.read for the care team; notes.read_own for a patient's own signed notes; written to the patient's access log)",
    responses((status = 200, description = "The note", body = ClinicalNoteView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_note(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One note, with its access-log row (shared with the pages).
pub(crate) async fn read_note(db: &Db, ctx: Ctx, id: String) -> ApiResult<ClinicalNoteView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let n = store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, &id)?
                .ok_or_else(scope::not_found)?;
            store::to_view(conn, &c.keyring, &n)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &ClinicalNoteView) -> common::audit::Event {
    ctx.patient_event("note.read", &v.patient_id)
        .details(json!({ "note": v.id }))
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NoteListQuery {
    /// One patient's notes.
    pub patient_id: Option<String>,
    /// Only of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<NoteType>,
    /// Only in this status.
    pub status: Option<NoteStatus>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/notes", tag = "notes", security(("bearer" = [])),
    summary = "Notes the caller may see, newest first, by patient, type and status (each shown is written to its patient's access log)",
    params(NoteListQuery), responses((status = 200, description = "A page of notes", body = Vec<ClinicalNoteView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<NoteListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_notes(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of notes, with one access-log row per note shown (shared with the pages).
pub(crate) async fn list_notes(
    db: &Db,
    ctx: Ctx,
    q: &NoteListQuery,
    page: Page,
) -> ApiResult<(Vec<ClinicalNoteView>, i64)> {
    scope::require_reader(&ctx.user)?;
    if let Some(p) = &q.patient_id {
        check_id("patient_id", p)?;
    }
    let filter = ListFilter {
        patient_id: q.patient_id.clone(),
        kind: q.kind,
        status: q.status,
    };
    let c = ctx.clone();
    let one_patient = filter.patient_id.is_some();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) = store::list(
                conn,
                || scope::listed(&c.user, &c.tenant, one_patient),
                &filter,
                &page,
            )?;
            let views = rows
                .iter()
                .map(|n| store::to_view(conn, &c.keyring, n))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

#[utoipa::path(put, path = "/notes/{id}", tag = "notes", security(("bearer" = [])),
    summary = "Rewrite one's own draft (notes.write, its author); a signed note answers 409 (amend it instead)",
    request_body = ContentFields,
    responses((status = 200, description = "Rewritten", body = ClinicalNoteView),
        (status = 409, description = "The note is signed")))]
async fn edit(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<ContentFields>,
) -> ApiResult<HttpResponse> {
    let view = edit_note(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(view))
}

fn signed_conflict() -> ApiError {
    ApiError::Conflict("the note is signed; correct it with an amendment".into())
}

/// Rewrite a draft (shared with the pages).
pub(crate) async fn edit_note(
    db: &Db,
    ctx: Ctx,
    id: String,
    fields: ContentFields,
) -> ApiResult<ClinicalNoteView> {
    scope::require_writer(&ctx.user)?;
    let c = ctx.clone();
    let n = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let n = reread(conn, &c, &id)?;
            scope::require_own_draft(user, &n.author_id)?;
            if n.status()? != NoteStatus::Draft {
                return Err(signed_conflict());
            }
            let content = content_for(n.kind()?, &fields)?;
            let sealed = store::seal(
                conn,
                &c.keyring,
                tenant,
                "clinical_notes",
                "content",
                &n.id,
                &content.to_json()?,
            )?;
            if !store::rewrite_draft(conn, &n, &sealed, &user.id)? {
                return Err(signed_conflict());
            }
            let event = c
                .patient_event("note.update", &n.patient_id)
                .details(json!({ "note": n.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &n.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &n)).await
}

#[utoipa::path(post, path = "/notes/{id}/sign", tag = "notes", security(("bearer" = [])),
    summary = "Sign one's own draft (notes.write, its author): it is never changed again; the content's SHA-256 goes into the audit row",
    responses((status = 200, description = "Signed", body = ClinicalNoteView),
        (status = 409, description = "Already signed")))]
async fn sign(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = sign_note(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// Sign a draft (shared with the pages).
pub(crate) async fn sign_note(db: &Db, ctx: Ctx, id: String) -> ApiResult<ClinicalNoteView> {
    scope::require_writer(&ctx.user)?;
    let c = ctx.clone();
    let n = db
        .write(move |conn| {
            let user = &c.user;
            let n = reread(conn, &c, &id)?;
            scope::require_own_draft(user, &n.author_id)?;
            if n.status()? != NoteStatus::Draft {
                return Err(ApiError::Conflict("the note is already signed".into()));
            }
            let view = store::to_view(conn, &c.keyring, &n)?;
            let hash = view.content.hash()?;
            if !store::sign(conn, &n, &hash, &user.id)? {
                return Err(ApiError::Conflict(
                    "the note was changed meanwhile; read it again".into(),
                ));
            }
            let event = c
                .patient_event("note.sign", &n.patient_id)
                .details(json!({ "note": n.id, "content_hash": hash }));
            c.audit(conn, &event)?;
            reread(conn, &c, &n.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &n)).await
}

#[utoipa::path(post, path = "/notes/{id}/amendments", tag = "notes", security(("bearer" = [])),
    summary = "Correct a signed note (notes.write, on the patient's care team): the original stays, the amendment records who, why, when and the corrected content",
    request_body = NoteAmendRequest,
    responses((status = 201, description = "Amended; the note with all its amendments", body = ClinicalNoteView),
        (status = 409, description = "The note is a draft (edit it instead)")))]
async fn amend(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<NoteAmendRequest>,
) -> ApiResult<HttpResponse> {
    let view = amend_note(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::created(view))
}

/// Amend a signed note (shared with the pages).
pub(crate) async fn amend_note(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: NoteAmendRequest,
) -> ApiResult<ClinicalNoteView> {
    scope::require_writer(&ctx.user)?;
    let reason = check_text("reason", &req.reason, 3, 500)?;
    let c = ctx.clone();
    let n = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let n = reread(conn, &c, &id)?;
            scope::require_author_for(conn, user, tenant, &n.patient_id)?;
            if n.status()? != NoteStatus::Signed {
                return Err(ApiError::Conflict(
                    "the note is a draft; its author edits it".into(),
                ));
            }
            let content = content_for(n.kind()?, &req.fields())?;
            let hash = content.hash()?;
            let aid = uuid::Uuid::new_v4().to_string();
            let table = "clinical_note_amendments";
            let a = Amendment {
                reason_enc: store::seal(conn, &c.keyring, tenant, table, "reason", &aid, &reason)?,
                content_enc: store::seal(
                    conn,
                    &c.keyring,
                    tenant,
                    table,
                    "content",
                    &aid,
                    &content.to_json()?,
                )?,
                id: aid,
                tenant_id: tenant.clone(),
                note_id: n.id.clone(),
                author_id: user.id.clone(),
                content_hash: hash.clone(),
                created_at: now(),
            };
            store::insert_amendment(conn, &a)?;
            let event = c
                .patient_event("note.amend", &n.patient_id)
                .details(json!({ "note": n.id, "amendment": a.id, "content_hash": hash }));
            c.audit(conn, &event)?;
            Ok(n)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &n)).await
}
