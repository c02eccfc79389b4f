//! Note pages: a patient's notes (newest first) with the forms to write a
//! note, sign one's own draft and amend a signed note, for the care team;
//! a patient's own signed notes. Each goes through the API's functions
//! (same scope, checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    amend_note, create_note, list_notes, sign_note, ClinicalNoteRequest, NoteAmendRequest,
    NoteListQuery,
};
use super::model::{ClinicalNoteView, NoteContent, NoteStatus, NoteType};
use crate::appointments::model::check_id;
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/notes", web::get().to(notes))
        .route("/patients/{id}/notes", web::post().to(write))
        .route("/patients/{id}/notes/{note}/sign", web::post().to(sign))
        .route("/patients/{id}/notes/{note}/amend", web::post().to(amend))
        .route("/my-notes", web::get().to(mine));
}

/// One labelled text of a note.
struct Part {
    label: &'static str,
    text: String,
}

/// One amendment as shown.
struct AmendmentRow {
    author: String,
    at: String,
    reason: String,
}

/// One note as shown.
struct Row {
    id: String,
    kind: &'static str,
    status: &'static str,
    author: String,
    written: String,
    signed: Option<String>,
    hash: String,
    parts: Vec<Part>,
    amendments: Vec<AmendmentRow>,
    /// The caller's own draft: they may sign it.
    signable: bool,
    /// Signed and the caller writes notes: they may amend it.
    amendable: bool,
    /// `soap` or a report (which fields the amend form offers).
    soap: bool,
}

#[derive(Template)]
#[template(path = "notes.html")]
struct NotesPage {
    layout: Layout,
    patient_id: String,
    rows: Vec<Row>,
    pager: Pager,
    can_write: bool,
    error: Option<String>,
    form: NoteForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct NoteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    subjective: String,
    #[serde(default)]
    objective: String,
    #[serde(default)]
    assessment: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    sign: Option<String>,
}

/// A form's text, `None` when left empty.
fn given(v: &str) -> Option<String> {
    (!v.trim().is_empty()).then(|| v.to_string())
}

fn parts(c: &NoteContent) -> Vec<Part> {
    [
        ("Subjective", &c.subjective),
        ("Objective", &c.objective),
        ("Assessment", &c.assessment),
        ("Plan", &c.plan),
        ("Title", &c.title),
        ("Report", &c.body),
    ]
    .into_iter()
    .filter_map(|(label, v)| {
        v.as_ref().map(|t| Part {
            label,
            text: t.clone(),
        })
    })
    .collect()
}

fn row(v: &ClinicalNoteView, me: &str, can_write: bool) -> Row {
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    Row {
        id: v.id.clone(),
        kind: v.kind.into(),
        status: v.status.into(),
        author: v.author_id.clone(),
        written: fmt(v.created_at),
        signed: v.signed_at.map(fmt),
        hash: v.content_hash.clone().unwrap_or_default(),
        parts: parts(&v.current),
        amendments: v
            .amendments
            .iter()
            .map(|a| AmendmentRow {
                author: a.author_id.clone(),
                at: fmt(a.created_at),
                reason: a.reason.clone(),
            })
            .collect(),
        signable: can_write && v.status == NoteStatus::Draft && v.author_id == me,
        amendable: can_write && v.status == NoteStatus::Signed,
        soap: v.kind == NoteType::Soap,
    }
}

async fn render(
    db: &Db,
    p: PageCtx,
    patient_id: Option<String>,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    form: NoteForm,
) -> PageResult {
    let q = NoteListQuery {
        patient_id: patient_id.clone(),
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = list_notes(db, p.ctx.clone(), &q, page).await?;
    let can_write = p.ctx.can(P::NotesWrite) && patient_id.is_some();
    let me = p.ctx.user.id.clone();
    let rows = views.iter().map(|v| row(v, &me, can_write)).collect();
    let title = if patient_id.is_some() {
        "Clinical notes"
    } else {
        "My notes"
    };
    html_status(
        status,
        &NotesPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            patient_id: patient_id.unwrap_or_default(),
            rows,
            can_write,
            error,
            form,
        },
    )
}

async fn notes(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<ListParams>,
) -> PageResult {
    let id = id.into_inner();
    check_id("patient_id", &id)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        Some(id),
        page,
        StatusCode::OK,
        None,
        NoteForm::default(),
    )
    .await
}

async fn mine(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::NotesReadOwn)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        None,
        page,
        StatusCode::OK,
        None,
        NoteForm::default(),
    )
    .await
}

/// A refused form shown again with its error (400, or 409 for a conflict).
async fn again(db: &Db, p: PageCtx, patient: String, e: ApiError, form: NoteForm) -> PageResult {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) => {
            let status = if matches!(e, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let page = Page::of(None, None)?;
            render(
                db,
                p,
                Some(patient),
                page,
                status,
                Some(e.to_string()),
                form,
            )
            .await
        }
        e => Err(e.into()),
    }
}

async fn write(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<NoteForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let patient = id.into_inner();
    let form = form.into_inner();
    let attempt = async {
        let kind: NoteType = form
            .kind
            .parse()
            .map_err(|_| ApiError::field("type", "choose a type of note"))?;
        let req = ClinicalNoteRequest {
            patient_id: patient.clone(),
            kind,
            sign: form.sign.is_some(),
            subjective: given(&form.subjective),
            objective: given(&form.objective),
            assessment: given(&form.assessment),
            plan: given(&form.plan),
            title: given(&form.title),
            body: given(&form.body),
        };
        create_note(&db, p.ctx.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/notes"))),
        Err(e) => again(&db, p, patient, e, form).await,
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign(
    db: web::Data<Db>,
    p: PageCtx,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let (patient, note) = path.into_inner();
    match sign_note(&db, p.ctx.clone(), note).await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/notes"))),
        Err(e) => again(&db, p, patient, e, NoteForm::default()).await,
    }
}

async fn amend(
    db: web::Data<Db>,
    p: PageCtx,
    path: web::Path<(String, String)>,
    form: web::Form<NoteForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let (patient, note) = path.into_inner();
    let form = form.into_inner();
    let req = NoteAmendRequest {
        reason: form.reason.clone(),
        subjective: given(&form.subjective),
        objective: given(&form.objective),
        assessment: given(&form.assessment),
        plan: given(&form.plan),
        title: given(&form.title),
        body: given(&form.body),
    };
    match amend_note(&db, p.ctx.clone(), note, req).await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/notes"))),
        Err(e) => again(&db, p, patient, e, NoteForm::default()).await,
    }
}
