//! Reading certificates: the serial and identity of a PEM certificate, the
//! one spelling of a serial, and verification of a client certificate the
//! way the internal listeners do it. Issuance (the CA, service
//! certificates, the CRL) lives in the `pki` crate, used by the CLI and the
//! testkit; servers only read and verify, so they do not link rcgen.

use std::time::SystemTime;

use anyhow::{anyhow, bail, Result};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};

use super::identity::ServiceIdentity;
use super::tls;

/// The serial (as [`normalize_serial`] writes it) and, when the certificate
/// carries exactly one well-formed Bulkhead URI SAN, the service identity of
/// a PEM certificate.
pub fn parse_serials_and_identity(cert_pem: &str) -> Result<(String, Option<ServiceIdentity>)> {
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| anyhow!("parsing the certificate: {e}"))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("parsing the certificate: {e}"))?;
    let serial = serial_hex(x509.raw_serial());
    Ok((serial, tls::identity_of(&der).ok()))
}

/// A serial as Bulkhead writes it: lower-case hex, no `:` separators, no
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
    let out = serial_hex(&bytes);
    if out.is_empty() {
        bail!("`{serial}` is zero, which no certificate here has");
    }
    Ok(out)
}

/// The DER bytes of a serial in the spelling of [`normalize_serial`].
pub fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    hex::encode(&bytes[start..])
}

/// Verify `leaf_pem` as a TLS server certificate for `server_name` the way
/// the outbound clients do before checking the identity (the same
/// verifier, [`tls::server_verifier`]): chained to `ca_pem`, within
/// validity at `at`, serverAuth usage, the name, not revoked by `crl_pems`.
pub fn verify_server(
    ca_pem: &str,
    crl_pems: &[String],
    leaf_pem: &str,
    server_name: &str,
    at: SystemTime,
) -> Result<()> {
    let (roots, crls, leaf, at) = parse_for_verification(ca_pem, crl_pems, leaf_pem, at)?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| anyhow!("server name `{server_name}`: {e}"))?;
    tls::server_verifier(&roots, crls)?
        .verify_server_cert(&leaf, &[], &name, &[], at)
        .map_err(|e| anyhow!("certificate refused: {e}"))?;
    Ok(())
}

type Parsed = (
    std::sync::Arc<rustls::RootCertStore>,
    Vec<CertificateRevocationListDer<'static>>,
    CertificateDer<'static>,
    UnixTime,
);

fn parse_for_verification(
    ca_pem: &str,
    crl_pems: &[String],
    leaf_pem: &str,
    at: SystemTime,
) -> Result<Parsed> {
    let roots = tls::roots(
        CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("CA certificate: {e}"))?,
    )?;
    let mut crls = Vec::new();
    for pem in crl_pems {
        crls.push(
            CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| anyhow!("CRL: {e}"))?,
        );
    }
    let leaf = CertificateDer::from_pem_slice(leaf_pem.as_bytes())
        .map_err(|e| anyhow!("certificate: {e}"))?;
    let at = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| anyhow!("time before the epoch: {e}"))?;
    Ok((roots, crls, leaf, UnixTime::since_unix_epoch(at)))
}

/// Verify `leaf_pem` as a TLS client certificate the way the internal
/// listeners do (the same verifier, [`tls::client_verifier`]): chained to
/// `ca_pem`, within validity at `at`, clientAuth usage, and not revoked by
/// any of `crl_pems`.
pub fn verify_client(
    ca_pem: &str,
    crl_pems: &[String],
    leaf_pem: &str,
    at: SystemTime,
) -> Result<()> {
    let (roots, crls, leaf, at) = parse_for_verification(ca_pem, crl_pems, leaf_pem, at)?;
    tls::client_verifier(&roots, crls)?
        .verify_client_cert(&leaf, &[], at)
        .map_err(|e| anyhow!("certificate refused: {e}"))?;
    Ok(())
}
