//! Session lifetime and the cookie over TLS.

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use testkit::plane::Pki;
use testkit::{spawn, spawn_with, Service};

use crate::client::Browser;

#[tokio::test]
async fn an_idle_session_ends_and_is_deleted() {
    let app = spawn(Service::Company).await;
    let mut b = Browser::new(&app);
    b.login_ok("admin", "admin123", "/home").await;
    assert_eq!(b.get("/home").await.status, StatusCode::OK);
    // As if the last request were an hour ago (the default idle limit is 15 minutes).
    app.sql("UPDATE web_sessions SET last_seen_at = '2000-01-01 00:00:00'")
        .await
        .unwrap();
    let res = b.get("/home").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/");
    let left = app
        .db()
        .run(|c| {
            use diesel::prelude::*;
            Ok(common::schema::web_sessions::table
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .unwrap();
    assert_eq!(left, 0, "the idle session is deleted");
    app.stop().await;
}

#[tokio::test]
async fn a_deactivated_user_loses_their_session() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    b.login_ok("nurse", "nurse123", "/home").await;
    let admin = app.admin_token().await;
    let nurse = app.login("nurse", "nurse123").await;
    let id = testkit::hospital::user_id(&app, &nurse).await;
    let (status, _) = app
        .api(
            testkit::Method::POST,
            &format!("/users/{id}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    assert_eq!(b.get("/home").await.location(), "/");
    app.stop().await;
}

#[tokio::test]
async fn over_tls_the_cookie_is_secure_and_host_only() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = Pki::new();
    pki.issue_public("public");
    let cert = pki.dir().join("public.crt");
    let key = pki.dir().join("public.key");
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__SERVER__TLS_CERT", cert.to_str().unwrap()),
            ("COMPANY__SERVER__TLS_KEY", key.to_str().unwrap()),
        ],
    )
    .await;
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let port = app.base_url().rsplit(':').next().unwrap().to_string();
    let base = format!("https://localhost:{port}");
    let form = client.get(format!("{base}/")).send().await.unwrap();
    let login_cookie = form.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(login_cookie.contains("Secure"), "{login_cookie}");
    let body = form.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let at = body.find(marker).unwrap() + marker.len();
    let csrf = &body[at..at + body[at..].find('"').unwrap()];
    let res = client
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(COOKIE, login_cookie.split(';').next().unwrap())
        .body(format!("csrf={csrf}&username=admin&password=admin123"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-bulkhead-company-session="))
        .expect("a __Host- session cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    app.stop().await;
}

#[tokio::test]
async fn behind_a_tls_terminating_proxy_the_cookie_is_secure_too() {
    let app = spawn_with(
        Service::Hospital,
        &[("HOSPITAL__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let mut b = Browser::new(&app);
    let res = b.login("doctor", "doctor123").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let session = res
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-bulkhead-hospital-session="))
        .expect("a __Host- session cookie");
    assert!(session.contains("Secure"), "{session}");
    app.stop().await;
}

#[tokio::test]
async fn your_sessions_lists_api_and_web_logins_and_ends_one() {
    let app = spawn(Service::Company).await;
    let mut b = Browser::new(&app);
    b.login_ok("analyst", "analyst123", "/home").await;
    let api = app.login_full("analyst", "analyst123").await;
    let api_token = api["access_token"].as_str().unwrap().to_string();
    let api_sid = api["session_id"].as_str().unwrap().to_string();

    let page = b.get("/sessions").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body.matches("/end\"").count(), 2, "{}", page.body);
    assert!(page.body.contains("(this one)"));
    assert!(page.body.contains(&api_sid));
    let csrf = page.csrf();
    let path = format!("/sessions/{api_sid}/end");

    // Without the form's token nothing ends.
    let res = b.post(&path, &[("csrf", "wrong")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .api(testkit::Method::GET, "/auth/me", Some(&api_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Ending the API session from the page: its token stops working.
    let res = b.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/sessions");
    let (status, _) = app
        .api(testkit::Method::GET, "/auth/me", Some(&api_token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "auth.session_end"));
    let page = b.get("/sessions").await;
    assert_eq!(page.body.matches("/end\"").count(), 1, "{}", page.body);

    // Another user's session is not found from here either.
    let other = app.login_full("production", "production123").await;
    let other_sid = other["session_id"].as_str().unwrap();
    let res = b
        .post(&format!("/sessions/{other_sid}/end"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // The web session is a server-side session too: ending it from the
    // API signs the browser out.
    let token = app.login("analyst", "analyst123").await;
    let (_, list) = app
        .api(testkit::Method::GET, "/auth/sessions", Some(&token), None)
        .await;
    let web_sid = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .unwrap();
    let (status, _) = app
        .api(
            testkit::Method::DELETE,
            &format!("/auth/sessions/{web_sid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let res = b.get("/home").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/");
    app.stop().await;
}
