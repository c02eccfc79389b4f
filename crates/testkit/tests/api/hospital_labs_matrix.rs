//! The lab orders' authorization matrix: every lab endpoint tried by every
//! kind of caller, each answer checked against one table; a refused change
//! leaves everything as it was.

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

/// Every lab endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    Create,
    List,
    Get,
    Results,
    Finalize,
    Amend,
    Cancel,
}

impl Endpoint {
    fn changes(self) -> bool {
        !matches!(self, Self::List | Self::Get)
    }

    /// How far the order a cell acts on has come.
    fn stage(self) -> Stage {
        match self {
            Self::Create | Self::Results | Self::Cancel => Stage::Ordered,
            Self::Finalize => Stage::Resulted,
            Self::List | Self::Get | Self::Amend => Stage::Finalized,
        }
    }
}

/// How far an order has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ordered,
    Resulted,
    Finalized,
}

/// Endpoint × caller. Every order is placed by the doctor on the care team
/// (the one cancelling); "own"/"other" is a patient on their own or
/// another's; the orders read are finalized (a patient sees no other).
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                    admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::Create,   [DENY, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,     [DENY, LIST, HIDE, LIST, HIDE, DENY, LIST, DENY, LIST, HIDE, ANON]),
    (Endpoint::Get,      [DENY, OK,   GONE, OK,   GONE, DENY, OK,   DENY, OK,   GONE, ANON]),
    (Endpoint::Results,  [DENY, DENY, DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, ANON]),
    (Endpoint::Finalize, [DENY, DENY, DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, ANON]),
    (Endpoint::Amend,    [DENY, DENY, DENY, DENY, DENY, DENY, NEW,  DENY, DENY, DENY, ANON]),
    (Endpoint::Cancel,   [DENY, OK,   GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
];

/// A lab order body for `patient`: two tests, urgent, with notes.
pub fn lab_order(patient: &str) -> Value {
    json!({
        "patient_id": patient,
        "tests": [
            { "code": "CBC", "name": "Complete blood count" },
            { "code": "K", "name": "Potassium" },
        ],
        "priority": "urgent",
        "notes": "Fasting sample",
    })
}

/// One result for test `code`.
pub fn result(code: &str, value: &str, flag: &str) -> Value {
    json!({
        "code": code,
        "value": value,
        "unit": "mmol/L",
        "reference_range": "3.5-5.1",
        "flag": flag,
    })
}

/// Both tests' results.
fn both() -> Value {
    json!({ "results": [result("CBC", "within limits", "normal"), result("K", "4.2", "normal")] })
}

/// What a cell acts on: a patient and one of their orders.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    order: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_token: String,
    lab_token: String,
    doctor: String,
    nurse: String,
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
        let lab = app.login("lab", "lab123").await;
        let doctor = user_id(&app, &doctor_on).await;
        let nurse = user_id(&app, &nurse_on).await;
        let empty = || Target {
            patient: String::new(),
            order: String::new(),
        };
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor_token: doctor_on.clone(),
            lab_token: lab.clone(),
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
        world.own = world.order_of(&world.own_patient, Stage::Finalized).await;
        let shared = world.fresh_patient().await;
        world.shared = world.order_of(&shared, Stage::Finalized).await;
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
            (Caller::Lab, lab),
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
            patient_body("Lab", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    async fn order_of(&self, patient: &str, stage: Stage) -> Target {
        let (status, reply) = self
            .app
            .api(
                Method::POST,
                "/lab-orders",
                Some(&self.doctor_token),
                Some(lab_order(patient)),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        let order = id_of(&reply["data"]);
        if stage != Stage::Ordered {
            let (status, reply) = self
                .app
                .api(
                    Method::POST,
                    &format!("/lab-orders/{order}/results"),
                    Some(&self.lab_token),
                    Some(both()),
                )
                .await;
            assert_ok(status, &reply, StatusCode::OK);
        }
        if stage == Stage::Finalized {
            let (status, reply) = self
                .app
                .api(
                    Method::POST,
                    &format!("/lab-orders/{order}/finalize"),
                    Some(&self.lab_token),
                    None,
                )
                .await;
            assert_ok(status, &reply, StatusCode::OK);
        }
        Target {
            patient: patient.to_string(),
            order,
        }
    }

    /// What the lab sees of the order and of the patient's.
    async fn snapshot(&self, t: &Target) -> Value {
        let (status, one) = self
            .app
            .api(
                Method::GET,
                &format!("/lab-orders/{}", t.order),
                Some(&self.lab_token),
                None,
            )
            .await;
        assert_ok(status, &one, StatusCode::OK);
        let (status, all) = self
            .app
            .api(
                Method::GET,
                &format!("/lab-orders?patient_id={}&page_size=1", t.patient),
                Some(&self.lab_token),
                None,
            )
            .await;
        assert_ok(status, &all, StatusCode::OK);
        json!({ "one": one["data"], "total": all["meta"]["total"] })
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let o = &t.order;
        match endpoint {
            Endpoint::Create => (
                Method::POST,
                "/lab-orders".into(),
                Some(lab_order(&t.patient)),
            ),
            Endpoint::List => (
                Method::GET,
                format!("/lab-orders?patient_id={}&page_size=100", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/lab-orders/{o}"), None),
            Endpoint::Results => (
                Method::POST,
                format!("/lab-orders/{o}/results"),
                Some(json!({ "results": [result("K", "5.6", "high")] })),
            ),
            Endpoint::Finalize => (Method::POST, format!("/lab-orders/{o}/finalize"), None),
            Endpoint::Amend => (
                Method::POST,
                format!("/lab-orders/{o}/amendments"),
                Some(json!({
                    "reason": "Sample mislabelled, repeated",
                    "results": [result("K", "3.9", "normal")],
                })),
            ),
            Endpoint::Cancel => (Method::POST, format!("/lab-orders/{o}/cancel"), None),
        }
    }
}

#[test]
fn the_lab_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_lab_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match caller {
                Caller::PatientOwn if endpoint.changes() => {
                    world.order_of(&world.own_patient, endpoint.stage()).await
                }
                Caller::PatientOwn => world.own.clone(),
                _ if endpoint.changes() => {
                    let p = world.fresh_patient().await;
                    world.order_of(&p, endpoint.stage()).await
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
                    let listed = ids(&reply).contains(&target.order);
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

#[tokio::test]
async fn a_patient_sees_no_order_of_theirs_before_it_is_finalized() {
    let world = World::new().await;
    let patient = &world.tokens[&Caller::PatientOwn];
    for stage in [Stage::Ordered, Stage::Resulted] {
        let t = world.order_of(&world.own_patient, stage).await;
        let (status, reply) = world
            .app
            .api(
                Method::GET,
                &format!("/lab-orders/{}", t.order),
                Some(patient),
                None,
            )
            .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        let (status, reply) = world
            .app
            .api(Method::GET, "/lab-orders", Some(patient), None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        assert_eq!(ids(&reply), vec![world.own.order.clone()], "{stage:?}");
    }
}
