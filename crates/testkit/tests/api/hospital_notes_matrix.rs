//! The clinical notes' authorization matrix: every note endpoint tried by
//! every kind of caller, each answer checked against one table; a refused
//! change leaves everything as it was.

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

/// Every note endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    Create,
    List,
    Get,
    Edit,
    Sign,
    Amend,
}

impl Endpoint {
    fn changes(self) -> bool {
        !matches!(self, Self::List | Self::Get)
    }

    /// Whether the endpoint acts on a draft (else on a signed note).
    fn on_draft(self) -> bool {
        matches!(self, Self::Edit | Self::Sign)
    }
}

/// Endpoint × caller. Every note is written by the doctor on the care
/// team; "own"/"other" is a patient on their own note or another's.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                   admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::Create,  [DENY, NEW,  GONE, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,    [DENY, LIST, HIDE, LIST, HIDE, DENY, DENY, DENY, LIST, HIDE, ANON]),
    (Endpoint::Get,     [DENY, OK,   GONE, OK,   GONE, DENY, DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::Edit,    [DENY, OK,   GONE, DENY, GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Sign,    [DENY, OK,   GONE, DENY, GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Amend,   [DENY, NEW,  GONE, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
];

/// What a cell acts on: a patient and one of their notes.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    note: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_token: String,
    doctor: String,
    nurse: String,
    own_patient: String,
    own: Target,
    shared: Target,
    serial: std::cell::Cell<usize>,
}

/// A SOAP note body for `patient`.
pub fn soap(patient: &str, sign: bool) -> Value {
    json!({
        "patient_id": patient,
        "type": "soap",
        "sign": sign,
        "subjective": "Headache for three days, worse in the morning",
        "objective": "BP 150/95, neuro exam normal",
        "assessment": "Tension headache; raised blood pressure",
        "plan": "Ibuprofen as needed; recheck BP in two weeks",
    })
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
        let empty = || Target {
            patient: String::new(),
            note: String::new(),
        };
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor_token: doctor_on.clone(),
            doctor,
            nurse,
            own_patient: String::new(),
            own: empty(),
            shared: empty(),
            serial: std::cell::Cell::new(0),
            app,
        };
        world.own_patient = world.fresh_patient().await;
        portal_account(&world.app, &admin, &world.own_patient, "portal-own").await;
        world.own = world.note_of(&world.own_patient, true).await;
        let shared = world.fresh_patient().await;
        world.shared = world.note_of(&shared, true).await;
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
            patient_body("Note", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    /// A note of `patient` by the doctor on the team, signed or a draft.
    async fn note_of(&self, patient: &str, signed: bool) -> Target {
        let (status, reply) = self
            .app
            .api(
                Method::POST,
                "/notes",
                Some(&self.doctor_token),
                Some(soap(patient, signed)),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        Target {
            patient: patient.to_string(),
            note: id_of(&reply["data"]),
        }
    }

    /// What the author sees of the note and of the patient's notes.
    async fn snapshot(&self, t: &Target) -> Value {
        let (status, one) = self
            .app
            .api(
                Method::GET,
                &format!("/notes/{}", t.note),
                Some(&self.doctor_token),
                None,
            )
            .await;
        assert_ok(status, &one, StatusCode::OK);
        let (status, all) = self
            .app
            .api(
                Method::GET,
                &format!("/notes?patient_id={}&page_size=1", t.patient),
                Some(&self.doctor_token),
                None,
            )
            .await;
        assert_ok(status, &all, StatusCode::OK);
        json!({ "one": one["data"], "total": all["meta"]["total"] })
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let n = &t.note;
        match endpoint {
            Endpoint::Create => (Method::POST, "/notes".into(), Some(soap(&t.patient, false))),
            Endpoint::List => (
                Method::GET,
                format!("/notes?patient_id={}&page_size=100", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/notes/{n}"), None),
            Endpoint::Edit => (
                Method::PUT,
                format!("/notes/{n}"),
                Some(json!({ "subjective": "Headache for four days", "plan": "Review" })),
            ),
            Endpoint::Sign => (Method::POST, format!("/notes/{n}/sign"), None),
            Endpoint::Amend => (
                Method::POST,
                format!("/notes/{n}/amendments"),
                Some(json!({
                    "reason": "Blood pressure was misread",
                    "objective": "BP 130/85, neuro exam normal",
                    "assessment": "Tension headache",
                })),
            ),
        }
    }
}

#[test]
fn the_notes_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_note_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match caller {
                Caller::PatientOwn if endpoint.changes() => {
                    world
                        .note_of(&world.own_patient, !endpoint.on_draft())
                        .await
                }
                Caller::PatientOwn => world.own.clone(),
                _ if endpoint.changes() => {
                    let p = world.fresh_patient().await;
                    world.note_of(&p, !endpoint.on_draft()).await
                }
                _ => world.shared.clone(),
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied {
                Some(world.snapshot(&target).await)
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
                    let listed = ids(&reply).contains(&target.note);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            if let Some(before) = before {
                let after = world.snapshot(&target).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
        }
    }
    assert!(app.verify_audit().await.is_intact());
}
