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
}
