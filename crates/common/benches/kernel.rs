//! `make bench`: the costs the kernel adds to every write, each next to a
//! baseline measured in the same run.
//!
//! 1. An audited write (hash-chained row + head update, serialized by the
//!    head lock) against a plain insert of a row of the same size.
//! 2. Field encryption through the keyring (active key looked up in the
//!    database) against the same encryption with the key already in hand.
//! 3. Audited writes through the group-committing writer (durable: SQLite
//!    `synchronous = FULL`) from 32 concurrent callers, against the same
//!    writes from one caller at a time (one fsync each).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use common::audit::{self, Event, Origin};
use common::crypto::{Aad, Keyring, MasterKey};
use common::db::{write_tx, Db, Migrations};
use diesel::connection::SimpleConnection;
use serde_json::json;

/// The kernel's tables and the hospital's, which hold the keyring's `data_keys`.
const WITH_DATA_KEYS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/hospital/sqlite"),
    postgres: common::migrations_fn!("../../migrations/hospital/postgres"),
};

fn rate(n: u32, d: Duration) -> f64 {
    f64::from(n) / d.as_secs_f64()
}

fn report(name: &str, n: u32, measured: Duration, baseline_name: &str, baseline: Duration) {
    let (m, b) = (rate(n, measured), rate(n, baseline));
    println!(
        "{name:<40} {m:>12.0}/s   {baseline_name:<32} {b:>12.0}/s   ratio {:.2}",
        b / m
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let db = Db::open(&url, 2, Duration::from_secs(5), WITH_DATA_KEYS).unwrap();
    let mut conn = db.conn().unwrap();
    conn.batch_execute("CREATE TABLE plain (id INTEGER PRIMARY KEY AUTOINCREMENT, actor TEXT, action TEXT, resource TEXT, details TEXT)").unwrap();

    // 1. audited write vs plain write, one transaction each.
    let n = 2_000;
    let origin = Origin::default();
    let started = Instant::now();
    for i in 0..n {
        let event = Event::new("bench", "admin", "bench.write", &format!("thing:{i}"))
            .details(json!({ "i": i }));
        write_tx(&mut conn, |c| audit::append(c, &event, &origin).map(|_| ())).unwrap();
    }
    let audited = started.elapsed();
    let started = Instant::now();
    for i in 0..n {
        let sql = format!("BEGIN; INSERT INTO plain (actor, action, resource, details) VALUES ('bench', 'bench.write', 'thing:{i}', '{{\"i\":{i}}}'); COMMIT;");
        conn.batch_execute(&sql).unwrap();
    }
    let plain = started.elapsed();
    report(
        "audited write (chain + head lock)",
        n,
        audited,
        "plain insert",
        plain,
    );
    assert!(audit::verify(&mut conn).unwrap().is_intact());

    // 2. keyring encryption vs encryption with the key in hand.
    let keyring = Keyring::new(MasterKey::generate());
    let tenant = "00000000-0000-4000-8000-000000000001";
    let key = write_tx(&mut conn, |c| keyring.active_key(c, tenant)).unwrap();
    let aad = Aad::new(tenant, "patients", "last_name", "row-1");
    let value = "Quixotebrandt-Zebulon, 1980-02-03, +1 555 0100";
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        keyring.encrypt(&mut conn, tenant, value, &aad).unwrap();
    }
    let via_keyring = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        key.encrypt(value, &aad).unwrap();
    }
    let in_hand = started.elapsed();
    report(
        "encrypt via keyring (key lookup)",
        n,
        via_keyring,
        "encrypt with the key in hand",
        in_hand,
    );
    drop(conn);

    // 3. group commit: 32 concurrent callers vs one at a time.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let record = |db: Db, i: u32| async move {
        let event = Event::new("bench", "admin", "bench.read", &format!("patient:{i}"));
        audit::record(&db, vec![event], Origin::default())
            .await
            .unwrap();
    };
    let n = 1_000;
    let serial = rt.block_on(async {
        let started = Instant::now();
        for i in 0..n {
            record(db.clone(), i).await;
        }
        started.elapsed()
    });
    let before = db.writer_stats();
    let grouped = rt.block_on(async {
        let started = Instant::now();
        let per_caller = n / 32 + 1;
        let callers: Vec<_> = (0..32)
            .map(|c| {
                let db = db.clone();
                tokio::spawn(async move {
                    for i in 0..per_caller {
                        record(db.clone(), c * per_caller + i).await;
                    }
                })
            })
            .collect();
        for c in callers {
            c.await.unwrap();
        }
        started.elapsed()
    });
    let after = db.writer_stats();
    let writes = u32::try_from(after.writes - before.writes).unwrap();
    report(
        "group commit, 32 concurrent callers",
        writes,
        grouped,
        "one caller at a time",
        serial * writes / n,
    );
    println!(
        "{:<40} {:>12.1} writes per durable commit",
        "",
        (after.writes - before.writes) as f64 / (after.batches - before.batches) as f64
    );
    let mut conn = db.conn().unwrap();
    assert!(audit::verify(&mut conn).unwrap().is_intact());
}
