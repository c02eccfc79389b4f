//! TOTP MFA: enrolment, the second login step, replay, clock skew, backup
//! codes, the MFA token's single purpose, throttling, disabling, admin reset.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};
use totp_rs::{Builder, Secret, Totp};

use crate::ordinary_role;

/// The app's generator for a base32 secret (no skew: one code per step).
fn authenticator(secret: &str) -> Totp {
    Builder::new()
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_skew(0)
        .build()
        .unwrap()
}

fn step_now() -> i64 {
    chrono::Utc::now().timestamp() / 30
}

/// The code of time step `step`.
fn code_at(totp: &Totp, step: i64) -> String {
    totp.generate(u64::try_from(step * 30).unwrap()).to_string()
}

/// Wait out the last seconds of a step, so the server's step is the test's.
async fn steady() {
    let into = chrono::Utc::now().timestamp() % 30;
    if into >= 26 {
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::try_from(31 - into).unwrap(),
        ))
        .await;
    }
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, path, token, Some(body)).await
}

/// A new user of an ordinary role (or the admin role) and its token.
async fn user(app: &TestApp, name: &str) -> (String, String) {
    let admin = app.admin_token().await;
    let role = ordinary_role(app).unwrap_or(app.spec().admin_role);
    let id = app.create_user(&admin, name, role).await;
    (id, app.login(name, STRONG_PASSWORD).await)
}

/// Set up and confirm with the code of `confirm_step` (relative to now).
/// Returns the authenticator, the backup codes and the step confirmed.
async fn enrol(app: &TestApp, token: &str, confirm_step: i64) -> (Totp, Vec<String>, i64) {
    let (status, setup) = post(app, "/auth/mfa/totp/setup", Some(token), json!({})).await;
    assert_ok(status, &setup, StatusCode::OK);
    let uri = setup["data"]["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let svg = setup["data"]["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
    let totp = authenticator(setup["data"]["secret"].as_str().unwrap());
    steady().await;
    let step = step_now() + confirm_step;
    let (status, on) = post(
        app,
        "/auth/mfa/totp/confirm",
        Some(token),
        json!({ "code": code_at(&totp, step) }),
    )
    .await;
    assert_ok(status, &on, StatusCode::OK);
    let codes: Vec<String> = on["data"]["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (totp, codes, step)
}

/// The password step of `name`: the MFA token (asserts mfa_required).
async fn mfa_token(app: &TestApp, name: &str) -> String {
    let body = json!({ "username": name, "password": STRONG_PASSWORD });
    let (status, reply) = post(app, "/auth/login", None, body).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["mfa_required"], true, "{reply}");
    assert!(reply["data"].get("access_token").is_none(), "{reply}");
    reply["data"]["mfa_token"].as_str().unwrap().to_string()
}

async fn verify(app: &TestApp, token: &str, code: &str) -> (StatusCode, Value) {
    post(
        app,
        "/auth/mfa/verify",
        None,
        json!({ "mfa_token": token, "code": code }),
    )
    .await
}

#[test]
fn rfc6238_sha1_vectors() {
    // RFC 6238 appendix B, SHA-1, 8 digits, secret "12345678901234567890".
    let totp = Builder::new()
        .with_secret(Secret::from(b"12345678901234567890".to_vec()))
        .with_digits(8)
        .build()
        .unwrap();
    for (time, code) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp.generate(time).to_string(), code, "t={time}");
    }
}

#[tokio::test]
async fn enrol_then_login_needs_a_code_on_every_server() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (_, token) = user(&app, "mfa-user").await;
        let (totp, _, step) = enrol(&app, &token, 0).await;

        let pending = mfa_token(&app, "mfa-user").await;
        // The MFA token is not an access token.
        let (status, body) = app.api(Method::GET, "/auth/me", Some(&pending), None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

        let (status, done) = verify(&app, &pending, &code_at(&totp, step + 1)).await;
        assert_ok(status, &done, StatusCode::OK);
        let access = done["data"]["access_token"].as_str().unwrap();
        let (status, me) = app.api(Method::GET, "/auth/me", Some(access), None).await;
        assert_ok(status, &me, StatusCode::OK);
        // The secret is never shown again.
        let (status, body) = post(&app, "/auth/mfa/totp/setup", Some(access), json!({})).await;
        assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
        let rows = app.audit_rows().await;
        assert!(
            rows.iter().any(|r| r.action == "auth.mfa_enabled"),
            "{service}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_code_is_accepted_once_and_skew_is_one_step() {
    let app = spawn(Service::Company).await;
    let (_, token) = user(&app, "skewy").await;
    let (status, setup) = post(&app, "/auth/mfa/totp/setup", Some(&token), json!({})).await;
    assert_ok(status, &setup, StatusCode::OK);
    let totp = authenticator(setup["data"]["secret"].as_str().unwrap());
    steady().await;
    let now = step_now();
    for far in [now - 2, now + 2] {
        let (status, body) = post(
            &app,
            "/auth/mfa/totp/confirm",
            Some(&token),
            json!({ "code": code_at(&totp, far) }),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // One step behind is accepted.
    let (status, body) = post(
        &app,
        "/auth/mfa/totp/confirm",
        Some(&token),
        json!({ "code": code_at(&totp, now - 1) }),
    )
    .await;
    assert_ok(status, &body, StatusCode::OK);

    let pending = mfa_token(&app, "skewy").await;
    // The confirmed step again, and an earlier one: refused.
    for old in [now - 1, now - 2] {
        let (status, body) = verify(&app, &pending, &code_at(&totp, old)).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // One step ahead is accepted, once.
    let ahead = code_at(&totp, now + 1);
    let (status, body) = verify(&app, &pending, &ahead).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = verify(&app, &pending, &ahead).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test]
async fn a_backup_code_works_once() {
    let app = spawn(Service::Dev).await;
    let (_, token) = user(&app, "backupy").await;
    let (_, codes, _) = enrol(&app, &token, 0).await;
    let pending = mfa_token(&app, "backupy").await;
    let (status, body) = verify(&app, &pending, &codes[3]).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = verify(&app, &pending, &codes[3]).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // Typed without the dash, another one works.
    let (status, body) = verify(&app, &pending, &codes[4].replace('-', "")).await;
    assert_ok(status, &body, StatusCode::OK);
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "auth.mfa_backup_code_used")
            .count(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_passwords() {
    let app = spawn(Service::Owner).await;
    let (id, token) = user(&app, "guessy").await;
    let (totp, _, step) = enrol(&app, &token, 0).await;
    let pending = mfa_token(&app, "guessy").await;
    for _ in 0..5 {
        let (status, body) = verify(&app, &pending, "000000").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    // Now even the right code is refused from this address.
    let (status, body) = verify(&app, &pending, &code_at(&totp, step + 1)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let rows = app.audit_rows().await;
    let lockouts: Vec<_> = rows.iter().filter(|r| r.action == "auth.lockout").collect();
    assert_eq!(lockouts.len(), 1, "{rows:?}");
    assert_eq!(lockouts[0].actor, id);
    assert!(rows.iter().any(|r| r.details.contains("bad_mfa_code")));
    app.stop().await;
}

#[tokio::test]
async fn disabling_needs_a_code_and_an_admin_can_reset() {
    let app = spawn(Service::Company).await;
    let (id, token) = user(&app, "offy").await;
    let (_, codes, _) = enrol(&app, &token, 0).await;
    let (status, body) = post(
        &app,
        "/auth/mfa/disable",
        Some(&token),
        json!({ "code": "123456" }),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body) = post(
        &app,
        "/auth/mfa/disable",
        Some(&token),
        json!({ "code": codes[0] }),
    )
    .await;
    assert_ok(status, &body, StatusCode::OK);
    // Plain login again.
    app.login("offy", STRONG_PASSWORD).await;

    // Enrol again; the admin resets it (critical, security event).
    enrol(&app, &token, 0).await;
    mfa_token(&app, "offy").await;
    let admin = app.admin_token().await;
    let (status, body) = post(
        &app,
        &format!("/users/{id}/mfa/reset"),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["had_mfa"], true);
    // The reset ended the user's sessions: the old token is refused.
    let (status, body) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let token = app.login("offy", STRONG_PASSWORD).await;
    let rows = app.audit_rows().await;
    let reset = rows.iter().find(|r| r.action == "auth.mfa_reset").unwrap();
    assert_eq!(reset.severity, "critical");
    // Not for an ordinary user.
    let (status, body) = post(
        &app,
        &format!("/users/{id}/mfa/reset"),
        Some(&token),
        json!({}),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    app.stop().await;
}

#[tokio::test]
async fn a_role_that_needs_mfa_may_only_enrol_until_it_has() {
    let app = testkit::spawn_with(
        Service::Company,
        &[("COMPANY__AUTH__MFA_REQUIRED_ROLES", "analyst")],
    )
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "needy", "analyst").await;
    let token = app.login("needy", STRONG_PASSWORD).await;
    // Anything but enrolment (and me/logout/password) is refused.
    let (status, body) = app.api(Method::GET, "/users", Some(&token), None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("second factor"),
        "{body}"
    );
    let (status, body) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    let (totp, _, step) = enrol(&app, &token, 0).await;
    // Enrolled: the next login takes a code, and the role's routes answer again.
    let pending = mfa_token(&app, "needy").await;
    let (status, done) = verify(&app, &pending, &code_at(&totp, step + 1)).await;
    assert_ok(status, &done, StatusCode::OK);
    let access = done["data"]["access_token"].as_str().unwrap();
    let (status, body) = app.api(Method::GET, "/users", Some(access), None).await;
    // Whatever the role may do there, it is no longer the MFA refusal.
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.contains("second factor"), "{status} {body}");
    // Other roles are not asked.
    let (status, body) = app.api(Method::GET, "/users", Some(&admin), None).await;
    assert_ok(status, &body, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_role_in_the_mfa_policy_stops_the_server() {
    let started = testkit::try_spawn_with(
        Service::Dev,
        &[("DEV__AUTH__MFA_REQUIRED_ROLES", "no-such-role")],
    )
    .await;
    assert!(started.is_err());
}

#[tokio::test]
async fn outside_demo_the_admin_roles_must_use_mfa_by_default() {
    for service in Service::ALL {
        let key = |k: &str| format!("{}__{k}", service.env_prefix());
        let (demo, user, pass) = (
            key("DEMO"),
            key("BOOTSTRAP__ADMIN_USERNAME"),
            key("BOOTSTRAP__ADMIN_PASSWORD"),
        );
        let env = [
            (demo.as_str(), "false"),
            (user.as_str(), "first-admin"),
            (pass.as_str(), STRONG_PASSWORD),
        ];
        let app = testkit::spawn_with(service, &env).await;
        let token = app.login("first-admin", STRONG_PASSWORD).await;
        let (status, body) = app.api(Method::GET, "/users", Some(&token), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("second factor"),
            "{service}: {body}"
        );
        // Enrolled, the admin's routes answer.
        let (totp, _, step) = enrol(&app, &token, 0).await;
        let pending = mfa_token(&app, "first-admin").await;
        let (status, done) = verify(&app, &pending, &code_at(&totp, step + 1)).await;
        assert_ok(status, &done, StatusCode::OK);
        let access = done["data"]["access_token"].as_str().unwrap();
        let (status, body) = app.api(Method::GET, "/users", Some(access), None).await;
        assert_ok(status, &body, StatusCode::OK);
        app.stop().await;
    }
    // The operator may name fewer roles, or none (an empty list).
    let app = testkit::spawn_with(
        Service::Owner,
        &[
            ("OWNER__DEMO", "false"),
            ("OWNER__BOOTSTRAP__ADMIN_USERNAME", "first-admin"),
            ("OWNER__BOOTSTRAP__ADMIN_PASSWORD", STRONG_PASSWORD),
            ("OWNER__AUTH__MFA_REQUIRED_ROLES", ""),
        ],
    )
    .await;
    let token = app.login("first-admin", STRONG_PASSWORD).await;
    let (status, body) = app.api(Method::GET, "/users", Some(&token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    app.stop().await;
}
