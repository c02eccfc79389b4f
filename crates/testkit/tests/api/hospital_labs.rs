//! Lab orders: a doctor orders, the lab works the worklist, enters results
//! in parts and finalizes (not before every test has a result); a finalized
//! order is fixed — by the API and by the database — and corrected only by
//! amendments that keep the original; the patient sees finalized results
//! only; cancelling; every read on the patient's access log; sealed texts;
//! bad input; another tenant's orders.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, ids, login_in, patient_body,
    portal_account, register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_labs_matrix::{lab_order, result};

pub struct Lab {
    pub app: TestApp,
    pub admin: String,
    pub doctor: String,
    pub doctor_id: String,
    pub lab: String,
    pub lab_id: String,
    pub patient: String,
}

impl Lab {
    pub async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let lab = app.login("lab", "lab123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let lab_id = user_id(&app, &lab).await;
        let patient =
            register_patient_id(&app, &admin, patient_body("Peer", "Gynt", "1967-03-12")).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        Self {
            app,
            admin,
            doctor,
            doctor_id,
            lab,
            lab_id,
            patient,
        }
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.api(method, path, Some(token), body).await
    }

    pub async fn order(&self, body: Value) -> Value {
        let (status, reply) = self
            .call(&self.doctor, Method::POST, "/lab-orders", Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        reply["data"].clone()
    }

    pub async fn results(&self, id: &str, results: Value) -> (StatusCode, Value) {
        self.call(
            &self.lab,
            Method::POST,
            &format!("/lab-orders/{id}/results"),
            Some(json!({ "results": results })),
        )
        .await
    }

    pub async fn finalize(&self, id: &str) -> (StatusCode, Value) {
        self.call(
            &self.lab,
            Method::POST,
            &format!("/lab-orders/{id}/finalize"),
            None,
        )
        .await
    }

    pub async fn amend(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            &self.lab,
            Method::POST,
            &format!("/lab-orders/{id}/amendments"),
            Some(body),
        )
        .await
    }

    async fn count(&self) -> i64 {
        let (status, reply) = self
            .call(
                &self.doctor,
                Method::GET,
                &format!("/lab-orders?patient_id={}", self.patient),
                None,
            )
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["meta"]["total"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn the_lab_results_and_finalizes_an_order_and_the_patient_then_sees_it() {
    let l = Lab::new().await;
    let o = l.order(lab_order(&l.patient)).await;
    let id = id_of(&o);
    assert_eq!(o["status"], "ordered");
    assert_eq!(o["priority"], "urgent");
    assert_eq!(o["ordered_by"], l.doctor_id.as_str());
    assert_eq!(
        o["tests"][0],
        json!({ "code": "CBC", "name": "Complete blood count" })
    );
    assert_eq!(o["notes"], "Fasting sample");
    assert_eq!(o["results"], json!([]));

    // The worklist shows it; the patient does not see it yet.
    let (status, work) = l
        .call(&l.lab, Method::GET, "/lab-orders?open=true", None)
        .await;
    assert_ok(status, &work, StatusCode::OK);
    assert_eq!(ids(&work), vec![id.clone()]);
    portal_account(&l.app, &l.admin, &l.patient, "peer.portal").await;
    let peer = l.app.login("peer.portal", STRONG_PASSWORD).await;
    let (status, own) = l.call(&peer, Method::GET, "/lab-orders", None).await;
    assert_ok(status, &own, StatusCode::OK);
    assert!(ids(&own).is_empty(), "{own}");
    let (status, reply) = l
        .call(&peer, Method::GET, &format!("/lab-orders/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Part of the results: in progress; finalizing names what is missing.
    let (status, reply) = l.results(&id, json!([result("k", "5.9", "high")])).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "in_progress");
    assert_eq!(reply["data"]["results"][0]["code"], "K", "the order's code");
    let (status, reply) = l.finalize(&id).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "RESULTS_INCOMPLETE");
    assert_eq!(
        reply["error"]["details"]["missing"],
        json!(["CBC"]),
        "{reply}"
    );
    // A result entered again replaces the earlier one until finalized.
    let (status, reply) = l
        .results(
            &id,
            json!([
                result("K", "4.1", "normal"),
                result("CBC", "within limits", "normal")
            ]),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let r = &reply["data"]["results"];
    assert_eq!(r.as_array().unwrap().len(), 2, "{reply}");
    assert_eq!(r[1]["value"], "4.1");
    assert_eq!(r[1]["unit"], "mmol/L");
    assert_eq!(r[1]["reference_range"], "3.5-5.1");
    let (status, reply) = l.finalize(&id).await;
    assert_ok(status, &reply, StatusCode::OK);
    let f = &reply["data"];
    assert_eq!(f["status"], "finalized");
    assert_eq!(f["finalized_by"], l.lab_id.as_str());
    assert!(f["finalized_at"].is_string(), "{f}");

    // Finalized: fixed.
    let (status, reply) = l
        .results(&id, json!([result("K", "9.9", "critical_high")]))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = l.finalize(&id).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = l
        .call(
            &l.doctor,
            Method::POST,
            &format!("/lab-orders/{id}/cancel"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Now the patient sees it, and the doctor; every read is on the log.
    let (status, own) = l.call(&peer, Method::GET, "/lab-orders", None).await;
    assert_ok(status, &own, StatusCode::OK);
    assert_eq!(ids(&own), vec![id.clone()]);
    let (status, one) = l
        .call(&peer, Method::GET, &format!("/lab-orders/{id}"), None)
        .await;
    assert_ok(status, &one, StatusCode::OK);
    assert_eq!(one["data"]["results"][1]["value"], "4.1");
    // The finalization's audit row pins the values by their hash.
    let results: Vec<hospital::labs::model::LabResult> =
        serde_json::from_value(one["data"]["results"].clone()).unwrap();
    let finalized = l
        .app
        .audit_rows()
        .await
        .into_iter()
        .find(|r| r.action == "lab_order.finalize")
        .unwrap();
    let details: Value = serde_json::from_str(&finalized.details).unwrap();
    assert_eq!(
        details["results_hash"],
        hospital::labs::model::results_hash(&results).unwrap()
    );
    let (status, _) = l
        .call(&l.doctor, Method::GET, &format!("/lab-orders/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, work) = l
        .call(&l.lab, Method::GET, "/lab-orders?open=true", None)
        .await;
    assert_ok(status, &work, StatusCode::OK);
    assert!(ids(&work).is_empty(), "finalized leaves the worklist");
    let (status, log) = l
        .call(
            &peer,
            Method::GET,
            &format!("/patients/{}/access-log?page_size=100", l.patient),
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
    assert_eq!(count("doctor", "lab_order.create"), 1, "{log}");
    assert_eq!(count("lab", "lab_order.results"), 2, "{log}");
    assert_eq!(count("lab", "lab_order.finalize"), 1, "{log}");
    // The two worklists: one showed the order, the other was empty.
    assert_eq!(count("lab", "lab_order.read"), 1, "{log}");
    assert_eq!(count("peer.portal", "lab_order.read"), 2, "{log}");
    assert_eq!(count("doctor", "lab_order.read"), 1, "{log}");
    // The audit rows name no test and no value.
    let path = format!(
        "/audit?resource={}&page_size=100",
        encode(&format!("patient:{}", l.patient))
    );
    let (status, audit) = l.call(&l.admin, Method::GET, &path, None).await;
    assert_ok(status, &audit, StatusCode::OK);
    let text = audit.to_string();
    for plain in ["Complete blood count", "mmol", "within limits", "Fasting"] {
        assert!(!text.contains(plain), "{plain} in the audit: {audit}");
    }
    assert!(l.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn a_finalized_result_is_corrected_only_by_an_amendment_that_keeps_the_original() {
    let l = Lab::new().await;
    let id = id_of(&l.order(lab_order(&l.patient)).await);
    // Not finalized: no amendment.
    let amendment = json!({
        "reason": "Haemolysed sample, repeated",
        "results": [result("K", "4.4", "normal")],
    });
    let (status, reply) = l.amend(&id, amendment.clone()).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let both = json!([
        result("CBC", "within limits", "normal"),
        result("K", "6.2", "high")
    ]);
    assert_eq!(l.results(&id, both).await.0, StatusCode::OK);
    assert_eq!(l.finalize(&id).await.0, StatusCode::OK);

    for bad in [
        json!({ "results": [result("K", "4.4", "normal")] }),
        json!({ "reason": "no", "results": [result("K", "4.4", "normal")] }),
        json!({ "reason": "Repeated", "results": [] }),
        json!({ "reason": "Repeated", "results": [result("NA", "140", "normal")] }),
        json!({ "reason": "Repeated", "results": [result("K", "4.4", "sideways")] }),
        json!({ "reason": "Repeated", "results": [result("K", "4.4", "normal")], "x": 1 }),
    ] {
        let (status, reply) = l.amend(&id, bad.clone()).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = l.amend(&id, amendment).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let v = &reply["data"];
    assert_eq!(v["status"], "finalized");
    assert_eq!(
        v["original_results"][1]["value"], "6.2",
        "the original stays"
    );
    assert_eq!(
        v["results"][1]["value"], "4.4",
        "the current result is corrected"
    );
    assert_eq!(
        v["results"][0]["value"], "within limits",
        "tests not named keep theirs"
    );
    let a = &v["amendments"][0];
    assert_eq!(a["amended_by"], l.lab_id.as_str());
    assert_eq!(a["reason"], "Haemolysed sample, repeated");
    assert!(a["created_at"].is_string());
    // A second amendment builds on the first.
    let (status, reply) = l
        .amend(
            &id,
            json!({ "reason": "CBC reread", "results": [result("CBC", "mild anaemia", "abnormal")] }),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let v = &reply["data"];
    assert_eq!(v["amendments"].as_array().unwrap().len(), 2);
    assert_eq!(v["results"][0]["value"], "mild anaemia");
    assert_eq!(v["results"][1]["value"], "4.4");
    assert_eq!(v["original_results"][0]["value"], "within limits");
    // Only the lab amends.
    let (status, reply) = l
        .call(
            &l.doctor,
            Method::POST,
            &format!("/lab-orders/{id}/amendments"),
            Some(json!({ "reason": "Doctor edit", "results": [result("K", "1", "low")] })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    // The database keeps a finalized order and its amendments as they are.
    for sql in [
        format!("UPDATE lab_orders SET status = 'in_progress' WHERE id = '{id}'"),
        format!("UPDATE lab_orders SET finalized_by = 'someone' WHERE id = '{id}'"),
        format!("UPDATE lab_orders SET resulted_count = 1 WHERE id = '{id}'"),
        format!("DELETE FROM lab_orders WHERE id = '{id}'"),
        format!("UPDATE lab_result_amendments SET amended_by = 'someone' WHERE order_id = '{id}'"),
        format!("DELETE FROM lab_result_amendments WHERE order_id = '{id}'"),
    ] {
        assert!(l.app.sql(&sql).await.is_err(), "accepted: {sql}");
    }
    let (status, reply) = l
        .call(&l.doctor, Method::GET, &format!("/lab-orders/{id}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "finalized");
    assert_eq!(reply["data"]["amendments"].as_array().unwrap().len(), 2);
    let (status, log) = l
        .call(
            &l.admin,
            Method::GET,
            &format!("/patients/{}/access-log?page_size=100", l.patient),
            None,
        )
        .await;
    assert_ok(status, &log, StatusCode::OK);
    let amends = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "lab_order.amend")
        .count();
    assert_eq!(amends, 2, "{log}");
    assert!(l.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn the_ordering_doctor_cancels_before_any_result_and_no_one_else_does() {
    let l = Lab::new().await;
    let admin = &l.admin;
    l.app.create_user(admin, "doctor-two", "doctor").await;
    let two = l.app.login("doctor-two", STRONG_PASSWORD).await;
    add_to_care_team(&l.app, admin, &l.patient, &user_id(&l.app, &two).await).await;
    let a = id_of(&l.order(lab_order(&l.patient)).await);
    let b = id_of(&l.order(lab_order(&l.patient)).await);
    let cancel = |id: &str| format!("/lab-orders/{id}/cancel");
    // Another doctor on the team sees it but does not cancel it.
    let (status, reply) = l
        .call(&two, Method::GET, &format!("/lab-orders/{a}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = l.call(&two, Method::POST, &cancel(&a), None).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = l.call(&l.lab, Method::POST, &cancel(&a), None).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = l.call(&l.doctor, Method::POST, &cancel(&a), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "cancelled");
    let (status, reply) = l.call(&l.doctor, Method::POST, &cancel(&a), None).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    // A cancelled order takes no result and leaves the worklist.
    let (status, reply) = l.results(&a, json!([result("K", "4.0", "normal")])).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (_, work) = l
        .call(&l.lab, Method::GET, "/lab-orders?open=true", None)
        .await;
    assert_eq!(ids(&work), vec![b.clone()]);
    // Once a result is in, it is too late.
    assert_eq!(
        l.results(&b, json!([result("K", "4.0", "normal")])).await.0,
        StatusCode::OK
    );
    let (status, reply) = l.call(&l.doctor, Method::POST, &cancel(&b), None).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (_, reply) = l
        .call(&l.lab, Method::GET, &format!("/lab-orders/{b}"), None)
        .await;
    assert_eq!(reply["data"]["status"], "in_progress");
    // The ordering doctor keeps seeing their order off the care team.
    let team = format!("/patients/{}/care-team/{}", l.patient, l.doctor_id);
    let (status, reply) = l.call(admin, Method::DELETE, &team, None).await;
    assert!(status.is_success(), "{reply}");
    let (status, reply) = l
        .call(&l.doctor, Method::GET, &format!("/lab-orders/{b}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = l
        .call(
            &l.doctor,
            Method::POST,
            "/lab-orders",
            Some(lab_order(&l.patient)),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn bad_lab_orders_are_refused_with_400_and_their_texts_are_sealed_at_rest() {
    let l = Lab::new().await;
    let base = lab_order(&l.patient);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let test = |code: &str, name: &str| json!({ "code": code, "name": name });
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("tests");
    let many: Vec<Value> = (0..21)
        .map(|i| test(&format!("T{i}"), "Some test"))
        .collect();
    for body in [
        with("tests", json!([])),
        with("tests", json!(many)),
        with(
            "tests",
            json!([test("CBC", "Blood count"), test("cbc", "Again")]),
        ),
        with("tests", json!([test("bad code", "Blood count")])),
        with("tests", json!([test("", "Blood count")])),
        with("tests", json!([test("CBC", "x")])),
        with("tests", json!([test("CBC", &"y".repeat(201))])),
        with(
            "tests",
            json!([{ "code": "CBC", "name": "Blood count", "x": 1 }]),
        ),
        with("tests", json!("CBC")),
        with("priority", json!("whenever")),
        with("notes", json!("z".repeat(1001))),
        with("notes", json!("a\u{0}b")),
        with("extra", json!(1)),
        with("patient_id", json!("")),
        missing,
    ] {
        let (status, reply) = l
            .call(&l.doctor, Method::POST, "/lab-orders", Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = l
        .call(
            &l.doctor,
            Method::POST,
            "/lab-orders",
            Some(with("patient_id", json!(uuid::Uuid::new_v4().to_string()))),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in [
        "/lab-orders?status=done",
        "/lab-orders?open=maybe",
        "/lab-orders?page_size=0",
        "/lab-orders?colour=red",
    ] {
        let (status, reply) = l.call(&l.lab, Method::GET, path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    assert_eq!(l.count().await, 0);

    let id = id_of(
        &l.order(with(
            "tests",
            json!([test("QZX-77", "Quetzal-Assay-Xylo"), test("K", "Potassium")]),
        ))
        .await,
    );
    let r = |code: &str, value: &str| json!({ "code": code, "value": value, "unit": "u", "reference_range": "", "flag": "normal" });
    for results in [
        json!([]),
        json!([r("NA", "1")]),
        json!([r("K", "")]),
        json!([r("K", "1"), r("k", "2")]),
        json!([{ "code": "K", "value": "1", "flag": "normal", "x": 1 }]),
        json!([{ "code": "K", "value": "1" }]),
        json!([{ "code": "K", "value": "1", "unit": "u".repeat(51), "flag": "normal" }]),
        json!([{ "code": "K", "value": "1", "reference_range": "r".repeat(101), "flag": "normal" }]),
        json!("K=1"),
    ] {
        let (status, reply) = l.results(&id, results.clone()).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = l
        .call(
            &l.lab,
            Method::POST,
            &format!("/lab-orders/{id}/results"),
            Some(json!({})),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (_, reply) = l
        .call(&l.lab, Method::GET, &format!("/lab-orders/{id}"), None)
        .await;
    assert_eq!(
        reply["data"]["status"], "ordered",
        "refused results change nothing"
    );

    let results = json!([r("QZX-77", "Pelican-Value-31"), r("K", "4.0")]);
    assert_eq!(l.results(&id, results).await.0, StatusCode::OK);
    assert_eq!(l.finalize(&id).await.0, StatusCode::OK);
    let amendment = json!({ "reason": "Walrus-reason-12", "results": [r("K", "Narwhal-Value-5")] });
    assert_eq!(l.amend(&id, amendment).await.0, StatusCode::CREATED);
    let stored = stored_bytes(&l.app);
    assert!(contains_ignoring_case(&stored, &id));
    for plain in [
        "Quetzal-Assay-Xylo",
        "QZX-77",
        "Fasting sample",
        "Pelican-Value-31",
        "Walrus-reason-12",
        "Narwhal-Value-5",
    ] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }
}

#[tokio::test]
async fn another_tenants_lab_orders_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let a_admin = login_in(&app, a, "hadmin", "hadmin123").await;
    let a_doctor = login_in(&app, a, "doctor", "doctor123").await;
    let a_lab = login_in(&app, a, "lab", "lab123").await;
    let b_doctor = login_in(&app, b_tenant, "doctor", "doctor123").await;
    let b_lab = login_in(&app, b_tenant, "lab", "lab123").await;
    let a_patient =
        register_patient_id(&app, &a_admin, patient_body("Ana", "A", "1980-01-01")).await;
    add_to_care_team(&app, &a_admin, &a_patient, &user_id(&app, &a_doctor).await).await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/lab-orders",
            Some(&a_doctor),
            Some(lab_order(&a_patient)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/lab-orders/{id}/results"),
            Some(&a_lab),
            Some(json!({ "results": [result("K", "4.0", "normal")] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let before = app
        .api(
            Method::GET,
            &format!("/lab-orders/{id}"),
            Some(&a_lab),
            None,
        )
        .await
        .1;

    for (token, method, path, body) in [
        (&b_lab, Method::GET, format!("/lab-orders/{id}"), None),
        (
            &b_lab,
            Method::POST,
            format!("/lab-orders/{id}/results"),
            Some(json!({ "results": [result("K", "9.0", "high")] })),
        ),
        (
            &b_lab,
            Method::POST,
            format!("/lab-orders/{id}/finalize"),
            None,
        ),
        (
            &b_lab,
            Method::POST,
            format!("/lab-orders/{id}/amendments"),
            Some(json!({ "reason": "Cross tenant", "results": [result("K", "9.0", "high")] })),
        ),
        (&b_doctor, Method::GET, format!("/lab-orders/{id}"), None),
        (
            &b_doctor,
            Method::POST,
            format!("/lab-orders/{id}/cancel"),
            None,
        ),
        (
            &b_doctor,
            Method::POST,
            "/lab-orders".to_string(),
            Some(lab_order(&a_patient)),
        ),
    ] {
        let (s, reply) = app.api(method, &path, Some(token), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (s, work) = app
        .api(Method::GET, "/lab-orders", Some(&b_lab), None)
        .await;
    assert_ok(s, &work, StatusCode::OK);
    assert_eq!(work["meta"]["total"], 0, "{work}");
    let after = app
        .api(
            Method::GET,
            &format!("/lab-orders/{id}"),
            Some(&a_lab),
            None,
        )
        .await
        .1;
    assert_eq!(before["data"], after["data"]);
}

/// An imaging order: the same shape as a lab order, another kind.
fn imaging_order(patient: &str) -> Value {
    json!({
        "patient_id": patient,
        "kind": "imaging",
        "tests": [{ "code": "CXR", "name": "Chest X-ray, two views" }],
        "priority": "routine",
    })
}

#[tokio::test]
async fn imaging_orders_are_worked_by_the_radiologist_and_lab_orders_by_the_lab() {
    let l = Lab::new().await;
    let radiologist = l.app.login("radiologist", "radiologist123").await;
    let lab_order_id = id_of(&l.order(lab_order(&l.patient)).await);
    let imaging = l.order(imaging_order(&l.patient)).await;
    assert_eq!(imaging["kind"], "imaging", "{imaging}");
    let imaging_id = id_of(&imaging);
    let lab_order = l
        .call(
            &l.doctor,
            Method::GET,
            &format!("/lab-orders/{lab_order_id}"),
            None,
        )
        .await
        .1;
    assert_eq!(lab_order["data"]["kind"], "lab", "{lab_order}");

    // Each worklist holds its own kind only.
    let (status, list) = l
        .call(&radiologist, Method::GET, "/lab-orders?open=true", None)
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(ids(&list), vec![imaging_id.clone()], "{list}");
    let (_, list) = l
        .call(&l.lab, Method::GET, "/lab-orders?open=true", None)
        .await;
    assert_eq!(ids(&list), vec![lab_order_id.clone()], "{list}");
    // The doctor filters by kind.
    let (_, list) = l
        .call(&l.doctor, Method::GET, "/lab-orders?kind=imaging", None)
        .await;
    assert_eq!(ids(&list), vec![imaging_id.clone()], "{list}");
    let (status, reply) = l
        .call(&l.doctor, Method::GET, "/lab-orders?kind=blood", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");

    // The other kind's order is not there for them (404), and nothing changes.
    let report = json!({ "results": [{
        "code": "CXR", "value": "No consolidation, no effusion", "unit": "",
        "reference_range": "", "flag": "normal",
    }] });
    let (status, reply) = l
        .call(
            &l.lab,
            Method::POST,
            &format!("/lab-orders/{imaging_id}/results"),
            Some(report.clone()),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = l
        .call(
            &radiologist,
            Method::POST,
            &format!("/lab-orders/{lab_order_id}/results"),
            Some(json!({ "results": [result("K", "4.2", "normal")] })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = l
        .call(
            &radiologist,
            Method::GET,
            &format!("/lab-orders/{lab_order_id}"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // The radiologist reports and finalizes; the patient then sees it.
    let (status, reply) = l
        .call(
            &radiologist,
            Method::POST,
            &format!("/lab-orders/{imaging_id}/results"),
            Some(report),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = l
        .call(
            &radiologist,
            Method::POST,
            &format!("/lab-orders/{imaging_id}/finalize"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "finalized");
    portal_account(&l.app, &l.admin, &l.patient, "imaging-own").await;
    let patient = l.app.login("imaging-own", STRONG_PASSWORD).await;
    let (_, mine) = l.call(&patient, Method::GET, "/lab-orders", None).await;
    assert_eq!(ids(&mine), vec![imaging_id.clone()], "{mine}");

    // A radiologist orders nothing and sees no patient record.
    let (status, reply) = l
        .call(
            &radiologist,
            Method::POST,
            "/lab-orders",
            Some(imaging_order(&l.patient)),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = l
        .call(
            &radiologist,
            Method::GET,
            &format!("/patients/{}", l.patient),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    // A finalized order's kind is fixed by the database too.
    let sql = format!("UPDATE lab_orders SET kind = 'lab' WHERE id = '{imaging_id}'");
    assert!(l.app.sql(&sql).await.is_err(), "accepted: {sql}");
    let sql = format!("UPDATE lab_orders SET kind = 'blood' WHERE id = '{lab_order_id}'");
    assert!(l.app.sql(&sql).await.is_err(), "accepted: {sql}");
}
