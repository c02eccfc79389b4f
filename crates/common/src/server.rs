//! The one application builder every server uses: `Application::build`
//! opens the database, runs migrations, provisions the first admin (or the
//! demo users), and binds the public listener (port 0 in tests). The
//! server's `main.rs` and the testkit start exactly the same thing.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use secrecy::ExposeSecret;

use crate::accounts::create::NewAccount;
use crate::accounts::{self, provision};
use crate::auth::token::random_secret;
use crate::auth::{AuthContext, TenantRule};
use crate::config::{Config, TenancyMode};
use crate::db::{Db, Migrations};
use crate::http::{extract, health, metrics::Metrics, middleware};
use crate::rbac::{Policy, PolicyTable};
use crate::service::Service;

/// What a server crate tells the builder about itself.
pub struct Spec {
    /// Which server.
    pub service: Service,
    /// Its own migrations.
    pub migrations: Migrations,
    /// Compiled role → permissions, written with the server's permission
    /// enum (which also gives the list of permissions it checks).
    pub policy: &'static dyn PolicyTable,
    /// The role that administers it.
    pub admin_role: &'static str,
    /// Demo users: (username, password, role).
    pub demo_users: &'static [(&'static str, &'static str, &'static str)],
    /// The server's own routes, mounted inside its API prefix.
    pub routes: fn(&mut web::ServiceConfig),
    /// The OpenAPI description of `routes` (paths relative to the prefix).
    pub openapi: fn() -> utoipa::openapi::OpenApi,
    /// Extra demo data beyond users (demo mode only; idempotent; blocking).
    pub demo_seed: Option<fn(&Db) -> anyhow::Result<()>>,
    /// Whether it encrypts fields (then a master key is required outside demo mode).
    pub needs_keyring: bool,
    /// Work at every start (idempotent; blocking), e.g. seeding a pinned tenant.
    pub on_start: Option<StartHook>,
    /// Routes of the internal (mTLS) listener; `None`: no internal listener.
    pub internal_routes: Option<fn(&mut web::ServiceConfig)>,
    /// Background work of the plane (outbox delivery, anchors, pulls).
    pub start_plane: Option<PlaneStarter>,
    /// Its web pages beyond the kernel's (login, home, users, audit).
    pub pages: crate::web::Pages,
    /// Configuration sections only this server takes (`[clinical]` on
    /// hospital); any other section the kernel does not know is refused.
    pub sections: &'static [Section],
    /// The server's own background work (hospital: re-encryption after a
    /// key rotation), started once the server is built; stopped with it.
    pub background: Option<BackgroundStarter>,
    /// Its tenancy rules for logins and new accounts (hospital: tenant
    /// status and plan limits from owner); `None` elsewhere.
    pub tenant_gate: Option<&'static dyn crate::auth::TenantGate>,
}

/// Starts a server's own background tasks from its configuration, its
/// database and its keyring (if it encrypts); returns their tasks.
pub type BackgroundStarter = fn(
    &Config,
    &Db,
    Option<&crate::crypto::Keyring>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>>;

/// A configuration section that only one server takes.
pub struct Section {
    /// Its key in the configuration (`clinical`).
    pub name: &'static str,
    /// Read and check it (absent: its defaults) and hand back what
    /// registers it as app data for the server's handlers.
    pub load: fn(&Config) -> anyhow::Result<AppDataFn>,
}

/// Registers a server's own section (or other data) on its app.
pub type AppDataFn = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

impl Spec {
    /// The compiled policy with the configuration's `[rbac.roles]` overrides.
    pub fn build_policy(
        &self,
        overrides: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> anyhow::Result<Policy> {
        Policy::build(self.policy, self.admin_role, overrides)
    }

    /// Refuse a configuration with a section neither the kernel nor this
    /// server knows (a misspelt `[clinical]`, or a hospital section given to
    /// company).
    pub fn check_sections(&self, config: &Config) -> anyhow::Result<()> {
        let claimed: Vec<&str> = self.sections.iter().map(|s| s.name).collect();
        config.check_sections(self.service, &claimed)
    }

    /// The compiled role names, in the order the server lists them.
    pub fn roles(&self) -> Vec<&'static str> {
        self.policy.roles().into_iter().map(|(r, _)| r).collect()
    }
}

/// Work at every start: the database and the pinned tenant, if any.
pub type StartHook = fn(&Db, Option<&str>) -> anyhow::Result<()>;

/// The internal listener (if any) and the plane's background tasks.
type PlaneParts = (
    Option<(SocketAddr, Server)>,
    Vec<tokio::task::JoinHandle<()>>,
);

/// Starts a server's plane workers; returns their tasks.
pub type PlaneStarter =
    fn(crate::plane::PlaneContext, &Config) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>>;

/// Shared state a server's own handlers may also extract.
#[derive(Clone)]
pub struct State {
    /// The database.
    pub db: Db,
    /// Auth context.
    pub auth: web::Data<AuthContext>,
    /// The real-time channel's registry of open sockets.
    pub hub: web::Data<crate::realtime::Hub>,
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    addr: SocketAddr,
    server: Server,
    internal: Option<(SocketAddr, Server)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    state: State,
}

impl Application {
    /// Open everything and bind. Refuses demo mode off loopback.
    pub async fn build(spec: &'static Spec, config: Config) -> anyhow::Result<Self> {
        config.check_demo_allowed()?;
        config.check_public_listener()?;
        // Built before anything is opened, so bad TLS files fail the start early.
        let public_tls = match config.public_tls() {
            Some((cert, key)) => Some(
                crate::public_tls::server_config(cert, key)
                    .context("the public listener's TLS certificate")?,
            ),
            None => None,
        };
        let service = spec.service;
        let policy = Arc::new(crate::rbac::LivePolicy::new(
            spec.build_policy(&config.rbac.roles)?,
            spec.policy.described(),
        ));
        spec.check_sections(&config)?;
        let own_sections = spec
            .sections
            .iter()
            .map(|s| (s.load)(&config))
            .collect::<anyhow::Result<Vec<AppDataFn>>>()?;
        let tenants = match (&config.tenancy, service.is_tenanted()) {
            (_, false) => TenantRule::None,
            (Some(t), true) if t.mode == TenancyMode::Hosted => TenantRule::Hosted,
            (_, true) => TenantRule::Pinned(
                config
                    .pinned_tenant()
                    .context("on-site hospital needs tenancy.tenant_id")?
                    .to_string(),
            ),
        };
        let secret = match (&config.auth.jwt_secret, config.demo) {
            (Some(s), _) => s.clone(),
            (None, true) => random_secret(),
            (None, false) => bail!(
                "auth.jwt_secret is required (set {}__AUTH__JWT_SECRET_FILE); only demo mode generates one",
                service.env_prefix()
            ),
        };
        let mut auth_ctx =
            AuthContext::from_config(service, &secret, policy.clone(), tenants.clone(), &config)?;
        auth_ctx.gate = spec.tenant_gate;
        let auth = web::Data::new(auth_ctx);
        let hub = web::Data::new(
            crate::realtime::Hub::new(config.realtime.clone())?.with_policy(policy.clone()),
        );

        let url = config.database_url().to_string();
        let pool_size = config.database.pool_size;
        let timeout = Duration::from_secs(config.database.pool_timeout_secs);
        let migrations = spec.migrations;
        let db =
            tokio::task::spawn_blocking(move || Db::open(&url, pool_size, timeout, migrations))
                .await
                .context("opening the database")??;

        let keyring = open_keyring(spec, &config, &db).await?;
        let seed_db = db.clone();
        let seed_policy = policy.clone();
        let seed = Seed::from_config(&config, &tenants, spec)?;
        let demo_seed = spec.demo_seed.filter(|_| config.demo);
        let on_start = spec.on_start;
        let pinned = config.pinned_tenant().map(str::to_string);
        tokio::task::spawn_blocking(move || {
            seed.run(&seed_db, seed_policy.base())?;
            if let Some(f) = on_start {
                f(&seed_db, pinned.as_deref())?;
            }
            match demo_seed {
                Some(f) => f(&seed_db),
                None => Ok(()),
            }
        })
        .await??;

        if config.demo {
            tracing::warn!(service = %service, "DEMO MODE: demo users with published passwords are seeded; never use demo mode with real data");
        }

        let listener = TcpListener::bind((config.server.host, config.server.port))
            .with_context(|| format!("binding {}:{}", config.server.host, config.server.port))?;
        let addr = listener.local_addr()?;
        let metrics = web::Data::new(Metrics::new(service.name(), config.metrics.allow.clone())?);
        let metrics_for_internal = metrics.clone();
        // A server's own sections serve its internal routes too (dev hands
        // company release artifacts from its `[releases]` store).
        let sections_for_internal = own_sections.clone();
        let body_limit = config.server.body_limit_bytes;
        let db_data = web::Data::new(db.clone());
        let keyring_for_background = keyring.clone();
        let keyring_data = keyring.map(web::Data::new);
        let service_data = web::Data::new(service);
        let auth_data = auth.clone();
        let hub_data = hub.clone();
        let document = web::Data::new(crate::http::openapi::ApiDocument::build(spec)?);
        let pages = spec.pages;
        let web_settings = web::Data::new(crate::web::WebSettings::from_config(
            &config, service, pages,
        ));
        let mut http = HttpServer::new(move || {
            App::new()
                .app_data(db_data.clone())
                .app_data(auth_data.clone())
                .app_data(hub_data.clone())
                .app_data(metrics.clone())
                .app_data(service_data.clone())
                .app_data(document.clone())
                .app_data(web_settings.clone())
                .configure(|cfg| {
                    for register in &own_sections {
                        register(cfg);
                    }
                })
                .configure(|cfg| {
                    if let Some(k) = &keyring_data {
                        cfg.app_data(k.clone());
                    }
                })
                .app_data(extract::json_config(body_limit))
                .app_data(extract::path_config())
                .app_data(extract::query_config())
                .app_data(extract::payload_config(body_limit))
                .wrap(middleware::security_headers())
                .wrap(from_fn(middleware::observe))
                .configure(health::routes)
                .service(web::scope(service.api_prefix()).configure(|cfg| api_routes(spec, cfg)))
                .configure(|cfg| crate::web::routes(cfg, pages))
                .default_service(web::to(crate::web::not_found))
        })
        .shutdown_timeout(10);
        http = match public_tls {
            Some(tls) => http.listen_rustls_0_23(listener, tls)?,
            None => http.listen(listener)?,
        };
        if !addr.ip().is_loopback() && config.public_tls().is_none() {
            tracing::warn!(service = %service, proxies = ?config.server.trusted_proxies, "plain HTTP off loopback: TLS is left to the trusted proxies named in server.trusted_proxies");
        }
        if config.server.workers > 0 {
            http = http.workers(config.server.workers);
        }
        let server = http.run();
        tracing::info!(service = %service, %addr, tls = config.public_tls().is_some(), "listening");
        let (internal, mut tasks) = start_plane(
            spec,
            &config,
            &db,
            (metrics_for_internal, sections_for_internal),
            &hub,
        )?;
        // Last, so a failure above leaves no task running.
        if let Some(start) = spec.background {
            tasks.extend(start(&config, &db, keyring_for_background.as_ref())?);
        }
        Ok(Self {
            port: addr.port(),
            addr,
            server,
            internal,
            tasks,
            state: State { db, auth, hub },
        })
    }

    /// The internal (mTLS) listener's address, if this server has one.
    pub fn internal_addr(&self) -> Option<SocketAddr> {
        self.internal.as_ref().map(|(a, _)| *a)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Database and auth state (tests and the CLI).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// A handle to stop the public listener (which stops the internal one too).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Handles to both listeners, to stop them together.
    pub fn handles(&self) -> Handles {
        Handles {
            public: self.server.handle(),
            internal: self.internal.as_ref().map(|(_, s)| s.handle()),
        }
    }

    /// Serve until stopped (Ctrl-C / SIGTERM stop it gracefully). Stopping
    /// either listener stops the other; the plane's workers end with them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let public = self.server;
        let result = match self.internal {
            None => public.await,
            Some((_, internal)) => {
                let (ph, ih) = (public.handle(), internal.handle());
                tokio::pin!(public);
                tokio::pin!(internal);
                tokio::select! {
                    // Outside an actix System the `Server` future is what runs
                    // its event loop: keep polling it while asking it to stop.
                    r = &mut public => { let _ = tokio::join!(ih.stop(true), &mut internal); r }
                    r = &mut internal => { let _ = tokio::join!(ph.stop(true), &mut public); r }
                }
            }
        };
        for task in self.tasks {
            task.abort();
        }
        result
    }
}

/// Everything a server mounts inside its API prefix: the shared account
/// routes, the OpenAPI document and page, and the server's own routes.
pub fn api_routes(spec: &Spec, cfg: &mut web::ServiceConfig) {
    cfg.configure(accounts::http::routes)
        .configure(crate::http::openapi::routes)
        .configure(crate::realtime::http::routes)
        .configure(spec.routes);
}

/// The internal listener (company, dev, owner) and the plane's workers.
fn start_plane(
    spec: &'static Spec,
    config: &Config,
    db: &Db,
    (metrics, sections): (web::Data<Metrics>, Vec<AppDataFn>),
    hub: &web::Data<crate::realtime::Hub>,
) -> anyhow::Result<PlaneParts> {
    let plane = &config.plane;
    if !plane.enabled {
        tracing::warn!(service = %spec.service, "internal plane disabled: no internal listener, no calls to peers");
        return Ok((None, Vec::new()));
    }
    let own_cert = crate::mtls::tls::load_certs(&plane.cert).with_context(|| {
        format!(
            "this server's certificate (create it with `bulkhead certs issue --service {}`)",
            spec.service
        )
    })?;
    let leaf = own_cert.first().context("empty certificate file")?;
    let identity = crate::mtls::tls::identity_of(leaf)
        .map_err(|e| anyhow::anyhow!("{}: {e}", plane.cert.display()))?;
    if identity.service() != spec.service {
        bail!(
            "{} holds the identity {identity}, not a {} identity",
            plane.cert.display(),
            spec.service
        );
    }
    if let (Some(pinned), Some(cert_tenant)) = (config.pinned_tenant(), identity.tenant()) {
        if !pinned.eq_ignore_ascii_case(cert_tenant) {
            bail!(
                "the certificate is for tenant {cert_tenant} but this server is pinned to {pinned}"
            );
        }
    }
    let mut tasks = Vec::new();
    let (alarms, alarm_rx) = tokio::sync::mpsc::unbounded_channel();
    tasks.push(crate::mtls::alarm::record_alarms(
        db.clone(),
        identity.tenant().map(str::to_string),
        alarm_rx,
    ));
    let trust = crate::mtls::Trust::load(plane, Some(alarms.clone()))?;
    let internal = match spec.internal_routes {
        None => None,
        Some(routes) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tasks.push(crate::plane::record_refusals(db.clone(), rx));
            let tls = crate::mtls::tls::server_config(plane, &trust, Some(tx))?;
            let listener = TcpListener::bind((plane.host, plane.port)).with_context(|| {
                format!(
                    "binding the internal listener {}:{}",
                    plane.host, plane.port
                )
            })?;
            let addr = listener.local_addr()?;
            let db_data = web::Data::new(db.clone());
            let hub_data = hub.clone();
            let body_limit = config.server.body_limit_bytes.max(1024 * 1024);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(db_data.clone())
                    .app_data(hub_data.clone())
                    .app_data(metrics.clone())
                    .app_data(extract::json_config(body_limit))
                    .app_data(extract::path_config())
                    .app_data(extract::query_config())
                    .configure(|cfg| {
                        for register in &sections {
                            register(cfg);
                        }
                    })
                    .wrap(from_fn(middleware::observe))
                    .configure(routes)
            })
            .on_connect(crate::mtls::peer::on_connect)
            .shutdown_timeout(10)
            .listen_rustls_0_23(listener, tls)?
            .run();
            tracing::info!(service = %spec.service, %addr, identity = %identity, "internal mTLS listener");
            Some((addr, server))
        }
    };
    if let Some(start) = spec.start_plane {
        let ctx = crate::plane::PlaneContext {
            db: db.clone(),
            plane: plane.clone(),
            identity,
            trust,
            alarms,
            hub: hub.clone(),
        };
        tasks.extend(start(ctx, config)?);
    }
    Ok((internal, tasks))
}

/// The keyring of a server that encrypts fields: master key from
/// `crypto.master_key(_file)`; in demo mode one is generated (kept next to
/// a SQLite database so the demo survives a restart).
async fn open_keyring(
    spec: &Spec,
    config: &Config,
    db: &Db,
) -> anyhow::Result<Option<crate::crypto::Keyring>> {
    use crate::crypto::Keyring;
    if !spec.needs_keyring {
        return Ok(None);
    }
    let master = master_key(spec.service, config, db.sqlite_file())?;
    let keyring = Keyring::new(master);
    let check_db = db.clone();
    let check = keyring.clone();
    let n = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = check_db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
        check
            .check_master_key(&mut conn)
            .map_err(|e| anyhow::anyhow!("the master key does not open the stored data keys: {e}"))
    })
    .await??;
    tracing::info!(service = %spec.service, data_keys = n, fingerprint = keyring.master_fingerprint(), "keyring ready");
    Ok(Some(keyring))
}

/// The master key the configuration names: `crypto.master_key`, else
/// `crypto.master_key_file`; in demo mode without either, the generated
/// key kept next to the SQLite database (`sqlite_file`), or a fresh one
/// when there is no file. Shared by the server and the CLI's `keys` tools.
pub fn master_key(
    service: Service,
    config: &Config,
    sqlite_file: Option<&std::path::Path>,
) -> anyhow::Result<crate::crypto::MasterKey> {
    use crate::crypto::MasterKey;
    Ok(
        match (&config.crypto.master_key, &config.crypto.master_key_file) {
            (Some(k), _) => MasterKey::from_hex_or_base64(k.expose_secret())?,
            (None, Some(path)) => MasterKey::from_file(path)?,
            (None, None) if config.demo => match sqlite_file {
                Some(file) => {
                    let path = file.with_extension("master.key");
                    tracing::warn!(path = %path.display(), "DEMO MODE: using a generated master key");
                    MasterKey::load_or_generate(&path)?
                }
                None => MasterKey::generate(),
            },
            (None, None) => bail!(
                "crypto.master_key_file is required (set {}__CRYPTO__MASTER_KEY_FILE); only demo mode generates one",
                service.env_prefix()
            ),
        },
    )
}

/// Handles to both listeners of an application.
#[derive(Clone)]
pub struct Handles {
    public: actix_web::dev::ServerHandle,
    internal: Option<actix_web::dev::ServerHandle>,
}

impl Handles {
    /// Stop both listeners; `graceful` waits for open connections (up to
    /// the shutdown time-out), otherwise they are dropped at once.
    pub async fn stop(&self, graceful: bool) {
        match &self.internal {
            Some(internal) => {
                tokio::join!(self.public.stop(graceful), internal.stop(graceful));
            }
            None => self.public.stop(graceful).await,
        }
    }
}

/// Users to provision at start: the bootstrap admin and, in demo mode, the demo users.
struct Seed {
    tenant: String,
    cost: u32,
    admin: Option<(String, String)>,
    admin_role: &'static str,
    demo: &'static [(&'static str, &'static str, &'static str)],
}

impl Seed {
    fn from_config(config: &Config, tenants: &TenantRule, spec: &Spec) -> anyhow::Result<Self> {
        let tenant = match tenants {
            TenantRule::None => String::new(),
            TenantRule::Pinned(t) => t.clone(),
            TenantRule::Hosted => config
                .bootstrap
                .admin_tenant_id
                .clone()
                .unwrap_or_else(|| crate::config::DEMO_TENANT_ID.to_string()),
        };
        let admin = match (
            &config.bootstrap.admin_username,
            &config.bootstrap.admin_password,
        ) {
            (Some(u), Some(p)) => Some((u.clone(), p.expose_secret().to_string())),
            (Some(_), None) => {
                bail!("bootstrap.admin_password (or _file) is required with admin_username")
            }
            _ => None,
        };
        Ok(Self {
            tenant,
            cost: config.auth.bcrypt_cost,
            admin,
            admin_role: spec.admin_role,
            demo: if config.demo { spec.demo_users } else { &[] },
        })
    }

    fn run(self, db: &Db, policy: &Policy) -> anyhow::Result<()> {
        if let Some((username, password)) = &self.admin {
            let admin = NewAccount::new(&self.tenant, username, password, self.admin_role);
            provision::ensure_user(db, policy, self.cost, &admin, "bootstrap")
                .map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
        }
        for (username, password, role) in self.demo {
            let demo = NewAccount {
                // The original design's published, weak demo passwords.
                check_policy: false,
                ..NewAccount::new(&self.tenant, username, password, role)
            };
            provision::ensure_user(db, policy, self.cost, &demo, "demo-seed")
                .map_err(|e| anyhow::anyhow!("demo user {username}: {e}"))?;
        }
        Ok(())
    }
}

/// Command-line flags every server binary takes.
#[derive(Debug, clap::Parser)]
struct Flags {
    /// TOML configuration file (env variables override it).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Seed demo users and data (loopback only; never with real data).
    #[arg(long)]
    demo: bool,
}

/// The whole `main` of a server binary.
pub fn main(spec: &'static Spec) -> std::process::ExitCode {
    use clap::Parser;
    let flags = Flags::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = match Config::load(spec.service, flags.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}-server: {e:#}", spec.service);
            return std::process::ExitCode::from(2);
        }
    };
    config.demo |= flags.demo;
    crate::telemetry::init(&config.log);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(spec, config).await?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "server failed");
            eprintln!("{}-server: {e:#}", spec.service);
            std::process::ExitCode::FAILURE
        }
    }
}
