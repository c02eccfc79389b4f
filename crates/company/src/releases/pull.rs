//! The plane job that pulls dev's releases after company's cursor and the
//! signing keys (dev makes no outbound call). A release whose signature does not check against the key dev
//! publishes is not taken: its refusal is an audit row and a critical
//! security event.

use common::audit::{self, Event, Origin, Severity};
use common::db::Db;
use common::mtls::client::PeerClient;
use common::plane::BATCH;
use common::security::{self, NewEvent};
use contracts::paths;
use contracts::release::{ReleaseOffer, SigningKeyOffer};
use serde_json::json;

use super::store;
use crate::plane::{cursor, set_cursor};

const CURSOR: &str = "dev.releases";
/// Who the refusals are recorded as.
const ACTOR: &str = "spiffe://bulkhead/dev";

/// Pull new releases and the keys until caught up; the number of releases
/// seen. The keys are read *after* each batch of releases: dev stores a key
/// before any release that names it and never deletes one, so every key a
/// batch names is in the list that follows it (read before, a key
/// registered in between would look unknown and its release be refused).
pub async fn pull(db: &Db, dev: &PeerClient) -> anyhow::Result<usize> {
    let mut seen = 0;
    loop {
        let offset = db.run(|c| cursor(c, CURSOR)).await?;
        let offers: Vec<ReleaseOffer> = dev
            .get(
                paths::DEV_RELEASES,
                &[("offset", offset.to_string()), ("limit", BATCH.to_string())],
            )
            .await?;
        let keys: Vec<SigningKeyOffer> = dev.get(paths::DEV_SIGNING_KEYS, &[]).await?;
        let n = offers.len();
        if n == 0 {
            // Nothing new: write only if a key came or changed (a revocation).
            let k = keys.clone();
            if !db.run(move |c| store::keys_changed(c, &k)).await? {
                return Ok(seen);
            }
        }
        db.write(move |c| {
            store::upsert_keys(c, &keys)?;
            for offer in &offers {
                if let Some(refusal) = store::admit(c, offer)? {
                    let details = json!({
                        "reason": refusal.as_str(), "release": offer.id,
                        "product": offer.manifest.product, "version": offer.manifest.version,
                        "sha256": offer.manifest.sha256, "signing_key_id": offer.signing_key_id,
                    });
                    let event = Event::new(
                        ACTOR,
                        "service",
                        "release.pull",
                        &format!("release:{}", offer.id),
                    )
                    .severity(Severity::Critical)
                    .outcome("denied")
                    .details(details.clone());
                    audit::append(c, &event, &Origin::default())?;
                    security::record(
                        c,
                        &NewEvent::new("release.refused", Severity::Critical, ACTOR, None, details),
                    )?;
                }
            }
            if n > 0 {
                set_cursor(c, CURSOR, offset + n as i64)?;
            }
            Ok(())
        })
        .await?;
        seen += n;
        if (n as i64) < BATCH {
            return Ok(seen);
        }
    }
}
