//! The sealed object format: the header, the record framing and the
//! per-chunk compression (see the module doc of [`super`] for the layout).

use std::io::{Read, Write};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::crypto::{FileKey, KEY_LEN};

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

/// A sealing or opening failure (the AEAD refused, or the STREAM counter
/// ran out); deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CryptoError;

/// The STREAM construction over AES-256-GCM (ring), laid out exactly as
/// `aead-stream`'s `StreamBE32` (format version 1 was written with it, and
/// the compatibility tests seal with one and open with the other): the
/// 96-bit nonce of the record at `position` is the 7-byte prefix ‖ the
/// position as a 32-bit big-endian counter ‖ one byte, 1 for the last
/// record and 0 otherwise. Non-last records may not use position
/// `u32::MAX` (so a last one can always follow).
struct Stream {
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    position: u32,
}

impl Stream {
    fn new(key: &[u8; KEY_LEN], prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        let key = match UnboundKey::new(&AES_256_GCM, key) {
            Ok(key) => key,
            Err(_) => unreachable!("AES-256-GCM takes a 32-byte key"),
        };
        Self {
            key: LessSafeKey::new(key),
            prefix,
            position: 0,
        }
    }

    fn nonce(&self, last: bool) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.prefix);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&self.position.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        Nonce::assume_unique_for_key(nonce)
    }

    /// The nonce of the next non-last record, moving past it.
    fn next_nonce(&mut self) -> Result<Nonce, CryptoError> {
        if self.position == u32::MAX {
            return Err(CryptoError);
        }
        let nonce = self.nonce(false);
        self.position += 1;
        Ok(nonce)
    }
}

/// The STREAM encryptor of one object.
pub(super) struct Sealer(Stream);

impl Sealer {
    /// A sealer under the (object) key `key` with the nonce prefix.
    pub fn new(key: &[u8; KEY_LEN], prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self(Stream::new(key, prefix))
    }

    /// Encrypt `chunk` in place as the next record (not the last); the tag
    /// to store right after it.
    pub fn seal_next(
        &mut self,
        aad: &[u8],
        chunk: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = self.0.next_nonce()?;
        self.seal(nonce, aad, chunk)
    }

    /// Encrypt `chunk` in place as the last record.
    pub fn seal_last(self, aad: &[u8], chunk: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = self.0.nonce(true);
        self.seal(nonce, aad, chunk)
    }

    fn seal(
        &self,
        nonce: Nonce,
        aad: &[u8],
        chunk: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .0
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), chunk)
            .map_err(|_| CryptoError)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Encrypt the next record of a growable buffer in place, appending the
    /// tag (tests and tools).
    #[cfg(test)]
    pub fn encrypt_next_in_place(
        &mut self,
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let tag = self.seal_next(aad, buf)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }
}

/// The STREAM decryptor of one object.
pub(super) struct Opener(Stream);

impl Opener {
    /// An opener under the (object) key `key` with the nonce prefix.
    pub fn new(key: &[u8; KEY_LEN], prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self(Stream::new(key, prefix))
    }

    /// Authenticate and decrypt the next record (ciphertext ‖ tag) in
    /// place, not the last; the plaintext's length (it starts the record).
    pub fn open_next(&mut self, aad: &[u8], record: &mut [u8]) -> Result<usize, CryptoError> {
        let nonce = self.0.next_nonce()?;
        self.open(nonce, aad, record)
    }

    /// Like [`Opener::open_next`], for the last record.
    pub fn open_last(self, aad: &[u8], record: &mut [u8]) -> Result<usize, CryptoError> {
        let nonce = self.0.nonce(true);
        self.open(nonce, aad, record)
    }

    fn open(&self, nonce: Nonce, aad: &[u8], record: &mut [u8]) -> Result<usize, CryptoError> {
        self.0
            .key
            .open_in_place(nonce, Aad::from(aad), record)
            .map(|plain| plain.len())
            .map_err(|_| CryptoError)
    }
}

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
        Sealer::new(&self.object_key(key), self.nonce_prefix)
    }

    /// The STREAM decryptor for this header.
    pub fn opener(&self, key: &FileKey) -> Opener {
        Opener::new(&self.object_key(key), self.nonce_prefix)
    }

    /// This object's own AES-256-GCM key: HKDF-SHA256 of the file key with
    /// the header's salt.
    pub fn object_key(&self, key: &FileKey) -> zeroize::Zeroizing<[u8; KEY_LEN]> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&self.salt), key.bytes());
        let mut okm = zeroize::Zeroizing::new([0u8; KEY_LEN]);
        // 32 bytes is far below HKDF-SHA256's limit (255 * 32): cannot fail.
        let _ = hk.expand(OBJECT_KEY_LABEL, &mut okm[..]);
        okm
    }
}

/// The most deflate can add to `n` incompressible bytes (stored blocks of
/// at most 65535 bytes with a 5-byte head each, plus the end), generously.
fn deflate_overhead(n: usize) -> usize {
    (n / 16_000 + 1) * 5 + 64
}

/// Deflate `data` onto the end of `out` (each chunk on its own).
pub(super) fn deflate_into(data: &[u8], out: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
    enc.write_all(data)?;
    enc.finish()
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
