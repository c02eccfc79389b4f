//! The reports pages: the hospital admin's "sent reports" (send one now,
//! read its exact bytes) and company's analytics page (series, "at least"
//! totals, the CSV download) — each only for the roles that hold the
//! permission.

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use reqwest::StatusCode;
use serde_json::json;
use testkit::plane::{Pki, PlanePorts};
use testkit::{spawn, spawn_with, Service};

use crate::client::Browser;

#[tokio::test]
async fn the_hospital_admin_sends_a_report_and_reads_what_was_sent() {
    let app = spawn(Service::Hospital).await;
    let mut admin = Browser::new(&app);
    admin.login_ok("hadmin", "hadmin123", "/home").await;
    let home = admin.get("/home").await;
    assert!(home.body.contains("href=\"/reports\""), "{}", home.body);
    let page = admin.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No report made yet"), "{}", page.body);
    let forged = admin.post("/reports", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let sent = admin.post("/reports", &[("csrf", &page.csrf())]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let at = sent.location().to_string();
    assert!(at.starts_with("/reports/"), "{at}");
    let report = admin.get(&at).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    for want in [
        "Exactly what is sent",
        "pending",
        "suppress_below",
        DEMO_TENANT_ID,
    ] {
        assert!(
            report.body.contains(want),
            "{want} missing: {}",
            report.body
        );
    }
    let list = admin.get("/reports").await;
    assert!(list.body.contains(&at), "{}", list.body);

    let mut doctor = Browser::new(&app);
    doctor.login_ok("doctor", "doctor123", "/home").await;
    assert!(!doctor.get("/home").await.body.contains("href=\"/reports\""));
    assert_eq!(doctor.get("/reports").await.status, StatusCode::FORBIDDEN);
    assert_eq!(doctor.get(&at).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_analyst_sees_series_with_at_least_totals_and_downloads_the_csv() {
    let pki = Pki::new();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue(
        "hospital",
        ServiceIdentity::Hospital {
            tenant_id: DEMO_TENANT_ID.into(),
        },
    );
    let ports = PlanePorts::free();
    let env = pki.plane_env(Service::Company, "company", &ports);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let company = spawn_with(Service::Company, &env).await;
    let w = chrono::Datelike::iso_week(&chrono::Utc::now().date_naive());
    let week = format!("{:04}-W{:02}", w.year(), w.week());
    let cell = |dep: Option<&str>, count: serde_json::Value| {
        json!({"measure": "appointments", "week": week, "department": dep,
            "age_band": null, "sex": null, "count": count})
    };
    let report = json!({
        "tenant_id": DEMO_TENANT_ID, "report_id": uuid::Uuid::new_v4().to_string(),
        "from": week, "to": week, "suppress_below": 11,
        "cells": [cell(Some("cardiology"), json!(25)), cell(Some("icu"), json!("suppressed")),
            cell(Some("oncology"), json!("suppressed")), cell(None, json!(40))],
    });
    let res = pki
        .client(Some("hospital"))
        .post(format!(
            "https://localhost:{}{}",
            ports.company,
            contracts::paths::REPORTS
        ))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let mut analyst = Browser::new(&company);
    analyst.login_ok("analyst", "analyst123", "/home").await;
    assert!(analyst
        .get("/home")
        .await
        .body
        .contains("href=\"/reports\""));
    let page = analyst.get("/reports?measure=appointments").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for want in [
        "<svg",
        &week,
        ">40<",
        DEMO_TENANT_ID,
        "Download these cells as CSV",
    ] {
        assert!(page.body.contains(want), "{want} missing: {}", page.body);
    }
    let icu = analyst
        .get("/reports?measure=appointments&department=icu")
        .await;
    assert!(
        icu.body.contains("at least 0 (some cells suppressed)"),
        "{}",
        icu.body
    );
    let bad = analyst
        .get("/reports?measure=appointments&age_band=47")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let (status, csv) = analyst
        .get_bytes("/reports/export.csv?measure=appointments&department=icu")
        .await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains(&format!(
            "{DEMO_TENANT_ID},{week},appointments,icu,,,suppressed"
        )),
        "{csv}"
    );

    let mut production = Browser::new(&company);
    production
        .login_ok("production", "production123", "/home")
        .await;
    assert!(!production
        .get("/home")
        .await
        .body
        .contains("href=\"/reports\""));
    assert_eq!(
        production.get("/reports").await.status,
        StatusCode::FORBIDDEN
    );
    let (status, _) = production.get_bytes("/reports/export.csv").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
