//! Test-only kit: start any Bulkhead server in-process, on port 0, with a
//! fresh database (SQLite in a temporary folder, or a new PostgreSQL
//! database when `BULKHEAD_TEST_PG_URL` is set), and talk to it through
//! small typed helpers.
//!
//! ```text
//! let app = testkit::spawn(Service::Company).await;
//! let token = app.admin_token().await;
//! let (status, body) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
//! ```
//!
//! Panicking is how a test kit reports a broken arrangement, so `unwrap`
//! and `expect` are allowed here as they are in tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod assert;
pub mod backup;
mod database;
pub mod hospital;
pub mod insurance;
pub mod logs;
pub mod mimic;
pub mod plane;
pub mod releases;
mod reply;
pub mod s3;

pub use app::{TestApp, STRONG_PASSWORD};
pub use assert::{assert_error, assert_ok};
pub use common::Service;
pub use database::{TestDatabase, PG_URL_ENV};
pub use reply::Reply;
pub use reqwest::{Method, StatusCode};

/// Start `service` with the test defaults (demo users, bcrypt cost 4, a
/// random JWT secret, a fresh database). Panics if it does not start.
pub async fn spawn(service: Service) -> TestApp {
    spawn_with(service, &[]).await
}

/// Like [`spawn`], with extra environment (`COMPANY__SERVER__BODY_LIMIT_BYTES`, …)
/// applied over the defaults. Giving `<PREFIX>__DATABASE__URL` reuses that
/// database instead of creating one (two servers over one database).
pub async fn spawn_with(service: Service, extra_env: &[(&str, &str)]) -> TestApp {
    match try_spawn_with(service, extra_env).await {
        Ok(app) => app,
        Err(e) => panic!("{service}-server did not start: {e:#}"),
    }
}

/// Like [`spawn_with`], but hands back a failure to start (bad
/// configuration, demo mode off loopback) instead of panicking.
pub async fn try_spawn_with(
    service: Service,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    app::TestApp::start(service, extra_env).await
}

/// The server crate's spec for `service`.
pub fn spec(service: Service) -> &'static common::server::Spec {
    match service {
        Service::Hospital => &::hospital::SPEC,
        Service::Company => &company::SPEC,
        Service::Dev => &dev::SPEC,
        Service::Owner => &owner::SPEC,
    }
}
