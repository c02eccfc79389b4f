//! Roles and permissions by API (issue 14, item 4), a kernel feature on
//! every server: list permissions, create a role, change a role (a built-in
//! one too: a stored override), delete a custom role or reset a built-in
//! one, assign a custom role; every change audited with before and after,
//! and effective on the next request even for a token issued earlier.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.api(method, path, Some(token), body).await
}

async fn my_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    me["data"]["id"].as_str().unwrap().to_string()
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn role(app: &TestApp, token: &str, name: &str) -> (StatusCode, Value) {
    call(app, Method::GET, &format!("/roles/{name}"), token, None).await
}

/// The servers as the tests start them (owner with a non-admin role of the
/// configuration's, as in rbac.rs).
async fn start(service: Service) -> TestApp {
    match service {
        Service::Owner => {
            spawn_with(service, &[("OWNER__RBAC__ROLES__SUPPORT", "tenants.read")]).await
        }
        _ => spawn(service).await,
    }
}

#[tokio::test]
async fn an_admin_creates_changes_assigns_and_deletes_a_role_on_every_server() {
    for service in Service::ALL {
        let app = start(service).await;
        let admin = app.admin_token().await;

        let (status, perms) = call(&app, Method::GET, "/permissions", &admin, None).await;
        assert_ok(status, &perms, StatusCode::OK);
        let known = names(&perms);
        for p in ["users.manage", "audit.read", "roles.manage"] {
            assert!(
                known.contains(&p.to_string()),
                "{service}: {p} in {known:?}"
            );
        }
        let rm = perms["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "roles.manage")
            .unwrap();
        let admin_name = app.spec().admin_role;
        assert_eq!(
            rm["roles"],
            json!([admin_name]),
            "{service}: only the admin"
        );
        assert_eq!(rm["area"], "roles");
        assert!(
            perms["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| !p["description"].as_str().unwrap().is_empty()),
            "{service}: every permission is described: {perms}"
        );

        let (status, list) = call(&app, Method::GET, "/roles", &admin, None).await;
        assert_ok(status, &list, StatusCode::OK);
        assert!(list["meta"]["total"].as_i64().unwrap() >= 2, "{list}");
        let admin_role = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == admin_name)
            .unwrap();
        assert_eq!(admin_role["builtin"], true);
        assert_eq!(admin_role["admin"], true);
        assert!(admin_role["users"].as_i64().unwrap() >= 1);

        // Create: bad name, unknown permission, taken name, then good.
        for (body, code) in [
            (
                json!({ "name": "Night-Clerk", "permissions": [] }),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "name": "", "permissions": [] }),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({ "name": "night_clerk", "permissions": ["audit.raed"] }),
                StatusCode::BAD_REQUEST,
            ),
            (json!({ "name": "night_clerk" }), StatusCode::BAD_REQUEST),
            (
                json!({ "name": "night_clerk", "permissions": [], "extra": 1 }),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (status, reply) =
                call(&app, Method::POST, "/roles", &admin, Some(body.clone())).await;
            assert_error(status, &reply, code, "VALIDATION_ERROR");
        }
        let (status, reply) = call(
            &app,
            Method::POST,
            "/roles",
            &admin,
            Some(json!({ "name": admin_name, "permissions": [] })),
        )
        .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "ROLE_EXISTS");
        let (status, created) = call(
            &app,
            Method::POST,
            "/roles",
            &admin,
            Some(json!({ "name": "night_clerk", "permissions": ["audit.read", "audit.read"] })),
        )
        .await;
        assert_ok(status, &created, StatusCode::CREATED);
        assert_eq!(created["data"]["permissions"], json!(["audit.read"]));
        assert_eq!(created["data"]["builtin"], false);
        assert_eq!(created["data"]["users"], 0);
        let (status, reply) = call(
            &app,
            Method::POST,
            "/roles",
            &admin,
            Some(json!({ "name": "night_clerk", "permissions": [] })),
        )
        .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "ROLE_EXISTS");

        // Assign it: at creation and by PATCH /users/{id}.
        let clerk_id = app.create_user(&admin, "clerk1", "night_clerk").await;
        let other_id = app.create_user(&admin, "clerk2", admin_name).await;
        let (status, reply) = call(
            &app,
            Method::PATCH,
            &format!("/users/{other_id}"),
            &admin,
            Some(json!({ "role": "night_clerk" })),
        )
        .await;
        assert_ok(status, &reply, StatusCode::OK);
        assert_eq!(reply["data"]["role"], "night_clerk");
        let (status, reply) = call(
            &app,
            Method::PATCH,
            &format!("/users/{other_id}"),
            &admin,
            Some(json!({ "role": "no_such_role" })),
        )
        .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

        // Its permission works; one it lacks is refused.
        let clerk = app.login("clerk1", STRONG_PASSWORD).await;
        let (status, reply) = call(&app, Method::GET, "/audit", &clerk, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        let (status, reply) = call(&app, Method::GET, "/users", &clerk, None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

        // Change it: the same token gains users.manage, then loses audit.read, at once.
        let (status, changed) = call(
            &app,
            Method::PATCH,
            "/roles/night_clerk",
            &admin,
            Some(json!({ "permissions": ["users.manage"] })),
        )
        .await;
        assert_ok(status, &changed, StatusCode::OK);
        assert_eq!(changed["data"]["permissions"], json!(["users.manage"]));
        assert_eq!(changed["data"]["users"], 2);
        let (status, reply) = call(&app, Method::GET, "/users", &clerk, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        let (status, reply) = call(&app, Method::GET, "/audit", &clerk, None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        // users.manage without the admin role cannot hand out the admin role.
        let (status, reply) = call(
            &app,
            Method::PATCH,
            &format!("/users/{other_id}"),
            &clerk,
            Some(json!({ "role": admin_name })),
        )
        .await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

        // In use: not deleted.
        let (status, reply) = call(&app, Method::DELETE, "/roles/night_clerk", &admin, None).await;
        assert_error(status, &reply, StatusCode::CONFLICT, "ROLE_IN_USE");
        assert_eq!(reply["error"]["details"]["users"], 2);
        assert_eq!(role(&app, &admin, "night_clerk").await.0, StatusCode::OK);

        // Freed (another custom role), then deleted.
        let (status, _) = call(
            &app,
            Method::POST,
            "/roles",
            &admin,
            Some(json!({ "name": "spare", "permissions": [] })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        for id in [&clerk_id, &other_id] {
            let (status, reply) = call(
                &app,
                Method::PATCH,
                &format!("/users/{id}"),
                &admin,
                Some(json!({ "role": "spare" })),
            )
            .await;
            assert_ok(status, &reply, StatusCode::OK);
        }
        let (status, reply) = call(&app, Method::DELETE, "/roles/night_clerk", &admin, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        assert_eq!(reply["data"]["outcome"], "deleted");
        let (status, reply) = role(&app, &admin, "night_clerk").await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        for (m, body) in [
            (Method::DELETE, None),
            (Method::PATCH, Some(json!({ "permissions": [] }))),
        ] {
            let (status, reply) = call(&app, m, "/roles/night_clerk", &admin, body).await;
            assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        // A deleted role can no longer be given.
        let (status, reply) = app
            .api(
                Method::POST,
                "/users",
                Some(&admin),
                Some(json!({ "username": "clerk3", "password": STRONG_PASSWORD, "role": "night_clerk" })),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

        // Every change is one audit row with before and after.
        let rows = app.audit_rows().await;
        let of = |action: &str| {
            rows.iter()
                .filter(|r| r.action == action && r.resource == "role:night_clerk")
                .map(|r| serde_json::from_str::<Value>(&r.details).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of("role.create"),
            [json!({ "before": null, "after": ["audit.read"] })]
        );
        assert_eq!(
            of("role.update"),
            [json!({ "before": ["audit.read"], "after": ["users.manage"] })]
        );
        assert_eq!(
            of("role.delete"),
            [json!({ "before": ["users.manage"], "after": null })]
        );
        assert!(
            app.verify_audit().await.is_intact(),
            "{service}: chain intact"
        );
    }
}

#[tokio::test]
async fn a_builtin_role_is_changed_by_an_override_and_reset_and_the_admin_role_keeps_its_powers() {
    for service in [Service::Company, Service::Hospital] {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let (_, before) = role(&app, &admin, "admin").await;
        let defaults = before["data"]["permissions"].clone();
        assert_eq!(before["data"]["overridden"], false);

        // Nobody could manage roles or users any more: refused.
        for keep in [json!(["users.manage"]), json!(["roles.manage"]), json!([])] {
            let (status, reply) = call(
                &app,
                Method::PATCH,
                "/roles/admin",
                &admin,
                Some(json!({ "permissions": keep })),
            )
            .await;
            assert_error(status, &reply, StatusCode::CONFLICT, "ADMIN_ROLE_PROTECTED");
        }
        // Without audit.read: the admin's token loses the audit log at once.
        let (status, changed) = call(
            &app,
            Method::PATCH,
            "/roles/admin",
            &admin,
            Some(json!({ "permissions": ["users.manage", "roles.manage"] })),
        )
        .await;
        assert_ok(status, &changed, StatusCode::OK);
        assert_eq!(changed["data"]["overridden"], true);
        assert_eq!(changed["data"]["builtin"], true);
        assert_eq!(changed["data"]["default_permissions"], defaults);
        let (status, reply) = call(&app, Method::GET, "/audit", &admin, None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

        // Reset: the default again.
        let (status, reply) = call(&app, Method::DELETE, "/roles/admin", &admin, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        assert_eq!(reply["data"]["outcome"], "reset");
        let (status, reply) = call(&app, Method::GET, "/audit", &admin, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        let (_, after) = role(&app, &admin, "admin").await;
        assert_eq!(after["data"]["permissions"], defaults);
        // A built-in role without an override is neither deleted nor reset.
        let (status, reply) = call(&app, Method::DELETE, "/roles/admin", &admin, None).await;
        assert_error(status, &reply, StatusCode::CONFLICT, "ROLE_BUILTIN");
        let non_admin = app.demo_non_admins()[0].2;
        let (status, reply) = call(
            &app,
            Method::DELETE,
            &format!("/roles/{non_admin}"),
            &admin,
            None,
        )
        .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "ROLE_BUILTIN");

        // The admin cannot take the admin role from themselves.
        let me = my_id(&app, &admin).await;
        let (status, reply) = call(
            &app,
            Method::PATCH,
            &format!("/users/{me}"),
            &admin,
            Some(json!({ "role": non_admin })),
        )
        .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "OWN_ACCOUNT");
        let rows = app.audit_rows().await;
        assert!(rows
            .iter()
            .any(|r| r.action == "role.reset" && r.resource == "role:admin"));
    }
}

#[tokio::test]
async fn a_role_that_manages_roles_is_given_by_an_admin_only() {
    let app = spawn(Service::Company).await;
    let admin = app.admin_token().await;
    for (name, perms) in [
        ("people", json!(["users.manage"])),
        ("role_keeper", json!(["roles.manage"])),
    ] {
        let (status, _) = call(
            &app,
            Method::POST,
            "/roles",
            &admin,
            Some(json!({ "name": name, "permissions": perms })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    app.create_user(&admin, "hr1", "people").await;
    let hr = app.login("hr1", STRONG_PASSWORD).await;
    let target = app.create_user(&admin, "plain1", "analyst").await;
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/users/{target}"),
        &hr,
        Some(json!({ "role": "role_keeper" })),
    )
    .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = app
        .api(
            Method::POST,
            "/users",
            Some(&hr),
            Some(json!({ "username": "keeper2", "password": STRONG_PASSWORD, "role": "role_keeper" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    // A role without those: fine.
    let (status, reply) = call(
        &app,
        Method::PATCH,
        &format!("/users/{target}"),
        &hr,
        Some(json!({ "role": "team_lead" })),
    )
    .await;
    assert_ok(status, &reply, StatusCode::OK);
}

/// Every roles endpoint, each with a body an admin's call would accept.
fn endpoints(admin_role: &str) -> Vec<(Method, String, Option<Value>)> {
    let one = format!("/roles/{admin_role}");
    vec![
        (Method::GET, "/permissions".into(), None),
        (Method::GET, "/roles".into(), None),
        (
            Method::POST,
            "/roles".into(),
            Some(json!({ "name": "intruder_role", "permissions": ["users.manage"] })),
        ),
        (Method::GET, one.clone(), None),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({ "permissions": ["users.manage", "roles.manage"] })),
        ),
        (Method::DELETE, one, None),
    ]
}

#[tokio::test]
async fn every_non_admin_role_is_refused_every_roles_endpoint_and_changes_nothing() {
    for service in Service::ALL {
        let app = start(service).await;
        let admin = app.admin_token().await;
        let admin_name = app.spec().admin_role;
        let mut callers = app.demo_non_admins();
        if service == Service::Owner {
            app.create_user(&admin, "support1", "support").await;
            callers.push(("support1", STRONG_PASSWORD, "support"));
        }
        assert!(!callers.is_empty(), "{service}: no non-admin to try");
        for (username, password, role_name) in callers {
            let token = app.login(username, password).await;
            for (method, path, body) in endpoints(admin_name) {
                let (status, reply) = call(&app, method.clone(), &path, &token, body).await;
                assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
                assert!(
                    reply.get("data").is_none(),
                    "{service}/{role_name}: {method} {path}: {reply}"
                );
            }
        }
        for (method, path, body) in endpoints(admin_name) {
            let (status, reply) = app.api(method.clone(), &path, None, body).await;
            assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        let (_, list) = call(&app, Method::GET, "/roles", &admin, None).await;
        assert!(
            !names(&list).contains(&"intruder_role".to_string()),
            "{service}"
        );
        let (_, admin_role) = role(&app, &admin, admin_name).await;
        assert_eq!(admin_role["data"]["overridden"], false, "{service}");
        let rows = app.audit_rows().await;
        assert!(
            !rows.iter().any(|r| r.action.starts_with("role.")),
            "{service}: a refused change was audited as done"
        );
    }
}

const TENANT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const SECRET: &str = "a-secret-both-hospitals-share-so-only-the-tenant-differs";

#[tokio::test]
async fn a_hospital_tenants_custom_role_is_invisible_and_unusable_in_another_tenant() {
    let a = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_A),
        ],
    )
    .await;
    // B shares A's database: only the tenant tells their roles apart.
    let b = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__AUTH__JWT_SECRET", SECRET),
            ("HOSPITAL__TENANCY__TENANT_ID", TENANT_B),
            ("HOSPITAL__DATABASE__URL", a.database_url()),
        ],
    )
    .await;
    let admin_a = a.admin_token().await;
    let admin_b = b.admin_token().await;
    let (status, reply) = call(
        &a,
        Method::POST,
        "/roles",
        &admin_a,
        Some(json!({ "name": "night_clerk", "permissions": ["audit.read"] })),
    )
    .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    // A's change of a built-in role stays in A too.
    let (status, _) = call(
        &a,
        Method::PATCH,
        "/roles/admin",
        &admin_a,
        Some(json!({ "permissions": ["users.manage", "roles.manage"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (_, list) = call(&b, Method::GET, "/roles", &admin_b, None).await;
    assert!(!names(&list).contains(&"night_clerk".to_string()), "{list}");
    let (status, reply) = role(&b, &admin_b, "night_clerk").await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = b
        .api(
            Method::POST,
            "/users",
            Some(&admin_b),
            Some(json!({ "username": "clerk_b", "password": STRONG_PASSWORD, "role": "night_clerk" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, reply) = call(&b, Method::GET, "/audit", &admin_b, None).await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = call(&a, Method::GET, "/audit", &admin_a, None).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    // B may make its own role of the same name, with other permissions.
    let (status, reply) = call(
        &b,
        Method::POST,
        "/roles",
        &admin_b,
        Some(json!({ "name": "night_clerk", "permissions": ["users.manage"] })),
    )
    .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let (_, in_a) = role(&a, &admin_a, "night_clerk").await;
    assert_eq!(in_a["data"]["permissions"], json!(["audit.read"]));
    let (status, reply) = call(&b, Method::DELETE, "/roles/night_clerk", &admin_b, None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(role(&a, &admin_a, "night_clerk").await.0, StatusCode::OK);
}

#[tokio::test]
async fn another_instance_on_the_same_database_applies_a_change_within_the_recheck_bound() {
    let secret = "a-secret-two-company-instances-share-for-this-test";
    let a = spawn_with(Service::Company, &[("COMPANY__AUTH__JWT_SECRET", secret)]).await;
    let b = spawn_with(
        Service::Company,
        &[
            ("COMPANY__AUTH__JWT_SECRET", secret),
            ("COMPANY__DATABASE__URL", a.database_url()),
        ],
    )
    .await;
    let admin = a.admin_token().await;
    let (status, _) = call(
        &a,
        Method::POST,
        "/roles",
        &admin,
        Some(json!({ "name": "reader", "permissions": ["audit.read"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    a.create_user(&admin, "reader1", "reader").await;
    let token = b.login("reader1", STRONG_PASSWORD).await;
    // B may have cached the roles before the create: within the bound it sees them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        let (status, _) = call(&b, Method::GET, "/audit", &token, None).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never applied the create"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, _) = call(
        &a,
        Method::PATCH,
        "/roles/reader",
        &admin,
        Some(json!({ "permissions": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A applies it at once; B within the recheck bound (2 s) plus slack.
    let (status, _) = call(&a, Method::GET, "/audit", &token, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let changed = std::time::Instant::now();
    loop {
        let (status, _) = call(&b, Method::GET, "/audit", &token, None).await;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(5),
            "B still allows a removed permission after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
