//! Layered configuration: compiled defaults, an optional TOML file, then
//! environment variables with the service's prefix and `__` as separator
//! (`HOSPITAL__DATABASE__URL`). Unknown keys are an error. Every secret may
//! also be given as a path in `<key>_file`; secrets are `SecretString`, so
//! `Debug` prints them redacted and nothing logs them by accident.
//!
//! The kernel knows only the sections every server has. A section that only
//! one server takes (`[clinical]` on hospital) is kept here as raw text in
//! [`Config::sections`] and read, checked and typed by the server that
//! names it in its `Spec`; the application builder refuses any section no
//! part of the server claims, so a misspelt section still stops the start.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::service::Service;

/// A server's whole configuration.
// Not `deny_unknown_fields`: serde cannot combine it with `flatten`. Unknown
// top-level keys land in `sections` and are refused by the builder unless
// the server claims them; unknown keys inside a section are refused here.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// Public listener.
    pub server: ServerSection,
    /// Relational database.
    pub database: DatabaseSection,
    /// Tokens, passwords, lockout.
    #[serde(default)]
    pub auth: AuthSection,
    /// First administrator when not in demo mode.
    #[serde(default)]
    pub bootstrap: BootstrapSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Role → permission overrides.
    #[serde(default)]
    pub rbac: RbacSection,
    /// Who may read `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Hospital only: on-site (one tenant) or hosted (many).
    #[serde(default)]
    pub tenancy: Option<TenancySection>,
    /// Field encryption keys.
    #[serde(default)]
    pub crypto: CryptoSection,
    /// The internal plane: mTLS identity, internal listener, peers.
    pub plane: PlaneSection,
    /// The real-time channel (WebSocket): bounds and timers.
    #[serde(default)]
    pub realtime: RealtimeSection,
    /// Demo mode: seeds demo users; refused unless every listener is on loopback.
    #[serde(default)]
    pub demo: bool,
    /// Sections the kernel does not know, by name, for the server whose
    /// spec claims them (see the module documentation).
    #[serde(flatten)]
    pub sections: BTreeMap<String, config::Value>,
}

/// Field encryption: the master key that wraps every tenant's data keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoSection {
    /// The master key (64 hex characters or base64 of 32 bytes).
    pub master_key: Option<SecretString>,
    /// File holding it (mode 0600).
    pub master_key_file: Option<PathBuf>,
}

/// The internal plane: mTLS listener and calls to the other servers (docs/security.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaneSection {
    /// Off: no internal listener, no outbound calls (single-server tests).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Internal listener address (company, dev, owner; hospital has none).
    #[serde(default = "loopback")]
    pub host: IpAddr,
    /// Internal listener port (public port + 100).
    pub port: u16,
    /// This server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
    /// The Bulkhead CA certificate.
    #[serde(default = "default_ca")]
    pub ca: PathBuf,
    /// The CA's revocation list (reloaded when the file changes).
    #[serde(default = "default_crl")]
    pub crl: PathBuf,
    /// company's internal URL.
    #[serde(default = "default_company_url")]
    pub company_url: String,
    /// dev's internal URL.
    #[serde(default = "default_dev_url")]
    pub dev_url: String,
    /// owner's internal URL.
    #[serde(default = "default_owner_url")]
    pub owner_url: String,
    /// Seconds between audit-anchor sends (or pulls).
    #[serde(default = "default_anchor_interval")]
    pub anchor_interval_secs: u64,
    /// Seconds between outbox deliveries (or pulls).
    #[serde(default = "default_outbox_interval")]
    pub outbox_interval_secs: u64,
    /// Seconds between a hospital's heartbeats to owner.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval_secs: u64,
    /// Per-request timeout of outbound calls.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// Hours a CRL past its `nextUpdate` is still honoured (with a warning)
    /// before every peer is refused until it is refreshed.
    #[serde(default = "default_crl_grace_hours")]
    pub crl_grace_hours: u32,
    /// Hosted hospital: a folder of further tenants' certificates
    /// (`<name>.crt` with `<name>.key`, each a hospital certificate for one
    /// tenant). The server speaks for each of those tenants with its own
    /// certificate (heartbeat, provisioning, commands, security events), so
    /// owner and company keep checking the tenant against the certificate.
    #[serde(default)]
    pub tenant_certs_dir: Option<PathBuf>,
}

fn yes() -> bool {
    true
}
fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_ca() -> PathBuf {
    PathBuf::from("certs/ca.crt")
}
fn default_crl() -> PathBuf {
    PathBuf::from("certs/ca.crl")
}
fn default_company_url() -> String {
    "https://localhost:3102".into()
}
fn default_dev_url() -> String {
    "https://localhost:3103".into()
}
fn default_owner_url() -> String {
    "https://localhost:4101".into()
}
fn default_anchor_interval() -> u64 {
    60
}
fn default_heartbeat_interval() -> u64 {
    30
}
fn default_outbox_interval() -> u64 {
    5
}
fn default_request_timeout() -> u64 {
    10
}
fn default_crl_grace_hours() -> u32 {
    48
}

/// The public listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind (0 picks a free one).
    pub port: u16,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Worker threads (0 = one per core).
    #[serde(default)]
    pub workers: usize,
    /// The public listener's TLS certificate chain (PEM); with `tls_key`,
    /// the listener speaks TLS only. Re-read when the file changes.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM, mode 0600).
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (addresses or CIDRs) whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed; from any other peer they are
    /// ignored. Non-empty also allows plain HTTP off loopback (the proxy
    /// terminates TLS; logged at start). A list, or comma-separated text
    /// from the environment.
    #[serde(default, deserialize_with = "list_or_text")]
    pub trusted_proxies: Vec<String>,
}

/// A list of strings, or one comma-separated string (as the environment gives it).
fn opt_list_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    list_or_text(d).map(Some)
}

fn list_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    let items = match ListOrText::deserialize(d)? {
        ListOrText::List(l) => l,
        ListOrText::Text(t) => t.split(',').map(str::to_string).collect(),
    };
    // The environment's list separator leaves the spaces after commas.
    Ok(items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn default_body_limit() -> usize {
    256 * 1024
}

/// The database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://path/to/file.db` or `postgres://…`.
    pub url: Option<SecretString>,
    /// File holding the URL (for URLs with a password).
    pub url_file: Option<PathBuf>,
    /// Pool size.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    #[serde(default = "default_pool_timeout")]
    pub pool_timeout_secs: u64,
}

fn default_pool_size() -> u32 {
    8
}
fn default_pool_timeout() -> u64 {
    5
}

/// Tokens, password hashing and lockout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// HMAC secret for this server's JWTs (at least 32 bytes).
    pub jwt_secret: Option<SecretString>,
    /// File holding the JWT secret.
    pub jwt_secret_file: Option<PathBuf>,
    /// Access token lifetime in seconds.
    pub token_ttl_secs: i64,
    /// bcrypt cost (4..=31; 12 in production).
    pub bcrypt_cost: u32,
    /// Failed logins before an account is locked.
    pub lockout_threshold: i32,
    /// Minutes an account stays locked.
    pub lockout_minutes: i64,
    /// Login attempts per minute from one client address (0: no limit).
    pub login_attempts_per_minute: u32,
    /// Longest delay, in seconds, that failures from anywhere impose on an
    /// account (the owner waits at most this from another address; the
    /// address that failed waits `lockout_minutes`).
    pub account_delay_max_secs: i64,
    /// Minutes a portal enrolment code stays valid.
    pub enrolment_code_minutes: i64,
    /// Minutes without a request after which a web session ends.
    pub web_idle_minutes: i64,
    /// Hours after which a web session ends however active (one shift).
    pub web_session_hours: i64,
    /// Roles of this server that must use a TOTP second factor: an account
    /// of such a role without one may only enrol. Unset: the server's
    /// [`Service::default_mfa_roles`] (none in demo mode), filled in at load;
    /// `[]` (or an empty variable): none. Read it through
    /// [`Config::mfa_required_roles`].
    #[serde(deserialize_with = "opt_list_or_text")]
    pub mfa_required_roles: Option<Vec<String>>,
    /// Seconds after login at which a session ends however active (its
    /// refresh token stops working; 8 hours, one shift, by default).
    pub session_absolute_secs: i64,
    /// Seconds without a request or refresh after which a session of a
    /// role in `session_idle_roles` ends (15 minutes by default).
    pub session_idle_secs: i64,
    /// The idle timeout of every other role (1 hour by default).
    pub session_idle_other_secs: i64,
    /// Roles held to `session_idle_secs` (on a hospital server the clinical
    /// roles by default: doctor, nurse, lab, pharmacist; none elsewhere).
    #[serde(deserialize_with = "list_or_text")]
    pub session_idle_roles: Vec<String>,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_secret_file: None,
            token_ttl_secs: 900,
            bcrypt_cost: 12,
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_attempts_per_minute: 30,
            account_delay_max_secs: 300,
            enrolment_code_minutes: 24 * 60,
            web_idle_minutes: 15,
            web_session_hours: 8,
            mfa_required_roles: None,
            session_absolute_secs: 8 * 3600,
            session_idle_secs: 15 * 60,
            session_idle_other_secs: 3600,
            session_idle_roles: Vec::new(),
        }
    }
}

/// The first administrator, created at start when no admin exists.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSection {
    /// Username of the first admin.
    pub admin_username: Option<String>,
    /// Password of the first admin.
    pub admin_password: Option<SecretString>,
    /// File holding that password.
    pub admin_password_file: Option<PathBuf>,
    /// Hospital only: the tenant of the first admin (defaults to the pinned tenant).
    pub admin_tenant_id: Option<String>,
}

/// Log output.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `json` or `pretty`.
    pub format: LogFormat,
    /// An env-filter directive, e.g. `info` or `info,actix_web=warn`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// `/metrics` is on the public listener without a token (scrapers have
/// none), so it answers only to these client networks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// CIDR networks allowed to scrape (default: loopback only; `[]`: nobody).
    pub allow: Vec<ipnet::IpNet>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            allow: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
        }
    }
}

/// The real-time channel's bounds: every connection has a bounded send
/// queue, every user a cap on open sockets, every socket a ping and a
/// re-check of its session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeSection {
    /// Open sockets per user; one more is refused with 429.
    pub max_connections_per_user: usize,
    /// Messages waiting per socket; a socket whose queue is full is closed
    /// (a slow client is dropped, memory does not grow).
    pub queue_len: usize,
    /// Seconds between pings (and re-checks of the token's session).
    pub ping_secs: u64,
    /// Seconds without any frame from the client before the socket is closed.
    pub idle_timeout_secs: u64,
    /// Seconds one message may take to be handed to the socket.
    pub write_timeout_secs: u64,
}

impl Default for RealtimeSection {
    fn default() -> Self {
        Self {
            max_connections_per_user: 5,
            queue_len: 64,
            ping_secs: 20,
            idle_timeout_secs: 60,
            write_timeout_secs: 10,
        }
    }
}

/// Role → permission overrides on top of the compiled policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacSection {
    /// Role name → permission names. A role listed here replaces the compiled one; new roles may be added.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
}

/// Hospital tenancy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenancySection {
    /// `onsite` (pinned to `tenant_id`) or `hosted` (tenant from the token).
    pub mode: TenancyMode,
    /// The pinned tenant (on-site mode).
    pub tenant_id: Option<String>,
}

/// Hospital deployment modes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TenancyMode {
    /// One tenant per server; tokens of any other tenant are refused.
    Onsite,
    /// Several tenants in one database; the tenant comes from the token.
    Hosted,
}

/// The fixed id of the demo tenant ("Demo General Hospital").
pub const DEMO_TENANT_ID: &str = "00000000-0000-4000-8000-000000000001";
/// The fixed id of the second demo hospital ("Demo Ramzan Hospital"), which
/// `bulkhead up --demo` starts beside the first on its own port.
pub const DEMO_TENANT2_ID: &str = "00000000-0000-4000-8000-000000000002";

impl Config {
    /// Load from defaults, `path` (if any) and the process environment.
    pub fn load(service: Service, path: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(service, path, std::env::vars().collect())
    }

    /// Load with an explicit environment (tests).
    pub fn load_with_env(
        service: Service,
        path: Option<&Path>,
        env: HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .set_default("server.host", "127.0.0.1")?
            .set_default("server.port", i64::from(service.default_port()))?
            .set_default(
                "database.url",
                format!("sqlite://data/{}.db", service.name()),
            )?
            .set_default("plane.port", i64::from(service.default_port()) + 100)?
            .set_default("plane.cert", format!("certs/{}.crt", service.name()))?
            .set_default("plane.key", format!("certs/{}.key", service.name()))?;
        if service == Service::Hospital {
            builder = builder
                .set_default("tenancy.mode", "onsite")?
                .set_default("tenancy.tenant_id", DEMO_TENANT_ID)?
                .set_default(
                    "auth.session_idle_roles",
                    vec!["doctor", "nurse", "lab", "pharmacist"],
                )?;
        }
        if let Some(path) = path {
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let mut list_keys = env_role_keys(service, &env);
        list_keys.push("server.trusted_proxies".to_string());
        list_keys.push("metrics.allow".to_string());
        list_keys.push("auth.mfa_required_roles".to_string());
        list_keys.push("auth.session_idle_roles".to_string());
        // Lists come from env as comma-separated text, but only for the
        // keys named here (otherwise every value would become a list).
        let mut environment = config::Environment::with_prefix(service.env_prefix())
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(Some(env))
            .list_separator(",");
        for key in &list_keys {
            environment = environment.with_list_parse_key(key);
        }
        builder = builder.add_source(environment);
        let raw = builder.build().context("reading configuration")?;
        let mut cfg: Config = raw
            .try_deserialize()
            .with_context(|| format!("invalid {} configuration", service.name()))?;
        cfg.resolve_files()?;
        cfg.validate(service)?;
        Ok(cfg)
    }

    fn resolve_files(&mut self) -> anyhow::Result<()> {
        if let Some(p) = &self.database.url_file {
            self.database.url = Some(read_secret(p)?);
        }
        if let Some(p) = &self.auth.jwt_secret_file {
            self.auth.jwt_secret = Some(read_secret(p)?);
        }
        if let Some(p) = &self.bootstrap.admin_password_file {
            self.bootstrap.admin_password = Some(read_secret(p)?);
        }
        Ok(())
    }

    fn validate(&self, service: Service) -> anyhow::Result<()> {
        if self.database_url().is_empty() {
            bail!("database.url is empty");
        }
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                bail!("server.tls_cert and server.tls_key go together")
            }
            _ => {}
        }
        if self.plane.anchor_interval_secs == 0 || self.plane.outbox_interval_secs == 0 {
            bail!("plane intervals must be at least 1 second");
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            bail!("auth.bcrypt_cost must be between 4 and 31");
        }
        if self.auth.token_ttl_secs < 30 || self.auth.token_ttl_secs > 86_400 {
            bail!("auth.token_ttl_secs must be between 30 and 86400");
        }
        let a = &self.auth;
        if !(300..=7 * 86_400).contains(&a.session_absolute_secs) {
            bail!("auth.session_absolute_secs must be between 300 and 604800");
        }
        for (key, secs) in [
            ("auth.session_idle_secs", a.session_idle_secs),
            ("auth.session_idle_other_secs", a.session_idle_other_secs),
        ] {
            if secs < 60 || secs > a.session_absolute_secs {
                bail!("{key} must be at least 60 and at most auth.session_absolute_secs");
            }
        }
        if self.auth.lockout_threshold < 1 {
            bail!("auth.lockout_threshold must be at least 1");
        }
        if !(1..=24 * 60).contains(&self.auth.lockout_minutes) {
            bail!("auth.lockout_minutes must be between 1 and 1440");
        }
        if !(1..=3600).contains(&self.auth.account_delay_max_secs) {
            bail!("auth.account_delay_max_secs must be between 1 and 3600");
        }
        if !(5..=7 * 24 * 60).contains(&self.auth.enrolment_code_minutes) {
            bail!("auth.enrolment_code_minutes must be between 5 and 10080");
        }
        crate::http::origin::parse_proxies(&self.server.trusted_proxies)?;
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.expose_secret().len() < 32 {
                bail!("auth.jwt_secret must be at least 32 bytes");
            }
        }
        match (&self.tenancy, service.is_tenanted()) {
            (Some(_), false) => bail!("tenancy is a hospital setting; {service} does not take it"),
            (Some(t), true) if t.mode == TenancyMode::Onsite => {
                let Some(id) = &t.tenant_id else {
                    bail!("tenancy.tenant_id is required on-site")
                };
                if uuid::Uuid::parse_str(id).is_err() {
                    bail!("tenancy.tenant_id must be a UUID");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A section only some servers take, typed by the one that claims it
    /// (`Ok(None)` when the configuration does not have it).
    pub fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        self.sections
            .get(name)
            .map(|v| v.clone().try_deserialize::<T>())
            .transpose()
            .with_context(|| format!("invalid [{name}] section"))
    }

    /// Refuse sections that none of `claimed` names.
    pub fn check_sections(&self, service: Service, claimed: &[&str]) -> anyhow::Result<()> {
        if let Some(name) = self
            .sections
            .keys()
            .find(|k| !claimed.contains(&k.as_str()))
        {
            bail!(
                "unknown configuration section `{name}`: {service} takes no such section{}",
                if claimed.is_empty() {
                    String::new()
                } else {
                    format!(" (its own: {})", claimed.join(", "))
                }
            );
        }
        Ok(())
    }

    /// The roles that must use a second factor: `auth.mfa_required_roles`
    /// if set, else the server's defaults, or none in demo mode (decided
    /// here, after `--demo` is known).
    pub fn mfa_required_roles(&self, service: Service) -> Vec<String> {
        match &self.auth.mfa_required_roles {
            Some(roles) => roles.clone(),
            None if self.demo => Vec::new(),
            None => service
                .default_mfa_roles()
                .iter()
                .map(|r| r.to_string())
                .collect(),
        }
    }

    /// The folder beside a SQLite database for a server's own files
    /// (`data/hospital.db` → `data/hospital`); `None` for PostgreSQL.
    pub fn sqlite_data_dir(&self) -> Option<PathBuf> {
        let path = Path::new(self.database_url().strip_prefix("sqlite://")?);
        Some(path.parent()?.join(path.file_stem()?))
    }

    /// [`Self::sqlite_data_dir`], else `data/<name>` under the working
    /// directory: where a server keeps files its configuration places nowhere.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.sqlite_data_dir()
            .unwrap_or_else(|| Path::new("data").join(name))
    }

    /// The database URL (a secret: it may carry a password).
    pub fn database_url(&self) -> &str {
        self.database
            .url
            .as_ref()
            .map(|s| s.expose_secret())
            .unwrap_or("")
    }

    /// The tenant this hospital server is pinned to, if on-site.
    pub fn pinned_tenant(&self) -> Option<&str> {
        match &self.tenancy {
            Some(TenancySection {
                mode: TenancyMode::Onsite,
                tenant_id,
            }) => tenant_id.as_deref(),
            _ => None,
        }
    }

    /// Refuse demo mode unless every listener is on loopback: the public
    /// one and, when the plane is on, the internal one.
    pub fn check_demo_allowed(&self) -> anyhow::Result<()> {
        if self.demo && !self.server.host.is_loopback() {
            bail!(
                "demo mode is refused: the public listener is bound to {}, not loopback",
                self.server.host
            );
        }
        if self.demo && self.plane.enabled && !self.plane.host.is_loopback() {
            bail!(
                "demo mode is refused: the internal listener is bound to {}, not loopback",
                self.plane.host
            );
        }
        Ok(())
    }

    /// The public listener's TLS files, if it has TLS.
    pub fn public_tls(&self) -> Option<(&Path, &Path)> {
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            _ => None,
        }
    }

    /// Refuse plain HTTP off loopback: the public listener carries logins
    /// and tokens, so off loopback it needs TLS, unless the operator names
    /// the TLS-terminating proxies in front of it (`server.trusted_proxies`).
    pub fn check_public_listener(&self) -> anyhow::Result<()> {
        if self.public_tls().is_some() || self.server.host.is_loopback() {
            return Ok(());
        }
        if self.server.trusted_proxies.is_empty() {
            bail!(
                "the public listener is bound to {} without TLS: set server.tls_cert and \
                 server.tls_key, bind to loopback, or name the TLS-terminating proxy in \
                 server.trusted_proxies",
                self.server.host
            );
        }
        Ok(())
    }
}

/// The `rbac.roles.<role>` keys that `<PREFIX>__RBAC__ROLES__<ROLE>`
/// variables set (role names are free, so they are found, not listed).
fn env_role_keys(service: Service, env: &HashMap<String, String>) -> Vec<String> {
    let prefix = format!("{}__rbac__roles__", service.env_prefix()).to_lowercase();
    env.keys()
        .filter_map(|k| {
            let k = k.to_lowercase();
            k.strip_prefix(&prefix)
                .map(|role| format!("rbac.roles.{}", role.replace("__", ".")))
        })
        .collect()
}

fn read_secret(path: &Path) -> anyhow::Result<SecretString> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("reading secret file {}", path.display()))?;
    Ok(SecretString::from(
        raw.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mfa_roles_default_to_the_admin_roles_outside_demo_mode() {
        let load = |service, pairs: &[(&str, &str)]| {
            Config::load_with_env(service, None, env(pairs)).unwrap()
        };
        let company = load(Service::Company, &[]);
        assert_eq!(
            company.mfa_required_roles(Service::Company),
            ["admin", "team_lead", "production"]
        );
        assert_eq!(
            load(Service::Owner, &[]).mfa_required_roles(Service::Owner),
            ["owner"]
        );
        // Demo mode (set in the file or by --demo later): none by default.
        let mut demo = load(Service::Hospital, &[("HOSPITAL__DEMO", "true")]);
        assert!(demo.mfa_required_roles(Service::Hospital).is_empty());
        demo.demo = false;
        assert_eq!(demo.mfa_required_roles(Service::Hospital), ["admin"]);
        // Named by the operator: exactly those, or none.
        let named = load(
            Service::Dev,
            &[("DEV__AUTH__MFA_REQUIRED_ROLES", "developer")],
        );
        assert_eq!(named.mfa_required_roles(Service::Dev), ["developer"]);
        let none = load(Service::Dev, &[("DEV__AUTH__MFA_REQUIRED_ROLES", "")]);
        assert!(none.mfa_required_roles(Service::Dev).is_empty());
    }

    #[test]
    fn defaults_follow_the_service() {
        let cfg = Config::load_with_env(Service::Company, None, env(&[])).unwrap();
        assert_eq!(cfg.server.port, 3002);
        assert_eq!(cfg.database_url(), "sqlite://data/company.db");
        assert!(cfg.tenancy.is_none());
    }

    #[test]
    fn env_overrides_with_prefix_and_double_underscore() {
        let cfg = Config::load_with_env(
            Service::Hospital,
            None,
            env(&[
                ("HOSPITAL__DATABASE__URL", "postgres://x/y"),
                ("HOSPITAL__SERVER__PORT", "9000"),
                ("COMPANY__SERVER__PORT", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.database_url(), "postgres://x/y");
        assert_eq!(cfg.server.port, 9000);
        assert_eq!(cfg.pinned_tenant(), Some(DEMO_TENANT_ID));
    }

    /// The whole error chain of a configuration that must be refused.
    fn refusal(service: Service, path: Option<&Path>, pairs: &[(&str, &str)]) -> String {
        match Config::load_with_env(service, path, env(pairs)) {
            Ok(_) => panic!("{service} accepted {pairs:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = refusal(Service::Dev, None, &[("DEV__DATABASE__URLL", "x")]);
        assert!(err.contains("unknown field `urll`"), "{err}");
        let dir = tempfile_dir();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[server]\nport = 1\nbogus = true\n").unwrap();
        let err = refusal(Service::Dev, Some(&path), &[]);
        assert!(err.contains("unknown field `bogus`"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_are_not_printed() {
        let dir = tempfile_dir();
        let path = dir.join("jwt");
        std::fs::write(&path, "a-very-long-secret-of-at-least-32-bytes!!\n").unwrap();
        let cfg = Config::load_with_env(
            Service::Owner,
            None,
            env(&[("OWNER__AUTH__JWT_SECRET_FILE", path.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            cfg.auth.jwt_secret.as_ref().unwrap().expose_secret(),
            "a-very-long-secret-of-at-least-32-bytes!!"
        );
        assert!(!format!("{cfg:?}").contains("a-very-long-secret"));
    }

    #[test]
    fn one_key_of_a_section_keeps_the_other_defaults() {
        let cfg = Config::load_with_env(
            Service::Dev,
            None,
            env(&[
                ("DEV__AUTH__BCRYPT_COST", "4"),
                ("DEV__LOG__FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.auth.bcrypt_cost, 4);
        assert_eq!(cfg.auth.token_ttl_secs, 900);
        assert_eq!(cfg.log.level, "info");
    }

    #[test]
    fn role_overrides_from_env_are_comma_separated_lists() {
        let cfg = Config::load_with_env(
            Service::Company,
            None,
            env(&[
                ("COMPANY__RBAC__ROLES__TEAM_LEAD", "users.manage,audit.read"),
                ("COMPANY__RBAC__ROLES__AUDITOR", "audit.read"),
                ("COMPANY__DATABASE__URL", "sqlite://x,y.db"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.rbac.roles["team_lead"], ["users.manage", "audit.read"]);
        assert_eq!(cfg.rbac.roles["auditor"], ["audit.read"]);
        assert_eq!(
            cfg.database_url(),
            "sqlite://x,y.db",
            "other keys stay strings"
        );
    }

    #[test]
    fn tenancy_is_refused_outside_hospital() {
        let err = refusal(
            Service::Company,
            None,
            &[("COMPANY__TENANCY__MODE", "hosted")],
        );
        assert!(
            err.contains("tenancy is a hospital setting; company does not take it"),
            "{err}"
        );
    }

    #[test]
    fn metrics_networks_are_cidr_lists() {
        let cfg = Config::load_with_env(Service::Dev, None, env(&[])).unwrap();
        assert_eq!(cfg.metrics.allow.len(), 2, "loopback by default");
        let cfg = Config::load_with_env(
            Service::Dev,
            None,
            env(&[("DEV__METRICS__ALLOW", "10.0.0.0/8,192.0.2.7/32")]),
        )
        .unwrap();
        assert_eq!(cfg.metrics.allow.len(), 2);
        assert!(cfg.metrics.allow[1].contains(&"192.0.2.7".parse::<IpAddr>().unwrap()));
        let err = refusal(
            Service::Dev,
            None,
            &[("DEV__METRICS__ALLOW", "10.0.0.0/99")],
        );
        assert!(err.contains("invalid dev configuration"), "{err}");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bulkhead-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

#[cfg(test)]
mod plane_tests {
    use super::*;

    #[test]
    fn plane_intervals_are_at_least_one_second() {
        let env: HashMap<String, String> = [(
            "OWNER__PLANE__OUTBOX_INTERVAL_SECS".to_string(),
            "0".to_string(),
        )]
        .into();
        let err = match Config::load_with_env(Service::Owner, None, env) {
            Ok(_) => panic!("a zero interval was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("plane intervals must be at least 1 second"),
            "{err}"
        );
    }

    #[test]
    fn sections_the_kernel_does_not_know_are_kept_for_the_server_to_claim() {
        let env: HashMap<String, String> = [(
            "DEV__CLINICAL__BREAK_GLASS_MINUTES".to_string(),
            "15".to_string(),
        )]
        .into();
        let cfg = Config::load_with_env(Service::Dev, None, env).unwrap();
        let err = cfg
            .check_sections(Service::Dev, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown configuration section `clinical`: dev takes no such section"),
            "{err}"
        );
        cfg.check_sections(Service::Dev, &["clinical"]).unwrap();

        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Clinical {
            break_glass_minutes: i64,
        }
        let c: Clinical = cfg.section("clinical").unwrap().unwrap();
        assert_eq!(c.break_glass_minutes, 15);
        assert!(cfg.section::<Clinical>("absent").unwrap().is_none());
    }

    #[test]
    fn plane_defaults_merge_with_env() {
        let env: HashMap<String, String> = [(
            "COMPANY__PLANE__OUTBOX_INTERVAL_SECS".to_string(),
            "1".to_string(),
        )]
        .into();
        let cfg = match Config::load_with_env(Service::Company, None, env) {
            Ok(c) => c,
            Err(e) => panic!("{e:#}"),
        };
        assert_eq!(cfg.plane.port, 3102);
        assert_eq!(cfg.plane.outbox_interval_secs, 1);
    }
}

#[cfg(test)]
mod listener_tests {
    use super::*;

    fn load(service: Service, pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(service, None, env)
    }

    /// Issue 8 finding 12: "Demo mode checks only the public address for
    /// loopback, not the internal listener's."
    #[test]
    fn demo_mode_checks_only_the_public_address_for_loopback() {
        let cfg = load(
            Service::Company,
            &[
                ("COMPANY__DEMO", "true"),
                ("COMPANY__PLANE__HOST", "0.0.0.0"),
            ],
        )
        .unwrap();
        let err = cfg.check_demo_allowed().unwrap_err();
        assert!(format!("{err}").contains("internal listener"), "{err}");
        // On loopback, or with the plane off, demo mode is fine.
        let cfg = load(Service::Company, &[("COMPANY__DEMO", "true")]).unwrap();
        cfg.check_demo_allowed().unwrap();
        let cfg = load(
            Service::Company,
            &[
                ("COMPANY__DEMO", "true"),
                ("COMPANY__PLANE__HOST", "0.0.0.0"),
                ("COMPANY__PLANE__ENABLED", "false"),
            ],
        )
        .unwrap();
        cfg.check_demo_allowed().unwrap();
    }

    #[test]
    fn plain_http_off_loopback_needs_tls_or_a_named_proxy() {
        let off = [("HOSPITAL__SERVER__HOST", "0.0.0.0")];
        let refused = load(Service::Hospital, &off)
            .unwrap()
            .check_public_listener()
            .unwrap_err()
            .to_string();
        assert!(refused.contains("without TLS"), "{refused}");
        let proxied = load(
            Service::Hospital,
            &[
                ("HOSPITAL__SERVER__HOST", "0.0.0.0"),
                (
                    "HOSPITAL__SERVER__TRUSTED_PROXIES",
                    "10.0.0.0/8,192.168.1.7",
                ),
            ],
        )
        .unwrap();
        proxied.check_public_listener().unwrap();
        assert_eq!(
            proxied.server.trusted_proxies,
            ["10.0.0.0/8", "192.168.1.7"]
        );
        let tls = load(
            Service::Hospital,
            &[
                ("HOSPITAL__SERVER__HOST", "0.0.0.0"),
                ("HOSPITAL__SERVER__TLS_CERT", "/etc/bulkhead/public.crt"),
                ("HOSPITAL__SERVER__TLS_KEY", "/etc/bulkhead/public.key"),
            ],
        )
        .unwrap();
        tls.check_public_listener().unwrap();
        load(Service::Hospital, &[])
            .unwrap()
            .check_public_listener()
            .unwrap();
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0.1/x"] {
            let e = load(
                Service::Hospital,
                &[("HOSPITAL__SERVER__TRUSTED_PROXIES", bad)],
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("is not an address or CIDR"), "{bad}: {e}");
        }
        let e = load(
            Service::Hospital,
            &[("HOSPITAL__SERVER__TLS_KEY", "/etc/bulkhead/public.key")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("go together"), "{e}");
    }
}
