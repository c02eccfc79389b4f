//! Owner's tenants and plans (`/api/v1/owner/tenants`, `/plans`): register
//! a hospital, change its status and plan, and who may do what.

use serde_json::{json, Value};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};

use crate::code;

pub(crate) fn registration(name: &str, sub: &str, db: &str) -> Value {
    json!({
        "name": name,
        "subdomain": sub,
        "db_name": db,
        "region": "local",
        "first_admin": {
            "email": format!("admin@{sub}.example.org"),
            "password": STRONG_PASSWORD,
            "first_name": "Amina",
            "last_name": "Khan",
        }
    })
}

/// Register a tenant as `token`; its id.
pub(crate) async fn register(app: &TestApp, token: &str, body: Value) -> String {
    let (status, reply) = app
        .api(Method::POST, "/tenants", Some(token), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"]["tenant"]["id"].as_str().unwrap().to_string()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    app.db()
        .run(move |c| {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            Ok(diesel::sql_query(sql).get_result::<N>(c)?.n)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn registering_a_hospital_keeps_only_the_hash_and_refuses_duplicates() {
    let app = spawn(Service::Owner).await;
    let admin = app.admin_token().await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/tenants",
            Some(&admin),
            Some(registration(
                "Abdullah Hospital",
                "abdullah",
                "hospital_abdullah",
            )),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let t = &reply["data"]["tenant"];
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["name"], "Abdullah Hospital");
    assert_eq!(t["slug"], "abdullah");
    assert_eq!(t["db_name"], "hospital_abdullah");
    assert_eq!(t["status"], "active");
    assert_eq!(t["health"], "unreachable", "no heartbeat yet");
    assert_eq!(reply["data"]["hospital"]["tenant_id"], id);
    assert_eq!(
        reply["data"]["hospital"]["identity"],
        format!("spiffe://bulkhead/hospital/{id}")
    );
    assert!(!reply.to_string().contains(STRONG_PASSWORD));

    // Only a bcrypt hash of the password is stored, anywhere.
    let owner_bytes = {
        let id = id.clone();
        app.db()
            .run(move |c| {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct H {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    password_hash: String,
                }
                Ok(diesel::sql_query(format!(
                    "SELECT password_hash FROM tenant_first_admins WHERE tenant_id = '{id}'"
                ))
                .get_result::<H>(c)?
                .password_hash)
            })
            .await
            .unwrap()
    };
    assert!(owner_bytes.starts_with("$2"), "{owner_bytes}");
    assert!(common::auth::password::verify(
        STRONG_PASSWORD,
        &owner_bytes
    ));
    let rows = app.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "tenant.create"));
    assert!(rows.iter().all(|r| !r.details.contains(STRONG_PASSWORD)));

    // The same subdomain, or the same database name: 409, nothing added.
    let before = count(&app, "tenants").await;
    for body in [
        registration("Other", "abdullah", "hospital_other"),
        registration("Other", "other", "hospital_abdullah"),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/tenants", Some(&admin), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    }
    assert_eq!(count(&app, "tenants").await, before);
    assert_eq!(count(&app, "tenant_first_admins").await, 1);
}

#[tokio::test]
async fn the_originals_camel_case_names_are_accepted() {
    let app = spawn(Service::Owner).await;
    let admin = app.admin_token().await;
    let body = json!({
        "companyName": "Ramzan Hospital",
        "subdomain": "ramzan",
        "tenantDbName": "hospital_ramzan",
        "region": "local",
        "firstAdmin": {
            "email": "boss@ramzan.example.org",
            "password": STRONG_PASSWORD,
            "firstName": "Bilal",
            "lastName": "Ramzan",
        }
    });
    let id = register(&app, &admin, body).await;
    let (status, reply) = app
        .api(Method::GET, &format!("/tenants/{id}"), Some(&admin), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["name"], "Ramzan Hospital");
    assert_eq!(reply["data"]["db_name"], "hospital_ramzan");
}

#[tokio::test]
async fn bad_registrations_are_400_and_change_nothing() {
    let app = spawn(Service::Owner).await;
    let admin = app.admin_token().await;
    let before = count(&app, "tenants").await;
    let mut cases = Vec::new();
    let mut weak = registration("A", "a1", "db_a1");
    weak["first_admin"]["password"] = json!("short");
    cases.push(weak);
    let mut same = registration("A", "a2", "db_a2");
    same["first_admin"]["password"] = json!("admin@a2.example.org");
    cases.push(same);
    cases.push(registration("A", "-bad", "db_a3"));
    cases.push(registration("A", "Upper", "db_a4"));
    cases.push(registration("A", "a5", "5starts_with_digit"));
    cases.push(registration("A", "a6", "has-dash"));
    cases.push(registration("", "a7", "db_a7"));
    cases.push(registration(&"x".repeat(101), "a8", "db_a8"));
    let mut email = registration("A", "a9", "db_a9");
    email["first_admin"]["email"] = json!("not-an-email");
    cases.push(email);
    let mut unknown = registration("A", "a10", "db_a10");
    unknown["color"] = json!("red");
    cases.push(unknown);
    let mut plan = registration("A", "a11", "db_a11");
    plan["plan_id"] = json!("no-such-plan");
    cases.push(plan);
    for body in cases {
        let (status, reply) = app
            .api(Method::POST, "/tenants", Some(&admin), Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(count(&app, "tenants").await, before);
}

#[tokio::test]
async fn a_tenants_status_and_plan_change_and_the_list_filters_on_them() {
    let app = spawn(Service::Owner).await;
    let admin = app.admin_token().await;
    let a = register(
        &app,
        &admin,
        registration("Alpha", "alpha", "hospital_alpha"),
    )
    .await;
    let b = register(&app, &admin, registration("Beta", "beta", "hospital_beta")).await;

    let (status, plan) = app
        .api(
            Method::POST,
            "/plans",
            Some(&admin),
            Some(json!({ "name": "Basic", "max_staff": 5, "modules": ["patients"], "features": ["api_access"] })),
        )
        .await;
    assert_ok(status, &plan, StatusCode::CREATED);
    let plan_id = plan["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(plan["data"]["max_staff"], 5);
    assert_eq!(plan["data"]["max_patients"], Value::Null);
    assert_eq!(plan["data"]["features"], json!(["api_access"]));

    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/tenants/{a}"),
            Some(&admin),
            Some(json!({ "status": "suspended", "plan_id": plan_id, "name": "Alpha General" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "suspended");
    assert_eq!(reply["data"]["plan_id"], plan_id.as_str());
    assert_eq!(reply["data"]["name"], "Alpha General");

    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, r) = app
        .api(Method::GET, "/tenants?status=suspended", Some(&admin), None)
        .await;
    assert_eq!(ids(&r), vec![a.clone()]);
    let (_, r) = app
        .api(
            Method::GET,
            &format!("/tenants?plan={plan_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![a.clone()]);
    let (_, r) = app
        .api(Method::GET, "/tenants?status=active", Some(&admin), None)
        .await;
    assert!(ids(&r).contains(&b) && !ids(&r).contains(&a), "{r}");
    let (_, r) = app
        .api(Method::GET, "/tenants?health=healthy", Some(&admin), None)
        .await;
    assert_eq!(r["meta"]["total"], 0, "nobody sent a heartbeat: {r}");
    let (_, r) = app
        .api(
            Method::GET,
            "/tenants?health=unreachable&page_size=1",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r["data"].as_array().unwrap().len(), 1);
    assert_eq!(r["meta"]["total"], 3, "demo, alpha, beta");

    // Unassign, archive; a bad status or plan is 400; unknown tenant 404.
    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/tenants/{a}"),
            Some(&admin),
            Some(json!({ "plan_id": null, "status": "archived" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["plan_id"], Value::Null);
    assert_eq!(reply["data"]["status"], "archived");
    for body in [
        json!({ "status": "deleted" }),
        json!({ "plan_id": "nope" }),
        json!({ "name": " " }),
    ] {
        let (status, reply) = app
            .api(
                Method::PATCH,
                &format!("/tenants/{a}"),
                Some(&admin),
                Some(body),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    for bad in ["status=gone", "health=fine"] {
        let (status, reply) = app
            .api(Method::GET, &format!("/tenants?{bad}"), Some(&admin), None)
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let missing = "00000000-0000-4000-8000-00000000dead";
    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/tenants/{missing}"),
            Some(&admin),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in ["", "/database-health", "/users"] {
        let (status, reply) = app
            .api(
                Method::GET,
                &format!("/tenants/{missing}{path}"),
                Some(&admin),
                None,
            )
            .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter().filter(|r| r.action == "tenant.update").count(),
        2
    );
}

#[tokio::test]
async fn plans_are_listed_changed_and_unique_by_name() {
    let app = spawn(Service::Owner).await;
    let admin = app.admin_token().await;
    let (status, p) = app
        .api(Method::POST, "/plans", Some(&admin), Some(json!({ "name": "Pro", "max_staff": 50, "max_patients": 10000, "max_storage_mb": 2048 })))
        .await;
    assert_ok(status, &p, StatusCode::CREATED);
    let id = p["data"]["id"].as_str().unwrap().to_string();
    let (status, reply) = app
        .api(
            Method::POST,
            "/plans",
            Some(&admin),
            Some(json!({ "name": "Pro" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = app
        .api(
            Method::PATCH,
            &format!("/plans/{id}"),
            Some(&admin),
            Some(json!({ "max_staff": null, "features": ["break_glass_review"] })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["max_staff"], Value::Null);
    assert_eq!(reply["data"]["max_patients"], 10000);
    assert_eq!(reply["data"]["features"], json!(["break_glass_review"]));
    let (status, reply) = app.api(Method::GET, "/plans", Some(&admin), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["meta"]["total"], 1);
    let (status, reply) = app
        .api(Method::GET, &format!("/plans/{id}"), Some(&admin), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    for body in [
        json!({ "name": "Neg", "max_staff": -1 }),
        json!({ "name": "Bad", "modules": ["Has Space"] }),
        json!({ "name": "" }),
        json!({ "name": "X", "extra": 1 }),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/plans", Some(&admin), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = app
        .api(Method::GET, "/plans/nope", Some(&admin), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// Every tenant and plan endpoint, with a body the owner's handlers accept.
fn endpoints(tenant: &str, plan: &str) -> Vec<(Method, String, Option<Value>, bool)> {
    vec![
        (Method::GET, "/tenants".into(), None, false),
        (
            Method::POST,
            "/tenants".into(),
            Some(registration("Intruder", "intruder", "hospital_intruder")),
            true,
        ),
        (Method::GET, format!("/tenants/{tenant}"), None, false),
        (
            Method::PATCH,
            format!("/tenants/{tenant}"),
            Some(json!({ "status": "suspended" })),
            true,
        ),
        (
            Method::GET,
            format!("/tenants/{tenant}/database-health"),
            None,
            false,
        ),
        (Method::GET, format!("/tenants/{tenant}/users"), None, false),
        (Method::GET, "/plans".into(), None, false),
        (
            Method::POST,
            "/plans".into(),
            Some(json!({ "name": "Intruder" })),
            true,
        ),
        (Method::GET, format!("/plans/{plan}"), None, false),
        (
            Method::PATCH,
            format!("/plans/{plan}"),
            Some(json!({ "max_staff": 1 })),
            true,
        ),
    ]
}

#[tokio::test]
async fn only_the_owner_role_manages_tenants_and_plans() {
    // A reader role (tenants.read) and a role with nothing of owner's own.
    let app = spawn_with(
        Service::Owner,
        &[
            ("OWNER__RBAC__ROLES__SUPPORT", "tenants.read"),
            ("OWNER__RBAC__ROLES__AUDITOR", "audit.read"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    let tenant = register(
        &app,
        &admin,
        registration("Alpha", "alpha", "hospital_alpha"),
    )
    .await;
    let (_, p) = app
        .api(
            Method::POST,
            "/plans",
            Some(&admin),
            Some(json!({ "name": "Basic" })),
        )
        .await;
    let plan = p["data"]["id"].as_str().unwrap().to_string();
    app.create_user(&admin, "support1", "support").await;
    app.create_user(&admin, "auditor1", "auditor").await;
    let support = app.login("support1", STRONG_PASSWORD).await;
    let auditor = app.login("auditor1", STRONG_PASSWORD).await;
    let audit_before = app.audit_rows().await.len();

    for (method, path, body, write) in endpoints(&tenant, &plan) {
        // No token, a garbage token: 401.
        for token in [None, Some("not-a-token")] {
            let (status, reply) = app.api(method.clone(), &path, token, body.clone()).await;
            assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        // No owner permission at all: 403 everywhere.
        let (status, reply) = app
            .api(method.clone(), &path, Some(&auditor), body.clone())
            .await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(reply.get("data").is_none());
        // A reader: reads yes, writes 403.
        let (status, reply) = app
            .api(method.clone(), &path, Some(&support), body.clone())
            .await;
        if write {
            assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        } else {
            assert_eq!(status, StatusCode::OK, "{method} {path}: {reply}");
        }
    }
    // Refused writes changed nothing.
    let (_, t) = app
        .api(
            Method::GET,
            &format!("/tenants/{tenant}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(t["data"]["status"], "active");
    let (_, p) = app
        .api(Method::GET, &format!("/plans/{plan}"), Some(&admin), None)
        .await;
    assert_eq!(p["data"]["max_staff"], Value::Null);
    assert_eq!(count(&app, "tenants").await, 2, "demo + alpha");
    assert_eq!(count(&app, "plans").await, 1);
    let rows = app.audit_rows().await;
    assert!(
        rows[audit_before..]
            .iter()
            .all(|r| !r.action.starts_with("tenant.") && !r.action.starts_with("plan.")),
        "a refused write was audited as done"
    );
}

#[tokio::test]
async fn a_hospital_token_is_no_owner_token() {
    let hospital = spawn(Service::Hospital).await;
    let owner = spawn(Service::Owner).await;
    let token = hospital.admin_token().await;
    let (status, reply) = owner.api(Method::GET, "/tenants", Some(&token), None).await;
    assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(code(&reply), "UNAUTHENTICATED");
}
