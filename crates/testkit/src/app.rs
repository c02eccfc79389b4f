//! `TestApp`: one server running in-process and the helpers to call it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use actix_web::dev::ServerHandle;
use common::audit::{AuditRow, Verification};
use common::config::Config;
use common::db::{Backend, Db};
use common::schema::audit_log;
use common::server::{Application, Spec};
use common::Service;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::database::TestDatabase;
use crate::reply::Reply;

/// A password every policy accepts, for users the tests create.
pub const STRONG_PASSWORD: &str = "correct-horse-battery-9";

/// A server started by [`crate::spawn`]; stopped (and its database dropped) on drop.
pub struct TestApp {
    /// A plain HTTP client (the public listener is on loopback).
    pub client: reqwest::Client,
    service: Service,
    addr: SocketAddr,
    db: Db,
    handle: ServerHandle,
    handles: common::server::Handles,
    running: std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    jwt_secret: String,
    database_url: String,
    database: Option<TestDatabase>,
    auth: actix_web::web::Data<common::auth::AuthContext>,
    hub: actix_web::web::Data<common::realtime::Hub>,
    /// The hospital's local object store, or the dev server's release
    /// directory (removed with the app), unless the test configured its own.
    objects: Option<tempfile::TempDir>,
}

impl TestApp {
    pub(crate) async fn start(service: Service, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prefix = service.env_prefix();
        let key = |k: &str| format!("{prefix}__{k}");
        let given = |k: &str| {
            extra
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&key(k)))
                .map(|(_, v)| v.to_string())
        };
        let database = match given("DATABASE__URL") {
            Some(_) => None,
            None => Some(TestDatabase::create(service)?),
        };
        let jwt_secret = given("AUTH__JWT_SECRET").unwrap_or_else(|| {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        });
        let master_key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut env: HashMap<String, String> = HashMap::new();
        for (k, v) in [
            ("SERVER__PORT", "0"),
            ("SERVER__WORKERS", "1"),
            ("DATABASE__POOL_SIZE", "4"),
            ("AUTH__BCRYPT_COST", "4"),
            ("AUTH__JWT_SECRET", jwt_secret.as_str()),
            ("DEMO", "true"),
            ("LOG__LEVEL", "warn"),
            // Single-server tests run without the internal plane (no certificates);
            // the plane tests pass PLANE__ENABLED=true with their own certificates.
            ("PLANE__ENABLED", "false"),
            // Tests log in far more often than people; the limit has its own test.
            ("AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "0"),
            // A master key for field encryption, as production requires one.
            ("CRYPTO__MASTER_KEY", master_key.as_str()),
        ] {
            env.insert(key(k), v.to_string());
        }
        if let Some(d) = &database {
            env.insert(key("DATABASE__URL"), d.url());
        }
        // The hospital's patient files go to a directory of the test's own.
        let objects = match (service, given("FILES__STORAGE__BACKEND")) {
            (Service::Hospital, None) => {
                let dir = tempfile::Builder::new()
                    .prefix("bulkhead-objects-")
                    .tempdir()?;
                env.insert(key("FILES__STORAGE__BACKEND"), "local".into());
                env.insert(
                    key("FILES__STORAGE__ROOT"),
                    dir.path().display().to_string(),
                );
                Some(dir)
            }
            // The dev server's release artifacts likewise, and company's
            // checked copies of them.
            (Service::Dev | Service::Company, _) if given("RELEASES__ROOT").is_none() => {
                let dir = tempfile::Builder::new()
                    .prefix("bulkhead-releases-")
                    .tempdir()?;
                env.insert(key("RELEASES__ROOT"), dir.path().display().to_string());
                Some(dir)
            }
            _ => None,
        };
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::load_with_env(service, None, env)?;
        let database_url = config.database_url().to_string();
        let app = Application::build(crate::spec(service), config).await?;
        let auth = app.state().auth.clone();
        let hub = app.state().hub.clone();
        let (addr, db, handle, handles) = (
            app.addr(),
            app.state().db.clone(),
            app.handle(),
            app.handles(),
        );
        let running = std::sync::Mutex::new(Some(tokio::spawn(app.run_until_stopped())));
        Ok(Self {
            client: reqwest::Client::new(),
            service,
            addr,
            db,
            handle,
            handles,
            running,
            jwt_secret,
            database_url,
            database,
            auth,
            hub,
            objects,
        })
    }

    /// The directory of the hospital's local object store, or of dev's and
    /// company's release artifacts (None when the test configured its own).
    pub fn objects_dir(&self) -> Option<PathBuf> {
        self.objects.as_ref().map(|d| d.path().to_path_buf())
    }

    /// Stop the server (both listeners and the plane's workers); the
    /// database stays until the app is dropped.
    pub async fn stop(&self) {
        self.handles.stop(false).await;
        // Wait until both listeners have closed, so a successor can bind them.
        let task = self.running.lock().unwrap().take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
        }
    }

    /// bcrypt verifications this server has done for logins and password
    /// changes so far (each attempt must cost exactly one).
    pub fn password_verifications(&self) -> u64 {
        self.auth.verifier.count()
    }

    /// Which server this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// Its spec (roles, demo users).
    pub fn spec(&self) -> &'static Spec {
        crate::spec(self.service)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API prefix, e.g. `/api/v1/company`.
    pub fn prefix(&self) -> &'static str {
        self.service.api_prefix()
    }

    /// Absolute URL of a path from the root (`/healthz`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Absolute URL of a path after the API prefix (`/auth/me`).
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{}{path}", self.base_url(), self.prefix())
    }

    /// The database pool the server uses.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Which backend the server runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The database URL the server was configured with (to share it).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The SQLite file, when this app owns a SQLite database.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.database.as_ref().and_then(TestDatabase::sqlite_path)
    }

    /// The PostgreSQL database URL, when this app owns a PostgreSQL database.
    pub fn pg_database_url(&self) -> Option<String> {
        self.database.as_ref().and_then(TestDatabase::pg_url)
    }

    /// The JWT secret the server signs with.
    pub fn jwt_secret(&self) -> &str {
        &self.jwt_secret
    }

    /// Delete (SQLite) or force-drop (PostgreSQL) the database under the running server.
    pub fn destroy_database(&self) {
        let db = self
            .database
            .as_ref()
            .expect("this app shares another app's database");
        db.destroy().expect("destroying the test database");
    }

    /// Call the API: `path` is after the prefix; the body, if any, is sent as JSON.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.api_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let reply = Reply::read(req.send().await.expect("sending the request")).await;
        (reply.status, reply.body)
    }

    /// Log in and return the access token; panics unless the login succeeds.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = json!({ "username": username, "password": password });
        let (status, reply) = self
            .api(Method::POST, "/auth/login", None, Some(body))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "login as {username} failed: {reply}"
        );
        reply["data"]["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {reply}"))
            .to_string()
    }

    /// Log in and return the answer's `data` (access and refresh tokens,
    /// session id); panics unless the login succeeds.
    pub async fn login_full(&self, username: &str, password: &str) -> Value {
        let body = json!({ "username": username, "password": password });
        let (status, reply) = self
            .api(Method::POST, "/auth/login", None, Some(body))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "login as {username} failed: {reply}"
        );
        reply["data"].clone()
    }

    /// Move the clock this server judges sessions by `secs` seconds
    /// forward (idle and absolute expiry without sleeping).
    pub fn advance_clock(&self, secs: i64) {
        self.auth.clock.advance(secs);
    }

    /// The server's real-time hub (to fill a socket's queue, count sockets).
    pub fn hub(&self) -> &common::realtime::Hub {
        &self.hub
    }

    /// `ws://127.0.0.1:<port><prefix>/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}{}/ws", self.addr, self.prefix())
    }

    /// The demo admin's (username, password).
    pub fn admin_credentials(&self) -> (&'static str, &'static str) {
        let spec = self.spec();
        spec.demo_users
            .iter()
            .find(|(_, _, role)| *role == spec.admin_role)
            .map(|(u, p, _)| (*u, *p))
            .expect("every server has a demo admin")
    }

    /// Log in as the demo admin.
    pub async fn admin_token(&self) -> String {
        let (u, p) = self.admin_credentials();
        self.login(u, p).await
    }

    /// Demo users that are not the admin: (username, password, role).
    pub fn demo_non_admins(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let spec = self.spec();
        spec.demo_users
            .iter()
            .copied()
            .filter(|(_, _, role)| *role != spec.admin_role)
            .collect()
    }

    /// Create a user with [`STRONG_PASSWORD`] as `token`; panics unless 201. Returns the id.
    pub async fn create_user(&self, token: &str, username: &str, role: &str) -> String {
        let body = json!({ "username": username, "password": STRONG_PASSWORD, "role": role });
        let (status, reply) = self
            .api(Method::POST, "/users", Some(token), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "creating {username}: {reply}");
        reply["data"]["id"]
            .as_str()
            .expect("created user id")
            .to_string()
    }

    /// The whole audit chain, in order, read straight from the database.
    pub async fn audit_rows(&self) -> Vec<AuditRow> {
        self.db
            .run(|c| {
                Ok(audit_log::table
                    .order(audit_log::seq.asc())
                    .select(AuditRow::as_select())
                    .load(c)?)
            })
            .await
            .expect("reading audit_log")
    }

    /// `common::audit::verify` over the app's database.
    pub async fn verify_audit(&self) -> Verification {
        self.db
            .run(common::audit::verify)
            .await
            .expect("verifying the audit chain")
    }

    /// Run raw SQL on the app's database (for tampering); the error text on failure.
    pub async fn sql(&self, sql: &str) -> Result<(), String> {
        let sql = sql.to_string();
        self.db
            .run(move |c| Ok(c.batch_execute(&sql)?))
            .await
            .map_err(|e| format!("{e:#}"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for it.
        drop(self.handle.stop(false));
    }
}
