//! Owner's tenant pages show each hospital's status and health; a
//! suspended tenant's hospital says so on its login form.

use reqwest::StatusCode;
use serde_json::json;
use testkit::{spawn, spawn_with, Method, Service, STRONG_PASSWORD};

use crate::client::Browser;

#[tokio::test]
async fn the_tenant_list_shows_status_and_health() {
    let app = spawn_with(
        Service::Owner,
        &[("OWNER__RBAC__ROLES__AUDITOR", "audit.read")],
    )
    .await;
    let admin = app.admin_token().await;
    let body = json!({
        "name": "Abdullah Hospital", "subdomain": "abdullah", "db_name": "hospital_abdullah",
        "region": "eu-west",
        "first_admin": { "email": "a@abdullah.example.org", "password": STRONG_PASSWORD,
                         "first_name": "Amina", "last_name": "Khan" }
    });
    let (status, reply) = app
        .api(Method::POST, "/tenants", Some(&admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["data"]["tenant"]["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/tenants/{id}"),
            Some(&admin),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    let list = b.get("/tenants").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("<th scope=\"col\">Health</th>"),
        "{}",
        list.body
    );
    let row = list
        .body
        .lines()
        .find(|l| l.contains("Abdullah Hospital"))
        .unwrap_or_else(|| panic!("no row: {}", list.body));
    assert!(
        row.contains("<td>suspended</td>")
            && row.contains("<td>unreachable</td>")
            && row.contains("never"),
        "{row}"
    );
    let detail = b.get(&format!("/tenants/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail.body.contains("eu-west") && detail.body.contains("hospital_abdullah"),
        "{}",
        detail.body
    );
    assert!(!detail.body.contains(STRONG_PASSWORD));

    // A role without tenants.read sees neither page.
    app.create_user(&admin, "auditor1", "auditor").await;
    let mut other = Browser::new(&app);
    other.login_ok("auditor1", STRONG_PASSWORD, "/home").await;
    assert_eq!(other.get("/tenants").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        other.get(&format!("/tenants/{id}")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_suspended_hospital_says_so_at_login() {
    let app = spawn(Service::Hospital).await;
    app.sql(&format!(
        "INSERT INTO tenant_standing (tenant_id, status, modules, features, updated_at) \
         VALUES ('{}', 'suspended', '[]', '[]', '2026-12-06 00:00:00')",
        common::config::DEMO_TENANT_ID
    ))
    .await
    .unwrap();
    let mut b = Browser::new(&app);
    let page = b.login("doctor", "doctor123").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("suspended"), "{}", page.body);
    assert!(
        b.get("/home").await.status != StatusCode::OK,
        "no session was made"
    );
    let (status, body) = app
        .api(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({ "username": "doctor", "password": "doctor123" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "TENANT_SUSPENDED", "{body}");
}

#[tokio::test]
async fn the_tenant_pages_show_the_file_store_and_its_warnings() {
    let app = spawn(Service::Owner).await;
    let tenant = common::config::DEMO_TENANT_ID;
    let at = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    // A heartbeat as owner keeps it: the store unreachable.
    app.sql(&format!(
        "INSERT INTO tenant_health (tenant_id, backend, migration_version, audit_seq, audit_hash, \
         pool_in_use, pool_size, interval_secs, received_at, files_backend, files_reachable, \
         files_stored_bytes, files_objects, files_quota_bytes) \
         VALUES ('{tenant}', 'sqlite', '20261206000701', 1, '{hash}', 0, 4, 86400, '{at}', \
         's3', FALSE, 1000, 3, NULL)",
        hash = "a".repeat(64)
    ))
    .await
    .unwrap();
    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    let list = b.get("/tenants").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body
            .contains("<td>degraded: <strong>the s3 file store is unreachable</strong></td>"),
        "{}",
        list.body
    );
    let detail = b.get(&format!("/tenants/{tenant}")).await;
    assert!(
        detail.body.contains("id=\"files-warning\""),
        "{}",
        detail.body
    );
    assert!(
        detail
            .body
            .contains("s3 store, <strong>unreachable</strong>; 3 objects, 1000 bytes, no quota"),
        "{}",
        detail.body
    );

    // Reachable, at 90 % of a 1 MiB quota: still a warning, saying why.
    app.sql(&format!(
        "UPDATE tenant_health SET files_reachable = TRUE, files_stored_bytes = 943719, \
         files_quota_bytes = 1048576 WHERE tenant_id = '{tenant}'"
    ))
    .await
    .unwrap();
    let detail = b.get(&format!("/tenants/{tenant}")).await;
    assert!(
        detail.body.contains("patient files use 90% of the plan"),
        "{}",
        detail.body
    );
    assert!(
        detail
            .body
            .contains("s3 store, reachable; 3 objects, 943719 bytes of 1048576 allowed (90%)"),
        "{}",
        detail.body
    );

    // Well under the quota: healthy, no warning.
    app.sql(&format!(
        "UPDATE tenant_health SET files_stored_bytes = 1000 WHERE tenant_id = '{tenant}'"
    ))
    .await
    .unwrap();
    let list = b.get("/tenants").await;
    assert!(list.body.contains("<td>healthy</td>"), "{}", list.body);
    let detail = b.get(&format!("/tenants/{tenant}")).await;
    assert!(!detail.body.contains("files-warning"), "{}", detail.body);
}

#[tokio::test]
async fn the_update_page_shows_where_this_owner_server_stands() {
    let app = spawn_with(
        Service::Owner,
        &[("OWNER__RBAC__ROLES__AUDITOR", "audit.read")],
    )
    .await;
    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    assert!(b.get("/home").await.body.contains("href=\"/update\""));
    let page = b.get("/update").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("unchecked"), "{}", page.body);
    assert!(
        page.body.contains(common::updates::CURRENT_VERSION),
        "{}",
        page.body
    );
    // A role without tenants.read neither sees the link nor the page.
    let admin = app.admin_token().await;
    app.create_user(&admin, "auditor1", "auditor").await;
    let mut auditor = Browser::new(&app);
    auditor.login_ok("auditor1", STRONG_PASSWORD, "/home").await;
    assert!(!auditor.get("/home").await.body.contains("href=\"/update\""));
    assert_eq!(auditor.get("/update").await.status, StatusCode::FORBIDDEN);
}

/// The demo tenant's commands, as the API lists them.
async fn commands(app: &testkit::TestApp, admin: &str) -> serde_json::Value {
    let path = format!("/tenants/{}/commands", common::config::DEMO_TENANT_ID);
    app.api(Method::GET, &path, Some(admin), None).await.1
}

/// Store batch `n` of `tenant` as owner keeps it (headers and some bytes).
async fn held_batch(app: &testkit::TestApp, tenant: &str, n: i64, rows: i64, bytes: usize) {
    let tenant = tenant.to_string();
    app.db()
        .write(move |c| {
            use owner::tenants::backups::store;
            let b = store::NewBatch {
                tenant_id: tenant,
                batch_no: n,
                first_seq: n * 100,
                last_seq: n * 100 + rows - 1,
                rows,
                bytes: bytes as i64,
                sha256: format!("{n:064}"),
                created_at: common::db::now(),
                received_at: common::db::now(),
                body: vec![b'x'; bytes],
            };
            assert!(store::insert(c, &b)?);
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_tenant_page_shows_the_online_copy_and_asks_for_a_sync() {
    let app = spawn_with(
        Service::Owner,
        &[("OWNER__RBAC__ROLES__SUPPORT", "tenants.read")],
    )
    .await;
    let tenant = common::config::DEMO_TENANT_ID;
    let page_path = format!("/tenants/{tenant}");
    let mut b = Browser::new(&app);
    let (user, password) = app.admin_credentials();
    b.login_ok(user, password, "/home").await;
    let detail = b.get(&page_path).await;
    assert!(detail.body.contains("Online copy"), "{}", detail.body);
    assert!(
        detail.body.contains("nothing shipped yet"),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("No batch received yet"),
        "{}",
        detail.body
    );

    // Two batches held; the hospital reports 7 changes waiting two hours.
    held_batch(&app, tenant, 1, 40, 5000).await;
    held_batch(&app, tenant, 2, 3, 700).await;
    let at = |secs: i64| {
        (chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(secs))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    app.sql(&format!(
        "INSERT INTO tenant_health (tenant_id, backend, migration_version, audit_seq, audit_hash, \
         pool_in_use, pool_size, interval_secs, received_at, sync_pending_changes, \
         sync_oldest_pending_at, sync_last_batch_no) \
         VALUES ('{tenant}', 'sqlite', '20261210001203', 1, '{hash}', 0, 4, 86400, '{now}', 7, \
         '{old}', 2)",
        hash = "a".repeat(64),
        now = at(0),
        old = at(7300),
    ))
    .await
    .unwrap();
    let detail = b.get(&page_path).await;
    assert_eq!(detail.status, StatusCode::OK);
    let body = &detail.body;
    assert!(
        body.contains("2 (5700 bytes); newest 2, up to change 202"),
        "{body}"
    );
    assert!(body.contains("<caption>Newest batches</caption>"), "{body}");
    assert!(
        body.contains("<tr><td>2</td><td>3</td><td>700</td>")
            && body.contains("<tr><td>1</td><td>40</td><td>5000</td>"),
        "{body}"
    );
    assert!(body.contains("7 changes, lag 2 h 1 min"), "{body}");
    assert!(
        body.contains("id=\"sync-warning\">7 changes not shipped to the online copy"),
        "{body}"
    );
    assert!(body.contains("<dd>degraded"), "{body}");

    // "Sync now": a form with the session's CSRF token.
    assert!(body.contains(&format!("action=\"/tenants/{tenant}/sync\"")));
    let sync = format!("/tenants/{tenant}/sync");
    let refused = b.post(&sync, &[("csrf", "forged")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let refused = b.post(&sync, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let admin = app.admin_token().await;
    assert_eq!(commands(&app, &admin).await["meta"]["total"], 0);
    let csrf = detail.csrf();
    let done = b.post(&sync, &[("csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), page_path);
    let list = commands(&app, &admin).await;
    assert_eq!(list["meta"]["total"], 1, "{list}");
    assert_eq!(list["data"][0]["kind"], "sync_now");
    let detail = b.get(&page_path).await;
    assert!(
        detail.body.contains("id=\"sync-waiting\">Sync requested")
            && detail
                .body
                .contains("waiting for the hospital's next heartbeat"),
        "{}",
        detail.body
    );
    let rows = app.audit_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.action == "tenant.command" && r.details.contains("sync_now"))
            .count(),
        1
    );

    // A reader sees the copy, not the button, and may not post it.
    app.create_user(&admin, "support1", "support").await;
    let mut reader = Browser::new(&app);
    reader.login_ok("support1", STRONG_PASSWORD, "/home").await;
    let seen = reader.get(&page_path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains("Newest batches"), "{}", seen.body);
    assert!(!seen.body.contains("Sync now"), "{}", seen.body);
    let csrf = seen.csrf();
    let refused = reader.post(&sync, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(commands(&app, &admin).await["meta"]["total"], 1);

    // An archived tenant shows no button; a forced post is refused.
    let (status, _) = app
        .api(
            Method::PATCH,
            &page_path,
            Some(&admin),
            Some(json!({ "status": "archived" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let detail = b.get(&page_path).await;
    assert!(!detail.body.contains("Sync now"), "{}", detail.body);
    let refused = b.post(&sync, &[("csrf", &detail.csrf())]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body.contains("archived"), "{}", refused.body);
}
