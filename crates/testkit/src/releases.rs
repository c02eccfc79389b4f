//! Signed releases on a dev server under test: a registered signing key
//! and a release signed with it, as a developer makes them (the API, the
//! pages and the browser tests share these).

use reqwest::{Method, StatusCode};
use serde_json::json;

use dev::releases::manifest::{b64, generate, sha256_hex, sign, Manifest};

use crate::app::TestApp;
use crate::assert::assert_ok;

/// A registered key: its id and private key (PKCS#8).
pub struct Key {
    /// Its id on dev.
    pub id: String,
    /// The private key, which never left the test.
    pub pkcs8: Vec<u8>,
}

/// Register a fresh key pair's public key as `token`'s developer.
pub async fn register_key(app: &TestApp, token: &str, name: &str) -> Key {
    let (pkcs8, public) = generate().expect("an Ed25519 key pair");
    let (status, body) = app
        .api(
            Method::POST,
            "/signing-keys",
            Some(token),
            Some(json!({ "name": name, "public_key": b64(&public) })),
        )
        .await;
    assert_ok(status, &body, StatusCode::CREATED);
    assert_eq!(body["data"]["status"], "active", "{body}");
    assert_eq!(body["data"]["public_key"], b64(&public), "{body}");
    Key {
        id: body["data"]["id"].as_str().expect("key id").to_string(),
        pkcs8,
    }
}

/// The manifest of `bytes` as `product` `version`.
pub fn manifest_of(product: &str, version: &str, bytes: &[u8]) -> Manifest {
    Manifest {
        min_schema_version: 9,
        notes: "Fixes the \"lost\" appointment.\nSecond line.".into(),
        product: product.into(),
        sha256: sha256_hex(bytes),
        size: i64::try_from(bytes.len()).expect("a small artifact"),
        version: version.into(),
    }
}

/// Sign `bytes` as `hospital-server` `version` with `key` and upload them
/// as `token`; the release's id on dev.
pub async fn publish(app: &TestApp, token: &str, key: &Key, version: &str, bytes: &[u8]) -> String {
    publish_as(app, token, key, "hospital-server", version, bytes).await
}

/// [`publish`] for another product.
pub async fn publish_as(
    app: &TestApp,
    token: &str,
    key: &Key,
    product: &str,
    version: &str,
    bytes: &[u8],
) -> String {
    let m = manifest_of(product, version, bytes);
    let signature = sign(&key.pkcs8, &m).expect("signing");
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
            ("signing_key_id", key.id.clone()),
            ("signature", signature),
        ])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("uploading a release");
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_ok(status, &body, StatusCode::CREATED);
    body["data"]["id"].as_str().expect("release id").to_string()
}
