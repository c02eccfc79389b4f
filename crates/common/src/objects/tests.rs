//! The sealed object store on the local backend: round trips, every
//! tamper case, aborts, and that no plaintext reaches the disk.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use tempfile::TempDir;

use super::format::{LEN_PREFIX, TAG_LEN};
use super::*;
use crate::crypto::FileKey;

const IDENTITY: &[u8] = b"tenant-a|file-1";

fn key() -> FileKey {
    FileKey::derive("k-tenant-a-1", &[7u8; 32])
}

fn local() -> (TempDir, Objects) {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("objects");
    let objects = Objects::open(&StorageConfig::default(), &root).unwrap();
    (dir, objects)
}

/// Bytes that differ at every position modulo a large prime, so a shifted,
/// swapped or foreign chunk never matches the original by chance.
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8) ^ seed.wrapping_mul(31) ^ ((i / 251) as u8))
        .collect()
}

/// `bytes` as a body in uneven pieces.
fn body(bytes: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, String>> + Unpin + Send {
    let pieces: Vec<Result<Bytes, String>> = bytes
        .chunks(10_007)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(pieces)
}

async fn put(objects: &Objects, path: &str, plain: &[u8], compress: bool) -> Stored {
    let mut seen = Vec::new();
    let stored = objects
        .put_sealed(
            path,
            &key(),
            IDENTITY,
            compress,
            body(plain),
            &mut |piece| {
                seen.extend_from_slice(piece);
                Ok(())
            },
        )
        .await
        .unwrap();
    assert_eq!(seen, plain, "inspect sees every byte, in order");
    stored
}

/// Everything served and the error that ended the read, if any.
async fn read(
    objects: &Objects,
    path: &str,
    key: &FileKey,
    identity: &[u8],
) -> (Vec<u8>, Option<OpenError>) {
    let local = drain(objects.open_sealed(path, key, identity).await).await;
    // The same bytes through the streaming path (S3 and other stores) give
    // the same plaintext and the same refusal.
    if let Ok(sealed) = objects.raw_get(path).await {
        let pieces: Vec<Result<Bytes, OpenError>> = sealed
            .chunks(300_007)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let streamed = drain(
            open::open_stream(futures_util::stream::iter(pieces).boxed(), key, identity).await,
        )
        .await;
        assert_eq!(local.0, streamed.0, "{path}: local and streamed plaintext");
        assert_eq!(
            local.1.as_ref().map(std::mem::discriminant),
            streamed.1.as_ref().map(std::mem::discriminant),
            "{path}: local {:?}, streamed {:?}",
            local.1,
            streamed.1
        );
    }
    local
}

async fn drain(opened: Result<open::Opened, OpenError>) -> (Vec<u8>, Option<OpenError>) {
    let mut opened = match opened {
        Ok(opened) => opened,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    while let Some(item) = opened.stream.next().await {
        match item {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(e) => {
                assert!(
                    opened.stream.next().await.is_none(),
                    "the stream ends after an error"
                );
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

fn records(sealed: &[u8]) -> (usize, Vec<(usize, usize)>) {
    let header = 11 + usize::from(sealed[10]) + 16 + 7;
    let mut at = header;
    let mut out = Vec::new();
    while at < sealed.len() {
        let len = u32::from_be_bytes(sealed[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, at + LEN_PREFIX + len));
        at += LEN_PREFIX + len;
    }
    assert_eq!(at, sealed.len());
    (header, out)
}

/// A damaged object is refused, and whatever was served before the refusal
/// is a prefix of the original.
async fn assert_refused(objects: &Objects, sealed: Vec<u8>, original: &[u8], what: &str) {
    objects.raw_put("tampered", sealed.into()).await.unwrap();
    let (served, err) = read(objects, "tampered", &key(), IDENTITY).await;
    assert!(
        matches!(err, Some(OpenError::Damaged(_))),
        "{what}: refused as damaged, got {err:?}"
    );
    assert!(
        served.len() <= original.len() && served[..] == original[..served.len()],
        "{what}: served only authentic bytes at their place"
    );
}

#[tokio::test]
async fn round_trips_every_size_with_and_without_compression() {
    let (_dir, objects) = local();
    for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
        for compress in [false, true] {
            let plain = data(size, 3);
            let path = format!("t/{size}-{compress}");
            let stored = put(&objects, &path, &plain, compress).await;
            assert_eq!(stored.plain_len, size as u64);
            let raw = objects.raw_get(&path).await.unwrap();
            assert_eq!(stored.stored_len, raw.len() as u64, "{size} {compress}");
            let records = records(&raw).1.len();
            assert_eq!(
                records,
                size.div_ceil(CHUNK).max(1),
                "{size}: one record per chunk"
            );
            let opened = objects.open_sealed(&path, &key(), IDENTITY).await.unwrap();
            assert_eq!(opened.key_id, "k-tenant-a-1");
            let (back, err) = read(&objects, &path, &key(), IDENTITY).await;
            assert!(err.is_none(), "{size} {compress}: {err:?}");
            assert_eq!(back, plain, "{size} {compress}");
        }
    }
}

#[tokio::test]
async fn compression_stores_compressible_data_smaller() {
    let (_dir, objects) = local();
    let plain = b"patient note: stable, afebrile, continue plan. ".repeat(20_000);
    let plain_stored = put(&objects, "plain", &plain, false).await;
    let packed_stored = put(&objects, "packed", &plain, true).await;
    assert!(plain_stored.stored_len > plain.len() as u64);
    assert!(
        packed_stored.stored_len * 10 < plain_stored.stored_len,
        "{packed_stored:?} vs {plain_stored:?}"
    );
    let (back, err) = read(&objects, "packed", &key(), IDENTITY).await;
    assert!(err.is_none());
    assert_eq!(back, plain);
}

#[tokio::test]
async fn every_tamper_is_refused() {
    let (_dir, objects) = local();
    let plain = data(3 * CHUNK + 5, 1);
    put(&objects, "orig", &plain, false).await;
    let sealed = objects.raw_get("orig").await.unwrap().to_vec();
    let (header, recs) = records(&sealed);
    assert_eq!(recs.len(), 4);
    let record = |i: usize| sealed[recs[i].0..recs[i].1].to_vec();

    for at in 0..header {
        let mut t = sealed.clone();
        t[at] ^= 0x01;
        assert_refused(&objects, t, &plain, &format!("header byte {at}")).await;
    }
    for (what, at) in [
        ("first record", recs[0].0 + LEN_PREFIX + 100),
        ("first record's tag", recs[0].1 - 1),
        ("later record", recs[2].0 + LEN_PREFIX + 7),
        ("last record", recs[3].0 + LEN_PREFIX),
    ] {
        let mut t = sealed.clone();
        t[at] ^= 0x80;
        assert_refused(&objects, t, &plain, what).await;
    }
    for (what, flip) in [
        ("length up", 0x01u8),
        ("length down", 0x02),
        ("length huge", 0xf0),
    ] {
        let mut t = sealed.clone();
        let at = if flip == 0xf0 {
            recs[1].0
        } else {
            recs[1].0 + 3
        };
        t[at] ^= flip;
        assert_refused(&objects, t, &plain, what).await;
    }

    let rebuild = |order: &[usize]| {
        let mut t = sealed[..header].to_vec();
        for &i in order {
            t.extend_from_slice(&record(i));
        }
        t
    };
    assert_refused(&objects, rebuild(&[0, 2, 3]), &plain, "record dropped").await;
    assert_refused(&objects, rebuild(&[0, 2, 1, 3]), &plain, "records swapped").await;
    assert_refused(
        &objects,
        rebuild(&[0, 1, 2]),
        &plain,
        "cut at a record boundary",
    )
    .await;
    assert_refused(
        &objects,
        rebuild(&[0, 1, 2, 3, 3]),
        &plain,
        "last record twice",
    )
    .await;
    assert_refused(
        &objects,
        sealed[..recs[2].0 + 1000].to_vec(),
        &plain,
        "cut mid-record",
    )
    .await;
    assert_refused(
        &objects,
        sealed[..recs[2].0 + 2].to_vec(),
        &plain,
        "cut mid-length",
    )
    .await;
    assert_refused(&objects, sealed[..header].to_vec(), &plain, "header only").await;
    assert_refused(
        &objects,
        sealed[..header - 3].to_vec(),
        &plain,
        "cut header",
    )
    .await;
    let mut t = sealed.clone();
    t.extend_from_slice(b"\0\0\0\0");
    assert_refused(&objects, t, &plain, "bytes after the last record").await;

    // Records of another object under the same key and identity.
    let other = data(3 * CHUNK + 5, 2);
    put(&objects, "other", &other, false).await;
    let foreign = objects.raw_get("other").await.unwrap().to_vec();
    let (_, frecs) = records(&foreign);
    let mut t = sealed.clone();
    t.extend_from_slice(&foreign[frecs[3].0..frecs[3].1]);
    assert_refused(&objects, t, &plain, "foreign record appended").await;
    let mut t = rebuild(&[0]);
    t.extend_from_slice(&foreign[frecs[1].0..frecs[1].1]);
    t.extend_from_slice(&record(2));
    t.extend_from_slice(&record(3));
    assert_refused(&objects, t, &plain, "foreign record in place").await;
    let mut t = foreign[..header].to_vec();
    t.extend_from_slice(&sealed[header..]);
    assert_refused(&objects, t, &plain, "another object's header").await;

    // Untouched, it still opens.
    let (back, err) = read(&objects, "orig", &key(), IDENTITY).await;
    assert!(err.is_none());
    assert_eq!(back, plain);
}

/// The local reader works in blocks of 1 MiB (16 records): tampering in a
/// later block, at a block's edge, or with the object's end is refused there
/// too, and the plaintext before it is exactly the original's.
#[tokio::test]
async fn every_tamper_is_refused_across_read_blocks() {
    let (_dir, objects) = local();
    let plain = data(40 * CHUNK + 7, 4);
    put(&objects, "big", &plain, false).await;
    let sealed = objects.raw_get("big").await.unwrap().to_vec();
    let (header, recs) = records(&sealed);
    assert_eq!(recs.len(), 41);
    let (back, err) = read(&objects, "big", &key(), IDENTITY).await;
    assert!(err.is_none());
    assert_eq!(back, plain);
    for i in [15, 16, 17, 31, 32, 40] {
        let mut t = sealed.clone();
        t[recs[i].0 + LEN_PREFIX + 9] ^= 0x04;
        assert_refused(&objects, t, &plain, &format!("record {i}")).await;
    }
    let rebuild = |order: &[usize]| {
        let mut t = sealed[..header].to_vec();
        for &i in order {
            t.extend_from_slice(&sealed[recs[i].0..recs[i].1]);
        }
        t
    };
    let all: Vec<usize> = (0..41).collect();
    let mut swapped = all.clone();
    swapped.swap(16, 17);
    assert_refused(
        &objects,
        rebuild(&swapped),
        &plain,
        "records 16 and 17 swapped",
    )
    .await;
    assert_refused(&objects, rebuild(&all[..32]), &plain, "cut after record 31").await;
    assert_refused(
        &objects,
        rebuild(&all[..16]),
        &plain,
        "cut after the first block",
    )
    .await;
    let mut dropped = all.clone();
    dropped.remove(16);
    assert_refused(&objects, rebuild(&dropped), &plain, "record 16 dropped").await;
    let mut t = sealed.clone();
    t.extend_from_slice(&sealed[recs[5].0..recs[5].1]);
    assert_refused(&objects, t, &plain, "a record appended").await;
    let mut t = sealed.clone();
    let at = recs[20].0;
    t[at..at + LEN_PREFIX].copy_from_slice(&[0xff; LEN_PREFIX]);
    assert_refused(&objects, t, &plain, "a nonsensical length in block 2").await;
}

#[tokio::test]
async fn wrong_key_or_identity_is_refused_before_any_byte() {
    let (_dir, objects) = local();
    let plain = data(2 * CHUNK, 4);
    put(&objects, "f", &plain, true).await;
    let other_tenant = FileKey::derive("k-tenant-b-1", &[9u8; 32]);
    let same_id_other_bytes = FileKey::derive("k-tenant-a-1", &[8u8; 32]);
    for (what, key, identity) in [
        ("other tenant's key", &other_tenant, IDENTITY),
        ("same id, other key", &same_id_other_bytes, IDENTITY),
        ("other identity", &key(), &b"tenant-b|file-1"[..]),
        ("other file id", &key(), &b"tenant-a|file-2"[..]),
    ] {
        let err = objects.open_sealed("f", key, identity).await.err();
        assert!(
            matches!(err, Some(OpenError::Damaged(_))),
            "{what}: {err:?}"
        );
    }
    assert!(matches!(
        objects.open_sealed("absent", &key(), IDENTITY).await.err(),
        Some(OpenError::NotFound)
    ));
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_rejected_or_failed_upload_leaves_nothing() {
    let (dir, objects) = local();
    let plain = data(5 * CHUNK, 5);
    let mut calls = 0;
    let got = objects
        .put_sealed(
            "x/rejected",
            &key(),
            IDENTITY,
            false,
            body(&plain),
            &mut |_| {
                calls += 1;
                if calls == 20 {
                    Err("too large".into())
                } else {
                    Ok(())
                }
            },
        )
        .await;
    assert!(matches!(got, Err(PutError::Rejected(ref why)) if why == "too large"));
    let pieces: Vec<Result<Bytes, String>> = vec![
        Ok(Bytes::from(plain[..3 * CHUNK].to_vec())),
        Err("client went away".into()),
    ];
    let got = objects
        .put_sealed(
            "x/failed",
            &key(),
            IDENTITY,
            false,
            futures_util::stream::iter(pieces),
            &mut |_| Ok(()),
        )
        .await;
    assert!(matches!(got, Err(PutError::Body(ref e)) if e == "client went away"));
    // Let the aborted uploads' clean-up run.
    tokio::task::yield_now().await;
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    for path in ["x/rejected", "x/failed"] {
        assert!(matches!(
            objects.open_sealed(path, &key(), IDENTITY).await.err(),
            Some(OpenError::NotFound)
        ));
    }

    // A refused replacement leaves the old object as it was.
    put(&objects, "kept", &plain, false).await;
    let got = objects
        .put_sealed("kept", &key(), IDENTITY, false, body(b"new"), &mut |_| {
            Err("no".into())
        })
        .await;
    assert!(matches!(got, Err(PutError::Rejected(_))));
    let (back, err) = read(&objects, "kept", &key(), IDENTITY).await;
    assert!(err.is_none());
    assert_eq!(back, plain);
}

#[tokio::test]
async fn no_plaintext_reaches_the_disk() {
    let (dir, objects) = local();
    let marker = b"BULKHEAD-DISTINCTIVE-PLAINTEXT-7f3a9c";
    let mut plain = Vec::new();
    while plain.len() < 3 * CHUNK {
        plain.extend_from_slice(marker);
        plain.extend_from_slice(b" patient: Jane Roe; diagnosis: none. ");
    }
    put(&objects, "a/plain", &plain, false).await;
    put(&objects, "a/packed", &plain, true).await;
    let all = files(dir.path());
    assert_eq!(all.len(), 2);
    for file in all {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(12)
                .any(|w| marker.windows(12).any(|m| m == w)),
            "{} holds plaintext",
            file.display()
        );
        assert!(!bytes.windows(8).any(|w| w == b"Jane Roe"));
    }
}

#[tokio::test]
async fn delete_rename_check_and_paths() {
    let (dir, objects) = local();
    assert_eq!(objects.backend(), "local");
    objects.check().await.unwrap();
    objects.delete("never/there").await.unwrap();
    let plain = data(CHUNK + 3, 6);
    put(&objects, "live/1", &plain, false).await;
    objects.rename("live/1", "archive/2026/1").await.unwrap();
    assert!(matches!(
        objects.open_sealed("live/1", &key(), IDENTITY).await.err(),
        Some(OpenError::NotFound)
    ));
    let (back, err) = read(&objects, "archive/2026/1", &key(), IDENTITY).await;
    assert!(err.is_none());
    assert_eq!(back, plain);
    objects.delete("archive/2026/1").await.unwrap();
    assert!(files(dir.path()).is_empty());
    for bad in ["", "../x", "a//b", "a/../b", "/abs"] {
        assert!(objects.raw_get(bad).await.is_err(), "{bad:?}");
        assert!(objects.delete(bad).await.is_err(), "{bad:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let gone = Objects::open(&StorageConfig::default(), &dir.path().join("gone")).unwrap();
        std::fs::remove_dir(dir.path().join("gone")).unwrap();
        assert!(
            gone.check().await.is_err(),
            "a missing local root fails check"
        );
        let mode = std::fs::metadata(dir.path().join("objects"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[test]
fn storage_config_parses_both_backends_and_refuses_unknown_fields() {
    let local: StorageConfig = serde_json::from_str(r#"{"backend":"local"}"#).unwrap();
    assert!(matches!(local, StorageConfig::Local { root: None }));
    let s3: StorageConfig = serde_json::from_str(
        r#"{"backend":"s3","bucket":"b","region":"r","endpoint":"http://127.0.0.1:9",
            "access_key_id_file":"/k","secret_access_key_file":"/s","allow_http":true}"#,
    )
    .unwrap();
    assert!(matches!(
        s3,
        StorageConfig::S3 {
            allow_http: true,
            prefix: None,
            ..
        }
    ));
    assert!(serde_json::from_str::<StorageConfig>(
        r#"{"backend":"s3","bucket":"b","region":"r","access_key_id_file":"/k",
            "secret_access_key_file":"/s","secret_access_key":"inline"}"#
    )
    .is_err());
    assert!(serde_json::from_str::<StorageConfig>(r#"{"backend":"ftp"}"#).is_err());
}

#[test]
fn record_bound_is_tight_for_plain_objects() {
    assert_eq!(TAG_LEN, 16);
    let header = format::Header::new(&key(), false, [0; 16], [0; 7]);
    assert_eq!(header.max_record(), CHUNK + TAG_LEN);
}

#[tokio::test]
async fn check_fails_when_the_local_root_is_no_directory() {
    let (dir, objects) = local();
    objects.check().await.unwrap();
    // The root replaced by a regular file (a lost mount, a bad deploy).
    let root = dir.path().join("objects");
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::write(&root, b"not a directory").unwrap();
    assert!(
        objects.check().await.is_err(),
        "a root that is no directory answers"
    );
    // A directory again: reachable again.
    std::fs::remove_file(&root).unwrap();
    std::fs::create_dir(&root).unwrap();
    objects.check().await.unwrap();
}

#[test]
fn each_object_is_sealed_under_its_own_key() {
    // Same file key, same nonce prefix: only the salt differs, and the
    // ciphertexts (keystreams) are unrelated.
    let seal = |salt: [u8; 16]| {
        let header = format::Header::new(&key(), false, salt, [0; 7]);
        let mut buf = vec![0u8; 64];
        header
            .sealer(&key())
            .encrypt_next_in_place(b"", &mut buf)
            .unwrap();
        buf
    };
    assert_eq!(seal([1; 16]), seal([1; 16]));
    assert_ne!(seal([1; 16])[..64], seal([2; 16])[..64]);
    let raw_file_key = {
        let mut buf = vec![0u8; 64];
        let mut s = format::Sealer::new(key().bytes(), [0u8; 7]);
        s.encrypt_next_in_place(b"", &mut buf).unwrap();
        buf
    };
    assert_ne!(seal([1; 16]), raw_file_key, "never the file key itself");
}

// Format version 1 was written with RustCrypto's `aead-stream` (`StreamBE32`
// over `aes-gcm`); it is now sealed and opened with ring. The two must agree
// byte for byte, both ways, or old objects become unreadable.

type LegacySealer = aead_stream::EncryptorBE32<aes_gcm::Aes256Gcm>;
type LegacyOpener = aead_stream::DecryptorBE32<aes_gcm::Aes256Gcm>;

fn legacy_cipher(key: &[u8; 32]) -> aes_gcm::Aes256Gcm {
    <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new(key.into())
}

#[test]
fn ring_stream_is_byte_identical_to_aead_stream_both_ways() {
    let object_key = [0x5au8; 32];
    let prefix = [1, 2, 3, 4, 5, 6, 7];
    let aad = b"header bytes|tenant-a|file-1";
    // Chunks of several sizes; the last one sealed as the last.
    let chunks: Vec<Vec<u8>> = [CHUNK, CHUNK, 1, 0, 4097, CHUNK, 33]
        .iter()
        .enumerate()
        .map(|(i, &n)| data(n, i as u8))
        .collect();
    let count = chunks.len();

    let mut legacy = Some(LegacySealer::from_aead(
        legacy_cipher(&object_key),
        &prefix.into(),
    ));
    let mut ring = Some(format::Sealer::new(&object_key, prefix));
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == count;
        // Old seal.
        let mut old = chunk.clone();
        if last {
            legacy
                .take()
                .unwrap()
                .encrypt_last_in_place(aad, &mut old)
                .unwrap();
        } else {
            legacy
                .as_mut()
                .unwrap()
                .encrypt_next_in_place(aad, &mut old)
                .unwrap();
        }
        // New seal.
        let mut new = chunk.clone();
        let tag = if last {
            ring.take().unwrap().seal_last(aad, &mut new).unwrap()
        } else {
            ring.as_mut().unwrap().seal_next(aad, &mut new).unwrap()
        };
        new.extend_from_slice(&tag);
        assert_eq!(old, new, "record {i}: same ciphertext and tag");
    }

    // Sealed by the old code, opened by the new, and the other way round;
    // the last-record flag is part of the nonce either way.
    let seal_old = || {
        let mut s = Some(LegacySealer::from_aead(
            legacy_cipher(&object_key),
            &prefix.into(),
        ));
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut b = c.clone();
                if i + 1 == count {
                    s.take()
                        .unwrap()
                        .encrypt_last_in_place(aad, &mut b)
                        .unwrap();
                } else {
                    s.as_mut()
                        .unwrap()
                        .encrypt_next_in_place(aad, &mut b)
                        .unwrap();
                }
                b
            })
            .collect::<Vec<_>>()
    };
    let sealed = seal_old();
    let mut opener = Some(format::Opener::new(&object_key, prefix));
    for (i, record) in sealed.iter().enumerate() {
        let mut b = record.clone();
        let n = if i + 1 == count {
            opener.take().unwrap().open_last(aad, &mut b).unwrap()
        } else {
            opener.as_mut().unwrap().open_next(aad, &mut b).unwrap()
        };
        assert_eq!(&b[..n], &chunks[i][..], "record {i} opened by ring");
    }
    let mut legacy_open = Some(LegacyOpener::from_aead(
        legacy_cipher(&object_key),
        &prefix.into(),
    ));
    let mut sealer = Some(format::Sealer::new(&object_key, prefix));
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == count;
        let mut b = chunk.clone();
        let tag = if last {
            sealer.take().unwrap().seal_last(aad, &mut b).unwrap()
        } else {
            sealer.as_mut().unwrap().seal_next(aad, &mut b).unwrap()
        };
        b.extend_from_slice(&tag);
        if last {
            legacy_open
                .take()
                .unwrap()
                .decrypt_last_in_place(aad, &mut b)
                .unwrap();
        } else {
            legacy_open
                .as_mut()
                .unwrap()
                .decrypt_next_in_place(aad, &mut b)
                .unwrap();
        }
        assert_eq!(&b, chunk, "record {i} opened by aead-stream");
    }

    // Truncation and reordering are still caught across the two: a
    // non-last record opened as the last, a last one as a non-last, and a
    // record at another position all fail.
    let mut b = sealed[0].clone();
    assert!(format::Opener::new(&object_key, prefix)
        .open_last(aad, &mut b)
        .is_err());
    let mut b = sealed[count - 1].clone();
    let mut o = format::Opener::new(&object_key, prefix);
    for r in &sealed[..count - 1] {
        o.open_next(aad, &mut r.clone()).unwrap();
    }
    assert!(o.open_next(aad, &mut b).is_err());
    let mut b = sealed[1].clone();
    assert!(format::Opener::new(&object_key, prefix)
        .open_next(aad, &mut b)
        .is_err());
}

/// An object sealed whole by the old code (aead-stream), as version 1 wrote
/// it: header ‖ (length ‖ sealed chunk)*.
fn legacy_object(plain: &[u8], compress: bool, salt: [u8; 16], prefix: [u8; 7]) -> Vec<u8> {
    let header = format::Header::new(&key(), compress, salt, prefix);
    let aad = header.aad(IDENTITY);
    let mut sealer = Some(LegacySealer::from_aead(
        legacy_cipher(&header.object_key(&key())),
        &prefix.into(),
    ));
    let mut out = header.bytes.clone();
    let mut chunks: Vec<&[u8]> = plain.chunks(CHUNK).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let count = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut record = if compress {
            format::deflate_into(chunk, Vec::new()).unwrap()
        } else {
            chunk.to_vec()
        };
        if i + 1 == count {
            sealer
                .take()
                .unwrap()
                .encrypt_last_in_place(&aad, &mut record)
                .unwrap();
        } else {
            sealer
                .as_mut()
                .unwrap()
                .encrypt_next_in_place(&aad, &mut record)
                .unwrap();
        }
        out.extend_from_slice(&(record.len() as u32).to_be_bytes());
        out.extend_from_slice(&record);
    }
    out
}

#[tokio::test]
async fn objects_of_the_old_sealing_code_still_open_and_new_ones_open_with_it() {
    let (_dir, objects) = local();
    for compress in [false, true] {
        for len in [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            16 * CHUNK,
            16 * CHUNK + 5,
            40 * CHUNK + 123,
        ] {
            let plain = data(len, 9);
            // Old object, new reader.
            let old = legacy_object(&plain, compress, [3; 16], [4; 7]);
            objects.raw_put("legacy", old.into()).await.unwrap();
            let (served, err) = read(&objects, "legacy", &key(), IDENTITY).await;
            assert!(err.is_none(), "len {len} compress {compress}: {err:?}");
            assert_eq!(served, plain, "len {len} compress {compress}");

            // New object, opened record by record with the old code.
            put(&objects, "new", &plain, compress).await;
            let sealed = objects.raw_get("new").await.unwrap();
            let (head_len, spans) = records(&sealed);
            let header = format::Header::parse(&sealed[..head_len]).unwrap();
            let aad = header.aad(IDENTITY);
            let mut opener = Some(LegacyOpener::from_aead(
                legacy_cipher(&header.object_key(&key())),
                &header.nonce_prefix.into(),
            ));
            let mut out = Vec::new();
            for (i, &(start, end)) in spans.iter().enumerate() {
                let mut record = sealed[start + LEN_PREFIX..end].to_vec();
                if i + 1 == spans.len() {
                    opener
                        .take()
                        .unwrap()
                        .decrypt_last_in_place(&aad, &mut record)
                        .unwrap();
                } else {
                    opener
                        .as_mut()
                        .unwrap()
                        .decrypt_next_in_place(&aad, &mut record)
                        .unwrap();
                }
                if compress {
                    record = format::inflate(&record, CHUNK).unwrap();
                }
                assert!(record.len() <= CHUNK);
                out.extend_from_slice(&record);
            }
            assert_eq!(
                out, plain,
                "len {len} compress {compress}: new object, old opener"
            );
            let full = if len == 0 { 1 } else { len.div_ceil(CHUNK) };
            assert_eq!(
                spans.len(),
                full,
                "len {len}: one record per chunk, an empty last only for an empty file"
            );
        }
    }
}

#[tokio::test]
async fn a_dropped_upload_leaves_nothing() {
    let (dir, objects) = local();
    // 3 MiB, then a body that never ends: the caller gives up (a client
    // gone, a timeout) and drops the upload mid-way.
    let plain = Bytes::from(data(3 * 1024 * 1024, 3));
    let pieces = futures_util::stream::iter(vec![Ok::<_, String>(plain)])
        .chain(futures_util::stream::pending());
    let key = key();
    let mut inspect = |_: &[u8]| Ok(());
    let upload = objects.put_sealed(
        "x/dropped",
        &key,
        IDENTITY,
        false,
        Box::pin(pieces),
        &mut inspect,
    );
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(300), upload).await;
    assert!(gave_up.is_err(), "the upload waits for the body");
    // The writing task removes its staging file once it sees the upload gone.
    for _ in 0..200 {
        if files(dir.path()).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    assert!(matches!(
        objects.open_sealed("x/dropped", &key, IDENTITY).await.err(),
        Some(OpenError::NotFound)
    ));
}

#[tokio::test]
async fn the_local_writer_publishes_only_on_finish() {
    let dir = TempDir::new().unwrap();
    let dest = dir.path().join("a/b/object");
    let mut sink = local::LocalSink::start(dest.clone()).await.unwrap();
    sink.put(Bytes::from_static(b"hello ")).await.unwrap();
    // Past the background flush interval, so the flushing thread runs.
    sink.put(Bytes::from(vec![7u8; 40 << 20])).await.unwrap();
    assert!(!dest.exists(), "nothing at the path before finish");
    sink.finish().await.unwrap();
    let got = std::fs::read(&dest).unwrap();
    assert_eq!(got.len(), 6 + (40 << 20));
    assert_eq!(&got[..6], b"hello ");
    assert_eq!(
        files(dir.path()),
        vec![dest.clone()],
        "no staging file left"
    );

    let mut sink = local::LocalSink::start(dir.path().join("a/c"))
        .await
        .unwrap();
    sink.put(Bytes::from_static(b"x")).await.unwrap();
    sink.abort().await.unwrap();
    assert_eq!(
        files(dir.path()),
        vec![dest.clone()],
        "an abort leaves nothing"
    );

    // A path under a file cannot be written.
    assert!(local::LocalSink::start(dest.join("under-a-file"))
        .await
        .is_err());
}
