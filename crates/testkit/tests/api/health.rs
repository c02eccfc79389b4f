//! `/healthz`, `/readyz` and `/metrics` on every server.

use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Reply, Service, StatusCode, TestApp,
};

async fn get(app: &TestApp, path: &str) -> Reply {
    Reply::read(
        app.client
            .get(app.url(path))
            .send()
            .await
            .expect("request sent"),
    )
    .await
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_on_a_fresh_server() {
    for service in Service::ALL {
        let app = spawn(service).await;

        let health = get(&app, "/healthz").await;
        assert_ok(health.status, &health.body, StatusCode::OK);
        assert_eq!(health.body["data"]["status"], "ok");
        assert_eq!(health.body["data"]["service"], service.name());

        let ready = get(&app, "/readyz").await;
        assert_ok(ready.status, &ready.body, StatusCode::OK);
        assert_eq!(ready.body["data"]["status"], "ready");
    }
}

#[tokio::test]
async fn readyz_turns_503_when_the_database_is_gone() {
    for service in Service::ALL {
        let key = format!("{}__DATABASE__POOL_TIMEOUT_SECS", service.env_prefix());
        let app = spawn_with(service, &[(key.as_str(), "1")]).await;
        assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);

        app.destroy_database();

        let ready = get(&app, "/readyz").await;
        assert_error(
            ready.status,
            &ready.body,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        );
        // The process itself is still up.
        assert_eq!(
            get(&app, "/healthz").await.status,
            StatusCode::OK,
            "{service}"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_in_prometheus_text() {
    for service in Service::ALL {
        let app = spawn(service).await;
        for _ in 0..3 {
            get(&app, "/healthz").await;
        }
        app.admin_token().await;
        get(&app, "/no/such/route-xyz").await;

        let metrics = get(&app, "/metrics").await;

        assert_eq!(metrics.status, StatusCode::OK);
        assert!(metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")));
        let text = metrics.body.as_str().expect("metrics are text, not JSON");
        assert!(
            text.contains("# TYPE bulkhead_http_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE bulkhead_http_request_duration_seconds histogram"),
            "{text}"
        );
        let counter = |route: &str, status: u16| {
            text.lines().find(|l| {
                l.starts_with("bulkhead_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("status=\"{status}\""))
                    && l.contains(&format!("service=\"{}\"", service.name()))
            })
        };
        let healthz = counter("/healthz", 200)
            .unwrap_or_else(|| panic!("{service}: no /healthz line:\n{text}"));
        assert!(healthz.ends_with(" 3"), "{healthz}");
        let login = format!("{}/auth/login", app.prefix());
        assert!(
            counter(&login, 200).is_some(),
            "{service}: no login line:\n{text}"
        );
        assert!(
            counter("unmatched", 404).is_some(),
            "{service}: unknown routes are not grouped:\n{text}"
        );
        assert!(
            !text.contains("route-xyz"),
            "raw paths must not become labels"
        );
    }
}

#[tokio::test]
async fn readyz_is_503_while_a_migration_is_pending() {
    for service in Service::ALL {
        let app = spawn(service).await;

        app.sql(
            "DELETE FROM __diesel_schema_migrations \
             WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
        )
        .await
        .expect("forgetting the newest migration");

        let ready = get(&app, "/readyz").await;
        assert_error(
            ready.status,
            &ready.body,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        );
    }
}

/// Security finding 8: any method string became a label, so invented
/// methods grew `/metrics` (and the process) without bound.
#[tokio::test]
async fn unbounded_metrics_invented_methods_fold_into_one_label() {
    let app = spawn(Service::Company).await;
    get(&app, "/healthz").await;
    let before = get(&app, "/metrics").await;
    let before_len = before.body.as_str().expect("metrics are text").len();

    for i in 0..300 {
        let method = Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        app.client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .expect("request sent");
    }

    let after = get(&app, "/metrics").await;
    let text = after.body.as_str().expect("metrics are text");
    assert!(!text.contains("INVENTED"), "invented methods became labels");
    let other = text
        .lines()
        .find(|l| {
            l.starts_with("bulkhead_http_requests_total{")
                && l.contains("method=\"other\"")
                && l.contains("route=\"/healthz\"")
        })
        .unwrap_or_else(|| panic!("no method=\"other\" line:\n{text}"));
    assert!(other.ends_with(" 300"), "{other}");
    // One new series (counter + histogram) instead of 300: a few KB at most.
    assert!(
        text.len() < before_len + 8 * 1024,
        "/metrics grew from {before_len} to {} bytes",
        text.len()
    );
}

/// Security finding 8 (exposure): `/metrics` has no token, so it answers
/// only to the networks in `metrics.allow` (loopback by default).
#[tokio::test]
async fn unbounded_metrics_are_refused_outside_the_allowed_networks() {
    let app = spawn_with(
        Service::Hospital,
        &[("HOSPITAL__METRICS__ALLOW", "10.0.0.0/8")],
    )
    .await;
    let refused = get(&app, "/metrics").await;
    assert_error(
        refused.status,
        &refused.body,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert!(
        !refused.body.to_string().contains("http_requests_total"),
        "{}",
        refused.body
    );

    let app = spawn_with(
        Service::Owner,
        &[("OWNER__METRICS__ALLOW", "10.0.0.0/8,127.0.0.1/32")],
    )
    .await;
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::OK);
}

/// Security finding 11: `/readyz` returned the database driver's error
/// text (host, port, user on PostgreSQL) to anyone.
#[tokio::test]
async fn readyz_leaks_no_database_error_text() {
    for service in [Service::Hospital, Service::Dev] {
        let key = format!("{}__DATABASE__POOL_TIMEOUT_SECS", service.env_prefix());
        let app = spawn_with(service, &[(key.as_str(), "1")]).await;
        app.destroy_database();

        let ready = get(&app, "/readyz").await;

        assert_error(
            ready.status,
            &ready.body,
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        );
        assert_eq!(ready.body["error"]["message"], "not ready", "{service}");
        assert!(
            ready.body["error"]["details"].is_null(),
            "{service}: {}",
            ready.body
        );
    }
}

/// `data_keys` moved from the kernel's migrations to the hospital's under
/// the same version: a company database made before the move (the version
/// applied, the table present) still starts and is ready, and a fresh one
/// has no such table.
#[tokio::test]
async fn databases_migrated_before_data_keys_moved_to_the_hospital_stay_ready() {
    let app = spawn(Service::Company).await;
    assert!(
        app.sql("SELECT 1 FROM data_keys").await.is_err(),
        "a fresh company database has no data_keys"
    );
    // What the old kernel migration left behind.
    app.sql(
        "CREATE TABLE data_keys (key_id TEXT PRIMARY KEY NOT NULL, tenant_id TEXT NOT NULL, \
         generation INTEGER NOT NULL, wrapped TEXT NOT NULL, active BOOLEAN NOT NULL, \
         created_at TIMESTAMP NOT NULL); \
         INSERT INTO __diesel_schema_migrations (version) VALUES ('20261122000003')",
    )
    .await
    .expect("recreating the old layout");
    let url = app.database_url().to_string();
    app.stop().await;

    let again = spawn_with(
        Service::Company,
        &[("COMPANY__DATABASE__URL", url.as_str())],
    )
    .await;
    let ready = get(&again, "/readyz").await;
    assert_ok(ready.status, &ready.body, StatusCode::OK);

    // The hospital keeps the version it always had.
    let hospital = spawn(Service::Hospital).await;
    hospital
        .sql("INSERT INTO data_keys (key_id, tenant_id, generation, wrapped, active, created_at) SELECT 'k', 't', 99, 'w', FALSE, created_at FROM users LIMIT 0")
        .await
        .expect("the hospital has data_keys");
    assert!(
        hospital
            .sql("INSERT INTO __diesel_schema_migrations (version) VALUES ('20261122000003')")
            .await
            .is_err(),
        "the hospital records data_keys under its old version"
    );
}
