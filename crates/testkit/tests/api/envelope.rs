//! The envelope around everything that can go wrong before a handler runs:
//! bad JSON, wrong content type, big bodies, unknown routes and methods,
//! bad paging; plus correlation ids and security headers on every answer.

use testkit::{assert_error, spawn, spawn_with, Method, Reply, Service, StatusCode, TestApp};

async fn send(req: reqwest::RequestBuilder) -> Reply {
    Reply::read(req.send().await.expect("request sent")).await
}

fn login_url(app: &TestApp) -> String {
    app.api_url("/auth/login")
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_content_type_415() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let json = |body: &'static str| {
            app.client
                .post(login_url(&app))
                .header("content-type", "application/json")
                .body(body)
        };

        for broken in [
            r#"{"username": "admin""#,
            "{username: admin}",
            "",
            "\u{feff}{}",
        ] {
            let r = send(json(broken)).await;
            assert_error(
                r.status,
                &r.body,
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
            );
        }
        let form = app
            .client
            .post(login_url(&app))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=admin&password=admin123");
        let r = send(form).await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
        let r = send(
            app.client
                .post(login_url(&app))
                .body(r#"{"username":"a","password":"b"}"#),
        )
        .await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413() {
    for service in Service::ALL {
        let key = format!("{}__SERVER__BODY_LIMIT_BYTES", service.env_prefix());
        let app = spawn_with(service, &[(key.as_str(), "1024")]).await;
        let (username, password) = app.admin_credentials();
        let small = serde_json::json!({ "username": username, "password": password });
        let big = serde_json::json!({ "username": username, "password": "p".repeat(4096) });

        let r = send(app.client.post(login_url(&app)).json(&small)).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{service}: a small body still passes: {:?}",
            r.body
        );
        let r = send(app.client.post(login_url(&app)).json(&big)).await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        );
        let token = app.admin_token().await;
        let r = send(
            app.client
                .post(app.api_url("/users"))
                .bearer_auth(&token)
                .json(&big),
        )
        .await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        );
    }
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let prefix = app.prefix();
        for path in [
            "/nope".to_string(),
            format!("{prefix}/nope"),
            format!("{prefix}/users/x/y/z"),
            "/api/v1/elsewhere/auth/login".to_string(),
        ] {
            let r = send(app.client.get(app.url(&path))).await;
            assert_error(r.status, &r.body, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        for (method, path) in [
            (Method::DELETE, format!("{prefix}/auth/login")),
            (Method::GET, format!("{prefix}/auth/login")),
            (Method::GET, format!("{prefix}/auth/logout")),
            (Method::PUT, format!("{prefix}/users")),
            (Method::DELETE, format!("{prefix}/users/some-id")),
            (Method::POST, "/healthz".to_string()),
        ] {
            let r = send(app.client.request(method.clone(), app.url(&path))).await;
            assert_error(
                r.status,
                &r.body,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
            );
        }
    }
}

#[tokio::test]
async fn bad_paging_and_unknown_filters_are_400() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        for list in ["/users", "/audit"] {
            for query in [
                "page_size=0",
                "page_size=1000",
                "page_size=101",
                "page=abc",
                "page=0",
                "page=-1",
                "page_size=1.5",
                "bogus=1",
                "page=99999999999999999999",
            ] {
                let path = format!("{list}?{query}");
                let (status, body) = app.api(Method::GET, &path, Some(&token), None).await;
                assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
            }
            let path = format!("{list}?page=1&page_size=100");
            assert_eq!(
                app.api(Method::GET, &path, Some(&token), None).await.0,
                StatusCode::OK
            );
        }
        let (status, body) = app
            .api(Method::GET, "/audit?since=yesterday", Some(&token), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn a_supplied_correlation_id_is_echoed_and_a_bad_one_replaced() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let r = send(
            app.client
                .get(app.url("/nope"))
                .header("x-correlation-id", "test-corr-42"),
        )
        .await;
        assert_error(r.status, &r.body, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(r.header("x-correlation-id"), Some("test-corr-42"));
        assert_eq!(r.body["error"]["correlation_id"], "test-corr-42");

        let r = send(
            app.client
                .get(app.url("/healthz"))
                .header("x-correlation-id", "ok.id:1_2"),
        )
        .await;
        assert_eq!(r.header("x-correlation-id"), Some("ok.id:1_2"));

        let long = "a".repeat(200);
        for bad in ["has spaces in it", "<script>", long.as_str()] {
            let r = send(
                app.client
                    .get(app.url("/nope"))
                    .header("x-correlation-id", bad),
            )
            .await;
            let echoed = r.header("x-correlation-id").unwrap_or_default().to_string();
            assert!(
                !echoed.is_empty() && echoed != bad,
                "{service}: {bad:?} was echoed"
            );
            assert_eq!(r.body["error"]["correlation_id"], echoed.as_str());
        }
        let r = send(app.client.get(app.url("/healthz"))).await;
        let generated = r.header("x-correlation-id").expect("a generated id");
        assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    }
}

#[tokio::test]
async fn security_headers_are_on_successes_and_failures() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        for req in [
            app.client.get(app.url("/healthz")),
            app.client.get(app.url("/nope")),
            app.client.get(app.api_url("/auth/me")).bearer_auth(&token),
            app.client.get(app.api_url("/auth/me")),
        ] {
            let r = send(req).await;
            for (name, value) in [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "no-referrer"),
                ("cache-control", "no-store"),
                (
                    "content-security-policy",
                    "default-src 'none'; frame-ancestors 'none'",
                ),
            ] {
                assert_eq!(
                    r.header(name),
                    Some(value),
                    "{service} {}: {name}",
                    r.status
                );
            }
            assert!(r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")));
        }
    }
}
