//! The server binaries started alone, as production starts them: what they
//! refuse, and what they need.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    free_port, login, run_server, server_binary, text, wait_listening, ChildGuard, TestDb,
};

#[test]
fn demo_mode_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_server(
        Command::new(server_binary("dev"))
            .arg("--demo")
            .env("DEV__SERVER__HOST", "0.0.0.0")
            .env("DEV__SERVER__PORT", "0")
            .current_dir(dir.path()),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("demo mode is refused"),
        "{}",
        text(&out)
    );
}

#[test]
fn production_start_needs_a_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "owner");
    let out = run_server(
        Command::new(server_binary("owner"))
            .env("OWNER__SERVER__PORT", "0")
            .env("OWNER__DATABASE__URL", db.url())
            .current_dir(dir.path()),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("jwt_secret"), "{}", text(&out));
}

/// With a secret from a file and the bootstrap admin from env, a production
/// start has exactly that admin and no demo user.
#[tokio::test]
async fn production_start_bootstraps_the_admin_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "owner");
    let secret = dir.path().join("jwt");
    std::fs::write(&secret, "a-production-secret-of-at-least-32-bytes!").unwrap();
    let port = free_port();
    let mut child = ChildGuard::spawn(
        Command::new(server_binary("owner"))
            .env("OWNER__SERVER__PORT", port.to_string())
            .env("OWNER__DATABASE__URL", db.url())
            .env("OWNER__AUTH__JWT_SECRET_FILE", &secret)
            .env("OWNER__AUTH__BCRYPT_COST", "4")
            .env("OWNER__PLANE__ENABLED", "false")
            .env("OWNER__BOOTSTRAP__ADMIN_USERNAME", "root-operator")
            .env(
                "OWNER__BOOTSTRAP__ADMIN_PASSWORD",
                "a sound operator passphrase",
            )
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_listening(&mut child, port, Duration::from_secs(30));

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
}

#[test]
fn a_production_hospital_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "hospital");
    let hospital = |extra: &[(&str, &std::path::Path)]| {
        let mut cmd = Command::new(server_binary("hospital"));
        cmd.env("HOSPITAL__SERVER__PORT", "0")
            .env("HOSPITAL__DATABASE__URL", db.url())
            .env(
                "HOSPITAL__AUTH__JWT_SECRET",
                "a-jwt-secret-that-is-at-least-32-bytes-long",
            )
            .env("HOSPITAL__PLANE__ENABLED", "false")
            .current_dir(dir.path());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        run_server(&mut cmd)
    };

    let out = hospital(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("master_key_file"), "{}", text(&out));

    // A world-readable key file is refused too.
    let key = dir.path().join("master.key");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let out = hospital(&[("HOSPITAL__CRYPTO__MASTER_KEY_FILE", &key)]);
    assert!(
        !out.status.success(),
        "a 0644 master key must be refused: {}",
        text(&out)
    );
}
