//! Audit anchors on company (security finding 10): a position that goes
//! backwards is refused and raised, and a critical event on a hospital is
//! anchored at once rather than at the next interval.

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use serde_json::{json, Value};
use testkit::hospital::{patient_body, register_patient_id};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_error, spawn_with, Method, Service, StatusCode, TestApp};

async fn start(service: Service, pki: &Pki, ports: &PlanePorts, extra: &[(&str, &str)]) -> TestApp {
    let mut env = pki.plane_env(service, service.name(), ports);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_with(service, &env).await
}

fn hospital_identity() -> ServiceIdentity {
    ServiceIdentity::Hospital {
        tenant_id: DEMO_TENANT_ID.into(),
    }
}

async fn post_anchor(
    client: &reqwest::Client,
    port: u16,
    seq: i64,
    hash: &str,
) -> (StatusCode, Value) {
    let res = client
        .post(format!(
            "https://localhost:{port}{}",
            contracts::paths::AUDIT_ANCHORS
        ))
        .json(&json!({ "seq": seq, "hash": hash }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn hospital_anchors(company: &TestApp, token: &str) -> Value {
    let (status, body) = company
        .api(
            Method::GET,
            &format!("/audit-anchors?service=hospital&tenant={DEMO_TENANT_ID}&page_size=100"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn finding_10_an_anchor_that_goes_backwards_is_refused_and_raised() {
    let pki = Pki::new();
    let ports = PlanePorts::free();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("hospital", hospital_identity());
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let client = pki.client(Some("hospital"));
    let (a, b) = ("a".repeat(64), "b".repeat(64));

    let (status, body) = post_anchor(&client, ports.company, 20, &a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["stored"], true);
    // A redelivery of a held position is harmless.
    let (status, body) = post_anchor(&client, ports.company, 20, &a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["stored"], false);
    // A lower position that was never anchored: the chain was cut back and rewritten.
    let (status, body) = post_anchor(&client, ports.company, 12, &b).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    // The same position with another hash is refused too.
    let (status, body) = post_anchor(&client, ports.company, 20, &b).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let token = company.admin_token().await;
    let anchors = hospital_anchors(&company, &token).await;
    assert_eq!(
        anchors["meta"]["total"], 1,
        "only the first anchor is held: {anchors}"
    );
    // Company moves its own events from its outbox to its list in the background.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let (status, events) = company
            .api(
                Method::GET,
                "/security-events?kind=audit.anchor_regressed&severity=critical",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{events}");
        if events["meta"]["total"] == 1 {
            break events;
        }
        assert!(Instant::now() < deadline, "no regression event: {events}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(events["data"][0]["details"]["highest_held"], 20, "{events}");
    company.stop().await;
}

#[tokio::test]
async fn finding_10_a_critical_event_is_anchored_at_once() {
    let pki = Pki::new();
    let ports = PlanePorts::free();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("hospital", hospital_identity());
    let company = start(Service::Company, &pki, &ports, &[]).await;
    // The periodic anchor comes only once an hour: what arrives after the
    // first (start-up) anchor was sent because of the critical event.
    let hour = [("HOSPITAL__PLANE__ANCHOR_INTERVAL_SECS", "3600")];
    let hospital = start(Service::Hospital, &pki, &ports, &hour).await;
    let token = company.admin_token().await;

    let admin = hospital.admin_token().await;
    let patient = register_patient_id(
        &hospital,
        &admin,
        patient_body("Anchor", "Test", "1971-01-01"),
    )
    .await;
    let nurse = hospital.login("nurse", "nurse123").await;
    let (status, body) = hospital
        .api(
            Method::POST,
            &format!("/patients/{patient}/break-glass"),
            Some(&nurse),
            Some(json!({ "reason": "Collapsed in the waiting room, unresponsive" })),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let critical_seq = hospital
        .audit_rows()
        .await
        .into_iter()
        .filter(|r| r.severity == "critical")
        .map(|r| r.seq)
        .max()
        .expect("a critical audit row");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let anchors = hospital_anchors(&company, &token).await;
        let highest = anchors["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a["seq"].as_i64())
            .max()
            .unwrap_or(0);
        if highest >= critical_seq {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the critical row {critical_seq} was not anchored at once: {anchors}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    hospital.stop().await;
    company.stop().await;
}
