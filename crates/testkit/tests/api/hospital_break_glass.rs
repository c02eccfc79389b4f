//! Break-the-glass: a clinician outside the care team opens one record for
//! a limited time with a reason; critical in the audit, a security event,
//! listed for the admin to acknowledge; gone again when it expires.

use chrono::NaiveDateTime;
use common::schema::security_outbox;
use diesel::prelude::*;
use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, encode, id_of, ids, patient_body, register_patient_id, search_ids, user_id,
};
use testkit::{assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp};

const REASON: &str = "Found unresponsive in the car park, no records at hand";

fn time(v: &Value) -> NaiveDateTime {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not a time: {e}"))
}

async fn grants(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/break-glass?page_size=100{query}"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body
}

/// The story every test below tells a part of: a hospital, its admin, the
/// demo nurse (off the care team) and doctor (on it), and the patient
/// Octavia Pellegrini (allergic to morphine) beside another patient.
struct Story {
    app: TestApp,
    admin: String,
    admin_id: String,
    nurse: String,
    nurse_id: String,
    doctor: String,
    /// Octavia's id.
    id: String,
    /// The other patient's id.
    other: String,
    /// `/patients/{id}`.
    record: String,
    /// `/patients/{id}/break-glass`.
    glass: String,
}

impl Story {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let admin_id = user_id(&app, &admin).await;
        let nurse = app.login("nurse", "nurse123").await;
        let nurse_id = user_id(&app, &nurse).await;
        let doctor = app.login("doctor", "doctor123").await;
        let mut body = patient_body("Octavia", "Pellegrini", "1958-03-30");
        body["allergies"] = json!(["morphine"]);
        let id = register_patient_id(&app, &admin, body).await;
        let other =
            register_patient_id(&app, &admin, patient_body("Other", "Person", "1960-01-01")).await;
        add_to_care_team(&app, &admin, &id, &user_id(&app, &doctor).await).await;
        let record = format!("/patients/{id}");
        let glass = format!("{record}/break-glass");
        Self {
            app,
            admin,
            admin_id,
            nurse,
            nurse_id,
            doctor,
            id,
            other,
            record,
            glass,
        }
    }

    /// The nurse breaks the glass on Octavia's record; the grant.
    async fn break_glass(&self) -> Value {
        let (status, granted) = self
            .app
            .api(
                Method::POST,
                &self.glass,
                Some(&self.nurse),
                Some(json!({ "reason": REASON })),
            )
            .await;
        assert_ok(status, &granted, StatusCode::CREATED);
        granted["data"].clone()
    }

    /// Every grant runs out.
    async fn expire(&self) {
        self.app
            .sql("UPDATE break_glass SET expires_at = '2000-01-01 00:00:00'")
            .await
            .unwrap();
    }

    /// A call as the nurse.
    async fn as_nurse(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.api(method, path, Some(&self.nurse), body).await
    }
}

#[tokio::test]
async fn refused_requests_to_break_the_glass_leave_no_grant() {
    let s = Story::new().await;
    let app = &s.app;
    let (status, body) = s.as_nurse(Method::GET, &s.record, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(search_ids(app, &s.nurse, "Pellegrini").await.is_empty());

    // Too short a reason.
    let short = Some(json!({ "reason": "emergency" }));
    let (status, body) = s.as_nurse(Method::POST, &s.glass, short).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["field"], "reason");
    // Already on the care team.
    let (status, body) = app
        .api(
            Method::POST,
            &s.glass,
            Some(&s.doctor),
            Some(json!({ "reason": REASON })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    // No such patient.
    let missing = format!("/patients/{}/break-glass", uuid::Uuid::new_v4());
    let (status, body) = s
        .as_nurse(Method::POST, &missing, Some(json!({ "reason": REASON })))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    assert_eq!(
        grants(app, &s.admin, "").await["meta"]["total"],
        0,
        "refused requests left grants"
    );
}

#[tokio::test]
async fn a_grant_opens_one_record_with_its_clinical_fields_for_an_hour() {
    let s = Story::new().await;
    let granted = s.break_glass().await;
    assert_eq!(granted["patient_id"], s.id.as_str());
    let left = time(&granted["expires_at"]) - chrono::Utc::now().naive_utc();
    assert!(
        left > chrono::TimeDelta::minutes(59) && left <= chrono::TimeDelta::minutes(60),
        "{granted}"
    );

    let (status, body) = s.as_nurse(Method::GET, &s.record, None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["allergies"], json!(["morphine"]));
    assert_eq!(
        search_ids(&s.app, &s.nurse, "Pellegrini").await,
        [s.id.as_str()]
    );
    // Only that one record.
    let (status, body) = s
        .as_nurse(Method::GET, &format!("/patients/{}", s.other), None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_grant_is_critical_in_the_audit_and_a_security_event_without_its_reason() {
    let s = Story::new().await;
    let app = &s.app;
    s.break_glass().await;

    let (status, audit) = app
        .api(
            Method::GET,
            "/audit?severity=critical&page_size=100",
            Some(&s.admin),
            None,
        )
        .await;
    assert_ok(status, &audit, StatusCode::OK);
    let rows = audit["data"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["action"] == "patient.break_glass")
        .unwrap_or_else(|| panic!("no critical break-glass row: {audit}"));
    assert_eq!(row["actor"], s.nurse_id.as_str());
    assert_eq!(row["resource"], format!("patient:{}", s.id));
    assert_eq!(row["severity"], "critical");
    assert!(
        !audit.to_string().contains("car park"),
        "the reason is in the audit: {audit}"
    );
    // The audit query a reviewer runs: critical rows on one resource.
    let (_, audit) = app
        .api(
            Method::GET,
            &format!(
                "/audit?severity=critical&resource={}",
                encode(&format!("patient:{}", s.id))
            ),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(audit["meta"]["total"], 1, "{audit}");

    let events: Vec<(String, String, String)> = app
        .db()
        .run(|c| {
            Ok(security_outbox::table
                .filter(security_outbox::kind.eq("break_glass"))
                .select((
                    security_outbox::severity,
                    security_outbox::actor,
                    security_outbox::details,
                ))
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].0.as_str(), events[0].1.as_str()),
        ("critical", s.nurse_id.as_str())
    );
    assert!(
        !events[0].2.contains("car park"),
        "the reason left for company: {events:?}"
    );
}

#[tokio::test]
async fn only_the_admin_reviews_and_acknowledges_a_grant() {
    let s = Story::new().await;
    let app = &s.app;
    let grant = id_of(&s.break_glass().await);
    let ack = format!("/break-glass/{grant}/acknowledge");

    for token in [
        &s.nurse,
        &s.doctor,
        &app.login("reception", "reception123").await,
    ] {
        let (status, body) = app
            .api(Method::GET, "/break-glass", Some(token), None)
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = app.api(Method::POST, &ack, Some(token), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let open = grants(app, &s.admin, "&acknowledged=false").await;
    assert_eq!(ids(&open), [grant.as_str()]);
    let g = &open["data"][0];
    assert_eq!(g["reason"], REASON);
    assert_eq!(g["user_id"], s.nurse_id.as_str());
    assert_eq!(g["patient_id"], s.id.as_str());
    assert_eq!(g["active"], true);
    assert_eq!(g["acknowledged_by"], Value::Null);
    assert_eq!(
        time(&g["expires_at"]) - time(&g["granted_at"]),
        chrono::TimeDelta::minutes(60)
    );
    assert_eq!(
        grants(app, &s.admin, "&acknowledged=true").await["meta"]["total"],
        0
    );

    let (status, body) = app.api(Method::POST, &ack, Some(&s.admin), None).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app.api(Method::POST, &ack, Some(&s.admin), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let unknown = format!("/break-glass/{}/acknowledge", uuid::Uuid::new_v4());
    let (status, body) = app.api(Method::POST, &unknown, Some(&s.admin), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        grants(app, &s.admin, "&acknowledged=false").await["meta"]["total"],
        0
    );
    let done = grants(app, &s.admin, "&acknowledged=true").await;
    assert_eq!(ids(&done), [grant.as_str()]);
    assert_eq!(done["data"][0]["acknowledged_by"], s.admin_id.as_str());
    // Acknowledged is not revoked: the grant runs its time.
    let (status, _) = s.as_nurse(Method::GET, &s.record, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_grant_closes_the_record_everywhere_and_stays_in_its_access_log() {
    let s = Story::new().await;
    let app = &s.app;
    s.break_glass().await;
    let (status, _) = s.as_nurse(Method::GET, &s.record, None).await;
    assert_eq!(status, StatusCode::OK);

    s.expire().await;

    let (status, body) = s.as_nurse(Method::GET, &s.record, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = s
        .as_nurse(Method::PATCH, &s.record, Some(json!({ "allergies": [] })))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(search_ids(app, &s.nurse, "Pellegrini").await.is_empty());
    let team = format!("{}/care-team", s.record);
    let (status, body) = s.as_nurse(Method::GET, &team, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(grants(app, &s.admin, "").await["data"][0]["active"], false);

    // The patient's access log shows the nurse's read and the grant.
    let (_, log) = app
        .api(
            Method::GET,
            &format!("{}/access-log?page_size=100", s.record),
            Some(&s.admin),
            None,
        )
        .await;
    let nurse_actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_username"] == "nurse")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(nurse_actions.contains(&"patient.break_glass"), "{log}");
    assert!(nurse_actions.contains(&"patient.read"), "{log}");
    let critical = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["severity"] == "critical")
        .count();
    assert_eq!(critical, 1, "{log}");
}

#[tokio::test]
async fn the_grant_lasts_as_long_as_configured() {
    let app = spawn_with(
        Service::Hospital,
        &[("HOSPITAL__CLINICAL__BREAK_GLASS_MINUTES", "5")],
    )
    .await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let id = register_patient_id(&app, &admin, patient_body("Short", "Grant", "1999-09-09")).await;
    let (status, granted) = app
        .api(
            Method::POST,
            &format!("/patients/{id}/break-glass"),
            Some(&doctor),
            Some(json!({ "reason": REASON })),
        )
        .await;
    assert_ok(status, &granted, StatusCode::CREATED);
    let g = &grants(&app, &admin, "").await["data"][0];
    assert_eq!(
        time(&g["expires_at"]) - time(&g["granted_at"]),
        chrono::TimeDelta::minutes(5)
    );
    let (status, _) = app
        .api(Method::GET, &format!("/patients/{id}"), Some(&doctor), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_grant_opens_the_record_but_not_its_care_team() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "doctor-on", "doctor").await;
    let on_team = app.login("doctor-on", testkit::STRONG_PASSWORD).await;
    let on_team_id = user_id(&app, &on_team).await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let nurse_id = user_id(&app, &app.login("nurse", "nurse123").await).await;
    let id = register_patient_id(
        &app,
        &admin,
        patient_body("Lasting", "Access", "1970-07-07"),
    )
    .await;
    add_to_care_team(&app, &admin, &id, &on_team_id).await;
    let record = format!("/patients/{id}");
    let (status, granted) = app
        .api(
            Method::POST,
            &format!("{record}/break-glass"),
            Some(&doctor),
            Some(json!({ "reason": REASON })),
        )
        .await;
    assert_ok(status, &granted, StatusCode::CREATED);
    let (status, _) = app.api(Method::GET, &record, Some(&doctor), None).await;
    assert_eq!(status, StatusCode::OK);

    // Joining the team would outlast the grant; changing it is not the grant's to give.
    let team = format!("{record}/care-team");
    for member in [&doctor_id, &nurse_id] {
        let (status, body) = app
            .api(
                Method::POST,
                &team,
                Some(&doctor),
                Some(json!({ "user_id": member })),
            )
            .await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("{team}/{on_team_id}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, members) = app.api(Method::GET, &team, Some(&admin), None).await;
    assert_ok(status, &members, StatusCode::OK);
    let members: Vec<&Value> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["user_id"])
        .collect();
    assert_eq!(members, [&json!(on_team_id)]);

    app.sql("UPDATE break_glass SET expires_at = '2000-01-01 00:00:00'")
        .await
        .unwrap();
    let (status, body) = app.api(Method::GET, &record, Some(&doctor), None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // A doctor on the team still manages it.
    add_to_care_team(&app, &on_team, &id, &nurse_id).await;
}
