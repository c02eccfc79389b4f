//! `make bench`: the costs the kernel adds to every write, each next to a
//! baseline measured in the same run.
//!
//! 1. An audited write (hash-chained row + head update, serialized by the
//!    head lock) against a plain insert of a row of the same size.
//! 2. Field encryption through the keyring (active key looked up in the
//!    database) against the same encryption with the key already in hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use common::audit::{self, Event, Origin};
use common::crypto::{Aad, Keyring, MasterKey};
use common::db::{write_tx, Db, KERNEL_MIGRATIONS};
use diesel::connection::SimpleConnection;
use serde_json::json;

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
    let db = Db::open(&url, 2, Duration::from_secs(5), KERNEL_MIGRATIONS).unwrap();
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
}
