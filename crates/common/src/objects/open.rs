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
        match got.payload {
            GetResultPayload::File(file, _) => {
                open_local(file, path.to_string(), key.clone(), identity.to_vec()).await
            }
            GetResultPayload::Stream(s) => {
                let path = path.to_string();
                let inner = s
                    .map(move |r| {
                        r.map_err(|e| OpenError::Storage(anyhow!("reading object {path}: {e}")))
                    })
                    .boxed();
                open_stream(inner, key, identity).await
            }
        }
    }
}

/// Open a sealed object arriving as a stream of stored bytes (S3, or any
/// store that is not a local file): the records are authenticated on the
/// caller's task as the stream is polled.
pub(super) async fn open_stream(
    inner: BoxStream<'static, Result<Bytes, OpenError>>,
    key: &FileKey,
    identity: &[u8],
) -> Result<Opened, OpenError> {
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
                Some(chunk) if !chunk.is_empty() => return Some((Ok(chunk), Some((reader, None)))),
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

/// Open a local file: a blocking task reads it in large blocks (each
/// completed to a record boundary), authenticates and decrypts every record
/// of a block in place and hands the plaintext on, staying up to
/// [`READ_AHEAD`] blocks ahead. The caller's task (an actix worker writing
/// the socket) then only passes bytes on: reading, decryption and sending
/// run on two cores at once. The header and the first block are judged
/// before this returns, as on the streaming path.
async fn open_local(
    file: std::fs::File,
    path: String,
    key: FileKey,
    identity: Vec<u8>,
) -> Result<Opened, OpenError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(READ_AHEAD * RECORDS_PER_BLOCK);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let storage = |e: std::io::Error| OpenError::Storage(anyhow!("reading object {path}: {e}"));
        let mut local = match LocalReader::start(file, &key, &identity) {
            Ok(Ok(local)) => local,
            Ok(Err(e)) => {
                let _ = head_tx.send(Err(e));
                return;
            }
            Err(e) => {
                let _ = head_tx.send(Err(storage(e)));
                return;
            }
        };
        if head_tx.send(Ok(local.key_id.clone())).is_err() {
            return;
        }
        loop {
            let (pieces, end) = match local.next_block() {
                Ok(got) => got,
                Err(e) => (Vec::new(), Some(storage(e))),
            };
            for piece in pieces {
                if tx.blocking_send(Ok(piece)).is_err() {
                    return;
                }
            }
            match end {
                Some(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                None if local.opener.is_none() => return,
                None => {}
            }
        }
    });
    let key_id = head_rx
        .await
        .map_err(|_| OpenError::Storage(anyhow!("the object reader stopped")))??;
    // The first block is authenticated before the object counts as opened.
    let first = match rx.recv().await {
        Some(Ok(bytes)) => Some(Ok(bytes)),
        Some(Err(e)) => return Err(e),
        None => None,
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    });
    Ok(Opened {
        key_id,
        stream: futures_util::stream::iter(first).chain(rest).boxed(),
    })
}

/// Records in a block of [`READ_BUF`] bytes (64 KiB chunks), for the
/// channel's capacity: the read-ahead is counted in blocks.
const RECORDS_PER_BLOCK: usize = READ_BUF / format::CHUNK + 1;

/// The blocking half of [`open_local`]: the file (limited to its length when
/// opened, so the record that ends there is the last), the decryptor, and
/// the bytes of a record cut by a block's end.
struct LocalReader {
    file: std::io::Take<std::fs::File>,
    key_id: String,
    /// `None` once the last record has been opened (or one failed).
    opener: Option<Opener>,
    aad: Vec<u8>,
    compressed: bool,
    chunk: usize,
    max_record: usize,
    /// Bytes read before the last block ended inside a record.
    carry: Vec<u8>,
}

impl LocalReader {
    /// Read and check the header: `Ok(Err(_))` when the object is not one
    /// this key and identity open.
    fn start(
        mut file: std::fs::File,
        key: &FileKey,
        identity: &[u8],
    ) -> std::io::Result<Result<Self, OpenError>> {
        let total = file.metadata()?.len();
        let mut head = Vec::with_capacity(Header::FIXED + 64);
        if !read_up_to(&mut file, &mut head, Header::FIXED)? {
            return Ok(Err(damaged("truncated header")));
        }
        let need = match Header::needed(&head[..Header::FIXED]) {
            Ok(need) => need,
            Err(why) => return Ok(Err(damaged(why))),
        };
        if !read_up_to(&mut file, &mut head, need)? {
            return Ok(Err(damaged("truncated header")));
        }
        let header = match Header::parse(&head[..need]) {
            Ok(header) => header,
            Err(why) => return Ok(Err(damaged(why))),
        };
        if header.key_id != key.key_id() {
            return Ok(Err(damaged("sealed under another key")));
        }
        let left = total.saturating_sub(need as u64);
        Ok(Ok(Self {
            file: file.take(left),
            opener: Some(header.opener(key)),
            aad: header.aad(identity),
            compressed: header.compressed,
            chunk: header.chunk,
            max_record: header.max_record(),
            key_id: header.key_id,
            carry: Vec::new(),
        }))
    }

    /// Read the next block and open its records: their plaintext (slices of
    /// the block, no copy) and what ended the block early — a record that
    /// fails (then nothing after it is served) or the object's premature end.
    fn next_block(&mut self) -> std::io::Result<(Vec<Bytes>, Option<OpenError>)> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.reserve(READ_BUF + ALIGN_SLACK);
        let before = buf.len();
        (&mut self.file)
            .take(READ_BUF as u64)
            .read_to_end(&mut buf)?;
        complete_records(&mut self.file, &mut buf, self.max_record)?;
        // The file is shorter than it was when opened: cut while being read.
        let cut = buf.len() == before && self.file.limit() > 0;
        let end = self.file.limit() == 0 || cut;
        let mut spans = Vec::with_capacity(RECORDS_PER_BLOCK);
        let mut at = 0;
        let mut failed = None;
        while at < buf.len() && self.opener.is_some() && buf.len() - at >= LEN_PREFIX {
            let head = &buf[at..at + LEN_PREFIX];
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if !(TAG_LEN..=self.max_record).contains(&len) {
                failed = Some(damaged("bad record length"));
                break;
            }
            let start = at + LEN_PREFIX;
            if buf.len() - start < len {
                break;
            }
            let last = end && start + len == buf.len();
            let record = &mut buf[start..start + len];
            let opened = match self.opener.take() {
                Some(opener) if last => opener.open_last(&self.aad, record),
                Some(mut opener) => {
                    let opened = opener.open_next(&self.aad, record);
                    self.opener = Some(opener);
                    opened
                }
                None => break,
            };
            match opened {
                Ok(plain) => spans.push((start, plain)),
                Err(_) => {
                    failed = Some(damaged("a chunk failed authentication"));
                    break;
                }
            }
            at = start + len;
        }
        if failed.is_none() && self.opener.is_some() {
            if end {
                // Nothing more to read and the last record not seen.
                failed = Some(damaged("truncated"));
            } else {
                self.carry = buf[at..].to_vec();
            }
        }
        if failed.is_some() {
            self.opener = None;
        }
        let mut pieces = Vec::with_capacity(spans.len());
        if self.compressed {
            for (start, plain) in spans {
                match format::inflate(&buf[start..start + plain], self.chunk) {
                    Ok(out) if !out.is_empty() => pieces.push(Bytes::from(out)),
                    Ok(_) => {}
                    Err(why) => {
                        self.opener = None;
                        return Ok((pieces, Some(damaged(why))));
                    }
                }
            }
        } else {
            let block = Bytes::from(buf);
            pieces.extend(
                spans
                    .into_iter()
                    .filter(|&(_, plain)| plain > 0)
                    .map(|(start, plain)| block.slice(start..start + plain)),
            );
        }
        Ok((pieces, failed))
    }
}

/// Room beyond [`READ_BUF`] in a block for completing the last record (a
/// 64 KiB chunk's record, compressed or not; a larger one grows the block).
const ALIGN_SLACK: usize = 80 * 1024;

/// Read on from `file` until `buf` (which starts at a record's length
/// prefix) ends at a record boundary. A length beyond `max_record` stops
/// the alignment (the record parser refuses it); an object that ends first
/// is fine (the parser judges it).
fn complete_records(
    file: &mut impl Read,
    buf: &mut Vec<u8>,
    max_record: usize,
) -> std::io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        if !read_up_to(file, buf, at + LEN_PREFIX)? {
            return Ok(());
        }
        let head = &buf[at..at + LEN_PREFIX];
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > max_record {
            return Ok(());
        }
        at += LEN_PREFIX + len;
        if !read_up_to(file, buf, at)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Read until `buf` holds `n` bytes; `false` if the file ends first.
fn read_up_to(file: &mut impl Read, buf: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
    if buf.len() < n {
        let want = (n - buf.len()) as u64;
        Read::take(&mut *file, want).read_to_end(buf)?;
    }
    Ok(buf.len() >= n)
}
