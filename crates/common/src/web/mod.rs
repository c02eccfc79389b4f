//! The web interface kernel: server-rendered pages (askama templates, htmx
//! and pico.css served from the binary under `/static`, no inline script or
//! style), server-side sessions in an `HttpOnly; SameSite=Strict` cookie,
//! a CSRF token on every state-changing form, and the pages every server
//! has (login, logout, password change, home, users, roles, audit log, your
//! sessions).
//!
//! Pages go through the same login rules, authorization and audit as the
//! API; the API keeps accepting bearer tokens and never accepts the cookie
//! (so no API route is reachable by a cross-site form).

pub mod assets;
pub mod audit_log;
pub mod extract;
pub mod form;
pub mod home;
pub mod login;
pub mod my_sessions;
pub mod pager;
pub mod password;
pub mod render;
pub mod roles;
pub mod session;
pub mod users;

use actix_web::web;

use crate::auth::AuthUser;

pub use extract::WebUser;
pub use render::{html, redirect, Layout, PageError, PageResult};

/// One link of a role's home page and navigation bar.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Where it goes (a path of this server).
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
    /// One sentence: what the role does there.
    pub hint: &'static str,
}

/// What a server adds to the kernel's pages.
#[derive(Debug, Clone, Copy)]
pub struct Pages {
    /// Its own page routes (mounted at the root, beside the kernel's).
    pub routes: fn(&mut web::ServiceConfig),
    /// The tasks of a caller's role, for the home page and the navigation.
    pub nav: fn(&AuthUser) -> Vec<NavLink>,
}

/// No pages beyond the kernel's.
pub const NO_PAGES: Pages = Pages {
    routes: |_| {},
    nav: |_| Vec::new(),
};

/// How the web interface runs on this server (app data).
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Served over TLS (here or at a trusted proxy): cookies get `Secure`
    /// and the `__Host-` prefix.
    pub secure: bool,
    /// A session unused this long ends.
    pub idle: chrono::TimeDelta,
    /// A session ends this long after sign-in however active.
    pub lifetime: chrono::TimeDelta,
    /// The server's own pages.
    pub pages: Pages,
    /// Which server (cookie names differ per server: browsers send a
    /// host's cookies to every port, and the demo runs all four on one host).
    pub service: crate::service::Service,
}

impl WebSettings {
    /// The settings of a server from its configuration.
    pub fn from_config(
        config: &crate::config::Config,
        service: crate::service::Service,
        pages: Pages,
    ) -> Self {
        Self {
            // TLS here, or at the trusted proxies in front (the only way the
            // kernel lets a server off loopback without its own TLS).
            secure: config.public_tls().is_some() || !config.server.trusted_proxies.is_empty(),
            idle: chrono::TimeDelta::minutes(config.auth.web_idle_minutes.max(1)),
            lifetime: chrono::TimeDelta::hours(config.auth.web_session_hours.max(1)),
            pages,
            service,
        }
    }
}

/// Whether an error should be answered as a page: a browser asking for
/// HTML outside the API (API and internal-plane clients get the envelope).
pub fn wants_page(req: &actix_web::HttpRequest) -> bool {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let path = req.path();
    wants_html && !path.starts_with("/api/") && !path.starts_with("/internal/")
}

/// The answer for a path no route matched: a page for a browser, and for
/// the API (and anything that does not ask for HTML) the bare 404 the
/// middleware turns into the JSON envelope, as before.
pub async fn not_found(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    if !wants_page(&req) {
        return actix_web::HttpResponse::NotFound().finish();
    }
    let err = PageError::Api(crate::error::ApiError::NotFound("no such page".into()));
    actix_web::ResponseError::error_response(&err)
}

/// Mount the kernel's pages, the static assets and the server's own pages.
pub fn routes(cfg: &mut web::ServiceConfig, pages: Pages) {
    cfg.app_data(form::form_config())
        .configure(assets::routes)
        .configure(login::routes)
        .configure(password::routes)
        .configure(home::routes)
        .configure(users::routes)
        .configure(roles::routes)
        .configure(audit_log::routes)
        .configure(my_sessions::routes)
        .configure(pages.routes);
}
