//! Login attempts from one address are paced, whatever the account.

use serde_json::json;
use testkit::{assert_error, spawn_with, Method, Service, StatusCode};

#[tokio::test]
async fn logins_from_one_address_beyond_the_limit_get_429_with_retry_after() {
    for service in Service::ALL {
        let key = format!("{}__AUTH__LOGIN_ATTEMPTS_PER_MINUTE", service.env_prefix());
        let app = spawn_with(service, &[(key.as_str(), "3")]).await;
        let (user, password) = app.admin_credentials();
        // Three attempts on three different (unknown) accounts use the budget…
        for i in 0..3 {
            let body = json!({ "username": format!("nobody{i}"), "password": "wrong-password" });
            let (status, _) = app.api(Method::POST, "/auth/login", None, Some(body)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        // …so even the right password is refused now, before it is checked.
        let body = json!({ "username": user, "password": password });
        let res = app
            .client
            .post(app.api_url("/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("60")
        );
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
        // Other routes are not limited.
        let (status, _) = app.api(Method::GET, "/auth/me", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
