//! Certificates for the internal plane, generated with rcgen: the Bulkhead
//! CA, service certificates whose URI SAN is the service identity, and the
//! CRL every internal listener loads.
//!
//! Two layers:
//! - an in-memory API ([`Ca`], [`IssueRequest`], [`Issued`],
//!   [`RevokedSerial`]) with explicit validity periods, used by tests (which
//!   need expired certificates) and by the files API;
//! - a files API over a certificates directory (default `./certs`, see
//!   [`DEFAULT_DIR`]), used by `bulkhead certs …` and `bulkhead up --demo`:
//!
//! ```text
//! certs/ca.crt  ca.key  ca.crl           the CA and its revocation list
//! certs/<name>.crt  <name>.key           one pair per service (company, dev, owner, hospital)
//! certs/issued.json                      every certificate issued: serial, identity, file, not_after
//! certs/revoked.json                     every serial revoked: serial, revoked_at
//! ```
//!
//! Every `.key` file is created with mode 0600 (never widened, never chmod-ed
//! after the fact) and every file is written atomically (a temporary file in
//! the same directory, then a rename), so a reader sees the old file or the
//! new one, never half of one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;

use super::identity::{ServiceIdentity, SPIFFE_PREFIX};
use crate::service::Service;

/// The common name of the CA unless told otherwise.
pub const DEFAULT_CA_NAME: &str = "Bulkhead CA";
/// The default certificates directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "certs";
/// Default CA validity, in days (about ten years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Default service certificate validity, in days.
pub const DEFAULT_LEAF_DAYS: u32 = 365;
/// How long a CRL is declared valid (`nextUpdate - thisUpdate`), in days.
pub const CRL_VALIDITY_DAYS: i64 = 30;
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

// ---------------------------------------------------------------------------
// In-memory API
// ---------------------------------------------------------------------------

/// A certificate authority: its certificate and the key that signs with it.
pub struct Ca {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// What to put in a service certificate.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The identity: becomes the URI SAN and (as its label) the CN.
    pub identity: ServiceIdentity,
    /// DNS SANs (host names the service is reached by).
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// Start of validity (truncated to the second).
    pub not_before: DateTime<Utc>,
    /// End of validity (truncated to the second); may be in the past.
    pub not_after: DateTime<Utc>,
}

/// A freshly issued service certificate and its key.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The serial number: lower-case hex, no separators, no leading zeros.
    pub serial_hex: String,
    /// End of validity, as written in the certificate.
    pub not_after: DateTime<Utc>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("serial_hex", &self.serial_hex)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// One revoked serial: an entry of `revoked.json` and of the CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSerial {
    /// The serial, as [`normalize_serial`] writes it.
    pub serial: String,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
}

/// One entry of `issued.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    /// The serial, as [`normalize_serial`] writes it.
    pub serial: String,
    /// The identity URI (`spiffe://bulkhead/…`).
    pub identity: String,
    /// The file name stem in the certificates directory (`company` for
    /// `company.crt`/`company.key`).
    pub file: String,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

impl Ca {
    /// A new self-signed CA with an ECDSA P-256 key: `CN=<common_name>,
    /// O=Bulkhead`, basicConstraints CA (no intermediates below it), key
    /// usages keyCertSign and cRLSign, a random serial, and the validity
    /// given (truncated to the second).
    pub fn generate(
        common_name: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<Ca> {
        let (not_before, not_after) = validity(not_before, not_after)?;
        if common_name.trim().is_empty() {
            bail!("the CA needs a common name");
        }
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the CA key")?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Bulkhead");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial());
        params.not_before = SystemTime::from(not_before).into();
        params.not_after = SystemTime::from(not_after).into();
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params
            .self_signed(&key)
            .context("signing the CA certificate")?;
        Self::load(&cert.pem(), &key.serialize_pem())
    }

    /// An existing CA from its certificate and PKCS#8 key (PEM). Refuses a
    /// certificate that is not a CA or a key that does not match it.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca> {
        let key = KeyPair::from_pem(key_pem).context("parsing the CA key")?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| anyhow!("parsing the CA certificate: {e}"))?;
        {
            let (_, x509) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| anyhow!("parsing the CA certificate: {e}"))?;
            let is_ca = x509
                .basic_constraints()
                .map_err(|e| anyhow!("reading the CA basic constraints: {e}"))?
                .is_some_and(|bc| bc.value.ca);
            if !is_ca {
                bail!("the CA certificate is not a CA (basicConstraints CA:TRUE missing)");
            }
            if x509.public_key().raw != key.subject_public_key_info().as_slice() {
                bail!("the CA key does not match the CA certificate");
            }
        }
        let issuer = Issuer::from_ca_cert_der(&der, key).context("loading the CA")?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
            issuer,
        })
    }

    /// The CA private key (PKCS#8), PEM. Write it only with mode 0600.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issue a service certificate with a fresh ECDSA P-256 key: URI SAN
    /// = the identity, plus the DNS and IP SANs; CN = the identity's label;
    /// basicConstraints CA:FALSE; key usage digitalSignature; extended key
    /// usages serverAuth and clientAuth; a random positive 16-byte serial;
    /// exactly the validity requested (which may already be over).
    pub fn issue(&self, req: &IssueRequest) -> Result<Issued> {
        let (not_before, not_after) = validity(req.not_before, req.not_after)?;
        let mut sans = vec![SanType::URI(
            Ia5String::try_from(req.identity.uri()).context("identity URI")?,
        )];
        for name in &req.dns {
            let name = name.trim();
            if name.is_empty() {
                bail!("empty DNS name");
            }
            sans.push(SanType::DnsName(
                Ia5String::try_from(name).with_context(|| format!("DNS name `{name}`"))?,
            ));
        }
        sans.extend(req.ips.iter().copied().map(SanType::IpAddress));

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating a key")?;
        let serial = random_serial();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.identity.label());
        dn.push(DnType::OrganizationName, "Bulkhead");
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        params.serial_number = Some(serial.clone());
        params.not_before = SystemTime::from(not_before).into();
        params.not_after = SystemTime::from(not_after).into();
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial_hex: serial_to_hex(&serial.to_bytes()),
            not_after,
        })
    }

    /// A CRL signed by this CA listing `revoked`, PEM: thisUpdate now,
    /// nextUpdate in [`CRL_VALIDITY_DAYS`], CRL number = now in
    /// milliseconds since the epoch (so later CRLs have larger numbers).
    pub fn crl(&self, revoked: &[RevokedSerial]) -> Result<String> {
        let now = Utc::now();
        let this_update = truncate(now)?;
        let next_update = this_update + Duration::days(CRL_VALIDITY_DAYS);
        let mut revoked_certs = Vec::with_capacity(revoked.len());
        for r in revoked {
            let serial = hex::decode(normalize_serial(&r.serial)?)
                .with_context(|| format!("serial `{}`", r.serial))?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: SystemTime::from(truncate(r.revoked_at)?).into(),
                reason_code: None,
                invalidity_date: None,
            });
        }
        let number = u64::try_from(now.timestamp_millis()).unwrap_or(0).max(1);
        let params = CertificateRevocationListParams {
            this_update: SystemTime::from(this_update).into(),
            next_update: SystemTime::from(next_update).into(),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).context("signing the CRL")?;
        crl.pem().context("encoding the CRL")
    }
}

/// The serial (as [`normalize_serial`] writes it) and, when the certificate
/// carries exactly one well-formed Bulkhead URI SAN, the service identity of
/// a PEM certificate.
pub fn parse_serials_and_identity(cert_pem: &str) -> Result<(String, Option<ServiceIdentity>)> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| anyhow!("parsing the certificate: {e}"))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("parsing the certificate: {e}"))?;
    let serial = serial_to_hex(x509.raw_serial());
    let mut uris = Vec::new();
    if let Some(san) = x509
        .subject_alternative_name()
        .map_err(|e| anyhow!("reading the subject alternative names: {e}"))?
    {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name {
                if uri.starts_with(SPIFFE_PREFIX) {
                    uris.push(*uri);
                }
            }
        }
    }
    let identity = match uris.as_slice() {
        [one] => one.parse::<ServiceIdentity>().ok(),
        _ => None,
    };
    Ok((serial, identity))
}

/// A serial as this module writes it: lower-case hex, no `:` separators, no
/// leading zero bytes. Accepts the forms people paste (`0A:1B:…`, `0x…`).
pub fn normalize_serial(serial: &str) -> Result<String> {
    let s: String = serial
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{serial}` is not a hexadecimal serial number");
    }
    let padded = if s.len() % 2 == 1 { format!("0{s}") } else { s };
    let bytes = hex::decode(&padded).map_err(|e| anyhow!("`{serial}`: {e}"))?;
    if bytes.len() > 21 {
        bail!("`{serial}` is longer than any certificate serial (20 bytes)");
    }
    let out = serial_to_hex(&bytes);
    if out.is_empty() {
        bail!("`{serial}` is zero, which no certificate here has");
    }
    Ok(out)
}

fn serial_to_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[start..])
}

/// 16 random bytes, positive and with a non-zero first byte (so the DER
/// INTEGER is exactly these 16 bytes and its hex round-trips unchanged).
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn truncate(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(t.timestamp(), 0).ok_or_else(|| anyhow!("time out of range: {t}"))
}

fn validity(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (nb, na) = (truncate(not_before)?, truncate(not_after)?);
    if na <= nb {
        bail!("not_after ({na}) must be after not_before ({nb})");
    }
    Ok((nb, na))
}

// ---------------------------------------------------------------------------
// Files API
// ---------------------------------------------------------------------------

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
    write_atomic(&key_path, ca.key_pem().as_bytes(), true)?;
    let revoked = read_revoked(dir)?;
    write_atomic(&dir.join(CRL_FILE), ca.crl(&revoked)?.as_bytes(), false)?;
    write_atomic(&dir.join(CA_CERT_FILE), ca.cert_pem.as_bytes(), false)?;
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
/// (minus [`BACKDATE_MINUTES`]) for `days` days, and write it as
/// `<file_name>.crt` / `<file_name>.key` (0600), replacing what was there:
/// that is rotation. Records it in `issued.json`; the previous certificate
/// of that file stays valid until it expires or is revoked.
pub fn issue(
    dir: &Path,
    identity: &ServiceIdentity,
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
        identity: identity.clone(),
        dns: dns.to_vec(),
        ips: ips.to_vec(),
        not_before: now - Duration::minutes(BACKDATE_MINUTES),
        not_after: now + Duration::days(i64::from(days)),
    })?;
    let mut records = read_issued(dir)?;
    records.push(IssuedRecord {
        serial: issued.serial_hex.clone(),
        identity: identity.uri(),
        file: file_name.to_string(),
        not_after: issued.not_after,
    });
    // Record first: a serial out in the world is always revocable.
    write_json(&dir.join(ISSUED_FILE), &records)?;
    write_atomic(
        &dir.join(format!("{file_name}.key")),
        issued.key_pem.as_bytes(),
        true,
    )?;
    write_atomic(
        &dir.join(format!("{file_name}.crt")),
        issued.cert_pem.as_bytes(),
        false,
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
    write_atomic(&dir.join(CRL_FILE), ca.crl(&revoked)?.as_bytes(), false)
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
        Ok(verify_client(&ca.cert_pem, &crls, &cert_pem, tomorrow).is_ok())
    };
    check().unwrap_or(false)
}

/// Verify `leaf_pem` as a TLS client certificate the way the internal
/// listeners do (rustls' WebPKI verifier, ring provider): chained to
/// `ca_pem`, within validity at `at`, clientAuth usage, and not revoked by
/// any of `crl_pems`.
pub fn verify_client(
    ca_pem: &str,
    crl_pems: &[String],
    leaf_pem: &str,
    at: SystemTime,
) -> Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| anyhow!("CA certificate: {e}"))?)
            .map_err(|e| anyhow!("CA certificate: {e}"))?;
    }
    let mut crls = Vec::new();
    for pem in crl_pems {
        crls.push(
            CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| anyhow!("CRL: {e}"))?,
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .with_crls(crls)
            .build()
            .map_err(|e| anyhow!("building the verifier: {e}"))?;
    let leaf = CertificateDer::from_pem_slice(leaf_pem.as_bytes())
        .map_err(|e| anyhow!("certificate: {e}"))?;
    let at = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| anyhow!("time before the epoch: {e}"))?;
    verifier
        .verify_client_cert(&leaf, &[], UnixTime::since_unix_epoch(at))
        .map_err(|e| anyhow!("certificate refused: {e}"))?;
    Ok(())
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

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut body = serde_json::to_vec_pretty(value)?;
    body.push(b'\n');
    write_atomic(path, &body, false)
}

/// Write `path` atomically: a new temporary file in the same directory
/// (mode 0600 when `secret`, else 0644), synced, then renamed over `path`.
fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("bad path {}", path.display()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{file_name}.tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if secret { 0o600 } else { 0o644 })
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(contents)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use x509_parser::extensions::ParsedExtension;

    const TENANT: &str = "00000000-0000-4000-8000-000000000001";

    fn ca() -> Ca {
        let now = Utc::now();
        Ca::generate(
            DEFAULT_CA_NAME,
            now - Duration::hours(1),
            now + Duration::days(30),
        )
        .unwrap()
    }

    fn req(identity: ServiceIdentity) -> IssueRequest {
        let now = Utc::now();
        IssueRequest {
            identity,
            dns: vec!["localhost".into(), "company.internal".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(1),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn ca_is_a_ca() {
        let ca = ca();
        let der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(x.basic_constraints().unwrap().unwrap().value.ca);
        let ku = x.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert_eq!(
            x.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "Bulkhead CA"
        );
        // Round trip through PEM.
        let again = Ca::load(&ca.cert_pem, ca.key_pem()).unwrap();
        assert_eq!(again.cert_pem, ca.cert_pem);
        // A key from another CA is refused.
        assert!(Ca::load(&ca.cert_pem, self::ca().key_pem()).is_err());
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn leaf_has_identity_sans_and_usages() {
        let ca = ca();
        let id = ServiceIdentity::Hospital {
            tenant_id: TENANT.into(),
        };
        let issued = ca.issue(&req(id.clone())).unwrap();
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();

        assert_eq!(x.raw_serial().len(), 16);
        assert_eq!(hex::encode(x.raw_serial()), issued.serial_hex);
        assert!(x.raw_serial()[0] & 0x80 == 0);
        assert_eq!(
            x.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            id.label()
        );
        assert!(!x.basic_constraints().unwrap().unwrap().value.ca);
        let ku = x.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        let eku = x.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        assert_eq!(
            x.validity().not_after.timestamp(),
            issued.not_after.timestamp()
        );

        let mut uris = vec![];
        let mut dns = vec![];
        let mut ips = vec![];
        for ext in x.extensions() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                for n in &san.general_names {
                    match n {
                        GeneralName::URI(u) => uris.push(u.to_string()),
                        GeneralName::DNSName(d) => dns.push(d.to_string()),
                        GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(uris, vec![format!("spiffe://bulkhead/hospital/{TENANT}")]);
        assert_eq!(dns, vec!["localhost", "company.internal"]);
        assert_eq!(ips, vec![vec![127, 0, 0, 1]]);

        let (serial, parsed) = parse_serials_and_identity(&issued.cert_pem).unwrap();
        assert_eq!(serial, issued.serial_hex);
        assert_eq!(parsed, Some(id));
        // The CA certificate has no identity.
        assert_eq!(parse_serials_and_identity(&ca.cert_pem).unwrap().1, None);
    }

    #[test]
    fn serials_differ_and_normalize() {
        let ca = ca();
        let a = ca.issue(&req(ServiceIdentity::Dev)).unwrap();
        let b = ca.issue(&req(ServiceIdentity::Dev)).unwrap();
        assert_ne!(a.serial_hex, b.serial_hex);
        let colons = a
            .serial_hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(normalize_serial(&colons).unwrap(), a.serial_hex);
        assert_eq!(normalize_serial("00:0A").unwrap(), "0a");
        assert!(normalize_serial("xyz").is_err());
        assert!(normalize_serial("").is_err());
        assert!(normalize_serial("00").is_err());
    }

    #[test]
    fn expired_validity_is_allowed_but_reversed_is_not() {
        let ca = ca();
        let now = Utc::now();
        let mut r = req(ServiceIdentity::Owner);
        r.not_before = now - Duration::days(10);
        r.not_after = now - Duration::days(1);
        let expired = ca.issue(&r).unwrap();
        assert!(expired.not_after < now);
        assert!(verify_client(&ca.cert_pem, &[], &expired.cert_pem, SystemTime::now()).is_err());
        r.not_after = r.not_before;
        assert!(ca.issue(&r).is_err());
    }

    #[test]
    fn crl_lists_revoked_and_rustls_refuses_it() {
        let ca = ca();
        let good = ca.issue(&req(ServiceIdentity::Company)).unwrap();
        let bad = ca.issue(&req(ServiceIdentity::Owner)).unwrap();
        let crl_pem = ca
            .crl(&[RevokedSerial {
                serial: bad.serial_hex.clone(),
                revoked_at: Utc::now(),
            }])
            .unwrap();

        let crl_der = CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes()).unwrap();
        let (_, crl) = x509_parser::parse_x509_crl(&crl_der).unwrap();
        let listed: Vec<String> = crl
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![bad.serial_hex.clone()]);
        assert!(crl.crl_number().is_some());
        let next = crl.next_update().unwrap().timestamp() - crl.last_update().timestamp();
        assert_eq!(next, CRL_VALIDITY_DAYS * 86_400);

        // The verifier the internal listeners use, built by hand here.
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .with_crls(vec![crl_der])
        .build()
        .unwrap();
        let leaf = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        verifier
            .verify_client_cert(&leaf(&good.cert_pem), &[], UnixTime::now())
            .unwrap();
        let err = verifier
            .verify_client_cert(&leaf(&bad.cert_pem), &[], UnixTime::now())
            .unwrap_err();
        assert!(format!("{err:?}").contains("Revoked"), "{err:?}");

        // A certificate from another CA is refused too.
        let other = self::ca().issue(&req(ServiceIdentity::Company)).unwrap();
        assert!(verifier
            .verify_client_cert(&leaf(&other.cert_pem), &[], UnixTime::now())
            .is_err());

        // And the helper agrees.
        verify_client(
            &ca.cert_pem,
            std::slice::from_ref(&crl_pem),
            &good.cert_pem,
            SystemTime::now(),
        )
        .unwrap();
        assert!(verify_client(&ca.cert_pem, &[crl_pem], &bad.cert_pem, SystemTime::now()).is_err());
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
