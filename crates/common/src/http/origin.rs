//! The `Origin` extractor: IP, user agent and correlation id for audit rows.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use super::middleware::CorrelationId;
use crate::audit::Origin;
use crate::error::ApiError;

impl FromRequest for Origin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The peer address, not X-Forwarded-For: a proxy in front must be
        // configured explicitly before client-supplied headers are trusted.
        let ip = req.peer_addr().map(|a| a.ip().to_string());
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        let correlation_id = req.extensions().get::<CorrelationId>().map(|c| c.0.clone());
        ready(Ok(Origin {
            ip,
            user_agent,
            correlation_id,
        }))
    }
}
