//! `make bench`: the online copy of issue 12 — a million changed rows
//! shipped from a hospital to owner (real servers in this process, real
//! mTLS) and restored from owner into an empty database, printed beside a
//! plain copy of the same rows between two databases on the same disk in
//! the same run. Rows: `BULKHEAD_BENCH_ROWS` (default 1,000,000). Peak
//! RSS (`VmHWM`, reset before each phase) is the whole process: both
//! servers, the bench's client and the restore.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use common::config::DEMO_TENANT_ID;
use common::db::Db;
use common::mtls::ServiceIdentity;
use common::Service;
use contracts::backup::{BackupBatch, BackupBatchInfo};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use hospital::backup::restore::{self, BatchSource};
use testkit::plane::{Pki, PlanePorts};
use testkit::{spawn_with, TestApp, TestDatabase};

/// Rows per insert transaction.
const CHUNK: u64 = 50_000;

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn counts(db: &Db) -> (i64, i64) {
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

async fn drained(db: &Db, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let db2 = db.clone();
        let (s, l) = tokio::task::spawn_blocking(move || counts(&db2))
            .await
            .unwrap();
        if s == 0 && l < 50 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "shipping did not finish: {s} sealed, {l} logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bytes: i64,
}

fn messages(db: &Db) -> (i64, i64) {
    let mut c = db.conn().unwrap();
    let s: Sum = diesel::sql_query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body_enc)), 0) AS bytes FROM messages",
    )
    .get_result(&mut *c)
    .unwrap();
    (s.n, s.bytes)
}

/// Owner's batches over mTLS with the hospital's certificate, one at a time.
struct Owner {
    client: reqwest::Client,
    port: u16,
    rt: tokio::runtime::Handle,
}

impl Owner {
    fn fetch<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.rt.block_on(async {
            let res = self
                .client
                .get(format!("https://localhost:{}{path}", self.port))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "{path}: {}", res.status());
            let body: serde_json::Value = res.json().await?;
            Ok(serde_json::from_value(body["data"].clone())?)
        })
    }
}

impl BatchSource for Owner {
    fn list(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<BackupBatchInfo>> {
        self.fetch(&format!(
            "{}?after={after}&limit={limit}",
            contracts::paths::BACKUPS
        ))
    }

    fn get(&mut self, batch_no: i64) -> anyhow::Result<BackupBatch> {
        self.fetch(&contracts::paths::BACKUP.replace("{batch_no}", &batch_no.to_string()))
    }
}

/// Insert `rows` messages in transactions of [`CHUNK`].
async fn insert_rows(db: &Db, rows: u64) {
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = db2.conn().unwrap();
        let mut done = 0;
        while done < rows {
            let n = CHUNK.min(rows - done);
            let sql = match db2.backend() {
                common::db::Backend::Sqlite => format!(
                    "BEGIN; WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) \
                     INSERT INTO messages (id, tenant_id, send_id, sender_id, recipient_id, patient_id, body_enc, sent_at) \
                     SELECT printf('bench-%012d', {done} + i), '{DEMO_TENANT_ID}', printf('send-%d', ({done} + i) / 3), \
                            'bench-sender', 'bench-recipient', NULL, hex(randomblob(100)), '2026-12-06 12:00:00' FROM s; COMMIT;"
                ),
                common::db::Backend::Postgres => format!(
                    "BEGIN; INSERT INTO messages (id, tenant_id, send_id, sender_id, recipient_id, patient_id, body_enc, sent_at) \
                     SELECT 'bench-' || lpad(({done} + i)::text, 12, '0'), '{DEMO_TENANT_ID}', 'send-' || (({done} + i) / 3), \
                            'bench-sender', 'bench-recipient', NULL, md5(random()::text) || md5(random()::text) || md5(random()::text) \
                            || md5(random()::text) || md5(random()::text) || md5(random()::text), '2026-12-06 12:00:00' \
                     FROM generate_series(1, {n}) AS i; COMMIT;"
                ),
            };
            c.batch_execute(&sql).unwrap();
            done += n;
        }
    })
    .await
    .unwrap();
}

fn main() {
    let rows: u64 = std::env::var("BULKHEAD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(rows));
}

async fn start(service: Service, pki: &Pki, ports: &PlanePorts, extra: &[(&str, &str)]) -> TestApp {
    let mut env = pki.plane_env(service, service.name(), ports);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env.push((
        format!("{}__LOG__LEVEL", service.env_prefix()),
        "warn".into(),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_with(service, &env).await
}

async fn run(rows: u64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = Pki::new();
    pki.issue("owner", ServiceIdentity::Owner);
    pki.issue("company", ServiceIdentity::Company);
    pki.issue(
        "hospital",
        ServiceIdentity::Hospital {
            tenant_id: DEMO_TENANT_ID.into(),
        },
    );
    let ports = PlanePorts::free();
    let owner = start(Service::Owner, &pki, &ports, &[]).await;
    let hospital = start(
        Service::Hospital,
        &pki,
        &ports,
        &[
            ("HOSPITAL__BACKUP__INTERVAL_SECS", "86400"),
            ("HOSPITAL__BACKUP__BATCH_ROWS", "20000"),
        ],
    )
    .await;
    let db = hospital.db();
    drained(&db, Duration::from_secs(60)).await;
    println!(
        "online copy: {rows} rows into messages (~200 bytes of ciphertext-like text each), {} backend",
        match db.backend() {
            common::db::Backend::Sqlite => "SQLite",
            common::db::Backend::Postgres => "PostgreSQL",
        }
    );

    // Write the rows (the triggers log each one).
    let started = Instant::now();
    insert_rows(&db, rows).await;
    let write = started.elapsed();
    let (n, bytes) = messages(&db);
    assert_eq!(n as u64, rows);

    // Ship: owner's "sync now" in effect (the same wake-up), until the log
    // and the outbox are empty.
    reset_peak();
    let started = Instant::now();
    hospital::backup::ship::request_now();
    drained(&db, Duration::from_secs(600)).await;
    let ship = started.elapsed();
    let ship_peak = peak_mib();

    // Restore from owner into an empty database.
    let target = TestDatabase::create(Service::Hospital).unwrap();
    let restored = Db::connect(
        &target.url(),
        2,
        Duration::from_secs(30),
        hospital::SPEC.migrations,
    )
    .unwrap();
    {
        let mut c = restored.conn().unwrap();
        restore::ensure_empty(&mut c).unwrap();
    }
    restored.migrate_schema().unwrap();
    reset_peak();
    let started = Instant::now();
    let r2 = restored.clone();
    let key = pki.backup_key("hospital");
    let mut source = Owner {
        client: pki.client(Some("hospital")),
        port: ports.owner,
        rt: tokio::runtime::Handle::current(),
    };
    let done = tokio::task::spawn_blocking(move || {
        let mut c = r2.conn().unwrap();
        restore::run(&mut c, &mut source, &key, DEMO_TENANT_ID, &mut |_| {}).unwrap()
    })
    .await
    .unwrap();
    let restore = started.elapsed();
    let restore_peak = peak_mib();
    assert_eq!(
        messages(&restored),
        (n, bytes),
        "the restore differs from the original"
    );
    {
        let mut c = restored.conn().unwrap();
        let v = common::audit::verify(&mut c).unwrap();
        assert!(v.problem.is_none(), "{:?}", v.problem);
    }

    // Baseline: a plain copy of the same rows into an empty database with
    // the same schema, equally durable, in one transaction.
    let plain = TestDatabase::create(Service::Hospital).unwrap();
    let plain_db = Db::connect(
        &plain.url(),
        2,
        Duration::from_secs(30),
        hospital::SPEC.migrations,
    )
    .unwrap();
    plain_db.migrate_schema().unwrap();
    reset_peak();
    let started = Instant::now();
    match (db.sqlite_file(), plain.sqlite_path()) {
        (Some(_), Some(file)) => {
            let mut c = db.conn().unwrap();
            c.batch_execute(&format!(
                "ATTACH DATABASE '{}' AS plain; BEGIN; INSERT INTO plain.messages SELECT * FROM main.messages; COMMIT; DETACH DATABASE plain;",
                file.display()
            ))
            .unwrap();
        }
        _ => {
            // PostgreSQL: out of one database, into the other, through the client.
            #[allow(clippy::type_complexity)]
            let ids: Vec<(
                String,
                String,
                String,
                String,
                String,
                Option<String>,
                String,
                chrono::NaiveDateTime,
            )> = {
                use hospital::schema::messages::dsl::*;
                let mut c = db.conn().unwrap();
                messages
                    .select((
                        id,
                        tenant_id,
                        send_id,
                        sender_id,
                        recipient_id,
                        patient_id,
                        body_enc,
                        sent_at,
                    ))
                    .load(&mut *c)
                    .unwrap()
            };
            let mut c = plain_db.conn().unwrap();
            c.transaction::<_, diesel::result::Error, _>(|c| {
                use hospital::schema::messages::dsl::*;
                for chunk in ids.chunks(5_000) {
                    let v: Vec<_> = chunk
                        .iter()
                        .map(|r| {
                            (
                                id.eq(&r.0),
                                tenant_id.eq(&r.1),
                                send_id.eq(&r.2),
                                sender_id.eq(&r.3),
                                recipient_id.eq(&r.4),
                                patient_id.eq(&r.5),
                                body_enc.eq(&r.6),
                                sent_at.eq(r.7),
                            )
                        })
                        .collect();
                    let conn: &mut common::db::DbConn = &mut *c;
                    common::on_backend!(conn, |inner| diesel::insert_into(messages)
                        .values(&v)
                        .execute(inner))?;
                }
                Ok(())
            })
            .unwrap();
        }
    }
    let copy = started.elapsed();
    let copy_peak = peak_mib();
    assert_eq!(messages(&plain_db), (n, bytes));

    // The change log's cost on writes: the same inserts into a database
    // without its triggers.
    let bare = TestDatabase::create(Service::Hospital).unwrap();
    let bare_db = Db::connect(
        &bare.url(),
        2,
        Duration::from_secs(30),
        hospital::SPEC.migrations,
    )
    .unwrap();
    bare_db.migrate_schema().unwrap();
    let started = Instant::now();
    insert_rows(&bare_db, rows).await;
    let bare_write = started.elapsed();

    let secs = |d: Duration| d.as_secs_f64();
    let ratio = |d: Duration| d.as_secs_f64() / copy.as_secs_f64().max(1e-9);
    println!(
        "  write {rows} rows, change log on:   {:>8.2} s  {:>6.2}x the same writes without it ({:.2} s)",
        secs(write),
        secs(write) / secs(bare_write).max(1e-9),
        secs(bare_write)
    );
    println!(
        "  ship to owner (seal, mTLS, store): {:>8.2} s  {:>6.1}x the plain copy  peak RSS {ship_peak:.1} MiB",
        secs(ship),
        ratio(ship)
    );
    println!(
        "  restore from owner ({} batches):  {:>8.2} s  {:>6.1}x the plain copy  peak RSS {restore_peak:.1} MiB",
        done.batches,
        secs(restore),
        ratio(restore)
    );
    println!(
        "  ship + restore:                    {:>8.2} s  {:>6.1}x the plain copy  (target: under 60 s)",
        secs(ship + restore),
        ratio(ship + restore)
    );
    println!(
        "  plain copy (baseline):             {:>8.2} s  peak RSS {copy_peak:.1} MiB",
        secs(copy)
    );
    drop(hospital);
    drop(owner);
}
