//! The CA's revocation list, watched and failing closed.
//!
//! The CRL file is re-read whenever its modification time changes, so a
//! revocation takes effect without a restart. What is *not* accepted:
//! - a missing, unreadable or foreign CRL (not issued by our CA): the last
//!   good one stays in force and a critical alarm is raised — deleting the
//!   file never re-admits a revoked certificate;
//! - a CRL past its `nextUpdate` by more than the grace period: every peer
//!   is refused (and a critical alarm raised) until `bulkhead certs crl
//!   --refresh` writes a current one. Within the grace period peers are
//!   still admitted, with a warning, so a late refresh is not an outage.
//!
//! At start there is no "last good" CRL, so a server whose CRL is missing,
//! unreadable or expired beyond the grace period refuses to start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Duration, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use serde_json::json;

use super::alarm::{self, Alarm, AlarmSender};
use super::tls::provider;
use crate::audit::Severity;

/// A CRL file as last seen, and the last good CRL read from it.
pub struct CrlWatch {
    path: PathBuf,
    grace: Duration,
    /// The CA certificates a CRL must be issued (and signed) by.
    issuers: Vec<Issuer>,
    state: RwLock<State>,
    alarms: Option<AlarmSender>,
}

impl std::fmt::Debug for CrlWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrlWatch")
            .field("path", &self.path)
            .finish()
    }
}

/// A CA as far as checking a CRL goes.
struct Issuer {
    /// Its raw subject DN.
    subject: Vec<u8>,
    /// Its public key (the subjectPublicKey bits).
    key: Vec<u8>,
}

struct State {
    /// The modification time last looked at (`None`: the file was missing).
    seen: Option<SystemTime>,
    /// The last good CRL.
    good: Arc<[CertificateRevocationListDer<'static>]>,
    /// Its `nextUpdate`.
    next_update: DateTime<Utc>,
    /// Bumped on every good load, so verifiers know when to rebuild.
    generation: u64,
    /// The problem last alarmed about, so one problem is one alarm, not one per handshake.
    announced: Option<&'static str>,
}

/// The CRL in force: a generation number and the CRL itself.
/// (Shared, not copied: every handshake asks for it.)
pub type Current = (u64, Arc<[CertificateRevocationListDer<'static>]>);

impl CrlWatch {
    /// Read the CRL at `path`, issued by one of `ca` (DER certificates).
    /// Refuses a CRL that is missing, unreadable, foreign, or past
    /// `nextUpdate` by more than `grace`.
    pub fn open(
        path: &Path,
        ca: &[CertificateDer<'_>],
        grace: Duration,
        alarms: Option<AlarmSender>,
    ) -> anyhow::Result<Self> {
        let mut issuers = Vec::new();
        for c in ca {
            let (_, x) = x509_parser::parse_x509_certificate(c.as_ref())
                .map_err(|e| anyhow!("parsing the CA certificate: {e}"))?;
            issuers.push(Issuer {
                subject: x.subject().as_raw().to_vec(),
                key: x.public_key().subject_public_key.data.to_vec(),
            });
        }
        let seen = mtime(path);
        let (good, next_update) = read(path, &issuers)?;
        if Utc::now() > next_update + grace {
            bail!(
                "the CRL {} expired at {next_update} (grace {} hours): run `bulkhead certs crl --refresh`",
                path.display(),
                grace.num_hours()
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
            grace,
            issuers,
            state: RwLock::new(State {
                seen,
                good: good.into(),
                next_update,
                generation: 1,
                announced: None,
            }),
            alarms,
        })
    }

    /// The CRL in force now, re-reading the file if it changed. An error
    /// (refuse every peer) when the CRL in force is past `nextUpdate` plus
    /// the grace period.
    pub fn current(&self) -> Result<Current, String> {
        let seen = mtime(&self.path);
        let changed = self.state.read().map(|s| s.seen != seen).unwrap_or(true);
        if changed {
            self.reload(seen);
        }
        let now = Utc::now();
        // The common case, current and in force, needs only the read lock.
        if let Ok(state) = self.state.read() {
            if now <= state.next_update {
                return Ok((state.generation, state.good.clone()));
            }
        }
        let mut state = match self.state.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let next_update = state.next_update;
        if now > next_update + self.grace {
            self.announce(
                &mut state,
                "crl.expired",
                Severity::Critical,
                json!({
                    "next_update": next_update.to_rfc3339(),
                    "grace_hours": self.grace.num_hours(),
                    "effect": "every peer is refused until the CRL is refreshed",
                }),
            );
            return Err(format!(
                "the CRL expired at {next_update} and the grace period is over"
            ));
        }
        if now > next_update {
            self.announce(
                &mut state,
                "crl.stale",
                Severity::Warning,
                json!({
                    "next_update": next_update.to_rfc3339(),
                    "grace_hours": self.grace.num_hours(),
                }),
            );
        }
        Ok((state.generation, state.good.clone()))
    }

    fn reload(&self, seen: Option<SystemTime>) {
        let result = read(&self.path, &self.issuers);
        let mut state = match self.state.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        state.seen = seen;
        match result {
            Ok((good, next_update)) => {
                state.good = good.into();
                state.next_update = next_update;
                state.generation += 1;
                state.announced = None;
                tracing::info!(crl = %self.path.display(), %next_update, "certificate revocation list reloaded");
            }
            Err(e) => {
                // Keep the last good CRL rather than admit whoever it revoked.
                self.announce(
                    &mut state,
                    "crl.unavailable",
                    Severity::Critical,
                    json!({
                        "reason": format!("{e:#}"),
                        "effect": "the last good CRL stays in force",
                    }),
                );
            }
        }
    }

    fn announce(
        &self,
        state: &mut State,
        kind: &'static str,
        severity: Severity,
        details: serde_json::Value,
    ) {
        if state.announced == Some(kind) {
            return;
        }
        state.announced = Some(kind);
        alarm::raise(
            self.alarms.as_ref(),
            Alarm {
                kind,
                severity,
                actor: self.path.display().to_string(),
                details,
            },
        );
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Read and check a CRL file: PEM, at least one CRL, each signed by one of
/// `issuers` and carrying a `nextUpdate`. Returns the CRLs and the earliest
/// `nextUpdate`. (WebPKI checks the signature again when it uses the CRL;
/// checking here means a bad file is refused at load, keeping the last good
/// one, instead of making every peer fail.)
fn read(
    path: &Path,
    issuers: &[Issuer],
) -> anyhow::Result<(Vec<CertificateRevocationListDer<'static>>, DateTime<Utc>)> {
    let crls: Vec<CertificateRevocationListDer<'static>> =
        CertificateRevocationListDer::pem_file_iter(path)
            .with_context(|| format!("reading the CRL {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing the CRL {}", path.display()))?;
    let mut earliest: Option<DateTime<Utc>> = None;
    for crl in &crls {
        let (_, parsed) = x509_parser::parse_x509_crl(crl.as_ref())
            .map_err(|e| anyhow!("parsing the CRL {}: {e}", path.display()))?;
        let tbs = parsed.tbs_cert_list.as_ref();
        let signature = parsed.signature_value.data.as_ref();
        let signed_by_us = issuers
            .iter()
            .filter(|i| i.subject.as_slice() == parsed.issuer().as_raw())
            .any(|i| {
                provider()
                    .signature_verification_algorithms
                    .all
                    .iter()
                    .any(|alg| alg.verify_signature(&i.key, tbs, signature).is_ok())
            });
        if !signed_by_us {
            bail!("the CRL {} is not signed by our CA", path.display());
        }
        let next = parsed
            .next_update()
            .ok_or_else(|| anyhow!("the CRL {} has no nextUpdate", path.display()))?;
        let next = DateTime::from_timestamp(next.timestamp(), 0)
            .ok_or_else(|| anyhow!("the CRL {} has a nextUpdate out of range", path.display()))?;
        earliest = Some(earliest.map_or(next, |e| e.min(next)));
    }
    let next_update = earliest.ok_or_else(|| anyhow!("{} holds no CRL", path.display()))?;
    Ok((crls, next_update))
}
