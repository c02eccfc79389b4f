//! rustls pieces of the internal plane: the trust anchors (CA and watched
//! CRL), reading a certificate's identity, the one builder of the client
//! verifier, and the configuration of an internal listener (our
//! certificate; client certificates required, verified against the CA and
//! the CRL). Refused certificates are reported (as security events)
//! through a channel the server drains.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{anyhow, Context};
use chrono::Duration;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DistinguishedName, RootCertStore, ServerConfig};
use tokio::sync::mpsc;

use super::alarm::AlarmSender;
use super::crl::CrlWatch;
use super::identity::{ServiceIdentity, SPIFFE_PREFIX};
use crate::config::PlaneSection;

/// A refused client certificate, as much as is known of it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The identity the certificate claimed, if it had a readable one.
    pub claimed: Option<String>,
    /// Why rustls refused it.
    pub reason: String,
}

/// The ring provider: the one crypto provider of every connection we make or accept.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Read a PEM certificate chain.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificate {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", path.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// Read a PEM private key.
pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading private key {}", path.display()))
}

/// The identity in a DER certificate's URI SAN (exactly one Bulkhead URI).
/// The one place a certificate's SPIFFE identity is read.
pub fn identity_of(cert: &CertificateDer<'_>) -> Result<ServiceIdentity, String> {
    use x509_parser::prelude::*;
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|e| format!("bad SAN: {e}"))?
        .ok_or_else(|| "certificate has no SAN".to_string())?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) if u.starts_with(SPIFFE_PREFIX) => Some(*u),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [one] => one.parse(),
        [] => Err("certificate has no Bulkhead identity".into()),
        _ => Err("certificate has several Bulkhead identities".into()),
    }
}

/// A root store holding `ca`.
pub fn roots(ca: Vec<CertificateDer<'static>>) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for c in ca {
        roots.add(c).context("adding the CA certificate")?;
    }
    Ok(Arc::new(roots))
}

/// The client-certificate verifier (the one builder of it): chained to
/// `roots`, clientAuth usage, within validity, not revoked by `crls`.
pub fn client_verifier(
    roots: &Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .with_crls(crls)
        .build()
        .map_err(|e| anyhow!("client verifier: {e}"))
}

/// The server-certificate verifier (the one builder of it): chained to
/// `roots`, serverAuth usage, within validity, the name asked for, not
/// revoked by `crls`. The identity check comes on top ([`super::expected`]).
pub fn server_verifier(
    roots: &Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> anyhow::Result<Arc<rustls::client::WebPkiServerVerifier>> {
    rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
        .with_crls(crls)
        .build()
        .map_err(|e| anyhow!("server verifier: {e}"))
}

/// What a server trusts on the internal plane: the Bulkhead CA and its
/// watched CRL. Built once per server and shared by its listener and its
/// outbound clients, so both see the same revocations.
#[derive(Clone, Debug)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    crl: Arc<CrlWatch>,
}

impl Trust {
    /// The CA and CRL named by `plane`; alarms (CRL missing or expired) go
    /// to `alarms`. Refuses a missing or expired CRL (see [`CrlWatch`]).
    pub fn load(plane: &PlaneSection, alarms: Option<AlarmSender>) -> anyhow::Result<Self> {
        let ca = load_certs(&plane.ca)?;
        let grace = Duration::hours(i64::from(plane.crl_grace_hours));
        let crl = CrlWatch::open(&plane.crl, &ca, grace, alarms)?;
        Ok(Self {
            roots: roots(ca)?,
            crl: Arc::new(crl),
        })
    }

    /// The CA roots.
    pub fn roots(&self) -> &Arc<RootCertStore> {
        &self.roots
    }

    /// The CRL in force (an error: refuse every peer).
    pub fn crl(&self) -> Result<super::crl::Current, String> {
        self.crl.current()
    }
}

/// A verifier built from the CRL in force, rebuilt only when it changes
/// (every handshake asks; a rebuild per handshake would be wasteful).
pub(super) struct PerCrl<V: ?Sized> {
    current: RwLock<Option<(u64, Arc<V>)>>,
}

impl<V: ?Sized> fmt::Debug for PerCrl<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PerCrl")
    }
}

impl<V: ?Sized> PerCrl<V> {
    pub(super) fn new() -> Self {
        Self {
            current: RwLock::new(None),
        }
    }

    /// The verifier for the CRL `trust` has in force (an error: refuse).
    pub(super) fn get(
        &self,
        trust: &Trust,
        build: impl FnOnce(
            &Arc<RootCertStore>,
            Vec<CertificateRevocationListDer<'static>>,
        ) -> anyhow::Result<Arc<V>>,
    ) -> Result<Arc<V>, rustls::Error> {
        let (generation, crls) = trust.crl().map_err(rustls::Error::General)?;
        if let Ok(guard) = self.current.read() {
            if let Some((g, v)) = guard.as_ref() {
                if *g == generation {
                    return Ok(v.clone());
                }
            }
        }
        let fresh = build(trust.roots(), crls.to_vec())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        if let Ok(mut guard) = self.current.write() {
            *guard = Some((generation, fresh.clone()));
        }
        Ok(fresh)
    }
}

/// The handshake-signature methods of a rustls verifier: the same for
/// both directions (client and server certificates) and independent of
/// revocation, so both verifiers expand this one copy.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &$crate::mtls::tls::provider().signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls::pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &$crate::mtls::tls::provider().signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            $crate::mtls::tls::provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}
pub(super) use handshake_signatures;

/// Client verification against the CA and the CRL in force, rebuilt when
/// the CRL changes, with refusals reported.
struct Verifier {
    trust: Trust,
    hints: Vec<DistinguishedName>,
    current: PerCrl<dyn ClientCertVerifier>,
    refusals: Option<mpsc::UnboundedSender<Refusal>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("trust", &self.trust)
            .finish()
    }
}

impl Verifier {
    fn inner(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        self.current.get(&self.trust, client_verifier)
    }
}

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let result = self
            .inner()
            .and_then(|v| v.verify_client_cert(end_entity, intermediates, now));
        if let Err(e) = &result {
            let claimed = identity_of(end_entity).ok().map(|i| i.uri());
            tracing::warn!(claimed = ?claimed, reason = %e, "client certificate refused");
            if let Some(tx) = &self.refusals {
                let _ = tx.send(Refusal {
                    claimed,
                    reason: e.to_string(),
                });
            }
        }
        result
    }

    handshake_signatures!();
}

/// The server configuration of an internal listener.
pub fn server_config(
    plane: &PlaneSection,
    trust: &Trust,
    refusals: Option<mpsc::UnboundedSender<Refusal>>,
) -> anyhow::Result<ServerConfig> {
    let verifier = Verifier {
        hints: trust.roots().subjects(),
        trust: trust.clone(),
        current: PerCrl::new(),
        refusals,
    };
    // Build once now, so a bad CA or CRL fails the start, not the first handshake.
    verifier
        .inner()
        .map_err(|e| anyhow!("client verifier: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS versions: {e}"))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(load_certs(&plane.cert)?, load_key(&plane.key)?)
        .map_err(|e| anyhow!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
