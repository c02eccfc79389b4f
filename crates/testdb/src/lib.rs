//! Throw-away PostgreSQL databases for tests, in the manner of crates.io's
//! `crates_io_test_db`: every test that needs PostgreSQL asks this crate
//! for a fresh database on the server named by `BULKHEAD_TEST_PG_URL`
//! (what `make test-pg` and CI set), and the database is dropped when the
//! value is. The testkit, the crypto tests and the CLI tests all use it, so
//! there is one way to name, create, reach and drop a test database.
//!
//! A test that cannot run without PostgreSQL is marked
//! `#[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]`,
//! so that without it the run shows it as ignored instead of passing, and
//! calls [`require_pg`], which fails loudly if it was asked to run anyway.
//!
//! It also hands out [`ports::free_port`]: ports for servers a test starts
//! as child processes (see that module for why not the kernel's port 0).
//!
//! Panicking is how a test helper reports a broken arrangement, so
//! `unwrap`/`expect` are allowed here as they are in tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod ports;

use anyhow::Context;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

/// The environment variable that names the test PostgreSQL server (a URL
/// of a database the tests may connect to in order to create others).
pub const PG_URL_ENV: &str = "BULKHEAD_TEST_PG_URL";

/// The reason given by every test that is ignored without PostgreSQL.
pub const NEEDS_PG: &str = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)";

/// The test server's URL, if the environment names one.
pub fn pg_admin_url() -> Option<String> {
    std::env::var(PG_URL_ENV)
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// The test server's URL; panics with the reason when it is not set (for
/// tests marked `#[ignore = NEEDS_PG]` that were run anyway).
pub fn require_pg() -> String {
    pg_admin_url().unwrap_or_else(|| {
        panic!("this test needs PostgreSQL: set {PG_URL_ENV} (make test-pg does)")
    })
}

/// A database created for one test on the test server; dropped (with its
/// open connections) when this value is.
#[derive(Debug)]
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// A new, empty database named `<prefix>_<uuid>` on the server at `admin_url`.
    pub fn create(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url)
            .with_context(|| format!("connecting to the test PostgreSQL server ({PG_URL_ENV})"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .with_context(|| format!("creating database {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// A new database on the server the environment names, or `None`
    /// when it names none.
    pub fn from_env(prefix: &str) -> anyhow::Result<Option<Self>> {
        pg_admin_url()
            .map(|admin| Self::create(&admin, prefix))
            .transpose()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL to reach it, without TLS unless the server's URL asks for it
    /// (see [`plain_unless_asked`]).
    pub fn url(&self) -> String {
        plain_unless_asked(&self.raw_url())
    }

    /// The URL to reach it with the server URL's own parameters only (a
    /// test that sets `sslmode` itself starts from this one).
    pub fn raw_url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    /// Drop it now, even with connections open (a server under test loses
    /// its database).
    pub fn destroy(&self) -> anyhow::Result<()> {
        let mut conn = PgConnection::establish(&self.admin_url)?;
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)?;
        Ok(())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Best effort: a failed drop leaves a database behind, not a failed test.
        let _ = self.destroy();
    }
}

/// `url` with `sslmode=disable` added unless it sets `sslmode` itself.
/// Servers under test talk to PostgreSQL without TLS unless asked: libpq's
/// default (`prefer`) would negotiate TLS, and a test process that exits
/// with pooled TLS connections still open on worker threads has crashed in
/// OpenSSL's exit-time cleanup (SIGSEGV after every test passed). TLS to
/// PostgreSQL has its own test in the CLI suite.
pub fn plain_unless_asked(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// `url` with its database name replaced by `name` (query kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_databases_skip_tls_unless_asked() {
        assert_eq!(
            plain_unless_asked("postgres://h/bh_1"),
            "postgres://h/bh_1?sslmode=disable"
        );
        assert_eq!(
            plain_unless_asked("postgres://h/bh_1?x=1"),
            "postgres://h/bh_1?x=1&sslmode=disable"
        );
        assert_eq!(
            plain_unless_asked("postgres://h/bh_1?sslmode=require"),
            "postgres://h/bh_1?sslmode=require"
        );
    }

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "bh_1"),
            "postgres://postgres@127.0.0.1:5432/bh_1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=require", "bh_2"),
            "postgres://u:p@h/bh_2?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h:5432", "bh_3"),
            "postgres://h:5432/bh_3"
        );
    }

    #[test]
    #[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
    fn a_database_is_created_and_dropped() {
        let admin = require_pg();
        let db = PgDatabase::create(&admin, "bh_testdb").unwrap();
        let name = db.name().to_string();
        PgConnection::establish(&db.url()).unwrap();
        drop(db);
        let mut conn = PgConnection::establish(&admin).unwrap();
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let left: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{name}'"
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(left.n, 0, "{name} is dropped with its value");
    }
}
