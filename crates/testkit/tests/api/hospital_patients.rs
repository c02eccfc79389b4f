//! Patients: what each role sees and may change, search and pagination,
//! soft delete and restore.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, id_of, ids, patient_body, portal_account, register_patient,
    register_patient_id, search_ids, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.api(m, path, Some(token), body).await
}

fn full_body() -> Value {
    json!({
        "first_name": "Marisol",
        "last_name": "Okonkwo-Baptiste",
        "date_of_birth": "1979-11-23",
        "sex": "female",
        "contact": { "phone": "+1 (555) 010-7788", "email": "marisol@example.org" },
        "address": { "line1": "12 Harbour Road", "line2": null, "city": "Portsmouth",
                     "region": "Hampshire", "postal_code": "PO1 3AX", "country": "UK" },
        "emergency_contact": { "name": "Dario Okonkwo", "relationship": "brother", "phone": "+1 555 010 9900" },
        "insurance": { "provider": "Harbour Mutual", "policy_number": "HM-44521", "group_number": null },
        "allergies": ["peanuts", "latex"],
        "blood_type": "B-",
    })
}

const DEMOGRAPHICS: [&str; 8] = [
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "contact",
    "address",
    "emergency_contact",
    "insurance",
];

fn has_clinical_keys(v: &Value) -> bool {
    v.get("allergies").is_some() || v.get("blood_type").is_some()
}

#[tokio::test]
async fn reception_sees_demographics_only_and_each_role_changes_only_its_own_fields() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let (admin_id, reception_id, doctor_id) = (
        user_id(&app, &admin).await,
        user_id(&app, &reception).await,
        user_id(&app, &doctor).await,
    );

    let created = register_patient(&app, &admin, full_body()).await;
    let id = id_of(&created);
    let mrn = created["mrn"].as_str().unwrap();
    assert!(
        mrn.len() == 10 && mrn.starts_with("MRN-") && mrn[4..].bytes().all(|b| b.is_ascii_digit()),
        "{created}"
    );
    for field in DEMOGRAPHICS {
        assert_eq!(created[field], full_body()[field], "{field}: {created}");
    }
    assert_eq!(created["allergies"], json!(["peanuts", "latex"]));
    assert_eq!(created["blood_type"], "B-");
    assert_eq!(created["created_by"], json!(admin_id));
    assert_eq!(created["deleted"], false);
    assert_eq!(created["has_portal_account"], false);
    add_to_care_team(&app, &admin, &id, &doctor_id).await;
    let path = format!("/patients/{id}");

    // Reception: every demographic field, and no clinical key at all.
    let (status, seen) = call(&app, Method::GET, &path, &reception, None).await;
    assert_ok(status, &seen, StatusCode::OK);
    for field in DEMOGRAPHICS {
        assert_eq!(seen["data"][field], full_body()[field], "{field}: {seen}");
    }
    assert!(!has_clinical_keys(&seen["data"]), "{seen}");
    assert!(!seen.to_string().contains("peanuts"), "{seen}");
    let (status, listed) = call(
        &app,
        Method::GET,
        "/patients?search=Marisol",
        &reception,
        None,
    )
    .await;
    assert_ok(status, &listed, StatusCode::OK);
    assert_eq!(ids(&listed), [id.as_str()]);
    assert!(!has_clinical_keys(&listed["data"][0]), "{listed}");

    // The doctor on the care team, and the patient themself, see clinical fields.
    let (status, seen) = call(&app, Method::GET, &path, &doctor, None).await;
    assert_ok(status, &seen, StatusCode::OK);
    assert_eq!(seen["data"]["allergies"], json!(["peanuts", "latex"]));
    assert_eq!(seen["data"]["blood_type"], "B-");
    portal_account(&app, &reception, &id, "marisol.portal").await;
    let patient = app.login("marisol.portal", STRONG_PASSWORD).await;
    let (status, own) = call(&app, Method::GET, &path, &patient, None).await;
    assert_ok(status, &own, StatusCode::OK);
    assert_eq!(own["data"]["allergies"], json!(["peanuts", "latex"]));
    assert_eq!(own["data"]["blood_type"], "B-");
    assert_eq!(own["data"]["has_portal_account"], true);

    // Each role is refused the other's fields, and nothing changes.
    let before = call(&app, Method::GET, &path, &admin, None).await.1["data"].clone();
    let refused: Vec<(&str, Value)> = vec![
        (&reception, json!({ "allergies": [] })),
        (&reception, json!({ "blood_type": null })),
        (
            &reception,
            json!({ "last_name": "Smith", "allergies": ["none"] }),
        ),
        (&doctor, json!({ "last_name": "Smith" })),
        (&doctor, json!({ "contact": null })),
        (
            &doctor,
            json!({ "allergies": ["none"], "date_of_birth": "1980-01-01" }),
        ),
        (
            &patient,
            json!({ "contact": { "phone": "+1 555 0000", "email": null } }),
        ),
        (&patient, json!({ "allergies": [] })),
    ];
    for (token, change) in refused {
        let (status, body) = call(&app, Method::PATCH, &path, token, Some(change.clone())).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let mut with_allergies = patient_body("Clinical", "Intake", "1990-01-01");
    with_allergies["allergies"] = json!(["shellfish"]);
    let (status, body) = call(
        &app,
        Method::POST,
        "/patients",
        &reception,
        Some(with_allergies),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let after = call(&app, Method::GET, &path, &admin, None).await.1["data"].clone();
    assert_eq!(before, after, "a refused change changed the record");

    // Each role's own fields go through, recorded with who and when.
    let change = json!({ "allergies": ["peanuts"], "blood_type": "AB+" });
    let (status, changed) = call(&app, Method::PATCH, &path, &doctor, Some(change)).await;
    assert_ok(status, &changed, StatusCode::OK);
    assert_eq!(changed["data"]["allergies"], json!(["peanuts"]));
    assert_eq!(changed["data"]["blood_type"], "AB+");
    assert_eq!(changed["data"]["updated_by"], json!(doctor_id));
    assert_eq!(changed["data"]["created_by"], json!(admin_id));
    assert!(
        changed["data"]["updated_at"].as_str() > created["updated_at"].as_str(),
        "{changed}"
    );
    let change = json!({ "last_name": "Baptiste", "contact": null });
    let (status, changed) = call(&app, Method::PATCH, &path, &reception, Some(change)).await;
    assert_ok(status, &changed, StatusCode::OK);
    assert_eq!(changed["data"]["last_name"], "Baptiste");
    assert_eq!(changed["data"]["contact"], Value::Null);
    assert_eq!(changed["data"]["updated_by"], json!(reception_id));
    assert!(!has_clinical_keys(&changed["data"]), "{changed}");
    let (_, seen) = call(&app, Method::GET, &path, &doctor, None).await;
    assert_eq!(seen["data"]["last_name"], "Baptiste");
    assert_eq!(seen["data"]["allergies"], json!(["peanuts"]));

    // The audit names the fields changed, never their values.
    let rows = app.audit_rows().await;
    let resource = format!("patient:{id}");
    let updates: Vec<_> = rows
        .iter()
        .filter(|r| r.resource == resource && r.action == "patient.update")
        .collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(updates[0].actor, doctor_id);
    assert!(
        updates[0].details.contains("blood_type"),
        "{:?}",
        updates[0]
    );
    assert!(!updates[0].details.contains("AB+"), "{:?}", updates[0]);
    assert_eq!(updates[1].actor, reception_id);
    assert!(!updates[1].details.contains("Baptiste"), "{:?}", updates[1]);
}

#[tokio::test]
async fn search_matches_names_mrn_and_date_of_birth_and_pages() {
    let app = spawn(Service::Hospital).await;
    let reception = app.login("reception", "reception123").await;
    let zoe = register_patient(
        &app,
        &reception,
        patient_body("Zoë", "Ångström", "1990-05-17"),
    )
    .await;
    let zoe_id = id_of(&zoe);
    let mrn = zoe["mrn"].as_str().unwrap().to_string();
    let anna = register_patient_id(
        &app,
        &reception,
        patient_body("Anna Maria", "de la Cruz", "1990-05-17"),
    )
    .await;
    let other =
        register_patient_id(&app, &reception, patient_body("Boris", "Zoe", "1961-10-30")).await;

    let digits = mrn.trim_start_matches("MRN-");
    for (term, want) in [
        ("zoë", vec![other.clone(), zoe_id.clone()]),
        ("ZOE", vec![other.clone(), zoe_id.clone()]),
        ("angstrom", vec![zoe_id.clone()]),
        ("Zoe Angstrom", vec![zoe_id.clone()]),
        ("ångström  ZOË", vec![zoe_id.clone()]),
        ("anna maria", vec![anna.clone()]),
        ("DE LA CRUZ", vec![anna.clone()]),
        (mrn.as_str(), vec![zoe_id.clone()]),
        (&mrn.to_lowercase(), vec![zoe_id.clone()]),
        (&format!(" MRN{digits} "), vec![zoe_id.clone()]),
        ("1990-05-17", vec![anna.clone(), zoe_id.clone()]),
        ("1961-10-30", vec![other.clone()]),
        ("Zo", vec![]),
        ("Nobody", vec![]),
        ("1990-05-18", vec![]),
        ("MRN-999999", vec![]),
    ] {
        let mut found = search_ids(&app, &reception, term).await;
        found.sort();
        let mut want = want;
        want.sort();
        assert_eq!(found, want, "search {term:?}");
    }

    let mut seen = Vec::new();
    for page in 1..=2 {
        let path = format!("/patients?page={page}&page_size=2");
        let (status, body) = call(&app, Method::GET, &path, &reception, None).await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(
            body["meta"],
            json!({ "page": page, "page_size": 2, "total": 3 })
        );
        seen.extend(ids(&body));
    }
    seen.sort();
    let mut all = vec![zoe_id, anna, other];
    all.sort();
    assert_eq!(seen, all, "pages overlap or miss a patient");
    let (_, beyond) = call(
        &app,
        Method::GET,
        "/patients?page=3&page_size=2",
        &reception,
        None,
    )
    .await;
    assert_eq!(beyond["data"], json!([]));
    let (_, found) = call(
        &app,
        Method::GET,
        "/patients?search=1990-05-17&page_size=1",
        &reception,
        None,
    )
    .await;
    assert_eq!(found["meta"]["total"], 2, "{found}");
    assert_eq!(ids(&found).len(), 1);

    // MRNs are handed out in order, one per patient.
    let (_, list) = call(
        &app,
        Method::GET,
        "/patients?page_size=100",
        &reception,
        None,
    )
    .await;
    let mut mrns: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mrn"].as_str().unwrap())
        .collect();
    mrns.sort();
    assert_eq!(mrns, ["MRN-000001", "MRN-000002", "MRN-000003"]);
}

#[tokio::test]
async fn a_deleted_patient_is_hidden_until_the_admin_restores_it() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let id = register_patient_id(
        &app,
        &reception,
        patient_body("Temperance", "Vashti", "1966-06-06"),
    )
    .await;
    add_to_care_team(&app, &admin, &id, &doctor_id).await;
    let path = format!("/patients/{id}");

    let (status, body) = call(&app, Method::DELETE, &path, &reception, None).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = call(&app, Method::DELETE, &path, &admin, None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["deleted"], true);

    for token in [&reception, &doctor] {
        let (status, body) = call(&app, Method::GET, &path, token, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert!(search_ids(&app, token, "Vashti").await.is_empty());
        let (_, list) = call(&app, Method::GET, "/patients", token, None).await;
        assert_eq!(list["meta"]["total"], 0, "{list}");
    }
    let (status, body) = call(
        &app,
        Method::PATCH,
        &path,
        &doctor,
        Some(json!({ "allergies": [] })),
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{path}/care-team"),
        &doctor,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Deleting twice finds nothing to delete.
    let (status, body) = call(&app, Method::DELETE, &path, &admin, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Kept, not erased: the admin still finds it, marked deleted.
    let (status, body) = call(
        &app,
        Method::GET,
        "/patients?include_deleted=true",
        &reception,
        None,
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = call(
        &app,
        Method::GET,
        "/patients?include_deleted=true",
        &admin,
        None,
    )
    .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(ids(&body), [id.as_str()]);
    assert_eq!(body["data"][0]["deleted"], true);
    assert_eq!(body["data"][0]["last_name"], "Vashti");
    let (_, body) = call(&app, Method::GET, "/patients", &admin, None).await;
    assert_eq!(
        body["meta"]["total"], 0,
        "deleted patients listed by default: {body}"
    );
    // The record itself answers 404 to every role once deleted, the admin
    // included (found only through the list above, and restored by id).
    let (status, body) = call(&app, Method::GET, &path, &admin, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // So does its access log; its rows stay in the audit log.
    let log = format!("{path}/access-log");
    let (status, body) = call(&app, Method::GET, &log, &admin, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/audit?resource=patient:{id}&action=patient.delete"),
        &admin,
        None,
    )
    .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 1, "{body}");

    let restore = format!("{path}/restore");
    for token in [&reception, &doctor] {
        let (status, body) = call(&app, Method::POST, &restore, token, None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, body) = call(&app, Method::POST, &restore, &admin, None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["restored"], true);

    for token in [&reception, &doctor] {
        let (status, body) = call(&app, Method::GET, &path, token, None).await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(body["data"]["deleted"], false);
        assert_eq!(search_ids(&app, token, "vashti").await, [id.as_str()]);
    }
    let rows = app.audit_rows().await;
    let resource = format!("patient:{id}");
    let actions: Vec<&str> = rows
        .iter()
        .filter(|r| {
            r.resource == resource
                && (r.action == "patient.delete" || r.action == "patient.restore")
        })
        .map(|r| r.action.as_str())
        .collect();
    assert_eq!(actions, ["patient.delete", "patient.restore"]);
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_consecutive_mrns() {
    let app = std::sync::Arc::new(spawn(Service::Hospital).await);
    let reception = app.login("reception", "reception123").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (app, token) = (app.clone(), reception.clone());
        tasks.spawn(async move {
            let body = patient_body("Rush", &format!("Hour{i}"), "2001-01-01");
            app.api(Method::POST, "/patients", Some(&token), Some(body))
                .await
        });
    }
    let mut mrns = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        assert_ok(status, &body, StatusCode::CREATED);
        mrns.push(body["data"]["mrn"].as_str().unwrap().to_string());
    }
    mrns.sort();
    let want: Vec<String> = (1..=12).map(|n| format!("MRN-{n:06}")).collect();
    assert_eq!(mrns, want);
}
