//! Issue 12 item 3, end to end with the real binaries: the online copy.
//!
//! A hospital registered with `bulkhead register-tenant` (the story of
//! `tenants`) ships its change log to owner; its database is destroyed and
//! `bulkhead restore --from-owner` rebuilds it from owner's sealed batches;
//! the hospital starts again with the same patients and continues the
//! chain, and owner never holds a patient's name, MRN or birth date in
//! clear. Then the crash story: hospital and owner are each killed with
//! SIGKILL in the middle of a write load while batches are shipped, and a
//! restore still holds every acknowledged write exactly once, with owner's
//! batches numbered 1..N without a gap.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::{json, Value};

use crate::support::{
    contains_ignoring_case, free_port, owner_token, register_hospital, run, server_binary, signal,
    stored_bytes, text, wait_listening, Api, ChildGuard, FirstAdmin, Registered, TestDb,
};
use crate::up::{Up, LOG_FILE};

/// Smaller connection pools for the servers of `Up`: two of these tests
/// side by side on PostgreSQL otherwise open more connections than its
/// default `max_connections` (100) allows (each pool opens all of its
/// connections at start).
fn small_pools(mut extra: Vec<(String, String)>) -> Vec<(String, String)> {
    for s in ["HOSPITAL", "COMPANY", "DEV", "OWNER"] {
        extra.push((format!("{s}__DATABASE__POOL_SIZE"), "3".into()));
    }
    extra
}

/// The last lines of a log file (for a failure message).
fn tail(file: &Path) -> String {
    let log = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Every batch number owner lists for `tenant`, ascending.
async fn batch_numbers(o: &Api, token: &str, tenant: &str) -> Vec<i64> {
    let mut all = Vec::new();
    for page in 1..=100 {
        let body = o
            .get(
                &format!("/tenants/{tenant}/backups?page={page}&page_size=100"),
                token,
            )
            .await;
        let rows = body["data"].as_array().unwrap();
        all.extend(rows.iter().map(|b| b["batch_no"].as_i64().unwrap()));
        if rows.len() < 100 {
            break;
        }
    }
    all.sort_unstable();
    all
}

/// Press "sync now" on owner and wait until owner holds more than `after`
/// batches, the hospital reports nothing pending and acknowledges owner's
/// newest batch; the `sync` object then.
///
/// "Sync now" is pressed again every 3 s: a background write (a command's
/// result, a session) can land between a shipment and the next report, so
/// a report of nothing pending may need a second shipment. (An idle
/// heartbeat no longer writes: `standing::save` skips an unchanged answer.)
async fn sync_and_wait(o: &Api, token: &str, tenant: &str, after: i64, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut pressed: Option<Instant> = None;
    loop {
        if pressed.is_none_or(|p| p.elapsed() > Duration::from_secs(3)) {
            let (status, queued) = o
                .post(&format!("/tenants/{tenant}/sync"), Some(token), json!({}))
                .await;
            assert_eq!(status, 202, "{queued}");
            pressed = Some(Instant::now());
        }
        let health = o
            .get(&format!("/tenants/{tenant}/database-health"), token)
            .await;
        let sync = health["data"]["sync"].clone();
        let batches = sync["batches"].as_i64().unwrap_or(0);
        if batches > after
            && sync["pending_changes"] == 0
            && sync["last_batch_no"] == sync["hospital_last_batch_no"]
            && sync["last_batch_no"] == batches
        {
            return sync;
        }
        assert!(
            Instant::now() < deadline,
            "owner never held the whole copy: {sync}\nthe hospital's log:\n{}",
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Destroy a hospital database: the SQLite file with its WAL and shared
/// memory, or the PostgreSQL database dropped and created again empty.
fn destroy(reg: &Registered) {
    if let Some(rest) = reg.db_url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let f = format!("{rest}{suffix}");
            if Path::new(&f).exists() {
                std::fs::remove_file(&f).unwrap();
            }
        }
        return;
    }
    let pg = reg.created.as_ref().expect("a PostgreSQL database");
    let mut c = PgConnection::establish(&pg.admin_url).unwrap();
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        pg.name
    ))
    .execute(&mut c)
    .unwrap();
    diesel::sql_query(format!("CREATE DATABASE \"{}\"", pg.name))
        .execute(&mut c)
        .unwrap();
}

#[derive(QueryableByName, PartialEq, Eq, PartialOrd, Ord, Debug, Clone)]
struct PatientRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    mrn_enc: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn query<T: 'static + QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg>>(
    url: &str,
    sql: &str,
) -> Vec<T> {
    match url.strip_prefix("sqlite://") {
        Some(file) => {
            let mut c = SqliteConnection::establish(file).unwrap();
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
        None => {
            let mut c = PgConnection::establish(url).unwrap();
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
    }
}

/// A hospital database's patients (id and sealed MRN), sorted.
fn patients(url: &str) -> Vec<PatientRow> {
    query(url, "SELECT id, mrn_enc FROM patients ORDER BY id")
}

/// Row counts that any change to a hospital database moves.
fn counts(url: &str) -> Vec<i64> {
    [
        "SELECT COUNT(*) AS n FROM patients",
        "SELECT COUNT(*) AS n FROM audit_log",
        "SELECT COUNT(*) AS n FROM change_log",
        "SELECT COUNT(*) AS n FROM users",
        "SELECT next_batch_no AS n FROM sync_state",
    ]
    .iter()
    .map(|sql| query::<Count>(url, sql)[0].n)
    .collect()
}

/// `bulkhead restore --service hospital --from-owner --config <reg>`,
/// with `extra` arguments and environment.
fn restore(
    dir: &Path,
    reg: &Registered,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let config = reg.config.display().to_string();
    let args = [
        &[
            "restore",
            "--service",
            "hospital",
            "--from-owner",
            "--config",
            config.as_str(),
        ][..],
        extra,
    ]
    .concat();
    run(&args, env, dir)
}

/// "restored N change(s) from M batch(es)": (N, M).
fn restored_counts(out: &str) -> (i64, i64) {
    let line = out
        .lines()
        .find(|l| l.contains("restored") && l.contains("batch(es)"))
        .unwrap_or_else(|| panic!("no summary: {out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |w: &str| {
        let i = words.iter().position(|x| *x == w).unwrap();
        words[i - 1].parse::<i64>().unwrap()
    };
    (at("change(s)"), at("batch(es)"))
}

#[tokio::test]
async fn a_registered_hospital_is_destroyed_restored_from_owner_and_continues_its_chain() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut up = Up::start(&small_pools(vec![(
        "OWNER__LOG__LEVEL".into(),
        "info".into(),
    )]));
    up.wait_healthy();
    let dir = up.dir.path().to_path_buf();
    let reg = register_hospital(
        &dir,
        "Copy Hospital",
        "copy",
        up.url("owner"),
        up.internal_port("owner"),
        up.internal_port("company"),
    );
    let tenant = reg.tenant_id.clone();
    assert!(reg.out.join("backup.key").exists());
    assert!(reg.printed.contains("recovery code: "), "{}", reg.printed);
    let written = std::fs::read_to_string(&reg.config).unwrap();
    assert!(written.contains("[backup]\nkey_file = "), "{written}");

    // Shipping only on owner's "sync now" (and once at start): the interval
    // is an hour.
    let log = dir.join("copy.log");
    let env = [("HOSPITAL__BACKUP__INTERVAL_SECS", "3600")];
    let hospital = reg.start(&dir, &log, &env);
    let h = reg.api();
    let email = reg.login_email();
    let mut admin = FirstAdmin::enrol(&h, &email, &reg.admin_password).await;
    let o = Api::new(up.port("owner"), "/api/v1/owner");
    let otoken = owner_token(&o).await;
    crate::support::eventually(60, "owner sees the hospital healthy", || async {
        let t = o.get(&format!("/tenants/{tenant}"), &otoken).await;
        (t["data"]["health"] == "healthy").then_some(t)
    })
    .await;

    // A patient, then a change to it.
    let (status, patient) = h
        .post(
            "/patients",
            Some(&admin.token),
            json!({ "first_name": "Zubaida", "last_name": "Qadeerkhan", "date_of_birth": "1984-03-09", "sex": "female" }),
        )
        .await;
    assert_eq!(status, 201, "{patient}");
    let id = patient["data"]["id"].as_str().unwrap().to_string();
    let mrn = patient["data"]["mrn"].as_str().unwrap().to_string();
    let (status, changed) = h
        .call(
            reqwest::Method::PATCH,
            &format!("/patients/{id}"),
            Some(&admin.token),
            Some(json!({ "last_name": "Qadeerkhan-Noorani" })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");

    // "Sync now": owner holds it all, the hospital reports nothing pending.
    let before = batch_numbers(&o, &otoken, &tenant).await.len() as i64;
    let sync = sync_and_wait(&o, &otoken, &tenant, before, &log).await;
    let held = batch_numbers(&o, &otoken, &tenant).await;
    let n = held.len() as i64;
    assert_eq!(held, (1..=n).collect::<Vec<_>>(), "{sync}");

    // The hospital stops and its database is gone.
    signal(hospital.id(), "-TERM");
    let mut hospital = hospital;
    hospital.wait_exit(Duration::from_secs(30));
    drop(hospital);
    destroy(&reg);

    // Another backup key opens nothing: refused, naming the key.
    let wrong = dir.join("wrong.key");
    hospital::backup::write_key(&wrong, &contracts::backup::BackupKey::generate().unwrap())
        .unwrap();
    let wrong_s = wrong.display().to_string();
    let o_wrong = restore(&dir, &reg, &["--backup-key", &wrong_s], &[]);
    assert!(!o_wrong.status.success(), "{}", text(&o_wrong));
    assert!(
        text(&o_wrong).contains("another backup key"),
        "{}",
        text(&o_wrong)
    );
    destroy(&reg);

    // The restore: exit 0, naming what it replayed.
    let restored = restore(&dir, &reg, &[], &[]);
    assert_eq!(restored.status.code(), Some(0), "{}", text(&restored));
    let (changes, batches) = restored_counts(&text(&restored));
    assert_eq!(batches, n, "{}", text(&restored));
    assert!(changes > 0);
    assert!(
        text(&restored).contains(&format!("tenant {tenant}")),
        "{}",
        text(&restored)
    );

    // Again, into the now restored database: refused, nothing changed.
    let snapshot = counts(&reg.db_url);
    let again = restore(&dir, &reg, &[], &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    assert_eq!(
        counts(&reg.db_url),
        snapshot,
        "a refused restore changes nothing"
    );

    // The hospital starts again from the same configuration; the first
    // admin logs in with the same second factor and reads the patient.
    let hospital = reg.start(&dir, &log, &env);
    let token = admin.login_with_totp(&h, &email, &reg.admin_password).await;
    let read = h.get(&format!("/patients/{id}"), &token).await;
    assert_eq!(read["data"]["first_name"], "Zubaida", "{read}");
    assert_eq!(read["data"]["last_name"], "Qadeerkhan-Noorani", "{read}");
    assert_eq!(read["data"]["date_of_birth"], "1984-03-09", "{read}");
    assert_eq!(read["data"]["mrn"], mrn.as_str(), "{read}");

    // A patient after the restore reaches owner as the chain's next batch.
    let (status, second) = h
        .post(
            "/patients",
            Some(&token),
            json!({ "first_name": "Yasmeen", "last_name": "Farooqui", "date_of_birth": "1991-11-23", "sex": "female" }),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let second_mrn = second["data"]["mrn"].as_str().unwrap().to_string();
    assert_ne!(second_mrn, mrn, "the MRN counter was restored too");
    sync_and_wait(&o, &otoken, &tenant, n, &log).await;
    let held = batch_numbers(&o, &otoken, &tenant).await;
    let m = held.len() as i64;
    assert!(m > n, "a batch after the restore: {held:?}");
    assert_eq!(held, (1..=m).collect::<Vec<_>>());
    let hospital_log = std::fs::read(&log).unwrap();
    assert!(
        !contains_ignoring_case(&hospital_log, "refused batch"),
        "owner refused a batch:\n{}",
        tail(&log)
    );
    drop(hospital);

    // Owner holds the copy, but not one patient detail in clear.
    let owner_db = stored_bytes(up.url("owner"));
    let owner_log = std::fs::read(dir.join(LOG_FILE)).unwrap();
    for needle in [
        "Zubaida",
        "Qadeerkhan",
        "Noorani",
        "1984-03-09",
        mrn.as_str(),
        "Yasmeen",
        "Farooqui",
        "1991-11-23",
        second_mrn.as_str(),
    ] {
        assert!(
            !contains_ignoring_case(&owner_db, needle),
            "owner's database holds {needle}"
        );
        assert!(
            !contains_ignoring_case(&owner_log, needle),
            "the servers' logs hold {needle}"
        );
        assert!(
            !contains_ignoring_case(&hospital_log, needle),
            "the hospital's log holds {needle}"
        );
    }
    assert!(contains_ignoring_case(&owner_db, "Copy Hospital"));
}

/// A standalone owner-server (demo logins) on `db`, in `dir` beside the
/// `Up` whose CA and company it uses; output appended to `log`.
fn start_owner(dir: &Path, up: &Up, port: u16, internal: u16, db: &str, log: &Path) -> ChildGuard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let peer = |s: &str| format!("https://localhost:{}", up.internal_port(s));
    let mut cmd = Command::new(server_binary("owner"));
    cmd.arg("--demo")
        .current_dir(dir)
        .env("OWNER__SERVER__PORT", port.to_string())
        .env("OWNER__PLANE__PORT", internal.to_string())
        .env("OWNER__DATABASE__URL", db)
        .env("OWNER__AUTH__BCRYPT_COST", "4")
        .env("OWNER__LOG__LEVEL", "warn")
        .env("OWNER__PLANE__COMPANY_URL", peer("company"))
        .env("OWNER__PLANE__DEV_URL", peer("dev"))
        .env(
            "OWNER__PLANE__OWNER_URL",
            format!("https://localhost:{internal}"),
        )
        .env("OWNER__PLANE__OUTBOX_INTERVAL_SECS", "1")
        .env("OWNER__PLANE__ANCHOR_INTERVAL_SECS", "1")
        .env("OWNER__PLANE__HEARTBEAT_INTERVAL_SECS", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut owner = ChildGuard::spawn(&mut cmd);
    wait_listening(&mut owner, port, Duration::from_secs(60));
    wait_listening(&mut owner, internal, Duration::from_secs(60));
    owner
}

/// Wait until `n` patient registrations were acknowledged (bounded).
async fn wait_acked(acked: &Arc<Mutex<Vec<String>>>, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while acked.lock().unwrap().len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} registrations acknowledged",
            acked.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_hospital_or_owner_mid_batch_loses_and_duplicates_nothing_in_the_copy() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut up = Up::start(&small_pools(Vec::new()));
    up.wait_healthy();
    let dir = up.dir.path().to_path_buf();

    // An owner of its own (so it can be killed and started again), on its
    // own database, with company and the CA of `up`.
    let owner_db = TestDb::new(&dir, "owner-standalone");
    let (owner_port, owner_internal) = (free_port(), free_port());
    let owner_log = dir.join("owner-standalone.log");
    let owner = start_owner(
        &dir,
        &up,
        owner_port,
        owner_internal,
        owner_db.url(),
        &owner_log,
    );
    let reg = register_hospital(
        &dir,
        "Crash Hospital",
        "crashy",
        owner_db.url(),
        owner_internal,
        up.internal_port("company"),
    );
    let tenant = reg.tenant_id.clone();
    let log = dir.join("crashy.log");
    let env = [
        ("HOSPITAL__BACKUP__BATCH_ROWS", "20"),
        ("HOSPITAL__BACKUP__INTERVAL_SECS", "1"),
        ("HOSPITAL__AUTH__LOGIN_ATTEMPTS_PER_MINUTE", "100000"),
    ];
    let hospital = reg.start(&dir, &log, &env);
    let h = reg.api();
    let admin = FirstAdmin::enrol(&h, &reg.login_email(), &reg.admin_password).await;
    let o = Api::new(owner_port, "/api/v1/owner");

    // Four writers, each at most 40 acknowledged registrations and 300
    // attempts, for at most 60 s; a refused connection (a server being
    // killed or started) is retried after a pause, not counted.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(60);
    let base = format!("http://127.0.0.1:{}/api/v1/tenant/patients", reg.port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, base, acked, token) = (
            http.clone(),
            base.clone(),
            acked.clone(),
            admin.token.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut done = 0;
            for attempt in 0..300 {
                if done >= 40 || Instant::now() >= stop_at {
                    break;
                }
                let reply = http
                    .post(&base)
                    .bearer_auth(&token)
                    .json(&json!({ "first_name": format!("Load{w}"), "last_name": format!("Writer{attempt}"),
                                   "date_of_birth": "1970-01-01", "sex": "male" }))
                    .send()
                    .await;
                let answered = match reply {
                    Ok(r) if r.status().as_u16() == 201 => r.json::<Value>().await.ok(),
                    Ok(r) if r.status().is_server_error() => None,
                    Ok(r) => {
                        let status = r.status();
                        panic!("unexpected answer {status}: {:?}", r.text().await)
                    }
                    Err(_) => None,
                };
                match answered {
                    Some(body) => {
                        acked
                            .lock()
                            .unwrap()
                            .push(body["data"]["id"].as_str().unwrap().to_string());
                        done += 1;
                    }
                    None => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        }));
    }

    // The hospital dies in the middle of shipping, and comes back.
    let otoken = owner_token(&o).await;
    wait_acked(&acked, 30, Duration::from_secs(30)).await;
    crate::support::eventually(30, "batches on owner before the kill", || async {
        let n = batch_numbers(&o, &otoken, &tenant).await.len();
        (n >= 2).then_some(Value::Null)
    })
    .await;
    drop(hospital); // SIGKILL
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hospital = reg.start(&dir, &log, &env);

    // Owner dies while the hospital ships, and comes back on its database.
    wait_acked(&acked, 80, Duration::from_secs(40)).await;
    drop(owner); // SIGKILL
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let owner = start_owner(
        &dir,
        &up,
        owner_port,
        owner_internal,
        owner_db.url(),
        &owner_log,
    );

    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 100,
        "the load ran: {} acknowledged",
        acked.len()
    );

    // Owner catches up: everything held, nothing pending.
    let otoken = owner_token(&o).await;
    let sync = sync_and_wait(&o, &otoken, &tenant, 0, &log).await;
    let held = batch_numbers(&o, &otoken, &tenant).await;
    let n = held.len() as i64;
    assert_eq!(
        held,
        (1..=n).collect::<Vec<_>>(),
        "no gap in owner's batches"
    );
    assert_eq!(sync["last_batch_no"], n);
    signal(hospital.id(), "-TERM");
    let mut hospital = hospital;
    hospital.wait_exit(Duration::from_secs(30));
    let hospital_log = std::fs::read(&log).unwrap();
    assert!(
        !contains_ignoring_case(&hospital_log, "refused batch"),
        "owner refused a batch:\n{}",
        tail(&log)
    );

    // Restored into a fresh database: the same patients, each once.
    let original = patients(&reg.db_url);
    let fresh = TestDb::new(&dir, "crashy-restored");
    let out = restore(&dir, &reg, &[], &[("HOSPITAL__DATABASE__URL", fresh.url())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (_, batches) = restored_counts(&text(&out));
    assert_eq!(batches, n);
    let copy = patients(fresh.url());
    assert_eq!(copy.len(), original.len(), "the restored patient count");
    assert_eq!(copy, original, "the same patients, sealed alike");
    for id in &acked {
        let found = copy.iter().filter(|p| &p.id == id).count();
        assert_eq!(found, 1, "acknowledged patient {id} restored {found} times");
    }
    let shipping = String::from_utf8_lossy(&hospital_log);
    eprintln!(
        "{} acknowledged, {} patients, {n} batches; shipping retried {} time(s) while owner was away",
        acked.len(),
        copy.len(),
        shipping.matches("not shipped yet").count()
    );
    let mut mrns: Vec<&String> = copy.iter().map(|p| &p.mrn_enc).collect();
    mrns.sort_unstable();
    mrns.dedup();
    assert_eq!(mrns.len(), copy.len(), "no patient twice");
    drop(owner);
}
