//! Security review findings on the internal plane (issue 8, items 7 and 9),
//! each test named after its finding: the outbound client must check whom
//! it reached, and a missing or expired CRL must fail closed.

use std::time::Duration;

use chrono::Utc;
use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use serde_json::json;
use testkit::plane::{Pki, PlanePorts};
use testkit::{try_spawn_with, Method, Service, StatusCode};

use crate::plane::{internal_get, issue_all, start, wait_for_events};

/// Finding 7: "The outbound mTLS client trusts any Bulkhead certificate as
/// the server." A fake company on another service's certificate, on a
/// revoked company certificate, or on a hospital's certificate receives
/// nothing; the hospital keeps its events, writes a critical audit row for
/// each impostor, and the real company later receives both the events and
/// the alarms.
#[tokio::test]
async fn the_outbound_mtls_client_trusts_any_bulkhead_certificate_as_the_server() {
    let pki = Pki::new();
    issue_all(&pki);
    let revoked = pki.issue("company-revoked", ServiceIdentity::Company);
    pki.revoke(&revoked.serial_hex);
    let ports = PlanePorts::free();
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let failed = json!({ "username": "doctor", "password": "wrong-password" });
    let (status, _) = hospital
        .api(Method::POST, "/auth/login", None, Some(failed))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Each impostor sits on company's address for a few delivery rounds.
    for impostor in ["owner", "company-revoked", "hospital"] {
        let fake = pki.fake_peer(impostor, ports.company);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(fake.hits(), 0, "{impostor} received a request");
        fake.stop().await;
    }

    // The hospital recorded each refusal locally, at critical severity.
    let rows = hospital.audit_rows().await;
    let refused: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "plane.peer_refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|r| r.severity == "critical"));
    assert!(refused
        .iter()
        .any(|r| r.resource == "spiffe://bulkhead/owner"));
    assert!(refused
        .iter()
        .all(|r| r.tenant_id.as_deref() == Some(DEMO_TENANT_ID)));

    // The real company gets the event nobody took, and the alarms.
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let token = company.admin_token().await;
    wait_for_events(
        &company,
        &token,
        "source_service=hospital&kind=auth.login_failed",
        1,
    )
    .await;
    wait_for_events(
        &company,
        &token,
        "source_service=hospital&kind=plane.peer_refused&severity=critical",
        3,
    )
    .await;
}

/// Finding 9: "Deleting the CRL file re-admits revoked certificates." The
/// last good CRL stays in force and the deletion is a critical event; a CRL
/// past nextUpdate is honoured within the grace period and refuses every
/// peer after it, until a current one is written.
#[tokio::test]
async fn deleting_the_crl_file_readmits_revoked_certificates() {
    let pki = Pki::new();
    issue_all(&pki);
    let revoked = pki.issue("owner-revoked", ServiceIdentity::Owner);
    pki.revoke(&revoked.serial_hex);
    let ports = PlanePorts::free();
    let company = start(
        Service::Company,
        &pki,
        &ports,
        &[("COMPANY__PLANE__CRL_GRACE_HOURS", "1")],
    )
    .await;
    let whoami = contracts::paths::WHOAMI;
    let admitted = |name: &'static str| {
        let client = pki.client(Some(name));
        async move { internal_get(&client, ports.company, whoami).await.is_some() }
    };
    assert!(admitted("owner").await);
    assert!(!admitted("owner-revoked").await, "revoked");

    pki.delete_crl();
    assert!(
        !admitted("owner-revoked").await,
        "revoked after the CRL was deleted"
    );
    assert!(admitted("owner").await, "a good certificate still gets in");
    let token = company.admin_token().await;
    wait_for_events(
        &company,
        &token,
        "source_service=company&kind=crl.unavailable&severity=critical",
        1,
    )
    .await;

    // Another CA's CRL (which revokes nothing of ours) is not taken either.
    let other = Pki::new();
    std::fs::copy(other.dir().join("ca.crl"), pki.dir().join("ca.crl")).unwrap();
    assert!(
        !admitted("owner-revoked").await,
        "revoked under a foreign CRL"
    );

    // Past nextUpdate but within the grace period: honoured, with a warning.
    pki.write_crl_due(Utc::now() - chrono::Duration::minutes(30));
    assert!(admitted("owner").await, "within the grace period");
    assert!(!admitted("owner-revoked").await);
    // Past the grace period: nobody gets in, and that is critical.
    pki.write_crl_due(Utc::now() - chrono::Duration::hours(2));
    assert!(!admitted("owner").await, "expired CRL: every peer refused");
    wait_for_events(
        &company,
        &token,
        "source_service=company&kind=crl.expired&severity=critical",
        1,
    )
    .await;
    // A refreshed CRL lets the good ones back in, and only them.
    pki.write_crl_due(Utc::now() + chrono::Duration::days(30));
    assert!(admitted("owner").await, "after a refresh");
    assert!(!admitted("owner-revoked").await);

    // At start there is no last good CRL: a missing one refuses the start.
    pki.delete_crl();
    let other_ports = PlanePorts::free();
    let mut env = pki.plane_env(Service::Owner, "owner", &other_ports);
    env.push(("OWNER__PLANE__PORT".into(), other_ports.owner.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(
        try_spawn_with(Service::Owner, &env).await.is_err(),
        "started without a CRL"
    );
}
