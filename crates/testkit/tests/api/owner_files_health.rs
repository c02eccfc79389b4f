//! The patient-file store in the heartbeat: hospital and owner on real mTLS;
//! the hospital reports its store's backend, reachability, stored bytes and
//! objects against the plan's quota (sizes and counts only), owner keeps and
//! shows them, and an unreachable store or usage near the quota makes the
//! tenant `degraded` with a warning that says why.

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_error, assert_ok, Method, Service, StatusCode, TestApp};

use crate::hospital_files::{pdf, Clinic};
use crate::plane::{internal_post, issue_all, start};

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

async fn health(owner: &TestApp, token: &str) -> Value {
    let path = format!("/tenants/{DEMO_TENANT_ID}/database-health");
    let (status, body) = owner.api(Method::GET, &path, Some(token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"].clone()
}

async fn tenant(owner: &TestApp, token: &str) -> Value {
    let path = format!("/tenants/{DEMO_TENANT_ID}");
    let (status, body) = owner.api(Method::GET, &path, Some(token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"].clone()
}

/// The first health whose file report satisfies `f`.
async fn files_until(
    owner: &TestApp,
    token: &str,
    what: &str,
    f: impl Fn(&Value) -> bool,
) -> Value {
    until(what, || async {
        let h = health(owner, token).await;
        f(&h).then_some(h)
    })
    .await
}

/// Owner and the demo hospital on the plane, a healthy heartbeat in.
async fn plane() -> (Pki, TestApp, TestApp, String) {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let token = owner.admin_token().await;
    (pki, owner, hospital, token)
}

#[tokio::test]
async fn the_heartbeat_carries_file_storage_and_owner_warns_near_the_quota() {
    let (_pki, owner, hospital, token) = plane().await;
    let h = files_until(&owner, &token, "a healthy heartbeat with files", |h| {
        h["status"] == "healthy" && h["files"].is_object()
    })
    .await;
    let f = &h["files"];
    assert_eq!(f["backend"], "local", "{h}");
    assert_eq!(f["reachable"], true, "{h}");
    assert_eq!(f["stored_bytes"], 0, "{h}");
    assert_eq!(f["objects"], 0, "{h}");
    assert!(f["quota_bytes"].is_null(), "{h}");
    assert!(f["used_percent"].is_null(), "{h}");
    assert!(f["warning"].is_null(), "{h}");
    assert!(tenant(&owner, &token).await["files_warning"].is_null());

    // A file: its bytes and count reach owner, never its name or content.
    let clinic = Clinic::on(hospital).await;
    clinic
        .put(
            &clinic.doctor,
            "medical_records",
            "Qureshi-biopsy.pdf",
            pdf("Zubaida-biopsy-text"),
        )
        .await;
    // Healthy once the upload's burst is over: a heartbeat sent while the
    // hospital's few pool connections were all in use says degraded.
    let h = files_until(&owner, &token, "the file counted, healthy", |h| {
        h["files"]["objects"] == 1 && h["status"] == "healthy"
    })
    .await;
    assert!(h["files"]["stored_bytes"].as_i64().unwrap() > 0, "{h}");
    assert_eq!(h["status"], "healthy", "{h}");
    let text = h.to_string();
    assert!(
        !text.contains("Qureshi") && !text.contains("Zubaida"),
        "{h}"
    );
    let dump = owner_health_text(&owner).await;
    assert!(
        !dump.contains("Qureshi") && !dump.contains("Zubaida") && !dump.contains(".pdf"),
        "owner's tenant_health holds a name: {dump}"
    );

    // A plan of 1 MiB and ~1 MB of files: past 80 %, a warning, degraded.
    let (status, plan) = owner
        .api(
            Method::POST,
            "/plans",
            Some(&token),
            Some(json!({ "name": "Tiny", "max_storage_mb": 1 })),
        )
        .await;
    assert_ok(status, &plan, StatusCode::CREATED);
    let plan_id = plan["data"]["id"].as_str().unwrap().to_string();
    let (status, reply) = owner
        .api(
            Method::PATCH,
            &format!("/tenants/{DEMO_TENANT_ID}"),
            Some(&token),
            Some(json!({ "plan_id": plan_id })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let h = files_until(&owner, &token, "the quota reported", |h| {
        h["files"]["quota_bytes"] == 1024 * 1024
    })
    .await;
    assert_eq!(h["status"], "healthy", "small usage is no warning: {h}");
    assert!(h["files"]["used_percent"].as_i64().unwrap() < 80, "{h}");
    let noise: Vec<u8> = (0..900_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut big = pdf("big");
    big.extend_from_slice(&noise);
    clinic
        .put(&clinic.doctor, "medical_records", "big.pdf", big)
        .await;
    let h = files_until(&owner, &token, "the quota warning", |h| {
        h["files"]["objects"] == 2
    })
    .await;
    let f = &h["files"];
    assert!(f["used_percent"].as_i64().unwrap() >= 80, "{h}");
    assert!(
        f["warning"]
            .as_str()
            .unwrap()
            .contains("of the plan's storage"),
        "{h}"
    );
    assert_eq!(h["status"], "degraded", "{h}");
    let t = tenant(&owner, &token).await;
    assert_eq!(t["health"], "degraded", "{t}");
    assert!(
        t["files_warning"]
            .as_str()
            .unwrap()
            .contains("% of the plan's storage"),
        "{t}"
    );
    let (_, list) = owner
        .api(Method::GET, "/tenants?health=degraded", Some(&token), None)
        .await;
    assert!(list.to_string().contains(DEMO_TENANT_ID), "{list}");

    // The plan raised: the warning goes.
    let (status, reply) = owner
        .api(
            Method::PATCH,
            &format!("/plans/{plan_id}"),
            Some(&token),
            Some(json!({ "max_storage_mb": 100 })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let h = files_until(&owner, &token, "the warning to clear", |h| {
        h["status"] == "healthy"
    })
    .await;
    assert!(h["files"]["warning"].is_null(), "{h}");
    assert_eq!(h["files"]["quota_bytes"], 100 * 1024 * 1024, "{h}");
}

#[tokio::test]
async fn an_unreachable_file_store_is_a_warning_and_the_heartbeat_goes_on() {
    let (_pki, owner, hospital, token) = plane().await;
    files_until(&owner, &token, "a reachable store", |h| {
        h["status"] == "healthy" && h["files"]["reachable"] == true
    })
    .await;
    // The store's root replaced by a regular file: listing it fails.
    let root = hospital.objects_dir().expect("the testkit's local store");
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, b"not a directory").unwrap();
    let h = files_until(&owner, &token, "the store reported unreachable", |h| {
        h["files"]["reachable"] == false
    })
    .await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["files"]["backend"], "local", "{h}");
    assert!(
        h["files"]["warning"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{h}"
    );
    let t = tenant(&owner, &token).await;
    assert_eq!(t["health"], "degraded", "{t}");
    assert!(
        t["files_warning"].as_str().unwrap().contains("unreachable"),
        "{t}"
    );
    // Heartbeats keep coming while the store is down.
    let first = h["last_heartbeat_at"].as_str().unwrap().to_string();
    files_until(&owner, &token, "a later heartbeat", |h| {
        h["last_heartbeat_at"]
            .as_str()
            .is_some_and(|at| at != first)
            && h["files"]["reachable"] == false
    })
    .await;

    // The directory back: reachable and healthy again.
    std::fs::remove_file(&root).unwrap();
    std::fs::create_dir(&root).unwrap();
    let h = files_until(&owner, &token, "the store reachable again", |h| {
        h["status"] == "healthy" && h["files"]["reachable"] == true
    })
    .await;
    assert!(h["files"]["warning"].is_null(), "{h}");
    assert!(tenant(&owner, &token).await["files_warning"].is_null());
}

#[tokio::test]
async fn owner_refuses_a_bad_file_report_and_forgets_one_no_longer_sent() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let token = owner.admin_token().await;
    let hospital = pki.client(Some("hospital"));
    let path = contracts::paths::HEARTBEAT;
    let beat = |files: Value| {
        json!({
            "tenant_id": DEMO_TENANT_ID,
            "interval_secs": 1,
            "health": {
                "backend": "sqlite", "db_size_bytes": 1, "migration_version": "x",
                "last_write_at": null, "audit_head": { "seq": 1, "hash": "a".repeat(64) },
                "pool_in_use": 0, "pool_size": 1, "disk_free_bytes": null,
                "files": files
            },
            "staff": []
        })
    };
    let good = json!({
        "backend": "s3", "reachable": true, "stored_bytes": 10, "objects": 1, "quota_bytes": 100
    });
    for (field, value) in [
        ("backend", json!("ftp")),
        ("stored_bytes", json!(-1)),
        ("objects", json!(-1)),
        ("quota_bytes", json!(-5)),
    ] {
        let mut files = good.clone();
        files[field] = value;
        let (status, body) = internal_post(&hospital, ports.owner, path, beat(files)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // No names: a field the contract does not have is refused.
    let mut files = good.clone();
    files["names"] = json!(["Qureshi-biopsy.pdf"]);
    let (status, body) = internal_post(&hospital, ports.owner, path, beat(files)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(health(&owner, &token).await["status"], "unreachable");

    // A good report is kept, at 10 % of its quota: healthy.
    let (status, body) = internal_post(&hospital, ports.owner, path, beat(good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let h = health(&owner, &token).await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(
        h["files"],
        json!({ "backend": "s3", "reachable": true, "stored_bytes": 10, "objects": 1,
                "quota_bytes": 100, "used_percent": 10, "warning": null }),
        "{h}"
    );
    // A heartbeat without it (an older hospital): owner keeps no stale report.
    let (status, body) = internal_post(&hospital, ports.owner, path, beat(Value::Null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let h = health(&owner, &token).await;
    assert!(h["files"].is_null(), "{h}");
    let mut old = beat(Value::Null);
    old["health"].as_object_mut().unwrap().remove("files");
    let (status, body) = internal_post(&hospital, ports.owner, path, old).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_file_report_is_in_owners_openapi_document() {
    let owner = testkit::spawn(Service::Owner).await;
    let doc: Value = owner
        .client
        .get(owner.url(&format!("{}/openapi.json", owner.prefix())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let files = &schemas["OwnerFilesHealth"]["properties"];
    for field in [
        "backend",
        "reachable",
        "stored_bytes",
        "objects",
        "quota_bytes",
        "used_percent",
        "warning",
    ] {
        assert!(files.get(field).is_some(), "OwnerFilesHealth lacks {field}");
    }
    let health = serde_json::to_string(&schemas["DatabaseHealth"]).unwrap();
    assert!(health.contains("OwnerFilesHealth"), "{health}");
    assert!(
        schemas["OwnerTenant"]["properties"]
            .get("files_warning")
            .is_some(),
        "{}",
        schemas["OwnerTenant"]
    );
}

/// Every text column of owner's `tenant_health`, as one string.
async fn owner_health_text(owner: &TestApp) -> String {
    owner
        .db()
        .run(|c| {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct R {
                #[diesel(sql_type = diesel::sql_types::Text)]
                t: String,
            }
            let rows: Vec<R> = diesel::sql_query(
                "SELECT backend || ' ' || migration_version || ' ' || audit_hash || ' ' \
                 || COALESCE(files_backend, '') AS t FROM tenant_health",
            )
            .load(c)?;
            Ok(rows.into_iter().map(|r| r.t).collect::<Vec<_>>().join("\n"))
        })
        .await
        .unwrap()
}
