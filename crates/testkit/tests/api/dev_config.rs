//! Dev's versioned configuration (issue 15, item 5): each change a new
//! version with author, reason and its difference from the one before; a
//! rollback is a new version; publishing links a version to the signed
//! release of exactly its document; secrets and bad documents are refused;
//! the admin reads only.

use serde_json::{json, Value};
use testkit::releases::{publish_as, register_key};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp};

async fn add(
    app: &TestApp,
    token: &str,
    kind: &str,
    document: Value,
    reason: &str,
) -> (StatusCode, Value) {
    app.api(
        Method::POST,
        &format!("/config/{kind}/versions"),
        Some(token),
        Some(json!({ "document": document, "reason": reason })),
    )
    .await
}

async fn document(app: &TestApp, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let res = app
        .client
        .get(app.api_url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let sha = res
        .headers()
        .get("x-config-sha256")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, sha, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn versions_keep_author_reason_and_difference_and_a_rollback_is_a_new_version() {
    let app = spawn(Service::Dev).await;
    let astro = app.login("astro", "dev123456").await;
    let astro_id = app.api(Method::GET, "/auth/me", Some(&astro), None).await.1["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v1_doc = json!({ "rate_limit": { "per_minute": 60 }, "files": { "retention_years": 10 } });
    let (status, v1) = add(&app, &astro, "hospital", v1_doc.clone(), "First version").await;
    assert_ok(status, &v1, StatusCode::CREATED);
    assert_eq!(v1["data"]["version"], 1);
    assert_eq!(v1["data"]["author_id"], astro_id.as_str());
    assert_eq!(v1["data"]["changes"].as_array().unwrap().len(), 2, "{v1}");

    let v2_doc = json!({ "files": { "retention_years": 12 }, "rate_limit": { "per_minute": 60 } });
    let (status, v2) = add(
        &app,
        &astro,
        "hospital",
        v2_doc.clone(),
        "Records law of 2026",
    )
    .await;
    assert_ok(status, &v2, StatusCode::CREATED);
    assert_eq!(v2["data"]["version"], 2);
    assert_eq!(
        v2["data"]["changes"],
        json!([{ "path": "files.retention_years", "op": "changed", "before": 10, "after": 12 }])
    );
    // The same document again: nothing to version.
    let (status, same) = add(&app, &astro, "hospital", v2_doc.clone(), "Again").await;
    assert_error(status, &same, StatusCode::CONFLICT, "NO_CHANGE");
    // Kinds are separate lines of versions.
    let (status, owner) = add(
        &app,
        &astro,
        "owner",
        json!({ "heartbeat": { "stale_after": 3 } }),
        "Owner too",
    )
    .await;
    assert_ok(status, &owner, StatusCode::CREATED);
    assert_eq!(owner["data"]["version"], 1);

    let (_, list) = app
        .api(Method::GET, "/config/hospital/versions", Some(&astro), None)
        .await;
    let versions: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    assert_eq!(list["meta"]["total"], 2);
    let (status, one) = app
        .api(
            Method::GET,
            "/config/hospital/versions/2",
            Some(&astro),
            None,
        )
        .await;
    assert_ok(status, &one, StatusCode::OK);
    assert_eq!(one["data"]["document"], v2_doc);
    assert_eq!(one["data"]["reason"], "Records law of 2026");
    // The canonical document: sorted keys, no whitespace; its hash.
    let (status, sha, bytes) = document(&app, &astro, "/config/hospital/versions/2/document").await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        r#"{"files":{"retention_years":12},"rate_limit":{"per_minute":60}}"#
    );
    assert_eq!(sha, one["data"]["sha256"].as_str().unwrap());
    assert_eq!(sha, dev::releases::manifest::sha256_hex(&bytes));

    // Rolling back to 1: version 3, with 1's document and the difference.
    let (status, v3) = app
        .api(
            Method::POST,
            "/config/hospital/versions/1/rollback",
            Some(&astro),
            Some(json!({ "reason": "The law was postponed" })),
        )
        .await;
    assert_ok(status, &v3, StatusCode::CREATED);
    assert_eq!(v3["data"]["version"], 3);
    assert_eq!(v3["data"]["rolled_back_to"], 1);
    assert_eq!(v3["data"]["document"], v1_doc);
    assert_eq!(v3["data"]["changes"][0]["before"], 12);
    assert_eq!(v3["data"]["changes"][0]["after"], 10);
    assert_eq!(v3["data"]["sha256"], v1["data"]["sha256"]);
    let (status, again) = app
        .api(
            Method::POST,
            "/config/hospital/versions/1/rollback",
            Some(&astro),
            Some(json!({ "reason": "Twice" })),
        )
        .await;
    assert_error(status, &again, StatusCode::CONFLICT, "NO_CHANGE");

    // Publishing: only the release of exactly this document, once.
    let key = register_key(&app, &astro, "config key").await;
    let (_, _, doc3) = document(&app, &astro, "/config/hospital/versions/3/document").await;
    let wrong_version = publish_as(&app, &astro, &key, "hospital-config", "2", &doc3).await;
    let wrong_product = publish_as(&app, &astro, &key, "hospital-server", "3", &doc3).await;
    let other_bytes = publish_as(&app, &astro, &key, "hospital-config", "3", b"{}").await;
    for release in [&wrong_version, &wrong_product, &other_bytes] {
        let (status, reply) = app
            .api(
                Method::POST,
                "/config/hospital/versions/3/publish",
                Some(&astro),
                Some(json!({ "release_id": release })),
            )
            .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "RELEASE_MISMATCH");
    }
    // 3 has a release now (other_bytes took "3"): publish 1 with its own.
    let (_, _, doc1) = document(&app, &astro, "/config/hospital/versions/1/document").await;
    let right = publish_as(&app, &astro, &key, "hospital-config", "1", &doc1).await;
    let (status, published) = app
        .api(
            Method::POST,
            "/config/hospital/versions/1/publish",
            Some(&astro),
            Some(json!({ "release_id": right })),
        )
        .await;
    assert_ok(status, &published, StatusCode::OK);
    assert_eq!(published["data"]["published_release_id"], right.as_str());
    assert_eq!(published["data"]["published_by"], astro_id.as_str());
    let (status, twice) = app
        .api(
            Method::POST,
            "/config/hospital/versions/1/publish",
            Some(&astro),
            Some(json!({ "release_id": right })),
        )
        .await;
    assert_error(status, &twice, StatusCode::CONFLICT, "CONFLICT");
    let (status, missing) = app
        .api(
            Method::POST,
            "/config/hospital/versions/2/publish",
            Some(&astro),
            Some(json!({ "release_id": "no-such-release" })),
        )
        .await;
    assert_error(status, &missing, StatusCode::NOT_FOUND, "NOT_FOUND");

    // A release whose key was revoked since is not published.
    let owner_key = register_key(&app, &astro, "owner config key").await;
    let (_, _, owner_doc) = document(&app, &astro, "/config/owner/versions/1/document").await;
    let owner_release = publish_as(&app, &astro, &owner_key, "owner-config", "1", &owner_doc).await;
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/signing-keys/{}/revoke", owner_key.id),
            Some(&astro),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = app
        .api(
            Method::POST,
            "/config/owner/versions/1/publish",
            Some(&astro),
            Some(json!({ "release_id": owner_release })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "SIGNING_KEY_REVOKED");
    let (_, owner_v1) = app
        .api(Method::GET, "/config/owner/versions/1", Some(&astro), None)
        .await;
    assert!(
        owner_v1["data"]["published_release_id"].is_null(),
        "{owner_v1}"
    );

    let rows = app.audit_rows().await;
    let count = |a: &str| rows.iter().filter(|r| r.action == a).count();
    assert_eq!(count("config.create"), 3);
    assert_eq!(count("config.rollback"), 1);
    assert_eq!(count("config.publish"), 1);
}

#[tokio::test]
async fn bad_documents_and_secrets_are_refused_and_the_admin_only_reads() {
    let app = spawn(Service::Dev).await;
    let astro = app.login("astro", "dev123456").await;
    let admin = app.admin_token().await;
    for (document, why) in [
        (json!([1, 2]), "not an object"),
        (json!("text"), "not an object"),
        (json!({ "Files": 1 }), "upper case"),
        (json!({ "database": { "password": "hunter2" } }), "a secret"),
        (json!({ "auth": { "jwt_secret_file": "/x" } }), "a secret"),
        (
            json!({ "a": { "b": { "c": { "d": { "e": { "f": { "g": { "h": { "i": 1 } } } } } } } } }),
            "too deep",
        ),
        (json!({ "blob": "x".repeat(70_000) }), "too large"),
    ] {
        let (status, reply) = add(&app, &astro, "hospital", document, "A reason").await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(!reply.to_string().contains("hunter2"), "{why}: {reply}");
    }
    let (status, reply) = add(&app, &astro, "hospital", json!({ "a": 1 }), "x").await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, reply) = add(&app, &astro, "dev", json!({ "a": 1 }), "Dev itself").await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = app
        .api(
            Method::POST,
            "/config/hospital/versions",
            Some(&astro),
            Some(json!({ "document": {}, "reason": "Unknown field", "colour": 1 })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for path in [
        "/config/hospital/versions/abc",
        "/config/hospital/versions/0",
    ] {
        let (status, reply) = app.api(Method::GET, path, Some(&astro), None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            "/config/hospital/versions/99",
            Some(&astro),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, list) = app
        .api(Method::GET, "/config/hospital/versions", Some(&astro), None)
        .await;
    assert_eq!(
        list["meta"]["total"], 0,
        "a refused document was kept: {list}"
    );

    // The admin reads; only a developer writes; nobody anonymous.
    let (status, v) = add(&app, &astro, "hospital", json!({ "a": 1 }), "For the admin").await;
    assert_ok(status, &v, StatusCode::CREATED);
    for path in [
        "/config/hospital/versions",
        "/config/hospital/versions/1",
        "/config/hospital/versions/1/document",
    ] {
        let (status, _, _) = document(&app, &admin, path).await;
        assert_eq!(status, 200, "{path}");
        let (status, reply) = app.api(Method::GET, path, None, None).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let (status, reply) = add(&app, &admin, "hospital", json!({ "a": 2 }), "Admin edit").await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    for (path, body) in [
        (
            "/config/hospital/versions/1/rollback",
            json!({ "reason": "Admin rollback" }),
        ),
        (
            "/config/hospital/versions/1/publish",
            json!({ "release_id": "x" }),
        ),
    ] {
        let (status, reply) = app.api(Method::POST, path, Some(&admin), Some(body)).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (_, list) = app
        .api(Method::GET, "/config/hospital/versions", Some(&admin), None)
        .await;
    assert_eq!(list["meta"]["total"], 1);
}
