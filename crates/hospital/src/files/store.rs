//! Queries on `file_workspaces`, `file_folders`, `file_blobs`, `files` and
//! `legal_holds`.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn};
use common::response::Page;
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::scope::{Visible, VisibleFolders};
use crate::schema::{file_blobs, file_folders, file_workspaces, files, legal_holds};

/// A doctor's workspace in a module.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_workspaces)]
pub struct Workspace {
    pub id: String,
    pub tenant_id: String,
    pub module: String,
    pub doctor_id: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// A patient's folder in a doctor's workspace.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_folders)]
pub struct Folder {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub patient_id: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// A stored object: one per tenant and content.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_blobs)]
pub struct Blob {
    pub id: String,
    pub tenant_id: String,
    pub content_hash: String,
    pub key_id: String,
    pub plain_size: i64,
    pub stored_size: i64,
    pub compressed: bool,
    pub refs: i64,
    pub area: String,
    pub created_at: NaiveDateTime,
}

impl Blob {
    /// Where the object lives in the store.
    pub fn path(&self) -> String {
        object_path(&self.tenant_id, &self.area, &self.id)
    }

    /// What the object's every chunk is bound to.
    pub fn identity(&self) -> Vec<u8> {
        identity(&self.tenant_id, &self.id)
    }
}

/// The object path of blob `id` of `tenant` in `area` (`live`, `archive`).
pub fn object_path(tenant: &str, area: &str, id: &str) -> String {
    format!("tenants/{tenant}/{area}/{id}")
}

/// The associated data binding an object to its tenant and blob id.
pub fn identity(tenant: &str, id: &str) -> Vec<u8> {
    format!("bulkhead-file|{}:{tenant}|{id}", tenant.len()).into_bytes()
}

/// A file: one reference to a blob, in a folder or a workspace area.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = files)]
pub struct FileRow {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub folder_id: Option<String>,
    pub patient_id: Option<String>,
    pub module: String,
    pub category: String,
    pub name_enc: String,
    pub media_type: String,
    pub size: i64,
    pub blob_id: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
    pub retain_until: NaiveDateTime,
    pub archived_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub deleted_by: Option<String>,
    pub purged_at: Option<NaiveDateTime>,
}

/// The associated data of a file's sealed name.
pub fn name_aad(tenant: &str, id: &str) -> Aad {
    Aad::new(tenant, "files", "name", id)
}

/// Seal a file name.
pub fn seal_name(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    id: &str,
    name: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, name, &name_aad(tenant, id))
}

/// Open a file's sealed name.
pub fn open_name(conn: &mut DbConn, keyring: &Keyring, f: &FileRow) -> ApiResult<String> {
    keyring.decrypt(
        conn,
        &f.tenant_id,
        &f.name_enc,
        &name_aad(&f.tenant_id, &f.id),
    )
}

// ---- workspaces ----

/// Insert a workspace (409 if the doctor already has one in the module).
pub fn insert_workspace(conn: &mut DbConn, w: &Workspace) -> ApiResult<()> {
    diesel::insert_into(file_workspaces::table)
        .values(w)
        .execute(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict("the doctor already has a workspace in this module".into())
            }
            other => other,
        })?;
    Ok(())
}

/// Workspace `id` of `tenant`.
pub fn workspace(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Option<Workspace>> {
    Ok(file_workspaces::table
        .filter(file_workspaces::tenant_id.eq(tenant))
        .filter(file_workspaces::id.eq(id))
        .select(Workspace::as_select())
        .first(conn)
        .optional()?)
}

/// Workspaces of `tenant`, optionally one doctor's or one module's.
pub fn workspaces(
    conn: &mut DbConn,
    tenant: &str,
    doctor: Option<&str>,
    module: Option<&str>,
    modules: Option<&[String]>,
    page: &Page,
) -> ApiResult<(Vec<Workspace>, i64)> {
    let q = || {
        let mut q = file_workspaces::table
            .filter(file_workspaces::tenant_id.eq(tenant.to_string()))
            .into_boxed();
        if let Some(ms) = modules {
            q = q.filter(file_workspaces::module.eq_any(ms.to_vec()));
        }
        if let Some(d) = doctor {
            q = q.filter(file_workspaces::doctor_id.eq(d.to_string()));
        }
        if let Some(m) = module {
            q = q.filter(file_workspaces::module.eq(m.to_string()));
        }
        q
    };
    let total = q().count().get_result(conn)?;
    let rows = q()
        .order((
            file_workspaces::module.asc(),
            file_workspaces::created_at.asc(),
        ))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Workspace::as_select())
        .load(conn)?;
    Ok((rows, total))
}

// ---- folders ----

/// Create the folder of `patient` in `workspace` unless it exists; the
/// folder either way, and whether it was created now.
pub fn ensure_folder(
    conn: &mut DbConn,
    w: &Workspace,
    patient: &str,
    by: &str,
) -> ApiResult<(Folder, bool)> {
    let f = Folder {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: w.tenant_id.clone(),
        workspace_id: w.id.clone(),
        patient_id: patient.to_string(),
        created_by: by.to_string(),
        created_at: now(),
    };
    // Writes are serialised by the writer, so look-then-insert does not
    // race within a server; the unique key refuses a second one across
    // servers.
    let existing = file_folders::table
        .filter(file_folders::workspace_id.eq(&w.id))
        .filter(file_folders::patient_id.eq(patient))
        .select(Folder::as_select())
        .first(conn)
        .optional()?;
    if let Some(folder) = existing {
        return Ok((folder, false));
    }
    diesel::insert_into(file_folders::table)
        .values(&f)
        .execute(conn)?;
    Ok((f, true))
}

/// The patient's folders in every workspace `doctor` has (created where
/// missing): a doctor taking a patient on gets a folder in each of their
/// modules. Returns the folders created.
pub fn ensure_folders_of_doctor(
    conn: &mut DbConn,
    tenant: &str,
    doctor: &str,
    patient: &str,
    by: &str,
) -> ApiResult<Vec<Folder>> {
    let ws: Vec<Workspace> = file_workspaces::table
        .filter(file_workspaces::tenant_id.eq(tenant))
        .filter(file_workspaces::doctor_id.eq(doctor))
        .select(Workspace::as_select())
        .load(conn)?;
    let mut created = Vec::new();
    for w in &ws {
        let (f, new) = ensure_folder(conn, w, patient, by)?;
        if new {
            created.push(f);
        }
    }
    Ok(created)
}

/// One visible folder.
pub fn find_folder(
    conn: &mut DbConn,
    visible: VisibleFolders,
    id: &str,
) -> ApiResult<Option<Folder>> {
    Ok(visible
        .filter(file_folders::id.eq(id.to_string()))
        .select(Folder::as_select())
        .first(conn)
        .optional()?)
}

/// A page of visible folders, optionally one patient's or one workspace's.
pub fn folders(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<VisibleFolders>,
    patient: Option<&str>,
    workspace: Option<&str>,
    page: &Page,
) -> ApiResult<(Vec<Folder>, i64)> {
    let q = || -> ApiResult<VisibleFolders> {
        let mut q = visible()?;
        if let Some(p) = patient {
            q = q.filter(file_folders::patient_id.eq(p.to_string()));
        }
        if let Some(w) = workspace {
            q = q.filter(file_folders::workspace_id.eq(w.to_string()));
        }
        Ok(q)
    };
    let total = q()?.count().get_result(conn)?;
    let rows = q()?
        .order(file_folders::created_at.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(Folder::as_select())
        .load(conn)?;
    Ok((rows, total))
}

// ---- blobs ----

/// Record a freshly stored object, or — when the tenant already stores the
/// same content — take one more reference to that one. Returns the blob the
/// file uses and whether it is the new one (else the new object is
/// redundant and the caller deletes it).
pub fn insert_or_ref_blob(conn: &mut DbConn, b: &Blob) -> ApiResult<(Blob, bool)> {
    // Serialised by the writer within a server; across servers the unique
    // key on (tenant, hash) refuses the second insert (the upload answers
    // 409 and may be sent again).
    let existing = file_blobs::table
        .filter(file_blobs::tenant_id.eq(&b.tenant_id))
        .filter(file_blobs::content_hash.eq(&b.content_hash))
        .select(Blob::as_select())
        .first(conn)
        .optional()?;
    let Some(existing) = existing else {
        diesel::insert_into(file_blobs::table)
            .values(b)
            .execute(conn)?;
        return Ok((b.clone(), true));
    };
    diesel::update(file_blobs::table.filter(file_blobs::id.eq(&existing.id)))
        .set(file_blobs::refs.eq(file_blobs::refs + 1))
        .execute(conn)?;
    Ok((existing, false))
}

/// Blob `id`.
pub fn blob(conn: &mut DbConn, id: &str) -> ApiResult<Blob> {
    Ok(file_blobs::table
        .filter(file_blobs::id.eq(id))
        .select(Blob::as_select())
        .first(conn)?)
}

/// Drop one reference; returns the blob when that was the last one (its
/// row is gone and the caller deletes the object).
pub fn unref_blob(conn: &mut DbConn, id: &str) -> ApiResult<Option<Blob>> {
    diesel::update(file_blobs::table.filter(file_blobs::id.eq(id)))
        .set(file_blobs::refs.eq(file_blobs::refs - 1))
        .execute(conn)?;
    let b = blob(conn, id)?;
    if b.refs > 0 {
        return Ok(None);
    }
    diesel::delete(file_blobs::table.filter(file_blobs::id.eq(id))).execute(conn)?;
    Ok(Some(b))
}

/// `CAST(SUM(<column>) AS BIGINT)`: SUM of a BIGINT is NUMERIC on
/// PostgreSQL; the cast keeps it an i64 on both backends.
fn sum_bigint(
    column: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(&format!(
        "CAST(SUM({column}) AS BIGINT)"
    ))
}

/// Bytes stored for `tenant` (each object once) and the number of objects.
pub fn stored_bytes(conn: &mut DbConn, tenant: &str) -> ApiResult<(i64, i64)> {
    let (sum, n): (Option<i64>, i64) = file_blobs::table
        .filter(file_blobs::tenant_id.eq(tenant))
        .select((sum_bigint("stored_size"), diesel::dsl::count_star()))
        .first(conn)?;
    Ok((sum.unwrap_or(0), n))
}

/// Per (module, doctor): the files (not purged, not deleted) and their
/// bytes as uploaded (a shared object counts in every place it is used).
pub fn usage_by_workspace(
    conn: &mut DbConn,
    tenant: &str,
) -> ApiResult<Vec<(String, String, i64, i64)>> {
    let rows: Vec<(String, String, Option<i64>, i64)> = files::table
        .inner_join(file_workspaces::table.on(file_workspaces::id.eq(files::workspace_id)))
        .filter(files::tenant_id.eq(tenant))
        .filter(files::purged_at.is_null())
        .filter(files::deleted_at.is_null())
        .group_by((file_workspaces::module, file_workspaces::doctor_id))
        .select((
            file_workspaces::module,
            file_workspaces::doctor_id,
            sum_bigint("files.size"),
            diesel::dsl::count_star(),
        ))
        .order((
            file_workspaces::module.asc(),
            file_workspaces::doctor_id.asc(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(m, d, s, n)| (m, d, s.unwrap_or(0), n))
        .collect())
}

// ---- files ----

/// Insert a file.
pub fn insert_file(conn: &mut DbConn, f: &FileRow) -> ApiResult<()> {
    diesel::insert_into(files::table).values(f).execute(conn)?;
    Ok(())
}

/// One visible file.
pub fn find_file(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<FileRow>> {
    Ok(visible
        .filter(files::id.eq(id.to_string()))
        .select(FileRow::as_select())
        .first(conn)
        .optional()?)
}

/// File `id` of `tenant`, whatever its state (after a change by its caller).
pub fn file(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<FileRow> {
    Ok(files::table
        .filter(files::tenant_id.eq(tenant))
        .filter(files::id.eq(id))
        .select(FileRow::as_select())
        .first(conn)?)
}

/// What a file list is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct FileFilter {
    pub folder_id: Option<String>,
    pub workspace_id: Option<String>,
    pub patient_id: Option<String>,
    pub category: Option<String>,
    pub deleted_only: bool,
}

/// A page of visible files, newest first.
pub fn list_files(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &FileFilter,
    page: &Page,
) -> ApiResult<(Vec<FileRow>, i64)> {
    let q = || -> ApiResult<Visible> {
        let mut q = visible()?;
        if let Some(v) = &f.folder_id {
            q = q.filter(files::folder_id.eq(v.clone()));
        }
        if let Some(v) = &f.workspace_id {
            q = q.filter(files::workspace_id.eq(v.clone()));
        }
        if let Some(v) = &f.patient_id {
            q = q.filter(files::patient_id.eq(v.clone()));
        }
        if let Some(v) = &f.category {
            q = q.filter(files::category.eq(v.clone()));
        }
        if f.deleted_only {
            q = q.filter(files::deleted_at.is_not_null());
        }
        Ok(q)
    };
    let total = q()?.count().get_result(conn)?;
    let rows = q()?
        .order((files::uploaded_at.desc(), files::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(FileRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Soft-delete (only a live file; false if it changed meanwhile).
pub fn soft_delete(conn: &mut DbConn, tenant: &str, id: &str, by: &str) -> ApiResult<bool> {
    let n = diesel::update(
        files::table
            .filter(files::tenant_id.eq(tenant))
            .filter(files::id.eq(id))
            .filter(files::deleted_at.is_null())
            .filter(files::purged_at.is_null()),
    )
    .set((files::deleted_at.eq(now()), files::deleted_by.eq(by)))
    .execute(conn)?;
    Ok(n > 0)
}

/// Restore a soft-deleted file.
pub fn restore(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<bool> {
    let n = diesel::update(
        files::table
            .filter(files::tenant_id.eq(tenant))
            .filter(files::id.eq(id))
            .filter(files::deleted_at.is_not_null())
            .filter(files::purged_at.is_null()),
    )
    .set((
        files::deleted_at.eq(None::<NaiveDateTime>),
        files::deleted_by.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Mark a file purged (its name is dropped too) and release its blob;
/// returns the blob when its object must now be deleted.
pub fn purge(conn: &mut DbConn, f: &FileRow, at: NaiveDateTime) -> ApiResult<Option<Blob>> {
    let n = diesel::update(
        files::table
            .filter(files::id.eq(&f.id))
            .filter(files::purged_at.is_null()),
    )
    .set((
        files::purged_at.eq(at),
        files::name_enc.eq(""),
        files::blob_id.eq(None::<String>),
    ))
    .execute(conn)?;
    match (&f.blob_id, n) {
        (Some(blob), 1) => unref_blob(conn, blob),
        _ => Ok(None),
    }
}

// ---- legal holds ----

/// Whether `patient` is under a legal hold.
pub fn on_hold(conn: &mut DbConn, tenant: &str, patient: &str) -> ApiResult<bool> {
    let n: i64 = legal_holds::table
        .filter(legal_holds::tenant_id.eq(tenant))
        .filter(legal_holds::patient_id.eq(patient))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A legal hold.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = legal_holds)]
pub struct Hold {
    pub tenant_id: String,
    pub patient_id: String,
    pub reason_enc: String,
    pub placed_by: String,
    pub placed_at: NaiveDateTime,
}

/// The hold on `patient`, if any.
pub fn hold(conn: &mut DbConn, tenant: &str, patient: &str) -> ApiResult<Option<Hold>> {
    Ok(legal_holds::table
        .filter(legal_holds::tenant_id.eq(tenant))
        .filter(legal_holds::patient_id.eq(patient))
        .select(Hold::as_select())
        .first(conn)
        .optional()?)
}

/// Place a hold (false if one is already placed).
pub fn place_hold(conn: &mut DbConn, h: &Hold) -> ApiResult<bool> {
    if hold(conn, &h.tenant_id, &h.patient_id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(legal_holds::table)
        .values(h)
        .execute(conn)?;
    Ok(true)
}

/// Lift a hold (false if there was none).
pub fn lift_hold(conn: &mut DbConn, tenant: &str, patient: &str) -> ApiResult<bool> {
    let n = diesel::delete(
        legal_holds::table
            .filter(legal_holds::tenant_id.eq(tenant))
            .filter(legal_holds::patient_id.eq(patient)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The associated data of a hold's sealed reason.
pub fn hold_aad(tenant: &str, patient: &str) -> Aad {
    Aad::new(tenant, "legal_holds", "reason", patient)
}

/// The role of active user `id` of `tenant`, if any.
pub fn role_of(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Option<String>> {
    use common::schema::users;
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::id.eq(id))
        .filter(users::active.eq(true))
        .select(users::role)
        .first(conn)
        .optional()?)
}

/// The live patients on `user`'s care team.
pub fn patients_of(conn: &mut DbConn, tenant: &str, user: &str) -> ApiResult<Vec<String>> {
    use crate::schema::{care_team, patients};
    Ok(care_team::table
        .inner_join(patients::table)
        .filter(care_team::tenant_id.eq(tenant))
        .filter(care_team::user_id.eq(user))
        .filter(care_team::removed_at.is_null())
        .filter(patients::deleted_at.is_null())
        .select(care_team::patient_id)
        .load(conn)?)
}

/// The tenant's active doctors: (id, username), by username.
pub fn doctors(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<(String, String)>> {
    use common::schema::users;
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::role.eq("doctor"))
        .filter(users::active.eq(true))
        .order(users::username.asc())
        .select((users::id, users::username))
        .load(conn)?)
}

/// The module admins of `tenant`: (module, user id), by module.
pub fn module_admins(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<(String, String)>> {
    use crate::schema::file_module_admins as m;
    Ok(m::table
        .filter(m::tenant_id.eq(tenant))
        .order((m::module.asc(), m::user_id.asc()))
        .select((m::module, m::user_id))
        .load(conn)?)
}

/// Assign `user` to `module` (false if already assigned).
pub fn assign_module_admin(
    conn: &mut DbConn,
    tenant: &str,
    module: &str,
    user: &str,
    by: &str,
) -> ApiResult<bool> {
    use crate::schema::file_module_admins as m;
    let n: i64 = m::table
        .filter(m::tenant_id.eq(tenant))
        .filter(m::user_id.eq(user))
        .filter(m::module.eq(module))
        .count()
        .get_result(conn)?;
    if n > 0 {
        return Ok(false);
    }
    diesel::insert_into(m::table)
        .values((
            m::tenant_id.eq(tenant),
            m::user_id.eq(user),
            m::module.eq(module),
            m::assigned_by.eq(by),
            m::assigned_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Withdraw `user` from `module` (false if not assigned).
pub fn withdraw_module_admin(
    conn: &mut DbConn,
    tenant: &str,
    module: &str,
    user: &str,
) -> ApiResult<bool> {
    use crate::schema::file_module_admins as m;
    let n = diesel::delete(
        m::table
            .filter(m::tenant_id.eq(tenant))
            .filter(m::user_id.eq(user))
            .filter(m::module.eq(module)),
    )
    .execute(conn)?;
    Ok(n > 0)
}
