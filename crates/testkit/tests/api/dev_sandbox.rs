//! Dev's synthetic sandbox (issue 15, item 6): a developer generates it
//! from a seed, reads it through the read-only API with filters and pages,
//! exports it as CSV, and gets the same rows from the same seed; the admin
//! reads only; bad input is 400; every row is marked synthetic.

use serde_json::{json, Value};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp};

async fn reset(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, "/sandbox/reset", Some(token), Some(body))
        .await
}

async fn export(app: &TestApp, token: &str, query: &str) -> (StatusCode, String, String) {
    let res = app
        .client
        .get(app.api_url(&format!("/sandbox/export{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

fn data(reply: &Value) -> &Vec<Value> {
    reply["data"].as_array().expect("a list")
}

#[tokio::test]
async fn a_developer_generates_reads_filters_and_exports_the_synthetic_sandbox() {
    let app = spawn(Service::Dev).await;
    let dev = app.login("astro", "dev123456").await;

    let (status, empty) = app.api(Method::GET, "/sandbox", Some(&dev), None).await;
    assert_ok(status, &empty, StatusCode::OK);
    assert_eq!(empty["data"]["generation"], Value::Null, "{empty}");
    assert_eq!(empty["data"]["synthetic"], true);

    let (status, made) = reset(
        &app,
        &dev,
        json!({ "seed": 42, "hospitals": 2, "patients": 120 }),
    )
    .await;
    assert_ok(status, &made, StatusCode::OK);
    let g = &made["data"]["generation"];
    assert_eq!(
        (g["seed"].as_i64(), g["patients"].as_i64()),
        (Some(42), Some(120)),
        "{made}"
    );
    assert_eq!(g["hospitals"], 2);
    assert_eq!(g["staff"], 24);
    let records = g["records"].as_i64().unwrap();
    assert!((120..=720).contains(&records), "{made}");

    let (_, hospitals) = app
        .api(Method::GET, "/sandbox/hospitals", Some(&dev), None)
        .await;
    assert_eq!(data(&hospitals).len(), 2);
    assert!(data(&hospitals)
        .iter()
        .all(|h| h["name"].as_str().unwrap().starts_with("Synthetic ")));
    let (_, doctors) = app
        .api(
            Method::GET,
            "/sandbox/staff?role=doctor&hospital_id=SYN-H-001",
            Some(&dev),
            None,
        )
        .await;
    assert_eq!(doctors["meta"]["total"], 4, "{doctors}");

    // Pages cover every patient once.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, list) = app
            .api(
                Method::GET,
                &format!("/sandbox/patients?page={page}&page_size=50"),
                Some(&dev),
                None,
            )
            .await;
        assert_ok(status, &list, StatusCode::OK);
        assert_eq!(list["meta"]["total"], 120);
        seen.extend(
            data(&list)
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(seen.len(), 120);
    seen.dedup();
    assert_eq!(seen.len(), 120);
    assert!(seen.iter().all(|id| id.starts_with("SYN-P-")));

    // Filters combine.
    let (_, women) = app
        .api(
            Method::GET,
            "/sandbox/patients?sex=female&born_from=1950-01-01&born_to=1999-12-31&page_size=100",
            Some(&dev),
            None,
        )
        .await;
    assert!(!data(&women).is_empty(), "{women}");
    for p in data(&women) {
        assert_eq!(p["sex"], "female");
        let born = p["birth_date"].as_str().unwrap();
        assert!(("1950-01-01"..="1999-12-31").contains(&born), "{p}");
    }
    let first = &data(&women)[0];
    let family = first["family_name"].as_str().unwrap();
    let (_, by_name) = app
        .api(
            Method::GET,
            &format!(
                "/sandbox/patients?family_name={}&page_size=100",
                &family[..3]
            ),
            Some(&dev),
            None,
        )
        .await;
    assert!(data(&by_name)
        .iter()
        .all(|p| p["family_name"].as_str().unwrap().starts_with(&family[..3])));

    // One patient with their records; records by kind.
    let id = first["id"].as_str().unwrap();
    let (status, one) = app
        .api(
            Method::GET,
            &format!("/sandbox/patients/{id}"),
            Some(&dev),
            None,
        )
        .await;
    assert_ok(status, &one, StatusCode::OK);
    assert_eq!(one["data"]["patient"]["id"], id);
    assert!(!one["data"]["records"].as_array().unwrap().is_empty());
    let (_, diagnoses) = app
        .api(
            Method::GET,
            "/sandbox/records?kind=diagnosis&page_size=100",
            Some(&dev),
            None,
        )
        .await;
    assert!(data(&diagnoses).iter().all(|r| r["kind"] == "diagnosis"));

    // The export: every patient, a header, each row marked synthetic.
    let (status, kind, csv) = export(&app, &dev, "").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 121);
    assert!(lines[0].starts_with("id,hospital_id,mrn,"));
    assert!(lines[1..]
        .iter()
        .all(|l| l.starts_with("SYN-P-") && l.ends_with(",true")));
    let (_, _, women_csv) = export(&app, &dev, "?sex=female").await;
    assert!(women_csv.lines().skip(1).all(|l| l.contains(",female,")));

    // The same seed makes the same rows; another seed others.
    reset(
        &app,
        &dev,
        json!({ "seed": 42, "hospitals": 2, "patients": 120 }),
    )
    .await;
    assert_eq!(export(&app, &dev, "").await.2, csv);
    reset(
        &app,
        &dev,
        json!({ "seed": 43, "hospitals": 2, "patients": 120 }),
    )
    .await;
    assert_ne!(export(&app, &dev, "").await.2, csv);

    // Reset and export are on the audit log.
    let rows = app.audit_rows().await;
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "sandbox.reset").count(), 3);
    assert!(actions.contains(&"sandbox.export"));
}

#[tokio::test]
async fn bad_sandbox_input_is_refused_with_400_and_changes_nothing() {
    let app = spawn(Service::Dev).await;
    let dev = app.login("astro", "dev123456").await;
    reset(
        &app,
        &dev,
        json!({ "seed": 5, "hospitals": 1, "patients": 10 }),
    )
    .await;
    for body in [
        json!({ "hospitals": 0 }),
        json!({ "hospitals": 21 }),
        json!({ "patients": 5001 }),
        json!({ "seed": -1 }),
        json!({ "patients": "many" }),
        json!({ "colour": "blue" }),
    ] {
        let (status, reply) = reset(&app, &dev, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
    }
    for query in [
        "/sandbox/patients?sex=other",
        "/sandbox/patients?family_name=a%25",
        "/sandbox/patients?family_name=",
        "/sandbox/patients?born_from=yesterday",
        "/sandbox/patients?department=Astrology",
        "/sandbox/patients?hospital_id=H1",
        "/sandbox/patients?page_size=1000",
        "/sandbox/patients?colour=blue",
        "/sandbox/records?kind=gossip",
        "/sandbox/records?patient_id=P1",
        "/sandbox/staff?role=wizard",
        "/sandbox/patients/not-an-id",
        "/sandbox/export?page=2",
    ] {
        let (status, reply) = app.api(Method::GET, query, Some(&dev), None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            "/sandbox/patients/SYN-P-9999999",
            Some(&dev),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, state) = app.api(Method::GET, "/sandbox", Some(&dev), None).await;
    assert_eq!(state["data"]["generation"]["seed"], 5, "{state}");
    assert_eq!(state["data"]["generation"]["patients"], 10);
}

#[tokio::test]
async fn the_admin_reads_the_sandbox_and_only_a_developer_resets_it() {
    let app = spawn(Service::Dev).await;
    let dev = app.login("astro", "dev123456").await;
    let admin = app.admin_token().await;
    reset(
        &app,
        &dev,
        json!({ "seed": 9, "hospitals": 1, "patients": 5 }),
    )
    .await;
    for path in [
        "/sandbox",
        "/sandbox/hospitals",
        "/sandbox/staff",
        "/sandbox/patients",
        "/sandbox/records",
    ] {
        let (status, reply) = app.api(Method::GET, path, Some(&admin), None).await;
        assert_ok(status, &reply, StatusCode::OK);
        let (status, reply) = app.api(Method::GET, path, None, None).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let (status, _, _) = export(&app, &admin, "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = reset(&app, &admin, json!({ "seed": 10 })).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = app
        .api(
            Method::POST,
            "/sandbox/reset",
            None,
            Some(json!({ "seed": 10 })),
        )
        .await;
    assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    let (_, state) = app.api(Method::GET, "/sandbox", Some(&admin), None).await;
    assert_eq!(state["data"]["generation"]["seed"], 9, "{state}");
    // A role without the permissions: a developer role stripped of them
    // is what `[rbac.roles]` would make; a company token is not a dev token.
    let company = spawn(Service::Company).await;
    let analyst = company.login("analyst", "analyst123").await;
    let (status, reply) = app.api(Method::GET, "/sandbox", Some(&analyst), None).await;
    assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}
