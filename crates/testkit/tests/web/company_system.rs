//! Company's `/system` and `/alerts` pages: the admin sees the plane's
//! state, acknowledges an alert and adds, turns off and deletes a rule
//! through the same rules as the API; other roles do not see the pages.

use reqwest::StatusCode;
use testkit::{spawn_with, Service};

use crate::client::Browser;

#[tokio::test]
async fn the_admin_works_the_system_and_alerts_pages_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir
        .path()
        .join("issued.json")
        .to_string_lossy()
        .into_owned();
    let company = spawn_with(
        Service::Company,
        &[("COMPANY__SYSTEM__ISSUED_JSON", missing.as_str())],
    )
    .await;
    company
        .sql(
            "INSERT INTO alerts (id, rule_id, rule_name, group_key, first_event_seq, last_event_seq, \
             event_count, severity, window_start, window_end, raised_at) VALUES ('a-1', \
             '00000000-0000-4000-8000-000000000002', 'Any critical event', 'hospital/t', 1, 1, 1, \
             'critical', '2026-11-22 10:00:00', '2026-11-22 10:01:00', '2026-11-22 10:00:01')",
        )
        .await
        .unwrap();

    let mut admin = Browser::new(&company);
    admin.login_ok("admin", "admin123", "/home").await;
    let home = admin.get("/home").await;
    assert!(home.body.contains("href=\"/system\""), "{}", home.body);
    assert!(home.body.contains("href=\"/alerts\""), "{}", home.body);
    let system = admin.get("/system").await;
    assert_eq!(system.status, StatusCode::OK, "{}", system.body);
    for want in [
        "Servers delivering to company",
        "Open alerts: 1",
        "Anchors that mismatched",
        "Unknown:",
    ] {
        assert!(
            system.body.contains(want),
            "{want} missing: {}",
            system.body
        );
    }

    let alerts = admin.get("/alerts?status=open").await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    assert!(
        alerts.body.contains("Acknowledge Any critical event"),
        "{}",
        alerts.body
    );
    assert!(
        alerts
            .body
            .contains("5 failed logins for one account in 10 minutes"),
        "{}",
        alerts.body
    );
    let csrf = alerts.csrf();
    let forged = admin
        .post("/alerts/a-1/acknowledge", &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let done = admin
        .post("/alerts/a-1/acknowledge", &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let again = admin
        .post("/alerts/a-1/acknowledge", &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("acknowledged already"),
        "{}",
        again.body
    );
    let open = admin.get("/alerts?status=open").await;
    assert!(open.body.contains("No alert."), "{}", open.body);
    let bad_filter = admin.get("/alerts?status=closed").await;
    assert_eq!(
        bad_filter.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_filter.body
    );

    let form = |threshold: &'static str| {
        vec![
            ("name", "Refusals"),
            ("kind_pattern", "authz.*"),
            ("min_severity", "warning"),
            ("threshold", threshold),
            ("window_minutes", "15"),
            ("per", "source"),
            ("csrf", csrf.as_str()),
        ]
    };
    let refused = admin.post("/alert-rules", &form("many")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.body.contains("threshold"), "{}", refused.body);
    let good = form("3");
    let added = admin.post("/alert-rules", &good).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = admin.get("/alerts").await;
    assert!(page.body.contains("Turn off Refusals"), "{}", page.body);
    let token = company.admin_token().await;
    let (status, body) = company
        .api(testkit::Method::GET, "/alert-rules", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Refusals")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let off = admin
        .post(&format!("/alert-rules/{id}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert!(admin.get("/alerts").await.body.contains("Turn on Refusals"));
    let gone = admin
        .post(&format!("/alert-rules/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    assert!(!admin.get("/alerts").await.body.contains("Refusals"));
    let unknown = admin
        .post(&format!("/alert-rules/{id}/frobnicate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);

    for (user, password, _) in company.demo_non_admins() {
        let mut b = Browser::new(&company);
        b.login_ok(user, password, "/home").await;
        let home = b.get("/home").await;
        assert!(
            !home.body.contains("href=\"/system\""),
            "{user}: {}",
            home.body
        );
        for path in ["/system", "/alerts"] {
            let page = b.get(path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{user} {path}");
        }
        let csrf = home.csrf();
        let page = b.post("/alerts/a-1/acknowledge", &[("csrf", &csrf)]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{user}");
    }
    company.stop().await;
}
