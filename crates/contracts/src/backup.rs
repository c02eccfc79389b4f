//! The online copy, hospital → owner (`POST /internal/v1/backups`).
//!
//! A hospital writes every row change into its change log inside the
//! writing transaction; its shipper cuts the log into batches and seals
//! each one here: the change lines are deflated, then encrypted with
//! AES-256-GCM under the tenant's **backup key**, which owner never holds.
//! Owner stores the batch as it came and sees only what the header says:
//! tenant, batch number, sequence range, row count, sizes and times.
//!
//! The associated data binds the header (tenant, number, range, count,
//! backend, schema, key id, time) and the previous batch's tag, so the
//! batches form a chain: at restore a changed batch fails to open, and a
//! dropped, reordered, replayed or substituted one fails to open against
//! the tag before it. Batch 1 follows sixteen zero bytes.
//!
//! Inside, one JSON line per change: `{"s":seq,"t":table,"o":op,"r":row}`
//! where `op` is `I` (insert), `U` (update: `r` is the new row) or `D`
//! (delete: `r` is the old row), in the order the changes committed.

use std::io::{Read, Write};

use chrono::NaiveDateTime;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The format this module writes and reads.
pub const FORMAT: u32 = 1;
/// Most changes one batch may carry.
pub const MAX_ROWS: i64 = 100_000;
/// Most bytes one batch may take on the wire (the JSON envelope).
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
/// Most bytes a batch may inflate to (refused beyond: a deflate bomb).
pub const MAX_PLAIN_BYTES: u64 = 512 * 1024 * 1024;
/// The tag batch 1 follows.
pub const GENESIS_TAG: [u8; 16] = [0; 16];
/// Length of a GCM tag.
pub const TAG_LEN: usize = 16;

/// A tenant's backup key: 32 random bytes, kept by the hospital (a file
/// the admin also stores offline); owner never sees it.
#[derive(Clone)]
pub struct BackupKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupKey({})", self.id())
    }
}

impl BackupKey {
    /// A new random key.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        Ok(Self { bytes })
    }

    /// Parse the key file's text: 64 hex digits (whitespace and `-`
    /// between groups ignored, so the printed recovery code reads back).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let digits: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let raw =
            hex::decode(&digits).map_err(|_| anyhow::anyhow!("a backup key is 64 hex digits"))?;
        let bytes: [u8; 32] = raw
            .try_into()
            .map_err(|_| anyhow::anyhow!("a backup key is 64 hex digits (32 bytes)"))?;
        Ok(Self { bytes })
    }

    /// The key as the file holds it: 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The key as a recovery code: 16 groups of 4 hex digits.
    pub fn recovery_code(&self) -> String {
        let h = self.to_hex();
        h.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Which key sealed a batch (first 8 bytes of SHA-256 of the key, hex):
    /// names the key without revealing it.
    pub fn id(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.bytes);
        hex::encode(&d.as_ref()[..8])
    }

    fn aead(&self) -> Option<LessSafeKey> {
        // A 32-byte key is always a valid AES-256 key.
        UnboundKey::new(&AES_256_GCM, &self.bytes)
            .ok()
            .map(LessSafeKey::new)
    }
}

/// One sealed batch as shipped and stored. Everything but `ciphertext` is
/// what owner sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackupBatch {
    /// [`FORMAT`].
    pub format: u32,
    /// The tenant (the sender's certificate's).
    pub tenant_id: String,
    /// 1, 2, 3, … without gaps.
    pub batch_no: i64,
    /// Lowest change sequence number in the batch.
    pub first_seq: i64,
    /// Highest change sequence number in the batch.
    pub last_seq: i64,
    /// Changes in the batch.
    pub rows: i64,
    /// `sqlite` or `postgres`: the backend the rows were written on.
    pub backend: String,
    /// The newest migration of the database that wrote them.
    pub schema_version: String,
    /// [`BackupKey::id`] of the sealing key.
    pub key_id: String,
    /// When the batch was sealed (UTC).
    pub created_at: NaiveDateTime,
    /// The AES-GCM nonce (24 hex digits).
    pub nonce: String,
    /// Deflated change lines, encrypted, tag appended (standard base64).
    pub ciphertext: String,
}

/// What owner shows of a stored batch (and what the restore lists).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupBatchInfo {
    /// Its number.
    pub batch_no: i64,
    /// Lowest change sequence number.
    pub first_seq: i64,
    /// Highest change sequence number.
    pub last_seq: i64,
    /// Changes.
    pub rows: i64,
    /// Bytes stored (the envelope).
    pub bytes: i64,
    /// When the hospital sealed it.
    pub created_at: NaiveDateTime,
    /// When owner received it.
    pub received_at: NaiveDateTime,
}

/// Owner's answer to a shipped batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupReceipt {
    /// The batch.
    pub batch_no: i64,
    /// Already held with the same bytes (a retry).
    pub duplicate: bool,
}

/// One change inside a batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Change sequence number.
    pub s: i64,
    /// Table.
    pub t: String,
    /// `I`, `U` or `D`.
    pub o: String,
    /// The row as the database rendered it to JSON.
    pub r: Box<RawValue>,
}

/// Append one change line to a batch's plaintext. `row` is the JSON text
/// the database wrote; it is checked to be JSON before it goes in.
pub fn push_change(
    out: &mut Vec<u8>,
    seq: i64,
    table: &str,
    op: &str,
    row: &str,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        s: i64,
        t: &'a str,
        o: &'a str,
        r: &'a RawValue,
    }
    let r: &RawValue = serde_json::from_str(row)
        .map_err(|e| anyhow::anyhow!("change {seq} of {table}: its row is not JSON: {e}"))?;
    serde_json::to_writer(
        &mut *out,
        &Line {
            s: seq,
            t: table,
            o: op,
            r,
        },
    )?;
    out.push(b'\n');
    Ok(())
}

/// Everything of a batch but its ciphertext and nonce.
#[derive(Debug, Clone)]
pub struct BatchHeader {
    /// The tenant.
    pub tenant_id: String,
    /// Its number.
    pub batch_no: i64,
    /// Lowest sequence number.
    pub first_seq: i64,
    /// Highest sequence number.
    pub last_seq: i64,
    /// Changes.
    pub rows: i64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Newest migration.
    pub schema_version: String,
    /// When sealed.
    pub created_at: NaiveDateTime,
}

fn aad(b: &BackupBatch, prev_tag: &[u8; TAG_LEN]) -> Vec<u8> {
    let mut a = Vec::with_capacity(160);
    a.extend_from_slice(b"bulkhead-backup-v1\0");
    for s in [&b.tenant_id, &b.backend, &b.schema_version, &b.key_id] {
        a.extend_from_slice(s.as_bytes());
        a.push(0);
    }
    for n in [b.format as i64, b.batch_no, b.first_seq, b.last_seq, b.rows] {
        a.extend_from_slice(&n.to_be_bytes());
    }
    a.extend_from_slice(
        b.created_at
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
            .as_bytes(),
    );
    a.push(0);
    a.extend_from_slice(prev_tag);
    a
}

/// Seal `lines` (from [`push_change`]) as batch `header` following the
/// batch whose tag is `prev_tag`. Returns the batch and its tag (the next
/// batch follows it).
pub fn seal(
    key: &BackupKey,
    header: BatchHeader,
    prev_tag: &[u8; TAG_LEN],
    lines: &[u8],
) -> anyhow::Result<(BackupBatch, [u8; TAG_LEN])> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(lines.len() / 4),
        flate2::Compression::new(3),
    );
    z.write_all(lines)?;
    let mut data = z.finish()?;
    let mut batch = BackupBatch {
        format: FORMAT,
        tenant_id: header.tenant_id,
        batch_no: header.batch_no,
        first_seq: header.first_seq,
        last_seq: header.last_seq,
        rows: header.rows,
        backend: header.backend,
        schema_version: header.schema_version,
        key_id: key.id(),
        created_at: header.created_at,
        nonce: hex::encode(nonce),
        ciphertext: String::new(),
    };
    let aad = aad(&batch, prev_tag);
    key.aead()
        .ok_or_else(|| anyhow::anyhow!("not an AES-256 key"))?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data,
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&data[data.len() - TAG_LEN..]);
    use base64::Engine;
    batch.ciphertext = base64::engine::general_purpose::STANDARD.encode(&data);
    Ok((batch, tag))
}

/// Why a batch did not open.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed with another key (`key_id` differs).
    OtherKey(String),
    /// Not well formed (nonce, base64, format).
    Malformed(String),
    /// Authentication failed: changed, or not the batch that follows the
    /// previous tag (dropped, reordered, replayed or substituted).
    Broken,
    /// The changes inside did not inflate or parse.
    Contents(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherKey(id) => write!(f, "sealed with another backup key (key id {id})"),
            Self::Malformed(m) => write!(f, "malformed: {m}"),
            Self::Broken => write!(
                f,
                "does not authenticate: changed, or not the batch that follows the one before (dropped, reordered or replayed)"
            ),
            Self::Contents(m) => write!(f, "its contents are unreadable: {m}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// Open a batch that follows `prev_tag`: its plaintext change lines and its
/// tag.
pub fn open(
    key: &BackupKey,
    batch: &BackupBatch,
    prev_tag: &[u8; TAG_LEN],
) -> Result<(Vec<u8>, [u8; TAG_LEN]), OpenError> {
    use base64::Engine;
    if batch.format != FORMAT {
        return Err(OpenError::Malformed(format!(
            "format {} is not {FORMAT}",
            batch.format
        )));
    }
    if batch.key_id != key.id() {
        return Err(OpenError::OtherKey(batch.key_id.clone()));
    }
    let nonce: [u8; NONCE_LEN] = hex::decode(&batch.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| OpenError::Malformed("nonce".into()))?;
    let mut data = base64::engine::general_purpose::STANDARD
        .decode(&batch.ciphertext)
        .map_err(|_| OpenError::Malformed("ciphertext is not base64".into()))?;
    if data.len() < TAG_LEN {
        return Err(OpenError::Malformed("ciphertext too short".into()));
    }
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&data[data.len() - TAG_LEN..]);
    let aad = aad(batch, prev_tag);
    let plain = key
        .aead()
        .ok_or(OpenError::Broken)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data,
        )
        .map_err(|_| OpenError::Broken)?;
    let mut out = Vec::with_capacity(plain.len() * 4);
    flate2::read::DeflateDecoder::new(&plain[..])
        .take(MAX_PLAIN_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| OpenError::Contents(e.to_string()))?;
    if out.len() as u64 > MAX_PLAIN_BYTES {
        return Err(OpenError::Contents("inflates beyond the limit".into()));
    }
    Ok((out, tag))
}

/// The changes of an opened batch, in order; checks each is one of the
/// batch's and that there are `batch.rows` of them.
pub fn changes(batch: &BackupBatch, plain: &[u8]) -> Result<Vec<Change>, OpenError> {
    let mut out = Vec::with_capacity(batch.rows.max(0) as usize);
    for line in plain.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let c: Change =
            serde_json::from_slice(line).map_err(|e| OpenError::Contents(e.to_string()))?;
        if c.s < batch.first_seq || c.s > batch.last_seq || !matches!(c.o.as_str(), "I" | "U" | "D")
        {
            return Err(OpenError::Contents(format!(
                "change {} is not one of this batch's",
                c.s
            )));
        }
        out.push(c);
    }
    if out.len() as i64 != batch.rows {
        return Err(OpenError::Contents(format!(
            "{} changes where the header says {}",
            out.len(),
            batch.rows
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(n: i64) -> BatchHeader {
        BatchHeader {
            tenant_id: "00000000-0000-4000-8000-000000000001".into(),
            batch_no: n,
            first_seq: n * 10,
            last_seq: n * 10 + 1,
            rows: 2,
            backend: "sqlite".into(),
            schema_version: "20261210001203".into(),
            created_at: chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000)
                .unwrap()
                .naive_utc(),
        }
    }

    fn lines(n: i64) -> Vec<u8> {
        let mut v = Vec::new();
        push_change(&mut v, n * 10, "patients", "I", r#"{"id":"a","x":1}"#).unwrap();
        push_change(
            &mut v,
            n * 10 + 1,
            "patients",
            "D",
            r#"{"id":"a","x":null}"#,
        )
        .unwrap();
        v
    }

    #[test]
    fn a_chain_opens_in_order_only() {
        let key = BackupKey::generate().unwrap();
        let (b1, t1) = seal(&key, header(1), &GENESIS_TAG, &lines(1)).unwrap();
        let (b2, t2) = seal(&key, header(2), &t1, &lines(2)).unwrap();
        let (b3, _) = seal(&key, header(3), &t2, &lines(3)).unwrap();
        let (p1, o1) = open(&key, &b1, &GENESIS_TAG).unwrap();
        assert_eq!(o1, t1);
        assert_eq!(p1, lines(1));
        let c = changes(&b1, &p1).unwrap();
        assert_eq!(
            (c[0].s, c[0].o.as_str(), c[0].r.get()),
            (10, "I", r#"{"id":"a","x":1}"#)
        );
        assert_eq!(open(&key, &b2, &t1).unwrap().1, t2);
        // Dropped (3 after 1), reordered (1 after 2), replayed (2 after 2).
        assert_eq!(open(&key, &b3, &t1), Err(OpenError::Broken));
        assert_eq!(open(&key, &b1, &t2), Err(OpenError::Broken));
        assert_eq!(open(&key, &b2, &t2), Err(OpenError::Broken));
        // A changed header field or byte.
        let mut b = b2.clone();
        b.rows = 1;
        assert_eq!(open(&key, &b, &t1), Err(OpenError::Broken));
        let mut b = b2.clone();
        b.tenant_id = "00000000-0000-4000-8000-000000000002".into();
        assert_eq!(open(&key, &b, &t1), Err(OpenError::Broken));
        let mut b = b2.clone();
        let mut raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &b.ciphertext)
                .unwrap();
        raw[0] ^= 1;
        b.ciphertext = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
        assert_eq!(open(&key, &b, &t1), Err(OpenError::Broken));
        // Another key is named as such.
        let other = BackupKey::generate().unwrap();
        assert!(matches!(
            open(&other, &b1, &GENESIS_TAG),
            Err(OpenError::OtherKey(_))
        ));
    }

    #[test]
    fn the_key_reads_back_from_its_file_and_its_recovery_code() {
        let key = BackupKey::generate().unwrap();
        assert_eq!(BackupKey::parse(&key.to_hex()).unwrap().id(), key.id());
        let code = key.recovery_code();
        assert_eq!(code.split('-').count(), 16);
        assert_eq!(BackupKey::parse(&code).unwrap().id(), key.id());
        assert!(BackupKey::parse("abcd").is_err());
        assert!(BackupKey::parse(&"zz".repeat(32)).is_err());
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }

    #[test]
    fn a_row_that_is_not_json_is_refused() {
        assert!(push_change(&mut Vec::new(), 1, "t", "I", "{oops").is_err());
    }
}
