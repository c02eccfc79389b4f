//! Two hospitals (tenants) on one hosted server and one database: neither
//! can read, list, search, change or even guess the other's patients, with
//! ids, MRNs and search terms copied from the other side.

use common::config::DEMO_TENANT_ID;
use diesel::prelude::*;
use hospital::schema::patients;
use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, encode, id_of, ids, login_in, patient_body, register_patient, search_ids,
    user_id,
};
use testkit::{assert_error, assert_ok, spawn_with, Method, Service, StatusCode, TestApp};

pub(crate) const TENANT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const REASON: &str = "Unconscious on arrival and the family is not reachable yet";

/// One tenant's view: its users and what it registered.
struct Side {
    tenant: &'static str,
    admin: String,
    reception: String,
    doctor: String,
    doctor_id: String,
    nurse: String,
    /// The patient only this side has (first registered: MRN-000001).
    unique: Value,
    /// The patient both sides have, same name and birth date.
    twin: Value,
    grant: String,
    department: String,
}

impl Side {
    async fn new(app: &TestApp, tenant: &'static str, first: &str, last: &str, dob: &str) -> Self {
        let admin = login_in(app, tenant, "hadmin", "hadmin123").await;
        let reception = login_in(app, tenant, "reception", "reception123").await;
        let doctor = login_in(app, tenant, "doctor", "doctor123").await;
        let nurse = login_in(app, tenant, "nurse", "nurse123").await;
        let doctor_id = user_id(app, &doctor).await;
        let unique = register_patient(app, &reception, patient_body(first, last, dob)).await;
        let mut twin = patient_body("Sam", "Twin", "1990-01-01");
        twin["allergies"] = json!(["iodine"]);
        let twin = register_patient(app, &admin, twin).await;
        add_to_care_team(app, &admin, &id_of(&unique), &doctor_id).await;
        let (status, grant) = app
            .api(
                Method::POST,
                &format!("/patients/{}/break-glass", id_of(&twin)),
                Some(&nurse),
                Some(json!({ "reason": REASON })),
            )
            .await;
        assert_ok(status, &grant, StatusCode::CREATED);
        let (_, departments) = app
            .api(Method::GET, "/departments", Some(&admin), None)
            .await;
        Self {
            tenant,
            admin,
            reception,
            doctor,
            doctor_id,
            nurse,
            unique,
            twin,
            grant: id_of(&grant["data"]),
            department: id_of(&departments["data"][0]),
        }
    }

    fn patient_ids(&self) -> Vec<String> {
        vec![id_of(&self.unique), id_of(&self.twin)]
    }
}

async fn everything_of(app: &TestApp, side: &Side) -> Vec<Value> {
    let mut seen = Vec::new();
    for id in side.patient_ids() {
        let (status, p) = app
            .api(
                Method::GET,
                &format!("/patients/{id}"),
                Some(&side.admin),
                None,
            )
            .await;
        assert_ok(status, &p, StatusCode::OK);
        let (status, team) = app
            .api(
                Method::GET,
                &format!("/patients/{id}/care-team"),
                Some(&side.admin),
                None,
            )
            .await;
        assert_ok(status, &team, StatusCode::OK);
        seen.push(json!([p["data"], team["data"]]));
    }
    seen
}

/// Everything `me` tries on `other`'s patients, all of it answered as if
/// they did not exist.
async fn cannot_reach(app: &TestApp, me: &Side, other: &Side) {
    let who = format!("{} on {}'s data", me.tenant, other.tenant);
    let others = other.patient_ids();

    // Listing and searching with the other side's terms.
    for token in [&me.admin, &me.reception, &me.doctor] {
        let (status, list) = app
            .api(
                Method::GET,
                "/patients?page_size=100&include_deleted=false",
                Some(token),
                None,
            )
            .await;
        assert_ok(status, &list, StatusCode::OK);
        assert!(
            ids(&list).iter().all(|id| !others.contains(id)),
            "{who}: {list}"
        );
    }
    let (_, all) = app
        .api(
            Method::GET,
            "/patients?page_size=100&include_deleted=true",
            Some(&me.admin),
            None,
        )
        .await;
    assert_eq!(ids(&all).len(), 2, "{who}: {all}");
    assert!(
        ids(&all).iter().all(|id| me.patient_ids().contains(id)),
        "{who}: {all}"
    );

    let u = &other.unique;
    let first = u["first_name"].as_str().unwrap();
    let last = u["last_name"].as_str().unwrap();
    let full = format!("{first} {last}");
    for term in [
        first,
        last,
        full.as_str(),
        u["date_of_birth"].as_str().unwrap(),
    ] {
        for token in [&me.admin, &me.reception] {
            assert!(
                search_ids(app, token, term).await.is_empty(),
                "{who}: search {term:?}"
            );
        }
    }
    // The other side's MRN exists here too, and names only this side's patient.
    let mrn = u["mrn"].as_str().unwrap();
    assert_eq!(
        mrn,
        me.unique["mrn"].as_str().unwrap(),
        "MRNs are per tenant"
    );
    assert_eq!(
        search_ids(app, &me.admin, mrn).await,
        [id_of(&me.unique)],
        "{who}"
    );
    let twins = search_ids(app, &me.admin, "Sam Twin").await;
    assert_eq!(twins, [id_of(&me.twin)], "{who}");
    assert_eq!(
        search_ids(app, &me.admin, "1990-01-01").await,
        [id_of(&me.twin)],
        "{who}"
    );

    // Every verb on every id of the other side.
    for id in &others {
        let p = format!("/patients/{id}");
        let calls: Vec<(&str, Method, String, Option<Value>)> = vec![
            (&me.admin, Method::GET, p.clone(), None),
            (&me.reception, Method::GET, p.clone(), None),
            (
                &me.admin,
                Method::PATCH,
                p.clone(),
                Some(json!({ "last_name": "Taken", "allergies": [] })),
            ),
            (
                &me.reception,
                Method::PATCH,
                p.clone(),
                Some(json!({ "last_name": "Taken" })),
            ),
            (&me.admin, Method::DELETE, p.clone(), None),
            (&me.admin, Method::POST, format!("{p}/restore"), None),
            (&me.admin, Method::GET, format!("{p}/access-log"), None),
            (&me.admin, Method::GET, format!("{p}/care-team"), None),
            (
                &me.admin,
                Method::POST,
                format!("{p}/care-team"),
                Some(json!({ "user_id": me.doctor_id })),
            ),
            (
                &me.doctor,
                Method::POST,
                format!("{p}/care-team"),
                Some(json!({ "user_id": me.doctor_id })),
            ),
            (
                &me.admin,
                Method::DELETE,
                format!("{p}/care-team/{}", other.doctor_id),
                None,
            ),
            (&me.admin, Method::POST, format!("{p}/portal-account"), None),
            (
                &me.nurse,
                Method::POST,
                format!("{p}/break-glass"),
                Some(json!({ "reason": REASON })),
            ),
            (
                &me.doctor,
                Method::POST,
                format!("{p}/break-glass"),
                Some(json!({ "reason": REASON })),
            ),
        ];
        for (token, method, path, body) in calls {
            let (status, reply) = app.api(method.clone(), &path, Some(token), body).await;
            assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
            assert_eq!(
                reply["error"]["message"], "no such patient",
                "{who}: {method} {path}"
            );
        }
        let (_, audit) = app
            .api(
                Method::GET,
                &format!("/audit?resource={}", encode(&format!("patient:{id}"))),
                Some(&me.admin),
                None,
            )
            .await;
        assert_eq!(audit["meta"]["total"], 0, "{who}: {audit}");
    }

    // The other side's staff cannot join this side's care teams.
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/patients/{}/care-team", id_of(&me.twin)),
            Some(&me.admin),
            Some(json!({ "user_id": other.doctor_id })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Break-the-glass grants and departments stay on their side too.
    let (_, grants) = app
        .api(
            Method::GET,
            "/break-glass?page_size=100",
            Some(&me.admin),
            None,
        )
        .await;
    assert_eq!(ids(&grants), [me.grant.as_str()], "{who}: {grants}");
    let ack = format!("/break-glass/{}/acknowledge", other.grant);
    let (status, reply) = app.api(Method::POST, &ack, Some(&me.admin), None).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let dept = format!("/departments/{}", other.department);
    let (status, reply) = app.api(Method::GET, &dept, Some(&me.admin), None).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = app
        .api(
            Method::PATCH,
            &dept,
            Some(&me.admin),
            Some(json!({ "active": false })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, depts) = app
        .api(
            Method::GET,
            "/departments?include_inactive=true&page_size=100",
            Some(&me.admin),
            None,
        )
        .await;
    assert!(ids(&depts).iter().all(|d| *d != other.department), "{who}");
}

/// A hosted hospital whose database holds the demo users of two tenants:
/// the demo tenant and [`TENANT_B`].
pub(crate) async fn hosted_with_two_tenants() -> TestApp {
    // One master key for both starts, so either could open what the other wrote.
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let app = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__TENANCY__MODE", "hosted"),
            ("HOSPITAL__CRYPTO__MASTER_KEY", &key),
        ],
    )
    .await;
    // A second start on the same database seeds the demo users into tenant B.
    let seed_b = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__TENANCY__MODE", "hosted"),
            ("HOSPITAL__CRYPTO__MASTER_KEY", &key),
            ("HOSPITAL__BOOTSTRAP__ADMIN_TENANT_ID", TENANT_B),
            ("HOSPITAL__DATABASE__URL", app.database_url()),
        ],
    )
    .await;
    seed_b.stop().await;
    app
}

#[tokio::test]
async fn two_tenants_on_one_database_cannot_reach_each_others_patients() {
    let app = hosted_with_two_tenants().await;

    let a = Side::new(&app, DEMO_TENANT_ID, "Astrid", "Aaltonen", "1971-04-05").await;
    let b = Side::new(&app, TENANT_B, "Bruno", "Bergqvist", "1982-06-07").await;
    assert_eq!(a.unique["mrn"], "MRN-000001");
    assert_eq!(b.unique["mrn"], "MRN-000001");
    assert_eq!(a.twin["mrn"], "MRN-000002");
    assert_eq!(b.twin["mrn"], "MRN-000002");
    let before = (everything_of(&app, &a).await, everything_of(&app, &b).await);

    cannot_reach(&app, &a, &b).await;
    cannot_reach(&app, &b, &a).await;

    // Nothing either side tried changed the other's records.
    let after = (everything_of(&app, &a).await, everything_of(&app, &b).await);
    assert_eq!(before, after);
    // Each side still works on its own.
    for side in [&a, &b] {
        let (status, p) = app
            .api(
                Method::GET,
                &format!("/patients/{}", id_of(&side.unique)),
                Some(&side.doctor),
                None,
            )
            .await;
        assert_ok(status, &p, StatusCode::OK);
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/patients/{}", id_of(&side.twin)),
                Some(&side.nurse),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: the grant opens its own patient",
            side.tenant
        );
    }

    // The same name, birth date and MRN index differently per tenant (each
    // tenant's own key), so the database cannot even tell they are the same.
    let twins = [id_of(&a.twin), id_of(&b.twin)];
    let rows: Vec<(String, String, String, String)> = app
        .db()
        .run(move |c| {
            Ok(patients::table
                .filter(patients::id.eq_any(twins))
                .select((
                    patients::tenant_id,
                    patients::first_name_idx,
                    patients::dob_idx,
                    patients::mrn_idx,
                ))
                .order(patients::tenant_id.asc())
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_ne!(rows[0].0, rows[1].0);
    assert_ne!(
        rows[0].1, rows[1].1,
        "first-name index shared across tenants"
    );
    assert_ne!(
        rows[0].2, rows[1].2,
        "birth-date index shared across tenants"
    );
    assert_ne!(rows[0].3, rows[1].3, "MRN index shared across tenants");
    let verification = app.verify_audit().await;
    assert!(verification.is_intact(), "{verification:?}");
}

#[tokio::test]
async fn each_hosted_tenant_gets_its_own_departments_and_none_of_the_others_patients() {
    let app = hosted_with_two_tenants().await;
    let admin_a = login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let reception_b = login_in(&app, TENANT_B, "reception", "reception123").await;
    let id = register_patient(&app, &admin_a, patient_body("Only", "InA", "1955-05-05")).await;
    let id = id_of(&id);
    // B's reception may read every patient of B, and still none of A.
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{id}"),
            Some(&reception_b),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Each hosted tenant has its own seeded set: seeded by the start that
    // created its users (B's while this server already ran), not by a read.
    let (_, da) = app
        .api(
            Method::GET,
            "/departments?page_size=100",
            Some(&admin_a),
            None,
        )
        .await;
    let (_, db) = app
        .api(
            Method::GET,
            "/departments?page_size=100",
            Some(&reception_b),
            None,
        )
        .await;
    assert_eq!(da["meta"]["total"], db["meta"]["total"]);
    let (ia, ib) = (ids(&da), ids(&db));
    assert!(
        ia.iter().all(|d| !ib.contains(d)),
        "departments shared across tenants"
    );
}

#[tokio::test]
async fn an_admin_cannot_reset_the_mfa_of_another_tenants_user() {
    let app = hosted_with_two_tenants().await;
    let admin_a = login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let doctor_b = login_in(&app, TENANT_B, "doctor", "doctor123").await;
    let id_b = testkit::hospital::user_id(&app, &doctor_b).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/users/{id_b}/mfa/reset"),
            Some(&admin_a),
            Some(serde_json::json!({})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let rows = app.audit_rows().await;
    assert!(
        !rows.iter().any(|r| r.action == "auth.mfa_reset"),
        "no reset was recorded"
    );
    // The same admin resets a user of its own tenant.
    let doctor_a = login_in(&app, DEMO_TENANT_ID, "doctor", "doctor123").await;
    let id_a = testkit::hospital::user_id(&app, &doctor_a).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/users/{id_a}/mfa/reset"),
            Some(&admin_a),
            Some(serde_json::json!({})),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let rows = app.audit_rows().await;
    let reset = rows.iter().find(|r| r.action == "auth.mfa_reset").unwrap();
    assert_eq!(reset.resource, format!("user:{id_a}"));
    assert_eq!(reset.tenant_id.as_deref(), Some(DEMO_TENANT_ID));
}

#[tokio::test]
async fn an_admin_cannot_end_the_sessions_of_another_tenants_user() {
    let app = hosted_with_two_tenants().await;
    let admin_a = login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let body = json!({ "username": "doctor", "password": "doctor123", "tenant_id": TENANT_B });
    let (status, login_b) = app.api(Method::POST, "/auth/login", None, Some(body)).await;
    assert_ok(status, &login_b, StatusCode::OK);
    let doctor_b = login_b["data"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sid_b = login_b["data"]["session_id"].as_str().unwrap().to_string();
    let id_b = user_id(&app, &doctor_b).await;
    // Every session of B's user, and one by id: both "not found" for A.
    for path in [
        format!("/users/{id_b}/sessions"),
        format!("/auth/sessions/{sid_b}"),
    ] {
        let (status, body) = app.api(Method::DELETE, &path, Some(&admin_a), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (status, _) = app
        .api(Method::GET, "/auth/me", Some(&doctor_b), None)
        .await;
    assert_eq!(status, StatusCode::OK, "B's session lives on");
    let rows = app.audit_rows().await;
    assert!(!rows
        .iter()
        .any(|r| r.action == "user.sessions_end" || r.action == "auth.session_end"));
    // B's admin may.
    let admin_b = login_in(&app, TENANT_B, "hadmin", "hadmin123").await;
    let path = format!("/users/{id_b}/sessions");
    let (status, body) = app.api(Method::DELETE, &path, Some(&admin_b), None).await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, _) = app
        .api(Method::GET, "/auth/me", Some(&doctor_b), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
