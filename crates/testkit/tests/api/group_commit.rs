//! The group-committing writer: two server instances writing to one
//! database at once — write jobs and grouped read records interleaved —
//! still build one verifiable chain (the head row lock is taken per batch),
//! on both backends.

use std::time::Duration;

use common::audit::{self, Event, Origin};
use common::db::{Db, Page};
use common::Service;
use testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_writing_at_once_keep_one_chain() {
    let database = TestDatabase::create(Service::Owner).unwrap();
    let url = database.url();
    let open = |url: String| Db::open(&url, 4, Duration::from_secs(10), owner::MIGRATIONS).unwrap();
    let first = tokio::task::spawn_blocking({
        let url = url.clone();
        move || open(url)
    })
    .await
    .unwrap();
    let second = tokio::task::spawn_blocking(move || open(url))
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for n in 0..300 {
        let db = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let event =
                |m: usize| Event::new("tester", "owner", "test.write", &format!("item:{m}"));
            if n % 3 == 0 {
                // A write job between the grouped read records.
                db.write(move |c| audit::append(c, &event(n), &Origin::default()).map(|_| ()))
                    .await
            } else {
                // A read's two access-log rows (grouped with its neighbours:
                // one multi-row INSERT on PostgreSQL).
                audit::record(&db, vec![event(n), event(n + 1000)], Origin::default()).await
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let verification = first.run(audit::verify).await.unwrap();
    assert!(verification.is_intact(), "{verification:?}");
    let filter = audit::Filter {
        action: Some("test.write".into()),
        ..Default::default()
    };
    let (_, total) = second
        .run(move |c| audit::list(c, &filter, &Page::of(Some(1), Some(1))?))
        .await
        .unwrap();
    assert_eq!(
        total,
        100 + 200 * 2,
        "every acknowledged write and read record is in the chain"
    );
    let head = first.run(audit::head).await.unwrap();
    assert_eq!(head.seq, 500, "the head moved past the grouped rows");
    // Nothing to record queues nothing.
    audit::record(&first, Vec::new(), Origin::default())
        .await
        .unwrap();
    let (a, b) = (first.writer_stats(), second.writer_stats());
    assert_eq!(a.writes + b.writes, 300);
    assert!(
        a.batches + b.batches < 300,
        "reads were grouped into batches: {a:?} {b:?}"
    );
    assert!(
        a.writes > 0 && b.writes > 0,
        "both instances wrote: {a:?} {b:?}"
    );
    drop((first, second));
    drop(database);
}
