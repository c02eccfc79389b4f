//! A large hospital: two hospital-server processes behind one PostgreSQL
//! database. A token and its session work on either instance (sessions are
//! rows, not process memory), ending a session on one ends it on both,
//! registrations on both at once get distinct record numbers, and the audit
//! chain they write together stays one verifiable order.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{free_port, login, run, server_binary, text, wait_listening, ChildGuard};

const PREFIX: &str = "/api/v1/tenant";
const TENANT: &str = "5b0a3f52-9f0e-4a55-8f5e-3c1f6b7d2a10";
const PASSWORD: &str = "a sound hospital passphrase";

async fn call(
    http: &reqwest::Client,
    method: Method,
    port: u16,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("http://127.0.0.1:{port}{PREFIX}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
async fn two_hospital_servers_on_one_database_share_sessions_and_one_chain() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin_url = testdb::require_pg();
    let pg = testdb::PgDatabase::create(&admin_url, "bh_cli").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("jwt");
    std::fs::write(
        &secret,
        "one-secret-shared-by-both-instances-of-this-hospital",
    )
    .unwrap();
    let master = dir.path().join("master.key");
    std::fs::write(&master, "42".repeat(32)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let env = |port: u16| -> Vec<(String, String)> {
        vec![
            ("HOSPITAL__SERVER__PORT".into(), port.to_string()),
            ("HOSPITAL__DATABASE__URL".into(), pg.url()),
            (
                "HOSPITAL__AUTH__JWT_SECRET_FILE".into(),
                secret.display().to_string(),
            ),
            ("HOSPITAL__AUTH__BCRYPT_COST".into(), "4".into()),
            // The admin's second factor is tested elsewhere (api mfa.rs).
            ("HOSPITAL__AUTH__MFA_REQUIRED_ROLES".into(), String::new()),
            (
                "HOSPITAL__CRYPTO__MASTER_KEY_FILE".into(),
                master.display().to_string(),
            ),
            ("HOSPITAL__PLANE__ENABLED".into(), "false".into()),
            ("HOSPITAL__TENANCY__TENANT_ID".into(), TENANT.into()),
            ("HOSPITAL__BOOTSTRAP__ADMIN_USERNAME".into(), "chief".into()),
            (
                "HOSPITAL__BOOTSTRAP__ADMIN_PASSWORD".into(),
                PASSWORD.into(),
            ),
        ]
    };
    let start = |port: u16| {
        let mut child = ChildGuard::spawn(
            Command::new(server_binary("hospital"))
                .envs(env(port))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_listening(&mut child, port, Duration::from_secs(30));
        child
    };
    let (a, b) = (free_port(), free_port());
    let first = start(a);
    let second = start(b);
    let http = reqwest::Client::new();

    // One login, both instances.
    let session = login(a, PREFIX, "chief", PASSWORD).await;
    let token = session["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = session["data"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    for port in [a, b] {
        let (status, body) = call(&http, Method::GET, port, "/users", Some(&token), None).await;
        assert_eq!(status, 200, "the token on {port}: {body}");
    }

    // Registrations on both at once: one MRN sequence, no collision.
    let mut tasks = Vec::new();
    for n in 0..40u16 {
        let (http, token) = (http.clone(), token.clone());
        let port = if n % 2 == 0 { a } else { b };
        tasks.push(tokio::spawn(async move {
            let body = json!({ "first_name": "Scale", "last_name": format!("Out{n}"),
                "date_of_birth": "1970-01-01", "sex": "female" });
            call(
                &http,
                Method::POST,
                port,
                "/patients",
                Some(&token),
                Some(body),
            )
            .await
        }));
    }
    let mut mrns = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 201, "{body}");
        mrns.insert(body["data"]["mrn"].as_str().unwrap().to_string());
    }
    assert_eq!(mrns.len(), 40, "distinct record numbers: {mrns:?}");

    // The refresh token rotates on the other instance; presenting the spent
    // one again on the first ends the session everywhere.
    let (status, body) = call(
        &http,
        Method::POST,
        b,
        "/auth/refresh",
        None,
        Some(json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(status, 200, "refresh on the second instance: {body}");
    let rotated = body["data"]["access_token"].as_str().unwrap().to_string();
    let (status, _) = call(
        &http,
        Method::POST,
        a,
        "/auth/refresh",
        None,
        Some(json!({ "refresh_token": refresh })),
    )
    .await;
    assert_eq!(status, 401, "a spent refresh token is reuse");
    for port in [a, b] {
        for t in [&token, &rotated] {
            let (status, _) = call(&http, Method::GET, port, "/users", Some(t), None).await;
            assert_eq!(status, 401, "the ended session's tokens on {port}");
        }
    }

    drop((first, second));
    // The chain both wrote verifies as one.
    let envs = env(a);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run(
        &["audit", "verify", "--service", "hospital"],
        &envs,
        dir.path(),
    );
    assert!(out.status.success(), "audit verify: {}", text(&out));
}
