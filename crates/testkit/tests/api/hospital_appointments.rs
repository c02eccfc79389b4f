//! Appointments: booking within a doctor's working hours, the visit's life
//! (reschedule, check-in, complete, cancel, no-show), free slots, time
//! off, the database refusing overlaps (also under 20 concurrent bookings
//! of one slot), sealed clinical text, the patient's access log, bad input
//! and another tenant's ids.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, id_of, ids, login_in, patient_body, portal_account,
    register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

/// A Monday at least a week ahead (UTC = the hospital's default zone).
pub fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(7);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

/// The `n`th 30-minute slot of the default week from [`next_monday`]:
/// 16 a day, Monday to Friday. RFC 3339 UTC.
pub fn slot(n: usize) -> String {
    let (day, index) = (n / 16, n % 16);
    let date = next_monday() + Duration::days((day / 5 * 7 + day % 5) as i64);
    let t = date.and_hms_opt(9, 0, 0).unwrap() + Duration::minutes(30 * index as i64);
    format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// A booking body.
pub fn booking(patient: &str, doctor: &str, department: &str, starts_at: &str) -> Value {
    json!({
        "patient_id": patient,
        "doctor_id": doctor,
        "department_id": department,
        "starts_at": starts_at,
        "type": "consultation",
        "reason": "Recurring migraine with aura",
    })
}

/// The first department of the tenant.
pub async fn department(app: &TestApp, token: &str) -> String {
    let (status, reply) = app
        .api(Method::GET, "/departments", Some(token), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    id_of(&reply["data"][0])
}

/// Book as `token`; panics unless 201. Returns the appointment.
pub async fn book(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, reply) = app
        .api(Method::POST, "/appointments", Some(token), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"].clone()
}

struct Clinic {
    app: TestApp,
    admin: String,
    reception: String,
    doctor: String,
    doctor_id: String,
    department: String,
}

impl Clinic {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let reception = app.login("reception", "reception123").await;
        let doctor = app.login("doctor", "doctor123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let department = department(&app, &admin).await;
        Self {
            app,
            admin,
            reception,
            doctor,
            doctor_id,
            department,
        }
    }

    async fn patient(&self, last: &str) -> String {
        register_patient_id(
            &self.app,
            &self.reception,
            patient_body("Ada", last, "1970-01-01"),
        )
        .await
    }

    async fn post(&self, token: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app.api(Method::POST, path, Some(token), body).await
    }

    async fn free(&self, date: NaiveDate) -> Vec<String> {
        let path = format!("/doctors/{}/slots?date={date}", self.doctor_id);
        let (status, reply) = self
            .app
            .api(Method::GET, &path, Some(&self.reception), None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["starts_at"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn an_appointment_is_booked_moved_checked_in_and_completed_and_its_text_is_sealed() {
    let c = Clinic::new().await;
    let patient = c.patient("Lovelace").await;
    let monday = next_monday();
    assert_eq!(
        c.free(monday).await.len(),
        16,
        "the default day: 09:00 to 17:00 in 30 minutes"
    );

    let a = book(
        &c.app,
        &c.reception,
        booking(&patient, &c.doctor_id, &c.department, &slot(0)),
    )
    .await;
    let id = id_of(&a);
    assert_eq!(a["status"], "booked");
    assert_eq!(a["type"], "consultation");
    assert_eq!(a["starts_at"], slot(0));
    assert_eq!(a["ends_at"], slot(1));
    // Reception books with a reason but never reads clinical text.
    assert_eq!(a["reason"], Value::Null);
    let free = c.free(monday).await;
    assert_eq!(free.len(), 15);
    assert!(!free.contains(&slot(0)));

    // Reschedule: the old slot is free again, the new one taken.
    let (status, moved) = c
        .post(
            &c.reception,
            &format!("/appointments/{id}/reschedule"),
            Some(json!({ "starts_at": slot(3) })),
        )
        .await;
    assert_ok(status, &moved, StatusCode::OK);
    assert_eq!(moved["data"]["starts_at"], slot(3));
    let free = c.free(monday).await;
    assert!(
        free.contains(&slot(0)) && !free.contains(&slot(3)),
        "{free:?}"
    );

    // Completing needs a check-in first.
    let complete = format!("/appointments/{id}/complete");
    let notes = json!({ "notes": "Prescribed rest; review in two weeks" });
    let (status, reply) = c.post(&c.doctor, &complete, Some(notes.clone())).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = c
        .post(&c.reception, &format!("/appointments/{id}/check-in"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "checked_in");
    let (status, reply) = c.post(&c.doctor, &complete, Some(notes)).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "completed");
    assert_eq!(
        reply["data"]["notes"],
        "Prescribed rest; review in two weeks"
    );
    assert_eq!(reply["data"]["reason"], "Recurring migraine with aura");
    // Done is done.
    for (token, action) in [
        (&c.reception, "cancel"),
        (&c.reception, "no-show"),
        (&c.doctor, "complete"),
    ] {
        let body = (action == "cancel").then(|| json!({ "reason": "Patient asked" }));
        let (status, reply) = c
            .post(token, &format!("/appointments/{id}/{action}"), body)
            .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    }
    // A completed visit keeps its time.
    assert!(!c.free(monday).await.contains(&slot(3)));

    // The doctor reads the notes; reception sees the appointment without them.
    let path = format!("/appointments/{id}");
    let (status, reply) = c.app.api(Method::GET, &path, Some(&c.doctor), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(
        reply["data"]["notes"],
        "Prescribed rest; review in two weeks"
    );
    let (status, reply) = c
        .app
        .api(Method::GET, &path, Some(&c.reception), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["notes"], Value::Null);
    assert_eq!(reply["data"]["reason"], Value::Null);

    // Clinical text is stored only as ciphertext.
    let stored = stored_bytes(&c.app);
    for plain in ["Recurring migraine", "Prescribed rest"] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }

    // Every step is on the patient's record, reads included.
    let actions: Vec<String> = c
        .app
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| {
            r.resource == format!("patient:{patient}") && r.action.starts_with("appointment.")
        })
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "appointment.book",
            "appointment.reschedule",
            "appointment.check_in",
            "appointment.complete",
            "appointment.read",
            "appointment.read"
        ]
    );
    let (status, log) = c
        .app
        .api(
            Method::GET,
            &format!("/patients/{patient}/access-log"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_ok(status, &log, StatusCode::OK);
    let logged: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        logged.contains(&"appointment.read") && logged.contains(&"appointment.book"),
        "{logged:?}"
    );
    assert!(c.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn cancelling_and_no_show_give_the_time_back_and_a_cancellation_needs_a_reason() {
    let c = Clinic::new().await;
    let p1 = c.patient("One").await;
    let p2 = c.patient("Two").await;
    let a = id_of(
        &book(
            &c.app,
            &c.reception,
            booking(&p1, &c.doctor_id, &c.department, &slot(4)),
        )
        .await,
    );

    // Taken: the doctor is busy, and so is the patient with another doctor.
    let (status, reply) = c
        .post(
            &c.reception,
            "/appointments",
            Some(booking(&p2, &c.doctor_id, &c.department, &slot(4))),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("doctor"),
        "{reply}"
    );
    c.app.create_user(&c.admin, "doctor-two", "doctor").await;
    let two = c.app.login("doctor-two", STRONG_PASSWORD).await;
    let two_id = user_id(&c.app, &two).await;
    let (status, reply) = c
        .post(
            &c.reception,
            "/appointments",
            Some(booking(&p1, &two_id, &c.department, &slot(4))),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("patient"),
        "{reply}"
    );

    for bad in [
        json!({}),
        json!({ "reason": "" }),
        json!({ "reason": "no" }),
        json!({ "reason": "x".repeat(501) }),
    ] {
        let (status, reply) = c
            .post(
                &c.reception,
                &format!("/appointments/{a}/cancel"),
                Some(bad),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = c
        .post(
            &c.reception,
            &format!("/appointments/{a}/cancel"),
            Some(json!({ "reason": "Patient is travelling" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "cancelled");
    let (status, reply) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments/{a}"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["cancel_reason"], "Patient is travelling");

    // The slot is free for someone else, who then does not come.
    let b = id_of(
        &book(
            &c.app,
            &c.reception,
            booking(&p2, &c.doctor_id, &c.department, &slot(4)),
        )
        .await,
    );
    let (status, reply) = c
        .post(&c.reception, &format!("/appointments/{b}/no-show"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "no_show");
    book(
        &c.app,
        &c.reception,
        booking(&p1, &c.doctor_id, &c.department, &slot(4)),
    )
    .await;

    // Lists: by doctor and day, by patient, by department, by status; paginated.
    let day = next_monday();
    let (status, list) = c
        .app
        .api(
            Method::GET,
            &format!(
                "/appointments?doctor_id={}&date={day}&page_size=2",
                c.doctor_id
            ),
            Some(&c.reception),
            None,
        )
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 3);
    assert_eq!(ids(&list).len(), 2);
    let (_, list) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments?patient_id={p2}"),
            Some(&c.reception),
            None,
        )
        .await;
    assert_eq!(ids(&list), [b.as_str()]);
    let (_, list) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments?department_id={}&status=booked", c.department),
            Some(&c.reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 1);
    let (_, list) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments?date={}", day + Duration::days(1)),
            Some(&c.reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 0);
}

#[tokio::test]
async fn exactly_one_of_twenty_parallel_bookings_of_one_slot_wins() {
    let c = Clinic::new().await;
    let mut patients = Vec::new();
    for i in 0..20 {
        patients.push(c.patient(&format!("Racer{i}")).await);
    }
    let app = std::sync::Arc::new(c.app);
    let mut tasks = tokio::task::JoinSet::new();
    for p in &patients {
        let (app, token, body) = (
            app.clone(),
            c.reception.clone(),
            booking(p, &c.doctor_id, &c.department, &slot(7)),
        );
        tasks.spawn(async move {
            app.api(Method::POST, "/appointments", Some(&token), Some(body))
                .await
        });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (status, reply) = done.unwrap();
        if status == StatusCode::CREATED {
            won += 1;
        } else {
            assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
            lost += 1;
        }
    }
    assert_eq!((won, lost), (1, 19));

    // One patient, 20 doctors' same slot at once: one wins too.
    let admin = c.admin.clone();
    let mut doctors = Vec::new();
    for i in 0..20 {
        let id = app.create_user(&admin, &format!("doc-{i}"), "doctor").await;
        doctors.push(id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for d in &doctors {
        let (app, token, body) = (
            app.clone(),
            c.reception.clone(),
            booking(&patients[0], d, &c.department, &slot(9)),
        );
        tasks.spawn(async move {
            app.api(Method::POST, "/appointments", Some(&token), Some(body))
                .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = tasks.join_next().await {
        statuses.push(done.unwrap().0.as_u16());
    }
    statuses.sort_unstable();
    let mut want = vec![409; 19];
    want.insert(0, 201);
    assert_eq!(statuses, want);

    let (_, list) = app
        .api(
            Method::GET,
            &format!("/appointments?date={}&page_size=100", next_monday()),
            Some(&c.reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 2);
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn the_database_itself_refuses_a_second_holder_of_a_granule() {
    let c = Clinic::new().await;
    let p = c.patient("Held").await;
    let a = id_of(
        &book(
            &c.app,
            &c.reception,
            booking(&p, &c.doctor_id, &c.department, &slot(2)),
        )
        .await,
    );
    let start = slot(2).replace('T', " ").replace('Z', "");
    let sql = format!(
        "INSERT INTO appointment_granules (tenant_id, holder, granule_start, appointment_id) \
         SELECT tenant_id, 'doctor:{}', '{start}', '{a}' FROM appointments WHERE id = '{a}'",
        c.doctor_id
    );
    let refused = c.app.sql(&sql).await;
    assert!(refused.is_err(), "a duplicate granule was accepted");
}

#[tokio::test]
async fn bookings_outside_the_doctors_hours_or_badly_written_are_refused() {
    let c = Clinic::new().await;
    let p = c.patient("Edge").await;
    let monday = next_monday();
    let at =
        |h: u32, m: u32, days: i64| format!("{}T{h:02}:{m:02}:00Z", monday + Duration::days(days));
    let (nurse_token, nurse_id) = {
        let t = c.app.login("nurse", "nurse123").await;
        let id = user_id(&c.app, &t).await;
        (t, id)
    };
    let _ = nurse_token;
    let mut bad: Vec<(&str, Value)> = vec![
        ("past", json!("2020-01-06T09:00:00Z")),
        ("not on a slot boundary", json!(at(9, 10, 0))),
        ("before hours", json!(at(8, 30, 0))),
        ("ends after hours", json!(at(16, 45, 0))),
        ("at closing", json!(at(17, 0, 0))),
        ("23:59", json!(at(23, 59, 0))),
        ("saturday", json!(at(10, 0, 5))),
        ("sunday", json!(at(10, 0, 6))),
        ("seconds", json!(format!("{monday}T09:00:30Z"))),
        ("no offset", json!(format!("{monday}T09:00:00"))),
        ("a date only", json!(format!("{monday}"))),
        ("nonsense", json!("next tuesday")),
        ("empty", json!("")),
        ("a number", json!(1_700_000_000)),
    ];
    // An offset is honoured: 10:00+01:00 is 09:00 UTC, a slot.
    let ok = book(
        &c.app,
        &c.reception,
        booking(
            &p,
            &c.doctor_id,
            &c.department,
            &format!("{monday}T10:00:00+01:00"),
        ),
    )
    .await;
    assert_eq!(ok["starts_at"], format!("{monday}T09:00:00Z"));
    bad.push((
        "taken, written with an offset",
        json!(format!("{monday}T04:00:00-05:00")),
    ));
    for (what, starts_at) in bad {
        let mut body = booking(&p, &c.doctor_id, &c.department, "");
        body["starts_at"] = starts_at;
        let (status, reply) = c.post(&c.reception, "/appointments", Some(body)).await;
        assert!(status.is_client_error(), "{what}: {reply}");
        if what.starts_with("taken") {
            assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
        } else {
            assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        }
    }
    let fields: Vec<(&str, Value)> = vec![
        ("doctor_id", json!(nurse_id)),
        ("doctor_id", json!(uuid::Uuid::new_v4().to_string())),
        ("doctor_id", json!("")),
        ("department_id", json!(uuid::Uuid::new_v4().to_string())),
        ("type", json!("surgery")),
        ("type", Value::Null),
        ("reason", json!("x".repeat(1001))),
        ("unexpected", json!(1)),
    ];
    for (field, value) in fields {
        let mut body = booking(&p, &c.doctor_id, &c.department, &slot(5));
        body[field] = value;
        let (status, reply) = c.post(&c.reception, "/appointments", Some(body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // An unknown patient is absent.
    let body = booking(
        &uuid::Uuid::new_v4().to_string(),
        &c.doctor_id,
        &c.department,
        &slot(5),
    );
    let (status, reply) = c.post(&c.reception, "/appointments", Some(body)).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Bad list filters.
    for q in [
        "date=2027-13-01",
        "date=0001-01-01",
        "date=+262143-12-31",
        "date=2027-1-1",
        "date=tomorrow",
        "status=lost",
        "doctor_id=",
        "color=red",
        "page_size=101",
    ] {
        let (status, reply) = c
            .app
            .api(
                Method::GET,
                &format!("/appointments?{q}"),
                Some(&c.reception),
                None,
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Nothing of that was booked.
    let (_, list) = c
        .app
        .api(Method::GET, "/appointments", Some(&c.reception), None)
        .await;
    assert_eq!(list["meta"]["total"], 1);
}

#[tokio::test]
async fn a_doctors_week_and_time_off_decide_the_slots() {
    let c = Clinic::new().await;
    let p = c.patient("Weekly").await;
    let monday = next_monday();
    let path = format!("/doctors/{}/schedule", c.doctor_id);
    let (status, week) = c
        .app
        .api(Method::GET, &path, Some(&c.reception), None)
        .await;
    assert_ok(status, &week, StatusCode::OK);
    assert_eq!(week["data"]["default"], true);
    assert_eq!(week["data"]["time_zone"], "UTC");
    assert_eq!(week["data"]["days"].as_array().unwrap().len(), 5);

    // Saturdays only, 10:00 to 12:00 in 20-minute slots.
    let saturday = json!({ "days": [{ "weekday": "saturday", "start": "10:00", "end": "12:00", "slot_minutes": 20 }] });
    let (status, week) = c
        .app
        .api(Method::PUT, &path, Some(&c.admin), Some(saturday))
        .await;
    assert_ok(status, &week, StatusCode::OK);
    assert_eq!(week["data"]["default"], false);
    assert!(c.free(monday).await.is_empty());
    let sat = monday + Duration::days(5);
    assert_eq!(
        c.free(sat).await,
        ["10:00", "10:20", "10:40", "11:00", "11:20", "11:40"].map(|t| format!("{sat}T{t}:00Z"))
    );
    let (status, reply) = c
        .post(
            &c.reception,
            "/appointments",
            Some(booking(&p, &c.doctor_id, &c.department, &slot(0))),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    book(
        &c.app,
        &c.reception,
        booking(&p, &c.doctor_id, &c.department, &format!("{sat}T10:20:00Z")),
    )
    .await;

    for bad in [
        json!({ "days": [] }),
        json!({ "days": [{ "weekday": "caturday", "start": "10:00", "end": "12:00", "slot_minutes": 20 }] }),
        json!({ "days": [{ "weekday": "monday", "start": "10:03", "end": "12:00", "slot_minutes": 20 }] }),
        json!({ "days": [{ "weekday": "monday", "start": "12:00", "end": "10:00", "slot_minutes": 20 }] }),
        json!({ "days": [{ "weekday": "monday", "start": "10:00", "end": "24:05", "slot_minutes": 20 }] }),
        json!({ "days": [{ "weekday": "monday", "start": "10:00", "end": "12:00", "slot_minutes": 7 }] }),
        json!({ "days": [{ "weekday": "monday", "start": "10:00", "end": "10:15", "slot_minutes": 20 }] }),
        json!({ "days": [
            { "weekday": "monday", "start": "10:00", "end": "12:00", "slot_minutes": 20 },
            { "weekday": "monday", "start": "13:00", "end": "14:00", "slot_minutes": 20 }] }),
    ] {
        let (status, reply) = c
            .app
            .api(Method::PUT, &path, Some(&c.admin), Some(bad))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Time off over the booked appointment is refused until it is moved.
    let off = format!("/doctors/{}/time-off", c.doctor_id);
    let period = json!({ "starts_at": format!("{sat}T10:00:00Z"), "ends_at": format!("{sat}T11:00:00Z"), "reason": "Conference" });
    let (status, reply) = c.post(&c.admin, &off, Some(period.clone())).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let later = json!({ "starts_at": format!("{sat}T11:00:00Z"), "ends_at": format!("{sat}T12:00:00Z"), "reason": "Conference" });
    let (status, reply) = c.post(&c.admin, &off, Some(later)).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let time_off = id_of(&reply["data"]);
    assert_eq!(
        c.free(sat).await,
        [format!("{sat}T10:00:00Z"), format!("{sat}T10:40:00Z")]
    );
    let p2 = c.patient("Blocked").await;
    let (status, reply) = c
        .post(
            &c.reception,
            "/appointments",
            Some(booking(
                &p2,
                &c.doctor_id,
                &c.department,
                &format!("{sat}T11:20:00Z"),
            )),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, list) = c.app.api(Method::GET, &off, Some(&c.doctor), None).await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 1);
    let (status, reply) = c
        .app
        .api(
            Method::DELETE,
            &format!("{off}/{time_off}"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(c.free(sat).await.len(), 5);
    for bad in [
        json!({ "starts_at": format!("{sat}T12:00:00Z"), "ends_at": format!("{sat}T11:00:00Z"), "reason": "Backwards" }),
        json!({ "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z", "reason": "Past" }),
        json!({ "starts_at": format!("{sat}T12:00:00Z"), "ends_at": format!("{sat}T13:00:00Z"), "reason": "" }),
    ] {
        let (status, reply) = c.post(&c.admin, &off, Some(bad)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Not a doctor: absent.
    let nurse = c.app.login("nurse", "nurse123").await;
    let nurse_id = user_id(&c.app, &nurse).await;
    for path in [
        format!("/doctors/{nurse_id}/schedule"),
        format!("/doctors/{nurse_id}/slots?date={sat}"),
    ] {
        let (status, reply) = c
            .app
            .api(Method::GET, &path, Some(&c.reception), None)
            .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

#[tokio::test]
async fn a_patient_books_and_cancels_their_own_and_a_doctor_books_for_their_care_team() {
    let c = Clinic::new().await;
    let mine = c.patient("Portal").await;
    let other = c.patient("Other").await;
    portal_account(&c.app, &c.reception, &mine, "portal-appt").await;
    let me = c.app.login("portal-appt", STRONG_PASSWORD).await;
    let a = book(
        &c.app,
        &me,
        booking(&mine, &c.doctor_id, &c.department, &slot(1)),
    )
    .await;
    assert_eq!(
        a["reason"], "Recurring migraine with aura",
        "the patient reads their own reason"
    );
    let (status, reply) = c
        .post(
            &me,
            "/appointments",
            Some(booking(&other, &c.doctor_id, &c.department, &slot(2))),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let b = id_of(
        &book(
            &c.app,
            &c.reception,
            booking(&other, &c.doctor_id, &c.department, &slot(2)),
        )
        .await,
    );
    let (_, list) = c
        .app
        .api(Method::GET, "/appointments", Some(&me), None)
        .await;
    assert_eq!(ids(&list), [id_of(&a)]);
    let (status, reply) = c
        .post(
            &me,
            &format!("/appointments/{b}/cancel"),
            Some(json!({ "reason": "Not mine" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = c
        .post(
            &me,
            &format!("/appointments/{}/cancel", id_of(&a)),
            Some(json!({ "reason": "Feeling better" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);

    // The portal books at most five upcoming appointments; staff book beyond.
    for n in 10..15 {
        book(
            &c.app,
            &me,
            booking(&mine, &c.doctor_id, &c.department, &slot(n)),
        )
        .await;
    }
    let (status, reply) = c
        .post(
            &me,
            "/appointments",
            Some(booking(&mine, &c.doctor_id, &c.department, &slot(15))),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    book(
        &c.app,
        &c.reception,
        booking(&mine, &c.doctor_id, &c.department, &slot(15)),
    )
    .await;

    // The doctor books for a patient once on the care team.
    let (status, reply) = c
        .post(
            &c.doctor,
            "/appointments",
            Some(booking(&mine, &c.doctor_id, &c.department, &slot(3))),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    add_to_care_team(&c.app, &c.admin, &mine, &c.doctor_id).await;
    book(
        &c.app,
        &c.doctor,
        booking(&mine, &c.doctor_id, &c.department, &slot(3)),
    )
    .await;
    // The doctor sees their own appointment of a patient not on their team.
    let (status, reply) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments/{b}"),
            Some(&c.doctor),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
}

#[tokio::test]
async fn another_tenants_patients_doctors_and_appointments_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a_admin = login_in(&app, common::config::DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let a_reception = login_in(
        &app,
        common::config::DEMO_TENANT_ID,
        "reception",
        "reception123",
    )
    .await;
    let a_doctor = login_in(&app, common::config::DEMO_TENANT_ID, "doctor", "doctor123").await;
    let b_reception = login_in(&app, b_tenant, "reception", "reception123").await;
    let b_doctor = login_in(&app, b_tenant, "doctor", "doctor123").await;
    let (a_doc, b_doc) = (
        user_id(&app, &a_doctor).await,
        user_id(&app, &b_doctor).await,
    );
    let (a_dept, b_dept) = (
        department(&app, &a_admin).await,
        department(&app, &b_reception).await,
    );
    let a_patient =
        register_patient_id(&app, &a_reception, patient_body("Ana", "A", "1980-01-01")).await;
    let b_patient =
        register_patient_id(&app, &b_reception, patient_body("Ben", "B", "1980-01-01")).await;
    let a_appt = id_of(
        &book(
            &app,
            &a_reception,
            booking(&a_patient, &a_doc, &a_dept, &slot(0)),
        )
        .await,
    );
    book(
        &app,
        &b_reception,
        booking(&b_patient, &b_doc, &b_dept, &slot(0)),
    )
    .await;

    // B's reception with A's patient, doctor or department.
    for (body, status, code) in [
        (
            booking(&a_patient, &b_doc, &b_dept, &slot(1)),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            booking(&b_patient, &a_doc, &b_dept, &slot(1)),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
        (
            booking(&b_patient, &b_doc, &a_dept, &slot(1)),
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        ),
    ] {
        let (s, reply) = app
            .api(
                Method::POST,
                "/appointments",
                Some(&b_reception),
                Some(body),
            )
            .await;
        assert_error(s, &reply, status, code);
    }
    for (method, path, body) in [
        (Method::GET, format!("/appointments/{a_appt}"), None),
        (
            Method::POST,
            format!("/appointments/{a_appt}/cancel"),
            Some(json!({ "reason": "Cross tenant" })),
        ),
        (
            Method::POST,
            format!("/appointments/{a_appt}/check-in"),
            None,
        ),
        (
            Method::POST,
            format!("/appointments/{a_appt}/reschedule"),
            Some(json!({ "starts_at": slot(5) })),
        ),
        (
            Method::GET,
            format!("/doctors/{a_doc}/slots?date={}", next_monday()),
            None,
        ),
        (Method::GET, format!("/doctors/{a_doc}/schedule"), None),
    ] {
        let (s, reply) = app.api(method, &path, Some(&b_reception), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (_, list) = app
        .api(
            Method::GET,
            &format!("/appointments?patient_id={a_patient}"),
            Some(&b_reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 0);
    // A's appointment is untouched.
    let (s, reply) = app
        .api(
            Method::GET,
            &format!("/appointments/{a_appt}"),
            Some(&a_reception),
            None,
        )
        .await;
    assert_ok(s, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "booked");
    assert_eq!(reply["data"]["starts_at"], slot(0));
}

#[tokio::test]
async fn a_key_rotation_re_encrypts_the_appointments_texts() {
    use common::crypto::{key_id_of, Keyring, MasterKey};
    use common::db::write_tx;
    use diesel::prelude::*;
    use hospital::reencrypt::{self, worker};
    use hospital::schema::appointments;

    let master = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let app = testkit::spawn_with(
        Service::Hospital,
        &[("HOSPITAL__CRYPTO__MASTER_KEY", master.as_str())],
    )
    .await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let dept = department(&app, &admin).await;
    let p = register_patient_id(&app, &reception, patient_body("Rota", "Tion", "1977-07-07")).await;
    let seen = id_of(&book(&app, &reception, booking(&p, &doctor_id, &dept, &slot(0))).await);
    let gone = id_of(&book(&app, &reception, booking(&p, &doctor_id, &dept, &slot(1))).await);
    for (token, path, body) in [
        (&reception, format!("/appointments/{seen}/check-in"), None),
        (
            &doctor,
            format!("/appointments/{seen}/complete"),
            Some(json!({ "notes": "Stable, no change" })),
        ),
        (
            &reception,
            format!("/appointments/{gone}/cancel"),
            Some(json!({ "reason": "Double booked" })),
        ),
    ] {
        let (status, reply) = app.api(Method::POST, &path, Some(token), body).await;
        assert_ok(status, &reply, StatusCode::OK);
    }
    let kr = Keyring::new(MasterKey::from_hex_or_base64(&master).unwrap());
    let db = app.db();
    let (totals, stale) = tokio::task::spawn_blocking(move || {
        let mut c = db.conn().unwrap();
        let tenant = reencrypt::tenants(&mut c).unwrap().remove(0);
        let key = write_tx(&mut c, |c| kr.rotate(c, &tenant)).unwrap();
        let totals = worker::run_to_completion(&mut c, &kr, &tenant, 10, "cli", None).unwrap();
        let texts: Vec<(String, Option<String>, Option<String>)> = appointments::table
            .select((
                appointments::reason_enc,
                appointments::notes_enc,
                appointments::cancel_reason_enc,
            ))
            .load(&mut c)
            .unwrap();
        let stale = texts
            .iter()
            .flat_map(|(r, n, x)| [Some(r.clone()), n.clone(), x.clone()])
            .flatten()
            .filter(|v| key_id_of(v).unwrap() != key)
            .count();
        (totals, stale)
    })
    .await
    .unwrap();
    assert_eq!(
        totals.appointments, 4,
        "two reasons, a note, a cancellation reason"
    );
    assert_eq!(stale, 0);
    let (_, a) = app
        .api(
            Method::GET,
            &format!("/appointments/{seen}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(a["data"]["notes"], "Stable, no change");
    assert_eq!(a["data"]["reason"], "Recurring migraine with aura");
    let (_, b) = app
        .api(
            Method::GET,
            &format!("/appointments/{gone}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(b["data"]["cancel_reason"], "Double booked");
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn working_hours_are_in_the_hospitals_time_zone_across_daylight_saving() {
    let refused = testkit::try_spawn_with(
        Service::Hospital,
        &[("HOSPITAL__CLINICAL__TIME_ZONE", "Mars/Olympus")],
    )
    .await;
    assert!(
        refused.is_err(),
        "an unknown time zone is a configuration error"
    );

    let app = testkit::spawn_with(
        Service::Hospital,
        &[("HOSPITAL__CLINICAL__TIME_ZONE", "America/New_York")],
    )
    .await;
    let admin = app.admin_token().await;
    let reception = app.login("reception", "reception123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let dept = department(&app, &admin).await;
    let p = register_patient_id(
        &app,
        &reception,
        patient_body("Zone", "Walker", "1990-09-09"),
    )
    .await;
    // 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
    for (date, first, last) in [
        ("2030-01-07", "2030-01-07T14:00:00Z", "2030-01-07T21:30:00Z"),
        ("2030-07-08", "2030-07-08T13:00:00Z", "2030-07-08T20:30:00Z"),
    ] {
        let path = format!("/doctors/{doctor_id}/slots?date={date}");
        let (status, reply) = app.api(Method::GET, &path, Some(&reception), None).await;
        assert_ok(status, &reply, StatusCode::OK);
        let slots = reply["data"].as_array().unwrap();
        assert_eq!(slots.len(), 16);
        assert_eq!(slots[0]["starts_at"], first);
        assert_eq!(slots[15]["starts_at"], last);
    }
    let (status, week) = app
        .api(
            Method::GET,
            &format!("/doctors/{doctor_id}/schedule"),
            Some(&reception),
            None,
        )
        .await;
    assert_ok(status, &week, StatusCode::OK);
    assert_eq!(week["data"]["time_zone"], "America/New_York");
    // 09:00 UTC is 04:00 in New York: closed. 09:00 local, written with its offset, is open.
    let (status, reply) = app
        .api(
            Method::POST,
            "/appointments",
            Some(&reception),
            Some(booking(&p, &doctor_id, &dept, "2030-01-07T09:00:00Z")),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let a = book(
        &app,
        &reception,
        booking(&p, &doctor_id, &dept, "2030-01-07T09:00:00-05:00"),
    )
    .await;
    assert_eq!(a["starts_at"], "2030-01-07T14:00:00Z");
    // A day's list is the local day, from local midnight (05:00 UTC) to the next.
    let late = book(
        &app,
        &reception,
        booking(&p, &doctor_id, &dept, "2030-01-07T16:30:00-05:00"),
    )
    .await;
    assert_eq!(late["starts_at"], "2030-01-07T21:30:00Z");
    let (_, list) = app
        .api(
            Method::GET,
            "/appointments?date=2030-01-07",
            Some(&reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 2);
    let (_, list) = app
        .api(
            Method::GET,
            "/appointments?date=2030-01-08",
            Some(&reception),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 0);
}

#[tokio::test]
async fn deleting_a_patient_cancels_their_open_appointments_and_frees_the_time() {
    let c = Clinic::new().await;
    let p = c.patient("Leaving").await;
    let a = id_of(
        &book(
            &c.app,
            &c.reception,
            booking(&p, &c.doctor_id, &c.department, &slot(6)),
        )
        .await,
    );
    assert!(!c.free(next_monday()).await.contains(&slot(6)));
    let (status, reply) = c
        .app
        .api(
            Method::DELETE,
            &format!("/patients/{p}"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert!(
        c.free(next_monday()).await.contains(&slot(6)),
        "a hidden appointment held the doctor's time"
    );
    let (status, reply) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments/{a}"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = c
        .post(&c.admin, &format!("/patients/{p}/restore"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = c
        .app
        .api(
            Method::GET,
            &format!("/appointments/{a}"),
            Some(&c.admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "cancelled");
    assert_eq!(
        reply["data"]["cancel_reason"],
        "cancelled because the patient's record was deleted"
    );
}
