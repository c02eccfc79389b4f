//! Who called an internal route, and which identities each route allows.

use std::future::{ready, Ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpRequest, ResponseError};
use serde_json::json;

use super::identity::ServiceIdentity;
use crate::audit::Severity;
use crate::db::Db;
use crate::error::ApiError;
use crate::security::{self, NewEvent};

/// The verified identity of the peer of this connection (from its
/// certificate's URI SAN, put in the connection data at accept time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity(pub ServiceIdentity);

impl FromRequest for PeerIdentity {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.conn_data::<PeerIdentity>().cloned().ok_or_else(|| {
            ApiError::Unauthenticated(
                "a client certificate with a Bulkhead identity is required".into(),
            )
        }))
    }
}

/// The SHA-256 (hex) of the peer's leaf certificate: which certificate,
/// not only which identity (one-time exchanges bind to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFingerprint(pub String);

impl FromRequest for PeerFingerprint {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.conn_data::<PeerFingerprint>().cloned().ok_or_else(|| {
                ApiError::Unauthenticated("a client certificate is required".into())
            }),
        )
    }
}

/// `HttpServer::on_connect` hook of internal listeners: put the verified
/// peer's identity (and its certificate's fingerprint) in the connection data.
pub fn on_connect(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = conn.downcast_ref::<Tls>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) else {
        return;
    };
    match super::tls::identity_of(leaf) {
        Ok(id) => {
            use sha2::Digest;
            ext.insert(PeerFingerprint(hex::encode(sha2::Sha256::digest(
                leaf.as_ref(),
            ))));
            ext.insert(PeerIdentity(id));
        }
        Err(e) => tracing::warn!(reason = %e, "peer certificate has no usable identity"),
    }
}

/// An entry of a route's allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// company-server.
    Company,
    /// dev-server.
    Dev,
    /// owner-server.
    Owner,
    /// Any hospital (each acts only for the tenant in its certificate).
    AnyHospital,
}

impl Allowed {
    fn admits(self, id: &ServiceIdentity) -> bool {
        matches!(
            (self, id),
            (Self::Company, ServiceIdentity::Company)
                | (Self::Dev, ServiceIdentity::Dev)
                | (Self::Owner, ServiceIdentity::Owner)
                | (Self::AnyHospital, ServiceIdentity::Hospital { .. })
        )
    }
}

/// An internal resource that admits only `allowed` identities (403 in the
/// envelope otherwise, raised as a `cert.refused` security event) and
/// answers 405 for methods it lacks.
pub fn internal_resource(
    path: &str,
    allowed: &'static [Allowed],
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    crate::http::resource(path).wrap(from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
        check(allowed, req, next)
    }))
}

async fn check(
    allowed: &'static [Allowed],
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let peer = req.conn_data::<PeerIdentity>().cloned();
    let admitted = peer
        .as_ref()
        .is_some_and(|p| allowed.iter().any(|a| a.admits(&p.0)));
    if admitted {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let who = peer.map(|p| p.0.uri()).unwrap_or_else(|| "unknown".into());
    let route = req.path().to_string();
    if let Some(db) = req.app_data::<web::Data<Db>>().cloned() {
        let who = who.clone();
        let event = NewEvent::new(
            "cert.refused",
            Severity::Warning,
            &who,
            None,
            json!({ "route": route, "reason": "identity not allowed on this route" }),
        );
        if let Err(e) = db.write(move |c| security::record(c, &event)).await {
            tracing::warn!(error = %e, "could not record a refused identity");
        }
    }
    tracing::warn!(peer = %who, route = %req.path(), "identity not allowed on internal route");
    let err = ApiError::Forbidden(format!("{who} may not call this route"));
    Ok(req.into_response(err.error_response()))
}

/// `GET /internal/v1/whoami`: the caller's identity as this listener sees it.
pub async fn whoami(peer: PeerIdentity) -> actix_web::HttpResponse {
    crate::response::ok(
        json!({ "identity": peer.0.uri(), "service": peer.0.service().name(), "tenant_id": peer.0.tenant() }),
    )
}

/// Mount `whoami` for `allowed` callers.
pub fn whoami_route(cfg: &mut web::ServiceConfig, allowed: &'static [Allowed]) {
    cfg.service(internal_resource(contracts::paths::WHOAMI, allowed).route(web::get().to(whoami)));
}
