//! A release from a developer to a hospital, with the real binaries
//! (issue 15, item 7): `bulkhead release keygen` and `sign` on the
//! developer's machine, the upload to dev, company's pull, a production
//! user's promotion and a team lead's approval, then `bulkhead update
//! --check` and `--stage` on the hospital (its own plane identity, the
//! approval key `bulkhead up --demo` pins) and owner showing the hospital's
//! staged, verified release from its heartbeat.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{login, run, text};
use crate::up::Up;

fn token(body: &Value) -> String {
    body["data"]["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_signed_release_reaches_a_hospital_through_two_people_and_owner_sees_it() {
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let dir = up.dir.path().to_path_buf();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();

    // The developer's machine: a key pair and a signed artifact.
    let keys = dir.join("dev-keys");
    let out = run(
        &["release", "keygen", "--out", keys.to_str().unwrap()],
        &[],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let public = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let artifact = dir.join("hospital-server.bin");
    let bytes: Vec<u8> = (0..250_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&artifact, &bytes).unwrap();
    let manifest = dir.join("manifest.json");
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
            "9.9.9",
            "--manifest-out",
            manifest.to_str().unwrap(),
        ],
        &[],
        &dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let signature = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();

    // Dev: register the key, upload the release.
    let dev = up.port("dev");
    let astro = token(&login(dev, "/api/v1/dev", "astro", "dev123456").await);
    let res = client
        .post(format!("http://127.0.0.1:{dev}/api/v1/dev/signing-keys"))
        .bearer_auth(&astro)
        .json(&json!({ "name": "release laptop", "public_key": public }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let key_id = res.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = client
        .post(format!("http://127.0.0.1:{dev}/api/v1/dev/releases"))
        .bearer_auth(&astro)
        .query(&[
            ("product", "hospital-server".to_string()),
            ("version", "9.9.9".to_string()),
            ("sha256", m["sha256"].as_str().unwrap().to_string()),
            ("size", m["size"].to_string()),
            ("signing_key_id", key_id),
            ("signature", signature),
        ])
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let release = res.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Company: two people.
    let company = up.port("company");
    let url = |p: &str| format!("http://127.0.0.1:{company}/api/v1/company{p}");
    let production = token(&login(company, "/api/v1/company", "production", "production123").await);
    let teamlead = token(&login(company, "/api/v1/company", "teamlead", "teamlead123").await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = client
            .post(url(&format!("/releases/{release}/promote")))
            .bearer_auth(&production)
            .send()
            .await
            .unwrap();
        if res.status().as_u16() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "company never pulled the release: {}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let res = client
        .post(url(&format!("/releases/{release}/approve")))
        .bearer_auth(&teamlead)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());

    // The hospital's operator: check, then stage (the hospital's own plane
    // identity; the pinned key is the one `bulkhead up --demo` hands out).
    let pin = {
        let res = client
            .get(url("/release-approval-key"))
            .bearer_auth(&production)
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["data"]["public_key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let staged = dir.join("staged");
    let mut env = up.env_of("hospital");
    env.push(("HOSPITAL__UPDATES__APPROVAL_PUBLIC_KEY".into(), pin));
    env.push((
        "HOSPITAL__UPDATES__DIR".into(),
        staged.display().to_string(),
    ));
    env.push(("HOSPITAL__DEMO".into(), "true".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run(&["update", "--check"], &env, &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).starts_with("available: running"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("approved 9.9.9"), "{}", text(&out));
    let out = run(&["update", "--stage"], &env, &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("verified:"), "{}", text(&out));
    assert_eq!(
        std::fs::read(staged.join("hospital-server-9.9.9")).unwrap(),
        bytes
    );

    // Owner sees it with the hospital's next heartbeat.
    let owner = up.port("owner");
    let owner_token = token(&login(owner, "/api/v1/owner", "owner", "owner123").await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body: Value = client
            .get(format!(
                "http://127.0.0.1:{owner}/api/v1/owner/tenants/{}/database-health",
                common::config::DEMO_TENANT_ID
            ))
            .bearer_auth(&owner_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["data"]["update"]["status"] == "verified" {
            assert_eq!(body["data"]["update"]["version"], "9.9.9");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "owner never showed the staged release: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Neither flag, or both: a usage error.
    for args in [&["update"][..], &["update", "--check", "--stage"][..]] {
        let out = run(args, &env, &dir);
        assert!(!out.status.success(), "{}", text(&out));
    }
}
