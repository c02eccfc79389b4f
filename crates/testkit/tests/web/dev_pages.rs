//! The dev server's releases page: a developer sees the signed releases
//! with their signers and the signing keys, downloads an artifact from the
//! page, and a revoked key is marked; through the API's queries.

use dev::releases::manifest::{b64, generate, sha256_hex, sign, Manifest};
use reqwest::StatusCode;
use serde_json::json;
use testkit::{spawn, Method, Service};

use crate::client::Browser;

#[tokio::test]
async fn the_releases_page_lists_releases_and_keys_and_serves_the_artifact() {
    let app = spawn(Service::Dev).await;
    let astro = app.login("astro", "dev123456").await;
    let (pkcs8, public) = generate().unwrap();
    let (status, key) = app
        .api(
            Method::POST,
            "/signing-keys",
            Some(&astro),
            Some(json!({ "name": "laptop-2026", "public_key": b64(&public) })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key_id = key["data"]["id"].as_str().unwrap().to_string();
    let artifact = b"hospital-server 1.4.0 build".to_vec();
    let m = Manifest {
        min_schema_version: 1,
        notes: "Patient files".into(),
        product: "hospital-server".into(),
        sha256: sha256_hex(&artifact),
        size: artifact.len() as i64,
        version: "1.4.0".into(),
    };
    let signature = sign(&pkcs8, &m).unwrap();
    let res = app
        .client
        .post(app.api_url("/releases"))
        .query(&[
            ("product", m.product.clone()),
            ("version", m.version.clone()),
            ("sha256", m.sha256.clone()),
            ("size", m.size.to_string()),
            ("notes", m.notes.clone()),
            ("min_schema_version", m.min_schema_version.to_string()),
            ("signing_key_id", key_id.clone()),
            ("signature", signature),
        ])
        .bearer_auth(&astro)
        .header("content-type", "application/octet-stream")
        .body(artifact.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let release = res.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut b = Browser::new(&app);
    b.login_ok("astro", "dev123456", "/home").await;
    let home = b.get("/home").await;
    assert!(home.body.contains("href=\"/releases\""), "{}", home.body);
    let page = b.get("/releases").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for want in [
        "hospital-server",
        "1.4.0",
        "laptop-2026",
        "astro",
        &m.sha256,
        "active",
    ] {
        assert!(page.body.contains(want), "{want} missing: {}", page.body);
    }
    let (status, got) = b.get_bytes(&format!("/releases/{release}/artifact")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, artifact);

    // Revoked: the release shows it, the key is marked.
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/signing-keys/{key_id}/revoke"),
            Some(&astro),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let page = b.get("/releases").await;
    assert!(page.body.contains("(key since revoked)"), "{}", page.body);
    assert!(page.body.contains("revoked"), "{}", page.body);

    // Without a session: to the login page, nothing listed.
    let mut anon = Browser::new(&app);
    let page = anon.get("/releases").await;
    assert_ne!(page.status, StatusCode::OK);
    assert!(!page.body.contains("laptop-2026"));
}
