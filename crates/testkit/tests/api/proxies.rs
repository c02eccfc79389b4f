//! The client address behind a reverse proxy (security review, finding 6):
//! forwarding headers are believed only from `server.trusted_proxies`, the
//! client is the right-most hop that is not a trusted proxy, and IPv6
//! clients are paced per /64.

use serde_json::json;
use testkit::{spawn, spawn_with, Service, StatusCode, TestApp};

async fn failed_login_via(app: &TestApp, header: (&str, &str), username: &str) -> StatusCode {
    let body = json!({ "username": username, "password": "wrong-password-1" });
    app.client
        .post(app.api_url("/auth/login"))
        .header(header.0, header.1)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

async fn last_failure_ip(app: &TestApp) -> Option<String> {
    app.audit_rows()
        .await
        .into_iter()
        .rev()
        .find(|r| r.action == "auth.login" && r.outcome == "failure")
        .and_then(|r| r.ip)
}

#[tokio::test]
async fn the_client_address_behind_a_trusted_proxy_is_the_forwarded_one() {
    let app = spawn_with(
        Service::Company,
        &[("COMPANY__SERVER__TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")],
    )
    .await;
    // The client forged the first hop; a trusted inner proxy added the last.
    let chain = ("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.2.3");
    assert_eq!(
        failed_login_via(&app, chain, "someone").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(last_failure_ip(&app).await.as_deref(), Some("203.0.113.9"));

    let forwarded = ("forwarded", "for=6.6.6.6, for=\"[2001:db8::7]:4711\"");
    failed_login_via(&app, forwarded, "someone").await;
    assert_eq!(last_failure_ip(&app).await.as_deref(), Some("2001:db8::7"));
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn(Service::Company).await;
    failed_login_via(&app, ("x-forwarded-for", "203.0.113.9"), "someone").await;
    assert_eq!(last_failure_ip(&app).await.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn ipv6_clients_are_paced_per_64() {
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
            ("COMPANY__AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "2"),
        ],
    )
    .await;
    for (i, client) in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::2"]
        .iter()
        .enumerate()
    {
        let status = failed_login_via(&app, ("x-forwarded-for", client), &format!("u{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A third address of the same /64 is the same client.
    let status = failed_login_via(&app, ("x-forwarded-for", "2001:db8:1:2::abcd"), "u3").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The next /64 is another.
    let status = failed_login_via(&app, ("x-forwarded-for", "2001:db8:1:3::1"), "u4").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
