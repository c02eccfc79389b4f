//! The one error type of every Bulkhead API, and the policy for it.
//!
//! Every failure answers with the same envelope:
//! `{"success":false,"error":{"code","message","details","correlation_id"}}`.
//! Codes are stable strings clients may match on. Unexpected causes
//! (database, I/O, bugs) are carried as `anyhow::Error`, logged with the
//! correlation id, and answered as `INTERNAL` with a generic message: their
//! text never reaches a client. Diesel's `NotFound` maps to 404 and a pool
//! time-out to 503 so callers can tell "absent" and "overloaded" from "broken".

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::http::correlation;

/// Result alias used by handlers and stores.
pub type ApiResult<T> = Result<T, ApiError>;

/// A failure that becomes an HTTP response in the standard envelope.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input failed validation (400, or 422 never: one code for bad input).
    #[error("{message}")]
    Validation {
        /// Human-readable summary.
        message: String,
        /// Per-field problems, if any.
        details: Option<Value>,
    },
    /// No or invalid credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Refused for a standing reason with its own code (403), e.g.
    /// `TENANT_SUSPENDED`, `PLAN_LIMIT`.
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: &'static str,
        /// Human-readable reason.
        message: String,
    },
    /// A state the caller must acknowledge before the request is accepted,
    /// with its own code and details (409), e.g. `ALLERGY_WARNING`.
    #[error("{message}")]
    Warning {
        /// The stable code.
        code: &'static str,
        /// Human-readable warning.
        message: String,
        /// What the caller must acknowledge.
        details: Value,
    },
    /// The resource does not exist or is not visible to the caller (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with current state (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests (429).
    #[error("{0}")]
    RateLimited(String),
    /// The body is larger than allowed (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The content type is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The method is not allowed on this route (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A dependency (database, pool) is unavailable (503).
    #[error("{0}")]
    Unavailable(String),
    /// Stored data failed its integrity check (a tampered or damaged file)
    /// and was not served (500, `FILE_DAMAGED`); the message names no content.
    #[error("{0}")]
    Damaged(String),
    /// Anything unexpected (500). The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation error with a message and no details.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            details: None,
        }
    }

    /// A validation error naming the offending field.
    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::Validation {
            message: format!("{field}: {problem}"),
            details: Some(json!({ "field": field, "problem": problem })),
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::Refused { code, .. } => code,
            Self::Warning { code, .. } => code,
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Damaged(_) => "FILE_DAMAGED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => Self::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::Conflict("a record with these values already exists".into())
            }
            // The database dropped the connection (restart, administrator,
            // proxy): retry, as for an unreachable database. The pool
            // replaces the connection (`db::heal`).
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                tracing::warn!("a database connection was lost");
                Self::Unavailable("the database connection was lost, try again shortly".into())
            }
            // PostgreSQL refuses NUL in text ("invalid byte sequence … 0x00");
            // only client input carries one, so it is bad input, not a fault.
            Error::DatabaseError(_, info) if info.message().contains("0x00") => {
                Self::validation("text must not contain NUL characters")
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(err: r2d2::Error) -> Self {
        tracing::warn!(error = %err, "database pool exhausted or unreachable");
        Self::Unavailable("the database is unavailable, try again shortly".into())
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Refused { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::Warning { .. } => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) | Self::Damaged(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let correlation_id = correlation::current();
        let (message, details) = match self {
            Self::RateLimited(_) => {
                let mut res = HttpResponse::build(self.status_code());
                res.insert_header((actix_web::http::header::RETRY_AFTER, "60"));
                return res.json(json!({
                    "success": false,
                    "error": { "code": self.code(), "message": self.to_string(), "details": Value::Null, "correlation_id": correlation_id }
                }));
            }
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, correlation_id = %correlation_id.as_deref().unwrap_or("-"), "internal error");
                ("an internal error occurred".to_string(), Value::Null)
            }
            Self::Validation { message, details } => {
                (message.clone(), details.clone().unwrap_or(Value::Null))
            }
            Self::Warning {
                message, details, ..
            } => (message.clone(), details.clone()),
            other => (other.to_string(), Value::Null),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Self::Unavailable(_) = self {
            // Back-pressure (a full write queue, an exhausted pool): short.
            res.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        res.json(json!({
            "success": false,
            "error": {
                "code": self.code(),
                "message": message,
                "details": details,
                "correlation_id": correlation_id,
            }
        }))
    }
}
