//! The internal plane between real processes: a hospital's security event
//! reaches company, and company's anchors catch a rewritten audit chain.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use crate::support::{login, run, text};
use crate::up::Up;

async fn get_json(port: u16, path: &str, token: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "GET {path}");
    res.json().await.unwrap()
}

/// Poll `path` on company until `data` is non-empty.
async fn eventually(port: u16, path: &str, token: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get_json(port, path, token).await;
        if body["data"].as_array().is_some_and(|a| !a.is_empty()) {
            return body;
        }
        assert!(Instant::now() < deadline, "nothing arrived at {path}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn up_carries_a_hospital_login_failure_to_company_and_anchors_catch_a_rewritten_chain() {
    let mut up = Up::start(&[]);
    up.wait_healthy();
    let tenant = "00000000-0000-4000-8000-000000000001";
    let _ = rustls::crypto::ring::default_provider().install_default();

    // A failed login on the hospital…
    let res = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/api/v1/tenant/auth/login",
            up.port("hospital")
        ))
        .json(&serde_json::json!({ "username": "doctor", "password": "not-the-password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);

    // …reaches company's security-event list over mTLS, naming its source.
    let admin = login(up.port("company"), "/api/v1/company", "admin", "admin123").await;
    let token = admin["data"]["access_token"].as_str().unwrap().to_string();
    let events = eventually(
        up.port("company"),
        "/api/v1/company/security-events?source_service=hospital&kind=auth.login_failed",
        &token,
    )
    .await;
    assert_eq!(events["meta"]["total"], 1, "exactly once: {events}");
    assert_eq!(events["data"][0]["source_tenant"], tenant);

    // The hospital's audit head is anchored on company…
    let anchors_path = format!("/api/v1/company/audit-anchors?service=hospital&tenant={tenant}");
    eventually(up.port("company"), &anchors_path, &token).await;
    let env = up.env_of("hospital");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let verify = [
        "audit",
        "verify",
        "--service",
        "hospital",
        "--against-company",
    ];
    let out = run(&verify, &env, up.dir.path());
    assert!(out.status.success(), "{}", text(&out));

    // …so rewriting the whole chain consistently (hashes and head) passes the
    // local check but not the comparison with company's anchors.
    rewrite_chain(up.url("hospital"));
    let out = run(
        &["audit", "verify", "--service", "hospital"],
        &env,
        up.dir.path(),
    );
    assert!(
        out.status.success(),
        "a consistent rewrite fools the local walk: {}",
        text(&out)
    );
    let out = run(&verify, &env, up.dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does NOT match"), "{}", text(&out));
}

/// What an attacker with the database could do: change row 1 and recompute
/// every hash after it and the head.
fn rewrite_chain(url: &str) {
    use common::audit::AuditRow;
    use common::schema::{audit_head, audit_log};
    use diesel::prelude::*;
    let db = common::db::Db::connect(url, 1, Duration::from_secs(5), hospital::MIGRATIONS).unwrap();
    let mut conn = db.conn().unwrap();
    let disable = match db.backend() {
        common::db::Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
        }
        common::db::Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
    };
    conn.batch_execute(disable).unwrap();
    let rows: Vec<AuditRow> = audit_log::table
        .order(audit_log::seq.asc())
        .select(AuditRow::as_select())
        .load(&mut *conn)
        .unwrap();
    let mut prev = common::audit::GENESIS_HASH.to_string();
    for (i, mut row) in rows.into_iter().enumerate() {
        if i == 0 {
            row.actor = "rewritten".into();
        }
        row.prev_hash = prev.clone();
        row.hash = row.compute_hash();
        diesel::update(audit_log::table.filter(audit_log::seq.eq(row.seq)))
            .set((
                audit_log::actor.eq(&row.actor),
                audit_log::prev_hash.eq(&row.prev_hash),
                audit_log::hash.eq(&row.hash),
            ))
            .execute(&mut *conn)
            .unwrap();
        prev = row.hash;
    }
    diesel::update(audit_head::table)
        .set(audit_head::hash.eq(&prev))
        .execute(&mut *conn)
        .unwrap();
}
