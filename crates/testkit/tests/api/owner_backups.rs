//! The online copy on owner (issue 12, item 3): hospitals ship sealed
//! change-log batches over the plane (`POST /internal/v1/backups`), list
//! and fetch them back for a restore; owner stores them in order, tells a
//! retry from a conflicting batch, and shows the owner operator headers
//! only (`GET …/tenants/{id}/backups`, the `sync` part of the database
//! health), and asks a hospital to ship now (`POST …/tenants/{id}/sync`).
//! The batches here are really sealed (`contracts::backup::seal`).

use common::config::DEMO_TENANT_ID;
use common::mtls::ServiceIdentity;
use contracts::backup::{self, BackupBatch, BackupKey, BatchHeader, GENESIS_TAG, TAG_LEN};
use serde_json::{json, Value};
use testkit::plane::{Pki, PlanePorts, Roles};
use testkit::{
    assert_error, assert_ok, spawn_with, Method, Service, StatusCode, TestApp, STRONG_PASSWORD,
};

use crate::owner_tenants::{register, registration};
use crate::plane::{internal_get, internal_post, issue_all, start};

const TENANT_B: &str = "00000000-0000-4000-8000-0000000000b2";
/// A string only the sealed batches carry (in a change row).
const MARKER: &str = "Zubaida-Qureshi-PHI-4417";

/// Batch `n` of `tenant` following `prev`: changes `2n-1` and `2n`, the
/// first row carrying `MARKER`.
fn seal(
    key: &BackupKey,
    tenant: &str,
    n: i64,
    prev: &[u8; TAG_LEN],
) -> (BackupBatch, [u8; TAG_LEN]) {
    let mut lines = Vec::new();
    let row = format!(r#"{{"id":"p{n}","first_name":"{MARKER}"}}"#);
    backup::push_change(&mut lines, 2 * n - 1, "patients", "I", &row).unwrap();
    backup::push_change(&mut lines, 2 * n, "patients", "D", &row).unwrap();
    let header = BatchHeader {
        tenant_id: tenant.into(),
        batch_no: n,
        first_seq: 2 * n - 1,
        last_seq: 2 * n,
        rows: 2,
        backend: "sqlite".into(),
        schema_version: "20261210001203".into(),
        created_at: common::db::now(),
    };
    backup::seal(key, header, prev, &lines).unwrap()
}

/// A chain of `count` batches of `tenant`.
fn chain(key: &BackupKey, tenant: &str, count: i64) -> Vec<(BackupBatch, [u8; TAG_LEN])> {
    let mut out: Vec<(BackupBatch, [u8; TAG_LEN])> = Vec::new();
    for n in 1..=count {
        let prev = out.last().map_or(GENESIS_TAG, |(_, t)| *t);
        out.push(seal(key, tenant, n, &prev));
    }
    out
}

fn as_json(b: &BackupBatch) -> Value {
    serde_json::to_value(b).unwrap()
}

async fn ship(client: &reqwest::Client, port: u16, body: Value) -> (StatusCode, Value) {
    internal_post(client, port, contracts::paths::BACKUPS, body).await
}

/// `SELECT COUNT(*)` of `from` (a table and its condition) on `app`.
async fn count(app: &TestApp, from: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {from}");
    app.db()
        .run(move |c| {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            Ok(diesel::sql_query(sql).get_result::<N>(c)?.n)
        })
        .await
        .unwrap()
}

async fn events(owner: &TestApp, kind: &str) -> i64 {
    count(owner, &format!("security_outbox WHERE kind = '{kind}'")).await
}

/// Owner on the plane with the demo hospital's certificate issued, and an
/// owner token.
async fn plane_owner(extra: &[(&str, &str)]) -> (Pki, PlanePorts, TestApp, String) {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, extra).await;
    let token = owner.admin_token().await;
    (pki, ports, owner, token)
}

#[tokio::test]
async fn batches_are_kept_in_order_retries_are_duplicates_and_a_different_batch_is_a_conflict() {
    let (pki, ports, owner, token) = plane_owner(&[]).await;
    let a = pki.client(Some("hospital"));
    let key = BackupKey::generate().unwrap();
    let batches = chain(&key, DEMO_TENANT_ID, 3);
    let (b1, b2, b3) = (&batches[0].0, &batches[1].0, &batches[2].0);

    let (status, body) = ship(&a, ports.owner, as_json(b1)).await;
    assert_ok(status, &body, StatusCode::CREATED);
    assert_eq!(body["data"], json!({ "batch_no": 1, "duplicate": false }));
    // A retry of the same bytes: a duplicate, nothing added.
    let (status, body) = ship(&a, ports.owner, as_json(b1)).await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"], json!({ "batch_no": 1, "duplicate": true }));
    // A gap: 3 before 2, refused naming the number expected.
    let (status, body) = ship(&a, ports.owner, as_json(b3)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "BACKUP_GAP");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expects is 2"),
        "{body}"
    );
    assert_eq!(body["error"]["details"]["expected_batch_no"], 2);
    let (status, body) = ship(&a, ports.owner, as_json(b2)).await;
    assert_ok(status, &body, StatusCode::CREATED);
    // Another batch under a stored number (sealed again: other bytes):
    // 409, raised, nothing stored, the ciphertext not echoed.
    let (other2, _) = seal(&key, DEMO_TENANT_ID, 2, &batches[0].1);
    let (status, body) = ship(&a, ports.owner, as_json(&other2)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "BACKUP_CONFLICT");
    assert!(!body.to_string().contains(&other2.ciphertext));
    assert_eq!(events(&owner, "backup.conflict").await, 1);
    let row = owner
        .db()
        .run(|c| common::security::after(c, 0, 1000))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "backup.conflict")
        .unwrap();
    assert_eq!(row.severity, "critical");
    assert_eq!(row.details["batch_no"], 2);
    assert_eq!(count(&owner, "tenant_backups").await, 2);
    let (status, body) = ship(&a, ports.owner, as_json(b3)).await;
    assert_ok(status, &body, StatusCode::CREATED);

    // The restore lists the headers in order, from a number on.
    let port = ports.owner;
    let list = |q: &'static str| {
        let a = a.clone();
        async move {
            internal_get(&a, port, &format!("{}{q}", contracts::paths::BACKUPS))
                .await
                .unwrap()
        }
    };
    let (status, body) = list("").await;
    assert_ok(status, &body, StatusCode::OK);
    let infos: Vec<backup::BackupBatchInfo> = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(
        infos.iter().map(|i| i.batch_no).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        (infos[1].first_seq, infos[1].last_seq, infos[1].rows),
        (3, 4, 2)
    );
    assert_eq!(infos[1].created_at, b2.created_at);
    // As posted: the JSON text the client sent.
    let posted = serde_json::to_vec(&as_json(b2)).unwrap().len() as i64;
    assert_eq!(infos[1].bytes, posted, "bytes are the envelope as posted");
    let (_, body) = list("?after=1&limit=1").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["batch_no"], 2);
    let (_, body) = list("?after=3").await;
    assert_eq!(body["data"], json!([]));
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?after=-1",
        "?after=x",
        "?color=red",
    ] {
        let (status, body) = list(bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }

    // Fetched back, the batches are the ones sealed: they open, in order.
    let mut prev = GENESIS_TAG;
    for (n, (sealed, tag)) in batches.iter().enumerate() {
        let path = contracts::paths::BACKUP.replace("{batch_no}", &(n + 1).to_string());
        let (status, body) = internal_get(&a, ports.owner, &path).await.unwrap();
        assert_ok(status, &body, StatusCode::OK);
        let got: BackupBatch = serde_json::from_value(body["data"].clone()).unwrap();
        assert_eq!(&got, sealed);
        let (plain, opened) = backup::open(&key, &got, &prev).unwrap();
        assert_eq!(&opened, tag);
        assert!(String::from_utf8(plain).unwrap().contains(MARKER));
        prev = opened;
    }
    for missing in ["4", "0", "-1"] {
        let path = contracts::paths::BACKUP.replace("{batch_no}", missing);
        let (status, body) = internal_get(&a, ports.owner, &path).await.unwrap();
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let path = contracts::paths::BACKUP.replace("{batch_no}", "two");
    let (status, body) = internal_get(&a, ports.owner, &path).await.unwrap();
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // The owner operator sees the headers, newest first, a page at a time.
    let tenant_path = format!("/tenants/{DEMO_TENANT_ID}/backups");
    let (status, body) = owner
        .api(Method::GET, &tenant_path, Some(&token), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 3);
    let numbers: Vec<i64> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_no"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert!(body["data"][0].get("ciphertext").is_none(), "{body}");
    let (_, body) = owner
        .api(
            Method::GET,
            &format!("{tenant_path}?page=2&page_size=2"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["batch_no"], 1);
    assert_eq!(body["meta"]["page"], 2);
    let (status, body) = owner
        .api(
            Method::GET,
            &format!("{tenant_path}?page_size=101"),
            Some(&token),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // The health's `sync` holds what owner stores (no heartbeat yet).
    let (_, h) = owner
        .api(
            Method::GET,
            &format!("/tenants/{DEMO_TENANT_ID}/database-health"),
            Some(&token),
            None,
        )
        .await;
    let sync = &h["data"]["sync"];
    assert_eq!(sync["batches"], 3, "{h}");
    assert_eq!(sync["last_batch_no"], 3);
    assert_eq!(sync["last_seq"], 6);
    assert!(sync["last_received_at"].is_string());
    assert_eq!(sync["bytes"], infos.iter().map(|i| i.bytes).sum::<i64>());
    assert_eq!(sync["pending_changes"], Value::Null);
    assert_eq!(sync["lag_secs"], Value::Null);

    // Owner holds the batches, never what is inside them.
    let stored = testkit::hospital::stored_bytes_with(&owner, "tenant_backups");
    assert!(
        !stored.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
        "owner's database holds the plaintext"
    );
}

#[tokio::test]
async fn every_bad_field_is_a_400_and_nothing_is_stored() {
    let (pki, ports, owner, _token) = plane_owner(&[]).await;
    let a = pki.client(Some("hospital"));
    let key = BackupKey::generate().unwrap();
    let (good, _) = seal(&key, DEMO_TENANT_ID, 1, &GENESIS_TAG);
    let good = as_json(&good);
    let ciphertext = good["ciphertext"].as_str().unwrap().to_string();
    let with = |field: &str, v: Value| {
        let mut b = good.clone();
        b[field] = v;
        b
    };
    let cases: Vec<(&str, Value)> = vec![
        ("format", with("format", json!(2))),
        ("batch_no", with("batch_no", json!(0))),
        ("batch_no", with("batch_no", json!(-3))),
        ("first_seq", with("first_seq", json!(0))),
        ("first_seq", with("last_seq", json!(0))),
        ("rows", with("rows", json!(0))),
        ("rows", with("rows", json!(3))),
        ("rows", {
            let mut b = with("last_seq", json!(1_000_000));
            b["rows"] = json!(backup::MAX_ROWS + 1);
            b
        }),
        ("backend", with("backend", json!("oracle"))),
        ("schema_version", with("schema_version", json!(""))),
        (
            "schema_version",
            with("schema_version", json!("9".repeat(129))),
        ),
        (
            "schema_version",
            with("schema_version", json!("2026\n1210")),
        ),
        ("key_id", with("key_id", json!("0123456789abcde"))),
        ("key_id", with("key_id", json!("0123456789abcdeg"))),
        ("nonce", with("nonce", json!("00".repeat(11)))),
        ("nonce", with("nonce", json!("zz".repeat(12)))),
        ("ciphertext", with("ciphertext", json!(""))),
        ("ciphertext", with("ciphertext", json!("not base64!"))),
        (
            "ciphertext",
            with("ciphertext", json!(format!("{ciphertext}="))),
        ),
        ("ciphertext", with("ciphertext", json!("AAAA"))),
    ];
    for (field, body) in cases {
        let (status, reply) = ship(&a, ports.owner, body.clone()).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            reply["error"]["details"]["field"], field,
            "{body} → {reply}"
        );
        assert!(!reply.to_string().contains(&ciphertext[..40]), "{reply}");
    }
    // Not a batch at all: unknown or missing fields, wrong types, not JSON.
    let mut unknown = good.clone();
    unknown["color"] = json!("red");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("nonce");
    let swapped = with("format", json!(ciphertext));
    for body in [unknown, missing, swapped] {
        let (status, reply) = ship(&a, ports.owner, body).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert!(!reply.to_string().contains(&ciphertext[..40]), "{reply}");
    }
    let url = format!(
        "https://localhost:{}{}",
        ports.owner,
        contracts::paths::BACKUPS
    );
    let res = a
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = a.post(&url).body(good.to_string()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(count(&owner, "tenant_backups").await, 0);

    // Over 32 MiB: refused as too large (not read whole, not a 500).
    let mut huge = good.clone();
    huge["ciphertext"] = json!("A".repeat(backup::MAX_BATCH_BYTES));
    let res = a
        .post(&url)
        .header("content-type", "application/json")
        .body(huge.to_string())
        .send()
        .await;
    match res {
        Ok(res) => {
            let status = res.status();
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["success"], false);
        }
        // The server may answer and close before the client finished sending.
        Err(e) => assert!(!e.is_status(), "{e}"),
    }
    assert_eq!(count(&owner, "tenant_backups").await, 0);
    // And the good one is still batch 1.
    let (status, reply) = ship(&a, ports.owner, good.clone()).await;
    assert_ok(status, &reply, StatusCode::CREATED);

    // A large batch under the limit is taken (the limit is raised for
    // this route only) and handed back byte for byte. Owner cannot open
    // a batch, so a ciphertext of 18 MiB of zeros (24 MiB of base64)
    // will do here.
    let mut large = good;
    large["batch_no"] = json!(2);
    large["ciphertext"] = json!("AAAA".repeat(18 * 1024 * 1024 / 3));
    let (status, reply) = ship(&a, ports.owner, large.clone()).await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let path = contracts::paths::BACKUP.replace("{batch_no}", "2");
    let (status, reply) = internal_get(&a, ports.owner, &path).await.unwrap();
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"], large);
    // Other routes keep the listener's limit.
    let mut beat = json!({ "tenant_id": DEMO_TENANT_ID, "interval_secs": 1, "staff": [] });
    beat["padding"] = json!("x".repeat(4 * 1024 * 1024));
    let (status, _) = internal_post(&a, ports.owner, contracts::paths::HEARTBEAT, beat).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_hospital_reaches_only_its_own_tenants_copy_and_other_servers_none() {
    let (pki, ports, owner, token) = plane_owner(&[]).await;
    // dev's own certificate is server-only; give it client use too, so the
    // route (not the handshake) is what refuses it.
    pki.issue_with_roles("dev", ServiceIdentity::Dev, Roles::Both);
    let b_id = register(
        &owner,
        &token,
        registration("Beta", "beta", "hospital_beta"),
    )
    .await;
    pki.issue(
        "hospital-b",
        ServiceIdentity::Hospital {
            tenant_id: b_id.clone(),
        },
    );
    pki.issue(
        "hospital-x",
        ServiceIdentity::Hospital {
            tenant_id: TENANT_B.into(),
        },
    );
    let a = pki.client(Some("hospital"));
    let b = pki.client(Some("hospital-b"));
    let key_a = BackupKey::generate().unwrap();
    let key_b = BackupKey::generate().unwrap();
    let (a1, _) = seal(&key_a, DEMO_TENANT_ID, 1, &GENESIS_TAG);
    let (b1, _) = seal(&key_b, &b_id, 1, &GENESIS_TAG);
    let (status, body) = ship(&a, ports.owner, as_json(&a1)).await;
    assert_ok(status, &body, StatusCode::CREATED);

    // B posting A's batch, or a batch naming A: 403, raised, nothing stored.
    let (status, body) = ship(&b, ports.owner, as_json(&a1)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (a2, _) = seal(&key_b, DEMO_TENANT_ID, 2, &GENESIS_TAG);
    let (status, body) = ship(&b, ports.owner, as_json(&a2)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(!body.to_string().contains(&a2.ciphertext));
    assert_eq!(events(&owner, "plane.tenant_mismatch").await, 2);
    assert_eq!(count(&owner, "tenant_backups").await, 1);
    // B's own batch 1 is B's, beside A's batch 1.
    let (status, body) = ship(&b, ports.owner, as_json(&b1)).await;
    assert_ok(status, &body, StatusCode::CREATED);
    assert_eq!(body["data"]["duplicate"], false);

    // B lists and fetches its own only.
    let (status, body) = internal_get(&b, ports.owner, contracts::paths::BACKUPS)
        .await
        .unwrap();
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let one = contracts::paths::BACKUP.replace("{batch_no}", "1");
    let (_, body) = internal_get(&b, ports.owner, &one).await.unwrap();
    let got: BackupBatch = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(got, b1);
    let (_, body) = internal_get(&a, ports.owner, &one).await.unwrap();
    let got: BackupBatch = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(got, a1);
    // A tenant owner does not know: 404, raised; it lists nothing.
    let x = pki.client(Some("hospital-x"));
    let (x1, _) = seal(&key_b, TENANT_B, 1, &GENESIS_TAG);
    let (status, body) = ship(&x, ports.owner, as_json(&x1)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(events(&owner, "plane.unknown_tenant").await, 1);
    let (status, body) = internal_get(&x, ports.owner, contracts::paths::BACKUPS)
        .await
        .unwrap();
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(body["data"], json!([]));
    let (status, body) = internal_get(&x, ports.owner, &one).await.unwrap();
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Servers that are not hospitals may use none of the three routes.
    let refused_before = events(&owner, "cert.refused").await;
    for who in ["company", "dev", "owner"] {
        let c = pki.client(Some(who));
        let (status, body) = ship(&c, ports.owner, as_json(&a1)).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
        for path in [contracts::paths::BACKUPS, one.as_str()] {
            let (status, body) = internal_get(&c, ports.owner, path).await.unwrap();
            assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
            assert!(body.get("data").is_none());
        }
    }
    assert_eq!(events(&owner, "cert.refused").await - refused_before, 9);
    assert_eq!(count(&owner, "tenant_backups").await, 2);
}

#[tokio::test]
async fn concurrent_posts_of_one_batch_store_it_once() {
    let (pki, ports, owner, _token) = plane_owner(&[]).await;
    let a = pki.client(Some("hospital"));
    let key = BackupKey::generate().unwrap();
    let (b1, _) = seal(&key, DEMO_TENANT_ID, 1, &GENESIS_TAG);
    let port = ports.owner;
    let posts = (0..8).map(|_| {
        let a = a.clone();
        let body = as_json(&b1);
        tokio::spawn(async move { ship(&a, port, body).await })
    });
    let mut created = 0;
    let mut duplicates = 0;
    for p in posts.collect::<Vec<_>>() {
        let (status, body) = p.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK if body["data"]["duplicate"] == true => duplicates += 1,
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((created, duplicates), (1, 7));
    assert_eq!(count(&owner, "tenant_backups").await, 1);
    // One writer serializes them here; should two processes race on one
    // PostgreSQL database, the loser's insert is refused by the primary key
    // in its own savepoint and its transaction goes on to answer.
    let raced = owner
        .db()
        .write(|c| {
            use owner::tenants::backups::store;
            let again = store::NewBatch {
                tenant_id: DEMO_TENANT_ID.into(),
                batch_no: 1,
                first_seq: 1,
                last_seq: 2,
                rows: 2,
                bytes: 2,
                sha256: "0".repeat(64),
                created_at: common::db::now(),
                received_at: common::db::now(),
                body: b"{}".to_vec(),
            };
            let inserted = store::insert(c, &again)?;
            Ok((inserted, store::highest(c, DEMO_TENANT_ID)?))
        })
        .await
        .unwrap();
    assert_eq!(raced, (false, 1));
    // Eight different batches 1 at once: one stored, seven conflicts.
    let (pki2, ports2, owner2, _) = plane_owner(&[]).await;
    let a2 = pki2.client(Some("hospital"));
    let port2 = ports2.owner;
    let posts = (0..8).map(|_| {
        let a2 = a2.clone();
        let body = as_json(&seal(&key, DEMO_TENANT_ID, 1, &GENESIS_TAG).0);
        tokio::spawn(async move { ship(&a2, port2, body).await })
    });
    let mut statuses = Vec::new();
    for p in posts.collect::<Vec<_>>() {
        let (status, body) = p.await.unwrap();
        if status == StatusCode::CONFLICT {
            assert_eq!(body["error"]["code"], "BACKUP_CONFLICT");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7
    );
    assert_eq!(count(&owner2, "tenant_backups").await, 1);
    assert_eq!(events(&owner2, "backup.conflict").await, 7);
}

/// A heartbeat of the demo tenant with `sync` and command `results`.
fn beat(sync: Value, results: Value) -> Value {
    json!({
        "tenant_id": DEMO_TENANT_ID,
        "interval_secs": 60,
        "health": {
            "backend": "sqlite", "db_size_bytes": 1, "migration_version": "x",
            "last_write_at": null, "audit_head": { "seq": 1, "hash": "a".repeat(64) },
            "pool_in_use": 0, "pool_size": 4, "disk_free_bytes": null,
            "sync": sync
        },
        "staff": [],
        "results": results
    })
}

fn ago(secs: i64) -> String {
    (common::db::now() - chrono::TimeDelta::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn sync_now_reaches_the_hospital_in_its_heartbeat_answer_and_is_acknowledged() {
    let (pki, ports, owner, token) = plane_owner(&[]).await;
    let a = pki.client(Some("hospital"));
    let path = format!("/tenants/{DEMO_TENANT_ID}/sync");
    let (status, body) = owner.api(Method::POST, &path, Some(&token), None).await;
    assert_ok(status, &body, StatusCode::ACCEPTED);
    assert_eq!(body["data"]["kind"], "sync_now");
    assert_eq!(body["data"]["status"], "pending");
    assert_eq!(body["data"]["request"], json!({}));
    let id = body["data"]["id"].as_str().unwrap().to_string();
    // Pressed again while it waits: the same command.
    let (status, body) = owner.api(Method::POST, &path, Some(&token), None).await;
    assert_ok(status, &body, StatusCode::ACCEPTED);
    assert_eq!(body["data"]["id"], id.as_str());
    let rows = owner.audit_rows().await;
    let audited: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "tenant.command" && r.details.contains("sync_now"))
        .collect();
    assert_eq!(audited.len(), 2);
    assert!(audited.iter().all(|r| r.details.contains(&id)));

    // The heartbeat's answer carries it, without a create_user.
    let hb = contracts::paths::HEARTBEAT;
    let (status, body) = internal_post(&a, ports.owner, hb, beat(Value::Null, json!([]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["commands"],
        json!([{ "id": id, "kind": "sync_now", "create_user": null }])
    );
    let cmds: Vec<contracts::OwnerCommand> =
        serde_json::from_value(body["data"]["commands"].clone()).unwrap();
    assert_eq!(cmds[0].kind, "sync_now");
    // Acknowledged: done, and handed over no more.
    let ack = json!([{ "id": id, "ok": true, "user_id": null, "code": null, "message": null }]);
    let (status, body) = internal_post(&a, ports.owner, hb, beat(Value::Null, ack)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["commands"], json!([]));
    let (_, list) = owner
        .api(
            Method::GET,
            &format!("/tenants/{DEMO_TENANT_ID}/commands"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list["meta"]["total"], 1);
    assert_eq!(list["data"][0]["status"], "done", "{list}");
    assert!(list["data"][0]["delivered_at"].is_string());
    // A new press after that queues a new one.
    let (_, body) = owner.api(Method::POST, &path, Some(&token), None).await;
    assert_ne!(body["data"]["id"], id.as_str());

    // An archived tenant is not asked; an unknown one is 404.
    let (status, _) = owner
        .api(
            Method::PATCH,
            &format!("/tenants/{DEMO_TENANT_ID}"),
            Some(&token),
            Some(json!({ "status": "archived" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = owner.api(Method::POST, &path, Some(&token), None).await;
    assert_error(status, &body, StatusCode::CONFLICT, "TENANT_ARCHIVED");
    let missing = "/tenants/00000000-0000-4000-8000-00000000dead";
    for (method, p) in [(Method::POST, "sync"), (Method::GET, "backups")] {
        let (status, body) = owner
            .api(method, &format!("{missing}/{p}"), Some(&token), None)
            .await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    assert_eq!(count(&owner, "tenant_commands").await, 2);
}

#[tokio::test]
async fn unshipped_changes_older_than_the_bound_degrade_the_tenant() {
    let (pki, ports, owner, token) = plane_owner(&[]).await;
    let a = pki.client(Some("hospital"));
    let hb = contracts::paths::HEARTBEAT;
    let health = || async {
        let (status, body) = owner
            .api(
                Method::GET,
                &format!("/tenants/{DEMO_TENANT_ID}/database-health"),
                Some(&token),
                None,
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        body["data"].clone()
    };
    // Nothing pending: healthy, lag 0.
    let sync = json!({ "pending_changes": 0, "oldest_pending_at": null, "last_batch_no": 4, "last_shipped_at": ago(30) });
    let (status, body) = internal_post(&a, ports.owner, hb, beat(sync, json!([]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let h = health().await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["sync"]["pending_changes"], 0);
    assert_eq!(h["sync"]["lag_secs"], 0);
    assert_eq!(h["sync"]["hospital_last_batch_no"], 4);
    assert!(h["sync"]["hospital_last_shipped_at"].is_string());
    assert_eq!(h["sync"]["warning"], Value::Null);
    assert_eq!(h["sync"]["batches"], 0, "owner holds none");
    // Pending for ten minutes: within the default hour.
    let sync = json!({ "pending_changes": 12, "oldest_pending_at": ago(600), "last_batch_no": 4, "last_shipped_at": null });
    internal_post(&a, ports.owner, hb, beat(sync, json!([]))).await;
    let h = health().await;
    assert_eq!(h["status"], "healthy", "{h}");
    let lag = h["sync"]["lag_secs"].as_i64().unwrap();
    assert!((600..700).contains(&lag), "{h}");
    // Pending for two hours: degraded, saying why.
    let sync = json!({ "pending_changes": 12, "oldest_pending_at": ago(7200), "last_batch_no": 4, "last_shipped_at": null });
    internal_post(&a, ports.owner, hb, beat(sync, json!([]))).await;
    let h = health().await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["sync"]["warning"]
            .as_str()
            .unwrap()
            .starts_with("12 changes not shipped"),
        "{h}"
    );
    let (_, list) = owner
        .api(Method::GET, "/tenants?health=degraded", Some(&token), None)
        .await;
    assert!(list.to_string().contains(DEMO_TENANT_ID), "{list}");
    // A negative count is refused; a hospital that stops reporting its copy
    // is judged without it.
    let sync = json!({ "pending_changes": -1, "oldest_pending_at": null, "last_batch_no": 0, "last_shipped_at": null });
    let (status, body) = internal_post(&a, ports.owner, hb, beat(sync, json!([]))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    internal_post(&a, ports.owner, hb, beat(Value::Null, json!([]))).await;
    let h = health().await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["sync"]["pending_changes"], Value::Null);

    // The bound is the owner's to set, within reason.
    let (pki2, ports2, owner2, token2) =
        plane_owner(&[("OWNER__TENANT_HEALTH__SYNC_LAG_DEGRADED_SECS", "300")]).await;
    let a2 = pki2.client(Some("hospital"));
    let sync = json!({ "pending_changes": 1, "oldest_pending_at": ago(600), "last_batch_no": 0, "last_shipped_at": null });
    internal_post(&a2, ports2.owner, hb, beat(sync, json!([]))).await;
    let (_, h) = owner2
        .api(
            Method::GET,
            &format!("/tenants/{DEMO_TENANT_ID}/database-health"),
            Some(&token2),
            None,
        )
        .await;
    assert_eq!(h["data"]["status"], "degraded", "{h}");
    for bad in ["0", "59", "31536001"] {
        let err = testkit::try_spawn_with(
            Service::Owner,
            &[("OWNER__TENANT_HEALTH__SYNC_LAG_DEGRADED_SECS", bad)],
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{bad} was accepted"));
        assert!(
            format!("{err:#}").contains("sync_lag_degraded_secs"),
            "{err:#}"
        );
    }
    assert!(testkit::try_spawn_with(
        Service::Owner,
        &[("OWNER__TENANT_HEALTH__SYNC_LAG_DEGRADED_SECS", "soon")],
    )
    .await
    .is_err());
}

#[tokio::test]
async fn only_the_owner_role_reads_the_copy_and_asks_for_a_sync() {
    let app = spawn_with(
        Service::Owner,
        &[
            ("OWNER__RBAC__ROLES__SUPPORT", "tenants.read"),
            ("OWNER__RBAC__ROLES__AUDITOR", "audit.read"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "support1", "support").await;
    app.create_user(&admin, "auditor1", "auditor").await;
    let support = app.login("support1", STRONG_PASSWORD).await;
    let auditor = app.login("auditor1", STRONG_PASSWORD).await;
    let audit_before = app.audit_rows().await.len();
    let t = DEMO_TENANT_ID;
    let endpoints = [
        (Method::GET, format!("/tenants/{t}/backups"), false),
        (Method::POST, format!("/tenants/{t}/sync"), true),
    ];
    for (method, path, write) in &endpoints {
        for token in [None, Some("not-a-token")] {
            let (status, reply) = app.api(method.clone(), path, token, None).await;
            assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
        let (status, reply) = app.api(method.clone(), path, Some(&auditor), None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(reply.get("data").is_none());
        let (status, reply) = app.api(method.clone(), path, Some(&support), None).await;
        if *write {
            assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        } else {
            assert_ok(status, &reply, StatusCode::OK);
        }
    }
    assert_eq!(count(&app, "tenant_commands").await, 0);
    let rows = app.audit_rows().await;
    assert!(
        rows[audit_before..]
            .iter()
            .all(|r| r.action != "tenant.command"),
        "a refused sync was audited as done"
    );
    // A hospital's token is no owner token.
    let hospital = testkit::spawn(Service::Hospital).await;
    let htoken = hospital.admin_token().await;
    for (method, path, _) in &endpoints {
        let (status, reply) = app.api(method.clone(), path, Some(&htoken), None).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let (status, reply) = app
        .api(Method::POST, &endpoints[1].1, Some(&admin), None)
        .await;
    assert_ok(status, &reply, StatusCode::ACCEPTED);
}
