//! The audit chain against someone with direct database access: triggers
//! refuse UPDATE and DELETE, and with the triggers gone `verify` still names
//! the first changed, removed, cut-off or appended row.

use common::audit::AuditRow;
use common::db::Backend;
use common::schema::audit_log;
use diesel::RunQueryDsl;
use testkit::{spawn, Method, Service, StatusCode, TestApp};

/// A server with a few rows beyond the demo seeding.
async fn app_with_history(service: Service) -> TestApp {
    let app = spawn(service).await;
    for _ in 0..3 {
        app.admin_token().await;
    }
    assert!(
        app.audit_rows().await.len() >= 5,
        "{service}: too little history"
    );
    app
}

/// What an intruder with the database owner's rights would do first.
async fn drop_append_only_triggers(app: &TestApp) {
    let sql = match app.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    app.sql(sql).await.expect("dropping the audit triggers");
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    for service in Service::ALL {
        let app = app_with_history(service).await;
        let rows = app.audit_rows().await;

        let report = app.verify_audit().await;

        assert!(report.is_intact(), "{service}: {report:?}");
        assert_eq!(report.rows as usize, rows.len());
        assert_eq!(report.head_hash, rows.last().unwrap().hash);
    }
}

#[tokio::test]
async fn the_triggers_refuse_update_delete_and_truncate() {
    for service in Service::ALL {
        let app = app_with_history(service).await;
        let mut attacks = vec![
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
            "DELETE FROM audit_log WHERE seq = 2",
            "DELETE FROM audit_log",
        ];
        if app.backend() == Backend::Postgres {
            attacks.push("TRUNCATE audit_log");
        }
        for sql in attacks {
            let err = app.sql(sql).await.expect_err(sql);
            assert!(err.contains("append-only"), "{service}: {sql}: {err}");
        }
        assert!(app.verify_audit().await.is_intact(), "{service}");
    }
}

#[tokio::test]
async fn a_changed_row_is_found_on_every_server() {
    for service in Service::ALL {
        let app = app_with_history(service).await;
        drop_append_only_triggers(&app).await;

        app.sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .await
            .unwrap();

        let report = app.verify_audit().await;
        let problem = report.problem.expect("tampering must be found");
        assert_eq!(problem.seq, 2, "{service}: {}", problem.reason);
        assert!(problem.reason.contains("hash"), "{}", problem.reason);
        assert_eq!(report.head_seq, 1);
        if service != Service::Hospital {
            // The API's check sees it too (hospital admins are refused that check).
            let token = app.admin_token().await;
            let (status, body) = app
                .api(Method::GET, "/audit/verify", Some(&token), None)
                .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["data"]["problem"]["seq"], 2, "{body}");
        }
    }
}

#[tokio::test]
async fn a_rehashed_row_breaks_the_link_to_the_next() {
    let app = app_with_history(Service::Company).await;
    drop_append_only_triggers(&app).await;
    let mut row = app.audit_rows().await.remove(2);
    row.actor = "mallory".into();
    row.hash = row.compute_hash();

    let sql = format!(
        "UPDATE audit_log SET actor = 'mallory', hash = '{}' WHERE seq = 3",
        row.hash
    );
    app.sql(&sql).await.unwrap();

    let problem = app.verify_audit().await.problem.expect("found");
    assert_eq!(problem.seq, 4, "{}", problem.reason);
    assert!(problem.reason.contains("prev_hash"), "{}", problem.reason);
}

#[tokio::test]
async fn a_removed_middle_row_is_found() {
    let app = app_with_history(Service::Hospital).await;
    drop_append_only_triggers(&app).await;

    app.sql("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();

    let problem = app.verify_audit().await.problem.expect("found");
    assert_eq!(problem.seq, 3);
    assert!(problem.reason.contains("missing"), "{}", problem.reason);
}

#[tokio::test]
async fn a_removed_last_row_is_found_by_the_head() {
    let app = app_with_history(Service::Dev).await;
    let last = app.audit_rows().await.last().unwrap().seq;
    drop_append_only_triggers(&app).await;

    app.sql(&format!("DELETE FROM audit_log WHERE seq = {last}"))
        .await
        .unwrap();

    let report = app.verify_audit().await;
    let problem = report.problem.expect("cutting the tail must be found");
    assert_eq!(problem.seq, last, "{}", problem.reason);
    assert!(problem.reason.contains("head"), "{}", problem.reason);
}

#[tokio::test]
async fn a_forged_row_appended_with_a_valid_hash_is_found_by_the_head() {
    let app = app_with_history(Service::Owner).await;
    let rows = app.audit_rows().await;
    let last = rows.last().unwrap();
    let mut forged = AuditRow {
        seq: last.seq + 1,
        actor: "mallory".into(),
        action: "user.create".into(),
        prev_hash: last.hash.clone(),
        ..last.clone()
    };
    forged.hash = forged.compute_hash();

    app.db()
        .run(move |c| {
            Ok(diesel::insert_into(audit_log::table)
                .values(&forged)
                .execute(c)?)
        })
        .await
        .unwrap();

    let problem = app
        .verify_audit()
        .await
        .problem
        .expect("an appended row must be found");
    assert_eq!(problem.seq, last.seq + 1, "{}", problem.reason);
    assert!(problem.reason.contains("head"), "{}", problem.reason);
}

#[tokio::test]
async fn a_rehashed_last_row_is_found_by_the_head() {
    let app = app_with_history(Service::Company).await;
    let mut last = app.audit_rows().await.pop().unwrap();
    drop_append_only_triggers(&app).await;
    last.actor = "mallory".into();
    let sql = format!(
        "UPDATE audit_log SET actor = 'mallory', hash = '{}' WHERE seq = {}",
        last.compute_hash(),
        last.seq
    );

    app.sql(&sql).await.unwrap();

    let problem = app
        .verify_audit()
        .await
        .problem
        .expect("a rewritten tail must be found");
    assert_eq!(problem.seq, last.seq, "{}", problem.reason);
}

#[tokio::test]
async fn concurrent_writes_keep_one_unbroken_chain() {
    for service in [Service::Company, Service::Hospital] {
        let app = spawn(service).await;
        let before = app.audit_rows().await.len();
        let (user, password) = app.admin_credentials();

        let mut requests = tokio::task::JoinSet::new();
        for i in 0..24 {
            let body = match i % 3 {
                0 => serde_json::json!({ "username": format!("ghost-{i}"), "password": "x-y-z-1" }),
                _ => serde_json::json!({ "username": user, "password": password }),
            };
            let req = app.client.post(app.api_url("/auth/login")).json(&body);
            requests.spawn(async move { req.send().await.map(|r| r.status()) });
        }
        let mut statuses = Vec::new();
        while let Some(done) = requests.join_next().await {
            statuses.push(done.unwrap().expect("request sent"));
        }

        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            16,
            "{statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::UNAUTHORIZED)
                .count(),
            8
        );
        let rows = app.audit_rows().await;
        assert_eq!(
            rows.len(),
            before + 24,
            "{service}: every attempt is one row"
        );
        assert!(
            rows.iter().enumerate().all(|(i, r)| r.seq == i as i64 + 1),
            "{service}: gaps"
        );
        assert!(app.verify_audit().await.is_intact(), "{service}");
    }
}
