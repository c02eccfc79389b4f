//! `POST /internal/v1/audit-anchors` (hospital, owner: their chain head) and
//! `GET /internal/v1/audit-anchors` (a server reads back its own anchors;
//! company's CLI reads any, for `audit verify --against-company`).

use actix_web::{web, HttpResponse};
use common::audit::Severity;
use common::db::Db;
use common::mtls::{internal_resource, Allowed, PeerIdentity, ServiceIdentity};
use common::response::{self, Page};
use common::security::{self, NewEvent};
use common::{ApiError, ApiResult};
use contracts::{paths, AuditHead};
use serde::Deserialize;
use serde_json::json;

use super::store;

/// Mount the internal routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        internal_resource(
            paths::AUDIT_ANCHORS,
            &[Allowed::AnyHospital, Allowed::Owner, Allowed::Company],
        )
        .route(web::post().to(receive))
        .route(web::get().to(list)),
    );
}

/// Checks a reported head.
pub fn validate(head: &AuditHead) -> ApiResult<()> {
    if head.seq < 1 {
        return Err(ApiError::field("seq", "must be at least 1"));
    }
    if head.hash.len() != 64 || !head.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field("hash", "must be 64 hex digits"));
    }
    Ok(())
}

async fn receive(
    db: web::Data<Db>,
    peer: PeerIdentity,
    body: web::Json<AuditHead>,
) -> ApiResult<HttpResponse> {
    let head = body.into_inner();
    validate(&head)?;
    if peer.0 == ServiceIdentity::Company {
        return Err(ApiError::Forbidden(
            "company does not anchor its own chain here".into(),
        ));
    }
    let source = peer.0.service().name();
    let tenant = peer.0.tenant().unwrap_or("").to_string();
    let who = peer.0.uri();
    let stored = db
        .write(move |c| {
            let r = store::insert(c, source, &tenant, head.seq, &head.hash)?;
            let refusal = match &r {
                store::Anchored::Conflict { held } => Some((
                    "audit.anchor_mismatch",
                    json!({ "seq": head.seq, "held": held, "reported": head.hash }),
                )),
                store::Anchored::Regressed { highest } => Some((
                    "audit.anchor_regressed",
                    json!({ "seq": head.seq, "highest_held": highest, "reported": head.hash }),
                )),
                store::Anchored::New | store::Anchored::Known => None,
            };
            if let Some((kind, details)) = refusal {
                // The sender's chain was rewritten (or cut back): raise it.
                let event = NewEvent::new(kind, Severity::Critical, &who, Some(&tenant), details);
                security::record(c, &event)?;
            }
            Ok(r)
        })
        .await?;
    match stored {
        store::Anchored::New => Ok(response::ok(json!({ "stored": true }))),
        store::Anchored::Known => Ok(response::ok(json!({ "stored": false }))),
        store::Anchored::Conflict { .. } => Err(ApiError::Conflict(
            "this position is anchored with another hash".into(),
        )),
        store::Anchored::Regressed { highest } => Err(ApiError::Conflict(format!(
            "an anchor at seq {highest} is held already; a chain never goes backwards"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
    tenant: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    peer: PeerIdentity,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let (service, tenant) = match &peer.0 {
        ServiceIdentity::Company => {
            let service = q
                .service
                .ok_or_else(|| ApiError::field("service", "is required"))?;
            (service, q.tenant.unwrap_or_default())
        }
        other => {
            if q.service.is_some() || q.tenant.is_some() {
                return Err(ApiError::Forbidden(
                    "a server may read only its own anchors".into(),
                ));
            }
            (
                other.service().name().to_string(),
                other.tenant().unwrap_or("").to_string(),
            )
        }
    };
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db
        .run(move |c| store::list(c, &service, &tenant, &page))
        .await?;
    Ok(response::page(rows, &page, total))
}
