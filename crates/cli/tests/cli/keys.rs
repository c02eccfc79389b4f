//! Finding 13 from the command line: `bulkhead keys rotate`, `reencrypt`
//! and `rewrap` against a hospital's database, then the server started on
//! the new master key reads what was written before.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    free_port, login, run, run_server, server_binary, text, wait_listening, ChildGuard, TestDb,
};

const PREFIX: &str = "/api/v1/tenant";

/// A 0600 key file with a fresh key.
fn key_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let key = format!(
        "{}{}\n",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The environment the server and the CLI share.
fn env(url: &str, key: &Path, port: u16) -> Vec<(String, String)> {
    [
        ("HOSPITAL__DATABASE__URL", url.to_string()),
        ("HOSPITAL__DEMO", "true".into()),
        ("HOSPITAL__PLANE__ENABLED", "false".into()),
        ("HOSPITAL__AUTH__BCRYPT_COST", "4".into()),
        ("HOSPITAL__AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "0".into()),
        ("HOSPITAL__SERVER__PORT", port.to_string()),
        (
            "HOSPITAL__CRYPTO__MASTER_KEY_FILE",
            key.display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn server(env: &[(String, String)], dir: &Path) -> Command {
    let mut cmd = Command::new(server_binary("hospital"));
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn keys(args: &[&str], env: &[(String, String)], dir: &Path) -> std::process::Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut all = vec!["keys"];
    all.extend_from_slice(args);
    run(&all, &env, dir)
}

async fn call(
    port: u16,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://127.0.0.1:{port}{PREFIX}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

#[tokio::test]
async fn finding_13_keys_rotate_reencrypt_rewrap_then_the_server_reads_on_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "hospital");
    let old_key = key_file(dir.path(), "old.key");
    let port = free_port();
    let old_env = env(db.url(), &old_key, port);

    // A server writes a patient under the first data key.
    let id = {
        let mut child = ChildGuard::spawn(&mut server(&old_env, dir.path()));
        wait_listening(&mut child, port, Duration::from_secs(30));
        let token = login(port, PREFIX, "hadmin", "hadmin123").await["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let p = call(
            port,
            reqwest::Method::POST,
            "/patients",
            &token,
            Some(json!({
                "first_name": "Peregrine", "last_name": "Thistlewood",
                "date_of_birth": "1961-04-09", "sex": "male",
            })),
        )
        .await;
        p["data"]["id"].as_str().unwrap().to_string()
    };

    let out = keys(&["rotate", "--service", "hospital"], &old_env, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("generation 2"), "{}", text(&out));
    let out = keys(
        &["reencrypt", "--service", "hospital"],
        &old_env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 row(s) re-sealed"), "{}", text(&out));
    let out = keys(&["list", "--service", "hospital"], &old_env, dir.path());
    assert!(
        text(&out).contains("generation 2 (active)"),
        "{}",
        text(&out)
    );
    let out = keys(&["rotate", "--service", "company"], &old_env, dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // Rewrap under a new master key; running it again changes nothing.
    let new_key = key_file(dir.path(), "new.key");
    let new_arg = new_key.display().to_string();
    let rewrap = [
        "rewrap",
        "--service",
        "hospital",
        "--new-master-key-file",
        new_arg.as_str(),
    ];
    let out = keys(&rewrap, &old_env, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 data key(s)"), "{}", text(&out));
    assert!(text(&out).contains("restart"), "{}", text(&out));
    let out = keys(&rewrap, &old_env, dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("3 already"), "{}", text(&out));

    // The old key no longer starts the server; the new one does and reads.
    // (run_server collects its output.)
    let out = run_server(&mut server(&env(db.url(), &old_key, 0), dir.path()));
    assert!(!out.status.success(), "{}", text(&out));
    let new_env = env(db.url(), &new_key, port);
    let mut child = ChildGuard::spawn(&mut server(&new_env, dir.path()));
    wait_listening(&mut child, port, Duration::from_secs(30));
    let token = login(port, PREFIX, "hadmin", "hadmin123").await["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let p = call(
        port,
        reqwest::Method::GET,
        &format!("/patients/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(p["data"]["last_name"], "Thistlewood");
    let found = call(
        port,
        reqwest::Method::GET,
        "/patients?search=Thistlewood",
        &token,
        None,
    )
    .await;
    assert_eq!(found["data"][0]["id"], id.as_str());
    drop(child);

    let env_ref: Vec<(&str, &str)> = new_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = run(
        &["audit", "verify", "--service", "hospital"],
        &env_ref,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
}
