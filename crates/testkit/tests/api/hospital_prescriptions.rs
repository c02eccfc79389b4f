//! Prescriptions: the allergy warning a doctor must acknowledge, partial
//! dispensing down to the remaining quantity, rejection with a reason, the
//! pharmacist's queue, concurrent dispenses that never over-dispense, the
//! patient's access log, sealed details, bad input and another tenant's
//! prescriptions.

use std::sync::Arc;

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, ids, login_in, patient_body,
    portal_account, register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_prescriptions_matrix::rx;

struct Pharmacy {
    app: TestApp,
    admin: String,
    doctor: String,
    pharmacist: String,
    pharmacist_id: String,
    patient: String,
}

impl Pharmacy {
    async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let pharmacist = app.login("pharmacist", "pharmacist123").await;
        let pharmacist_id = user_id(&app, &pharmacist).await;
        let doctor_id = user_id(&app, &doctor).await;
        let mut body = patient_body("Hedda", "Gabler", "1958-09-30");
        body["allergies"] = json!(["Penicillin", "latex"]);
        let patient = register_patient_id(&app, &admin, body).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        Self {
            app,
            admin,
            doctor,
            pharmacist,
            pharmacist_id,
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

    async fn prescribe(&self, body: Value) -> Value {
        let (status, reply) = self
            .call(&self.doctor, Method::POST, "/prescriptions", Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        reply["data"].clone()
    }

    async fn dispense(&self, id: &str, n: i64) -> (StatusCode, Value) {
        self.call(
            &self.pharmacist,
            Method::POST,
            &format!("/prescriptions/{id}/dispense"),
            Some(json!({ "quantity": n })),
        )
        .await
    }

    async fn count(&self) -> i64 {
        let (status, reply) = self
            .call(
                &self.doctor,
                Method::GET,
                &format!("/prescriptions?patient_id={}", self.patient),
                None,
            )
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["meta"]["total"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn a_recorded_allergy_must_be_acknowledged_before_the_prescription_is_saved() {
    let ph = Pharmacy::new().await;
    let body = rx(&ph.patient, "Penicillin V 500 mg");
    let (status, reply) = ph
        .call(
            &ph.doctor,
            Method::POST,
            "/prescriptions",
            Some(body.clone()),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "ALLERGY_WARNING");
    assert_eq!(
        reply["error"]["details"]["allergies"],
        json!(["Penicillin"]),
        "{reply}"
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Penicillin"),
        "{reply}"
    );
    assert_eq!(ph.count().await, 0, "a warned prescription is not saved");
    // Explicitly not acknowledged: the same.
    let mut no = body.clone();
    no["acknowledge_allergies"] = json!(false);
    let (status, reply) = ph
        .call(&ph.doctor, Method::POST, "/prescriptions", Some(no))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "ALLERGY_WARNING");
    // Case and word order do not hide it.
    let (status, reply) = ph
        .call(
            &ph.doctor,
            Method::POST,
            "/prescriptions",
            Some(rx(&ph.patient, "LATEX-free PENICILLIN")),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "ALLERGY_WARNING");
    assert_eq!(
        reply["error"]["details"]["allergies"],
        json!(["Penicillin", "latex"]),
        "{reply}"
    );

    let mut yes = body;
    yes["acknowledge_allergies"] = json!(true);
    let saved = ph.prescribe(yes).await;
    assert_eq!(saved["allergy_acknowledged"], true);
    assert_eq!(saved["status"], "pending");
    assert_eq!(saved["medication"], "Penicillin V 500 mg");
    let plain = ph.prescribe(rx(&ph.patient, "Ibuprofen 400 mg")).await;
    assert_eq!(plain["allergy_acknowledged"], false);
    assert_eq!(ph.count().await, 2);
    // The audit row counts the acknowledged warnings; it names no allergy.
    let path = format!(
        "/audit?resource={}&action=prescription.create&page_size=100",
        encode(&format!("patient:{}", ph.patient))
    );
    let (status, audit) = ph.call(&ph.admin, Method::GET, &path, None).await;
    assert_ok(status, &audit, StatusCode::OK);
    let rows = audit["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{audit}");
    assert!(
        rows.iter()
            .any(|r| r["details"]["allergy_warnings_acknowledged"] == 1),
        "{audit}"
    );
    assert!(
        !audit.to_string().to_lowercase().contains("penicillin"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_pharmacist_dispenses_in_parts_down_to_nothing_or_rejects_with_a_reason() {
    let ph = Pharmacy::new().await;
    let a = id_of(&ph.prescribe(rx(&ph.patient, "Amoxicillin 500 mg")).await);
    let b = id_of(&ph.prescribe(rx(&ph.patient, "Ibuprofen 400 mg")).await);

    // The queue: both open.
    let (status, queue) = ph
        .call(
            &ph.pharmacist,
            Method::GET,
            "/prescriptions?open=true",
            None,
        )
        .await;
    assert_ok(status, &queue, StatusCode::OK);
    assert_eq!(ids(&queue), vec![a.clone(), b.clone()]);

    let (status, reply) = ph.dispense(&a, 20).await;
    assert_ok(status, &reply, StatusCode::OK);
    let d = &reply["data"];
    assert_eq!(d["status"], "partially_dispensed");
    assert_eq!(d["total_quantity"], 60, "30 × (1 + 1 refill)");
    assert_eq!(d["dispensed_quantity"], 20);
    assert_eq!(d["remaining_quantity"], 40);
    assert_eq!(
        d["dispenses"][0]["pharmacist_id"],
        ph.pharmacist_id.as_str()
    );
    assert_eq!(d["dispenses"][0]["quantity"], 20);
    // More than remains: refused, nothing changes.
    let (status, reply) = ph.dispense(&a, 41).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        reply["error"]["message"].as_str().unwrap().contains("40"),
        "{reply}"
    );
    for bad in [
        json!({ "quantity": 0 }),
        json!({ "quantity": -5 }),
        json!({ "quantity": "5" }),
        json!({}),
        json!({ "quantity": 1, "x": 1 }),
    ] {
        let (status, reply) = ph
            .call(
                &ph.pharmacist,
                Method::POST,
                &format!("/prescriptions/{a}/dispense"),
                Some(bad),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = ph.dispense(&a, 40).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "dispensed");
    assert_eq!(reply["data"]["remaining_quantity"], 0);
    assert_eq!(reply["data"]["dispenses"].as_array().unwrap().len(), 2);
    let (status, reply) = ph.dispense(&a, 1).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let reason = json!({ "reason": "Already fully dispensed" });
    let (status, reply) = ph
        .call(
            &ph.pharmacist,
            Method::POST,
            &format!("/prescriptions/{a}/reject"),
            Some(reason),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Reject the other after a part: nothing more remains.
    let (status, _) = ph.dispense(&b, 5).await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = ph
        .call(
            &ph.pharmacist,
            Method::POST,
            &format!("/prescriptions/{b}/reject"),
            Some(json!({ "reason": "x" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let reason = json!({ "reason": "Interacts with the warfarin on file" });
    let (status, reply) = ph
        .call(
            &ph.pharmacist,
            Method::POST,
            &format!("/prescriptions/{b}/reject"),
            Some(reason.clone()),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "rejected");
    assert_eq!(reply["data"]["remaining_quantity"], 0);
    assert_eq!(reply["data"]["dispensed_quantity"], 5);
    assert_eq!(
        reply["data"]["reject_reason"],
        "Interacts with the warfarin on file"
    );
    let (status, reply) = ph.dispense(&b, 1).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = ph
        .call(
            &ph.pharmacist,
            Method::POST,
            &format!("/prescriptions/{b}/reject"),
            Some(reason),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // The queue is empty; the full list keeps both.
    let (_, queue) = ph
        .call(
            &ph.pharmacist,
            Method::GET,
            "/prescriptions?open=true",
            None,
        )
        .await;
    assert!(ids(&queue).is_empty(), "{queue}");
    let (_, all) = ph
        .call(
            &ph.pharmacist,
            Method::GET,
            "/prescriptions?status=rejected",
            None,
        )
        .await;
    assert_eq!(ids(&all), vec![b.clone()]);

    // The patient sees their own, and every read is on their access log.
    portal_account(&ph.app, &ph.admin, &ph.patient, "hedda.portal").await;
    let hedda = ph.app.login("hedda.portal", STRONG_PASSWORD).await;
    let (status, own) = ph.call(&hedda, Method::GET, "/prescriptions", None).await;
    assert_ok(status, &own, StatusCode::OK);
    assert_eq!(ids(&own), vec![a.clone(), b.clone()]);
    let (status, log) = ph
        .call(
            &hedda,
            Method::GET,
            &format!("/patients/{}/access-log?page_size=100", ph.patient),
            None,
        )
        .await;
    assert_ok(status, &log, StatusCode::OK);
    let count = |who: &str, action: &str| {
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor_username"] == who && e["action"] == action)
            .count()
    };
    assert_eq!(count("pharmacist", "prescription.dispense"), 3, "{log}");
    assert_eq!(count("pharmacist", "prescription.reject"), 1, "{log}");
    // The queue showed both, the rejected list one; a dispense answers its writer.
    assert_eq!(count("pharmacist", "prescription.read"), 3, "{log}");
    assert_eq!(count("hedda.portal", "prescription.read"), 2, "{log}");
    assert_eq!(count("doctor", "prescription.create"), 2, "{log}");
    assert!(ph.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn concurrent_dispenses_never_dispense_more_than_prescribed() {
    let ph = Pharmacy::new().await;
    let mut body = rx(&ph.patient, "Metformin 500 mg");
    body["quantity"] = json!(10);
    body["refills"] = json!(0);
    let id = id_of(&ph.prescribe(body).await);
    let app = Arc::new(ph.app);
    for (n, each, wins) in [(20, 1, 10usize), (20, 3, 0)] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (app, token, path) = (
                app.clone(),
                ph.pharmacist.clone(),
                format!("/prescriptions/{id}/dispense"),
            );
            tasks.spawn(async move {
                app.api(
                    Method::POST,
                    &path,
                    Some(&token),
                    Some(json!({ "quantity": each })),
                )
                .await
            });
        }
        let (mut won, mut lost) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            let (status, reply) = done.unwrap();
            if status == StatusCode::OK {
                won += 1;
            } else {
                assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
                lost += 1;
            }
        }
        assert_eq!((won, lost), (wins, n - wins), "{each} at a time");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/prescriptions/{id}"),
            Some(&ph.pharmacist),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["dispensed_quantity"], 10);
    assert_eq!(reply["data"]["remaining_quantity"], 0);
    assert_eq!(reply["data"]["status"], "dispensed");
    let total: i64 = reply["data"]["dispenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 10);

    // Three at a time on a fresh 10: exactly three win, 9 dispensed.
    let mut body = rx(&ph.patient, "Metformin 850 mg");
    body["quantity"] = json!(10);
    body["refills"] = json!(0);
    let (status, reply) = app
        .api(Method::POST, "/prescriptions", Some(&ph.doctor), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, token, path) = (
            app.clone(),
            ph.pharmacist.clone(),
            format!("/prescriptions/{id}/dispense"),
        );
        tasks.spawn(async move {
            app.api(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({ "quantity": 3 })),
            )
            .await
        });
    }
    let mut won = 0;
    while let Some(done) = tasks.join_next().await {
        if done.unwrap().0 == StatusCode::OK {
            won += 1;
        }
    }
    assert_eq!(won, 3);
    let (_, reply) = app
        .api(
            Method::GET,
            &format!("/prescriptions/{id}"),
            Some(&ph.pharmacist),
            None,
        )
        .await;
    assert_eq!(reply["data"]["dispensed_quantity"], 9);
    assert_eq!(reply["data"]["status"], "partially_dispensed");
}

#[tokio::test]
async fn bad_prescriptions_are_refused_with_400_and_details_are_sealed_at_rest() {
    let ph = Pharmacy::new().await;
    let base = rx(&ph.patient, "Ibuprofen 400 mg");
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("dose");
    for body in [
        with("route", json!("by_owl")),
        with("quantity", json!(0)),
        with("quantity", json!(10_001)),
        with("refills", json!(-1)),
        with("refills", json!(13)),
        with("medication", json!("x")),
        with("medication", json!("y".repeat(201))),
        with("dose", json!("  ")),
        with("notes", json!("z".repeat(1001))),
        with("frequency", json!("a\u{0}b")),
        with("acknowledge_allergies", json!("yes")),
        with("extra", json!(1)),
        with("patient_id", json!("")),
        missing,
    ] {
        let (status, reply) = ph
            .call(
                &ph.doctor,
                Method::POST,
                "/prescriptions",
                Some(body.clone()),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = ph
        .call(
            &ph.doctor,
            Method::POST,
            "/prescriptions",
            Some(with("patient_id", json!(uuid::Uuid::new_v4().to_string()))),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in [
        "/prescriptions?status=done",
        "/prescriptions?open=maybe",
        "/prescriptions?page_size=0",
    ] {
        let (status, reply) = ph.call(&ph.pharmacist, Method::GET, path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(ph.count().await, 0);

    let secret = "Zolpidem-Quartz-7";
    let id = id_of(&ph.prescribe(with("medication", json!(secret))).await);
    let (status, _) = ph
        .call(
            &ph.pharmacist,
            Method::POST,
            &format!("/prescriptions/{id}/reject"),
            Some(json!({ "reason": "Xylophone-reason-9" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = stored_bytes(&ph.app);
    assert!(contains_ignoring_case(&stored, &id));
    for plain in [
        secret,
        "Xylophone-reason-9",
        "Take with food",
        "three times a day",
    ] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }
}

#[tokio::test]
async fn another_tenants_prescriptions_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let a_admin = login_in(&app, a, "hadmin", "hadmin123").await;
    let a_doctor = login_in(&app, a, "doctor", "doctor123").await;
    let a_pharmacist = login_in(&app, a, "pharmacist", "pharmacist123").await;
    let b_doctor = login_in(&app, b_tenant, "doctor", "doctor123").await;
    let b_pharmacist = login_in(&app, b_tenant, "pharmacist", "pharmacist123").await;
    let a_patient =
        register_patient_id(&app, &a_admin, patient_body("Ana", "A", "1980-01-01")).await;
    add_to_care_team(&app, &a_admin, &a_patient, &user_id(&app, &a_doctor).await).await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/prescriptions",
            Some(&a_doctor),
            Some(rx(&a_patient, "Amoxicillin 500 mg")),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let before = app
        .api(
            Method::GET,
            &format!("/prescriptions/{id}"),
            Some(&a_pharmacist),
            None,
        )
        .await
        .1;

    for (token, method, path, body) in [
        (
            &b_pharmacist,
            Method::GET,
            format!("/prescriptions/{id}"),
            None,
        ),
        (
            &b_pharmacist,
            Method::POST,
            format!("/prescriptions/{id}/dispense"),
            Some(json!({ "quantity": 1 })),
        ),
        (
            &b_pharmacist,
            Method::POST,
            format!("/prescriptions/{id}/reject"),
            Some(json!({ "reason": "Cross tenant" })),
        ),
        (&b_doctor, Method::GET, format!("/prescriptions/{id}"), None),
        (
            &b_doctor,
            Method::POST,
            "/prescriptions".to_string(),
            Some(rx(&a_patient, "Ibuprofen 400 mg")),
        ),
    ] {
        let (s, reply) = app.api(method, &path, Some(token), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (s, queue) = app
        .api(
            Method::GET,
            "/prescriptions?open=true",
            Some(&b_pharmacist),
            None,
        )
        .await;
    assert_ok(s, &queue, StatusCode::OK);
    assert_eq!(queue["meta"]["total"], 0, "{queue}");
    let after = app
        .api(
            Method::GET,
            &format!("/prescriptions/{id}"),
            Some(&a_pharmacist),
            None,
        )
        .await
        .1;
    assert_eq!(before["data"], after["data"]);
}

#[tokio::test]
async fn a_key_rotation_re_encrypts_the_prescriptions_texts() {
    use common::crypto::{key_id_of, Keyring, MasterKey};
    use common::db::write_tx;
    use diesel::prelude::*;
    use hospital::reencrypt::{self, worker};
    use hospital::schema::prescriptions;

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
    let pharmacist = app.login("pharmacist", "pharmacist123").await;
    let p = register_patient_id(&app, &admin, patient_body("Rota", "Tion", "1977-07-07")).await;
    add_to_care_team(&app, &admin, &p, &user_id(&app, &doctor).await).await;
    let mut ids = Vec::new();
    for med in ["Amoxicillin 500 mg", "Ibuprofen 400 mg"] {
        let (status, reply) = app
            .api(
                Method::POST,
                "/prescriptions",
                Some(&doctor),
                Some(rx(&p, med)),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        ids.push(id_of(&reply["data"]));
    }
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/prescriptions/{}/reject", ids[1]),
            Some(&pharmacist),
            Some(json!({ "reason": "Duplicate therapy" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kr = Keyring::new(MasterKey::from_hex_or_base64(&master).unwrap());
    let db = app.db();
    let (totals, stale) = tokio::task::spawn_blocking(move || {
        let mut c = db.conn().unwrap();
        let tenant = reencrypt::tenants(&mut c).unwrap().remove(0);
        let key = write_tx(&mut c, |c| kr.rotate(c, &tenant)).unwrap();
        let totals = worker::run_to_completion(&mut c, &kr, &tenant, 10, "cli", None).unwrap();
        let texts: Vec<(String, Option<String>)> = prescriptions::table
            .select((prescriptions::details_enc, prescriptions::reject_reason_enc))
            .load(&mut c)
            .unwrap();
        let stale = texts
            .iter()
            .flat_map(|(d, r)| [Some(d.clone()), r.clone()])
            .flatten()
            .filter(|v| key_id_of(v).unwrap() != key)
            .count();
        (totals, stale)
    })
    .await
    .unwrap();
    assert_eq!(totals.prescriptions, 3, "two details, a rejection's reason");
    assert_eq!(stale, 0);
    let (_, r) = app
        .api(
            Method::GET,
            &format!("/prescriptions/{}", ids[1]),
            Some(&pharmacist),
            None,
        )
        .await;
    assert_eq!(r["data"]["medication"], "Ibuprofen 400 mg");
    assert_eq!(r["data"]["reject_reason"], "Duplicate therapy");
}
