//! What an admin may not create: duplicates, weak passwords, unknown roles,
//! malformed names and e-mails. Each is a 4xx in the envelope.

use serde_json::{json, Value};
use testkit::{assert_error, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD};

use crate::ordinary_role;

fn role_of(app: &TestApp) -> &'static str {
    ordinary_role(app).unwrap_or(app.spec().admin_role)
}

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, "/users", Some(token), Some(body))
        .await
}

#[tokio::test]
async fn a_taken_username_or_email_is_a_409() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let role = role_of(&app);
        let (admin_name, _) = app.admin_credentials();
        let first = json!({ "username": "dup", "password": STRONG_PASSWORD, "role": role, "email": "d@example.org" });
        assert_eq!(create(&app, &admin, first).await.0, StatusCode::CREATED);

        for body in [
            json!({ "username": "dup", "password": STRONG_PASSWORD, "role": role }),
            json!({ "username": admin_name, "password": STRONG_PASSWORD, "role": role }),
            json!({ "username": "dup2", "password": STRONG_PASSWORD, "role": role, "email": "d@example.org" }),
        ] {
            let (status, reply) = create(&app, &admin, body.clone()).await;
            assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
        }
        let rows = app.audit_rows().await;
        assert_eq!(
            rows.iter().filter(|r| r.details.contains("\"dup")).count(),
            1,
            "{service}"
        );
    }
}

#[tokio::test]
async fn weak_passwords_are_refused_with_the_field_named() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let role = role_of(&app);
        let too_long = "x1".repeat(37);
        for password in [
            "short1",
            "password123",
            "Password123",
            "12345678",
            "weakling",
            "aaaaaaaaaaaa",
            too_long.as_str(),
        ] {
            let body = json!({ "username": "weakling", "password": password, "role": role });
            let (status, reply) = create(&app, &admin, body).await;
            assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            assert_eq!(
                reply["error"]["details"]["field"], "password",
                "{service}: {password}: {reply}"
            );
        }
        let rows = app.audit_rows().await;
        assert!(
            rows.iter().all(|r| !r.details.contains("weakling")),
            "{service}"
        );
    }
}

#[tokio::test]
async fn an_unknown_role_is_a_400_that_lists_the_roles() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let body = json!({ "username": "wizard", "password": STRONG_PASSWORD, "role": "wizard" });

        let (status, reply) = create(&app, &admin, body).await;

        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let allowed = reply["error"]["details"]["allowed"]
            .as_array()
            .expect("allowed roles");
        assert!(allowed.contains(&json!(app.spec().admin_role)), "{reply}");
        assert!(!allowed.contains(&json!("wizard")));
        let (_, me) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        let path = format!("/users/{}", me["data"]["id"].as_str().unwrap());
        let (status, reply) = app
            .api(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(json!({ "role": "wizard" })),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn malformed_usernames_emails_and_names_are_refused() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let base = |extra: Value| {
        let mut body =
            json!({ "username": "valid.name", "password": STRONG_PASSWORD, "role": "analyst" });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        ("username", json!({ "username": "ab" })),
        ("username", json!({ "username": "has space" })),
        ("username", json!({ "username": "émile" })),
        ("username", json!({ "username": "x".repeat(65) })),
        ("email", json!({ "email": "not-an-email" })),
        ("email", json!({ "email": "a@b" })),
        ("email", json!({ "email": "a b@example.org" })),
        ("email", json!({ "email": "nul\u{0}byte@example.org" })),
        ("full_name", json!({ "full_name": "   " })),
        ("full_name", json!({ "full_name": "bell\u{7}" })),
        ("full_name", json!({ "full_name": "n".repeat(201) })),
    ];
    for (field, extra) in cases {
        let (status, reply) = create(&app, &admin, base(extra.clone())).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            reply["error"]["details"]["field"], field,
            "{extra}: {reply}"
        );
    }
    for broken in [
        json!({ "username": "valid.name", "password": STRONG_PASSWORD }),
        json!({ "username": "valid.name", "password": STRONG_PASSWORD, "role": "analyst", "admin": true }),
        json!({ "username": "valid.name", "password": STRONG_PASSWORD, "role": 7 }),
    ] {
        let (status, reply) = create(&app, &admin, broken).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (_, list) = app.api(Method::GET, "/users", Some(&admin), None).await;
    assert_eq!(
        list["meta"]["total"],
        app.spec().demo_users.len(),
        "nothing was created"
    );
}
