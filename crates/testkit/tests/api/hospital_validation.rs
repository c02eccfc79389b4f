//! Bad input to the hospital answers 4xx in the envelope, never 500, and
//! stores nothing; the limits themselves are accepted.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, enrolment_code, patient_body, register_patient_id, user_id,
};
use testkit::{assert_error, assert_ok, spawn, Method, Reply, Service, StatusCode, TestApp};

fn with(field: &str, value: Value) -> Value {
    let mut body = patient_body("Valid", "Person", "1980-01-01");
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = patient_body("Valid", "Person", "1980-01-01");
    body.as_object_mut().unwrap().remove(field);
    body
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut req = app
        .client
        .request(method, app.api_url(path))
        .bearer_auth(token)
        .body(body.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Reply::read(req.send().await.unwrap()).await
}

async fn patient_total(app: &TestApp, admin: &str) -> Value {
    let (status, body) = app
        .api(
            Method::GET,
            "/patients?include_deleted=true",
            Some(admin),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body["meta"]["total"].clone()
}

#[tokio::test]
async fn bad_patient_input_is_a_400_in_the_envelope_and_stores_nothing() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let long = "a".repeat(101);
    let allergies: Vec<String> = (0..51).map(|i| format!("allergen {i}")).collect();

    // (what, body, the field named in the details if the check is ours)
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "month 13",
            with("date_of_birth", json!("2020-13-01")),
            Some("date_of_birth"),
        ),
        (
            "no dashes",
            with("date_of_birth", json!("20200101")),
            Some("date_of_birth"),
        ),
        (
            "February 30",
            with("date_of_birth", json!("2021-02-30")),
            Some("date_of_birth"),
        ),
        (
            "tomorrow",
            with("date_of_birth", json!(tomorrow)),
            Some("date_of_birth"),
        ),
        (
            "before 1900",
            with("date_of_birth", json!("1899-12-31")),
            Some("date_of_birth"),
        ),
        (
            "a time",
            with("date_of_birth", json!("2020-01-01T00:00:00")),
            Some("date_of_birth"),
        ),
        (
            "empty date",
            with("date_of_birth", json!("")),
            Some("date_of_birth"),
        ),
        (
            "leading space",
            with("date_of_birth", json!(" 2020-01-1")),
            None,
        ),
        (
            "trailing space",
            with("date_of_birth", json!("2020-1-01 ")),
            None,
        ),
        (
            "signed year",
            with("date_of_birth", json!("+999-01-01")),
            None,
        ),
        (
            "date as number",
            with("date_of_birth", json!(20200101)),
            None,
        ),
        ("no first name", without("first_name"), None),
        ("no last name", without("last_name"), None),
        ("no date of birth", without("date_of_birth"), None),
        ("no sex", without("sex"), None),
        ("unknown sex", with("sex", json!("yes")), None),
        ("capitalised sex", with("sex", json!("Female")), None),
        ("unknown field", with("ssn", json!("123-45-6789")), None),
        (
            "unknown nested field",
            with("contact", json!({ "phone": "123", "fax": "1" })),
            None,
        ),
        (
            "101-char first name",
            with("first_name", json!(long)),
            Some("first_name"),
        ),
        (
            "101-char last name",
            with("last_name", json!(long)),
            Some("last_name"),
        ),
        (
            "blank first name",
            with("first_name", json!("   ")),
            Some("first_name"),
        ),
        (
            "bell in a name",
            with("first_name", json!("Ann\u{7}")),
            Some("first_name"),
        ),
        (
            "newline in a name",
            with("last_name", json!("Smith\nJones")),
            Some("last_name"),
        ),
        (
            "NUL in a name",
            with("last_name", json!("Smith\u{0}")),
            Some("last_name"),
        ),
        (
            "escape in a name",
            with("first_name", json!("\u{1b}[31mRed")),
            Some("first_name"),
        ),
        ("name as number", with("first_name", json!(42)), None),
        (
            "51 allergies",
            with("allergies", json!(allergies)),
            Some("allergies"),
        ),
        (
            "a 201-char allergy",
            with("allergies", json!(["x".repeat(201)])),
            Some("allergies"),
        ),
        (
            "control char in an allergy",
            with("allergies", json!(["dust\u{7}"])),
            Some("allergies"),
        ),
        ("unknown blood type", with("blood_type", json!("C+")), None),
        (
            "lower-case blood type",
            with("blood_type", json!("ab+")),
            None,
        ),
        (
            "letters in a phone",
            with("contact", json!({ "phone": "call me", "email": null })),
            Some("contact.phone"),
        ),
        (
            "bad e-mail",
            with("contact", json!({ "phone": null, "email": "nobody" })),
            Some("contact.email"),
        ),
        (
            "address without city",
            with("address", json!({ "line1": "1 Road", "country": "UK" })),
            None,
        ),
        (
            "101-char city",
            with(
                "address",
                json!({ "line1": "1 Road", "city": long, "country": "UK" }),
            ),
            Some("address.city"),
        ),
        ("array body", json!([]), None),
        ("null body", Value::Null, None),
    ];
    for (what, body, field) in cases {
        let (status, reply) = app
            .api(Method::POST, "/patients", Some(&admin), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        if let Some(field) = field {
            assert_eq!(reply["error"]["details"]["field"], field, "{what}: {reply}");
        }
    }

    let malformed = raw(
        &app,
        Method::POST,
        "/patients",
        &admin,
        Some("application/json"),
        "{\"first_name\": ",
    )
    .await;
    assert_error(
        malformed.status,
        &malformed.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    let valid = patient_body("Valid", "Person", "1980-01-01").to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let reply = raw(
            &app,
            Method::POST,
            "/patients",
            &admin,
            content_type,
            &valid,
        )
        .await;
        assert_error(
            reply.status,
            &reply.body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        );
    }
    assert_eq!(
        patient_total(&app, &admin).await,
        0,
        "a refused registration was stored"
    );

    // The limits themselves pass.
    let today = chrono::Utc::now().date_naive().to_string();
    let fifty: Vec<String> = (0..50).map(|i| format!("allergen {i}")).collect();
    for body in [
        with("first_name", json!("a".repeat(100))),
        with("date_of_birth", json!("1900-01-01")),
        with("date_of_birth", json!(today)),
        with("allergies", json!(fifty)),
        with("blood_type", json!("unknown")),
        with("sex", json!("other")),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/patients", Some(&admin), Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
    }
    assert_eq!(patient_total(&app, &admin).await, 6);
}

#[tokio::test]
async fn bad_changes_queries_and_team_members_are_4xx_in_the_envelope() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let id = register_patient_id(&app, &admin, patient_body("Valid", "Person", "1980-01-01")).await;
    let path = format!("/patients/{id}");
    let (_, before) = app.api(Method::GET, &path, Some(&admin), None).await;

    for (what, change) in [
        ("nothing", json!({})),
        ("only a null name", json!({ "first_name": null })),
        ("month 13", json!({ "date_of_birth": "2020-13-01" })),
        ("no dashes", json!({ "date_of_birth": "20200101" })),
        ("before 1900", json!({ "date_of_birth": "1899-12-31" })),
        ("unknown sex", json!({ "sex": "sometimes" })),
        ("unknown field", json!({ "nickname": "Val" })),
        ("unknown blood type", json!({ "blood_type": "Z" })),
        ("101-char name", json!({ "last_name": "b".repeat(101) })),
        ("tab in a name", json!({ "first_name": "Val\tue" })),
        ("51 allergies", json!({ "allergies": vec!["x"; 51] })),
    ] {
        let (status, reply) = app
            .api(Method::PATCH, &path, Some(&admin), Some(change))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(reply["error"]["message"].as_str().is_some(), "{what}");
    }
    let malformed = raw(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some("application/json"),
        "{'allergies': []}",
    )
    .await;
    assert_error(
        malformed.status,
        &malformed.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    let plain = raw(
        &app,
        Method::PATCH,
        &path,
        &admin,
        Some("text/plain"),
        "{\"allergies\": []}",
    )
    .await;
    assert_error(
        plain.status,
        &plain.body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let (_, after) = app.api(Method::GET, &path, Some(&admin), None).await;
    assert_eq!(before["data"], after["data"], "a refused change was stored");

    let search_100 = "q".repeat(100);
    let ok_queries = [
        format!("/patients?search={search_100}"),
        "/patients?page_size=100".into(),
    ];
    for q in ok_queries {
        let (status, reply) = app.api(Method::GET, &q, Some(&admin), None).await;
        assert_ok(status, &reply, StatusCode::OK);
    }
    let search_101 = "q".repeat(101);
    for q in [
        "/patients?page_size=0".to_string(),
        "/patients?page_size=101".into(),
        "/patients?page_size=-1".into(),
        "/patients?page=0".into(),
        "/patients?page_size=ten".into(),
        format!("/patients?search={search_101}"),
        "/patients?search=".into(),
        "/patients?search=%20%20".into(),
        "/patients?include_deleted=maybe".into(),
        "/patients?sort=name".into(),
        format!("/patients/{id}/access-log?page_size=0"),
        "/departments?page_size=0".into(),
        "/departments?include_inactive=yes".into(),
        "/break-glass?acknowledged=perhaps".into(),
        "/break-glass?page=0".into(),
    ] {
        let (status, reply) = app.api(Method::GET, &q, Some(&admin), None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Care-team members must be active clinicians of this hospital.
    let lab = app.login("lab", "lab123").await;
    let lab_id = user_id(&app, &lab).await;
    let doctor_id = user_id(&app, &app.login("doctor", "doctor123").await).await;
    let team = format!("{path}/care-team");
    for body in [
        json!({ "user_id": lab_id }),
        json!({ "user_id": uuid::Uuid::new_v4().to_string() }),
        json!({ "user_id": "" }),
        json!({ "user_id": "x".repeat(65) }),
        json!({ "user_id": 7 }),
        json!({}),
        json!({ "user_id": doctor_id, "role": "doctor" }),
    ] {
        let (status, reply) = app.api(Method::POST, &team, Some(&admin), Some(body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    add_to_care_team(&app, &admin, &id, &doctor_id).await;
    let (status, reply) = app
        .api(
            Method::POST,
            &team,
            Some(&admin),
            Some(json!({ "user_id": doctor_id })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = app
        .api(
            Method::DELETE,
            &format!("{team}/{lab_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Portal accounts: staff only ask for an enrolment code (they never choose
    // the password); the patient's redemption checks the username and the
    // password; one account per patient.
    let portal = format!("{path}/portal-account");
    let staff_chosen = json!({ "username": "ok-name", "password": testkit::STRONG_PASSWORD });
    let (status, reply) = app
        .api(Method::POST, &portal, Some(&admin), Some(staff_chosen))
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let code = enrolment_code(&app, &admin, &id).await;
    for body in [
        json!({ "code": code, "username": "has space", "password": testkit::STRONG_PASSWORD }),
        json!({ "code": code, "username": "ok-name", "password": "password" }),
        json!({ "code": code, "username": "ok-name", "password": "short" }),
        json!({ "code": code, "username": "ok-name" }),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/portal/enrol", None, Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let body = json!({ "code": code, "username": "ok-name", "password": testkit::STRONG_PASSWORD });
    let (status, reply) = app
        .api(Method::POST, "/portal/enrol", None, Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let (status, reply) = app.api(Method::POST, &portal, Some(&admin), None).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let other =
        register_patient_id(&app, &admin, patient_body("Other", "Person", "1981-01-01")).await;
    let code = enrolment_code(&app, &admin, &other).await;
    let taken =
        json!({ "code": code, "username": "reception", "password": testkit::STRONG_PASSWORD });
    let (status, reply) = app
        .api(Method::POST, "/portal/enrol", None, Some(taken))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Break-the-glass needs a reason worth the name.
    let nurse = app.login("nurse", "nurse123").await;
    let glass = format!("/patients/{other}/break-glass");
    for body in [
        json!({ "reason": "urgent" }),
        json!({ "reason": "need to see it now" }),
        json!({ "reason": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }),
        json!({ "reason": format!("{} and more", "word ".repeat(250)) }),
        json!({ "reason": "The patient is unconscious\u{7} and needs care now" }),
        json!({ "reason": null }),
        json!({}),
        json!({ "reason": "The patient is unconscious and needs care now", "minutes": 600 }),
    ] {
        let (status, reply) = app
            .api(Method::POST, &glass, Some(&nurse), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/patients/{other}"),
            Some(&nurse),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}
