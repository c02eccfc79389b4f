//! File pages: a patient's files with the upload form (a multipart form,
//! streamed into the same upload function the API uses — same scope, type
//! and size checks, encryption and audit rows), downloads, and a patient's
//! own files.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::objects::Objects;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use futures_util::StreamExt;
use serde::Deserialize;

use super::holds_http::{retention_now, usage_for};
use super::http::{files_for, FileListQuery, FileView};
use super::rules::FilesRules;
use super::scope;
use super::spaces_http::{
    create_workspace_for, folders_for, workspaces_for, FolderListQuery, WorkspaceListQuery,
    WorkspaceRequest,
};
use super::store;
use super::transfer_http::{download_response, upload, Target, UploadQuery};
use crate::appointments::model::check_id;
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/files", web::get().to(admin))
        .route("/files/workspaces", web::post().to(create_workspace))
        .route("/files/retention", web::post().to(run_retention))
        .route("/patients/{id}/files", web::get().to(of_patient))
        .route("/patients/{id}/files", web::post().to(upload_form))
        .route("/files/{id}/download", web::get().to(download))
        .route("/my-files", web::get().to(mine));
}

/// One file as shown.
struct Row {
    id: String,
    name: String,
    category: String,
    module: String,
    size: String,
    uploaded_at: String,
    retain_until: String,
}

/// A folder to upload into.
struct FolderOption {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "files.html")]
struct FilesPage {
    layout: Layout,
    /// The patient ("" for "my files").
    patient_id: String,
    rows: Vec<Row>,
    pager: Pager,
    folders: Vec<FolderOption>,
    categories: Vec<(&'static str, String)>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

fn human_size(n: i64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

fn row(v: &FileView) -> Row {
    Row {
        id: v.id.clone(),
        name: v.name.clone(),
        category: v.category.replace('_', " "),
        module: v.module.clone(),
        size: human_size(v.size),
        uploaded_at: v.uploaded_at.format("%Y-%m-%d %H:%M").to_string(),
        retain_until: v.retain_until.format("%Y-%m-%d").to_string(),
    }
}

async fn render(
    db: &Db,
    p: PageCtx,
    patient: Option<String>,
    page: Page,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    let q = FileListQuery {
        patient_id: patient.clone(),
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = files_for(db, p.ctx.clone(), &q, page).await?;
    let categories = scope::upload_categories(&p.ctx.user);
    let may_upload = !categories.is_empty();
    let folders = match (&patient, may_upload) {
        (Some(id), true) => {
            let q = FolderListQuery {
                patient_id: Some(id.clone()),
                ..Default::default()
            };
            let (folders, _) =
                folders_for(db, p.ctx.clone(), &q, Page::of(None, Some(100))?).await?;
            folders
                .into_iter()
                .map(|f| FolderOption {
                    id: f.id,
                    label: format!("{} (doctor {})", f.module, f.doctor_id),
                })
                .collect()
        }
        _ => Vec::new(),
    };
    let categories = categories
        .into_iter()
        .map(|c| (c, c.replace('_', " ")))
        .collect();
    let title = if patient.is_some() {
        "Files"
    } else {
        "My files"
    };
    html_status(
        status,
        &FilesPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            patient_id: patient.unwrap_or_default(),
            rows: views.iter().map(row).collect(),
            folders,
            categories,
            error,
        },
    )
}

async fn of_patient(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<ListParams>,
) -> PageResult {
    let id = id.into_inner();
    check_id("patient_id", &id)?;
    let page = Page::of(q.page, None)?;
    render(&db, p, Some(id), page, StatusCode::OK, None).await
}

async fn mine(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::FilesReadOwn)?;
    let page = Page::of(q.page, None)?;
    render(&db, p, None, page, StatusCode::OK, None).await
}

async fn download(
    db: web::Data<Db>,
    p: PageCtx,
    objects: web::Data<Objects>,
    id: web::Path<String>,
) -> PageResult {
    Ok(download_response(&db, p.ctx, &objects, id.into_inner()).await?)
}

/// A small text field of the form (at most 256 bytes).
async fn text_field(field: &mut actix_multipart::Field) -> Result<String, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::validation(format!("the form did not arrive whole: {e}")))?;
        out.extend_from_slice(&chunk);
        if out.len() > 256 {
            return Err(ApiError::validation("a form field is too long"));
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::validation("a form field is not text"))
}

/// The upload form: `csrf`, `folder`, `category`, then `file` (in that
/// order, as the page sends them); the file is streamed, never buffered.
async fn upload_form(
    db: web::Data<Db>,
    p: PageCtx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    id: web::Path<String>,
    mut form: Multipart,
) -> PageResult {
    let patient = id.into_inner();
    check_id("patient_id", &patient)?;
    let (mut csrf, mut folder, mut category) = (String::new(), String::new(), String::new());
    let mut outcome: Option<Result<FileView, ApiError>> = None;
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| ApiError::validation(format!("the form did not arrive whole: {e}")))?;
        match field.name().unwrap_or_default() {
            "csrf" => csrf = text_field(&mut field).await?,
            "folder" => folder = text_field(&mut field).await?,
            "category" => category = text_field(&mut field).await?,
            "file" => {
                p.web.check_csrf(&csrf)?;
                let name = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .unwrap_or_default()
                    .to_string();
                let q = UploadQuery {
                    category: category.clone(),
                    name,
                };
                let target = Target::Folder(folder.clone());
                outcome =
                    Some(upload(&db, p.ctx.clone(), &rules, &objects, target, q, &mut field).await);
                break;
            }
            _ => {}
        }
    }
    match outcome {
        Some(Ok(_)) => Ok(redirect(&format!("/patients/{patient}/files"))),
        Some(Err(
            e @ (ApiError::Validation { .. }
            | ApiError::PayloadTooLarge(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::Refused { .. }),
        )) => {
            let status = actix_web::ResponseError::status_code(&e);
            let page = Page::of(None, None)?;
            render(&db, p, Some(patient), page, status, Some(e.to_string())).await
        }
        Some(Err(e)) => Err(e.into()),
        None => {
            p.web.check_csrf(&csrf)?;
            let page = Page::of(None, None)?;
            render(
                &db,
                p,
                Some(patient),
                page,
                StatusCode::BAD_REQUEST,
                Some("choose a file to upload".into()),
            )
            .await
        }
    }
}

// ------------------------------------------------------------ the admin's page

/// A workspace as the admin's page shows it.
struct WorkspaceRow {
    module: String,
    doctor: String,
    created_at: String,
}

/// One line of usage.
struct UsageRow {
    what: String,
    files: i64,
    size: String,
}

#[derive(Template)]
#[template(path = "files_admin.html")]
struct AdminPage {
    layout: Layout,
    backend: &'static str,
    reachable: bool,
    stored: String,
    objects: i64,
    quota: String,
    quota_warning: bool,
    modules: Vec<UsageRow>,
    doctors_usage: Vec<UsageRow>,
    workspaces: Vec<WorkspaceRow>,
    pager: Pager,
    module_names: Vec<String>,
    doctors: Vec<(String, String)>,
    error: Option<String>,
    notice: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render_admin(
    db: &Db,
    p: PageCtx,
    rules: &FilesRules,
    objects: &Objects,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> PageResult {
    p.ctx.require(P::FilesManage)?;
    let usage = usage_for(db, p.ctx.clone(), rules, objects).await?;
    let q = WorkspaceListQuery {
        page: Some(page.page),
        ..Default::default()
    };
    let (ws, total) = workspaces_for(db, p.ctx.clone(), &q, page).await?;
    let tenant = p.ctx.tenant.clone();
    let doctors = db.run(move |c| store::doctors(c, &tenant)).await?;
    let name_of = |id: &str| {
        doctors
            .iter()
            .find(|(d, _)| d == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone())
    };
    html_status(
        status,
        &AdminPage {
            layout: p.web.layout("Patient files"),
            backend: usage.backend,
            reachable: usage.reachable,
            stored: human_size(usage.stored_bytes),
            objects: usage.objects,
            quota: match (usage.quota_bytes, usage.used_percent) {
                (Some(q), Some(pc)) => format!("{pc:.1} % of {}", human_size(q)),
                _ => "no limit in the plan".into(),
            },
            quota_warning: usage.quota_warning,
            modules: usage
                .modules
                .iter()
                .map(|m| UsageRow {
                    what: m.module.clone(),
                    files: m.files,
                    size: human_size(m.bytes),
                })
                .collect(),
            doctors_usage: usage
                .workspaces
                .iter()
                .map(|w| UsageRow {
                    what: format!("{} — {}", name_of(&w.doctor_id), w.module),
                    files: w.files,
                    size: human_size(w.bytes),
                })
                .collect(),
            workspaces: ws
                .iter()
                .map(|w| WorkspaceRow {
                    module: w.module.clone(),
                    doctor: name_of(&w.doctor_id),
                    created_at: w.created_at.format("%Y-%m-%d").to_string(),
                })
                .collect(),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            module_names: rules.modules().map(str::to_string).collect(),
            doctors,
            error,
            notice,
        },
    )
}

async fn admin(
    db: web::Data<Db>,
    p: PageCtx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    q: web::Query<ListParams>,
) -> PageResult {
    let page = Page::of(q.page, None)?;
    render_admin(&db, p, &rules, &objects, page, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct WorkspaceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    module: String,
    #[serde(default)]
    doctor_id: String,
}

async fn create_workspace(
    db: web::Data<Db>,
    p: PageCtx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    form: web::Form<WorkspaceForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let req = WorkspaceRequest {
        module: form.module,
        doctor_id: form.doctor_id,
    };
    match create_workspace_for(&db, p.ctx.clone(), &rules, req).await {
        Ok(_) => Ok(redirect("/files")),
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            let page = Page::of(None, None)?;
            render_admin(
                &db,
                p,
                &rules,
                &objects,
                page,
                status,
                Some(e.to_string()),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn run_retention(
    db: web::Data<Db>,
    p: PageCtx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    auth: web::Data<common::auth::AuthContext>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let o = retention_now(&db, &p.ctx, &rules, &objects, auth.clock.now()).await?;
    let notice = format!(
        "Retention job: {} archived, {} purged, {} kept under a legal hold, {} failed.",
        o.archived, o.purged, o.held, o.failed
    );
    let page = Page::of(None, None)?;
    render_admin(
        &db,
        p,
        &rules,
        &objects,
        page,
        StatusCode::OK,
        None,
        Some(notice),
    )
    .await
}
