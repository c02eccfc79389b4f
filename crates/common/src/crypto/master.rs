//! The master key: 32 bytes that wrap every tenant's data keys.
//!
//! It comes from a file (64 hex characters or 44 base64 characters, a
//! trailing newline allowed) that must not be accessible to group or others,
//! or from a string (an environment variable). In demo mode a key is
//! generated into a new 0600 file. The bytes are wiped from memory on drop
//! and never printed: `Debug` is redacted and errors never quote the input.

use std::fmt;
use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{random_bytes, KEY_LEN};

/// The largest master key file we read (a key and some whitespace).
const MAX_FILE_LEN: u64 = 1024;

/// The 32-byte key that wraps data keys. Zeroized on drop.
pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self {
            bytes: random_bytes::<KEY_LEN>(),
        }
    }

    /// Wrap raw bytes (the caller's copy is the caller's to wipe).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Parse 64 hex characters or 44 base64 characters (standard or URL-safe
    /// alphabet, padded). Surrounding whitespace is ignored. The error never
    /// contains the input.
    pub fn from_hex_or_base64(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        match text.len() {
            64 => hex::decode_to_slice(text, &mut *bytes)
                .map_err(|_| anyhow!("the master key has 64 characters but is not hex"))?,
            44 => {
                let decoded = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                        .map_err(|_| {
                            anyhow!("the master key has 44 characters but is not base64")
                        })?,
                );
                if decoded.len() != KEY_LEN {
                    bail!("the master key must decode to {KEY_LEN} bytes");
                }
                bytes.copy_from_slice(&decoded);
            }
            n => bail!(
                "the master key must be 64 hex or 44 base64 characters ({KEY_LEN} bytes), \
                 not {n} characters"
            ),
        }
        Ok(Self { bytes })
    }

    /// Read the key from a file. Refused if the file is readable, writable
    /// or executable by group or others (`chmod 600` it), is not a regular
    /// file, or does not hold exactly one key.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("opening the master key file {}", path.display()))?;
        // The metadata of the file we opened, not of whatever the path names now.
        let meta = file
            .metadata()
            .with_context(|| format!("reading the metadata of {}", path.display()))?;
        if !meta.is_file() {
            bail!(
                "the master key file {} is not a regular file",
                path.display()
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "the master key file {} is accessible to group or others (mode {:03o}); \
                     run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        if meta.len() > MAX_FILE_LEN {
            bail!(
                "the master key file {} is too large to hold one key",
                path.display()
            );
        }
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_FILE_LEN)
            .read_to_string(&mut text)
            .with_context(|| format!("reading the master key file {}", path.display()))?;
        Self::from_hex_or_base64(&text)
            .with_context(|| format!("in the master key file {}", path.display()))
    }

    /// Generate a key and write it (hex, mode 0600) to `path`, which must
    /// not exist: an existing key is never replaced, since that would make
    /// every encrypted value unreadable. The file appears whole or not at
    /// all (written beside it, synced, then linked into place). Missing
    /// parent folders are created. For demo mode and first-time set-up.
    pub fn generate_to_file(path: &Path) -> anyhow::Result<Self> {
        let key = Self::generate();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the folder {}", dir.display()))?;
        }
        let mut text = key.to_hex();
        text.push('\n');
        crate::fsutil::write_private_atomic(path, text.as_bytes(), crate::fsutil::Existing::Keep)
            .with_context(|| format!("writing the master key file {}", path.display()))?;
        Ok(key)
    }

    /// Read the key at `path`, or generate it there if there is none yet.
    /// For demo mode only: production refuses to start without a key.
    /// Two processes starting together end up with the same key.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::from_file(path);
        }
        match Self::generate_to_file(path) {
            Ok(key) => Ok(key),
            // Someone else created it meanwhile: use theirs.
            Err(_) if path.exists() => Self::from_file(path),
            Err(e) => Err(e),
        }
    }

    /// The key as 64 hex characters (a secret: for writing it to a file or
    /// handing it to a secret store, never for logs).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(&self.bytes[..]))
    }

    /// A short, non-secret identifier of the key (16 hex characters of an
    /// HMAC over a fixed label), safe to log to tell which key is loaded.
    pub fn fingerprint(&self) -> String {
        match <Hmac<Sha256> as Mac>::new_from_slice(&*self.bytes) {
            Ok(mut mac) => {
                mac.update(b"bulkhead-master-key-fingerprint");
                hex::encode(&mac.finalize().into_bytes()[..8])
            }
            // HMAC accepts keys of any length: unreachable.
            Err(_) => String::from("unknown"),
        }
    }

    /// The raw bytes, for the keyring.
    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}
