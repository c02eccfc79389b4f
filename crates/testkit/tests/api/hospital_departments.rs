//! Departments: seeded with the clinical modules (at start-up, never by a
//! read), managed by the admin only.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::hospital::{id_of, WriteLock};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp};

const MODULES: [&str; 8] = [
    "RADIOLOGY",
    "MEDICINE",
    "DENTISTRY",
    "DERMATOLOGY",
    "PATHOLOGY",
    "HOMEOPATHY",
    "ALLOPATHY",
    "COSMETOLOGY",
];

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/departments?page_size=100{query}"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body
}

fn codes(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn departments_are_seeded_with_the_clinical_modules_and_managed_by_the_admin() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let reception = app.login("reception", "reception123").await;

    let seeded = list(&app, &doctor, "").await;
    let all = seeded["data"].as_array().unwrap();
    for module in MODULES {
        let d = all
            .iter()
            .find(|d| d["code"] == module)
            .unwrap_or_else(|| panic!("{module} not seeded: {seeded}"));
        assert_eq!(d["clinical_module"], true, "{d}");
        assert_eq!(d["active"], true, "{d}");
    }
    let modules = all.iter().filter(|d| d["clinical_module"] == true).count();
    assert_eq!(
        modules,
        MODULES.len(),
        "only the eight modules are clinical: {seeded}"
    );
    assert!(
        all.len() > MODULES.len(),
        "the usual departments too: {seeded}"
    );
    assert_eq!(seeded["meta"]["total"], all.len());
    assert!(all.iter().all(|d| d.get("tenant_id").is_none()));
    let names: Vec<&str> = all.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listed by name");

    // Create; the code is unique per tenant, whatever its case.
    let new = json!({ "code": "geriatrics", "name": "Geriatrics", "clinical_module": false });
    let (status, created) = app
        .api(Method::POST, "/departments", Some(&admin), Some(new))
        .await;
    assert_ok(status, &created, StatusCode::CREATED);
    assert_eq!(created["data"]["code"], "GERIATRICS");
    assert_eq!(created["data"]["active"], true);
    let id = id_of(&created["data"]);
    for dup in [
        json!({ "code": "GERIATRICS", "name": "Again" }),
        json!({ "code": "radiology", "name": "X-ray" }),
    ] {
        let (status, body) = app
            .api(Method::POST, "/departments", Some(&admin), Some(dup))
            .await;
        assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    }
    for bad in [
        json!({ "code": "", "name": "Empty" }),
        json!({ "code": "BAD CODE", "name": "Space" }),
        json!({ "code": "C".repeat(33), "name": "Long" }),
        json!({ "code": "OK_CODE", "name": "" }),
        json!({ "code": "OK_CODE", "name": "n".repeat(101) }),
        json!({ "code": "OK_CODE", "name": "Bell\u{7}" }),
        json!({ "code": "OK_CODE" }),
        json!({ "code": "OK_CODE", "name": "Fine", "floor": 3 }),
    ] {
        let (status, body) = app
            .api(Method::POST, "/departments", Some(&admin), Some(bad))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Rename, then deactivate: hidden unless asked for.
    let path = format!("/departments/{id}");
    let (status, renamed) = app
        .api(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({ "name": "Care of the Elderly" })),
        )
        .await;
    assert_ok(status, &renamed, StatusCode::OK);
    assert_eq!(renamed["data"]["name"], "Care of the Elderly");
    assert_eq!(renamed["data"]["code"], "GERIATRICS");
    let (status, got) = app.api(Method::GET, &path, Some(&reception), None).await;
    assert_ok(status, &got, StatusCode::OK);
    assert_eq!(got["data"]["name"], "Care of the Elderly");
    let (status, off) = app
        .api(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({ "active": false })),
        )
        .await;
    assert_ok(status, &off, StatusCode::OK);
    assert_eq!(off["data"]["active"], false);
    assert!(!codes(&list(&app, &doctor, "").await).contains(&"GERIATRICS".to_string()));
    let everything = list(&app, &doctor, "&include_inactive=true").await;
    assert!(codes(&everything).contains(&"GERIATRICS".to_string()));
    assert_eq!(everything["meta"]["total"], all.len() + 1);
    let (status, body) = app
        .api(Method::PATCH, &path, Some(&admin), Some(json!({})))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, on) = app
        .api(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({ "active": true })),
        )
        .await;
    assert_ok(status, &on, StatusCode::OK);
    assert!(codes(&list(&app, &doctor, "").await).contains(&"GERIATRICS".to_string()));

    // Nobody but the admin manages them.
    for token in [&doctor, &reception, &app.login("lab", "lab123").await] {
        let (status, body) = app
            .api(
                Method::POST,
                "/departments",
                Some(token),
                Some(json!({ "code": "MINE", "name": "Mine" })),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = app
            .api(
                Method::PATCH,
                &path,
                Some(token),
                Some(json!({ "active": false })),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let missing = format!("/departments/{}", uuid::Uuid::new_v4());
    let (status, body) = app.api(Method::GET, &missing, Some(&admin), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .api(
            Method::PATCH,
            &missing,
            Some(&admin),
            Some(json!({ "name": "Ghost" })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.resource == format!("department:{id}"))
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "department.create",
            "department.update",
            "department.deactivate",
            "department.update"
        ]
    );
}

#[tokio::test]
async fn reading_departments_writes_nothing_and_waits_for_no_writer() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let rows_before = app.audit_rows().await.len();

    // Another writer holds the lock: reads still answer (the old list
    // seeded departments in a write transaction and waited here).
    let lock = WriteLock::hold(&app);
    let wait = Duration::from_secs(5);
    let listed = tokio::time::timeout(wait, list(&app, &admin, ""))
        .await
        .expect("the department list waited for a writer");
    let path = format!("/departments/{}", id_of(&listed["data"][0]));
    let (status, one) = tokio::time::timeout(wait, app.api(Method::GET, &path, Some(&admin), None))
        .await
        .expect("reading a department waited for a writer");
    assert_ok(status, &one, StatusCode::OK);
    lock.release();

    assert_eq!(
        app.audit_rows().await.len(),
        rows_before,
        "reading departments writes nothing"
    );
}
