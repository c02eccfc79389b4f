//! Logging in and `…/auth/me` on every server.

use common::config::DEMO_TENANT_ID;
use serde_json::{json, Value};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, STRONG_PASSWORD};

async fn login_raw(app: &testkit::TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": password });
    app.api(Method::POST, "/auth/login", None, Some(body)).await
}

#[tokio::test]
async fn login_answers_a_token_its_lifetime_and_the_user_on_every_server() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (username, password) = app.admin_credentials();

        let (status, body) = login_raw(&app, username, password).await;

        assert_ok(status, &body, StatusCode::OK);
        let data = &body["data"];
        let token = data["access_token"].as_str().expect("access_token");
        assert_eq!(token.split('.').count(), 3, "{service}: not a JWT: {token}");
        assert_eq!(data["token_type"], "Bearer");
        assert_eq!(data["expires_in"], 900, "{service}: {body}");
        let user = &data["user"];
        assert!(
            uuid::Uuid::parse_str(user["id"].as_str().unwrap_or("")).is_ok(),
            "{body}"
        );
        assert_eq!(user["username"], username);
        assert_eq!(user["role"], app.spec().admin_role);
        if service == Service::Hospital {
            assert_eq!(user["tenant_id"], DEMO_TENANT_ID, "{body}");
        } else {
            assert!(
                user.get("tenant_id").is_none(),
                "{service} has no tenants: {body}"
            );
        }
        assert!(
            !body.to_string().contains("$2"),
            "a bcrypt hash leaked: {body}"
        );
    }
}

#[tokio::test]
async fn me_answers_who_the_token_belongs_to() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (username, password) = app.admin_credentials();
        let (_, login) = login_raw(&app, username, password).await;
        let token = login["data"]["access_token"].as_str().unwrap();

        let (status, body) = app.api(Method::GET, "/auth/me", Some(token), None).await;

        assert_ok(status, &body, StatusCode::OK);
        let me = &body["data"];
        assert_eq!(me["id"], login["data"]["user"]["id"], "{service}: {body}");
        assert_eq!(me["username"], username);
        assert_eq!(me["role"], app.spec().admin_role);
        assert_eq!(me["active"], true);
        if service == Service::Hospital {
            assert_eq!(me["tenant_id"], DEMO_TENANT_ID, "{body}");
        } else {
            assert!(me.get("tenant_id").is_none(), "{body}");
        }
        assert!(me.get("password_hash").is_none(), "{body}");
    }
}

#[tokio::test]
async fn every_demo_user_logs_in_with_their_role() {
    for service in Service::ALL {
        let app = spawn(service).await;
        for (username, password, role) in app.spec().demo_users {
            let (status, body) = login_raw(&app, username, password).await;
            assert_ok(status, &body, StatusCode::OK);
            assert_eq!(
                body["data"]["user"]["role"], *role,
                "{service}/{username}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (username, _) = app.admin_credentials();

        let (wrong_status, wrong) = login_raw(&app, username, "not-the-password").await;
        let (unknown_status, unknown) = login_raw(&app, "nobody-at-all", "whatever-1").await;

        assert_error(
            wrong_status,
            &wrong,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert_error(
            unknown_status,
            &unknown,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        assert_eq!(
            wrong["error"]["message"], unknown["error"]["message"],
            "{service}: the message must not tell which part was wrong"
        );
        assert!(wrong.get("data").is_none(), "{wrong}");
    }
}

#[tokio::test]
async fn empty_credentials_are_a_validation_error_not_a_login_attempt() {
    let app = spawn(Service::Company).await;
    for (u, p) in [("", "admin123"), ("admin", "")] {
        let (status, body) = login_raw(&app, u, p).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let rows = app.audit_rows().await;
    assert!(
        rows.iter().all(|r| r.action != "auth.login"),
        "a refused request is not a login attempt: {rows:?}"
    );
}

#[tokio::test]
async fn a_user_may_log_in_with_their_email() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let body = json!({
            "username": "mail.user",
            "password": STRONG_PASSWORD,
            "role": app.spec().admin_role,
            "email": "mail.user@example.org",
        });
        let (status, created) = app
            .api(Method::POST, "/users", Some(&admin), Some(body))
            .await;
        assert_ok(status, &created, StatusCode::CREATED);

        let (status, body) = login_raw(&app, "mail.user@example.org", STRONG_PASSWORD).await;

        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["user"]["username"], "mail.user", "{service}");
    }
}

#[tokio::test]
async fn a_tenant_id_is_refused_on_servers_without_tenants() {
    for service in [Service::Company, Service::Dev, Service::Owner] {
        let app = spawn(service).await;
        let (username, password) = app.admin_credentials();
        let body =
            json!({ "username": username, "password": password, "tenant_id": DEMO_TENANT_ID });
        let (status, body) = app.api(Method::POST, "/auth/login", None, Some(body)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}
