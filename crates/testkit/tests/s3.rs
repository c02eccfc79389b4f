//! Sealed file objects on a real S3 server (moto, on a free loopback port):
//! a 12 MiB round trip through a multipart upload, tampering, the bucket
//! holding no plaintext, delete and rename, and `check` for a reachable,
//! a missing and a stopped store.
//!
//! Without `moto_server` each test is listed as ignored, with the reason on
//! standard error (`make test` says so too). CI installs moto and sets
//! BULKHEAD_REQUIRE_S3, which turns a missing moto into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use common::crypto::FileKey;
use common::objects::{Objects, OpenError, StorageConfig};
use futures_util::StreamExt;
use libtest_mimic::{Arguments, Failed, Trial};
use testkit::s3::{moto_missing, MotoServer};

const MIB: usize = 1024 * 1024;
const IDENTITY: &[u8] = b"tenant-s3|file-1";

fn key() -> FileKey {
    FileKey::derive("k-s3-1", &[3u8; 32])
}

fn open(moto: &MotoServer, dir: &tempfile::TempDir) -> Objects {
    Objects::open(&moto.storage_config(), dir.path()).unwrap()
}

/// A recognisable plaintext: a marker repeated with a counter.
fn plaintext(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("S3-PLAINTEXT-MARKER {i:012} ").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

async fn put(objects: &Objects, path: &str, plain: &[u8]) {
    let pieces: Vec<Result<Bytes, String>> = plain
        .chunks(MIB / 3)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let stored = objects
        .put_sealed(
            path,
            &key(),
            IDENTITY,
            false,
            futures_util::stream::iter(pieces),
            &mut |_| Ok(()),
        )
        .await
        .unwrap();
    assert_eq!(stored.plain_len, plain.len() as u64);
}

/// The plaintext served, or the error that ended the read.
async fn read(objects: &Objects, path: &str) -> Result<Vec<u8>, OpenError> {
    let mut opened = objects.open_sealed(path, &key(), IDENTITY).await?;
    let mut out = Vec::new();
    while let Some(item) = opened.stream.next().await {
        out.extend_from_slice(&item?);
    }
    Ok(out)
}

async fn round_trip_of_12_mib_is_multipart_and_opaque() {
    let moto = MotoServer::start().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let objects = open(&moto, &dir);
    assert_eq!(objects.backend(), "s3");
    objects.check().await.unwrap();
    let plain = plaintext(12 * MIB);
    put(&objects, "tenant-s3/files/1", &plain).await;
    assert_eq!(read(&objects, "tenant-s3/files/1").await.unwrap(), plain);

    let etag = moto.etag("tenant-s3/files/1").unwrap();
    assert!(
        etag.ends_with("-2"),
        "a 12 MiB object is a multipart upload of two parts: {etag}"
    );
    let stored = objects.raw_get("tenant-s3/files/1").await.unwrap();
    assert!(stored.len() > plain.len());
    assert!(
        !stored.windows(19).any(|w| w == b"S3-PLAINTEXT-MARKER"),
        "the bucket holds no plaintext"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written to the local root"
    );
}

async fn tamper_rename_and_delete() {
    let moto = MotoServer::start().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let objects = open(&moto, &dir);
    let plain = plaintext(300 * 1024);
    put(&objects, "a/1", &plain).await;

    let mut sealed = objects.raw_get("a/1").await.unwrap().to_vec();
    let at = sealed.len() - 100;
    sealed[at] ^= 0x01;
    objects.raw_put("a/tampered", sealed.into()).await.unwrap();
    assert!(matches!(
        read(&objects, "a/tampered").await,
        Err(OpenError::Damaged(_))
    ));
    assert!(matches!(
        objects
            .open_sealed("a/1", &key(), b"tenant-other|file-1")
            .await,
        Err(OpenError::Damaged(_))
    ));

    objects.rename("a/1", "archive/a/1").await.unwrap();
    assert!(matches!(
        read(&objects, "a/1").await,
        Err(OpenError::NotFound)
    ));
    assert_eq!(read(&objects, "archive/a/1").await.unwrap(), plain);
    objects.delete("archive/a/1").await.unwrap();
    objects.delete("archive/a/1").await.unwrap();
    assert!(matches!(
        read(&objects, "archive/a/1").await,
        Err(OpenError::NotFound)
    ));
}

async fn check_fails_for_a_wrong_bucket_or_a_stopped_server() {
    let mut moto = MotoServer::start().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let mut cfg = moto.storage_config();
    if let StorageConfig::S3 { bucket, .. } = &mut cfg {
        *bucket = "no-such-bucket".into();
    }
    let wrong = Objects::open(&cfg, dir.path()).unwrap();
    assert!(wrong.check().await.is_err(), "a missing bucket fails check");

    let objects = open(&moto, &dir);
    objects.check().await.unwrap();
    moto.stop();
    let started = std::time::Instant::now();
    assert!(
        objects.check().await.is_err(),
        "a stopped server fails check"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "and soon"
    );
}

/// One S3 test: its own runtime, a panic reported as a failure.
fn trial(
    name: &'static str,
    test: fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> Trial {
    let missing = moto_missing();
    Trial::test(name, move || {
        if let Some(why) = missing {
            return Err(Failed::from(format!("cannot run: {why}")));
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failed::from(format!("tokio runtime: {e}")))?
            .block_on(test());
        Ok(())
    })
    .with_ignored_flag(missing.is_some())
}

fn main() {
    let args = Arguments::from_args();
    if let Some(why) = moto_missing() {
        // CI sets this: there a missing moto is a failure, not a skip.
        assert!(
            std::env::var_os("BULKHEAD_REQUIRE_S3").is_none(),
            "BULKHEAD_REQUIRE_S3 is set but moto is missing: {why}"
        );
        eprintln!("skipped (listed as ignored): {why}");
    }
    let trials = vec![
        trial("round_trip_of_12_mib_is_multipart_and_opaque", || {
            Box::pin(round_trip_of_12_mib_is_multipart_and_opaque())
        }),
        trial("tamper_rename_and_delete", || {
            Box::pin(tamper_rename_and_delete())
        }),
        trial("check_fails_for_a_wrong_bucket_or_a_stopped_server", || {
            Box::pin(check_fails_for_a_wrong_bucket_or_a_stopped_server())
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
