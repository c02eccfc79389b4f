//! Company and releases (issue 15, item 3): company pulls dev's signed
//! releases and signing keys over mTLS, checks every signature itself, and
//! takes a release to production with two people — a production user
//! promotes (company fetches the artifact from dev and checks it), a team
//! lead approves (never the promoter, never the signer) — and countersigns
//! the approval. Each tamper case is refused with its code, an audit row
//! and a security event; every role that must be refused is.

use std::time::{Duration, Instant};

use contracts::release::{verify_approval, Approval};
use dev::releases::manifest::sign;
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_error, assert_ok, Method, Service, StatusCode, TestApp};

use testkit::releases::{manifest_of, publish, register_key, Key};

use crate::dev_releases::security_events;
use crate::plane::{internal_get, issue_all, start};

/// A company user who may both promote and approve (to show the
/// two-person rule is enforced by person, not only by role).
const RELEASE_MANAGER: (&str, &str) = (
    "COMPANY__RBAC__ROLES__RELEASE_MANAGER",
    "releases.read,releases.promote,releases.approve",
);

struct World {
    _pki: Pki,
    ports: PlanePorts,
    pki_client: reqwest::Client,
    company: TestApp,
    dev: TestApp,
    astro: String,
    key: Key,
}

impl World {
    async fn new() -> Self {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let company = start(Service::Company, &pki, &ports, &[RELEASE_MANAGER]).await;
        let dev = start(Service::Dev, &pki, &ports, &[]).await;
        let astro = dev.login("astro", "dev123456").await;
        let key = register_key(&dev, &astro, "astro laptop").await;
        let pki_client = pki.client(Some("company"));
        Self {
            _pki: pki,
            ports,
            pki_client,
            company,
            dev,
            astro,
            key,
        }
    }

    /// Upload a signed release on dev; its id there.
    async fn release(&self, key: &Key, version: &str, bytes: &[u8]) -> String {
        publish(&self.dev, &self.astro, key, version, bytes).await
    }

    /// Wait until company lists release `id` and `check` holds for it.
    async fn seen(&self, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .company
                .api(Method::GET, &format!("/releases/{id}"), Some(token), None)
                .await;
            if status == StatusCode::OK && check(&body["data"]) {
                return body["data"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "company never showed release {id} as expected: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn act(&self, token: &str, id: &str, action: &str) -> (StatusCode, Value) {
        self.company
            .api(
                Method::POST,
                &format!("/releases/{id}/{action}"),
                Some(token),
                None,
            )
            .await
    }
}

fn bytes_of(version: &str) -> Vec<u8> {
    let mut b = format!("hospital-server {version}\n").into_bytes();
    b.extend((0..300_000u32).map(|i| (i % 251) as u8));
    b
}

async fn company_events(app: &TestApp, kind: &str) -> Vec<Value> {
    security_events(app)
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

#[tokio::test]
async fn a_signed_release_reaches_production_with_two_people_and_a_countersignature() {
    let w = World::new().await;
    let bytes = bytes_of("1.0.0");
    let id = w.release(&w.key, "1.0.0", &bytes).await;

    let production = w.company.login("production", "production123").await;
    let teamlead = w.company.login("teamlead", "teamlead123").await;
    let view = w
        .seen(&production, &id, |r| r["status"] == "candidate")
        .await;
    assert_eq!(view["signer_username"], "astro");
    assert_eq!(view["signing_key_name"], "astro laptop");
    assert_eq!(view["signing_key_revoked"], false);
    assert_eq!(view["size"], bytes.len());

    // Order: a team lead cannot approve what nobody promoted.
    let (status, body) = w.act(&teamlead, &id, "approve").await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    // The production user promotes: company fetches the bytes from dev.
    let (status, body) = w.act(&production, &id, "promote").await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["status"], "promoted");
    assert_eq!(body["data"]["promoted_by_username"], "production");
    let kept = w
        .company
        .objects_dir()
        .unwrap()
        .join("sha256")
        .join(view["sha256"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        bytes,
        "company keeps the checked bytes"
    );
    let (status, body) = w.act(&production, &id, "promote").await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    // The developer who signed cannot approve, even holding the role on company.
    let admin = w.company.admin_token().await;
    w.company.create_user(&admin, "astro", "team_lead").await;
    let astro_here = w.company.login("astro", testkit::STRONG_PASSWORD).await;
    let (status, body) = w.act(&astro_here, &id, "approve").await;
    assert_error(
        status,
        &body,
        StatusCode::FORBIDDEN,
        "SIGNER_CANNOT_APPROVE",
    );

    // The team lead approves; company countersigns.
    let (status, body) = w.act(&teamlead, &id, "approve").await;
    assert_ok(status, &body, StatusCode::OK);
    let r = &body["data"];
    assert_eq!(r["status"], "approved");
    assert_eq!(r["approved_by_username"], "teamlead");
    let approval: Approval = serde_json::from_value(r["approval"].clone()).unwrap();
    assert_eq!(approval.promoted_by, "production");
    assert_eq!(approval.approved_by, "teamlead");
    assert_eq!(approval.release_id, id);
    assert_eq!(approval.manifest.sha256, view["sha256"]);
    assert_eq!(approval.signature, view["signature"]);
    let (status, key) = w
        .company
        .api(
            Method::GET,
            "/release-approval-key",
            Some(&production),
            None,
        )
        .await;
    assert_ok(status, &key, StatusCode::OK);
    let public = key["data"]["public_key"].as_str().unwrap();
    let countersignature = r["countersignature"].as_str().unwrap();
    assert!(verify_approval(public, &approval, countersignature));
    // The countersignature binds the people and the manifest.
    let mut forged = approval.clone();
    forged.approved_by = "production".into();
    assert!(!verify_approval(public, &forged, countersignature));
    // Company vouches for dev's key; the developer's signature checks against it.
    assert_eq!(approval.signing_public_key, dev_public_key(&w).await);
    assert!(contracts::release::verify(
        &approval.signing_public_key,
        &approval.manifest,
        &approval.signature
    ));
    let (status, body) = w.act(&teamlead, &id, "approve").await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let (status, body) = w
        .company
        .api(
            Method::POST,
            &format!("/releases/{id}/reject"),
            Some(&teamlead),
            Some(json!({ "reason": "too late" })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    // Audit rows on company name both people; dev audited company's download.
    let rows = w.company.audit_rows().await;
    let on = |action: &str| {
        rows.iter()
            .filter(|r| r.action == action && r.resource == format!("release:{id}"))
            .count()
    };
    assert_eq!(on("release.promote"), 1);
    assert_eq!(
        on("release.approve"),
        2,
        "the refused signer and the team lead"
    );
    assert_eq!(
        company_events(&w.company, "release.approved").await.len(),
        1
    );
    let dev_rows = w.dev.audit_rows().await;
    assert!(dev_rows.iter().any(|r| r.action == "release.download"
        && r.actor == "spiffe://bulkhead/company"
        && r.resource == format!("release:{id}")));

    // The list filters by status; bad filters are 400.
    let (status, body) = w
        .company
        .api(
            Method::GET,
            "/releases?status=approved",
            Some(&production),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 1);
    for bad in [
        "/releases?status=live",
        "/releases?page_size=0",
        "/releases?x=1",
    ] {
        let (status, body) = w
            .company
            .api(Method::GET, bad, Some(&production), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
}

async fn dev_public_key(w: &World) -> String {
    let (status, body) = w
        .dev
        .api(Method::GET, "/signing-keys", Some(&w.astro), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == w.key.id.as_str())
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_promoter_cannot_approve_and_tampering_is_refused_at_every_hop() {
    let w = World::new().await;
    let admin = w.company.admin_token().await;
    w.company
        .create_user(&admin, "relman", "release_manager")
        .await;
    let relman = w.company.login("relman", testkit::STRONG_PASSWORD).await;
    let production = w.company.login("production", "production123").await;

    // Same person: one who may do both still cannot approve their own promotion.
    let own = w.release(&w.key, "2.0.0", &bytes_of("2.0.0")).await;
    w.seen(&relman, &own, |r| r["status"] == "candidate").await;
    let (status, body) = w.act(&relman, &own, "promote").await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = w.act(&relman, &own, "approve").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "SAME_PERSON");
    let refused = company_events(&w.company, "release.refused").await;
    assert!(
        refused
            .iter()
            .any(|e| e["details"]["reason"] == "SAME_PERSON"),
        "{refused:?}"
    );

    // A byte flipped in dev's stored artifact: company refuses to promote it.
    let bytes = bytes_of("2.1.0");
    let flipped = w.release(&w.key, "2.1.0", &bytes).await;
    let view = w
        .seen(&production, &flipped, |r| r["status"] == "candidate")
        .await;
    let sha = view["sha256"].as_str().unwrap().to_string();
    let on_dev = w.dev.objects_dir().unwrap().join("sha256").join(&sha);
    let mut stored = std::fs::read(&on_dev).unwrap();
    stored[1000] ^= 0x01;
    std::fs::write(&on_dev, &stored).unwrap();
    let (status, body) = w.act(&production, &flipped, "promote").await;
    assert_error(status, &body, StatusCode::CONFLICT, "ARTIFACT_MISMATCH");
    assert!(!w
        .company
        .objects_dir()
        .unwrap()
        .join("sha256")
        .join(&sha)
        .exists());
    assert_eq!(
        std::fs::read_dir(w.company.objects_dir().unwrap().join("tmp"))
            .unwrap()
            .count(),
        0,
        "no partial download left"
    );
    let tampered = company_events(&w.company, "release.tampered").await;
    assert_eq!(tampered.len(), 1);
    assert_eq!(tampered[0]["severity"], "critical");
    w.seen(&production, &flipped, |r| r["status"] == "candidate")
        .await;

    // A release whose key dev revoked cannot be promoted.
    let key2 = register_key(&w.dev, &w.astro, "old laptop").await;
    let revoked = w.release(&key2, "2.2.0", &bytes_of("2.2.0")).await;
    w.seen(&production, &revoked, |r| r["status"] == "candidate")
        .await;
    let (status, body) = w
        .dev
        .api(
            Method::POST,
            &format!("/signing-keys/{}/revoke", key2.id),
            Some(&w.astro),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    w.seen(&production, &revoked, |r| r["signing_key_revoked"] == true)
        .await;
    let (status, body) = w.act(&production, &revoked, "promote").await;
    assert_error(status, &body, StatusCode::CONFLICT, "SIGNING_KEY_REVOKED");

    // A release forged into dev's database (a signature by no key) is
    // never taken by company: a critical security event instead.
    let forged_id = uuid::Uuid::new_v4().to_string();
    let m = manifest_of("hospital-server", "6.6.6", b"evil");
    let other = dev::releases::manifest::generate().unwrap().0;
    let sig = sign(&other, &m).unwrap();
    let (fid, kid) = (forged_id.clone(), w.key.id.clone());
    w.dev
        .db()
        .write(move |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "INSERT INTO releases (id, product, version, sha256, size, notes, min_schema_version, \
                 signature, signing_key_id, uploaded_by, created_at) VALUES \
                 ('{fid}', '{}', '{}', '{}', {}, '', 0, '{sig}', '{kid}', 'x', CURRENT_TIMESTAMP)",
                m.product, m.version, m.sha256, m.size
            ))
            .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let refused = company_events(&w.company, "release.refused").await;
        if refused
            .iter()
            .any(|e| e["details"]["release"] == forged_id.as_str())
        {
            let e = refused
                .iter()
                .find(|e| e["details"]["release"] == forged_id.as_str())
                .unwrap();
            assert_eq!(e["details"]["reason"], "SIGNATURE_INVALID");
            assert_eq!(e["severity"], "critical");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the forged release was not refused"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = w
        .company
        .api(
            Method::GET,
            &format!("/releases/{forged_id}"),
            Some(&production),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Reject: a reason is required; a rejected release goes nowhere.
    let dropped = w.release(&w.key, "2.3.0", &bytes_of("2.3.0")).await;
    w.seen(&production, &dropped, |r| r["status"] == "candidate")
        .await;
    let reject = |reason: Value| {
        let path = format!("/releases/{dropped}/reject");
        let company = &w.company;
        let token = production.clone();
        async move {
            company
                .api(Method::POST, &path, Some(&token), Some(reason))
                .await
        }
    };
    for bad in [
        json!({}),
        json!({ "reason": "no" }),
        json!({ "reason": "x".repeat(501) }),
        json!({ "reason": "fine", "extra": 1 }),
    ] {
        let (status, body) = reject(bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, body) = reject(json!({ "reason": "fails the smoke test" })).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["status"], "rejected");
    assert_eq!(body["data"]["reject_reason"], "fails the smoke test");
    let (status, body) = w.act(&production, &dropped, "promote").await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    // A team lead turns down a promoted release; company serves it to no hospital.
    let teamlead = w.company.login("teamlead", "teamlead123").await;
    let turned = w.release(&w.key, "2.4.0", &bytes_of("2.4.0")).await;
    w.seen(&production, &turned, |r| r["status"] == "candidate")
        .await;
    let (status, body) = w.act(&production, &turned, "promote").await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = w
        .company
        .api(
            Method::POST,
            &format!("/releases/{turned}/reject"),
            Some(&teamlead),
            Some(json!({ "reason": "breaks the migration" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["rejected_by"], "teamlead");
    let (status, body) = w.act(&teamlead, &turned, "approve").await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let hospital = w._pki.client(Some("hospital"));
    let path = contracts::paths::APPROVED_ARTIFACT.replace("{id}", &turned);
    let (status, body) = internal_get(&hospital, w.ports.company, &path)
        .await
        .unwrap();
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn only_the_roles_of_the_two_person_rule_act_and_only_company_reads_dev() {
    let w = World::new().await;
    let id = w.release(&w.key, "3.0.0", &bytes_of("3.0.0")).await;
    let production = w.company.login("production", "production123").await;
    w.seen(&production, &id, |r| r["status"] == "candidate")
        .await;
    let admin = w.company.admin_token().await;
    let analyst = w.company.login("analyst", "analyst123").await;
    let teamlead = w.company.login("teamlead", "teamlead123").await;

    let read = [
        ("GET", "/releases".to_string()),
        ("GET", format!("/releases/{id}")),
        ("GET", "/release-approval-key".to_string()),
    ];
    for (_, path) in &read {
        let (status, body) = w.company.api(Method::GET, path, Some(&analyst), None).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        let (status, body) = w.company.api(Method::GET, path, None, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        for token in [&admin, &production, &teamlead] {
            let (status, body) = w.company.api(Method::GET, path, Some(token), None).await;
            assert_ok(status, &body, StatusCode::OK);
        }
    }
    // promote: production only; approve: team lead only; reject: either.
    for (action, refused) in [
        ("promote", vec![&admin, &analyst, &teamlead]),
        ("approve", vec![&admin, &analyst, &production]),
        ("reject", vec![&admin, &analyst]),
    ] {
        for token in refused {
            let (status, body) = w
                .company
                .api(
                    Method::POST,
                    &format!("/releases/{id}/{action}"),
                    Some(token),
                    Some(json!({ "reason": "not mine to say" })),
                )
                .await;
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
        let (status, body) = w
            .company
            .api(
                Method::POST,
                &format!("/releases/{id}/{action}"),
                None,
                None,
            )
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    w.seen(&production, &id, |r| r["status"] == "candidate")
        .await;
    let (status, body) = w.act(&production, "no-such-release", "promote").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Dev's release routes answer company's identity only.
    let paths = [
        contracts::paths::DEV_RELEASES.to_string(),
        contracts::paths::DEV_SIGNING_KEYS.to_string(),
        contracts::paths::DEV_RELEASE_ARTIFACT.replace("{id}", &id),
    ];
    for path in &paths {
        let (status, _) = internal_get(&w.pki_client, w.ports.dev, path)
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "{path}");
        for other in ["hospital", "owner"] {
            let client = w._pki.client(Some(other));
            if let Some((status, body)) = internal_get(&client, w.ports.dev, path).await {
                assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
            }
        }
    }
    for q in [
        "?offset=-1",
        "?limit=0",
        "?limit=501",
        "?offset=x",
        "?after=1",
    ] {
        let path = format!("{}{q}", contracts::paths::DEV_RELEASES);
        let (status, body) = internal_get(&w.pki_client, w.ports.dev, &path)
            .await
            .unwrap();
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let missing = contracts::paths::DEV_RELEASE_ARTIFACT.replace("{id}", "nope");
    let (status, body) = internal_get(&w.pki_client, w.ports.dev, &missing)
        .await
        .unwrap();
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}
