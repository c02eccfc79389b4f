//! The sealed object format: the header, the record framing and the
//! per-chunk compression (see the module doc of [`super`] for the layout).

use std::io::{Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::Aes256Gcm;

use crate::crypto::FileKey;

/// Plaintext bytes per record (the last record may hold fewer).
pub const CHUNK: usize = 64 * 1024;
/// The four bytes every sealed object starts with.
pub(super) const MAGIC: &[u8; 4] = b"BKF1";
/// The format version after the magic.
pub(super) const VERSION: u8 = 1;
/// Header flag: every chunk was deflated before sealing.
pub(super) const FLAG_COMPRESSED: u8 = 1;
/// Bytes of the per-object salt: each object is sealed under its own key,
/// HKDF of the file key with this salt, so the 56-bit random nonce prefixes
/// of a tenant's many objects never share a key (two objects colliding on
/// both would take about 2^92 objects, not 2^28).
pub(super) const SALT_LEN: usize = 16;
/// HKDF info of the per-object key.
const OBJECT_KEY_LABEL: &[u8] = b"bulkhead-file-object|v1";
/// Bytes of the STREAM nonce prefix (a 96-bit nonce less the 32-bit
/// counter and the last-block byte).
pub(super) const NONCE_PREFIX_LEN: usize = 7;
/// Bytes of the AES-GCM tag after each record's ciphertext.
pub(super) const TAG_LEN: usize = 16;
/// Bytes of a record's length prefix.
pub(super) const LEN_PREFIX: usize = 4;
/// The largest chunk size a reader accepts from a header (so a damaged
/// header cannot make it allocate much before anything is authenticated).
const MAX_CHUNK: u32 = 1024 * 1024;
/// The longest key id a header may carry.
const MAX_KEY_ID: usize = 64;
/// Bytes of the header before the key id.
const FIXED_HEAD: usize = 4 + 1 + 1 + 4 + 1;
/// The longest possible header.
pub(super) const MAX_HEADER: usize = FIXED_HEAD + MAX_KEY_ID + SALT_LEN + NONCE_PREFIX_LEN;

/// The STREAM encryptor and decryptor of the format.
pub(super) type Sealer = EncryptorBE32<Aes256Gcm>;
/// See [`Sealer`].
pub(super) type Opener = DecryptorBE32<Aes256Gcm>;

/// A parsed (or freshly made) header and its exact bytes.
#[derive(Debug, Clone)]
pub(super) struct Header {
    pub compressed: bool,
    pub chunk: usize,
    pub key_id: String,
    pub salt: [u8; SALT_LEN],
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    pub bytes: Vec<u8>,
}

impl Header {
    /// A header for a new object under `key`.
    pub fn new(
        key: &FileKey,
        compressed: bool,
        salt: [u8; SALT_LEN],
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Self {
        let key_id = key.key_id().to_string();
        let mut bytes = Vec::with_capacity(MAX_HEADER);
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.push(if compressed { FLAG_COMPRESSED } else { 0 });
        bytes.extend_from_slice(&(CHUNK as u32).to_be_bytes());
        // Key ids are short ASCII (checked by the caller); truncating here
        // would only make the object unreadable, never ambiguous.
        let id = &key_id.as_bytes()[..key_id.len().min(MAX_KEY_ID)];
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&salt);
        bytes.extend_from_slice(&nonce_prefix);
        Self {
            compressed,
            chunk: CHUNK,
            key_id,
            salt,
            nonce_prefix,
            bytes,
        }
    }

    /// Whether a key id fits the header.
    pub fn key_id_fits(key_id: &str) -> bool {
        !key_id.is_empty() && key_id.len() <= MAX_KEY_ID
    }

    /// Bytes the header needs once its first [`FIXED_HEAD`] bytes are known
    /// (an error: not a sealed object of a version this code reads).
    pub fn needed(head: &[u8]) -> Result<usize, &'static str> {
        if head.len() < FIXED_HEAD {
            return Err("too short for a header");
        }
        if &head[..4] != MAGIC {
            return Err("not a sealed object");
        }
        if head[4] != VERSION {
            return Err("unknown format version");
        }
        let id_len = usize::from(head[FIXED_HEAD - 1]);
        if id_len == 0 || id_len > MAX_KEY_ID {
            return Err("bad key id length");
        }
        Ok(FIXED_HEAD + id_len + SALT_LEN + NONCE_PREFIX_LEN)
    }

    /// The bytes needed before [`Header::needed`] can answer.
    pub const FIXED: usize = FIXED_HEAD;

    /// Parse a whole header (exactly [`Header::needed`] bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, &'static str> {
        let total = Self::needed(bytes)?;
        if bytes.len() != total {
            return Err("truncated header");
        }
        let flags = bytes[5];
        if flags & !FLAG_COMPRESSED != 0 {
            return Err("unknown header flags");
        }
        let chunk = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err("bad chunk size");
        }
        let id_end = FIXED_HEAD + usize::from(bytes[FIXED_HEAD - 1]);
        let key_id = std::str::from_utf8(&bytes[FIXED_HEAD..id_end])
            .map_err(|_| "bad key id")?
            .to_string();
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[id_end..id_end + SALT_LEN]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&bytes[id_end + SALT_LEN..]);
        Ok(Self {
            compressed: flags & FLAG_COMPRESSED != 0,
            chunk: chunk as usize,
            key_id,
            salt,
            nonce_prefix,
            bytes: bytes.to_vec(),
        })
    }

    /// The associated data of every record: header bytes ‖ identity.
    pub fn aad(&self, identity: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.bytes.len() + identity.len());
        aad.extend_from_slice(&self.bytes);
        aad.extend_from_slice(identity);
        aad
    }

    /// The longest record (ciphertext and tag) this header allows.
    pub fn max_record(&self) -> usize {
        if self.compressed {
            self.chunk + deflate_overhead(self.chunk) + TAG_LEN
        } else {
            self.chunk + TAG_LEN
        }
    }

    /// The STREAM encryptor for this header.
    pub fn sealer(&self, key: &FileKey) -> Sealer {
        let nonce = self.nonce_prefix.into();
        Sealer::from_aead(self.object_cipher(key), &nonce)
    }

    /// The STREAM decryptor for this header.
    pub fn opener(&self, key: &FileKey) -> Opener {
        let nonce = self.nonce_prefix.into();
        Opener::from_aead(self.object_cipher(key), &nonce)
    }

    /// AES-256-GCM under this object's own key: HKDF-SHA256 of the file key
    /// with the header's salt.
    fn object_cipher(&self, key: &FileKey) -> Aes256Gcm {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&self.salt), key.bytes());
        let mut okm = zeroize::Zeroizing::new([0u8; crate::crypto::KEY_LEN]);
        // 32 bytes is far below HKDF-SHA256's limit (255 * 32): cannot fail.
        let _ = hk.expand(OBJECT_KEY_LABEL, &mut okm[..]);
        crate::crypto::cipher_for(&okm)
    }
}

/// The most deflate can add to `n` incompressible bytes (stored blocks of
/// at most 65535 bytes with a 5-byte head each, plus the end), generously.
fn deflate_overhead(n: usize) -> usize {
    (n / 16_000 + 1) * 5 + 64
}

/// One record being written: its length prefix, then the chunk, sealed in
/// place (the AEAD sees only what follows the prefix), so each record goes
/// to the store as one buffer.
pub(super) struct Record(Vec<u8>);

impl Record {
    /// An empty record with room for a whole chunk and the tag.
    pub fn new() -> Self {
        Self::with_capacity(CHUNK)
    }

    fn with_capacity(n: usize) -> Self {
        let mut buf = Vec::with_capacity(LEN_PREFIX + n + TAG_LEN);
        buf.extend_from_slice(&[0; LEN_PREFIX]);
        Self(buf)
    }

    /// Bytes after the prefix.
    pub fn len(&self) -> usize {
        self.0.len() - LEN_PREFIX
    }

    /// Append plaintext.
    pub fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// The record with its chunk deflated.
    pub fn deflated(&self) -> std::io::Result<Self> {
        let out = Self::with_capacity(self.len() / 2 + 64);
        let mut enc = flate2::write::DeflateEncoder::new(out.0, flate2::Compression::fast());
        enc.write_all(self.as_ref())?;
        Ok(Self(enc.finish()?))
    }

    /// The whole record, prefix set to the sealed length (`None`: too long).
    pub fn finish(mut self) -> Option<Vec<u8>> {
        let len = u32::try_from(self.len()).ok()?;
        self.0[..LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
        Some(self.0)
    }
}

impl AsRef<[u8]> for Record {
    fn as_ref(&self) -> &[u8] {
        &self.0[LEN_PREFIX..]
    }
}

impl AsMut<[u8]> for Record {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0[LEN_PREFIX..]
    }
}

impl aead_stream::aead::Buffer for Record {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead_stream::aead::Result<()> {
        self.0.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.0.truncate(LEN_PREFIX + len);
    }
}

/// Inflate one chunk; more than `limit` bytes is an error (a chunk never
/// inflates past the chunk size).
pub(super) fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(limit.min(data.len() * 4 + 64));
    flate2::read::DeflateDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| "bad compressed chunk")?;
    if out.len() > limit {
        return Err("chunk inflates past the chunk size");
    }
    Ok(out)
}
