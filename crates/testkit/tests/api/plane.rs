//! The internal plane with real TLS on real sockets: who may connect, who
//! may call what, and security events that reach company exactly once.

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts, Roles};
use testkit::{assert_error, spawn_with, Method, Service, StatusCode, TestApp};

const TENANT_B: &str = "00000000-0000-4000-8000-0000000000b2";

fn hospital_a() -> ServiceIdentity {
    ServiceIdentity::Hospital {
        tenant_id: DEMO_TENANT_ID.into(),
    }
}

/// Start `service` with the plane on, presenting `<service name>.crt` of `pki`.
pub(crate) async fn start(
    service: Service,
    pki: &Pki,
    ports: &PlanePorts,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut env = pki.plane_env(service, service.name(), ports);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_with(service, &env).await
}

pub(crate) fn issue_all(pki: &Pki) {
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("dev", ServiceIdentity::Dev);
    pki.issue("owner", ServiceIdentity::Owner);
    pki.issue("hospital", hospital_a());
}

/// GET an internal route; `None` when the connection itself is refused.
pub(crate) async fn internal_get(
    client: &reqwest::Client,
    port: u16,
    path: &str,
) -> Option<(StatusCode, Value)> {
    let res = client
        .get(format!("https://localhost:{port}{path}"))
        .send()
        .await
        .ok()?;
    let status = res.status();
    Some((status, res.json().await.unwrap_or(Value::Null)))
}

pub(crate) async fn internal_post(
    client: &reqwest::Client,
    port: u16,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let res = client
        .post(format!("https://localhost:{port}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Poll company's security-event list until `query` matches `n` events.
pub(crate) async fn wait_for_events(company: &TestApp, token: &str, query: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = company
            .api(
                Method::GET,
                &format!("/security-events?{query}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["meta"]["total"].as_u64() == Some(n) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} events for {query}, have {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_handshake_refuses_missing_foreign_expired_and_revoked_certificates() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let whoami = contracts::paths::WHOAMI;

    // An allowed identity gets through and is named as itself.
    let (status, body) = internal_get(&pki.client(Some("owner")), ports.company, whoami)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["identity"], "spiffe://bulkhead/owner");

    // No client certificate.
    assert!(
        internal_get(&pki.client(None), ports.company, whoami)
            .await
            .is_none(),
        "no certificate must be refused"
    );

    // A certificate from another CA, claiming an allowed identity.
    let other = Pki::new();
    other.issue("owner", ServiceIdentity::Owner);
    assert!(
        internal_get(&pki.foreign_client(&other, "owner"), ports.company, whoami)
            .await
            .is_none(),
        "foreign CA"
    );

    // An expired certificate.
    pki.issue_expired("owner-expired", ServiceIdentity::Owner);
    assert!(
        internal_get(&pki.client(Some("owner-expired")), ports.company, whoami)
            .await
            .is_none(),
        "expired"
    );

    // Revoked after the server started: the CRL is re-read.
    let revoked = pki.issue("owner-revoked", ServiceIdentity::Owner);
    assert!(
        internal_get(&pki.client(Some("owner-revoked")), ports.company, whoami)
            .await
            .is_some()
    );
    pki.revoke(&revoked.serial_hex);
    assert!(
        internal_get(&pki.client(Some("owner-revoked")), ports.company, whoami)
            .await
            .is_none(),
        "revoked"
    );

    // Dev's certificate may only answer (serverAuth): as a caller it is refused.
    assert!(
        internal_get(&pki.client(Some("dev")), ports.company, whoami)
            .await
            .is_none(),
        "dev as a client"
    );

    // Each refusal that presented a certificate is a security event on company.
    let token = company.admin_token().await;
    let body = wait_for_events(
        &company,
        &token,
        "source_service=company&kind=cert.refused",
        4,
    )
    .await;
    for e in body["data"].as_array().unwrap() {
        assert_eq!(e["details"]["stage"], "handshake");
    }
}

#[tokio::test]
async fn every_route_admits_only_the_identities_it_names() {
    let pki = Pki::new();
    issue_all(&pki);
    // A properly issued dev certificate cannot even call (serverAuth only):
    // the handshake refuses it (see the refusal test). To test the routes'
    // allow-lists themselves, dev gets one that may call.
    pki.issue_with_roles("dev", ServiceIdentity::Dev, Roles::Both);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let dev = start(Service::Dev, &pki, &ports, &[]).await;
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let p = contracts::paths::WHOAMI;
    let (events, anchors, head) = (
        contracts::paths::SECURITY_EVENTS,
        contracts::paths::AUDIT_ANCHORS,
        contracts::paths::AUDIT_HEAD,
    );
    // (client identity, port, path, allowed?)
    let matrix: &[(&str, u16, &str, bool)] = &[
        ("hospital", ports.company, p, true),
        ("owner", ports.company, p, true),
        ("dev", ports.company, p, false),
        ("dev", ports.company, anchors, false),
        ("dev", ports.company, events, false),
        ("dev", ports.owner, p, false),
        ("hospital", ports.owner, p, true),
        ("owner", ports.owner, p, false),
        ("company", ports.owner, p, false),
        ("company", ports.dev, p, true),
        ("company", ports.dev, head, true),
        ("company", ports.dev, events, true),
        ("hospital", ports.dev, head, false),
        ("hospital", ports.dev, events, false),
        ("owner", ports.dev, head, false),
        ("dev", ports.dev, head, false),
    ];
    for (who, port, path, allowed) in matrix {
        let (status, body) = internal_get(&pki.client(Some(who)), *port, path)
            .await
            .expect("handshake");
        if *allowed {
            assert_eq!(status, StatusCode::OK, "{who} → {port}{path}: {body}");
        } else {
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
    }

    // Nothing internal on the public listeners, nothing public on the internal ones.
    for app in [&company, &dev, &owner] {
        let res = app.client.get(app.url(p)).send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{} public listener serves {p}",
            app.service()
        );
    }
    let (status, _) = internal_get(
        &pki.client(Some("owner")),
        ports.company,
        "/api/v1/company/auth/me",
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = internal_get(&pki.client(Some("owner")), ports.company, "/healthz")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A refused identity is a security event too.
    let token = company.admin_token().await;
    let body = wait_for_events(
        &company,
        &token,
        "source_service=company&kind=cert.refused",
        3,
    )
    .await;
    assert!(body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor"] == "spiffe://bulkhead/dev"));
}

#[tokio::test]
async fn a_hospital_acts_only_for_the_tenant_in_its_certificate() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let client = pki.client(Some("hospital"));
    let path = contracts::paths::SECURITY_EVENTS;
    let event = |id: &str, tenant: &str| {
        json!({ "id": id, "kind": "auth.login_failed", "severity": "warning", "actor": "u1",
                "tenant_id": tenant, "details": {}, "occurred_at": "2026-11-22T10:00:00" })
    };

    let (status, body) = internal_post(
        &client,
        ports.company,
        path,
        json!({ "events": [event("e-b", TENANT_B)] }),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = internal_post(
        &client,
        ports.company,
        path,
        json!({ "events": [event("e-a", DEMO_TENANT_ID), event("e-b", TENANT_B)] }),
    )
    .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    let (status, body) = internal_post(
        &client,
        ports.company,
        path,
        json!({ "events": [event("e-a", DEMO_TENANT_ID)] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({ "accepted": 1, "duplicates": 0 }));
    // A retry is harmless: stored once.
    let (_, body) = internal_post(
        &client,
        ports.company,
        path,
        json!({ "events": [event("e-a", DEMO_TENANT_ID)] }),
    )
    .await;
    assert_eq!(body["data"], json!({ "accepted": 0, "duplicates": 1 }));

    // It cannot read another tenant's anchors either.
    let q = format!(
        "{}?service=hospital&tenant={TENANT_B}",
        contracts::paths::AUDIT_ANCHORS
    );
    let (status, body) = internal_get(&client, ports.company, &q).await.unwrap();
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    let token = company.admin_token().await;
    let body = wait_for_events(&company, &token, "source_service=hospital", 1).await;
    assert_eq!(body["data"][0]["source_tenant"], DEMO_TENANT_ID);
    assert_eq!(body["data"][0]["event_id"], "e-a");
    // The attempt to speak for tenant B was raised as a critical event.
    wait_for_events(
        &company,
        &token,
        "kind=plane.tenant_mismatch&severity=critical",
        2,
    )
    .await;
    // Bad input on the internal plane is a 4xx in the envelope too.
    let (status, body) =
        internal_post(&client, ports.company, path, json!({ "events": "nope" })).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn events_made_while_company_is_down_arrive_exactly_once() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let company_db = company.database_url().to_string();
    company.stop().await;

    for _ in 0..3 {
        let (status, _) = hospital
            .api(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({ "username": "doctor", "password": "wrong-password" })),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Let the hospital try (and fail) to deliver a few times.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let again = start(
        Service::Company,
        &pki,
        &ports,
        &[("COMPANY__DATABASE__URL", company_db.as_str())],
    )
    .await;

    let token = again.admin_token().await;
    wait_for_events(
        &again,
        &token,
        "source_service=hospital&kind=auth.login_failed",
        3,
    )
    .await;
    // Several more delivery rounds change nothing: none twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let body = wait_for_events(
        &again,
        &token,
        "source_service=hospital&kind=auth.login_failed",
        3,
    )
    .await;
    let mut ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    drop(company);
}

#[tokio::test]
async fn company_pulls_dev_events_and_holds_the_anchors_of_every_server() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let dev = start(Service::Dev, &pki, &ports, &[]).await;
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;

    let bad = json!({ "username": "astro", "password": "wrong-password" });
    assert_eq!(
        dev.api(Method::POST, "/auth/login", None, Some(bad))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let bad = json!({ "username": "owner", "password": "wrong-password" });
    assert_eq!(
        owner
            .api(Method::POST, "/auth/login", None, Some(bad))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A permission refusal on the hospital is an event as well.
    let doctor = hospital.login("doctor", "doctor123").await;
    assert_eq!(
        hospital
            .api(Method::GET, "/users", Some(&doctor), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    let token = company.admin_token().await;
    wait_for_events(
        &company,
        &token,
        "source_service=dev&kind=auth.login_failed",
        1,
    )
    .await;
    wait_for_events(
        &company,
        &token,
        "source_service=owner&kind=auth.login_failed",
        1,
    )
    .await;
    let denied = wait_for_events(
        &company,
        &token,
        "source_service=hospital&kind=authz.denied",
        1,
    )
    .await;
    assert_eq!(denied["data"][0]["details"]["role"], "doctor");
    // The company admin alone reads the list.
    let analyst = company.login("analyst", "analyst123").await;
    let (status, body) = company
        .api(Method::GET, "/security-events", Some(&analyst), None)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = company
        .api(
            Method::GET,
            "/audit-anchors?service=dev",
            Some(&analyst),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    // Bad filters are 400, not an empty list.
    for path in [
        "/audit-anchors?service=company",
        "/audit-anchors",
        "/security-events?sorce_service=dev",
        "/security-events?page_size=0",
    ] {
        let (status, body) = company.api(Method::GET, path, Some(&token), None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    // Company's pull of dev validates its cursor too.
    let client = pki.client(Some("company"));
    for q in ["?after=-1", "?limit=0", "?limit=501", "?after=x"] {
        let path = format!("{}{q}", contracts::paths::DEV_SECURITY_EVENTS);
        let (status, body) = internal_get(&client, ports.dev, &path).await.unwrap();
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    for (service, tenant) in [("dev", ""), ("owner", ""), ("hospital", DEMO_TENANT_ID)] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = company
                .api(
                    Method::GET,
                    &format!("/audit-anchors?service={service}&tenant={tenant}"),
                    Some(&token),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["meta"]["total"].as_u64().unwrap_or(0) > 0 {
                let a = &body["data"][0];
                let rows = match service {
                    "dev" => dev.audit_rows().await,
                    "owner" => owner.audit_rows().await,
                    _ => hospital.audit_rows().await,
                };
                let row = rows
                    .iter()
                    .find(|r| r.seq == a["seq"].as_i64().unwrap())
                    .unwrap();
                assert_eq!(
                    a["hash"],
                    row.hash.as_str(),
                    "{service}'s anchor matches its chain"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no anchor from {service}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
