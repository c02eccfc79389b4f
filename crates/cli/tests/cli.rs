//! The `bulkhead` CLI driven as a user would: real binaries, real
//! processes, real databases. Needs the server binaries built next to
//! `bulkhead` (`make test` runs `cargo build --bins` first).

// Panicking is how a test reports a broken arrangement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;

fn bulkhead() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bulkhead"))
}

fn require_server_binaries() {
    let dir = bulkhead().parent().map(Path::to_path_buf).unwrap();
    for s in ["hospital", "company", "dev", "owner"] {
        let bin = dir.join(format!("{s}-server"));
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build --bins` (make test does)",
            bin.display()
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh database URL for `service`: SQLite in `dir`, or a new
/// PostgreSQL database when BULKHEAD_TEST_PG_URL is set (dropped when the
/// test's `PgCleanup` guard drops).
fn database_url(dir: &Path, service: &str) -> String {
    match std::env::var("BULKHEAD_TEST_PG_URL") {
        Ok(admin) => {
            let name = format!("bh_cli_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin).unwrap();
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            CREATED.with(|c| c.borrow_mut().push(name.clone()));
            replace_db_name(&admin, &name)
        }
        Err(_) => format!("sqlite://{}/{service}.db", dir.display()),
    }
}

thread_local! {
    /// Databases made by the test running on this thread.
    static CREATED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Drops the PostgreSQL databases a test made, when the test ends.
struct PgCleanup;

impl Drop for PgCleanup {
    fn drop(&mut self) {
        let Ok(admin) = std::env::var("BULKHEAD_TEST_PG_URL") else {
            return;
        };
        let names: Vec<String> = CREATED.with(|c| c.borrow_mut().drain(..).collect());
        if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
            for name in names {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn run(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Output {
    Command::new(bulkhead())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn migrate_create_user_and_verify_then_tamper() {
    let _cleanup = PgCleanup;
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "company");
    let env = [
        ("COMPANY__DATABASE__URL", url.as_str()),
        ("COMPANY__AUTH__BCRYPT_COST", "4"),
        ("BULKHEAD_USER_PASSWORD", "a long enough passphrase"),
    ];

    let out = run(&["migrate", "--service", "company"], &env, dir.path());
    assert!(out.status.success(), "{}", text(&out));

    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "carol",
            "--role",
            "analyst",
        ],
        &env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "carol",
            "--role",
            "analyst",
        ],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "duplicate user: {}", text(&out));
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "dave",
            "--role",
            "wizard",
        ],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "unknown role: {}", text(&out));
    let weak = [
        ("COMPANY__DATABASE__URL", url.as_str()),
        ("BULKHEAD_USER_PASSWORD", "password"),
    ];
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "erin",
            "--role",
            "analyst",
        ],
        &weak,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "weak password: {}", text(&out));

    let out = run(
        &["audit", "verify", "--service", "company"],
        &env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("intact"), "{}", text(&out));

    // An attacker with database access drops the trigger and rewrites a row.
    tamper(
        &url,
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1",
    );
    let out = run(
        &["audit", "verify", "--service", "company"],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("seq 1"),
        "names the first bad row: {}",
        text(&out)
    );
}

fn tamper(url: &str, sql: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute(&format!("DROP TRIGGER audit_log_no_update; {sql};"))
            .unwrap();
    } else {
        let mut c = diesel::PgConnection::establish(url).unwrap();
        c.batch_execute(&format!(
            "ALTER TABLE audit_log DISABLE TRIGGER USER; {sql};"
        ))
        .unwrap();
    }
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let _cleanup = PgCleanup;
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URLL", "x")],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// `bulkhead up --demo` with the four servers on free ports.
struct Up {
    child: Child,
    ports: [(String, u16); 4],
    internal: [(String, u16); 4],
    urls: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Up {
    fn start(extra: &[(String, String)]) -> Self {
        require_server_binaries();
        let dir = tempfile::tempdir().unwrap();
        let ports = [
            ("hospital".to_string(), free_port()),
            ("company".to_string(), free_port()),
            ("dev".to_string(), free_port()),
            ("owner".to_string(), free_port()),
        ];
        let mut cmd = Command::new(bulkhead());
        cmd.args(["up", "--demo"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let internal = [
            ("hospital".to_string(), free_port()),
            ("company".to_string(), free_port()),
            ("dev".to_string(), free_port()),
            ("owner".to_string(), free_port()),
        ];
        let peer_url = |name: &str| {
            let port = internal.iter().find(|(s, _)| s == name).unwrap().1;
            format!("https://localhost:{port}")
        };
        let mut urls = Vec::new();
        for ((s, p), (_, ip)) in ports.iter().zip(internal.iter()) {
            let prefix = s.to_uppercase();
            let url = database_url(dir.path(), s);
            cmd.env(format!("{prefix}__SERVER__PORT"), p.to_string());
            cmd.env(format!("{prefix}__AUTH__BCRYPT_COST"), "4");
            cmd.env(format!("{prefix}__LOG__LEVEL"), "warn");
            cmd.env(format!("{prefix}__DATABASE__URL"), &url);
            cmd.env(format!("{prefix}__PLANE__PORT"), ip.to_string());
            cmd.env(format!("{prefix}__PLANE__COMPANY_URL"), peer_url("company"));
            cmd.env(format!("{prefix}__PLANE__DEV_URL"), peer_url("dev"));
            cmd.env(format!("{prefix}__PLANE__OWNER_URL"), peer_url("owner"));
            cmd.env(format!("{prefix}__PLANE__OUTBOX_INTERVAL_SECS"), "1");
            cmd.env(format!("{prefix}__PLANE__ANCHOR_INTERVAL_SECS"), "1");
            urls.push((s.clone(), url));
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Self {
            child,
            ports,
            internal,
            urls,
            dir,
        }
    }

    /// The environment a CLI command needs to act as `service` of this run.
    fn env_of(&self, service: &str) -> Vec<(String, String)> {
        let prefix = service.to_uppercase();
        let company = self
            .internal
            .iter()
            .find(|(s, _)| s == "company")
            .unwrap()
            .1;
        vec![
            (
                format!("{prefix}__DATABASE__URL"),
                self.url(service).to_string(),
            ),
            (
                format!("{prefix}__PLANE__COMPANY_URL"),
                format!("https://localhost:{company}"),
            ),
        ]
    }

    fn url(&self, service: &str) -> &str {
        &self.urls.iter().find(|(s, _)| s == service).unwrap().1
    }

    fn port(&self, service: &str) -> u16 {
        self.ports.iter().find(|(s, _)| s == service).unwrap().1
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        for (_, port) in self.ports.clone() {
            loop {
                assert!(
                    self.child.try_wait().unwrap().is_none(),
                    "bulkhead up exited early"
                );
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                assert!(Instant::now() < deadline, "servers did not come up");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "bulkhead up did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn children(&self) -> Vec<u32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

async fn login(port: u16, prefix: &str, user: &str, password: &str) -> serde_json::Value {
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

#[tokio::test]
async fn up_runs_all_four_with_demo_logins_and_stops_on_signal() {
    let _cleanup = PgCleanup;
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let logins = [
        ("hospital", "/api/v1/tenant", "doctor", "doctor123"),
        ("hospital", "/api/v1/tenant", "reception", "reception123"),
        ("company", "/api/v1/company", "admin", "admin123"),
        ("company", "/api/v1/company", "teamlead", "teamlead123"),
        ("dev", "/api/v1/dev", "astro", "dev123456"),
        ("owner", "/api/v1/owner", "owner", "owner123"),
    ];
    for (service, prefix, user, pw) in logins {
        let body = login(up.port(service), prefix, user, pw).await;
        assert_eq!(body["data"]["user"]["username"], user);
    }
    let hospital = login(up.port("hospital"), "/api/v1/tenant", "hadmin", "hadmin123").await;
    assert_eq!(
        hospital["data"]["user"]["tenant_id"],
        "00000000-0000-4000-8000-000000000001"
    );

    let children = up.children();
    assert_eq!(children.len(), 4, "four server processes");
    signal(up.child.id(), "-TERM");
    let status = up.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "clean stop exits 0: {status}");
    for pid in children {
        assert!(!alive(pid), "server {pid} stopped with bulkhead");
    }
}

#[tokio::test]
async fn up_exits_non_zero_when_a_server_dies() {
    let _cleanup = PgCleanup;
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let children = up.children();
    assert_eq!(children.len(), 4);
    signal(children[1], "-KILL");
    let status = up.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "a dead server makes up fail: {status}");
    for pid in children {
        assert!(!alive(pid), "the other servers are stopped too");
    }
}

#[test]
fn demo_mode_is_refused_off_loopback() {
    let _cleanup = PgCleanup;
    require_server_binaries();
    let dir = tempfile::tempdir().unwrap();
    let server = bulkhead().parent().unwrap().join("dev-server");
    let out = Command::new(server)
        .arg("--demo")
        .env("DEV__SERVER__HOST", "0.0.0.0")
        .env("DEV__SERVER__PORT", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("demo mode is refused"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn production_start_needs_a_jwt_secret_and_bootstraps_the_admin() {
    let _cleanup = PgCleanup;
    require_server_binaries();
    let dir = tempfile::tempdir().unwrap();
    let server = bulkhead().parent().unwrap().join("owner-server");
    let url = database_url(dir.path(), "owner");
    let out = Command::new(&server)
        .env("OWNER__SERVER__PORT", "0")
        .env("OWNER__DATABASE__URL", &url)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("jwt_secret"), "{}", text(&out));

    // With a secret from a file and the bootstrap admin from env, it starts
    // with exactly that admin and no demo user.
    let secret = dir.path().join("jwt");
    std::fs::write(&secret, "a-production-secret-of-at-least-32-bytes!").unwrap();
    let port = free_port();
    let mut child = Command::new(&server)
        .env("OWNER__SERVER__PORT", port.to_string())
        .env("OWNER__DATABASE__URL", &url)
        .env("OWNER__AUTH__JWT_SECRET_FILE", &secret)
        .env("OWNER__AUTH__BCRYPT_COST", "4")
        .env("OWNER__PLANE__ENABLED", "false")
        .env("OWNER__BOOTSTRAP__ADMIN_USERNAME", "root-operator")
        .env(
            "OWNER__BOOTSTRAP__ADMIN_PASSWORD",
            "a sound operator passphrase",
        )
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "owner-server exited");
        assert!(Instant::now() < deadline, "owner-server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = login(
        port,
        "/api/v1/owner",
        "root-operator",
        "a sound operator passphrase",
    )
    .await;
    assert_eq!(body["data"]["user"]["role"], "owner");
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/owner/auth/login"))
        .json(&serde_json::json!({ "username": "owner", "password": "owner123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401, "no demo user outside demo mode");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn postgres_over_tls_when_required() {
    let _cleanup = PgCleanup;
    let Ok(admin) = std::env::var("BULKHEAD_TEST_PG_URL") else {
        eprintln!("skipped: BULKHEAD_TEST_PG_URL is not set (make test-pg sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "dev");
    let sep = if url.contains('?') { '&' } else { '?' };
    let tls = format!("{url}{sep}sslmode=require");
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URL", tls.as_str())],
        dir.path(),
    );
    assert!(out.status.success(), "sslmode=require: {}", text(&out));
    let mut conn = diesel::PgConnection::establish(&tls).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let row: Ssl = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
        &mut conn,
    )
    .unwrap();
    assert!(row.ssl, "the connection is encrypted");
    // verify-full against a CA that did not sign the server's certificate must fail.
    let bogus_ca = dir.path().join("bogus-ca.pem");
    let ca = rcgen::generate_simple_self_signed(vec!["bogus-ca".to_string()]).unwrap();
    std::fs::write(&bogus_ca, ca.cert.pem()).unwrap();
    let strict = format!(
        "{url}{sep}sslmode=verify-full&sslrootcert={}",
        bogus_ca.display()
    );
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URL", strict.as_str())],
        dir.path(),
    );
    assert!(
        !out.status.success(),
        "verify-full with the wrong CA must fail: {}",
        text(&out)
    );
    let _ = admin;
}

/// The value after `label` on a line of the command's output.
fn certs_field(out: &Output, label: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no `{label}` in: {}", text(out)))
}

fn certs_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

#[test]
fn certs_init_issue_every_service_and_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let certs = cwd.join("certs");
    let tenant = "3f2a0c1e-8d4b-4e6f-9a7b-1c2d3e4f5a6b";

    let out = run(&["certs", "init"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in ["ca.crt", "ca.key", "ca.crl"] {
        assert!(certs.join(f).exists(), "{f}: {}", text(&out));
    }
    assert_eq!(certs_mode(&certs.join("ca.key")), 0o600);
    let ca_key = std::fs::read(certs.join("ca.key")).unwrap();

    // A second init refuses and changes nothing.
    let out = run(&["certs", "init", "--days", "10"], &[], cwd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refusing"), "{}", text(&out));
    assert_eq!(std::fs::read(certs.join("ca.key")).unwrap(), ca_key);

    let mut serials = Vec::new();
    for service in ["company", "dev", "owner"] {
        let out = run(&["certs", "issue", "--service", service], &[], cwd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(
            certs_field(&out, "identity:"),
            format!("spiffe://bulkhead/{service}")
        );
        assert!(!certs_field(&out, "expires:").is_empty());
        let crt = certs.join(format!("{service}.crt"));
        let key = certs.join(format!("{service}.key"));
        assert_eq!(certs_mode(&key), 0o600, "{service}.key");
        let pem = std::fs::read_to_string(&crt).unwrap();
        let (serial, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
        assert_eq!(serial, certs_field(&out, "serial:"));
        assert_eq!(
            identity.unwrap().uri(),
            format!("spiffe://bulkhead/{service}")
        );
        serials.push(serial);
    }

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "hospital",
            "--tenant",
            tenant,
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let uri = format!("spiffe://bulkhead/hospital/{tenant}");
    assert_eq!(certs_field(&out, "identity:"), uri);
    assert_eq!(certs_mode(&certs.join("hospital.key")), 0o600);
    let pem = std::fs::read_to_string(certs.join("hospital.crt")).unwrap();
    let (_, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
    assert_eq!(identity.unwrap().uri(), uri);

    let issued: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(certs.join("issued.json")).unwrap()).unwrap();
    let issued = issued.as_array().unwrap();
    assert_eq!(issued.len(), 4);
    assert_eq!(issued[3]["identity"], uri.as_str());
    assert_eq!(issued[3]["file"], "hospital");

    // Revoke company's certificate: recorded, CRL rewritten; twice is fine.
    let crl_before = std::fs::read(certs.join("ca.crl")).unwrap();
    let out = run(&["certs", "revoke", "--serial", &serials[0]], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_ne!(std::fs::read(certs.join("ca.crl")).unwrap(), crl_before);
    let revoked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(certs.join("revoked.json")).unwrap())
            .unwrap();
    assert_eq!(revoked[0]["serial"], serials[0].as_str());
    let ca = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
    let crl = std::fs::read_to_string(certs.join("ca.crl")).unwrap();
    let company = std::fs::read_to_string(certs.join("company.crt")).unwrap();
    let dev = std::fs::read_to_string(certs.join("dev.crt")).unwrap();
    let now = std::time::SystemTime::now();
    assert!(
        common::mtls::certs::verify_client(&ca, std::slice::from_ref(&crl), &company, now).is_err(),
        "the revoked certificate is refused"
    );
    // dev answers only (serverAuth): it is checked as a server.
    common::mtls::certs::verify_server(&ca, &[crl], &dev, "localhost", now).unwrap();

    let out = run(&["certs", "revoke", "--serial", &serials[0]], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("already revoked"), "{}", text(&out));

    // An unknown serial is refused.
    let out = run(&["certs", "revoke", "--serial", "0badc0ffee"], &[], cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not issued"), "{}", text(&out));
}

#[test]
fn certs_issue_hospital_without_tenant_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let out = run(&["certs", "init"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(&["certs", "issue", "--service", "hospital"], &[], cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("tenant"), "{}", text(&out));
    assert!(!cwd.join("certs/hospital.crt").exists());
    assert!(!cwd.join("certs/hospital.key").exists());

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "hospital",
            "--tenant",
            "nope",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "company",
            "--tenant",
            "3f2a0c1e-8d4b-4e6f-9a7b-1c2d3e4f5a6b",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!cwd.join("certs/company.crt").exists());

    // Issuing without a CA is an error too.
    let other = tempfile::tempdir().unwrap();
    let out = run(&["certs", "issue", "--service", "dev"], &[], other.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("certs init"), "{}", text(&out));
}

#[test]
fn certs_issue_options_and_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("pki");
    let dir_s = dir.to_str().unwrap();

    let out = run(&["certs", "init", "--dir", dir_s, "--days", "30"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "owner",
            "--dir",
            dir_s,
            "--days",
            "2",
            "--dns",
            "owner.internal",
            "--dns",
            "localhost",
            "--ip",
            "10.0.0.5",
            "--name",
            "owner-b",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("owner-b.crt").exists());
    assert_eq!(certs_mode(&dir.join("owner-b.key")), 0o600);
    assert!(!dir.join("owner.crt").exists());
    assert!(!cwd.join("certs").exists());

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "dev",
            "--ip",
            "not-an-ip",
            "--dir",
            dir_s,
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // The demo set: everything missing is created, then nothing.
    let out = run(&["certs", "demo"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ca, company, dev, owner, hospital"),
        "{}",
        text(&out)
    );
    for s in ["company", "dev", "owner", "hospital"] {
        assert_eq!(certs_mode(&cwd.join(format!("certs/{s}.key"))), 0o600);
    }
    let pem = std::fs::read_to_string(cwd.join("certs/hospital.crt")).unwrap();
    let (_, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
    assert_eq!(
        identity.unwrap().tenant(),
        Some(common::config::DEMO_TENANT_ID)
    );
    let out = run(&["certs", "demo"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("all present"), "{}", text(&out));
}

async fn get_json(port: u16, path: &str, token: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// Poll `path` on company until `data` is non-empty.
async fn eventually(port: u16, path: &str, token: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get_json(port, path, token).await;
        if body["data"].as_array().is_some_and(|a| !a.is_empty()) {
            return body;
        }
        assert!(Instant::now() < deadline, "nothing arrived at {path}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn up_carries_a_hospital_login_failure_to_company_and_anchors_catch_a_rewritten_chain() {
    let _cleanup = PgCleanup;
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let tenant = "00000000-0000-4000-8000-000000000001";
    let _ = rustls::crypto::ring::default_provider().install_default();

    // A failed login on the hospital…
    let res = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/tenant/auth/login",
            up.port("hospital")
        ))
        .json(&serde_json::json!({ "username": "doctor", "password": "not-the-password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // …reaches company's security-event list over mTLS, naming its source.
    let admin = login(up.port("company"), "/api/v1/company", "admin", "admin123").await;
    let token = admin["data"]["access_token"].as_str().unwrap().to_string();
    let events = eventually(
        up.port("company"),
        "/api/v1/company/security-events?source_service=hospital&kind=auth.login_failed",
        &token,
    )
    .await;
    assert_eq!(events["meta"]["total"], 1, "exactly once: {events}");
    assert_eq!(events["data"][0]["source_tenant"], tenant);

    // The hospital's audit head is anchored on company…
    let anchors_path = format!("/api/v1/company/audit-anchors?service=hospital&tenant={tenant}");
    eventually(up.port("company"), &anchors_path, &token).await;
    let env = up.env_of("hospital");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let verify = [
        "audit",
        "verify",
        "--service",
        "hospital",
        "--against-company",
    ];
    let out = run(&verify, &env, up.dir.path());
    assert!(out.status.success(), "{}", text(&out));

    // …so rewriting the whole chain consistently (hashes and head) passes the
    // local check but not the comparison with company's anchors.
    rewrite_chain(up.url("hospital"));
    let out = run(
        &["audit", "verify", "--service", "hospital"],
        &env,
        up.dir.path(),
    );
    assert!(
        out.status.success(),
        "a consistent rewrite fools the local walk: {}",
        text(&out)
    );
    let out = run(&verify, &env, up.dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does NOT match"), "{}", text(&out));
}

/// What an attacker with the database could do: change row 1 and recompute
/// every hash after it and the head.
fn rewrite_chain(url: &str) {
    use common::audit::AuditRow;
    use common::schema::{audit_head, audit_log};
    use diesel::prelude::*;
    let db = common::db::Db::connect(url, 1, Duration::from_secs(5), hospital::MIGRATIONS).unwrap();
    let mut conn = db.conn().unwrap();
    let disable = match db.backend() {
        common::db::Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        common::db::Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    conn.batch_execute(disable).unwrap();
    let rows: Vec<AuditRow> = audit_log::table
        .order(audit_log::seq.asc())
        .select(AuditRow::as_select())
        .load(&mut *conn)
        .unwrap();
    let mut prev = common::audit::GENESIS_HASH.to_string();
    for (i, mut row) in rows.into_iter().enumerate() {
        if i == 0 {
            row.actor = "rewritten".into();
        }
        row.prev_hash = prev.clone();
        row.hash = row.compute_hash();
        diesel::update(audit_log::table.filter(audit_log::seq.eq(row.seq)))
            .set((
                audit_log::actor.eq(&row.actor),
                audit_log::prev_hash.eq(&row.prev_hash),
                audit_log::hash.eq(&row.hash),
            ))
            .execute(&mut *conn)
            .unwrap();
        prev = row.hash;
    }
    diesel::update(audit_head::table)
        .set(audit_head::hash.eq(&prev))
        .execute(&mut *conn)
        .unwrap();
}

#[test]
fn a_production_hospital_refuses_to_start_without_a_master_key() {
    let _cleanup = PgCleanup;
    require_server_binaries();
    let dir = tempfile::tempdir().unwrap();
    let server = bulkhead().parent().unwrap().join("hospital-server");
    let url = database_url(dir.path(), "hospital");
    let out = Command::new(&server)
        .env("HOSPITAL__SERVER__PORT", "0")
        .env("HOSPITAL__DATABASE__URL", &url)
        .env(
            "HOSPITAL__AUTH__JWT_SECRET",
            "a-jwt-secret-that-is-at-least-32-bytes-long",
        )
        .env("HOSPITAL__PLANE__ENABLED", "false")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("master_key_file"), "{}", text(&out));

    // A world-readable key file is refused too.
    let key = dir.path().join("master.key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let out = Command::new(&server)
        .env("HOSPITAL__SERVER__PORT", "0")
        .env("HOSPITAL__DATABASE__URL", &url)
        .env(
            "HOSPITAL__AUTH__JWT_SECRET",
            "a-jwt-secret-that-is-at-least-32-bytes-long",
        )
        .env("HOSPITAL__PLANE__ENABLED", "false")
        .env("HOSPITAL__CRYPTO__MASTER_KEY_FILE", &key)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a 0644 master key must be refused: {}",
        text(&out)
    );
}
