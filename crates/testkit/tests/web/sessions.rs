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
