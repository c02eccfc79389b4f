//! `POST /internal/v1/reports`: a hospital submits a de-identified report
//! of the tenant in its certificate.
//!
//! The body is read as bytes (at most [`MAX_BODY`]) and stored exactly as
//! received, once per (tenant, report id): the same bytes again are an
//! accepted duplicate (200), other bytes under a held id a conflict (409).
//! A report that does not decode as the wire type is refused (400) with a
//! message that never echoes what was sent; one naming another tenant is
//! refused (403) with a critical `plane.tenant_mismatch` event and nothing
//! stored.

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin, Severity};
use common::db::Db;
use common::mtls::{internal_resource, Allowed, PeerIdentity};
use common::security::{self, NewEvent};
use common::{response, ApiError, ApiResult};
use contracts::paths;
use contracts::report::{DeidentifiedReport, ReportReceipt};
use serde_json::json;

use super::scope;
use super::store::{self, Received};

/// Largest report body accepted (bytes).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Mount the internal route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        internal_resource(paths::REPORTS, &[Allowed::AnyHospital])
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::post().to(receive)),
    );
}

/// Decode without echoing the input: serde's messages may quote a value
/// (an unknown variant), and a value here could be anything a broken or
/// malicious sender put in.
fn decode(bytes: &[u8]) -> ApiResult<DeidentifiedReport> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::validation(format!(
            "the body is not a de-identified report (contracts::report): {:?} error at line {}, column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

async fn receive(
    db: web::Data<Db>,
    peer: PeerIdentity,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let report = decode(&body)?;
    let peer_tenant = peer.0.tenant().map(str::to_string);
    if !scope::may_submit(peer_tenant.as_deref(), report.tenant_id.as_str()) {
        let who = peer.0.uri();
        let event = NewEvent::new(
            "plane.tenant_mismatch",
            Severity::Critical,
            &who,
            None,
            json!({ "route": paths::REPORTS }),
        );
        db.write(move |c| security::record(c, &event)).await?;
        return Err(ApiError::Forbidden(
            "a report may only name the tenant of your certificate".into(),
        ));
    }
    report.validate().map_err(ApiError::validation)?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::validation("the body is not UTF-8"))?;
    let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, &body));
    // The certificate's tenant, in the report's canonical (lower-case) form.
    let tenant = report.tenant_id.to_string();
    let who = peer.0.uri();
    let report_id = report.report_id.to_string();
    let (t, id, s) = (tenant.clone(), report_id.clone(), sha.clone());
    let outcome = db
        .write(move |c| {
            let received = store::receive(c, &t, &report, &text, &s)?;
            let (action, outcome, severity) = match received {
                Received::New => ("report.receive", "success", Severity::Info),
                Received::Duplicate => ("report.receive", "duplicate", Severity::Info),
                Received::Conflict => ("report.receive", "denied", Severity::Warning),
            };
            let event = Event::new(&who, "hospital", action, &format!("report:{id}"))
                .tenant(Some(&t))
                .outcome(outcome)
                .severity(severity)
                .details(json!({ "sha256": s, "from": report.from.to_string(), "to": report.to.to_string() }));
            audit::append(c, &event, &Origin::default())?;
            if matches!(received, Received::Conflict) {
                security::record(
                    c,
                    &NewEvent::new(
                        "report.conflict",
                        Severity::Warning,
                        &who,
                        Some(&t),
                        json!({ "report_id": id }),
                    ),
                )?;
            }
            Ok(received)
        })
        .await?;
    match outcome {
        Received::New => Ok(response::created(ReportReceipt {
            report_id,
            duplicate: false,
        })),
        Received::Duplicate => Ok(response::ok(ReportReceipt {
            report_id,
            duplicate: true,
        })),
        Received::Conflict => Err(ApiError::Conflict(
            "another report with this id and different content is already held".into(),
        )),
    }
}
