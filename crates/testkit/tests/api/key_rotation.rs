//! Finding 13: keys can be rotated in practice. Data key rotation while
//! requests write and read, the background and CLI re-encryption that
//! moves old rows onto the active key (resumable, audited with counts
//! only), master key rotation (rewrap) followed by a restart on the new
//! key, and blind indexes under an HKDF-derived index key with re-indexing
//! of rows indexed under the old derivation. SQLite, and PostgreSQL under
//! `BULKHEAD_TEST_PG_URL`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::crypto::{key_id_of, Keyring, MasterKey, LEGACY_INDEX_VERSION};
use common::db::{write_tx, DbConn};
use common::schema::index_keys;
use diesel::prelude::*;
use hospital::patients::store::Row;
use hospital::reencrypt::{self, worker};
use hospital::schema::patients;
use serde_json::{json, Value};
use testkit::hospital::{register_patient, search_ids};
use testkit::{assert_ok, Method, Service, StatusCode, TestApp};

/// A fresh master key as the configuration gives it (64 hex characters).
fn master_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn keyring(master: &str) -> Keyring {
    Keyring::new(MasterKey::from_hex_or_base64(master).unwrap())
}

/// A hospital whose master key the test knows, with `extra` settings.
async fn spawn_keyed(master: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("HOSPITAL__CRYPTO__MASTER_KEY", master)];
    env.extend_from_slice(extra);
    testkit::spawn_with(Service::Hospital, &env).await
}

/// Run blocking database work on a connection of the app's pool (as the
/// CLI does on its own connection, beside the server's writer).
async fn on_db<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut DbConn) -> T + Send + 'static,
) -> T {
    let db = app.db();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        f(&mut conn)
    })
    .await
    .unwrap()
}

/// What a test expects of one patient.
#[derive(Clone, Debug)]
struct Expected {
    id: String,
    mrn: String,
    first: String,
    last: String,
    dob: String,
    allergies: Value,
}

async fn register(app: &TestApp, token: &str, n: usize) -> Expected {
    let first = format!("Ottoline{n}");
    let last = format!("Vexworth{n}");
    let dob = format!("19{:02}-{:02}-{:02}", 40 + n % 50, 1 + n % 12, 1 + n % 28);
    let allergies = json!([format!("allergen-{n}")]);
    let body = json!({
        "first_name": first, "last_name": last, "date_of_birth": dob,
        "sex": "female", "allergies": allergies,
    });
    let p = register_patient(app, token, body).await;
    Expected {
        id: p["id"].as_str().unwrap().to_string(),
        mrn: p["mrn"].as_str().unwrap().to_string(),
        first,
        last,
        dob,
        allergies,
    }
}

/// Every patient reads with its values, and search finds it by last name,
/// by full name and by MRN.
async fn check_all(app: &TestApp, token: &str, expected: &[Expected]) {
    for e in expected {
        let (status, body) = app
            .api(
                Method::GET,
                &format!("/patients/{}", e.id),
                Some(token),
                None,
            )
            .await;
        assert_ok(status, &body, StatusCode::OK);
        let d = &body["data"];
        assert_eq!(d["first_name"], e.first.as_str(), "{e:?}");
        assert_eq!(d["last_name"], e.last.as_str(), "{e:?}");
        assert_eq!(d["date_of_birth"], e.dob.as_str(), "{e:?}");
        assert_eq!(d["mrn"], e.mrn.as_str(), "{e:?}");
        assert_eq!(d["allergies"], e.allergies, "{e:?}");
        for term in [
            e.last.clone(),
            format!("{} {}", e.first, e.last),
            e.mrn.clone(),
        ] {
            let found = search_ids(app, token, &term).await;
            assert!(found.contains(&e.id), "search {term:?} misses {e:?}");
        }
    }
}

fn the_tenant(conn: &mut DbConn) -> String {
    let t = reencrypt::tenants(conn).unwrap();
    assert_eq!(t.len(), 1, "{t:?}");
    t[0].clone()
}

/// Every sealed value of every row names the tenant's active key and every
/// row's indexes are of its current index version.
fn all_current(conn: &mut DbConn, kr: &Keyring, tenant: &str) -> bool {
    let active = kr
        .keys(conn, tenant)
        .unwrap()
        .into_iter()
        .find(|k| k.active)
        .unwrap()
        .key_id;
    let version = kr.current_index_version(conn, tenant).unwrap();
    let rows: Vec<Row> = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .select(Row::as_select())
        .load(conn)
        .unwrap();
    rows.iter().all(|r| {
        let opt = [
            &r.contact_enc,
            &r.address_enc,
            &r.emergency_contact_enc,
            &r.insurance_enc,
            &r.allergies_enc,
            &r.blood_type_enc,
        ];
        [&r.mrn_enc, &r.first_name_enc, &r.last_name_enc, &r.dob_enc]
            .into_iter()
            .chain(opt.into_iter().map(|o| o.as_ref().unwrap()))
            .all(|v| key_id_of(v).unwrap() == active)
            && Some(r.index_version) == version
    })
}

/// `keys rotate` as the CLI does it: one transaction with its audit row.
fn rotate(conn: &mut DbConn, kr: &Keyring, tenant: &str) -> String {
    write_tx(conn, |c| {
        let id = kr.rotate(c, tenant)?;
        let event = common::audit::Event::new("cli", "system", "keys.rotate", "tenant")
            .tenant(Some(tenant))
            .details(json!({ "key_id": id }));
        common::audit::append(c, &event, &common::audit::Origin::default())?;
        Ok(id)
    })
    .unwrap()
}

/// The audit rows of re-encryption batches: counts only, no PHI.
async fn reencrypt_audit(app: &TestApp, expected: &[Expected]) -> i64 {
    let rows = app.audit_rows().await;
    let batches: Vec<_> = rows
        .iter()
        .filter(|r| r.action == reencrypt::batch::ACTION)
        .collect();
    let mut total = 0;
    for r in &batches {
        for e in expected {
            for secret in [&e.first, &e.last, &e.dob, &e.mrn] {
                assert!(!r.details.contains(secret.as_str()), "PHI in {r:?}");
            }
        }
        let d: Value = serde_json::from_str(&r.details).unwrap();
        total += d["resealed"].as_i64().unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding_13_rotating_mid_traffic_and_reencrypting_loses_nothing() {
    let master = master_hex();
    let app = spawn_keyed(
        &master,
        &[
            ("HOSPITAL__REENCRYPT__IDLE_SECS", "1"),
            ("HOSPITAL__REENCRYPT__PAUSE_MS", "0"),
            ("HOSPITAL__REENCRYPT__BATCH_SIZE", "7"),
        ],
    )
    .await;
    let app = Arc::new(app);
    let token = app.admin_token().await;
    let mut expected = Vec::new();
    for n in 0..24 {
        expected.push(register(&app, &token, n).await);
    }
    let tenant = on_db(&app, the_tenant).await;
    let kr = keyring(&master);

    // Traffic: registrations and changes on one side, reads and searches
    // of the first patients on the other, while keys rotate.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (app, token, mut before) = (app.clone(), token.clone(), expected.clone());
        tokio::spawn(async move {
            let mut added = Vec::new();
            for n in 24..48 {
                added.push(register(&app, &token, n).await);
                let e = &mut before[n - 24];
                let allergies = json!([format!("changed-{n}")]);
                let (status, body) = app
                    .api(
                        Method::PATCH,
                        &format!("/patients/{}", e.id),
                        Some(&token),
                        Some(json!({ "allergies": allergies })),
                    )
                    .await;
                assert_ok(status, &body, StatusCode::OK);
                e.allergies = allergies;
            }
            (before, added)
        })
    };
    let reader = {
        let (app, token, stop, watched) = (
            app.clone(),
            token.clone(),
            stop.clone(),
            expected[..6].to_vec(),
        );
        tokio::spawn(async move {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                for e in &watched {
                    let (status, body) = app
                        .api(
                            Method::GET,
                            &format!("/patients/{}", e.id),
                            Some(&token),
                            None,
                        )
                        .await;
                    assert_ok(status, &body, StatusCode::OK);
                    assert_eq!(body["data"]["last_name"], e.last.as_str());
                    assert!(search_ids(&app, &token, &e.last).await.contains(&e.id));
                }
                rounds += 1;
            }
            rounds
        })
    };
    let rotations = {
        let kr = kr.clone();
        let tenant = tenant.clone();
        on_db(&app, move |c| {
            let first = rotate(c, &kr, &tenant);
            std::thread::sleep(std::time::Duration::from_millis(150));
            let cli = worker::run_to_completion(c, &kr, &tenant, 4, "cli", None).unwrap();
            let second = rotate(c, &kr, &tenant);
            (first, second, cli)
        })
    }
    .await;
    let (before, added) = writer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let rounds = reader.await.unwrap();
    assert!(rounds > 0);
    assert_ne!(rotations.0, rotations.1);

    // The background worker finishes what is left (rows of the second key
    // rotation); nothing is lost on the way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (kr, t) = (kr.clone(), tenant.clone());
        if on_db(&app, move |c| all_current(c, &kr, &t)).await {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "re-encryption did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut all = before;
    all.extend(expected[24..].iter().cloned());
    all.extend(added);
    assert_eq!(all.len(), 48);
    check_all(&app, &token, &all).await;
    assert!(
        reencrypt_audit(&app, &all).await >= 24,
        "the batches are audited with their counts"
    );
    let v = app.verify_audit().await;
    assert!(v.is_intact(), "{v:?}");
}

#[tokio::test]
async fn finding_13_rewrap_under_a_new_master_key_then_the_server_starts_and_reads() {
    let master = master_hex();
    let app = spawn_keyed(&master, &[]).await;
    let token = app.admin_token().await;
    let mut expected = Vec::new();
    for n in 0..5 {
        expected.push(register(&app, &token, n).await);
    }
    let tenant = on_db(&app, the_tenant).await;
    let kr = keyring(&master);
    {
        let (kr, t) = (kr.clone(), tenant.clone());
        on_db(&app, move |c| rotate(c, &kr, &t)).await;
    }
    expected.push(register(&app, &token, 5).await);
    app.stop().await;

    let new = master_hex();
    let (kr2, new2) = (kr.clone(), new.clone());
    let done = on_db(&app, move |c| {
        let new_key = MasterKey::from_hex_or_base64(&new2).unwrap();
        let first = write_tx(c, |c| kr2.rewrap_all(c, &new_key)).unwrap();
        // Safe to run again: nothing left to rewrap.
        let again = write_tx(c, |c| kr2.rewrap_all(c, &new_key)).unwrap();
        (first, again)
    })
    .await;
    assert_eq!(done.0.data_keys, 2, "{done:?}");
    assert_eq!(done.0.index_keys, 1, "{done:?}");
    assert_eq!(done.1.already, 3, "{done:?}");

    // The old key no longer starts the server; the new one does and reads.
    let url = app.database_url().to_string();
    let old = testkit::try_spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__DATABASE__URL", url.as_str()),
            ("HOSPITAL__CRYPTO__MASTER_KEY", master.as_str()),
        ],
    )
    .await;
    assert!(
        old.is_err(),
        "the old master key must not open the rewrapped keys"
    );
    let restarted = testkit::spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__DATABASE__URL", url.as_str()),
            ("HOSPITAL__CRYPTO__MASTER_KEY", new.as_str()),
        ],
    )
    .await;
    let token = restarted.admin_token().await;
    check_all(&restarted, &token, &expected).await;
    expected.push(register(&restarted, &token, 6).await);
    check_all(&restarted, &token, &expected[6..]).await;
    restarted.stop().await;
}

#[tokio::test]
async fn finding_13_reencryption_resumes_after_an_interruption() {
    let master = master_hex();
    let app = spawn_keyed(&master, &[]).await;
    let token = app.admin_token().await;
    let mut expected = Vec::new();
    for n in 0..12 {
        expected.push(register(&app, &token, n).await);
    }
    let tenant = on_db(&app, the_tenant).await;
    let kr = keyring(&master);
    // A break-the-glass reason sealed under the first key too.
    let nurse = app.login("nurse", "nurse123").await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/patients/{}/break-glass", expected[0].id),
            Some(&nurse),
            Some(json!({ "reason": "Collapsed in the lobby, records unreachable" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::CREATED);
    let (kr1, t1) = (kr.clone(), tenant.clone());
    let (first, progress) = on_db(&app, move |c| {
        rotate(c, &kr1, &t1);
        // Interrupted after one batch of five.
        let first = worker::run_to_completion(c, &kr1, &t1, 5, "cli", Some(1)).unwrap();
        (first, reencrypt::batch::progress(c, &t1).unwrap().unwrap())
    })
    .await;
    assert_eq!(first.resealed, 5);
    assert!(
        !progress.done && !progress.cursor.is_empty(),
        "{progress:?}"
    );
    app.stop().await;

    // A restarted server's worker picks up at the cursor and finishes.
    let url = app.database_url().to_string();
    let restarted = testkit::spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__DATABASE__URL", url.as_str()),
            ("HOSPITAL__CRYPTO__MASTER_KEY", master.as_str()),
            ("HOSPITAL__REENCRYPT__IDLE_SECS", "1"),
            ("HOSPITAL__REENCRYPT__BATCH_SIZE", "5"),
        ],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let done = loop {
        let t = tenant.clone();
        let p = on_db(&restarted, move |c| {
            reencrypt::batch::progress(c, &t).unwrap()
        })
        .await;
        if let Some(p) = p.filter(|p| p.done) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    // Each row re-sealed exactly once: no row started over.
    assert_eq!(done.resealed, 12, "{done:?}");
    let (kr2, t2) = (kr.clone(), tenant.clone());
    let versions: Vec<i64> = on_db(&restarted, move |c| {
        assert!(all_current(c, &kr2, &t2));
        let active = kr2
            .keys(c, &t2)
            .unwrap()
            .into_iter()
            .find(|k| k.active)
            .unwrap();
        let reasons: Vec<String> = hospital::schema::break_glass::table
            .select(hospital::schema::break_glass::reason_enc)
            .load(c)
            .unwrap();
        assert_eq!(reasons.len(), 1);
        assert_eq!(key_id_of(&reasons[0]).unwrap(), active.key_id);
        patients::table.select(patients::version).load(c).unwrap()
    })
    .await;
    assert!(versions.iter().all(|v| *v == 2), "{versions:?}");
    assert_eq!(reencrypt_audit(&restarted, &expected).await, 12);
    let token = restarted.admin_token().await;
    check_all(&restarted, &token, &expected).await;
    let (status, body) = restarted
        .api(Method::GET, "/break-glass?page_size=10", Some(&token), None)
        .await;
    assert_ok(status, &body, StatusCode::OK);
    assert_eq!(
        body["data"][0]["reason"],
        "Collapsed in the lobby, records unreachable"
    );
    let v = restarted.verify_audit().await;
    assert!(v.is_intact(), "{v:?}");
    restarted.stop().await;
    drop(token);
}

#[tokio::test]
async fn finding_13_rows_indexed_under_the_old_derivation_are_found_until_and_after_reindexing() {
    let master = master_hex();
    let app = spawn_keyed(&master, &[]).await;
    let token = app.admin_token().await;
    let mut expected = Vec::new();
    for n in 0..6 {
        expected.push(register(&app, &token, n).await);
    }
    let tenant = on_db(&app, the_tenant).await;
    let kr = keyring(&master);

    // Make the database look as it did before index keys: every row's
    // indexes derived from the first data key (version 1), no index key.
    let (kr1, t1) = (kr.clone(), tenant.clone());
    let changed = on_db(&app, move |c| {
        let legacy = kr1.legacy_indexer(c, &t1).unwrap();
        assert_eq!(legacy.version(), LEGACY_INDEX_VERSION);
        let rows: Vec<Row> = patients::table.select(Row::as_select()).load(c).unwrap();
        let mut changed = 0;
        for r in rows {
            let s = hospital::patients::sealed::Sealer::new(&kr1, &t1, &r.id, r.version);
            let ix = |p: &str, v: &str| legacy.index(p, v).unwrap();
            use common::crypto::{normalize_code, normalize_name};
            use hospital::patients::store::purpose;
            let mrn = ix(
                purpose::MRN,
                &normalize_code(&s.open(c, "mrn", &r.mrn_enc).unwrap()),
            );
            assert_ne!(
                mrn, r.mrn_idx,
                "the HKDF index differs from the old derivation"
            );
            diesel::update(patients::table.filter(patients::id.eq(&r.id)))
                .set((
                    patients::mrn_idx.eq(mrn),
                    patients::first_name_idx.eq(ix(
                        purpose::FIRST,
                        &normalize_name(&s.open(c, "first_name", &r.first_name_enc).unwrap()),
                    )),
                    patients::last_name_idx.eq(ix(
                        purpose::LAST,
                        &normalize_name(&s.open(c, "last_name", &r.last_name_enc).unwrap()),
                    )),
                    patients::dob_idx.eq(ix(
                        purpose::DOB,
                        &s.open(c, "date_of_birth", &r.dob_enc).unwrap(),
                    )),
                    patients::index_version.eq(LEGACY_INDEX_VERSION),
                ))
                .execute(c)
                .unwrap();
            changed += 1;
        }
        diesel::delete(index_keys::table).execute(c).unwrap();
        changed
    })
    .await;
    assert_eq!(changed, 6);
    // A fresh keyring (a restarted server) has no cached index key.
    app.stop().await;
    let url = app.database_url().to_string();
    let app2 = testkit::spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__DATABASE__URL", url.as_str()),
            ("HOSPITAL__CRYPTO__MASTER_KEY", master.as_str()),
        ],
    )
    .await;
    let token = app2.admin_token().await;
    check_all(&app2, &token, &expected).await;

    // A new patient gets the new index version; both kinds are found.
    expected.push(register(&app2, &token, 6).await);
    // A change of an old row re-indexes it whole under the new version.
    let (status, body) = app2
        .api(
            Method::PATCH,
            &format!("/patients/{}", expected[0].id),
            Some(&token),
            Some(json!({ "first_name": "Renamed" })),
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    expected[0].first = "Renamed".into();
    check_all(&app2, &token, &expected).await;

    // Re-indexing (`keys reindex`) moves every row to the current version.
    let (kr2, t2) = (kr.clone(), tenant.clone());
    let (totals, versions) = on_db(&app2, move |c| {
        let totals = worker::run_to_completion(c, &kr2, &t2, 4, "cli", None).unwrap();
        assert!(all_current(c, &kr2, &t2));
        let v: Vec<i32> = patients::table
            .select(patients::index_version)
            .load(c)
            .unwrap();
        (totals, v)
    })
    .await;
    assert_eq!(totals.resealed, 5, "the five rows still on version 1");
    assert!(versions.iter().all(|v| *v == 2), "{versions:?}");
    check_all(&app2, &token, &expected).await;

    // An index key rotation and re-index keeps search working too.
    let (kr3, t3) = (kr.clone(), tenant.clone());
    on_db(&app2, move |c| {
        assert_eq!(write_tx(c, |c| kr3.rotate_index_key(c, &t3)).unwrap(), 3);
    })
    .await;
    check_all(&app2, &token, &expected).await;
    let (kr4, t4) = (kr.clone(), tenant.clone());
    let totals = on_db(&app2, move |c| {
        worker::run_to_completion(c, &kr4, &t4, 100, "cli", None).unwrap()
    })
    .await;
    assert_eq!(totals.resealed, 7);
    check_all(&app2, &token, &expected).await;
    let v = app2.verify_audit().await;
    assert!(v.is_intact(), "{v:?}");
    app2.stop().await;
}

#[tokio::test]
async fn message_bodies_are_resealed_under_the_new_key_and_still_read() {
    let master = master_hex();
    let app = spawn_keyed(&master, &[("HOSPITAL__REENCRYPT__ENABLED", "false")]).await;
    let nurse = app.login("nurse", "nurse123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = testkit::hospital::user_id(&app, &doctor).await;
    let body = json!({ "to": { "user": doctor_id }, "body": "Rotation-proof note" });
    let (status, reply) = app
        .api(Method::POST, "/messages", Some(&nurse), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);

    let kr = keyring(&master);
    let (key_id, totals) = on_db(&app, move |c| {
        let tenant = the_tenant(c);
        let id = rotate(c, &kr, &tenant);
        let totals = worker::run_to_completion(c, &kr, &tenant, 10, "cli", None).unwrap();
        (id, totals)
    })
    .await;
    assert_eq!(totals.messages, 1, "{totals:?}");
    let stored: Vec<String> = on_db(&app, |c| {
        use hospital::schema::messages;
        messages::table.select(messages::body_enc).load(c).unwrap()
    })
    .await;
    assert!(
        stored[0].starts_with(&format!("v1.{key_id}.")),
        "{stored:?}"
    );
    let (status, list) = app.api(Method::GET, "/messages", Some(&doctor), None).await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["data"][0]["body"], "Rotation-proof note");
}

#[tokio::test]
async fn file_names_and_legal_hold_reasons_are_resealed_under_the_new_key_and_still_read() {
    use crate::hospital_files::{pdf, Clinic};
    let master = master_hex();
    let app = spawn_keyed(&master, &[("HOSPITAL__REENCRYPT__ENABLED", "false")]).await;
    let c = Clinic::on(app).await;
    let file = c
        .put(
            &c.doctor,
            "medical_records",
            "Rotated name.pdf",
            pdf("rotated"),
        )
        .await;
    let hold = json!({ "reason": "Rotation-proof hold" });
    let path = format!("/patients/{}/legal-hold", c.patient);
    let (status, reply) = c.call(&c.admin, Method::PUT, &path, Some(hold)).await;
    assert_ok(status, &reply, StatusCode::OK);

    let kr = keyring(&master);
    let (key_id, totals) = on_db(&c.app, move |conn| {
        let tenant = the_tenant(conn);
        let id = rotate(conn, &kr, &tenant);
        let totals = worker::run_to_completion(conn, &kr, &tenant, 10, "cli", None).unwrap();
        (id, totals)
    })
    .await;
    assert_eq!(totals.files, 2, "{totals:?}");
    let stored: Vec<String> = on_db(&c.app, |conn| {
        use hospital::schema::{files, legal_holds};
        let mut v: Vec<String> = files::table.select(files::name_enc).load(conn).unwrap();
        v.extend(
            legal_holds::table
                .select(legal_holds::reason_enc)
                .load::<String>(conn)
                .unwrap(),
        );
        v
    })
    .await;
    for s in &stored {
        assert!(s.starts_with(&format!("v1.{key_id}.")), "{stored:?}");
    }
    let (status, reply) = c
        .call(&c.doctor, Method::GET, &format!("/files/{file}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["name"], "Rotated name.pdf");
    let (_, reply) = c.call(&c.admin, Method::GET, &path, None).await;
    assert_eq!(reply["data"]["reason"], "Rotation-proof hold");
    // The object stays under the key it was written with, and still opens.
    let (status, _, body) = crate::hospital_files::download(&c.app, &c.doctor, &file).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), pdf("rotated"));
}

#[tokio::test]
async fn a_row_that_cannot_be_opened_is_counted_and_left_while_the_others_move() {
    let master = master_hex();
    let app = spawn_keyed(&master, &[("HOSPITAL__REENCRYPT__ENABLED", "false")]).await;
    let nurse = app.login("nurse", "nurse123").await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = testkit::hospital::user_id(&app, &doctor).await;
    for text in ["First", "Second"] {
        let body = json!({ "to": { "user": doctor_id }, "body": text });
        let (status, reply) = app
            .api(Method::POST, "/messages", Some(&nurse), Some(body))
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
    }
    // One body replaced by the other's ciphertext: bound to another row, so
    // it no longer opens.
    let kr = keyring(&master);
    let (key_id, totals, stored) = on_db(&app, move |c| {
        use diesel::prelude::*;
        use hospital::schema::messages;
        let rows: Vec<(String, String)> = messages::table
            .select((messages::id, messages::body_enc))
            .order(messages::id.asc())
            .load(c)
            .unwrap();
        diesel::update(messages::table.filter(messages::id.eq(&rows[0].0)))
            .set(messages::body_enc.eq(&rows[1].1))
            .execute(c)
            .unwrap();
        let tenant = the_tenant(c);
        let id = rotate(c, &kr, &tenant);
        let totals = worker::run_to_completion(c, &kr, &tenant, 10, "cli", None).unwrap();
        let stored: Vec<(String, String)> = messages::table
            .select((messages::id, messages::body_enc))
            .order(messages::id.asc())
            .load(c)
            .unwrap();
        (id, totals, (rows, stored))
    })
    .await;
    let (before, after) = stored;
    assert_eq!((totals.messages, totals.failed), (1, 1), "{totals:?}");
    assert_eq!(after[0].1, before[1].1, "the broken row is left as it was");
    assert!(
        after[1].1.starts_with(&format!("v1.{key_id}.")),
        "{after:?}"
    );
}

#[tokio::test]
async fn lab_orders_results_and_amendments_are_resealed_under_the_new_key_and_still_read() {
    use crate::hospital_labs_matrix::{lab_order, result};
    use hospital::schema::{lab_orders, lab_result_amendments};
    let master = master_hex();
    let app = spawn_keyed(&master, &[("HOSPITAL__REENCRYPT__ENABLED", "false")]).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let lab = app.login("lab", "lab123").await;
    let p = testkit::hospital::register_patient_id(
        &app,
        &admin,
        testkit::hospital::patient_body("Rota", "Labs", "1977-07-07"),
    )
    .await;
    let doctor_id = testkit::hospital::user_id(&app, &doctor).await;
    testkit::hospital::add_to_care_team(&app, &admin, &p, &doctor_id).await;
    // One order finalized and amended (tests, notes, results; reason,
    // results), one without notes or results (tests only).
    let (status, reply) = app
        .api(
            Method::POST,
            "/lab-orders",
            Some(&doctor),
            Some(lab_order(&p)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let done = reply["data"]["id"].as_str().unwrap().to_string();
    let mut bare = lab_order(&p);
    bare.as_object_mut().unwrap().remove("notes");
    let (status, reply) = app
        .api(Method::POST, "/lab-orders", Some(&doctor), Some(bare))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let open = reply["data"]["id"].as_str().unwrap().to_string();
    let results = json!({ "results": [result("CBC", "within limits", "normal"), result("K", "6.0", "high")] });
    for (path, body) in [
        (format!("/lab-orders/{done}/results"), Some(results)),
        (format!("/lab-orders/{done}/finalize"), None),
        (
            format!("/lab-orders/{done}/amendments"),
            Some(json!({ "reason": "Repeated sample", "results": [result("K", "4.3", "normal")] })),
        ),
    ] {
        let (status, reply) = app.api(Method::POST, &path, Some(&lab), body).await;
        assert!(status.is_success(), "{path}: {reply}");
    }

    let kr = keyring(&master);
    let (key_id, totals) = on_db(&app, move |c| {
        let tenant = the_tenant(c);
        let id = rotate(c, &kr, &tenant);
        let totals = worker::run_to_completion(c, &kr, &tenant, 10, "cli", None).unwrap();
        (id, totals)
    })
    .await;
    assert_eq!(
        totals.labs, 6,
        "tests, notes, results of one; tests of the other; an amendment's reason and results: {totals:?}"
    );
    let stored: Vec<String> = on_db(&app, |c| {
        let orders: Vec<(String, Option<String>, Option<String>)> = lab_orders::table
            .select((
                lab_orders::tests_enc,
                lab_orders::notes_enc,
                lab_orders::results_enc,
            ))
            .load(c)
            .unwrap();
        let amendments: Vec<(String, String)> = lab_result_amendments::table
            .select((
                lab_result_amendments::reason_enc,
                lab_result_amendments::results_enc,
            ))
            .load(c)
            .unwrap();
        orders
            .into_iter()
            .flat_map(|(t, n, r)| [Some(t), n, r])
            .flatten()
            .chain(amendments.into_iter().flat_map(|(a, b)| [a, b]))
            .collect()
    })
    .await;
    assert_eq!(stored.len(), 6, "{stored:?}");
    for s in &stored {
        assert_eq!(key_id_of(s).unwrap(), key_id, "{s}");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/lab-orders/{done}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let v = &reply["data"];
    assert_eq!(v["status"], "finalized");
    assert_eq!(v["notes"], "Fasting sample");
    assert_eq!(v["tests"][1]["name"], "Potassium");
    assert_eq!(v["original_results"][1]["value"], "6.0");
    assert_eq!(v["results"][1]["value"], "4.3");
    assert_eq!(v["amendments"][0]["reason"], "Repeated sample");
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/lab-orders/{open}"),
            Some(&lab),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["tests"][0]["code"], "CBC");
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn referral_and_admission_reasons_are_resealed_under_the_new_key_and_still_read() {
    use hospital::schema::{admissions, referrals};
    let master = master_hex();
    let app = spawn_keyed(&master, &[("HOSPITAL__REENCRYPT__ENABLED", "false")]).await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let peer_id = app.create_user(&admin, "rota-peer", "doctor").await;
    let peer = app.login("rota-peer", testkit::STRONG_PASSWORD).await;
    let p = testkit::hospital::register_patient_id(
        &app,
        &admin,
        testkit::hospital::patient_body("Rota", "Wards", "1977-07-07"),
    )
    .await;
    let doctor_id = testkit::hospital::user_id(&app, &doctor).await;
    testkit::hospital::add_to_care_team(&app, &admin, &p, &doctor_id).await;
    // A declined referral (reason, decline reason), an admission (reason).
    let (status, reply) = app
        .api(
            Method::POST,
            "/referrals",
            Some(&doctor),
            Some(crate::hospital_referrals::to_doctor(&p, &peer_id)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let referral = reply["data"]["id"].as_str().unwrap().to_string();
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/referrals/{referral}/decline"),
            Some(&peer),
            Some(json!({ "reason": "Away this month" })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let department = crate::hospital_appointments::department(&app, &admin).await;
    let (_, reply) = app
        .api(
            Method::POST,
            "/rooms",
            Some(&admin),
            Some(json!({ "name": "R", "type": "icu", "department_id": department })),
        )
        .await;
    let room = reply["data"]["id"].as_str().unwrap().to_string();
    let (_, reply) = app
        .api(
            Method::POST,
            &format!("/rooms/{room}/beds"),
            Some(&admin),
            Some(json!({ "label": "1" })),
        )
        .await;
    let bed = reply["data"]["id"].as_str().unwrap().to_string();
    let (status, reply) = app
        .api(
            Method::POST,
            "/admissions",
            Some(&doctor),
            Some(crate::hospital_admissions::admission(&p, &bed)),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let admission = reply["data"]["id"].as_str().unwrap().to_string();

    let kr = keyring(&master);
    let (key_id, totals) = on_db(&app, move |c| {
        let tenant = the_tenant(c);
        let id = rotate(c, &kr, &tenant);
        let totals = worker::run_to_completion(c, &kr, &tenant, 10, "cli", None).unwrap();
        (id, totals)
    })
    .await;
    assert_eq!(totals.referrals, 2, "{totals:?}");
    assert_eq!(totals.admissions, 1, "{totals:?}");
    let stored: Vec<String> = on_db(&app, |c| {
        let r: Vec<(String, Option<String>)> = referrals::table
            .select((referrals::reason_enc, referrals::decline_reason_enc))
            .load(c)
            .unwrap();
        let a: Vec<String> = admissions::table
            .select(admissions::reason_enc)
            .load(c)
            .unwrap();
        r.into_iter()
            .flat_map(|(x, y)| [Some(x), y])
            .flatten()
            .chain(a)
            .collect()
    })
    .await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for s in &stored {
        assert_eq!(key_id_of(s).unwrap(), key_id, "{s}");
    }
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/referrals/{referral}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(
        reply["data"]["reason"],
        "Suspected arrhythmia, please assess"
    );
    assert_eq!(reply["data"]["decline_reason"], "Away this month");
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/admissions/{admission}"),
            Some(&doctor),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["reason"], "Community-acquired pneumonia");
}
