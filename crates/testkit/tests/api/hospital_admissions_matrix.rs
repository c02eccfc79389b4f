//! The wards' authorization matrix: every room, bed, occupancy and
//! admission endpoint tried by every kind of caller, each answer checked
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

use crate::hospital_admissions::admission;
use crate::hospital_appointments::department;

/// Every wards endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    CreateRoom,
    ListRooms,
    UpdateRoom,
    CreateBed,
    ListBeds,
    Occupancy,
    Admit,
    List,
    Get,
    Transfer,
    Discharge,
}

impl Endpoint {
    fn changes(self) -> bool {
        matches!(
            self,
            Self::CreateRoom
                | Self::UpdateRoom
                | Self::CreateBed
                | Self::Admit
                | Self::Transfer
                | Self::Discharge
        )
    }
}

/// Endpoint × caller: a patient with the doctor and nurse "on" on the care
/// team, admitted to a bed of a room the admin set up.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                     admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::CreateRoom, [NEW,  DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::ListRooms,  [OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::UpdateRoom, [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::CreateBed,  [NEW,  DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::ListBeds,   [OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Occupancy,  [OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Admit,      [NEW,  NEW,  GONE, DENY, DENY, NEW,  DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,       [LIST, LIST, HIDE, LIST, HIDE, LIST, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Get,        [OK,   OK,   GONE, OK,   GONE, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Transfer,   [OK,   OK,   GONE, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Discharge,  [DENY, OK,   GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
];

/// What a cell acts on: a room, a patient, their admission (if any), a free bed.
#[derive(Debug, Clone, Default)]
struct Target {
    patient: String,
    admission: String,
    free_bed: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor: String,
    nurse: String,
    department: String,
    room: String,
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
        let (status, reply) = app
            .api(
                Method::POST,
                "/rooms",
                Some(&admin),
                Some(json!({ "name": "Matrix ward", "type": "ward", "department_id": department })),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        let room = id_of(&reply["data"]);
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor,
            nurse,
            department,
            room,
            shared: Target::default(),
            serial: std::cell::Cell::new(0),
            app,
        };
        world.shared = world.target(true).await;
        portal_account(&world.app, &admin, &world.shared.patient, "portal-own").await;
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

    async fn bed(&self) -> String {
        let label = format!("M{}", self.next());
        let (status, reply) = self
            .app
            .api(
                Method::POST,
                &format!("/rooms/{}/beds", self.room),
                Some(&self.admin),
                Some(json!({ "label": label })),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        id_of(&reply["data"])
    }

    /// A fresh patient on the care teams, admitted (or not), and a free bed.
    async fn target(&self, admitted: bool) -> Target {
        let n = self.next();
        let patient = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Ward", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &patient, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &patient, &self.nurse).await;
        let admission_id = if admitted {
            let bed = self.bed().await;
            let (status, reply) = self
                .app
                .api(
                    Method::POST,
                    "/admissions",
                    Some(&self.admin),
                    Some(admission(&patient, &bed)),
                )
                .await;
            assert_ok(status, &reply, StatusCode::CREATED);
            id_of(&reply["data"])
        } else {
            String::new()
        };
        Target {
            patient,
            admission: admission_id,
            free_bed: self.bed().await,
        }
    }

    /// Everything the admin sees of rooms, beds and admissions.
    async fn snapshot(&self) -> Value {
        let mut out = serde_json::Map::new();
        for path in [
            "/rooms?include_inactive=true&page_size=100",
            "/beds?page_size=100",
            "/admissions?page_size=100",
            "/occupancy",
        ] {
            let (status, reply) = self
                .app
                .api(Method::GET, path, Some(&self.admin), None)
                .await;
            assert_ok(status, &reply, StatusCode::OK);
            out.insert(path.to_string(), reply["data"].clone());
        }
        Value::Object(out)
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let (room, a) = (&self.room, &t.admission);
        let n = self.next();
        match endpoint {
            Endpoint::CreateRoom => (
                Method::POST,
                "/rooms".into(),
                Some(
                    json!({ "name": format!("Room {n}"), "type": "private", "department_id": self.department }),
                ),
            ),
            Endpoint::ListRooms => (Method::GET, "/rooms".into(), None),
            Endpoint::UpdateRoom => (
                Method::PATCH,
                format!("/rooms/{room}"),
                Some(json!({ "name": format!("Matrix ward {n}") })),
            ),
            Endpoint::CreateBed => (
                Method::POST,
                format!("/rooms/{room}/beds"),
                Some(json!({ "label": format!("N{n}") })),
            ),
            Endpoint::ListBeds => (
                Method::GET,
                format!("/beds?department_id={}&free=true", self.department),
                None,
            ),
            Endpoint::Occupancy => (Method::GET, "/occupancy".into(), None),
            Endpoint::Admit => (
                Method::POST,
                "/admissions".into(),
                Some(admission(&t.patient, &t.free_bed)),
            ),
            Endpoint::List => (
                Method::GET,
                format!("/admissions?patient_id={}&active=true", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/admissions/{a}"), None),
            Endpoint::Transfer => (
                Method::POST,
                format!("/admissions/{a}/transfer"),
                Some(json!({ "bed_id": t.free_bed })),
            ),
            Endpoint::Discharge => (
                Method::POST,
                format!("/admissions/{a}/discharge"),
                Some(json!({ "summary": "Well; home with follow-up" })),
            ),
        }
    }
}

#[test]
fn the_wards_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_wards_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match endpoint {
                Endpoint::Admit => world.target(false).await,
                Endpoint::Transfer | Endpoint::Discharge => world.target(true).await,
                _ => world.shared.clone(),
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied {
                Some(world.snapshot().await)
            } else {
                None
            };
            let (method, path, body) = world.request(*endpoint, &target);
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
                        assert!(reply["data"].is_null(), "{cell}: {reply}");
                    }
                }
                Want::Lists | Want::Hides => {
                    assert_ok(status, &reply, StatusCode::OK);
                    let listed = ids(&reply).contains(&target.admission);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            if let Some(before) = before {
                let after = world.snapshot().await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
        }
    }
    assert!(app.verify_audit().await.is_intact());
}
