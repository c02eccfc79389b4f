//! The middleware every public listener runs: correlation id, request
//! tracing, metrics, and the envelope for errors actix produces itself.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, HttpMessage, ResponseError};
use tracing::Instrument;

use super::correlation;
use super::metrics::Metrics;
use crate::audit::Severity;
use crate::auth::AuthUser;
use crate::db::Db;
use crate::error::ApiError;
use crate::security::{self, NewEvent};
use serde_json::json;

/// The correlation id of a request, in its extensions.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// Headers every response carries.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .add(("cross-origin-opener-policy", "same-origin"))
}

/// Correlation id, request span and log line, metrics, error envelope.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = correlation::accept_or_generate(
        req.headers()
            .get(correlation::HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // The path only: query strings may carry search terms (PHI).
    let span =
        tracing::info_span!("request", correlation_id = %id, method = %method, path = %req.path());
    let result = correlation::scope(id.clone(), next.call(req).instrument(span.clone())).await;
    let mut res = match result {
        Ok(res) => {
            correlation::scope(id.clone(), async {
                envelope_bare_errors(res.map_into_boxed_body())
            })
            .await
        }
        Err(err) => return Err(err),
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static(correlation::HEADER), v);
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    if res.status() == actix_web::http::StatusCode::FORBIDDEN {
        record_refusal(&res, &route).await;
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(m) = metrics {
        m.observe(&method, &route, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(route = %route, status, latency_ms = (elapsed * 1000.0) as u64, "request done");
    });
    Ok(res)
}

/// Responses actix builds on its own (unknown route, wrong method, payload
/// errors) have no JSON body: give them the standard envelope.
fn envelope_bare_errors(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Web pages render their own errors (message and correlation id).
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        return res;
    }
    let err = match status.as_u16() {
        404 => ApiError::NotFound("no such route".into()),
        405 => ApiError::MethodNotAllowed("method not allowed on this route".into()),
        413 => ApiError::PayloadTooLarge("request body too large".into()),
        415 => ApiError::UnsupportedMediaType("content type must be application/json".into()),
        401 => ApiError::Unauthenticated("authentication required".into()),
        403 => ApiError::Forbidden("forbidden".into()),
        429 => ApiError::RateLimited("too many requests".into()),
        503 => ApiError::Unavailable("service unavailable".into()),
        s if s < 500 => ApiError::validation("bad request"),
        _ => ApiError::Internal(anyhow::anyhow!("unenveloped {status} response")),
    };
    let (req, old) = res.into_parts();
    let mut new = err.error_response();
    // Keep headers such as `Allow` that the original carried.
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *new.status_mut() = status;
    ServiceResponse::new(req, new)
}

/// A permission refusal of an authenticated user becomes a security event.
async fn record_refusal(res: &ServiceResponse<BoxBody>, route: &str) {
    let user = res.request().extensions().get::<AuthUser>().cloned();
    let db = res.request().app_data::<web::Data<Db>>().cloned();
    let (Some(user), Some(db)) = (user, db) else {
        return;
    };
    let event = NewEvent::new(
        "authz.denied",
        Severity::Warning,
        &user.id,
        user.tenant(),
        json!({ "role": user.role, "route": route, "method": res.request().method().as_str() }),
    );
    if let Err(e) = db.write(move |c| security::record(c, &event)).await {
        tracing::warn!(error = %e, "could not record a permission refusal");
    }
}
