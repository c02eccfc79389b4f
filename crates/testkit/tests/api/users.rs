//! User management by each server's admin: create, list, get, change role,
//! deactivate and activate, each audited.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn_with, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::ordinary_role;

/// Every server, with an `auditor` role added by configuration (so even
/// owner, whose only compiled role is its admin, has a second role).
async fn spawn_with_auditor(service: Service) -> TestApp {
    let key = format!("{}__RBAC__ROLES__AUDITOR", service.env_prefix());
    spawn_with(service, &[(key.as_str(), "audit.read")]).await
}

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.api(m, path, Some(token), body).await
}

async fn login(app: &TestApp, username: &str) -> (StatusCode, Value) {
    let body = json!({ "username": username, "password": STRONG_PASSWORD });
    app.api(Method::POST, "/auth/login", None, Some(body)).await
}

#[tokio::test]
async fn an_admin_creates_gets_changes_and_deactivates_a_user() {
    for service in Service::ALL {
        let app = spawn_with_auditor(service).await;
        let admin = app.admin_token().await;
        let new = json!({ "username": "alice", "password": STRONG_PASSWORD, "role": "auditor",
                          "email": "alice@example.org", "full_name": "Alice Ödegård" });

        let (status, created) = call(&app, Method::POST, "/users", &admin, Some(new)).await;
        assert_ok(status, &created, StatusCode::CREATED);
        let alice = &created["data"];
        let id = alice["id"].as_str().unwrap().to_string();
        assert_eq!(alice["username"], "alice");
        assert_eq!(alice["role"], "auditor");
        assert_eq!(alice["full_name"], "Alice Ödegård");
        assert_eq!(
            (alice["active"].clone(), alice["locked"].clone()),
            (json!(true), json!(false))
        );
        assert_eq!(
            alice.get("tenant_id").is_some(),
            service == Service::Hospital,
            "{created}"
        );
        assert!(
            !created.to_string().contains("password_hash") && !created.to_string().contains("$2b$"),
            "{created}"
        );

        let (status, got) = call(&app, Method::GET, &format!("/users/{id}"), &admin, None).await;
        assert_ok(status, &got, StatusCode::OK);
        assert_eq!(got["data"], created["data"]);

        // The configured role works: an auditor reads the audit log, not the users.
        let (_, session) = login(&app, "alice").await;
        let alice_token = session["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            call(&app, Method::GET, "/audit", &alice_token, None)
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, Method::GET, "/users", &alice_token, None)
                .await
                .0,
            StatusCode::FORBIDDEN
        );

        // A role change takes effect at once: tokens naming the old role stop working.
        let to = ordinary_role(&app).unwrap_or(app.spec().admin_role);
        let (status, changed) = call(
            &app,
            Method::PATCH,
            &format!("/users/{id}"),
            &admin,
            Some(json!({ "role": to })),
        )
        .await;
        assert_ok(status, &changed, StatusCode::OK);
        assert_eq!(changed["data"]["role"], to);
        let (status, body) = call(&app, Method::GET, "/auth/me", &alice_token, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        let (_, session) = login(&app, "alice").await;
        assert_eq!(session["data"]["user"]["role"], to, "{service}");
        let alice_token = session["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string();

        // Deactivation: the open session dies and the password stops working.
        let path = format!("/users/{id}/deactivate");
        let (status, off) = call(&app, Method::POST, &path, &admin, None).await;
        assert_ok(status, &off, StatusCode::OK);
        assert_eq!(off["data"]["active"], false);
        let (status, body) = call(&app, Method::GET, "/auth/me", &alice_token, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        let (status, body) = login(&app, "alice").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert_eq!(body["error"]["message"], "invalid username or password");

        let path = format!("/users/{id}/activate");
        assert_ok_status(
            call(&app, Method::POST, &path, &admin, None).await,
            StatusCode::OK,
        );
        assert_eq!(
            login(&app, "alice").await.0,
            StatusCode::OK,
            "{service}: reactivated"
        );

        let rows = app.audit_rows().await;
        let resource = format!("user:{id}");
        let actions: Vec<&str> = rows
            .iter()
            .filter(|r| r.resource == resource)
            .map(|r| r.action.as_str())
            .collect();
        assert_eq!(
            actions,
            [
                "user.create",
                "user.update",
                "user.deactivate",
                "user.activate"
            ],
            "{service}"
        );
        let update = rows.iter().find(|r| r.action == "user.update").unwrap();
        assert!(
            update.details.contains("\"old_role\":\"auditor\""),
            "{update:?}"
        );
    }
}

fn assert_ok_status((status, body): (StatusCode, Value), expected: StatusCode) {
    assert_ok(status, &body, expected);
}

#[tokio::test]
async fn the_user_list_pages_with_meta_in_username_order() {
    for service in Service::ALL {
        let app = spawn_with_auditor(service).await;
        let admin = app.admin_token().await;
        for name in ["zed", "amy", "bob"] {
            app.create_user(&admin, name, "auditor").await;
        }
        let total = app.spec().demo_users.len() + 3;

        let mut seen = Vec::new();
        for page in 1..=total.div_ceil(2) {
            let path = format!("/users?page={page}&page_size=2");
            let (status, body) = call(&app, Method::GET, &path, &admin, None).await;
            assert_ok(status, &body, StatusCode::OK);
            assert_eq!(
                body["meta"],
                json!({ "page": page, "page_size": 2, "total": total }),
                "{service}"
            );
            let items = body["data"].as_array().unwrap();
            assert_eq!(items.len(), 2.min(total - seen.len()), "{service}: {body}");
            seen.extend(
                items
                    .iter()
                    .map(|u| u["username"].as_str().unwrap().to_string()),
            );
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "{service}: pages overlap or are out of order");

        let (_, beyond) = call(
            &app,
            Method::GET,
            "/users?page=99&page_size=2",
            &admin,
            None,
        )
        .await;
        assert_eq!(beyond["data"], json!([]));
        assert_eq!(beyond["meta"]["total"], total);

        let (_, auditors) = call(&app, Method::GET, "/users?role=auditor", &admin, None).await;
        assert_eq!(auditors["meta"]["total"], 3, "{auditors}");
        let (_, inactive) = call(&app, Method::GET, "/users?active=false", &admin, None).await;
        assert_eq!(inactive["meta"]["total"], 0, "{inactive}");
        let (_, defaults) = call(&app, Method::GET, "/users", &admin, None).await;
        assert_eq!(defaults["meta"]["page"], 1);
        assert_eq!(defaults["meta"]["page_size"], 20);
    }
}

#[tokio::test]
async fn unknown_ids_are_404_and_an_admin_cannot_lock_themselves_out() {
    for service in Service::ALL {
        let app = spawn_with_auditor(service).await;
        let admin = app.admin_token().await;
        let (_, me) = call(&app, Method::GET, "/auth/me", &admin, None).await;
        let self_id = me["data"]["id"].as_str().unwrap().to_string();
        let ghost = uuid::Uuid::new_v4();

        for (m, path, body) in [
            (Method::GET, format!("/users/{ghost}"), None),
            (
                Method::PATCH,
                format!("/users/{ghost}"),
                Some(json!({ "role": "auditor" })),
            ),
            (Method::POST, format!("/users/{ghost}/deactivate"), None),
            (Method::POST, format!("/users/{ghost}/activate"), None),
        ] {
            let (status, body) = call(&app, m, &path, &admin, body).await;
            assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
        }

        let path = format!("/users/{self_id}/deactivate");
        let (status, body) = call(&app, Method::POST, &path, &admin, None).await;
        assert_error(status, &body, StatusCode::CONFLICT, "OWN_ACCOUNT");
        let path = format!("/users/{self_id}");
        let (status, body) = call(
            &app,
            Method::PATCH,
            &path,
            &admin,
            Some(json!({ "role": "auditor" })),
        )
        .await;
        assert_error(status, &body, StatusCode::CONFLICT, "OWN_ACCOUNT");
        let (status, body) = call(&app, Method::PATCH, &path, &admin, Some(json!({}))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            call(&app, Method::GET, "/auth/me", &admin, None).await.0,
            StatusCode::OK,
            "{service}"
        );
    }
}

#[tokio::test]
async fn deactivate_then_activate_restores_the_login_and_other_switches_are_404() {
    for service in Service::ALL {
        let app = testkit::spawn(service).await;
        let admin = app.admin_token().await;
        let Some(role) = ordinary_role(&app) else {
            continue;
        };
        let id = app.create_user(&admin, "switchy", role).await;
        assert_eq!(login(&app, "switchy").await.0, StatusCode::OK);

        let (status, body) = call(
            &app,
            Method::POST,
            &format!("/users/{id}/deactivate"),
            &admin,
            None,
        )
        .await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["active"], false);
        assert_eq!(login(&app, "switchy").await.0, StatusCode::UNAUTHORIZED);

        let (status, body) = call(
            &app,
            Method::POST,
            &format!("/users/{id}/activate"),
            &admin,
            None,
        )
        .await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["active"], true);
        assert_eq!(login(&app, "switchy").await.0, StatusCode::OK);
        let actions: Vec<String> = app
            .audit_rows()
            .await
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert!(
            actions.iter().any(|a| a == "user.deactivate")
                && actions.iter().any(|a| a == "user.activate"),
            "{actions:?}"
        );

        let (status, body) = call(
            &app,
            Method::POST,
            &format!("/users/{id}/explode"),
            &admin,
            None,
        )
        .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

/// Two admins deactivating each other at the same moment: the "one active
/// admin stays" rule is checked inside the write that deactivates, so the
/// second of the two writes (the writer runs them one after the other) sees
/// the first and is refused with LAST_ADMIN — or, if its token was checked
/// after its holder lost every session, with 401. Checked in a read before
/// the write, both would pass and leave the tenant without an admin. Five
/// rounds on every server, the survivor making the other an admin again.
#[tokio::test]
async fn two_admins_deactivating_each_other_at_once_leave_one_admin() {
    for service in Service::ALL {
        let app = testkit::spawn(service).await;
        let admin_role = app.spec().admin_role;
        let first = app.admin_token().await;
        let (_, me) = call(&app, Method::GET, "/auth/me", &first, None).await;
        let first_id = me["data"]["id"].as_str().unwrap().to_string();
        let second_id = app.create_user(&first, "second-admin", admin_role).await;
        let mut tokens = [
            (first_id, first, app.admin_credentials()),
            (
                second_id,
                app.login("second-admin", STRONG_PASSWORD).await,
                ("second-admin", STRONG_PASSWORD),
            ),
        ];
        let admins = |token: String| {
            let app = &app;
            async move {
                let path = format!("/users?role={admin_role}&active=true");
                let (status, body) = call(app, Method::GET, &path, &token, None).await;
                assert_ok(status, &body, StatusCode::OK);
                body["meta"]["total"].as_i64().unwrap()
            }
        };
        for round in 0..5 {
            assert_eq!(
                admins(tokens[0].1.clone()).await,
                2,
                "{service} round {round}"
            );
            let [(a_id, a, _), (b_id, b, _)] = &tokens;
            let (a_off, b_off) = (
                format!("/users/{a_id}/deactivate"),
                format!("/users/{b_id}/deactivate"),
            );
            let (one, two) = tokio::join!(
                call(&app, Method::POST, &b_off, a, None),
                call(&app, Method::POST, &a_off, b, None),
            );
            let ok = [&one, &two]
                .iter()
                .filter(|(s, _)| *s == StatusCode::OK)
                .count();
            assert_eq!(ok, 1, "{service} round {round}: {one:?} {two:?}");
            for (status, body) in [&one, &two] {
                if *status != StatusCode::OK && *status != StatusCode::UNAUTHORIZED {
                    assert_error(*status, body, StatusCode::CONFLICT, "LAST_ADMIN");
                }
            }
            // The survivor is the one whose deactivation of the other passed.
            let survivor = usize::from(two.0 == StatusCode::OK);
            let other = 1 - survivor;
            let survivor_token = tokens[survivor].1.clone();
            assert_eq!(
                admins(survivor_token.clone()).await,
                1,
                "{service} round {round}"
            );
            let other_id = tokens[other].0.clone();
            let (status, body) = call(
                &app,
                Method::POST,
                &format!("/users/{other_id}/activate"),
                &survivor_token,
                None,
            )
            .await;
            assert_ok(status, &body, StatusCode::OK);
            let (user, password) = tokens[other].2;
            tokens[other].1 = app.login(user, password).await;
            // Alternate who is listed first, so each side races as the first.
            tokens.swap(0, 1);
        }
    }
}
