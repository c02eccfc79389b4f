//! Lockout after repeated wrong passwords.

use serde_json::json;
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::ordinary_role;

async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, serde_json::Value) {
    let body = json!({ "username": username, "password": password });
    app.api(Method::POST, "/auth/login", None, Some(body)).await
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_are_audited() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let role = ordinary_role(&app).unwrap_or(app.spec().admin_role);
        let id = app.create_user(&admin, "locky", role).await;

        for _ in 0..5 {
            let (status, body) = login(&app, "locky", "wrong-password-1").await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        let (status, refused) = login(&app, "locky", STRONG_PASSWORD).await;

        assert_error(
            status,
            &refused,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
        let (_, wrong) = login(&app, "nobody-here", "x-y-z-1").await;
        assert_eq!(
            refused["error"]["message"], wrong["error"]["message"],
            "{service}"
        );
        let rows = app.audit_rows().await;
        let lockouts: Vec<_> = rows.iter().filter(|r| r.action == "auth.lockout").collect();
        assert_eq!(lockouts.len(), 1, "{service}: {rows:?}");
        assert_eq!(lockouts[0].actor, id);
        assert_eq!(lockouts[0].severity, "critical");
        let last_attempt = rows.iter().rev().find(|r| r.actor == id).unwrap();
        assert_eq!(last_attempt.outcome, "failure");
        assert!(last_attempt.details.contains("locked"), "{last_attempt:?}");

        // The admin sees the lock and lifts it; the right password then works.
        let (_, user) = app
            .api(Method::GET, &format!("/users/{id}"), Some(&admin), None)
            .await;
        assert_eq!(user["data"]["locked"], true, "{user}");
        let unlock = json!({ "unlock": true });
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/users/{id}"),
                Some(&admin),
                Some(unlock),
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["locked"], false);
        let (status, body) = login(&app, "locky", STRONG_PASSWORD).await;
        assert_ok(status, &body, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "careful", "analyst").await;

    for _ in 0..2 {
        for _ in 0..4 {
            let (status, _) = login(&app, "careful", "wrong-password-1").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, body) = login(&app, "careful", STRONG_PASSWORD).await;
        assert_ok(status, &body, StatusCode::OK);
    }
    let rows = app.audit_rows().await;
    assert!(rows.iter().all(|r| r.action != "auth.lockout"), "{rows:?}");
}
