//! Form posts: their size limit, and a page (not a plain-text actix error)
//! when a body is not a form.

use actix_web::web;

use super::render::PageError;
use crate::error::ApiError;

/// Forms are small; anything larger is refused before it is parsed.
const FORM_LIMIT: usize = 64 * 1024;

/// The form extractor's configuration for page routes.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, _| {
            let refused = ApiError::validation(format!("this form could not be read: {err}"));
            PageError::Api(refused).into()
        })
}
