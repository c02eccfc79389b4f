//! rustls configuration of an internal listener: our certificate, client
//! certificates required and verified against the Bulkhead CA and its CRL.
//! The CRL file is re-read when it changes, so a revocation takes effect
//! without a restart. Refused certificates are reported (as security
//! events) through a channel the server drains.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use tokio::sync::mpsc;

use super::identity::ServiceIdentity;
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

fn load_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    CertificateRevocationListDer::pem_file_iter(path)
        .with_context(|| format!("reading CRL {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing CRL {}", path.display()))
}

/// The identity in a DER certificate's URI SAN (exactly one Bulkhead URI).
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
            GeneralName::URI(u) if u.starts_with(super::identity::SPIFFE_PREFIX) => Some(*u),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [one] => one.parse(),
        [] => Err("certificate has no Bulkhead identity".into()),
        _ => Err("certificate has several Bulkhead identities".into()),
    }
}

/// Client verification against the CA, with a CRL re-read on change and
/// refusals reported.
struct Verifier {
    roots: Arc<RootCertStore>,
    crl_path: PathBuf,
    hints: Vec<DistinguishedName>,
    current: RwLock<(Arc<dyn ClientCertVerifier>, Option<SystemTime>)>,
    refusals: Option<mpsc::UnboundedSender<Refusal>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("crl_path", &self.crl_path)
            .finish()
    }
}

fn build_inner(
    roots: &Arc<RootCertStore>,
    crl_path: &Path,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .with_crls(load_crls(crl_path)?)
        .build()
        .map_err(|e| anyhow!("client verifier: {e}"))
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Verifier {
    fn inner(&self) -> Arc<dyn ClientCertVerifier> {
        let seen = mtime(&self.crl_path);
        if let Ok(guard) = self.current.read() {
            if guard.1 == seen {
                return guard.0.clone();
            }
        }
        match build_inner(&self.roots, &self.crl_path) {
            Ok(fresh) => {
                if let Ok(mut guard) = self.current.write() {
                    *guard = (fresh.clone(), seen);
                }
                tracing::info!(crl = %self.crl_path.display(), "certificate revocation list reloaded");
                fresh
            }
            Err(e) => {
                // Keep the last good verifier rather than accepting everyone.
                tracing::error!(error = %e, "cannot reload the CRL; keeping the previous one");
                match self.current.read() {
                    Ok(g) => g.0.clone(),
                    Err(p) => p.into_inner().0.clone(),
                }
            }
        }
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
            .verify_client_cert(end_entity, intermediates, now);
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

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

/// The server configuration of an internal listener.
pub fn server_config(
    plane: &PlaneSection,
    refusals: Option<mpsc::UnboundedSender<Refusal>>,
) -> anyhow::Result<ServerConfig> {
    let mut roots = RootCertStore::empty();
    for ca in load_certs(&plane.ca)? {
        roots.add(ca).context("adding the CA certificate")?;
    }
    let roots = Arc::new(roots);
    let hints = roots.subjects();
    let inner = build_inner(&roots, &plane.crl)?;
    let verifier = Verifier {
        roots,
        crl_path: plane.crl.clone(),
        hints,
        current: RwLock::new((inner, mtime(&plane.crl))),
        refusals,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS versions: {e}"))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(load_certs(&plane.cert)?, load_key(&plane.key)?)
        .map_err(|e| anyhow!("server certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
