//! The clinical notes page: a doctor on the care team writes, signs and
//! amends through the API's functions (same checks, same audit rows);
//! reception is refused; a patient reads their own signed notes.

use reqwest::StatusCode;
use serde_json::json;
use testkit::hospital::{
    add_to_care_team, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{spawn, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn a_doctor_writes_signs_and_amends_a_note_on_the_notes_page() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Ida", "Lund", "1969-01-02")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    portal_account(&app, &admin, &patient, "ida.portal").await;

    let mut b = Browser::new(&app);
    b.login_ok("doctor", "doctor123", "/home").await;
    let chart = b.get(&format!("/patients/{patient}")).await;
    assert!(
        chart
            .body
            .contains(&format!("href=\"/patients/{patient}/notes\"")),
        "{}",
        chart.body
    );
    let notes = format!("/patients/{patient}/notes");
    let page = b.get(&notes).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No notes."));
    let csrf = page.csrf();

    // A SOAP note with nothing in it: the API's 400, shown on the page.
    let bad = b.post(&notes, &[("csrf", &csrf), ("kind", "soap")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(
        bad.body.contains("at least one of subjective"),
        "{}",
        bad.body
    );
    // Forged token: refused.
    let forged = b
        .post(
            &notes,
            &[("csrf", "forged"), ("kind", "soap"), ("plan", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let res = b
        .post(
            &notes,
            &[
                ("csrf", &csrf),
                ("kind", "soap"),
                ("subjective", "Dizzy when standing up"),
                ("assessment", "Orthostatic hypotension"),
                ("title", ""),
                ("body", ""),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), notes);
    let page = b.get(&notes).await;
    assert!(page.body.contains("soap (draft)"), "{}", page.body);
    assert!(page.body.contains("Orthostatic hypotension"));
    let id = page
        .body
        .split(&format!("/patients/{patient}/notes/"))
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    let res = b
        .post(&format!("{notes}/{id}/sign"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = b.get(&notes).await;
    assert!(page.body.contains("soap (signed)"), "{}", page.body);
    assert!(page.body.contains("SHA-256"), "{}", page.body);
    // Signing again: the API's conflict.
    let again = b
        .post(&format!("{notes}/{id}/sign"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    let res = b
        .post(
            &format!("{notes}/{id}/amend"),
            &[
                ("csrf", &csrf),
                ("reason", "Blood pressure readings added"),
                ("subjective", "Dizzy when standing up"),
                ("objective", "BP 120/80 lying, 95/60 standing"),
                ("assessment", "Orthostatic hypotension"),
                ("plan", ""),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = b.get(&notes).await;
    assert!(
        page.body.contains("Blood pressure readings added"),
        "{}",
        page.body
    );
    assert!(page.body.contains("95/60 standing"), "{}", page.body);

    // The API shows the same note, its original kept.
    let (status, note) = app
        .api(Method::GET, &format!("/notes/{id}"), Some(&doctor), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(note["data"]["content"]["objective"].is_null(), "{note}");
    assert_eq!(
        note["data"]["amendments"][0]["author_id"],
        doctor_id.as_str()
    );
    // The page's reads are on the patient's access log.
    let (_, log) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}/access-log?page_size=100"),
            Some(&admin),
            None,
        )
        .await;
    let reads = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "note.read" && e["actor_username"] == "doctor")
        .count();
    assert!(reads >= 3, "{log}");

    // Reception: refused, nothing clinical shown.
    let mut r = Browser::new(&app);
    r.login_ok("reception", "reception123", "/home").await;
    let refused = r.get(&notes).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.body.contains("Orthostatic"), "{}", refused.body);

    // The patient: their signed note under "My notes", no forms.
    let (status, _) = app
        .api(
            Method::POST,
            "/notes",
            Some(&doctor),
            Some(json!({ "patient_id": patient, "type": "progress_note", "body": "Draft-only-text" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut p = Browser::new(&app);
    p.login_ok("ida.portal", STRONG_PASSWORD, "/home").await;
    assert!(p.get("/home").await.body.contains("href=\"/my-notes\""));
    let mine = p.get("/my-notes").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("95/60 standing"), "{}", mine.body);
    assert!(!mine.body.contains("Draft-only-text"), "{}", mine.body);
    assert!(!mine.body.contains("Write a note"), "{}", mine.body);
    assert!(!mine.body.contains("/amend\""), "{}", mine.body);
}
