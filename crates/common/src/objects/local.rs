//! Writing a sealed object to the local backend (see
//! [`Objects::put_sealed`](super::Objects::put_sealed)).
//!
//! object_store's local multipart upload writes a staging file and fsyncs
//! it only on completion: the written pages stay dirty in the page cache
//! (a gigabyte is far below the kernel's background writeback threshold on
//! a machine with memory), so the disk idles while chunks are sealed and
//! the whole file is flushed at the end, after all the crypto. Here the
//! writes go to the staging file from a blocking task, and a second thread
//! flushes (`fdatasync`) what has been written every [`WRITEBACK`] bytes
//! while the writing goes on, so the disk works alongside the sealing and
//! the final fsync has little left.
//!
//! Staging and publishing are object_store's (`LocalFileSystem` with
//! fsync): a staging file `<dest>#<digits>` beside the destination (its
//! listing skips such names), missing parent folders created and their
//! entries synced, then the file synced, renamed over the destination and
//! the folder synced. Nothing is visible at the destination before that; a
//! failed, aborted or dropped upload removes the staging file.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use rand::RngCore;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Bytes written between two flushes started in the background.
const WRITEBACK: usize = 32 * 1024 * 1024;
/// Buffers queued for the writing task (each a batch of records, about
/// 1 MiB): with the one being written, this bounds the memory.
const QUEUED: usize = 2;

enum Msg {
    Data(Bytes),
    /// Everything was sent: sync and publish.
    Finish,
}

/// An upload to the local backend in progress.
pub(super) struct LocalSink {
    tx: mpsc::Sender<Msg>,
    /// The writing task: `Ok(true)` published, `Ok(false)` given up
    /// (`None` once awaited).
    task: Option<JoinHandle<io::Result<bool>>>,
}

impl LocalSink {
    /// Start writing the object at `dest` (a staging file beside it).
    pub async fn start(dest: PathBuf) -> io::Result<Self> {
        let (file, staging, dest) = tokio::task::spawn_blocking(move || {
            let (file, staging) = new_staging(&dest)?;
            Ok::<_, io::Error>((file, staging, dest))
        })
        .await
        .map_err(io::Error::other)??;
        let (tx, mut rx) = mpsc::channel(QUEUED);
        let task = tokio::task::spawn_blocking(move || {
            let published = write_and_publish(file, &staging, &dest, &mut rx);
            if !matches!(published, Ok(true)) {
                let _ = std::fs::remove_file(&staging);
            }
            published
        });
        Ok(Self {
            tx,
            task: Some(task),
        })
    }

    /// Queue bytes to be written (waits while [`QUEUED`] are).
    pub async fn put(&mut self, bytes: Bytes) -> io::Result<()> {
        if self.tx.send(Msg::Data(bytes)).await.is_ok() {
            return Ok(());
        }
        // The task stopped: its error says why.
        Err(self.stopped().await)
    }

    /// Write what is queued, sync and publish the object.
    pub async fn finish(mut self) -> io::Result<()> {
        if self.tx.send(Msg::Finish).await.is_err() {
            return Err(self.stopped().await);
        }
        match self.join().await? {
            true => Ok(()),
            false => Err(io::Error::other("the upload was given up")),
        }
    }

    /// Give up: the staging file is removed, nothing is published.
    pub async fn abort(mut self) -> io::Result<()> {
        // Close the queue: the task sees the end without a `Finish`.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        // A task already awaited (it failed) removed its staging file.
        if self.task.is_none() {
            return Ok(());
        }
        self.join().await.map(|_| ())
    }

    /// The writing task's outcome (once only; after that, an error).
    async fn join(&mut self) -> io::Result<bool> {
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Err(io::Error::other("the writing task already stopped")),
        }
    }

    /// Why the writing task stopped early.
    async fn stopped(&mut self) -> io::Error {
        match self.join().await {
            Err(e) => e,
            Ok(_) => io::Error::other("the writing task stopped"),
        }
    }
}

/// Create the staging file of `dest` (and missing parent folders).
fn new_staging(dest: &Path) -> io::Result<(File, PathBuf)> {
    if let Some(parent) = dest.parent() {
        create_dirs(parent)?;
    }
    let mut id = rand::rngs::OsRng.next_u32();
    loop {
        let mut staging = dest.as_os_str().to_owned();
        staging.push(format!("#{id}"));
        let staging = PathBuf::from(staging);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => id = id.wrapping_add(1),
            Err(e) => return Err(e),
        }
    }
}

/// Create `dir` and missing parents, syncing the folder that gains each
/// new entry (so the object's path survives a crash once published).
fn create_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(dir.parent()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: Option<&Path>) -> io::Result<()> {
    match dir {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Write what arrives to `file` while a second thread flushes it every
/// [`WRITEBACK`] bytes; on [`Msg::Finish`] sync it, rename it to `dest` and
/// sync the folder (`Ok(true)`). `Ok(false)`: the sender went away first.
fn write_and_publish(
    file: File,
    staging: &Path,
    dest: &Path,
    rx: &mut mpsc::Receiver<Msg>,
) -> io::Result<bool> {
    let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
    let finished = std::thread::scope(|scope| {
        let file = &file;
        let flusher = scope.spawn(move || {
            while kicked.recv().is_ok() {
                file.sync_data()?;
            }
            Ok::<(), io::Error>(())
        });
        let written = (|| -> io::Result<bool> {
            let mut out = file;
            let mut since = 0;
            loop {
                match rx.blocking_recv() {
                    Some(Msg::Data(bytes)) => {
                        out.write_all(&bytes)?;
                        since += bytes.len();
                        if since >= WRITEBACK {
                            since = 0;
                            // A flush still running covers it: no queue.
                            let _ = kick.try_send(());
                        }
                    }
                    Some(Msg::Finish) => return Ok(true),
                    None => return Ok(false),
                }
            }
        })();
        drop(kick);
        let flushed = flusher
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the flushing thread panicked")));
        let finished = written?;
        flushed?;
        Ok::<bool, io::Error>(finished)
    })?;
    if !finished {
        return Ok(false);
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(staging, dest)?;
    sync_dir(dest.parent())?;
    Ok(true)
}
