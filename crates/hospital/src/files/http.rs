//! Workspaces, folders and files over HTTP: `…/file-workspaces`,
//! `…/file-folders`, `…/files`, uploads and downloads streamed both ways,
//! legal holds, usage and the retention job.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use chrono::{Months, NaiveDateTime};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::objects::{Objects, OpenError, PutError};
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::{
    is_patient_category, type_of_name, FileType, FilesRules, PATIENT_CATEGORIES,
    WORKSPACE_CATEGORIES,
};
use super::scope;
use super::sniff;
use super::store::{self, Blob, FileFilter, FileRow, Folder, Workspace};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;
use crate::owner_link::standing;
use crate::patients::scope as patient_scope;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/file-workspaces")
            .route(web::get().to(list_workspaces))
            .route(web::post().to(create_workspace)),
    )
    .service(resource("/file-workspaces/{id}").route(web::get().to(get_workspace)))
    .service(resource("/file-workspaces/{id}/files").route(web::post().to(upload_to_workspace)))
    .service(
        resource("/file-folders")
            .route(web::get().to(list_folders))
            .route(web::post().to(create_folder)),
    )
    .service(resource("/file-folders/{id}/files").route(web::post().to(upload_to_folder)))
    .service(resource("/files").route(web::get().to(list_files)))
    .service(
        resource("/files/{id}")
            .route(web::get().to(get_file))
            .route(web::delete().to(delete_file)),
    )
    .service(resource("/files/{id}/content").route(web::get().to(download)))
    .service(resource("/files/{id}/restore").route(web::post().to(restore_file)))
    .service(resource("/files/{id}/purge").route(web::post().to(purge_file)))
    .service(resource("/file-usage").route(web::get().to(usage)))
    .service(resource("/file-retention/run").route(web::post().to(run_retention)))
    .service(
        resource("/patients/{id}/legal-hold")
            .route(web::get().to(get_hold))
            .route(web::put().to(place_hold))
            .route(web::delete().to(lift_hold)),
    );
}

// ---------------------------------------------------------------- views

/// A doctor's workspace in a module.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct WorkspaceView {
    /// Id.
    pub id: String,
    /// The medical module (`radiology`, `medicine`, …).
    pub module: String,
    /// The doctor (user id).
    pub doctor_id: String,
    /// The areas of the workspace: documents, reports, images, temp, archive.
    pub areas: Vec<&'static str>,
    /// Created by.
    pub created_by: String,
    /// Created at (UTC).
    pub created_at: NaiveDateTime,
}

fn workspace_view(w: Workspace) -> WorkspaceView {
    let mut areas = WORKSPACE_CATEGORIES.to_vec();
    areas.push("archive");
    WorkspaceView {
        id: w.id,
        module: w.module,
        doctor_id: w.doctor_id,
        areas,
        created_by: w.created_by,
        created_at: w.created_at,
    }
}

/// A patient's folder in a doctor's workspace.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct FolderView {
    /// Id.
    pub id: String,
    /// The workspace.
    pub workspace_id: String,
    /// Its module.
    pub module: String,
    /// Its doctor.
    pub doctor_id: String,
    /// The patient.
    pub patient_id: String,
    /// The categories files are filed under.
    pub categories: Vec<&'static str>,
    /// Created at (UTC).
    pub created_at: NaiveDateTime,
}

fn folder_view(conn: &mut DbConn, f: Folder) -> ApiResult<FolderView> {
    let w = store::workspace(conn, &f.tenant_id, &f.workspace_id)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("folder without workspace")))?;
    Ok(FolderView {
        id: f.id,
        workspace_id: f.workspace_id,
        module: w.module,
        doctor_id: w.doctor_id,
        patient_id: f.patient_id,
        categories: PATIENT_CATEGORIES.to_vec(),
        created_at: f.created_at,
    })
}

/// A file's metadata (its name is stored sealed).
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct FileView {
    /// Id.
    pub id: String,
    /// The file name as uploaded.
    pub name: String,
    /// Category (a patient folder's or a workspace area's).
    pub category: String,
    /// Module.
    pub module: String,
    /// Media type, from the checked content.
    pub media_type: String,
    /// Size in bytes.
    pub size: i64,
    /// The patient's folder (absent for a workspace area's file).
    pub folder_id: Option<String>,
    /// The workspace.
    pub workspace_id: String,
    /// The patient (absent for a workspace area's file).
    pub patient_id: Option<String>,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When (UTC).
    pub uploaded_at: NaiveDateTime,
    /// It may not be deleted before this (UTC).
    pub retain_until: NaiveDateTime,
    /// Moved to the archive area at (UTC).
    pub archived_at: Option<NaiveDateTime>,
    /// Soft-deleted at (UTC); an admin can restore it.
    pub deleted_at: Option<NaiveDateTime>,
}

fn file_view(conn: &mut DbConn, c: &Ctx, f: FileRow) -> ApiResult<FileView> {
    let name = store::open_name(conn, &c.keyring, &f)?;
    Ok(FileView {
        id: f.id,
        name,
        category: f.category,
        module: f.module,
        media_type: f.media_type,
        size: f.size,
        folder_id: f.folder_id,
        workspace_id: f.workspace_id,
        patient_id: f.patient_id,
        uploaded_by: f.uploaded_by,
        uploaded_at: f.uploaded_at,
        retain_until: f.retain_until,
        archived_at: f.archived_at,
        deleted_at: f.deleted_at,
    })
}

/// The audit resource of a file: its patient's access log, or the workspace.
fn file_event(c: &Ctx, action: &str, f: &FileRow) -> common::audit::Event {
    match &f.patient_id {
        Some(p) => c.patient_event(action, p),
        None => c.event(action, &format!("file_workspace:{}", f.workspace_id)),
    }
    .details(json!({ "file": f.id, "category": f.category, "module": f.module }))
}

// ----------------------------------------------------------- workspaces

/// A new workspace.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceRequest {
    /// A configured module.
    #[schema(min_length = 2, max_length = 40)]
    pub module: String,
    /// The doctor (a user of the tenant whose role is doctor).
    #[schema(min_length = 1, max_length = 64)]
    pub doctor_id: String,
}

#[utoipa::path(post, path = "/file-workspaces", tag = "files", security(("bearer" = [])),
    summary = "Create a doctor's workspace in a module (files.manage); the doctor's current patients get their folders in it",
    request_body = WorkspaceRequest,
    responses((status = 201, description = "Created", body = WorkspaceView),
        (status = 409, description = "The doctor already has a workspace in this module")))]
async fn create_workspace(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    body: web::Json<WorkspaceRequest>,
) -> ApiResult<HttpResponse> {
    let view = create_workspace_for(&db, ctx, &rules, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Create a workspace (shared with pages).
pub(crate) async fn create_workspace_for(
    db: &Db,
    ctx: Ctx,
    rules: &FilesRules,
    req: WorkspaceRequest,
) -> ApiResult<WorkspaceView> {
    scope::require_manager(&ctx.user)?;
    check_id("doctor_id", &req.doctor_id)?;
    if !rules.has_module(&req.module) {
        let known: Vec<&str> = rules.modules().collect();
        return Err(ApiError::field(
            "module",
            format!("no such module; configured: {}", known.join(", ")),
        ));
    }
    let c = ctx.clone();
    let w = db
        .write(move |conn| {
            let role = store::role_of(conn, &c.tenant, &req.doctor_id)?;
            if role.as_deref() != Some("doctor") {
                return Err(ApiError::field(
                    "doctor_id",
                    "no such doctor in this hospital",
                ));
            }
            let w = Workspace {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: c.tenant.clone(),
                module: req.module.clone(),
                doctor_id: req.doctor_id.clone(),
                created_by: c.user.id.clone(),
                created_at: now(),
            };
            store::insert_workspace(conn, &w)?;
            let patients = store::patients_of(conn, &c.tenant, &w.doctor_id)?;
            for p in &patients {
                store::ensure_folder(conn, &w, p, &c.user.id)?;
            }
            let event = c
                .event("file_workspace.create", &format!("file_workspace:{}", w.id))
                .details(
                    json!({ "module": w.module, "doctor": w.doctor_id, "folders": patients.len() }),
                );
            c.audit(conn, &event)?;
            Ok(w)
        })
        .await?;
    Ok(workspace_view(w))
}

/// The workspace list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceListQuery {
    /// One doctor's (a doctor sees only their own).
    pub doctor_id: Option<String>,
    /// One module's.
    pub module: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/file-workspaces", tag = "files", security(("bearer" = [])),
    summary = "Workspaces: all (files.manage) or one's own (a doctor)",
    params(WorkspaceListQuery),
    responses((status = 200, description = "A page of workspaces", body = Vec<WorkspaceView>)))]
async fn list_workspaces(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<WorkspaceListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = workspaces_for(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of workspaces (shared with pages).
pub(crate) async fn workspaces_for(
    db: &Db,
    ctx: Ctx,
    q: &WorkspaceListQuery,
    page: Page,
) -> ApiResult<(Vec<WorkspaceView>, i64)> {
    let doctor = if ctx.can(crate::HospitalPermission::FilesManage) {
        q.doctor_id.clone()
    } else if scope::may_see_workspaces_of(&ctx.user, &ctx.user.id) {
        Some(ctx.user.id.clone())
    } else {
        return Err(ApiError::Forbidden(
            "your role has no file workspaces".into(),
        ));
    };
    if let Some(d) = &doctor {
        check_id("doctor_id", d)?;
    }
    let module = q.module.clone();
    let c = ctx.clone();
    let (rows, total) = db
        .run(move |conn| {
            store::workspaces(conn, &c.tenant, doctor.as_deref(), module.as_deref(), &page)
        })
        .await?;
    Ok((rows.into_iter().map(workspace_view).collect(), total))
}

#[utoipa::path(get, path = "/file-workspaces/{id}", tag = "files", security(("bearer" = [])),
    summary = "One workspace (files.manage, or its doctor)",
    responses((status = 200, description = "The workspace", body = WorkspaceView)))]
async fn get_workspace(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    check_id("id", &id)?;
    let c = ctx.clone();
    let w = db
        .run(move |conn| store::workspace(conn, &c.tenant, &id))
        .await?
        .filter(|w| scope::may_see_workspaces_of(&ctx.user, &w.doctor_id))
        .ok_or_else(scope::not_found_workspace)?;
    Ok(response::ok(workspace_view(w)))
}

// -------------------------------------------------------------- folders

/// A doctor taking a patient on into a workspace.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FolderRequest {
    /// The workspace (one's own, for a doctor).
    #[schema(min_length = 1, max_length = 64)]
    pub workspace_id: String,
    /// The patient (on the doctor's care team).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
}

#[utoipa::path(post, path = "/file-folders", tag = "files", security(("bearer" = [])),
    summary = "Create a patient's folder in a workspace (files.manage, or the workspace's doctor for a patient on their care team); an existing folder is returned as it is",
    request_body = FolderRequest,
    responses((status = 201, description = "The folder", body = FolderView)))]
async fn create_folder(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<FolderRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    check_id("workspace_id", &req.workspace_id)?;
    check_id("patient_id", &req.patient_id)?;
    if !ctx.can(crate::HospitalPermission::FilesManage)
        && !ctx.can(crate::HospitalPermission::FilesWriteAssigned)
    {
        return Err(ApiError::Forbidden(
            "your role may not create patient folders".into(),
        ));
    }
    let c = ctx.clone();
    let view = db
        .write(move |conn| {
            let w = store::workspace(conn, &c.tenant, &req.workspace_id)?
                .filter(|w| scope::may_see_workspaces_of(&c.user, &w.doctor_id))
                .ok_or_else(scope::not_found_workspace)?;
            if !patient_scope::can_see(conn, &c.user, &c.tenant, &req.patient_id, false)? {
                return Err(patient_scope::not_found());
            }
            if !crate::care_team::store::is_member(conn, &c.tenant, &req.patient_id, &w.doctor_id)?
            {
                return Err(ApiError::Conflict(
                    "the patient is not on this doctor's care team; add the doctor to it first"
                        .into(),
                ));
            }
            let (f, created) = store::ensure_folder(conn, &w, &req.patient_id, &c.user.id)?;
            if created {
                let event = c
                    .patient_event("file_folder.create", &f.patient_id)
                    .details(json!({ "folder": f.id, "workspace": w.id, "module": w.module }));
                c.audit(conn, &event)?;
            }
            folder_view(conn, f)
        })
        .await?;
    Ok(response::created(view))
}

/// The folder list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FolderListQuery {
    /// One patient's folders (required for lab and reception).
    pub patient_id: Option<String>,
    /// One workspace's folders.
    pub workspace_id: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/file-folders", tag = "files", security(("bearer" = [])),
    summary = "Patient folders the caller may see or upload into (lab and reception: by patient_id only)",
    params(FolderListQuery),
    responses((status = 200, description = "A page of folders", body = Vec<FolderView>)))]
async fn list_folders(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<FolderListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = folders_for(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of folders (shared with pages).
pub(crate) async fn folders_for(
    db: &Db,
    ctx: Ctx,
    q: &FolderListQuery,
    page: Page,
) -> ApiResult<(Vec<FolderView>, i64)> {
    scope::visible_folders(&ctx.user, &ctx.tenant)?;
    for (name, v) in [
        ("patient_id", &q.patient_id),
        ("workspace_id", &q.workspace_id),
    ] {
        if let Some(v) = v {
            check_id(name, v)?;
        }
    }
    if q.patient_id.is_none() && scope::lists_folders_by_patient_only(&ctx.user) {
        return Err(ApiError::field(
            "patient_id",
            "your role lists the folders of one patient at a time",
        ));
    }
    let (patient, workspace) = (q.patient_id.clone(), q.workspace_id.clone());
    let c = ctx.clone();
    db.run(move |conn| {
        let (rows, total) = store::folders(
            conn,
            || scope::visible_folders(&c.user, &c.tenant),
            patient.as_deref(),
            workspace.as_deref(),
            &page,
        )?;
        let views = rows
            .into_iter()
            .map(|f| folder_view(conn, f))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok((views, total))
    })
    .await
}

// -------------------------------------------------------------- uploads

/// What is uploaded: the body is the file's bytes, as they are.
#[derive(utoipa::IntoParams, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The category (a patient folder's, or a workspace area's).
    pub category: String,
    /// The file name (1 to 200 characters); its extension declares the
    /// type, which the content must be.
    pub name: String,
}

/// Where an upload goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A patient's folder.
    Folder(String),
    /// A doctor's workspace area.
    Workspace(String),
}

#[utoipa::path(post, path = "/file-folders/{id}/files", tag = "files", security(("bearer" = [])),
    summary = "Upload a file into a patient's folder, streamed and encrypted (files.write_assigned for one's care team; lab: lab_results; reception: consent_forms; files.manage)",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = FileView),
        (status = 413, description = "Larger than the category allows"),
        (status = 415, description = "A type the category does not allow, or content that is not what the name says")))]
async fn upload_to_folder(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    id: web::Path<String>,
    q: web::Query<UploadQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let view = upload(
        &db,
        ctx,
        &rules,
        &objects,
        Target::Folder(id.into_inner()),
        q,
        body,
    )
    .await?;
    Ok(response::created(view))
}

#[utoipa::path(post, path = "/file-workspaces/{id}/files", tag = "files", security(("bearer" = [])),
    summary = "Upload a file into one's own workspace area (documents, reports, images, temp), streamed and encrypted",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = FileView),
        (status = 413, description = "Larger than the category allows"),
        (status = 415, description = "A type the category does not allow, or content that is not what the name says")))]
async fn upload_to_workspace(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    id: web::Path<String>,
    q: web::Query<UploadQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let view = upload(
        &db,
        ctx,
        &rules,
        &objects,
        Target::Workspace(id.into_inner()),
        q,
        body,
    )
    .await?;
    Ok(response::created(view))
}

/// A file name: 1 to 200 characters, no path, no control character.
fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    let bad = name.is_empty()
        || name.chars().count() > 200
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(ApiError::field(
            "name",
            "1 to 200 characters, without / or \\ or control characters",
        ));
    }
    Ok(name.to_string())
}

/// What the checks before an upload settle.
struct Prepared {
    workspace_id: String,
    folder_id: Option<String>,
    patient_id: Option<String>,
    module: String,
    max_bytes: u64,
    retention_years: i64,
    quota_bytes: Option<i64>,
    key: common::crypto::FileKey,
    hasher: common::crypto::ContentHasher,
}

fn prepare(
    conn: &mut DbConn,
    c: &Ctx,
    rules: &FilesRules,
    target: &Target,
    category: &str,
    ftype: &FileType,
) -> ApiResult<Prepared> {
    let (w, folder, patient) = match target {
        Target::Folder(id) => {
            if !is_patient_category(category) {
                return Err(ApiError::field(
                    "category",
                    format!(
                        "a patient's folder files under: {}",
                        PATIENT_CATEGORIES.join(", ")
                    ),
                ));
            }
            let f = store::find_folder(conn, folder_scope(c)?, id)?
                .ok_or_else(scope::not_found_folder)?;
            scope::require_folder_uploader(conn, &c.user, &c.tenant, &f.patient_id, category)?;
            let w = store::workspace(conn, &c.tenant, &f.workspace_id)?
                .ok_or_else(scope::not_found_folder)?;
            (w, Some(f.id), Some(f.patient_id))
        }
        Target::Workspace(id) => {
            if !WORKSPACE_CATEGORIES.contains(&category) {
                return Err(ApiError::field(
                    "category",
                    format!(
                        "a workspace takes uploads under: {}",
                        WORKSPACE_CATEGORIES.join(", ")
                    ),
                ));
            }
            scope::require_any_uploader(&c.user)?;
            let w =
                store::workspace(conn, &c.tenant, id)?.ok_or_else(scope::not_found_workspace)?;
            scope::require_workspace_uploader(&c.user, &w.doctor_id)?;
            (w, None, None)
        }
    };
    let rule = rules.rule(&w.module, category).ok_or_else(|| {
        ApiError::Conflict(format!("the module {} is no longer configured", w.module))
    })?;
    if !rule.types.iter().any(|t| t.name == ftype.name) {
        let allowed: Vec<&str> = rule.types.iter().map(|t| t.name).collect();
        return Err(ApiError::UnsupportedMediaType(format!(
            "{} files are not accepted in {} of {}; allowed: {}",
            ftype.name,
            category.replace('_', " "),
            w.module,
            allowed.join(", ")
        )));
    }
    let quota_bytes = standing::find(conn, &c.tenant)?
        .and_then(|s| s.max_storage_mb)
        .map(|mb| mb.saturating_mul(1024 * 1024));
    if let Some(max) = quota_bytes {
        let (used, _) = store::stored_bytes(conn, &c.tenant)?;
        if used >= max {
            return Err(quota_error(max));
        }
    }
    let key = c.keyring.active_key(conn, &c.tenant)?.file_key();
    let hasher = c.keyring.indexer(conn, &c.tenant)?.content_hasher();
    Ok(Prepared {
        workspace_id: w.id,
        folder_id: folder,
        patient_id: patient,
        module: w.module,
        max_bytes: rule.max_bytes,
        retention_years: rule.retention_years,
        quota_bytes,
        key,
        hasher,
    })
}

/// Folders an uploader may name: any of the tenant's live patients' (the
/// per-role rule is [`scope::require_folder_uploader`]).
fn folder_scope(c: &Ctx) -> ApiResult<scope::VisibleFolders> {
    scope::require_any_uploader(&c.user)?;
    scope::all_live_folders(&c.tenant)
}

fn quota_error(max: i64) -> ApiError {
    ApiError::Refused {
        code: "STORAGE_QUOTA",
        message: format!(
            "the plan's file storage ({} MiB) is used up; delete files past retention or change the plan",
            max / (1024 * 1024)
        ),
    }
}

/// What the stream inspector found.
struct Inspected {
    seen: u64,
    /// The first bytes, until there are enough to tell the type.
    head: Vec<u8>,
    sniffed: bool,
    refused: Option<ApiError>,
    hasher: Option<common::crypto::ContentHasher>,
}

/// How many first bytes decide the type (DICOM's signature is at 128).
const SNIFF_BYTES: usize = 4096;

impl Inspected {
    /// Check the type once the head is long enough, or at the end (`whole`).
    fn sniff(&mut self, ftype: &FileType, whole: bool) -> Result<(), String> {
        if self.sniffed || (!whole && self.head.len() < SNIFF_BYTES) {
            return Ok(());
        }
        self.sniffed = true;
        let head = std::mem::take(&mut self.head);
        sniff::check(&head, ftype, whole).inspect_err(|why| {
            self.refused = Some(ApiError::UnsupportedMediaType(why.clone()));
        })
    }
}

/// Upload a file (shared with pages): checks, then the body streamed
/// through the inspector (type on the first chunk, size, keyed hash) and
/// encrypted into the object store, then the database rows and the audit
/// row in one write. A redundant object (the tenant already stores the
/// same content) is deleted; so is the object of a failed write.
pub(crate) async fn upload<S, E>(
    db: &Db,
    ctx: Ctx,
    rules: &FilesRules,
    objects: &Objects,
    target: Target,
    q: UploadQuery,
    body: S,
) -> ApiResult<FileView>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let name = check_name(&q.name)?;
    let category = q.category;
    if !is_patient_category(&category) && !WORKSPACE_CATEGORIES.contains(&category.as_str()) {
        return Err(ApiError::field("category", "no such category"));
    }
    match &target {
        Target::Folder(id) | Target::Workspace(id) => check_id("id", id)?,
    }
    let ftype = type_of_name(&name).ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "the file name's extension names no accepted type (pdf, png, jpg, tif, dcm, txt, csv, docx)".into(),
        )
    })?;
    let (c, r, t, cat) = (ctx.clone(), rules.clone(), target.clone(), category.clone());
    let p = db
        .run(move |conn| prepare(conn, &c, &r, &t, &cat, ftype))
        .await?;

    let blob_id = uuid::Uuid::new_v4().to_string();
    let path = store::object_path(&ctx.tenant, "live", &blob_id);
    let identity = store::identity(&ctx.tenant, &blob_id);
    let max = p.max_bytes;
    let mut seen = Inspected {
        seen: 0,
        head: Vec::new(),
        sniffed: false,
        refused: None,
        hasher: Some(p.hasher),
    };
    let put = {
        let seen = &mut seen;
        let mut inspect = move |chunk: &[u8]| -> Result<(), String> {
            if !seen.sniffed {
                let room = SNIFF_BYTES.saturating_sub(seen.head.len());
                seen.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                seen.sniff(ftype, false)?;
            }
            seen.seen += chunk.len() as u64;
            if seen.seen > max {
                let why = format!(
                    "the file is larger than the {} MiB this category allows",
                    max / (1024 * 1024)
                );
                seen.refused = Some(ApiError::PayloadTooLarge(why.clone()));
                return Err(why);
            }
            if let Some(h) = seen.hasher.as_mut() {
                h.update(chunk);
            }
            Ok(())
        };
        objects
            .put_sealed(&path, &p.key, &identity, ftype.compress, body, &mut inspect)
            .await
    };
    let stored = match put {
        Ok(s) => s,
        Err(PutError::Rejected(why)) => {
            return Err(seen
                .refused
                .take()
                .unwrap_or_else(|| ApiError::validation(why)))
        }
        Err(PutError::Body(e)) => {
            return Err(ApiError::validation(format!(
                "the upload did not arrive whole: {e}"
            )))
        }
        Err(PutError::Storage(e)) => {
            tracing::error!(error = %format!("{e:#}"), "file storage refused an upload");
            return Err(ApiError::Unavailable(
                "file storage is unavailable, try again shortly".into(),
            ));
        }
    };
    if stored.plain_len == 0 {
        remove_object(objects, &path).await;
        return Err(ApiError::validation("the file is empty"));
    }
    // A file shorter than the sniffing window is checked whole, now.
    if seen.sniff(ftype, true).is_err() {
        remove_object(objects, &path).await;
        return Err(seen
            .refused
            .take()
            .unwrap_or_else(|| ApiError::UnsupportedMediaType("unrecognised content".into())));
    }
    let hash = seen
        .hasher
        .take()
        .map(|h| h.finalize())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("content hash missing")))?;

    let c = ctx.clone();
    let key_id = p.key.key_id().to_string();
    let (tenant, bid) = (ctx.tenant.clone(), blob_id.clone());
    let written = db
        .write(move |conn| {
            if let Some(max) = p.quota_bytes {
                let (used, _) = store::stored_bytes(conn, &c.tenant)?;
                if used.saturating_add(stored.stored_len as i64) > max {
                    return Err(quota_error(max));
                }
            }
            let t = now();
            let blob = Blob {
                id: bid,
                tenant_id: tenant.clone(),
                content_hash: hash,
                key_id,
                plain_size: stored.plain_len as i64,
                stored_size: stored.stored_len as i64,
                compressed: ftype.compress,
                refs: 1,
                area: "live".into(),
                created_at: t,
            };
            let (blob, fresh) = store::insert_or_ref_blob(conn, &blob)?;
            let id = uuid::Uuid::new_v4().to_string();
            let retain_until = t
                .checked_add_months(Months::new(12 * p.retention_years as u32))
                .unwrap_or(NaiveDateTime::MAX);
            let f = FileRow {
                name_enc: store::seal_name(conn, &c.keyring, &tenant, &id, &name)?,
                id,
                tenant_id: tenant.clone(),
                workspace_id: p.workspace_id,
                folder_id: p.folder_id,
                patient_id: p.patient_id,
                module: p.module,
                category,
                media_type: ftype.mime.to_string(),
                size: stored.plain_len as i64,
                blob_id: Some(blob.id.clone()),
                uploaded_by: c.user.id.clone(),
                uploaded_at: t,
                retain_until,
                archived_at: None,
                deleted_at: None,
                deleted_by: None,
                purged_at: None,
            };
            store::insert_file(conn, &f)?;
            let mut event = file_event(&c, "file.upload", &f);
            event = event.details(json!({
                "file": f.id, "category": f.category, "module": f.module,
                "size": f.size, "stored_once": !fresh,
            }));
            c.audit(conn, &event)?;
            Ok((f, fresh))
        })
        .await;
    let (f, fresh) = match written {
        Ok(w) => w,
        Err(e) => {
            remove_object(objects, &path).await;
            return Err(e);
        }
    };
    if !fresh {
        remove_object(objects, &path).await;
    }
    let c = ctx.clone();
    db.run(move |conn| file_view(conn, &c, f)).await
}

/// Delete an object nobody refers to; a failure is logged (the object is
/// an orphan, encrypted, that no row names).
async fn remove_object(objects: &Objects, path: &str) {
    if let Err(e) = objects.delete(path).await {
        tracing::warn!(error = %format!("{e:#}"), "could not delete an unreferenced object");
    }
}

// ---------------------------------------------------------------- reads

/// The file list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileListQuery {
    /// One folder's files.
    pub folder_id: Option<String>,
    /// One workspace's files.
    pub workspace_id: Option<String>,
    /// One patient's files.
    pub patient_id: Option<String>,
    /// One category.
    pub category: Option<String>,
    /// Only soft-deleted files (files.manage).
    pub deleted: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/files", tag = "files", security(("bearer" = [])),
    summary = "Files the caller may see, newest first (the listing is written to each patient's access log)",
    params(FileListQuery),
    responses((status = 200, description = "A page of files", body = Vec<FileView>)))]
async fn list_files(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<FileListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = files_for(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of files with the listing's access-log rows (shared with pages).
pub(crate) async fn files_for(
    db: &Db,
    ctx: Ctx,
    q: &FileListQuery,
    page: Page,
) -> ApiResult<(Vec<FileView>, i64)> {
    scope::require_reader(&ctx.user)?;
    for (name, v) in [
        ("folder_id", &q.folder_id),
        ("workspace_id", &q.workspace_id),
        ("patient_id", &q.patient_id),
    ] {
        if let Some(v) = v {
            check_id(name, v)?;
        }
    }
    if let Some(cat) = &q.category {
        if !is_patient_category(cat) && !WORKSPACE_CATEGORIES.contains(&cat.as_str()) {
            return Err(ApiError::field("category", "no such category"));
        }
    }
    let deleted_only = q.deleted.unwrap_or(false);
    if deleted_only {
        scope::require_manager(&ctx.user)?;
    }
    let filter = FileFilter {
        folder_id: q.folder_id.clone(),
        workspace_id: q.workspace_id.clone(),
        patient_id: q.patient_id.clone(),
        category: q.category.clone(),
        deleted_only,
    };
    let c = ctx.clone();
    let (rows, total) = db
        .run(move |conn| {
            store::list_files(
                conn,
                || scope::visible(&c.user, &c.tenant, deleted_only),
                &filter,
                &page,
            )
        })
        .await?;
    // One row per patient (or workspace) whose files are listed.
    let mut seen = std::collections::BTreeMap::<String, (Option<String>, Vec<String>)>::new();
    for f in &rows {
        let key = f
            .patient_id
            .clone()
            .unwrap_or_else(|| format!("w:{}", f.workspace_id));
        seen.entry(key)
            .or_insert_with(|| (f.patient_id.clone(), Vec::new()))
            .1
            .push(f.id.clone());
    }
    let events = rows
        .iter()
        .filter_map(|f| {
            let key = f
                .patient_id
                .clone()
                .unwrap_or_else(|| format!("w:{}", f.workspace_id));
            let (_, ids) = seen.remove(&key)?;
            Some(file_event(&ctx, "file.list", f).details(json!({ "files": ids })))
        })
        .collect();
    ctx.record(db, events).await?;
    let c = ctx.clone();
    let views = db
        .run(move |conn| {
            rows.into_iter()
                .map(|f| file_view(conn, &c, f))
                .collect::<ApiResult<Vec<_>>>()
        })
        .await?;
    Ok((views, total))
}

fn visible_file(conn: &mut DbConn, c: &Ctx, id: &str, include_deleted: bool) -> ApiResult<FileRow> {
    store::find_file(
        conn,
        scope::visible(&c.user, &c.tenant, include_deleted)?,
        id,
    )?
    .ok_or_else(scope::not_found)
}

#[utoipa::path(get, path = "/files/{id}", tag = "files", security(("bearer" = [])),
    summary = "One file's metadata (written to the patient's access log)",
    responses((status = 200, description = "The file", body = FileView)))]
async fn get_file(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_reader(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let f = db
        .run(move |conn| visible_file(conn, &c, &id, true))
        .await?;
    ctx.record(&db, vec![file_event(&ctx, "file.read", &f)])
        .await?;
    let c = ctx.clone();
    let view = db.run(move |conn| file_view(conn, &c, f)).await?;
    Ok(response::ok(view))
}

#[utoipa::path(get, path = "/files/{id}/content", tag = "files", security(("bearer" = [])),
    summary = "Download a file, streamed and decrypted; the download is in the patient's access log before the first byte leaves, and a file that fails its integrity check is not served",
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 500, description = "FILE_DAMAGED: the stored object failed its integrity check")))]
async fn download(
    db: web::Data<Db>,
    ctx: Ctx,
    objects: web::Data<Objects>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    download_response(&db, ctx, &objects, id.into_inner()).await
}

/// A file's bytes as a streamed answer, after its access-log row is
/// committed (shared with pages).
pub(crate) async fn download_response(
    db: &Db,
    ctx: Ctx,
    objects: &Objects,
    id: String,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let (f, blob, key, name) = db
        .run(move |conn| {
            let f = visible_file(conn, &c, &id, false)?;
            let blob_id = f.blob_id.as_deref().ok_or_else(scope::not_found)?;
            let blob = store::blob(conn, blob_id)?;
            let key = c.keyring.key(conn, &c.tenant, &blob.key_id)?.file_key();
            let name = store::open_name(conn, &c.keyring, &f)?;
            Ok((f, blob, key, name))
        })
        .await?;
    let opened = open_blob(objects, &blob, &key)
        .await
        .map_err(|e| damaged(&f, e))?;
    ctx.record(db, vec![file_event(&ctx, "file.download", &f)])
        .await?;
    let file_id = f.id.clone();
    let stream = opened.stream.map(move |item| {
        item.map_err(|e| {
            tracing::error!(file = %file_id, error = %e, "a stored file failed its integrity check while streaming; the download was cut");
            e
        })
    });
    let size = u64::try_from(f.size).unwrap_or(0);
    Ok(HttpResponse::Ok()
        .content_type(f.media_type.as_str())
        .insert_header((header::CONTENT_DISPOSITION, attachment(&name)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(actix_web::body::SizedStream::new(size, stream)))
}

/// Open a blob's object, looking in the other area too (the retention job
/// moves an object before it records the move, so a crash between the two
/// leaves it in the other area).
async fn open_blob(
    objects: &Objects,
    blob: &Blob,
    key: &common::crypto::FileKey,
) -> Result<common::objects::Opened, OpenError> {
    match objects
        .open_sealed(&blob.path(), key, &blob.identity())
        .await
    {
        Err(OpenError::NotFound) => {
            let other = if blob.area == "live" {
                "archive"
            } else {
                "live"
            };
            let path = store::object_path(&blob.tenant_id, other, &blob.id);
            objects.open_sealed(&path, key, &blob.identity()).await
        }
        other => other,
    }
}

fn damaged(f: &FileRow, e: OpenError) -> ApiError {
    match e {
        OpenError::Storage(e) => {
            tracing::error!(file = %f.id, error = %format!("{e:#}"), "file storage unavailable on download");
            ApiError::Unavailable("file storage is unavailable, try again shortly".into())
        }
        other => {
            tracing::error!(file = %f.id, error = %other, "a stored file failed its integrity check and was not served");
            ApiError::Damaged(
                "the stored file failed its integrity check and was not served; an administrator must restore it from backup".into(),
            )
        }
    }
}

/// `attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`.
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

// ------------------------------------------------------------- deletion

#[utoipa::path(delete, path = "/files/{id}", tag = "files", security(("bearer" = [])),
    summary = "Soft-delete a file (files.manage, or its uploader); an admin can restore it; it is purged only after its retention date, never under a legal hold",
    responses((status = 200, description = "Deleted (restorable)", body = FileView),
        (status = 409, description = "LEGAL_HOLD: the patient is under a legal hold")))]
async fn delete_file(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_reader(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let f = db
        .write(move |conn| {
            let f = visible_file(conn, &c, &id, false)?;
            scope::require_deleter(&c.user, &f.uploaded_by)?;
            refuse_if_held(conn, &c.tenant, &f)?;
            if !store::soft_delete(conn, &c.tenant, &f.id, &c.user.id)? {
                return Err(ApiError::Conflict(
                    "the file was changed meanwhile; read it again".into(),
                ));
            }
            c.audit(conn, &file_event(&c, "file.delete", &f))?;
            store::file(conn, &c.tenant, &f.id)
        })
        .await?;
    let c = ctx.clone();
    Ok(response::ok(
        db.run(move |conn| file_view(conn, &c, f)).await?,
    ))
}

fn refuse_if_held(conn: &mut DbConn, tenant: &str, f: &FileRow) -> ApiResult<()> {
    if let Some(p) = &f.patient_id {
        if store::on_hold(conn, tenant, p)? {
            return Err(ApiError::Warning {
                code: "LEGAL_HOLD",
                message: "the patient is under a legal hold: none of their files may be deleted until it is lifted".into(),
                details: json!({ "patient_id": p }),
            });
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/files/{id}/restore", tag = "files", security(("bearer" = [])),
    summary = "Restore a soft-deleted file (files.manage)",
    responses((status = 200, description = "Restored", body = FileView),
        (status = 409, description = "The file is not deleted")))]
async fn restore_file(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let f = db
        .write(move |conn| {
            let f = visible_file(conn, &c, &id, true)?;
            if !store::restore(conn, &c.tenant, &f.id)? {
                return Err(ApiError::Conflict("the file is not deleted".into()));
            }
            c.audit(conn, &file_event(&c, "file.restore", &f))?;
            store::file(conn, &c.tenant, &f.id)
        })
        .await?;
    let c = ctx.clone();
    Ok(response::ok(
        db.run(move |conn| file_view(conn, &c, f)).await?,
    ))
}

#[utoipa::path(post, path = "/files/{id}/purge", tag = "files", security(("bearer" = [])),
    summary = "Delete a file for good (files.manage): only after its retention date and never under a legal hold; the stored object goes when no other file uses it",
    responses((status = 204, description = "Purged"),
        (status = 409, description = "RETENTION_ACTIVE before the retention date; LEGAL_HOLD under a hold")))]
async fn purge_file(
    db: web::Data<Db>,
    ctx: Ctx,
    objects: web::Data<Objects>,
    auth: web::Data<common::auth::AuthContext>,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let at = auth.clock.now();
    let c = ctx.clone();
    let gone = db
        .write(move |conn| {
            let f = visible_file(conn, &c, &id, true)?;
            if f.retain_until > at {
                return Err(ApiError::Warning {
                    code: "RETENTION_ACTIVE",
                    message: format!(
                        "the file must be kept until {}; it can be soft-deleted (restorable) until then",
                        f.retain_until.format("%Y-%m-%d")
                    ),
                    details: json!({ "retain_until": f.retain_until }),
                });
            }
            refuse_if_held(conn, &c.tenant, &f)?;
            let gone = store::purge(conn, &f, at)?;
            c.audit(conn, &file_event(&c, "file.purge", &f))?;
            Ok(gone)
        })
        .await?;
    if let Some(b) = gone {
        remove_object(&objects, &b.path()).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------- legal holds

/// A legal hold on a patient.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct HoldView {
    /// The patient.
    pub patient_id: String,
    /// Why (sealed at rest).
    pub reason: String,
    /// Placed by.
    pub placed_by: String,
    /// Placed at (UTC).
    pub placed_at: NaiveDateTime,
}

/// Placing a hold.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why: 3 to 500 characters.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

fn require_patient(conn: &mut DbConn, c: &Ctx, patient: &str) -> ApiResult<()> {
    if patient_scope::can_see(conn, &c.user, &c.tenant, patient, false)? {
        Ok(())
    } else {
        Err(patient_scope::not_found())
    }
}

fn hold_view(conn: &mut DbConn, c: &Ctx, h: store::Hold) -> ApiResult<HoldView> {
    let reason = c.keyring.decrypt(
        conn,
        &c.tenant,
        &h.reason_enc,
        &store::hold_aad(&c.tenant, &h.patient_id),
    )?;
    Ok(HoldView {
        patient_id: h.patient_id,
        reason,
        placed_by: h.placed_by,
        placed_at: h.placed_at,
    })
}

#[utoipa::path(get, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "The legal hold on a patient, if any (files.manage)",
    responses((status = 200, description = "The hold", body = HoldView),
        (status = 404, description = "No hold, or no such patient")))]
async fn get_hold(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            require_patient(conn, &c, &id)?;
            let h = store::hold(conn, &c.tenant, &id)?.ok_or_else(|| {
                ApiError::NotFound("the patient is not under a legal hold".into())
            })?;
            hold_view(conn, &c, h)
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(put, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "Place a legal hold on a patient (files.manage): no file of theirs is deleted, soft or for good, until it is lifted",
    request_body = HoldRequest,
    responses((status = 200, description = "The hold (an existing one is kept as it was)", body = HoldView)))]
async fn place_hold(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<HoldRequest>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let reason = check_text("reason", &body.reason, 3, 500)?;
    let c = ctx.clone();
    let view = db
        .write(move |conn| {
            require_patient(conn, &c, &id)?;
            let h = store::Hold {
                reason_enc: c.keyring.encrypt(
                    conn,
                    &c.tenant,
                    &reason,
                    &store::hold_aad(&c.tenant, &id),
                )?,
                tenant_id: c.tenant.clone(),
                patient_id: id.clone(),
                placed_by: c.user.id.clone(),
                placed_at: now(),
            };
            if store::place_hold(conn, &h)? {
                c.audit(conn, &c.patient_event("legal_hold.place", &id))?;
            }
            let h = store::hold(conn, &c.tenant, &id)?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("hold vanished")))?;
            hold_view(conn, &c, h)
        })
        .await?;
    Ok(response::ok(view))
}

#[utoipa::path(delete, path = "/patients/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    summary = "Lift the legal hold on a patient (files.manage)",
    responses((status = 204, description = "Lifted"),
        (status = 404, description = "No hold, or no such patient")))]
async fn lift_hold(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("id", &id)?;
    let c = ctx.clone();
    db.write(move |conn| {
        require_patient(conn, &c, &id)?;
        if !store::lift_hold(conn, &c.tenant, &id)? {
            return Err(ApiError::NotFound(
                "the patient is not under a legal hold".into(),
            ));
        }
        c.audit(conn, &c.patient_event("legal_hold.lift", &id))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// ------------------------------------------------------ usage, retention

/// Storage used by one doctor's workspace.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct WorkspaceUsage {
    /// Module.
    pub module: String,
    /// Doctor.
    pub doctor_id: String,
    /// Files (not deleted).
    pub files: i64,
    /// Their bytes as uploaded.
    pub bytes: i64,
}

/// Storage used by one module.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct ModuleUsage {
    /// Module.
    pub module: String,
    /// Files (not deleted).
    pub files: i64,
    /// Their bytes as uploaded.
    pub bytes: i64,
}

/// The tenant's storage: what is stored (each content once, encrypted),
/// per module and per doctor, against the plan.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct UsageView {
    /// `local` or `s3`.
    pub backend: &'static str,
    /// Whether the store answered just now.
    pub reachable: bool,
    /// Bytes stored (each content once, encrypted, as stored).
    pub stored_bytes: i64,
    /// Objects stored.
    pub objects: i64,
    /// The plan's storage in bytes, if the plan limits it.
    pub quota_bytes: Option<i64>,
    /// stored_bytes as a percentage of quota_bytes.
    pub used_percent: Option<f64>,
    /// Usage is past the warning threshold of the quota.
    pub quota_warning: bool,
    /// Per module.
    pub modules: Vec<ModuleUsage>,
    /// Per doctor's workspace.
    pub workspaces: Vec<WorkspaceUsage>,
}

#[utoipa::path(get, path = "/file-usage", tag = "files", security(("bearer" = [])),
    summary = "Storage used by the tenant, per module and per doctor, against the plan (files.manage)",
    responses((status = 200, description = "Usage", body = UsageView)))]
async fn usage(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
) -> ApiResult<HttpResponse> {
    Ok(response::ok(usage_for(&db, ctx, &rules, &objects).await?))
}

/// The tenant's storage usage (shared with pages).
pub(crate) async fn usage_for(
    db: &Db,
    ctx: Ctx,
    rules: &FilesRules,
    objects: &Objects,
) -> ApiResult<UsageView> {
    scope::require_manager(&ctx.user)?;
    let c = ctx.clone();
    let (stored, n, quota, rows) = db
        .run(move |conn| {
            let (stored, n) = store::stored_bytes(conn, &c.tenant)?;
            let quota = standing::find(conn, &c.tenant)?
                .and_then(|s| s.max_storage_mb)
                .map(|mb| mb.saturating_mul(1024 * 1024));
            Ok((
                stored,
                n,
                quota,
                store::usage_by_workspace(conn, &c.tenant)?,
            ))
        })
        .await?;
    let reachable = objects.check().await.is_ok();
    let used_percent = quota
        .filter(|q| *q > 0)
        .map(|q| stored as f64 * 100.0 / q as f64);
    let mut modules: Vec<ModuleUsage> = Vec::new();
    for (m, _, bytes, files) in &rows {
        match modules.iter_mut().find(|u| &u.module == m) {
            Some(u) => {
                u.bytes += bytes;
                u.files += files;
            }
            None => modules.push(ModuleUsage {
                module: m.clone(),
                files: *files,
                bytes: *bytes,
            }),
        }
    }
    Ok(UsageView {
        backend: objects.backend(),
        reachable,
        stored_bytes: stored,
        objects: n,
        quota_bytes: quota,
        used_percent,
        quota_warning: used_percent.is_some_and(|p| p >= rules.quota_warning_percent as f64),
        modules,
        workspaces: rows
            .into_iter()
            .map(|(module, doctor_id, bytes, files)| WorkspaceUsage {
                module,
                doctor_id,
                files,
                bytes,
            })
            .collect(),
    })
}

#[utoipa::path(post, path = "/file-retention/run", tag = "files", security(("bearer" = [])),
    summary = "Run the retention job for the caller's hospital now (files.manage): archive old files, purge files past retention (never under a legal hold)",
    responses((status = 200, description = "What the job did", body = super::retention::Outcome)))]
async fn run_retention(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    objects: web::Data<Objects>,
    auth: web::Data<common::auth::AuthContext>,
) -> ApiResult<HttpResponse> {
    let outcome = retention_now(&db, &ctx, &rules, &objects, auth.clock.now()).await?;
    Ok(response::ok(outcome))
}

/// Run the retention job for the caller's tenant now (shared with pages).
pub(crate) async fn retention_now(
    db: &Db,
    ctx: &Ctx,
    rules: &FilesRules,
    objects: &Objects,
    at: NaiveDateTime,
) -> ApiResult<super::retention::Outcome> {
    scope::require_manager(&ctx.user)?;
    let actor = super::retention::Actor {
        id: ctx.user.id.clone(),
        role: ctx.user.role.clone(),
        origin: ctx.origin.clone(),
    };
    super::retention::run_tenant(db, objects, rules, &ctx.tenant, at, &actor).await
}
