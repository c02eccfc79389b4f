//! Company's system administration (issue 14, item 5): the system view
//! after real deliveries (last events and anchors per server, backlogs,
//! forged anchors, expiring certificates), alert rules raising one alert
//! per window — also under parallel deliveries — the acknowledge flow,
//! bad input, and every new endpoint refused to every other role.

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_error, spawn, spawn_with, Method, Service, StatusCode, TestApp};

use crate::plane::{internal_post, start};

const TENANT_B: &str = "00000000-0000-4000-8000-0000000000b2";
const FAILED_LOGINS: &str = "5 failed logins for one account in 10 minutes";

fn hospital_identity(tenant: &str) -> ServiceIdentity {
    ServiceIdentity::Hospital {
        tenant_id: tenant.into(),
    }
}

fn event(id: &str, kind: &str, severity: &str, actor: &str, at: &str) -> Value {
    json!({ "id": id, "kind": kind, "severity": severity, "actor": actor,
            "tenant_id": DEMO_TENANT_ID, "details": {}, "occurred_at": at })
}

async fn deliver(client: &reqwest::Client, port: u16, events: Vec<Value>) {
    let (status, body) = internal_post(
        client,
        port,
        contracts::paths::SECURITY_EVENTS,
        json!({ "events": events }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.api(Method::GET, path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Poll `/system` until `ready` holds.
async fn system_until(
    app: &TestApp,
    token: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let body = get(app, token, "/system").await;
        if ready(&body["data"]) {
            return body["data"].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn source<'a>(view: &'a Value, service: &str, tenant: &str) -> Option<&'a Value> {
    view["sources"]
        .as_array()?
        .iter()
        .find(|s| s["source_service"] == service && s["source_tenant"] == tenant)
}

async fn fail_login(app: &TestApp, username: &str) {
    let (status, _) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": username, "password": "not-the-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_system_view_shows_deliveries_backlogs_forged_anchors_and_expiring_certificates() {
    let pki = Pki::new();
    let ports = PlanePorts::free();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("owner", ServiceIdentity::Owner);
    pki.issue("hospital", hospital_identity(DEMO_TENANT_ID));
    pki.issue("hospital-b", hospital_identity(TENANT_B));
    // The CA's register as `bulkhead certs` writes it: one certificate
    // expiring in 10 days, one in a year.
    let certs = tempfile::tempdir().unwrap();
    pki::dir::init(certs.path(), 3650).unwrap();
    let localhost = ["localhost".to_string()];
    let expiring = pki::dir::issue(
        certs.path(),
        &hospital_identity(DEMO_TENANT_ID),
        "hospital",
        &localhost,
        &[],
        10,
    )
    .unwrap();
    pki::dir::issue(
        certs.path(),
        &ServiceIdentity::Company,
        "company",
        &localhost,
        &[],
        365,
    )
    .unwrap();
    let issued = certs.path().join("issued.json");
    let issued = issued.to_string_lossy().into_owned();
    let company = start(
        Service::Company,
        &pki,
        &ports,
        &[("COMPANY__SYSTEM__ISSUED_JSON", issued.as_str())],
    )
    .await;
    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let token = company.admin_token().await;

    // Real deliveries: a failed login on each makes an event to ship; both
    // anchor their audit chains.
    fail_login(&hospital, "admin").await;
    fail_login(&owner, "admin").await;
    let view = system_until(&company, &token, "hospital and owner delivered", |v| {
        [("hospital", DEMO_TENANT_ID), ("owner", "")]
            .iter()
            .all(|(s, t)| {
                source(v, s, t).is_some_and(|s| {
                    !s["last_event_at"].is_null()
                        && !s["last_anchor_at"].is_null()
                        && s["backlog"] == 0
                        && !s["last_delivery_at"].is_null()
                })
            })
    })
    .await;
    assert!(view["own_backlog"].is_i64(), "{view}");
    assert_eq!(view["anchor_mismatch_total"], 0, "{view}");

    // A sender reports its backlog with its batch; company keeps the last value.
    let b = pki.client(Some("hospital-b"));
    let (status, body) = internal_post(
        &b,
        ports.company,
        contracts::paths::SECURITY_EVENTS,
        json!({ "events": [], "backlog": 42 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = internal_post(
        &b,
        ports.company,
        contracts::paths::SECURITY_EVENTS,
        json!({ "events": [], "backlog": -1 }),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    // A forged anchor: the same position with another hash.
    for (hash, want) in [("a", StatusCode::OK), ("b", StatusCode::CONFLICT)] {
        let (status, body) = internal_post(
            &b,
            ports.company,
            contracts::paths::AUDIT_ANCHORS,
            json!({ "seq": 5, "hash": hash.repeat(64) }),
        )
        .await;
        assert_eq!(status, want, "{body}");
    }
    let view = system_until(&company, &token, "backlog and mismatch listed", |v| {
        source(v, "hospital", TENANT_B).is_some_and(|s| s["backlog"] == 42)
            && v["anchor_mismatch_total"] == 1
    })
    .await;
    let mismatch = &view["anchor_mismatches"][0];
    assert_eq!(mismatch["kind"], "audit.anchor_mismatch", "{view}");
    assert_eq!(mismatch["details"]["seq"], 5, "{view}");
    assert_eq!(mismatch["details"]["reported"], "b".repeat(64), "{view}");
    let b_state = source(&view, "hospital", TENANT_B).unwrap();
    assert_eq!(b_state["last_anchor_seq"], 5, "{view}");
    assert!(b_state["last_event_at"].is_null(), "{view}");

    // Certificates: only the one expiring in 10 days is listed.
    let certs_view = &view["certificates"];
    assert_eq!(certs_view["status"], "known", "{view}");
    assert_eq!(certs_view["checked"], 2, "{view}");
    let list = certs_view["expiring"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{view}");
    assert_eq!(list[0]["file"], "hospital");
    assert_eq!(list[0]["serial"], expiring.serial_hex.as_str());
    let days = list[0]["days_left"].as_i64().unwrap();
    assert!((9..=10).contains(&days), "{view}");
    assert!(list[0]["identity"]
        .as_str()
        .unwrap()
        .contains(DEMO_TENANT_ID));

    // The mismatch is critical: the default rule raised an alert for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = get(&company, &token, "/alerts?status=open").await;
        let found = alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule_name"] == "Any critical event" && a["group_key"] == "company/");
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alert for the mismatch: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    owner.stop().await;
    hospital.stop().await;
    company.stop().await;
}

#[tokio::test]
async fn certificates_are_unknown_when_issued_json_is_missing_or_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json").to_string_lossy().into_owned();
    let company = spawn_with(
        Service::Company,
        &[("COMPANY__SYSTEM__ISSUED_JSON", missing.as_str())],
    )
    .await;
    let token = company.admin_token().await;
    let body = get(&company, &token, "/system").await;
    assert_eq!(body["data"]["certificates"]["status"], "unknown", "{body}");
    assert_eq!(body["data"]["sources"], json!([]), "{body}");
    assert_eq!(body["data"]["open_alerts"], 0, "{body}");
    company.stop().await;

    let garbage = dir.path().join("issued.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let company = spawn_with(
        Service::Company,
        &[("COMPANY__SYSTEM__ISSUED_JSON", garbage.as_str())],
    )
    .await;
    let token = company.admin_token().await;
    let body = get(&company, &token, "/system").await;
    assert_eq!(body["data"]["certificates"]["status"], "unknown", "{body}");
    assert!(body["data"]["certificates"]["reason"].is_string(), "{body}");
    company.stop().await;
}

async fn alerts_of(app: &TestApp, token: &str, query: &str, rule: &str) -> Vec<Value> {
    let body = get(app, token, &format!("/alerts?page_size=100{query}")).await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule_name"] == rule)
        .cloned()
        .collect()
}

#[tokio::test]
async fn failed_logins_raise_one_alert_per_window_which_the_admin_acknowledges_once() {
    let pki = Pki::new();
    let ports = PlanePorts::free();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("hospital", hospital_identity(DEMO_TENANT_ID));
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let client = pki.client(Some("hospital"));
    let token = company.admin_token().await;
    let failed = |i: usize, actor: &str, at: &str| {
        event(
            &format!("{actor}-{i}"),
            "auth.login_failed",
            "warning",
            actor,
            at,
        )
    };

    // Four failures in ten minutes: nothing yet; another account's do not count.
    for i in 0..4 {
        deliver(
            &client,
            ports.company,
            vec![failed(i, "mallory", &format!("2026-11-22T10:0{i}:00"))],
        )
        .await;
        deliver(
            &client,
            ports.company,
            vec![failed(i, "trent", &format!("2026-11-22T10:0{i}:30"))],
        )
        .await;
    }
    assert!(alerts_of(&company, &token, "", FAILED_LOGINS)
        .await
        .is_empty());
    // The fifth raises it.
    deliver(
        &client,
        ports.company,
        vec![failed(4, "mallory", "2026-11-22T10:04:00")],
    )
    .await;
    let alerts = alerts_of(&company, &token, "", FAILED_LOGINS).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["event_count"], 5);
    assert_eq!(
        alert["group_key"],
        format!("hospital/{DEMO_TENANT_ID} mallory")
    );
    assert_eq!(alert["window_start"], "2026-11-22T10:00:00");
    assert!(alert["acknowledged_at"].is_null());
    // More in the same window add to it; a redelivery counts nothing.
    deliver(
        &client,
        ports.company,
        vec![failed(5, "mallory", "2026-11-22T10:06:00")],
    )
    .await;
    deliver(
        &client,
        ports.company,
        vec![failed(5, "mallory", "2026-11-22T10:06:00")],
    )
    .await;
    let alerts = alerts_of(&company, &token, "", FAILED_LOGINS).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["event_count"], 6);
    // A later burst, in one batch, is a second window: one more alert.
    let burst = (10..16)
        .map(|i| failed(i, "mallory", &format!("2026-11-22T10:{i}:30")))
        .collect();
    deliver(&client, ports.company, burst).await;
    let alerts = alerts_of(&company, &token, "", FAILED_LOGINS).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(
        alerts[0]["window_start"], "2026-11-22T10:10:30",
        "{alerts:?}"
    );
    assert_eq!(alerts[0]["event_count"], 6, "{alerts:?}");

    // Out of order (a delivery delayed behind later ones): still one alert
    // holding every event.
    for i in (0..7).rev() {
        deliver(
            &client,
            ports.company,
            vec![failed(i, "oscar", &format!("2026-11-22T12:00:0{i}"))],
        )
        .await;
    }
    let oscar: Vec<Value> = alerts_of(&company, &token, "", FAILED_LOGINS)
        .await
        .into_iter()
        .filter(|a| a["group_key"].as_str().unwrap().ends_with(" oscar"))
        .collect();
    assert_eq!(oscar.len(), 1, "{oscar:?}");
    assert_eq!(oscar[0]["event_count"], 7, "{oscar:?}");

    // Acknowledge: once; a second time is a conflict; unknown is 404.
    let id = alert["id"].as_str().unwrap();
    let (status, body) = company
        .api(
            Method::POST,
            &format!("/alerts/{id}/acknowledge"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["acknowledged_at"].is_string(), "{body}");
    let me = get(&company, &token, "/auth/me").await;
    assert_eq!(body["data"]["acknowledged_by"], me["data"]["id"], "{body}");
    let (status, body) = company
        .api(
            Method::POST,
            &format!("/alerts/{id}/acknowledge"),
            Some(&token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let (status, body) = company
        .api(
            Method::POST,
            "/alerts/no-such-alert/acknowledge",
            Some(&token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        alerts_of(&company, &token, "&status=open", FAILED_LOGINS)
            .await
            .len(),
        2,
        "the later window and oscar's stay open"
    );
    let acked = alerts_of(&company, &token, "&status=acknowledged", FAILED_LOGINS).await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["id"], id);
    let audit = company.audit_rows().await;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.action == "alert.acknowledge")
            .count(),
        1
    );
    // Pagination and the filter's bad values.
    let page = get(&company, &token, "/alerts?page_size=1&page=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    for bad in [
        "/alerts?status=closed",
        "/alerts?status=",
        "/alerts?page=0",
        "/alerts?page_size=1000",
        "/alerts?colour=red",
    ] {
        let (status, body) = company.api(Method::GET, bad, Some(&token), None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    company.stop().await;
}

#[tokio::test]
async fn parallel_deliveries_raise_one_alert_not_two() {
    let pki = Pki::new();
    let ports = PlanePorts::free();
    pki.issue("company", ServiceIdentity::Company);
    pki.issue("hospital", hospital_identity(DEMO_TENANT_ID));
    let company = start(Service::Company, &pki, &ports, &[]).await;
    let token = company.admin_token().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let client = pki.client(Some("hospital"));
        let port = ports.company;
        tasks.spawn(async move {
            let e = event(
                &format!("eve-{i}"),
                "auth.login_failed",
                "warning",
                "eve",
                &format!("2026-11-22T11:00:{i:02}"),
            );
            deliver(&client, port, vec![e]).await;
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let alerts = alerts_of(&company, &token, "", FAILED_LOGINS).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["event_count"], 12, "{alerts:?}");
    company.stop().await;
}

fn rule_body(name: &str) -> Value {
    json!({ "name": name, "kind_pattern": "authz.*", "min_severity": "warning",
            "threshold": 3, "window_minutes": 15, "per": "source" })
}

#[tokio::test]
async fn alert_rules_are_seeded_changed_and_deleted_with_audit_and_bad_input_is_refused() {
    let company = spawn(Service::Company).await;
    let token = company.admin_token().await;
    let rules = get(&company, &token, "/alert-rules").await;
    assert_eq!(rules["meta"]["total"], 2, "{rules}");
    let names: Vec<&str> = rules["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&FAILED_LOGINS) && names.contains(&"Any critical event"),
        "{rules}"
    );

    let (status, body) = company
        .api(
            Method::POST,
            "/alert-rules",
            Some(&token),
            Some(rule_body("Refusals")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["enabled"], true);
    assert_eq!(body["data"]["per"], "source");
    let (status, body) = company
        .api(
            Method::POST,
            "/alert-rules",
            Some(&token),
            Some(rule_body("Refusals")),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let (status, body) = company
        .api(
            Method::PATCH,
            &format!("/alert-rules/{id}"),
            Some(&token),
            Some(json!({ "threshold": 10, "enabled": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["threshold"], 10);
    assert_eq!(body["data"]["enabled"], false);
    assert_eq!(body["data"]["name"], "Refusals");
    let (status, body) = company
        .api(
            Method::PATCH,
            &format!("/alert-rules/{id}"),
            Some(&token),
            Some(json!({ "name": FAILED_LOGINS })),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    let bad_creates = [
        json!({ "name": "" }),
        {
            let mut b = rule_body("x");
            b["threshold"] = json!(0);
            b
        },
        {
            let mut b = rule_body("x");
            b["window_minutes"] = json!(100_000);
            b
        },
        {
            let mut b = rule_body("x");
            b["min_severity"] = json!("dire");
            b
        },
        {
            let mut b = rule_body("x");
            b["per"] = json!("patient");
            b
        },
        {
            let mut b = rule_body("x");
            b["kind_pattern"] = json!("Auth.*");
            b
        },
        {
            let mut b = rule_body("x");
            b["kind_pattern"] = json!("auth.%");
            b
        },
        {
            let mut b = rule_body(&"n".repeat(101));
            b["per"] = json!("actor");
            b
        },
        {
            let mut b = rule_body("x");
            b["colour"] = json!("red");
            b
        },
        {
            let mut b = rule_body("x");
            b["threshold"] = json!("five");
            b
        },
    ];
    for bad in bad_creates {
        let (status, body) = company
            .api(
                Method::POST,
                "/alert-rules",
                Some(&token),
                Some(bad.clone()),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    for bad in [
        json!({}),
        json!({ "threshold": -1 }),
        json!({ "per": "" }),
        json!({ "name": "  " }),
        json!({ "enabled": "yes" }),
    ] {
        let (status, body) = company
            .api(
                Method::PATCH,
                &format!("/alert-rules/{id}"),
                Some(&token),
                Some(bad.clone()),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, body) = company
        .api(
            Method::PATCH,
            "/alert-rules/nope",
            Some(&token),
            Some(json!({ "threshold": 2 })),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    for bad in [
        "/alert-rules?page=0",
        "/alert-rules?page_size=101",
        "/alert-rules?x=1",
    ] {
        let (status, body) = company.api(Method::GET, bad, Some(&token), None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    let (status, body) = company
        .api(
            Method::DELETE,
            &format!("/alert-rules/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["deleted"], true);
    let (status, body) = company
        .api(
            Method::DELETE,
            &format!("/alert-rules/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        get(&company, &token, "/alert-rules").await["meta"]["total"],
        2
    );

    let audit = company.audit_rows().await;
    let of = |action: &str| {
        audit
            .iter()
            .filter(|r| r.action == action)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of("alert_rule.create").len(), 1);
    assert_eq!(of("alert_rule.delete").len(), 1);
    let updates = of("alert_rule.update");
    assert_eq!(updates.len(), 1, "only the successful change is audited");
    let details: Value = serde_json::from_str(&updates[0].details).unwrap();
    assert_eq!(details["before"]["threshold"], 3, "{details}");
    assert_eq!(details["after"]["threshold"], 10, "{details}");
    company.stop().await;
}

#[tokio::test]
async fn every_new_endpoint_is_refused_to_every_other_role_and_changes_nothing() {
    let company = spawn(Service::Company).await;
    let admin = company.admin_token().await;
    company
        .sql(
            "INSERT INTO alerts (id, rule_id, rule_name, group_key, first_event_seq, last_event_seq, \
             event_count, severity, window_start, window_end, raised_at) VALUES ('a-1', \
             '00000000-0000-4000-8000-000000000002', 'Any critical event', 'hospital/t', 1, 1, 1, \
             'critical', '2026-11-22 10:00:00', '2026-11-22 10:01:00', '2026-11-22 10:00:01')",
        )
        .await
        .unwrap();
    let rule = "00000000-0000-4000-8000-000000000001";
    let before_rules = get(&company, &admin, "/alert-rules").await["data"].clone();
    let mut tokens: Vec<(&str, Option<String>)> = Vec::new();
    for (user, password, role) in company.demo_non_admins() {
        tokens.push((role, Some(company.login(user, password).await)));
    }
    tokens.push(("anonymous", None));
    let patch = json!({ "threshold": 1 });
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/system".into(), None),
        (Method::GET, "/alert-rules".into(), None),
        (
            Method::POST,
            "/alert-rules".into(),
            Some(rule_body("Sneaky")),
        ),
        (Method::PATCH, format!("/alert-rules/{rule}"), Some(patch)),
        (Method::DELETE, format!("/alert-rules/{rule}"), None),
        (Method::GET, "/alerts".into(), None),
        (Method::POST, "/alerts/a-1/acknowledge".into(), None),
    ];
    for (role, token) in &tokens {
        for (method, path, body) in &cases {
            let (status, reply) = company
                .api(method.clone(), path, token.as_deref(), body.clone())
                .await;
            match token {
                Some(_) => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{role} {method} {path}: {reply}"
                    );
                    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
                }
                None => assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            }
        }
    }
    assert_eq!(tokens.len(), 4, "team_lead, analyst, production, anonymous");
    // Nothing changed.
    assert_eq!(
        get(&company, &admin, "/alert-rules").await["data"],
        before_rules
    );
    let open = get(&company, &admin, "/alerts?status=open").await;
    assert_eq!(open["meta"]["total"], 1, "{open}");
    assert!(!company
        .audit_rows()
        .await
        .iter()
        .any(|r| r.action.starts_with("alert")));
    // The admin may do each.
    let (status, body) = company
        .api(Method::POST, "/alerts/a-1/acknowledge", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    company.stop().await;
}
