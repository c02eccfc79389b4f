//! `bulkhead release keygen` and `release sign` against a real dev-server:
//! the key pair is made locally (private key 0600), the public key
//! registered, and the server accepts the artifact under the printed
//! signature — and refuses it once a byte of the artifact changes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{
    free_port, login, run, server_binary, text, wait_listening, ChildGuard, TestDb,
};

const PREFIX: &str = "/api/v1/dev";

#[tokio::test]
async fn keygen_and_sign_make_a_signature_the_dev_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = run(
        &["release", "keygen", "--out", keys.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(keys.join("signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let public = std::fs::read_to_string(keys.join("signing.pub")).unwrap();
    assert_eq!(public.trim(), String::from_utf8_lossy(&out.stdout).trim());
    // Never over an existing key.
    let again = run(
        &["release", "keygen", "--out", keys.to_str().unwrap()],
        &[],
        dir.path(),
    );
    assert!(!again.status.success(), "{}", text(&again));

    let artifact = dir.path().join("hospital-server");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&artifact, &bytes).unwrap();
    let manifest_path = dir.path().join("manifest.json");
    let out = run(
        &[
            "release",
            "sign",
            "--key",
            keys.join("signing.key").to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--product",
            "hospital-server",
            "--release-version",
            "1.0.0",
            "--notes",
            "first",
            "--min-schema-version",
            "4",
            "--manifest-out",
            manifest_path.to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let signature = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["size"], bytes.len());

    // A dev-server of its own.
    let db = TestDb::new(dir.path(), "dev");
    let port = free_port();
    let mut cmd = Command::new(server_binary("dev"));
    cmd.envs([
        ("DEV__DATABASE__URL", db.url().to_string()),
        ("DEV__DEMO", "true".into()),
        ("DEV__PLANE__ENABLED", "false".into()),
        ("DEV__AUTH__BCRYPT_COST", "4".into()),
        ("DEV__AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "0".into()),
        ("DEV__SERVER__PORT", port.to_string()),
        (
            "DEV__RELEASES__ROOT",
            dir.path().join("releases").display().to_string(),
        ),
    ])
    .current_dir(dir.path())
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(&mut cmd);
    wait_listening(&mut child, port, Duration::from_secs(30));
    let token = login(port, PREFIX, "astro", "dev123456").await["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{PREFIX}{p}");
    let res = client
        .post(url("/signing-keys"))
        .bearer_auth(&token)
        .json(&json!({ "name": "cli key", "public_key": public.trim() }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let key: Value = res.json().await.unwrap();
    let key_id = key["data"]["id"].as_str().unwrap().to_string();

    let query = |m: &Value| -> Vec<(String, String)> {
        [
            "product",
            "version",
            "sha256",
            "size",
            "notes",
            "min_schema_version",
        ]
        .iter()
        .map(|k| {
            let v = &m[*k];
            (
                (*k).to_string(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .chain([
            ("signing_key_id".to_string(), key_id.clone()),
            ("signature".to_string(), signature.clone()),
        ])
        .collect()
    };
    // A flipped byte: refused, sha256 mismatch.
    let mut tampered = bytes.clone();
    tampered[1000] ^= 0x40;
    let res = client
        .post(url("/releases"))
        .bearer_auth(&token)
        .query(&query(&manifest))
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    // The artifact as signed: accepted.
    let res = client
        .post(url("/releases"))
        .bearer_auth(&token)
        .query(&query(&manifest))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["signing_key_name"], "cli key");
    let id = body["data"]["id"].as_str().unwrap();
    let got = client
        .get(url(&format!("/releases/{id}/artifact")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got[..] == bytes[..], "downloaded bytes differ");
}
