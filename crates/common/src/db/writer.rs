//! The group-committing writer: one per server process.
//!
//! Every request write (a change and its audit row, or the audit rows of a
//! read) is queued here as a job. One thread drains the queue and runs many
//! jobs in one transaction, each in its own savepoint, so one failing job
//! does not fail the others; the first statement of every batch takes the
//! audit head's row lock, so the chain has one order even when several
//! processes share a PostgreSQL database. A job's caller is answered only
//! after the batch has committed — durably: SQLite runs with
//! `synchronous = FULL` (fsync at commit in WAL mode) and PostgreSQL commits
//! synchronously — so no data leaves before its audit row is on disk. If the
//! commit fails, every job of the batch gets an error and no data leaves.
//!
//! The queue is bounded: when it is full a write is refused at once with 503
//! and `Retry-After`, never buffered without limit.
//!
//! On PostgreSQL the writer waits briefly for the records of reads in
//! flight before committing ([`GATHER_WINDOW`]), and a batch of reads only
//! commits as one statement guarded by the head it last committed
//! ([`crate::audit::append_at_head`]).
//!
//! The access-log rows of a read ([`Writer::record`]) are data, not a
//! closure: the writer appends the records queued next to each other as one
//! group — one savepoint for the group instead of one per read, and on
//! PostgreSQL one multi-row `INSERT` instead of three round trips per read.
//! A group that fails rolls back alone and each of its reads is refused;
//! nothing else in the batch is affected.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use diesel::Connection;

use super::{DbConn, Manager};
use crate::error::{ApiError, ApiResult};

/// Writes waiting beyond this are refused with 503 (back-pressure).
pub const QUEUE_CAPACITY: usize = 4096;
/// Most jobs committed in one transaction.
pub const MAX_BATCH: usize = 512;
/// On PostgreSQL, how long the writer waits for the records of reads in
/// flight to join a batch before committing it (see [`Writer::start`]).
pub const GATHER_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// What a job reports after running in its savepoint: called with the
/// batch's commit outcome, it answers the waiting caller.
type Completion = Box<dyn FnOnce(Result<(), CommitFailed>) + Send>;
/// One queued write.
enum Job {
    /// Any write: runs in its own savepoint inside the batch transaction.
    Write(Box<dyn FnOnce(&mut DbConn) -> Completion + Send>),
    /// The access-log rows of one read, appended with its neighbours.
    Record(Record),
}

/// The audit rows of one read and whom to answer once they are durable.
struct Record {
    events: Vec<crate::audit::Event>,
    origin: crate::audit::Origin,
    answer: tokio::sync::oneshot::Sender<ApiResult<()>>,
}

/// Why a batch did not commit (every job in it is answered with this).
#[derive(Debug, Clone)]
struct CommitFailed(String);

/// The sending half, shared by every clone of [`super::Db`]. The writer
/// thread stops when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: SyncSender<Job>,
    stats: Arc<Counters>,
    critical: Arc<tokio::sync::Notify>,
}

/// What the writer has done so far (for benchmarks and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Writes committed in them.
    pub writes: u64,
    /// Of those batches, reads-only ones committed as one statement
    /// guarded by the head (PostgreSQL).
    pub guarded: u64,
    /// Guarded statements that found the head moved by another writer
    /// (nothing written; the batch then ran the usual way).
    pub guard_missed: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
    guarded: AtomicU64,
    guard_missed: AtomicU64,
}

impl Writer {
    /// Start the writer thread on its own connection from `manager`, with
    /// room for `capacity` waiting writes.
    ///
    /// `reading` (PostgreSQL): the reads in flight. When the writer takes a
    /// batch while reads are in flight, it waits up to [`GATHER_WINDOW`]
    /// for as many more jobs (their records) before committing — like
    /// PostgreSQL's `commit_delay` with `commit_siblings`: each commit is a
    /// round trip, a WAL flush and two wake-ups, so under load bigger
    /// batches cost less per read, and with no read in flight nothing
    /// waits. SQLite (`None`) gathers on its own: its fsync at commit lasts
    /// long enough for the next batch to queue up (a wait measured no gain).
    pub(crate) fn start(
        manager: Arc<Manager>,
        capacity: usize,
        reading: Option<Arc<AtomicUsize>>,
    ) -> anyhow::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(capacity);
        let stats = Arc::new(Counters::default());
        let critical = Arc::new(tokio::sync::Notify::new());
        let (counters, notify) = (stats.clone(), critical.clone());
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || drain(&manager, &jobs, &counters, &notify, reading))?;
        Ok(Self {
            queue,
            stats,
            critical,
        })
    }

    /// Notified after a batch holding a critical audit row has committed.
    pub(crate) fn critical_committed(&self) -> Arc<tokio::sync::Notify> {
        self.critical.clone()
    }

    /// Batches and writes committed so far.
    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.stats.batches.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
            guarded: self.stats.guarded.load(Ordering::Relaxed),
            guard_missed: self.stats.guard_missed.load(Ordering::Relaxed),
        }
    }

    /// Queue `f` and wait until the batch holding it has committed.
    pub(crate) async fn write<F, T>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<ApiResult<T>>();
        let span = tracing::Span::current();
        let job = Job::Write(Box::new(move |conn: &mut DbConn| {
            let result = {
                let _entered = span.enter();
                let head = crate::audit::batch_head();
                // A savepoint: an error rolls back this job only — and the
                // head it may have moved.
                let result = conn.transaction::<T, ApiError, _>(f);
                if result.is_err() {
                    crate::audit::restore_batch_head(head);
                }
                result
            };
            Box::new(move |commit: Result<(), CommitFailed>| {
                let reply = match (result, commit) {
                    (Err(e), _) => Err(e),
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(CommitFailed(why))) => {
                        Err(ApiError::Internal(anyhow::anyhow!("commit failed: {why}")))
                    }
                };
                // The caller may have gone (client disconnected): nothing to do.
                let _ = answer.send(reply);
            })
        }));
        self.enqueue(job)?;
        answered
            .await
            .map_err(|_| ApiError::Unavailable("the database writer has stopped".into()))?
    }

    /// Append the access-log rows of a read and wait until the batch holding
    /// them has committed (durably). Nothing to record, nothing queued.
    pub(crate) async fn record(
        &self,
        events: Vec<crate::audit::Event>,
        origin: crate::audit::Origin,
    ) -> ApiResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (answer, answered) = tokio::sync::oneshot::channel::<ApiResult<()>>();
        self.enqueue(Job::Record(Record {
            events,
            origin,
            answer,
        }))?;
        answered
            .await
            .map_err(|_| ApiError::Unavailable("the database writer has stopped".into()))?
    }

    /// Queue `job`, or refuse at once (503) when the queue is full.
    fn enqueue(&self, job: Job) -> ApiResult<()> {
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("write queue full; refusing with 503");
                return Err(ApiError::Unavailable(
                    "the server is busy writing, try again shortly".into(),
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::Unavailable(
                    "the database writer has stopped".into(),
                ))
            }
        }
        Ok(())
    }
}

/// The writer thread: wait for a job, take what else is queued (up to
/// [`MAX_BATCH`]), run them in one transaction, answer them all.
fn drain(
    manager: &Manager,
    jobs: &Receiver<Job>,
    stats: &Counters,
    critical: &tokio::sync::Notify,
    reading: Option<Arc<AtomicUsize>>,
) {
    let mut conn: Option<DbConn> = None;
    // The chain's head as this writer last committed it: a guess (another
    // process or a restore may have moved it since), checked by the
    // statement that relies on it (`append_at_head`).
    let mut known: Option<contracts::AuditHead> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(reading) = &reading {
            // Reads in flight now are the records likely to follow soon.
            let siblings = reading.load(Ordering::Relaxed);
            if siblings > 0 {
                gather(jobs, &mut batch, siblings, GATHER_WINDOW);
            }
        }
        if conn.is_none() {
            match r2d2::ManageConnection::connect(manager).and_then(writer_pragmas) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "database writer cannot connect");
                    // Dropping the jobs closes their answer channels: 503.
                    drop(batch);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        crate::audit::take_critical_mark();
        let (completions, outcome) = commit_batch(c, batch, &mut known, stats);
        if let Err(CommitFailed(why)) = &outcome {
            tracing::error!(error = %why, jobs = completions.len(), "write batch failed");
            // Start the next batch on a fresh connection: this one may be
            // broken or inside a transaction a panic left open.
            conn = None;
            known = None;
        } else {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            stats
                .writes
                .fetch_add(completions.len() as u64, Ordering::Relaxed);
            if crate::audit::take_critical_mark() {
                // Anchor the head now, not at the next interval.
                critical.notify_one();
            }
        }
        for done in completions {
            done(outcome.clone());
        }
    }
}

/// Wait up to `window` for up to `more` further jobs to join `batch` (see
/// [`Writer::start`]'s `reading`).
fn gather(jobs: &Receiver<Job>, batch: &mut Vec<Job>, more: usize, window: std::time::Duration) {
    let want = (batch.len() + more).min(MAX_BATCH);
    let deadline = std::time::Instant::now() + window;
    while batch.len() < want {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match jobs.recv_timeout(left) {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// The writer's own SQLite settings: savepoint journals in memory. Every job
/// (and every group of read records) runs in a savepoint, whose journal of
/// the pages it changes SQLite otherwise moves to a temporary file past
/// 64 KiB — a file created, written and deleted per savepoint, which `perf`
/// showed as a tenth of the server's CPU under an audited read load. A
/// request's write is small; the batch is bounded by [`MAX_BATCH`].
fn writer_pragmas(mut conn: DbConn) -> Result<DbConn, diesel::ConnectionError> {
    use diesel::connection::SimpleConnection;
    if let DbConn::Sqlite(c) = &mut conn {
        c.batch_execute("PRAGMA temp_store = MEMORY")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    }
    Ok(conn)
}

/// Run `batch` in one transaction; the commit outcome applies to every job.
/// `known` is the head this writer last committed (updated here).
fn commit_batch(
    conn: &mut DbConn,
    batch: Vec<Job>,
    known: &mut Option<contracts::AuditHead>,
    stats: &Counters,
) -> (Vec<Completion>, Result<(), CommitFailed>) {
    let guarded = catch_unwind(AssertUnwindSafe(|| {
        records_at_head(conn, batch, known, stats)
    }));
    let batch = match guarded {
        Ok(Ok(done)) => return done,
        Ok(Err(batch)) => batch,
        Err(_) => {
            // The batch's answer channels were dropped with it: its reads
            // are refused (503), and the writer lives on.
            *known = None;
            return (
                Vec::new(),
                Err(CommitFailed("a batch of reads panicked".into())),
            );
        }
    };
    let mut completions = Vec::with_capacity(batch.len());
    let run = catch_unwind(AssertUnwindSafe(|| {
        conn.transaction::<Option<contracts::AuditHead>, ApiError, _>(|c| {
            crate::audit::begin_batch(crate::audit::lock_head(c)?);
            let mut group = Vec::new();
            for job in batch {
                match job {
                    Job::Record(r) => group.push(r),
                    Job::Write(job) => {
                        // Chain order is queue order: the records before
                        // this write go first.
                        append_group(c, &mut group, &mut completions);
                        completions.push(job(c));
                    }
                }
            }
            append_group(c, &mut group, &mut completions);
            crate::audit::finish_batch(c)
        })
    }));
    crate::audit::abandon_batch();
    let outcome = match run {
        Ok(Ok(head)) => {
            *known = head;
            Ok(())
        }
        Ok(Err(e)) => Err(CommitFailed(e.to_string())),
        Err(_) => Err(CommitFailed(
            "a write panicked; the batch was rolled back".into(),
        )),
    };
    (completions, outcome)
}

/// A batch of reads only, on PostgreSQL, when this writer knows the head:
/// their rows in one autocommitted statement guarded by that head
/// ([`crate::audit::append_at_head`]) — one round trip instead of a
/// transaction's seven. `Err(batch)`: not such a batch, or the head had
/// moved (nothing written); run it the usual way.
#[allow(clippy::type_complexity)]
fn records_at_head(
    conn: &mut DbConn,
    batch: Vec<Job>,
    known: &mut Option<contracts::AuditHead>,
    stats: &Counters,
) -> Result<(Vec<Completion>, Result<(), CommitFailed>), Vec<Job>> {
    let (DbConn::Pg(c), Some(at)) = (conn, known.as_ref()) else {
        return Err(batch);
    };
    let reads = batch
        .iter()
        .map(|job| match job {
            Job::Record(r) => Some((r.events.as_slice(), &r.origin)),
            Job::Write(_) => None,
        })
        .collect::<Option<Vec<_>>>();
    let Some(reads) = reads else {
        return Err(batch);
    };
    let outcome = match crate::audit::append_at_head(c, at, reads.into_iter()) {
        Ok(None) => {
            stats.guard_missed.fetch_add(1, Ordering::Relaxed);
            *known = None;
            return Err(batch);
        }
        Ok(Some(head)) => {
            stats.guarded.fetch_add(1, Ordering::Relaxed);
            *known = Some(head);
            Ok(())
        }
        Err(e) => {
            *known = None;
            Err(CommitFailed(e.to_string()))
        }
    };
    let completions = batch
        .into_iter()
        .filter_map(|job| match job {
            Job::Record(r) => Some(answer_when_committed(r.answer, None)),
            Job::Write(_) => None,
        })
        .collect();
    Ok((completions, outcome))
}

/// Answer a read once its batch's outcome is known: `failed` is why its
/// rows could not be written, if they could not.
fn answer_when_committed(
    answer: tokio::sync::oneshot::Sender<ApiResult<()>>,
    failed: Option<String>,
) -> Completion {
    Box::new(move |commit: Result<(), CommitFailed>| {
        let reply = match (failed, commit) {
            (Some(why), _) | (None, Err(CommitFailed(why))) => Err(ApiError::Internal(
                anyhow::anyhow!("access-log rows not committed: {why}"),
            )),
            (None, Ok(())) => Ok(()),
        };
        let _ = answer.send(reply);
    })
}

/// Append the rows of the queued reads in `group` in one savepoint; each
/// read is answered after the batch commits, or with the group's error.
fn append_group(conn: &mut DbConn, group: &mut Vec<Record>, completions: &mut Vec<Completion>) {
    if group.is_empty() {
        return;
    }
    let head = crate::audit::batch_head();
    let result = conn.transaction::<(), ApiError, _>(|c| {
        crate::audit::append_all(c, group.iter().map(|r| (r.events.as_slice(), &r.origin)))
    });
    let failed = result.err().map(|e| {
        crate::audit::restore_batch_head(head);
        tracing::error!(error = %e, reads = group.len(), "access-log rows not written");
        e.to_string()
    });
    for Record { answer, .. } in group.drain(..) {
        completions.push(answer_when_committed(answer, failed.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{self, Event, Origin};
    use crate::db::{Db, KERNEL_MIGRATIONS};
    use std::time::Duration;

    fn open(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        Db::open(&url, 4, Duration::from_secs(5), KERNEL_MIGRATIONS).unwrap()
    }

    fn event(n: usize) -> Event {
        Event::new("tester", "admin", "test.write", &format!("item:{n}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_rolls_back_alone_and_the_others_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut tasks = Vec::new();
        for n in 0..200 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |c| {
                    audit::append(c, &event(n), &Origin::default())?;
                    if n.is_multiple_of(7) {
                        return Err(crate::ApiError::Conflict(format!("job {n} fails")));
                    }
                    Ok(n)
                })
                .await
            }));
        }
        let mut ok = 0;
        for (n, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, n);
                    ok += 1
                }
                Err(e) => {
                    assert!(n.is_multiple_of(7), "only the failing jobs fail: {e}");
                    assert!(e.to_string().contains("fails"), "{e}");
                }
            }
        }
        let rows = db
            .run(|c| {
                audit::list(
                    c,
                    &audit::Filter::default(),
                    &crate::db::Page::of(Some(1), Some(100))?,
                )
            })
            .await
            .unwrap();
        assert_eq!(
            rows.1, ok as i64,
            "one audit row per committed job, none for the failed"
        );
        assert!(rows.0.iter().all(|r| {
            let n: usize = r.resource.trim_start_matches("item:").parse().unwrap();
            !n.is_multiple_of(7)
        }));
        let v = db.run(audit::verify).await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        let stats = db.writer_stats();
        assert_eq!(
            stats.writes, 200,
            "failed jobs still ran in a committed batch"
        );
        assert!(stats.batches < 200, "writes were grouped: {stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_whose_rows_cannot_be_written_is_refused_and_the_chain_stays_whole() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        audit::record(&db, vec![event(1)], Origin::default())
            .await
            .unwrap();
        // On the writer's own connection: every audit insert now fails.
        db.write(|c| {
            Ok(c.batch_execute(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON audit_log \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )?)
        })
        .await
        .unwrap();
        let refused = audit::record(&db, vec![event(2), event(3)], Origin::default()).await;
        assert!(
            matches!(refused, Err(crate::ApiError::Internal(_))),
            "{refused:?}"
        );
        db.write(|c| Ok(c.batch_execute("DROP TRIGGER temp.refuse")?))
            .await
            .unwrap();
        audit::record(&db, vec![event(4)], Origin::default())
            .await
            .unwrap();
        chain_is_whole_at(
            &db,
            2,
            "the refused read's rows and head move were rolled back",
        )
        .await;
    }

    /// The chain verifies and its head is at `seq`.
    async fn chain_is_whole_at(db: &Db, seq: i64, why: &str) {
        let head = db.run(audit::head).await.unwrap();
        assert_eq!(head.seq, seq, "{why}");
        let v = db.run(audit::verify).await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.head_seq, seq, "{why}");
    }

    /// PostgreSQL: a batch of reads commits as one statement guarded by the
    /// head this writer last committed; when another writer has moved the
    /// head the guard misses, nothing is written, and the batch runs the
    /// usual way (lock, append, commit); a guarded statement that fails
    /// refuses its reads and leaves the chain and head as they were.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
    async fn reads_commit_in_one_guarded_statement_and_fall_back_when_the_head_moved() {
        use diesel::connection::SimpleConnection;
        let pg = testdb::PgDatabase::create(&testdb::require_pg(), "bh_guard").unwrap();
        let open = || Db::open(&pg.url(), 2, Duration::from_secs(5), KERNEL_MIGRATIONS).unwrap();
        let (first, second) = (open(), open());
        let record = |db: &Db, n: usize| {
            let db = db.clone();
            async move { audit::record(&db, vec![event(n), event(n + 100)], Origin::default()).await }
        };
        record(&first, 1).await.unwrap();
        assert_eq!(
            first.writer_stats().guarded,
            0,
            "the head was not known yet"
        );
        record(&first, 2).await.unwrap();
        assert_eq!(
            first.writer_stats().guarded,
            1,
            "one statement, guarded by the head"
        );
        // Another process appends: the head this writer knows is stale.
        record(&second, 3).await.unwrap();
        record(&first, 4).await.unwrap();
        let stats = first.writer_stats();
        assert_eq!((stats.guarded, stats.guard_missed), (1, 1), "{stats:?}");
        record(&first, 5).await.unwrap();
        assert_eq!(first.writer_stats().guarded, 2);

        // A guarded statement that fails: its reads are refused, nothing moved.
        second
            .write(|c| {
                Ok(c.batch_execute(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
                     CREATE TRIGGER refuse BEFORE INSERT ON audit_log \
                     FOR EACH ROW EXECUTE FUNCTION refuse();",
                )?)
            })
            .await
            .unwrap();
        // The write above moved no head (no audit row): still guarded.
        let refused = record(&first, 6).await;
        assert!(
            matches!(refused, Err(crate::ApiError::Internal(_))),
            "{refused:?}"
        );
        assert_eq!(first.writer_stats().guarded, 2);
        second
            .write(|c| Ok(c.batch_execute("DROP TRIGGER refuse ON audit_log")?))
            .await
            .unwrap();
        record(&first, 7).await.unwrap();

        chain_is_whole_at(
            &second,
            12,
            "six reads of two rows; the refused one left nothing",
        )
        .await;
        let resources: Vec<String> = first
            .run(|c| {
                use crate::schema::audit_log::dsl::*;
                use diesel::prelude::*;
                Ok(audit_log.order(seq).select(resource).load(c)?)
            })
            .await
            .unwrap();
        let expected: Vec<String> = [1, 2, 3, 4, 5, 7]
            .iter()
            .flat_map(|n| [format!("item:{n}"), format!("item:{}", n + 100)])
            .collect();
        assert_eq!(
            resources, expected,
            "rows in chain order, each read's rows together"
        );
        drop((first, second));
        drop(pg);
    }

    /// The PostgreSQL writer's wait for the records of reads in flight:
    /// it takes up to that many more jobs, and waits no longer than the
    /// window when they do not come.
    #[test]
    fn gathering_takes_up_to_the_reads_in_flight_and_waits_no_longer_than_the_window() {
        let record = || {
            Job::Record(Record {
                events: vec![event(1)],
                origin: Origin::default(),
                answer: tokio::sync::oneshot::channel().0,
            })
        };
        let (queue, jobs) = mpsc::sync_channel::<Job>(16);
        for _ in 0..5 {
            queue.send(record()).unwrap();
        }
        let mut batch = vec![record()];
        gather(&jobs, &mut batch, 3, Duration::from_secs(60));
        assert_eq!(batch.len(), 4, "three more: the reads in flight");
        let started = std::time::Instant::now();
        gather(&jobs, &mut batch, 5, Duration::from_millis(50));
        assert_eq!(
            batch.len(),
            6,
            "the two still queued, then the window ended"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(30),
            "{waited:?}"
        );
        let mut full: Vec<Job> = (0..MAX_BATCH).map(|_| record()).collect();
        queue.send(record()).unwrap();
        gather(&jobs, &mut full, 10, Duration::from_secs(60));
        assert_eq!(full.len(), MAX_BATCH, "never past a batch's bound");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_503_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let manager = Arc::new(Manager {
            url: format!("sqlite://{}", dir.path().join("w.db").display()),
            backend: crate::db::Backend::Sqlite,
        });
        let writer = Writer::start(manager, 1, None).unwrap();
        // Hold the writer thread inside a job until released.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let w = writer.clone();
            tokio::spawn(async move {
                w.write(move |_| {
                    let _ = started.send(());
                    let _ = held.recv_timeout(Duration::from_secs(10));
                    Ok(())
                })
                .await
            })
        };
        running.recv_timeout(Duration::from_secs(10)).unwrap();
        // One more fits in the queue; the next is refused without waiting.
        let queued = {
            let w = writer.clone();
            tokio::spawn(async move { w.write(|_| Ok(())).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = writer.write(|_| Ok(())).await;
        match refused {
            Err(crate::ApiError::Unavailable(m)) => assert!(m.contains("busy"), "{m}"),
            other => panic!("expected 503, got {other:?}"),
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        queued.await.unwrap().unwrap();
        drop(db);
    }

    /// The migration that makes SQLite's audit `seq` the rowid keeps every
    /// row and the chain, drops the separate primary-key index, and the
    /// chain goes on after it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_audit_log_becomes_rowid_keyed_with_its_chain_whole() {
        use diesel::connection::SimpleConnection;
        use diesel::RunQueryDsl;
        use diesel_migrations::MigrationHarness;
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let pk_indexes = |c: &mut diesel::SqliteConnection| {
            diesel::sql_query(
                "SELECT COUNT(*) AS n FROM pragma_index_list('audit_log') WHERE origin = 'pk'",
            )
            .get_result::<N>(c)
            .unwrap()
            .n
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let db = open(&dir);
        for n in 0..30 {
            audit::record(&db, vec![event(n), event(n + 100)], Origin::default())
                .await
                .unwrap();
        }
        drop(db);
        // The dropped pool's last connections may still be closing (the
        // last one checkpoints the WAL): wait for their locks, not fail.
        let raw = || {
            let mut c = <diesel::SqliteConnection as diesel::Connection>::establish(
                &path.to_string_lossy(),
            )
            .unwrap();
            c.batch_execute("PRAGMA busy_timeout = 10000").unwrap();
            c
        };
        let mut c = raw();
        assert_eq!(pk_indexes(&mut c), 0, "seq is the rowid");
        // The migrations after it first (newest first), then it.
        let undone = c
            .revert_last_migration((crate::db::KERNEL_MIGRATIONS.sqlite)())
            .unwrap();
        assert_eq!(undone.to_string(), "20261214000101", "the resource index");
        let undone = c
            .revert_last_migration((crate::db::KERNEL_MIGRATIONS.sqlite)())
            .unwrap();
        assert_eq!(undone.to_string(), "20261212001701", "the rowid migration");
        assert_eq!(
            pk_indexes(&mut c),
            1,
            "before: a unique index beside the rowid"
        );
        // A row appended while the table has its old shape moves too.
        let mut conn = DbConn::Sqlite(c);
        crate::db::write_tx(&mut conn, |c| {
            audit::append(c, &event(999), &Origin::default()).map(|_| ())
        })
        .unwrap();
        drop(conn);
        drop(open(&dir));
        let mut c = raw();
        assert_eq!(pk_indexes(&mut c), 0, "open() migrated it again");
        drop(c);
        let db = open(&dir);
        audit::record(&db, vec![event(1000)], Origin::default())
            .await
            .unwrap();
        let v = db.run(audit::verify).await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.rows, 62);
        let refused = db
            .write(|c| Ok(c.batch_execute("DELETE FROM audit_log WHERE seq = 1")?))
            .await;
        assert!(refused.is_err(), "still append-only: {refused:?}");
    }

    #[tokio::test]
    async fn sqlite_fsyncs_at_commit_and_the_writer_keeps_journals_in_memory() {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Pragma {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            value: i32,
        }
        fn pragma(c: &mut DbConn, name: &str) -> crate::ApiResult<i32> {
            let q = format!("SELECT {name} AS value FROM pragma_{name}");
            Ok(diesel::sql_query(q).get_result::<Pragma>(c)?.value)
        }
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let read = db.run(|c| pragma(c, "synchronous")).await.unwrap();
        assert_eq!(read, 2, "synchronous must be FULL (2), not NORMAL (1)");
        let (sync, temp) = db
            .write(|c| Ok((pragma(c, "synchronous")?, pragma(c, "temp_store")?)))
            .await
            .unwrap();
        assert_eq!(sync, 2, "the writer's synchronous must be FULL (2)");
        assert_eq!(temp, 2, "the writer's temp_store must be MEMORY (2)");
    }
}
