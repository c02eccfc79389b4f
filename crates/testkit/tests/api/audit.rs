//! `GET …/audit`: every login and user change lands there, and the admin
//! pages through it with filters.

use serde_json::{json, Value};
use testkit::{assert_ok, spawn, Method, Reply, Service, StatusCode, TestApp};

async fn audit(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .api(Method::GET, &format!("/audit?{query}"), Some(token), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body
}

fn rows(body: &Value) -> &Vec<Value> {
    body["data"].as_array().expect("a list of rows")
}

#[tokio::test]
async fn logins_and_user_changes_are_listed_with_filters() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let (admin_name, _) = app.admin_credentials();
        let wrong = json!({ "username": admin_name, "password": "wrong-password-1" });
        app.api(Method::POST, "/auth/login", None, Some(wrong))
            .await;
        let ghost = json!({ "username": "ghost", "password": "whatever-1" });
        app.api(Method::POST, "/auth/login", None, Some(ghost))
            .await;
        let login = app
            .client
            .post(app.api_url("/auth/login"))
            .header("x-correlation-id", "audit-corr-1")
            .header("user-agent", "bulkhead-tests/1")
            .json(&json!({ "username": admin_name, "password": app.admin_credentials().1 }))
            .send()
            .await
            .unwrap();
        let login = Reply::read(login).await;
        let token = login.body["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let admin_id = login.body["data"]["user"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let role = crate::ordinary_role(&app).unwrap_or(app.spec().admin_role);
        let created = app.create_user(&token, "audited", role).await;

        let failures = audit(&app, &token, "action=auth.login&outcome=failure").await;
        let failures = rows(&failures);
        assert_eq!(failures.len(), 2, "{service}: {failures:?}");
        assert!(failures
            .iter()
            .all(|r| r["action"] == "auth.login" && r["outcome"] == "failure"));
        assert!(failures.iter().any(|r| r["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("unknown:") && !a.contains("ghost"))
            && r["details"]["reason"] == "unknown_user"));
        assert!(failures
            .iter()
            .any(|r| r["actor"] == admin_id.as_str() && r["details"]["reason"] == "bad_password"));

        let success = audit(&app, &token, "action=auth.login&outcome=success").await;
        let success = &rows(&success)[0];
        assert_eq!(success["actor"], admin_id.as_str());
        assert_eq!(success["correlation_id"], "audit-corr-1");
        assert_eq!(success["user_agent"], "bulkhead-tests/1");
        assert_eq!(success["ip"], "127.0.0.1");
        assert_eq!(
            success["tenant_id"].is_string(),
            service == Service::Hospital,
            "{success}"
        );

        let mine = audit(&app, &token, &format!("actor={admin_id}")).await;
        assert!(rows(&mine).iter().all(|r| r["actor"] == admin_id.as_str()));
        let create = rows(&mine)
            .iter()
            .find(|r| r["action"] == "user.create")
            .expect("user.create");
        assert_eq!(create["resource"], format!("user:{created}"));
        assert_eq!(create["details"]["username"], "audited");
        assert_eq!(create["actor_role"], app.spec().admin_role);

        let auth_prefix = audit(&app, &token, "action=auth.").await;
        assert_eq!(auth_prefix["meta"]["total"], 3, "{service}: {auth_prefix}");
        assert!(rows(&auth_prefix)
            .iter()
            .all(|r| r["action"].as_str().unwrap().starts_with("auth.")));
        let none = audit(&app, &token, "actor=nobody&outcome=success").await;
        assert_eq!(none["meta"]["total"], 0);
    }
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_with_meta() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        for _ in 0..3 {
            app.admin_token().await;
        }
        let total = app.audit_rows().await.len();

        let first = audit(&app, &token, "page=1&page_size=2").await;
        let second = audit(&app, &token, "page=2&page_size=2").await;

        assert_eq!(
            first["meta"],
            json!({ "page": 1, "page_size": 2, "total": total })
        );
        assert_eq!(second["meta"]["page"], 2);
        let seqs: Vec<i64> = rows(&first)
            .iter()
            .chain(rows(&second))
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        let newest = total as i64;
        assert_eq!(
            seqs,
            [newest, newest - 1, newest - 2, newest - 3],
            "{service}"
        );
        let row = &rows(&first)[0];
        for field in [
            "occurred_at",
            "actor",
            "actor_role",
            "action",
            "resource",
            "outcome",
            "severity",
            "prev_hash",
            "hash",
        ] {
            assert!(
                row.get(field).is_some(),
                "{service}: row without {field}: {row}"
            );
        }
    }
}

#[tokio::test]
async fn the_chain_check_is_available_to_an_untenanted_admin() {
    for service in [Service::Company, Service::Dev, Service::Owner] {
        let app = spawn(service).await;
        let token = app.admin_token().await;
        let (status, body) = app
            .api(Method::GET, "/audit/verify", Some(&token), None)
            .await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["problem"], Value::Null, "{body}");
        assert_eq!(body["data"]["rows"], app.audit_rows().await.len(), "{body}");
    }
}
