//! Tests of the crypto kernel on SQLite, and on PostgreSQL too when
//! `BULKHEAD_TEST_PG_URL` is set (each test in its own fresh database).

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::*;
use crate::db::{write_tx, Db, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::schema::data_keys;

const PLAIN: &str = "Zebediah Quuxworth";
const T1: &str = "tenant-one";
const T2: &str = "tenant-two";

/// The kernel's tables and the hospital's, which hold `data_keys` (the
/// keyring's table lives with the one server that encrypts).
const WITH_DATA_KEYS: crate::db::Migrations = crate::db::Migrations {
    sqlite: crate::migrations_fn!("../../migrations/hospital/sqlite"),
    postgres: crate::migrations_fn!("../../migrations/hospital/postgres"),
};

/// A fresh database that is removed (or dropped) with this value.
struct TestDb {
    label: &'static str,
    db: Option<Db>,
    dir: Option<PathBuf>,
    pg: Option<testdb::PgDatabase>,
}

impl TestDb {
    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("bh-crypto-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("crypto.db").display());
        let db = Db::open(&url, 4, Duration::from_secs(10), WITH_DATA_KEYS).unwrap();
        Self {
            label: "sqlite",
            db: Some(db),
            dir: Some(dir),
            pg: None,
        }
    }

    fn postgres(admin: &str) -> Self {
        let pg = testdb::PgDatabase::create(admin, "bh_crypto").unwrap();
        let db = Db::open(&pg.url(), 4, Duration::from_secs(10), WITH_DATA_KEYS).unwrap();
        Self {
            label: "postgres",
            db: Some(db),
            dir: None,
            pg: Some(pg),
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    fn conn(&self) -> r2d2::PooledConnection<crate::db::Manager> {
        self.db().conn().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The pool first, then the database it points at.
        drop(self.db.take());
        drop(self.pg.take());
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// SQLite always; PostgreSQL as well when the environment names a server
/// (`make test-pg`). Tests that need PostgreSQL alone use [`postgres_only`].
fn databases() -> Vec<TestDb> {
    let mut all = vec![TestDb::sqlite()];
    if let Some(admin) = testdb::pg_admin_url() {
        all.push(TestDb::postgres(&admin));
    }
    all
}

/// A PostgreSQL database; the test is `#[ignore]`d without one.
fn postgres_only() -> TestDb {
    TestDb::postgres(&testdb::require_pg())
}

fn keyring() -> Keyring {
    Keyring::new(MasterKey::generate())
}

fn tx<T>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> ApiResult<T>) -> ApiResult<T> {
    write_tx(conn, f)
}

/// The error is internal and says nothing of the plaintext.
fn assert_opaque<T: std::fmt::Debug>(result: ApiResult<T>, plaintext: &str, what: &str) {
    match result {
        Err(e @ ApiError::Internal(_)) => {
            let shown = format!("{e} {e:?} {e:#}");
            assert!(
                !shown.contains(plaintext),
                "{what}: error leaks the plaintext: {shown}"
            );
        }
        other => panic!("{what}: expected an internal error, got {other:?}"),
    }
}

fn patient_aad(tenant: &str, id: &str) -> Aad {
    Aad::new(tenant, "patients", "first_name", id)
}

#[test]
fn round_trip() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let stored = tx(&mut conn, |c| kr.encrypt(c, T1, PLAIN, &aad)).unwrap();
        let active = kr.active_key(&mut conn, T1).unwrap();
        assert_eq!(active.generation(), 1, "{}", t.label);
        assert!(
            stored.starts_with(&format!("v1.{}.", active.key_id())),
            "{stored}"
        );
        assert_eq!(key_id_of(&stored).unwrap(), active.key_id());
        assert_eq!(kr.decrypt(&mut conn, T1, &stored, &aad).unwrap(), PLAIN);
        // A fresh nonce every time.
        let again = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        assert_ne!(stored, again);
        assert_eq!(kr.decrypt(&mut conn, T1, &again, &aad).unwrap(), PLAIN);
        // Empty and non-ASCII text.
        for text in ["", "Zoë Ångström-Øster 李小龍 🙂"] {
            let s = kr.encrypt(&mut conn, T1, text, &aad).unwrap();
            assert_eq!(kr.decrypt(&mut conn, T1, &s, &aad).unwrap(), text);
        }
        // Options.
        assert_eq!(kr.encrypt_opt(&mut conn, T1, None, &aad).unwrap(), None);
        assert_eq!(kr.decrypt_opt(&mut conn, T1, None, &aad).unwrap(), None);
        let some = kr.encrypt_opt(&mut conn, T1, Some(PLAIN), &aad).unwrap();
        assert_eq!(
            kr.decrypt_opt(&mut conn, T1, some.as_deref(), &aad)
                .unwrap()
                .as_deref(),
            Some(PLAIN)
        );
        // A cold keyring with the same master key cannot exist here (the key
        // is random), but the DataKey API agrees with the keyring's.
        assert_eq!(active.decrypt(&stored, &aad).unwrap(), PLAIN);
        let by_key = active.encrypt(PLAIN, &aad).unwrap();
        assert_eq!(kr.decrypt(&mut conn, T1, &by_key, &aad).unwrap(), PLAIN);
        // One key for the tenant so far.
        assert_eq!(kr.keys(&mut conn, T1).unwrap().len(), 1);
    }
}

#[test]
fn misplaced_values_fail() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let stored = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        let cases = [
            ("other row", T1, patient_aad(T1, "p2")),
            ("other column", T1, aad.column("last_name")),
            ("other table", T1, Aad::new(T1, "staff", "first_name", "p1")),
            ("other tenant", T2, patient_aad(T2, "p1")),
            (
                "row id shifted into column",
                T1,
                Aad::new(T1, "patients", "first_namep", "1"),
            ),
        ];
        for (what, tenant, other) in cases {
            assert_opaque(
                kr.decrypt(&mut conn, tenant, &stored, &other),
                PLAIN,
                &format!("{}: {what}", t.label),
            );
        }
        // The tenant argument and the AAD's tenant must agree.
        assert_opaque(
            kr.decrypt(&mut conn, T2, &stored, &aad),
            PLAIN,
            "tenant mismatch",
        );
        assert_opaque(
            kr.encrypt(&mut conn, T2, PLAIN, &aad),
            PLAIN,
            "encrypt mismatch",
        );
        // Tenant two's own key cannot open it even under tenant one's AAD.
        let k2 = kr.active_key(&mut conn, T2).unwrap();
        assert_opaque(k2.decrypt(&stored, &aad), PLAIN, "other tenant's key");
        // Still fine where it belongs.
        assert_eq!(kr.decrypt(&mut conn, T1, &stored, &aad).unwrap(), PLAIN);
    }
}

#[test]
fn tampered_values_fail() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let stored = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        let (prefix, body) = stored.rsplit_once('.').unwrap();
        let sealed = URL_SAFE_NO_PAD.decode(body).unwrap();
        let mut bad = Vec::new();
        // Every single flipped bit position's byte: nonce, ciphertext, tag.
        for i in 0..sealed.len() {
            let mut s = sealed.clone();
            s[i] ^= 0x01;
            bad.push((
                format!("byte {i} flipped"),
                format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(s)),
            ));
        }
        for cut in [1, 4, 16, sealed.len() - 12, sealed.len()] {
            let s = &sealed[..sealed.len() - cut];
            bad.push((
                format!("{cut} bytes cut"),
                format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(s)),
            ));
        }
        let mut longer = sealed.clone();
        longer.push(0);
        bad.push((
            "a byte appended".into(),
            format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(longer)),
        ));
        bad.push((
            "text truncated".into(),
            stored[..stored.len() - 1].to_string(),
        ));
        bad.push((
            "text cut in half".into(),
            stored[..stored.len() / 2].to_string(),
        ));
        let other_id = "0123456789abcdef";
        bad.push(("unknown key id".into(), format!("v1.{other_id}.{body}")));
        let key_id = key_id_of(&stored).unwrap().to_string();
        if key_id.to_uppercase() != key_id {
            bad.push((
                "upper-case key id".into(),
                format!("v1.{}.{body}", key_id.to_uppercase()),
            ));
        }
        bad.push(("other version".into(), stored.replacen("v1.", "v2.", 1)));
        let k2 = kr.active_key(&mut conn, T2).unwrap();
        bad.push((
            "another tenant's key id".into(),
            format!("v1.{}.{body}", k2.key_id()),
        ));
        for garbage in [
            "",
            "hello",
            "v1",
            "v1.",
            "v1..",
            "v1.abc.def",
            "v1.0123456789abcdef.",
            "v1.0123456789abcdef.!!!!",
            PLAIN,
        ] {
            bad.push((format!("garbage {garbage:?}"), garbage.to_string()));
        }
        for (what, value) in &bad {
            assert_opaque(
                kr.decrypt(&mut conn, T1, value, &aad),
                PLAIN,
                &format!("{}: {what}", t.label),
            );
        }
        assert!(key_id_of("garbage").is_err());
        // And with an unrelated master key the untouched value fails too.
        let other = keyring();
        assert_opaque(
            other.decrypt(&mut conn, T1, &stored, &aad),
            PLAIN,
            "wrong master",
        );
    }
}

#[test]
fn rotation_keeps_old_values_readable() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let old = tx(&mut conn, |c| kr.encrypt(c, T1, PLAIN, &aad)).unwrap();
        let old_id = key_id_of(&old).unwrap().to_string();
        let new_id = tx(&mut conn, |c| kr.rotate(c, T1)).unwrap();
        assert_ne!(new_id, old_id, "{}", t.label);
        assert_eq!(kr.active_key(&mut conn, T1).unwrap().key_id(), new_id);
        let fresh = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        assert_eq!(key_id_of(&fresh).unwrap(), new_id);
        assert_eq!(kr.decrypt(&mut conn, T1, &old, &aad).unwrap(), PLAIN);
        assert_eq!(kr.decrypt(&mut conn, T1, &fresh, &aad).unwrap(), PLAIN);
        // Twice more; a cold keyring over the same master reads everything.
        let third = kr.rotate(&mut conn, T1).unwrap();
        let fourth = kr.rotate(&mut conn, T1).unwrap();
        let keys = kr.keys(&mut conn, T1).unwrap();
        let ids: Vec<_> = keys.iter().map(|k| k.key_id.clone()).collect();
        assert_eq!(
            ids,
            vec![old_id.clone(), new_id.clone(), third, fourth.clone()]
        );
        assert_eq!(
            keys.iter().map(|k| k.generation).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(keys.iter().filter(|k| k.active).count(), 1);
        assert!(keys[3].active);
        assert_eq!(kr.key(&mut conn, T1, &old_id).unwrap().key_id(), old_id);
        // The other tenant is untouched.
        assert!(kr.keys(&mut conn, T2).unwrap().is_empty());
        assert_opaque(kr.key(&mut conn, T2, &old_id), PLAIN, "foreign key id");
    }
}

#[test]
fn reencrypt_moves_values_to_the_active_key() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let old = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        let new_id = kr.rotate(&mut conn, T1).unwrap();
        let moved = tx(&mut conn, |c| kr.reencrypt(c, T1, &old, &aad)).unwrap();
        assert_eq!(key_id_of(&moved).unwrap(), new_id, "{}", t.label);
        assert_eq!(kr.decrypt(&mut conn, T1, &moved, &aad).unwrap(), PLAIN);
        // Still bound to its place.
        assert_opaque(
            kr.decrypt(&mut conn, T1, &moved, &patient_aad(T1, "p2")),
            PLAIN,
            "moved value elsewhere",
        );
        // Already current: unchanged.
        assert_eq!(kr.reencrypt(&mut conn, T1, &moved, &aad).unwrap(), moved);
        // A value that does not belong there is not laundered.
        assert_opaque(
            kr.reencrypt(&mut conn, T1, &old, &patient_aad(T1, "p2")),
            PLAIN,
            "reencrypt elsewhere",
        );
    }
}

#[test]
fn blind_indexes_match_normalized_values_per_tenant() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let p = "patients.last_name";
        let a = {
            let mut idx = |tenant: &str, purpose: &str, v: &str| {
                kr.blind_index(&mut conn, tenant, purpose, v).unwrap()
            };
            let a = idx(T1, p, &normalize_name("  José   de la\tCRUZ "));
            let b = idx(T1, p, &normalize_name("jose de la cruz"));
            let c = idx(T1, p, &normalize_name("Jose\u{301} De La Cruz")); // decomposed é
            assert_eq!(a, b, "{}", t.label);
            assert_eq!(a, c);
            assert_eq!(a.len(), 64);
            assert!(a.bytes().all(|x| x.is_ascii_hexdigit()));
            assert_ne!(a, idx(T1, p, &normalize_name("jose de la cruze")));
            assert_ne!(
                a,
                idx(
                    T1,
                    "patients.first_name",
                    &normalize_name("jose de la cruz")
                )
            );
            assert_ne!(a, idx(T2, p, &normalize_name("jose de la cruz")));
            assert!(!a.contains("jose"));

            let mrn = "patients.mrn";
            assert_eq!(
                idx(T1, mrn, &normalize_code("mrn-0001 23")),
                idx(T1, mrn, &normalize_code("MRN000123"))
            );
            let dob = "patients.date_of_birth";
            assert_eq!(
                idx(T1, dob, &normalize_date(" 1990-02-28 ").unwrap()),
                idx(T1, dob, &normalize_date("1990-02-28").unwrap())
            );
            a
        };

        // Stable across rotation (a cold keyring is checked in
        // wrong_master_key_cannot_unwrap).
        kr.rotate(&mut conn, T1).unwrap();
        kr.rotate(&mut conn, T1).unwrap();
        assert_eq!(
            kr.blind_index(&mut conn, T1, p, "jose de la cruz").unwrap(),
            a
        );
        let indexer = kr.indexer(&mut conn, T1).unwrap();
        assert_eq!(indexer.index(p, "jose de la cruz").unwrap(), a);
        assert!(indexer.index("", "x").is_err());
        assert_eq!(format!("{indexer:?}"), "BlindIndexer(v2, [redacted])");
    }
}

#[test]
fn normalizers() {
    assert_eq!(
        normalize_name("  Ånna-Marie   O'Neil\n"),
        "anna-marie o'neil"
    );
    assert_eq!(normalize_name("ＪＯＳＥ"), "jose");
    assert_eq!(normalize_name("İlker Straße"), "ilker straße");
    assert_eq!(normalize_name(""), "");
    assert_eq!(normalize_date("2024-02-29").unwrap(), "2024-02-29");
    for bad in [
        "2023-02-29",
        "2024-2-5",
        "24-02-05",
        "2024/02/05",
        "2024-13-01",
        "",
        "2024-02-05T00:00",
        "０２０２-01-01",
    ] {
        assert!(
            matches!(normalize_date(bad), Err(ApiError::Validation { .. })),
            "{bad:?} accepted"
        );
    }
    assert_eq!(normalize_code(" mrn–00 12-a "), "MRN0012A");
    assert_eq!(normalize_code("ｍｒｎ１"), "MRN1");
}

#[test]
fn master_key_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("bh-master-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str, mode: u32| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let key = MasterKey::generate();
    let hex_text = format!("{}\n", key.to_hex().as_str());
    let open = write("open.key", &hex_text, 0o644);
    let err = MasterKey::from_file(&open).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(key.to_hex().as_str()));
    assert!(MasterKey::from_file(&write("group.key", &hex_text, 0o640)).is_err());
    let ok = MasterKey::from_file(&write("ok.key", &hex_text, 0o600)).unwrap();
    assert_eq!(ok.fingerprint(), key.fingerprint());
    assert!(MasterKey::from_file(&write("ro.key", &hex_text, 0o400)).is_ok());

    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.bytes());
    assert_eq!(b64.len(), 44);
    let from_b64 = MasterKey::from_file(&write("b64.key", &format!("{b64}\r\n"), 0o600)).unwrap();
    assert_eq!(from_b64.fingerprint(), key.fingerprint());
    assert_eq!(
        MasterKey::from_hex_or_base64(&b64).unwrap().fingerprint(),
        key.fingerprint()
    );

    for bad in [
        "",
        "abc",
        &hex_text[..62],
        &format!("{}zz", &hex_text[..62]),
        &"A".repeat(43),
        &format!("{}00", key.to_hex().as_str()),
    ] {
        let e = MasterKey::from_hex_or_base64(bad);
        assert!(e.is_err(), "{bad:?} accepted");
    }
    assert!(MasterKey::from_file(&write("short.key", "abcd\n", 0o600)).is_err());
    assert!(MasterKey::from_file(&dir.join("missing.key")).is_err());
    assert!(MasterKey::from_file(&dir).is_err());

    // Generated files: 0600, whole, never replaced.
    let generated = dir.join("sub").join("master.key");
    let g = MasterKey::generate_to_file(&generated).unwrap();
    let mode = std::fs::metadata(&generated).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        MasterKey::from_file(&generated).unwrap().fingerprint(),
        g.fingerprint()
    );
    assert!(MasterKey::generate_to_file(&generated).is_err());
    assert_eq!(
        MasterKey::from_file(&generated).unwrap().fingerprint(),
        g.fingerprint()
    );
    assert_eq!(
        MasterKey::load_or_generate(&generated)
            .unwrap()
            .fingerprint(),
        g.fingerprint()
    );
    let demo = dir.join("demo.key");
    let d = MasterKey::load_or_generate(&demo).unwrap();
    assert_eq!(
        MasterKey::load_or_generate(&demo).unwrap().fingerprint(),
        d.fingerprint()
    );
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("master.key")]);

    // Never printed.
    assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    assert_eq!(key.fingerprint().len(), 16);
    assert!(
        !format!("{:?}", Keyring::new(MasterKey::from_bytes(*key.bytes())))
            .contains(key.to_hex().as_str())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_master_key_cannot_unwrap() {
    for t in databases() {
        let mut conn = t.conn();
        let master_bytes = *MasterKey::generate().bytes();
        let kr = Keyring::new(MasterKey::from_bytes(master_bytes));
        let aad = patient_aad(T1, "p1");
        let stored = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        let bi = kr.blind_index(&mut conn, T1, "x", "y").unwrap();

        let wrong = keyring();
        assert_opaque(wrong.active_key(&mut conn, T1), PLAIN, "active key");
        assert_opaque(
            wrong.decrypt(&mut conn, T1, &stored, &aad),
            PLAIN,
            "decrypt",
        );
        assert_opaque(
            wrong.blind_index(&mut conn, T1, "x", "y"),
            PLAIN,
            "blind index",
        );
        assert_opaque(wrong.check_master_key(&mut conn), PLAIN, "check");
        // It did not make a second key either.
        assert_eq!(kr.keys(&mut conn, T1).unwrap().len(), 1, "{}", t.label);

        // The same master key, cold cache: everything works.
        let same = Keyring::new(MasterKey::from_bytes(master_bytes));
        assert_eq!(same.check_master_key(&mut conn).unwrap(), 1);
        assert_eq!(same.decrypt(&mut conn, T1, &stored, &aad).unwrap(), PLAIN);
        assert_eq!(same.blind_index(&mut conn, T1, "x", "y").unwrap(), bi);

        // A wrapped key moved to another tenant does not unwrap there.
        let k1 = kr.active_key(&mut conn, T1).unwrap();
        let wrapped: String = data_keys::table
            .filter(data_keys::key_id.eq(k1.key_id()))
            .select(data_keys::wrapped)
            .first(&mut *conn)
            .unwrap();
        let k2 = kr.active_key(&mut conn, T2).unwrap();
        diesel::update(data_keys::table.filter(data_keys::key_id.eq(k2.key_id())))
            .set(data_keys::wrapped.eq(&wrapped))
            .execute(&mut *conn)
            .unwrap();
        let cold = Keyring::new(MasterKey::from_bytes(master_bytes));
        assert_opaque(cold.active_key(&mut conn, T2), PLAIN, "moved wrapped key");
        assert!(cold.active_key(&mut conn, T1).is_ok());
    }
}

#[test]
fn master_key_rotation_rewraps_every_key() {
    for t in databases() {
        let mut conn = t.conn();
        let kr = keyring();
        let aad = patient_aad(T1, "p1");
        let v1 = kr.encrypt(&mut conn, T1, PLAIN, &aad).unwrap();
        kr.rotate(&mut conn, T1).unwrap();
        let v2 = kr
            .encrypt(&mut conn, T1, PLAIN, &patient_aad(T1, "p2"))
            .unwrap();
        let v3 = kr
            .encrypt(&mut conn, T2, PLAIN, &patient_aad(T2, "p1"))
            .unwrap();
        let bi = kr.blind_index(&mut conn, T1, "x", "y").unwrap();
        let new_master = MasterKey::generate();
        let copy = MasterKey::from_bytes(*new_master.bytes());
        let done = tx(&mut conn, |c| kr.rewrap_all(c, &new_master)).unwrap();
        assert_eq!(
            done,
            Rewrapped {
                data_keys: 3,
                index_keys: 1,
                already: 0
            },
            "{}",
            t.label
        );
        // Running it again (the old key still in use) changes nothing.
        let again = tx(&mut conn, |c| kr.rewrap_all(c, &new_master)).unwrap();
        assert_eq!(again.already, 4, "{}", t.label);
        assert_eq!(again.data_keys + again.index_keys, 0);
        let kr2 = Keyring::new(copy);
        assert_eq!(kr2.check_master_key(&mut conn).unwrap(), 3);
        assert_eq!(kr2.decrypt(&mut conn, T1, &v1, &aad).unwrap(), PLAIN);
        assert_eq!(
            kr2.decrypt(&mut conn, T1, &v2, &patient_aad(T1, "p2"))
                .unwrap(),
            PLAIN
        );
        assert_eq!(
            kr2.decrypt(&mut conn, T2, &v3, &patient_aad(T2, "p1"))
                .unwrap(),
            PLAIN
        );
        assert_eq!(kr2.blind_index(&mut conn, T1, "x", "y").unwrap(), bi);
        // A cold keyring on the old master no longer unwraps anything.
        assert!(keyring().check_master_key(&mut conn).is_err());
    }
}

#[test]
fn a_key_made_in_a_rolled_back_transaction_is_never_used() {
    for t in databases() {
        let mut conn = t.conn();
        let master = MasterKey::generate();
        let kr = Keyring::new(MasterKey::from_bytes(*master.bytes()));
        let aad = patient_aad(T1, "p1");
        let mut lost = None;
        let r: ApiResult<()> = tx(&mut conn, |c| {
            lost = Some(kr.encrypt(c, T1, PLAIN, &aad)?);
            kr.blind_index(c, T1, "x", "y")?;
            Err(ApiError::validation("rolled back"))
        });
        assert!(r.is_err());
        let lost = lost.unwrap();
        assert!(kr.keys(&mut conn, T1).unwrap().is_empty(), "{}", t.label);
        let kept = tx(&mut conn, |c| kr.encrypt(c, T1, PLAIN, &aad)).unwrap();
        assert_ne!(key_id_of(&kept).unwrap(), key_id_of(&lost).unwrap());
        assert_eq!(
            kr.keys(&mut conn, T1).unwrap()[0].key_id,
            key_id_of(&kept).unwrap()
        );
        // The blind index now comes from the committed index key, for any keyring.
        let bi = tx(&mut conn, |c| kr.blind_index(c, T1, "x", "y")).unwrap();
        let cold = Keyring::new(MasterKey::from_bytes(*master.bytes()));
        assert_eq!(cold.blind_index(&mut conn, T1, "x", "y").unwrap(), bi);
    }
}

#[test]
fn concurrent_first_use_makes_one_key() {
    for t in databases() {
        let kr = keyring();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (db, kr, barrier) = (t.db().clone(), kr.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    write_tx(&mut conn, |c| {
                        let k = kr.active_key(c, T1)?;
                        std::thread::sleep(Duration::from_millis(50));
                        Ok(k.key_id().to_string())
                    })
                    .unwrap()
                })
            })
            .collect();
        let ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ids[0], ids[1], "{}", t.label);
        let mut conn = t.conn();
        assert_eq!(kr.keys(&mut conn, T1).unwrap().len(), 1);
    }
}

/// PostgreSQL outside the write lock: the loser of the race hits the unique
/// index inside its savepoint and takes the winner's key.
#[test]
#[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
fn racing_first_use_without_the_write_lock_on_postgres() {
    let t = postgres_only();
    let kr = keyring();
    let mut conn = t.conn();
    let (db, kr2) = (t.db().clone(), kr.clone());
    let (winner, loser) = conn
        .transaction::<_, ApiError, _>(|c| {
            let mine = kr.active_key(c, T1)?;
            // The other connection blocks on the unique index until we commit.
            let other = std::thread::spawn(move || {
                let mut conn = db.conn().unwrap();
                conn.transaction::<_, ApiError, _>(|c| {
                    Ok(kr2.active_key(c, T1)?.key_id().to_string())
                })
            });
            std::thread::sleep(Duration::from_millis(300));
            Ok((mine.key_id().to_string(), other))
        })
        .unwrap();
    assert_eq!(loser.join().unwrap().unwrap(), winner);
    assert_eq!(kr.keys(&mut conn, T1).unwrap().len(), 1);
}

diesel::table! {
    crypto_scratch (id) {
        id -> Text,
        value -> Text,
    }
}

#[test]
fn no_plaintext_or_raw_key_in_the_database() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    for t in databases() {
        let mut conn = t.conn();
        conn.batch_execute(
            "CREATE TABLE crypto_scratch (id TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
        )
        .unwrap();
        let kr = keyring();
        let mut raws = Vec::new();
        for (i, tenant) in [T1, T2].into_iter().enumerate() {
            let aad = patient_aad(tenant, "p1");
            let stored = tx(&mut conn, |c| kr.encrypt(c, tenant, PLAIN, &aad)).unwrap();
            assert!(!stored.contains(PLAIN));
            assert!(!stored.contains(&URL_SAFE_NO_PAD.encode(PLAIN)));
            assert!(!stored.to_lowercase().contains("zebediah"));
            diesel::insert_into(crypto_scratch::table)
                .values((
                    crypto_scratch::id.eq(format!("r{i}")),
                    crypto_scratch::value.eq(&stored),
                ))
                .execute(&mut *conn)
                .unwrap();
            kr.rotate(&mut conn, tenant).unwrap();
            for info in kr.keys(&mut conn, tenant).unwrap() {
                raws.push(*kr.key(&mut conn, tenant, &info.key_id).unwrap().raw());
            }
        }
        let rows: Vec<(String, String, String)> = data_keys::table
            .select((data_keys::key_id, data_keys::tenant_id, data_keys::wrapped))
            .load(&mut *conn)
            .unwrap();
        assert_eq!(rows.len(), 4);
        let dump = format!("{rows:?}");
        for raw in &raws {
            for form in [
                hex::encode(raw),
                STANDARD.encode(raw),
                URL_SAFE_NO_PAD.encode(raw),
            ] {
                assert!(
                    !dump.contains(&form),
                    "{}: a data key is stored in the clear",
                    t.label
                );
                assert!(!dump.to_lowercase().contains(&form.to_lowercase()));
            }
        }
        assert!(!dump.contains(PLAIN));
        if t.label == "postgres" {
            let everything: Vec<String> = diesel::sql_query(
                "SELECT CAST(t AS TEXT) AS v FROM crypto_scratch t UNION ALL SELECT CAST(d AS TEXT) FROM data_keys d",
            )
            .load::<TextRow>(&mut *conn)
            .unwrap()
            .into_iter()
            .map(|r| r.v)
            .collect();
            assert_eq!(everything.len(), 6);
            assert!(everything.iter().all(|r| !r.contains(PLAIN)));
        }
        drop(conn);
        if let Some(dir) = &t.dir {
            // The SQLite file and its WAL, byte for byte.
            let bytes = sqlite_bytes(dir);
            assert!(
                !contains(&bytes, PLAIN.as_bytes()),
                "plaintext in the SQLite file"
            );
            for raw in &raws {
                assert!(!contains(&bytes, raw), "a raw data key in the SQLite file");
                assert!(!contains(&bytes, hex::encode(raw).as_bytes()));
            }
            // The ciphertexts are there (the check above looks at the right bytes).
            assert!(contains(&bytes, b"v1."));
        }
    }
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

fn sqlite_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn finding_13_index_key_is_hkdf_derived_from_its_own_secret() {
    use crate::schema::index_keys;
    for t in databases() {
        let mut conn = t.conn();
        let master = MasterKey::generate();
        let kr = Keyring::new(MasterKey::from_bytes(*master.bytes()));
        let p = "patients.last_name";
        let bi = tx(&mut conn, |c| kr.blind_index(c, T1, p, "cruz")).unwrap();
        let legacy = kr.legacy_indexer(&mut conn, T1).unwrap();
        assert_eq!(legacy.version(), LEGACY_INDEX_VERSION);
        let old = legacy.index(p, "cruz").unwrap();
        assert_ne!(
            bi, old,
            "{}: the index no longer comes from the first data key",
            t.label
        );

        // It is HKDF of the stored index secret, under its own label.
        let (key_id, wrapped): (String, String) = index_keys::table
            .filter(index_keys::tenant_id.eq(T1))
            .select((index_keys::key_id, index_keys::wrapped))
            .first(&mut *conn)
            .unwrap();
        let aad = format!("bulkhead-index-key|{T1}|{key_id}");
        let secret = keyring::unwrap_raw(&cipher_for(master.bytes()), &wrapped, &aad).unwrap();
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"bulkhead-blind-index-salt"), &secret[..]);
        let mut okm = [0u8; 32];
        hk.expand(
            format!("bulkhead-blind-index|hkdf|v2|{}:{T1}", T1.len()).as_bytes(),
            &mut okm,
        )
        .unwrap();
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&okm).unwrap();
        hmac::Mac::update(&mut mac, format!("{}:{p}|cruz", p.len()).as_bytes());
        assert_eq!(bi, hex::encode(hmac::Mac::finalize(mac).into_bytes()));
        // The data key bytes are not an input: another tenant's secret differs.
        assert_ne!(
            tx(&mut conn, |c| kr.blind_index(c, T2, p, "cruz")).unwrap(),
            bi
        );

        // Searching sees both versions, newest first; rotation adds one.
        let versions = |conn: &mut DbConn| -> Vec<i32> {
            kr.indexers(conn, T1)
                .unwrap()
                .iter()
                .map(|i| i.version())
                .collect()
        };
        assert_eq!(versions(&mut conn), vec![2, 1], "{}", t.label);
        assert_eq!(tx(&mut conn, |c| kr.rotate_index_key(c, T1)).unwrap(), 3);
        assert_eq!(versions(&mut conn), vec![3, 2, 1]);
        let now3 = kr.blind_index(&mut conn, T1, p, "cruz").unwrap();
        assert_ne!(now3, bi);
        assert_eq!(kr.current_index_version(&mut conn, T1).unwrap(), Some(3));
        assert_eq!(kr.current_index_version(&mut conn, T2).unwrap(), Some(2));

        // A cold keyring checks and derives the same; a wrong master fails.
        let cold = Keyring::new(MasterKey::from_bytes(*master.bytes()));
        assert_eq!(
            cold.check_master_key(&mut conn).unwrap(),
            1,
            "data keys: T1 only"
        );
        assert_eq!(
            cold.indexers(&mut conn, T1).unwrap()[1]
                .index(p, "cruz")
                .unwrap(),
            bi
        );
        assert_opaque(keyring().indexer(&mut conn, T1), PLAIN, "wrong master");
    }
}

#[test]
fn file_keys_are_hkdf_of_the_data_key_per_key_id() {
    let raw = Zeroizing::new([5u8; KEY_LEN]);
    let dk = DataKey::new("k1", T1, 1, raw.clone());
    let fk = dk.file_key();
    assert_eq!(fk.key_id(), "k1");
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &raw[..]);
    let mut okm = [0u8; 32];
    hk.expand(b"bulkhead-file|v1|k1", &mut okm).unwrap();
    assert_eq!(fk.bytes(), &okm);
    assert_ne!(fk.bytes(), &*raw, "never the data key itself");
    let other = DataKey::new("k2", T1, 2, raw).file_key();
    assert_ne!(other.bytes(), fk.bytes(), "the key id is in the label");
    let shown = format!("{fk:?}");
    assert!(shown.contains("k1") && !shown.contains(&hex::encode(okm)));
}

#[test]
fn content_hashes_match_per_tenant_only() {
    let a = BlindIndexer::derived(T1, 2, &[1u8; KEY_LEN]).unwrap();
    let b = BlindIndexer::derived(T2, 2, &[2u8; KEY_LEN]).unwrap();
    let hash = |ix: &BlindIndexer, pieces: &[&[u8]]| {
        let mut h = ix.content_hasher();
        for p in pieces {
            h.update(p);
        }
        h.finalize()
    };
    let whole = hash(&a, &[b"scan of the left knee"]);
    assert_eq!(whole, hash(&a, &[b"scan of ", b"the left", b" knee"]));
    assert!(whole.starts_with("v2:"));
    assert_eq!(whole.len(), 3 + 64);
    assert!(whole[3..]
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    assert_ne!(whole, hash(&a, &[b"scan of the right knee"]));
    assert_ne!(whole, hash(&b, &[b"scan of the left knee"]));
    // Not the plain SHA-256 nor the value's blind index.
    use sha2::Digest;
    assert_ne!(
        &whole[3..],
        hex::encode(sha2::Sha256::digest(b"scan of the left knee"))
    );
    assert!(!format!("{:?}", a.content_hasher()).contains(&whole[3..]));
}
