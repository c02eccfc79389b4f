//! Sealing a stream of plaintext into an object (see [`Objects::put_sealed`]).

use std::sync::Arc;

use anyhow::anyhow;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};
use rand::RngCore;
use tokio::task::JoinHandle;

use super::format::{
    self, CryptoError, Header, Sealer, CHUNK, LEN_PREFIX, NONCE_PREFIX_LEN, SALT_LEN, TAG_LEN,
};
use super::local::LocalSink;
use super::Objects;
use crate::crypto::FileKey;

/// Bytes per multipart part (S3 wants at least 5 MiB for all but the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once: with [`PART_SIZE`] this bounds the memory an
/// upload holds, whatever the file's size.
const PARTS_IN_FLIGHT: usize = 2;
/// Chunks sealed together on the blocking pool (1 MiB of plaintext): one
/// batch is sealed there while the next is read from the body and the one
/// before is written, so the crypto, the body and the disk overlap.
const BATCH_CHUNKS: usize = 16;

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

/// Up to [`BATCH_CHUNKS`] chunks of plaintext laid out as their records
/// will be: each chunk after room for its length prefix and before room for
/// its tag, so plain objects are sealed in place and each batch goes to the
/// store as one buffer.
struct Batch {
    buf: Vec<u8>,
    /// Where each chunk's record starts; the last chunk is being filled.
    starts: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        let mut buf = Vec::with_capacity(BATCH_CHUNKS * (LEN_PREFIX + CHUNK + TAG_LEN));
        buf.extend_from_slice(&[0; LEN_PREFIX]);
        let mut starts = Vec::with_capacity(BATCH_CHUNKS);
        starts.push(0);
        Self { buf, starts }
    }

    /// Plaintext bytes of the chunk being filled.
    fn current(&self) -> usize {
        self.buf.len() - self.starts.last().copied().unwrap_or(0) - LEN_PREFIX
    }

    /// Whether no further chunk fits (the current one being full).
    fn is_full(&self) -> bool {
        self.starts.len() == BATCH_CHUNKS && self.current() == CHUNK
    }

    /// Close the current (full) chunk and start the next.
    fn next_chunk(&mut self) {
        self.buf.extend_from_slice(&[0; TAG_LEN]);
        self.starts.push(self.buf.len());
        self.buf.extend_from_slice(&[0; LEN_PREFIX]);
    }

    /// Append plaintext to the current chunk.
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Plaintext bytes in the batch.
    fn plain_len(&self) -> usize {
        self.buf.len() - self.starts.len() * LEN_PREFIX - (self.starts.len() - 1) * TAG_LEN
    }

    /// Seal every chunk (the final one as the last record if `last`),
    /// deflating each first if `compress`: the records, and the sealer back
    /// unless the last record was sealed.
    fn seal(
        mut self,
        sealer: Sealer,
        aad: &[u8],
        last: bool,
        compress: bool,
    ) -> (Option<Sealer>, Result<Vec<u8>, CryptoError>) {
        self.buf.extend_from_slice(&[0; TAG_LEN]);
        let mut sealer = Some(sealer);
        let n = self.starts.len();
        let mut out = if compress {
            Vec::with_capacity(self.buf.len() / 2 + n * 128)
        } else {
            Vec::new()
        };
        for i in 0..n {
            let start = self.starts[i];
            let end = self.starts.get(i + 1).copied().unwrap_or(self.buf.len());
            // The record's buffer, where it starts and where its tag goes:
            // sealed in place, or deflated onto `out` first.
            let (record, at, tag_at) = if compress {
                let at = out.len();
                out.extend_from_slice(&[0; LEN_PREFIX]);
                let plain = &self.buf[start + LEN_PREFIX..end - TAG_LEN];
                out = match format::deflate_into(plain, std::mem::take(&mut out)) {
                    Ok(out) => out,
                    Err(_) => return (sealer, Err(CryptoError)),
                };
                out.extend_from_slice(&[0; TAG_LEN]);
                let tag_at = out.len() - TAG_LEN;
                (&mut out, at, tag_at)
            } else {
                (&mut self.buf, start, end - TAG_LEN)
            };
            let body = &mut record[at + LEN_PREFIX..tag_at];
            let tag = match sealer.take() {
                Some(s) if last && i + 1 == n => s.seal_last(aad, body),
                Some(mut s) => {
                    let tag = s.seal_next(aad, body);
                    sealer = Some(s);
                    tag
                }
                None => Err(CryptoError),
            };
            match tag {
                Ok(tag) => record[tag_at..tag_at + TAG_LEN].copy_from_slice(&tag),
                Err(e) => return (sealer, Err(e)),
            }
            let Ok(len) = u32::try_from(tag_at + TAG_LEN - at - LEN_PREFIX) else {
                return (sealer, Err(CryptoError));
            };
            record[at..at + LEN_PREFIX].copy_from_slice(&len.to_be_bytes());
        }
        (sealer, Ok(if compress { out } else { self.buf }))
    }
}

/// Where the records go: object_store's multipart writer (S3), or our own
/// writer for the local backend (it flushes to disk while sealing goes on:
/// see [`super::local`]).
enum Sink {
    Store(WriteMultipart),
    Local(LocalSink),
}

impl Sink {
    /// Queue `bytes`, waiting while too much is in flight.
    async fn put(&mut self, bytes: Bytes) -> anyhow::Result<()> {
        match self {
            Self::Store(upload) => {
                upload
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                upload.put(bytes);
                Ok(())
            }
            Self::Local(local) => local.put(bytes).await.map_err(|e| anyhow!("{e}")),
        }
    }

    /// Write the rest and publish the object.
    async fn finish(self) -> anyhow::Result<()> {
        match self {
            Self::Store(upload) => upload
                .finish()
                .await
                .map(|_| ())
                .map_err(|e| anyhow!("{e}")),
            Self::Local(local) => local.finish().await.map_err(|e| anyhow!("{e}")),
        }
    }

    /// Drop what was written; nothing is published.
    async fn abort(self) -> anyhow::Result<()> {
        match self {
            Self::Store(upload) => upload.abort().await.map_err(|e| anyhow!("{e}")),
            Self::Local(local) => local.abort().await.map_err(|e| anyhow!("{e}")),
        }
    }
}

/// What a sealing task hands back: the sealer (unless the last record was
/// sealed) and the records.
type Sealed = (Option<Sealer>, Result<Vec<u8>, CryptoError>);

/// The writing half of one upload: the STREAM encryptor (lent to the
/// sealing task in turn), the multipart writer and the counts.
struct Writer {
    upload: Sink,
    sealer: Option<Sealer>,
    /// The batch being sealed on the blocking pool, if any.
    sealing: Option<JoinHandle<Sealed>>,
    aad: Arc<[u8]>,
    compress: bool,
    path: String,
    plain_len: u64,
    stored_len: u64,
}

impl Writer {
    /// Seal `batch` (`last`: its final chunk ends the object) on the
    /// blocking pool, then write the batch sealed before it (waiting while
    /// too many parts are in flight): at most one batch is being sealed
    /// and one waits to be written.
    async fn submit(&mut self, batch: Batch, last: bool) -> anyhow::Result<()> {
        let previous = self.collect().await?;
        self.plain_len += batch.plain_len() as u64;
        let sealer = self.sealer.take().ok_or_else(|| self.failed())?;
        let aad = Arc::clone(&self.aad);
        let compress = self.compress;
        self.sealing = Some(tokio::task::spawn_blocking(move || {
            batch.seal(sealer, &aad, last, compress)
        }));
        if let Some(records) = previous {
            self.write(records).await?;
        }
        if last {
            if let Some(records) = self.collect().await? {
                self.write(records).await?;
            }
        }
        Ok(())
    }

    /// The records of the batch being sealed, once sealed (`None`: none was).
    async fn collect(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(sealing) = self.sealing.take() else {
            return Ok(None);
        };
        let (sealer, records) = sealing.await.map_err(|_| self.failed())?;
        self.sealer = sealer;
        records.map(Some).map_err(|_| self.failed())
    }

    async fn write(&mut self, records: Vec<u8>) -> anyhow::Result<()> {
        self.stored_len += records.len() as u64;
        self.upload
            .put(Bytes::from(records))
            .await
            .map_err(|e| anyhow!("writing object {}: {e}", self.path))
    }

    fn failed(&self) -> anyhow::Error {
        anyhow!("sealing object {}", self.path)
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
        let starting = |e: &dyn std::fmt::Display| anyhow!("starting object {path}: {e}");
        let mut upload = match &self.local {
            Some(local) => {
                let dest = local
                    .path_to_filesystem(&location)
                    .map_err(|e| PutError::Storage(starting(&e)))?;
                Sink::Local(
                    LocalSink::start(dest)
                        .await
                        .map_err(|e| PutError::Storage(starting(&e)))?,
                )
            }
            None => {
                let upload = self
                    .store
                    .put_multipart(&location)
                    .await
                    .map_err(|e| PutError::Storage(starting(&e)))?;
                Sink::Store(WriteMultipart::new_with_chunk_size(upload, PART_SIZE))
            }
        };
        if let Err(e) = upload.put(Bytes::from(header.bytes.clone())).await {
            let _ = upload.abort().await;
            return Err(PutError::Storage(anyhow!("writing object {path}: {e}")));
        }
        let mut writer = Writer {
            upload,
            sealer: Some(header.sealer(key)),
            sealing: None,
            aad: header.aad(identity).into(),
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

/// Read `body` to its end, inspecting it and sealing it batch by batch. A
/// full batch is held back until more data shows its final chunk is not the
/// last.
async fn fill<S, E>(
    writer: &mut Writer,
    body: &mut S,
    inspect: &mut (dyn FnMut(&[u8]) -> Result<(), String> + Send),
) -> Result<(), PutError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut pending = Batch::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(PutError::Body)?;
        if piece.is_empty() {
            continue;
        }
        inspect(&piece).map_err(PutError::Rejected)?;
        let mut rest = &piece[..];
        while !rest.is_empty() {
            if pending.is_full() {
                let full = std::mem::replace(&mut pending, Batch::new());
                writer
                    .submit(full, false)
                    .await
                    .map_err(PutError::Storage)?;
            } else if pending.current() == CHUNK {
                pending.next_chunk();
            }
            let take = rest.len().min(CHUNK - pending.current());
            pending.push(&rest[..take]);
            rest = &rest[take..];
        }
    }
    writer
        .submit(pending, true)
        .await
        .map_err(PutError::Storage)
}
