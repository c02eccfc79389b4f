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

/// The hospital with its patient files in the bucket: upload and download
/// through the API (a multipart upload), only ciphertext in the bucket,
/// `/readyz` and a download once the store stops answering.
async fn the_hospital_keeps_patient_files_in_s3() {
    use diesel::prelude::*;
    use serde_json::{json, Value};
    use testkit::hospital::{add_to_care_team, id_of, patient_body, register_patient_id, user_id};
    use testkit::{Method, Service, StatusCode};

    let mut moto = MotoServer::start().unwrap();
    let StorageConfig::S3 {
        access_key_id_file,
        secret_access_key_file,
        bucket,
        ..
    } = moto.storage_config()
    else {
        unreachable!()
    };
    let (endpoint, key_file, secret_file) = (
        moto.endpoint(),
        access_key_id_file.display().to_string(),
        secret_access_key_file.display().to_string(),
    );
    let app = testkit::spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__FILES__STORAGE__BACKEND", "s3"),
            ("HOSPITAL__FILES__STORAGE__BUCKET", bucket.as_str()),
            ("HOSPITAL__FILES__STORAGE__REGION", "us-east-1"),
            ("HOSPITAL__FILES__STORAGE__ENDPOINT", endpoint.as_str()),
            (
                "HOSPITAL__FILES__STORAGE__ACCESS_KEY_ID_FILE",
                key_file.as_str(),
            ),
            (
                "HOSPITAL__FILES__STORAGE__SECRET_ACCESS_KEY_FILE",
                secret_file.as_str(),
            ),
            ("HOSPITAL__FILES__STORAGE__ALLOW_HTTP", "true"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    let doctor = app.login("doctor", "doctor123").await;
    let doctor_id = user_id(&app, &doctor).await;
    let (status, w) = app
        .api(
            Method::POST,
            "/file-workspaces",
            Some(&admin),
            Some(json!({ "module": "radiology", "doctor_id": doctor_id })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    let patient =
        register_patient_id(&app, &admin, patient_body("Marie", "Curie", "1967-11-07")).await;
    add_to_care_team(&app, &admin, &patient, &doctor_id).await;
    let (_, folders) = app
        .api(
            Method::GET,
            &format!("/file-folders?patient_id={patient}"),
            Some(&doctor),
            None,
        )
        .await;
    let folder = id_of(&folders["data"][0]);

    // 6 MiB of a PNG: more than one part of the multipart upload.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(plaintext(6 * MIB));
    let res = app
        .client
        .post(app.api_url(&format!(
            "/file-folders/{folder}/files?category=imaging&name=Radium-study.png"
        )))
        .bearer_auth(&doctor)
        .header("content-type", "application/octet-stream")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let file = id_of(&res.json::<Value>().await.unwrap()["data"]);
    let got = app
        .client
        .get(app.api_url(&format!("/files/{file}/content")))
        .bearer_auth(&doctor)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().to_vec(), png);

    // What the bucket holds is ciphertext.
    let (tenant, blob): (String, String) = app
        .db()
        .run(|c| {
            use hospital::schema::file_blobs;
            Ok(file_blobs::table
                .select((file_blobs::tenant_id, file_blobs::id))
                .first(c)?)
        })
        .await
        .unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let raw = open(&moto, &dir)
        .raw_get(&format!("tenants/{tenant}/live/{blob}"))
        .await
        .unwrap();
    assert!(raw.len() > 6 * MIB);
    assert!(
        !raw.windows(19).any(|w| w == b"S3-PLAINTEXT-MARKER"),
        "plaintext in the bucket"
    );
    assert!(
        !raw.windows(6).any(|w| w == b"Radium"),
        "the name in the bucket"
    );

    // The store stops answering: not ready, and a download is 503, not data.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    moto.stop();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/files/{file}/content"),
            Some(&doctor),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply}");
    app.stop().await;
}

fn main() {
    testkit::mimic::run(
        moto_missing(),
        "BULKHEAD_REQUIRE_S3",
        &[
            ("round_trip_of_12_mib_is_multipart_and_opaque", || {
                Box::pin(round_trip_of_12_mib_is_multipart_and_opaque())
            }),
            ("tamper_rename_and_delete", || {
                Box::pin(tamper_rename_and_delete())
            }),
            ("check_fails_for_a_wrong_bucket_or_a_stopped_server", || {
                Box::pin(check_fails_for_a_wrong_bucket_or_a_stopped_server())
            }),
            ("the_hospital_keeps_patient_files_in_s3", || {
                Box::pin(the_hospital_keeps_patient_files_in_s3())
            }),
        ],
    )
}
