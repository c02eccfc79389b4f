//! `bulkhead migrate`, `users create` and `audit verify` against a
//! database, without servers.

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::support::{run, text, TestDb};

#[test]
fn migrate_create_user_and_verify_then_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path(), "company");
    let url = db.url().to_string();
    let env = [
        ("COMPANY__DATABASE__URL", url.as_str()),
        ("COMPANY__AUTH__BCRYPT_COST", "4"),
        ("BULKHEAD_USER_PASSWORD", "a long enough passphrase"),
    ];

    let out = run(&["migrate", "--service", "company"], &env, dir.path());
    assert!(out.status.success(), "{}", text(&out));

    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "carol",
            "--role",
            "analyst",
        ],
        &env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "carol",
            "--role",
            "analyst",
        ],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "duplicate user: {}", text(&out));
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "dave",
            "--role",
            "wizard",
        ],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "unknown role: {}", text(&out));
    let weak = [
        ("COMPANY__DATABASE__URL", url.as_str()),
        ("BULKHEAD_USER_PASSWORD", "password"),
    ];
    let out = run(
        &[
            "users",
            "create",
            "--service",
            "company",
            "--username",
            "erin",
            "--role",
            "analyst",
        ],
        &weak,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "weak password: {}", text(&out));

    let out = run(
        &["audit", "verify", "--service", "company"],
        &env,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("intact"), "{}", text(&out));

    // An attacker with database access drops the trigger and rewrites a row.
    tamper(
        &url,
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1",
    );
    let out = run(
        &["audit", "verify", "--service", "company"],
        &env,
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("seq 1"),
        "names the first bad row: {}",
        text(&out)
    );
}

fn tamper(url: &str, sql: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        c.batch_execute(&format!("DROP TRIGGER audit_log_no_update; {sql};"))
            .unwrap();
    } else {
        let mut c = diesel::PgConnection::establish(url).unwrap();
        c.batch_execute(&format!(
            "ALTER TABLE audit_log DISABLE TRIGGER USER; {sql};"
        ))
        .unwrap();
    }
}

#[test]
fn unknown_configuration_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URLL", "x")],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("unknown field `urll`"),
        "{}",
        text(&out)
    );
}
