//! De-identified reporting, hospital → company (issue 14, items 1, 2 and
//! 6): the hospital computes and suppresses, stores exactly what it sends
//! and ships it under its certificate; company stores it once per (tenant,
//! report id), refuses another tenant's, and serves the analyst series,
//! totals that never fill in a suppressed cell, and a streamed CSV. No
//! name, MRN or date of birth reaches company's database or any log.

use std::time::{Duration, Instant};

use chrono::Utc;
use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use contracts::report::{Count, DeidentifiedReport};
use serde_json::{json, Value};
use testkit::hospital::{
    contains_ignoring_case, id_of, register_patient, stored_bytes_with, user_id,
};
use testkit::plane::{Pki, PlanePorts};
use testkit::{
    assert_error, assert_ok, spawn, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::hospital_appointments::{book, booking, department, slot};
use crate::plane::{internal_post, issue_all, start, wait_for_events};

const TENANT_B: &str = "00000000-0000-4000-8000-0000000000b2";

/// This week as an ISO week.
fn this_week() -> String {
    let w = chrono::Datelike::iso_week(&Utc::now().date_naive());
    format!("{:04}-W{:02}", w.year(), w.week())
}

/// A hand-written report of `tenant` for this week.
fn report(tenant: &str, id: &str, cells: Value) -> Value {
    json!({
        "tenant_id": tenant, "report_id": id, "from": this_week(), "to": this_week(),
        "suppress_below": 11, "cells": cells,
    })
}

fn cell(measure: &str, department: Option<&str>, count: Value) -> Value {
    json!({ "measure": measure, "week": this_week(), "department": department,
        "age_band": null, "sex": null, "count": count })
}

/// Poll the hospital until report `id` is `sent`; its exact bytes and hash.
async fn wait_sent(hospital: &TestApp, token: &str, id: &str) -> (Vec<u8>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = hospital
            .client
            .get(hospital.api_url(&format!("/reports/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let status = res.headers()["x-report-status"]
            .to_str()
            .unwrap()
            .to_string();
        let sha = res.headers()["x-report-sha256"]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = res.bytes().await.unwrap().to_vec();
        if status == "sent" {
            return (bytes, sha);
        }
        assert_eq!(status, "pending", "the report was not sent");
        assert!(Instant::now() < deadline, "report {id} still {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The count of one cell of a report, this week.
fn count_of(r: &DeidentifiedReport, measure: &str, age: Option<&str>, sex: Option<&str>) -> Count {
    r.cells
        .iter()
        .find(|c| {
            c.measure.as_str() == measure
                && c.week.to_string() == this_week()
                && c.department.is_none()
                && c.age_band.map(|a| a.as_str()) == age
                && c.sex.map(|s| s.as_str()) == sex
        })
        .unwrap_or_else(|| panic!("no cell {measure} {age:?} {sex:?}"))
        .count
}

#[tokio::test]
async fn a_report_reaches_company_with_no_name_mrn_or_date_of_birth_in_its_database_or_logs() {
    let logs = testkit::logs::capture();
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let admin = hospital.admin_token().await;
    let reception = hospital.login("reception", "reception123").await;

    // Twelve women born in 1958 (65-79) and two men born in 1990 (30-44),
    // each with a name, MRN and date of birth found nowhere else.
    let mut secrets = Vec::new();
    let mut patients = Vec::new();
    for i in 0..14_u32 {
        let (first, sex, dob) = if i < 12 {
            ("Zenobiaqx", "female", format!("1958-03-{:02}", i + 1))
        } else {
            ("Barnabyqx", "male", format!("1990-07-{:02}", i + 1))
        };
        let last = format!(
            "Wolfeschlegel{}",
            ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"][i as usize]
        );
        let p = register_patient(
            &hospital,
            &reception,
            json!({ "first_name": first, "last_name": last, "date_of_birth": dob, "sex": sex }),
        )
        .await;
        let mrn = p["mrn"].as_str().unwrap().to_string();
        secrets.extend([first.to_string(), last, mrn, dob]);
        patients.push(id_of(&p));
    }
    // Three appointments, moved into this week (booking is only ahead).
    let doctor = hospital.login("doctor", "doctor123").await;
    let doctor_id = user_id(&hospital, &doctor).await;
    let dep = department(&hospital, &admin).await;
    for (n, p) in patients.iter().take(3).enumerate() {
        book(
            &hospital,
            &reception,
            booking(p, &doctor_id, &dep, &slot(n)),
        )
        .await;
    }
    let today = Utc::now().date_naive();
    hospital
        .sql(&format!(
            "UPDATE appointments SET starts_at = '{today} 00:00:01', ends_at = '{today} 00:30:00'"
        ))
        .await
        .unwrap();

    let (status, reply) = hospital
        .api(Method::POST, "/reports", Some(&admin), Some(json!({})))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(reply["data"]["status"], "pending");
    assert_eq!(reply["data"]["origin"], "admin");
    let id = reply["data"]["id"].as_str().unwrap().to_string();
    let (bytes, sha) = wait_sent(&hospital, &admin, &id).await;

    // What was sent: the wire type, suppressed as the rules say.
    let sent: DeidentifiedReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(sent.tenant_id.as_str(), DEMO_TENANT_ID);
    assert_eq!(sent.suppress_below, 11);
    let week = this_week();
    assert_eq!(sent.to.to_string(), week);
    let reg = |age, sex| count_of(&sent, "patients_registered", age, sex);
    assert_eq!(
        reg(Some("30-44"), Some("male")),
        Count::Suppressed,
        "2 < 11"
    );
    assert_eq!(reg(Some("30-44"), None), Count::Suppressed, "2 < 11");
    // Complementary: the age totals (…, 12, …, hidden 2) add up to 14, so
    // the 12 is hidden too, and then the 12 women of 65-79 in that row,
    // and the women's total beside the hidden men's.
    assert_eq!(reg(Some("65-79"), None), Count::Suppressed);
    assert_eq!(reg(Some("65-79"), Some("female")), Count::Suppressed);
    assert_eq!(reg(None, Some("female")), Count::Suppressed);
    assert_eq!(
        reg(None, None),
        Count::Value(14),
        "two hidden cells in every sum"
    );
    // No published sum has exactly one hidden cell.
    let keys: Vec<_> = sent.cells.iter().map(|c| c.key()).collect();
    for eq in contracts::report::equations(&keys) {
        let hidden = eq
            .iter()
            .filter(|&&i| sent.cells[i].count == Count::Suppressed)
            .count();
        assert_ne!(hidden, 1, "a sum reveals its hidden cell: {eq:?}");
    }
    let appts: u32 = sent
        .cells
        .iter()
        .filter(|c| {
            c.measure.as_str() == "appointments"
                && c.department.is_none()
                && c.week.to_string() == week
        })
        .map(|c| match c.count {
            Count::Value(n) => n,
            Count::Suppressed => 0,
        })
        .sum();
    assert_eq!(appts, 0, "3 appointments are a suppressed count: {bytes:?}");

    // Company holds the same bytes, under the certificate's tenant.
    let analyst = company.login("analyst", "analyst123").await;
    let (status, list) = company
        .api(Method::GET, "/reports", Some(&analyst), None)
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["meta"]["total"], 1, "{list}");
    assert_eq!(list["data"][0]["sha256"], sha.as_str());
    assert_eq!(list["data"][0]["tenant_id"], DEMO_TENANT_ID);
    assert_eq!(list["data"][0]["report_id"], id.as_str());
    let (status, series) = company
        .api(
            Method::GET,
            "/analytics/series?measure=patients_registered",
            Some(&analyst),
            None,
        )
        .await;
    assert_ok(status, &series, StatusCode::OK);
    let point = series["data"]["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["week"] == week.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no {week} in {series}"));
    assert_eq!(point["value"], 14);
    assert_eq!(point["complete"], true);
    let (status, series) = company
        .api(
            Method::GET,
            "/analytics/series?measure=patients_registered&age_band=65-79&sex=female",
            Some(&analyst),
            None,
        )
        .await;
    assert_ok(status, &series, StatusCode::OK);
    assert_eq!(series["data"]["total"]["complete"], false, "{series}");
    assert_eq!(
        series["data"]["total"]["value"], 0,
        "never filled in: {series}"
    );

    // The hospital's list shows it sent.
    let (status, mine) = hospital
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_ok(status, &mine, StatusCode::OK);
    assert_eq!(mine["data"][0]["status"], "sent");
    assert!(mine["data"][0]["sent_at"].is_string());

    // Nothing identifying in company's database nor in any log line.
    let stored = stored_bytes_with(&company, "deid_reports");
    let text = logs.text();
    for s in &secrets {
        assert!(
            !contains_ignoring_case(&stored, s),
            "{s} is in company's database"
        );
        assert!(
            !contains_ignoring_case(text.as_bytes(), s),
            "{s} was logged"
        );
        assert!(!contains_ignoring_case(&bytes, s), "{s} is in the report");
    }
    // The bytes are there (the search would find what is stored).
    assert!(contains_ignoring_case(&stored, &sha));
}

/// A company with the plane on, a hospital certificate for the demo tenant
/// (`hospital`) and one for tenant B (`hospital-b`).
struct Plane {
    pki: Pki,
    ports: PlanePorts,
    company: TestApp,
}

impl Plane {
    async fn new() -> Self {
        let pki = Pki::new();
        issue_all(&pki);
        pki.issue(
            "hospital-b",
            ServiceIdentity::Hospital {
                tenant_id: TENANT_B.into(),
            },
        );
        let ports = PlanePorts::free();
        let company = start(Service::Company, &pki, &ports, &[]).await;
        Self {
            pki,
            ports,
            company,
        }
    }

    async fn post(&self, cert: &str, body: Value) -> (StatusCode, Value) {
        internal_post(
            &self.pki.client(Some(cert)),
            self.ports.company,
            contracts::paths::REPORTS,
            body,
        )
        .await
    }
}

#[tokio::test]
async fn company_refuses_another_tenants_report_a_changed_resend_and_anything_off_the_wire_format()
{
    let w = Plane::new().await;
    let admin = w.company.admin_token().await;
    let id = uuid::Uuid::new_v4().to_string();
    let good = report(
        DEMO_TENANT_ID,
        &id,
        json!([cell("break_glass", None, json!(12))]),
    );

    // Tenant A's certificate naming tenant B: 403, a critical event, nothing stored.
    let (status, body) = w.post("hospital", report(TENANT_B, &id, json!([]))).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let events = wait_for_events(&w.company, &admin, "kind=plane.tenant_mismatch", 1).await;
    assert_eq!(events["data"][0]["severity"], "critical");
    let (_, list) = w
        .company
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(list["meta"]["total"], 0, "{list}");

    // Its own report: stored; the same bytes again: a duplicate; other
    // bytes under the same id: 409.
    let (status, body) = w.post("hospital", good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["duplicate"], false);
    let (status, body) = w.post("hospital", good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["duplicate"], true);
    let changed = report(
        DEMO_TENANT_ID,
        &id,
        json!([cell("break_glass", None, json!(13))]),
    );
    let (status, body) = w.post("hospital", changed).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    // Tenant B may use the same report id for its own report.
    let (status, body) = w
        .post(
            "hospital-b",
            report(TENANT_B, &id, json!([cell("break_glass", None, json!(0))])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, list) = w
        .company
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(list["meta"]["total"], 2, "{list}");

    // Off the wire format: 400, and the message never echoes the value.
    let fresh = || uuid::Uuid::new_v4().to_string();
    let bad = [
        report(
            DEMO_TENANT_ID,
            &fresh(),
            json!([cell("break_glass", None, json!(3))]),
        ),
        report(
            DEMO_TENANT_ID,
            &fresh(),
            json!([cell("appointments", Some("Ada Lovelace"), json!(12))]),
        ),
        report(
            DEMO_TENANT_ID,
            &fresh(),
            json!([cell("break_glass", Some("icu"), json!(12))]),
        ),
        {
            let mut r = report(DEMO_TENANT_ID, &fresh(), json!([]));
            r["patient_name"] = json!("Ada Lovelace");
            r
        },
        {
            let mut c = cell("break_glass", None, json!(12));
            c["week"] = json!("1815-12-10");
            report(DEMO_TENANT_ID, &fresh(), json!([c]))
        },
        {
            let mut c = cell("break_glass", None, json!(12));
            c["sex"] = json!("Ada Lovelace");
            report(DEMO_TENANT_ID, &fresh(), json!([c]))
        },
        report(DEMO_TENANT_ID, "Ada Lovelace", json!([])),
    ];
    for b in bad {
        let (status, body) = w.post("hospital", b.clone()).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(!body.to_string().contains("Lovelace"), "{body}");
    }
    // Too many cells: 400; too many bytes: 413.
    let many: Vec<Value> = (0..20_001)
        .map(|_| cell("break_glass", None, json!(0)))
        .collect();
    let (status, body) = w
        .post("hospital", report(DEMO_TENANT_ID, &fresh(), json!(many)))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let mut huge = report(DEMO_TENANT_ID, &fresh(), json!([]));
    huge["padding"] = json!("x".repeat(5 * 1024 * 1024));
    let (status, _) = w.post("hospital", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Only hospitals submit reports: owner, company and dev are refused
    // (dev possibly at the handshake already).
    for who in ["owner", "company", "dev"] {
        let res = w
            .pki
            .client(Some(who))
            .post(format!(
                "https://localhost:{}{}",
                w.ports.company,
                contracts::paths::REPORTS
            ))
            .json(&good)
            .send()
            .await;
        match res {
            Ok(res) => assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}"),
            Err(_) => assert_eq!(who, "dev", "{who} could not even connect"),
        }
    }
    let (_, list) = w
        .company
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(list["meta"]["total"], 2, "nothing else was stored: {list}");
}

#[tokio::test]
async fn totals_with_a_suppressed_cell_are_at_least_and_never_filled_in_and_the_csv_says_suppressed(
) {
    let w = Plane::new().await;
    let a = report(
        DEMO_TENANT_ID,
        &uuid::Uuid::new_v4().to_string(),
        json!([
            cell("appointments", Some("cardiology"), json!(20)),
            cell("appointments", Some("icu"), json!("suppressed")),
            cell("appointments", Some("neurology"), json!("suppressed")),
            cell("appointments", None, json!(38)),
        ]),
    );
    let b = report(
        TENANT_B,
        &uuid::Uuid::new_v4().to_string(),
        json!([
            cell("appointments", Some("cardiology"), json!("suppressed")),
            cell("appointments", Some("icu"), json!(15)),
            cell("appointments", Some("neurology"), json!("suppressed")),
            cell("appointments", None, json!(30)),
        ]),
    );
    assert_eq!(w.post("hospital", a).await.0, StatusCode::CREATED);
    assert_eq!(w.post("hospital-b", b).await.0, StatusCode::CREATED);
    let analyst = w.company.login("analyst", "analyst123").await;
    let series = |q: &str| {
        let q = q.to_string();
        let company = &w.company;
        let token = analyst.clone();
        async move {
            let (status, body) = company
                .api(
                    Method::GET,
                    &format!("/analytics/series?{q}"),
                    Some(&token),
                    None,
                )
                .await;
            assert_ok(status, &body, StatusCode::OK);
            body["data"].clone()
        }
    };
    // The hospitals' own totals: exact.
    let all = series("measure=appointments").await;
    assert_eq!(all["total"]["value"], 68);
    assert_eq!(all["total"]["complete"], true);
    assert_eq!(all["total"]["label"], "68");
    // Cardiology across tenants: 20 + suppressed = at least 20, flagged —
    // never 20 + (30 - 15 - x).
    let cardio = series("measure=appointments&department=cardiology").await;
    assert_eq!(cardio["total"]["value"], 20);
    assert_eq!(cardio["total"]["complete"], false);
    assert_eq!(
        cardio["total"]["label"],
        "at least 20 (some cells suppressed)"
    );
    assert_eq!(cardio["tenants"].as_array().unwrap().len(), 2);
    // One tenant, one suppressed cell: at least 0, not 38 - 20 - x.
    let icu_a = series(&format!(
        "measure=appointments&department=icu&tenant={DEMO_TENANT_ID}"
    ))
    .await;
    assert_eq!(icu_a["total"]["value"], 0);
    assert_eq!(icu_a["total"]["suppressed_cells"], 1);
    assert_eq!(icu_a["weeks"][0]["complete"], false);

    // The CSV: streamed, one row per cell, suppressed as such.
    let res = w
        .company
        .client
        .get(
            w.company
                .api_url("/analytics/export.csv?measure=appointments"),
        )
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "tenant_id,week,measure,department,age_band,sex,count"
    );
    assert_eq!(lines.len(), 9, "{csv}");
    let week = this_week();
    assert!(
        lines.contains(&format!("{DEMO_TENANT_ID},{week},appointments,icu,,,suppressed").as_str()),
        "{csv}"
    );
    assert!(
        lines.contains(&format!("{TENANT_B},{week},appointments,,,,30").as_str()),
        "{csv}"
    );
}

#[tokio::test]
async fn analytics_refuse_bad_filters() {
    let company = spawn(Service::Company).await;
    let analyst = company.login("analyst", "analyst123").await;
    for q in [
        "",
        "measure=names",
        "measure=break_glass&department=icu",
        "measure=appointments&age_band=18-29",
        "measure=patients_active&age_band=47",
        "measure=patients_active&sex=F",
        "measure=appointments&department=Ada%20Lovelace",
        "measure=appointments&tenant=hospital-of-ada",
        "measure=appointments&from=2026-12-01",
        "measure=appointments&from=2026-W49&to=2026-W40",
        "measure=appointments&name=x",
    ] {
        let (status, body) = company
            .api(
                Method::GET,
                &format!("/analytics/series?{q}"),
                Some(&analyst),
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, body) = company
        .api(Method::GET, "/reports?tenant=nope", Some(&analyst), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn company_report_endpoints_by_role() {
    let company = spawn(Service::Company).await;
    let tokens = [
        ("admin", Some(company.login("admin", "admin123").await), 200),
        (
            "analyst",
            Some(company.login("analyst", "analyst123").await),
            200,
        ),
        (
            "team_lead",
            Some(company.login("teamlead", "teamlead123").await),
            403,
        ),
        (
            "production",
            Some(company.login("production", "production123").await),
            403,
        ),
        ("anonymous", None, 401),
    ];
    for path in [
        "/reports",
        "/analytics/series?measure=appointments",
        "/analytics/export.csv?measure=appointments",
    ] {
        for (role, token, want) in &tokens {
            let mut req = company.client.get(company.api_url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            assert_eq!(status, *want, "{role} on {path}: {text}");
            match want {
                401 => assert!(text.contains("\"UNAUTHENTICATED\""), "{text}"),
                403 => assert!(text.contains("\"FORBIDDEN\""), "{text}"),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn hospital_report_endpoints_by_role_and_bad_input() {
    let hospital = spawn(Service::Hospital).await;
    let admin = hospital.admin_token().await;
    let (status, made) = hospital
        .api(Method::POST, "/reports", Some(&admin), Some(json!({})))
        .await;
    assert_ok(status, &made, StatusCode::CREATED);
    let id = made["data"]["id"].as_str().unwrap().to_string();
    // Plane off: it waits, pending, exactly as it will be sent.
    assert_eq!(made["data"]["status"], "pending");

    // Every role but admin is refused everything; a refused POST stores nothing.
    let mut callers: Vec<(String, Option<String>)> = Vec::new();
    for role in hospital::POLICY.0.iter().map(|r| r.name) {
        if role == "admin" || role == "patient" {
            continue;
        }
        let name = format!("u-{}", role.replace('_', "-"));
        hospital.create_user(&admin, &name, role).await;
        callers.push((
            role.to_string(),
            Some(hospital.login(&name, STRONG_PASSWORD).await),
        ));
    }
    let reception = hospital.login("reception", "reception123").await;
    let p = register_patient(
        &hospital,
        &reception,
        json!({"first_name": "Portal", "last_name": "Person", "date_of_birth": "1980-01-01", "sex": "other"}),
    )
    .await;
    testkit::hospital::portal_account(&hospital, &reception, &id_of(&p), "portal-rep").await;
    callers.push((
        "patient".into(),
        Some(hospital.login("portal-rep", STRONG_PASSWORD).await),
    ));
    callers.push(("anonymous".into(), None));
    for (role, token) in &callers {
        let (want, code) = if token.is_some() {
            (StatusCode::FORBIDDEN, "FORBIDDEN")
        } else {
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
        };
        for (method, path, body) in [
            (Method::POST, "/reports".to_string(), Some(json!({}))),
            (Method::GET, "/reports".to_string(), None),
            (Method::GET, format!("/reports/{id}"), None),
        ] {
            let (status, reply) = hospital
                .api(method.clone(), &path, token.as_deref(), body)
                .await;
            assert_eq!(status, want, "{role} {method} {path}: {reply}");
            assert_error(status, &reply, want, code);
        }
    }
    let (_, list) = hospital
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(
        list["meta"]["total"], 1,
        "refused requests stored nothing: {list}"
    );

    // The admin reads the exact bytes.
    let res = hospital
        .client
        .get(hospital.api_url(&format!("/reports/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-report-status"], "pending");
    let bytes = res.bytes().await.unwrap();
    let (_, list) = hospital
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(list["data"][0]["bytes"], bytes.len(), "{list}");
    let r: DeidentifiedReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(r.report_id.as_str(), id);
    assert_eq!(r.from.span(r.to), 4, "four weeks by default");

    // Bad input.
    for body in [
        json!({"from": "2026-W40"}),
        json!({"from": "2026-W49", "to": "2026-W40"}),
        json!({"from": "2026-12-01", "to": "2026-W49"}),
        json!({"from": "2020-W01", "to": this_week()}),
        json!({"from": this_week(), "to": "2999-W01"}),
        json!({"from": this_week(), "to": this_week(), "patient": "x"}),
        json!([null, null]),
        json!([this_week(), this_week()]),
        json!("2026-W49"),
    ] {
        let (status, reply) = hospital
            .api(Method::POST, "/reports", Some(&admin), Some(body.clone()))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = hospital
        .api(Method::GET, "/reports/not-an-id", Some(&admin), None)
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let other = uuid::Uuid::new_v4().to_string();
    let (status, reply) = hospital
        .api(
            Method::GET,
            &format!("/reports/{other}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = hospital
        .api(
            Method::POST,
            "/reports",
            Some(&admin),
            Some(json!({"from": this_week(), "to": this_week()})),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let (_, list) = hospital
        .api(Method::GET, "/reports", Some(&admin), None)
        .await;
    assert_eq!(list["meta"]["total"], 2);
    // Each report made is audited with its hash (and never its counts).
    let rows: Vec<_> = hospital
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.action == "report.create")
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].resource, format!("report:{id}"));
    assert_eq!(rows[0].tenant_id.as_deref(), Some(DEMO_TENANT_ID));
}

#[tokio::test]
async fn the_csv_export_streams_every_cell_page_after_page() {
    let w = Plane::new().await;
    // 53 weeks × 40 age × sex cells (zeros: nothing to suppress) = 2120
    // cells, more than two of the export's pages of 1000.
    let to = chrono::Datelike::iso_week(&Utc::now().date_naive());
    let weeks: Vec<String> = (0..53_i64)
        .map(|n| {
            let d = Utc::now().date_naive() - chrono::Duration::weeks(52 - n);
            let w = chrono::Datelike::iso_week(&d);
            format!("{:04}-W{:02}", w.year(), w.week())
        })
        .collect();
    assert_eq!(weeks[52], format!("{:04}-W{:02}", to.year(), to.week()));
    let bands = ["0-4", "5-17", "18-29", "30-44", "45-64", "65-79", "80+"];
    let sexes = ["female", "male", "other", "unknown"];
    let mut cells = Vec::new();
    for week in &weeks {
        for band in bands.iter().map(|b| Some(*b)).chain([None]) {
            for sex in sexes.iter().map(|s| Some(*s)).chain([None]) {
                cells.push(
                    json!({"measure": "patients_active", "week": week, "department": null,
                    "age_band": band, "sex": sex, "count": 0}),
                );
            }
        }
    }
    assert_eq!(cells.len(), 2120);
    let body = json!({
        "tenant_id": DEMO_TENANT_ID, "report_id": uuid::Uuid::new_v4().to_string(),
        "from": weeks[0], "to": weeks[52], "suppress_below": 11, "cells": cells,
    });
    let (status, reply) = w.post("hospital", body).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let analyst = w.company.login("analyst", "analyst123").await;
    let res = w
        .company
        .client
        .get(w.company.api_url("/analytics/export.csv"))
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2121, "a header and every cell once");
    let distinct: std::collections::BTreeSet<&&str> = lines.iter().collect();
    assert_eq!(distinct.len(), 2121, "no row twice across pages");
    assert!(lines[1].starts_with(&format!("{DEMO_TENANT_ID},{}", weeks[0])));
    assert!(lines[2120].starts_with(&format!("{DEMO_TENANT_ID},{}", weeks[52])));
}

#[tokio::test]
async fn a_disabled_reporting_section_makes_no_report() {
    let hospital = testkit::spawn_with(
        Service::Hospital,
        &[("HOSPITAL__REPORTING__ENABLED", "false")],
    )
    .await;
    let admin = hospital.admin_token().await;
    let (status, reply) = hospital
        .api(Method::POST, "/reports", Some(&admin), Some(json!({})))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "REPORTING_DISABLED");
}

#[tokio::test]
async fn the_schedule_reports_the_certificates_tenant_and_company_receives_it() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let hospital = start(
        Service::Hospital,
        &pki,
        &ports,
        &[("HOSPITAL__REPORTING__INTERVAL_SECS", "1")],
    )
    .await;
    let admin = hospital.admin_token().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let (status, list) = hospital
            .api(Method::GET, "/reports?page_size=100", Some(&admin), None)
            .await;
        assert_ok(status, &list, StatusCode::OK);
        let sent = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == "sent")
            .cloned();
        if let Some(r) = sent {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled report sent: {list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(first["origin"], "schedule");
    assert_eq!(first["created_by"], "system");
    assert_eq!(first["tenant_id"], DEMO_TENANT_ID);
    let analyst = company.login("analyst", "analyst123").await;
    let (status, list) = company
        .api(
            Method::GET,
            &format!("/reports?tenant={DEMO_TENANT_ID}&page_size=100"),
            Some(&analyst),
            None,
        )
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["report_id"] == first["id"] && r["sha256"] == first["sha256"]),
        "{list}"
    );
}

#[tokio::test]
async fn a_hosted_server_reports_only_the_tenant_its_certificate_names() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let hosted = [
        ("HOSPITAL__TENANCY__MODE", "hosted"),
        ("HOSPITAL__CRYPTO__MASTER_KEY", key.as_str()),
    ];
    let app = start(Service::Hospital, &pki, &ports, &hosted).await;
    let tenant_b = crate::hospital_tenants::TENANT_B;
    let url = app.database_url().to_string();
    let seed_b = testkit::spawn_with(
        Service::Hospital,
        &[
            hosted[0],
            hosted[1],
            ("HOSPITAL__BOOTSTRAP__ADMIN_TENANT_ID", tenant_b),
            ("HOSPITAL__DATABASE__URL", &url),
        ],
    )
    .await;
    seed_b.stop().await;
    let b_admin = testkit::hospital::login_in(&app, tenant_b, "hadmin", "hadmin123").await;
    let (status, reply) = app
        .api(Method::POST, "/reports", Some(&b_admin), Some(json!({})))
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "NOT_THIS_CERTIFICATE");
    let (_, list) = app.api(Method::GET, "/reports", Some(&b_admin), None).await;
    assert_eq!(list["meta"]["total"], 0, "{list}");
    let a_admin = testkit::hospital::login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let (status, reply) = app
        .api(Method::POST, "/reports", Some(&a_admin), Some(json!({})))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    // Tenant B does not see tenant A's report.
    let id = reply["data"]["id"].as_str().unwrap();
    let (status, reply) = app
        .api(Method::GET, &format!("/reports/{id}"), Some(&b_admin), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// Patients by department: distinct patients seen in a department in the
/// week (appointments there, or a bed of it), so two appointments of one
/// patient count once; the total is the sum of the departments' cells.
#[tokio::test]
async fn patients_are_counted_once_per_department_they_were_seen_in() {
    let hospital = spawn(Service::Hospital).await;
    let admin = hospital.admin_token().await;
    let reception = hospital.login("reception", "reception123").await;
    let doctor = hospital.login("doctor", "doctor123").await;
    let doctor_id = user_id(&hospital, &doctor).await;
    let dep = department(&hospital, &admin).await;
    let (_, deps) = hospital
        .api(Method::GET, "/departments", Some(&admin), None)
        .await;
    let code = deps["data"][0]["code"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let mut patients = Vec::new();
    for i in 0..12_u32 {
        let p = register_patient(
            &hospital,
            &reception,
            json!({ "first_name": "Seen", "last_name": format!("Patient{i}"),
                    "date_of_birth": "1980-01-01", "sex": "female" }),
        )
        .await;
        patients.push(id_of(&p));
    }
    // Thirteen appointments: the first patient twice.
    for (n, p) in patients.iter().chain(patients.iter().take(1)).enumerate() {
        book(
            &hospital,
            &reception,
            booking(p, &doctor_id, &dep, &slot(n)),
        )
        .await;
    }
    let today = Utc::now().date_naive();
    hospital
        .sql(&format!(
            "UPDATE appointments SET starts_at = '{today} 00:00:01', ends_at = '{today} 00:30:00'"
        ))
        .await
        .unwrap();
    let (status, reply) = hospital
        .api(Method::POST, "/reports", Some(&admin), Some(json!({})))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let id = reply["data"]["id"].as_str().unwrap().to_string();
    let res = hospital
        .client
        .get(hospital.api_url(&format!("/reports/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    let sent: DeidentifiedReport = serde_json::from_slice(&bytes).unwrap();
    let week = this_week();
    let cell = |measure: &str, department: Option<&str>| {
        sent.cells
            .iter()
            .find(|c| {
                c.measure.as_str() == measure
                    && c.week.to_string() == week
                    && c.department.as_ref().map(|d| d.as_str()) == department
            })
            .map(|c| c.count)
            .unwrap_or_else(|| panic!("no {measure} {department:?} cell"))
    };
    assert_eq!(cell("appointments", Some(&code)), Count::Value(13));
    assert_eq!(
        cell("patients_by_department", Some(&code)),
        Count::Value(12),
        "one patient, two appointments: counted once"
    );
    assert_eq!(cell("patients_by_department", None), Count::Value(12));
}
