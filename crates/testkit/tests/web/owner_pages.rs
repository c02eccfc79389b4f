//! Owner's tenant pages show each hospital's status and health; a
//! suspended tenant's hospital says so on its login form.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{spawn, spawn_with, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn the_tenant_list_shows_status_and_health() {
    let app = spawn_with(
        Service::Owner,
        &[("OWNER__RBAC__ROLES__AUDITOR", "audit.read")],
    )
    .await;
    let admin = app.admin_token().await;
    let body = json!({
        "name": "Abdullah Hospital", "subdomain": "abdullah", "db_name": "hospital_abdullah",
        "region": "eu-west",
        "first_admin": { "email": "a@abdullah.example.org", "password": STRONG_PASSWORD,
                         "first_name": "Amina", "last_name": "Khan" }
    });
    let (status, reply) = app
        .api(Method::POST, "/tenants", Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["data"]["tenant"]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/tenants/{id}"),
            Some(&admin),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    let list = b.get("/tenants").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("<th scope=\"col\">Health</th>"),
        "{}",
        list.body
    );
    let row = list
        .body
        .lines()
        .find(|l| l.contains("Abdullah Hospital"))
        .unwrap_or_else(|| panic!("no row: {}", list.body));
    assert!(
        row.contains("<td>suspended</td>")
            && row.contains("<td>unreachable</td>")
            && row.contains("never"),
        "{row}"
    );
    let detail = b.get(&format!("/tenants/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail.body.contains("eu-west") && detail.body.contains("hospital_abdullah"),
        "{}",
        detail.body
    );
    assert!(!detail.body.contains(STRONG_PASSWORD));

    // A role without tenants.read sees neither page.
    app.create_user(&admin, "auditor1", "auditor").await;
    let mut other = Browser::new(&app);
    other.login_ok("auditor1", STRONG_PASSWORD, "/home").await;
    assert_eq!(other.get("/tenants").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        other.get(&format!("/tenants/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_suspended_hospital_says_so_at_login() {
    let app = spawn(Service::Hospital).await;
    app.sql(&format!(
        "INSERT INTO tenant_standing (tenant_id, status, modules, features, updated_at) \
         VALUES ('{}', 'suspended', '[]', '[]', '2026-12-06 00:00:00')",
        common::config::DEMO_TENANT_ID
    ))
    .await
    .unwrap();
    let mut b = Browser::new(&app);
    let page = b.login("doctor", "doctor123").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("suspended"), "{}", page.body);
    assert!(
        b.get("/home").await.status != StatusCode::OK,
        "no session was made"
    );
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "doctor", "password": "doctor123" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "TENANT_SUSPENDED", "{body}");
}
