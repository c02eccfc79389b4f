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

#[tokio::test]
async fn developers_register_and_revoke_their_keys_on_the_page() {
    let app = spawn(Service::Dev).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "vega", "developer").await;
    let mut b = Browser::new(&app);
    b.login_ok("astro", "dev123456", "/home").await;
    let page = b.get("/releases").await;
    assert!(
        page.body.contains("Register a signing key"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let (_, public) = generate().unwrap();
    let done = b
        .post(
            "/signing-keys",
            &[
                ("csrf", &csrf),
                ("name", "page key"),
                ("public_key", &b64(&public)),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = b.get("/releases").await;
    assert!(
        page.body.contains("page key") && page.body.contains("Revoke page key"),
        "{}",
        page.body
    );
    // Bad input: the page again, with the reason; a forged form: refused.
    let bad = b
        .post(
            "/signing-keys",
            &[("csrf", &csrf), ("name", "x"), ("public_key", "not a key")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("public_key"), "{}", bad.body);
    let again = b
        .post(
            "/signing-keys",
            &[
                ("csrf", &csrf),
                ("name", "same"),
                ("public_key", &b64(&public)),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let forged = b
        .post(
            "/signing-keys",
            &[
                ("csrf", "forged"),
                ("name", "y"),
                ("public_key", &b64(&public)),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let id = page
        .body
        .split("/signing-keys/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();

    // Another developer sees the key but may not revoke it.
    let mut vega = Browser::new(&app);
    vega.login_ok("vega", testkit::STRONG_PASSWORD, "/home")
        .await;
    let theirs = vega.get("/releases").await;
    assert!(theirs.body.contains("page key"), "{}", theirs.body);
    assert!(!theirs.body.contains("Revoke page key"), "{}", theirs.body);
    let vcsrf = theirs.csrf();
    let refused = vega
        .post(&format!("/signing-keys/{id}/revoke"), &[("csrf", &vcsrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // Its owner revokes it; it stays listed, revoked, without a button.
    let done = b
        .post(&format!("/signing-keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = b.get("/releases").await;
    assert!(page.body.contains("revoked"), "{}", page.body);
    assert!(!page.body.contains("Revoke page key"), "{}", page.body);
    let twice = b
        .post(&format!("/signing-keys/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

    // The admin registers nothing but may revoke anyone's key.
    let mut adm = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    adm.login_ok(user, password, "/home").await;
    let page = adm.get("/releases").await;
    assert!(
        !page.body.contains("Register a signing key"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_developer_generates_filters_and_exports_the_sandbox_on_its_page_and_the_admin_only_reads(
) {
    let app = spawn(Service::Dev).await;
    let mut b = Browser::new(&app);
    b.login_ok("astro", "dev123456", "/home").await;
    let home = b.get("/home").await;
    assert!(home.body.contains("href=\"/sandbox\""), "{}", home.body);
    let page = b.get("/sandbox").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("The sandbox is empty"), "{}", page.body);
    assert!(page.body.contains("Synthetic data only"));
    // The reset form's csrf comes after the filter form (a GET form has none).
    let csrf = page.csrf();
    let done = b
        .post(
            "/sandbox/reset",
            &[
                ("csrf", &csrf),
                ("seed", "3"),
                ("hospitals", "2"),
                ("patients", "40"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = b.get("/sandbox").await;
    assert!(
        page.body.contains("seed <code>3</code>: 2 hospitals"),
        "{}",
        page.body
    );
    assert!(page.body.contains("SYN-MRN-"), "{}", page.body);
    assert!(page.body.contains("(40 in all)"), "{}", page.body);
    let women = b.get("/sandbox?sex=female").await;
    assert!(!women.body.contains("<td>male</td>"), "{}", women.body);
    let (status, csv) = b.get_bytes("/sandbox/export.csv?sex=female").await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("id,hospital_id,mrn,"));
    assert!(csv
        .lines()
        .skip(1)
        .all(|l| l.contains(",female,") && l.ends_with(",true")));
    // Bad numbers: the page again with the reason, nothing replaced.
    let bad = b
        .post(
            "/sandbox/reset",
            &[
                ("csrf", &csrf),
                ("seed", "3"),
                ("hospitals", "99"),
                ("patients", "40"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("hospitals"), "{}", bad.body);
    let forged = b
        .post(
            "/sandbox/reset",
            &[
                ("csrf", "forged"),
                ("seed", "4"),
                ("hospitals", "1"),
                ("patients", "1"),
            ],
        )
        .await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER);
    let page = b.get("/sandbox").await;
    assert!(page.body.contains("seed <code>3</code>"), "{}", page.body);

    // The admin reads, and has no form; a forged post is refused.
    let mut admin = Browser::new(&app);
    admin.login_ok("devadmin", "devadmin123", "/home").await;
    let page = admin.get("/sandbox").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("Generate the sandbox again"),
        "{}",
        page.body
    );
    let refused = admin
        .post(
            "/sandbox/reset",
            &[
                ("csrf", &page.csrf()),
                ("seed", "4"),
                ("hospitals", "1"),
                ("patients", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

#[tokio::test]
async fn a_developer_versions_rolls_back_and_publishes_configuration_on_its_page() {
    let app = spawn(Service::Dev).await;
    let mut b = Browser::new(&app);
    b.login_ok("astro", "dev123456", "/home").await;
    let home = b.get("/home").await;
    assert!(home.body.contains("href=\"/config\""), "{}", home.body);
    let page = b.get("/config?kind=hospital").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .body
        .contains("No versions of the hospital configuration yet"));
    let csrf = page.csrf();
    for (doc, reason) in [
        (r#"{"files":{"retention_years":10}}"#, "First"),
        (r#"{"files":{"retention_years":12}}"#, "Longer retention"),
    ] {
        let done = b
            .post(
                "/config/hospital/versions",
                &[("csrf", &csrf), ("document", doc), ("reason", reason)],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }
    // Not JSON, or a secret: the page again with the reason, the text kept.
    let bad = b
        .post(
            "/config/hospital/versions",
            &[
                ("csrf", &csrf),
                ("document", "{not json"),
                ("reason", "Broken"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.body.contains("is not JSON") && bad.body.contains("{not json"),
        "{}",
        bad.body
    );
    let secret = b
        .post(
            "/config/hospital/versions",
            &[
                ("csrf", &csrf),
                ("document", r#"{"db":{"password":"x"}}"#),
                ("reason", "Secret"),
            ],
        )
        .await;
    assert_eq!(secret.status, StatusCode::BAD_REQUEST, "{}", secret.body);
    assert!(secret.body.contains("names a secret"), "{}", secret.body);
    // Roll back to 1 from the page: version 3.
    let done = b
        .post(
            "/config/hospital/versions/1/rollback",
            &[("csrf", &csrf), ("reason", "Postponed")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = b.get("/config?kind=hospital").await;
    assert!(
        page.body.contains("Version 3 (rollback to 1)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Longer retention"), "{}", page.body);
    // Publishing with a release that is not this document: refused, shown.
    let wrong = b
        .post(
            "/config/hospital/versions/3/publish",
            &[("csrf", &csrf), ("release_id", "no-such-release")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND, "{}", wrong.body);
    let (status, doc) = b.get_bytes("/config/hospital/versions/3/document").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, br#"{"files":{"retention_years":10}}"#);
    // A forged form changes nothing.
    let forged = b
        .post(
            "/config/hospital/versions",
            &[("csrf", "forged"), ("document", "{}"), ("reason", "Forged")],
        )
        .await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER);

    // The admin reads, without forms; a post is refused.
    let mut admin = Browser::new(&app);
    admin.login_ok("devadmin", "devadmin123", "/home").await;
    let page = admin.get("/config?kind=hospital").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Version 3"), "{}", page.body);
    assert!(!page.body.contains("Add version"), "{}", page.body);
    let refused = admin
        .post(
            "/config/hospital/versions",
            &[
                ("csrf", &page.csrf()),
                ("document", "{}"),
                ("reason", "Admin edit"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        admin.get("/config?kind=dev").await.status,
        StatusCode::NOT_FOUND
    );
}
