//! `bulkhead certs`: a CA, a certificate per service, revocation.

use std::path::Path;
use std::process::Output;

use crate::support::{run, text};

/// The value after `label` on a line of the command's output.
fn certs_field(out: &Output, label: &str) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no `{label}` in: {}", text(out)))
}

fn certs_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(p) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

#[test]
fn certs_init_issue_every_service_and_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let certs = cwd.join("certs");
    let tenant = "3f2a0c1e-8d4b-4e6f-9a7b-1c2d3e4f5a6b";

    let out = run(&["certs", "init"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in ["ca.crt", "ca.key", "ca.crl"] {
        assert!(certs.join(f).exists(), "{f}: {}", text(&out));
    }
    assert_eq!(certs_mode(&certs.join("ca.key")), 0o600);
    let ca_key = std::fs::read(certs.join("ca.key")).unwrap();

    // A second init refuses and changes nothing.
    let out = run(&["certs", "init", "--days", "10"], &[], cwd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refusing"), "{}", text(&out));
    assert_eq!(std::fs::read(certs.join("ca.key")).unwrap(), ca_key);

    let mut serials = Vec::new();
    for service in ["company", "dev", "owner"] {
        let out = run(&["certs", "issue", "--service", service], &[], cwd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(
            certs_field(&out, "identity:"),
            format!("spiffe://bulkhead/{service}")
        );
        assert!(!certs_field(&out, "expires:").is_empty());
        let crt = certs.join(format!("{service}.crt"));
        let key = certs.join(format!("{service}.key"));
        assert_eq!(certs_mode(&key), 0o600, "{service}.key");
        let pem = std::fs::read_to_string(&crt).unwrap();
        let (serial, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
        assert_eq!(serial, certs_field(&out, "serial:"));
        assert_eq!(
            identity.unwrap().uri(),
            format!("spiffe://bulkhead/{service}")
        );
        serials.push(serial);
    }

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "hospital",
            "--tenant",
            tenant,
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let uri = format!("spiffe://bulkhead/hospital/{tenant}");
    assert_eq!(certs_field(&out, "identity:"), uri);
    assert_eq!(certs_mode(&certs.join("hospital.key")), 0o600);
    let pem = std::fs::read_to_string(certs.join("hospital.crt")).unwrap();
    let (_, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
    assert_eq!(identity.unwrap().uri(), uri);

    let issued: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(certs.join("issued.json")).unwrap()).unwrap();
    let issued = issued.as_array().unwrap();
    assert_eq!(issued.len(), 4);
    assert_eq!(issued[3]["identity"], uri.as_str());
    assert_eq!(issued[3]["file"], "hospital");

    // Revoke company's certificate: recorded, CRL rewritten; twice is fine.
    let crl_before = std::fs::read(certs.join("ca.crl")).unwrap();
    let out = run(&["certs", "revoke", "--serial", &serials[0]], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_ne!(std::fs::read(certs.join("ca.crl")).unwrap(), crl_before);
    let revoked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(certs.join("revoked.json")).unwrap())
            .unwrap();
    assert_eq!(revoked[0]["serial"], serials[0].as_str());
    let ca = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
    let crl = std::fs::read_to_string(certs.join("ca.crl")).unwrap();
    let company = std::fs::read_to_string(certs.join("company.crt")).unwrap();
    let dev = std::fs::read_to_string(certs.join("dev.crt")).unwrap();
    let now = std::time::SystemTime::now();
    assert!(
        common::mtls::certs::verify_client(&ca, std::slice::from_ref(&crl), &company, now).is_err(),
        "the revoked certificate is refused"
    );
    // dev answers only (serverAuth): it is checked as a server.
    common::mtls::certs::verify_server(&ca, &[crl], &dev, "localhost", now).unwrap();

    let out = run(&["certs", "revoke", "--serial", &serials[0]], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("already revoked"), "{}", text(&out));

    // An unknown serial is refused.
    let out = run(&["certs", "revoke", "--serial", "0badc0ffee"], &[], cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not issued"), "{}", text(&out));
}

#[test]
fn certs_issue_hospital_without_tenant_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let out = run(&["certs", "init"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = run(&["certs", "issue", "--service", "hospital"], &[], cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("tenant"), "{}", text(&out));
    assert!(!cwd.join("certs/hospital.crt").exists());
    assert!(!cwd.join("certs/hospital.key").exists());

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "hospital",
            "--tenant",
            "nope",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "company",
            "--tenant",
            "3f2a0c1e-8d4b-4e6f-9a7b-1c2d3e4f5a6b",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!cwd.join("certs/company.crt").exists());

    // Issuing without a CA is an error too.
    let other = tempfile::tempdir().unwrap();
    let out = run(&["certs", "issue", "--service", "dev"], &[], other.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("certs init"), "{}", text(&out));
}

#[test]
fn certs_issue_options_and_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let dir = cwd.join("pki");
    let dir_s = dir.to_str().unwrap();

    let out = run(&["certs", "init", "--dir", dir_s, "--days", "30"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "owner",
            "--dir",
            dir_s,
            "--days",
            "2",
            "--dns",
            "owner.internal",
            "--dns",
            "localhost",
            "--ip",
            "10.0.0.5",
            "--name",
            "owner-b",
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.join("owner-b.crt").exists());
    assert_eq!(certs_mode(&dir.join("owner-b.key")), 0o600);
    assert!(!dir.join("owner.crt").exists());
    assert!(!cwd.join("certs").exists());

    let out = run(
        &[
            "certs",
            "issue",
            "--service",
            "dev",
            "--ip",
            "not-an-ip",
            "--dir",
            dir_s,
        ],
        &[],
        cwd,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // The demo set: everything missing is created, then nothing.
    let out = run(&["certs", "demo"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ca, company, dev, owner, hospital"),
        "{}",
        text(&out)
    );
    for s in ["company", "dev", "owner", "hospital"] {
        assert_eq!(certs_mode(&cwd.join(format!("certs/{s}.key"))), 0o600);
    }
    let pem = std::fs::read_to_string(cwd.join("certs/hospital.crt")).unwrap();
    let (_, identity) = common::mtls::certs::parse_serials_and_identity(&pem).unwrap();
    assert_eq!(
        identity.unwrap().tenant(),
        Some(common::config::DEMO_TENANT_ID)
    );
    let out = run(&["certs", "demo"], &[], cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("all present"), "{}", text(&out));
}
