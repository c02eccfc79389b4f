//! Who may manage users and read the audit log: the admin only, unless the
//! configuration grants it; and nobody but an admin ever makes an admin.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};

/// Every user-management and audit endpoint, aimed at `target` (a user id),
/// each with a body its handler would accept from an admin.
fn guarded_endpoints(target: &str) -> Vec<(Method, String, Option<Value>)> {
    let new_user = json!({ "username": "intruder", "password": STRONG_PASSWORD, "role": "admin" });
    vec![
        (Method::GET, "/users".into(), None),
        (Method::POST, "/users".into(), Some(new_user)),
        (Method::GET, format!("/users/{target}"), None),
        (
            Method::PATCH,
            format!("/users/{target}"),
            Some(json!({ "full_name": "Renamed" })),
        ),
        (Method::POST, format!("/users/{target}/deactivate"), None),
        (Method::POST, format!("/users/{target}/activate"), None),
        (Method::GET, "/audit".into(), None),
        (Method::GET, "/audit/verify".into(), None),
    ]
}

async fn my_id(app: &TestApp, token: &str) -> String {
    let (_, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    me["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_non_admin_role_is_refused_user_management_and_the_audit_log() {
    for service in Service::ALL {
        // Owner has no compiled non-admin role; give it one that may read tenants.
        let app = match service {
            Service::Owner => {
                spawn_with(service, &[("OWNER__RBAC__ROLES__SUPPORT", "tenants.read")]).await
            }
            _ => spawn(service).await,
        };
        let admin = app.admin_token().await;
        let target = my_id(&app, &admin).await;
        let mut callers = app.demo_non_admins();
        if service == Service::Owner {
            app.create_user(&admin, "support1", "support").await;
            callers.push(("support1", STRONG_PASSWORD, "support"));
        }
        assert!(!callers.is_empty(), "{service}: no non-admin to try");

        for (username, password, role) in callers {
            let token = app.login(username, password).await;
            for (method, path, body) in guarded_endpoints(&target) {
                let (status, reply) = app.api(method.clone(), &path, Some(&token), body).await;
                assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
                assert!(
                    reply.get("data").is_none(),
                    "{service}/{role}: {method} {path}: {reply}"
                );
            }
        }
        let rows = app.audit_rows().await;
        assert!(
            rows.iter().all(|r| !r.details.contains("intruder")),
            "{service}: a refused create was applied"
        );
    }
}

#[tokio::test]
async fn no_token_is_401_on_every_guarded_endpoint() {
    for service in Service::ALL {
        let app = spawn(service).await;
        let admin = app.admin_token().await;
        let target = my_id(&app, &admin).await;
        for (method, path, body) in guarded_endpoints(&target) {
            let (status, reply) = app.api(method, &path, None, body).await;
            assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
    }
}

/// A server where a configured `deputy` role may manage users but is not the admin.
async fn spawn_with_deputy(service: Service) -> (TestApp, String) {
    let key = format!("{}__RBAC__ROLES__DEPUTY", service.env_prefix());
    let app = spawn_with(service, &[(key.as_str(), "users.manage")]).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "deputy1", "deputy").await;
    let token = app.login("deputy1", STRONG_PASSWORD).await;
    (app, token)
}

#[tokio::test]
async fn a_non_admin_who_manages_users_can_never_make_or_touch_an_admin() {
    for service in Service::ALL {
        let (app, deputy) = spawn_with_deputy(service).await;
        let admin_role = app.spec().admin_role;
        let admin_id = my_id(&app, &app.admin_token().await).await;

        // The granted permission works...
        let helper = app.create_user(&deputy, "helper1", "deputy").await;

        // ...but never towards the admin role.
        let new_admin =
            json!({ "username": "sneaky", "password": STRONG_PASSWORD, "role": admin_role });
        let (status, body) = app
            .api(Method::POST, "/users", Some(&deputy), Some(new_admin))
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let promote = json!({ "role": admin_role });
        let path = format!("/users/{helper}");
        let (status, body) = app
            .api(Method::PATCH, &path, Some(&deputy), Some(promote))
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let demote = json!({ "role": "deputy" });
        let path = format!("/users/{admin_id}");
        let (status, body) = app
            .api(Method::PATCH, &path, Some(&deputy), Some(demote))
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let path = format!("/users/{admin_id}/deactivate");
        let (status, body) = app.api(Method::POST, &path, Some(&deputy), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        // Without audit.read, the deputy does not read the log either.
        let (status, body) = app.api(Method::GET, "/audit", Some(&deputy), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

        let admin = app.admin_token().await;
        let path = format!("/users?role={admin_role}");
        let (status, admins) = app.api(Method::GET, &path, Some(&admin), None).await;
        assert_ok(status, &admins, StatusCode::OK);
        assert_eq!(admins["meta"]["total"], 1, "{service}: {admins}");
        let (_, me) = app.api(Method::GET, "/auth/me", Some(&admin), None).await;
        assert_eq!(me["data"]["active"], true, "{service}");
    }
}

/// The permission enums are the one source: every permission a server
/// checks has a unique name and is granted by some compiled role (a
/// permission nobody holds is dead code or a policy typo), and every
/// compiled role only names permissions of that server.
#[test]
fn every_permission_a_server_checks_is_named_once_and_granted() {
    for service in Service::ALL {
        let spec = testkit::spec(service);
        let known = spec.policy.known();
        let mut unique = known.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), known.len(), "{service}: a name is used twice");
        let roles = spec.policy.roles();
        for permission in &known {
            assert!(
                roles.iter().any(|(_, perms)| perms.contains(permission)),
                "{service}: no compiled role holds `{permission}`"
            );
        }
        for (role, perms) in &roles {
            for p in perms {
                assert!(known.contains(p), "{service}/{role}: `{p}` unknown");
            }
        }
        assert!(spec.roles().contains(&spec.admin_role), "{service}");
    }
}
