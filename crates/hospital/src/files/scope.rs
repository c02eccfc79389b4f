//! Who may see, upload, delete which file: the one place for it (the access
//! matrix of the original design on Bulkhead's roles and care teams; see
//! docs/security.md, "Patient files").
//!
//! - admin (`files.manage`): every file of the tenant, deleted ones too when
//!   asked; creates workspaces, restores, purges after retention, legal holds.
//! - module admin (`files.manage_modules`): the same for the files and
//!   workspaces of the modules they are assigned to (`file_module_admins`),
//!   and nothing of other modules; legal holds, usage and the retention job
//!   stay with the admin.
//! - doctor (`files.read_assigned` + `files.write_assigned`): the files of
//!   patients on their care team (reading also under break-the-glass) and
//!   of their own workspace area; uploads there.
//! - nurse (same permissions): the files of patients they are assigned to;
//!   a nurse has no workspace.
//! - patient (`files.read_own`): downloads their own files.
//! - lab (`files.upload_lab_results`), radiologist (`files.upload_imaging`),
//!   reception (`files.upload_consent_forms`): upload that one category into a
//!   patient's folder, and see no file.
//! - pharmacist: nothing.
//!
//! A file, folder or workspace out of scope is answered like a missing one
//! (404); a role that has no part in files at all gets 403.

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::care_team::store as care_team_store;
use crate::patients::scope as patient_scope;
use crate::schema::{file_folders, file_module_admins, file_workspaces, files, patients};
use crate::HospitalPermission as P;

/// A boxed query over the files a caller may see.
pub type Visible = files::BoxedQuery<'static, DbBackend>;
/// A boxed query over the folders a caller may see.
pub type VisibleFolders = file_folders::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role reads no file.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::FilesManage)
        || user.can(P::FilesManageModules)
        || user.can(P::FilesReadAssigned)
        || user.can(P::FilesReadOwn)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read patient files".into(),
        ))
    }
}

/// Refuse (403) a caller that is not a files administrator.
pub fn require_manager(user: &AuthUser) -> ApiResult<()> {
    user.require(P::FilesManage)
}

/// The modules the caller is a module admin of (a subquery).
macro_rules! my_modules {
    ($user:expr, $tenant:expr) => {
        file_module_admins::table
            .filter(file_module_admins::tenant_id.eq($tenant.to_string()))
            .filter(file_module_admins::user_id.eq($user.id.clone()))
            .select(file_module_admins::module)
    };
}

/// Whether the caller administers `module`: an admin all, a module admin
/// those assigned to them.
pub fn manages_module(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    module: &str,
) -> ApiResult<bool> {
    if user.can(P::FilesManage) {
        return Ok(true);
    }
    if !user.can(P::FilesManageModules) {
        return Ok(false);
    }
    let n: i64 = my_modules!(user, tenant)
        .filter(file_module_admins::module.eq(module.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Refuse (403) a caller who administers no module's files.
pub fn require_some_manager(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::FilesManage) || user.can(P::FilesManageModules) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not manage patient files".into(),
        ))
    }
}

/// The tenant's live (not deleted) patients.
macro_rules! live_patients {
    ($tenant:expr) => {
        patients::table
            .filter(patients::tenant_id.eq($tenant.to_string()))
            .filter(patients::deleted_at.is_null())
    };
}

/// The files of `tenant` the caller may see (never purged ones; deleted
/// ones only for an admin who asks).
pub fn visible(user: &AuthUser, tenant: &str, include_deleted: bool) -> ApiResult<Visible> {
    let q = files::table
        .filter(files::tenant_id.eq(tenant.to_string()))
        .filter(files::purged_at.is_null())
        .into_boxed();
    if user.can(P::FilesManage) {
        if include_deleted {
            return Ok(q);
        }
        return Ok(q.filter(files::deleted_at.is_null()).filter(
            files::patient_id
                .is_null()
                .or(patient_scope::of_live_patient!(files::patient_id, tenant)),
        ));
    }
    if user.can(P::FilesManageModules) {
        let q = q.filter(files::module.eq_any(my_modules!(user, tenant)));
        if include_deleted {
            return Ok(q);
        }
        return Ok(q.filter(files::deleted_at.is_null()).filter(
            files::patient_id
                .is_null()
                .or(patient_scope::of_live_patient!(files::patient_id, tenant)),
        ));
    }
    let q = q.filter(files::deleted_at.is_null());
    if user.can(P::FilesReadAssigned) {
        let own_workspaces = file_workspaces::table
            .filter(file_workspaces::tenant_id.eq(tenant.to_string()))
            .filter(file_workspaces::doctor_id.eq(user.id.clone()))
            .select(file_workspaces::id);
        return Ok(q.filter(
            patient_scope::of_live_patient!(files::patient_id, tenant)
                .and(patient_scope::on_care_team!(
                    files::patient_id,
                    user,
                    tenant
                ))
                .or(files::patient_id
                    .is_null()
                    .and(files::workspace_id.eq_any(own_workspaces))),
        ));
    }
    if user.can(P::FilesReadOwn) {
        let own = live_patients!(tenant)
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id.nullable());
        return Ok(q.filter(files::patient_id.eq_any(own)));
    }
    Err(ApiError::Forbidden(
        "your role may not read patient files".into(),
    ))
}

/// Refuse (403) a role that uploads no file at all.
pub fn require_any_uploader(user: &AuthUser) -> ApiResult<()> {
    if uploads_somewhere(user) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("your role may not upload files".into()))
    }
}

/// Every folder of the tenant's live patients (an uploader's lookup; the
/// per-role rule is [`require_folder_uploader`]).
pub fn all_live_folders(tenant: &str) -> ApiResult<VisibleFolders> {
    Ok(file_folders::table
        .filter(file_folders::tenant_id.eq(tenant.to_string()))
        .filter(patient_scope::of_live_patient!(
            file_folders::patient_id,
            tenant
        ))
        .into_boxed())
}

/// The permissions that let a role upload one patient-folder category and
/// nothing else (lab, radiologist, reception), with that category.
const SINGLE_CATEGORY: &[(P, &str)] = &[
    (P::FilesUploadLabResults, "lab_results"),
    (P::FilesUploadImaging, "imaging"),
    (P::FilesUploadConsentForms, "consent_forms"),
];

/// Whether the caller uploads `category` by a single-category permission.
fn uploads_category(user: &AuthUser, category: &str) -> bool {
    SINGLE_CATEGORY
        .iter()
        .any(|(p, c)| *c == category && user.can(*p))
}

/// Whether the caller holds any single-category upload permission.
fn uploads_one_category(user: &AuthUser) -> bool {
    SINGLE_CATEGORY.iter().any(|(p, _)| user.can(*p))
}

/// Whether the caller's role takes any part in uploading or listing folders.
fn uploads_somewhere(user: &AuthUser) -> bool {
    user.can(P::FilesManage)
        || user.can(P::FilesManageModules)
        || user.can(P::FilesWriteAssigned)
        || uploads_one_category(user)
}

/// The folders of `tenant` the caller may see (folders of live patients).
/// Lab and reception see folders only to upload into them, so their list
/// must name a patient (checked by the handler).
pub fn visible_folders(user: &AuthUser, tenant: &str) -> ApiResult<VisibleFolders> {
    let q = file_folders::table
        .filter(file_folders::tenant_id.eq(tenant.to_string()))
        .filter(patient_scope::of_live_patient!(
            file_folders::patient_id,
            tenant
        ))
        .into_boxed();
    if user.can(P::FilesManage) || uploads_one_category(user) {
        return Ok(q);
    }
    if user.can(P::FilesManageModules) {
        let mine = file_workspaces::table
            .filter(file_workspaces::tenant_id.eq(tenant.to_string()))
            .filter(file_workspaces::module.eq_any(my_modules!(user, tenant)))
            .select(file_workspaces::id);
        return Ok(q.filter(file_folders::workspace_id.eq_any(mine)));
    }
    if user.can(P::FilesReadAssigned) || user.can(P::FilesWriteAssigned) {
        return Ok(q.filter(patient_scope::on_care_team!(
            file_folders::patient_id,
            user,
            tenant
        )));
    }
    Err(ApiError::Forbidden(
        "your role may not see patient folders".into(),
    ))
}

/// Whether the caller sees every folder only to upload into it (lab, reception).
pub fn lists_folders_by_patient_only(user: &AuthUser) -> bool {
    !user.can(P::FilesManage) && !user.can(P::FilesReadAssigned) && uploads_one_category(user)
}

/// Refuse unless the caller may upload `category` into the folder of
/// `patient`: 403 for a role that uploads nothing or not this category, 404
/// for a patient out of scope, 403 for one seen only through break-the-glass.
pub fn require_folder_uploader(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
    category: &str,
    module: &str,
) -> ApiResult<()> {
    if !uploads_somewhere(user) {
        return Err(ApiError::Forbidden(
            "your role may not upload patient files".into(),
        ));
    }
    if user.can(P::FilesManage) || user.can(P::FilesManageModules) {
        return if manages_module(conn, user, tenant, module)? {
            Ok(())
        } else {
            Err(not_found_folder())
        };
    }
    if user.can(P::FilesWriteAssigned) {
        if !patient_scope::can_see(conn, user, tenant, patient, false)? {
            return Err(not_found_folder());
        }
        if care_team_store::is_member(conn, tenant, patient, &user.id)? {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "files are uploaded only for patients on one's care team".into(),
        ));
    }
    if uploads_category(user, category) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "your role may not upload {}",
            category.replace('_', " ")
        )))
    }
}

/// Refuse (403) a role that creates no patient folder.
pub fn require_folder_creator_role(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::FilesManage)
        || user.can(P::FilesManageModules)
        || user.can(P::FilesWriteAssigned)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not create patient folders".into(),
        ))
    }
}

/// Refuse unless the caller may file `patient` into workspace `w`: the
/// workspace must be theirs to see (404 otherwise); a files administrator of
/// its module needs the patient to exist in the tenant, a doctor to see
/// them (404 otherwise); and the patient must be on the workspace doctor's
/// care team (409).
pub fn require_folder_creator(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    w: &crate::files::store::Workspace,
    patient: &str,
) -> ApiResult<()> {
    require_folder_creator_role(user)?;
    if !may_see_workspace(conn, user, tenant, w)? {
        return Err(not_found_workspace());
    }
    let present = if manages_module(conn, user, tenant, &w.module)? {
        patient_scope::exists_in_tenant(conn, tenant, patient)?
    } else {
        patient_scope::can_see(conn, user, tenant, patient, false)?
    };
    if !present {
        return Err(patient_scope::not_found());
    }
    if !care_team_store::is_member(conn, tenant, patient, &w.doctor_id)? {
        return Err(ApiError::Conflict(
            "the patient is not on this doctor's care team; add the doctor to it first".into(),
        ));
    }
    Ok(())
}

/// The patient-folder categories the caller may upload into (an uploader of
/// one category sees only that one; a role that uploads nothing, none).
pub fn upload_categories(user: &AuthUser) -> Vec<&'static str> {
    crate::files::rules::PATIENT_CATEGORIES
        .iter()
        .copied()
        .filter(|c| {
            user.can(P::FilesManage)
                || user.can(P::FilesManageModules)
                || user.can(P::FilesWriteAssigned)
                || uploads_category(user, c)
        })
        .collect()
}

/// Refuse unless the caller may upload into workspace area of `doctor`:
/// an admin, or the doctor themself (else 404, or 403 for a role that
/// uploads nothing).
pub fn require_workspace_uploader(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    w: &crate::files::store::Workspace,
) -> ApiResult<()> {
    if !uploads_somewhere(user) {
        return Err(ApiError::Forbidden("your role may not upload files".into()));
    }
    if may_see_workspace(conn, user, tenant, w)? {
        Ok(())
    } else {
        Err(not_found_workspace())
    }
}

/// Refuse unless the caller may delete a visible file uploaded by `uploader`.
pub fn require_deleter(user: &AuthUser, uploader: &str) -> ApiResult<()> {
    if user.can(P::FilesManage) || user.can(P::FilesManageModules) {
        return Ok(());
    }
    if user.can(P::FilesWriteAssigned) {
        if user.id == uploader {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "you may delete only files you uploaded".into(),
        ));
    }
    Err(ApiError::Forbidden("your role may not delete files".into()))
}

/// Refuse (403) a role that has no workspace to see: only file managers
/// (all, or their modules') and doctors (their own) have workspaces.
pub fn require_workspace_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::FilesManage)
        || user.can(P::FilesManageModules)
        || user.can(P::FilesWriteAssigned)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role has no file workspaces".into(),
        ))
    }
}

/// Whether the caller may see workspace `w` (admin: all; a module admin:
/// those of their modules; a doctor: their own).
pub fn may_see_workspace(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    w: &crate::files::store::Workspace,
) -> ApiResult<bool> {
    if user.can(P::FilesWriteAssigned) && user.id == w.doctor_id {
        return Ok(true);
    }
    manages_module(conn, user, tenant, &w.module)
}

/// The modules whose workspaces the caller lists: `None` for all (admin),
/// else those of a module admin; `Err` for a role that lists only its own.
pub fn listed_modules(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
) -> ApiResult<Option<Vec<String>>> {
    if user.can(P::FilesManage) {
        return Ok(None);
    }
    if user.can(P::FilesManageModules) {
        return Ok(Some(my_modules!(user, tenant).load(conn)?));
    }
    Err(ApiError::Forbidden(
        "your role lists only its own workspaces".into(),
    ))
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such file".into())
}

/// The one answer for a folder absent or out of scope.
pub fn not_found_folder() -> ApiError {
    ApiError::NotFound("no such folder".into())
}

/// The one answer for a workspace absent or out of scope.
pub fn not_found_workspace() -> ApiError {
    ApiError::NotFound("no such workspace".into())
}
