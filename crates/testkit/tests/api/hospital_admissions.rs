//! Rooms, beds and admissions: the admin sets up rooms and beds; reception
//! and a doctor on the care team admit to a free bed; transfers; a doctor
//! discharges with a summary that becomes a signed `discharge_summary`
//! note; never two patients in one bed nor one patient in two beds — the
//! database refuses both, also under 20 parallel admissions; occupancy
//! counts; every read on the patient's access log; sealed reasons; bad
//! input; another tenant's rooms and admissions.

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, ids, login_in, patient_body,
    register_patient_id, stored_bytes, user_id,
};
use testkit::{assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp};

use crate::hospital_appointments::department;

pub struct Hospital {
    pub app: TestApp,
    pub admin: String,
    pub reception: String,
    pub doctor: String,
    pub doctor_id: String,
    pub nurse: String,
    pub department: String,
    pub room: String,
    pub beds: Vec<String>,
}

impl Hospital {
    pub async fn new() -> Self {
        let app = spawn(Service::Hospital).await;
        let admin = app.admin_token().await;
        let reception = app.login("reception", "reception123").await;
        let doctor = app.login("doctor", "doctor123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let nurse = app.login("nurse", "nurse123").await;
        let department = department(&app, &admin).await;
        let (status, reply) = app
            .api(
                Method::POST,
                "/rooms",
                Some(&admin),
                Some(json!({ "name": "Ward A", "type": "ward", "department_id": department })),
            )
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        let room = id_of(&reply["data"]);
        let mut beds = Vec::new();
        for label in ["A1", "A2", "A3"] {
            let (status, reply) = app
                .api(
                    Method::POST,
                    &format!("/rooms/{room}/beds"),
                    Some(&admin),
                    Some(json!({ "label": label })),
                )
                .await;
            assert_ok(status, &reply, StatusCode::CREATED);
            beds.push(id_of(&reply["data"]));
        }
        Self {
            app,
            admin,
            reception,
            doctor,
            doctor_id,
            nurse,
            department,
            room,
            beds,
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

    /// A patient with the doctor (and the demo nurse) on the care team.
    pub async fn patient(&self, last: &str) -> String {
        let p = register_patient_id(
            &self.app,
            &self.admin,
            patient_body("Ward", last, "1960-02-03"),
        )
        .await;
        add_to_care_team(&self.app, &self.admin, &p, &self.doctor_id).await;
        p
    }

    pub async fn admit(&self, token: &str, patient: &str, bed: &str) -> (StatusCode, Value) {
        self.call(
            token,
            Method::POST,
            "/admissions",
            Some(admission(patient, bed)),
        )
        .await
    }

    async fn occupancy(&self) -> Value {
        let (status, reply) = self
            .call(&self.reception, Method::GET, "/occupancy", None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["department_id"] == self.department.as_str())
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// An admission of `patient` to `bed`.
pub fn admission(patient: &str, bed: &str) -> Value {
    json!({ "patient_id": patient, "bed_id": bed, "reason": "Community-acquired pneumonia" })
}

#[tokio::test]
async fn admit_transfer_and_discharge_with_a_summary_note() {
    let h = Hospital::new().await;
    let p = h.patient("Flow").await;
    let o = h.occupancy().await;
    assert_eq!(
        (&o["beds"], &o["occupied"], &o["free"]),
        (&json!(3), &json!(0), &json!(3)),
        "{o}"
    );
    let (status, reply) = h.admit(&h.doctor, &p, &h.beds[0]).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let a = &reply["data"];
    let id = id_of(a);
    assert_eq!(a["status"], "active");
    assert_eq!(a["bed_id"], h.beds[0].as_str());
    assert_eq!(a["reason"], "Community-acquired pneumonia");
    assert_eq!(a["admitted_by"], h.doctor_id.as_str());
    assert_eq!(h.occupancy().await["occupied"], 1);
    let (status, reply) = h
        .call(&h.reception, Method::GET, "/beds?free=true", None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(ids(&reply), vec![h.beds[1].clone(), h.beds[2].clone()]);
    let (_, reply) = h.call(&h.reception, Method::GET, "/beds", None).await;
    assert_eq!(reply["meta"]["total"], 3);
    assert_eq!(reply["data"][0]["occupied"], true);

    // Reception sees the admission without the clinical reason.
    let (status, reply) = h
        .call(
            &h.reception,
            Method::GET,
            &format!("/admissions/{id}"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert!(reply["data"]["reason"].is_null(), "{reply}");
    let (status, reply) = h
        .call(
            &h.reception,
            Method::GET,
            &format!("/admissions?active=true&department_id={}", h.department),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(ids(&reply), vec![id.clone()]);

    // Transfer: into an occupied bed 409, into a free one 200.
    let q = h.patient("Other").await;
    let (status, _) = h.admit(&h.reception, &q, &h.beds[2]).await;
    assert_eq!(status, StatusCode::CREATED);
    let transfer = |bed: &str| json!({ "bed_id": bed });
    let (status, reply) = h
        .call(
            &h.doctor,
            Method::POST,
            &format!("/admissions/{id}/transfer"),
            Some(transfer(&h.beds[2])),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = h
        .call(
            &h.reception,
            Method::POST,
            &format!("/admissions/{id}/transfer"),
            Some(transfer(&h.beds[1])),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["bed_id"], h.beds[1].as_str());
    assert_eq!(reply["data"]["transfers"], 1);
    // An admitted patient is not admitted a second time.
    let (status, reply) = h.admit(&h.reception, &p, &h.beds[0]).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Discharge: reception may not; the doctor writes the summary.
    let summary = json!({ "summary": "Recovered on oral antibiotics; review in 2 weeks" });
    let (status, reply) = h
        .call(
            &h.reception,
            Method::POST,
            &format!("/admissions/{id}/discharge"),
            Some(summary.clone()),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = h
        .call(
            &h.doctor,
            Method::POST,
            &format!("/admissions/{id}/discharge"),
            Some(summary.clone()),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let d = &reply["data"];
    assert_eq!(d["status"], "discharged");
    assert_eq!(d["discharged_by"], h.doctor_id.as_str());
    let note = d["discharge_note_id"].as_str().unwrap().to_string();
    let (status, reply) = h
        .call(&h.doctor, Method::GET, &format!("/notes/{note}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["type"], "discharge_summary");
    assert_eq!(reply["data"]["status"], "signed");
    assert_eq!(
        reply["data"]["content"]["body"],
        "Recovered on oral antibiotics; review in 2 weeks"
    );
    for (path, body) in [
        (format!("/admissions/{id}/discharge"), summary),
        (format!("/admissions/{id}/transfer"), transfer(&h.beds[0])),
    ] {
        let (status, reply) = h.call(&h.doctor, Method::POST, &path, Some(body)).await;
        assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    }
    assert_eq!(h.occupancy().await["occupied"], 1);
    // Discharged, the patient may be admitted again.
    let (status, _) = h.admit(&h.doctor, &p, &h.beds[1]).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, log) = h
        .call(
            &h.admin,
            Method::GET,
            &format!("/patients/{p}/access-log?page_size=100"),
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
    assert_eq!(count("doctor", "admission.create"), 2, "{log}");
    assert_eq!(count("reception", "admission.read"), 2, "{log}");
    assert_eq!(count("reception", "admission.transfer"), 1, "{log}");
    assert_eq!(count("doctor", "admission.discharge"), 1, "{log}");
    assert_eq!(count("doctor", "note.create"), 1, "{log}");
    assert_eq!(count("doctor", "note.sign"), 1, "{log}");
    let path = format!(
        "/audit?resource={}&page_size=100",
        encode(&format!("patient:{p}"))
    );
    let (status, audit) = h.call(&h.admin, Method::GET, &path, None).await;
    assert_ok(status, &audit, StatusCode::OK);
    let text = audit.to_string();
    for plain in ["pneumonia", "antibiotics"] {
        assert!(!text.contains(plain), "{plain} in the audit: {audit}");
    }
    assert!(h.app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn twenty_parallel_admissions_to_one_bed_admit_exactly_one() {
    let h = Hospital::new().await;
    let mut patients = Vec::new();
    for i in 0..20 {
        patients.push(h.patient(&format!("Racer{i}")).await);
    }
    let twice = h.patient("Twice").await;
    let bed = h.beds[0].clone();
    let app = std::sync::Arc::new(h.app);
    let mut tasks = tokio::task::JoinSet::new();
    for p in &patients {
        let (app, token, body) = (app.clone(), h.reception.clone(), admission(p, &bed));
        tasks.spawn(async move {
            app.api(Method::POST, "/admissions", Some(&token), Some(body))
                .await
        });
    }
    let (mut won, mut lost) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (status, reply) = done.unwrap();
        if status == StatusCode::CREATED {
            won += 1;
        } else {
            assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
            lost += 1;
        }
    }
    assert_eq!((won, lost), (1, 19));

    // One patient into two beds at once: one wins.
    let p = &twice;
    let (a, b) = tokio::join!(
        app.api(
            Method::POST,
            "/admissions",
            Some(&h.reception),
            Some(admission(p, &h.beds[1]))
        ),
        app.api(
            Method::POST,
            "/admissions",
            Some(&h.reception),
            Some(admission(p, &h.beds[2]))
        )
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    let (_, active) = app
        .api(
            Method::GET,
            "/admissions?active=true&page_size=100",
            Some(&h.reception),
            None,
        )
        .await;
    let of_p = active["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["patient_id"] == p.as_str())
        .count();
    assert_eq!(of_p, 1, "one patient, one bed: {active}");
    assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn the_database_itself_refuses_a_second_patient_in_a_bed_and_a_second_bed_for_a_patient() {
    let h = Hospital::new().await;
    let p = h.patient("Held").await;
    let q = h.patient("Other").await;
    let (status, reply) = h.admit(&h.reception, &p, &h.beds[0]).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let insert = |patient: &str, bed: &str| {
        format!(
            "INSERT INTO admissions (id, tenant_id, patient_id, bed_id, status, reason_enc, \
             admitted_by, admitted_at, transfers, updated_by, updated_at) \
             SELECT '{}', tenant_id, '{patient}', '{bed}', 'active', reason_enc, admitted_by, \
             admitted_at, 0, updated_by, updated_at FROM admissions LIMIT 1",
            uuid::Uuid::new_v4()
        )
    };
    assert!(
        h.app.sql(&insert(&q, &h.beds[0])).await.is_err(),
        "two patients in one bed"
    );
    assert!(
        h.app.sql(&insert(&p, &h.beds[1])).await.is_err(),
        "one patient in two beds"
    );
    assert!(
        h.app.sql(&insert(&q, &h.beds[1])).await.is_ok(),
        "a free bed for another patient"
    );
}

#[tokio::test]
async fn rooms_and_beds_are_managed_by_the_admin_and_bad_input_is_refused() {
    let h = Hospital::new().await;
    // Rooms: list, rename, duplicate, deactivate (not while occupied).
    let (status, reply) = h.call(&h.nurse, Method::GET, "/rooms", None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"][0]["beds"], 3);
    assert_eq!(reply["data"][0]["type"], "ward");
    let (status, reply) = h
        .call(
            &h.admin,
            Method::POST,
            "/rooms",
            Some(json!({ "name": "Ward A", "type": "icu", "department_id": h.department })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = h
        .call(
            &h.admin,
            Method::POST,
            &format!("/rooms/{}/beds", h.room),
            Some(json!({ "label": "A1" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let p = h.patient("Busy").await;
    assert_eq!(
        h.admit(&h.reception, &p, &h.beds[0]).await.0,
        StatusCode::CREATED
    );
    let room_path = format!("/rooms/{}", h.room);
    let patch = |body: Value| h.call(&h.admin, Method::PATCH, &room_path, Some(body));
    let (status, reply) = patch(json!({ "active": false })).await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    let (status, reply) = patch(json!({ "name": "Ward Alpha" })).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["name"], "Ward Alpha");
    for bad in [
        json!({}),
        json!({ "name": "" }),
        json!({ "name": "n".repeat(101) }),
        json!({ "active": "no" }),
        json!({ "colour": "red" }),
    ] {
        let (status, reply) = patch(bad.clone()).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = h
        .call(
            &h.admin,
            Method::PATCH,
            &format!("/rooms/{}", uuid::Uuid::new_v4()),
            Some(json!({ "name": "Nowhere" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for bad in [
        json!({ "name": "", "type": "ward", "department_id": h.department }),
        json!({ "name": "B", "type": "hall", "department_id": h.department }),
        json!({ "name": "B", "type": "ward", "department_id": uuid::Uuid::new_v4().to_string() }),
        json!({ "name": "B", "type": "ward" }),
        json!({ "name": "B", "type": "ward", "department_id": h.department, "x": 1 }),
    ] {
        let (status, reply) = h.call(&h.admin, Method::POST, "/rooms", Some(bad)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    for bad in [
        json!({ "label": "" }),
        json!({ "label": "l".repeat(51) }),
        json!({}),
    ] {
        let (status, reply) = h
            .call(
                &h.admin,
                Method::POST,
                &format!("/rooms/{}/beds", h.room),
                Some(bad),
            )
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Admissions: bad input.
    let q = h.patient("Fresh").await;
    let base = admission(&q, &h.beds[1]);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for body in [
        with("reason", json!("ab")),
        with("reason", json!("r".repeat(2001))),
        with("bed_id", json!("")),
        with("bed_id", json!(uuid::Uuid::new_v4().to_string())),
        with("patient_id", json!("")),
        with("extra", json!(1)),
    ] {
        let (status, reply) = h
            .call(&h.reception, Method::POST, "/admissions", Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = h
        .call(
            &h.reception,
            Method::POST,
            "/admissions",
            Some(with("patient_id", json!(uuid::Uuid::new_v4().to_string()))),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for path in [
        "/admissions?active=maybe",
        "/admissions?page_size=0",
        "/admissions?colour=red",
        "/beds?free=perhaps",
        "/rooms?page=0",
    ] {
        let (status, reply) = h.call(&h.admin, Method::GET, path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // A room out of use: its beds are not offered and not admitted to.
    let (status, reply) = h
        .call(
            &h.admin,
            Method::POST,
            "/rooms",
            Some(json!({ "name": "Closed", "type": "private", "department_id": h.department })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let closed = id_of(&reply["data"]);
    let (_, reply) = h
        .call(
            &h.admin,
            Method::POST,
            &format!("/rooms/{closed}/beds"),
            Some(json!({ "label": "C1" })),
        )
        .await;
    let closed_bed = id_of(&reply["data"]);
    let (status, _) = h
        .call(
            &h.admin,
            Method::PATCH,
            &format!("/rooms/{closed}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = h.admit(&h.reception, &q, &closed_bed).await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (_, reply) = h
        .call(&h.reception, Method::GET, "/beds?free=true", None)
        .await;
    assert!(!ids(&reply).contains(&closed_bed), "{reply}");

    // The reason is sealed at rest.
    let (status, _) = h
        .call(
            &h.reception,
            Method::POST,
            "/admissions",
            Some(with("reason", json!("Wombat-Fracture-Left"))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let stored = stored_bytes(&h.app);
    assert!(!contains_ignoring_case(&stored, "Wombat-Fracture-Left"));
    assert!(!contains_ignoring_case(&stored, "pneumonia"));
}

#[tokio::test]
async fn another_tenants_rooms_beds_and_admissions_are_out_of_reach() {
    let app = crate::hospital_tenants::hosted_with_two_tenants().await;
    let b_tenant = crate::hospital_tenants::TENANT_B;
    let a = common::config::DEMO_TENANT_ID;
    let a_admin = login_in(&app, a, "hadmin", "hadmin123").await;
    let b_admin = login_in(&app, b_tenant, "hadmin", "hadmin123").await;
    let b_reception = login_in(&app, b_tenant, "reception", "reception123").await;
    let a_department = department(&app, &a_admin).await;
    let (_, reply) = app
        .api(
            Method::POST,
            "/rooms",
            Some(&a_admin),
            Some(json!({ "name": "A-room", "type": "icu", "department_id": a_department })),
        )
        .await;
    let room = id_of(&reply["data"]);
    let (_, reply) = app
        .api(
            Method::POST,
            &format!("/rooms/{room}/beds"),
            Some(&a_admin),
            Some(json!({ "label": "1" })),
        )
        .await;
    let bed = id_of(&reply["data"]);
    let a_patient =
        register_patient_id(&app, &a_admin, patient_body("Ana", "A", "1980-01-01")).await;
    let (status, reply) = app
        .api(
            Method::POST,
            "/admissions",
            Some(&a_admin),
            Some(admission(&a_patient, &bed)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = id_of(&reply["data"]);
    let b_patient =
        register_patient_id(&app, &b_admin, patient_body("Bea", "B", "1980-01-01")).await;
    for (token, method, path, body) in [
        (&b_reception, Method::GET, format!("/admissions/{id}"), None),
        (
            &b_reception,
            Method::POST,
            format!("/admissions/{id}/transfer"),
            Some(json!({ "bed_id": bed })),
        ),
        (
            &b_admin,
            Method::PATCH,
            format!("/rooms/{room}"),
            Some(json!({ "name": "Stolen" })),
        ),
        (
            &b_admin,
            Method::POST,
            format!("/rooms/{room}/beds"),
            Some(json!({ "label": "2" })),
        ),
        (
            &b_reception,
            Method::POST,
            "/admissions".to_string(),
            Some(admission(&a_patient, &bed)),
        ),
    ] {
        let (s, reply) = app.api(method, &path, Some(token), body).await;
        assert_error(s, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // B's patient into A's bed: no such bed in B.
    let (s, reply) = app
        .api(
            Method::POST,
            "/admissions",
            Some(&b_reception),
            Some(admission(&b_patient, &bed)),
        )
        .await;
    assert_error(s, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    for path in ["/admissions", "/rooms", "/beds", "/occupancy"] {
        let (s, reply) = app.api(Method::GET, path, Some(&b_reception), None).await;
        assert_ok(s, &reply, StatusCode::OK);
        assert_eq!(
            reply["data"].as_array().unwrap().len(),
            0,
            "{path}: {reply}"
        );
    }
}
