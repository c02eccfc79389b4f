//! The appointments page: reception sees the day and books, checks in and
//! cancels through the API's functions (same checks, same audit rows);
//! roles without appointments are refused.

use chrono::{Datelike, Duration, Utc, Weekday};
use reqwest::StatusCode;
use testkit::hospital::{patient_body, register_patient_id, user_id};
use testkit::{spawn, Service};

use crate::client::Browser;

#[tokio::test]
async fn reception_books_checks_in_and_cancels_on_the_appointments_page() {
    let app = spawn(Service::Hospital).await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient = register_patient_id(
        &app,
        &reception,
        patient_body("Mary", "Seacole", "1965-11-23"),
    )
    .await;
    let other = register_patient_id(
        &app,
        &reception,
        patient_body("Florence", "N", "1960-05-12"),
    )
    .await;
    let mut monday = Utc::now().date_naive() + Duration::days(7);
    while monday.weekday() != Weekday::Mon {
        monday += Duration::days(1);
    }
    let date = monday.to_string();

    let mut b = Browser::new(&app);
    b.login_ok("reception", "reception123", "/home").await;
    assert!(b.get("/home").await.body.contains("href=\"/appointments\""));
    let page = b.get(&format!("/appointments?date={date}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No appointments on this day."));
    assert!(
        page.body.contains(&format!("value=\"{doctor_id}\"")),
        "the doctor is offered"
    );
    let department = page
        .body
        .split("name=\"department_id\"")
        .nth(1)
        .and_then(|s| s.split("value=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let csrf = page.csrf();
    let form = |patient: &str, time: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("patient_id", patient.to_string()),
            ("doctor_id", doctor_id.clone()),
            ("department_id", department.clone()),
            ("date", date.clone()),
            ("time", time.to_string()),
            ("kind", "consultation".to_string()),
            ("reason", "Persistent cough".to_string()),
        ]
    };
    let send = |f: &Vec<(&'static str, String)>| {
        f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let f = send(&form(&patient, "10:00"));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = b.post("/appointments", &pairs).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("/appointments?date={date}"));

    // The same slot again: the page with the API's conflict, what was typed kept.
    let f = send(&form(&other, "10:00"));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let taken = b.post("/appointments", &pairs).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(
        taken.body.contains("already has an appointment"),
        "{}",
        taken.body
    );
    assert!(taken.body.contains(&format!("value=\"{other}\"")));
    // Off the slot grid.
    let f = send(&form(&other, "10:10"));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bad = b.post("/appointments", &pairs).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("slot boundary"), "{}", bad.body);
    // Without the CSRF token: refused.
    let mut f = send(&form(&other, "11:00"));
    f[0].1 = "forged".into();
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        b.post("/appointments", &pairs).await.status,
        StatusCode::FORBIDDEN
    );

    let day = b.get(&format!("/appointments?date={date}")).await;
    assert!(
        day.body.contains(&format!("href=\"/patients/{patient}\"")),
        "{}",
        day.body
    );
    assert!(day.body.contains("<td>10:00</td>"));
    assert!(
        !day.body.contains("Persistent cough"),
        "reception sees no clinical text"
    );
    let id = day
        .body
        .split("/appointments/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    let res = b
        .post(
            &format!("/appointments/{id}/check-in"),
            &[("csrf", &csrf), ("date", &date)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(b
        .get(&format!("/appointments?date={date}"))
        .await
        .body
        .contains("checked in"));
    // A checked-in visit is not cancelled.
    let res = b
        .post(
            &format!("/appointments/{id}/cancel"),
            &[("csrf", &csrf), ("date", &date), ("reason", "Changed mind")],
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);

    let actions: Vec<String> = app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r.resource == format!("patient:{patient}") && r.action.starts_with("appointment.")
        })
        .map(|r| r.action)
        .collect();
    assert!(
        actions.starts_with(&["appointment.book".to_string()]),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"appointment.read".to_string()),
        "the day's list is on the access log"
    );
    assert!(actions.contains(&"appointment.check_in".to_string()));

    // Lab has no appointments.
    let mut lab = Browser::new(&app);
    lab.login_ok("lab", "lab123", "/home").await;
    assert!(!lab
        .get("/home")
        .await
        .body
        .contains("href=\"/appointments\""));
    assert_eq!(lab.get("/appointments").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_doctor_completes_their_checked_in_appointment_on_the_page() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let patient =
        register_patient_id(&app, &reception, patient_body("Jo", "March", "1970-03-03")).await;
    let (_, depts) = app
        .api(reqwest::Method::GET, "/departments", Some(&admin), None)
        .await;
    let dept = depts["data"][0]["id"].as_str().unwrap().to_string();
    let mut monday = Utc::now().date_naive() + Duration::days(7);
    while monday.weekday() != Weekday::Mon {
        monday += Duration::days(1);
    }
    let body = serde_json::json!({
        "patient_id": patient, "doctor_id": doctor_id, "department_id": dept,
        "starts_at": format!("{monday}T09:30:00Z"), "type": "follow_up",
    });
    let (status, a) = app
        .api(
            reqwest::Method::POST,
            "/appointments",
            Some(&reception),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let id = a["data"]["id"].as_str().unwrap().to_string();

    let mut b = Browser::new(&app);
    b.login_ok("doctor", "doctor123", "/home").await;
    let page = b.get(&format!("/appointments?date={monday}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<td>09:30</td>"), "{}", page.body);
    assert!(
        !page.body.contains("Book an appointment"),
        "doctors do not book here"
    );
    assert!(!page.body.contains("/complete"), "not checked in yet");
    let (status, _) = app
        .api(
            reqwest::Method::POST,
            &format!("/appointments/{id}/check-in"),
            Some(&reception),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let page = b.get(&format!("/appointments?date={monday}")).await;
    assert!(page.body.contains(&format!("/appointments/{id}/complete")));
    let date = monday.to_string();
    let res = b
        .post(
            &format!("/appointments/{id}/complete"),
            &[
                ("csrf", &page.csrf()),
                ("date", &date),
                ("notes", "Healing well"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let (_, a) = app
        .api(
            reqwest::Method::GET,
            &format!("/appointments/{id}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(a["data"]["status"], "completed");
    assert_eq!(a["data"]["notes"], "Healing well");
}

#[tokio::test]
async fn a_patient_sees_and_cancels_their_own_appointments_on_the_portal() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let mine =
        register_patient_id(&app, &reception, patient_body("Ida", "Self", "1981-01-01")).await;
    let other =
        register_patient_id(&app, &reception, patient_body("Otto", "Else", "1982-02-02")).await;
    testkit::hospital::portal_account(&app, &reception, &mine, "ida").await;
    let (_, depts) = app
        .api(reqwest::Method::GET, "/departments", Some(&admin), None)
        .await;
    let dept = depts["data"][0]["id"].as_str().unwrap().to_string();
    let mut monday = Utc::now().date_naive() + Duration::days(7);
    while monday.weekday() != Weekday::Mon {
        monday += Duration::days(1);
    }
    let mut ids = Vec::new();
    for (p, time) in [(&mine, "11:00"), (&other, "11:30")] {
        let body = serde_json::json!({
            "patient_id": p, "doctor_id": doctor_id, "department_id": dept,
            "starts_at": format!("{monday}T{time}:00Z"), "type": "consultation", "reason": "Sore knee",
        });
        let (status, a) = app
            .api(
                reqwest::Method::POST,
                "/appointments",
                Some(&reception),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        ids.push(a["data"]["id"].as_str().unwrap().to_string());
    }

    let mut b = Browser::new(&app);
    b.login_ok("ida", testkit::STRONG_PASSWORD, "/home").await;
    assert!(b
        .get("/home")
        .await
        .body
        .contains("href=\"/my-appointments\""));
    let page = b.get("/my-appointments").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("{monday} 11:00")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Sore knee"),
        "the patient reads their own reason"
    );
    assert!(
        !page.body.contains("11:30"),
        "another patient's appointment is not shown"
    );
    // The day view holds their own only, and no booking form.
    let day = b.get(&format!("/appointments?date={monday}")).await;
    assert_eq!(day.status, StatusCode::OK);
    assert!(
        day.body.contains(&mine) && !day.body.contains(&other),
        "{}",
        day.body
    );
    assert!(!day.body.contains("Book an appointment"));
    // Another patient's appointment: absent.
    let res = b
        .post(
            &format!("/my-appointments/{}/cancel", ids[1]),
            &[("csrf", &page.csrf()), ("reason", "Not mine")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = b
        .post(
            &format!("/my-appointments/{}/cancel", ids[0]),
            &[("csrf", &page.csrf()), ("reason", "Knee is better")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(b.get("/my-appointments").await.body.contains("cancelled"));
    let (_, a) = app
        .api(
            reqwest::Method::GET,
            &format!("/appointments/{}", ids[1]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a["data"]["status"], "booked");

    // Staff have no portal list.
    let mut nurse = Browser::new(&app);
    nurse.login_ok("nurse", "nurse123", "/home").await;
    assert_eq!(
        nurse.get("/my-appointments").await.status,
        StatusCode::FORBIDDEN
    );
}
