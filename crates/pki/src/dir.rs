//! The certificates directory (default `./certs`), used by `bulkhead
//! certs …` and `bulkhead up --demo`:
//!
//! ```text
//! certs/ca.crt  ca.key  ca.crl           the CA and its revocation list
//! certs/<name>.crt  <name>.key           one pair per service (company, dev, owner, hospital)
//! certs/issued.json                      every certificate issued: serial, identity, file, not_after
//! certs/revoked.json                     every serial revoked: serial, revoked_at
//! ```
//!
//! Every `.key` file is created with mode 0600 (never widened, never
//! chmod-ed after the fact) and every file is written atomically
//! ([`common::fsutil::write_atomic`]), so a reader sees the old file or the
//! new one, never half of one.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration as StdDuration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{Duration, Utc};
use common::fsutil::{write_atomic, Access, Existing};
use common::mtls::certs::{
    normalize_serial, parse_serials_and_identity, verify_client, verify_server,
};
use common::mtls::ServiceIdentity;
use common::Service;
use rcgen::{KeyPair, PublicKeyData};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::ca::{
    truncate, Ca, IssueRequest, Issued, IssuedRecord, RevokedSerial, Roles, DEFAULT_CA_NAME,
};

/// The default certificates directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "certs";
/// Default CA validity, in days (about ten years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Default service certificate validity, in days.
pub const DEFAULT_LEAF_DAYS: u32 = 365;
/// How far back a certificate issued by the files API starts being valid,
/// to tolerate clocks that are a little behind.
pub const BACKDATE_MINUTES: i64 = 5;

/// The CA certificate file name.
pub const CA_CERT_FILE: &str = "ca.crt";
/// The CA private key file name.
pub const CA_KEY_FILE: &str = "ca.key";
/// The CRL file name.
pub const CRL_FILE: &str = "ca.crl";
/// The register of issued certificates.
pub const ISSUED_FILE: &str = "issued.json";
/// The register of revoked serials.
pub const REVOKED_FILE: &str = "revoked.json";

/// Create the CA (`ca.crt`, `ca.key`) and an empty CRL (`ca.crl`) in `dir`
/// (created if needed), valid `ca_days` days. Returns `false` and changes
/// nothing when `ca.crt` already exists; refuses (an error) when `ca.key`
/// exists without `ca.crt`, rather than overwrite a key.
pub fn init(dir: &Path, ca_days: u32) -> Result<bool> {
    if dir.join(CA_CERT_FILE).exists() {
        return Ok(false);
    }
    let key_path = dir.join(CA_KEY_FILE);
    if key_path.exists() {
        bail!(
            "{} exists but {} does not: refusing to overwrite a CA key (restore the certificate or move the key away)",
            key_path.display(),
            CA_CERT_FILE
        );
    }
    if ca_days == 0 {
        bail!("the CA must be valid for at least one day");
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = Utc::now();
    let ca = Ca::generate(
        DEFAULT_CA_NAME,
        now - Duration::minutes(BACKDATE_MINUTES),
        now + Duration::days(i64::from(ca_days)),
    )?;
    // The certificate last: its presence means the CA is complete.
    put(&key_path, ca.key_pem().as_bytes(), Access::Private)?;
    write_crl(dir, &ca, &read_revoked(dir)?)?;
    put(
        &dir.join(CA_CERT_FILE),
        ca.cert_pem.as_bytes(),
        Access::Public,
    )?;
    Ok(true)
}

/// Load the CA of `dir`.
pub fn load_ca(dir: &Path) -> Result<Ca> {
    let cert_path = dir.join(CA_CERT_FILE);
    if !cert_path.exists() {
        bail!(
            "no CA in {} (run `bulkhead certs init` first)",
            dir.display()
        );
    }
    let cert = read_to_string(&cert_path)?;
    let key = read_to_string(&dir.join(CA_KEY_FILE))?;
    Ca::load(&cert, &key).with_context(|| format!("loading the CA from {}", dir.display()))
}

/// Issue a certificate for `identity` with the CA of `dir`, valid from now
/// (minus [`BACKDATE_MINUTES`]) for `days` days, with the usages its role
/// needs ([`Roles::of`]), and write it as `<file_name>.crt` /
/// `<file_name>.key` (0600), replacing what was there: that is rotation.
/// Records it in `issued.json`; the previous certificate of that file stays
/// valid until it expires or is revoked.
pub fn issue(
    dir: &Path,
    identity: &ServiceIdentity,
    file_name: &str,
    dns: &[String],
    ips: &[IpAddr],
    days: u32,
) -> Result<Issued> {
    issue_with(
        dir,
        Some(identity),
        Roles::of(identity),
        file_name,
        dns,
        ips,
        days,
    )
}

/// Issue a public listener's certificate (serverAuth only, no service
/// identity) for the DNS names and addresses users reach the server by,
/// signed by the CA of `dir`, as `<file_name>.crt`/`.key`. For a private
/// deployment whose browsers trust the Bulkhead CA; a public CA's
/// certificate works as well (`server.tls_cert`/`server.tls_key`).
pub fn issue_public(
    dir: &Path,
    file_name: &str,
    dns: &[String],
    ips: &[IpAddr],
    days: u32,
) -> Result<Issued> {
    if dns.is_empty() {
        bail!("a public certificate needs at least one DNS name");
    }
    issue_with(dir, None, Roles::Server, file_name, dns, ips, days)
}

fn issue_with(
    dir: &Path,
    identity: Option<&ServiceIdentity>,
    roles: Roles,
    file_name: &str,
    dns: &[String],
    ips: &[IpAddr],
    days: u32,
) -> Result<Issued> {
    check_file_name(file_name)?;
    if days == 0 {
        bail!("a certificate must be valid for at least one day");
    }
    let ca = load_ca(dir)?;
    let now = Utc::now();
    let issued = ca.issue(&IssueRequest {
        identity: identity.cloned(),
        roles,
        dns: dns.to_vec(),
        ips: ips.to_vec(),
        not_before: now - Duration::minutes(BACKDATE_MINUTES),
        not_after: now + Duration::days(i64::from(days)),
    })?;
    let mut records = read_issued(dir)?;
    records.push(IssuedRecord {
        serial: issued.serial_hex.clone(),
        identity: match identity {
            Some(id) => id.uri(),
            None => format!("public:{}", dns.join(",")),
        },
        file: file_name.to_string(),
        not_after: issued.not_after,
    });
    // Record first: a serial out in the world is always revocable.
    write_json(&dir.join(ISSUED_FILE), &records)?;
    put(
        &dir.join(format!("{file_name}.key")),
        issued.key_pem.as_bytes(),
        Access::Private,
    )?;
    put(
        &dir.join(format!("{file_name}.crt")),
        issued.cert_pem.as_bytes(),
        Access::Public,
    )?;
    Ok(issued)
}

/// Revoke the certificate with this serial (any common hex form) and
/// rewrite `ca.crl`. The serial must be in `issued.json`; revoking one
/// already revoked changes nothing in `revoked.json` (the CRL is still
/// rewritten, with a fresh thisUpdate/nextUpdate).
pub fn revoke(dir: &Path, serial_hex: &str) -> Result<()> {
    let serial = normalize_serial(serial_hex)?;
    let ca = load_ca(dir)?;
    let issued = read_issued(dir)?;
    if !issued.iter().any(|r| r.serial == serial) {
        bail!(
            "serial {serial} was not issued by this CA (not in {}); nothing revoked",
            dir.join(ISSUED_FILE).display()
        );
    }
    let mut revoked = read_revoked(dir)?;
    if !revoked.iter().any(|r| r.serial == serial) {
        revoked.push(RevokedSerial {
            serial,
            revoked_at: truncate(Utc::now())?,
        });
        write_json(&dir.join(REVOKED_FILE), &revoked)?;
    }
    write_crl(dir, &ca, &revoked)
}

/// Re-sign `ca.crl` with the serials of `revoked.json` and a fresh
/// thisUpdate/nextUpdate (servers refuse every peer once a CRL is past
/// its nextUpdate plus their grace period). Returns the new nextUpdate.
pub fn refresh_crl(dir: &Path) -> Result<chrono::DateTime<Utc>> {
    write_crl(dir, &load_ca(dir)?, &read_revoked(dir)?)?;
    crl_next_update(dir)?.ok_or_else(|| anyhow!("the CRL just written has no nextUpdate"))
}

/// The nextUpdate of `ca.crl` (`None` when there is no CRL file).
pub fn crl_next_update(dir: &Path) -> Result<Option<chrono::DateTime<Utc>>> {
    let path = dir.join(CRL_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let pem = read_to_string(&path)?;
    let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| anyhow!("parsing {}: {e}", path.display()))?;
    let (_, crl) = x509_parser::parse_x509_crl(&der)
        .map_err(|e| anyhow!("parsing {}: {e}", path.display()))?;
    Ok(crl
        .next_update()
        .and_then(|t| chrono::DateTime::from_timestamp(t.timestamp(), 0)))
}

/// The entries of `issued.json` (empty when it does not exist).
pub fn read_issued(dir: &Path) -> Result<Vec<IssuedRecord>> {
    read_json(&dir.join(ISSUED_FILE))
}

/// The entries of `revoked.json` (empty when it does not exist).
pub fn read_revoked(dir: &Path) -> Result<Vec<RevokedSerial>> {
    read_json(&dir.join(REVOKED_FILE))
}

/// For the demo (`bulkhead up --demo`, `bulkhead certs demo`): create
/// whatever is missing of the CA and the `company`, `dev`, `owner` and
/// `hospital` certificates (the hospital's identity is
/// `hospital/<hospital_tenant>`), with DNS `localhost` and IP `127.0.0.1`,
/// valid [`DEFAULT_LEAF_DAYS`]. A certificate is reissued too when it does
/// not verify against the CA and CRL of `dir` a day from now (expired,
/// revoked, from another CA), names another identity, or its key does not
/// match. Returns the names created (`ca`, `company`, …), in that order.
pub fn ensure_demo(dir: &Path, hospital_tenant: &str) -> Result<Vec<String>> {
    let hospital = ServiceIdentity::for_service(Service::Hospital, Some(hospital_tenant))
        .map_err(|e| anyhow!(e))?;
    let mut created = Vec::new();
    let fresh_ca = init(dir, DEFAULT_CA_DAYS)?;
    if fresh_ca {
        created.push("ca".to_string());
    }
    let ca = load_ca(dir)?;
    check_ca_current(&ca, dir)?;
    // Servers refuse peers once the CRL is past nextUpdate (plus grace):
    // a demo left alone for weeks must still start.
    let crl_due = crl_next_update(dir)?.is_none_or(|t| t < Utc::now() + Duration::days(7));
    if !fresh_ca && crl_due {
        refresh_crl(dir)?;
        created.push("crl".to_string());
    }
    let dns = vec!["localhost".to_string()];
    let ips = vec![IpAddr::from([127, 0, 0, 1])];
    for (name, identity) in [
        ("company", ServiceIdentity::Company),
        ("dev", ServiceIdentity::Dev),
        ("owner", ServiceIdentity::Owner),
        ("hospital", hospital),
    ] {
        if fresh_ca || !leaf_is_usable(dir, &ca, name, &identity) {
            issue(dir, &identity, name, &dns, &ips, DEFAULT_LEAF_DAYS)?;
            created.push(name.to_string());
        }
    }
    Ok(created)
}

/// For the demo's further hospitals (`bulkhead up --demo` starts a second
/// one): after [`ensure_demo`], create `<name>.crt`/`<name>.key` for
/// `hospital/<tenant>` unless a usable one is there (same rules as
/// [`ensure_demo`]). Whether it was (re)issued.
pub fn ensure_demo_hospital(dir: &Path, name: &str, tenant: &str) -> Result<bool> {
    let identity =
        ServiceIdentity::for_service(Service::Hospital, Some(tenant)).map_err(|e| anyhow!(e))?;
    let ca = load_ca(dir)?;
    if leaf_is_usable(dir, &ca, name, &identity) {
        return Ok(false);
    }
    let dns = vec!["localhost".to_string()];
    let ips = vec![IpAddr::from([127, 0, 0, 1])];
    issue(dir, &identity, name, &dns, &ips, DEFAULT_LEAF_DAYS)?;
    Ok(true)
}

fn check_ca_current(ca: &Ca, dir: &Path) -> Result<()> {
    let der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())
        .map_err(|e| anyhow!("parsing the CA certificate: {e}"))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("parsing the CA certificate: {e}"))?;
    let not_after = x509.validity().not_after.timestamp();
    if not_after <= Utc::now().timestamp() + 86_400 {
        bail!(
            "the CA in {} expires within a day ({}): move the directory away to start a new CA",
            dir.display(),
            x509.validity().not_after
        );
    }
    Ok(())
}

/// Whether `<name>.crt`/`<name>.key` exist, match each other, carry
/// `identity`, and verify as a client certificate against the CA (and CRL)
/// a day from now.
fn leaf_is_usable(dir: &Path, ca: &Ca, name: &str, identity: &ServiceIdentity) -> bool {
    let check = || -> Result<bool> {
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        if !cert_path.exists() || !key_path.exists() {
            return Ok(false);
        }
        let cert_pem = read_to_string(&cert_path)?;
        let (_, id) = parse_serials_and_identity(&cert_pem)?;
        if id.as_ref() != Some(identity) {
            return Ok(false);
        }
        let key = KeyPair::from_pem(&read_to_string(&key_path)?)?;
        let leaf =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        {
            let (_, x509) =
                x509_parser::parse_x509_certificate(&leaf).map_err(|e| anyhow!("{e}"))?;
            if x509.public_key().raw != key.subject_public_key_info().as_slice() {
                return Ok(false);
            }
        }
        let crl_path = dir.join(CRL_FILE);
        let crls = if crl_path.exists() {
            vec![read_to_string(&crl_path)?]
        } else {
            Vec::new()
        };
        let tomorrow = SystemTime::now() + StdDuration::from_secs(86_400);
        // Verified in the role it plays (dev's only answers, a hospital's only calls).
        Ok(match Roles::of(identity) {
            Roles::Server => verify_server(&ca.cert_pem, &crls, &cert_pem, "localhost", tomorrow),
            _ => verify_client(&ca.cert_pem, &crls, &cert_pem, tomorrow),
        }
        .is_ok())
    };
    check().unwrap_or(false)
}

/// A file name stem for `<name>.crt`/`<name>.key`: letters, digits, `-`,
/// `_` and `.`, not starting with `.`, and not the CA's.
fn check_file_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("`{name}` is not a usable certificate file name (letters, digits, `-`, `_`, `.`)");
    }
    if name == "ca" || name == "issued" || name == "revoked" {
        bail!("`{name}` is reserved in the certificates directory");
    }
    Ok(())
}

fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    match fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Sign and write `ca.crl` listing `revoked`.
fn write_crl(dir: &Path, ca: &Ca, revoked: &[RevokedSerial]) -> Result<()> {
    put(
        &dir.join(CRL_FILE),
        ca.crl(revoked)?.as_bytes(),
        Access::Public,
    )
}

/// Write a file of the directory atomically, replacing what was there.
fn put(path: &Path, contents: &[u8], access: Access) -> Result<()> {
    write_atomic(path, contents, access, Existing::Replace)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut body = serde_json::to_vec_pretty(value)?;
    body.push(b'\n');
    put(path, &body, Access::Public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    const TENANT: &str = "00000000-0000-4000-8000-000000000001";

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_init_issue_revoke() {
        let tmp = tempdir();
        let dir = tmp.path().join("certs");
        assert!(init(&dir, 30).unwrap());
        for f in [CA_CERT_FILE, CA_KEY_FILE, CRL_FILE] {
            assert!(dir.join(f).exists(), "{f}");
        }
        assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
        let ca_before = fs::read(dir.join(CA_CERT_FILE)).unwrap();
        let key_before = fs::read(dir.join(CA_KEY_FILE)).unwrap();
        // Refuses to overwrite.
        assert!(!init(&dir, 30).unwrap());
        assert_eq!(fs::read(dir.join(CA_CERT_FILE)).unwrap(), ca_before);
        assert_eq!(fs::read(dir.join(CA_KEY_FILE)).unwrap(), key_before);

        let dns = vec!["localhost".to_string()];
        let ips = vec![IpAddr::from([127, 0, 0, 1])];
        let first = issue(&dir, &ServiceIdentity::Company, "company", &dns, &ips, 10).unwrap();
        assert_eq!(mode(&dir.join("company.key")), 0o600);
        assert_eq!(mode(&dir.join("company.crt")), 0o644);
        // Rotation: same files, new serial, both recorded.
        let second = issue(&dir, &ServiceIdentity::Company, "company", &dns, &ips, 10).unwrap();
        assert_ne!(first.serial_hex, second.serial_hex);
        assert_eq!(mode(&dir.join("company.key")), 0o600);
        let on_disk = fs::read_to_string(dir.join("company.crt")).unwrap();
        assert_eq!(
            parse_serials_and_identity(&on_disk).unwrap().0,
            second.serial_hex
        );
        let records = read_issued(&dir).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].identity, "spiffe://bulkhead/company");
        assert_eq!(records[1].file, "company");

        // Unknown serial: refused, nothing written.
        let crl_before = fs::read(dir.join(CRL_FILE)).unwrap();
        let err = revoke(&dir, "0123456789abcdef").unwrap_err();
        assert!(format!("{err:#}").contains("not issued"), "{err:#}");
        assert!(!dir.join(REVOKED_FILE).exists());
        assert_eq!(fs::read(dir.join(CRL_FILE)).unwrap(), crl_before);

        // Revoke the first (old) one; twice is fine.
        revoke(&dir, &first.serial_hex.to_ascii_uppercase()).unwrap();
        revoke(&dir, &first.serial_hex).unwrap();
        let revoked = read_revoked(&dir).unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].serial, first.serial_hex);
        let crl = fs::read_to_string(dir.join(CRL_FILE)).unwrap();
        let ca_pem = fs::read_to_string(dir.join(CA_CERT_FILE)).unwrap();
        assert!(verify_client(
            &ca_pem,
            std::slice::from_ref(&crl),
            &first.cert_pem,
            SystemTime::now()
        )
        .is_err());
        verify_client(&ca_pem, &[crl], &second.cert_pem, SystemTime::now()).unwrap();

        // Bad file names.
        for bad in ["", "../x", "a/b", ".hidden", "ca"] {
            assert!(
                issue(&dir, &ServiceIdentity::Dev, bad, &dns, &ips, 1).is_err(),
                "{bad}"
            );
        }
        // No temporary files left behind.
        for e in fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            assert!(!name.starts_with('.'), "{name}");
        }
    }

    #[test]
    fn init_refuses_orphan_key_and_issue_needs_a_ca() {
        let tmp = tempdir();
        let dir = tmp.path();
        assert!(issue(dir, &ServiceIdentity::Dev, "dev", &[], &[], 1).is_err());
        fs::write(dir.join(CA_KEY_FILE), "not a key").unwrap();
        assert!(init(dir, 30).is_err());
        assert_eq!(
            fs::read_to_string(dir.join(CA_KEY_FILE)).unwrap(),
            "not a key"
        );
        assert!(!dir.join(CA_CERT_FILE).exists());
    }

    #[test]
    fn ensure_demo_hospital_issues_once_and_for_its_tenant() {
        let tmp = tempdir();
        let dir = tmp.path().join("certs");
        ensure_demo(&dir, TENANT).unwrap();
        let second = "00000000-0000-4000-8000-000000000002";
        assert!(ensure_demo_hospital(&dir, "hospital-2", second).unwrap());
        assert!(!ensure_demo_hospital(&dir, "hospital-2", second).unwrap());
        let pem = fs::read_to_string(dir.join("hospital-2.crt")).unwrap();
        let (_, id) = parse_serials_and_identity(&pem).unwrap();
        assert_eq!(
            id,
            Some(ServiceIdentity::for_service(Service::Hospital, Some(second)).unwrap())
        );
        // Another tenant's certificate under that name is reissued.
        assert!(ensure_demo_hospital(&dir, "hospital-2", TENANT).unwrap());
    }

    #[test]
    fn ensure_demo_creates_what_is_missing() {
        let tmp = tempdir();
        let dir = tmp.path().join("certs");
        let made = ensure_demo(&dir, TENANT).unwrap();
        assert_eq!(made, vec!["ca", "company", "dev", "owner", "hospital"]);
        for n in ["company", "dev", "owner", "hospital"] {
            assert_eq!(mode(&dir.join(format!("{n}.key"))), 0o600);
        }
        let h = fs::read_to_string(dir.join("hospital.crt")).unwrap();
        assert_eq!(
            parse_serials_and_identity(&h).unwrap().1,
            Some(ServiceIdentity::Hospital {
                tenant_id: TENANT.into()
            })
        );
        assert!(ensure_demo(&dir, TENANT).unwrap().is_empty());

        fs::remove_file(dir.join("dev.key")).unwrap();
        let (owner_serial, _) =
            parse_serials_and_identity(&fs::read_to_string(dir.join("owner.crt")).unwrap())
                .unwrap();
        revoke(&dir, &owner_serial).unwrap();
        assert_eq!(ensure_demo(&dir, TENANT).unwrap(), vec!["dev", "owner"]);
        // Another tenant: the hospital certificate is replaced.
        assert_eq!(
            ensure_demo(&dir, "00000000-0000-4000-8000-000000000002").unwrap(),
            vec!["hospital"]
        );
        assert!(ensure_demo(&dir, "not-a-uuid").is_err());

        // A CRL near or past its nextUpdate is re-signed, revocations kept.
        let ca = load_ca(&dir).unwrap();
        let past = Utc::now() - Duration::days(40);
        let stale = ca
            .crl_between(
                &read_revoked(&dir).unwrap(),
                past,
                past + Duration::days(30),
            )
            .unwrap();
        fs::write(dir.join(CRL_FILE), stale).unwrap();
        assert_eq!(
            ensure_demo(&dir, "00000000-0000-4000-8000-000000000002").unwrap(),
            vec!["crl"]
        );
        assert!(crl_next_update(&dir).unwrap().unwrap() > Utc::now() + Duration::days(29));
        assert_eq!(read_revoked(&dir).unwrap().len(), 1);
    }

    /// A temporary directory removed on drop (no tempfile dependency here).
    struct TempDir(PathBuf);
    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn tempdir() -> TempDir {
        let p = std::env::temp_dir().join(format!("bulkhead-certs-{:016x}", rand::random::<u64>()));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
