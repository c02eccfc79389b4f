//! The certificate authority in memory: generate or load the CA, issue
//! certificates with explicit validity (tests need expired ones) and the
//! usages their role needs, and sign CRLs.

use std::net::IpAddr;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use common::mtls::certs::{normalize_serial, serial_hex};
use common::mtls::ServiceIdentity;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

/// The common name of the CA unless told otherwise.
pub const DEFAULT_CA_NAME: &str = "Bulkhead CA";
/// How long a CRL is declared valid (`nextUpdate - thisUpdate`), in days.
pub const CRL_VALIDITY_DAYS: i64 = 30;

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

/// What a certificate may be used for: the roles it plays in TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roles {
    /// It only calls others (clientAuth).
    Client,
    /// It only answers (serverAuth).
    Server,
    /// Both.
    Both,
}

impl Roles {
    /// The roles a service's certificate needs, and no more: a hospital
    /// only calls out (it has no internal listener), dev only answers (it
    /// makes no outbound call), company and owner do both. So a hospital's
    /// certificate cannot pose as a server, nor dev's as a caller.
    pub fn of(identity: &ServiceIdentity) -> Self {
        match identity {
            ServiceIdentity::Hospital { .. } => Self::Client,
            ServiceIdentity::Dev => Self::Server,
            ServiceIdentity::Company | ServiceIdentity::Owner => Self::Both,
        }
    }

    fn usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Self::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Self::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Self::Both => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        }
    }
}

/// What to put in a certificate.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The service identity: becomes the URI SAN and (as its label) the CN.
    /// `None`: a public listener's certificate, named by its first DNS name.
    pub identity: Option<ServiceIdentity>,
    /// The TLS roles it may play (see [`Roles::of`]).
    pub roles: Roles,
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

    /// Issue a certificate with a fresh ECDSA P-256 key: URI SAN = the
    /// identity (if any), plus the DNS and IP SANs; CN = the identity's
    /// label (or the first DNS name); basicConstraints CA:FALSE; key usage
    /// digitalSignature; the extended key usages of `req.roles`; a random
    /// positive 16-byte serial; exactly the validity requested (which may
    /// already be over).
    pub fn issue(&self, req: &IssueRequest) -> Result<Issued> {
        let (not_before, not_after) = validity(req.not_before, req.not_after)?;
        let mut sans = Vec::new();
        let common_name = match &req.identity {
            Some(id) => {
                sans.push(SanType::URI(
                    Ia5String::try_from(id.uri()).context("identity URI")?,
                ));
                id.label()
            }
            None => match req.dns.first() {
                Some(name) => name.trim().to_string(),
                None => bail!("a public certificate needs a DNS name"),
            },
        };
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
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "Bulkhead");
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = req.roles.usages();
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
            serial_hex: serial_hex(&serial.to_bytes()),
            not_after,
        })
    }

    /// A CRL signed by this CA listing `revoked`, PEM: thisUpdate now,
    /// nextUpdate in [`CRL_VALIDITY_DAYS`], CRL number = now in
    /// milliseconds since the epoch (so later CRLs have larger numbers).
    pub fn crl(&self, revoked: &[RevokedSerial]) -> Result<String> {
        let now = Utc::now();
        self.crl_between(revoked, now, now + Duration::days(CRL_VALIDITY_DAYS))
    }

    /// A CRL with the thisUpdate and nextUpdate given (truncated to the
    /// second; tests need stale and expired ones).
    pub fn crl_between(
        &self,
        revoked: &[RevokedSerial],
        this_update: DateTime<Utc>,
        next_update: DateTime<Utc>,
    ) -> Result<String> {
        let now = Utc::now();
        let (this_update, next_update) = validity(this_update, next_update)?;
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

/// 16 random bytes, positive and with a non-zero first byte (so the DER
/// INTEGER is exactly these 16 bytes and its hex round-trips unchanged).
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

pub(crate) fn truncate(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(t.timestamp(), 0).ok_or_else(|| anyhow!("time out of range: {t}"))
}

pub(crate) fn validity(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (nb, na) = (truncate(not_before)?, truncate(not_after)?);
    if na <= nb {
        bail!("not_after ({na}) must be after not_before ({nb})");
    }
    Ok((nb, na))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::mtls::certs::{parse_serials_and_identity, verify_client};
    use rustls::pki_types::{CertificateRevocationListDer, UnixTime};
    use std::sync::Arc;
    use x509_parser::extensions::{GeneralName, ParsedExtension};

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
            roles: Roles::Both,
            identity: Some(identity),
            dns: vec!["localhost".into(), "company.internal".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(1),
        }
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
    fn usages_follow_the_role() {
        let ca = ca();
        let usages = |r: IssueRequest| {
            let issued = ca.issue(&r).unwrap();
            let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
            let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
            let eku = x.extended_key_usage().unwrap().unwrap().value.clone();
            (eku.server_auth, eku.client_auth)
        };
        for (id, want) in [
            (
                ServiceIdentity::Hospital {
                    tenant_id: TENANT.into(),
                },
                (false, true),
            ),
            (ServiceIdentity::Dev, (true, false)),
            (ServiceIdentity::Company, (true, true)),
            (ServiceIdentity::Owner, (true, true)),
        ] {
            let mut r = req(id.clone());
            r.roles = Roles::of(&id);
            assert_eq!(usages(r), want, "{id}");
        }
        // A public certificate: serverAuth, named by its DNS name, no identity.
        let mut r = req(ServiceIdentity::Dev);
        r.identity = None;
        r.roles = Roles::Server;
        let issued = ca.issue(&r).unwrap();
        assert_eq!(
            parse_serials_and_identity(&issued.cert_pem).unwrap().1,
            None
        );
        assert_eq!(usages(r.clone()), (true, false));
        r.dns.clear();
        assert!(ca.issue(&r).is_err(), "a public certificate needs a name");
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
}
