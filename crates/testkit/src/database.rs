//! A fresh database per test app: a SQLite file in a temporary folder by
//! default, or a new PostgreSQL database on the server named by
//! `BULKHEAD_TEST_PG_URL` (what `make test-pg` sets). Dropping it removes
//! the folder or drops the database.

use std::path::PathBuf;

use anyhow::Context;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use tempfile::TempDir;

/// The environment variable that switches the suite to PostgreSQL.
pub const PG_URL_ENV: &str = "BULKHEAD_TEST_PG_URL";

/// A database that lives as long as its test app.
pub enum TestDatabase {
    /// A SQLite file inside a temporary folder.
    Sqlite {
        /// Removed on drop.
        dir: TempDir,
        /// The database file.
        file: PathBuf,
    },
    /// A database created on the test PostgreSQL server.
    Postgres {
        /// URL of the server's maintenance database (to create and drop).
        admin_url: String,
        /// `bh_<uuid>`.
        name: String,
        /// URL of the new database.
        url: String,
    },
}

impl TestDatabase {
    /// A new, empty database for `service` on the backend the environment picks.
    pub fn create(service: common::Service) -> anyhow::Result<Self> {
        match std::env::var(PG_URL_ENV) {
            Ok(admin_url) if !admin_url.trim().is_empty() => Self::create_pg(admin_url.trim()),
            _ => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("bulkhead-{}-", service.name()))
                    .tempdir()
                    .context("creating a temporary folder")?;
                let file = dir.path().join(format!("{}.db", service.name()));
                Ok(Self::Sqlite { dir, file })
            }
        }
    }

    fn create_pg(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("bh_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url)
            .with_context(|| format!("connecting to {PG_URL_ENV}"))?;
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .with_context(|| format!("creating database {name}"))?;
        Ok(Self::Postgres {
            url: plain_unless_asked(&with_database(admin_url, &name)),
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// The URL a server is configured with.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { file, .. } => format!("sqlite://{}", file.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// Make the database disappear under a running server: delete the
    /// SQLite file, or force-drop the PostgreSQL database.
    pub fn destroy(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { file, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let path = PathBuf::from(format!("{}{suffix}", file.display()));
                    if path.exists() {
                        std::fs::remove_file(&path)
                            .with_context(|| format!("removing {}", path.display()))?;
                    }
                }
                Ok(())
            }
            Self::Postgres {
                admin_url, name, ..
            } => {
                let mut conn = PgConnection::establish(admin_url)?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)?;
                Ok(())
            }
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite { file, .. } => Some(file.clone()),
            Self::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL URL, if this is PostgreSQL.
    pub fn pg_url(&self) -> Option<String> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres { url, .. } => Some(url.clone()),
        }
    }

    /// The temporary folder of a SQLite database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            Self::Sqlite { dir, .. } => Some(dir.path()),
            Self::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { .. } = self {
            // Best effort: a failed drop leaves a `bh_*` database behind, not a failed test.
            let _ = self.destroy();
        }
    }
}

/// `admin_url` with its database name replaced by `name` (query kept).
/// The servers under test talk to PostgreSQL without TLS unless the URL
/// asks for it: libpq's default (`prefer`) would negotiate TLS, and the
/// test process exits with pooled TLS connections still open on worker
/// threads, where OpenSSL's exit-time cleanup has crashed the process
/// (SIGSEGV after every test passed). TLS to PostgreSQL has its own test
/// (`crates/cli/tests/cli.rs`, `postgres_over_tls_when_required`).
fn plain_unless_asked(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
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
    use super::{plain_unless_asked, with_database};

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
}
