//! Login, logout, password change, home, users and audit pages on every server.

use reqwest::StatusCode;
use testkit::{spawn, Method, Service};

use crate::client::Browser;

const SERVICES: [Service; 4] = [
    Service::Hospital,
    Service::Company,
    Service::Dev,
    Service::Owner,
];

#[tokio::test]
async fn the_login_page_has_a_strict_csp_and_no_inline_script_or_style() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    let page = b.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(!page.body.contains("<script>"), "inline script");
    assert!(!page.body.contains("style="), "inline style");
    assert!(!page.body.contains("<style"), "inline style element");
    for asset in [
        "/static/pico-2.1.1.min.css",
        "/static/htmx-2.0.11.min.js",
        "/static/app-1.css",
        "/static/app-1.js",
    ] {
        assert!(page.body.contains(asset), "{asset} not linked");
        let res = b.get(asset).await;
        assert_eq!(res.status, StatusCode::OK, "{asset}");
        let cache = res.headers["cache-control"].to_str().unwrap();
        assert!(cache.contains("immutable"), "{asset}: {cache}");
    }
    assert_eq!(b.get("/static/nope.js").await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn every_server_signs_its_admin_in_and_out_with_a_strict_cookie() {
    for service in SERVICES {
        let app = spawn(service).await;
        let (user, password) = app.admin_credentials();
        let mut b = Browser::new(&app);
        let res = b.login(user, password).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{service}: {}", res.body);
        assert_eq!(res.location(), "/home");
        let cookie = res
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("bulkhead-{}-session=", service.name())))
            .expect("a session cookie");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        // Plain HTTP on loopback: `Secure` would make the browser drop it.
        assert!(!cookie.contains("Secure"), "{cookie}");
        let home = b.get("/home").await;
        assert_eq!(home.status, StatusCode::OK, "{service}");
        assert!(
            home.body.contains(user),
            "{service}: the home page names the user"
        );
        assert!(
            home.body.contains("href=\"/users\""),
            "{service}: the admin manages users"
        );
        assert!(
            home.body.contains("href=\"/audit\""),
            "{service}: the admin reads the audit log"
        );
        let users = b.get("/users").await;
        assert_eq!(users.status, StatusCode::OK, "{service}");
        assert!(
            users.body.contains("users.manage"),
            "{service}: the roles and their permissions"
        );
        let audit = b.get("/audit?action=auth.").await;
        assert_eq!(audit.status, StatusCode::OK, "{service}");
        assert!(
            audit.body.contains("auth.login"),
            "{service}: the login is in the audit log"
        );
        let saved = b.cookies.clone();
        let csrf = home.csrf();
        let out = b.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "{service}");
        assert_eq!(out.location(), "/");
        // The old cookie, replayed, reaches nothing.
        b.cookies = saved;
        let after = b.get("/home").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "{service}");
        assert_eq!(after.location(), "/");
        let logout = app
            .audit_rows()
            .await
            .into_iter()
            .filter(|r| r.action == "auth.logout")
            .count();
        assert_eq!(logout, 1, "{service}: the logout is audited");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_logged_out_visitor_reaches_no_page() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    for path in [
        "/home",
        "/users",
        "/audit",
        "/password",
        "/patients",
        "/patients/new",
        "/break-glass",
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.location(), "/", "{path}");
    }
    // A made-up cookie is no session either: dropped, and the login page
    // shows (no redirect loop between `/` and `/home`).
    b.cookies
        .insert("bulkhead-hospital-session".into(), "0".repeat(64));
    assert_eq!(b.get("/home").await.location(), "/");
    assert!(!b.cookies.contains_key("bulkhead-hospital-session"));
    b.cookies
        .insert("bulkhead-hospital-session".into(), "0".repeat(64));
    let login = b.get("/").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("action=\"/login\""));
    app.stop().await;
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    // The login form's own token.
    b.get("/").await;
    let res = b
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("username", "doctor"),
                ("password", "doctor123"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(!res
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("bulkhead-hospital-session=")));
    // A signed-in session's forms.
    b.login_ok("reception", "reception123", "/home").await;
    let res = b
        .post(
            "/patients",
            &[
                ("csrf", "forged"),
                ("first_name", "Ada"),
                ("last_name", "Byron"),
                ("date_of_birth", "1990-01-01"),
                ("sex", "female"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("reload the page"), "{}", res.body);
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    // Still signed in: the forged logout did nothing.
    assert_eq!(b.get("/home").await.status, StatusCode::OK);
    assert!(!app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "patient.create"));
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_apis_message_and_is_audited() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    let res = b.login("doctor", "wrong-password").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.body.contains("invalid username or password"),
        "{}",
        res.body
    );
    let failed = app
        .audit_rows()
        .await
        .into_iter()
        .any(|r| r.action == "auth.login" && r.outcome == "failure");
    assert!(failed);
    app.stop().await;
}

#[tokio::test]
async fn the_api_does_not_accept_the_session_cookie() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    b.login_ok("hadmin", "hadmin123", "/home").await;
    let res = b.get("/api/v1/tenant/auth/me").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    // And bearer tokens keep working.
    let token = app.admin_token().await;
    let (status, _) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_forced_password_change_comes_first_and_ends_the_old_session() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let id = app.create_user(&admin, "newnurse", "nurse").await;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(&admin),
            Some(serde_json::json!({ "password": "a reset passphrase 2026" })),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let mut b = Browser::new(&app);
    let res = b.login("newnurse", "a reset passphrase 2026").await;
    assert_eq!(res.location(), "/password");
    assert_eq!(b.get("/home").await.location(), "/password");
    let form = b.get("/password").await;
    assert_eq!(form.status, StatusCode::OK);
    let old = b.cookies.clone();
    let new_password = "a brand new passphrase 2027";
    let res = b
        .post(
            "/password",
            &[
                ("csrf", &form.csrf()),
                ("current_password", "a reset passphrase 2026"),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/home");
    assert_eq!(b.get("/home").await.status, StatusCode::OK);
    // The session from before the change is over.
    let mut replay = Browser::new(&app);
    replay.cookies = old;
    assert_eq!(replay.get("/home").await.location(), "/");
    app.stop().await;
}

#[tokio::test]
async fn the_admin_adds_and_deactivates_a_user_through_the_pages() {
    let app = spawn(Service::Dev).await;
    let (admin, password) = app.admin_credentials();
    let mut b = Browser::new(&app);
    b.login_ok(admin, password, "/home").await;
    let form = b.get("/users/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let weak = b
        .post(
            "/users",
            &[
                ("csrf", &form.csrf()),
                ("username", "grace"),
                ("role", "developer"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST, "{}", weak.body);
    assert!(weak.body.contains("There is a problem"));
    let res = b
        .post(
            "/users",
            &[
                ("csrf", &form.csrf()),
                ("username", "grace"),
                ("full_name", "Grace H"),
                ("role", "developer"),
                ("password", testkit::STRONG_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let list = b.get("/users").await;
    assert!(list.body.contains("grace"));
    // Grace signs in, then the admin deactivates her and her session ends.
    let mut g = Browser::new(&app);
    g.login_ok("grace", testkit::STRONG_PASSWORD, "/home").await;
    assert!(
        !g.get("/home").await.body.contains("href=\"/users\""),
        "a developer has no users page"
    );
    assert_eq!(g.get("/users").await.status, StatusCode::FORBIDDEN);
    let token = app.login("grace", testkit::STRONG_PASSWORD).await;
    let (_, me) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
    let grace_form = format!("/users/{}/deactivate", me["data"]["id"].as_str().unwrap());
    assert!(
        list.body.contains(&grace_form),
        "a deactivate button per user"
    );
    let res = b.post(&grace_form, &[("csrf", &list.csrf())]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(g.get("/home").await.location(), "/");
    let rows = app.audit_rows().await;
    assert!(
        rows.iter().any(|r| r.action == "user.create"),
        "created through the API's function"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_page_is_a_page_and_an_unknown_api_route_the_envelope() {
    let app = spawn(Service::Owner).await;
    let page = app
        .client
        .get(app.url("/no-such-page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("no such page") && body.contains("correlation-id"),
        "{body}"
    );
    // A bad query string on a page: a 400 page, not JSON.
    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    let bad = b.get("/tenants?page=abc").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("invalid query string"), "{}", bad.body);
    assert!(bad.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let (status, body) = app.api(Method::GET, "/no-such-route", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NOT_FOUND", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_hosted_hospital_asks_which_organisation() {
    let app =
        testkit::spawn_with(Service::Hospital, &[("HOSPITAL__TENANCY__MODE", "hosted")]).await;
    let mut b = Browser::new(&app);
    let form = b.get("/").await;
    assert!(
        form.body.contains("id=\"tenant_id\""),
        "the login form asks for the organisation"
    );
    // Without it: the API's validation message, on the form.
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("username", "hadmin"),
                ("password", "hadmin123"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.body.contains("tenant_id"), "{}", res.body);
    let form = b.get("/").await;
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("tenant_id", common::config::DEMO_TENANT_ID),
                ("username", "hadmin"),
                ("password", "hadmin123"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(b.get("/users").await.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn one_browser_stays_signed_in_to_two_servers_on_one_host() {
    // Browsers send a host's cookies to every port; the demo runs all four
    // servers on localhost. Each server names its own cookie.
    let hospital = spawn(Service::Hospital).await;
    let company = spawn(Service::Company).await;
    let mut h = Browser::new(&hospital);
    h.login_ok("doctor", "doctor123", "/home").await;
    let mut c = Browser::new(&company);
    c.cookies = h.cookies.clone();
    c.login_ok("admin", "admin123", "/home").await;
    // The shared jar now holds both; each server still knows its session.
    h.cookies = c.cookies.clone();
    assert_eq!(h.get("/home").await.status, StatusCode::OK);
    assert_eq!(c.get("/home").await.status, StatusCode::OK);
    hospital.stop().await;
    company.stop().await;
}
