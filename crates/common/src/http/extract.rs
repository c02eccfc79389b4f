//! Extractor configuration so that bad JSON, bad paths and bad queries
//! answer in the envelope (actix's defaults are plain text).

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;

use crate::error::ApiError;

/// JSON bodies: size limit, content type and syntax errors as 4xx envelopes.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let api = match &err {
                JsonPayloadError::ContentType => {
                    ApiError::UnsupportedMediaType("content type must be application/json".into())
                }
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    ApiError::PayloadTooLarge("request body too large".into())
                }
                JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Validation {
                    message: format!("invalid request body: {e}"),
                    details: None,
                },
                JsonPayloadError::Deserialize(e) => {
                    ApiError::validation(format!("malformed JSON: {e}"))
                }
                other => ApiError::validation(format!("unreadable request body: {other}")),
            };
            api.into()
        })
}

/// Path parameters.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::validation(format!("invalid path parameter: {err}")).into()
    })
}

/// Query strings.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, req| {
        let api = ApiError::validation(format!("invalid query string: {err}"));
        // A page's bad query is shown as a page; the API's as the envelope.
        if crate::web::wants_page(req) {
            crate::web::PageError::Api(api).into()
        } else {
            api.into()
        }
    })
}

/// Raw payloads (anything not JSON).
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}
