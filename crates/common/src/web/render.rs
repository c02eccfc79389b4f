//! Rendering: the layout every page shares, the HTML response with its
//! Content-Security-Policy, redirects, and error pages that show the
//! envelope's message and correlation id (never a cause or a trace).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::NavLink;
use crate::error::ApiError;
use crate::http::correlation;
use crate::service::Service;

/// Scripts and styles only from this server's `/static`: no inline script
/// or style, no other origin; forms post only here; no framing. Pico's
/// form icons are `data:` SVG images.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page title (also the `<h1>`).
    pub title: String,
    /// The server's display name.
    pub server: &'static str,
    /// The signed-in user (`None` on the login page).
    pub user: Option<SignedIn>,
    /// The CSRF token the layout's logout form (and each page's forms) carry.
    pub csrf: String,
    /// The role's tasks.
    pub nav: Vec<NavLink>,
    /// The requested path (its link in the navigation is marked current).
    pub current: String,
}

/// Who is signed in, as the page header shows it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Username.
    pub username: String,
    /// Role.
    pub role: String,
}

impl Layout {
    /// The layout of a page seen before signing in.
    pub fn public(title: &str, service: Service, csrf: String) -> Self {
        Self {
            title: title.to_string(),
            server: server_name(service),
            user: None,
            csrf,
            nav: Vec::new(),
            current: String::new(),
        }
    }
}

/// How the pages name each server.
pub fn server_name(service: Service) -> &'static str {
    match service {
        Service::Hospital => "Hospital",
        Service::Company => "Company",
        Service::Dev => "Dev",
        Service::Owner => "Owner",
    }
}

/// What a page handler returns.
pub type PageResult = Result<HttpResponse, PageError>;

/// A rendered page with the page headers (status 200).
pub fn html(template: &impl Template) -> PageResult {
    html_status(StatusCode::OK, template)
}

/// A rendered page with `status` and the page headers.
pub fn html_status(status: StatusCode, template: &impl Template) -> PageResult {
    let body = template
        .render()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering a page: {e}")))?;
    Ok(with_page_headers(HttpResponse::build(status)).body(body))
}

fn with_page_headers(
    mut builder: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// A 303 to `to` (after a form post, so reloading does not post again).
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Back to the login page, dropping the session cookie `cookie` that no
/// longer opens a session.
fn signed_out(cookie: &'static str) -> HttpResponse {
    let mut res = redirect("/");
    let secure = if cookie.starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    let line = format!("{cookie}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}");
    if let Ok(v) = header::HeaderValue::from_str(&line) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Why a page was not shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// An [`ApiError`], shown as an error page (401: back to the login page).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Go elsewhere first (e.g. change the password).
    #[error("see {0}")]
    Redirect(&'static str),
    /// The session cookie (named) opens no session: sign in again.
    #[error("signed out")]
    SignedOut(&'static str),
}

impl PageError {
    fn api(&self) -> Option<&ApiError> {
        match self {
            PageError::Api(e) => Some(e),
            PageError::Redirect(_) | PageError::SignedOut(_) => None,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    code: &'a str,
    message: String,
    correlation_id: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Api(e) => e.status_code(),
            PageError::Redirect(_) | PageError::SignedOut(_) => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let err = match self.api() {
            None | Some(ApiError::Unauthenticated(_)) => {
                // Not signed in (or no longer): back to the login page.
                return match self {
                    PageError::Redirect(to) => redirect(to),
                    PageError::SignedOut(cookie) => signed_out(cookie),
                    PageError::Api(_) => redirect("/"),
                };
            }
            Some(e) => e,
        };
        if let ApiError::Internal(cause) = err {
            tracing::error!(error = %cause, "page failed");
        }
        let message = match err {
            ApiError::Internal(_) => "something went wrong on the server".to_string(),
            other => other.to_string(),
        };
        let page = ErrorPage {
            layout: Layout {
                title: "Something is wrong".into(),
                server: "Bulkhead",
                user: None,
                csrf: String::new(),
                nav: Vec::new(),
                current: String::new(),
            },
            code: err.code(),
            message,
            correlation_id: correlation::current().unwrap_or_default(),
        };
        match html_status(self.status_code(), &page) {
            Ok(res) => res,
            Err(_) => HttpResponse::build(self.status_code()).finish(),
        }
    }
}
