//! Hospital tenancy: an on-site server pinned to one tenant refuses every
//! other tenant's token; a hosted server scopes everything to the caller's.

use common::config::DEMO_TENANT_ID;
use serde_json::{json, Value};
use testkit::{assert_error, assert_ok, spawn_with, Method, Service, StatusCode, TestApp};

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const SECRET: &str = "a-secret-both-hospitals-share-so-only-the-tenant-differs";

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.api(Method::GET, "/auth/me", Some(token), None).await
}

#[tokio::test]
async fn an_on_site_hospital_refuses_a_token_of_another_tenant() {
    let a = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_A),
        ],
    )
    .await;
    // B shares A's secret and even A's database: only the pinned tenant tells them apart.
    let b = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_B),
            ("HOSPITAL__DATABASE__URL", a.database_url()),
        ],
    )
    .await;
    let token_a = a.admin_token().await;
    let token_b = b.admin_token().await;

    let (status, body) = me(&a, &token_a).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["tenant_id"], TENANT_A);
    let (status, body) = me(&b, &token_b).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["tenant_id"], TENANT_B);

    let (status, body) = me(&b, &token_a).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (status, body) = me(&a, &token_b).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (status, body) = b.api(Method::GET, "/users", Some(&token_a), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Asking B for A's tenant at login is refused like a bad password.
    let (user, pass) = b.admin_credentials();
    let login = json!({ "username": user, "password": pass, "tenant_id": TENANT_A });
    let (status, body) = b.api(Method::POST, "/auth/login", None, Some(login)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_on_site_hospital_with_its_own_database_refuses_another_hospitals_token() {
    let a = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_A),
        ],
    )
    .await;
    let b = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_B),
        ],
    )
    .await;
    let token_a = a.admin_token().await;
    let (status, body) = me(&b, &token_a).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

async fn hosted_login(app: &TestApp, tenant: Option<&str>) -> (StatusCode, Value) {
    let (user, pass) = app.admin_credentials();
    let mut body = json!({ "username": user, "password": pass });
    if let Some(t) = tenant {
        body["tenant_id"] = json!(t);
    }
    app.api(Method::POST, "/auth/login", None, Some(body)).await
}

#[tokio::test]
async fn a_hosted_hospital_shows_each_admin_only_their_tenant() {
    let hosted = spawn_with(Service::Hospital, &[("HOSPITAL__TENANCY__MODE", "hosted")]).await;
    // A second start on the same database seeds the demo users into tenant B.
    let _seed_b = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__TENANCY__MODE", "hosted"),
            ("HOSPITAL__BOOTSTRAP__ADMIN_TENANT_ID", TENANT_B),
            ("HOSPITAL__DATABASE__URL", hosted.database_url()),
        ],
    )
    .await;

    // The same username exists in both tenants: the login must name one.
    let (status, body) = hosted_login(&hosted, None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, a) = hosted_login(&hosted, Some(DEMO_TENANT_ID)).await;
    assert_ok(status, &a, StatusCode::OK);
    assert_eq!(a["data"]["user"]["tenant_id"], DEMO_TENANT_ID);
    let (_, b) = hosted_login(&hosted, Some(TENANT_B)).await;
    assert_eq!(b["data"]["user"]["tenant_id"], TENANT_B);
    let token_a = a["data"]["access_token"].as_str().unwrap().to_string();
    let token_b = b["data"]["access_token"].as_str().unwrap().to_string();

    hosted.create_user(&token_a, "alice-a", "doctor").await;
    let bob = hosted.create_user(&token_b, "bob-b", "doctor").await;

    let (status, list) = hosted
        .api(Method::GET, "/users?page_size=100", Some(&token_a), None)
        .await;
    assert_ok(status, &list, StatusCode::OK);
    let users = list["data"].as_array().unwrap();
    assert!(
        users.iter().all(|u| u["tenant_id"] == DEMO_TENANT_ID),
        "{list}"
    );
    let names: Vec<&str> = users
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alice-a") && !names.contains(&"bob-b"),
        "{names:?}"
    );
    assert_eq!(list["meta"]["total"], hosted.spec().demo_users.len() + 1);

    // B's user cannot be reached from A, whatever the verb.
    for (m, path) in [
        (Method::GET, format!("/users/{bob}")),
        (Method::POST, format!("/users/{bob}/deactivate")),
    ] {
        let (status, body) = hosted.api(m, &path, Some(&token_a), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (status, body) = hosted
        .api(
            Method::PATCH,
            &format!("/users/{bob}"),
            Some(&token_a),
            Some(json!({ "role": "nurse" })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // The audit log and the chain check follow the same line.
    let (status, audit) = hosted
        .api(Method::GET, "/audit?page_size=100", Some(&token_a), None)
        .await;
    assert_ok(status, &audit, StatusCode::OK);
    let rows = audit["data"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["tenant_id"] == DEMO_TENANT_ID),
        "{audit}"
    );
    let (status, body) = hosted
        .api(Method::GET, "/audit/verify", Some(&token_a), None)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (_, me_b) = me(&hosted, &token_b).await;
    assert_eq!(me_b["data"]["tenant_id"], TENANT_B);
}
