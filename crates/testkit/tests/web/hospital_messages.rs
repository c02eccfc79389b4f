//! The messages page: a nurse writes to a colleague and to a patient's care
//! team, the doctor reads them there (each listing audited as on the API),
//! a bad recipient or an empty message is a 400 page, a forged post is 403.

use reqwest::StatusCode;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::{spawn, Service};

use crate::client::Browser;

#[tokio::test]
async fn staff_write_and_read_messages_on_the_page() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let nurse = app.login("nurse", "nurse123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let nurse_id = user_id(&app, &nurse).await;
    let patient = register_patient_id(
        &app,
        &admin,
        patient_body("Ines", "Quillfeather", "1971-02-03"),
    )
    .await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    add_to_care_team(&app, &admin, &patient, &nurse_id).await;

    let mut n = Browser::new(&app);
    n.login_ok("nurse", "nurse123", "/home").await;
    let home = n.get("/home").await;
    assert!(home.body.contains("href=\"/messages\""), "{}", home.body);
    let page = n.get("/messages").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let sent = n
        .post(
            "/messages",
            &[
                ("csrf", csrf.as_str()),
                ("to_kind", "user"),
                ("to_id", doctor_id.as_str()),
                ("body", "Bed 4 asks for you"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(
        sent.body.contains("Sent to 1 recipient(s)."),
        "{}",
        sent.body
    );
    let sent = n
        .post(
            "/messages",
            &[
                ("csrf", csrf.as_str()),
                ("to_kind", "care_team"),
                ("to_id", patient.as_str()),
                ("body", "Morning bloods drawn"),
            ],
        )
        .await;
    assert!(
        sent.body.contains("Sent to 1 recipient(s)."),
        "{}",
        sent.body
    );
    // A recipient that is no user, and an empty message: the form again, 400.
    let bad = n
        .post(
            "/messages",
            &[
                ("csrf", csrf.as_str()),
                ("to_kind", "user"),
                ("to_id", "nobody"),
                ("body", "x"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let empty = n
        .post(
            "/messages",
            &[
                ("csrf", csrf.as_str()),
                ("to_kind", "user"),
                ("to_id", doctor_id.as_str()),
                ("body", " "),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{}", empty.body);
    // Without the form's CSRF token nothing is sent.
    let forged = n
        .post(
            "/messages",
            &[
                ("to_kind", "user"),
                ("to_id", doctor_id.as_str()),
                ("body", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let inbox = d.get("/messages").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("Bed 4 asks for you"), "{}", inbox.body);
    assert!(
        inbox.body.contains("Morning bloods drawn"),
        "{}",
        inbox.body
    );
    assert!(!inbox.body.contains("forged"), "{}", inbox.body);
    // Listing on the page is a read like the API's: audited.
    let rows = app.audit_rows().await;
    assert!(
        rows.iter()
            .any(|r| r.action == "message.read" && r.actor == doctor_id),
        "no message.read row"
    );
}
