//! The outbound client of the internal plane: reqwest over rustls (ring),
//! presenting this server's certificate, trusting only the Bulkhead CA,
//! with timeouts, bounded retries with backoff, and the correlation id.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use contracts::Envelope;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::alarm::AlarmSender;
use super::expected::ExpectedPeer;
use super::identity::ServiceIdentity;
use super::tls::{self, Trust};
use crate::config::PlaneSection;
use crate::http::correlation;
use crate::service::Service;

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Could not connect, TLS refused, timed out.
    #[error("transport: {0}")]
    Transport(String),
    /// The peer answered with an error status.
    #[error("{status} {code}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The envelope's error code.
        code: String,
        /// The envelope's message.
        message: String,
    },
    /// The answer was not what the contract says.
    #[error("decode: {0}")]
    Decode(String),
}

impl PeerError {
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Decode(_) => false,
        }
    }
}

/// A client for one peer.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    attempts: u32,
    /// The plane's request timeout (the client's default per request).
    timeout: Duration,
}

impl PeerClient {
    /// A client with this server's identity (from `plane`) for the peer
    /// `expected` at its URL in `plane`. The server it reaches must present
    /// `expected`'s identity in a certificate of `trust`'s CA that the CRL
    /// in force does not revoke; anything else is refused and raised on
    /// `alarms` (see [`ExpectedPeer`]).
    pub fn new(
        plane: &PlaneSection,
        trust: &Trust,
        expected: ServiceIdentity,
        alarms: Option<AlarmSender>,
    ) -> anyhow::Result<Self> {
        let base_url = match expected.service() {
            Service::Company => &plane.company_url,
            Service::Dev => &plane.dev_url,
            Service::Owner => &plane.owner_url,
            Service::Hospital => bail!("hospitals accept no inbound service connection"),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let verifier = ExpectedPeer::new(expected, trust.clone(), alarms);
        let mut tls = rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS versions: {e}"))?
            .dangerous()
            // Not a weakening: ExpectedPeer runs WebPKI's full server check
            // (chain, validity, usage, host name, CRL) and then the identity.
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(tls::load_certs(&plane.cert)?, tls::load_key(&plane.key)?)
            .map_err(|e| anyhow!("our certificate {}: {e}", plane.cert.display()))?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let timeout = Duration::from_secs(plane.request_timeout_secs);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .build()
            .context("building the mTLS client")?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            attempts: 3,
            timeout,
        })
    }

    /// Retry at most `n` times in all (1 = no retry).
    pub fn with_attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// GET `path` with a query, and decode `data`.
    pub async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<R, PeerError> {
        self.with_retries(|| self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    /// POST a JSON body and decode `data`. Only for idempotent operations
    /// (ours are: events and anchors carry their own ids), since it retries.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, PeerError> {
        self.with_retries(|| self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// GET `path` for a byte body of about `size` bytes (one attempt; the
    /// caller streams it with `chunk()`): the answer when 2xx, else its error
    /// envelope as [`PeerError::Status`]. The whole transfer may take the
    /// plane's request timeout plus a second per MiB (a floor of 1 MiB/s),
    /// instead of the request timeout alone, which suits JSON, not builds.
    pub async fn download(&self, path: &str, size: u64) -> Result<reqwest::Response, PeerError> {
        let cid = correlation::current().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let allowed = self.timeout + Duration::from_secs(size / (1024 * 1024));
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(allowed)
            .header(correlation::HEADER, &cid)
            .send()
            .await
            .map_err(|e| PeerError::Transport(error_chain(&e)))?;
        let status = res.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(res);
        }
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        Err(PeerError::Status {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or("UNKNOWN")
                .to_string(),
            message: body["error"]["message"].as_str().unwrap_or("").to_string(),
        })
    }

    async fn with_retries<R: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<R, PeerError> {
        let cid = correlation::current().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let result = Self::once(build().header(correlation::HEADER, &cid)).await;
            match result {
                Err(e) if e.retryable() && attempt < self.attempts => {
                    tracing::debug!(error = %e, attempt, "peer call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn once<R: DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<R, PeerError> {
        let res = req
            .send()
            .await
            .map_err(|e| PeerError::Transport(error_chain(&e)))?;
        let status = res.status().as_u16();
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| PeerError::Decode(e.to_string()))?;
        if !(200..300).contains(&status) {
            let err = &body["error"];
            return Err(PeerError::Status {
                status,
                code: err["code"].as_str().unwrap_or("UNKNOWN").to_string(),
                message: err["message"].as_str().unwrap_or("").to_string(),
            });
        }
        let env: Envelope<R> =
            serde_json::from_value(body).map_err(|e| PeerError::Decode(e.to_string()))?;
        Ok(env.data)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
