//! The online copy over the real plane: a hospital ships its change log to
//! owner over mTLS on its own and on owner's "sync now"; the batches owner
//! holds, fetched with the hospital's certificate, rebuild its patients
//! and an intact audit chain; while owner is unreachable the hospital
//! seals at most a few batches, keeps the rest in its log, and catches up
//! without a gap or a duplicate once owner is back (by retrying a failed
//! round within seconds, not at the next interval).

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::db::changelog;
use common::db::Db;
use contracts::backup::{BackupBatch, BackupBatchInfo};
use hospital::backup::restore;
use serde_json::Value;
use testkit::backup::Held;
use testkit::hospital::{patient_body, register_patient_id};
use testkit::plane::{Pki, PlanePorts};
use testkit::{assert_ok, Method, Service, StatusCode, TestApp, TestDatabase};

use crate::plane::{internal_get, issue_all, start};

/// Poll `f` until it gives `Some`, for at most 40 s.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every batch owner holds for the hospital's tenant, fetched as a restore
/// does: listed, then one by one, with the hospital's certificate.
async fn held(pki: &Pki, ports: &PlanePorts) -> Vec<BackupBatch> {
    let client = pki.client(Some("hospital"));
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let path = format!("{}?after={after}&limit=100", contracts::paths::BACKUPS);
        let (status, body) = internal_get(&client, ports.owner, &path).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        let infos: Vec<BackupBatchInfo> = serde_json::from_value(body["data"].clone()).unwrap();
        if infos.is_empty() {
            return out;
        }
        for i in infos {
            let path = contracts::paths::BACKUP.replace("{batch_no}", &i.batch_no.to_string());
            let (status, body) = internal_get(&client, ports.owner, &path).await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            out.push(serde_json::from_value(body["data"].clone()).unwrap());
            after = i.batch_no;
        }
    }
}

async fn sync_health(owner: &TestApp, token: &str) -> Value {
    let (status, body) = owner
        .api(
            Method::GET,
            &format!("/tenants/{DEMO_TENANT_ID}/database-health"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    body["data"]["sync"].clone()
}

/// The hospital's rows of `table`, as the change log renders them.
fn rows(db: &Db, table: &str) -> Vec<String> {
    let mut c = db.conn().unwrap();
    let t = changelog::tables(&mut c)
        .unwrap()
        .into_iter()
        .find(|t| t.name == table)
        .unwrap();
    changelog::dump(&mut c, &t).unwrap()
}

fn outbox(db: &Db) -> (i64, i64) {
    use diesel::prelude::*;
    let mut c = db.conn().unwrap();
    let sealed = hospital::schema::sync_outbox::table
        .count()
        .get_result::<i64>(&mut c)
        .unwrap();
    let logged = hospital::schema::change_log::table
        .count()
        .get_result::<i64>(&mut c)
        .unwrap();
    (sealed, logged)
}

#[tokio::test]
async fn a_hospital_ships_its_copy_to_owner_and_owners_batches_restore_it() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    // A long interval: only owner's "sync now" ships after the first round.
    let hospital = start(
        Service::Hospital,
        &pki,
        &ports,
        &[
            ("HOSPITAL__BACKUP__INTERVAL_SECS", "3600"),
            ("HOSPITAL__BACKUP__BATCH_ROWS", "25"),
        ],
    )
    .await;
    let token = owner.admin_token().await;
    // The first round (at start) ships what the hospital held.
    let first = until("the first batches", || async {
        let h = held(&pki, &ports).await;
        (!h.is_empty()).then_some(h.len())
    })
    .await;

    let admin = hospital.admin_token().await;
    let mut patients = Vec::new();
    for (f, l) in [("Wren", "Halloran"), ("Odile", "Marsh"), ("Kofi", "Brandt")] {
        patients
            .push(register_patient_id(&hospital, &admin, patient_body(f, l, "1971-05-06")).await);
    }
    // Sync now: queued on owner, carried by the next heartbeat answer.
    let (status, body) = owner
        .api(
            Method::POST,
            &format!("/tenants/{DEMO_TENANT_ID}/sync"),
            Some(&token),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::ACCEPTED);
    let copy = until("the patients in owner's copy", || async {
        let h = held(&pki, &ports).await;
        let (sealed, _) = outbox(&hospital.db());
        (h.len() > first && sealed == 0).then_some(h)
    })
    .await;
    for (i, b) in copy.iter().enumerate() {
        assert_eq!(b.batch_no, i as i64 + 1, "owner's batches have a gap");
        assert!(b.rows <= 25);
    }
    // Owner's list and health say the same.
    let (status, list) = owner
        .api(
            Method::GET,
            &format!("/tenants/{DEMO_TENANT_ID}/backups"),
            Some(&token),
            None,
        )
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert!(
        list["data"].as_array().is_some_and(|l| !l.is_empty()),
        "{list}"
    );
    let n = copy.len() as i64;
    let h = until("the hospital's report of its copy", || async {
        let s = sync_health(&owner, &token).await;
        (s["hospital_last_batch_no"].as_i64() >= Some(n)).then_some(s)
    })
    .await;
    assert!(h["batches"].as_i64() >= Some(n), "{h}");
    assert!(h["last_batch_no"].as_i64() >= Some(n), "{h}");
    assert!(h["lag_secs"].is_i64() && h["warning"].is_null(), "{h}");

    // An idle hospital writes nothing to its copy: once the sync command's
    // acknowledgement is in, three more heartbeats (one a second) add no
    // change to the log.
    let logged = || async {
        hospital
            .db()
            .run(|c| {
                use diesel::prelude::*;
                use hospital::schema::change_log::dsl::*;
                Ok(change_log
                    .select((seq, tbl, op))
                    .load::<(i64, String, String)>(c)?)
            })
            .await
            .unwrap()
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = logged().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = logged().await;
    assert_eq!(idle, settled, "an idle hospital logged changes");
    assert!(idle.len() <= 2, "{idle:?}");

    // Owner's batches rebuild the patients, with an intact audit chain.
    let target = TestDatabase::create(Service::Hospital).unwrap();
    let db = Db::connect(
        &target.url(),
        2,
        Duration::from_secs(10),
        hospital::SPEC.migrations,
    )
    .unwrap();
    let mut conn = db.conn().unwrap();
    restore::ensure_empty(&mut conn).unwrap();
    db.migrate_schema().unwrap();
    let key = pki.backup_key("hospital");
    let done = restore::run(
        &mut conn,
        &mut Held(copy.clone()),
        &key,
        DEMO_TENANT_ID,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(done.batches, copy.len() as i64);
    drop(conn);
    let restored = rows(&db, "patients");
    assert_eq!(restored.len(), 3);
    assert_eq!(restored, rows(&hospital.db(), "patients"));
    for id in &patients {
        assert!(restored.iter().any(|r| r.contains(id.as_str())));
    }
    let mut conn = db.conn().unwrap();
    let v = common::audit::verify(&mut conn).unwrap();
    assert!(v.problem.is_none(), "{:?}", v.problem);
    assert!(v.rows > 0);
}

#[tokio::test]
async fn while_owner_is_unreachable_changes_wait_and_then_catch_up_without_a_gap() {
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    // Owner is not running yet: nothing can be shipped. An hour's interval
    // and no "sync now": only the retries after failed rounds (1 s, 2 s,
    // 4 s, …) can ship the catch-up below.
    let hospital = start(
        Service::Hospital,
        &pki,
        &ports,
        &[
            ("HOSPITAL__BACKUP__BATCH_ROWS", "5"),
            ("HOSPITAL__BACKUP__INTERVAL_SECS", "3600"),
        ],
    )
    .await;
    let admin = hospital.admin_token().await;
    for i in 0..6 {
        register_patient_id(
            &hospital,
            &admin,
            patient_body("Ines", &format!("Falk{i}"), "1990-01-01"),
        )
        .await;
    }
    // Sealing pauses at four unsent batches; the rest stays in the log.
    let (sealed, logged) = until("four sealed batches", || async {
        let (s, l) = outbox(&hospital.db());
        (s == hospital::backup::ship::MAX_UNSENT).then_some((s, l))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        outbox(&hospital.db()).0,
        sealed,
        "sealing went on while owner was away"
    );
    assert!(
        logged > 0,
        "every change was sealed: the test wrote too little"
    );

    // Owner comes up: everything arrives, numbered without a gap.
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let token = owner.admin_token().await;
    let copy = until("the catch-up", || async {
        let (s, l) = outbox(&hospital.db());
        if s > 0 || l > 3 {
            return None;
        }
        Some(held(&pki, &ports).await)
    })
    .await;
    assert!(copy.len() as i64 > sealed);
    for (i, b) in copy.iter().enumerate() {
        assert_eq!(b.batch_no, i as i64 + 1);
    }
    let mut seqs: Vec<(i64, i64)> = copy.iter().map(|b| (b.first_seq, b.last_seq)).collect();
    seqs.sort();
    assert!(
        seqs.windows(2).all(|w| w[0].1 < w[1].0),
        "batches overlap: {seqs:?}"
    );
    let n = copy.len() as i64;
    let s = until("owner's view of the catch-up", || async {
        let s = sync_health(&owner, &token).await;
        (s["hospital_last_batch_no"].as_i64() >= Some(n)).then_some(s)
    })
    .await;
    assert!(s["batches"].as_i64() >= Some(n), "{s}");
}

#[tokio::test]
async fn a_batch_owner_refuses_is_a_critical_event_and_shipping_stops_with_nothing_dropped() {
    use contracts::backup::{self, BackupKey, BatchHeader, GENESIS_TAG};
    let pki = Pki::new();
    issue_all(&pki);
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    // Someone with the hospital's certificate got a batch 1 in first.
    let mut lines = Vec::new();
    backup::push_change(&mut lines, 1, "departments", "I", r#"{"id":"x"}"#).unwrap();
    let header = BatchHeader {
        tenant_id: DEMO_TENANT_ID.into(),
        batch_no: 1,
        first_seq: 1,
        last_seq: 1,
        rows: 1,
        backend: "sqlite".into(),
        schema_version: "1".into(),
        created_at: common::db::now(),
    };
    let (squatter, _) = backup::seal(
        &BackupKey::generate().unwrap(),
        header,
        &GENESIS_TAG,
        &lines,
    )
    .unwrap();
    let (status, body) = crate::plane::internal_post(
        &pki.client(Some("hospital")),
        ports.owner,
        contracts::paths::BACKUPS,
        serde_json::to_value(&squatter).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let hospital = start(Service::Hospital, &pki, &ports, &[]).await;
    let db = hospital.db();
    let event = until("the hospital's backup.refused event", || {
        let db = db.clone();
        async move {
            db.run(|c| {
                use common::schema::security_outbox::dsl::*;
                use diesel::prelude::*;
                Ok(security_outbox
                    .filter(kind.eq("backup.refused"))
                    .select((severity, details))
                    .first::<(String, String)>(c)
                    .optional()?)
            })
            .await
            .unwrap()
        }
    })
    .await;
    assert_eq!(event.0, "critical");
    assert!(event.1.contains("BACKUP_CONFLICT"), "{}", event.1);
    // Nothing dropped: the hospital's batch 1 waits, with the reason; owner
    // still holds only the squatter's.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting: Vec<(i64, Option<String>)> = db
        .run(|c| {
            use diesel::prelude::*;
            use hospital::schema::sync_outbox::dsl::*;
            Ok(sync_outbox
                .order(batch_no.asc())
                .select((batch_no, last_error))
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(waiting.first().map(|w| w.0), Some(1), "{waiting:?}");
    assert!(
        waiting[0].1.as_deref().is_some_and(|e| e.contains("409")),
        "{waiting:?}"
    );
    let copy = held(&pki, &ports).await;
    assert_eq!(copy, vec![squatter]);
    // Raised once, not at every retry.
    let raised: i64 = db
        .run(|c| {
            use common::schema::security_outbox::dsl::*;
            use diesel::prelude::*;
            Ok(security_outbox
                .filter(kind.eq("backup.refused"))
                .count()
                .get_result(c)?)
        })
        .await
        .unwrap();
    assert_eq!(raised, 1);
    drop(owner);
}
