//! `POST /internal/v1/security-events`: hospitals and owner deliver their
//! outbox. A hospital speaks only for the tenant in its certificate.

use actix_web::{web, HttpResponse};
use common::audit::Severity;
use common::db::Db;
use common::mtls::{internal_resource, Allowed, PeerIdentity};
use common::security::{self, NewEvent};
use common::{response, ApiError, ApiResult};
use contracts::{paths, BatchReceipt, SecurityEventBatch};
use serde_json::json;

use super::store;

/// Largest batch accepted.
pub const MAX_BATCH: usize = 500;

/// Mount the internal route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        internal_resource(
            paths::SECURITY_EVENTS,
            &[Allowed::AnyHospital, Allowed::Owner],
        )
        .route(web::post().to(receive)),
    );
}

async fn receive(
    db: web::Data<Db>,
    hub: web::Data<common::realtime::Hub>,
    peer: PeerIdentity,
    body: web::Json<SecurityEventBatch>,
) -> ApiResult<HttpResponse> {
    let batch = body.into_inner();
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::field(
            "events",
            format!("at most {MAX_BATCH} per batch"),
        ));
    }
    for e in &batch.events {
        if e.id.is_empty()
            || e.id.len() > 64
            || e.kind.is_empty()
            || e.kind.len() > 64
            || e.actor.len() > 256
        {
            return Err(ApiError::validation(
                "each event needs an id (≤64), a kind (≤64) and an actor (≤256)",
            ));
        }
        if !matches!(e.severity.as_str(), "info" | "warning" | "critical") {
            return Err(ApiError::field(
                "severity",
                "must be info, warning or critical",
            ));
        }
    }
    let source = peer.0.service().name();
    let tenant = peer.0.tenant().unwrap_or("").to_string();
    let foreign = batch.events.iter().any(|e| {
        e.tenant_id
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(&tenant))
    });
    if foreign {
        let who = peer.0.uri();
        let event = NewEvent::new(
            "plane.tenant_mismatch",
            Severity::Critical,
            &who,
            None,
            json!({ "route": paths::SECURITY_EVENTS }),
        );
        db.write(move |c| security::record(c, &event)).await?;
        return Err(ApiError::Forbidden(
            "events may only name the tenant of your certificate".into(),
        ));
    }
    if batch.backlog.is_some_and(|b| b < 0) {
        return Err(ApiError::field("backlog", "must not be negative"));
    }
    let (fresh, duplicates, raised) = db
        .write(move |c| {
            let stored = store::insert_alerting(c, source, &tenant, &batch.events)?;
            crate::system::store::record_delivery(c, source, &tenant, batch.backlog)?;
            Ok(stored)
        })
        .await?;
    super::publish(&hub, &fresh);
    crate::alerts::publish(&hub, &raised);
    let accepted = fresh.len();
    Ok(response::ok(BatchReceipt {
        accepted,
        duplicates,
    }))
}
