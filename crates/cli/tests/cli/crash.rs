//! Durability under a crash: the real hospital-server binary is killed with
//! SIGKILL in the middle of a read and write load. Afterwards every answer
//! the clients received has its audit row, the chain verifies, and no
//! acknowledged write is missing: nothing leaves before its commit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::audit;
use common::db::Db;
use common::schema::audit_log;
use diesel::prelude::*;
use serde_json::{json, Value};

const PREFIX: &str = "/api/v1/tenant";

use crate::support::{free_port, server_binary, ChildGuard};

/// The server, in its own process group: killed when the test ends, also on failure.
fn start(dir: &Path, port: u16, db_url: &str) -> ChildGuard {
    ChildGuard::spawn(
        Command::new(server_binary("hospital"))
            .arg("--demo")
            .current_dir(dir)
            .envs([
                ("HOSPITAL__SERVER__PORT", port.to_string()),
                ("HOSPITAL__DATABASE__URL", db_url.to_string()),
                ("HOSPITAL__PLANE__ENABLED", "false".to_string()),
                ("HOSPITAL__AUTH__BCRYPT_COST", "4".to_string()),
                (
                    "HOSPITAL__AUTH__LOGIN_ATTEMPTS_PER_MINUTE",
                    "100000".to_string(),
                ),
                ("RUST_LOG", "warn".to_string()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hospital-server did not become ready");
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
    correlation: &str,
) -> Result<(reqwest::StatusCode, Value), reqwest::Error> {
    let mut req = http
        .request(method, url)
        .header("x-correlation-id", correlation);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await?;
    let status = res.status();
    // Only a body read to the end counts as an answer the client received.
    let body: Value = res.json().await?;
    Ok((status, body))
}

async fn login(http: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let (status, body) = call(
        http,
        reqwest::Method::POST,
        format!("{base}{PREFIX}/auth/login"),
        None,
        Some(json!({ "username": user, "password": password })),
        "login",
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    body["data"]["access_token"].as_str().unwrap().to_string()
}

/// Answers received before the crash: (correlation id, action expected in
/// the audit log, created patient id for writes).
type Acked = Arc<Mutex<Vec<(String, &'static str, Option<String>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write_or_audit_row() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/hospital.db", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = start(dir.path(), port, &db_url);
    wait_ready(&http, &base).await;

    let admin = login(&http, &base, "hadmin", "hadmin123").await;
    let doctor = login(&http, &base, "doctor", "doctor123").await;
    let reception = login(&http, &base, "reception", "reception123").await;
    let patient = json!({ "first_name": "Crash", "last_name": "Test",
                          "date_of_birth": "1980-01-01", "sex": "female" });
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{base}{PREFIX}/patients"),
        Some(&reception),
        Some(patient.clone()),
        "setup-1",
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let patient_id = body["data"]["id"].as_str().unwrap().to_string();
    let (_, me) = call(
        &http,
        reqwest::Method::GET,
        format!("{base}{PREFIX}/auth/me"),
        Some(&doctor),
        None,
        "setup-2",
    )
    .await
    .unwrap();
    let doctor_id = me["data"]["id"].as_str().unwrap().to_string();
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{base}{PREFIX}/patients/{patient_id}/care-team"),
        Some(&admin),
        Some(json!({ "user_id": doctor_id })),
        "setup-3",
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{body}");

    // Four readers and four writers until the server dies (bounded: 30 s).
    let acked: Acked = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(30);
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, base, acked) = (http.clone(), base.clone(), acked.clone());
        let (doctor, reception, patient_id, patient) = (
            doctor.clone(),
            reception.clone(),
            patient_id.clone(),
            patient.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop_at {
                n += 1;
                let corr = format!("crash-{w}-{n}");
                let reply = if w % 2 == 0 {
                    call(
                        &http,
                        reqwest::Method::GET,
                        format!("{base}{PREFIX}/patients/{patient_id}"),
                        Some(&doctor),
                        None,
                        &corr,
                    )
                    .await
                } else {
                    call(
                        &http,
                        reqwest::Method::POST,
                        format!("{base}{PREFIX}/patients"),
                        Some(&reception),
                        Some(patient.clone()),
                        &corr,
                    )
                    .await
                };
                match reply {
                    Ok((status, _)) if status == 200 => {
                        acked.lock().unwrap().push((corr, "patient.read", None));
                    }
                    Ok((status, body)) if status == 201 => {
                        let id = body["data"]["id"].as_str().unwrap().to_string();
                        acked
                            .lock()
                            .unwrap()
                            .push((corr, "patient.create", Some(id)));
                    }
                    Ok((status, body)) => panic!("unexpected answer {status}: {body}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let the load run, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL to the whole group, then reaped
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "the load ran: {} answers", acked.len());

    // What is on disk now.
    let db = Db::connect(&db_url, 2, Duration::from_secs(10), hospital::MIGRATIONS).unwrap();
    let verification = db.run(audit::verify).await.unwrap();
    assert!(verification.is_intact(), "{verification:?}");
    let rows: Vec<(Option<String>, String, String)> = db
        .run(|c| {
            Ok(audit_log::table
                .filter(audit_log::correlation_id.like("crash-%"))
                .select((
                    audit_log::correlation_id,
                    audit_log::action,
                    audit_log::resource,
                ))
                .load(c)?)
        })
        .await
        .unwrap();
    let recorded: std::collections::HashSet<(String, String)> = rows
        .iter()
        .filter_map(|(c, a, _)| c.clone().map(|c| (c, a.clone())))
        .collect();
    for (corr, action, _) in &acked {
        assert!(
            recorded.contains(&(corr.clone(), action.to_string())),
            "the answer to {corr} left without its {action} audit row"
        );
    }
    let created: Vec<String> = acked.iter().filter_map(|a| a.2.clone()).collect();
    assert!(!created.is_empty(), "some writes were acknowledged");
    let wanted = created.clone();
    let stored: i64 = db
        .run(move |c| {
            use hospital::schema::patients;
            Ok(patients::table
                .filter(patients::id.eq_any(wanted))
                .count()
                .get_result(c)?)
        })
        .await
        .unwrap();
    assert_eq!(
        stored as usize,
        created.len(),
        "an acknowledged patient is missing"
    );

    // The server starts again on the same database and serves the patients.
    let server = start(dir.path(), port, &db_url);
    wait_ready(&http, &base).await;
    let reception = login(&http, &base, "reception", "reception123").await;
    for (_, _, created) in acked.iter().filter(|a| a.2.is_some()).take(5) {
        let id = created.as_ref().unwrap();
        let (status, body) = call(
            &http,
            reqwest::Method::GET,
            format!("{base}{PREFIX}/patients/{id}"),
            Some(&reception),
            None,
            "after",
        )
        .await
        .unwrap();
        assert_eq!(
            status, 200,
            "acknowledged patient {id} after restart: {body}"
        );
    }
    drop(server);
}
