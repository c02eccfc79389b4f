//! Hospital pages share the API's scope and access-log rows.

use reqwest::StatusCode;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::{spawn, Service};

use crate::client::Browser;

#[tokio::test]
async fn reception_registers_a_patient_and_finds_them_by_name() {
    let app = spawn(Service::Hospital).await;
    let mut b = Browser::new(&app);
    b.login_ok("reception", "reception123", "/home").await;
    let home = b.get("/home").await;
    assert!(home.body.contains("href=\"/patients/new\""));
    assert!(
        !home.body.contains("href=\"/audit\""),
        "reception does not read the audit log"
    );
    assert_eq!(b.get("/audit").await.status, StatusCode::FORBIDDEN);
    let departments = b.get("/departments").await;
    assert_eq!(departments.status, StatusCode::OK);
    assert!(departments.body.contains("<caption>Departments</caption>"));
    let form = b.get("/patients/new").await;
    assert_eq!(form.status, StatusCode::OK);
    // Bad input: the form again with the API's message, nothing written.
    let bad = b
        .post(
            "/patients",
            &[
                ("csrf", &form.csrf()),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("date_of_birth", "not a date"),
                ("sex", "female"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("date_of_birth"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"Hopper\""),
        "what was typed is kept"
    );
    let res = b
        .post(
            "/patients",
            &[
                ("csrf", &form.csrf()),
                ("first_name", "Grace"),
                ("last_name", "Hopper"),
                ("date_of_birth", "1946-12-09"),
                ("sex", "female"),
                ("phone", "+44 20 7946 0000"),
                ("email", "grace@example.org"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let chart_path = res.location().to_string();
    let id = chart_path.trim_start_matches("/patients/").to_string();
    let found = b.get("/patients?search=hopper").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found
            .body
            .contains("href=\"/patients\" aria-current=\"page\""),
        "the current task is marked"
    );
    assert!(found.body.contains(&chart_path), "{}", found.body);
    assert!(found.body.contains("Grace Hopper"));
    let chart = b.get(&chart_path).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(chart.body.contains("1946-12-09"));
    assert!(
        chart.body.contains("grace@example.org"),
        "the contact is recorded"
    );
    assert!(
        !chart.body.contains("Allergies"),
        "reception sees no clinical fields"
    );
    let rows = app.audit_rows().await;
    let resource = format!("patient:{id}");
    for action in ["patient.create", "patient.list", "patient.read"] {
        assert!(
            rows.iter()
                .any(|r| r.action == action && r.resource == resource),
            "no {action} row"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_doctor_off_the_team_is_refused_then_breaks_the_glass() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let on_team =
        register_patient_id(&app, &admin, patient_body("Alan", "Turing", "1952-06-23")).await;
    let off_team =
        register_patient_id(&app, &admin, patient_body("Ada", "Lovelace", "1955-12-10")).await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    add_to_care_team(&app, &admin, &on_team, &doctor_id).await;

    let mut b = Browser::new(&app);
    b.login_ok("doctor", "doctor123", "/home").await;
    let chart = b.get(&format!("/patients/{on_team}")).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert!(
        chart.body.contains("Allergies"),
        "a doctor sees clinical fields"
    );
    assert!(chart.body.contains("doctor"), "the care team is shown");
    // The doctor records allergies and a blood type through the API's update.
    let bad = b
        .post(
            &format!("/patients/{on_team}/clinical"),
            &[
                ("csrf", &chart.csrf()),
                ("allergies", ""),
                ("blood_type", "Z+"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let res = b
        .post(
            &format!("/patients/{on_team}/clinical"),
            &[
                ("csrf", &chart.csrf()),
                ("allergies", "penicillin\nlatex"),
                ("blood_type", "O-"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let chart = b.get(&format!("/patients/{on_team}")).await;
    assert!(
        chart.body.contains("penicillin, latex") && chart.body.contains("<dd>O-</dd>"),
        "{}",
        chart.body
    );
    assert!(app
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action == "patient.update"));

    let refused = b.get(&format!("/patients/{off_team}")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        !refused.body.contains("1955-12-10"),
        "nothing of the record leaks"
    );
    assert!(refused.body.contains("Break the glass"));
    let short = b
        .post(
            &format!("/patients/{off_team}/break-glass"),
            &[("csrf", &refused.csrf()), ("reason", "urgent")],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let res = b
        .post(
            &format!("/patients/{off_team}/break-glass"),
            &[
                ("csrf", &refused.csrf()),
                (
                    "reason",
                    "Unconscious in the emergency department, need allergies now",
                ),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let opened = b.get(&format!("/patients/{off_team}")).await;
    assert_eq!(opened.status, StatusCode::OK);
    assert!(opened.body.contains("1955-12-10"));
    let rows = app.audit_rows().await;
    assert!(rows
        .iter()
        .any(|r| r.action == "patient.break_glass" && r.resource == format!("patient:{off_team}")));

    // The admin's review queue shows it and takes the acknowledgement.
    let mut a = Browser::new(&app);
    a.login_ok("hadmin", "hadmin123", "/home").await;
    let queue = a.get("/break-glass").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue
        .body
        .contains("Unconscious in the emergency department"));
    let form_at = queue
        .body
        .find("/acknowledge")
        .expect("an acknowledge form");
    let start = queue.body[..form_at].rfind("/break-glass/").unwrap();
    let path = queue.body[start..form_at + "/acknowledge".len()].to_string();
    let res = a.post(&path, &[("csrf", &queue.csrf())]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(a
        .get("/break-glass")
        .await
        .body
        .contains("Nothing to review"));
    app.stop().await;
}

#[tokio::test]
async fn the_admin_manages_a_care_team_from_the_chart() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let patient = register_patient_id(
        &app,
        &admin,
        patient_body("Rosalind", "Franklin", "1958-04-16"),
    )
    .await;
    let mut a = Browser::new(&app);
    a.login_ok("hadmin", "hadmin123", "/home").await;
    let chart = a.get(&format!("/patients/{patient}")).await;
    assert!(chart.body.contains("Add to the care team"));
    let unknown = a
        .post(
            &format!("/patients/{patient}/care-team"),
            &[("csrf", &chart.csrf()), ("username", "nobody")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("no such user"), "{}", unknown.body);
    let res = a
        .post(
            &format!("/patients/{patient}/care-team"),
            &[("csrf", &chart.csrf()), ("username", "nurse")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // The nurse now sees the chart.
    let mut n = Browser::new(&app);
    n.login_ok("nurse", "nurse123", "/home").await;
    assert_eq!(
        n.get(&format!("/patients/{patient}")).await.status,
        StatusCode::OK
    );
    let nurse_id = user_id(&app, &app.login("nurse", "nurse123").await).await;
    let chart = a.get(&format!("/patients/{patient}")).await;
    let remove = format!("/patients/{patient}/care-team/{nurse_id}/remove");
    assert!(chart.body.contains(&remove));
    let res = a.post(&remove, &[("csrf", &chart.csrf())]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Off the team again: a nurse may break the glass, so the form shows.
    assert_eq!(
        n.get(&format!("/patients/{patient}")).await.status,
        StatusCode::FORBIDDEN
    );
    let rows = app.audit_rows().await;
    for action in ["care_team.add", "care_team.remove"] {
        assert!(rows.iter().any(|r| r.action == action), "no {action} row");
    }
    app.stop().await;
}

#[tokio::test]
async fn reception_gives_a_code_and_the_patient_opens_their_portal_account() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let patient = register_patient_id(
        &app,
        &admin,
        patient_body("Dorothy", "Hodgkin", "1960-05-12"),
    )
    .await;
    let mut r = Browser::new(&app);
    r.login_ok("reception", "reception123", "/home").await;
    let chart = r.get(&format!("/patients/{patient}")).await;
    assert!(chart.body.contains("Give a portal enrolment code"));
    let issued = r
        .post(
            &format!("/patients/{patient}/portal-code"),
            &[("csrf", &chart.csrf())],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let marker = "id=\"enrolment-code\">";
    let at = issued.body.find(marker).unwrap() + marker.len();
    let code = issued.body[at..at + issued.body[at..].find('<').unwrap()].to_string();

    let mut p = Browser::new(&app);
    let form = p.get("/enrol").await;
    assert_eq!(form.status, StatusCode::OK);
    let bad = p
        .post(
            "/enrol",
            &[
                ("csrf", &form.csrf()),
                ("code", "AAAAA-BBBBB"),
                ("username", "dorothy"),
                ("password", testkit::STRONG_PASSWORD),
                ("confirm_password", testkit::STRONG_PASSWORD),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not valid"), "{}", bad.body);
    let form = p.get("/enrol").await;
    let done = p
        .post(
            "/enrol",
            &[
                ("csrf", &form.csrf()),
                ("code", &code),
                ("username", "dorothy"),
                ("password", testkit::STRONG_PASSWORD),
                ("confirm_password", testkit::STRONG_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert!(done.body.contains("dorothy"));
    p.login_ok("dorothy", testkit::STRONG_PASSWORD, "/home")
        .await;
    let mine = p.get("/my-record").await;
    assert_eq!(mine.location(), format!("/patients/{patient}"));
    let log = p.get(&format!("/patients/{patient}/access-log")).await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.body.contains("reception"),
        "the patient sees reception's read"
    );
    let rows = app.audit_rows().await;
    for action in [
        "patient.portal_enrolment.issue",
        "patient.portal_enrolment.redeem",
    ] {
        assert!(rows.iter().any(|r| r.action == action), "no {action} row");
    }
    app.stop().await;
}
