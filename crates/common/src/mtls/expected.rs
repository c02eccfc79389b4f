//! Verifying the server an outbound call reached: a certificate of the
//! Bulkhead CA is not enough, it must be the service we meant to call.
//! Chain, validity, serverAuth usage, host name and revocation (the CRL in
//! force, shared with the server's own listener) are WebPKI's checks; the
//! SPIFFE identity is checked after them. Any refusal is an error for the
//! call and an alarm (a local critical audit row and a security event),
//! raised once per certificate presented and at most every
//! [`REALARM_AFTER`] for the same one, not once per retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::json;

use super::alarm::{self, Alarm, AlarmSender};
use super::identity::ServiceIdentity;
use super::tls::{self, PerCrl, Trust};
use crate::audit::Severity;

/// How long before the same refusal is alarmed about again.
pub const REALARM_AFTER: Duration = Duration::from_secs(15 * 60);

/// The server verifier of a client that calls `expected`.
#[derive(Debug)]
pub struct ExpectedPeer {
    expected: ServiceIdentity,
    trust: Trust,
    current: PerCrl<WebPkiServerVerifier>,
    alarms: Option<AlarmSender>,
    last_alarm: Mutex<Option<(String, Instant)>>,
}

impl ExpectedPeer {
    /// A verifier that admits only `expected`, trusting `trust`.
    pub fn new(expected: ServiceIdentity, trust: Trust, alarms: Option<AlarmSender>) -> Self {
        Self {
            expected,
            trust,
            current: PerCrl::new(),
            alarms,
            last_alarm: Mutex::new(None),
        }
    }

    fn webpki(&self) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        self.current.get(&self.trust, tls::server_verifier)
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.webpki()?
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        match tls::identity_of(end_entity) {
            Ok(id) if id == self.expected => Ok(verified),
            Ok(id) => Err(rustls::Error::General(format!(
                "the peer is {id}, not {}",
                self.expected
            ))),
            Err(e) => Err(rustls::Error::General(format!(
                "the peer has no usable identity ({e}), expected {}",
                self.expected
            ))),
        }
    }

    fn alarm(&self, presented: String, reason: String) {
        let key = format!("{presented}|{reason}");
        if let Ok(mut last) = self.last_alarm.lock() {
            if let Some((k, at)) = last.as_ref() {
                if *k == key && at.elapsed() < REALARM_AFTER {
                    return;
                }
            }
            *last = Some((key, Instant::now()));
        }
        alarm::raise(
            self.alarms.as_ref(),
            Alarm {
                kind: "plane.peer_refused",
                severity: Severity::Critical,
                actor: presented,
                details: json!({ "expected": self.expected.uri(), "reason": reason }),
            },
        );
    }
}

impl ServerCertVerifier for ExpectedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.check(end_entity, intermediates, server_name, ocsp_response, now);
        if let Err(e) = &result {
            let presented = tls::identity_of(end_entity)
                .map(|i| i.uri())
                .unwrap_or_else(|_| "unknown-certificate".into());
            self.alarm(presented, e.to_string());
        }
        result
    }

    tls::handshake_signatures!();
}
