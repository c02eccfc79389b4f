//! What every CLI test shares: the binaries, a command runner, throw-away
//! databases, and the guard that leaves no process behind.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

/// The `bulkhead` binary under test.
pub fn bulkhead() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bulkhead"))
}

/// A server binary built next to `bulkhead` (`hospital`, `company`, …).
pub fn server_binary(service: &str) -> PathBuf {
    let bin = bulkhead()
        .parent()
        .map(|d| d.join(format!("{service}-server")))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` (make test does)",
        bin.display()
    );
    bin
}

/// Fail early, with the fix, when the server binaries were not built.
pub fn require_server_binaries() {
    for s in ["hospital", "company", "dev", "owner"] {
        server_binary(s);
    }
}

/// A port nobody listens on now, for a server in a child process
/// (see [`testdb::ports`]).
pub use testdb::ports::free_port;

/// A throw-away database for one server of a test: SQLite in the test's
/// folder, or a new PostgreSQL database (dropped with this value) when
/// `BULKHEAD_TEST_PG_URL` is set.
pub struct TestDb {
    url: String,
    _pg: Option<testdb::PgDatabase>,
}

impl TestDb {
    /// A fresh database for `service` (SQLite files go in `dir`).
    pub fn new(dir: &Path, service: &str) -> Self {
        match testdb::PgDatabase::from_env("bh_cli").unwrap() {
            Some(pg) => Self {
                url: pg.url(),
                _pg: Some(pg),
            },
            None => Self {
                url: format!("sqlite://{}/{service}.db", dir.display()),
                _pg: None,
            },
        }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A child process in its own process group, killed with everything it
/// started when the guard drops (a panicking test included). `kill` on the
/// group reaches the servers `bulkhead up` spawns, which a kill of
/// `bulkhead` alone would orphan.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawn `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> Self {
        let child = cmd.process_group(0).spawn().unwrap();
        Self { child }
    }

    /// Its process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (without waiting).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Wait up to `within` for it to exit; panics if it does not.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit within {within:?}",
                self.id()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its direct children (the servers of `bulkhead up`).
    pub fn children(&self) -> Vec<u32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Wait up to `within` for it to exit, then hand back its status and
    /// output (stdout and stderr must have been piped).
    pub fn output_within(mut self, within: Duration) -> Output {
        let status = self.wait_exit(within);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(out) = self.child.stdout.as_mut() {
            let _ = out.read_to_end(&mut stdout);
        }
        if let Some(err) = self.child.stderr.as_mut() {
            let _ = err.read_to_end(&mut stderr);
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The whole group: the child and whatever it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a server binary that is expected to refuse to start; its output.
/// Killed (and the test failed) if it is still running after 30 s.
pub fn run_server(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    ChildGuard::spawn(cmd).output_within(Duration::from_secs(30))
}

/// Run `bulkhead` with `args` and `env` in `cwd`; its output. Killed (and
/// the test failed) if still running after 60 s.
pub fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    let mut cmd = Command::new(bulkhead());
    cmd.args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    ChildGuard::spawn(&mut cmd).output_within(Duration::from_secs(60))
}

/// stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Send `sig` (`-TERM`, `-KILL`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Wait until something accepts connections on `port`, while `child` runs.
pub fn wait_listening(child: &mut ChildGuard, port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().is_none(), "the process exited early");
        assert!(Instant::now() < deadline, "nothing listened on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Log in on a public listener; the success body.
pub async fn login(port: u16, prefix: &str, user: &str, password: &str) -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{prefix}/auth/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "login {user} on {port}");
    res.json().await.unwrap()
}

/// A PostgreSQL database the test had `register-tenant` create; dropped
/// (with its connections) when this value is.
pub struct CreatedPg {
    /// The server's own database URL (to connect for the drop).
    pub admin_url: String,
    /// The database.
    pub name: String,
}

impl Drop for CreatedPg {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

#[derive(QueryableByName)]
pub struct TextRow {
    /// The value.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub v: String,
}

/// Everything a database holds, as bytes to search: a SQLite file with its
/// WAL and shared memory; on PostgreSQL every row of every table as JSON.
pub fn stored_bytes(url: &str) -> Vec<u8> {
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let file = rest.split('?').next().unwrap_or(rest);
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(bytes) = std::fs::read(format!("{file}{suffix}")) {
                all.extend(bytes);
            }
        }
        assert!(!all.is_empty(), "nothing read from {file}");
        return all;
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let tables: Vec<String> = diesel::sql_query(
        "SELECT table_name::text AS v FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load::<TextRow>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| r.v)
    .collect();
    assert!(tables.iter().any(|t| t == "tenants"), "{tables:?}");
    let mut all = Vec::new();
    for table in tables {
        let rows = diesel::sql_query(format!(
            "SELECT row_to_json(t)::text AS v FROM \"{table}\" t"
        ))
        .load::<TextRow>(&mut conn)
        .unwrap();
        for r in rows {
            all.extend(r.v.into_bytes());
            all.push(b'\n');
        }
    }
    all
}

/// Whether `needle` occurs in `haystack`, ASCII case ignored.
pub fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A public API at one prefix, as a client calls it.
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// The API at `prefix` of the listener on `port`. No idle connection
    /// is kept: the tests stop and restart a server on the same port, and a
    /// connection pooled from the old process fails the next request.
    pub fn new(port: u16, prefix: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}{prefix}"),
        }
    }

    /// Any call; its status and JSON body (null when none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// GET, asserting a 200; the body.
    pub async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self
            .call(reqwest::Method::GET, path, Some(token), None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Log in; the `data` of a 200 (an access token, or `mfa_required`).
    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let (status, body) = self
            .post(
                "/auth/login",
                None,
                json!({ "username": username, "password": password }),
            )
            .await;
        (status, body["data"].clone())
    }
}

/// Poll `check` every 300 ms for up to `secs`; panics with `what`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A hospital registered with `bulkhead register-tenant` (tenant on
/// owner's database, certificate, database, configuration) in a test's
/// folder; on PostgreSQL its database is dropped with this value.
pub struct Registered {
    /// The tenant id `register-tenant` printed.
    pub tenant_id: String,
    /// What it printed on stdout.
    pub printed: String,
    /// The arguments it ran with (the first nine: the tenant's names).
    pub args: Vec<String>,
    /// `<dir>/<subdomain>`: the configuration and its secrets.
    pub out: PathBuf,
    /// `<out>/hospital.toml`.
    pub config: PathBuf,
    /// Its public port.
    pub port: u16,
    /// Its database's URL.
    pub db_url: String,
    /// The first admin's e-mail (as registered: mixed case).
    pub admin_email: String,
    /// The first admin's password.
    pub admin_password: String,
    /// The PostgreSQL database created for it (dropped with this value).
    pub created: Option<CreatedPg>,
}

/// `BULKHEAD_TEST_PG_URL`, when set.
pub fn test_pg_url() -> Option<String> {
    std::env::var("BULKHEAD_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `url` (a PostgreSQL server's) naming database `name` instead.
pub fn pg_url_with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Register hospital `company` at `subdomain` in `dir` (which holds the CA
/// under `certs/`) on the owner whose database is `owner_db`, pointing it
/// at owner's and company's internal ports. Asserts it succeeded.
pub fn register_hospital(
    dir: &Path,
    company: &str,
    subdomain: &str,
    owner_db: &str,
    owner_internal: u16,
    company_internal: u16,
) -> Registered {
    let admin_password = format!("{subdomain}-hospital-admin-pass");
    let pw_file = format!("{subdomain}-admin.pw");
    std::fs::write(dir.join(&pw_file), format!("{admin_password}\n")).unwrap();
    let port = free_port();
    let pg = test_pg_url();
    let db_name = format!("bh_cli_{subdomain}_{}", uuid::Uuid::new_v4().simple());
    let created = pg.as_ref().map(|admin_url| CreatedPg {
        admin_url: admin_url.clone(),
        name: db_name.clone(),
    });
    let admin_email = format!("Admin@{subdomain}.example");
    let mut args: Vec<String> = [
        "register-tenant",
        "--company",
        company,
        "--subdomain",
        subdomain,
        "--db",
        &db_name,
        "--region",
        "local",
        "--admin-email",
        &admin_email,
        "--admin-password-file",
        &pw_file,
        "--first-name",
        "Tahira",
        "--last-name",
        "Admin",
        "--certs-dir",
        "certs",
        "--out",
        subdomain,
        "--port",
        &port.to_string(),
        "--owner-url",
        &format!("https://localhost:{owner_internal}"),
        "--company-url",
        &format!("https://localhost:{company_internal}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(u) = &pg {
        args.extend(["--database-url".to_string(), u.clone()]);
    }
    let env = [
        ("OWNER__DATABASE__URL", owner_db),
        ("OWNER__AUTH__BCRYPT_COST", "4"),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&argv, &env, dir);
    assert!(o.status.success(), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let tenant_id = printed
        .lines()
        .find_map(|l| l.strip_prefix("tenant id: "))
        .unwrap_or_else(|| panic!("no tenant id printed: {printed}"))
        .trim()
        .to_string();
    let out = dir.join(subdomain);
    let db_url = match &pg {
        Some(u) => pg_url_with_database(u, &db_name),
        None => format!("sqlite://{}", out.join(format!("{db_name}.db")).display()),
    };
    Registered {
        tenant_id,
        printed,
        args,
        config: out.join("hospital.toml"),
        out,
        port,
        db_url,
        admin_email,
        admin_password,
        created,
    }
}

impl Registered {
    /// Start its hospital-server from the written configuration in `dir`
    /// (output appended to `log`), with `env` on top; waits until it
    /// listens.
    pub fn start(&self, dir: &Path, log: &Path, env: &[(&str, &str)]) -> ChildGuard {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(server_binary("hospital"));
        cmd.arg("--config")
            .arg(&self.config)
            .current_dir(dir)
            .env("HOSPITAL__AUTH__BCRYPT_COST", "4")
            .env("HOSPITAL__PLANE__HEARTBEAT_INTERVAL_SECS", "1")
            .env("HOSPITAL__PLANE__OUTBOX_INTERVAL_SECS", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut hospital = ChildGuard::spawn(&mut cmd);
        wait_listening(&mut hospital, self.port, Duration::from_secs(60));
        hospital
    }

    /// The hospital's public API.
    pub fn api(&self) -> Api {
        Api::new(self.port, "/api/v1/tenant")
    }

    /// The first admin's e-mail as one logs in with it (lower case).
    pub fn login_email(&self) -> String {
        self.admin_email.to_lowercase()
    }
}

/// The first admin after enrolling a second factor.
pub struct FirstAdmin {
    /// The first login's `data` (user, token before enrolment).
    pub first: Value,
    /// A token after a login with the second factor.
    pub token: String,
    /// Its TOTP generator.
    pub totp: totp_rs::Totp,
    /// The TOTP step last used (a code is accepted once).
    pub step: u64,
}

fn totp_step() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap() / 30
}

impl FirstAdmin {
    /// Wait for the first admin's provisioning from owner, log in, enrol
    /// TOTP (admins must, outside demo mode), and log in again with a
    /// backup code.
    pub async fn enrol(h: &Api, email: &str, password: &str) -> Self {
        let first = eventually(60, "the first admin provisioned", || async {
            let (status, data) = h.login(email, password).await;
            (status == 200).then_some(data)
        })
        .await;
        let enrolling = first["access_token"].as_str().unwrap().to_string();
        let (status, setup) = h
            .post("/auth/mfa/totp/setup", Some(&enrolling), json!({}))
            .await;
        assert_eq!(status, 200, "{setup}");
        let totp = totp_rs::Builder::new()
            .with_secret(
                totp_rs::Secret::try_from_base32(setup["data"]["secret"].as_str().unwrap())
                    .unwrap(),
            )
            .build()
            .unwrap();
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
        let code = totp.generate(now).to_string();
        let (status, on) = h
            .post(
                "/auth/mfa/totp/confirm",
                Some(&enrolling),
                json!({ "code": code }),
            )
            .await;
        assert_eq!(status, 200, "{on}");
        let backup = on["data"]["backup_codes"][0].as_str().unwrap().to_string();
        let (status, pending) = h.login(email, password).await;
        assert_eq!(status, 200);
        assert_eq!(pending["mfa_required"], true, "{pending}");
        let (status, done) = h
            .post(
                "/auth/mfa/verify",
                None,
                json!({ "mfa_token": pending["mfa_token"], "code": backup }),
            )
            .await;
        assert_eq!(status, 200, "{done}");
        Self {
            first,
            token: done["data"]["access_token"].as_str().unwrap().to_string(),
            totp,
            step: now / 30,
        }
    }

    /// Log in again with a fresh TOTP code (waiting for the next 30 s
    /// step if this one's code was used); the access token.
    pub async fn login_with_totp(&mut self, h: &Api, email: &str, password: &str) -> String {
        while totp_step() <= self.step {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
        let (status, pending) = h.login(email, password).await;
        assert_eq!(status, 200, "{pending}");
        assert_eq!(pending["mfa_required"], true, "{pending}");
        let (status, done) = h
            .post(
                "/auth/mfa/verify",
                None,
                json!({ "mfa_token": pending["mfa_token"], "code": self.totp.generate(now).to_string() }),
            )
            .await;
        assert_eq!(status, 200, "{done}");
        self.step = now / 30;
        done["data"]["access_token"].as_str().unwrap().to_string()
    }
}

/// The demo owner's token on owner's public API.
pub async fn owner_token(o: &Api) -> String {
    let (status, owner_login) = o.login("owner", "owner123").await;
    assert_eq!(status, 200, "{owner_login}");
    owner_login["access_token"].as_str().unwrap().to_string()
}
