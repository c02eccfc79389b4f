//! The OpenAPI document of every server, held to the routes it mounts:
//! a mounted route missing from the document, or a documented route that
//! is not mounted, fails here.

use std::collections::{BTreeMap, BTreeSet};

use common::http::openapi::mounted::{openapi_path, public_paths};
use serde_json::{json, Value};
use testkit::{spawn, Method, Reply, Service, StatusCode, TestApp};

/// Methods a route may take (the ones the document can name).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// (METHOD, OpenAPI path template) pairs.
type Routes = BTreeSet<(String, String)>;

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("request sent")
}

async fn document(app: &TestApp) -> Value {
    let res = get(app, &format!("{}/openapi.json", app.prefix())).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("the document is JSON")
}

fn documented(doc: &Value) -> Routes {
    let mut out = Routes::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for an actix pattern: `{id}` gets a made-up id and
/// `{switch:activate|deactivate}` its first alternative.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed brace") + start;
        let inner = &rest[start + 1..end];
        match inner.split_once(':') {
            Some((_, regex)) => out.push_str(regex.split('|').next().unwrap_or("x")),
            None => out.push_str("00000000-0000-4000-8000-000000000000"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every (method, path) the server really answers: each path the routes
/// mount through `resource`, probed with each method without a token or a
/// body. A method the route lacks answers 405 METHOD_NOT_ALLOWED; any
/// other answer (401, 400, 200, …) means a handler is there.
/// With each 405's `Allow` header, by path template.
async fn mounted(app: &TestApp) -> (Routes, BTreeMap<String, String>) {
    let mut out = Routes::new();
    let mut allow = BTreeMap::new();
    for pattern in public_paths(app.spec()) {
        let url = app.url(&concrete(&pattern));
        for method in METHODS {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let res = app.client.request(m, &url).send().await.unwrap();
            let header = res
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            let reply = Reply::read(res).await;
            let lacks = reply.status == StatusCode::METHOD_NOT_ALLOWED
                && reply.body["error"]["code"] == "METHOD_NOT_ALLOWED";
            if lacks {
                let header =
                    header.unwrap_or_else(|| panic!("405 without Allow: {method} {pattern}"));
                allow.insert(openapi_path(&pattern), header);
            } else {
                out.insert((method.to_string(), openapi_path(&pattern)));
            }
        }
    }
    (out, allow)
}

/// What is mounted but undocumented, and documented but not mounted.
fn differences(mounted: &Routes, documented: &Routes) -> (Routes, Routes) {
    (
        mounted.difference(documented).cloned().collect(),
        documented.difference(mounted).cloned().collect(),
    )
}

#[tokio::test]
async fn every_mounted_route_is_documented_and_every_documented_route_is_mounted() {
    for service in Service::ALL {
        let app = spawn(service).await;
        // Probed before the document is first asked for (it is built
        // then): a 405's Allow header does not wait for it.
        let (mounted, allow) = mounted(&app).await;
        let doc = document(&app).await;
        assert_eq!(doc["openapi"], "3.1.0", "{service}");

        let documented = documented(&doc);
        for (path, header) in &allow {
            let methods: Vec<&str> = METHODS
                .into_iter()
                .filter(|m| documented.contains(&(m.to_string(), path.clone())))
                .collect();
            assert_eq!(header, &methods.join(", "), "{service}: Allow of {path}");
        }
        assert!(!allow.is_empty(), "{service}: some route lacks a method");
        let (undocumented, unmounted) = differences(&mounted, &documented);
        assert!(
            undocumented.is_empty(),
            "{service}: mounted but not in the document: {undocumented:?}"
        );
        assert!(
            unmounted.is_empty(),
            "{service}: in the document but not mounted: {unmounted:?}"
        );
        // The shared routes are there on every server.
        for route in [
            ("POST", format!("{}/auth/login", app.prefix())),
            ("GET", format!("{}/users/{{id}}", app.prefix())),
            ("POST", format!("{}/users/{{id}}/{{switch}}", app.prefix())),
            ("GET", "/healthz".to_string()),
        ] {
            assert!(
                mounted.contains(&(route.0.to_string(), route.1.clone())),
                "{service}: {route:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_comparison_catches_a_route_left_out_of_the_document() {
    let app = spawn(Service::Owner).await;
    let mut doc = document(&app).await;
    let tenants = format!("{}/tenants/{{id}}", app.prefix());
    doc["paths"].as_object_mut().unwrap().remove(&tenants);
    doc["paths"]["/not-mounted"] = serde_json::json!({ "get": {} });

    let (undocumented, unmounted) = differences(&mounted(&app).await.0, &documented(&doc));
    assert_eq!(
        undocumented,
        Routes::from([
            ("GET".to_string(), tenants.clone()),
            ("PATCH".to_string(), tenants)
        ])
    );
    assert_eq!(
        unmounted,
        Routes::from([("GET".to_string(), "/not-mounted".to_string())])
    );
}

#[tokio::test]
async fn operations_declare_the_envelopes_their_errors_and_their_security() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let doc = document(&app).await;
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let public = [
            "/healthz".to_string(),
            "/readyz".to_string(),
            "/metrics".to_string(),
            format!("{}/auth/login", app.prefix()),
            format!("{}/auth/mfa/verify", app.prefix()),
            format!("{}/auth/refresh", app.prefix()),
            format!("{}/portal/enrol", app.prefix()),
            format!("{}/openapi.json", app.prefix()),
            format!("{}/docs", app.prefix()),
        ];
        for (method, path) in documented(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(
                secured,
                !public.contains(&path),
                "{service}: {method} {path} security"
            );
            let responses = op["responses"].as_object().unwrap();
            if secured {
                for status in ["401", "403"] {
                    assert!(
                        responses.contains_key(status),
                        "{service}: {method} {path} lacks {status}"
                    );
                }
            }
            for (status, response) in responses {
                let schema = &response["content"]["application/json"]["schema"];
                if status.starts_with('1') {
                    // 101 (the WebSocket upgrade) has no body at all.
                    assert!(
                        response.get("content").is_none(),
                        "{method} {path} {status}"
                    );
                    continue;
                }
                if status.starts_with('2') {
                    if path.ends_with("/openapi.json") || schema.is_null() {
                        continue;
                    }
                    assert_eq!(
                        schema["properties"]["success"]["const"], true,
                        "{method} {path} {status}"
                    );
                    let paged = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == "page");
                    assert_eq!(
                        schema["properties"].get("meta").is_some(),
                        paged,
                        "{method} {path}"
                    );
                } else {
                    assert_eq!(
                        schema["allOf"][0]["$ref"], "#/components/schemas/ErrorEnvelope",
                        "{service}: {method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_reference_page_lists_every_route_and_runs_no_script() {
    let app = spawn(Service::Hospital).await;
    let doc = document(&app).await;
    let res = get(&app, &format!("{}/docs", app.prefix())).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(res.headers().contains_key("content-security-policy"));
    let html = res.text().await.unwrap();
    assert!(!html.to_lowercase().contains("<script"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing fetched from elsewhere"
    );
    for (method, path) in documented(&doc) {
        assert!(
            html.contains(&format!("<code>{method} {path}</code>")),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_the_allowed_methods() {
    let app = spawn(Service::Company).await;
    for (method, path, allow) in [
        (Method::PUT, "/auth/login", "POST"),
        (Method::DELETE, "/users", "GET, POST"),
        (Method::TRACE, "/users/{id}", "GET, PATCH"),
    ] {
        let url = app.api_url(&concrete(path));
        let res = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
    }
}

// What schemathesis found (scripts/schemathesis.sh), kept as tests.

#[tokio::test]
async fn a_nested_record_sent_as_an_array_is_refused() {
    use testkit::hospital::{patient_body, register_patient_id};
    let app = spawn(Service::Hospital).await;
    let token = app.login("hadmin", "hadmin123").await;
    let mut body = patient_body("Ada", "Lovelace", "1990-12-10");
    body["contact"] = serde_json::json!([null, null]);
    let (status, reply) = app
        .api(Method::POST, "/patients", Some(&token), Some(body))
        .await;
    testkit::assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    let id = register_patient_id(&app, &token, patient_body("Ada", "Lovelace", "1990-12-10")).await;
    let change = serde_json::json!({ "first_name": "Augusta", "address": ["1 Road", null, "London", null, null, "UK"] });
    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/patients/{id}"),
            Some(&token),
            Some(change),
        )
        .await;
    testkit::assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // An empty array is not the empty object a portal-account request takes.
    let path = format!("/patients/{id}/portal-account");
    let (status, reply) = app
        .api(
            Method::POST,
            &path,
            Some(&token),
            Some(serde_json::json!([])),
        )
        .await;
    testkit::assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Objects and null still work.
    let change = serde_json::json!({ "contact": { "phone": "+44 20 1234", "email": null }, "address": null });
    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/patients/{id}"),
            Some(&token),
            Some(change),
        )
        .await;
    testkit::assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["contact"]["phone"], "+44 20 1234");
}

/// The request body schema of an operation, its `$ref` followed.
fn request_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let schema =
        &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
    let reference = schema["$ref"]
        .as_str()
        .or_else(|| {
            schema["oneOf"]
                .as_array()?
                .iter()
                .find_map(|s| s["$ref"].as_str())
        })
        .unwrap_or_else(|| panic!("{method} {path}: no schema reference in {schema}"));
    let name = reference.rsplit('/').next().unwrap();
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn the_portal_code_request_is_documented_as_an_object_with_no_fields() {
    // utoipa keeps one schema per component name: the MFA `CodeRequest`
    // (with its required `code`) once replaced the portal's empty request
    // of the same name, and schemathesis flagged `{}` as invalid.
    let app = spawn(Service::Hospital).await;
    let doc = document(&app).await;
    let schema = request_schema(&doc, "/api/v1/tenant/patients/{id}/portal-account", "post");
    assert_eq!(schema["maxProperties"], 0, "{schema}");
    assert!(schema.get("required").is_none(), "{schema}");
}

#[tokio::test]
async fn refusals_with_codes_of_their_own_document_those_codes() {
    // A 409 may be CONFLICT or a code the operation names (LEGAL_HOLD,
    // ALLERGY_WARNING): a validator must accept every one of them.
    let app = spawn(Service::Hospital).await;
    let doc = document(&app).await;
    let code = |path: &str, method: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["allOf"][1]["properties"]["error"]["properties"]["code"]
            .clone()
    };
    let purge = code("/api/v1/tenant/files/{id}/purge", "post", "409");
    assert_eq!(
        purge["enum"],
        json!(["CONFLICT", "RETENTION_ACTIVE", "LEGAL_HOLD"]),
        "{purge}"
    );
    let rx = code("/api/v1/tenant/prescriptions", "post", "409");
    assert_eq!(rx["enum"], json!(["CONFLICT", "ALLERGY_WARNING"]), "{rx}");
    let damaged = code("/api/v1/tenant/files/{id}/content", "get", "500");
    assert_eq!(
        damaged["enum"],
        json!(["INTERNAL", "FILE_DAMAGED"]),
        "{damaged}"
    );
    let plain = code("/api/v1/tenant/departments", "get", "401");
    assert_eq!(plain["const"], "UNAUTHENTICATED", "{plain}");
}

#[tokio::test]
async fn a_portal_code_request_that_is_not_json_is_refused() {
    use testkit::hospital::{patient_body, register_patient_id};
    let app = spawn(Service::Hospital).await;
    let token = app.login("hadmin", "hadmin123").await;
    let id = register_patient_id(&app, &token, patient_body("Ada", "Lovelace", "1990-12-10")).await;
    let url = app.url(&format!("{}/patients/{id}/portal-account", app.prefix()));
    for body in [" ", "\n", "[]", "null"] {
        let res = app
            .client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let reply = Reply::read(res).await;
        testkit::assert_error(
            reply.status,
            &reply.body,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        );
    }
}
