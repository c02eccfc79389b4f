//! Uploads and downloads, streamed both ways: checked on the way in (type by
//! magic bytes, size, quota), encrypted into the object store, stored once
//! per content; opened chunk by chunk on the way out, after the access-log row.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use chrono::{Months, NaiveDateTime};
use common::db::{now, Db, DbConn};
use common::objects::{Objects, OpenError, PutError};
use common::response::{self};
use common::{ApiError, ApiResult};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;

use super::rules::{
    is_patient_category, type_of_name, FileType, FilesRules, PATIENT_CATEGORIES,
    WORKSPACE_CATEGORIES,
};
use super::scope;
use super::sniff;
use super::store::{self, Blob, FileRow};
use crate::appointments::model::check_id;
use crate::context::Ctx;
use crate::owner_link::standing;

use super::http::{file_event, file_view, visible_file, FileView};

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
        (status = 403, description = "The role may not upload here, or STORAGE_QUOTA: the plan's storage is used up"),
        (status = 409, description = "The workspace's module is no longer configured"),
        (status = 413, description = "Larger than the category allows"),
        (status = 415, description = "A type the category does not allow, or content that is not what the name says")))]
pub(super) async fn upload_to_folder(
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
        (status = 403, description = "The role may not upload here, or STORAGE_QUOTA: the plan's storage is used up"),
        (status = 409, description = "The workspace's module is no longer configured"),
        (status = 413, description = "Larger than the category allows"),
        (status = 415, description = "A type the category does not allow, or content that is not what the name says")))]
pub(super) async fn upload_to_workspace(
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
            let w = store::workspace(conn, &c.tenant, &f.workspace_id)?
                .ok_or_else(scope::not_found_folder)?;
            scope::require_folder_uploader(
                conn,
                &c.user,
                &c.tenant,
                &f.patient_id,
                category,
                &w.module,
            )?;
            (w, Some(f.id), Some(f.patient_id))
        }
        Target::Workspace(id) => {
            // A role without workspaces is refused before its input is read.
            scope::require_workspace_reader(&c.user)?;
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
            scope::require_workspace_uploader(conn, &c.user, &c.tenant, &w)?;
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
pub(super) async fn remove_object(objects: &Objects, path: &str) {
    if let Err(e) = objects.delete(path).await {
        tracing::warn!(error = %format!("{e:#}"), "could not delete an unreferenced object");
    }
}

#[utoipa::path(get, path = "/files/{id}/content", tag = "files", security(("bearer" = [])),
    summary = "Download a file, streamed and decrypted; the download is in the patient's access log before the first byte leaves, and a file that fails its integrity check is not served",
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 500, description = "FILE_DAMAGED: the stored object failed its integrity check")))]
pub(super) async fn download(
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
pub(super) async fn open_blob(
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
