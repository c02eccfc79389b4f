//! The prescriptions' authorization matrix: every prescription endpoint
//! tried by every kind of caller, each answer checked against one table; a
//! refused change leaves everything as it was.

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

/// Every prescription endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    Create,
    List,
    Get,
    Dispense,
    Reject,
}

impl Endpoint {
    fn changes(self) -> bool {
        !matches!(self, Self::List | Self::Get)
    }
}

/// Endpoint × caller. Every prescription is written by the doctor on the
/// care team; "own"/"other" is a patient on their own or another's.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                    admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::Create,   [DENY, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,     [DENY, LIST, HIDE, LIST, HIDE, DENY, DENY, LIST, LIST, HIDE, ANON]),
    (Endpoint::Get,      [DENY, OK,   GONE, OK,   GONE, DENY, DENY, OK,   OK,   GONE, ANON]),
    (Endpoint::Dispense, [DENY, DENY, DENY, DENY, DENY, DENY, DENY, OK,   DENY, DENY, ANON]),
    (Endpoint::Reject,   [DENY, DENY, DENY, DENY, DENY, DENY, DENY, OK,   DENY, DENY, ANON]),
];

/// What a cell acts on: a patient and one of their prescriptions.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    prescription: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_token: String,
    pharmacist_token: String,
    doctor: String,
    nurse: String,
    own_patient: String,
    own: Target,
    shared: Target,
    serial: std::cell::Cell<usize>,
}

/// A prescription body for `patient`.
pub fn rx(patient: &str, medication: &str) -> Value {
    json!({
        "patient_id": patient,
        "medication": medication,
        "dose": "1 tablet",
        "route": "oral",
        "frequency": "three times a day",
        "duration": "10 days",
        "quantity": 30,
        "refills": 1,
        "notes": "Take with food",
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
        let pharmacist = app.login("pharmacist", "pharmacist123").await;
        let doctor = user_id(&app, &doctor_on).await;
        let nurse = user_id(&app, &nurse_on).await;
        let empty = || Target {
            patient: String::new(),
            prescription: String::new(),
        };
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor_token: doctor_on.clone(),
            pharmacist_token: pharmacist.clone(),
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
        world.own = world.prescription_of(&world.own_patient).await;
        let shared = world.fresh_patient().await;
        world.shared = world.prescription_of(&shared).await;
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
            (Caller::Pharmacist, pharmacist),
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
            patient_body("Rx", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    async fn prescription_of(&self, patient: &str) -> Target {
        let (status, reply) = self
            .app
            .api(
                Method::POST,
                "/prescriptions",
                Some(&self.doctor_token),
                Some(rx(patient, "Amoxicillin 500 mg")),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        Target {
            patient: patient.to_string(),
            prescription: id_of(&reply["data"]),
        }
    }

    /// What the pharmacist sees of the prescription and of the patient's.
    async fn snapshot(&self, t: &Target) -> Value {
        let (status, one) = self
            .app
            .api(
                Method::GET,
                &format!("/prescriptions/{}", t.prescription),
                Some(&self.pharmacist_token),
                None,
            )
            .await;
        assert_ok(status, &one, StatusCode::OK);
        let (status, all) = self
            .app
            .api(
                Method::GET,
                &format!("/prescriptions?patient_id={}&page_size=1", t.patient),
                Some(&self.pharmacist_token),
                None,
            )
            .await;
        assert_ok(status, &all, StatusCode::OK);
        json!({ "one": one["data"], "total": all["meta"]["total"] })
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let r = &t.prescription;
        match endpoint {
            Endpoint::Create => (
                Method::POST,
                "/prescriptions".into(),
                Some(rx(&t.patient, "Ibuprofen 400 mg")),
            ),
            Endpoint::List => (
                Method::GET,
                format!("/prescriptions?patient_id={}&page_size=100", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/prescriptions/{r}"), None),
            Endpoint::Dispense => (
                Method::POST,
                format!("/prescriptions/{r}/dispense"),
                Some(json!({ "quantity": 10 })),
            ),
            Endpoint::Reject => (
                Method::POST,
                format!("/prescriptions/{r}/reject"),
                Some(json!({ "reason": "Interaction with current medication" })),
            ),
        }
    }
}

#[test]
fn the_prescriptions_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_prescription_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match caller {
                Caller::PatientOwn if endpoint.changes() => {
                    world.prescription_of(&world.own_patient).await
                }
                Caller::PatientOwn => world.own.clone(),
                _ if endpoint.changes() => {
                    let p = world.fresh_patient().await;
                    world.prescription_of(&p).await
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
                    let listed = ids(&reply).contains(&target.prescription);
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
