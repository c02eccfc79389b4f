//! Dev: signing keys and signed releases (issue 15, items 1 and 2). Keys
//! are registered, listed and revoked (their own by a developer, any by the
//! admin); a release signed by a registered, unrevoked key is stored and
//! downloaded byte for byte; every bad upload is refused with its own
//! error, an audit row and a security event, and leaves nothing stored.

use contracts::SecurityEvent;
use dev::releases::manifest::{b64, generate, sign, Manifest};
use serde_json::{json, Value};
use testkit::releases::{manifest_of, register_key};
use testkit::{
    assert_error, assert_ok, spawn, spawn_with, Method, Reply, Service, StatusCode, TestApp,
};

fn query_of(m: &Manifest) -> Vec<(String, String)> {
    vec![
        ("product".into(), m.product.clone()),
        ("version".into(), m.version.clone()),
        ("sha256".into(), m.sha256.clone()),
        ("size".into(), m.size.to_string()),
        ("notes".into(), m.notes.clone()),
        (
            "min_schema_version".into(),
            m.min_schema_version.to_string(),
        ),
    ]
}

async fn post_release(
    app: &TestApp,
    token: Option<&str>,
    query: &[(String, String)],
    body: Vec<u8>,
) -> Reply {
    let mut req = app
        .client
        .post(app.api_url("/releases"))
        .query(query)
        .header("content-type", "application/octet-stream")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::read(req.send().await.unwrap()).await
}

/// Upload `body` under manifest `m`, signed by `key` (as `signer`).
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    m: &Manifest,
    key_id: &str,
    signature: &str,
    body: Vec<u8>,
) -> Reply {
    let mut q = query_of(m);
    q.push(("signing_key_id".into(), key_id.into()));
    q.push(("signature".into(), signature.into()));
    post_release(app, Some(token), &q, body).await
}

pub(crate) async fn security_events(app: &TestApp) -> Vec<SecurityEvent> {
    app.db()
        .run(|c| common::security::after(c, 0, 10_000))
        .await
        .unwrap()
}

async fn list(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.api(Method::GET, path, Some(token), None).await;
    assert_ok(status, &body, StatusCode::OK);
    body
}

/// Files kept under the release directory (artifacts and uploads in progress).
fn stored_files(app: &TestApp) -> Vec<String> {
    let root = app.objects_dir().unwrap();
    let mut out = Vec::new();
    for sub in ["sha256", "tmp"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            out.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out
}

#[tokio::test]
async fn developers_register_list_and_revoke_signing_keys() {
    let app = spawn(Service::Dev).await;
    let admin = app.admin_token().await;
    let astro = app.login("astro", "dev123456").await;
    app.create_user(&admin, "nova", "developer").await;
    let nova = app.login("nova", testkit::STRONG_PASSWORD).await;

    let mine = register_key(&app, &astro, "astro laptop").await;
    let theirs = register_key(&app, &nova, "nova build box").await;
    let spare = register_key(&app, &nova, "nova spare").await;

    // Bad input: a 4xx in the envelope, nothing stored.
    let (pkcs8_unused, public) = generate().unwrap();
    drop(pkcs8_unused);
    for (body, field) in [
        (json!({ "name": "", "public_key": b64(&public) }), "name"),
        (
            json!({ "name": "x", "public_key": "not base64!" }),
            "public_key",
        ),
        (
            json!({ "name": "x", "public_key": b64(&[7u8; 31]) }),
            "public_key",
        ),
    ] {
        let (status, reply) = app
            .api(Method::POST, "/signing-keys", Some(&astro), Some(body))
            .await;
        assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(reply["error"]["details"]["field"], field, "{reply}");
    }
    let (status, reply) = app
        .api(
            Method::POST,
            "/signing-keys",
            Some(&astro),
            Some(json!({ "name": "again", "public_key": b64(&public), "extra": 1 })),
        )
        .await;
    assert_error(status, &reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    // The same public key twice: 409.
    let keys = list(&app, &astro, "/signing-keys").await;
    let astro_pub = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == mine.id.as_str())
        .unwrap()["public_key"]
        .clone();
    let (status, reply) = app
        .api(
            Method::POST,
            "/signing-keys",
            Some(&nova),
            Some(json!({ "name": "copy", "public_key": astro_pub })),
        )
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");

    // Everyone sees every key, paged, with the owner's name.
    assert_eq!(keys["meta"]["total"], 3, "{keys}");
    let page = list(&app, &admin, "/signing-keys?page=2&page_size=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    let k = &keys["data"].as_array().unwrap()[..]
        .iter()
        .find(|k| k["id"] == mine.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(k["owner_username"], "astro", "{k}");
    assert_eq!(k["fingerprint"].as_str().unwrap().len(), 64, "{k}");

    // A developer revokes only their own key.
    let revoke = |id: &str| format!("/signing-keys/{id}/revoke");
    let (status, reply) = app
        .api(Method::POST, &revoke(&theirs.id), Some(&astro), None)
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, reply) = app
        .api(Method::POST, &revoke(&mine.id), Some(&astro), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["status"], "revoked", "{reply}");
    assert!(reply["data"]["revoked_at"].is_string(), "{reply}");
    let (status, reply) = app
        .api(Method::POST, &revoke(&mine.id), Some(&astro), None)
        .await;
    assert_error(status, &reply, StatusCode::CONFLICT, "CONFLICT");
    // The admin revokes anyone's.
    let (status, reply) = app
        .api(Method::POST, &revoke(&spare.id), Some(&admin), None)
        .await;
    assert_ok(status, &reply, StatusCode::OK);
    let (status, reply) = app
        .api(Method::POST, &revoke("no-such-key"), Some(&admin), None)
        .await;
    assert_error(status, &reply, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Revoked keys stay listed, marked.
    let revoked = list(&app, &astro, "/signing-keys?revoked=true").await;
    assert_eq!(revoked["meta"]["total"], 2, "{revoked}");
    let active = list(&app, &astro, "/signing-keys?revoked=false").await;
    assert_eq!(active["data"][0]["id"], theirs.id.as_str(), "{active}");
    let all = list(&app, &astro, "/signing-keys").await;
    assert_eq!(all["meta"]["total"], 3, "{all}");

    // Every key event: an audit row and a security event.
    let rows = app.audit_rows().await;
    let count = |action: &str| rows.iter().filter(|r| r.action == action).count();
    assert_eq!(count("signing_key.register"), 3);
    assert_eq!(count("signing_key.revoke"), 2);
    let events = security_events(&app).await;
    let kinds = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds("signing_key.registered"), 3);
    assert_eq!(kinds("signing_key.revoked"), 2);
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn a_release_signed_by_a_registered_key_is_stored_listed_and_downloaded_byte_identical() {
    let app = spawn(Service::Dev).await;
    let admin = app.admin_token().await;
    let astro = app.login("astro", "dev123456").await;
    app.create_user(&admin, "nova", "developer").await;
    let nova = app.login("nova", testkit::STRONG_PASSWORD).await;
    let key = register_key(&app, &astro, "astro release key").await;
    let other = register_key(&app, &nova, "nova release key").await;

    // A little over a megabyte, not all one byte.
    let artifact: Vec<u8> = (0..1_300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let m = manifest_of("hospital-server", "1.4.0", &artifact);
    let sig = sign(&key.pkcs8, &m).unwrap();
    let reply = upload(&app, &astro, &m, &key.id, &sig, artifact.clone()).await;
    assert_ok(reply.status, &reply.body, StatusCode::CREATED);
    let r = &reply.body["data"];
    assert_eq!(r["product"], "hospital-server");
    assert_eq!(r["version"], "1.4.0");
    assert_eq!(r["sha256"], m.sha256.as_str());
    assert_eq!(r["size"], artifact.len());
    assert_eq!(r["notes"], m.notes.as_str());
    assert_eq!(r["min_schema_version"], 9);
    assert_eq!(r["signing_key_name"], "astro release key");
    assert_eq!(r["uploaded_by_username"], "astro");
    let id = r["id"].as_str().unwrap().to_string();

    // Signed by another developer's key, uploaded by astro; the signature
    // in headers this time.
    let small = b"a second artifact".to_vec();
    let m2 = manifest_of("bulkhead", "2026.12.1-rc1", &small);
    let sig2 = sign(&other.pkcs8, &m2).unwrap();
    let resp = app
        .client
        .post(app.api_url("/releases"))
        .query(&query_of(&m2))
        .header("X-Release-Signature", &sig2)
        .header("X-Signing-Key-Id", &other.id)
        .bearer_auth(&astro)
        .body(small.clone())
        .send()
        .await
        .unwrap();
    let reply = Reply::read(resp).await;
    assert_ok(reply.status, &reply.body, StatusCode::CREATED);
    assert_eq!(reply.body["data"]["signing_key_name"], "nova release key");
    assert_eq!(reply.body["data"]["uploaded_by_username"], "astro");

    // The same product and version again: 409, nothing more stored.
    let again = upload(&app, &astro, &m, &key.id, &sig, artifact.clone()).await;
    assert_error(again.status, &again.body, StatusCode::CONFLICT, "CONFLICT");

    // Listed (newest first, paged), read, filtered, downloaded.
    let page = list(&app, &admin, "/releases?page_size=1").await;
    assert_eq!(page["meta"]["total"], 2, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    let only = list(&app, &nova, "/releases?product=hospital-server").await;
    assert_eq!(only["meta"]["total"], 1, "{only}");
    assert_eq!(only["data"][0]["id"], id.as_str(), "{only}");
    let one = list(&app, &nova, &format!("/releases/{id}")).await;
    assert_eq!(one["data"]["signature"], sig.as_str(), "{one}");
    assert_eq!(one["data"]["signing_key_id"], key.id.as_str(), "{one}");
    let resp = app
        .client
        .get(app.api_url(&format!("/releases/{id}/artifact")))
        .bearer_auth(&nova)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["x-release-sha256"].to_str().unwrap(),
        m.sha256
    );
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/octet-stream"
    );
    let got = resp.bytes().await.unwrap();
    assert_eq!(got.len(), artifact.len());
    assert!(got[..] == artifact[..], "downloaded bytes differ");
    // The downloaded manifest and signature verify with the listed key.
    let keys = list(&app, &nova, "/signing-keys").await;
    let public = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key.id.as_str())
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dev::releases::manifest::verify(&public, &m, &sig));

    // Stored once, by content, under the release directory.
    assert_eq!(
        stored_files(&app)
            .iter()
            .filter(|f| f.starts_with("sha256/"))
            .count(),
        2
    );
    assert!(stored_files(&app).contains(&format!("sha256/{}", m.sha256)));

    for path in ["/releases/nope", "/releases/nope/artifact"] {
        let (status, body) = app.api(Method::GET, path, Some(&astro), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // Revoking the key afterwards keeps the release, marked.
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/signing-keys/{}/revoke", key.id),
            Some(&astro),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let one = list(&app, &nova, &format!("/releases/{id}")).await;
    assert_eq!(one["data"]["signing_key_revoked"], true, "{one}");

    let rows = app.audit_rows().await;
    let uploads: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "release.upload" && r.outcome == "success")
        .collect();
    assert_eq!(uploads.len(), 2);
    assert!(app.verify_audit().await.is_intact());
}

#[tokio::test]
async fn bad_uploads_are_refused_with_their_error_an_audit_row_and_a_security_event() {
    let app = spawn_with(Service::Dev, &[("DEV__RELEASES__MAX_MB", "1")]).await;
    let astro = app.login("astro", "dev123456").await;
    let key = register_key(&app, &astro, "good").await;
    let revoked = register_key(&app, &astro, "old").await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/signing-keys/{}/revoke", revoked.id),
            Some(&astro),
            None,
        )
        .await;
    assert_ok(status, &body, StatusCode::OK);
    let (stranger, _) = generate().unwrap();

    let artifact = b"the real build".to_vec();
    let m = manifest_of("owner-server", "3.0.0", &artifact);
    let good_sig = sign(&key.pkcs8, &m).unwrap();

    // Unsigned: no signature, or no key id.
    let unsigned = post_release(&app, Some(&astro), &query_of(&m), artifact.clone()).await;
    assert_error(
        unsigned.status,
        &unsigned.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_eq!(unsigned.body["error"]["details"]["field"], "signature");
    let mut q = query_of(&m);
    q.push(("signature".into(), good_sig.clone()));
    let no_key = post_release(&app, Some(&astro), &q, artifact.clone()).await;
    assert_error(
        no_key.status,
        &no_key.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );

    // Badly signed: a signature of another manifest, or garbage.
    let mut other = m.clone();
    other.version = "3.0.1".into();
    let wrong = sign(&key.pkcs8, &other).unwrap();
    for sig in [wrong.as_str(), "bm90IGEgc2lnbmF0dXJl", "***"] {
        let r = upload(&app, &astro, &m, &key.id, sig, artifact.clone()).await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::FORBIDDEN,
            "SIGNATURE_INVALID",
        );
    }
    // Signed by another key than the one named.
    let by_revoked = sign(&revoked.pkcs8, &m).unwrap();
    let r = upload(&app, &astro, &m, &key.id, &by_revoked, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::FORBIDDEN,
        "SIGNATURE_INVALID",
    );
    // Signed by a revoked key.
    let r = upload(&app, &astro, &m, &revoked.id, &by_revoked, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::FORBIDDEN,
        "SIGNING_KEY_REVOKED",
    );
    // Signed by an unknown key (a key pair never registered).
    drop(stranger);
    let r = upload(
        &app,
        &astro,
        &m,
        "9b2f3c4e-0000-4000-8000-000000000000",
        &good_sig,
        artifact.clone(),
    )
    .await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::FORBIDDEN,
        "SIGNING_KEY_UNKNOWN",
    );

    // Signed correctly, but the bytes are not the manifest's: the sha256 of
    // other bytes of the same length, a shorter body, a longer body.
    let mut flipped = artifact.clone();
    flipped[0] ^= 1;
    let r = upload(&app, &astro, &m, &key.id, &good_sig, flipped).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_eq!(r.body["error"]["details"]["field"], "sha256", "{}", r.body);
    let r = upload(&app, &astro, &m, &key.id, &good_sig, artifact[..5].to_vec()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_eq!(r.body["error"]["details"]["field"], "size", "{}", r.body);
    let mut longer = artifact.clone();
    longer.extend_from_slice(b"!!");
    let r = upload(&app, &astro, &m, &key.id, &good_sig, longer).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    assert_eq!(r.body["error"]["details"]["field"], "size", "{}", r.body);

    // Larger than releases.max_mb (1 MiB here): refused on the declared size.
    let mut big = m.clone();
    big.size = 2 * 1024 * 1024;
    let big_sig = sign(&key.pkcs8, &big).unwrap();
    let r = upload(&app, &astro, &big, &key.id, &big_sig, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    // An invalid manifest field: 400 naming it.
    let bad_fields: Vec<(&str, &str, &str)> = vec![
        ("product", "../etc", "product"),
        ("product", "", "product"),
        ("version", "1 0", "version"),
        ("sha256", "ABCDEF", "sha256"),
        ("size", "0", "size"),
        ("min_schema_version", "-1", "min_schema_version"),
    ];
    for (name, value, field) in bad_fields {
        let mut q: Vec<(String, String)> = query_of(&m)
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect();
        q.push((name.into(), value.into()));
        q.push(("signing_key_id".into(), key.id.clone()));
        q.push(("signature".into(), good_sig.clone()));
        let r = post_release(&app, Some(&astro), &q, artifact.clone()).await;
        assert_error(
            r.status,
            &r.body,
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
        );
        assert_eq!(
            r.body["error"]["details"]["field"], field,
            "{name}={value}: {}",
            r.body
        );
    }
    let mut q = query_of(&m);
    q.retain(|(k, _)| k != "size");
    q.push(("size".into(), "many".into()));
    let r = post_release(&app, Some(&astro), &q, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );
    let notes = "x".repeat(4001);
    let mut q = query_of(&m);
    q.retain(|(k, _)| k != "notes");
    q.push(("notes".into(), notes));
    let r = post_release(&app, Some(&astro), &q, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    );

    // Nothing was stored.
    let body = list(&app, &astro, "/releases").await;
    assert_eq!(body["meta"]["total"], 0, "{body}");
    assert!(stored_files(&app).is_empty(), "{:?}", stored_files(&app));

    // Each refusal: an audit row (denied) and a security event with its reason.
    let events = security_events(&app).await;
    let reasons: Vec<String> = events
        .iter()
        .filter(|e| e.kind == "release.refused")
        .map(|e| e.details["reason"].as_str().unwrap().to_string())
        .collect();
    let n = |reason: &str| reasons.iter().filter(|r| *r == reason).count();
    assert_eq!(n("unsigned"), 2, "{reasons:?}");
    assert_eq!(n("bad_signature"), 4, "{reasons:?}");
    assert_eq!(n("revoked_key"), 1, "{reasons:?}");
    assert_eq!(n("unknown_key"), 1, "{reasons:?}");
    assert_eq!(n("sha256_mismatch"), 1, "{reasons:?}");
    assert_eq!(n("size_mismatch"), 2, "{reasons:?}");
    assert_eq!(n("too_large"), 1, "{reasons:?}");
    let critical = events
        .iter()
        .filter(|e| e.kind == "release.refused" && e.severity == "critical")
        .count();
    assert_eq!(critical, 9, "{events:?}");
    let rows = app.audit_rows().await;
    let denied = rows
        .iter()
        .filter(|r| r.action == "release.upload" && r.outcome == "denied")
        .count();
    assert_eq!(denied, reasons.len());
    assert!(app.verify_audit().await.is_intact());

    // After all that, the good upload still goes through.
    let r = upload(&app, &astro, &m, &key.id, &good_sig, artifact).await;
    assert_ok(r.status, &r.body, StatusCode::CREATED);
}

#[tokio::test]
async fn only_developers_manage_keys_and_upload_and_no_one_anonymous_reads() {
    let app = spawn(Service::Dev).await;
    let admin = app.admin_token().await;
    let astro = app.login("astro", "dev123456").await;
    let key = register_key(&app, &astro, "k").await;
    let artifact = b"build".to_vec();
    let m = manifest_of("dev-server", "0.1.0", &artifact);
    let sig = sign(&key.pkcs8, &m).unwrap();
    let r = upload(&app, &astro, &m, &key.id, &sig, artifact.clone()).await;
    assert_ok(r.status, &r.body, StatusCode::CREATED);
    let release = r.body["data"]["id"].as_str().unwrap().to_string();

    // No token: 401 everywhere.
    let (pkcs8, public) = generate().unwrap();
    drop(pkcs8);
    let new_key = json!({ "name": "n", "public_key": b64(&public) });
    let endpoints: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/signing-keys".into(), None),
        (Method::POST, "/signing-keys".into(), Some(new_key.clone())),
        (
            Method::POST,
            format!("/signing-keys/{}/revoke", key.id),
            None,
        ),
        (Method::GET, "/releases".into(), None),
        (Method::GET, format!("/releases/{release}"), None),
        (Method::GET, format!("/releases/{release}/artifact"), None),
    ];
    for (method, path, body) in &endpoints {
        let (status, reply) = app.api(method.clone(), path, None, body.clone()).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
    let mut q = query_of(&m);
    q.push(("signing_key_id".into(), key.id.clone()));
    q.push(("signature".into(), sig.clone()));
    let r = post_release(&app, None, &q, artifact.clone()).await;
    assert_error(
        r.status,
        &r.body,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    );

    // The admin (dev's only other role) reads and revokes, but neither
    // registers keys nor uploads.
    let (status, reply) = app
        .api(Method::POST, "/signing-keys", Some(&admin), Some(new_key))
        .await;
    assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    let mut m2 = m.clone();
    m2.version = "0.1.1".into();
    let sig2 = sign(&key.pkcs8, &m2).unwrap();
    let r = upload(&app, &admin, &m2, &key.id, &sig2, artifact.clone()).await;
    assert_error(r.status, &r.body, StatusCode::FORBIDDEN, "FORBIDDEN");
    for path in [
        "/signing-keys".to_string(),
        "/releases".into(),
        format!("/releases/{release}"),
    ] {
        list(&app, &admin, &path).await;
    }
    // A role without any release permission (an override with none) is
    // refused everywhere.
    let custom = spawn_with(Service::Dev, &[("DEV__RBAC__ROLES__AUDITOR", "audit.read")]).await;
    let custom_admin = custom.admin_token().await;
    custom.create_user(&custom_admin, "aud", "auditor").await;
    let aud = custom.login("aud", testkit::STRONG_PASSWORD).await;
    for (method, path) in [
        (Method::GET, "/signing-keys"),
        (Method::POST, "/signing-keys/x/revoke"),
        (Method::GET, "/releases"),
        (Method::GET, "/releases/x"),
        (Method::GET, "/releases/x/artifact"),
    ] {
        let (status, reply) = custom.api(method, path, Some(&aud), None).await;
        assert_error(status, &reply, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let r = post_release(&custom, Some(&aud), &q, artifact).await;
    assert_error(r.status, &r.body, StatusCode::FORBIDDEN, "FORBIDDEN");
}
