//! `bulkhead certs public` and `bulkhead certs crl [--refresh]`, driven as
//! an operator would: the public listener's certificate for a DNS name, and
//! re-signing the CRL before servers start refusing every peer.

use std::path::Path;
use std::process::Output;

use crate::support::text;

fn run(args: &[&str], cwd: &Path) -> Output {
    crate::support::run(args, &[], cwd)
}

#[test]
fn certs_public_issues_a_server_certificate_for_a_dns_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let out = run(&["certs", "init"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A DNS name is required.
    let out = run(&["certs", "public"], cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(
        &[
            "certs",
            "public",
            "--dns",
            "hospital.example.org",
            "--ip",
            "10.0.0.5",
        ],
        cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("server.tls_cert"), "{}", text(&out));
    let certs = cwd.join("certs");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(certs.join("public.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let ca = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
    let crl = std::fs::read_to_string(certs.join("ca.crl")).unwrap();
    let pem = std::fs::read_to_string(certs.join("public.crt")).unwrap();
    let now = std::time::SystemTime::now();
    // A server certificate for that name, carrying no service identity and
    // unusable as a client certificate on the internal plane.
    pki::verify_server(
        &ca,
        std::slice::from_ref(&crl),
        &pem,
        "hospital.example.org",
        now,
    )
    .unwrap();
    assert!(pki::verify_server(
        &ca,
        std::slice::from_ref(&crl),
        &pem,
        "other.example.org",
        now
    )
    .is_err());
    assert!(pki::verify_client(&ca, &[crl], &pem, now).is_err());
    assert_eq!(pki::parse_serials_and_identity(&pem).unwrap().1, None);
}

#[test]
fn certs_crl_refresh_resigns_the_crl() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let out = run(&["certs", "crl"], cwd);
    assert_eq!(out.status.code(), Some(1), "no CRL yet: {}", text(&out));
    assert_eq!(run(&["certs", "init"], cwd).status.code(), Some(0));
    let dir = cwd.join("certs");

    // An expired CRL (as if nobody refreshed it for months), keeping the revocations.
    let ca = pki::load_ca(&dir).unwrap();
    let issued = pki::issue(
        &dir,
        &common::mtls::ServiceIdentity::Owner,
        "owner",
        &[],
        &[],
        1,
    )
    .unwrap();
    pki::revoke(&dir, &issued.serial_hex).unwrap();
    let revoked = pki::read_revoked(&dir).unwrap();
    let past = chrono::Utc::now() - chrono::Duration::days(60);
    let stale = ca
        .crl_between(&revoked, past, past + chrono::Duration::days(30))
        .unwrap();
    std::fs::write(dir.join("ca.crl"), stale).unwrap();
    assert!(pki::crl_next_update(&dir).unwrap().unwrap() < chrono::Utc::now());

    let out = run(&["certs", "crl", "--refresh"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("re-signed"), "{}", text(&out));
    let next = pki::crl_next_update(&dir).unwrap().unwrap();
    assert!(next > chrono::Utc::now() + chrono::Duration::days(29));
    // Still revoked.
    let crl = std::fs::read_to_string(dir.join("ca.crl")).unwrap();
    assert!(pki::verify_client(
        &ca.cert_pem,
        &[crl],
        &issued.cert_pem,
        std::time::SystemTime::now()
    )
    .is_err());
    let out = run(&["certs", "crl"], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("next update due"), "{}", text(&out));
}
