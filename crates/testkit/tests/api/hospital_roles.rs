//! Roles beyond the original seven (issue 11, item 9): permission sets in
//! the policy, no code of their own. Each is tried on what its permissions
//! give and on what they leave out (docs/security.md, "Roles beyond the
//! original seven").

use serde_json::json;
use testkit::hospital::{add_to_care_team, id_of, patient_body, register_patient_id};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, STRONG_PASSWORD};

use crate::hospital_files::{png, Clinic};
use crate::hospital_labs_matrix::lab_order;
use crate::hospital_notes_matrix::soap;
use crate::hospital_prescriptions_matrix::rx;

#[tokio::test]
async fn a_dietician_on_the_care_team_reads_the_record_and_writes_notes_and_nothing_more() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let dietician_id = app.create_user(&admin, "dietician", "dietician").await;
    let dietician = app.login("dietician", STRONG_PASSWORD).await;
    let mut body = patient_body("Olga", "Tokarczuk", "1962-01-29");
    body["allergies"] = json!(["peanuts"]);
    let patient = register_patient_id(&app, &admin, body).await;
    let other = register_patient_id(&app, &admin, patient_body("Not", "Mine", "1970-01-01")).await;
    add_to_care_team(&app, &admin, &patient, &dietician_id).await;

    // The record with its allergies (a diet must respect them).
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}"),
            Some(&dietician),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["allergies"], json!(["peanuts"]), "{reply}");
    // A dietary note, signed.
    let (status, reply) = app
        .api(
            Method::POST,
            "/notes",
            Some(&dietician),
            Some(soap(&patient, true)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let note = id_of(&reply["data"]);
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/notes/{note}"),
            Some(&dietician),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    // Lab results of their patients: a list they may read.
    let (status, reply) = app
        .api(Method::GET, "/lab-orders", Some(&dietician), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);

    // Not outside the care team, and no emergency access.
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/patients/{other}"),
            Some(&dietician),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/patients/{other}/break-glass"),
            Some(&dietician),
            Some(json!({ "reason": "Need to plan a diet urgently" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    // Prescribing, ordering and the tenant's lists are others' work.
    for (path, body) in [
        ("/prescriptions", rx(&patient, "Metformin")),
        ("/lab-orders", lab_order(&patient)),
    ] {
        let (status, reply) = app
            .api(Method::POST, path, Some(&dietician), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    for path in ["/users", "/audit", "/appointments"] {
        let (status, reply) = app.api(Method::GET, path, Some(&dietician), None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
}

#[tokio::test]
async fn it_staff_read_the_audit_log_and_no_patient_and_create_no_account() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "itdesk", "it").await;
    let it = app.login("itdesk", STRONG_PASSWORD).await;
    let patient = register_patient_id(
        &app,
        &admin,
        patient_body("Wisława", "Szymborska", "1923-07-02"),
    )
    .await;
    let (status, reply) = app.api(Method::GET, "/audit", Some(&it), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    for path in [
        "/patients".to_string(),
        format!("/patients/{patient}"),
        "/users".into(),
        "/lab-orders".into(),
        "/notes".into(),
        "/prescriptions".into(),
        "/files".into(),
    ] {
        let (status, reply) = app.api(Method::GET, &path, Some(&it), None).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
            "{path}: {status} {reply}"
        );
        assert_ne!(status, StatusCode::OK, "{path}");
    }
    // Whoever creates accounts could sign in as one: an admin's act.
    let (status, reply) = app
        .api(
            Method::POST,
            "/users",
            Some(&it),
            Some(json!({ "username": "reception2", "password": STRONG_PASSWORD, "role": "reception" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn a_radiologist_uploads_imaging_into_a_patients_folder_and_nothing_else() {
    let c = Clinic::new().await;
    let radiologist = c.app.login("radiologist", "radiologist123").await;
    let (status, reply) = c
        .upload_to(&radiologist, &c.folder, "imaging", "chest.png", png())
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    for category in ["lab_results", "medical_records", "consent_forms"] {
        let (status, reply) = c
            .upload_to(&radiologist, &c.folder, category, "chest.png", png())
            .await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    // The lab still uploads lab results only.
    let lab = c.app.login("lab", "lab123").await;
    let (status, reply) = c
        .upload_to(&lab, &c.folder, "imaging", "chest.png", png())
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn command_center_sees_occupancy_and_logistics_keeps_the_rooms_and_neither_a_patient() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "control", "command_center").await;
    app.create_user(&admin, "porter", "logistics").await;
    let control = app.login("control", STRONG_PASSWORD).await;
    let porter = app.login("porter", STRONG_PASSWORD).await;
    let department = crate::hospital_appointments::department(&app, &admin).await;
    let room = json!({ "name": "Ward L", "type": "ward", "department_id": department });

    // Logistics adds a room and a bed; the command center may not.
    let (status, reply) = app
        .api(Method::POST, "/rooms", Some(&control), Some(room.clone()))
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = app
        .api(Method::POST, "/rooms", Some(&porter), Some(room))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let room_id = id_of(&reply["data"]);
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/rooms/{room_id}/beds"),
            Some(&porter),
            Some(json!({ "label": "L1" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);

    // Both see rooms, beds and occupancy: counts, no one in them.
    for token in [&control, &porter] {
        for path in ["/rooms", "/beds", "/occupancy"] {
            let (status, reply) = app.api(Method::GET, path, Some(token), None).await;
            assert_ok(status, &reply, StatusCode::OK);
        }
        for path in ["/admissions", "/patients"] {
            let (status, reply) = app.api(Method::GET, path, Some(token), None).await;
            assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
    }
}

/// Read routes every signed-in staff member may call, whatever the role
/// (their own account, sessions, departments, messages, the documents).
const ANY_STAFF: &[&str] = &[
    "/auth/me",
    "/auth/sessions",
    "/departments",
    "/departments/{id}",
    "/messages",
    "/openapi.json",
    "/ws",
];

/// Routes outside the API prefix: probes, metrics (by address) and the
/// reference page, the same for every caller.
const PUBLIC: &[&str] = &["/docs", "/healthz", "/readyz", "/metrics"];

/// What each role beyond the original seven may read beyond [`ANY_STAFF`]:
/// the GET routes its permissions open. Every other GET route must answer
/// it 403.
fn reads_of(role: &str) -> &'static [&'static str] {
    match role {
        // Uploading imaging into a patient's folder starts from the folder
        // list (by patient: without one, 400).
        "radiologist" => &["/lab-orders", "/lab-orders/{id}", "/file-folders"],
        "dietician" => &[
            "/patients",
            "/patients/{id}",
            "/patients/{id}/care-team",
            "/notes",
            "/notes/{id}",
            "/lab-orders",
            "/lab-orders/{id}",
        ],
        "it" => &["/audit"],
        "command_center" | "logistics" => &["/rooms", "/beds", "/occupancy"],
        "accountant" => &["/invoices", "/invoices/{id}", "/billing/price-list"],
        other => panic!("no read list for {other}"),
    }
}

#[tokio::test]
async fn every_read_route_refuses_each_new_role_outside_its_permissions() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .get(app.url(&format!("{}/openapi.json", app.prefix())))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = res.json().await.unwrap();
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(p, _)| p.trim_start_matches(app.prefix()).to_string())
        .filter(|p| !PUBLIC.contains(&p.as_str()))
        .collect();
    assert!(paths.len() > 30, "{paths:?}");
    let mut tokens = vec![(
        "accountant".to_string(),
        app.login("accountant", "accountant123").await,
    )];
    tokens.push((
        "radiologist".into(),
        app.login("radiologist", "radiologist123").await,
    ));
    for role in ["dietician", "it", "command_center", "logistics"] {
        let name = format!("{role}1");
        app.create_user(&admin, &name, role).await;
        tokens.push((role.into(), app.login(&name, STRONG_PASSWORD).await));
    }
    let some_id = "5b0c3c1e-8f0a-4d6e-9a55-0c2b3f5e7a91";
    let mut wrong = Vec::new();
    for (role, token) in &tokens {
        let allowed: Vec<&str> = ANY_STAFF.iter().chain(reads_of(role)).copied().collect();
        for template in &paths {
            let mut path = template.clone();
            while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
                path.replace_range(a..=b, some_id);
            }
            if path.ends_with("/slots") {
                // Its one required query parameter (else 400 before any check).
                path.push_str("?date=2026-12-07");
            }
            let (status, reply) = app.api(Method::GET, &path, Some(token), None).await;
            let ok = if allowed.contains(&template.as_str()) {
                status != StatusCode::FORBIDDEN && status.as_u16() < 500
            } else {
                status == StatusCode::FORBIDDEN && reply["error"]["code"] == "FORBIDDEN"
            };
            if !ok {
                wrong.push(format!("{role} GET {template}: {status}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers outside the roles' permissions:\n{}",
        wrong.join("\n")
    );
}

/// Write routes every signed-in staff member may call (their own
/// sessions, password, second factor, messages).
const ANY_STAFF_WRITES: &[&str] = &[
    "POST /auth/login",
    "POST /auth/logout",
    "POST /auth/password",
    "POST /auth/refresh",
    "POST /auth/mfa/totp/setup",
    "POST /auth/mfa/totp/confirm",
    "POST /auth/mfa/verify",
    "POST /auth/mfa/disable",
    "DELETE /auth/sessions/{id}",
    "POST /portal/enrol",
    "POST /messages",
];

/// What each role beyond the original seven may change beyond
/// [`ANY_STAFF_WRITES`].
fn writes_of(role: &str) -> &'static [&'static str] {
    match role {
        "radiologist" => &[
            "POST /lab-orders/{id}/results",
            "POST /lab-orders/{id}/finalize",
            "POST /lab-orders/{id}/amendments",
            "POST /file-folders/{id}/files",
        ],
        "dietician" => &[
            "POST /notes",
            "PUT /notes/{id}",
            "POST /notes/{id}/sign",
            "POST /notes/{id}/amendments",
        ],
        "logistics" => &["POST /rooms", "PATCH /rooms/{id}", "POST /rooms/{id}/beds"],
        "accountant" => &[
            "POST /invoices",
            "POST /invoices/{id}/payments",
            "POST /invoices/{id}/void",
        ],
        "it" | "command_center" => &[],
        other => panic!("no write list for {other}"),
    }
}

/// A body that deserializes into `schema` (required fields only, each the
/// simplest value of its type and format), so a request passes the JSON
/// extractor and reaches the handler's permission check.
fn body_for(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    depth: usize,
) -> serde_json::Value {
    use serde_json::Value;
    if depth > 8 {
        return Value::Null;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return body_for(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|s| s.get("type").and_then(Value::as_str) != Some("null"))
        }) {
            return body_for(doc, first, depth + 1);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.first().cloned().unwrap_or(Value::Null);
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "null".into(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = serde_json::Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                out.insert(
                    name.to_string(),
                    body_for(doc, &schema["properties"][name], depth + 1),
                );
            }
            Value::Object(out)
        }
        "array" => {
            let item = body_for(doc, &schema["items"], depth + 1);
            Value::Array(vec![item])
        }
        "integer" | "number" => {
            let min = schema["minimum"].as_i64().unwrap_or(1);
            serde_json::json!(min.max(1))
        }
        "boolean" => Value::Bool(true),
        "string" => Value::String(
            match schema["format"].as_str() {
                Some("date-time") => "2026-12-07T10:00:00Z",
                Some("date") => "2026-12-07",
                Some("uuid") => "5b0c3c1e-8f0a-4d6e-9a55-0c2b3f5e7a91",
                _ => "5b0c3c1e-8f0a-4d6e-9a55-0c2b3f5e7a91",
            }
            .to_string(),
        ),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn every_write_route_refuses_each_new_role_outside_its_permissions_and_changes_nothing() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .get(app.url(&format!("{}/openapi.json", app.prefix())))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = res.json().await.unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template = path.trim_start_matches(app.prefix()).to_string();
        for method in ["post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                let body = op["requestBody"]["content"]["application/json"]["schema"].clone();
                routes.push((method.to_uppercase(), template.clone(), body));
            }
        }
    }
    assert!(routes.len() > 30, "{routes:?}");
    let mut tokens = vec![
        (
            "accountant".to_string(),
            app.login("accountant", "accountant123").await,
        ),
        (
            "radiologist".to_string(),
            app.login("radiologist", "radiologist123").await,
        ),
    ];
    for role in ["dietician", "it", "command_center", "logistics"] {
        let name = format!("{role}2");
        app.create_user(&admin, &name, role).await;
        tokens.push((role.into(), app.login(&name, STRONG_PASSWORD).await));
    }
    let before = app.audit_rows().await.len();
    let some_id = "5b0c3c1e-8f0a-4d6e-9a55-0c2b3f5e7a91";
    let mut wrong = Vec::new();
    for (role, token) in &tokens {
        for (method, template, schema) in &routes {
            let route = format!("{method} {template}");
            if ANY_STAFF_WRITES.contains(&route.as_str())
                || writes_of(role).contains(&route.as_str())
            {
                continue;
            }
            let mut path = template.replace("{switch}", "deactivate");
            while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
                path.replace_range(a..=b, some_id);
            }
            if path.ends_with("/files") {
                // Its required query parameter (else 400 before any check).
                path.push_str("?category=imaging&name=x.png");
            }
            let body = (!schema.is_null()).then(|| body_for(&doc, schema, 0));
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let (status, reply) = app.api(m, &path, Some(token), body.clone()).await;
            if status != StatusCode::FORBIDDEN || reply["error"]["code"] != "FORBIDDEN" {
                wrong.push(format!(
                    "{role} {route}: {status} {}",
                    reply["error"]["code"]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "writes outside the roles' permissions:\n{}",
        wrong.join("\n")
    );
    // Refused writes wrote nothing but their refusals' audit rows, if any.
    let after = app.audit_rows().await;
    assert!(
        after[before..].iter().all(|r| r.outcome != "success"),
        "{:?}",
        &after[before..]
    );
}
