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

/// Finding 15: the typed username of a failed login went to company as
/// `unknown:<name>`. Now only a keyed tag leaves the server: the same name
/// gives the same tag (company can correlate), the name itself is nowhere.
#[tokio::test]
async fn typed_usernames_never_leave_the_server_in_plaintext() {
    let app = spawn(Service::Hospital).await;
    let typed = "Jane.Doe.Typed@example.org";
    for _ in 0..2 {
        let (status, _) = login_raw(&app, typed, "not-her-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login_raw(&app, "someone.else", "not-her-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let rows = app.audit_rows().await;
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "auth.login" && r.outcome == "failure")
        .collect();
    assert_eq!(failed.len(), 3, "{rows:?}");
    assert_eq!(
        failed[0].actor, failed[1].actor,
        "the same name, the same tag"
    );
    assert_ne!(failed[0].actor, failed[2].actor);
    assert!(
        failed[0].actor.starts_with("unknown:"),
        "{}",
        failed[0].actor
    );
    let events = app
        .db()
        .run(|c| common::security::pending(c, 100, None))
        .await
        .unwrap();
    let sent = serde_json::to_string(&events).unwrap();
    assert!(sent.contains(&failed[0].actor), "{sent}");
    let stored = testkit::hospital::stored_bytes(&app);
    for needle in ["jane.doe.typed", "someone.else"] {
        assert!(
            !testkit::hospital::contains_ignoring_case(&stored, needle),
            "{needle} is stored"
        );
    }
}

/// Finding 16: on a hosted server "several accounts match" answered before
/// any bcrypt work, telling which names exist in more than one tenant. A
/// hosted login now must name its tenant, and every failure answers alike.
#[tokio::test]
async fn hosted_login_does_not_tell_which_names_exist_in_several_tenants() {
    const TENANT_B: &str = "2b4f6c1e-8d3a-4e5f-9a7b-0c1d2e3f4a5b";
    let app =
        testkit::spawn_with(Service::Hospital, &[("HOSPITAL__TENANCY__MODE", "hosted")]).await;
    let _b = testkit::spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__TENANCY__MODE", "hosted"),
            ("HOSPITAL__BOOTSTRAP__ADMIN_TENANT_ID", TENANT_B),
            ("HOSPITAL__DATABASE__URL", app.database_url()),
        ],
    )
    .await;

    // Without a tenant: the same refusal for a name in two tenants, in one, in none.
    let mut answers = Vec::new();
    for name in ["hadmin", "no-such-name"] {
        let (status, body) = login_raw(&app, name, "whatever-1").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        answers.push(crate::answer(&body));
    }
    assert_eq!(answers[0], answers[1]);

    // With a tenant: one verification and one answer for every failure.
    let mut answers = Vec::new();
    for (name, password) in [
        ("hadmin", "wrong-password-1"),
        ("no-such-name", "wrong-password-1"),
    ] {
        let before = app.password_verifications();
        let body = json!({ "username": name, "password": password, "tenant_id": TENANT_B });
        let (status, body) = app.api(Method::POST, "/auth/login", None, Some(body)).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert_eq!(app.password_verifications() - before, 1);
        answers.push(crate::answer(&body));
    }
    assert_eq!(answers[0], answers[1]);
    testkit::hospital::login_in(&app, TENANT_B, "hadmin", "hadmin123").await;
    testkit::hospital::login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
}

/// Finding 16: login by e-mail was blocked when an e-mail equalled someone's
/// username. A name that already identifies someone (as a username or an
/// e-mail) cannot be taken as the other, so a login name is never ambiguous.
#[tokio::test]
async fn an_email_never_equals_another_users_username() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "first@example.org", "analyst")
        .await;
    let clash = json!({
        "username": "second", "password": STRONG_PASSWORD, "role": "analyst",
        "email": "first@example.org",
    });
    let (status, body) = app
        .api(Method::POST, "/users", Some(&admin), Some(clash))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let second = json!({
        "username": "second", "password": STRONG_PASSWORD, "role": "analyst",
        "email": "second@example.org",
    });
    let (status, body) = app
        .api(Method::POST, "/users", Some(&admin), Some(second))
        .await;
    assert_ok(status, &body, StatusCode::CREATED);
    let second_id = body["data"]["id"].as_str().unwrap().to_string();
    let clash =
        json!({ "username": "second@example.org", "password": STRONG_PASSWORD, "role": "analyst" });
    let (status, body) = app
        .api(Method::POST, "/users", Some(&admin), Some(clash))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/users/{second_id}"),
            Some(&admin),
            Some(json!({ "email": "first@example.org" })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let (status, body) = login_raw(&app, "second@example.org", STRONG_PASSWORD).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["user"]["username"], "second");
    let (status, body) = login_raw(&app, "first@example.org", STRONG_PASSWORD).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["user"]["username"], "first@example.org");
}
