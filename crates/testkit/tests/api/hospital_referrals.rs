//! Referrals: a doctor on the care team refers a patient to another doctor
//! or to a department; the receiver accepts (joining the care team) or
//! declines with a reason; the referrer cancels while pending; of
//! concurrent decisions exactly one wins (409 CONFLICT for the others);
//! every read of a reason on the patient's access log; sealed texts; bad
//! input; another tenant's referrals.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, ids, login_in, patient_body,
    register_patient_id, stored_bytes, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_appointments::department;

pub struct Ward {
    pub app: TestApp,
    pub admin: String,
    pub doctor: String,
    pub doctor_id: String,
    pub peer: String,
    pub peer_id: String,
    pub third: String,
    pub patient: String,
    pub department: String,
}

impl Ward {
    pub async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let peer_id = app.create_user(&admin, "doctor-peer", "doctor").await;
        app.create_user(&admin, "doctor-third", "doctor").await;
        let peer = app.login("doctor-peer", STRONG_PASSWORD).await;
        let third = app.login("doctor-third", STRONG_PASSWORD).await;
        let patient =
            register_patient_id(&app, &admin, patient_body("Solveig", "Dahl", "1971-05-02")).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        let department = department(&app, &admin).await;
        Self {
            app,
            admin,
            doctor,
            doctor_id,
            peer,
            peer_id,
            third,
            patient,
            department,
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

    pub async fn refer(&self, body: Value) -> Value {
        let (status, reply) = self
            .call(&self.doctor, Method::POST, "/referrals", Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        reply["data"].clone()
    }

    async fn team(&self) -> Vec<String> {
        let (status, reply) = self
            .call(
                &self.admin,
                Method::GET,
                &format!("/patients/{}/care-team", self.patient),
                None,
            )
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user_id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A referral of `patient` to doctor `to`.
pub fn to_doctor(patient: &str, to: &str) -> Value {
    json!({ "patient_id": patient, "to_doctor_id": to, "reason": "Suspected arrhythmia, please assess" })
}

/// A referral of `patient` to department `to`.
pub fn to_department(patient: &str, to: &str) -> Value {
    json!({ "patient_id": patient, "to_department_id": to, "reason": "Needs a specialist opinion" })
}

#[tokio::test]
async fn a_doctor_refers_and_the_receiver_accepts_and_joins_the_care_team() {
    let w = Ward::new().await;
    let r = w.refer(to_doctor(&w.patient, &w.peer_id)).await;
    let id = id_of(&r);
    assert_eq!(r["status"], "pending");
    assert_eq!(r["referred_by"], w.doctor_id.as_str());
    assert_eq!(r["to_doctor_id"], w.peer_id.as_str());
    assert!(r["to_department_id"].is_null());
    assert_eq!(r["reason"], "Suspected arrhythmia, please assess");
    assert!(!w.team().await.contains(&w.peer_id));

    // The same referral twice while pending: 409.
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            "/referrals",
            Some(to_doctor(&w.patient, &w.peer_id)),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Incoming for the receiver, outgoing for the referrer; not for a third doctor.
    let list = |token: &str, q: &str| {
        let (token, q) = (token.to_string(), q.to_string());
        let app = &w.app;
        async move {
            let (status, reply) = app
                .api(Method::GET, &format!("/referrals?{q}"), Some(&token), None)
                .await;
            assert_ok(status, &reply, StatusCode::OK);
            ids(&reply)
        }
    };
    assert_eq!(list(&w.peer, "direction=incoming").await, vec![id.clone()]);
    assert!(list(&w.peer, "direction=outgoing").await.is_empty());
    assert_eq!(
        list(&w.doctor, "direction=outgoing&status=pending").await,
        vec![id.clone()]
    );
    assert!(list(&w.doctor, "direction=incoming").await.is_empty());
    assert!(list(&w.doctor, "status=accepted").await.is_empty());
    assert!(list(&w.third, "").await.is_empty());
    let (status, reply) = w
        .call(&w.third, Method::GET, &format!("/referrals/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // The referrer may not accept; the receiver may not cancel.
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/cancel"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    let (status, reply) = w
        .call(&w.peer, Method::GET, &format!("/referrals/{id}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(
        reply["data"]["reason"],
        "Suspected arrhythmia, please assess"
    );
    let (status, reply) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let a = &reply["data"];
    assert_eq!(a["status"], "accepted");
    assert_eq!(a["decided_by"], w.peer_id.as_str());
    assert!(a["decided_at"].is_string(), "{a}");
    assert!(
        w.team().await.contains(&w.peer_id),
        "the receiver joined the care team"
    );
    // The new member now sees the patient.
    let (status, _) = w
        .call(
            &w.peer,
            Method::GET,
            &format!("/patients/{}", w.patient),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Decided: no second decision, no cancel.
    for (token, action, body) in [
        (&w.peer, "accept", None),
        (
            &w.peer,
            "decline",
            Some(json!({ "reason": "Changed my mind" })),
        ),
        (&w.doctor, "cancel", None),
    ] {
        let (status, reply) = w
            .call(
                token,
                Method::POST,
                &format!("/referrals/{id}/{action}"),
                body,
            )
            .await;
        assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    }

    // The access log: who referred, who read the reason, who accepted and joined.
    let (status, log) = w
        .call(
            &w.admin,
            Method::GET,
            &format!("/patients/{}/access-log?page_size=100", w.patient),
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
    assert_eq!(count("doctor", "referral.create"), 1, "{log}");
    assert_eq!(count("doctor-peer", "referral.read"), 2, "{log}");
    assert_eq!(count("doctor", "referral.read"), 1, "{log}");
    assert_eq!(count("doctor-peer", "referral.accept"), 1, "{log}");
    assert_eq!(count("doctor-peer", "care_team.add"), 1, "{log}");
    // The audit rows name no reason.
    let path = format!(
        "/audit?resource={}&page_size=100",
        encode(&format!("patient:{}", w.patient))
    );
    let (status, audit) = w.call(&w.admin, Method::GET, &path, None).await;
    assert_ok(status, &audit, StatusCode::OK);
    assert!(!audit.to_string().contains("arrhythmia"), "{audit}");
    assert!(w.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn a_receiver_declines_with_a_reason_and_the_referrer_cancels_while_pending() {
    let w = Ward::new().await;
    let id = id_of(&w.refer(to_doctor(&w.patient, &w.peer_id)).await);
    for body in [
        Some(json!({})),
        Some(json!({ "reason": "no" })),
        Some(json!({ "reason": "x".repeat(1001) })),
        Some(json!({ "reason": "Fully booked", "extra": 1 })),
    ] {
        let (status, reply) = w
            .call(
                &w.peer,
                Method::POST,
                &format!("/referrals/{id}/decline"),
                body,
            )
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST,
            "a decline without a good reason: {status} {reply}"
        );
        assert_eq!(reply["error"]["code"], "VALIDATION_ERROR", "{reply}");
    }
    let (status, reply) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/decline"),
            Some(json!({ "reason": "Fully booked this month" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "declined");
    assert_eq!(reply["data"]["decline_reason"], "Fully booked this month");
    assert!(!w.team().await.contains(&w.peer_id));
    let (_, reply) = w
        .call(&w.doctor, Method::GET, &format!("/referrals/{id}"), None)
        .await;
    assert_eq!(reply["data"]["decline_reason"], "Fully booked this month");

    // A new referral, cancelled by its referrer: the receiver then cannot accept.
    let id = id_of(&w.refer(to_doctor(&w.patient, &w.peer_id)).await);
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/referrals/{id}/cancel"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "cancelled");
    assert!(reply["data"]["decided_by"].is_null());
    let (status, reply) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(!w.team().await.contains(&w.peer_id));
}

#[tokio::test]
async fn a_department_referral_is_open_to_every_other_doctor_until_one_decides() {
    let w = Ward::new().await;
    let id = id_of(&w.refer(to_department(&w.patient, &w.department)).await);
    for token in [&w.peer, &w.third] {
        let (status, reply) = w
            .call(token, Method::GET, "/referrals?direction=incoming", None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        assert_eq!(ids(&reply), vec![id.clone()]);
    }
    // The referrer's own department referral is outgoing, not incoming.
    let (_, reply) = w
        .call(
            &w.doctor,
            Method::GET,
            "/referrals?direction=incoming",
            None,
        )
        .await;
    assert!(ids(&reply).is_empty(), "{reply}");
    let (status, reply) = w
        .call(
            &w.doctor,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    let (status, reply) = w
        .call(
            &w.third,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let third_id = user_id(&w.app, &w.third).await;
    assert_eq!(reply["data"]["decided_by"], third_id.as_str());
    assert!(w.team().await.contains(&third_id));
    // Decided: the other doctor no longer sees it; the decider and referrer do.
    let (status, reply) = w
        .call(&w.peer, Method::GET, &format!("/referrals/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Deciding it too late: decided by someone else (409), not "absent".
    let (status, reply) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/accept"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("decided"),
        "{reply}"
    );
    for token in [&w.third, &w.doctor] {
        let (status, _) = w
            .call(token, Method::GET, &format!("/referrals/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn of_concurrent_decisions_on_one_referral_exactly_one_wins() {
    let w = Ward::new().await;
    let admin = w.admin.clone();
    let mut tokens = Vec::new();
    for i in 0..8 {
        w.app
            .create_user(&admin, &format!("racer-{i}"), "doctor")
            .await;
        tokens.push(w.app.login(&format!("racer-{i}"), STRONG_PASSWORD).await);
    }
    // A department referral: eight doctors accept or decline at once.
    let id = id_of(&w.refer(to_department(&w.patient, &w.department)).await);
    let app = std::sync::Arc::new(w.app);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let (app, token, id) = (app.clone(), token.clone(), id.clone());
        tasks.spawn(async move {
            let (action, body) = if i % 2 == 0 {
                ("accept", None)
            } else {
                ("decline", Some(json!({ "reason": "Not my field" })))
            };
            app.api(
                Method::POST,
                &format!("/referrals/{id}/{action}"),
                Some(&token),
                body,
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
    assert_eq!((won, lost), (1, 7));

    // Two accepts of one doctor referral at once: one 200, one 409.
    let (status, reply) = app
        .api(
            Method::POST,
            "/referrals",
            Some(&w.doctor),
            Some(to_doctor(&w.patient, &w.peer_id)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let path = format!("/referrals/{id}/accept");
    let (a, b) = tokio::join!(
        app.api(Method::POST, &path, Some(&w.peer), None),
        app.api(Method::POST, &path, Some(&w.peer), None)
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (_, team) = app
        .api(
            Method::GET,
            &format!("/patients/{}/care-team", w.patient),
            Some(&w.admin),
            None,
        )
        .await;
    let joined = team["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user_id"] == w.peer_id.as_str())
        .count();
    assert_eq!(joined, 1, "the receiver joined once: {team}");
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn bad_referrals_are_refused_and_reasons_are_sealed_at_rest() {
    let w = Ward::new().await;
    let base = to_doctor(&w.patient, &w.peer_id);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let nurse_id = {
        let t = w.app.login("nurse", "nurse123").await;
        user_id(&w.app, &t).await
    };
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("reason");
    let mut neither = base.clone();
    neither.as_object_mut().unwrap().remove("to_doctor_id");
    for body in [
        with("reason", json!("ab")),
        with("reason", json!("r".repeat(2001))),
        with("reason", json!("a\u{0}bcd")),
        with("to_department_id", json!(w.department)),
        with("to_doctor_id", json!(w.doctor_id)),
        with("to_doctor_id", json!(nurse_id)),
        with("to_doctor_id", json!(uuid::Uuid::new_v4().to_string())),
        with("to_doctor_id", json!("")),
        with("patient_id", json!("")),
        with("extra", json!(1)),
        json!({ "patient_id": w.patient, "to_department_id": uuid::Uuid::new_v4().to_string(), "reason": "Needs a look" }),
        missing,
        neither,
    ] {
        let (status, reply) = w
            .call(&w.doctor, Method::POST, "/referrals", Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // A patient not on the referrer's care team (or absent): 404.
    let other =
        register_patient_id(&w.app, &w.admin, patient_body("Other", "One", "1990-01-01")).await;
    for p in [other, uuid::Uuid::new_v4().to_string()] {
        let (status, reply) = w
            .call(
                &w.doctor,
                Method::POST,
                "/referrals",
                Some(with("patient_id", json!(p))),
            )
            .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    for path in [
        "/referrals?direction=sideways",
        "/referrals?status=maybe",
        "/referrals?page_size=0",
        "/referrals?colour=red",
    ] {
        let (status, reply) = w.call(&w.doctor, Method::GET, path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (_, reply) = w.call(&w.doctor, Method::GET, "/referrals", None).await;
    assert_eq!(reply["meta"]["total"], 0, "refused referrals left nothing");

    let id = id_of(
        &w.refer(with("reason", json!("Quokka-Murmur-Grade-3")))
            .await,
    );
    let (status, _) = w
        .call(
            &w.peer,
            Method::POST,
            &format!("/referrals/{id}/decline"),
            Some(json!({ "reason": "Pangolin-Schedule-Full" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = stored_bytes(&w.app);
    assert!(contains_ignoring_case(&stored, &id));
    for plain in ["Quokka-Murmur-Grade-3", "Pangolin-Schedule-Full"] {
        assert!(
            !contains_ignoring_case(&stored, plain),
            "{plain} stored in clear"
        );
    }
}

#[tokio::test]
async fn another_tenants_referrals_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let a_admin = login_in(&app, a, "hadmin", "hadmin123").await;
    let a_doctor = login_in(&app, a, "doctor", "doctor123").await;
    let b_admin = login_in(&app, b_tenant, "hadmin", "hadmin123").await;
    let b_doctor = login_in(&app, b_tenant, "doctor", "doctor123").await;
    let b_doctor_id = user_id(&app, &b_doctor).await;
    let a_peer_id = app.create_user(&a_admin, "a-peer", "doctor").await;
    let a_patient =
        register_patient_id(&app, &a_admin, patient_body("Ana", "A", "1980-01-01")).await;
    add_to_care_team(&app, &a_admin, &a_patient, &user_id(&app, &a_doctor).await).await;
    let a_department = department(&app, &a_admin).await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/referrals",
            Some(&a_doctor),
            Some(to_department(&a_patient, &a_department)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    // Tenant A's doctor cannot refer to B's doctor or department.
    let b_department = department(&app, &b_admin).await;
    for body in [
        to_doctor(&a_patient, &b_doctor_id),
        to_department(&a_patient, &b_department),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/referrals", Some(&a_doctor), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let _ = a_peer_id;
    for (method, path, body) in [
        (Method::GET, format!("/referrals/{id}"), None),
        (Method::POST, format!("/referrals/{id}/accept"), None),
        (
            Method::POST,
            format!("/referrals/{id}/decline"),
            Some(json!({ "reason": "Cross tenant" })),
        ),
        (Method::POST, format!("/referrals/{id}/cancel"), None),
        (
            Method::POST,
            "/referrals".to_string(),
            Some(to_department(&a_patient, &b_department)),
        ),
    ] {
        let (s, reply) = app.api(method, &path, Some(&b_doctor), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (s, list) = app
        .api(Method::GET, "/referrals", Some(&b_doctor), None)
        .await;
    assert_ok(s, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 0, "{list}");
    let (_, after) = app
        .api(
            Method::GET,
            &format!("/referrals/{id}"),
            Some(&a_doctor),
            None,
        )
        .await;
    assert_eq!(after["data"]["status"], "pending");
}
