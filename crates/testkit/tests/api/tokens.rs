//! Tokens: bound to their server, revoked by logout, and every forged or
//! stale variant refused.

use common::config::DEMO_TENANT_ID;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use testkit::{assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp};

const SHARED_SECRET: &str = "one-secret-shared-by-all-four-servers-in-this-test!!";

async fn me_status(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.api(Method::GET, "/auth/me", Some(token), None).await
}

#[tokio::test]
async fn a_token_of_one_server_is_refused_by_each_of_the_others() {
    // One signing secret everywhere, so the signature cannot tell them apart
    // (the forged-token test below pins the audience check on its own).
    let mut apps = Vec::new();
    for service in Service::ALL {
        let key = format!("{}__AUTH__JWT_SECRET", service.env_prefix());
        apps.push(spawn_with(service, &[(key.as_str(), SHARED_SECRET)]).await);
    }
    let mut tokens = Vec::new();
    for app in &apps {
        tokens.push(app.admin_token().await);
    }

    for (i, issuer) in apps.iter().enumerate() {
        for (j, other) in apps.iter().enumerate() {
            let (status, body) = me_status(other, &tokens[i]).await;
            if i == j {
                assert_ok(status, &body, StatusCode::OK);
            } else {
                assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
                assert!(
                    body.get("data").is_none(),
                    "{} accepted a {} token: {body}",
                    other.service(),
                    issuer.service()
                );
            }
        }
    }
}

#[tokio::test]
async fn logout_revokes_that_token_and_only_that_token() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        let other_session = app.admin_token().await;
        // Used once, so the server remembers it as verified (`TokenKeys`):
        // the per-request check must still refuse it after the logout.
        assert_eq!(me_status(&app, &token).await.0, StatusCode::OK);

        let (status, body) = app
            .api(Method::POST, "/auth/logout", Some(&token), None)
            .await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["logged_out"], true);

        let (status, body) = me_status(&app, &token).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        let (status, body) = app
            .api(Method::POST, "/auth/logout", Some(&token), None)
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert_eq!(
            me_status(&app, &other_session).await.0,
            StatusCode::OK,
            "{service}"
        );
        let rows = app.audit_rows().await;
        assert!(
            rows.iter().any(|r| r.action == "auth.logout"),
            "{service}: no auth.logout"
        );
    }
}

#[tokio::test]
async fn requests_without_a_usable_bearer_token_get_401() {
    let app = spawn(Service::Company).await;
    let token = app.admin_token().await;
    let url = app.api_url("/auth/me");
    let attempts = [
        None,
        Some("".to_string()),
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some(format!("Basic {token}")),
        Some("Bearer not.a.token".to_string()),
        Some(format!("Bearer {token}x")),
    ];
    for header in attempts {
        let mut req = app.client.get(&url);
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let reply = testkit::Reply::read(req.send().await.unwrap()).await;
        assert_error(
            reply.status,
            &reply.body,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
    }
}

/// A user id and the session of one of their tokens.
struct Who {
    id: String,
    sid: String,
}

/// Who holds `token` (its user id and its session).
async fn who(app: &TestApp, token: &str) -> Who {
    let (_, me) = me_status(app, token).await;
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let key = jsonwebtoken::DecodingKey::from_secret(app.jwt_secret().as_bytes());
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    Who {
        id: me["data"]["id"].as_str().unwrap().to_string(),
        sid: claims["sid"].as_str().unwrap().to_string(),
    }
}

/// Sign claims with `secret`, starting from a valid token of `app`'s admin
/// (in the admin's live session).
fn forge(app: &TestApp, secret: &str, who: &Who, change: impl FnOnce(&mut Value)) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let issuer = app.service().token_issuer();
    let mut claims = json!({
        "sub": who.id, "iss": issuer, "aud": issuer, "exp": now + 300, "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(), "role": app.spec().admin_role,
        "sid": who.sid,
    });
    if app.service() == Service::Hospital {
        claims["tenant_id"] = json!(DEMO_TENANT_ID);
    }
    change(&mut claims);
    let key = EncodingKey::from_secret(secret.as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

#[tokio::test]
async fn forged_expired_and_stale_tokens_are_refused() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let admin_id = who(&app, &admin).await;
        let secret = app.jwt_secret().to_string();

        // The forging works: the same claims, correctly signed, are accepted.
        let genuine = forge(&app, &secret, &admin_id, |_| {});
        assert_eq!(
            me_status(&app, &genuine).await.0,
            StatusCode::OK,
            "{service}"
        );

        let nobody_id = Who {
            id: uuid::Uuid::new_v4().to_string(),
            sid: admin_id.sid.clone(),
        };
        let other_audience = if service == Service::Company {
            "bulkhead-dev"
        } else {
            "bulkhead-company"
        };
        let refused: Vec<(&str, String)> = vec![
            (
                "expired",
                forge(&app, &secret, &admin_id, |c| c["exp"] = json!(1_000_000)),
            ),
            (
                "other audience",
                forge(&app, &secret, &admin_id, |c| {
                    c["aud"] = json!(other_audience)
                }),
            ),
            (
                "other issuer",
                forge(&app, &secret, &admin_id, |c| {
                    c["iss"] = json!(other_audience)
                }),
            ),
            (
                "other secret",
                forge(
                    &app,
                    "a-completely-different-secret-of-48-bytes-long!!",
                    &admin_id,
                    |_| {},
                ),
            ),
            ("unknown user", forge(&app, &secret, &nobody_id, |_| {})),
            (
                "role it does not hold",
                forge(&app, &secret, &admin_id, |c| c["role"] = json!("patient")),
            ),
            (
                "no expiry",
                forge(&app, &secret, &admin_id, |c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ];
        for (what, token) in refused {
            let (status, body) = me_status(&app, &token).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
            assert!(
                body.get("data").is_none(),
                "{service}: {what} token accepted"
            );
        }
    }
}

#[tokio::test]
async fn a_hospital_token_must_carry_the_servers_tenant() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let id = who(&app, &admin).await;
    let secret = app.jwt_secret().to_string();
    let other_tenant = uuid::Uuid::new_v4().to_string();

    for token in [
        forge(&app, &secret, &id, |c| c["tenant_id"] = json!(other_tenant)),
        forge(&app, &secret, &id, |c| {
            c.as_object_mut().unwrap().remove("tenant_id");
        }),
    ] {
        let (status, body) = me_status(&app, &token).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
}

/// Finding 2 (second half): a token issued before a password change stayed
/// valid for its whole lifetime. A change now ends every earlier session,
/// the one that asked included; the answer carries a fresh token.
#[tokio::test]
async fn a_token_issued_before_a_password_change_is_refused() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let role = crate::ordinary_role(&app).unwrap_or(app.spec().admin_role);
        app.create_user(&admin, "changer", role).await;
        let asking = app.login("changer", testkit::STRONG_PASSWORD).await;
        let elsewhere = app.login("changer", testkit::STRONG_PASSWORD).await;

        let change = json!({ "current_password": testkit::STRONG_PASSWORD, "new_password": "another-long-passphrase" });
        let (status, body) = app
            .api(Method::POST, "/auth/password", Some(&asking), Some(change))
            .await;
        assert_ok(status, &body, StatusCode::OK);
        let fresh = body["data"]["access_token"].as_str().unwrap().to_string();

        for old in [&asking, &elsewhere] {
            let (status, body) = me_status(&app, old).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        assert_eq!(me_status(&app, &fresh).await.0, StatusCode::OK, "{service}");
        assert_eq!(me_status(&app, &admin).await.0, StatusCode::OK, "{service}");
    }
}

/// Finding 2: an admin's reset, a deactivation and a role change end the
/// user's sessions too, and undoing the change does not revive them.
#[tokio::test]
async fn a_reset_deactivation_or_role_change_ends_earlier_sessions() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "moved", "analyst").await;
    let user = format!("/users/{id}");

    let before = app.login("moved", testkit::STRONG_PASSWORD).await;
    for (path, body) in [
        (format!("{user}/deactivate"), None),
        (format!("{user}/activate"), None),
    ] {
        let (status, reply) = app.api(Method::POST, &path, Some(&admin), body).await;
        assert_ok(status, &reply, StatusCode::OK);
    }
    let (status, _) = me_status(&app, &before).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reactivation revived a token"
    );

    let before = app.login("moved", testkit::STRONG_PASSWORD).await;
    for role in ["team_lead", "analyst"] {
        let (status, reply) = app
            .api(
                Method::PATCH,
                &user,
                Some(&admin),
                Some(json!({ "role": role })),
            )
            .await;
        assert_ok(status, &reply, StatusCode::OK);
    }
    let (status, _) = me_status(&app, &before).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a role round trip revived a token"
    );

    let before = app.login("moved", testkit::STRONG_PASSWORD).await;
    let reset = json!({ "password": "reset-by-the-admin-1" });
    let (status, reply) = app
        .api(Method::PATCH, &user, Some(&admin), Some(reset))
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["must_change_password"], true);
    let (status, _) = me_status(&app, &before).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let after = app.login("moved", "reset-by-the-admin-1").await;
    let (status, _) = app.api(Method::GET, "/users", Some(&after), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "must change the reset password first"
    );
}

/// Issue 9: the extractor loads the user and the token's revocation in
/// one query; a revoked token of a live user and a live token of a
/// removed user are both refused.
#[tokio::test]
async fn one_query_answers_both_the_user_and_the_revocation() {
    let app = spawn(Service::Company).await;
    let token = app.admin_token().await;
    let (_, me) = me_status(&app, &token).await;
    let id = me["data"]["id"].as_str().unwrap().to_string();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let key = jsonwebtoken::DecodingKey::from_secret(app.jwt_secret().as_bytes());
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .unwrap()
        .claims;
    let jti = claims["jti"].as_str().unwrap().to_string();
    let sid = claims["sid"].as_str().unwrap().to_string();
    let (uid, j, s) = (id.clone(), jti.clone(), sid.clone());
    let found = app
        .db()
        .run(move |c| common::accounts::store::find_for_token(c, &uid, &j, Some(&s)))
        .await
        .unwrap();
    assert!(
        matches!(found, Some((ref u, false, Some(ref session))) if u.id == id && session.id == sid)
    );
    let (status, _) = app
        .api(Method::POST, "/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (uid, j) = (id.clone(), jti.clone());
    let found = app
        .db()
        .run(move |c| common::accounts::store::find_for_token(c, &uid, &j, Some(&sid)))
        .await
        .unwrap();
    assert!(
        matches!(found, Some((_, true, Some(ref session))) if session.ended_reason.as_deref() == Some("logout"))
    );
    let found = app
        .db()
        .run(move |c| common::accounts::store::find_for_token(c, "no-such-user", &jti, None))
        .await
        .unwrap();
    assert!(found.is_none());
}
