//! A hosted hospital (several tenants in one database) speaks to owner and
//! company for each tenant with that tenant's own certificate
//! (`plane.tenant_certs_dir`, issue 12 item 2): owner provisions and
//! monitors each tenant separately, each staff directory holds only its
//! tenant's accounts, and a tenant's security events reach company under
//! its own certificate — owner and company keep checking the tenant
//! against the certificate, as for an on-site hospital.

use std::future::Future;
use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_ok, Method, Service, StatusCode, TestApp, STRONG_PASSWORD};

use crate::owner_tenants::{register, registration};
use crate::plane::{issue_all, start};

async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn owner_get(owner: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = owner.api(Method::GET, path, Some(token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"].clone()
}

fn usernames(directory: &Value) -> Vec<String> {
    directory
        .as_array()
        .unwrap_or_else(|| panic!("no list in {directory}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_hosted_hospital_speaks_for_each_tenant_with_its_own_certificate() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let token = owner.admin_token().await;
    let tenant_b = register(
        &owner,
        &token,
        registration("Ramzan Hospital", "ramzan", "hospital_ramzan"),
    )
    .await;
    // Tenant B's certificate, in the hosted server's folder of tenants.
    pki.issue(
        "hospital-ramzan",
        ServiceIdentity::Hospital {
            tenant_id: tenant_b.clone(),
        },
    );
    let tenants = pki.dir().join("tenants");
    std::fs::create_dir_all(&tenants).unwrap();
    for ext in ["crt", "key"] {
        std::fs::copy(
            pki.dir().join(format!("hospital-ramzan.{ext}")),
            tenants.join(format!("hospital-ramzan.{ext}")),
        )
        .unwrap();
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let dir = tenants.to_string_lossy().to_string();
    let hospital = start(
        Service::Hospital,
        &pki,
        &ports,
        &[
            ("HOSPITAL__TENANCY__MODE", "hosted"),
            ("HOSPITAL__CRYPTO__MASTER_KEY", key.as_str()),
            ("HOSPITAL__PLANE__TENANT_CERTS_DIR", dir.as_str()),
        ],
    )
    .await;

    // Owner sees both tenants' heartbeats, each healthy.
    for tenant in [DEMO_TENANT_ID, tenant_b.as_str()] {
        let path = format!("/tenants/{tenant}/database-health");
        until(&format!("a heartbeat of {tenant}"), || async {
            let h = owner_get(&owner, &token, &path).await;
            (h["status"] == "healthy").then_some(())
        })
        .await;
    }
    // B's first admin was provisioned from owner into tenant B, and logs in
    // there with the e-mail and password chosen at registration.
    let email = "admin@ramzan.example.org";
    let b_admin = until("tenant B's provisioned admin", || async {
        let body = json!({ "username": email, "password": STRONG_PASSWORD, "tenant_id": tenant_b });
        let (status, reply) = hospital
            .api(Method::POST, "/auth/login", None, Some(body))
            .await;
        (status == StatusCode::OK)
            .then(|| reply["data"]["access_token"].as_str().unwrap().to_string())
    })
    .await;
    let (status, me) = hospital
        .api(Method::GET, "/auth/me", Some(&b_admin), None)
        .await;
    assert_ok(status, &me, StatusCode::OK);
    assert_eq!(me["data"]["tenant_id"], tenant_b.as_str());

    // Each staff directory holds its own tenant's accounts only.
    let b_users = until("tenant B's staff directory", || async {
        let d = owner_get(&owner, &token, &format!("/tenants/{tenant_b}/users")).await;
        let names = usernames(&d);
        (!names.is_empty()).then_some(names)
    })
    .await;
    assert!(!b_users.iter().any(|u| u == "doctor"), "{b_users:?}");
    let a_users =
        usernames(&owner_get(&owner, &token, &format!("/tenants/{DEMO_TENANT_ID}/users")).await);
    assert!(a_users.iter().any(|u| u == "doctor"), "{a_users:?}");
    assert!(!a_users.iter().any(|u| u.contains("ramzan")), "{a_users:?}");

    // A failed login in tenant B reaches company as B's, under B's certificate.
    let body = json!({ "username": email, "password": "not the password", "tenant_id": tenant_b });
    let (status, _) = hospital
        .api(Method::POST, "/auth/login", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let analyst_admin = company.admin_token().await;
    until("tenant B's security event on company", || async {
        let (status, list) = company
            .api(
                Method::GET,
                &format!("/security-events?tenant_id={tenant_b}&kind=auth.login_failed"),
                Some(&analyst_admin),
                None,
            )
            .await;
        assert_ok(status, &list, StatusCode::OK);
        (list["meta"]["total"].as_i64().unwrap_or(0) >= 1).then_some(())
    })
    .await;
    // B's admin may send B's de-identified report: it reaches company as B's.
    let (status, reply) = hospital
        .api(Method::POST, "/reports", Some(&b_admin), Some(json!({})))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let report = reply["data"]["id"].as_str().unwrap().to_string();
    let analyst = company.login("analyst", "analyst123").await;
    until("tenant B's report on company", || async {
        let (status, list) = company
            .api(
                Method::GET,
                &format!("/reports?tenant={tenant_b}"),
                Some(&analyst),
                None,
            )
            .await;
        assert_ok(status, &list, StatusCode::OK);
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["report_id"] == report.as_str())
            .then_some(())
    })
    .await;
    // Nothing of B was refused as another tenant's.
    let (_, refused) = company
        .api(
            Method::GET,
            "/security-events?kind=plane.tenant_mismatch",
            Some(&analyst_admin),
            None,
        )
        .await;
    assert_eq!(refused["meta"]["total"], 0, "{refused}");
}

/// The folder of further tenants holds hospital certificates for a tenant
/// only, each with its key: anything else stops the server's start with
/// the file's name (a company certificate, a certificate without its key).
#[test]
fn the_tenant_folder_takes_hospital_certificates_with_their_keys_only() {
    let pki = Pki::new();
    issue_all(&pki);
    pki.issue(
        "tenant-c",
        ServiceIdentity::Hospital {
            tenant_id: "cccccccc-0000-4000-8000-00000000000c".into(),
        },
    );
    let folder = pki.dir().join("folder");
    let plane = |files: &[(&str, &str)]| {
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        for (from, to) in files {
            std::fs::copy(pki.dir().join(from), folder.join(to)).unwrap();
        }
        let section: common::config::PlaneSection = serde_json::from_value(json!({
            "port": 1, "cert": "unused.crt", "key": "unused.key",
            "tenant_certs_dir": folder,
        }))
        .unwrap();
        common::plane::tenant_certificates(&section)
    };
    let found = plane(&[("tenant-c.crt", "c.crt"), ("tenant-c.key", "c.key")]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].0.tenant(),
        Some("cccccccc-0000-4000-8000-00000000000c")
    );
    let err = plane(&[("company.crt", "x.crt"), ("company.key", "x.key")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.crt") && err.contains("not a hospital certificate"),
        "{err}"
    );
    let err = plane(&[("tenant-c.crt", "lonely.crt")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lonely.crt") && err.contains("lonely.key"),
        "{err}"
    );
    // No folder configured: no further tenants.
    let none: common::config::PlaneSection = serde_json::from_value(json!({
        "port": 1, "cert": "a", "key": "b"
    }))
    .unwrap();
    assert!(common::plane::tenant_certificates(&none)
        .unwrap()
        .is_empty());
}
