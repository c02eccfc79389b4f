//! Opening a sealed object as a stream of authenticated plaintext (see
//! [`Objects::open_sealed`]).

use std::io::Read;

use anyhow::anyhow;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::{GetResultPayload, ObjectStoreExt};

use super::format::{self, Header, Opener, LEN_PREFIX, TAG_LEN};
use super::Objects;
use crate::crypto::FileKey;

/// Bytes read from a local file at a time (object_store's own stream reads
/// 8 KiB, several times slower).
const READ_BUF: usize = 1024 * 1024;
/// Blocks read ahead of the reader (memory: this many times [`READ_BUF`]).
const READ_AHEAD: usize = 2;

/// An object opened for reading: its first chunk is already authenticated.
pub struct Opened {
    /// The data key id in the object's header (the one of the key given).
    pub key_id: String,
    /// The plaintext, chunk by chunk; a damaged later chunk is one
    /// `Err(Damaged)` item, then the stream ends.
    pub stream: BoxStream<'static, Result<Bytes, OpenError>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why an object cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No object at that path.
    #[error("object not found")]
    NotFound,
    /// The object fails authentication or is not in the format (changed,
    /// cut short, moved to another identity, or another key).
    #[error("object damaged: {0}")]
    Damaged(String),
    /// The store failed.
    #[error("object storage failed: {0:#}")]
    Storage(anyhow::Error),
}

fn damaged(why: &str) -> OpenError {
    OpenError::Damaged(why.to_string())
}

impl Objects {
    /// Open the object at `path` sealed under `key` for `identity`. The
    /// header and the first chunk are authenticated before this returns, so
    /// a wrong key or identity or a damaged start is `Err(Damaged)` before
    /// any byte is served; later chunks are authenticated as they stream.
    pub async fn open_sealed(
        &self,
        path: &str,
        key: &FileKey,
        identity: &[u8],
    ) -> Result<Opened, OpenError> {
        let location = self.location(path).map_err(OpenError::Storage)?;
        let got = match self.store.get(&location).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Err(OpenError::NotFound),
            Err(e) => return Err(OpenError::Storage(anyhow!("reading object {path}: {e}"))),
        };
        let inner = match got.payload {
            GetResultPayload::File(file, _) => file_stream(file, path.to_string()),
            GetResultPayload::Stream(s) => {
                let path = path.to_string();
                s.map(move |r| {
                    r.map_err(|e| OpenError::Storage(anyhow!("reading object {path}: {e}")))
                })
                .boxed()
            }
        };
        let mut source = Source {
            inner,
            buf: BytesMut::new(),
            done: false,
        };
        if !source.fill(Header::FIXED).await? {
            return Err(damaged("truncated header"));
        }
        let need = Header::needed(&source.buf[..Header::FIXED]).map_err(damaged)?;
        if !source.fill(need).await? {
            return Err(damaged("truncated header"));
        }
        let header = Header::parse(&source.buf[..need]).map_err(damaged)?;
        source.buf.advance(need);
        if header.key_id != key.key_id() {
            return Err(damaged("sealed under another key"));
        }
        let mut reader = Reader {
            source,
            opener: Some(header.opener(key)),
            aad: header.aad(identity),
            compressed: header.compressed,
            chunk: header.chunk,
            max_record: header.max_record(),
        };
        let first = reader.next_record().await?;
        let stream = futures_util::stream::unfold(Some((reader, first)), |state| async move {
            let (mut reader, mut pending) = state?;
            loop {
                match pending.take() {
                    Some(chunk) if !chunk.is_empty() => {
                        return Some((Ok(chunk), Some((reader, None))))
                    }
                    Some(_) => {}
                    None => match reader.next_record().await {
                        Ok(None) => return None,
                        Ok(Some(chunk)) => pending = Some(chunk),
                        Err(e) => return Some((Err(e), None)),
                    },
                }
            }
        })
        .boxed();
        Ok(Opened {
            key_id: header.key_id,
            stream,
        })
    }
}

/// The stored bytes, buffered so records can be cut out of them.
struct Source {
    inner: BoxStream<'static, Result<Bytes, OpenError>>,
    buf: BytesMut,
    done: bool,
}

impl Source {
    /// Buffer at least `n` bytes; `false` if the object ends before.
    async fn fill(&mut self, n: usize) -> Result<bool, OpenError> {
        while self.buf.len() < n {
            if self.done {
                return Ok(false);
            }
            match self.inner.next().await {
                Some(Ok(bytes)) if self.buf.is_empty() => match bytes.try_into_mut() {
                    // Take the read buffer as it is: no copy.
                    Ok(owned) => self.buf = owned,
                    Err(shared) => self.buf.extend_from_slice(&shared),
                },
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(e),
                None => self.done = true,
            }
        }
        Ok(true)
    }
}

/// The reading half: the STREAM decryptor over the buffered source.
struct Reader {
    source: Source,
    /// `None` once the last record has been opened.
    opener: Option<Opener>,
    aad: Vec<u8>,
    compressed: bool,
    chunk: usize,
    max_record: usize,
}

impl Reader {
    /// The next record's plaintext; `None` after the last one. A record is
    /// the last exactly when the object ends right after it, so a cut or an
    /// extension of the object fails authentication.
    async fn next_record(&mut self) -> Result<Option<Bytes>, OpenError> {
        if self.opener.is_none() {
            return Ok(None);
        }
        if !self.source.fill(LEN_PREFIX).await? {
            return Err(damaged("truncated"));
        }
        let head = &self.source.buf[..LEN_PREFIX];
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if !(TAG_LEN..=self.max_record).contains(&len) {
            return Err(damaged("bad record length"));
        }
        if !self.source.fill(LEN_PREFIX + len).await? {
            return Err(damaged("truncated"));
        }
        self.source.buf.advance(LEN_PREFIX);
        let mut record = self.source.buf.split_to(len);
        let last = !self.source.fill(1).await?;
        let opened = match (last, self.opener.as_mut()) {
            (false, Some(opener)) => opener.open_next(&self.aad, &mut record),
            (true, Some(_)) => match self.opener.take() {
                Some(opener) => opener.open_last(&self.aad, &mut record),
                None => return Err(damaged("record after the last")),
            },
            (_, None) => return Err(damaged("record after the last")),
        };
        match opened {
            Ok(plain) => record.truncate(plain),
            Err(_) => {
                self.opener = None;
                return Err(damaged("a chunk failed authentication"));
            }
        }
        if self.compressed {
            let plain = format::inflate(&record, self.chunk).map_err(damaged)?;
            Ok(Some(Bytes::from(plain)))
        } else {
            Ok(Some(record.freeze()))
        }
    }
}

/// A local file read in large blocks by a blocking task that stays up to
/// [`READ_AHEAD`] blocks ahead, so the disk reads while chunks are being
/// authenticated. Each block is completed to a record boundary (the task
/// follows the length prefixes, checking nothing else), so the reader takes
/// every block as it is, without copying a record that straddles two. A
/// length that makes no sense stops the alignment, not the stream: the
/// reader refuses it. The task stops when the stream is dropped.
pub(super) fn file_stream(
    file: std::fs::File,
    path: String,
) -> BoxStream<'static, Result<Bytes, OpenError>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, OpenError>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        // Whether blocks still end at record boundaries, and what starts
        // the next one (the first: the header).
        let mut aligned = true;
        let mut start = Align::Header;
        loop {
            let mut buf = Vec::with_capacity(READ_BUF + ALIGN_SLACK);
            let read = match (&mut file).take(READ_BUF as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(_) if aligned => {
                    complete_records(&mut file, &mut buf, start).map(|ok| aligned = ok)
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            start = Align::Record;
            let block = match read {
                Ok(()) => Ok(Bytes::from(buf)),
                Err(e) => Err(OpenError::Storage(anyhow!("reading object {path}: {e}"))),
            };
            let failed = block.is_err();
            if tx.blocking_send(block).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let block = rx.recv().await?;
        Some((block, rx))
    })
    .boxed()
}

/// Room beyond [`READ_BUF`] in a block for completing the last record (a
/// 64 KiB chunk's record, compressed or not; a larger one grows the block).
const ALIGN_SLACK: usize = 80 * 1024;
/// The largest record length the read-ahead follows (a record of any chunk
/// size a header may give, compressed, with its tag).
const MAX_ALIGNED_RECORD: usize = 1024 * 1024 + 64 * 1024;

/// What starts a block of the stored object.
#[derive(Debug, Clone, Copy)]
enum Align {
    /// The header (the first block).
    Header,
    /// A record's length prefix.
    Record,
}

/// Read on from `file` until `buf` ends at a record boundary: `false` if
/// the framing could not be followed (left to the reader to refuse). An
/// object that ends first is fine (the reader judges it).
fn complete_records(
    file: &mut std::fs::File,
    buf: &mut Vec<u8>,
    start: Align,
) -> std::io::Result<bool> {
    let mut at = match start {
        Align::Record => 0,
        Align::Header => {
            if !read_up_to(file, buf, Header::FIXED)? {
                return Ok(true);
            }
            match Header::needed(&buf[..Header::FIXED]) {
                Ok(need) => need,
                Err(_) => return Ok(false),
            }
        }
    };
    if !read_up_to(file, buf, at)? {
        return Ok(true);
    }
    while at < buf.len() {
        if !read_up_to(file, buf, at + LEN_PREFIX)? {
            return Ok(true);
        }
        let head = &buf[at..at + LEN_PREFIX];
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_ALIGNED_RECORD {
            return Ok(false);
        }
        at += LEN_PREFIX + len;
        if !read_up_to(file, buf, at)? {
            return Ok(true);
        }
    }
    Ok(true)
}

/// Read until `buf` holds `n` bytes; `false` if the file ends first.
fn read_up_to(file: &mut std::fs::File, buf: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
    if buf.len() < n {
        let want = (n - buf.len()) as u64;
        Read::take(&mut *file, want).read_to_end(buf)?;
    }
    Ok(buf.len() >= n)
}
