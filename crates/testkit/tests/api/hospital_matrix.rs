//! The hospital's authorization matrix: every endpoint tried by every kind
//! of caller, each answer checked against one table. A refused change must
//! also leave everything as it was; and a patient outside the caller's
//! scope is answered exactly like a patient that does not exist.

use std::collections::HashMap;

use serde_json::{json, Value};
use strum::VariantArray;
use testkit::hospital::{
    add_to_care_team, id_of, ids, patient_body, portal_account, register_patient, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

/// Who calls. A patient appears twice: on their own record and on another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
enum Caller {
    Admin,
    DoctorOnTeam,
    DoctorOffTeam,
    NurseOnTeam,
    NurseOffTeam,
    Reception,
    Lab,
    Pharmacist,
    PatientOwn,
    PatientOther,
    NoToken,
}

/// The columns of [`MATRIX`], in order.
const CALLERS: [Caller; 11] = [
    Caller::Admin,
    Caller::DoctorOnTeam,
    Caller::DoctorOffTeam,
    Caller::NurseOnTeam,
    Caller::NurseOffTeam,
    Caller::Reception,
    Caller::Lab,
    Caller::Pharmacist,
    Caller::PatientOwn,
    Caller::PatientOther,
    Caller::NoToken,
];

/// Every endpoint of the hospital's own API (a new route gets a variant
/// here, and then the matrix must give it a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    DepartmentList,
    DepartmentCreate,
    DepartmentGet,
    DepartmentUpdate,
    PatientRegister,
    PatientList,
    PatientGet,
    PatientUpdateDemographics,
    PatientUpdateClinical,
    PatientDelete,
    PatientRestore,
    AccessLog,
    PortalAccount,
    CareTeamList,
    CareTeamAdd,
    CareTeamRemove,
    BreakGlassRequest,
    BreakGlassList,
    BreakGlassAcknowledge,
}

impl Endpoint {
    /// Whether a success changes something (then each cell gets its own patient).
    fn changes(self) -> bool {
        !matches!(
            self,
            Self::DepartmentList
                | Self::DepartmentGet
                | Self::PatientList
                | Self::PatientGet
                | Self::AccessLog
                | Self::CareTeamList
                | Self::BreakGlassList
        )
    }
}

/// The answer a cell must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Exactly this status (and, for errors, the matching envelope code).
    Status(u16),
    /// 200, and the target patient is in the list.
    Lists,
    /// 200, and the target patient is not in the list.
    Hides,
}

const OK: Want = Want::Status(200);
const NEW: Want = Want::Status(201);
const ANON: Want = Want::Status(401);
const DENY: Want = Want::Status(403);
const GONE: Want = Want::Status(404);
const TWICE: Want = Want::Status(409);
const LIST: Want = Want::Lists;
const HIDE: Want = Want::Hides;

/// Endpoint × caller. Columns: admin, doctor on the care team, doctor off
/// it, nurse on, nurse off, reception, lab, pharmacist, patient on their
/// own record, patient on another's, no token.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                                    admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::DepartmentList,            [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, ANON]),
    (Endpoint::DepartmentCreate,          [NEW,  DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::DepartmentGet,             [OK,   OK,   OK,   OK,   OK,   OK,   OK,   OK,   DENY, DENY, ANON]),
    (Endpoint::DepartmentUpdate,          [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PatientRegister,           [NEW,  DENY, DENY, DENY, DENY, NEW,  DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PatientList,               [LIST, LIST, HIDE, LIST, HIDE, LIST, DENY, DENY, LIST, HIDE, ANON]),
    (Endpoint::PatientGet,                [OK,   OK,   GONE, OK,   GONE, OK,   DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::PatientUpdateDemographics, [OK,   DENY, DENY, DENY, DENY, OK,   DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PatientUpdateClinical,     [OK,   OK,   GONE, OK,   GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PatientDelete,             [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PatientRestore,            [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::AccessLog,                 [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::PortalAccount,             [NEW,  DENY, DENY, DENY, DENY, NEW,  DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::CareTeamList,              [OK,   OK,   GONE, OK,   GONE, OK,   DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::CareTeamAdd,               [NEW,  NEW,  GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::CareTeamRemove,            [OK,   OK,   GONE, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::BreakGlassRequest,         [DENY, TWICE,NEW,  TWICE,NEW,  DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::BreakGlassList,            [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::BreakGlassAcknowledge,     [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
];

const REASON: &str = "The patient collapsed in the waiting room and needs urgent care";

/// A patient a cell acts on.
#[derive(Debug, Clone)]
struct Target {
    id: String,
    mrn: String,
}

/// One hospital with a user for every column of the matrix.
struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_on: String,
    doctor_off: String,
    nurse_on: String,
    /// The record of the patient who logs in.
    own: Target,
    /// A patient the read-only rows share.
    shared: Target,
    /// A seeded department.
    department: String,
    serial: std::cell::Cell<usize>,
}

async fn login(app: &TestApp, username: &str, password: &str) -> (String, String) {
    let token = app.login(username, password).await;
    let id = user_id(app, &token).await;
    (token, id)
}

impl World {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        app.create_user(&admin, "doctor-off", "doctor").await;
        app.create_user(&admin, "nurse-off", "nurse").await;
        let (doctor_on_token, doctor_on) = login(&app, "doctor", "doctor123").await;
        let (doctor_off_token, doctor_off) = login(&app, "doctor-off", STRONG_PASSWORD).await;
        let (nurse_on_token, nurse_on) = login(&app, "nurse", "nurse123").await;
        let (nurse_off_token, _) = login(&app, "nurse-off", STRONG_PASSWORD).await;
        let (_, departments) = app
            .api(Method::GET, "/departments", Some(&admin), None)
            .await;
        let department = id_of(&departments["data"][0]);
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor_on,
            doctor_off,
            nurse_on,
            own: Target {
                id: String::new(),
                mrn: String::new(),
            },
            shared: Target {
                id: String::new(),
                mrn: String::new(),
            },
            department,
            serial: std::cell::Cell::new(0),
            app,
        };
        world.own = world.fresh_patient().await;
        world.shared = world.fresh_patient().await;
        portal_account(&world.app, &admin, &world.own.id, "portal-own").await;
        let patient = world.app.login("portal-own", STRONG_PASSWORD).await;
        for (caller, token) in [
            (Caller::Admin, admin),
            (Caller::DoctorOnTeam, doctor_on_token),
            (Caller::DoctorOffTeam, doctor_off_token),
            (Caller::NurseOnTeam, nurse_on_token),
            (Caller::NurseOffTeam, nurse_off_token),
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

    /// A new patient (with clinical fields) whose care team is the demo doctor and nurse.
    async fn fresh_patient(&self) -> Target {
        let n = self.next();
        let mut body = patient_body("Matrix", &format!("Cell{n}"), "1980-02-03");
        body["allergies"] = json!(["penicillin"]);
        body["blood_type"] = json!("A+");
        let p = register_patient(&self.app, &self.admin, body).await;
        let id = id_of(&p);
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor_on).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse_on).await;
        Target {
            id,
            mrn: p["mrn"].as_str().unwrap().to_string(),
        }
    }

    async fn admin_get(&self, path: &str) -> Value {
        let (status, body) = self
            .app
            .api(Method::GET, path, Some(&self.admin), None)
            .await;
        assert_ok(status, &body, StatusCode::OK);
        body
    }

    /// What a refused change must leave as it was.
    async fn snapshot(&self, patient: &str) -> Value {
        // A deleted patient answers 404 by id, to the admin too.
        let (status, body) = self
            .app
            .api(
                Method::GET,
                &format!("/patients/{patient}"),
                Some(&self.admin),
                None,
            )
            .await;
        let record = if status == StatusCode::NOT_FOUND {
            json!({ "data": { "deleted": true } })
        } else {
            assert_ok(status, &body, StatusCode::OK);
            body
        };
        // A deleted patient's care team is hidden like the rest of it.
        let team: Vec<Value> = if record["data"]["deleted"] == json!(true) {
            Vec::new()
        } else {
            let team = self
                .admin_get(&format!("/patients/{patient}/care-team"))
                .await;
            team["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["user_id"].clone())
                .collect()
        };
        let patients = self
            .admin_get("/patients?include_deleted=true&page_size=1")
            .await;
        let grants = self.admin_get("/break-glass?page_size=1").await;
        let open = self
            .admin_get("/break-glass?acknowledged=false&page_size=1")
            .await;
        let departments = self
            .admin_get("/departments?include_inactive=true&page_size=100")
            .await;
        json!({
            "record": record["data"],
            "team": team,
            "patients": patients["meta"]["total"],
            "grants": grants["meta"]["total"],
            "open_grants": open["meta"]["total"],
            "departments": departments["data"],
        })
    }

    /// A fresh unacknowledged grant (the off-team nurse on a new patient).
    async fn fresh_grant(&self) -> String {
        let p = self.fresh_patient().await;
        let (status, body) = self
            .app
            .api(
                Method::POST,
                &format!("/patients/{}/break-glass", p.id),
                self.tokens.get(&Caller::NurseOffTeam).map(String::as_str),
                Some(json!({ "reason": REASON })),
            )
            .await;
        assert_ok(status, &body, StatusCode::CREATED);
        id_of(&body["data"])
    }

    /// The request a cell sends.
    fn request(
        &self,
        endpoint: Endpoint,
        target: &Target,
        grant: &str,
    ) -> (Method, String, Option<Value>) {
        let n = self.next();
        let p = &target.id;
        let dept = &self.department;
        match endpoint {
            Endpoint::DepartmentList => (Method::GET, "/departments".into(), None),
            Endpoint::DepartmentCreate => (
                Method::POST,
                "/departments".into(),
                Some(json!({ "code": format!("MATRIX_{n}"), "name": "Matrix ward" })),
            ),
            Endpoint::DepartmentGet => (Method::GET, format!("/departments/{dept}"), None),
            Endpoint::DepartmentUpdate => (
                Method::PATCH,
                format!("/departments/{dept}"),
                Some(json!({ "name": format!("Renamed {n}") })),
            ),
            Endpoint::PatientRegister => (
                Method::POST,
                "/patients".into(),
                Some(patient_body("Walkin", &format!("Caller{n}"), "1991-05-06")),
            ),
            Endpoint::PatientList => (
                Method::GET,
                format!("/patients?search={}&page_size=100", target.mrn),
                None,
            ),
            Endpoint::PatientGet => (Method::GET, format!("/patients/{p}"), None),
            Endpoint::PatientUpdateDemographics => (
                Method::PATCH,
                format!("/patients/{p}"),
                Some(json!({ "contact": { "phone": format!("+1 555 {n:04}"), "email": null } })),
            ),
            Endpoint::PatientUpdateClinical => (
                Method::PATCH,
                format!("/patients/{p}"),
                Some(json!({ "allergies": [format!("latex {n}")] })),
            ),
            Endpoint::PatientDelete => (Method::DELETE, format!("/patients/{p}"), None),
            Endpoint::PatientRestore => (Method::POST, format!("/patients/{p}/restore"), None),
            Endpoint::AccessLog => (Method::GET, format!("/patients/{p}/access-log"), None),
            Endpoint::PortalAccount => {
                (Method::POST, format!("/patients/{p}/portal-account"), None)
            }
            Endpoint::CareTeamList => (Method::GET, format!("/patients/{p}/care-team"), None),
            Endpoint::CareTeamAdd => (
                Method::POST,
                format!("/patients/{p}/care-team"),
                Some(json!({ "user_id": self.doctor_off })),
            ),
            Endpoint::CareTeamRemove => (
                Method::DELETE,
                format!("/patients/{p}/care-team/{}", self.nurse_on),
                None,
            ),
            Endpoint::BreakGlassRequest => (
                Method::POST,
                format!("/patients/{p}/break-glass"),
                Some(json!({ "reason": REASON })),
            ),
            Endpoint::BreakGlassList => (Method::GET, "/break-glass".into(), None),
            Endpoint::BreakGlassAcknowledge => (
                Method::POST,
                format!("/break-glass/{grant}/acknowledge"),
                None,
            ),
        }
    }
}

fn code_for(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        other => panic!("no envelope code for {other} in the matrix"),
    }
}

fn check(want: Want, status: StatusCode, body: &Value, target: &str, cell: &str) {
    match want {
        Want::Status(s) => {
            assert_eq!(status.as_u16(), s, "{cell}: {body}");
            let expected = StatusCode::from_u16(s).unwrap();
            if s < 300 {
                assert_ok(status, body, expected);
            } else {
                assert_error(status, body, expected, code_for(s));
            }
        }
        Want::Lists | Want::Hides => {
            assert_eq!(status, StatusCode::OK, "{cell}: {body}");
            assert_ok(status, body, StatusCode::OK);
            let listed = ids(body).iter().any(|id| id == target);
            assert_eq!(listed, want == Want::Lists, "{cell}: {body}");
        }
    }
}

/// The matrix is complete: one row per endpoint, one column per caller, in
/// the order [`CALLERS`] names them.
#[test]
fn the_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(
        CALLERS.as_slice(),
        Caller::VARIANTS,
        "the columns are every caller, once"
    );
}

#[tokio::test]
async fn every_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.app;
    let mut cells = 0;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match caller {
                Caller::PatientOwn => world.own.clone(),
                _ if endpoint.changes() => world.fresh_patient().await,
                _ => world.shared.clone(),
            };
            if *endpoint == Endpoint::PatientRestore && *caller != Caller::PatientOwn {
                let path = format!("/patients/{}", target.id);
                let (status, body) = app
                    .api(Method::DELETE, &path, Some(&world.admin), None)
                    .await;
                assert_ok(status, &body, StatusCode::OK);
            }
            let grant = if *endpoint == Endpoint::BreakGlassAcknowledge {
                world.fresh_grant().await
            } else {
                String::new()
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied {
                Some(world.snapshot(&target.id).await)
            } else {
                None
            };

            let (method, path, body) = world.request(*endpoint, &target, &grant);
            let token = world.tokens.get(caller).map(String::as_str);
            let (status, reply) = app.api(method, &path, token, body).await;
            check(*want, status, &reply, &target.id, &cell);

            // Whoever reads a record sees clinical fields unless they are reception.
            if *endpoint == Endpoint::PatientGet && status == StatusCode::OK {
                let clinical = reply["data"].get("allergies").is_some();
                assert_eq!(clinical, *caller != Caller::Reception, "{cell}: {reply}");
                assert_eq!(reply["data"]["id"], json!(target.id), "{cell}");
            }
            if let Some(before) = before {
                let after = world.snapshot(&target.id).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
            cells += 1;
        }
    }
    assert_eq!(cells, Endpoint::VARIANTS.len() * Caller::VARIANTS.len());
    // Hundreds of audited reads, writes and refusals later, the chain holds.
    let verification = app.verify_audit().await;
    assert!(verification.is_intact(), "{verification:?}");
}

#[tokio::test]
async fn a_patient_outside_the_callers_scope_is_answered_like_one_that_does_not_exist() {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "doctor-off", "doctor").await;
    let (doctor_off, _) = login(&app, "doctor-off", STRONG_PASSWORD).await;
    let (_, doctor_on) = login(&app, "doctor", "doctor123").await;
    let (nurse_off, _) = login(&app, "nurse", "nurse123").await;

    let existing = id_of(
        &register_patient(&app, &admin, patient_body("Hidden", "Person", "1975-01-02")).await,
    );
    add_to_care_team(&app, &admin, &existing, &doctor_on).await;
    let mine = id_of(
        &register_patient(&app, &admin, patient_body("Portal", "Holder", "1988-08-08")).await,
    );
    portal_account(&app, &admin, &mine, "portal-holder").await;
    let patient = app.login("portal-holder", STRONG_PASSWORD).await;

    let missing = uuid::Uuid::new_v4().to_string();
    const HID: StatusCode = StatusCode::NOT_FOUND;
    const ROLE: StatusCode = StatusCode::FORBIDDEN;
    let d = doctor_off.as_str();
    let n = nurse_off.as_str();
    let p = patient.as_str();
    let remove_member = format!("/care-team/{doctor_on}");
    let calls: Vec<(&str, Method, &str, Option<Value>, StatusCode)> = vec![
        (d, Method::GET, "", None, HID),
        (
            d,
            Method::PATCH,
            "",
            Some(json!({ "allergies": ["dust"] })),
            HID,
        ),
        (
            d,
            Method::PATCH,
            "",
            Some(json!({ "last_name": "Changed" })),
            ROLE,
        ),
        (d, Method::DELETE, "", None, ROLE),
        (d, Method::POST, "/restore", None, ROLE),
        (d, Method::GET, "/access-log", None, ROLE),
        (d, Method::GET, "/care-team", None, HID),
        (
            d,
            Method::POST,
            "/care-team",
            Some(json!({ "user_id": doctor_on })),
            HID,
        ),
        (d, Method::DELETE, &remove_member, None, HID),
        (d, Method::POST, "/portal-account", None, ROLE),
        (n, Method::GET, "", None, HID),
        (
            n,
            Method::PATCH,
            "",
            Some(json!({ "blood_type": "O+" })),
            HID,
        ),
        (n, Method::GET, "/care-team", None, HID),
        (
            n,
            Method::POST,
            "/care-team",
            Some(json!({ "user_id": doctor_on })),
            ROLE,
        ),
        (p, Method::GET, "", None, HID),
        (p, Method::GET, "/access-log", None, HID),
        (p, Method::GET, "/care-team", None, HID),
        (p, Method::PATCH, "", Some(json!({ "allergies": [] })), ROLE),
    ];
    for (token, method, suffix, body, expected) in calls {
        let mut answers = Vec::new();
        for id in [existing.as_str(), missing.as_str(), "not-a-uuid"] {
            let path = format!("/patients/{id}{suffix}");
            let (status, reply) = app
                .api(method.clone(), &path, Some(token), body.clone())
                .await;
            let want = if expected == HID {
                "NOT_FOUND"
            } else {
                "FORBIDDEN"
            };
            assert_error(status, &reply, expected, want);
            let e = &reply["error"];
            answers.push((
                e["code"].clone(),
                e["message"].clone(),
                e["details"].clone(),
            ));
        }
        let call = format!("{method} /patients/…{suffix}");
        assert_eq!(
            answers[0], answers[1],
            "{call}: an existing patient vs a random id"
        );
        assert_eq!(
            answers[0], answers[2],
            "{call}: an existing patient vs a malformed id"
        );
    }

    // A patient's list holds their own record and nothing else.
    let (status, list) = app
        .api(Method::GET, "/patients?page_size=100", Some(&patient), None)
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(ids(&list), [mine.as_str()]);
    assert_eq!(list["meta"]["total"], 1);

    // Admin and reception see everyone: for them a random id is simply absent.
    let reception = app.login("reception", "reception123").await;
    for token in [&admin, &reception] {
        let (status, reply) = app
            .api(
                Method::GET,
                &format!("/patients/{missing}"),
                Some(token),
                None,
            )
            .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }

    // The record is still there for those who may see it.
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/patients/{existing}"),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["last_name"], "Person");
    assert_eq!(reply["data"]["deleted"], false);
}
