//! Server-side sessions and refresh tokens (issue 13 item 2): rotation and
//! reuse detection, idle and absolute expiry on a clock the tests move (no
//! sleeping), concurrent logins of one user, the owner's list and ending,
//! the admin's ending, credential changes, and the attacks of the brief.

use common::schema::{auth_sessions, security_outbox};
use diesel::prelude::*;
use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.api(
        Method::POST,
        "/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

/// POST each body to `path` (no bearer), all in flight at once.
async fn all_at_once(app: &TestApp, path: &str, bodies: Vec<Value>) -> Vec<(StatusCode, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for body in bodies {
        let (client, url) = (app.client.clone(), app.api_url(path));
        set.spawn(async move {
            let reply = client.post(url).json(&body).send().await.unwrap();
            let status = reply.status();
            (status, reply.json::<Value>().await.unwrap())
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.api(Method::GET, "/auth/me", Some(token), None).await.0
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

async fn security_events(app: &TestApp, kind: &'static str) -> Vec<(String, String)> {
    app.db()
        .run(move |c| {
            Ok(security_outbox::table
                .filter(security_outbox::kind.eq(kind))
                .select((security_outbox::severity, security_outbox::actor))
                .load(c)?)
        })
        .await
        .unwrap()
}

async fn ended_reason(app: &TestApp, sid: &str) -> Option<String> {
    let sid = sid.to_string();
    app.db()
        .run(move |c| {
            Ok(auth_sessions::table
                .find(sid)
                .select(auth_sessions::ended_reason)
                .first::<Option<String>>(c)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refresh_rotates_and_a_reused_token_ends_the_session() {
    let app = spawn(Service::Company).await;
    let (user, pass) = app.admin_credentials();
    let login = app.login_full(user, pass).await;
    let (access0, refresh0, sid) = (
        s(&login, "access_token"),
        s(&login, "refresh_token"),
        s(&login, "session_id"),
    );
    assert_eq!(refresh0.len(), 64);
    // The refresh token is stored hashed only.
    let stored: Vec<String> = app
        .db()
        .run(|c| {
            Ok(common::schema::refresh_tokens::table
                .select(common::schema::refresh_tokens::token_hash)
                .load(c)?)
        })
        .await
        .unwrap();
    assert!(!stored.contains(&refresh0));

    let (status, body) = refresh(&app, &refresh0).await;
    assert_ok(status, &body, StatusCode::OK);
    let data = &body["data"];
    let (access1, refresh1) = (s(data, "access_token"), s(data, "refresh_token"));
    assert_eq!(s(data, "session_id"), sid);
    assert_ne!(refresh1, refresh0);
    assert_ne!(access1, access0);
    assert_eq!(me(&app, &access1).await, StatusCode::OK);
    // The access token of before the rotation lives on until its expiry.
    assert_eq!(me(&app, &access0).await, StatusCode::OK);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "auth.refresh"));

    // The spent token again: reuse. The whole session ends.
    let (status, body) = refresh(&app, &refresh0).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(body.to_string().contains("already used"), "{body}");
    for token in [&access0, &access1] {
        assert_eq!(me(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = refresh(&app, &refresh1).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(
        ended_reason(&app, &sid).await.as_deref(),
        Some("refresh_reuse")
    );
    let rows = app.audit_rows().await;
    let reuse = rows
        .iter()
        .find(|r| r.action == "auth.refresh_reuse")
        .expect("the reuse is audited");
    assert_eq!(reuse.severity, "critical");
    let events = security_events(&app, "auth.refresh_reuse").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "critical");

    // Unknown and malformed tokens.
    let (status, body) = refresh(&app, &"0".repeat(64)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (status, body) = refresh(&app, "short").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh1, "extra": 1 })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(app.verify_audit().await.problem.is_none());
    app.stop().await;
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_let_exactly_one_win() {
    let app = spawn(Service::Dev).await;
    let (user, pass) = app.admin_credentials();
    let login = app.login_full(user, pass).await;
    let token = s(&login, "refresh_token");
    let bodies = (0..8).map(|_| json!({ "refresh_token": token })).collect();
    let results = all_at_once(&app, "/auth/refresh", bodies).await;
    let won = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(won, 1, "{results:?}");
    for (status, body) in &results {
        if *status != StatusCode::OK {
            assert_error(*status, body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
    }
    // The losers were reuse: the session is over, the winner's token too.
    let winner = results
        .iter()
        .find(|(status, _)| *status == StatusCode::OK)
        .map(|(_, b)| s(&b["data"], "access_token"))
        .unwrap();
    assert_eq!(me(&app, &winner).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_clinical_session_idles_out_after_fifteen_minutes_others_later() {
    let app = spawn(Service::Hospital).await;
    let doctor = app.login_full("doctor", "doctor123").await;
    let admin = app.login_full("hadmin", "hadmin123").await;
    let (doc_access, doc_refresh) = (s(&doctor, "access_token"), s(&doctor, "refresh_token"));
    let admin_access = s(&admin, "access_token");
    // Used every ten minutes, the doctor's session lives on.
    for _ in 0..3 {
        app.advance_clock(600);
        assert_eq!(me(&app, &doc_access).await, StatusCode::OK);
        assert_eq!(me(&app, &admin_access).await, StatusCode::OK);
    }
    // A refresh counts as use too.
    app.advance_clock(600);
    let (status, body) = refresh(&app, &doc_refresh).await;
    assert_ok(status, &body, StatusCode::OK);
    let doc_refresh = s(&body["data"], "refresh_token");
    let doc_access = s(&body["data"], "access_token");
    // Fifteen minutes without use: over, for the access and the refresh token.
    app.advance_clock(901);
    let (status, body) = app
        .api(Method::GET, "/auth/me", Some(&doc_access), None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(body.to_string().contains("inactivity"), "{body}");
    let (status, body) = refresh(&app, &doc_refresh).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // The admin (not a clinical role) has an hour.
    assert_eq!(me(&app, &admin_access).await, StatusCode::OK);
    app.advance_clock(3601);
    assert_eq!(me(&app, &admin_access).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn the_absolute_lifetime_ends_even_a_busy_session() {
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__AUTH__SESSION_ABSOLUTE_SECS", "600"),
            ("COMPANY__AUTH__SESSION_IDLE_SECS", "300"),
            ("COMPANY__AUTH__SESSION_IDLE_OTHER_SECS", "300"),
        ],
    )
    .await;
    let (user, pass) = app.admin_credentials();
    let login = app.login_full(user, pass).await;
    let (mut access, mut refresh_token) = (s(&login, "access_token"), s(&login, "refresh_token"));
    for _ in 0..2 {
        app.advance_clock(250);
        let (status, body) = refresh(&app, &refresh_token).await;
        assert_ok(status, &body, StatusCode::OK);
        access = s(&body["data"], "access_token");
        refresh_token = s(&body["data"], "refresh_token");
        assert_eq!(me(&app, &access).await, StatusCode::OK);
    }
    app.advance_clock(101);
    let (status, body) = app.api(Method::GET, "/auth/me", Some(&access), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(body.to_string().contains("maximum lifetime"), "{body}");
    let (status, body) = refresh(&app, &refresh_token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn session_settings_are_checked_at_start() {
    for (key, value) in [
        ("COMPANY__AUTH__SESSION_ABSOLUTE_SECS", "10"),
        ("COMPANY__AUTH__SESSION_IDLE_SECS", "59"),
        ("COMPANY__AUTH__SESSION_IDLE_OTHER_SECS", "999999"),
        ("COMPANY__AUTH__SESSION_IDLE_ROLES", "no-such-role"),
    ] {
        let started = testkit::try_spawn_with(Service::Company, &[(key, value)]).await;
        let err = started
            .err()
            .unwrap_or_else(|| panic!("{key}={value} was accepted"));
        assert!(
            format!("{err:#}").contains(&key[9..].to_lowercase().replace("__", ".")),
            "{key}: {err:#}"
        );
    }
}

#[tokio::test]
async fn fifty_concurrent_logins_of_one_user_are_fifty_working_sessions() {
    let app = spawn(Service::Company).await;
    let (user, pass) = app.admin_credentials();
    let bodies = (0..50)
        .map(|_| json!({ "username": user, "password": pass }))
        .collect();
    let replies = all_at_once(&app, "/auth/login", bodies).await;
    assert!(
        replies.iter().all(|(status, _)| *status == StatusCode::OK),
        "{replies:?}"
    );
    let logins: Vec<Value> = replies
        .into_iter()
        .map(|(_, b)| b["data"].clone())
        .collect();
    let mut sids: Vec<String> = logins.iter().map(|l| s(l, "session_id")).collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 50);
    for l in &logins {
        assert_eq!(me(&app, &s(l, "access_token")).await, StatusCode::OK);
    }
    let token = s(&logins[0], "access_token");
    let (status, body) = app
        .api(
            Method::GET,
            "/auth/sessions?page_size=100",
            Some(&token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 50, "{body}");
    // Each refresh token works for its own session.
    for l in logins.iter().take(5) {
        let (status, body) = refresh(&app, &s(l, "refresh_token")).await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["session_id"], l["session_id"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_owner_lists_and_ends_their_sessions_and_logout_ends_the_current_one() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let role = crate::ordinary_role(&app).unwrap();
    app.create_user(&admin, "sessy", role).await;
    app.create_user(&admin, "other", role).await;
    let one = app.login_full("sessy", STRONG_PASSWORD).await;
    let two = app.login_full("sessy", STRONG_PASSWORD).await;
    let other = app.login_full("other", STRONG_PASSWORD).await;
    let t1 = s(&one, "access_token");

    let (status, body) = app
        .api(Method::GET, "/auth/sessions", Some(&t1), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 2, "{body}");
    let list = body["data"].as_array().unwrap();
    let current: Vec<&Value> = list.iter().filter(|v| v["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], one["session_id"]);
    assert!(list.iter().all(|v| v["address"].is_string()));

    // Another user's session is "not found", and lives on.
    let path = format!("/auth/sessions/{}", s(&other, "session_id"));
    let (status, body) = app.api(Method::DELETE, &path, Some(&t1), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(me(&app, &s(&other, "access_token")).await, StatusCode::OK);

    // End the second session from the first.
    let path = format!("/auth/sessions/{}", s(&two, "session_id"));
    let (status, body) = app.api(Method::DELETE, &path, Some(&t1), None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(
        me(&app, &s(&two, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = refresh(&app, &s(&two, "refresh_token")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (status, body) = app.api(Method::DELETE, &path, Some(&t1), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .api(Method::GET, "/auth/sessions", Some(&t1), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 1, "{body}");
    // Without a token: 401.
    let (status, body) = app.api(Method::GET, "/auth/sessions", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Logout ends the current session: its refresh token is dead too.
    let (status, _) = app.api(Method::POST, "/auth/logout", Some(&t1), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&app, &s(&one, "refresh_token")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(
        ended_reason(&app, &s(&one, "session_id")).await.as_deref(),
        Some("logout")
    );
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "auth.session_end"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_user_and_no_one_else_may() {
    for service in [
        Service::Hospital,
        Service::Company,
        Service::Dev,
        Service::Owner,
    ] {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let (me_status, me_body) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        assert_eq!(me_status, StatusCode::OK);
        let admin_id = s(&me_body["data"], "id");
        let role = crate::ordinary_role(&app).unwrap_or(app.spec().admin_role);
        let id = app.create_user(&admin, "target", role).await;
        let a = app.login_full("target", STRONG_PASSWORD).await;
        let b = app.login_full("target", STRONG_PASSWORD).await;
        let path = format!("/users/{id}/sessions");

        // Every other role is refused, and nothing ends.
        for (name, password, _) in app.demo_non_admins() {
            let token = app.login(name, password).await;
            let (status, body) = app.api(Method::DELETE, &path, Some(&token), None).await;
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
        let (status, body) = app.api(Method::DELETE, &path, None, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert_eq!(me(&app, &s(&a, "access_token")).await, StatusCode::OK);

        let missing = format!("/users/{}/sessions", uuid::Uuid::new_v4());
        let (status, body) = app.api(Method::DELETE, &missing, Some(&admin), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

        let (status, body) = app.api(Method::DELETE, &path, Some(&admin), None).await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["ended"], 2, "{service}: {body}");
        for l in [&a, &b] {
            assert_eq!(
                me(&app, &s(l, "access_token")).await,
                StatusCode::UNAUTHORIZED
            );
            let (status, _) = refresh(&app, &s(l, "refresh_token")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let rows = app.audit_rows().await;
        let row = rows
            .iter()
            .find(|r| r.action == "user.sessions_end")
            .expect("audited");
        assert_eq!(row.actor, admin_id);
        assert_eq!(row.resource, format!("user:{id}"));
        // The admin's own session is untouched.
        assert_eq!(me(&app, &admin).await, StatusCode::OK);
        app.stop().await;
    }
}

#[tokio::test]
async fn credential_changes_and_deactivation_end_every_session() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let role = crate::ordinary_role(&app).unwrap();
    let id = app.create_user(&admin, "changer", role).await;

    // Own password change: the other sessions end, the answer opens a new one.
    let a = app.login_full("changer", STRONG_PASSWORD).await;
    let b = app.login_full("changer", STRONG_PASSWORD).await;
    let new_password = "another-horse-battery-7";
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/password",
            Some(&s(&a, "access_token")),
            Some(json!({ "current_password": STRONG_PASSWORD, "new_password": new_password })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    for l in [&a, &b] {
        let (status, _) = refresh(&app, &s(l, "refresh_token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            ended_reason(&app, &s(l, "session_id")).await.as_deref(),
            Some("password_change")
        );
    }
    assert_eq!(
        me(&app, &s(&body["data"], "access_token")).await,
        StatusCode::OK
    );
    let (status, fresh) = refresh(&app, &s(&body["data"], "refresh_token")).await;
    assert_ok(status, &fresh, StatusCode::OK);

    // Role change by the admin.
    let c = app.login_full("changer", new_password).await;
    let other_role = app
        .spec()
        .roles()
        .into_iter()
        .find(|r| *r != role && *r != app.spec().admin_role);
    if let Some(other_role) = other_role {
        let (status, body) = app
            .api(
                Method::PATCH,
                &format!("/users/{id}"),
                Some(&admin),
                Some(json!({ "role": other_role })),
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        let (status, _) = refresh(&app, &s(&c, "refresh_token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            ended_reason(&app, &s(&c, "session_id")).await.as_deref(),
            Some("role_change")
        );
    }

    // Deactivation: a deactivated user's refresh token is refused.
    let d = app.login_full("changer", new_password).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/users/{id}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = refresh(&app, &s(&d, "refresh_token")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(
        ended_reason(&app, &s(&d, "session_id")).await.as_deref(),
        Some("deactivated")
    );
    // Reactivation does not revive it.
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/users/{id}/activate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = refresh(&app, &s(&d, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&app, &s(&d, "access_token")).await,
        StatusCode::UNAUTHORIZED
    );

    // An admin's password reset.
    let e = app.login_full("changer", new_password).await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&admin),
            Some(json!({ "password": "reset-horse-battery-5" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, _) = refresh(&app, &s(&e, "refresh_token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ended_reason(&app, &s(&e, "session_id")).await.as_deref(),
        Some("password_reset")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_token_of_one_server_is_refused_by_another() {
    let company = spawn(Service::Company).await;
    let dev = spawn(Service::Dev).await;
    let (user, pass) = company.admin_credentials();
    let login = company.login_full(user, pass).await;
    let token = s(&login, "refresh_token");
    let (status, body) = refresh(&dev, &token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // Still good where it was issued (it was not spent by the refusal).
    let (status, body) = refresh(&company, &token).await;
    assert_ok(status, &body, StatusCode::OK);
    company.stop().await;
    dev.stop().await;
}

#[tokio::test]
async fn a_refresh_answers_for_its_own_session_whatever_bearer_comes_with_it() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let role = crate::ordinary_role(&app).unwrap();
    let victim_id = app.create_user(&admin, "victim", role).await;
    app.create_user(&admin, "mallory", role).await;
    let victim = app.login_full("victim", STRONG_PASSWORD).await;
    let mallory = app.login_full("mallory", STRONG_PASSWORD).await;
    // Mallory presents her access token with her own refresh token: she
    // gets her own session back, never the victim's.
    let reply = app
        .client
        .post(app.api_url("/auth/refresh"))
        .bearer_auth(s(&victim, "access_token"))
        .json(&json!({ "refresh_token": s(&mallory, "refresh_token") }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let body: Value = reply.json().await.unwrap();
    let token = s(&body["data"], "access_token");
    let (status, me_body) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me_body["data"]["username"], "mallory");
    assert_ne!(me_body["data"]["id"], victim_id.as_str());
    assert_eq!(body["data"]["session_id"], mallory["session_id"]);
    // The victim's session is untouched.
    assert_eq!(me(&app, &s(&victim, "access_token")).await, StatusCode::OK);
    let (status, _) = refresh(&app, &s(&victim, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_access_token_without_a_live_session_is_refused() {
    let app = spawn(Service::Company).await;
    let token = app.admin_token().await;
    assert_eq!(me(&app, &token).await, StatusCode::OK);
    // A token signed with the right key but naming no session (as tokens
    // issued before sessions did) is refused.
    let key = jsonwebtoken::EncodingKey::from_secret(app.jwt_secret().as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let dkey = jsonwebtoken::DecodingKey::from_secret(app.jwt_secret().as_bytes());
    let mut claims = jsonwebtoken::decode::<Value>(&token, &dkey, &validation)
        .unwrap()
        .claims;
    for sid in [Value::Null, json!(uuid::Uuid::new_v4().to_string())] {
        claims["sid"] = sid;
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &key,
        )
        .unwrap();
        assert_eq!(me(&app, &forged).await, StatusCode::UNAUTHORIZED);
    }
    app.stop().await;
}
