//! The plane routes of the online copy, for hospitals only and always for
//! the tenant of the caller's certificate:
//!
//! - `POST /internal/v1/backups`: store one sealed batch (numbers without
//!   gaps; a retry of a stored batch is a duplicate, a different batch
//!   under a stored number a conflict);
//! - `GET /internal/v1/backups?after=&limit=`: the stored headers, in order
//!   (the restore lists with it);
//! - `GET /internal/v1/backups/{batch_no}`: one batch as it was posted.

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use common::audit::Severity;
use common::db::{now, Db};
use common::mtls::{internal_resource, Allowed, PeerIdentity};
use common::response;
use common::security::{self, NewEvent};
use common::{ApiError, ApiResult};
use contracts::backup::{BackupBatch, BackupReceipt, MAX_BATCH_BYTES};
use contracts::paths;
use serde::Deserialize;
use serde_json::json;

use super::store::{self, NewBatch};
use super::validate;
use crate::tenants::internal::refuse;
use crate::tenants::store as tenants;

/// Most headers one list answer carries.
pub const MAX_LIST: i64 = 1000;
/// Headers a list answers when not told.
pub const DEFAULT_LIST: i64 = 100;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        internal_resource(paths::BACKUPS, &[Allowed::AnyHospital])
            .route(web::post().to(post))
            .route(web::get().to(list)),
    )
    .service(internal_resource(paths::BACKUP, &[Allowed::AnyHospital]).route(web::get().to(get)));
}

/// The certificate's tenant (the route admits hospitals only).
fn tenant_of(peer: &PeerIdentity) -> ApiResult<String> {
    peer.0
        .tenant()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Forbidden("only a hospital keeps an online copy".into()))
}

/// What storing a batch came to.
enum Outcome {
    /// The tenant is not registered.
    Unknown,
    /// Stored now.
    Stored,
    /// Already stored with the same bytes.
    Duplicate,
    /// Already stored with other bytes (nothing stored; raised).
    Conflict,
    /// Not the next number: the next is this.
    Gap(i64),
}

async fn post(
    db: web::Data<Db>,
    peer: PeerIdentity,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let who = peer.0.uri();
    let cert_tenant = tenant_of(&peer)?;
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "content type must be application/json".into(),
        ));
    }
    let too_large =
        || ApiError::PayloadTooLarge(format!("a backup batch is at most {MAX_BATCH_BYTES} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BATCH_BYTES as u64) {
        return Err(too_large());
    }
    let body = payload
        .to_bytes_limited(MAX_BATCH_BYTES)
        .await
        .map_err(|_| too_large())?
        .map_err(|e| ApiError::validation(format!("unreadable request body: {e}")))?;
    // Parsing, checking and hashing up to 32 MiB: off the async workers.
    let (batch, body) = web::block(move || -> ApiResult<(BackupBatch, web::Bytes)> {
        Ok((validate::parse(&body)?, body))
    })
    .await??;
    if !batch.tenant_id.eq_ignore_ascii_case(&cert_tenant) {
        // A hospital shipping for another tenant: raise it, store nothing.
        refuse(
            &db,
            "plane.tenant_mismatch",
            Severity::Critical,
            &who,
            json!({ "route": paths::BACKUPS, "certificate_tenant": cert_tenant, "claimed_tenant": batch.tenant_id.chars().take(64).collect::<String>(), "batch_no": batch.batch_no }),
        )
        .await?;
        return Err(ApiError::Forbidden(
            "a batch may only be shipped for the tenant of your certificate".into(),
        ));
    }
    let (batch, sha256, body) =
        web::block(move || -> ApiResult<(BackupBatch, String, web::Bytes)> {
            validate::check(&batch)?;
            let sha256 = validate::digest(&body);
            Ok((batch, sha256, body))
        })
        .await??;
    let batch_no = batch.batch_no;
    let bytes = i64::try_from(body.len()).unwrap_or(i64::MAX);
    let row = NewBatch {
        tenant_id: cert_tenant.clone(),
        batch_no,
        first_seq: batch.first_seq,
        last_seq: batch.last_seq,
        rows: batch.rows,
        bytes,
        sha256,
        created_at: batch.created_at,
        received_at: now(),
        body: Vec::from(body),
    };
    let event_who = who.clone();
    let t = cert_tenant.clone();
    let outcome = db
        .write(move |c| {
            if tenants::find_row(c, &t)?.is_none() {
                return Ok(Outcome::Unknown);
            }
            let highest = store::highest(c, &t)?;
            let stored = if batch_no == highest + 1 {
                if store::insert(c, &row)? {
                    return Ok(Outcome::Stored);
                }
                // Lost a race for the number: judge against the winner.
                store::digest(c, &t, batch_no)?
            } else if batch_no <= highest {
                store::digest(c, &t, batch_no)?
            } else {
                return Ok(Outcome::Gap(highest + 1));
            };
            match stored {
                Some(d) if d == row.sha256 => Ok(Outcome::Duplicate),
                Some(d) => {
                    let event = NewEvent::new(
                        "backup.conflict",
                        Severity::Critical,
                        &event_who,
                        None,
                        json!({ "route": paths::BACKUPS, "certificate_tenant": t, "batch_no": batch_no, "stored_sha256": d, "posted_sha256": row.sha256 }),
                    );
                    security::record(c, &event)?;
                    Ok(Outcome::Conflict)
                }
                // Below the highest but absent: only if batches were
                // removed by hand; the number is not the next one.
                None => Ok(Outcome::Gap(highest + 1)),
            }
        })
        .await?;
    let receipt = |duplicate| BackupReceipt {
        batch_no,
        duplicate,
    };
    match outcome {
        Outcome::Stored => {
            tracing::info!(tenant = %cert_tenant, batch_no, bytes, "backup batch stored");
            Ok(response::created(receipt(false)))
        }
        Outcome::Duplicate => Ok(response::ok(receipt(true))),
        Outcome::Conflict => Err(ApiError::Warning {
            code: "BACKUP_CONFLICT",
            message: format!(
                "batch {batch_no} is already stored with different contents; nothing was stored"
            ),
            details: json!({ "batch_no": batch_no }),
        }),
        Outcome::Gap(expected) => Err(ApiError::Warning {
            code: "BACKUP_GAP",
            message: format!(
                "batch {batch_no} does not follow the stored ones: the next batch owner expects is {expected}"
            ),
            details: json!({ "batch_no": batch_no, "expected_batch_no": expected }),
        }),
        Outcome::Unknown => {
            refuse(
                &db,
                "plane.unknown_tenant",
                Severity::Warning,
                &who,
                json!({ "route": paths::BACKUPS, "certificate_tenant": cert_tenant }),
            )
            .await?;
            Err(ApiError::NotFound(
                "this tenant is not registered with owner".into(),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    peer: PeerIdentity,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let tenant = tenant_of(&peer)?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::field("after", "must be 0 or more"));
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIST);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 1000"));
    }
    let rows = db
        .run(move |c| store::after(c, &tenant, after, limit))
        .await?;
    Ok(response::ok(rows))
}

async fn get(
    db: web::Data<Db>,
    peer: PeerIdentity,
    batch_no: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let tenant = tenant_of(&peer)?;
    let n = batch_no.into_inner();
    let body = db
        .run(move |c| store::body(c, &tenant, n))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("batch {n} is not stored")))?;
    // The batch exactly as posted (it was checked to be one when stored),
    // in the usual envelope, without parsing 32 MiB again.
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend_from_slice(br#"{"success":true,"data":"#);
    out.extend_from_slice(&body);
    out.push(b'}');
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(out))
}
