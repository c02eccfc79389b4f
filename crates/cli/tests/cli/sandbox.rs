//! `bulkhead sandbox seed`: dev's synthetic sandbox filled from the command
//! line, reproducibly, on dev's own database (no server running).

use std::time::Duration;

use common::db::Db;
use common::response::Page;
use dev::sandbox::store;

use crate::support::{run, text, TestDb};

/// Every patient row as text, by id.
fn patients(url: &str) -> Vec<String> {
    let db = Db::connect(url, 1, Duration::from_secs(10), dev::MIGRATIONS).unwrap();
    let mut conn = db.conn().unwrap();
    let mut all = Vec::new();
    let mut n = 1;
    loop {
        let page = Page::of(Some(n), Some(100)).unwrap();
        let (rows, _) = store::patients(&mut conn, &Default::default(), &page).unwrap();
        if rows.is_empty() {
            return all;
        }
        all.extend(rows.iter().map(|p| format!("{p:?}")));
        n += 1;
    }
}

fn summary(url: &str) -> store::Summary {
    let db = Db::connect(url, 1, Duration::from_secs(10), dev::MIGRATIONS).unwrap();
    let mut conn = db.conn().unwrap();
    store::summary(&mut conn).unwrap().expect("a generation")
}

#[test]
fn sandbox_seed_fills_ten_thousand_synthetic_patients_and_the_same_seed_makes_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "dev");
    let url = db.url().to_string();
    let env = [("DEV__DATABASE__URL", url.as_str())];

    let out = run(
        &["sandbox", "seed", "--patients", "10000", "--seed", "7"],
        &env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("10000 patients"), "{}", text(&out));
    let s = summary(&url);
    assert_eq!((s.seed, s.patients, s.hospitals), (7, 10_000, 3));
    assert_eq!(s.generated_by, "cli");
    assert!(s.records >= 10_000, "{s:?}");

    // Small generations to compare whole: the same seed, the same rows.
    let small = [
        "sandbox",
        "seed",
        "--patients",
        "300",
        "--seed",
        "11",
        "--hospitals",
        "2",
    ];
    assert!(run(&small, &env, dir.path()).status.success());
    let first = patients(&url);
    assert_eq!(first.len(), 300);
    assert!(first.iter().all(|p| p.contains("SYN-MRN-")), "{first:?}");
    assert!(run(&small, &env, dir.path()).status.success());
    assert_eq!(patients(&url), first);
    let other = [
        "sandbox",
        "seed",
        "--patients",
        "300",
        "--seed",
        "12",
        "--hospitals",
        "2",
    ];
    assert!(run(&other, &env, dir.path()).status.success());
    assert_ne!(patients(&url), first);

    // Out of range: refused, and the sandbox stays as it was.
    for bad in [
        vec!["sandbox", "seed", "--patients", "1000001"],
        vec!["sandbox", "seed", "--hospitals", "0"],
        vec!["sandbox", "seed", "--hospitals", "21"],
    ] {
        let out = run(&bad, &env, dir.path());
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
    assert_eq!(summary(&url).seed, 12);
}
