//! Encrypted file objects on local disk or S3-compatible storage.
//!
//! [`Objects`] is one handle over an `object_store` backend (the local
//! filesystem under a root of mode 0700, or an S3 bucket). Files are
//! written with [`Objects::put_sealed`], which streams: the plaintext is cut
//! into chunks of [`CHUNK`] bytes, sealed a batch of 16 at a time on the
//! blocking pool while the next batch arrives and the one before is handed
//! to the backend's multipart writer, so the crypto overlaps the body and
//! the disk, memory stays flat whatever the size and nothing is visible at
//! the object's path until the upload completes. [`Objects::open_sealed`]
//! streams them back, authenticating each chunk before any of its bytes are
//! served.
//!
//! # Format (version 1)
//!
//! ```text
//! header:  "BKF1" ‖ version u8 (1) ‖ flags u8 (bit 0: compressed)
//!          ‖ chunk size u32 BE (65536) ‖ key id length u8 (1..=64) ‖ key id
//!          ‖ object salt (16 random bytes) ‖ STREAM nonce prefix (7 random bytes)
//! records: ( ciphertext length u32 BE ‖ AES-256-GCM ciphertext ‖ tag )*
//! ```
//!
//! The records are the STREAM construction over AES-256-GCM, laid out as
//! `aead-stream`'s `StreamBE32` (which wrote version 1 at first; ring seals
//! and opens it now, byte for byte the same) under the object's own key, HKDF-SHA256 of the
//! tenant's [`FileKey`] salted with the object salt (info
//! `bulkhead-file-object|v1`): a 56-bit random nonce prefix alone would
//! risk a repeated nonce under one key after some millions of objects, so
//! each object gets a fresh key and its prefix never meets another's. Each
//! chunk's nonce is
//! the prefix ‖ a 32-bit big-endian counter ‖ a last-block byte, so a
//! dropped, swapped, repeated or appended record fails, and so does an
//! object cut short (its final record was not sealed as the last). The
//! associated data of every record is `header ‖ identity`, where the
//! identity is what the caller binds the object to (tenant and file id):
//! a changed header, an object copied under another identity or opened
//! with another key fails. An empty file is one empty last record. With the
//! compressed flag each plaintext chunk was deflated on its own before
//! sealing. A reader refuses a record length above the chunk size plus
//! deflate's worst-case overhead plus the tag before reading it.
//!
//! # Errors and logs
//!
//! Nothing here logs content or file names; errors name the object's path
//! and what went wrong (never plaintext). Any authentication or format
//! failure is [`OpenError::Damaged`]: the caller cannot tell a wrong key
//! from a flipped bit, and need not.

mod format;
mod local;
mod open;
mod put;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::Deserialize;

pub use format::CHUNK;
pub use open::{OpenError, Opened};
pub use put::{PutError, Stored};

/// Where file objects live (the `[files.storage]` config section).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageConfig {
    /// Local filesystem; `root` defaults to `<data_dir>/objects` (created
    /// mode 0700).
    Local {
        /// The folder holding the objects.
        #[serde(default)]
        root: Option<PathBuf>,
    },
    /// S3-compatible: credentials from files (trimmed), never inline.
    S3 {
        /// The service URL (`None`: AWS for the region).
        endpoint: Option<String>,
        /// The bucket (must exist).
        bucket: String,
        /// The region (any value for most S3-compatible services).
        region: String,
        /// A file holding the access key id.
        access_key_id_file: PathBuf,
        /// A file holding the secret access key.
        secret_access_key_file: PathBuf,
        /// Allow a plain `http://` endpoint (tests, a loopback gateway).
        #[serde(default)]
        allow_http: bool,
        /// A key prefix inside the bucket, so one bucket can serve several
        /// servers.
        #[serde(default)]
        prefix: Option<String>,
    },
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Local { root: None }
    }
}

/// The object store of a server: cheap to clone, share one.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    backend: &'static str,
    prefix: Option<ObjectPath>,
    /// The local root (local backend only), checked by [`Objects::check`].
    root: Option<PathBuf>,
    /// The local backend (which `put_sealed` writes to itself).
    local: Option<Arc<LocalFileSystem>>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Objects {
    /// Open the store `cfg` names; `default_root` is the local root when
    /// the config gives none (created with mode 0700 if missing).
    pub fn open(cfg: &StorageConfig, default_root: &Path) -> anyhow::Result<Self> {
        match cfg {
            StorageConfig::Local { root } => {
                let root = root.as_deref().unwrap_or(default_root);
                create_private_dir(root)?;
                let store = Arc::new(
                    LocalFileSystem::new_with_prefix(root)
                        .with_context(|| format!("object root {}", root.display()))?
                        .with_fsync(true)
                        .with_automatic_cleanup(true),
                );
                Ok(Self {
                    store: Arc::clone(&store) as Arc<dyn ObjectStore>,
                    backend: "local",
                    prefix: None,
                    root: Some(root.to_path_buf()),
                    local: Some(store),
                })
            }
            StorageConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key_id_file,
                secret_access_key_file,
                allow_http,
                prefix,
            } => {
                // object_store's HTTP client is reqwest on rustls without a
                // provider of its own: it panics unless one is installed.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let key_id = read_secret(access_key_id_file)?;
                let secret = read_secret(secret_access_key_file)?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(key_id.as_str())
                    .with_secret_access_key(secret.as_str())
                    .with_allow_http(*allow_http)
                    .with_virtual_hosted_style_request(false)
                    .with_client_options(
                        ClientOptions::new()
                            .with_allow_http(*allow_http)
                            .with_connect_timeout(Duration::from_secs(5))
                            .with_timeout(Duration::from_secs(120)),
                    )
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(15),
                        ..RetryConfig::default()
                    });
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                let store = builder.build().context("S3 object store configuration")?;
                let prefix = match prefix.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(p) => Some(
                        ObjectPath::parse(p.trim_matches('/'))
                            .map_err(|_| anyhow!("the S3 prefix is not a valid key prefix"))?,
                    ),
                };
                Ok(Self {
                    store: Arc::new(store),
                    backend: "s3",
                    prefix,
                    root: None,
                    local: None,
                })
            }
        }
    }

    /// `"local"` or `"s3"`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Whether the store answers: one listing under the prefix (a missing
    /// bucket, bad credentials or an unreachable endpoint is an error; for
    /// the local backend, a missing root).
    pub async fn check(&self) -> anyhow::Result<()> {
        if let Some(root) = &self.root {
            if !tokio::fs::metadata(root).await.is_ok_and(|m| m.is_dir()) {
                return Err(anyhow!("local object root {} is missing", root.display()));
            }
        }
        let probe = self.location(".check")?;
        match self.store.list(Some(&probe)).next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(anyhow!("{} object store unreachable: {e}", self.backend)),
        }
    }

    /// Remove an object; an absent one is fine.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let location = self.location(path)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow!("deleting object {path}: {e}")),
        }
    }

    /// Move an object (e.g. into the archive area), replacing `to`.
    pub async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        let (src, dst) = (self.location(from)?, self.location(to)?);
        self.store
            .rename(&src, &dst)
            .await
            .map_err(|e| anyhow!("moving object {from} to {to}: {e}"))
    }

    /// The stored (sealed) bytes of an object, whole: for tests and tools.
    pub async fn raw_get(&self, path: &str) -> anyhow::Result<Bytes> {
        let location = self.location(path)?;
        let got = self
            .store
            .get(&location)
            .await
            .map_err(|e| anyhow!("reading object {path}: {e}"))?;
        got.bytes()
            .await
            .map_err(|e| anyhow!("reading object {path}: {e}"))
    }

    /// Store bytes as they are (no sealing): for tests (tampering) only.
    pub async fn raw_put(&self, path: &str, data: Bytes) -> anyhow::Result<()> {
        let location = self.location(path)?;
        self.store
            .put(&location, data.into())
            .await
            .map(|_| ())
            .map_err(|e| anyhow!("writing object {path}: {e}"))
    }

    /// The store's location of `path` (under the prefix, if any). Paths are
    /// relative and `/`-separated, without empty, `.` or `..` segments.
    fn location(&self, path: &str) -> anyhow::Result<ObjectPath> {
        let parsed = ObjectPath::parse(path).map_err(|_| anyhow!("invalid object path {path}"))?;
        let bad = parsed.parts().any(|p| {
            let p = p.as_ref();
            p == "." || p == ".."
        });
        if path.is_empty() || path.starts_with('/') || path.ends_with('/') || bad {
            return Err(anyhow!("invalid object path {path}"));
        }
        Ok(match &self.prefix {
            None => parsed,
            Some(prefix) => prefix.parts().chain(parsed.parts()).collect(),
        })
    }
}

/// Create `dir` (and parents) if missing, the last one with mode 0700.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating object root {}", dir.display()))
}

/// A secret from a file, surrounding whitespace trimmed; the error names
/// the file, never its content.
fn read_secret(path: &Path) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading S3 credential file {}", path.display()))?,
    );
    let trimmed = zeroize::Zeroizing::new(text.trim().to_string());
    if trimmed.is_empty() {
        return Err(anyhow!("S3 credential file {} is empty", path.display()));
    }
    Ok(trimmed)
}
