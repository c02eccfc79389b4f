//! One connection type over SQLite and PostgreSQL, an r2d2 pool of read
//! connections, one group-committing writer (see [`writer`]), and the
//! embedded migrations of each server, run at start-up.
//!
//! The backend is picked from the URL scheme by us, not by trying each
//! variant (SQLite accepts any string as a file name, so a down PostgreSQL
//! would otherwise silently become a local file). Blocking diesel work runs
//! on the blocking pool with the caller's tracing span carried along.

pub mod changelog;
pub mod page;
pub mod stamp;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel::{QueryableByName, RunQueryDsl};
pub use diesel_migrations::EmbeddedMigrations;
use diesel_migrations::MigrationHarness;

use crate::error::{ApiError, ApiResult};
pub use page::{Page, PageQuery};
pub use writer::{WriterStats, MAX_BATCH, QUEUE_CAPACITY};

pub use multi::DbConn;

mod multi {
    // The derive generates public backend types that carry no docs.
    #![allow(missing_docs)]
    use diesel::pg::PgConnection;
    use diesel::sqlite::SqliteConnection;

    /// A connection to either backend.
    #[derive(diesel::MultiConnection)]
    pub enum DbConn {
        /// PostgreSQL (production, scale).
        Pg(PgConnection),
        /// SQLite (embedded default).
        Sqlite(SqliteConnection),
    }
}

/// Run the same diesel statement on the inner connection of either backend,
/// for what the multi-connection cannot express (batch inserts, upserts):
/// `on_backend!(conn, |c| diesel::insert_into(t).values(&rows).execute(c))`.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// The diesel backend of [`DbConn`] (for boxed queries).
pub type DbBackend = <DbConn as Connection>::Backend;

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://…`
    Sqlite,
    /// `postgres://…` or `postgresql://…`
    Postgres,
}

impl Backend {
    /// Pick the backend from the URL scheme.
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite://") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            bail!("database.url must start with sqlite:// or postgres://")
        }
    }
}

/// Whether the PostgreSQL server of `url` is on this machine: every address
/// libpq would connect to is a Unix socket (a path, or none named),
/// `localhost` or a loopback address. As libpq does, `hostaddr` wins over
/// `host`, the query string over the authority, and what the URL leaves out
/// comes from the environment (`env`: `PGHOSTADDR`, `PGHOST`). A service
/// file (`service=`, `PGSERVICE`) or anything this cannot read counts as
/// remote.
fn postgres_is_local(url: &str, env: impl Fn(&str) -> Option<String>) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    // The last of a repeated parameter counts, as in libpq.
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .next_back()
    };
    if param("service").is_some() || env("PGSERVICE").is_some() {
        return false;
    }
    let authority = before_query.split('/').next().unwrap_or_default();
    let named = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hosts: Vec<String> = if let Some(list) = param("hostaddr")
        .or_else(|| env("PGHOSTADDR"))
        .or_else(|| param("host"))
    {
        list.split(',').map(str::to_string).collect()
    } else if !named.is_empty() {
        named
            .split(',')
            .map(|h| match h.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
                None => h.split(':').next().unwrap_or_default().to_string(),
            })
            .collect()
    } else {
        env("PGHOST")
            .unwrap_or_default()
            .split(',')
            .map(str::to_string)
            .collect()
    };
    hosts.iter().all(|h| {
        let h = h.to_ascii_lowercase();
        h.is_empty()
            || h.starts_with('/')
            || h.starts_with("%2f")
            || h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// The migrations of one schema, for both backends. (Functions, because
/// `EmbeddedMigrations` is neither `Copy` nor usable by reference.)
#[derive(Clone, Copy)]
pub struct Migrations {
    /// `migrations/<name>/sqlite`
    pub sqlite: fn() -> EmbeddedMigrations,
    /// `migrations/<name>/postgres`
    pub postgres: fn() -> EmbeddedMigrations,
}

/// Tables every server has: users, revoked tokens, the audit chain.
pub const KERNEL_MIGRATIONS: Migrations = Migrations {
    sqlite: crate::migrations_fn!("../../migrations/common/sqlite"),
    postgres: crate::migrations_fn!("../../migrations/common/postgres"),
};

/// `fn() -> EmbeddedMigrations` for a migrations folder, relative to the
/// calling crate (which must depend on `diesel_migrations`).
#[macro_export]
macro_rules! migrations_fn {
    ($path:literal) => {
        || {
            const M: $crate::db::EmbeddedMigrations = diesel_migrations::embed_migrations!($path);
            M
        }
    };
}

/// The r2d2 connection manager (picks the backend from the URL).
pub struct Manager {
    url: String,
    backend: Backend,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match self.backend {
            Backend::Postgres => Ok(DbConn::Pg(PgConnection::establish(&self.url)?)),
            Backend::Sqlite => {
                let path = sqlite_path(&self.url);
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // busy_timeout first: the other pragmas may need a lock.
                // WAL is a property of the file, set once in `Db::connect`.
                // synchronous = FULL: in WAL mode NORMAL does not fsync at
                // commit, and an audit row must be on disk before the data
                // it records leaves the server.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = FULL;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    /// On return to the pool: a connection a panic left inside a
    /// transaction is dropped, not handed to the next request.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// After a read failed: if its PostgreSQL connection no longer answers
/// (the server restarted, the socket dropped), put a new one in its place
/// before it goes back to the pool, so one failed read is the cost of a
/// lost connection instead of a `SELECT 1` before every read. A local
/// SQLite file does not lose its connection.
fn heal(manager: &Manager, conn: &mut DbConn) {
    if !matches!(conn, DbConn::Pg(_)) || conn.batch_execute("SELECT 1").is_ok() {
        return;
    }
    match r2d2::ManageConnection::connect(manager) {
        Ok(fresh) => {
            tracing::warn!("a database connection was lost; replaced it");
            *conn = fresh;
        }
        Err(e) => {
            tracing::warn!(error = %e, "a database connection was lost and cannot be replaced yet")
        }
    }
}

/// The compile options the bundled SQLite must have (`.cargo/config.toml`
/// sets them): without the query planner stability guarantee every
/// statement with a bound LIMIT is prepared again at each execution, and
/// with memory statistics every allocation takes one global mutex; in the
/// serialized threading mode every call on a connection takes that
/// connection's mutex, which multi-thread mode (`THREADSAFE=2`) leaves out —
/// safe here because a `SqliteConnection` is `Send` but not `Sync`, so no
/// two threads ever use one connection at once.
pub const SQLITE_OPTIONS: [&str; 3] = ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0", "THREADSAFE=2"];

/// SQLite's query plan of `sql` (`EXPLAIN QUERY PLAN`), one line per step:
/// what the plan tests check a query reads. `sql` may be a `debug_query`
/// text; its binds are cut off and left unbound (the plan is the same).
/// On a PostgreSQL connection it is an error (no such statement there).
pub fn sqlite_plan(conn: &mut DbConn, sql: &str) -> diesel::QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let sql = sql.split(" -- binds:").next().unwrap_or(sql);
    Ok(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Step>(conn)?
        .into_iter()
        .map(|s| s.detail)
        .collect())
}

/// PostgreSQL's plan of `sql` (a `debug_query` text, its binds cut off)
/// with `params` (SQL literals, e.g. `'tenant-1'`, `20`) for its `$n`, as
/// `EXPLAIN` prints it, a line per row. Prepared first, so the planner sees
/// parameters as the server's own statements send them.
pub fn pg_plan(conn: &mut DbConn, sql: &str, params: &[&str]) -> diesel::QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        step: String,
    }
    let sql = sql.split(" -- binds:").next().unwrap_or(sql);
    conn.batch_execute(&format!("PREPARE bulkhead_plan AS {sql}"))?;
    let explained = diesel::sql_query(format!(
        "EXPLAIN EXECUTE bulkhead_plan({})",
        params.join(", ")
    ))
    .load::<Step>(conn);
    let freed = conn.batch_execute("DEALLOCATE bulkhead_plan");
    let steps = explained?;
    freed?;
    Ok(steps.into_iter().map(|s| s.step).collect())
}

/// Which of [`SQLITE_OPTIONS`] this SQLite library was built without.
pub fn missing_sqlite_options(conn: &mut SqliteConnection) -> anyhow::Result<Vec<&'static str>> {
    #[derive(QueryableByName)]
    struct Opt {
        #[diesel(sql_type = diesel::sql_types::Text)]
        compile_options: String,
    }
    let have: Vec<Opt> = diesel::sql_query("PRAGMA compile_options")
        .load(conn)
        .context("reading SQLite's compile options")?;
    Ok(SQLITE_OPTIONS
        .into_iter()
        .filter(|want| !have.iter().any(|o| o.compile_options == *want))
        .collect())
}

fn sqlite_path(url: &str) -> PathBuf {
    PathBuf::from(url.trim_start_matches("sqlite://"))
}

/// The pool, the writer, and what they were opened with. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    /// Makes the connection that replaces a lost one ([`heal`]).
    manager: Arc<Manager>,
    /// One permit per pooled connection: a read waits for a connection
    /// here, asynchronously, instead of parking a blocking thread in r2d2.
    readers: Arc<tokio::sync::Semaphore>,
    /// Reads in [`Db::run`] now, waiting for a connection or running: on
    /// PostgreSQL the writer waits briefly for their records to join its
    /// batch ([`writer::Writer::start`]).
    reading: Arc<AtomicUsize>,
    /// How long a read may wait for a connection before answering 503.
    wait: Duration,
    /// Whether [`Db::run_quick`] may run on the calling thread: SQLite, and
    /// PostgreSQL on this machine ([`postgres_is_local`]).
    inline_reads: bool,
    writer: writer::Writer,
    backend: Backend,
    sqlite_file: Option<PathBuf>,
    migrations: Vec<Migrations>,
}

/// Counts a read in [`Db::run`] while it lives.
struct Reading<'a>(&'a AtomicUsize);

impl<'a> Reading<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Db {
    /// Open the pool (creating the SQLite file's folder if needed) and run
    /// the kernel migrations then the service's.
    pub fn open(
        url: &str,
        pool_size: u32,
        timeout: Duration,
        service: Migrations,
    ) -> anyhow::Result<Self> {
        let db = Self::connect(url, pool_size, timeout, service)?;
        db.migrate()?;
        Ok(db)
    }

    /// Open the pool without migrating (read-only tools such as `audit verify`).
    pub fn connect(
        url: &str,
        pool_size: u32,
        timeout: Duration,
        service: Migrations,
    ) -> anyhow::Result<Self> {
        let backend = Backend::from_url(url)?;
        let sqlite_file = (backend == Backend::Sqlite).then(|| sqlite_path(url));
        if let Some(parent) = sqlite_file.as_ref().and_then(|p| p.parent()) {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
        }
        if let Some(file) = &sqlite_file {
            let mut conn = SqliteConnection::establish(&file.to_string_lossy())
                .with_context(|| format!("opening {}", file.display()))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                .context("switching SQLite to WAL")?;
            let missing = missing_sqlite_options(&mut conn)?;
            if !missing.is_empty() {
                tracing::warn!(
                    missing = %missing.join(", "),
                    "SQLite was built without options this server expects \
                     (LIBSQLITE3_FLAGS in .cargo/config.toml): reads will be slower"
                );
            }
        }
        let manager = || Manager {
            url: url.to_string(),
            backend,
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(timeout)
            // No `SELECT 1` before every checkout: on PostgreSQL it was a
            // third round trip per read (see docs/benchmarks.md). A
            // connection that broke (server restart, dropped socket) is
            // found after the read that failed on it and replaced then
            // ([`heal`]).
            .test_on_check_out(false)
            .build(manager())
            .map_err(|e| anyhow!("cannot open the database: {e}"))?;
        let reading = Arc::new(AtomicUsize::new(0));
        let writer = writer::Writer::start(
            Arc::new(manager()),
            QUEUE_CAPACITY,
            (backend == Backend::Postgres).then(|| reading.clone()),
        )?;
        let db = Self {
            pool,
            manager: Arc::new(manager()),
            readers: Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize)),
            reading,
            wait: timeout,
            inline_reads: backend == Backend::Sqlite
                || postgres_is_local(url, |name| std::env::var(name).ok()),
            writer,
            backend,
            sqlite_file,
            migrations: vec![KERNEL_MIGRATIONS, service],
        };
        Ok(db)
    }

    /// Run every pending migration, then, in a schema with a change log,
    /// make the change-log triggers of new or changed tables (logging what
    /// they hold: [`changelog::install`]). Idempotent.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let applied = self.migrate_schema()?;
        let mut conn = self
            .pool
            .get()
            .map_err(|e| anyhow!("database unreachable: {e}"))?;
        if changelog::present(&mut conn)? {
            let done = changelog::install(&mut conn, true)?;
            if !done.tables.is_empty() {
                tracing::info!(
                    tables = done.tables.len(),
                    rows = done.baseline_rows,
                    "change log follows new or changed tables"
                );
            }
        }
        Ok(applied)
    }

    /// Run every pending migration and nothing else (a restore, which
    /// installs the change-log triggers itself after replaying).
    pub fn migrate_schema(&self) -> anyhow::Result<usize> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| anyhow!("database unreachable: {e}"))?;
        let mut applied = 0;
        for m in &self.migrations {
            let done = match &mut *conn {
                DbConn::Sqlite(c) => c.run_pending_migrations((m.sqlite)()).map(|v| v.len()),
                DbConn::Pg(c) => c.run_pending_migrations((m.postgres)()).map(|v| v.len()),
            };
            applied += done.map_err(|e| anyhow!("migration failed: {e}"))?;
        }
        Ok(applied)
    }

    /// Whether the database answers and every migration is applied.
    pub fn check_ready(&self) -> anyhow::Result<()> {
        if let Some(file) = &self.sqlite_file {
            if !file.exists() {
                bail!("database file is missing");
            }
        }
        let mut conn = self
            .pool
            .get()
            .map_err(|e| anyhow!("database unreachable: {e}"))?;
        if let Err(e) = conn.batch_execute("SELECT 1") {
            heal(&self.manager, &mut conn);
            bail!("database query failed: {e}");
        }
        for m in &self.migrations {
            let pending = match &mut *conn {
                DbConn::Sqlite(c) => c.has_pending_migration((m.sqlite)()),
                DbConn::Pg(c) => c.has_pending_migration((m.postgres)()),
            };
            if pending.map_err(|e| anyhow!("cannot read migrations: {e}"))? {
                bail!("migrations pending");
            }
        }
        Ok(())
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool connections in use and the pool's size.
    pub fn pool_use(&self) -> (u32, u32) {
        let s = self.pool.state();
        (
            s.connections.saturating_sub(s.idle_connections),
            self.pool.max_size(),
        )
    }

    /// A pooled connection, for blocking callers (CLI, start-up): on
    /// PostgreSQL tested first, and replaced if it no longer answers.
    pub fn conn(&self) -> ApiResult<r2d2::PooledConnection<Manager>> {
        let mut conn = self.pool.get()?;
        heal(&self.manager, &mut conn);
        Ok(conn)
    }

    /// Run `f` with a pooled connection on the blocking pool: reads (SQLite
    /// WAL readers and PostgreSQL sessions run concurrently and never wait
    /// for the writer). Request writes go through [`Db::write`].
    pub async fn run<F, T>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let busy = || ApiError::Unavailable("the database is busy, try again shortly".into());
        let _reading = Reading::start(&self.reading);
        let _permit = tokio::time::timeout(self.wait, self.readers.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (pool, manager) = (self.pool.clone(), self.manager.clone());
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            let out = f(&mut conn);
            // A lost connection shows as a database error (500/503), not
            // as a 404 or a refusal: only those test the connection.
            if matches!(out, Err(ApiError::Internal(_) | ApiError::Unavailable(_))) {
                heal(&manager, &mut conn);
            }
            out
        })
        .await?
    }

    /// A read bounded by an index: one record, one page of a list, the
    /// token check. When a read connection is idle it runs on the calling
    /// thread — on SQLite (a WAL read of a few cached pages) and on a
    /// PostgreSQL server on this machine (a loopback round trip) that costs
    /// less than the thread switches of [`Db::run`]'s hand-off to the
    /// blocking pool and back (see docs/benchmarks.md); it never waits for
    /// the writer. Otherwise, and always on a PostgreSQL server elsewhere
    /// (a network round trip must not hold up a worker's other
    /// connections), it is [`Db::run`]. A read that may scan (exports,
    /// reports, verification) uses [`Db::run`].
    pub async fn run_quick<F, T>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.inline_reads {
            if let Ok(_permit) = self.readers.try_acquire() {
                if let Some(mut conn) = self.pool.try_get() {
                    let _reading = Reading::start(&self.reading);
                    // As on the blocking pool: a panic is this request's
                    // 500, not the worker thread's end; a lost connection
                    // is replaced.
                    let out =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut conn)))
                            .unwrap_or_else(|_| {
                                Err(ApiError::Internal(anyhow!("a database read panicked")))
                            });
                    if matches!(out, Err(ApiError::Internal(_) | ApiError::Unavailable(_))) {
                        heal(&self.manager, &mut conn);
                    }
                    return out;
                }
            }
        }
        self.run(f).await
    }

    /// Notified after a write holding a critical audit row has committed
    /// (the plane then anchors the head at once).
    pub fn critical_committed(&self) -> Arc<tokio::sync::Notify> {
        self.writer.critical_committed()
    }

    /// Batches and writes the writer has committed so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.writer.stats()
    }

    /// Run `f` as one job of the group-committing writer: in its own
    /// savepoint of a batch transaction that holds the audit head's lock.
    /// Answers once the batch is durably committed; an error from `f` rolls
    /// back `f`'s changes only. A full queue answers 503 at once.
    pub async fn write<F, T>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Queue the access-log rows of a read for the writer and answer once
    /// they are durably committed (see [`crate::audit::record`]).
    pub(crate) async fn record(
        &self,
        events: Vec<crate::audit::Event>,
        origin: crate::audit::Origin,
    ) -> ApiResult<()> {
        self.writer.record(events, origin).await
    }
}

/// A write transaction on a connection already held, outside the writer
/// (start-up, the CLI): it takes the audit head's lock first, as the
/// writer's batches do, so both append to the chain in one order.
pub fn write_tx<F, T>(conn: &mut DbConn, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn) -> ApiResult<T>,
{
    conn.transaction::<T, ApiError, _>(|conn| {
        crate::audit::lock_head(conn)?;
        f(conn)
    })
}

/// Current UTC time truncated to microseconds (what both backends store).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now().naive_utc();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quick reads run on the calling thread only against a PostgreSQL
    /// server on this machine; any other or unreadable host is remote, and
    /// what the URL leaves out is taken from the environment as libpq does.
    #[test]
    fn a_postgres_server_is_local_only_on_loopback_or_a_socket() {
        let none = |_: &str| None;
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgresql://u:p@localhost/db?sslmode=disable",
            "postgres://[::1]:5432/db",
            "postgres:///db",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
            "postgres://u@/db?host=/var/run/postgresql",
            "postgres://127.0.0.1:5432,LOCALHOST:5433/db",
            "postgres://db.example.org/db?hostaddr=127.0.0.1",
        ] {
            assert!(postgres_is_local(url, none), "{url}");
        }
        for url in [
            "postgres://u@db.example.org:5432/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@[2001:db8::1]:5432/db",
            "postgres://127.0.0.1:5432,db.example.org/db",
            "postgres://u@localhost/db?host=db.example.org",
            "postgres://localhost/db?hostaddr=10.0.0.5",
            "postgres://u@127.0.0.1.example.org/db",
            "postgres://localhost/db?service=main",
            "not a url",
        ] {
            assert!(!postgres_is_local(url, none), "{url}");
        }
        // The environment fills in what the URL leaves out, and only that.
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!postgres_is_local(
            "postgres:///db",
            env(&[("PGHOST", "db.example.org")])
        ));
        assert!(postgres_is_local(
            "postgres:///db",
            env(&[("PGHOST", "/run/postgresql")])
        ));
        assert!(postgres_is_local(
            "postgres://localhost/db",
            env(&[("PGHOST", "db.example.org")])
        ));
        assert!(!postgres_is_local(
            "postgres://localhost/db",
            env(&[("PGHOSTADDR", "10.0.0.5")])
        ));
        assert!(!postgres_is_local(
            "postgres://localhost/db",
            env(&[("PGSERVICE", "main")])
        ));
    }

    /// A pooled PostgreSQL connection the server dropped (a restart, an
    /// administrator's `pg_terminate_backend`) costs the one read that
    /// found it: it is replaced before it goes back to the pool, without a
    /// `SELECT 1` before every read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
    async fn a_lost_postgres_connection_fails_one_read_and_is_replaced() {
        let pg = testdb::PgDatabase::create(&testdb::require_pg(), "bh_heal").unwrap();
        let db = Db::open(&pg.url(), 1, Duration::from_secs(5), KERNEL_MIGRATIONS).unwrap();
        #[derive(QueryableByName)]
        struct Pid {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let pid = |c: &mut DbConn| -> ApiResult<i32> {
            Ok(diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result::<Pid>(c)?
                .pid)
        };
        let mut admin = PgConnection::establish(&pg.url()).unwrap();
        // Terminate a backend and wait until it is gone.
        let mut kill = move |victim: i32| {
            diesel::sql_query(format!("SELECT pg_terminate_backend({victim})"))
                .execute(&mut admin)
                .unwrap();
            for _ in 0..100 {
                let alive = diesel::sql_query(format!(
                    "SELECT pid FROM pg_stat_activity WHERE pid = {victim}"
                ))
                .load::<Pid>(&mut admin)
                .unwrap();
                if alive.is_empty() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("backend {victim} did not exit");
        };
        // A quick read runs on the calling thread here (a server on
        // loopback) and replaces a lost connection the same way.
        let quick = db.run_quick(pid).await.unwrap();
        kill(quick);
        let failed = db.run_quick(pid).await;
        assert!(
            matches!(failed, Err(ApiError::Unavailable(_))),
            "a quick read on the dropped connection is a 503: {failed:?}"
        );
        assert_ne!(db.run_quick(pid).await.unwrap(), quick);
        let before = db.run(pid).await.unwrap();
        kill(before);
        let failed = db.run(pid).await;
        assert!(
            matches!(failed, Err(ApiError::Unavailable(_))),
            "a read on the dropped connection is a 503: {failed:?}"
        );
        let after = db
            .run(pid)
            .await
            .expect("the next read has a new connection");
        assert_ne!(after, before);
        // The readiness check and blocking callers heal too.
        kill(after);
        assert!(
            db.check_ready().is_err(),
            "the check found the dropped connection"
        );
        db.check_ready().expect("and replaced it");
        let last = db.run(pid).await.unwrap();
        kill(last);
        let mut conn = db.conn().unwrap();
        assert_ne!(
            pid(&mut conn).unwrap(),
            last,
            "conn() tests before handing out"
        );
        drop(conn);
        drop(db);
    }

    #[test]
    fn the_bundled_sqlite_has_the_options_the_server_expects() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        assert_eq!(
            missing_sqlite_options(&mut conn).unwrap(),
            Vec::<&str>::new(),
            "LIBSQLITE3_FLAGS in .cargo/config.toml did not reach libsqlite3-sys's build"
        );
    }

    /// A bounded read with every read connection taken waits for one (as
    /// `run` does) instead of failing; with one idle it answers at once;
    /// neither waits for the writer; a panic in it is an error. (Whether the
    /// waiting path parks the caller's thread is not observable here.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_quick_read_waits_for_a_busy_pool_and_not_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let db = Db::open(&url, 1, Duration::from_secs(5), KERNEL_MIGRATIONS).unwrap();
        let one = |c: &mut DbConn| {
            let n: i64 =
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("1")).get_result(c)?;
            Ok(n)
        };
        assert_eq!(db.run_quick(one).await.unwrap(), 1);
        // A read that panics is an error for its caller, as on `run`.
        let panicked = db
            .run_quick(|_| -> ApiResult<i64> { panic!("a bug in a read") })
            .await;
        assert!(
            matches!(panicked, Err(ApiError::Internal(_))),
            "{panicked:?}"
        );
        assert_eq!(
            db.run_quick(one).await.unwrap(),
            1,
            "the connection is still usable"
        );

        // The writer holds its transaction open: a quick read still answers.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let writing = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |_| {
                    let _ = started.send(());
                    let _ = held.recv_timeout(Duration::from_secs(10));
                    Ok(())
                })
                .await
            })
        };
        running.recv_timeout(Duration::from_secs(10)).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(2), db.run_quick(one)).await;
        assert_eq!(read.unwrap().unwrap(), 1, "a read waited for the writer");
        release.send(()).unwrap();
        writing.await.unwrap().unwrap();

        // The pool's one connection taken: the quick read waits, then answers.
        let taken = db.conn().unwrap();
        let waiting = {
            let db = db.clone();
            tokio::spawn(async move { db.run_quick(one).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "it answered without a connection");
        drop(taken);
        let answered = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(answered.unwrap().unwrap().unwrap(), 1);
    }
}
