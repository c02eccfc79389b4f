//! Hospitals and releases (issue 15, item 4): a hospital asks company which
//! release is approved, checks company's countersignature against the key
//! it pins and the developer's signature against the key company vouches
//! for, stages the artifact after checking its hash, and reports where it
//! stands to owner. A wrong pin, a tampered artifact or a release nobody
//! approved is refused (or never offered) and raised.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::config::{Config, DEMO_TENANT_ID};
use common::mtls::client::PeerClient;
use common::mtls::{ServiceIdentity, Trust};
use common::updates::{self, Updates};
use serde_json::Value;
use testkit::plane::{Pki, PlanePorts};
use testkit::releases::{publish, publish_as, register_key};
use testkit::{assert_error, assert_ok, Method, Service, StatusCode, TestApp};

use crate::plane::{internal_get, issue_all, start};

struct World {
    pki: Pki,
    ports: PlanePorts,
    company: TestApp,
    dev: TestApp,
    owner: TestApp,
    hospital: TestApp,
    approval_key: String,
    updates_dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let pki = Pki::new();
        issue_all(&pki);
        let ports = PlanePorts::free();
        let company = start(Service::Company, &pki, &ports, &[]).await;
        let dev = start(Service::Dev, &pki, &ports, &[]).await;
        let production = company.login("production", "production123").await;
        let (status, key) = company
            .api(
                Method::GET,
                "/release-approval-key",
                Some(&production),
                None,
            )
            .await;
        assert_ok(status, &key, StatusCode::OK);
        let approval_key = key["data"]["public_key"].as_str().unwrap().to_string();
        let updates_dir = tempfile::tempdir().unwrap();
        let dir = updates_dir.path().display().to_string();
        let owner_dir = updates_dir.path().join("owner").display().to_string();
        let owner = start(
            Service::Owner,
            &pki,
            &ports,
            &[
                ("OWNER__UPDATES__APPROVAL_PUBLIC_KEY", approval_key.as_str()),
                ("OWNER__UPDATES__CHECK_INTERVAL_SECS", "1"),
                ("OWNER__UPDATES__DIR", owner_dir.as_str()),
            ],
        )
        .await;
        let hospital = start(
            Service::Hospital,
            &pki,
            &ports,
            &[
                (
                    "HOSPITAL__UPDATES__APPROVAL_PUBLIC_KEY",
                    approval_key.as_str(),
                ),
                ("HOSPITAL__UPDATES__CHECK_INTERVAL_SECS", "1"),
                ("HOSPITAL__UPDATES__DIR", dir.as_str()),
            ],
        )
        .await;
        Self {
            pki,
            ports,
            company,
            dev,
            owner,
            hospital,
            approval_key,
            updates_dir,
        }
    }

    /// Publish `version` on dev, promote and approve it on company; its id.
    async fn approved(&self, version: &str, bytes: &[u8]) -> String {
        self.approved_as("hospital-server", version, bytes).await
    }

    /// The same for `product`.
    async fn approved_as(&self, product: &str, version: &str, bytes: &[u8]) -> String {
        let astro = self.dev.login("astro", "dev123456").await;
        let key = register_key(&self.dev, &astro, &format!("key {product} {version}")).await;
        let id = publish_as(&self.dev, &astro, &key, product, version, bytes).await;
        let production = self.company.login("production", "production123").await;
        let teamlead = self.company.login("teamlead", "teamlead123").await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self
                .company
                .api(
                    Method::POST,
                    &format!("/releases/{id}/promote"),
                    Some(&production),
                    None,
                )
                .await;
            if status == StatusCode::OK {
                break;
            }
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert!(Instant::now() < deadline, "company never pulled {id}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, body) = self
            .company
            .api(
                Method::POST,
                &format!("/releases/{id}/approve"),
                Some(&teamlead),
                None,
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        id
    }

    /// The hospital's own mTLS client for company, and `[updates]` with `pin`.
    fn client_and_config(&self, pin: &str, dir: &std::path::Path) -> (PeerClient, Updates) {
        let mut env: HashMap<String, String> = self
            .pki
            .plane_env(Service::Hospital, "hospital", &self.ports)
            .into_iter()
            .collect();
        env.insert("HOSPITAL__DEMO".into(), "true".into());
        env.insert("HOSPITAL__UPDATES__APPROVAL_PUBLIC_KEY".into(), pin.into());
        env.insert("HOSPITAL__UPDATES__DIR".into(), dir.display().to_string());
        let cfg = Config::load_with_env(Service::Hospital, None, env).unwrap();
        let trust = Trust::load(&cfg.plane, None).unwrap();
        let client = PeerClient::new(&cfg.plane, &trust, ServiceIdentity::Company, None).unwrap();
        (client, updates::load(&cfg, hospital::PRODUCT).unwrap())
    }

    async fn state(&self) -> Option<updates::StateRow> {
        self.hospital.db().run(updates::read).await.unwrap()
    }

    /// Wait until the hospital's own periodic check records `status`.
    async fn wait_state(&self, status: &str) -> updates::StateRow {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.state().await {
                if s.status == status {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the hospital never recorded {status}: {:?}",
                self.state().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until owner shows the tenant's release as `status`.
    async fn owner_sees(&self, status: &str) -> Value {
        let token = self.owner.admin_token().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = self
                .owner
                .api(
                    Method::GET,
                    &format!("/tenants/{DEMO_TENANT_ID}/database-health"),
                    Some(&token),
                    None,
                )
                .await;
            assert_ok(code, &body, StatusCode::OK);
            if body["data"]["update"]["status"] == status {
                return body["data"]["update"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "owner never showed the release as {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn artifact(version: &str) -> Vec<u8> {
    let mut b = format!("hospital-server {version}\n").into_bytes();
    b.extend((0..200_000u32).map(|i| (i % 253) as u8));
    b
}

async fn refused_events(app: &TestApp) -> Vec<contracts::SecurityEvent> {
    app.db()
        .run(|c| common::security::after(c, 0, 10_000))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "update.refused")
        .collect()
}

#[tokio::test]
async fn a_hospital_sees_checks_and_stages_the_approved_release_and_owner_shows_it() {
    let w = World::new().await;
    // Nothing approved yet: current.
    let s = w.wait_state("current").await;
    assert_eq!(s.current_version, updates::CURRENT_VERSION);
    assert_eq!(s.version, None);
    w.owner_sees("current").await;

    // A release promoted but not approved is never offered.
    let astro = w.dev.login("astro", "dev123456").await;
    let key = register_key(&w.dev, &astro, "laptop").await;
    let pending = publish(&w.dev, &astro, &key, "8.0.0", &artifact("8.0.0")).await;
    let client = w.pki.client(Some("hospital"));
    let path = contracts::paths::APPROVED_ARTIFACT.replace("{id}", &pending);
    let (status, body) = internal_get(&client, w.ports.company, &path).await.unwrap();
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    let bytes = artifact("9.1.0");
    let id = w.approved("9.1.0", &bytes).await;
    let s = w.wait_state("available").await;
    assert_eq!(s.version.as_deref(), Some("9.1.0"));
    assert_eq!(s.release_id.as_deref(), Some(id.as_str()));
    let shown = w.owner_sees("available").await;
    assert_eq!(shown["version"], "9.1.0");
    assert_eq!(shown["current_version"], updates::CURRENT_VERSION);

    // Staging: downloaded through company, hash checked, verified.
    let dir = tempfile::tempdir().unwrap();
    let (company, cfg) = w.client_and_config(&w.approval_key, dir.path());
    let h = updates::stage(&w.hospital.db(), &company, &cfg, None)
        .await
        .unwrap();
    assert_eq!(h.status, "verified", "{h:?}");
    let staged = dir.path().join("hospital-server-9.1.0");
    assert_eq!(std::fs::read(&staged).unwrap(), bytes);
    // The periodic check keeps saying verified while the file is there.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(w.state().await.unwrap().status, "verified");
    w.owner_sees("verified").await;
    // Owner follows its own product: nothing approved for owner-server yet.
    let token = w.owner.admin_token().await;
    let (status, body) = w
        .owner
        .api(Method::GET, "/update", Some(&token), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"]["status"], "current", "{body}");
    let (status, body) = w.owner.api(Method::GET, "/update", None, None).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    w.approved_as("owner-server", "9.1.1", &artifact("owner 9.1.1"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = w
            .owner
            .api(Method::GET, "/update", Some(&token), None)
            .await;
        if body["data"]["status"] == "available" {
            assert_eq!(body["data"]["version"], "9.1.1");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "owner never saw its release: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The hospital still follows hospital-server only.
    assert_eq!(w.state().await.unwrap().version.as_deref(), Some("9.1.0"));

    // Company audited the hospital's download.
    let rows = w.company.audit_rows().await;
    assert!(rows.iter().any(|r| r.action == "release.download"
        && r.resource == format!("release:{id}")
        && r.actor.starts_with("spiffe://bulkhead/hospital/")));
    drop(w.updates_dir);
}

#[tokio::test]
async fn a_wrong_pin_or_a_tampered_artifact_is_refused_and_raised() {
    let w = World::new().await;
    let bytes = artifact("9.2.0");
    w.approved("9.2.0", &bytes).await;
    w.wait_state("available").await;

    // Pinned to another key: company's countersignature does not verify.
    let dir = tempfile::tempdir().unwrap();
    let (other_pin, _) = {
        let (_, public) = contracts::release::generate().unwrap();
        (contracts::release::b64(&public), ())
    };
    let (company, cfg) = w.client_and_config(&other_pin, dir.path());
    let db = w.hospital.db();
    let h = updates::check(&db, &company, &cfg, None).await.unwrap();
    assert_eq!(h.status, "refused");
    assert_eq!(h.detail.as_deref(), Some("APPROVAL_INVALID"));
    // Raised once, not at every check.
    updates::check(&db, &company, &cfg, None).await.unwrap();
    let raised = refused_events(&w.hospital).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].severity, "critical");
    assert_eq!(raised[0].details["reason"], "APPROVAL_INVALID");
    let h = updates::stage(&db, &company, &cfg, None).await.unwrap();
    assert_eq!(h.status, "refused");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing staged"
    );

    // A byte flipped in company's copy: the hash check refuses it.
    let sha = contracts::release::sha256_hex(&bytes);
    let on_company = w.company.objects_dir().unwrap().join("sha256").join(&sha);
    let mut stored = std::fs::read(&on_company).unwrap();
    stored[5000] ^= 0x40;
    std::fs::write(&on_company, &stored).unwrap();
    let (company, cfg) = w.client_and_config(&w.approval_key, dir.path());
    let h = updates::stage(&db, &company, &cfg, None).await.unwrap();
    assert_eq!(h.status, "refused");
    assert_eq!(h.detail.as_deref(), Some("ARTIFACT_MISMATCH"));
    assert!(!dir.path().join("hospital-server-9.2.0").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    let raised = refused_events(&w.hospital).await;
    assert!(
        raised
            .iter()
            .any(|e| e.details["reason"] == "ARTIFACT_MISMATCH"),
        "{raised:?}"
    );

    // Only hospitals and owner ask company; dev and company itself are refused.
    for name in ["dev", "company"] {
        let client = w.pki.client(Some(name));
        let path = format!(
            "{}?product=hospital-server",
            contracts::paths::APPROVED_RELEASE
        );
        if let Some((status, body)) = internal_get(&client, w.ports.company, &path).await {
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        }
    }
    let client = w.pki.client(Some("owner"));
    for q in ["", "?product=", "?product=x&y=1"] {
        let path = format!("{}{q}", contracts::paths::APPROVED_RELEASE);
        let (status, body) = internal_get(&client, w.ports.company, &path).await.unwrap();
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let path = format!(
        "{}?product=hospital-server",
        contracts::paths::APPROVED_RELEASE
    );
    let (status, body) = internal_get(&client, w.ports.company, &path).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["approval"]["manifest"]["version"], "9.2.0");
}

/// Dev's document `version` of `kind`, as the bytes to sign.
async fn config_document(dev: &TestApp, token: &str, kind: &str, version: i64) -> Vec<u8> {
    let res = dev
        .client
        .get(dev.api_url(&format!("/config/{kind}/versions/{version}/document")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_configuration_version_from_dev_reaches_the_hospital_signed_and_approved() {
    let w = World::new().await;
    let astro = w.dev.login("astro", "dev123456").await;
    let (status, v1) = w
        .dev
        .api(
            Method::POST,
            "/config/hospital/versions",
            Some(&astro),
            Some(serde_json::json!({
                "document": { "files": { "retention_years": 12 }, "rate_limit": { "per_minute": 90 } },
                "reason": "Longer retention for the new records law",
            })),
        )
        .await;
    assert_ok(status, &v1, StatusCode::CREATED);
    let doc = config_document(&w.dev, &astro, "hospital", 1).await;
    // Signed as release hospital-config / 1, through two people on company.
    let release = w.approved_as(hospital::CONFIG_PRODUCT, "1", &doc).await;
    let (status, published) = w
        .dev
        .api(
            Method::POST,
            "/config/hospital/versions/1/publish",
            Some(&astro),
            Some(serde_json::json!({ "release_id": release })),
        )
        .await;
    assert_ok(status, &published, StatusCode::OK);
    assert_eq!(published["data"]["published_release_id"], release.as_str());

    // The hospital's own periodic check sees it, in its own state row.
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let row = w
            .hospital
            .db()
            .run(|c| updates::read_state(c, updates::CONFIG_STATE))
            .await
            .unwrap();
        if let Some(r) = row.filter(|r| r.status == "available") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the hospital never saw the configuration"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(seen.version.as_deref(), Some("1"));
    assert_eq!(seen.release_id.as_deref(), Some(release.as_str()));
    // Staged after both signatures and the hash are checked: the very bytes.
    let dir = tempfile::tempdir().unwrap();
    let (company, cfg) = w.client_and_config(&w.approval_key, dir.path());
    let documents = cfg.documents(hospital::CONFIG_PRODUCT);
    let h = updates::stage(&w.hospital.db(), &company, &documents, None)
        .await
        .unwrap();
    assert_eq!(h.status, "verified", "{h:?}");
    let staged = dir.path().join("config").join("hospital-config-1");
    assert_eq!(std::fs::read(&staged).unwrap(), doc);
    // The build's state is its own: nothing approved for hospital-server.
    assert_eq!(
        w.state().await.map(|s| s.status).as_deref(),
        Some("current")
    );
    // A wrong pin refuses the document like a build.
    let (company, cfg) = w.client_and_config(&b64_key(), dir.path());
    let h = updates::check(
        &w.hospital.db(),
        &company,
        &cfg.documents(hospital::CONFIG_PRODUCT),
        None,
    )
    .await
    .unwrap();
    assert_eq!(h.status, "refused", "{h:?}");
}

/// Some other Ed25519 public key, base64.
fn b64_key() -> String {
    let (_, public) = dev::releases::manifest::generate().unwrap();
    dev::releases::manifest::b64(&public)
}
