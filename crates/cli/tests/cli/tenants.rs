//! Issue 12 item 5, end to end with the real binaries: `bulkhead
//! register-tenant` registers a third hospital next to the demo's two, the
//! hospital starts from the configuration it wrote, its first admin
//! (provisioned from owner) logs in with a second factor, owner sees it
//! healthy, a user created from owner appears on the hospital, and owner's
//! database and logs hold none of the patient's name or MRN. (The online
//! copy and its restore, item 3, continue this story in `online_copy`.)

use std::path::Path;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};

use crate::support::{
    contains_ignoring_case, eventually, owner_token, register_hospital, run, stored_bytes, text,
    Api, CreatedPg, FirstAdmin, TextRow,
};
use crate::up::{Up, LOG_FILE};

#[tokio::test]
async fn a_hospital_registered_with_the_cli_starts_logs_in_reports_to_owner_and_leaks_no_phi() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut up = Up::start(&[("OWNER__LOG__LEVEL".into(), "info".into())]);
    up.wait_healthy();
    let dir = up.dir.path().to_path_buf();

    // Register it: tenant on owner, certificate, database, configuration.
    let reg = register_hospital(
        &dir,
        "Third Hospital",
        "third",
        up.url("owner"),
        up.internal_port("owner"),
        up.internal_port("company"),
    );
    let (tenant_id, printed, config, out) = (&reg.tenant_id, &reg.printed, &reg.config, &reg.out);
    let admin_password = reg.admin_password.as_str();
    assert!(
        printed.contains(&format!(
            "next: hospital-server --config {}",
            config.display()
        )),
        "{printed}"
    );
    assert!(!printed.contains(admin_password), "no password printed");
    assert!(dir.join("certs/hospital-third.crt").exists());
    for secret in ["hospital.toml", "jwt.secret", "master.key", "backup.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{secret} is private");
    }
    // The same subdomain again: refused, exit 1, nothing new on owner.
    let env = [
        ("OWNER__DATABASE__URL", up.url("owner")),
        ("OWNER__AUTH__BCRYPT_COST", "4"),
    ];
    let args: Vec<&str> = reg.args.iter().map(String::as_str).collect();
    let again = run(
        &[&args[..9], &["--out", "again", "--certs-dir", "certs"]].concat(),
        &env,
        &dir,
    );
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("subdomain"), "{}", text(&again));

    // Start it from the written configuration (output kept to search it).
    let hospital_log = dir.join("third.log");
    let hospital = reg.start(&dir, &hospital_log, &[]);
    let h = reg.api();

    // The first admin, provisioned from owner, logs in; outside demo mode
    // the admin role must enrol a second factor first.
    let email = reg.login_email();
    let admin = FirstAdmin::enrol(&h, &email, admin_password).await;
    assert_eq!(admin.first["user"]["tenant_id"], tenant_id.as_str());
    assert_eq!(admin.first["user"]["role"], "admin");
    let hadmin = admin.token.clone();
    let (status, me) = h
        .call(reqwest::Method::GET, "/auth/me", Some(&hadmin), None)
        .await;
    assert_eq!(status, 200, "{me}");

    // Owner lists it (three hospitals) and sees it healthy.
    let o = Api::new(up.port("owner"), "/api/v1/owner");
    let otoken = owner_token(&o).await;
    let t = eventually(60, "owner sees the third hospital healthy", || async {
        let t = o.get(&format!("/tenants/{tenant_id}"), &otoken).await;
        (t["data"]["health"] == "healthy").then_some(t)
    })
    .await;
    assert_eq!(t["data"]["name"], "Third Hospital");
    assert_eq!(t["data"]["slug"], "third", "{t}");
    let health = o
        .get(&format!("/tenants/{tenant_id}/database-health"), &otoken)
        .await;
    assert_eq!(health["data"]["status"], "healthy", "{health}");
    let all = o.get("/tenants?page_size=100", &otoken).await;
    assert_eq!(
        all["meta"]["total"], 3,
        "two demo hospitals and this one: {all}"
    );

    // A user created from owner appears on the hospital and logs in.
    let (status, queued) = o
        .post(
            &format!("/tenants/{tenant_id}/users"),
            Some(&otoken),
            json!({ "username": "rita.reception", "password": "initial-pass-from-owner", "role": "reception" }),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    eventually(60, "the new user in owner's directory", || async {
        let users = o
            .get(
                &format!("/tenants/{tenant_id}/users?page_size=100"),
                &otoken,
            )
            .await;
        let found = users["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "rita.reception");
        found.then_some(users)
    })
    .await;
    let (status, rita) = h.login("rita.reception", "initial-pass-from-owner").await;
    assert_eq!(status, 200, "{rita}");
    let first_token = rita["access_token"].as_str().unwrap().to_string();
    let (status, changed) = h
        .post(
            "/auth/password",
            Some(&first_token),
            json!({ "current_password": "initial-pass-from-owner", "new_password": "rita-chose-this-one" }),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {changed}");
    let (status, rita) = h.login("rita.reception", "rita-chose-this-one").await;
    assert_eq!(status, 200, "{rita}");
    let reception = rita["access_token"].as_str().unwrap().to_string();

    // A patient on the third hospital; its name and MRN never reach owner.
    let (status, patient) = h
        .post(
            "/patients",
            Some(&reception),
            json!({ "first_name": "Zubaida", "last_name": "Qadeerkhan", "date_of_birth": "1984-03-09", "sex": "female" }),
        )
        .await;
    assert_eq!(status, 201, "{patient}");
    let mrn = patient["data"]["mrn"].as_str().unwrap().to_string();
    // Two more heartbeats carry whatever they carry to owner.
    let beats = |h: &Value| h["data"]["last_heartbeat_at"].as_str().map(str::to_string);
    let seen = beats(&health);
    eventually(30, "further heartbeats", || async {
        let now = o
            .get(&format!("/tenants/{tenant_id}/database-health"), &otoken)
            .await;
        (beats(&now) != seen).then_some(now)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let owner_db = stored_bytes(up.url("owner"));
    let owner_log = std::fs::read(dir.join(LOG_FILE)).unwrap();
    let third_log = std::fs::read(&hospital_log).unwrap();
    for needle in ["Zubaida", "Qadeerkhan", "1984-03-09", mrn.as_str()] {
        assert!(
            !contains_ignoring_case(&owner_db, needle),
            "owner's database holds {needle}"
        );
        assert!(
            !contains_ignoring_case(&owner_log, needle),
            "the servers' logs hold {needle}"
        );
        assert!(
            !contains_ignoring_case(&third_log, needle),
            "the hospital's log holds {needle}"
        );
    }
    // The search looks where the data is: the tenant's name is in owner's
    // database, and the logs are not empty.
    assert!(contains_ignoring_case(&owner_db, "Third Hospital"));
    assert!(contains_ignoring_case(&owner_log, "owner"), "owner logged");
    assert!(!third_log.is_empty() && Path::new(&hospital_log).exists());
    drop(hospital);
}

/// Refusals change nothing: without a CA, or with a weak password, nothing
/// is registered (the same subdomain registers afterwards); without a
/// password file one is generated into a private file, never printed.
#[test]
fn register_tenant_refusals_leave_nothing_and_a_generated_password_stays_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let owner = crate::support::TestDb::new(dir.path(), "owner");
    let env = [
        ("OWNER__DATABASE__URL", owner.url()),
        ("OWNER__AUTH__BCRYPT_COST", "4"),
    ];
    let base = [
        "register-tenant",
        "--company",
        "Ramzan Hospital",
        "--subdomain",
        "ramzan",
        "--db",
        "hospital_ramzan",
        "--certs-dir",
        "certs",
    ];
    // No CA yet: refused before anything is written.
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let o = run(&base, &env, dir.path());
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("certs init"), "{}", text(&o));
    assert!(!dir.path().join("hospitals/ramzan/hospital.toml").exists());

    let init = run(&["certs", "init", "--dir", "certs"], &[], dir.path());
    assert!(init.status.success(), "{}", text(&init));
    // A password the policy refuses: exit 1, nothing registered.
    std::fs::write(dir.path().join("weak"), "password\n").unwrap();
    let o = run(
        &[&base[..], &["--admin-password-file", "weak"]].concat(),
        &env,
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("owner refused"), "{}", text(&o));
    assert!(!dir.path().join("certs/hospital-ramzan.crt").exists());

    // Now it registers; the generated password is only in its 0600 file.
    let o = run(&base, &env, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let file = dir.path().join("hospitals/ramzan/first-admin.password");
    let password = std::fs::read_to_string(&file).unwrap();
    let password = password.trim();
    assert!(password.len() >= 12);
    assert!(!text(&o).contains(password), "the password is not printed");
    assert!(text(&o).contains("admin@ramzan.local"), "{}", text(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o077,
        0
    );
    // The subdomain again, with a new database name: refused before any
    // database is created (on PostgreSQL: none named so afterwards).
    let fresh = format!("bh_cli_unused_{}", uuid::Uuid::new_v4().simple());
    let pg = std::env::var("BULKHEAD_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let mut again = vec![
        "register-tenant",
        "--company",
        "Ramzan Again",
        "--subdomain",
        "ramzan",
        "--db",
        &fresh,
        "--certs-dir",
        "certs",
        "--out",
        "again",
    ];
    if let Some(u) = &pg {
        again.extend(["--database-url", u.as_str()]);
    }
    let o = run(&again, &env, dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("subdomain exists"), "{}", text(&o));
    if let Some(u) = &pg {
        let _guard = CreatedPg {
            admin_url: u.clone(),
            name: fresh.clone(),
        };
        let mut c = PgConnection::establish(u).unwrap();
        let found: Vec<TextRow> =
            diesel::sql_query("SELECT datname::text AS v FROM pg_database WHERE datname = $1")
                .bind::<diesel::sql_types::Text, _>(&fresh)
                .load(&mut c)
                .unwrap();
        assert!(found.is_empty(), "no database created for a refusal");
    }

    // The written configuration is one the hospital accepts.
    let check = run(
        &[
            "config",
            "check",
            "--service",
            "hospital",
            "--config",
            "hospitals/ramzan/hospital.toml",
        ],
        &[],
        dir.path(),
    );
    assert!(check.status.success(), "{}", text(&check));
}
