//! The appointments' authorization matrix: every appointment and
//! availability endpoint tried by every kind of caller, each answer checked
//! against one table; a refused change leaves everything as it was.

use std::collections::HashMap;

use crate::clinical_matrix::{
    code_for, Caller, Want, ANON, CALLERS, DENY, GONE, HIDE, LIST, NEW, OK,
};
use serde_json::{json, Value};
use strum::VariantArray;
use testkit::hospital::{
    add_to_care_team, id_of, ids, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_appointments::{booking, department, slot};

/// Every appointment and availability endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    Book,
    List,
    Get,
    Reschedule,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
    ScheduleGet,
    SchedulePut,
    TimeOffList,
    TimeOffAdd,
    TimeOffRemove,
    Slots,
}

impl Endpoint {
    fn changes(self) -> bool {
        !matches!(
            self,
            Self::List | Self::Get | Self::ScheduleGet | Self::TimeOffList | Self::Slots
        )
    }
}

/// Endpoint × caller. The appointment's doctor is the doctor on the care
/// team; "own"/"other" is a patient on their own appointment or another's.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                        admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::Book,          [NEW,  NEW,  GONE, DENY, DENY, NEW,  DENY, DENY, NEW,  GONE, ANON]),
    (Endpoint::List,          [LIST, LIST, HIDE, LIST, HIDE, LIST, DENY, DENY, LIST, HIDE, ANON]),
    (Endpoint::Get,           [OK,   OK,   GONE, OK,   GONE, OK,   DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::Reschedule,    [OK,   DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Cancel,        [OK,   DENY, DENY, DENY, DENY, OK,   DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::CheckIn,       [OK,   DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Complete,      [DENY, OK,   GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::NoShow,        [OK,   DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::ScheduleGet,   [OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, OK,   OK,   ANON]),
    (Endpoint::SchedulePut,   [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::TimeOffList,   [OK,   OK,   DENY, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::TimeOffAdd,    [NEW,  DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::TimeOffRemove, [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Slots,         [OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, OK,   OK,   ANON]),
];

/// What a cell acts on: a patient and one of their appointments.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    appointment: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor: String,
    nurse: String,
    department: String,
    own_patient: String,
    own: Target,
    shared: Target,
    serial: std::cell::Cell<usize>,
}

impl World {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        app.create_user(&admin, "doctor-off", "doctor").await;
        app.create_user(&admin, "nurse-off", "nurse").await;
        let doctor_on = app.login("doctor", "doctor123").await;
        let nurse_on = app.login("nurse", "nurse123").await;
        let doctor = user_id(&app, &doctor_on).await;
        let nurse = user_id(&app, &nurse_on).await;
        let department = department(&app, &admin).await;
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor,
            nurse,
            department,
            own_patient: String::new(),
            own: Target {
                patient: String::new(),
                appointment: String::new(),
            },
            shared: Target {
                patient: String::new(),
                appointment: String::new(),
            },
            serial: std::cell::Cell::new(0),
            app,
        };
        world.own_patient = world.fresh_patient().await;
        portal_account(&world.app, &admin, &world.own_patient, "portal-own").await;
        world.own = world.appointment_of(&world.own_patient).await;
        let shared = world.fresh_patient().await;
        world.shared = world.appointment_of(&shared).await;
        let patient = world.app.login("portal-own", STRONG_PASSWORD).await;
        for (caller, token) in [
            (Caller::Admin, admin),
            (Caller::DoctorOnTeam, doctor_on),
            (
                Caller::DoctorOffTeam,
                world.app.login("doctor-off", STRONG_PASSWORD).await,
            ),
            (Caller::NurseOnTeam, nurse_on),
            (
                Caller::NurseOffTeam,
                world.app.login("nurse-off", STRONG_PASSWORD).await,
            ),
            (
                Caller::Reception,
                world.app.login("reception", "reception123").await,
            ),
            (Caller::Lab, world.app.login("lab", "lab123").await),
            (
                Caller::Pharmacist,
                world.app.login("pharmacist", "pharmacist123").await,
            ),
            (Caller::PatientOwn, patient.clone()),
            (Caller::PatientOther, patient),
        ] {
            world.tokens.insert(caller, token);
        }
        world
    }

    fn next(&self) -> usize {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        n
    }

    async fn fresh_patient(&self) -> String {
        let n = self.next();
        let id = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Slot", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    async fn appointment_of(&self, patient: &str) -> Target {
        let body = booking(patient, &self.doctor, &self.department, &slot(self.next()));
        let (status, reply) = self
            .app
            .api(Method::POST, "/appointments", Some(&self.admin), Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        Target {
            patient: patient.to_string(),
            appointment: id_of(&reply["data"]),
        }
    }

    async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> Value {
        let (status, reply) = self.app.api(method, path, Some(&self.admin), body).await;
        assert_ok(status, &reply, want);
        reply
    }

    async fn fresh_time_off(&self) -> String {
        let (from, to) = self.period();
        let body = json!({ "starts_at": from, "ends_at": to, "reason": "Training" });
        let reply = self
            .admin(
                Method::POST,
                &format!("/doctors/{}/time-off", self.doctor),
                Some(body),
                StatusCode::CREATED,
            )
            .await;
        id_of(&reply["data"])
    }

    /// A day of time off years ahead, clear of every booked slot.
    fn period(&self) -> (String, String) {
        let day = chrono::NaiveDate::from_ymd_opt(2031, 1, 1).unwrap()
            + chrono::Duration::days(self.next() as i64);
        (format!("{day}T00:00:00Z"), format!("{day}T23:00:00Z"))
    }

    async fn snapshot(&self, t: &Target) -> Value {
        let one = self
            .admin(
                Method::GET,
                &format!("/appointments/{}", t.appointment),
                None,
                StatusCode::OK,
            )
            .await;
        let all = self
            .admin(
                Method::GET,
                "/appointments?page_size=1",
                None,
                StatusCode::OK,
            )
            .await;
        let week = self
            .admin(
                Method::GET,
                &format!("/doctors/{}/schedule", self.doctor),
                None,
                StatusCode::OK,
            )
            .await;
        let off = self
            .admin(
                Method::GET,
                &format!("/doctors/{}/time-off?page_size=1", self.doctor),
                None,
                StatusCode::OK,
            )
            .await;
        let mut one = one["data"].clone();
        one["updated_at"] = Value::Null;
        json!({ "one": one, "total": all["meta"]["total"], "week": week["data"], "off": off["meta"]["total"] })
    }

    fn request(
        &self,
        endpoint: Endpoint,
        t: &Target,
        time_off: &str,
    ) -> (Method, String, Option<Value>) {
        let a = &t.appointment;
        let d = &self.doctor;
        match endpoint {
            Endpoint::Book => (
                Method::POST,
                "/appointments".into(),
                Some(booking(&t.patient, d, &self.department, &slot(self.next()))),
            ),
            Endpoint::List => (
                Method::GET,
                format!("/appointments?patient_id={}&page_size=100", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/appointments/{a}"), None),
            Endpoint::Reschedule => (
                Method::POST,
                format!("/appointments/{a}/reschedule"),
                Some(json!({ "starts_at": slot(self.next()) })),
            ),
            Endpoint::Cancel => (
                Method::POST,
                format!("/appointments/{a}/cancel"),
                Some(json!({ "reason": "Cannot come that day" })),
            ),
            Endpoint::CheckIn => (Method::POST, format!("/appointments/{a}/check-in"), None),
            Endpoint::Complete => (
                Method::POST,
                format!("/appointments/{a}/complete"),
                Some(json!({ "notes": "Seen and well" })),
            ),
            Endpoint::NoShow => (Method::POST, format!("/appointments/{a}/no-show"), None),
            Endpoint::ScheduleGet => (Method::GET, format!("/doctors/{d}/schedule"), None),
            Endpoint::SchedulePut => {
                let days: Vec<Value> = ["monday", "tuesday", "wednesday", "thursday", "friday"]
                    .iter()
                    .map(|w| json!({ "weekday": w, "start": "09:00", "end": "17:00", "slot_minutes": 30 }))
                    .collect();
                (
                    Method::PUT,
                    format!("/doctors/{d}/schedule"),
                    Some(json!({ "days": days })),
                )
            }
            Endpoint::TimeOffList => (Method::GET, format!("/doctors/{d}/time-off"), None),
            Endpoint::TimeOffAdd => {
                let (from, to) = self.period();
                (
                    Method::POST,
                    format!("/doctors/{d}/time-off"),
                    Some(json!({ "starts_at": from, "ends_at": to, "reason": "Leave" })),
                )
            }
            Endpoint::TimeOffRemove => (
                Method::DELETE,
                format!("/doctors/{d}/time-off/{time_off}"),
                None,
            ),
            Endpoint::Slots => (
                Method::GET,
                format!(
                    "/doctors/{d}/slots?date={}",
                    crate::hospital_appointments::next_monday()
                ),
                None,
            ),
        }
    }
}

#[test]
fn the_appointments_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_appointment_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match caller {
                Caller::PatientOwn if endpoint.changes() => {
                    world.appointment_of(&world.own_patient).await
                }
                Caller::PatientOwn => world.own.clone(),
                _ if endpoint.changes() => world.appointment_of(&world.fresh_patient().await).await,
                _ => world.shared.clone(),
            };
            if *endpoint == Endpoint::Complete {
                let path = format!("/appointments/{}/check-in", target.appointment);
                world.admin(Method::POST, &path, None, StatusCode::OK).await;
            }
            let time_off = if *endpoint == Endpoint::TimeOffRemove {
                world.fresh_time_off().await
            } else {
                String::new()
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied {
                Some(world.snapshot(&target).await)
            } else {
                None
            };
            let (method, path, body) = world.request(*endpoint, &target, &time_off);
            let token = world.tokens.get(caller).map(String::as_str);
            let (status, reply) = app.api(method, &path, token, body).await;
            match want {
                Want::Status(s) => {
                    let expected = StatusCode::from_u16(*s).unwrap();
                    if *s < 300 {
                        assert_ok(status, &reply, expected);
                    } else {
                        assert_eq!(status, expected, "{cell}: {reply}");
                        assert_error(status, &reply, expected, code_for(*s));
                    }
                }
                Want::Lists | Want::Hides => {
                    assert_ok(status, &reply, StatusCode::OK);
                    let listed = ids(&reply).contains(&target.appointment);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            // Clinical text for everyone who reads it but reception.
            if *endpoint == Endpoint::Get && status == StatusCode::OK {
                let clinical = reply["data"]["reason"].is_string();
                assert_eq!(clinical, *caller != Caller::Reception, "{cell}: {reply}");
            }
            if let Some(before) = before {
                let after = world.snapshot(&target).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
        }
    }
    assert!(app.verify_audit().await.is_intact());
}
