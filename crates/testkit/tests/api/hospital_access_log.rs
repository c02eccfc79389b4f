//! A patient's access log: every read and write of the record, with who and
//! when; the patient reads their own, the admin reads any, nobody else.

use std::time::Duration;

use serde_json::Value;
use testkit::hospital::{
    add_to_care_team, id_of, patient_body, portal_account, refuse_audit_rows, register_patient_id,
    user_id, WriteLock,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

async fn log_of(app: &TestApp, token: &str, patient: &str) -> (StatusCode, Value) {
    let path = format!("/patients/{patient}/access-log?page_size=100");
    app.api(Method::GET, &path, Some(token), None).await
}

/// `token`'s read of `patient`'s record, which must succeed.
async fn read_record(app: &TestApp, token: &str, patient: &str) {
    let path = format!("/patients/{patient}");
    let (status, body) = app.api(Method::GET, &path, Some(token), None).await;
    assert_ok(status, &body, StatusCode::OK);
}

fn has(entries: &Value, username: &str, role: &str, action: &str) -> bool {
    entries["data"].as_array().unwrap().iter().any(|e| {
        e["actor_username"] == username
            && e["actor_role"] == role
            && e["action"] == action
            && e["outcome"] == "success"
            && e["at"].as_str().is_some_and(|t| !t.is_empty())
    })
}

/// A hospital with Anna registered by the receptionist: the admin's,
/// receptionist's and doctor's tokens, the doctor's id and Anna's.
struct Ward {
    app: TestApp,
    admin: String,
    reception: String,
    doctor: String,
    doctor_id: String,
    anna: String,
}

async fn ward() -> Ward {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let anna = register_patient_id(
        &app,
        &reception,
        patient_body("Anna", "Lindqvist", "1984-02-14"),
    )
    .await;
    Ward {
        app,
        admin,
        reception,
        doctor,
        doctor_id,
        anna,
    }
}

#[tokio::test]
async fn a_doctors_read_shows_in_the_patients_own_access_log() {
    let Ward {
        app,
        admin,
        reception,
        doctor,
        doctor_id,
        anna,
    } = ward().await;
    let bert = register_patient_id(
        &app,
        &reception,
        patient_body("Bert", "Oyelaran", "1972-09-09"),
    )
    .await;
    add_to_care_team(&app, &admin, &anna, &doctor_id).await;
    portal_account(&app, &reception, &anna, "anna.portal").await;
    portal_account(&app, &reception, &bert, "bert.portal").await;
    let anna_token = app.login("anna.portal", STRONG_PASSWORD).await;
    let bert_token = app.login("bert.portal", STRONG_PASSWORD).await;

    // Before the doctor looks, the log shows no doctor.
    let (status, log) = log_of(&app, &anna_token, &anna).await;
    assert_ok(status, &log, StatusCode::OK);
    assert!(!has(&log, "doctor", "doctor", "patient.read"), "{log}");
    assert!(
        has(&log, "reception", "reception", "patient.create"),
        "{log}"
    );

    read_record(&app, &doctor, &anna).await;
    let (status, body) = app.api(Method::GET, "/patients", Some(&doctor), None).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(id_of(&body["data"][0]), anna);

    for token in [&anna_token, &admin] {
        let (status, log) = log_of(&app, token, &anna).await;
        assert_ok(status, &log, StatusCode::OK);
        assert!(has(&log, "doctor", "doctor", "patient.read"), "{log}");
        assert!(has(&log, "doctor", "doctor", "patient.list"), "{log}");
        assert!(has(&log, "hadmin", "admin", "care_team.add"), "{log}");
        assert!(
            has(
                &log,
                "reception",
                "reception",
                "patient.portal_enrolment.issue"
            ),
            "{log}"
        );
        let doctor_entry = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "patient.read")
            .unwrap();
        assert_eq!(doctor_entry["actor_id"], doctor_id.as_str());
    }
    // Reading the log is itself in the log, newest first.
    let (_, log) = log_of(&app, &anna_token, &anna).await;
    assert_eq!(log["data"][0]["action"], "patient.access_log.read", "{log}");
    assert_eq!(log["data"][0]["actor_username"], "anna.portal");
    let (_, log) = log_of(&app, &admin, &anna).await;
    assert_eq!(log["data"][0]["actor_username"], "hadmin");
    // Bert's log has none of Anna's entries.
    let (status, log) = log_of(&app, &admin, &bert).await;
    assert_ok(status, &log, StatusCode::OK);
    assert!(!has(&log, "doctor", "doctor", "patient.read"), "{log}");

    // Nobody else reads it: staff get 403, the other patient 404.
    for token in [&reception, &doctor, &app.login("nurse", "nurse123").await] {
        let (status, body) = log_of(&app, token, &anna).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, body) = log_of(&app, &bert_token, &anna).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = log_of(&app, &anna_token, &bert).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{anna}/access-log"),
            None,
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    // Bert's attempt on Anna's log is not an access of Anna's record.
    let (_, log) = log_of(&app, &admin, &anna).await;
    let actors: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor_username"].as_str().unwrap_or("?"))
        .collect();
    assert!(!actors.contains(&"bert.portal"), "{actors:?}");

    // Pages carry meta.
    let (status, page) = app
        .api(
            Method::GET,
            &format!("/patients/{anna}/access-log?page_size=2"),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &page, StatusCode::OK);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["meta"]["total"].as_i64().unwrap() > 2, "{page}");
}

#[tokio::test]
async fn a_read_answers_only_after_its_access_log_row_is_written_and_never_without_it() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let body = patient_body("Wanda", "Waitingford", "1980-02-02");
    let id = register_patient_id(&app, &admin, body).await;
    let path = format!("/patients/{id}");

    // While no audit row can be written, the record does not leave.
    let lock = WriteLock::hold(&app);
    let mut read = std::pin::pin!(app.api(Method::GET, &path, Some(&admin), None));
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), &mut read)
            .await
            .is_err(),
        "the record was answered before its access-log row was written"
    );
    lock.release();
    let (status, body) = read.await;
    assert_ok(status, &body, StatusCode::OK);
    let last = app.audit_rows().await.pop().expect("an audit row");
    assert_eq!(
        (last.action.as_str(), last.resource.as_str()),
        ("patient.read", format!("patient:{id}").as_str())
    );

    // If the row cannot be written at all, the caller gets an error and
    // none of the data: the record, the list, its care team, its log.
    refuse_audit_rows(&app).await;
    for read in [
        path.clone(),
        "/patients?page_size=100".to_string(),
        "/patients?search=Waitingford".to_string(),
        format!("{path}/care-team"),
        format!("{path}/access-log"),
    ] {
        let (status, body) = app.api(Method::GET, &read, Some(&admin), None).await;
        assert!(status.is_server_error(), "{read}: {status} {body}");
        assert_eq!(body["success"], false, "{read}: {body}");
        assert!(
            !body.to_string().contains("Waitingford") && body.get("data").is_none(),
            "{read} answered data without its audit row: {body}"
        );
    }
}

/// The log pages newest first, each page the next rows after the one
/// before (the page's rows are found by their keys first, then read:
/// `audit::list`). Each look at the log is itself its newest row, so page
/// `p`, asked after `p` looks since the whole log was read, is that log
/// shifted down by `p`.
#[tokio::test]
async fn a_patients_access_log_pages_newest_first_without_gaps_or_repeats() {
    let Ward {
        app,
        admin,
        doctor,
        doctor_id,
        anna,
        ..
    } = ward().await;
    add_to_care_team(&app, &admin, &anna, &doctor_id).await;
    for _ in 0..12 {
        read_record(&app, &doctor, &anna).await;
    }
    let (status, whole) = log_of(&app, &admin, &anna).await;
    assert_ok(status, &whole, StatusCode::OK);
    let whole = whole["data"].as_array().unwrap().clone();
    // Registered, added to the care team, 12 reads, this look.
    assert_eq!(whole.len(), 15, "{whole:?}");
    let at = |e: &Value| e["at"].as_str().unwrap_or_default().to_string();
    assert!(
        whole.windows(2).all(|w| at(&w[0]) >= at(&w[1])),
        "newest first: {whole:?}"
    );
    assert_eq!(whole[0]["action"], "patient.access_log.read");
    assert_eq!(whole[1]["action"], "patient.read");
    let size = 5;
    // Page 4 is the last (partly full), page 5 lies past the end: empty,
    // its total still counted.
    for p in 1..=5_usize {
        let (status, page) = app
            .api(
                Method::GET,
                &format!("/patients/{anna}/access-log?page={p}&page_size={size}"),
                Some(&admin),
                None,
            )
            .await;
        assert_ok(status, &page, StatusCode::OK);
        assert_eq!(page["meta"]["total"], whole.len() + p, "{page}");
        let rows = page["data"].as_array().unwrap();
        // The last page holds what is left.
        let left = (whole.len() + p).saturating_sub((p - 1) * size);
        assert_eq!(rows.len(), left.min(size), "{page}");
        for (row, i) in rows.iter().zip((p - 1) * size..) {
            if i < p {
                // One of the looks since.
                assert_eq!(row["action"], "patient.access_log.read", "page {p}: {page}");
                assert_eq!(row["actor_username"], "hadmin", "page {p}: {page}");
            } else {
                assert_eq!(row, &whole[i - p], "page {p} row {i}: {page}");
            }
        }
    }
}
