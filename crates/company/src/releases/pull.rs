//! The plane job that pulls dev's signing keys and releases (dev makes no
//! outbound call). Keys first, so a release signed by a key registered a
//! moment ago is checked against it; then the releases after company's
//! cursor. A release whose signature does not check against the key dev
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

/// Pull keys and new releases until caught up; the number of releases seen.
pub async fn pull(db: &Db, dev: &PeerClient) -> anyhow::Result<usize> {
    let keys: Vec<SigningKeyOffer> = dev.get(paths::DEV_SIGNING_KEYS, &[]).await?;
    db.write(move |c| store::upsert_keys(c, &keys)).await?;
    let mut seen = 0;
    loop {
        let offset = db.run(|c| cursor(c, CURSOR)).await?;
        let offers: Vec<ReleaseOffer> = dev
            .get(
                paths::DEV_RELEASES,
                &[("offset", offset.to_string()), ("limit", BATCH.to_string())],
            )
            .await?;
        let n = offers.len();
        if n == 0 {
            return Ok(seen);
        }
        db.write(move |c| {
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
            set_cursor(c, CURSOR, offset + n as i64)
        })
        .await?;
        seen += n;
        if (n as i64) < BATCH {
            return Ok(seen);
        }
    }
}
