//! Shapes of small answers built with `json!` (documentation only: the
//! handlers do not use these types).

use utoipa::ToSchema;

/// `GET /healthz`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// Always `ok`.
    status: String,
    /// `hospital`, `company`, `dev` or `owner`.
    service: String,
}

/// `GET /readyz`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Ready {
    /// Always `ready`.
    status: String,
    /// Only for the server's admin: the state of dependencies that do not
    /// decide readiness, by name (hospital: `insurance`, the circuit
    /// breaker's `state`, `failures`, `calls` in its window, `url_configured`).
    #[schema(value_type = Object, required = false)]
    details: Option<serde_json::Value>,
}
