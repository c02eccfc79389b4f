//! Lockout after repeated wrong passwords.

use serde_json::json;
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
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

/// A login from `client` (a trusted proxy in front reports it).
async fn login_from(
    app: &TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let body = json!({ "username": username, "password": password });
    let res = app
        .client
        .post(app.api_url("/auth/login"))
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// Failed-login count and lock of a user, read straight from the database.
async fn stored(app: &TestApp, id: &str) -> common::accounts::store::User {
    let id = id.to_string();
    app.db()
        .run(move |c| common::accounts::store::find_by_id(c, &id))
        .await
        .unwrap()
        .unwrap()
}

/// `n` wrong-password logins of `username`, all in flight at once.
async fn concurrent_wrong_logins(app: &TestApp, username: &str, n: usize) -> Vec<StatusCode> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url) = (app.client.clone(), app.api_url("/auth/login"));
        let body = json!({ "username": username, "password": "wrong-password-1" });
        set.spawn(async move { client.post(url).json(&body).send().await.unwrap().status() });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses
}

/// Finding 3: login timing told whether a user exists (unknown names paid
/// two bcrypt runs, locked accounts none). Every failure path now costs
/// exactly one verification, as does a success.
#[tokio::test]
async fn login_timing_does_not_tell_whether_a_user_exists() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "timed", "analyst").await;
    let gone = app.create_user(&admin, "gone-user", "analyst").await;
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/users/{gone}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut answers = Vec::new();
    let one = |label: &'static str, user: &'static str, pw: &'static str| {
        let app = &app;
        async move {
            let before = app.password_verifications();
            let started = std::time::Instant::now();
            let (status, body) = login(app, user, pw).await;
            let took = started.elapsed();
            let spent = app.password_verifications() - before;
            assert_eq!(spent, 1, "{label}: {spent} bcrypt verifications");
            (label, status, body, took)
        }
    };
    answers.push(one("unknown user", "no-such-user", "wrong-password-1").await);
    answers.push(one("wrong password", "timed", "wrong-password-1").await);
    answers.push(one("inactive, right password", "gone-user", STRONG_PASSWORD).await);
    for _ in 0..4 {
        one("more wrong", "timed", "wrong-password-1").await;
    }
    answers.push(one("locked, wrong password", "timed", "wrong-password-1").await);
    answers.push(one("locked, right password", "timed", STRONG_PASSWORD).await);

    let first = crate::answer(&answers[0].2);
    for (label, status, body, _) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{label}: {body}");
        assert_eq!(
            crate::answer(body),
            first,
            "{label}: every failure answers alike"
        );
    }
    // A loose ratio only: the box is shared and loaded.
    let times: Vec<_> = answers.iter().map(|a| a.3.as_secs_f64()).collect();
    let (min, max) = times
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    assert!(max < min * 20.0 + 0.5, "timings differ widely: {times:?}");
}

/// Finding 4: 20 concurrent wrong passwords left the failure count at 1
/// (read, add one, write back). The count is now one atomic UPDATE.
#[tokio::test]
async fn parallel_wrong_passwords_do_not_bypass_the_lockout() {
    // A threshold above 20, so that no attempt is refused before it counts.
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__AUTH__LOCKOUT_THRESHOLD", "100"),
            ("COMPANY__DATABASE__POOL_SIZE", "8"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "hammered", "analyst").await;

    let answers = concurrent_wrong_logins(&app, "hammered", 20).await;

    assert!(
        answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{answers:?}"
    );
    assert_eq!(stored(&app, &id).await.failed_logins, 20);
}

/// Finding 4, with the default threshold: concurrent guesses still lock.
#[tokio::test]
async fn parallel_wrong_passwords_reach_the_lock() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "hammered2", "analyst").await;

    concurrent_wrong_logins(&app, "hammered2", 20).await;

    let user = stored(&app, &id).await;
    assert!(user.failed_logins >= 5, "{}", user.failed_logins);
    assert!(user.locked_until.is_some());
    let (status, _) = login(&app, "hammered2", STRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.action == "auth.lockout").count(),
        1,
        "{rows:?}"
    );
}

/// Finding 5: five guesses from anywhere locked any account for 15 minutes.
/// Now the address that failed is blocked for that account, the account
/// only waits a short, growing delay, and the owner elsewhere gets in.
#[tokio::test]
async fn the_lockout_is_not_a_denial_of_service_tool() {
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
            ("COMPANY__AUTH__ACCOUNT_DELAY_MAX_SECS", "2"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "victim", "analyst").await;
    let attacker = "203.0.113.66";
    let owner = "198.51.100.7";

    for _ in 0..5 {
        let (status, _) = login_from(&app, attacker, "victim", "wrong-password-1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The attacker, even with the right password, stays refused…
    let (status, _) = login_from(&app, attacker, "victim", STRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // …and their further tries while refused do not lengthen the owner's wait.
    for _ in 0..10 {
        login_from(&app, attacker, "victim", "wrong-password-1").await;
    }
    assert_eq!(stored(&app, &id).await.failed_logins, 5);

    // The owner, from elsewhere, gets in after the account's short delay.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = login_from(&app, owner, "victim", STRONG_PASSWORD).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, _) = login_from(&app, attacker, "victim", STRONG_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the attacker's address stays blocked"
    );

    // Recorded and alerted, not just locked.
    let rows = app.audit_rows().await;
    let lock = rows.iter().find(|r| r.action == "auth.lockout").unwrap();
    assert_eq!(lock.severity, "critical");
    assert_eq!(lock.ip.as_deref(), Some(attacker));
    let events = app
        .db()
        .run(|c| common::security::pending(c, 100, None))
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.kind == "auth.lockout" && e.actor == id));
}

/// Finding 5: `/auth/password` was an unthrottled guessing oracle for
/// whoever held a token. Its failures count like failed logins.
#[tokio::test]
async fn password_change_is_not_an_unthrottled_guessing_oracle() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "oracle", "analyst").await;
    let token = app.login("oracle", STRONG_PASSWORD).await;

    let guess = |n: usize| json!({ "current_password": format!("guess-number-{n}"), "new_password": "a-brand-new-passphrase" });
    for n in 0..5 {
        let (status, body) = app
            .api(Method::POST, "/auth/password", Some(&token), Some(guess(n)))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(stored(&app, &id).await.failed_logins, 5);
    // Now even the right current password is refused for a while.
    let right =
        json!({ "current_password": STRONG_PASSWORD, "new_password": "a-brand-new-passphrase" });
    let (status, body) = app
        .api(Method::POST, "/auth/password", Some(&token), Some(right))
        .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "auth.password_change" && r.outcome == "failure")
            .count(),
        5
    );
}
