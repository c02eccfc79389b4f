//! What every operation of every server shares: the two envelopes, the
//! error codes per status, the bearer scheme, and the rules that add the
//! errors a route of a given shape can answer.

use serde_json::{json, Map, Value};

/// The operations of a path item, by their key in the document.
pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document's introduction (also the top of the reference page).
pub const DESCRIPTION: &str = "Every answer is a JSON envelope: \
`{\"success\":true,\"data\":…}` (lists add `meta {page, page_size, total}`) or \
`{\"success\":false,\"error\":{\"code\",\"message\",\"details\",\"correlation_id\"}}`. \
Error codes are stable strings, one per HTTP status. Authenticated routes take \
`Authorization: Bearer <token>` from `POST …/auth/login`. Timestamps are UTC \
without an offset (`YYYY-MM-DDTHH:MM:SS[.ffffff]`).";

/// The error code each status answers with (`ApiError::code`).
const ERRORS: [(&str, &str, &str); 11] = [
    (
        "400",
        "VALIDATION_ERROR",
        "Bad input: a field, the path, the query or the body",
    ),
    (
        "401",
        "UNAUTHENTICATED",
        "No valid bearer token (missing, expired, revoked, or for another server or tenant)",
    ),
    (
        "403",
        "FORBIDDEN",
        "The token's role lacks the permission, or the password must be changed first",
    ),
    (
        "404",
        "NOT_FOUND",
        "No such resource, or not visible to the caller",
    ),
    (
        "405",
        "METHOD_NOT_ALLOWED",
        "The route does not take this method",
    ),
    (
        "409",
        "CONFLICT",
        "The request conflicts with the current state",
    ),
    (
        "413",
        "PAYLOAD_TOO_LARGE",
        "The body is larger than the server takes",
    ),
    (
        "415",
        "UNSUPPORTED_MEDIA_TYPE",
        "The body is not application/json",
    ),
    (
        "429",
        "RATE_LIMITED",
        "Too many attempts; retry after the Retry-After seconds",
    ),
    ("500", "INTERNAL", "Something went wrong on the server"),
    (
        "503",
        "UNAVAILABLE",
        "The database is unavailable or overloaded; retry after the Retry-After seconds",
    ),
];

/// Operations that never touch the database (so never answer 503).
const NO_DATABASE: [&str; 2] = ["healthz", "metrics"];

/// A timestamp as the API writes it: UTC, no offset (chrono's naive form).
const NAIVE_TIMESTAMP: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?$";

/// The shared component schemas.
pub fn schemas() -> Map<String, Value> {
    let codes: Vec<&str> = ERRORS
        .iter()
        .map(|(_, code, _)| *code)
        .chain(["INTERNAL"])
        .collect();
    let mut m = Map::new();
    m.insert(
        "ErrorCode".into(),
        json!({ "type": "string", "enum": codes, "description": "Stable, machine-readable; one per HTTP status." }),
    );
    m.insert(
        "ErrorBody".into(),
        json!({
            "type": "object",
            "required": ["code", "message", "details", "correlation_id"],
            "properties": {
                "code": { "$ref": "#/components/schemas/ErrorCode" },
                "message": { "type": "string", "description": "For people; never carries internals." },
                "details": { "description": "Per-field problems (`{field, problem}`), or null." },
                "correlation_id": { "type": ["string", "null"], "description": "Also in the x-correlation-id header and the server's log." },
            },
        }),
    );
    m.insert(
        "ErrorEnvelope".into(),
        json!({
            "type": "object",
            "required": ["success", "error"],
            "properties": {
                "success": { "const": false },
                "error": { "$ref": "#/components/schemas/ErrorBody" },
            },
        }),
    );
    m.insert(
        "PageMeta".into(),
        json!({
            "type": "object",
            "required": ["page", "page_size", "total"],
            "properties": {
                "page": { "type": "integer", "minimum": 1 },
                "page_size": { "type": "integer", "minimum": 1, "maximum": 100 },
                "total": { "type": "integer", "minimum": 0 },
            },
        }),
    );
    m
}

/// The bearer scheme of `security(("bearer" = []))`.
pub fn security_schemes() -> Value {
    json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST …/auth/login (or …/auth/password).",
        }
    })
}

/// The document's own routes (not annotated handlers: they serve it).
pub fn self_paths(prefix: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        format!("{prefix}/openapi.json"),
        json!({ "get": {
            "tags": ["reference"],
            "operationId": "openapi_json",
            "summary": "This OpenAPI document",
            "responses": { "200": {
                "description": "The OpenAPI 3.1 document (not enveloped)",
                "content": { "application/json": { "schema": { "type": "object" } } },
            } },
        } }),
    );
    m.insert(
        format!("{prefix}/docs"),
        json!({ "get": {
            "tags": ["reference"],
            "operationId": "reference_page",
            "summary": "This document as an HTML page",
            "responses": { "200": {
                "description": "The rendered reference (no script)",
                "content": { "text/html": { "schema": { "type": "string" } } },
            } },
        } }),
    );
    m
}

/// Wrap the success bodies in the envelope and add the errors the
/// operation's shape can answer; every error gets the error envelope.
pub fn complete_operation(op: &mut Value) {
    let params: Vec<Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let in_path = params.iter().any(|p| p["in"] == "path");
    let paged = params
        .iter()
        .any(|p| p["in"] == "query" && p["name"] == "page");
    let body = op.get("requestBody").is_some();
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|req| req.as_object().is_some_and(|r| !r.is_empty()))
        });
    let uses_db = !op
        .get("operationId")
        .and_then(Value::as_str)
        .is_some_and(|id| NO_DATABASE.contains(&id));

    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if status.starts_with('2') {
            if let Some(schema) = response.pointer_mut("/content/application~1json/schema") {
                *schema = success_envelope(schema.take(), paged);
            }
        }
    }
    for (status, wanted) in [
        ("400", !params.is_empty() || body),
        ("401", secured),
        ("403", secured),
        ("404", in_path),
        ("413", body),
        ("415", body),
        ("503", uses_db),
    ] {
        if wanted && !responses.contains_key(status) {
            responses.insert(status.to_string(), json!({}));
        }
    }
    for (status, response) in responses.iter_mut() {
        if let Some((_, code, text)) = ERRORS.iter().find(|(s, _, _)| s == status) {
            error_response(
                response,
                code,
                text,
                matches!(status.as_str(), "429" | "503"),
            );
        }
    }
}

fn success_envelope(data: Value, paged: bool) -> Value {
    let mut required = vec!["success", "data"];
    let mut properties = json!({ "success": { "const": true }, "data": data });
    if paged {
        required.push("meta");
        properties["meta"] = json!({ "$ref": "#/components/schemas/PageMeta" });
    }
    json!({ "type": "object", "required": required, "properties": properties })
}

/// The codes of their own a response's description names besides the
/// status's usual one (`LEGAL_HOLD`, `ALLERGY_WARNING`, …): upper-case words
/// with an underscore.
fn codes_named(description: &str) -> Vec<String> {
    let mut codes: Vec<String> = description
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| {
            w.len() >= 4 && w.contains('_') && w.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .map(str::to_string)
        .collect();
    codes.dedup();
    codes
}

fn error_response(response: &mut Value, code: &str, text: &str, retry_after: bool) {
    let Some(r) = response.as_object_mut() else {
        return;
    };
    let given = r
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut codes = vec![code.to_string()];
    codes.extend(codes_named(given).into_iter().filter(|c| c != code));
    let code_schema = if codes.len() == 1 {
        json!({ "const": code })
    } else {
        json!({ "enum": codes })
    };
    let description = match r.get("description").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{d} ({code})"),
        _ => format!("{text} ({code})"),
    };
    r.insert("description".into(), Value::String(description));
    r.insert(
        "content".into(),
        json!({ "application/json": { "schema": {
            "allOf": [
                { "$ref": "#/components/schemas/ErrorEnvelope" },
                { "properties": { "error": { "properties": { "code": code_schema } } } },
            ],
        } } }),
    );
    if retry_after {
        r.insert(
            "headers".into(),
            json!({ "Retry-After": { "description": "Seconds to wait", "schema": { "type": "integer" } } }),
        );
    }
}

/// chrono's naive timestamps carry no offset, so they are not RFC 3339
/// `date-time`s: describe them by their pattern instead (a validator that
/// checks formats would otherwise refuse every answer that has one).
pub fn naive_timestamps(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("format").and_then(Value::as_str) == Some("date-time") {
                m.remove("format");
                m.insert("pattern".into(), Value::String(NAIVE_TIMESTAMP.into()));
            }
            m.values_mut().for_each(naive_timestamps);
        }
        Value::Array(a) => a.iter_mut().for_each(naive_timestamps),
        _ => {}
    }
}
