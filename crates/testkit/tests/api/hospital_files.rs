//! Patient files through the hospital API: workspaces and folders, streamed
//! encrypted upload and download, what reaches the disk, types checked on
//! the content, deduplication and reference counting, tampering, soft
//! delete / restore / purge after retention, legal holds, archival, usage
//! and the plan's quota, concurrent uploads of one content, and another
//! tenant's files.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use testkit::hospital::{
    add_to_care_team, contains_ignoring_case, encode, id_of, login_in, patient_body,
    portal_account, register_patient_id, user_id,
};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Service, StatusCode, TestApp,
    STRONG_PASSWORD,
};

/// A distinctive text that must never be found in plaintext at rest.
pub const SECRET_TEXT: &str = "Zyxwvut-biopsy-result-malignant-7731";

/// A small valid PDF-looking content (magic bytes are what is checked).
pub fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.7\n% {text}\n%%EOF\n").into_bytes()
}

/// A minimal PNG signature with some bytes after it.
pub fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    b.extend_from_slice(&[7u8; 64]);
    b
}

/// One hospital with a doctor's workspace in medicine and a patient on
/// the doctor's and the nurse's care team (so a folder exists).
pub struct Clinic {
    pub app: TestApp,
    pub admin: String,
    pub doctor: String,
    pub doctor_id: String,
    pub nurse: String,
    pub patient: String,
    pub workspace: String,
    pub folder: String,
}

impl Clinic {
    pub async fn new() -> Self {
        Self::on(spawn(Service::Hospital).await).await
    }

    pub async fn on(app: TestApp) -> Self {
        let admin = app.admin_token().await;
        let doctor = app.login("doctor", "doctor123").await;
        let nurse = app.login("nurse", "nurse123").await;
        let doctor_id = user_id(&app, &doctor).await;
        let nurse_id = user_id(&app, &nurse).await;
        let (status, w) = app
            .api(
                Method::POST,
                "/file-workspaces",
                Some(&admin),
                Some(json!({ "module": "medicine", "doctor_id": doctor_id })),
            )
            .await;
        assert_ok(status, &w, StatusCode::CREATED);
        let workspace = id_of(&w["data"]);
        let patient =
            register_patient_id(&app, &admin, patient_body("Ada", "Lovelace", "1985-12-10")).await;
        add_to_care_team(&app, &admin, &patient, &doctor_id).await;
        add_to_care_team(&app, &admin, &patient, &nurse_id).await;
        let folder = folder_of(&app, &admin, &patient).await;
        Self {
            app,
            admin,
            doctor,
            doctor_id,
            nurse,
            patient,
            workspace,
            folder,
        }
    }

    /// Upload into `folder` as `token`.
    pub async fn upload_to(
        &self,
        token: &str,
        folder: &str,
        category: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        upload(
            &self.app,
            token,
            &format!("/file-folders/{folder}/files"),
            category,
            name,
            bytes,
        )
        .await
    }

    /// Upload into the clinic's folder; panics unless 201; the file's id.
    pub async fn put(&self, token: &str, category: &str, name: &str, bytes: Vec<u8>) -> String {
        let (status, reply) = self
            .upload_to(token, &self.folder, category, name, bytes)
            .await;
        assert_ok(status, &reply, StatusCode::CREATED);
        id_of(&reply["data"])
    }

    pub async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.app.api(method, path, Some(token), body).await
    }

    /// Fresh admin and doctor tokens (after the clock moved past the sessions' lifetime).
    pub async fn relogin(&self) -> (String, String) {
        (
            self.app.admin_token().await,
            self.app.login("doctor", "doctor123").await,
        )
    }

    /// Run the retention job as `admin`.
    pub async fn retention(&self, admin: &str) -> Value {
        let (status, reply) = self
            .call(admin, Method::POST, "/file-retention/run", None)
            .await;
        assert_ok(status, &reply, StatusCode::OK);
        reply["data"].clone()
    }

    pub fn objects(&self) -> PathBuf {
        self.app.objects_dir().expect("a local object store")
    }
}

/// The first folder of `patient` the caller sees; panics if none.
pub async fn folder_of(app: &TestApp, token: &str, patient: &str) -> String {
    let (status, reply) = app
        .api(
            Method::GET,
            &format!("/file-folders?patient_id={patient}"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    id_of(&reply["data"][0])
}

/// POST raw bytes to `path?category=…&name=…`.
pub async fn upload(
    app: &TestApp,
    token: &str,
    path: &str,
    category: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let url = app.api_url(&format!("{path}?category={category}&name={}", encode(name)));
    let res = app
        .client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("sending the upload");
    let status = res.status();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// GET a file's content: the status, the headers' content type and
/// disposition, and the bytes (Err when the body broke off).
pub async fn download(
    app: &TestApp,
    token: &str,
    id: &str,
) -> (StatusCode, String, Result<Vec<u8>, String>) {
    let res = app
        .client
        .get(app.api_url(&format!("/files/{id}/content")))
        .bearer_auth(token)
        .send()
        .await
        .expect("sending the download");
    let status = res.status();
    let disposition = res
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res
        .bytes()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string());
    (status, disposition, body)
}

/// Every regular file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The stored objects (not counting anything else the store keeps).
fn objects_in(dir: &Path, area: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == area))
        .collect()
}

fn years(n: i64) -> i64 {
    n * 366 * 24 * 3600
}

#[tokio::test]
async fn a_doctor_uploads_and_the_patient_downloads_the_same_bytes() {
    let c = Clinic::new().await;
    let bytes = pdf(SECRET_TEXT);
    let (status, reply) = c
        .upload_to(
            &c.doctor,
            &c.folder,
            "medical_records",
            "Biopsy résumé.pdf",
            bytes.clone(),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let f = &reply["data"];
    assert_eq!(f["name"], "Biopsy résumé.pdf");
    assert_eq!(f["category"], "medical_records");
    assert_eq!(f["module"], "medicine");
    assert_eq!(f["media_type"], "application/pdf");
    assert_eq!(f["size"], bytes.len());
    assert_eq!(f["patient_id"], c.patient.as_str());
    assert!(f["retain_until"].as_str().unwrap() > f["uploaded_at"].as_str().unwrap());
    let id = id_of(f);

    let (status, list) = c
        .call(
            &c.nurse,
            Method::GET,
            &format!("/files?folder_id={}", c.folder),
            None,
        )
        .await;
    assert_ok(status, &list, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");

    let (status, disposition, body) = download(&c.app, &c.doctor, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), bytes);
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("Biopsy%20r%C3%A9sum%C3%A9.pdf"),
        "{disposition}"
    );

    // The patient downloads their own file through the portal.
    portal_account(&c.app, &c.admin, &c.patient, "ada").await;
    let me = c.app.login("ada", STRONG_PASSWORD).await;
    let (status, _, body) = download(&c.app, &me, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), bytes);

    // Upload, listing and downloads are in the patient's access log.
    let (status, log) = c
        .call(
            &me,
            Method::GET,
            &format!("/patients/{}/access-log?page_size=100", c.patient),
            None,
        )
        .await;
    assert_ok(status, &log, StatusCode::OK);
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for want in ["file.upload", "file.list", "file.download"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "file.download").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_file_name_and_its_bytes_never_reach_the_disk_in_plaintext() {
    let c = Clinic::new().await;
    let name = "Kowalczyk-oncology-referral.txt";
    let text = format!("{SECRET_TEXT}\n").repeat(5000);
    c.put(&c.doctor, "progress_notes", name, text.into_bytes())
        .await;
    let stored = files_under(&c.objects());
    assert_eq!(stored.len(), 1, "{stored:?}");
    for p in &stored {
        let bytes = std::fs::read(p).unwrap();
        assert!(
            !contains_ignoring_case(&bytes, SECRET_TEXT),
            "plaintext in {p:?}"
        );
        assert!(
            !contains_ignoring_case(&bytes, "Kowalczyk"),
            "name in {p:?}"
        );
        // Compressed before it was encrypted: 185 kB of repeated text stores small.
        assert!(bytes.len() < 20_000, "{} bytes stored", bytes.len());
    }
    let db = testkit::hospital::stored_bytes(&c.app);
    assert!(
        !contains_ignoring_case(&db, "Kowalczyk"),
        "file name in the database in plaintext"
    );
    assert!(!contains_ignoring_case(&db, SECRET_TEXT));
}

#[tokio::test]
async fn types_are_checked_on_the_content_and_sizes_per_category() {
    let app = spawn_with(
        Service::Hospital,
        &[(
            "HOSPITAL__FILES__MODULES__MEDICINE__CATEGORIES__LAB_RESULTS__MAX_MB",
            "1",
        )],
    )
    .await;
    let c = Clinic::on(app).await;
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("medical_records", "scan.pdf", png(), 415),
        (
            "medical_records",
            "notes.txt",
            b"MZ\x90\x00\x03\x00\x00\x00".to_vec(),
            415,
        ),
        ("medical_records", "tool.exe", b"MZ\x90\x00".to_vec(), 415),
        ("consent_forms", "form.txt", b"I consent".to_vec(), 415),
        ("medical_records", "no-extension", pdf("x"), 415),
        (
            "medical_records",
            "../../etc/passwd.txt",
            b"root".to_vec(),
            400,
        ),
        ("medical_records", "", b"root".to_vec(), 400),
        ("documents", "x.pdf", pdf("x"), 400),
        ("bogus", "x.pdf", pdf("x"), 400),
        ("medical_records", "empty.txt", Vec::new(), 400),
        ("lab_results", "big.txt", vec![b'a'; 1024 * 1024 + 1], 413),
    ];
    for (category, name, bytes, want) in cases {
        let (status, reply) = c
            .upload_to(&c.doctor, &c.folder, category, name, bytes)
            .await;
        assert_eq!(status.as_u16(), want, "{category}/{name}: {reply}");
        assert_eq!(reply["success"], false, "{reply}");
    }
    assert!(
        files_under(&c.objects()).is_empty(),
        "a refused upload left an object"
    );
    // Exactly at the limit is fine; a PNG is a PNG.
    c.put(&c.doctor, "lab_results", "big.txt", vec![b'a'; 1024 * 1024])
        .await;
    c.put(&c.doctor, "medical_records", "x-ray.PNG", png())
        .await;
}

#[tokio::test]
async fn identical_content_is_stored_once_and_kept_while_a_reference_remains() {
    let c = Clinic::new().await;
    let other = register_patient_id(
        &c.app,
        &c.admin,
        patient_body("Grace", "Hopper", "1956-12-09"),
    )
    .await;
    add_to_care_team(&c.app, &c.admin, &other, &c.doctor_id).await;
    let other_folder = folder_of(&c.app, &c.admin, &other).await;
    let bytes = pdf("same content in two folders");
    let a = c
        .put(&c.doctor, "medical_records", "a.pdf", bytes.clone())
        .await;
    let (status, reply) = c
        .upload_to(
            &c.doctor,
            &other_folder,
            "lab_results",
            "b.pdf",
            bytes.clone(),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let b = id_of(&reply["data"]);
    assert_eq!(objects_in(&c.objects(), "live").len(), 1, "stored twice");
    let (_, usage) = c.call(&c.admin, Method::GET, "/file-usage", None).await;
    assert_eq!(usage["data"]["objects"], 1, "{usage}");
    assert_eq!(usage["data"]["workspaces"][0]["files"], 2, "{usage}");

    // Past retention (medicine: 10 years), one reference goes; the object stays.
    c.app.advance_clock(years(11));
    let (admin, doctor) = c.relogin().await;
    let (status, reply) = c
        .call(&admin, Method::POST, &format!("/files/{a}/purge"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    assert_eq!(files_under(&c.objects()).len(), 1);
    let (status, _, body) = download(&c.app, &doctor, &b).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), bytes);
    let (status, reply) = c
        .call(&doctor, Method::GET, &format!("/files/{a}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The last one goes: so does the object.
    let (status, _) = c
        .call(&admin, Method::POST, &format!("/files/{b}/purge"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        files_under(&c.objects()).is_empty(),
        "the object outlived its last reference"
    );
}

#[tokio::test]
async fn concurrent_uploads_of_one_content_store_one_object() {
    let c = std::sync::Arc::new(Clinic::new().await);
    let bytes = pdf("ten at once");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (c, bytes) = (c.clone(), bytes.clone());
            tokio::spawn(async move {
                c.upload_to(
                    &c.doctor,
                    &c.folder,
                    "medical_records",
                    &format!("copy-{i}.pdf"),
                    bytes,
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        let (status, reply) = t.await.unwrap();
        assert_ok(status, &reply, StatusCode::CREATED);
    }
    assert_eq!(
        objects_in(&c.objects(), "live").len(),
        1,
        "one object for one content"
    );
    let (_, usage) = c.call(&c.admin, Method::GET, "/file-usage", None).await;
    assert_eq!(usage["data"]["objects"], 1, "{usage}");
    assert_eq!(usage["data"]["modules"][0]["files"], 10, "{usage}");
}

#[tokio::test]
async fn a_tampered_or_swapped_object_is_refused_never_served() {
    let c = Clinic::new().await;
    let small = c
        .put(&c.doctor, "medical_records", "small.pdf", pdf("small"))
        .await;
    let stored = files_under(&c.objects());
    assert_eq!(stored.len(), 1);
    let original = std::fs::read(&stored[0]).unwrap();

    // A byte flipped near the end (in the only chunk).
    let mut flipped = original.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 0x01;
    std::fs::write(&stored[0], &flipped).unwrap();
    let (status, _, body) = download(&c.app, &c.doctor, &small).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let reply: Value = serde_json::from_slice(&body.unwrap()).unwrap();
    assert_eq!(reply["error"]["code"], "FILE_DAMAGED", "{reply}");

    // Truncated.
    std::fs::write(&stored[0], &original[..original.len() - 5]).unwrap();
    let (status, _, _) = download(&c.app, &c.doctor, &small).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // Another object of the same tenant put in its place (same key, other identity).
    std::fs::write(&stored[0], &original).unwrap();
    let other = c
        .put(&c.doctor, "medical_records", "other.pdf", pdf("other"))
        .await;
    let other_path = files_under(&c.objects())
        .into_iter()
        .find(|p| p != &stored[0])
        .unwrap();
    std::fs::copy(&other_path, &stored[0]).unwrap();
    let (status, _, _) = download(&c.app, &c.doctor, &small).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _, body) = download(&c.app, &c.doctor, &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), pdf("other"));

    // A big file damaged in a later chunk: the download breaks off before
    // the damaged chunk; what arrived is a prefix of the file, never more.
    let text: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let id = c
        .put(&c.doctor, "medical_records", "long.txt", text.clone())
        .await;
    let newest = files_under(&c.objects())
        .into_iter()
        .filter(|p| p != &stored[0] && p != &other_path)
        .collect::<Vec<_>>();
    assert_eq!(newest.len(), 1);
    let mut damaged = std::fs::read(&newest[0]).unwrap();
    let at = damaged.len() * 3 / 4;
    damaged[at] ^= 0x80;
    std::fs::write(&newest[0], &damaged).unwrap();
    let (status, _, body) = download(&c.app, &c.doctor, &id).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first chunk is sound, so the answer starts"
    );
    if let Ok(got) = body {
        panic!(
            "a damaged file was served whole ({} of {} bytes)",
            got.len(),
            text.len()
        );
    }
}

#[tokio::test]
async fn deletion_waits_for_retention_and_stops_under_a_legal_hold() {
    let c = Clinic::new().await;
    let id = c
        .put(&c.doctor, "medical_records", "keep.pdf", pdf("keep"))
        .await;

    // A nurse did not upload it; the doctor did.
    let (status, reply) = c
        .call(&c.nurse, Method::DELETE, &format!("/files/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = c
        .call(&c.doctor, Method::DELETE, &format!("/files/{id}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert!(reply["data"]["deleted_at"].is_string(), "{reply}");
    let (status, reply) = c
        .call(&c.doctor, Method::GET, &format!("/files/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, deleted) = c
        .call(&c.admin, Method::GET, "/files?deleted=true", None)
        .await;
    assert_eq!(deleted["data"][0]["id"], id.as_str(), "{deleted}");
    let (status, reply) = c
        .call(&c.doctor, Method::GET, "/files?deleted=true", None)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Not purged before its retention date; the admin restores it.
    let (status, reply) = c
        .call(&c.admin, Method::POST, &format!("/files/{id}/purge"), None)
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "RETENTION_ACTIVE");
    let (status, reply) = c
        .call(
            &c.admin,
            Method::POST,
            &format!("/files/{id}/restore"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert!(reply["data"]["deleted_at"].is_null());
    let (status, _, _) = download(&c.app, &c.doctor, &id).await;
    assert_eq!(status, StatusCode::OK);

    // A legal hold stops every deletion.
    let hold = json!({ "reason": "Litigation notice 2026-114" });
    let path = format!("/patients/{}/legal-hold", c.patient);
    let (status, reply) = c
        .call(&c.doctor, Method::PUT, &path, Some(hold.clone()))
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = c.call(&c.admin, Method::PUT, &path, Some(hold)).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["reason"], "Litigation notice 2026-114");
    let (status, reply) = c
        .call(&c.doctor, Method::DELETE, &format!("/files/{id}"), None)
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "LEGAL_HOLD");

    // Eleven years on: the job archives it, keeps it under the hold…
    c.app.advance_clock(years(11));
    let (admin, doctor) = c.relogin().await;
    let ran = c.retention(&admin).await;
    assert_eq!(ran["archived"], 1, "{ran}");
    assert_eq!(ran["objects_archived"], 1, "{ran}");
    assert_eq!(ran["held"], 1, "{ran}");
    assert_eq!(ran["purged"], 0, "{ran}");
    assert_eq!(objects_in(&c.objects(), "archive").len(), 1);
    let (status, reply) = c
        .call(&admin, Method::POST, &format!("/files/{id}/purge"), None)
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "LEGAL_HOLD");
    let (status, reply) = c
        .call(&doctor, Method::GET, &format!("/files/{id}"), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert!(reply["data"]["archived_at"].is_string(), "{reply}");
    let (status, _, body) = download(&c.app, &doctor, &id).await;
    assert_eq!(status, StatusCode::OK, "an archived file still downloads");
    assert_eq!(body.unwrap(), pdf("keep"));

    // …and purges it once the hold is lifted.
    let (status, _) = c.call(&admin, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ran = c.retention(&admin).await;
    assert_eq!(ran["purged"], 1, "{ran}");
    assert_eq!(ran["objects_deleted"], 1, "{ran}");
    assert!(files_under(&c.objects()).is_empty());
    let (status, _) = c
        .call(&admin, Method::GET, &format!("/files/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = c.app.audit_rows().await;
    for want in [
        "file.delete",
        "file.restore",
        "legal_hold.place",
        "file.archive",
        "file.purge",
    ] {
        assert!(
            audit.iter().any(|r| r.action == want),
            "no {want} audit row"
        );
    }
}

#[tokio::test]
async fn usage_is_reported_per_module_and_doctor_and_the_plan_quota_holds() {
    let c = Clinic::new().await;
    c.put(&c.doctor, "medical_records", "a.pdf", pdf("one"))
        .await;
    let (status, usage) = c.call(&c.admin, Method::GET, "/file-usage", None).await;
    assert_ok(status, &usage, StatusCode::OK);
    let u = &usage["data"];
    assert_eq!(u["backend"], "local");
    assert_eq!(u["reachable"], true);
    assert_eq!(u["objects"], 1);
    assert_eq!(u["modules"][0]["module"], "medicine");
    assert_eq!(u["workspaces"][0]["doctor_id"], c.doctor_id.as_str());
    assert!(u["quota_bytes"].is_null());
    for who in [&c.doctor, &c.nurse] {
        let (status, reply) = c.call(who, Method::GET, "/file-usage", None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }

    // A plan of 1 MiB: a warning near it, a refusal past it.
    c.app
        .sql(&format!(
            "INSERT INTO tenant_standing (tenant_id, status, plan_name, max_storage_mb, modules, features, updated_at) \
             VALUES ('{}', 'active', 'tiny', 1, '[]', '[]', CURRENT_TIMESTAMP)",
            common::config::DEMO_TENANT_ID
        ))
        .await
        .unwrap();
    let noise: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut big = pdf("big");
    big.extend_from_slice(&noise);
    c.put(&c.doctor, "medical_records", "big.pdf", big).await;
    let (_, usage) = c.call(&c.admin, Method::GET, "/file-usage", None).await;
    assert_eq!(usage["data"]["quota_warning"], true, "{usage}");
    // Past the plan: refused, and nothing of it is kept.
    let mut more = pdf("more");
    more.extend_from_slice(&noise[..100_000]);
    more.extend_from_slice(b"other noise");
    let (status, reply) = c
        .upload_to(&c.doctor, &c.folder, "medical_records", "more.pdf", more)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "STORAGE_QUOTA");
    assert_eq!(files_under(&c.objects()).len(), 2);
}

#[tokio::test]
async fn workspaces_and_folders_follow_the_doctor_and_the_care_team() {
    let c = Clinic::new().await;
    // A second module: the doctor's current patients get folders there too.
    let (status, w) = c
        .call(
            &c.admin,
            Method::POST,
            "/file-workspaces",
            Some(json!({ "module": "radiology", "doctor_id": c.doctor_id })),
        )
        .await;
    assert_ok(status, &w, StatusCode::CREATED);
    assert_eq!(
        w["data"]["areas"],
        json!(["documents", "reports", "images", "temp", "archive"])
    );
    let (_, folders) = c
        .call(
            &c.doctor,
            Method::GET,
            &format!("/file-folders?patient_id={}", c.patient),
            None,
        )
        .await;
    let modules: Vec<&str> = folders["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["module"].as_str().unwrap())
        .collect();
    assert_eq!(modules.len(), 2, "{folders}");
    assert!(modules.contains(&"radiology") && modules.contains(&"medicine"));

    for (body, want) in [
        (
            json!({ "module": "medicine", "doctor_id": c.doctor_id }),
            409,
        ),
        (
            json!({ "module": "astrology", "doctor_id": c.doctor_id }),
            400,
        ),
        (
            json!({ "module": "medicine", "doctor_id": user_id(&c.app, &c.nurse).await }),
            400,
        ),
        (json!({ "module": "medicine" }), 400),
    ] {
        let (status, reply) = c
            .call(&c.admin, Method::POST, "/file-workspaces", Some(body))
            .await;
        assert_eq!(status.as_u16(), want, "{reply}");
    }
    let (status, reply) = c
        .call(
            &c.doctor,
            Method::POST,
            "/file-workspaces",
            Some(json!({ "module": "dentistry", "doctor_id": c.doctor_id })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");

    // The doctor's own workspace area: documents only they (and admin) see.
    let (status, reply) = upload(
        &c.app,
        &c.doctor,
        &format!("/file-workspaces/{}/files", c.workspace),
        "documents",
        "cv.pdf",
        pdf("my cv"),
    )
    .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let own = id_of(&reply["data"]);
    assert!(reply["data"]["patient_id"].is_null());
    let (status, _, _) = download(&c.app, &c.nurse, &own).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = download(&c.app, &c.admin, &own).await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = upload(
        &c.app,
        &c.nurse,
        &format!("/file-workspaces/{}/files", c.workspace),
        "documents",
        "x.pdf",
        pdf("x"),
    )
    .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // A doctor's list shows only their own workspaces.
    let (_, mine) = c
        .call(&c.doctor, Method::GET, "/file-workspaces", None)
        .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 2, "{mine}");
    let (status, reply) = c
        .call(&c.nurse, Method::GET, "/file-workspaces", None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"], json!([]), "a nurse has no workspace");
    let reception = c.app.login("reception", "reception123").await;
    let (status, reply) = c
        .call(&reception, Method::GET, "/file-workspaces", None)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn another_hospitals_files_are_not_there() {
    use crate::hospital_tenants::{hosted_with_two_tenants, TENANT_B};
    use common::config::DEMO_TENANT_ID;
    let app = hosted_with_two_tenants().await;
    let admin_a = login_in(&app, DEMO_TENANT_ID, "hadmin", "hadmin123").await;
    let doctor_a = login_in(&app, DEMO_TENANT_ID, "doctor", "doctor123").await;
    let doctor_a_id = user_id(&app, &doctor_a).await;
    let (status, w) = app
        .api(
            Method::POST,
            "/file-workspaces",
            Some(&admin_a),
            Some(json!({ "module": "medicine", "doctor_id": doctor_a_id })),
        )
        .await;
    assert_ok(status, &w, StatusCode::CREATED);
    let patient =
        register_patient_id(&app, &admin_a, patient_body("Ada", "Byron", "1985-12-10")).await;
    add_to_care_team(&app, &admin_a, &patient, &doctor_a_id).await;
    let folder = folder_of(&app, &admin_a, &patient).await;
    let (status, reply) = upload(
        &app,
        &doctor_a,
        &format!("/file-folders/{folder}/files"),
        "medical_records",
        "a.pdf",
        pdf("tenant a"),
    )
    .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let file = id_of(&reply["data"]);

    let admin_b = login_in(&app, TENANT_B, "hadmin", "hadmin123").await;
    let doctor_b = login_in(&app, TENANT_B, "doctor", "doctor123").await;
    for token in [&admin_b, &doctor_b] {
        for path in [format!("/files/{file}"), format!("/files/{file}/content")] {
            let (status, reply) = app.api(Method::GET, &path, Some(token), None).await;
            assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        let (_, list) = app.api(Method::GET, "/files", Some(token), None).await;
        assert_eq!(list["data"], json!([]), "{list}");
        let (status, reply) = upload(
            &app,
            token,
            &format!("/file-folders/{folder}/files"),
            "medical_records",
            "b.pdf",
            pdf("b"),
        )
        .await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    for (method, path) in [
        (Method::DELETE, format!("/files/{file}")),
        (Method::POST, format!("/files/{file}/restore")),
        (Method::POST, format!("/files/{file}/purge")),
        (
            Method::GET,
            format!("/file-workspaces/{}", id_of(&w["data"])),
        ),
    ] {
        let (status, reply) = app.api(method, &path, Some(&admin_b), None).await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (status, reply) = app
        .api(
            Method::PUT,
            &format!("/patients/{patient}/legal-hold"),
            Some(&admin_b),
            Some(json!({ "reason": "not yours" })),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn a_clinician_taken_off_the_care_team_loses_the_files_with_the_same_token() {
    let c = Clinic::new().await;
    let id = c
        .put(&c.doctor, "medical_records", "before.pdf", pdf("before"))
        .await;
    let nurse_id = user_id(&c.app, &c.nurse).await;
    let (status, _, _) = download(&c.app, &c.nurse, &id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = c
        .call(
            &c.admin,
            Method::DELETE,
            &format!("/patients/{}/care-team/{nurse_id}", c.patient),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, _, _) = download(&c.app, &c.nurse, &id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reply) = c
        .upload_to(
            &c.nurse,
            &c.folder,
            "progress_notes",
            "after.txt",
            b"after".to_vec(),
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, list) = c.call(&c.nurse, Method::GET, "/files", None).await;
    assert_eq!(list["data"], json!([]), "{list}");
}

#[tokio::test]
async fn a_module_admin_manages_the_files_of_their_modules_only() {
    let c = Clinic::new().await;
    let radmin_id = c.app.create_user(&c.admin, "radmin", "module_admin").await;
    let radmin = c.app.login("radmin", STRONG_PASSWORD).await;
    // Before any assignment: nothing.
    let (_, list) = c.call(&radmin, Method::GET, "/files", None).await;
    assert_eq!(list["data"], json!([]), "{list}");
    // Only an admin assigns, and only a module admin is assigned.
    let path = format!("/file-modules/radiology/admins/{radmin_id}");
    let (status, reply) = c.call(&radmin, Method::PUT, &path, None).await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = c
        .call(
            &c.admin,
            Method::PUT,
            &format!("/file-modules/radiology/admins/{}", c.doctor_id),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let (status, reply) = c
        .call(
            &c.admin,
            Method::PUT,
            &format!("/file-modules/astrology/admins/{radmin_id}"),
            None,
        )
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, reply) = c.call(&c.admin, Method::PUT, &path, None).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["admins"], json!([radmin_id]), "{reply}");

    // A radiology workspace for the doctor: yes; medicine: no.
    let (status, w) = c
        .call(
            &radmin,
            Method::POST,
            "/file-workspaces",
            Some(json!({ "module": "radiology", "doctor_id": c.doctor_id })),
        )
        .await;
    assert_ok(status, &w, StatusCode::CREATED);
    let (status, reply) = c
        .call(
            &radmin,
            Method::POST,
            "/file-workspaces",
            Some(json!({ "module": "dentistry", "doctor_id": c.doctor_id })),
        )
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (_, modules) = c.call(&radmin, Method::GET, "/file-modules", None).await;
    assert_eq!(modules["data"].as_array().unwrap().len(), 1, "{modules}");
    let (_, all) = c.call(&c.admin, Method::GET, "/file-modules", None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 8, "{all}");
    let (_, spaces) = c.call(&radmin, Method::GET, "/file-workspaces", None).await;
    assert_eq!(spaces["data"].as_array().unwrap().len(), 1, "{spaces}");
    assert_eq!(spaces["data"][0]["module"], "radiology");

    // A file in each module (the patient has a folder in both now).
    let medicine = c
        .put(&c.doctor, "medical_records", "m.pdf", pdf("medicine"))
        .await;
    let (_, folders) = c
        .call(
            &c.doctor,
            Method::GET,
            &format!("/file-folders?patient_id={}", c.patient),
            None,
        )
        .await;
    let radiology_folder = folders["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["module"] == "radiology")
        .map(id_of)
        .expect("a radiology folder");
    let (status, reply) = c
        .upload_to(&c.doctor, &radiology_folder, "imaging", "x.png", png())
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    let radiology = id_of(&reply["data"]);

    let (_, list) = c.call(&radmin, Method::GET, "/files", None).await;
    assert_eq!(
        crate::hospital_files::ids_of(&list),
        vec![radiology.clone()],
        "{list}"
    );
    let (status, _, body) = download(&c.app, &radmin, &radiology).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.unwrap(), png());
    for (method, p) in [
        (Method::GET, format!("/files/{medicine}")),
        (Method::DELETE, format!("/files/{medicine}")),
        (Method::POST, format!("/files/{medicine}/purge")),
    ] {
        let (status, reply) = c.call(&radmin, method, &p, None).await;
        assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (status, reply) = c
        .upload_to(&radmin, &c.folder, "medical_records", "y.pdf", pdf("y"))
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Delete and restore in their module.
    let (status, reply) = c
        .call(
            &radmin,
            Method::DELETE,
            &format!("/files/{radiology}"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = c
        .call(
            &radmin,
            Method::POST,
            &format!("/files/{radiology}/restore"),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    // Holds, usage and the retention job stay with the admin.
    for (method, p, body) in [
        (Method::GET, "/file-usage".to_string(), None),
        (Method::POST, "/file-retention/run".to_string(), None),
        (
            Method::PUT,
            format!("/patients/{}/legal-hold", c.patient),
            Some(json!({ "reason": "not theirs" })),
        ),
    ] {
        let (status, reply) = c.call(&radmin, method, &p, body).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }

    // Withdrawn: the same token sees nothing of radiology any more.
    let (status, _) = c.call(&c.admin, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = download(&c.app, &radmin, &radiology).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reply) = c.call(&c.admin, Method::DELETE, &path, None).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// The ids of a list reply.
pub fn ids_of(reply: &Value) -> Vec<String> {
    reply["data"]
        .as_array()
        .map(|a| a.iter().map(id_of).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_a_deleted_file_is_not_served() {
    let c = Clinic::new().await;
    let id = c.put(&c.doctor, "medical_records", "a.pdf", pdf("a")).await;
    let long = "x".repeat(65);
    for path in [
        "/files?category=bogus".to_string(),
        format!("/files?folder_id={long}"),
        "/files?page_size=0".to_string(),
        "/files?unknown=1".to_string(),
        "/file-folders?patient_id=".to_string() + &long,
        "/file-workspaces?module=medicine&extra=1".to_string(),
    ] {
        let (status, reply) = c.call(&c.admin, Method::GET, &path, None).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let hold = format!("/patients/{}/legal-hold", c.patient);
    for body in [
        json!({ "reason": "x" }),
        json!({}),
        json!({ "reason": "Counsel request", "until": "never" }),
    ] {
        let (status, reply) = c.call(&c.admin, Method::PUT, &hold, Some(body)).await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    }
    let (status, reply) = c.call(&c.admin, Method::GET, &hold, None).await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    for (who, method) in [(&c.doctor, Method::GET), (&c.nurse, Method::DELETE)] {
        let (status, reply) = c.call(who, method, &hold, None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (status, reply) = upload(
        &c.app,
        &c.doctor,
        &format!("/file-folders/{}/files", c.folder),
        "medical_records&extra=1",
        "b.pdf",
        pdf("b"),
    )
    .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");

    // Soft-deleted: the admin still lists it among the deleted, but nobody downloads it.
    let (status, _) = c
        .call(&c.doctor, Method::DELETE, &format!("/files/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for who in [&c.admin, &c.doctor] {
        let (status, _, _) = download(&c.app, who, &id).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
