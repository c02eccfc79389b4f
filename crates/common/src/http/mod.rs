//! HTTP plumbing shared by every public listener.

pub mod correlation;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod origin;
pub mod ratelimit;

/// A resource that answers 405 in the envelope for methods it lacks
/// (a bare `cfg.route` would fall through to 404). Every public route is
/// mounted through it, which also lets the OpenAPI test list them.
pub fn resource(path: &str) -> actix_web::Resource {
    openapi::mounted::note(path);
    actix_web::web::resource(path).default_service(actix_web::web::to(|| async {
        Err::<actix_web::HttpResponse, _>(crate::error::ApiError::MethodNotAllowed(
            "method not allowed on this route".into(),
        ))
    }))
}
