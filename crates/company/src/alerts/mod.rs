//! Alert rules on security events and the alerts they raise (issue 14,
//! item 5). Rules are evaluated on each event as company stores it —
//! delivered by a hospital or owner, pulled from dev, or moved from
//! company's own outbox — inside the same write, so an alert is never lost
//! and never raised twice for one window. The admin acknowledges alerts.

pub mod http;
pub mod pages;
pub mod scope;
pub mod store;

/// Push alerts just raised (committed) to every connected user who reads
/// them (the admin), as `update` frames.
pub fn publish(hub: &common::realtime::Hub, alerts: &[store::Alert]) -> usize {
    use common::realtime::{Envelope, Kind};
    let mut n = 0;
    for a in alerts {
        let data = serde_json::json!({ "event": "alert", "alert": a });
        n += hub.send_to_permitted(crate::CompanyPermission::SystemRead, |h| {
            Envelope::new(Kind::Update, "system", &h.user_id, data.clone())
        });
    }
    n
}
