//! A patient's portal account is opened with a one-time enrolment code:
//! staff never know its password (security review, finding 2), and its
//! username says nothing about the patient (finding 15).

use serde_json::{json, Value};
use testkit::hospital::{
    contains_ignoring_case, enrolment_code, patient_body, register_patient_id, stored_bytes,
};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp};

async fn redeem(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, "/portal/enrol", None, Some(body))
        .await
}

/// Finding 2: reception created the account with a password it chose, kept
/// a token, and read clinical data with it after the password changed. Now
/// reception cannot choose the password at all, and a token from before a
/// change dies with it.
#[tokio::test]
async fn reception_cannot_read_clinical_data_through_a_portal_account() {
    let app = spawn(Service::Hospital).await;
    let reception = app.login("reception", "reception123").await;
    let patient = register_patient_id(
        &app,
        &reception,
        patient_body("Paula", "Private", "1991-03-03"),
    )
    .await;
    let path = format!("/patients/{patient}/portal-account");

    // The old flow, a username and a password chosen by staff, is gone.
    let old = json!({ "username": "paula", "password": "chosen-by-reception-42" });
    let (status, body) = app
        .api(Method::POST, &path, Some(&reception), Some(old))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, _) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "paula", "password": "chosen-by-reception-42" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Reception gets a printable code, and nothing that logs in.
    let (status, body) = app.api(Method::POST, &path, Some(&reception), None).await;
    assert_ok(status, &body, StatusCode::CREATED);
    let code = body["data"]["enrolment_code"].as_str().unwrap().to_string();
    assert!(body["data"]["expires_at"].is_string(), "{body}");
    assert!(body["data"].get("access_token").is_none());

    // The patient redeems it, choosing the password.
    let mine = json!({ "code": code, "username": "paula-p", "password": "only-paula-knows-this" });
    let (status, body) = redeem(&app, mine).await;
    assert_ok(status, &body, StatusCode::CREATED);
    let token = app.login("paula-p", "only-paula-knows-this").await;
    let (status, _) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // After a password change the old token no longer reads the record.
    let change = json!({ "current_password": "only-paula-knows-this", "new_password": "paula-changed-it-again" });
    let (status, body) = app
        .api(Method::POST, "/auth/password", Some(&token), Some(change))
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}"),
            Some(&token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Both steps are in the audit log, and the code is not.
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "patient.portal_enrolment.issue"));
    assert!(rows
        .iter()
        .any(|r| r.action == "patient.portal_enrolment.redeem" && r.outcome == "success"));
    assert!(rows.iter().all(|r| !r.details.contains(&code)));
}

/// Finding 2: the code works once, before it expires, only its hash is
/// stored, and every bad code gets the same answer.
#[tokio::test]
async fn an_enrolment_code_is_single_use_short_lived_and_stored_hashed() {
    let app = spawn(Service::Hospital).await;
    let reception = app.login("reception", "reception123").await;
    let a = register_patient_id(&app, &reception, patient_body("Ada", "One", "1980-01-01")).await;
    let b = register_patient_id(&app, &reception, patient_body("Bo", "Two", "1980-01-02")).await;
    let c = register_patient_id(&app, &reception, patient_body("Cy", "Three", "1980-01-03")).await;
    let code_a = enrolment_code(&app, &reception, &a).await;
    let code_b = enrolment_code(&app, &reception, &b).await;
    let replaced = enrolment_code(&app, &reception, &c).await;
    let code_c = enrolment_code(&app, &reception, &c).await;

    let pw = "a-patient-passphrase";
    let (status, body) = redeem(
        &app,
        json!({ "code": code_a.to_lowercase(), "password": pw }),
    )
    .await;
    assert_ok(status, &body, StatusCode::CREATED);

    // Expire b's code in the database.
    let expire = format!(
        "UPDATE enrolment_codes SET expires_at = '2000-01-01 00:00:00' WHERE subject = '{b}'"
    );
    app.sql(&expire).await.unwrap();
    let mut answers = Vec::new();
    for bad in [
        code_a.clone(),            // used
        code_b.clone(),            // expired
        replaced.clone(),          // replaced by a newer code
        "ZZZZZ-ZZZZZ".to_string(), // never issued
    ] {
        let (status, body) = redeem(&app, json!({ "code": bad, "password": pw })).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        answers.push(crate::answer(&body));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let (status, body) = redeem(&app, json!({ "code": code_c, "password": pw })).await;
    assert_ok(status, &body, StatusCode::CREATED);

    // Only hashes are stored; failures are audited and raised.
    let stored = stored_bytes(&app);
    for code in [&code_a, &code_b, &code_c] {
        let bare = code.replace('-', "");
        assert!(
            !contains_ignoring_case(&stored, code) && !contains_ignoring_case(&stored, &bare),
            "a code is stored in clear"
        );
    }
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "patient.portal_enrolment.redeem" && r.outcome == "failure")
            .count(),
        4
    );
}

/// Finding 15: portal usernames were chosen from patients' names. With no
/// username given, the patient gets a random one.
#[tokio::test]
async fn portal_usernames_are_not_derived_from_patient_names() {
    let app = spawn(Service::Hospital).await;
    let reception = app.login("reception", "reception123").await;
    let patient = register_patient_id(
        &app,
        &reception,
        patient_body("Marguerite", "Quennell", "1970-05-05"),
    )
    .await;
    let code = enrolment_code(&app, &reception, &patient).await;
    let (status, body) = redeem(
        &app,
        json!({ "code": code, "password": "marguerite-own-pass" }),
    )
    .await;
    assert_ok(status, &body, StatusCode::CREATED);
    let username = body["data"]["username"].as_str().unwrap().to_string();
    assert!(
        username.starts_with("p-") && username.len() == 12,
        "{username}"
    );
    let lower = username.to_lowercase();
    assert!(
        !lower.contains("marg") && !lower.contains("quen"),
        "{username}"
    );
    app.login(&username, "marguerite-own-pass").await;
}
