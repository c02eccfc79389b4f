//! The referrals' authorization matrix: every referral endpoint tried by
//! every kind of caller, each answer checked against one table; a refused
//! change leaves everything as it was. Every referral is made by the doctor
//! on the care team to a department, so the doctor off the team is a
//! receiving doctor of that department's queue.

use std::collections::HashMap;

use crate::clinical_matrix::{code_for, Caller, Want, ANON, CALLERS, DENY, GONE, LIST, NEW, OK};
use serde_json::{json, Value};
use strum::VariantArray;
use testkit::hospital::{
    add_to_care_team, id_of, ids, patient_body, portal_account, register_patient_id, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_appointments::department;
use crate::hospital_referrals::to_department;

/// Every referral endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    Create,
    List,
    Get,
    Accept,
    Decline,
    Cancel,
}

impl Endpoint {
    fn changes(self) -> bool {
        !matches!(self, Self::List | Self::Get)
    }
}

/// Endpoint × caller: a pending department referral of a patient on the
/// care team of the doctor on the team (the referrer).
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                   admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::Create,  [DENY, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,    [DENY, LIST, LIST, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Get,     [DENY, OK,   OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Accept,  [DENY, DENY, OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Decline, [DENY, DENY, OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Cancel,  [DENY, OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
];

#[derive(Debug, Clone)]
struct Target {
    patient: String,
    referral: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_token: String,
    doctor: String,
    nurse: String,
    department: String,
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
            doctor_token: doctor_on.clone(),
            doctor,
            nurse,
            department,
            shared: Target {
                patient: String::new(),
                referral: String::new(),
            },
            serial: std::cell::Cell::new(0),
            app,
        };
        let own = world.fresh_patient().await;
        portal_account(&world.app, &admin, &own, "portal-own").await;
        world.shared = world.referral_of(&own).await;
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

    async fn fresh_patient(&self) -> String {
        let n = self.serial.get() + 1;
        self.serial.set(n);
        let id = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Referral", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    async fn referral_of(&self, patient: &str) -> Target {
        let (status, reply) = self
            .app
            .api(
                Method::POST,
                "/referrals",
                Some(&self.doctor_token),
                Some(to_department(patient, &self.department)),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        Target {
            patient: patient.to_string(),
            referral: id_of(&reply["data"]),
        }
    }

    /// What the referrer sees of the referral and the patient's, and the care team.
    async fn snapshot(&self, t: &Target) -> Value {
        let get = |path: String| {
            let app = &self.app;
            let token = self.doctor_token.clone();
            async move {
                let (status, reply) = app.api(Method::GET, &path, Some(&token), None).await;
                assert_ok(status, &reply, StatusCode::OK);
                reply
            }
        };
        let one = get(format!("/referrals/{}", t.referral)).await;
        let all = get(format!("/referrals?patient_id={}", t.patient)).await;
        let team = get(format!("/patients/{}/care-team", t.patient)).await;
        json!({ "one": one["data"], "total": all["meta"]["total"], "team": team["data"] })
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let r = &t.referral;
        match endpoint {
            Endpoint::Create => (
                Method::POST,
                "/referrals".into(),
                Some(
                    json!({ "patient_id": t.patient, "to_department_id": self.department, "reason": "A second opinion" }),
                ),
            ),
            Endpoint::List => (
                Method::GET,
                format!("/referrals?patient_id={}&page_size=100", t.patient),
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/referrals/{r}"), None),
            Endpoint::Accept => (Method::POST, format!("/referrals/{r}/accept"), None),
            Endpoint::Decline => (
                Method::POST,
                format!("/referrals/{r}/decline"),
                Some(json!({ "reason": "Not this week" })),
            ),
            Endpoint::Cancel => (Method::POST, format!("/referrals/{r}/cancel"), None),
        }
    }
}

#[test]
fn the_referral_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(CALLERS.as_slice(), Caller::VARIANTS);
}

#[tokio::test]
async fn every_referral_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = if endpoint.changes() {
                let p = world.fresh_patient().await;
                if *endpoint == Endpoint::Create {
                    Target {
                        patient: p,
                        referral: String::new(),
                    }
                } else {
                    world.referral_of(&p).await
                }
            } else {
                world.shared.clone()
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied && !target.referral.is_empty() {
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
                    let listed = ids(&reply).contains(&target.referral);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            if let Some(before) = before {
                let after = world.snapshot(&target).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
            if *endpoint == Endpoint::Create && denied {
                // A refused referral left none.
                let (_, all) = app
                    .api(
                        Method::GET,
                        &format!("/referrals?patient_id={}", target.patient),
                        Some(&world.doctor_token),
                        None,
                    )
                    .await;
                assert_eq!(all["meta"]["total"], 0, "{cell}: {all}");
            }
        }
    }
    assert!(app.verify_audit().await.is_intact());
}
