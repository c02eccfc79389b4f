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
    assert_eq!(r["meta"]["total"], 4, "two demo tenants, alpha, beta");

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
        (
            Method::POST,
            format!("/tenants/{tenant}/users"),
            Some(json!({ "username": "intruder", "password": STRONG_PASSWORD, "role": "admin" })),
            true,
        ),
        (
            Method::GET,
            format!("/tenants/{tenant}/commands"),
            None,
            false,
        ),
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
    assert_eq!(count(&app, "tenants").await, 3, "two demo tenants + alpha");
    assert_eq!(count(&app, "plans").await, 1);
    assert_eq!(count(&app, "tenant_commands").await, 0);
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

// ---------------------------------------------------------------------------
// Heartbeat: hospital → owner over the internal plane.

mod heartbeat {
    use std::time::{Duration, Instant};

    use common::config::DEMO_TENANT_ID;
    use common::mtls::ServiceIdentity;
    use serde_json::{json, Value};
    use testkit::plane::{Pki, PlanePorts, Roles};
    use testkit::{assert_error, assert_ok, Method, Service, StatusCode, TestApp, STRONG_PASSWORD};

    use crate::plane::{internal_post, issue_all, start, wait_for_events};

    const TENANT_B: &str = "00000000-0000-4000-8000-0000000000b2";

    /// Poll `f` until it gives `Some`, for at most 30 s.
    async fn until<T, F, Fut>(what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A PKI, owner and an on-site hospital linked over the plane, and an
    /// owner token (the prologue of most tests here).
    async fn linked() -> (Pki, PlanePorts, TestApp, TestApp, String) {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let owner = start(Service::Owner, &pki, &ports, &[]).await;
        let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
        let token = owner.admin_token().await;
        (pki, ports, owner, hospital, token)
    }

    async fn health(owner: &TestApp, token: &str) -> Value {
        let path = format!("/tenants/{DEMO_TENANT_ID}/database-health");
        let (status, body) = owner.api(Method::GET, &path, Some(token), None).await;
        assert_ok(status, &body, StatusCode::OK);
        body["data"].clone()
    }

    async fn wait_healthy(owner: &TestApp, token: &str) -> Value {
        until("a healthy heartbeat", || async {
            let h = health(owner, token).await;
            (h["status"] == "healthy").then_some(h)
        })
        .await
    }

    async fn try_login(hospital: &TestApp, user: &str, pw: &str) -> (StatusCode, Value) {
        hospital
            .api(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({ "username": user, "password": pw })),
            )
            .await
    }

    #[tokio::test]
    async fn the_heartbeat_reports_health_and_staff_never_patients() {
        let (_pki, _ports, owner, hospital, token) = linked().await;

        let h = wait_healthy(&owner, &token).await;
        let backend = match hospital.backend() {
            common::db::Backend::Sqlite => "sqlite",
            common::db::Backend::Postgres => "postgres",
        };
        assert_eq!(h["backend"], backend);
        assert_eq!(h["heartbeat_interval_secs"], 1);
        assert!(
            h["migration_version"].as_str().unwrap() >= "20261206000304",
            "{h}"
        );
        assert!(h["audit_seq"].as_i64().unwrap() > 0, "{h}");
        assert_eq!(h["audit_hash"].as_str().unwrap().len(), 64);
        assert!(h["db_size_bytes"].as_i64().unwrap() > 0, "{h}");
        assert!(h["pool_size"].as_i64().unwrap() >= 1, "{h}");
        assert!(h["last_write_at"].is_string(), "{h}");
        if backend == "sqlite" {
            assert!(h["disk_free_bytes"].as_i64().unwrap() > 0, "{h}");
        }
        let (_, t) = owner
            .api(
                Method::GET,
                &format!("/tenants/{DEMO_TENANT_ID}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(t["data"]["health"], "healthy");
        let (_, list) = owner
            .api(Method::GET, "/tenants?health=healthy", Some(&token), None)
            .await;
        assert_eq!(list["meta"]["total"], 1, "{list}");

        // The directory: every staff account, and nothing else.
        let hadmin = hospital.admin_token().await;
        hospital.create_user(&hadmin, "newnurse", "nurse").await;
        let (status, reg) = hospital
            .api(
                Method::POST,
                "/patients",
                Some(&hadmin),
                Some(json!({ "first_name": "Zubaida", "last_name": "Qureshi", "date_of_birth": "1980-02-03", "sex": "female" })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reg}");
        let users = until("the new nurse in the directory", || async {
            let (_, u) = owner
                .api(
                    Method::GET,
                    &format!("/tenants/{DEMO_TENANT_ID}/users?page_size=100"),
                    Some(&token),
                    None,
                )
                .await;
            u.to_string().contains("newnurse").then_some(u)
        })
        .await;
        let mut names: Vec<&str> = users["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        let mut want: Vec<&str> = ::hospital::DEMO_USERS.iter().map(|u| u.0).collect();
        want.push("newnurse");
        want.sort_unstable();
        assert_eq!(names, want);
        let admin_row = users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == "hadmin")
            .unwrap();
        assert_eq!(admin_row["role"], "admin");
        assert_eq!(admin_row["active"], true);
        assert!(admin_row["last_login_at"].is_string(), "{admin_row}");
        // No patient data reached owner: not in the answer, not in its database.
        let text = users.to_string();
        assert!(!text.contains("Zubaida") && !text.contains("Qureshi"));
        let dump = owner_text(&owner).await;
        for phi in [
            "Zubaida",
            "Qureshi",
            "1980-02-03",
            reg["data"]["mrn"].as_str().unwrap_or("MRN-NONE"),
        ] {
            assert!(!dump.contains(phi), "owner's database holds {phi}");
        }
    }

    /// Every text column owner keeps about tenants, as one string.
    async fn owner_text(owner: &TestApp) -> String {
        owner
            .db()
            .run(|c| {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct R {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    t: String,
                }
                let mut out = String::new();
                for q in [
                    "SELECT username || ' ' || role AS t FROM tenant_staff",
                    "SELECT backend || ' ' || migration_version || ' ' || audit_hash AS t FROM tenant_health",
                    "SELECT details AS t FROM audit_log",
                    "SELECT details AS t FROM security_outbox",
                ] {
                    for r in diesel::sql_query(q).load::<R>(c)? {
                        out.push_str(&r.t);
                        out.push('\n');
                    }
                }
                Ok(out)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_suspended_tenant_refuses_logins_until_reactivated() {
        let (_pki, _ports, owner, hospital, token) = linked().await;
        wait_healthy(&owner, &token).await;
        let (status, before) = try_login(&hospital, "doctor", "doctor123").await;
        assert_eq!(status, StatusCode::OK);
        let old_token = before["data"]["access_token"].as_str().unwrap().to_string();

        let path = format!("/tenants/{DEMO_TENANT_ID}");
        let (status, body) = owner
            .api(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({ "status": "suspended" })),
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        let refused = until("the hospital to learn it is suspended", || async {
            let (status, body) = try_login(&hospital, "doctor", "doctor123").await;
            (status == StatusCode::FORBIDDEN).then_some(body)
        })
        .await;
        assert_error(
            StatusCode::FORBIDDEN,
            &refused,
            StatusCode::FORBIDDEN,
            "TENANT_SUSPENDED",
        );
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("suspended"),
            "{refused}"
        );
        // A token issued before the suspension ends with its session.
        let (status, body) = hospital
            .api(Method::GET, "/auth/me", Some(&old_token), None)
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        // A wrong password still gets the one 401 (suspension tells a guesser nothing).
        let (status, body) = try_login(&hospital, "doctor", "wrong-password-1").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        // The refusal and the status change are in the hospital's audit log.
        let rows = hospital.audit_rows().await;
        assert!(rows
            .iter()
            .any(|r| r.action == "tenant.status" && r.details.contains("suspended")));
        assert!(rows.iter().any(|r| r.action == "auth.login"
            && r.outcome == "failure"
            && r.details.contains("TENANT_SUSPENDED")));

        let (status, body) = owner
            .api(
                Method::PATCH,
                &path,
                Some(&token),
                Some(json!({ "status": "active" })),
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        until("the hospital to learn it is active again", || async {
            let (status, _) = try_login(&hospital, "doctor", "doctor123").await;
            (status == StatusCode::OK).then_some(())
        })
        .await;
    }

    /// The staff limit the hospital holds for the demo tenant.
    /// A limit of the plan the hospital holds (`max_staff`, `max_patients`).
    async fn held_limit(hospital: &TestApp, column: &'static str) -> Option<i64> {
        hospital
            .db()
            .run(move |c| {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct M {
                    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
                    limit: Option<i64>,
                }
                Ok(diesel::sql_query(format!(
                    "SELECT {column} AS \"limit\" FROM tenant_standing WHERE tenant_id = '{DEMO_TENANT_ID}'"
                ))
                .get_result::<M>(c)
                .optional()?
                .and_then(|m| m.limit))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_plan_limits_staff_accounts() {
        let (_pki, _ports, owner, hospital, token) = linked().await;
        wait_healthy(&owner, &token).await;
        let hadmin = hospital.admin_token().await;
        // The demo staff accounts; the plan allows one more.
        let max_staff = ::hospital::DEMO_USERS.len() as i64 + 1;
        let (_, plan) = owner
            .api(
                Method::POST,
                "/plans",
                Some(&token),
                Some(json!({ "name": "Small", "max_staff": max_staff })),
            )
            .await;
        let plan_id = plan["data"]["id"].as_str().unwrap().to_string();
        owner
            .api(
                Method::PATCH,
                &format!("/tenants/{DEMO_TENANT_ID}"),
                Some(&token),
                Some(json!({ "plan_id": plan_id })),
            )
            .await;
        let new_user =
            |name: &str| json!({ "username": name, "password": STRONG_PASSWORD, "role": "nurse" });
        until("the plan to reach the hospital", || async {
            (held_limit(&hospital, "max_staff").await == Some(max_staff)).then_some(())
        })
        .await;
        // One more fits, the next does not.
        let seventh = hospital.create_user(&hadmin, "seventh", "nurse").await;
        let (status, refused) = hospital
            .api(
                Method::POST,
                "/users",
                Some(&hadmin),
                Some(new_user("eighth")),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_error(
            StatusCode::FORBIDDEN,
            &refused,
            StatusCode::FORBIDDEN,
            "PLAN_LIMIT",
        );
        let (_, list) = hospital
            .api(Method::GET, "/users?page_size=100", Some(&hadmin), None)
            .await;
        assert!(
            !list.to_string().contains("eighth"),
            "a refused account was stored"
        );
        // Reactivating an account counts like creating one; a patient's
        // portal account is not staff.
        let (status, _) = hospital
            .api(
                Method::POST,
                &format!("/users/{seventh}/deactivate"),
                Some(&hadmin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = hospital
            .api(
                Method::POST,
                "/users",
                Some(&hadmin),
                Some(new_user("replacement")),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = hospital
            .api(
                Method::POST,
                &format!("/users/{seventh}/activate"),
                Some(&hadmin),
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "PLAN_LIMIT");
        let (_, me) = hospital
            .api(
                Method::GET,
                &format!("/users/{seventh}"),
                Some(&hadmin),
                None,
            )
            .await;
        assert_eq!(me["data"]["active"], false, "{me}");

        // Raising the limit lets it through.
        owner
            .api(
                Method::PATCH,
                &format!("/plans/{plan_id}"),
                Some(&token),
                Some(json!({ "max_staff": null })),
            )
            .await;
        until("the raised limit to reach the hospital", || async {
            let (status, _) = hospital
                .api(
                    Method::POST,
                    "/users",
                    Some(&hadmin),
                    Some(new_user("eighth")),
                )
                .await;
            (status == StatusCode::CREATED).then_some(())
        })
        .await;
    }

    async fn patient_records(hospital: &TestApp) -> i64 {
        super::count(hospital, "patients WHERE deleted_at IS NULL").await
    }

    /// The plan's patient limit and its modules, set on owner, reach the
    /// hospital with the heartbeat's answer and are enforced there: one
    /// more patient record than the plan allows (registered or restored) is
    /// 403 PLAN_LIMIT and nothing is stored; a workspace in a module the
    /// plan does not include is refused, one in an included module is not.
    #[tokio::test]
    async fn the_plan_limits_patient_records_and_modules() {
        use testkit::hospital::{id_of, patient_body, register_patient_id, user_id};
        let (_pki, _ports, owner, hospital, token) = linked().await;
        wait_healthy(&owner, &token).await;
        let hadmin = hospital.admin_token().await;
        let first = register_patient_id(
            &hospital,
            &hadmin,
            patient_body("Plan", "First", "1970-01-02"),
        )
        .await;
        let max_patients = patient_records(&hospital).await + 1;
        let (_, plan) = owner
            .api(
                Method::POST,
                "/plans",
                Some(&token),
                Some(json!({ "name": "Clinic", "max_patients": max_patients, "modules": ["radiology"] })),
            )
            .await;
        let plan_id = plan["data"]["id"].as_str().unwrap().to_string();
        owner
            .api(
                Method::PATCH,
                &format!("/tenants/{DEMO_TENANT_ID}"),
                Some(&token),
                Some(json!({ "plan_id": plan_id })),
            )
            .await;
        until("the plan to reach the hospital", || async {
            (held_limit(&hospital, "max_patients").await == Some(max_patients)).then_some(())
        })
        .await;
        // One more fits, the next does not.
        register_patient_id(
            &hospital,
            &hadmin,
            patient_body("Plan", "Fits", "1970-01-03"),
        )
        .await;
        assert_eq!(patient_records(&hospital).await, max_patients);
        let (status, body) = hospital
            .api(
                Method::POST,
                "/patients",
                Some(&hadmin),
                Some(patient_body("Plan", "Over", "1970-01-04")),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "PLAN_LIMIT");
        assert_eq!(
            patient_records(&hospital).await,
            max_patients,
            "nothing stored"
        );

        // Deleting one frees its place; restoring it then takes one again.
        let (status, _) = hospital
            .api(
                Method::DELETE,
                &format!("/patients/{first}"),
                Some(&hadmin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let _second = register_patient_id(
            &hospital,
            &hadmin,
            patient_body("Plan", "Second", "1970-01-05"),
        )
        .await;
        let (status, body) = hospital
            .api(
                Method::POST,
                &format!("/patients/{first}/restore"),
                Some(&hadmin),
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "PLAN_LIMIT");
        assert_eq!(patient_records(&hospital).await, max_patients);

        // Modules: radiology is in the plan, medicine is not.
        let doctor = hospital.login("doctor", "doctor123").await;
        let doctor_id = user_id(&hospital, &doctor).await;
        let workspace = |module: &str| json!({ "module": module, "doctor_id": doctor_id });
        let (status, body) = hospital
            .api(
                Method::POST,
                "/file-workspaces",
                Some(&hadmin),
                Some(workspace("medicine")),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "PLAN_LIMIT");
        let (status, body) = hospital
            .api(
                Method::POST,
                "/file-workspaces",
                Some(&hadmin),
                Some(workspace("radiology")),
            )
            .await;
        assert_ok(status, &body, StatusCode::CREATED);
        let _ = id_of(&body["data"]);
        let (_, list) = hospital
            .api(Method::GET, "/file-workspaces", Some(&hadmin), None)
            .await;
        assert!(!list.to_string().contains("\"medicine\""), "{list}");
    }

    #[tokio::test]
    async fn a_hospital_cannot_heartbeat_for_another_tenant_and_every_refusal_is_raised() {
        let pki = Pki::new();
        issue_all(&pki);
        // dev's own certificate is server-only; give it client use too, so the
        // route (not the handshake) is what refuses it.
        pki.issue_with_roles("dev", ServiceIdentity::Dev, Roles::Both);
        pki.issue(
            "hospital-b",
            ServiceIdentity::Hospital {
                tenant_id: TENANT_B.into(),
            },
        );
        let ports = PlanePorts::free();
        let company = start(Service::Company, &pki, &ports, &[]).await;
        let owner = start(Service::Owner, &pki, &ports, &[]).await;
        let token = owner.admin_token().await;
        let path = contracts::paths::HEARTBEAT;
        let beat = |tenant: &str| {
            json!({
                "tenant_id": tenant,
                "interval_secs": 1,
                "health": {
                    "backend": "sqlite", "db_size_bytes": 1, "migration_version": "x",
                    "last_write_at": null, "audit_head": { "seq": 1, "hash": "a".repeat(64) },
                    "pool_in_use": 0, "pool_size": 1, "disk_free_bytes": null
                },
                "staff": [{ "username": "spy", "role": "admin", "active": true, "last_login_at": null }]
            })
        };

        // Hospital B's certificate posting tenant A's heartbeat: 403, nothing stored.
        let b = pki.client(Some("hospital-b"));
        let (status, body) = internal_post(&b, ports.owner, path, beat(DEMO_TENANT_ID)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        // Hospital A's certificate posting B's: 403 as well.
        let a = pki.client(Some("hospital"));
        let (status, body) = internal_post(&a, ports.owner, path, beat(TENANT_B)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        // B is not registered with owner: its own heartbeat is 404.
        let (status, body) = internal_post(&b, ports.owner, path, beat(TENANT_B)).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
        // Servers that are not hospitals may not send one.
        for who in ["company", "dev", "owner"] {
            let (status, body) = internal_post(
                &pki.client(Some(who)),
                ports.owner,
                path,
                beat(DEMO_TENANT_ID),
            )
            .await;
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
        let h = health(&owner, &token).await;
        assert_eq!(
            h["status"], "unreachable",
            "a refused heartbeat was stored: {h}"
        );
        let (_, users) = owner
            .api(
                Method::GET,
                &format!("/tenants/{DEMO_TENANT_ID}/users"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(users["meta"]["total"], 0, "{users}");
        // Bad input is a 400, not stored.
        let mut bad = beat(DEMO_TENANT_ID);
        bad["health"]["backend"] = json!("oracle");
        let (status, body) = internal_post(&a, ports.owner, path, bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        // A's own heartbeat is taken.
        let (status, body) = internal_post(&a, ports.owner, path, beat(DEMO_TENANT_ID)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["status"], "active");
        assert_eq!(body["data"]["tenant_id"], DEMO_TENANT_ID);

        // Each refusal reached company as a security event from owner.
        let ctoken = company.admin_token().await;
        wait_for_events(
            &company,
            &ctoken,
            "kind=plane.tenant_mismatch&severity=critical&source_service=owner",
            2,
        )
        .await;
        wait_for_events(
            &company,
            &ctoken,
            "kind=plane.unknown_tenant&source_service=owner",
            1,
        )
        .await;
        // And company refused nothing of owner's (no event of owner's names a tenant).
        wait_for_events(
            &company,
            &ctoken,
            "kind=plane.tenant_mismatch&source_service=company",
            0,
        )
        .await;
        wait_for_events(
            &company,
            &ctoken,
            "kind=cert.refused&source_service=owner",
            3,
        )
        .await;
    }

    #[tokio::test]
    async fn a_silent_hospital_becomes_unreachable() {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let owner = start(
            Service::Owner,
            &pki,
            &ports,
            &[("OWNER__TENANT_HEALTH__UNREACHABLE_AFTER_INTERVALS", "2")],
        )
        .await;
        let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
        let token = owner.admin_token().await;
        wait_healthy(&owner, &token).await;
        hospital.stop().await;
        let h = until("the tenant to turn unreachable", || async {
            let h = health(&owner, &token).await;
            (h["status"] == "unreachable").then_some(h)
        })
        .await;
        // The last report is still shown.
        assert!(h["last_heartbeat_at"].is_string(), "{h}");
        let (_, list) = owner
            .api(
                Method::GET,
                "/tenants?health=unreachable",
                Some(&token),
                None,
            )
            .await;
        assert!(list.to_string().contains(DEMO_TENANT_ID), "{list}");
    }

    async fn commands(owner: &TestApp, token: &str) -> Value {
        let (status, body) = owner
            .api(
                Method::GET,
                &format!("/tenants/{DEMO_TENANT_ID}/commands"),
                Some(token),
                None,
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        body
    }

    async fn queue(owner: &TestApp, token: &str, username: &str, role: &str) -> String {
        let (status, body) = owner
            .api(
                Method::POST,
                &format!("/tenants/{DEMO_TENANT_ID}/users"),
                Some(token),
                Some(json!({ "username": username, "password": STRONG_PASSWORD, "role": role, "full_name": "Staff Member" })),
            )
            .await;
        assert_ok(status, &body, StatusCode::ACCEPTED);
        assert_eq!(body["data"]["status"], "pending");
        assert!(
            body["data"]["request"].get("password_hash").is_none(),
            "{body}"
        );
        body["data"]["id"].as_str().unwrap().to_string()
    }

    async fn wait_result(owner: &TestApp, token: &str, id: &str) -> Value {
        until("the command's result", || async {
            let list = commands(owner, token).await;
            list["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id && c["status"] != "pending")
                .cloned()
        })
        .await
    }

    #[tokio::test]
    async fn owner_creates_a_user_that_the_hospital_applies_once_and_reports() {
        let (_pki, _ports, owner, hospital, token) = linked().await;
        wait_healthy(&owner, &token).await;

        let ok = queue(&owner, &token, "drnew", "doctor").await;
        let dup = queue(&owner, &token, "doctor", "nurse").await;
        let bad_role = queue(&owner, &token, "wizard1", "wizard").await;
        let done = wait_result(&owner, &token, &ok).await;
        assert_eq!(done["status"], "done", "{done}");
        let user_id = done["result"]["user_id"].as_str().unwrap().to_string();
        assert!(done["completed_at"].is_string() && done["delivered_at"].is_string());
        let failed = wait_result(&owner, &token, &dup).await;
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["result"]["code"], "CONFLICT", "{failed}");
        let failed = wait_result(&owner, &token, &bad_role).await;
        assert_eq!(failed["result"]["code"], "VALIDATION_ERROR", "{failed}");

        // The account exists once on the hospital, must change its password,
        // and shows in owner's directory.
        let (status, body) = try_login(&hospital, "drnew", STRONG_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["user"]["id"], user_id.as_str());
        assert_eq!(body["data"]["must_change_password"], true);
        let rows = hospital.audit_rows().await;
        assert_eq!(
            rows.iter()
                .filter(|r| r.action == "user.create" && r.details.contains("drnew"))
                .count(),
            1
        );
        until("drnew in owner's directory", || async {
            let (_, u) = owner
                .api(
                    Method::GET,
                    &format!("/tenants/{DEMO_TENANT_ID}/users?page_size=100"),
                    Some(&token),
                    None,
                )
                .await;
            u.to_string().contains("drnew").then_some(())
        })
        .await;

        // Applying the same command again (a redelivery) changes nothing.
        let cmd = contracts::OwnerCommand {
            id: ok.clone(),
            kind: "create_user".into(),
            create_user: Some(contracts::CreateUserCommand {
                username: "drnew2".into(),
                role: "doctor".into(),
                email: None,
                full_name: None,
                password_hash: common::auth::password::hash(STRONG_PASSWORD, 4).unwrap(),
            }),
        };
        let applied = hospital
            .db()
            .write(move |c| hospital::owner_link::commands::apply(c, DEMO_TENANT_ID, &cmd))
            .await
            .unwrap();
        assert!(!applied, "a command id is applied once");
        let (status, _) = try_login(&hospital, "drnew2", STRONG_PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Owner refuses a patient account and bad input outright.
        for body in [
            json!({ "username": "pat", "password": STRONG_PASSWORD, "role": "patient" }),
            json!({ "username": "x", "password": STRONG_PASSWORD, "role": "nurse" }),
            json!({ "username": "weakling", "password": "short", "role": "nurse" }),
            json!({ "username": "extra1", "password": STRONG_PASSWORD, "role": "nurse", "x": 1 }),
        ] {
            let (status, reply) = owner
                .api(
                    Method::POST,
                    &format!("/tenants/{DEMO_TENANT_ID}/users"),
                    Some(&token),
                    Some(body),
                )
                .await;
            assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
        assert_eq!(commands(&owner, &token).await["meta"]["total"], 3);
    }

    #[tokio::test]
    async fn a_hospital_cannot_see_or_acknowledge_another_tenants_commands() {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let company = start(Service::Company, &pki, &ports, &[]).await;
        let owner = start(Service::Owner, &pki, &ports, &[]).await;
        let token = owner.admin_token().await;
        // Tenant B is registered; its hospital gets its own certificate.
        let b_id = super::register(
            &owner,
            &token,
            super::registration("Beta", "beta", "hospital_beta"),
        )
        .await;
        pki.issue(
            "hospital-b",
            ServiceIdentity::Hospital {
                tenant_id: b_id.clone(),
            },
        );
        let a_cmd = queue(&owner, &token, "drnew", "doctor").await;

        let beat = |tenant: &str, results: Value| {
            json!({
                "tenant_id": tenant,
                "interval_secs": 1,
                "health": {
                    "backend": "sqlite", "db_size_bytes": 1, "migration_version": "x",
                    "last_write_at": null, "audit_head": { "seq": 1, "hash": "a".repeat(64) },
                    "pool_in_use": 0, "pool_size": 1, "disk_free_bytes": null
                },
                "staff": [],
                "results": results
            })
        };
        let b = pki.client(Some("hospital-b"));
        let path = contracts::paths::HEARTBEAT;
        // B's heartbeat gets B's (no) commands, never A's.
        let (status, body) = internal_post(&b, ports.owner, path, beat(&b_id, json!([]))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["commands"], json!([]));
        // B acknowledging A's command: 403, raised, the command stays pending.
        let forged = json!([{ "id": a_cmd, "ok": false, "user_id": null, "code": "CONFLICT", "message": "forged" }]);
        let (status, body) = internal_post(&b, ports.owner, path, beat(&b_id, forged)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let list = commands(&owner, &token).await;
        assert_eq!(list["data"][0]["status"], "pending", "{list}");
        assert_eq!(
            list["data"][0]["delivered_at"],
            Value::Null,
            "never handed to B"
        );
        // A's own heartbeat receives it.
        let a = pki.client(Some("hospital"));
        let (status, body) =
            internal_post(&a, ports.owner, path, beat(DEMO_TENANT_ID, json!([]))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["commands"][0]["id"], a_cmd.as_str());
        assert_eq!(
            body["data"]["commands"][0]["create_user"]["username"],
            "drnew"
        );
        let ctoken = company.admin_token().await;
        wait_for_events(
            &company,
            &ctoken,
            "kind=plane.tenant_mismatch&source_service=owner",
            1,
        )
        .await;
    }

    /// Security events of `kind` in owner's outbox.
    async fn owner_events(owner: &TestApp, kind: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM security_outbox WHERE kind = '{kind}'");
        owner
            .db()
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
    async fn a_new_hospital_creates_its_first_admin_once_and_only_for_its_certificate() {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let owner = start(Service::Owner, &pki, &ports, &[]).await;
        let token = owner.admin_token().await;
        let tenant = super::register(
            &owner,
            &token,
            super::registration("Abdullah Hospital", "abdullah", "hospital_abdullah"),
        )
        .await;
        pki.issue(
            "hospital-t",
            ServiceIdentity::Hospital {
                tenant_id: tenant.clone(),
            },
        );
        pki.issue(
            "hospital-t2",
            ServiceIdentity::Hospital {
                tenant_id: tenant.clone(),
            },
        );

        let mut env = pki.plane_env(Service::Hospital, "hospital-t", &ports);
        env.push(("HOSPITAL__TENANCY__TENANT_ID".into(), tenant.clone()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let hospital = testkit::spawn_with(Service::Hospital, &env).await;

        // The first admin logs in with the e-mail and password chosen at registration.
        let email = "admin@abdullah.example.org";
        let body = until("the first admin to be provisioned", || async {
            let (status, body) = try_login(&hospital, email, STRONG_PASSWORD).await;
            (status == StatusCode::OK).then_some(body)
        })
        .await;
        assert_eq!(body["data"]["user"]["role"], "admin");
        assert_eq!(body["data"]["user"]["tenant_id"], tenant.as_str());
        let rows = hospital.audit_rows().await;
        assert_eq!(
            rows.iter()
                .filter(|r| r.action == "user.create" && r.actor == "owner")
                .count(),
            1
        );

        // Owner handed it to that certificate: the same one may ask again,
        // another certificate of the same tenant may not.
        let path = contracts::paths::PROVISIONING;
        let (status, again) =
            crate::plane::internal_get(&pki.client(Some("hospital-t")), ports.owner, path)
                .await
                .unwrap();
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["data"]["first_admin"]["email"], email);
        let (status, body) =
            crate::plane::internal_get(&pki.client(Some("hospital-t2")), ports.owner, path)
                .await
                .unwrap();
        assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
        assert!(body.get("data").is_none());
        assert_eq!(owner_events(&owner, "plane.provisioning_replay").await, 1);
        // A tenant owner does not know: 404, raised.
        pki.issue(
            "hospital-x",
            ServiceIdentity::Hospital {
                tenant_id: TENANT_B.into(),
            },
        );
        let (status, body) =
            crate::plane::internal_get(&pki.client(Some("hospital-x")), ports.owner, path)
                .await
                .unwrap();
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
        // The demo tenant has no first admin: nothing to hand out.
        let (status, body) =
            crate::plane::internal_get(&pki.client(Some("hospital")), ports.owner, path)
                .await
                .unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["first_admin"], Value::Null);

        // The hospital remembers it was provisioned (a later start, with a
        // rotated certificate, does not ask), and applying it again is a no-op.
        let t = tenant.clone();
        let again: contracts::Provisioning = serde_json::from_value(again["data"].clone()).unwrap();
        let (done, created) = hospital
            .db()
            .write(move |c| {
                Ok((
                    hospital::owner_link::provision::done(c, &t)?,
                    hospital::owner_link::provision::apply(c, &t, &again)?,
                ))
            })
            .await
            .unwrap();
        assert!(done);
        assert_eq!(created, None);
    }
}
