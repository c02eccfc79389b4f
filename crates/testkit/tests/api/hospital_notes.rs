//! Clinical notes and medical reports: drafts edited by their author,
//! signing fixes a note for good (its hash in the audit row), amendments
//! keep the original, every read in the patient's access log, content
//! sealed at rest, refused input and another tenant's notes out of reach.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, ids, login_in, patient_body,
    portal_account, register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_notes_matrix::soap;

/// A hospital with a patient on the demo doctor's and nurse's care team.
struct Ward {
    app: TestApp,
    admin: String,
    doctor: String,
    doctor_id: String,
    nurse: String,
    nurse_id: String,
    patient: String,
}

impl Ward {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let nurse = app.login("nurse", "nurse123").await;
        let (doctor_id, nurse_id) = (user_id(&app, &doctor).await, user_id(&app, &nurse).await);
        let patient =
            register_patient_id(&app, &admin, patient_body("Greta", "Holm", "1971-05-05")).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        add_to_care_team(&app, &admin, &patient, &nurse_id).await;
        Self {
            app,
            admin,
            doctor,
            doctor_id,
            nurse,
            nurse_id,
            patient,
        }
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.api(method, path, Some(token), body).await
    }

    /// Write a note as `token`; panics unless 201.
    async fn write(&self, token: &str, body: Value) -> Value {
        let (status, reply) = self.call(token, Method::POST, "/notes", Some(body)).await;
        assert_ok(status, &reply, StatusCode::CREATED);
        reply["data"].clone()
    }

    async fn get(&self, token: &str, id: &str) -> Value {
        let (status, reply) = self
            .call(token, Method::GET, &format!("/notes/{id}"), None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"].clone()
    }

    /// The patient's audit rows of `action` (as the admin).
    async fn audit(&self, action: &str) -> Vec<Value> {
        let path = format!(
            "/audit?resource={}&action={action}&page_size=100",
            encode(&format!("patient:{}", self.patient))
        );
        let (status, reply) = self.call(&self.admin, Method::GET, &path, None).await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"].as_array().unwrap().clone()
    }
}

fn is_sha256_hex(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn a_draft_is_edited_by_its_author_and_a_signed_note_only_amended() {
    let w = Ward::new().await;
    let mut body = soap(&w.patient, false);
    body["plan"] = Value::Null;
    let draft = w.write(&w.doctor, body).await;
    let id = id_of(&draft);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["type"], "soap");
    assert_eq!(draft["author_id"], w.doctor_id.as_str());
    assert!(draft["content_hash"].is_null() && draft["signed_at"].is_null());
    assert!(draft["content"]["plan"].is_null(), "{draft}");
    assert!(draft["content"]["body"].is_null(), "{draft}");

    // The author rewrites the draft; the nurse on the team may not.
    let edit = json!({ "subjective": "Headache for four days", "plan": "Review in a week" });
    let path = format!("/notes/{id}");
    let (status, reply) = w
        .call(&w.nurse, Method::PUT, &path, Some(edit.clone()))
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = w
        .call(&w.doctor, Method::PUT, &path, Some(edit.clone()))
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(
        reply["data"]["content"]["subjective"],
        "Headache for four days"
    );
    assert_eq!(reply["data"]["content"]["plan"], "Review in a week");
    assert!(reply["data"]["content"]["objective"].is_null(), "{reply}");
    assert_eq!(reply["data"]["status"], "draft");
    // A SOAP note cannot become a report by editing.
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::PUT,
            &path,
            Some(json!({ "body": "Free text" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    // A draft is not amended.
    let amend = format!("/notes/{id}/amendments");
    let correction = json!({ "reason": "Wrong duration", "subjective": "Headache for five days" });
    let (status, reply) = w
        .call(&w.doctor, Method::POST, &amend, Some(correction.clone()))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Signing: the nurse may not sign the doctor's draft; the doctor does.
    let sign = format!("/notes/{id}/sign");
    let (status, reply) = w.call(&w.nurse, Method::POST, &sign, None).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = w.call(&w.doctor, Method::POST, &sign, None).await;
    assert_ok(status, &reply, StatusCode::OK);
    let signed = reply["data"].clone();
    assert_eq!(signed["status"], "signed");
    assert!(is_sha256_hex(&signed["content_hash"]), "{signed}");
    assert!(signed["signed_at"].is_string(), "{signed}");
    assert_eq!(signed["content"], signed["current"]);
    // The signature's hash is in the audit row.
    let rows = w.audit("note.sign").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["details"]["note"], id.as_str());
    assert_eq!(rows[0]["details"]["content_hash"], signed["content_hash"]);
    assert_eq!(rows[0]["actor"], w.doctor_id.as_str());

    // Signed: never edited, never signed again, by anyone.
    for token in [&w.doctor, &w.nurse] {
        let (status, reply) = w.call(token, Method::PUT, &path, Some(edit.clone())).await;
        assert!(
            status == StatusCode::CONFLICT || status == StatusCode::FORBIDDEN,
            "{reply}"
        );
        let (status, reply) = w.call(token, Method::POST, &sign, None).await;
        assert!(
            status == StatusCode::CONFLICT || status == StatusCode::FORBIDDEN,
            "{reply}"
        );
    }
    let (status, reply) = w
        .call(&w.doctor, Method::PUT, &path, Some(edit.clone()))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = w.call(&w.doctor, Method::POST, &sign, None).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let mut unchanged = w.get(&w.doctor, &id).await;
    assert_eq!(unchanged["content"], signed["content"]);
    assert_eq!(unchanged["content_hash"], signed["content_hash"]);
    assert_eq!(unchanged["updated_at"], signed["updated_at"]);

    // Corrections: the nurse, then the doctor; the original stays.
    let (status, reply) = w
        .call(&w.nurse, Method::POST, &amend, Some(correction))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let first = reply["data"].clone();
    assert_eq!(first["content"], signed["content"], "{first}");
    assert_eq!(first["content_hash"], signed["content_hash"]);
    assert_eq!(first["amendments"].as_array().unwrap().len(), 1, "{first}");
    let a = &first["amendments"][0];
    assert_eq!(a["author_id"], w.nurse_id.as_str());
    assert_eq!(a["reason"], "Wrong duration");
    assert_eq!(a["content"]["subjective"], "Headache for five days");
    assert!(
        a["created_at"].is_string() && is_sha256_hex(&a["content_hash"]),
        "{a}"
    );
    assert_eq!(first["current"], a["content"]);
    let second = json!({ "reason": "Plan agreed with patient", "subjective": "Headache for five days", "plan": "MRI" });
    let (status, reply) = w.call(&w.doctor, Method::POST, &amend, Some(second)).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    unchanged = reply["data"].clone();
    assert_eq!(unchanged["content"], signed["content"]);
    let list = unchanged["amendments"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{unchanged}");
    assert_eq!(list[0]["author_id"], w.nurse_id.as_str());
    assert_eq!(list[1]["author_id"], w.doctor_id.as_str());
    assert_eq!(unchanged["current"]["plan"], "MRI");
    assert_eq!(unchanged["status"], "signed");
    let rows = w.audit("note.amend").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        let amendment = row["details"]["amendment"].as_str().unwrap();
        let a = list.iter().find(|a| a["id"] == amendment).unwrap();
        assert_eq!(row["details"]["content_hash"], a["content_hash"]);
    }
    // An amendment's content follows the note's type.
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &amend,
            Some(json!({ "reason": "Typo fixed", "body": "x" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(w.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn reports_have_a_type_and_bad_notes_are_refused_with_400() {
    let w = Ward::new().await;
    let report = w
        .write(
            &w.nurse,
            json!({
                "patient_id": w.patient, "type": "discharge_summary", "sign": true,
                "title": "Discharge after observation", "body": "Observed overnight; discharged home.",
            }),
        )
        .await;
    assert_eq!(report["type"], "discharge_summary");
    assert_eq!(report["status"], "signed");
    assert_eq!(report["content"]["title"], "Discharge after observation");
    assert!(report["content"]["subjective"].is_null(), "{report}");
    for kind in ["consultation", "procedure", "progress_note"] {
        let n = w
            .write(
                &w.doctor,
                json!({ "patient_id": w.patient, "type": kind, "body": "Text" }),
            )
            .await;
        assert_eq!(n["type"], kind);
        assert!(n["content"]["title"].is_null(), "{n}");
    }
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::GET,
            &format!("/notes?patient_id={}&type=procedure", w.patient),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["meta"]["total"], 1, "{reply}");
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::GET,
            &format!("/notes?patient_id={}&status=signed", w.patient),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(ids(&reply), vec![id_of(&report)]);

    let p = w.patient.clone();
    let long = "x".repeat(10_001);
    let bad = [
        json!({ "patient_id": p, "type": "soap", "body": "Not SOAP" }),
        json!({ "patient_id": p, "type": "soap" }),
        json!({ "patient_id": p, "type": "soap", "subjective": "   " }),
        json!({ "patient_id": p, "type": "soap", "subjective": long }),
        json!({ "patient_id": p, "type": "soap", "subjective": "a\u{7}b" }),
        json!({ "patient_id": p, "type": "consultation", "subjective": "SOAP in a report", "body": "x" }),
        json!({ "patient_id": p, "type": "consultation", "title": "No body" }),
        json!({ "patient_id": p, "type": "consultation", "body": "x", "title": "t".repeat(201) }),
        json!({ "patient_id": p, "type": "letter", "body": "x" }),
        json!({ "patient_id": p, "type": "procedure", "body": "x", "extra": 1 }),
        json!({ "patient_id": "", "type": "procedure", "body": "x" }),
        json!({ "patient_id": p, "type": "procedure", "body": "x", "sign": "yes" }),
    ];
    for body in bad {
        let (status, reply) = w
            .call(&w.doctor, Method::POST, "/notes", Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        let _ = body;
    }
    let body =
        json!({ "patient_id": uuid::Uuid::new_v4().to_string(), "type": "procedure", "body": "x" });
    let (status, reply) = w.call(&w.doctor, Method::POST, "/notes", Some(body)).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in [
        format!("/notes/{}", uuid::Uuid::new_v4()),
        format!("/notes?patient_id={}", "x".repeat(65)),
        "/notes?status=final".to_string(),
        "/notes?page_size=101".to_string(),
    ] {
        let (status, reply) = w.call(&w.doctor, Method::GET, &path, None).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {reply}"
        );
        assert!(reply["success"] == false, "{path}: {reply}");
    }
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/notes/{}/amendments", id_of(&report)),
            Some(json!({ "reason": "x", "body": "y" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn every_read_of_a_note_is_in_the_patients_access_log_and_drafts_stay_with_staff() {
    let w = Ward::new().await;
    portal_account(&w.app, &w.admin, &w.patient, "greta.portal").await;
    let greta = w.app.login("greta.portal", STRONG_PASSWORD).await;
    let signed = id_of(&w.write(&w.doctor, soap(&w.patient, true)).await);
    let draft = id_of(&w.write(&w.doctor, soap(&w.patient, false)).await);

    w.get(&w.nurse, &signed).await;
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::GET,
            &format!("/notes?patient_id={}", w.patient),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["meta"]["total"], 2, "{reply}");

    // The patient sees the signed note, never the draft.
    let own = w.get(&greta, &signed).await;
    assert_eq!(
        own["content"]["assessment"],
        "Tension headache; raised blood pressure"
    );
    let (status, reply) = w.call(&greta, Method::GET, "/notes", None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(ids(&reply), vec![signed.clone()]);
    let (status, reply) = w
        .call(&greta, Method::GET, &format!("/notes/{draft}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    let path = format!("/patients/{}/access-log?page_size=100", w.patient);
    let (status, log) = w.call(&greta, Method::GET, &path, None).await;
    assert_ok(status, &log, StatusCode::OK);
    let reads = |who: &str| {
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "note.read" && e["actor_username"] == who)
            .count()
    };
    assert_eq!(reads("nurse"), 1, "{log}");
    assert_eq!(reads("doctor"), 2, "{log}");
    assert_eq!(reads("greta.portal"), 2, "{log}");
    for action in ["note.create", "note.sign"] {
        assert!(
            log["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action && e["actor_username"] == "doctor"),
            "{action}: {log}"
        );
    }
    // A refused read records nothing.
    let reception = w.app.login("reception", "reception123").await;
    let (status, reply) = w
        .call(&reception, Method::GET, &format!("/notes/{signed}"), None)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (_, after) = w.call(&greta, Method::GET, &path, None).await;
    assert!(
        !after["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor_username"] == "reception" && e["action"] == "note.read"),
        "{after}"
    );
}

#[tokio::test]
async fn note_content_and_amendment_reasons_are_sealed_at_rest() {
    let w = Ward::new().await;
    let secret = "Zanzibar-fever-suspected";
    let n = w
        .write(&w.doctor, json!({ "patient_id": w.patient, "type": "consultation", "sign": true, "title": "Consult", "body": secret }))
        .await;
    let reason = "Quixotic-transcription-slip";
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/notes/{}/amendments", id_of(&n)),
            Some(json!({ "reason": reason, "body": "Pemberton-syndrome-ruled-out" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let stored = stored_bytes(&w.app);
    assert!(
        contains_ignoring_case(&stored, &id_of(&n)),
        "the note is not in the store at all"
    );
    for plain in [secret, reason, "Pemberton-syndrome-ruled-out"] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }
}

#[tokio::test]
async fn break_the_glass_reads_notes_but_does_not_write_them() {
    let w = Ward::new().await;
    w.app.create_user(&w.admin, "doctor-er", "doctor").await;
    let er = w.app.login("doctor-er", STRONG_PASSWORD).await;
    let note = id_of(&w.write(&w.doctor, soap(&w.patient, true)).await);
    let (status, reply) = w
        .call(&er, Method::GET, &format!("/notes/{note}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = w
        .call(
            &er,
            Method::POST,
            &format!("/patients/{}/break-glass", w.patient),
            Some(json!({ "reason": "Collapsed in the emergency room, history needed now" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    w.get(&er, &note).await;
    let (status, reply) = w
        .call(&er, Method::POST, "/notes", Some(soap(&w.patient, false)))
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = w
        .call(
            &er,
            Method::POST,
            &format!("/notes/{note}/amendments"),
            Some(json!({ "reason": "Add ER findings", "subjective": "x" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::GET,
            &format!("/notes?patient_id={}", w.patient),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["meta"]["total"], 1, "{reply}");
    assert!(
        reply["data"][0]["amendments"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{reply}"
    );
}

#[tokio::test]
async fn another_tenants_notes_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let a_admin = login_in(&app, a, "hadmin", "hadmin123").await;
    let a_doctor = login_in(&app, a, "doctor", "doctor123").await;
    let b_reception = login_in(&app, b_tenant, "reception", "reception123").await;
    let b_doctor = login_in(&app, b_tenant, "doctor", "doctor123").await;
    let b_nurse = login_in(&app, b_tenant, "nurse", "nurse123").await;
    let a_patient =
        register_patient_id(&app, &a_admin, patient_body("Ana", "A", "1980-01-01")).await;
    add_to_care_team(&app, &a_admin, &a_patient, &user_id(&app, &a_doctor).await).await;
    let b_patient =
        register_patient_id(&app, &b_reception, patient_body("Ben", "B", "1980-01-01")).await;
    let _ = b_patient;
    let (status, reply) = app
        .api(
            Method::POST,
            "/notes",
            Some(&a_doctor),
            Some(soap(&a_patient, true)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let signed = id_of(&reply["data"]);
    let (status, reply) = app
        .api(
            Method::POST,
            "/notes",
            Some(&a_doctor),
            Some(soap(&a_patient, false)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let draft = id_of(&reply["data"]);
    let before = app
        .api(
            Method::GET,
            &format!("/notes/{signed}"),
            Some(&a_doctor),
            None,
        )
        .await
        .1;

    for token in [&b_doctor, &b_nurse] {
        for (method, path, body) in [
            (Method::GET, format!("/notes/{signed}"), None),
            (
                Method::PUT,
                format!("/notes/{draft}"),
                Some(json!({ "subjective": "Cross tenant" })),
            ),
            (Method::POST, format!("/notes/{draft}/sign"), None),
            (
                Method::POST,
                format!("/notes/{signed}/amendments"),
                Some(json!({ "reason": "Cross tenant", "subjective": "x" })),
            ),
            (
                Method::POST,
                "/notes".to_string(),
                Some(soap(&a_patient, true)),
            ),
        ] {
            let (s, reply) = app.api(method, &path, Some(token), body).await;
            assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        let (s, reply) = app
            .api(
                Method::GET,
                &format!("/notes?patient_id={a_patient}"),
                Some(token),
                None,
            )
            .await;
        assert_ok(s, &reply, StatusCode::OK);
        assert_eq!(reply["meta"]["total"], 0, "{reply}");
    }
    let after = app
        .api(
            Method::GET,
            &format!("/notes/{signed}"),
            Some(&a_doctor),
            None,
        )
        .await
        .1;
    assert_eq!(before["data"], after["data"]);
    let d = app
        .api(
            Method::GET,
            &format!("/notes/{draft}"),
            Some(&a_doctor),
            None,
        )
        .await
        .1;
    assert_eq!(d["data"]["status"], "draft");
}

#[tokio::test]
async fn a_key_rotation_re_encrypts_notes_and_amendments_and_keeps_the_signed_hash() {
    use common::crypto::{key_id_of, Keyring, MasterKey};
    use common::db::write_tx;
    use diesel::prelude::*;
    use hospital::reencrypt::{self, worker};
    use hospital::schema::{clinical_note_amendments, clinical_notes};

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
    let doctor = app.login("doctor", "doctor123").await;
    let p = register_patient_id(&app, &admin, patient_body("Rota", "Tion", "1977-07-07")).await;
    add_to_care_team(&app, &admin, &p, &user_id(&app, &doctor).await).await;
    let (_, signed) = app
        .api(Method::POST, "/notes", Some(&doctor), Some(soap(&p, true)))
        .await;
    let signed = signed["data"].clone();
    let (_, draft) = app
        .api(Method::POST, "/notes", Some(&doctor), Some(soap(&p, false)))
        .await;
    let draft = id_of(&draft["data"]);
    let amend = json!({ "reason": "Blood pressure misread", "objective": "BP 130/85" });
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/notes/{}/amendments", id_of(&signed)),
            Some(&doctor),
            Some(amend),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);

    let kr = Keyring::new(MasterKey::from_hex_or_base64(&master).unwrap());
    let db = app.db();
    let (totals, stale) = tokio::task::spawn_blocking(move || {
        let mut c = db.conn().unwrap();
        let tenant = reencrypt::tenants(&mut c).unwrap().remove(0);
        let key = write_tx(&mut c, |c| kr.rotate(c, &tenant)).unwrap();
        let totals = worker::run_to_completion(&mut c, &kr, &tenant, 10, "cli", None).unwrap();
        let mut texts: Vec<String> = clinical_notes::table
            .select(clinical_notes::content_enc)
            .load(&mut c)
            .unwrap();
        let amended: Vec<(String, String)> = clinical_note_amendments::table
            .select((
                clinical_note_amendments::reason_enc,
                clinical_note_amendments::content_enc,
            ))
            .load(&mut c)
            .unwrap();
        texts.extend(amended.into_iter().flat_map(|(a, b)| [a, b]));
        let stale = texts
            .iter()
            .filter(|v| key_id_of(v).unwrap() != key)
            .count();
        (totals, stale)
    })
    .await
    .unwrap();
    assert_eq!(
        totals.notes, 4,
        "two notes' contents, an amendment's reason and content"
    );
    assert_eq!(stale, 0);
    let (_, after) = app
        .api(
            Method::GET,
            &format!("/notes/{}", id_of(&signed)),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(after["data"]["content"], signed["content"]);
    assert_eq!(after["data"]["content_hash"], signed["content_hash"]);
    assert_eq!(
        after["data"]["amendments"][0]["reason"],
        "Blood pressure misread"
    );
    let (status, d) = app
        .api(Method::GET, &format!("/notes/{draft}"), Some(&doctor), None)
        .await;
    assert_ok(status, &d, StatusCode::OK);
    assert_eq!(
        d["data"]["content"]["plan"],
        "Ibuprofen as needed; recheck BP in two weeks"
    );
}

#[tokio::test]
async fn the_database_itself_keeps_signed_notes_amendments_and_dispenses() {
    let w = Ward::new().await;
    let signed = id_of(&w.write(&w.doctor, soap(&w.patient, true)).await);
    let draft = id_of(&w.write(&w.doctor, soap(&w.patient, false)).await);
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/notes/{signed}/amendments"),
            Some(json!({ "reason": "Plan changed", "plan": "Rest" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    for sql in [
        format!("UPDATE clinical_notes SET status = 'draft', content_hash = NULL, signed_at = NULL WHERE id = '{signed}'"),
        format!("UPDATE clinical_notes SET content_hash = 'forged' WHERE id = '{signed}'"),
        format!("UPDATE clinical_notes SET author_id = 'someone' WHERE id = '{signed}'"),
        format!("DELETE FROM clinical_notes WHERE id = '{signed}'"),
        format!("UPDATE clinical_note_amendments SET author_id = 'someone' WHERE note_id = '{signed}'"),
        format!("DELETE FROM clinical_note_amendments WHERE note_id = '{signed}'"),
    ] {
        assert!(w.app.sql(&sql).await.is_err(), "accepted: {sql}");
    }
    // A draft is still the author's to change (the API does it this way).
    let sql = format!("UPDATE clinical_notes SET kind = 'procedure' WHERE id = '{draft}'");
    assert!(w.app.sql(&sql).await.is_ok(), "a draft is not fixed");
    let note = w.get(&w.doctor, &signed).await;
    assert_eq!(note["status"], "signed");
    assert_eq!(note["author_id"], w.doctor_id.as_str());
    assert_eq!(note["amendments"].as_array().unwrap().len(), 1);

    // Dispenses too are only ever inserted.
    let pharmacist = w.app.login("pharmacist", "pharmacist123").await;
    let mut rx = crate::hospital_prescriptions_matrix::rx(&w.patient, "Ibuprofen 400 mg");
    rx["quantity"] = json!(5);
    let (status, reply) = w
        .call(&w.doctor, Method::POST, "/prescriptions", Some(rx))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let (status, reply) = w
        .call(
            &pharmacist,
            Method::POST,
            &format!("/prescriptions/{id}/dispense"),
            Some(json!({ "quantity": 5 })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    for sql in [
        format!("UPDATE prescription_dispenses SET quantity = 1 WHERE prescription_id = '{id}'"),
        format!("DELETE FROM prescription_dispenses WHERE prescription_id = '{id}'"),
        format!(
            "UPDATE prescriptions SET dispensed_quantity = total_quantity + 1 WHERE id = '{id}'"
        ),
    ] {
        assert!(w.app.sql(&sql).await.is_err(), "accepted: {sql}");
    }
}
