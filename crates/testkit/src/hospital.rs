//! Hospital helpers: registering patients, care teams, portal accounts,
//! logging in to a hosted (several-tenant) server, and reading everything
//! a test database stores, for plaintext checks.

use diesel::pg::PgConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{assert_ok, TestApp, STRONG_PASSWORD};

/// The smallest valid registration: names, date of birth, sex.
pub fn patient_body(first: &str, last: &str, date_of_birth: &str) -> Value {
    json!({
        "first_name": first,
        "last_name": last,
        "date_of_birth": date_of_birth,
        "sex": "female",
    })
}

/// Register a patient as `token`; panics unless 201. Returns the patient as answered.
pub async fn register_patient(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, reply) = app
        .api(Method::POST, "/patients", Some(token), Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"].clone()
}

/// [`register_patient`], returning only the id.
pub async fn register_patient_id(app: &TestApp, token: &str, body: Value) -> String {
    id_of(&register_patient(app, token, body).await)
}

/// The `id` member of an object, as text.
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// The caller's user id (`GET /auth/me`).
pub async fn user_id(app: &TestApp, token: &str) -> String {
    let (status, me) = app.api(Method::GET, "/auth/me", Some(token), None).await;
    assert_ok(status, &me, StatusCode::OK);
    id_of(&me["data"])
}

/// Put `user` on `patient`'s care team as `token`; panics unless 201.
pub async fn add_to_care_team(app: &TestApp, token: &str, patient: &str, user: &str) {
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/patients/{patient}/care-team"),
            Some(token),
            Some(json!({ "user_id": user })),
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
}

/// Give `patient` a portal account `username` (password [`STRONG_PASSWORD`])
/// the way a patient gets one: `token` (staff) asks for an enrolment code
/// and the patient redeems it choosing the password. Panics unless both
/// succeed. Returns the new user's id.
pub async fn portal_account(app: &TestApp, token: &str, patient: &str, username: &str) -> String {
    let code = enrolment_code(app, token, patient).await;
    let body = json!({ "code": code, "username": username, "password": STRONG_PASSWORD });
    let (status, reply) = app
        .api(Method::POST, "/portal/enrol", None, Some(body))
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    assert_eq!(reply["data"]["role"], "patient", "{reply}");
    id_of(&reply["data"])
}

/// Ask for `patient`'s portal enrolment code as `token`; panics unless 201.
pub async fn enrolment_code(app: &TestApp, token: &str, patient: &str) -> String {
    let (status, reply) = app
        .api(
            Method::POST,
            &format!("/patients/{patient}/portal-account"),
            Some(token),
            None,
        )
        .await;
    assert_ok(status, &reply, StatusCode::CREATED);
    reply["data"]["enrolment_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no enrolment_code in {reply}"))
        .to_string()
}

/// Log in naming a tenant (hosted servers need it when a username exists
/// in several tenants); panics unless 200. Returns the access token.
pub async fn login_in(app: &TestApp, tenant: &str, username: &str, password: &str) -> String {
    let body = json!({ "username": username, "password": password, "tenant_id": tenant });
    let (status, reply) = app.api(Method::POST, "/auth/login", None, Some(body)).await;
    assert_ok(status, &reply, StatusCode::OK);
    assert_eq!(reply["data"]["user"]["tenant_id"], tenant, "{reply}");
    reply["data"]["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {reply}"))
        .to_string()
}

/// Percent-encode a query value (everything but unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /patients?search=<term>&page_size=100` as `token`; panics unless
/// 200. Returns the ids found, in order.
pub async fn search_ids(app: &TestApp, token: &str, term: &str) -> Vec<String> {
    let path = format!("/patients?search={}&page_size=100", encode(term));
    let (status, reply) = app.api(Method::GET, &path, Some(token), None).await;
    assert_ok(status, &reply, StatusCode::OK);
    ids(&reply)
}

/// The ids of a list reply's `data`.
pub fn ids(reply: &Value) -> Vec<String> {
    reply["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {reply}"))
        .iter()
        .map(id_of)
        .collect()
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Everything the app's database holds, as bytes to search: on SQLite the
/// database file, its WAL and shared-memory file byte for byte; on
/// PostgreSQL every row of every table of the public schema as JSON text.
pub fn stored_bytes(app: &TestApp) -> Vec<u8> {
    stored_bytes_with(app, "patients")
}

/// [`stored_bytes`] of any server's database; on PostgreSQL, `table` must
/// be among the tables read (a check that the right database was read).
pub fn stored_bytes_with(app: &TestApp, table: &str) -> Vec<u8> {
    let url = app.database_url().to_string();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let file = rest.split('?').next().unwrap_or(rest).to_string();
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(bytes) = std::fs::read(format!("{file}{suffix}")) {
                all.extend(bytes);
            }
        }
        assert!(!all.is_empty(), "nothing read from {file}");
        return all;
    }
    let mut conn = PgConnection::establish(&url).expect("connecting to the test database");
    let tables: Vec<String> = diesel::sql_query(
        "SELECT table_name::text AS v FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load::<TextRow>(&mut conn)
    .expect("listing tables")
    .into_iter()
    .map(|r| r.v)
    .collect();
    assert!(
        tables.iter().any(|t| t == table),
        "no {table} table in {tables:?}"
    );
    let mut all = Vec::new();
    for table in tables {
        let rows = diesel::sql_query(format!(
            "SELECT row_to_json(t)::text AS v FROM \"{table}\" t"
        ))
        .load::<TextRow>(&mut conn)
        .unwrap_or_else(|e| panic!("reading {table}: {e}"));
        for r in rows {
            all.extend(r.v.into_bytes());
            all.push(b'\n');
        }
    }
    all
}

/// Whether `haystack` contains `needle`, ignoring ASCII case.
pub fn contains_ignoring_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A writer holding the database's write lock (the audit head's row, which
/// every audited write takes first) until [`WriteLock::release`] or drop:
/// to tell requests that wait for writers from those that do not.
pub struct WriteLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl WriteLock {
    /// Take the lock on `app`'s database; returns once it is held.
    pub fn hold(app: &TestApp) -> Self {
        use diesel::connection::SimpleConnection;
        let db = app.db();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut conn = db.conn().expect("a connection for the lock holder");
            let _ = conn.transaction::<(), diesel::result::Error, _>(|c| {
                c.batch_execute("UPDATE audit_head SET seq = seq WHERE id = 1")?;
                let _ = held_tx.send(());
                // Released by a message or by the sender's drop (a failed test).
                let _ = release_rx.recv();
                Ok(())
            });
        });
        held_rx.recv().expect("the write lock was taken");
        Self {
            release: Some(release),
            holder: Some(holder),
        }
    }

    /// Let writers go on (commits nothing: the holder changed nothing).
    pub fn release(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.holder.take() {
            let _ = h.join();
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Make every audit append fail from now on (a trigger refusing inserts
/// into `audit_log`), on either backend.
pub async fn refuse_audit_rows(app: &TestApp) {
    let sql = match app.backend() {
        common::db::Backend::Sqlite => {
            "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END;"
        }
        common::db::Backend::Postgres => {
            "CREATE FUNCTION test_refuse_audit() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_audit();"
        }
    };
    app.sql(sql).await.expect("installing the refusing trigger");
}
