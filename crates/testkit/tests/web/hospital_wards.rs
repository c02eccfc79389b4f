//! The wards page: the admin adds a room and its beds, reception admits to
//! a free bed (a taken bed is refused with the page again), the doctor on
//! the care team sees the reason and discharges with a summary; occupancy
//! for those who may see it; through the API's functions.

use reqwest::StatusCode;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::spawn;

use crate::client::Browser;

/// The first `value` after `marker` in `body`.
fn value_after(body: &str, marker: &str) -> String {
    body.split(marker)
        .nth(1)
        .and_then(|s| s.split("value=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("nothing after {marker}: {body}"))
        .to_string()
}

#[tokio::test]
async fn rooms_beds_admission_and_discharge_on_the_wards_page() {
    let app = spawn(testkit::Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &admin, patient_body("Astrid", "Berg", "1950-01-01")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    let other =
        register_patient_id(&app, &admin, patient_body("Other", "Berg", "1951-01-01")).await;

    // The admin: a room, then a bed.
    let mut a = Browser::new(&app);
    a.login_ok("hadmin", "hadmin123", "/home").await;
    assert!(a.get("/home").await.body.contains("href=\"/wards\""));
    let page = a.get("/wards").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Add a room"), "{}", page.body);
    let csrf = page.csrf();
    let department = value_after(&page.body, "id=\"room-department\"");
    let forged = a
        .post(
            "/wards/rooms",
            &[
                ("csrf", "forged"),
                ("name", "East"),
                ("kind", "ward"),
                ("department_id", &department),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let bad = a
        .post(
            "/wards/rooms",
            &[
                ("csrf", &csrf),
                ("name", "East"),
                ("kind", "hall"),
                ("department_id", &department),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let res = a
        .post(
            "/wards/rooms",
            &[
                ("csrf", &csrf),
                ("name", "East"),
                ("kind", "ward"),
                ("department_id", &department),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = a.get("/wards").await;
    let room = page
        .body
        .split("action=\"/wards/rooms/")
        .find_map(|s| s.split_once("/beds\"").map(|(id, _)| id.to_string()))
        .unwrap();
    let res = a
        .post(
            &format!("/wards/rooms/{room}/beds"),
            &[("csrf", &csrf), ("label", "E1")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);

    // Reception admits to the free bed; the same bed again is refused.
    let mut r = Browser::new(&app);
    r.login_ok("reception", "reception123", "/home").await;
    let page = r.get("/wards").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("East"), "{}", page.body);
    let bed = value_after(&page.body, "id=\"bed_id\"");
    let csrf = page.csrf();
    let res = r
        .post(
            "/wards/admit",
            &[
                ("csrf", &csrf),
                ("patient_id", &patient),
                ("bed_id", &bed),
                ("reason", "Hip fracture"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = r
        .post(
            "/wards/admit",
            &[
                ("csrf", &csrf),
                ("patient_id", &other),
                ("bed_id", &bed),
                ("reason", "Hip fracture"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("There is a problem"), "{}", res.body);
    let page = r.get("/wards").await;
    assert!(
        page.body.contains(&format!("href=\"/patients/{patient}\"")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Hip fracture"),
        "reception sees no reason: {}",
        page.body
    );
    assert!(!page.body.contains("Discharge summary"), "{}", page.body);

    // The doctor sees the reason and discharges.
    let mut d = Browser::new(&app);
    d.login_ok("doctor", "doctor123", "/home").await;
    let page = d.get("/wards").await;
    assert!(page.body.contains("Hip fracture"), "{}", page.body);
    let admission = page
        .body
        .split("action=\"/wards/admissions/")
        .find_map(|s| s.split_once("/discharge\"").map(|(id, _)| id.to_string()))
        .unwrap();
    let csrf = page.csrf();
    let res = d
        .post(
            &format!("/wards/admissions/{admission}/discharge"),
            &[("csrf", &csrf), ("summary", "")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    let res = d
        .post(
            &format!("/wards/admissions/{admission}/discharge"),
            &[
                ("csrf", &csrf),
                ("summary", "Mobilised; home with physiotherapy"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let notes = d.get(&format!("/patients/{patient}/notes")).await;
    assert!(
        notes.body.contains("physiotherapy") || notes.body.contains("Discharge summary"),
        "{}",
        notes.body
    );

    // The lab and the pharmacist have no wards page.
    for (user, password) in [("lab", "lab123"), ("pharmacist", "pharmacist123")] {
        let mut b = Browser::new(&app);
        b.login_ok(user, password, "/home").await;
        assert!(
            !b.get("/home").await.body.contains("href=\"/wards\""),
            "{user}"
        );
        assert_eq!(
            b.get("/wards").await.status,
            StatusCode::FORBIDDEN,
            "{user}"
        );
    }
}
