//! Security events of every server: received from hospitals and owner over
//! mTLS, moved from company's own outbox, pulled from dev; listed for the
//! company admin.

pub mod http;
pub mod internal;
pub mod pages;
pub mod store;

/// Push events just stored (committed) to every connected user whose role
/// reads security events (the admin's live feed), as `update` frames.
pub fn publish(hub: &common::realtime::Hub, events: &[store::StoredEvent]) -> usize {
    use common::realtime::{Envelope, Kind};
    let mut n = 0;
    for e in events {
        let data = serde_json::json!({ "event": "security_event", "security_event": e });
        n += hub.send_to_permitted(crate::CompanyPermission::SecurityEventsRead, |h| {
            Envelope::new(Kind::Update, "system", &h.user_id, data.clone())
        });
    }
    n
}
