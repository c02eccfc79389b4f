//! The online copy's core, without owner: every row a running hospital
//! writes reaches the change log; sealed batches rebuild an empty database
//! row for row with an intact audit chain; a changed, dropped, reordered
//! or replayed batch, or another key, stops the restore and names the
//! batch. (Shipping to owner over mTLS and `bulkhead restore` are tested
//! in `owner_backups` and the CLI's end-to-end test.)

use std::time::Duration;

use common::db::changelog;
use common::db::{Db, DbConn};
use contracts::backup::{BackupBatch, BackupKey};
use hospital::backup::restore;
use hospital::backup::ship::seal_next;
use serde_json::json;
use testkit::backup::Held;
use testkit::hospital::{add_to_care_team, patient_body, register_patient_id, user_id};
use testkit::TestDatabase;
use testkit::{assert_ok, spawn, Method, Service, StatusCode, TestApp};

/// Seal everything in the log, `rows` changes per batch, and take the
/// sealed batches out of the outbox (as owner's receipts would).
async fn seal_all(app: &TestApp, key: &BackupKey, rows: i64) -> Vec<BackupBatch> {
    let db = app.db();
    loop {
        let k = key.clone();
        let sealed = db
            .write(move |c| seal_next(c, &k, common::config::DEMO_TENANT_ID, rows))
            .await
            .unwrap();
        if sealed.is_none() {
            break;
        }
    }
    let bodies: Vec<String> = db
        .write(|c| {
            use diesel::prelude::*;
            use hospital::schema::sync_outbox::dsl::*;
            let all = sync_outbox
                .order(batch_no.asc())
                .select(body)
                .load::<String>(c)?;
            diesel::delete(sync_outbox).execute(c)?;
            Ok(all)
        })
        .await
        .unwrap();
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

/// A hospital that has done some work: patients registered, changed and
/// deleted, a care team, a staff account.
async fn busy_hospital() -> (TestApp, String) {
    let app = spawn(Service::Hospital).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let mut ids = Vec::new();
    for (first, last) in [("Ada", "Quist"), ("Bram", "Oduya"), ("Cleo", "Varga")] {
        ids.push(register_patient_id(&app, &admin, patient_body(first, last, "1980-02-03")).await);
    }
    add_to_care_team(&app, &admin, &ids[0], &doctor_id).await;
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/patients/{}", ids[0]),
            Some(&doctor),
            Some(json!({ "allergies": ["penicillin"], "blood_type": "O+" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("/patients/{}", ids[2]),
            Some(&admin),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    app.create_user(&admin, "nurse.backup", "nurse").await;
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{}", ids[0]),
            Some(&doctor),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    (app, ids[0].clone())
}

/// A new, empty hospital database with this release's schema, ready for a
/// restore (checked empty first).
fn empty_target() -> (TestDatabase, Db) {
    let target = TestDatabase::create(Service::Hospital).unwrap();
    let db = Db::connect(
        &target.url(),
        2,
        Duration::from_secs(10),
        hospital::SPEC.migrations,
    )
    .unwrap();
    {
        let mut c = db.conn().unwrap();
        restore::ensure_empty(&mut c).unwrap();
    }
    db.migrate_schema().unwrap();
    (target, db)
}

fn dump_all(conn: &mut DbConn) -> Vec<(String, Vec<String>)> {
    changelog::tables(conn)
        .unwrap()
        .into_iter()
        .map(|t| {
            let rows = changelog::dump(conn, &t).unwrap();
            (t.name, rows)
        })
        .collect()
}

#[tokio::test]
async fn sealed_batches_rebuild_an_empty_database_row_for_row() {
    let (app, _) = busy_hospital().await;
    let key = BackupKey::generate().unwrap();
    // Small batches: many of them, runs of one table cut across batches.
    let batches = seal_all(&app, &key, 7).await;
    assert!(batches.len() > 5, "only {} batches", batches.len());
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.batch_no, i as i64 + 1);
        assert!(b.rows >= 1 && b.rows <= 7);
    }
    // The log is empty once sealed; a write now is logged again.
    let logged = |app: &TestApp| {
        let db = app.db();
        async move {
            db.run(|c| {
                use diesel::prelude::*;
                Ok(hospital::schema::change_log::table
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(logged(&app).await, 0);

    let (_target, db) = empty_target();
    let mut conn = db.conn().unwrap();
    let mut seen = 0;
    let done = restore::run(
        &mut conn,
        &mut Held(batches.clone()),
        &key,
        common::config::DEMO_TENANT_ID,
        &mut |_| seen += 1,
    )
    .unwrap();
    assert_eq!(done.batches, batches.len() as i64);
    assert_eq!(seen, batches.len());
    assert_eq!(done.changes, batches.iter().map(|b| b.rows).sum::<i64>());

    // Row for row what the original holds (nothing wrote since sealing).
    let original = {
        let mut c = app.db().conn().unwrap();
        dump_all(&mut c)
    };
    let restored = dump_all(&mut conn);
    assert_eq!(original.len(), restored.len());
    for ((t1, r1), (t2, r2)) in original.iter().zip(&restored) {
        assert_eq!(t1, t2);
        assert_eq!(
            r1.len(),
            r2.len(),
            "table {t1}: {} rows restored for {}",
            r2.len(),
            r1.len()
        );
        assert_eq!(r1, r2, "table {t1} differs");
    }
    assert!(original
        .iter()
        .any(|(t, r)| t == "patients" && r.len() == 3));
    // The audit chain is intact and ends where the original's does.
    let v = common::audit::verify(&mut conn).unwrap();
    assert!(v.problem.is_none(), "{:?}", v.problem);
    let head = common::audit::head(&mut conn).unwrap();
    let mut c = app.db().conn().unwrap();
    assert_eq!(head, common::audit::head(&mut c).unwrap());

    // The restored database goes on from the copy: triggers are back (a
    // write is logged), nothing restored is logged again, and its next
    // batch follows the last one restored.
    let next: (i64, i64) = {
        use diesel::prelude::*;
        use hospital::schema::sync_state::dsl::*;
        sync_state
            .find(1)
            .select((next_batch_no, acked_batch_no))
            .first(&mut conn)
            .unwrap()
    };
    assert_eq!(next, (done.batches + 1, done.batches));
    {
        use diesel::prelude::*;
        use hospital::schema::change_log::dsl::*;
        assert_eq!(change_log.count().get_result::<i64>(&mut conn).unwrap(), 0);
        diesel::sql_query("UPDATE departments SET name = name || ' (restored)'")
            .execute(&mut conn)
            .unwrap();
        let first: i64 = change_log
            .select(diesel::dsl::min(seq))
            .first::<Option<i64>>(&mut conn)
            .unwrap()
            .unwrap();
        assert!(
            first > done.last_seq,
            "change numbers start again at {first}"
        );
    }
    let batch = seal_next(&mut conn, &key, common::config::DEMO_TENANT_ID, 1000).unwrap();
    assert_eq!(batch, Some(done.batches + 1));
    let body: String = {
        use diesel::prelude::*;
        use hospital::schema::sync_outbox::dsl::*;
        sync_outbox.select(body).first(&mut conn).unwrap()
    };
    let after: BackupBatch = serde_json::from_str(&body).unwrap();
    let mut chain = batches;
    chain.push(after);
    // The continued chain restores too, with the renamed departments.
    let (_t2, db2) = empty_target();
    let mut c2 = db2.conn().unwrap();
    restore::run(
        &mut c2,
        &mut Held(chain),
        &key,
        common::config::DEMO_TENANT_ID,
        &mut |_| {},
    )
    .unwrap();
    let renamed: Vec<String> = {
        let t = changelog::tables(&mut c2)
            .unwrap()
            .into_iter()
            .find(|t| t.name == "departments")
            .unwrap();
        changelog::dump(&mut c2, &t).unwrap()
    };
    assert!(!renamed.is_empty() && renamed.iter().all(|r| r.contains("(restored)")));
}

#[tokio::test]
async fn a_changed_dropped_reordered_or_replayed_batch_or_another_key_stops_the_restore() {
    let (app, _) = busy_hospital().await;
    let key = BackupKey::generate().unwrap();
    let batches = seal_all(&app, &key, 5).await;
    assert!(batches.len() >= 4);
    let tenant = common::config::DEMO_TENANT_ID;
    let renumber = |mut v: Vec<BackupBatch>| {
        // Owner could also renumber what it hands out: the numbers are in
        // the sealed header, so that breaks too; keep the list consistent.
        for (i, b) in v.iter_mut().enumerate() {
            b.batch_no = i as i64 + 1;
        }
        v
    };
    let mut swapped = batches.clone();
    swapped.swap(1, 2);
    let mut dropped = batches.clone();
    dropped.remove(1);
    let mut replayed = batches.clone();
    replayed.insert(2, batches[1].clone());
    let mut changed = batches.clone();
    changed[1].rows -= 1;
    let mut flipped = batches.clone();
    {
        // One base64 digit changed: other bytes, same length.
        let mut text: Vec<u8> = flipped[1].ciphertext.clone().into_bytes();
        text[8] = if text[8] == b'A' { b'B' } else { b'A' };
        flipped[1].ciphertext = String::from_utf8(text).unwrap();
    }
    let mut other_tenant = batches.clone();
    other_tenant[1].tenant_id = "00000000-0000-4000-8000-0000000000b2".into();
    // Written on the other backend, or by a newer schema than this
    // release's: refused before anything of the batch is opened.
    let mut other_backend = batches.clone();
    other_backend[1].backend = match other_backend[1].backend.as_str() {
        "sqlite" => "postgres".into(),
        _ => "sqlite".into(),
    };
    let mut newer_schema = batches.clone();
    newer_schema[1].schema_version = "99991231000000".into();
    let cases: Vec<(&str, Vec<BackupBatch>, BackupKey, &str)> = vec![
        ("reordered", renumber(swapped), key.clone(), "batch 2"),
        ("dropped", renumber(dropped), key.clone(), "batch 2"),
        ("replayed", renumber(replayed), key.clone(), "batch 3"),
        ("changed header", changed, key.clone(), "batch 2"),
        ("changed byte", flipped, key.clone(), "batch 2"),
        ("another tenant's", other_tenant, key.clone(), "batch 2"),
        (
            "another key",
            batches.clone(),
            BackupKey::generate().unwrap(),
            "another backup key",
        ),
        ("nothing", Vec::new(), key.clone(), "nothing to restore"),
        (
            "other backend",
            other_backend,
            key.clone(),
            "batch 2 was written on",
        ),
        (
            "newer schema",
            newer_schema,
            key.clone(),
            "restore with the release that wrote it",
        ),
    ];
    for (what, held, k, names) in cases {
        let (_target, db) = empty_target();
        let mut conn = db.conn().unwrap();
        let err =
            restore::run(&mut conn, &mut Held(held), &k, tenant, &mut |_| {}).expect_err(what);
        let msg = format!("{err:#}");
        assert!(msg.contains(names), "{what}: {msg}");
    }
    // A database that is not empty is refused before anything is written.
    let mut c = app.db().conn().unwrap();
    let err = restore::ensure_empty(&mut c).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[tokio::test]
async fn a_table_made_by_a_later_migration_is_logged_whole_then_followed() {
    let app = spawn(Service::Hospital).await;
    app.sql(
        "CREATE TABLE bh_test_later (id TEXT PRIMARY KEY NOT NULL, v TEXT); \
         INSERT INTO bh_test_later (id, v) VALUES ('a', 'one'), ('b', 'two');",
    )
    .await
    .unwrap();
    let logged = |app: &TestApp| {
        let db = app.db();
        async move {
            db.run(|c| {
                use diesel::prelude::*;
                use hospital::schema::change_log::dsl::*;
                Ok(change_log
                    .filter(tbl.eq("bh_test_later"))
                    .order(seq.asc())
                    .select((op, row_data))
                    .load::<(String, String)>(c)?)
            })
            .await
            .unwrap()
        }
    };
    assert!(logged(&app).await.is_empty(), "no trigger yet");
    let mut c = app.db().conn().unwrap();
    let done = changelog::install(&mut c, true).unwrap();
    assert_eq!(done.tables, vec!["bh_test_later".to_string()]);
    assert_eq!(done.baseline_rows, 2);
    // Nothing changed: a second install does nothing.
    assert_eq!(
        changelog::install(&mut c, true).unwrap(),
        changelog::Installed::default()
    );
    drop(c);
    // A key change is a delete of the old key, then the new row.
    app.sql("UPDATE bh_test_later SET id = 'c' WHERE id = 'a'; DELETE FROM bh_test_later WHERE id = 'b';")
        .await
        .unwrap();
    let rows = logged(&app).await;
    let ops: Vec<&str> = rows.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(ops, ["I", "I", "D", "U", "D"], "{rows:?}");
    let row: serde_json::Value = serde_json::from_str(&rows[3].1).unwrap();
    assert_eq!(row, json!({ "id": "c", "v": "one" }));
    let old: serde_json::Value = serde_json::from_str(&rows[2].1).unwrap();
    assert_eq!(old["id"], "a");
    // A new column: the table is logged whole again.
    app.sql("ALTER TABLE bh_test_later ADD COLUMN w TEXT")
        .await
        .unwrap();
    let mut c = app.db().conn().unwrap();
    let again = changelog::install(&mut c, true).unwrap();
    assert_eq!((again.tables.len(), again.baseline_rows), (1, 1));
}

/// The seqs of the audit rows in `batches` (opened in chain order after
/// `prev`, which moves to the last batch's tag); each is an insert.
fn audit_seqs(key: &BackupKey, batches: &[BackupBatch], prev: &mut [u8; 16]) -> Vec<i64> {
    let mut seqs = Vec::new();
    for b in batches {
        let (plain, tag) = contracts::backup::open(key, b, prev).unwrap();
        *prev = tag;
        for ch in contracts::backup::changes(b, &plain).unwrap() {
            if ch.t == "audit_log" {
                assert_eq!(ch.o, "I");
                let row: serde_json::Value = serde_json::from_str(ch.r.get()).unwrap();
                seqs.push(row["seq"].as_i64().unwrap());
            }
        }
    }
    seqs
}

/// The audit log has no change-log trigger: an audited request writes its
/// audit row once, and sealing copies the rows past the last one shipped
/// into the batch, in seq order, each exactly once; until then the
/// heartbeat counts them as pending.
#[tokio::test]
async fn audit_rows_ship_by_seq_when_sealed_not_through_a_trigger() {
    use diesel::prelude::*;
    let (app, patient) = busy_hospital().await;
    let db = app.db();
    let audit_max = |c: &mut DbConn| -> i64 {
        use common::schema::audit_log::dsl::*;
        audit_log
            .select(diesel::dsl::max(seq))
            .first::<Option<i64>>(c)
            .unwrap()
            .unwrap_or(0)
    };
    let logged_audit = |c: &mut DbConn| -> i64 {
        use hospital::schema::change_log::dsl::*;
        change_log
            .filter(tbl.eq("audit_log"))
            .count()
            .get_result(c)
            .unwrap()
    };
    let mut c = db.conn().unwrap();
    let written = audit_max(&mut c);
    assert!(written > 5, "the busy hospital wrote {written} audit rows");
    assert_eq!(logged_audit(&mut c), 0, "no trigger copies audit rows");
    let logged: i64 = hospital::schema::change_log::table
        .count()
        .get_result(&mut c)
        .unwrap();
    let health = hospital::backup::ship::health(&mut c).unwrap();
    assert_eq!(health.pending_changes, logged + written);
    drop(c);

    // Sealed: every audit row once, in seq order, after the other changes
    // logged before the seal.
    let key = BackupKey::generate().unwrap();
    let batches = seal_all(&app, &key, 1000).await;
    let mut prev = contracts::backup::GENESIS_TAG;
    assert_eq!(
        audit_seqs(&key, &batches, &mut prev),
        (1..=written).collect::<Vec<_>>()
    );
    let mut c = db.conn().unwrap();
    assert_eq!(
        hospital::backup::ship::health(&mut c)
            .unwrap()
            .pending_changes,
        0
    );
    drop(c);

    // One audit row and no other change: the heartbeat counts it and dates
    // the backlog from it.
    let pending = db
        .write(|c| {
            common::audit::append(
                c,
                &common::audit::Event::new("tester", "admin", "test.pending", "item:1"),
                &common::audit::Origin::default(),
            )
        })
        .await
        .unwrap();
    assert_eq!(pending, written + 1);
    let mut c = db.conn().unwrap();
    let at: chrono::NaiveDateTime = common::schema::audit_log::table
        .filter(common::schema::audit_log::seq.eq(pending))
        .select(common::schema::audit_log::occurred_at)
        .first(&mut c)
        .unwrap();
    let health = hospital::backup::ship::health(&mut c).unwrap();
    assert_eq!(health.pending_changes, 1);
    assert_eq!(health.oldest_pending_at, Some(at));
    drop(c);

    // An audited read later: only its rows follow, in the next batch.
    let doctor = app.login("doctor", "doctor123").await;
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/patients/{patient}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let mut c = db.conn().unwrap();
    let now_max = audit_max(&mut c);
    assert!(now_max > written);
    drop(c);
    let more = seal_all(&app, &key, 1000).await;
    let seqs = audit_seqs(&key, &more, &mut prev);
    assert_eq!(seqs, (written + 1..=now_max).collect::<Vec<_>>());
}

/// Revert the migration that took the audit log's trigger away (by name:
/// later migrations, the kernel's too, may have run after it).
fn revert_audit_shipped<C, S>(conn: &mut C, source: S)
where
    C: diesel_migrations::MigrationHarness<C::Backend> + diesel::Connection,
    S: diesel::migration::MigrationSource<C::Backend>,
{
    let migration = source
        .migrations()
        .unwrap()
        .into_iter()
        .find(|m| m.name().to_string().ends_with("audit_shipped_by_seq"))
        .expect("the audit_shipped_by_seq migration");
    conn.revert_migration(&*migration).unwrap();
}

/// A database from before: its audit_log carried the trigger, so every
/// audit row is in the log already. The migration drops the trigger and
/// starts shipping after the last row; a later start does not put the
/// trigger back.
#[tokio::test]
async fn upgrading_drops_the_audit_trigger_and_ships_after_the_last_logged_row() {
    use diesel::prelude::*;
    let app = spawn(Service::Hospital).await;
    let _admin = app.admin_token().await;
    let db = app.db();
    let mut c = db.conn().unwrap();
    // Back to the schema before: the last migration reverted, the old
    // trigger and its bookkeeping row put back.
    let trigger = match &mut *c {
        DbConn::Sqlite(s) => {
            revert_audit_shipped(s, (hospital::SPEC.migrations.sqlite)());
            "CREATE TRIGGER bh_cl_audit_log_i AFTER INSERT ON audit_log BEGIN \
             INSERT INTO change_log (tbl, op, row_data) VALUES ('audit_log', 'I', json_object('seq', NEW.seq)); END;"
        }
        DbConn::Pg(p) => {
            revert_audit_shipped(p, (hospital::SPEC.migrations.postgres)());
            "CREATE TRIGGER bh_cl AFTER INSERT OR UPDATE OR DELETE ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION bh_change_log('seq');"
        }
    };
    use diesel::connection::SimpleConnection;
    c.batch_execute(trigger).unwrap();
    c.batch_execute(
        "INSERT INTO change_log_tables (tbl, signature, installed_at) \
         VALUES ('audit_log', 'before', '2026-12-01 00:00:00')",
    )
    .unwrap();
    drop(c);
    // The old trigger logs a row (as it did before the upgrade).
    let _again = app.admin_token().await;
    let mut c = db.conn().unwrap();
    let logged: i64 = hospital::schema::change_log::table
        .filter(hospital::schema::change_log::tbl.eq("audit_log"))
        .count()
        .get_result(&mut c)
        .unwrap();
    assert!(logged >= 1);
    drop(c);

    db.migrate().unwrap();
    let mut c = db.conn().unwrap();
    let last: Option<i64> = common::schema::audit_log::table
        .select(diesel::dsl::max(common::schema::audit_log::seq))
        .first(&mut c)
        .unwrap();
    let shipped: i64 = hospital::schema::sync_state::table
        .find(1)
        .select(hospital::schema::sync_state::audit_shipped)
        .first(&mut c)
        .unwrap();
    assert_eq!(
        Some(shipped),
        last,
        "shipping goes on after the last logged row"
    );
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = "SELECT COUNT(*) AS n FROM change_log_tables WHERE tbl = 'audit_log'";
    let known: Known = match &mut *c {
        DbConn::Sqlite(s) => diesel::sql_query(count).get_result(s).unwrap(),
        DbConn::Pg(p) => diesel::sql_query(count).get_result(p).unwrap(),
    };
    assert_eq!(known.n, 0);
    drop(c);
    // A new audit row is not logged by a trigger any more.
    let before = logged;
    let _third = app.admin_token().await;
    let mut c = db.conn().unwrap();
    let after: i64 = hospital::schema::change_log::table
        .filter(hospital::schema::change_log::tbl.eq("audit_log"))
        .count()
        .get_result(&mut c)
        .unwrap();
    assert_eq!(after, before, "the audit trigger is gone");
}
