//! A fresh database per test app: a SQLite file in a temporary folder by
//! default, or a new PostgreSQL database (from the `testdb` crate) on the
//! server named by `BULKHEAD_TEST_PG_URL` (what `make test-pg` sets).
//! Dropping it removes the folder or drops the database.

use std::path::PathBuf;

use anyhow::Context;
use tempfile::TempDir;
use testdb::PgDatabase;

pub use testdb::PG_URL_ENV;

/// A database that lives as long as its test app.
pub enum TestDatabase {
    /// A SQLite file inside a temporary folder.
    Sqlite {
        /// Removed on drop.
        dir: TempDir,
        /// The database file.
        file: PathBuf,
    },
    /// A database created on the test PostgreSQL server (dropped on drop).
    Postgres(PgDatabase),
}

impl TestDatabase {
    /// A new, empty database for `service` on the backend the environment picks.
    pub fn create(service: common::Service) -> anyhow::Result<Self> {
        if let Some(pg) = PgDatabase::from_env("bh")? {
            return Ok(Self::Postgres(pg));
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("bulkhead-{}-", service.name()))
            .tempdir()
            .context("creating a temporary folder")?;
        let file = dir.path().join(format!("{}.db", service.name()));
        Ok(Self::Sqlite { dir, file })
    }

    /// The URL a server is configured with.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { file, .. } => format!("sqlite://{}", file.display()),
            Self::Postgres(pg) => pg.url(),
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
            Self::Postgres(pg) => pg.destroy(),
        }
    }

    /// The SQLite file, if this is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite { file, .. } => Some(file.clone()),
            Self::Postgres(_) => None,
        }
    }

    /// The PostgreSQL URL, if this is PostgreSQL.
    pub fn pg_url(&self) -> Option<String> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres(pg) => Some(pg.url()),
        }
    }

    /// The temporary folder of a SQLite database.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            Self::Sqlite { dir, .. } => Some(dir.path()),
            Self::Postgres(_) => None,
        }
    }
}
