//! TLS of the public listener: the server's certificate and key from
//! files, TLS 1.3 preferred and 1.2 accepted (rustls' safe defaults, no
//! older), h2 and HTTP/1.1. The files are re-read when either changes, so a
//! renewed certificate is served without a restart; a pair that does not
//! load (half-written, key not matching) leaves the previous one in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::anyhow;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::mtls::tls::{load_certs, load_key, provider};

/// The server configuration of a public listener serving `cert`/`key`.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<ServerConfig> {
    let resolver = ReloadingCert::open(cert, key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS versions: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

type Seen = (Option<SystemTime>, Option<SystemTime>);

/// The certificate in service, re-read when its files change.
#[derive(Debug)]
struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Seen, Arc<CertifiedKey>)>,
}

impl ReloadingCert {
    fn open(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let seen = seen(cert, key);
        let loaded = load(cert, key)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((seen, loaded)),
        })
    }
}

fn seen(cert: &Path, key: &Path) -> Seen {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(cert), m(key))
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(|e| anyhow!("the public TLS key does not fit {}: {e}", cert.display()))
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let now = seen(&self.cert, &self.key);
        if let Ok(guard) = self.current.read() {
            if guard.0 == now {
                return Some(guard.1.clone());
            }
        }
        let mut guard = match self.current.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if guard.0 != now {
            guard.0 = now;
            match load(&self.cert, &self.key) {
                Ok(fresh) => {
                    tracing::info!(cert = %self.cert.display(), "public TLS certificate reloaded");
                    guard.1 = fresh;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot reload the public TLS certificate; serving the previous one");
                }
            }
        }
        Some(guard.1.clone())
    }
}
