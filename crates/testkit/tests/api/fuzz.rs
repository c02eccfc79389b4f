//! Bad input of every shape answers 4xx in the envelope, never 500.

use serde_json::json;
use testkit::{spawn, Method, Reply, Service, StatusCode, TestApp, STRONG_PASSWORD};

/// Bodies no handler should accept: wrong types, missing fields, extra
/// fields, huge strings, odd unicode, deep nesting, broken encodings.
fn bad_bodies() -> Vec<Vec<u8>> {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = "x".repeat(200_000);
    let mut bodies: Vec<Vec<u8>> = [
        "null".to_string(),
        "[]".into(),
        "\"text\"".into(),
        "42".into(),
        "true".into(),
        "{}".into(),
        r#"{"username":1,"password":2}"#.into(),
        r#"{"username":null,"password":null}"#.into(),
        r#"{"username":["admin"],"password":{"$ne":null}}"#.into(),
        r#"{"username":"admin"}"#.into(),
        r#"{"password":"admin123"}"#.into(),
        r#"{"username":"admin","password":"admin123","role":"admin","extra":true}"#.into(),
        r#"{"username":"admin","password":"admin123"} trailing"#.into(),
        r#"{"username":"admin","username":"other","password":"x"}"#.into(),
        r#"{"username":1e999,"password":"x"}"#.into(),
        r#"{"username":"\ud800","password":"x"}"#.into(),
        json!({ "username": huge, "password": "p" }).to_string(),
        json!({ "username": "admin", "password": huge }).to_string(),
        json!({ "username": "ü🙂\u{0}\u{202e}", "password": "ñ\u{0}" }).to_string(),
        json!({ "username": "' OR 1=1 --", "password": "' OR '1'='1" }).to_string(),
        json!({ "username": "admin", "password": "admin123", "role": "x".repeat(10_000),
                "email": "\u{0}@\u{0}", "full_name": "\u{7}" })
        .to_string(),
        json!({ "active": "yes", "role": 1, "unlock": "please" }).to_string(),
        deep,
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    bodies.push(vec![0xff, 0xfe, b'{', 0x80, b'}']);
    bodies.push(b"{\"username\":\"\xc3\x28\",\"password\":\"x\"}".to_vec());
    bodies
}

async fn post_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .client
        .request(method, app.api_url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::read(req.send().await.expect("request sent")).await
}

fn assert_client_error(r: &Reply, what: &str) {
    assert!(
        r.status.is_client_error(),
        "{what}: {} {}",
        r.status,
        r.body
    );
    assert_eq!(r.body["success"], false, "{what}: {}", r.body);
    assert!(r.body["error"]["code"].is_string(), "{what}: {}", r.body);
}

#[tokio::test]
async fn bad_bodies_never_cause_a_server_error() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        let (_, me) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
        let self_path = format!("/users/{}", me["data"]["id"].as_str().unwrap());
        for (i, body) in bad_bodies().into_iter().enumerate() {
            for (method, path, auth) in [
                (Method::POST, "/auth/login", None),
                (Method::POST, "/users", Some(token.as_str())),
                (Method::PATCH, self_path.as_str(), Some(token.as_str())),
            ] {
                let r = post_raw(&app, method.clone(), path, auth, body.clone()).await;
                assert_client_error(&r, &format!("{service} {method} {path} body #{i}"));
            }
        }
        // Still healthy, and the admin still works.
        assert_eq!(
            app.api(Method::GET, "/auth/me", Some(&token), None).await.0,
            StatusCode::OK
        );
        assert!(app.verify_audit().await.is_intact());
    }
}

#[tokio::test]
async fn odd_paths_and_queries_never_cause_a_server_error() {
    let app = spawn(Service::Company).await;
    let token = app.admin_token().await;
    let long_id = "9".repeat(2000);
    let paths = [
        "/users/%00".to_string(),
        "/users/'%20OR%201=1%20--".into(),
        "/users/%F0%9F%99%82".into(),
        "/users/%ff%fe".into(),
        format!("/users/{long_id}"),
        "/users/..%2F..%2Fetc%2Fpasswd".into(),
        "/audit?actor=%00&action=%25&outcome=%27".into(),
        "/audit?action=auth.%25_".into(),
        "/audit?since=2020-01-01T00:00:00&until=1999-01-01T00:00:00".into(),
        "/users?role=%00&active=maybe".into(),
    ];
    for path in paths {
        let (status, body) = app.api(Method::GET, &path, Some(&token), None).await;
        assert!(!status.is_server_error(), "{path}: {status} {body}");
        assert!(body["success"].is_boolean(), "{path}: {body}");
    }
    let login = json!({ "username": "admin", "password": STRONG_PASSWORD });
    assert_eq!(
        app.api(Method::POST, "/auth/login", None, Some(login))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}
