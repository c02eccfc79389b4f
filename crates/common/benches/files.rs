//! `make bench`: sealed file objects on the local backend against plain
//! file I/O of the same bytes on the same disk, in the same run.
//!
//! 1. Upload: `Objects::put_sealed` (no compression; fsync on complete)
//!    against writing the bytes with std file writes and one fsync.
//! 2. Download: `Objects::open_sealed`, the stream fully consumed, against
//!    reading the plain file with 1 MiB reads. Run as root, the page cache
//!    is dropped before each read, so both come from the disk.
//! 3. Peak RSS of the sealed upload and download (the high-water mark is
//!    reset before each phase): it must stay flat whatever the size.
//! 4. The CPU ceiling: STREAM sealing of 64 KiB chunks in memory (ring, as
//!    `put_sealed` does, and RustCrypto's aead-stream + aes-gcm beside it).
//! 5. HMAC-SHA256 of the same bytes in memory (the upload's keyed content
//!    hash): the hmac + sha2 crates it uses, and ring.
//!
//! Size: `BULKHEAD_BENCH_FILE_MB` (default 1024). Rounds:
//! `BULKHEAD_BENCH_ROUNDS` (default 3; odd rounds run the sealed phase
//! first; the median ratio is reported).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::crypto::FileKey;
use common::objects::{Objects, StorageConfig};
use futures_util::StreamExt;

const MIB: usize = 1024 * 1024;

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn report(
    name: &str,
    bytes: u64,
    measured: Duration,
    baseline_name: &str,
    baseline: Duration,
    target: f64,
) {
    let (m, b) = (mb_per_s(bytes, measured), mb_per_s(bytes, baseline));
    let ratio = m / b;
    let verdict = if ratio >= target {
        "ok"
    } else {
        "BELOW TARGET"
    };
    println!(
        "{name:<40} {m:>9.0} MB/s   {baseline_name:<32} {b:>9.0} MB/s   ratio {ratio:.2} (target ≥ {target:.2}: {verdict})"
    );
}

/// Reset the peak-RSS high-water mark (Linux `clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Drop the page cache (root only): true if done.
fn drop_caches() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// The 1-minute load average (other work on the machine skews the ratios:
/// the sealed phases need a core, the plain ones mostly wait for the disk).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The round whose ratio (baseline time / measured time) is the median.
fn median(rounds: &[(Duration, Duration)]) -> (Duration, Duration) {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(|a, b| {
        let ratio = |(s, r): &(Duration, Duration)| r.as_secs_f64() / s.as_secs_f64();
        ratio(a).total_cmp(&ratio(b))
    });
    sorted[sorted.len() / 2]
}

fn main() {
    let mb: usize = std::env::var("BULKHEAD_BENCH_FILE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let rounds: usize = std::env::var("BULKHEAD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let total = (mb * MIB) as u64;
    // Same disk as the build (not a tmpfs).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let block: Bytes = (0..MIB)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect::<Vec<u8>>()
        .into();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let objects = Objects::open(
        &StorageConfig::Local {
            root: Some(dir.path().join("objects")),
        },
        dir.path(),
    )
    .unwrap();
    let key = FileKey::derive("k-bench-1", &[1u8; 32]);
    println!(
        "file size {mb} MiB, on {}; load average {}",
        dir.path().display(),
        load_average()
    );

    // Each round measures all four; odd rounds run the sealed phase before
    // the plain one, so neither always follows the other. The ratios
    // reported are the medians of the rounds' ratios (a loaded machine
    // moves single runs a lot).
    let raw_path = dir.path().join("raw.bin");
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let (mut upload_peak, mut download_peak, mut cold, mut stored_len) = (0f64, 0f64, true, 0);
    for round in 0..rounds {
        let sealed_first = round % 2 == 1;
        let _ = std::fs::remove_file(&raw_path);
        let _ = rt.block_on(objects.delete("bench/1"));
        drop_caches();
        // 1. Upload.
        let raw_write = || {
            let started = Instant::now();
            let mut file = std::fs::File::create(&raw_path).unwrap();
            for _ in 0..mb {
                file.write_all(&block).unwrap();
            }
            file.sync_all().unwrap();
            started.elapsed()
        };
        let mut sealed_write = || {
            reset_peak();
            let started = Instant::now();
            let stored = rt.block_on(async {
                let body =
                    futures_util::stream::iter((0..mb).map(|_| Ok::<_, String>(block.clone())));
                objects
                    .put_sealed("bench/1", &key, b"bench", false, body, &mut |_| Ok(()))
                    .await
                    .unwrap()
            });
            let took = started.elapsed();
            upload_peak = upload_peak.max(peak_mib());
            assert_eq!(stored.plain_len, total);
            stored_len = stored.stored_len;
            took
        };
        let (raw, sealed) = if sealed_first {
            let sealed = sealed_write();
            drop_caches();
            (raw_write(), sealed)
        } else {
            let raw = raw_write();
            drop_caches();
            (raw, sealed_write())
        };
        up.push((sealed, raw));

        // 2. Download, from a cold page cache when root.
        let raw_read = || {
            let started = Instant::now();
            let mut read_bytes = 0u64;
            let mut file = std::fs::File::open(&raw_path).unwrap();
            let mut buf = vec![0u8; MIB];
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                read_bytes += n as u64;
            }
            assert_eq!(read_bytes, total);
            started.elapsed()
        };
        let mut sealed_read = || {
            reset_peak();
            let started = Instant::now();
            let served = rt.block_on(async {
                let mut opened = objects
                    .open_sealed("bench/1", &key, b"bench")
                    .await
                    .unwrap();
                let mut served = 0u64;
                while let Some(chunk) = opened.stream.next().await {
                    let chunk = chunk.unwrap();
                    // Spot-check the content without holding it.
                    let at = (served % MIB as u64) as usize;
                    assert_eq!(chunk[0], block[at]);
                    served += chunk.len() as u64;
                }
                served
            });
            let took = started.elapsed();
            download_peak = download_peak.max(peak_mib());
            assert_eq!(served, total);
            took
        };
        cold &= drop_caches();
        let (raw, sealed) = if sealed_first {
            let sealed = sealed_read();
            drop_caches();
            (raw_read(), sealed)
        } else {
            let raw = raw_read();
            drop_caches();
            (raw, sealed_read())
        };
        down.push((sealed, raw));
        let ratio = |(s, r): (Duration, Duration)| r.as_secs_f64() / s.as_secs_f64();
        println!(
            "round {}: upload {:.0} / {:.0} MB/s (ratio {:.2}), download {:.0} / {:.0} MB/s (ratio {:.2}){}; load average {}",
            round + 1,
            mb_per_s(total, up[round].0),
            mb_per_s(total, up[round].1),
            ratio(up[round]),
            mb_per_s(total, down[round].0),
            mb_per_s(total, down[round].1),
            ratio(down[round]),
            if sealed_first { ", sealed first" } else { "" },
            load_average()
        );
    }
    let (sealed_write, raw_write) = median(&up);
    report(
        "sealed upload (put_sealed)",
        total,
        sealed_write,
        "plain write + fsync",
        raw_write,
        0.9,
    );
    let (sealed_read, raw_read) = median(&down);
    report(
        "sealed download (open_sealed)",
        total,
        sealed_read,
        "plain read (1 MiB reads)",
        raw_read,
        0.8,
    );
    println!(
        "{:<40} {upload_peak:>9.1} MiB upload, {download_peak:.1} MiB download ({} cache reads)",
        "peak RSS (VmHWM) of the sealed phases",
        if cold { "cold" } else { "warm: not root, page" }
    );
    // 4. The CPU ceiling: STREAM sealing of the same chunks in memory, with
    //    ring (what `put_sealed` uses) and with RustCrypto's aead-stream over
    //    aes-gcm (what wrote format version 1 before; same bytes).
    let n = mb * 16;
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[1u8; 32]).unwrap(),
    );
    let mut chunk = Vec::with_capacity(64 * 1024 + 16);
    let started = Instant::now();
    for i in 0..n {
        chunk.clear();
        chunk.extend_from_slice(&block[(i % 16) * 65536..(i % 16 + 1) * 65536]);
        let mut nonce = [0u8; 12];
        nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(b"aad"),
                &mut chunk,
            )
            .unwrap();
        chunk.extend_from_slice(tag.as_ref());
    }
    let cpu = started.elapsed();
    println!(
        "{:<40} {:>9.0} MB/s (one core, no I/O)",
        "STREAM AES-256-GCM seal in memory, ring",
        mb_per_s(total, cpu)
    );
    let cipher = <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new(&[1u8; 32].into());
    let mut sealer =
        aead_stream::EncryptorBE32::<aes_gcm::Aes256Gcm>::from_aead(cipher, &[0u8; 7].into());
    let started = Instant::now();
    for i in 0..n {
        chunk.clear();
        chunk.extend_from_slice(&block[(i % 16) * 65536..(i % 16 + 1) * 65536]);
        sealer.encrypt_next_in_place(b"aad", &mut chunk).unwrap();
    }
    let cpu = started.elapsed();
    println!(
        "{:<40} {:>9.0} MB/s (one core, no I/O)",
        "  the same with aead-stream + aes-gcm",
        mb_per_s(total, cpu)
    );
    // 5. The upload's keyed content hash (HMAC-SHA256 of the plaintext, run
    //    beside the sealing): the hmac + sha2 crates it uses, and ring.
    let started = Instant::now();
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&[2u8; 32]).unwrap();
    for _ in 0..mb {
        hmac::Mac::update(&mut mac, &block);
    }
    let a = hmac::Mac::finalize(mac).into_bytes();
    let hmac_sha2 = started.elapsed();
    let started = Instant::now();
    let mut ctx =
        ring::hmac::Context::with_key(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[2u8; 32]));
    for _ in 0..mb {
        ctx.update(&block);
    }
    let b = ctx.sign();
    let hmac_ring = started.elapsed();
    assert_eq!(&a[..], b.as_ref());
    println!(
        "{:<40} {:>9.0} MB/s hmac + sha2, {:.0} MB/s ring (one core)",
        "HMAC-SHA256 in memory (content hash)",
        mb_per_s(total, hmac_sha2),
        mb_per_s(total, hmac_ring)
    );
    println!(
        "{:<40} {:>9.4}× the plaintext",
        "stored size",
        stored_len as f64 / total as f64
    );
    println!("{:<40} {:>9}", "load average at the end", load_average());
}
