//! Company's releases page: a production user promotes a release pulled
//! from dev, a team lead approves it — each sees only their own button —
//! a refused action shows the page again with the reason, and roles
//! outside the two-person rule do not see the page.

use common::mtls::ServiceIdentity;
use reqwest::StatusCode;
use testkit::plane::{Pki, PlanePorts};
use testkit::releases::{publish, register_key};
use testkit::{spawn_with, Service, TestApp};

use crate::client::Browser;

async fn start(service: Service, pki: &Pki, ports: &PlanePorts) -> TestApp {
    let env = pki.plane_env(service, service.name(), ports);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_with(service, &env).await
}

#[tokio::test]
async fn production_promotes_and_a_team_lead_approves_on_the_releases_page() {
    let pki = Pki::new();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("dev", ServiceIdentity::Dev);
    let ports = PlanePorts::free();
    let company = start(Service::Company, &pki, &ports).await;
    let dev = start(Service::Dev, &pki, &ports).await;
    let astro = dev.login("astro", "dev123456").await;
    let key = register_key(&dev, &astro, "build-box").await;
    let id = publish(&dev, &astro, &key, "1.4.0", b"hospital-server 1.4.0 build").await;

    let mut prod = Browser::new(&company);
    prod.login_ok("production", "production123", "/home").await;
    let home = prod.get("/home").await;
    assert!(home.body.contains("href=\"/releases\""), "{}", home.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let page = loop {
        let page = prod.get("/releases").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        if page.body.contains("1.4.0") {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never listed: {}",
            page.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    for want in [
        "astro",
        "build-box",
        "candidate",
        "Promote hospital-server 1.4.0",
    ] {
        assert!(page.body.contains(want), "{want} missing: {}", page.body);
    }
    assert!(
        !page.body.contains("Approve hospital-server"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let forged = prod
        .post(&format!("/releases/{id}/promote"), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let done = prod
        .post(&format!("/releases/{id}/promote"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = prod.get("/releases?status=promoted").await;
    assert!(
        page.body.contains("1.4.0") && page.body.contains("production"),
        "{}",
        page.body
    );
    let unknown = prod
        .post(&format!("/releases/{id}/frobnicate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    // Again: refused, shown with the reason.
    let again = prod
        .post(&format!("/releases/{id}/promote"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again
            .body
            .contains("only a candidate release can be promoted"),
        "{}",
        again.body
    );

    let mut lead = Browser::new(&company);
    lead.login_ok("teamlead", "teamlead123", "/home").await;
    let page = lead.get("/releases").await;
    assert!(
        page.body.contains("Approve hospital-server 1.4.0"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Promote hospital-server"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let done = lead
        .post(&format!("/releases/{id}/approve"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = lead.get("/releases?status=approved").await;
    assert!(
        page.body.contains("teamlead") && page.body.contains("approved"),
        "{}",
        page.body
    );
    assert!(page.body.contains("approval key"), "{}", page.body);

    // The analyst has no releases page; no session, no page.
    let mut analyst = Browser::new(&company);
    analyst.login_ok("analyst", "analyst123", "/home").await;
    assert!(!analyst
        .get("/home")
        .await
        .body
        .contains("href=\"/releases\""));
    assert_eq!(analyst.get("/releases").await.status, StatusCode::FORBIDDEN);
    let mut anon = Browser::new(&company);
    let page = anon.get("/releases").await;
    assert_ne!(page.status, StatusCode::OK);
    assert!(!page.body.contains("1.4.0"));
    let bad = lead.get("/releases?status=live").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
