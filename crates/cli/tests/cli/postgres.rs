//! TLS to PostgreSQL, as production requires (the rest of the suite talks
//! to its test databases without TLS).

use diesel::Connection;

use crate::support::{run, text};

#[test]
#[ignore = "needs PostgreSQL (BULKHEAD_TEST_PG_URL; make test-pg)"]
fn postgres_over_tls_when_required() {
    let admin = testdb::require_pg();
    let dir = tempfile::tempdir().unwrap();
    let pg = testdb::PgDatabase::create(&admin, "bh_cli").unwrap();
    // The server URL's own parameters, without the suite's `sslmode=disable`.
    let url = pg.raw_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let tls = format!("{url}{sep}sslmode=require");
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URL", tls.as_str())],
        dir.path(),
    );
    assert!(out.status.success(), "sslmode=require: {}", text(&out));
    let mut conn = diesel::PgConnection::establish(&tls).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
    }
    let row: Ssl = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
        &mut conn,
    )
    .unwrap();
    assert!(row.ssl, "the connection is encrypted");
    // verify-full against a CA that did not sign the server's certificate must fail.
    let bogus_ca = dir.path().join("bogus-ca.pem");
    let ca = rcgen::generate_simple_self_signed(vec!["bogus-ca".to_string()]).unwrap();
    std::fs::write(&bogus_ca, ca.cert.pem()).unwrap();
    let strict = format!(
        "{url}{sep}sslmode=verify-full&sslrootcert={}",
        bogus_ca.display()
    );
    let out = run(
        &["migrate", "--service", "dev"],
        &[("DEV__DATABASE__URL", strict.as_str())],
        dir.path(),
    );
    assert!(
        !out.status.success(),
        "verify-full with the wrong CA must fail: {}",
        text(&out)
    );
}
