//! The patient files' authorization matrix: every file endpoint tried by
//! every kind of caller, each answer checked against one table (the access
//! matrix of docs/security.md, "Patient files"); a refused change leaves
//! the files as they were.

use std::collections::HashMap;

use crate::clinical_matrix::{Caller, Want, ANON, CALLERS, DENY, GONE, HIDE, LIST, NEW, OK};
use crate::hospital_files::{folder_of, pdf};
use serde_json::{json, Value};
use strum::VariantArray;
use testkit::hospital::{
    add_to_care_team, encode, id_of, ids, patient_body, portal_account, register_patient_id,
    user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

/// Every file endpoint (uploads per category that a role may be limited to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    UploadRecords,
    UploadLabResults,
    UploadConsentForm,
    List,
    Get,
    Download,
    Delete,
    Restore,
    Purge,
    Folders,
    CreateFolder,
    CreateWorkspace,
    PlaceHold,
    Usage,
    RunRetention,
}

impl Endpoint {
    /// Whether the cell needs a target of its own (it changes something).
    fn changes(self) -> bool {
        matches!(
            self,
            Self::Delete | Self::Restore | Self::PlaceHold | Self::Purge
        )
    }

    fn uploads(self) -> bool {
        matches!(
            self,
            Self::UploadRecords | Self::UploadLabResults | Self::UploadConsentForm
        )
    }
}

/// A 409's code per endpoint.
fn code_for(endpoint: Endpoint, status: u16) -> &'static str {
    match (endpoint, status) {
        (_, 401) => "UNAUTHENTICATED",
        (_, 403) => "FORBIDDEN",
        (_, 404) => "NOT_FOUND",
        (Endpoint::Purge, 409) => "RETENTION_ACTIVE",
        (_, 409) => "CONFLICT",
        (_, other) => panic!("no code for {other}"),
    }
}

const KEEP: Want = Want::Status(409);

/// Endpoint × caller. Files are uploaded by the doctor on the care team;
/// "own"/"other" is a patient on their own or another's file.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                          admin d-on  d-off n-on  n-off recep lab   pharm own   other none
    (Endpoint::UploadRecords,    [NEW,  NEW,  GONE, NEW,  GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::UploadLabResults, [NEW,  NEW,  GONE, NEW,  GONE, DENY, NEW,  DENY, DENY, DENY, ANON]),
    (Endpoint::UploadConsentForm,[NEW,  NEW,  GONE, NEW,  GONE, NEW,  DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::List,             [LIST, LIST, HIDE, LIST, HIDE, DENY, DENY, DENY, LIST, HIDE, ANON]),
    (Endpoint::Get,              [OK,   OK,   GONE, OK,   GONE, DENY, DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::Download,         [OK,   OK,   GONE, OK,   GONE, DENY, DENY, DENY, OK,   GONE, ANON]),
    (Endpoint::Delete,           [OK,   OK,   GONE, DENY, GONE, DENY, DENY, DENY, DENY, GONE, ANON]),
    (Endpoint::Restore,          [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Purge,            [KEEP, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Folders,          [LIST, LIST, HIDE, LIST, HIDE, LIST, LIST, DENY, DENY, DENY, ANON]),
    (Endpoint::CreateFolder,     [NEW,  NEW,  GONE, GONE, GONE, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::CreateWorkspace,  [NEW,  DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::PlaceHold,        [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::Usage,            [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
    (Endpoint::RunRetention,     [OK,   DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, DENY, ANON]),
];

/// What a cell acts on: a patient, their folder and one file in it.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    folder: String,
    file: String,
}

struct World {
    app: TestApp,
    tokens: HashMap<Caller, String>,
    admin: String,
    doctor_token: String,
    doctor: String,
    nurse: String,
    workspace: String,
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
        let (status, w) = app
            .api(
                Method::POST,
                "/file-workspaces",
                Some(&admin),
                Some(json!({ "module": "medicine", "doctor_id": doctor })),
            )
            .await;
        assert_ok(status, &w, StatusCode::CREATED);
        let empty = || Target {
            patient: String::new(),
            folder: String::new(),
            file: String::new(),
        };
        let mut world = Self {
            tokens: HashMap::new(),
            admin: admin.clone(),
            doctor_token: doctor_on.clone(),
            doctor,
            nurse,
            workspace: id_of(&w["data"]),
            own_patient: String::new(),
            own: empty(),
            shared: empty(),
            serial: std::cell::Cell::new(0),
            app,
        };
        world.own_patient = world.fresh_patient().await;
        portal_account(&world.app, &admin, &world.own_patient, "portal-own").await;
        world.own = world.file_of(&world.own_patient).await;
        let shared = world.fresh_patient().await;
        world.shared = world.file_of(&shared).await;
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

    /// A patient on the doctor's and the nurse's care team (so with a folder).
    async fn fresh_patient(&self) -> String {
        let n = self.next();
        let id = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Files", &format!("Cell{n}"), "1985-03-04"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &id, &self.doctor).await;
        add_to_care_team(&self.app, &self.admin, &id, &self.nurse).await;
        id
    }

    /// A file the doctor uploads into `patient`'s folder (distinct content).
    async fn file_of(&self, patient: &str) -> Target {
        let folder = folder_of(&self.app, &self.admin, patient).await;
        let n = self.next();
        let (status, reply) = crate::hospital_files::upload(
            &self.app,
            &self.doctor_token,
            &format!("/file-folders/{folder}/files"),
            "medical_records",
            &format!("scan-{n}.pdf"),
            pdf(&format!("cell {n}")),
        )
        .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        Target {
            patient: patient.to_string(),
            folder,
            file: id_of(&reply["data"]),
        }
    }

    /// A deleted file (for restore).
    async fn deleted_file(&self) -> Target {
        let p = self.fresh_patient().await;
        let t = self.file_of(&p).await;
        let (status, reply) = self
            .app
            .api(
                Method::DELETE,
                &format!("/files/{}", t.file),
                Some(&self.admin),
                None,
            )
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        t
    }

    /// What the admin sees of all files, deleted ones and holds.
    async fn snapshot(&self, t: &Target) -> Value {
        let mut out = json!({});
        for (key, path) in [
            ("live", "/files?page_size=1".to_string()),
            ("deleted", "/files?deleted=true&page_size=1".to_string()),
            ("hold", format!("/patients/{}/legal-hold", t.patient)),
            ("workspaces", "/file-workspaces?page_size=1".to_string()),
            (
                "folders",
                format!("/file-folders?workspace_id={}&page_size=1", self.workspace),
            ),
        ] {
            let (status, reply) = self
                .app
                .api(Method::GET, &path, Some(&self.admin), None)
                .await;
            out[key] = json!([status.as_u16(), reply["meta"]["total"]]);
        }
        out
    }

    fn request(
        &self,
        endpoint: Endpoint,
        t: &Target,
    ) -> (Method, String, Option<Value>, Option<Vec<u8>>) {
        let f = &t.file;
        let upload = |category: &str, name: &str, body: Vec<u8>| {
            let n = self.next();
            (
                Method::POST,
                format!(
                    "/file-folders/{}/files?category={category}&name={}",
                    t.folder,
                    encode(&format!("{n}-{name}"))
                ),
                None,
                Some([body, format!("\n% {n}\n").into_bytes()].concat()),
            )
        };
        match endpoint {
            Endpoint::UploadRecords => upload("medical_records", "record.pdf", pdf("record")),
            Endpoint::UploadLabResults => upload("lab_results", "cbc.txt", b"CBC normal".to_vec()),
            Endpoint::UploadConsentForm => upload("consent_forms", "consent.pdf", pdf("consent")),
            Endpoint::List => (
                Method::GET,
                format!("/files?patient_id={}&page_size=100", t.patient),
                None,
                None,
            ),
            Endpoint::Get => (Method::GET, format!("/files/{f}"), None, None),
            Endpoint::Download => (Method::GET, format!("/files/{f}/content"), None, None),
            Endpoint::Delete => (Method::DELETE, format!("/files/{f}"), None, None),
            Endpoint::Restore => (Method::POST, format!("/files/{f}/restore"), None, None),
            Endpoint::Purge => (Method::POST, format!("/files/{f}/purge"), None, None),
            Endpoint::Folders => (
                Method::GET,
                format!("/file-folders?patient_id={}", t.patient),
                None,
                None,
            ),
            Endpoint::CreateFolder => (
                Method::POST,
                "/file-folders".into(),
                Some(json!({ "workspace_id": self.workspace, "patient_id": t.patient })),
                None,
            ),
            Endpoint::CreateWorkspace => (
                Method::POST,
                "/file-workspaces".into(),
                Some(json!({ "module": "dentistry", "doctor_id": self.doctor })),
                None,
            ),
            Endpoint::PlaceHold => (
                Method::PUT,
                format!("/patients/{}/legal-hold", t.patient),
                Some(json!({ "reason": "Records request from counsel" })),
                None,
            ),
            Endpoint::Usage => (Method::GET, "/file-usage".into(), None, None),
            Endpoint::RunRetention => (Method::POST, "/file-retention/run".into(), None, None),
        }
    }

    async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        json_body: Option<Value>,
        raw: Option<Vec<u8>>,
    ) -> (StatusCode, Value, bool) {
        let mut req = self.app.client.request(method, self.app.api_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &json_body {
            req = req.json(b);
        }
        if let Some(r) = raw {
            req = req
                .header("content-type", "application/octet-stream")
                .body(r);
        }
        let res = req.send().await.expect("sending");
        let status = res.status();
        let is_json = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = res.bytes().await.expect("reading the answer");
        let body = if is_json {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        (status, body, !is_json)
    }
}

#[test]
fn the_files_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
}

#[tokio::test]
async fn every_file_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    for (endpoint, row) in MATRIX {
        for (caller, want) in CALLERS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match (caller, endpoint) {
                (_, Endpoint::Restore) => world.deleted_file().await,
                (_, Endpoint::CreateFolder) => {
                    // A patient on the on-team doctor's team but without a folder yet.
                    let p = world.fresh_patient().await;
                    let t = Target {
                        patient: p,
                        folder: String::new(),
                        file: String::new(),
                    };
                    world
                        .app
                        .sql(&format!(
                            "DELETE FROM file_folders WHERE patient_id = '{}'",
                            t.patient
                        ))
                        .await
                        .unwrap();
                    t
                }
                (Caller::PatientOwn, e) if e.changes() => world.file_of(&world.own_patient).await,
                (Caller::PatientOwn, _) => world.own.clone(),
                (_, e) if e.changes() => {
                    let p = world.fresh_patient().await;
                    world.file_of(&p).await
                }
                _ => world.shared.clone(),
            };
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if denied {
                Some(world.snapshot(&target).await)
            } else {
                None
            };
            let (method, path, body, raw) = world.request(*endpoint, &target);
            let token = world.tokens.get(caller).map(String::as_str);
            let (status, reply, binary) = world.send(token, method, &path, body, raw).await;
            match want {
                Want::Status(s) => {
                    let expected = StatusCode::from_u16(*s).unwrap();
                    if *s < 300 {
                        if !binary {
                            assert_ok(status, &reply, expected);
                        }
                        assert_eq!(status, expected, "{cell}");
                    } else {
                        assert_eq!(status, expected, "{cell}: {reply}");
                        assert_error(status, &reply, expected, code_for(*endpoint, *s));
                    }
                }
                Want::Lists | Want::Hides => {
                    assert_ok(status, &reply, StatusCode::OK);
                    let id = if *endpoint == Endpoint::Folders {
                        &target.folder
                    } else {
                        &target.file
                    };
                    let listed = ids(&reply).contains(id);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            if endpoint.uploads() && !denied {
                // An uploaded file is in the patient's folder.
                assert_eq!(reply["data"]["folder_id"], target.folder.as_str(), "{cell}");
            }
            if let Some(before) = before {
                let after = world.snapshot(&target).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
        }
    }
    assert!(world.app.verify_audit().await.is_intact());
}
