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

/// The document and its rendered page, built once at start-up.
#[derive(Debug, Clone)]
pub struct ApiDocument {
    json: String,
    html: String,
    /// Path template → its methods, for the `Allow` header of a 405.
    allow: HashMap<String, HeaderValue>,
}

impl ApiDocument {
    /// Build the document of `spec`'s server and render its page.
    pub fn build(spec: &Spec) -> anyhow::Result<Self> {
        let doc = document(spec);
        let mut allow = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let methods: Vec<String> = components::METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_uppercase())
                .collect();
            allow.insert(path.clone(), HeaderValue::from_str(&methods.join(", "))?);
        }
        Ok(Self {
            json: serde_json::to_string(&doc)?,
            html: page::render(&doc),
            allow,
        })
    }

    /// The `Allow` header for a matched actix pattern, if it is documented.
    pub fn allow(&self, pattern: &str) -> Option<HeaderValue> {
        self.allow.get(&mounted::openapi_path(pattern)).cloned()
    }
}

/// Mount `openapi.json` and `docs` (inside the API prefix).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(super::resource("/docs").route(web::get().to(reference)));
}

async fn openapi_json(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.json.clone())
}

async fn reference(doc: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(doc.html.clone())
}

/// A server without routes of its own (beyond the shared ones).
pub fn no_paths() -> utoipa::openapi::OpenApi {
    utoipa::openapi::OpenApiBuilder::new().build()
}

/// The probes at the root of every public listener.
#[derive(OpenApi)]
#[openapi(paths(super::health::healthz, super::health::readyz, super::health::metrics))]
struct Probes;

/// The full document of `spec`'s server as JSON.
pub fn document(spec: &Spec) -> Value {
    let prefix = spec.service.api_prefix();
    let mut api = crate::accounts::openapi::api();
    api.merge(crate::realtime::http::api());
    api.merge((spec.openapi)());
    let api = to_value(api);
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
            "title": format!("Bulkhead {}-server API", spec.service.name()),
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
