//! Doctors' workspaces in a module and patients' folders in them.

use actix_web::{web, HttpResponse};
use common::db::{now, Db};
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::FilesRules;
use super::scope;
use super::store::{self, Workspace};
use crate::appointments::model::check_id;
use crate::context::Ctx;

use super::http::{folder_view, workspace_view, FolderView, WorkspaceView};

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
        (status = 403, description = "The caller does not administer the module, or PLAN_LIMIT: the plan does not include it"),
        (status = 409, description = "The doctor already has a workspace in this module")))]
pub(super) async fn create_workspace(
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
    scope::require_some_manager(&ctx.user)?;
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
            if !scope::manages_module(conn, &c.user, &c.tenant, &req.module)? {
                return Err(ApiError::Forbidden(format!(
                    "you do not administer the module {}",
                    req.module
                )));
            }
            crate::owner_link::standing::require_module(conn, &c.tenant, &req.module)?;
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
pub(super) async fn list_workspaces(
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
    scope::require_workspace_reader(&ctx.user)?;
    let managers = ctx.can(crate::HospitalPermission::FilesManage)
        || ctx.can(crate::HospitalPermission::FilesManageModules);
    let doctor = if managers {
        q.doctor_id.clone()
    } else {
        Some(ctx.user.id.clone())
    };
    if let Some(d) = &doctor {
        check_id("doctor_id", d)?;
    }
    let module = q.module.clone();
    let c = ctx.clone();
    let (rows, total) = db
        .run(move |conn| {
            let modules = if managers {
                scope::listed_modules(conn, &c.user, &c.tenant)?
            } else {
                None
            };
            store::workspaces(
                conn,
                &c.tenant,
                doctor.as_deref(),
                module.as_deref(),
                modules.as_deref(),
                &page,
            )
        })
        .await?;
    Ok((rows.into_iter().map(workspace_view).collect(), total))
}

#[utoipa::path(get, path = "/file-workspaces/{id}", tag = "files", security(("bearer" = [])),
    summary = "One workspace (files.manage, or its doctor)",
    responses((status = 200, description = "The workspace", body = WorkspaceView),
        (status = 403, description = "The role has no file workspaces"),
        (status = 404, description = "Absent, or not the caller's")))]
pub(super) async fn get_workspace(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_workspace_reader(&ctx.user)?;
    let id = id.into_inner();
    check_id("id", &id)?;
    let c = ctx.clone();
    let w = db
        .run(move |conn| {
            let w =
                store::workspace(conn, &c.tenant, &id)?.ok_or_else(scope::not_found_workspace)?;
            if scope::may_see_workspace(conn, &c.user, &c.tenant, &w)? {
                Ok(w)
            } else {
                Err(scope::not_found_workspace())
            }
        })
        .await?;
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
    responses((status = 201, description = "The folder", body = FolderView),
        (status = 404, description = "No such workspace or patient (or not the caller's)"),
        (status = 409, description = "The patient is not on the workspace doctor's care team")))]
pub(super) async fn create_folder(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<FolderRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    check_id("workspace_id", &req.workspace_id)?;
    check_id("patient_id", &req.patient_id)?;
    scope::require_folder_creator_role(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .write(move |conn| {
            let w = store::workspace(conn, &c.tenant, &req.workspace_id)?
                .ok_or_else(scope::not_found_workspace)?;
            scope::require_folder_creator(conn, &c.user, &c.tenant, &w, &req.patient_id)?;
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
pub(super) async fn list_folders(
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

// -------------------------------------------------------------- modules

/// A medical module: its retention and who administers its files.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct ModuleView {
    /// The module's name.
    pub module: String,
    /// Retention of its patient records (years; categories may differ).
    pub retention_years: i64,
    /// Its module admins (user ids).
    pub admins: Vec<String>,
}

#[utoipa::path(get, path = "/file-modules", tag = "files", security(("bearer" = [])),
    summary = "The configured medical modules with their module admins (files.manage: all; a module admin: theirs)",
    responses((status = 200, description = "The modules", body = Vec<ModuleView>)))]
pub(super) async fn list_modules(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
) -> ApiResult<HttpResponse> {
    scope::require_some_manager(&ctx.user)?;
    let c = ctx.clone();
    let (admins, mine) = db
        .run(move |conn| {
            Ok((
                store::module_admins(conn, &c.tenant)?,
                scope::listed_modules(conn, &c.user, &c.tenant)?,
            ))
        })
        .await?;
    let views: Vec<ModuleView> = rules
        .modules()
        .filter(|m| mine.as_ref().is_none_or(|list| list.iter().any(|x| x == m)))
        .map(|m| ModuleView {
            module: m.to_string(),
            retention_years: rules
                .rule(m, "medical_records")
                .map_or(0, |r| r.retention_years),
            admins: admins
                .iter()
                .filter(|(am, _)| am == m)
                .map(|(_, u)| u.clone())
                .collect(),
        })
        .collect();
    Ok(response::ok(views))
}

#[utoipa::path(put, path = "/file-modules/{module}/admins/{user_id}", tag = "files", security(("bearer" = [])),
    summary = "Make a user whose role is module_admin an admin of a module's files (files.manage)",
    responses((status = 200, description = "Assigned (an existing assignment is kept)", body = ModuleView)))]
pub(super) async fn assign_module_admin(
    db: web::Data<Db>,
    ctx: Ctx,
    rules: web::Data<FilesRules>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (module, user) = path.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("user_id", &user)?;
    if !rules.has_module(&module) {
        return Err(ApiError::NotFound("no such module".into()));
    }
    let c = ctx.clone();
    let m = module.clone();
    let admins = db
        .write(move |conn| {
            let member = common::accounts::store::get_in_tenant(conn, &c.tenant, &user)
                .map_err(|_| ApiError::NotFound("no such user in this hospital".into()))?;
            if !member.active
                || !c
                    .user
                    .role_can(&member.role, crate::HospitalPermission::FilesManageModules)
            {
                return Err(ApiError::field(
                    "user_id",
                    "only an active module admin (role module_admin) administers a module",
                ));
            }
            if store::assign_module_admin(conn, &c.tenant, &m, &user, &c.user.id)? {
                let event = c
                    .event("file_module.admin_assign", &format!("user:{user}"))
                    .details(json!({ "module": m }));
                c.audit(conn, &event)?;
            }
            store::module_admins(conn, &c.tenant)
        })
        .await?;
    Ok(response::ok(ModuleView {
        retention_years: rules
            .rule(&module, "medical_records")
            .map_or(0, |r| r.retention_years),
        admins: admins
            .into_iter()
            .filter(|(m, _)| *m == module)
            .map(|(_, u)| u)
            .collect(),
        module,
    }))
}

#[utoipa::path(delete, path = "/file-modules/{module}/admins/{user_id}", tag = "files", security(("bearer" = [])),
    summary = "Withdraw a module admin from a module (files.manage); their access to its files ends at once",
    responses((status = 204, description = "Withdrawn"),
        (status = 404, description = "Not an admin of this module")))]
pub(super) async fn withdraw_module_admin(
    db: web::Data<Db>,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (module, user) = path.into_inner();
    scope::require_manager(&ctx.user)?;
    check_id("user_id", &user)?;
    let c = ctx.clone();
    db.write(move |conn| {
        if !store::withdraw_module_admin(conn, &c.tenant, &module, &user)? {
            return Err(ApiError::NotFound("not an admin of this module".into()));
        }
        let event = c
            .event("file_module.admin_withdraw", &format!("user:{user}"))
            .details(json!({ "module": module }));
        c.audit(conn, &event)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
