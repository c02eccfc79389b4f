//! Care teams: who joins, who leaves, and that the record opens and closes
//! with membership.

use serde_json::{json, Value};
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, search_ids, user_id};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

async fn team(app: &TestApp, token: &str, patient: &str) -> Value {
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}/care-team"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"].clone()
}

#[tokio::test]
async fn the_record_opens_and_closes_with_care_team_membership() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let nurse = app.login("nurse", "nurse123").await;
    let (doctor_id, nurse_id) = (user_id(&app, &doctor).await, user_id(&app, &nurse).await);
    let id = register_patient_id(
        &app,
        &admin,
        patient_body("Ignatius", "Fairweather", "1949-12-01"),
    )
    .await;
    let record = format!("/patients/{id}");

    for token in [&doctor, &nurse] {
        let (status, body) = app.api(Method::GET, &record, Some(token), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
        let (_, list) = app.api(Method::GET, "/patients", Some(token), None).await;
        assert_eq!(list["meta"]["total"], 0, "{list}");
    }

    // The admin adds the doctor; the doctor adds the nurse.
    add_to_care_team(&app, &admin, &id, &doctor_id).await;
    add_to_care_team(&app, &doctor, &id, &nurse_id).await;
    for token in [&doctor, &nurse] {
        let (status, body) = app.api(Method::GET, &record, Some(token), None).await;
        assert_ok(status, &body, StatusCode::OK);
        assert_eq!(search_ids(&app, token, "Fairweather").await, [id.as_str()]);
    }
    let members = team(&app, &nurse, &id).await;
    let summary: Vec<(Value, Value, Value)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].clone(),
                m["username"].clone(),
                m["role"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!(doctor_id), json!("doctor"), json!("doctor")),
            (json!(nurse_id), json!("nurse"), json!("nurse")),
        ]
    );
    assert_eq!(members[1]["added_by"], json!(doctor_id));

    // The nurse may not manage the team; the doctor removes the nurse.
    let remove_nurse = format!("{record}/care-team/{nurse_id}");
    let (status, body) = app
        .api(Method::DELETE, &remove_nurse, Some(&nurse), None)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = app
        .api(Method::DELETE, &remove_nurse, Some(&doctor), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app
        .api(Method::DELETE, &remove_nurse, Some(&doctor), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app.api(Method::GET, &record, Some(&nurse), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(search_ids(&app, &nurse, "Fairweather").await.is_empty());
    assert_eq!(team(&app, &doctor, &id).await.as_array().unwrap().len(), 1);

    // Back on the team, the record opens again.
    add_to_care_team(&app, &admin, &id, &nurse_id).await;
    let (status, _) = app.api(Method::GET, &record, Some(&nurse), None).await;
    assert_eq!(status, StatusCode::OK);

    // Only active clinicians join; an inactive one is refused.
    let locum = app.create_user(&admin, "locum", "doctor").await;
    let locum_token = app.login("locum", STRONG_PASSWORD).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/users/{locum}/deactivate"),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app
        .api(
            Method::POST,
            &format!("{record}/care-team"),
            Some(&admin),
            Some(json!({ "user_id": locum })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, body) = app
        .api(Method::GET, &record, Some(&locum_token), None)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    for role_user in ["reception", "lab", "pharmacist", "hadmin"] {
        let token = app.login(role_user, &format!("{role_user}123")).await;
        let uid = user_id(&app, &token).await;
        let (status, body) = app
            .api(
                Method::POST,
                &format!("{record}/care-team"),
                Some(&admin),
                Some(json!({ "user_id": uid })),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // The doctor leaves the team themself and loses the record.
    let leave = format!("{record}/care-team/{doctor_id}");
    let (status, body) = app.api(Method::DELETE, &leave, Some(&doctor), None).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app.api(Method::GET, &record, Some(&doctor), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .api(
            Method::POST,
            &format!("{record}/care-team"),
            Some(&doctor),
            Some(json!({ "user_id": doctor_id })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Every change is in the patient's access log.
    let (_, log) = app
        .api(
            Method::GET,
            &format!("{record}/access-log?page_size=100"),
            Some(&admin),
            None,
        )
        .await;
    let changes: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        // Changes only; reading the team is audited as care_team.read.
        .filter(|a| a.starts_with("care_team.") && *a != "care_team.read")
        .collect();
    let reads = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "care_team.read")
        .count();
    assert!(
        reads >= 1,
        "reading the care team is in the patient's access log"
    );
    assert_eq!(
        changes,
        [
            "care_team.remove",
            "care_team.add",
            "care_team.remove",
            "care_team.add",
            "care_team.add"
        ]
    );
}
