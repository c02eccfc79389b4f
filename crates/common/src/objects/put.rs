//! Sealing a stream of plaintext into an object (see [`Objects::put_sealed`]).

use anyhow::anyhow;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};
use rand::RngCore;

use super::format::{Header, Record, Sealer, CHUNK, NONCE_PREFIX_LEN, SALT_LEN};
use super::Objects;
use crate::crypto::FileKey;

/// Bytes per multipart part (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once: with [`PART_SIZE`] this bounds the memory an
/// upload holds, whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;

/// What [`Objects::put_sealed`] stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Plaintext bytes received.
    pub plain_len: u64,
    /// Bytes of the sealed object (header and records).
    pub stored_len: u64,
}

/// Why [`Objects::put_sealed`] stored nothing.
pub enum PutError<E> {
    /// The caller's `inspect` refused a piece (its reason).
    Rejected(String),
    /// The body stream failed.
    Body(E),
    /// Sealing or the store failed.
    Storage(anyhow::Error),
}

impl<E: std::fmt::Display> std::fmt::Display for PutError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(why) => write!(f, "upload rejected: {why}"),
            Self::Body(e) => write!(f, "upload body failed: {e}"),
            Self::Storage(e) => write!(f, "object storage failed: {e:#}"),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Debug for PutError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(why) => f.debug_tuple("Rejected").field(why).finish(),
            Self::Body(e) => f.debug_tuple("Body").field(&e.to_string()).finish(),
            Self::Storage(e) => f.debug_tuple("Storage").field(e).finish(),
        }
    }
}

impl<E: std::fmt::Display> std::error::Error for PutError<E> {}

/// The writing half of one upload: the STREAM encryptor and the multipart
/// writer, with the counts.
struct Writer {
    upload: WriteMultipart,
    sealer: Option<Sealer>,
    aad: Vec<u8>,
    compress: bool,
    path: String,
    plain_len: u64,
    stored_len: u64,
}

impl Writer {
    /// Seal one chunk (`last`: the final one) and queue it for writing,
    /// waiting while too many parts are in flight.
    async fn seal(&mut self, chunk: Record, last: bool) -> anyhow::Result<()> {
        self.plain_len += chunk.len() as u64;
        let failed = || anyhow!("sealing object {}", self.path);
        let mut record = if self.compress {
            chunk.deflated().map_err(|_| failed())?
        } else {
            chunk
        };
        if last {
            let sealer = self.sealer.take().ok_or_else(failed)?;
            sealer
                .encrypt_last_in_place(&self.aad, &mut record)
                .map_err(|_| failed())?;
        } else {
            self.sealer
                .as_mut()
                .ok_or_else(failed)?
                .encrypt_next_in_place(&self.aad, &mut record)
                .map_err(|_| failed())?;
        }
        let record = record.finish().ok_or_else(failed)?;
        self.upload
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| anyhow!("writing object {}: {e}", self.path))?;
        self.stored_len += record.len() as u64;
        self.upload.put(Bytes::from(record));
        Ok(())
    }
}

impl Objects {
    /// Seal `body` into the object at `path` under `key`, bound to
    /// `identity` (e.g. tenant and file id), deflating each chunk first if
    /// `compress`. Streams: memory stays flat whatever the size.
    ///
    /// `inspect` sees every non-empty plaintext piece of `body`, in order,
    /// before it is sealed or written (hash it, sniff its type, count it);
    /// its `Err(why)` aborts the upload with [`PutError::Rejected`]. On any
    /// error the upload is aborted and nothing is left at `path`; an object
    /// already there is replaced only by a completed upload.
    pub async fn put_sealed<S, E>(
        &self,
        path: &str,
        key: &FileKey,
        identity: &[u8],
        compress: bool,
        mut body: S,
        inspect: &mut (dyn FnMut(&[u8]) -> Result<(), String> + Send),
    ) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !Header::key_id_fits(key.key_id()) {
            return Err(PutError::Storage(anyhow!("file key id does not fit")));
        }
        let location = self.location(path).map_err(PutError::Storage)?;
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce_prefix);
        let header = Header::new(key, compress, salt, nonce_prefix);
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(|e| PutError::Storage(anyhow!("starting object {path}: {e}")))?;
        let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        upload.write(&header.bytes);
        let mut writer = Writer {
            upload,
            sealer: Some(header.sealer(key)),
            aad: header.aad(identity),
            compress,
            path: path.to_string(),
            plain_len: 0,
            stored_len: header.bytes.len() as u64,
        };
        match fill(&mut writer, &mut body, inspect).await {
            Ok(()) => {
                let stored = Stored {
                    plain_len: writer.plain_len,
                    stored_len: writer.stored_len,
                };
                writer
                    .upload
                    .finish()
                    .await
                    .map_err(|e| PutError::Storage(anyhow!("completing object {path}: {e}")))?;
                Ok(stored)
            }
            Err(e) => {
                if let Err(abort) = writer.upload.abort().await {
                    tracing::warn!(object = path, error = %abort, "aborting an upload failed");
                }
                Err(e)
            }
        }
    }
}

/// Read `body` to its end, inspecting and sealing it chunk by chunk. A full
/// chunk is held back until more data shows it is not the last.
async fn fill<S, E>(
    writer: &mut Writer,
    body: &mut S,
    inspect: &mut (dyn FnMut(&[u8]) -> Result<(), String> + Send),
) -> Result<(), PutError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut pending = Record::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(PutError::Body)?;
        if piece.is_empty() {
            continue;
        }
        inspect(&piece).map_err(PutError::Rejected)?;
        let mut rest = &piece[..];
        while !rest.is_empty() {
            if pending.len() == CHUNK {
                let full = std::mem::replace(&mut pending, Record::new());
                writer.seal(full, false).await.map_err(PutError::Storage)?;
            }
            let take = rest.len().min(CHUNK - pending.len());
            pending.push(&rest[..take]);
            rest = &rest[take..];
        }
    }
    writer.seal(pending, true).await.map_err(PutError::Storage)
}
