//! Patient files over HTTP: the routes, the views, listing, reading and
//! deleting files. Workspaces and folders are in [`super::spaces_http`],
//! uploads and downloads (streamed both ways) in [`super::transfer_http`],
//! legal holds, usage and the retention job in [`super::holds_http`].

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use common::db::{Db, DbConn};
use common::http::resource;
use common::objects::Objects;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::{is_patient_category, PATIENT_CATEGORIES, WORKSPACE_CATEGORIES};
use super::scope;
use super::store::{self, FileFilter, FileRow, Folder, Workspace};
use super::transfer_http::remove_object;
use crate::appointments::model::check_id;
use crate::context::Ctx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use super::holds_http as holds;
    use super::spaces_http as spaces;
    use super::transfer_http as transfer;
    cfg.service(
        resource("/file-workspaces")
            .route(web::get().to(spaces::list_workspaces))
            .route(web::post().to(spaces::create_workspace)),
    )
    .service(resource("/file-workspaces/{id}").route(web::get().to(spaces::get_workspace)))
    .service(
        resource("/file-workspaces/{id}/files")
            .route(web::post().to(transfer::upload_to_workspace)),
    )
    .service(
        resource("/file-folders")
            .route(web::get().to(spaces::list_folders))
            .route(web::post().to(spaces::create_folder)),
    )
    .service(resource("/file-folders/{id}/files").route(web::post().to(transfer::upload_to_folder)))
    .service(resource("/files").route(web::get().to(list_files)))
    .service(
        resource("/files/{id}")
            .route(web::get().to(get_file))
            .route(web::delete().to(delete_file)),
    )
    .service(resource("/files/{id}/content").route(web::get().to(transfer::download)))
    .service(resource("/files/{id}/restore").route(web::post().to(restore_file)))
    .service(resource("/files/{id}/purge").route(web::post().to(purge_file)))
    .service(resource("/file-modules").route(web::get().to(spaces::list_modules)))
    .service(
        resource("/file-modules/{module}/admins/{user_id}")
            .route(web::put().to(spaces::assign_module_admin))
            .route(web::delete().to(spaces::withdraw_module_admin)),
    )
    .service(resource("/file-usage").route(web::get().to(holds::usage)))
    .service(resource("/file-retention/run").route(web::post().to(holds::run_retention)))
    .service(
        resource("/patients/{id}/legal-hold")
            .route(web::get().to(holds::get_hold))
            .route(web::put().to(holds::place_hold))
            .route(web::delete().to(holds::lift_hold)),
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

pub(super) fn workspace_view(w: Workspace) -> WorkspaceView {
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

pub(super) fn folder_view(conn: &mut DbConn, f: Folder) -> ApiResult<FolderView> {
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

pub(super) fn file_view(conn: &mut DbConn, c: &Ctx, f: FileRow) -> ApiResult<FileView> {
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
pub(super) fn file_event(c: &Ctx, action: &str, f: &FileRow) -> common::audit::Event {
    match &f.patient_id {
        Some(p) => c.patient_event(action, p),
        None => c.event(action, &format!("file_workspace:{}", f.workspace_id)),
    }
    .details(json!({ "file": f.id, "category": f.category, "module": f.module }))
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
        scope::require_some_manager(&ctx.user)?;
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
    // One row per patient (or workspace) whose files are listed, naming them.
    let mut groups: Vec<(&FileRow, Vec<&str>)> = Vec::new();
    for f in &rows {
        let same = |g: &&mut (&FileRow, Vec<&str>)| {
            g.0.patient_id == f.patient_id
                && (f.patient_id.is_some() || g.0.workspace_id == f.workspace_id)
        };
        match groups.iter_mut().find(same) {
            Some(g) => g.1.push(&f.id),
            None => groups.push((f, vec![&f.id])),
        }
    }
    let events = groups
        .into_iter()
        .map(|(f, ids)| file_event(&ctx, "file.list", f).details(json!({ "files": ids })))
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

pub(super) fn visible_file(
    conn: &mut DbConn,
    c: &Ctx,
    id: &str,
    include_deleted: bool,
) -> ApiResult<FileRow> {
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
    scope::require_some_manager(&ctx.user)?;
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
    scope::require_some_manager(&ctx.user)?;
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
