//! The OpenAPI 3.1 document of a server's public API, built from the
//! handlers' `#[utoipa::path]` annotations, and served at
//! `<prefix>/openapi.json` with a rendered reference page at `<prefix>/docs`.
//!
//! Annotations state what is particular to a route (its success body, its
//! 409 or 429 if it has one, whether it needs a token). What every route
//! shares is added here, once, so it cannot drift per handler:
//! - success bodies are wrapped in the envelope `{"success":true,"data":…}`,
//!   with `meta {page, page_size, total}` when the route takes `page`;
//! - error responses carry the error envelope, and the errors any route of
//!   that shape can give are added (400 for input, 401/403 for a token, 404
//!   for a path id, 413/415 for a body, 503 for the database);
//! - the bearer scheme is declared; routes without `security` need none.
//!
//! `mounted` lists the routes a server really mounts, so a test can hold
//! the document and the router to each other.

pub mod components;
pub mod mounted;
pub mod page;
pub mod schemas;

use std::collections::HashMap;

use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::server::Spec;

/// The document and its rendered page, built at the first request for
/// either, and the `Allow` header of each documented path, known from
/// start-up.
///
/// Built on demand, not at start-up: the document is assembled as a
/// `serde_json::Value` tree (about 16 MB at its peak for the hospital
/// server, for 0.4 MB of JSON), and the allocator kept that memory
/// resident for the life of the process — a quarter of the server's RSS
/// for a page most processes never serve (docs/benchmarks.md, session 17).
#[derive(Debug)]
pub struct ApiDocument {
    service: crate::service::Service,
    openapi: fn() -> utoipa::openapi::OpenApi,
    built: std::sync::OnceLock<Built>,
    /// Path template → its methods, for the `Allow` header of a 405.
    allow: HashMap<String, HeaderValue>,
}

/// The served forms of the document.
#[derive(Debug)]
struct Built {
    json: bytes::Bytes,
    html: bytes::Bytes,
}

impl ApiDocument {
    /// What `spec`'s document needs, and the `Allow` header of every
    /// documented path (from the annotations' own structures, without
    /// building the document).
    pub fn build(spec: &Spec) -> anyhow::Result<Self> {
        let prefix = spec.service.api_prefix();
        let mut allow = HashMap::new();
        let mut add = |path: String, methods: &[&str]| -> anyhow::Result<()> {
            let methods: Vec<String> = methods.iter().map(|m| m.to_uppercase()).collect();
            allow.insert(path, HeaderValue::from_str(&methods.join(", "))?);
            Ok(())
        };
        for (path, item) in Probes::openapi().paths.paths {
            add(path, &item_methods(&item))?;
        }
        for (path, item) in annotated(spec.openapi).paths.paths {
            add(format!("{prefix}{path}"), &item_methods(&item))?;
        }
        for (path, item) in components::self_paths(prefix) {
            let methods: Vec<&str> = components::METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .collect();
            add(path, &methods)?;
        }
        Ok(Self {
            service: spec.service,
            openapi: spec.openapi,
            built: std::sync::OnceLock::new(),
            allow,
        })
    }

    /// The `Allow` header for a matched actix pattern, if it is documented.
    pub fn allow(&self, pattern: &str) -> Option<HeaderValue> {
        self.allow.get(&mounted::openapi_path(pattern)).cloned()
    }

    /// The document and its page, built on first use — once: requests that
    /// come while it is being built wait for it (so a burst of first
    /// requests, which need no token, cannot build it many times at once).
    fn built(&self) -> &Built {
        self.built.get_or_init(|| {
            let doc = document_of(self.service, self.openapi);
            Built {
                json: doc.to_string().into(),
                html: page::render(&doc).into(),
            }
        })
    }
}

/// The methods of a utoipa path item, as the document lists them.
fn item_methods(item: &utoipa::openapi::PathItem) -> Vec<&'static str> {
    [
        ("get", item.get.is_some()),
        ("post", item.post.is_some()),
        ("put", item.put.is_some()),
        ("patch", item.patch.is_some()),
        ("delete", item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, present)| present.then_some(m))
    .collect()
}

/// Mount `openapi.json` and `docs` (inside the API prefix).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(super::resource("/docs").route(web::get().to(reference)));
}

/// The document or its page; built off the async workers the first time.
async fn served(doc: web::Data<ApiDocument>, html: bool) -> crate::error::ApiResult<bytes::Bytes> {
    let pick = move |b: &Built| if html { b.html.clone() } else { b.json.clone() };
    if let Some(b) = doc.built.get() {
        return Ok(pick(b));
    }
    Ok(web::block(move || pick(doc.built())).await?)
}

async fn openapi_json(doc: web::Data<ApiDocument>) -> crate::error::ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(served(doc, false).await?))
}

async fn reference(doc: web::Data<ApiDocument>) -> crate::error::ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(served(doc, true).await?))
}

/// A server without routes of its own (beyond the shared ones).
pub fn no_paths() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}

/// The probes at the root of every public listener.
#[derive(OpenApi)]
#[openapi(paths(super::health::healthz, super::health::readyz, super::health::metrics))]
struct Probes;

/// The annotations of every route the server mounts inside its prefix:
/// the shared ones (accounts, real-time) and the server's own.
fn annotated(own: fn() -> utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut api = crate::accounts::openapi::api();
    api.merge(crate::realtime::http::api());
    api.merge(own());
    api
}

/// The full document of `spec`'s server as JSON.
pub fn document(spec: &Spec) -> Value {
    document_of(spec.service, spec.openapi)
}

fn document_of(service: crate::service::Service, own: fn() -> utoipa::openapi::OpenApi) -> Value {
    let prefix = service.api_prefix();
    let api = to_value(annotated(own));
    let probes = to_value(Probes::openapi());

    let mut paths = Map::new();
    let mut schemas = Map::new();
    for (path, item) in object(&probes, "paths") {
        paths.insert(path, item);
    }
    for (path, item) in object(&api, "paths") {
        paths.insert(format!("{prefix}{path}"), item);
    }
    for doc in [&probes, &api] {
        if let Some(Value::Object(s)) = doc.pointer("/components/schemas") {
            schemas.extend(s.clone());
        }
    }
    for item in paths.values_mut() {
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            if components::METHODS.contains(&method.as_str()) {
                components::complete_operation(op);
            }
        }
    }
    paths.extend(components::self_paths(prefix));
    schemas.extend(components::schemas());

    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("Bulkhead {}-server API", service.name()),
            "version": env!("CARGO_PKG_VERSION"),
            "description": components::DESCRIPTION,
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": components::security_schemes(),
        },
    });
    components::naive_timestamps(&mut doc);
    doc
}

fn to_value(api: utoipa::openapi::OpenApi) -> Value {
    serde_json::to_value(api).unwrap_or(Value::Null)
}

fn object(doc: &Value, key: &str) -> Map<String, Value> {
    match doc.get(key) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUILDS: AtomicUsize = AtomicUsize::new(0);

    /// A document that counts its builds and takes long enough to build
    /// that the other requests of the burst arrive meanwhile.
    fn counted() -> utoipa::openapi::OpenApi {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(200));
        utoipa::openapi::OpenApiBuilder::new().build()
    }

    /// The document needs no token, so its first requests could come as a
    /// burst: they wait for one build instead of each building ~16 MB.
    #[test]
    fn a_burst_of_first_requests_builds_the_document_once() {
        let doc = ApiDocument {
            service: crate::service::Service::Hospital,
            openapi: counted,
            built: std::sync::OnceLock::new(),
            allow: HashMap::new(),
        };
        let served: Vec<usize> = std::thread::scope(|s| {
            let burst: Vec<_> = (0..16)
                .map(|_| s.spawn(|| doc.built().json.as_ptr() as usize))
                .collect();
            burst.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(BUILDS.load(Ordering::SeqCst), 1, "built once");
        assert!(
            served.windows(2).all(|w| w[0] == w[1]),
            "every request served the one document"
        );
        assert!(doc.built().json.starts_with(b"{"));
    }
}
