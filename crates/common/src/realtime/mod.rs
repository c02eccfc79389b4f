//! The real-time channel: a WebSocket on the public listener
//! (`GET …/ws`) through which a signed-in user receives messages,
//! notifications and updates as they happen.
//!
//! The [`Hub`] is one per server: a registry of open sockets by user, each
//! with a bounded queue. Senders never wait: a message is put on each of the
//! recipient's queues with `try_send`, and a socket whose queue is full is
//! closed (a slow client is dropped instead of growing memory). A user may
//! hold at most `realtime.max_connections_per_user` sockets. What a server
//! sends through it is decided by the same rules as its API; the hub only
//! delivers to the user ids (or the connections) it is given.

pub mod http;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use crate::config::RealtimeSection;
use crate::error::ApiError;

/// What kind of message (the original format's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = RealtimeKind)]
pub enum Kind {
    /// A message from one user to another (or to a care team).
    Message,
    /// Something that concerns the recipient happened.
    Notification,
    /// A live feed entry (company: a stored security event).
    Update,
}

/// One frame sent on the socket, as JSON text:
/// `{type, from, to, timestamp, data}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RealtimeEnvelope)]
pub struct Envelope {
    /// `message`, `notification` or `update`.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The sending user's id, or `system`.
    pub from: String,
    /// The recipient user's id.
    pub to: String,
    /// When it was sent (RFC 3339, UTC).
    pub timestamp: String,
    /// What it carries (depends on `type` and on `data.event`).
    pub data: Value,
}

impl Envelope {
    /// A frame of `kind` from `from` (a user id or `system`) to `to`.
    pub fn new(kind: Kind, from: &str, to: &str, data: Value) -> Self {
        Self {
            kind,
            from: from.to_string(),
            to: to.to_string(),
            timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            data,
        }
    }
}

/// Who holds one open socket (what a sender may select connections by).
#[derive(Debug, Clone)]
pub struct Holder {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: String,
    /// Tenant (`""` off hospital).
    pub tenant_id: String,
    /// The session the socket's token belongs to.
    pub session_id: String,
}

/// How a socket is told to act out of band.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Wakes the socket's task.
    pub(crate) notify: Notify,
    /// Its queue overflowed: close it.
    pub(crate) slow: AtomicBool,
}

struct Slot {
    id: u64,
    holder: Holder,
    tx: mpsc::Sender<Arc<str>>,
    signal: Arc<Signal>,
}

/// One registered socket: its queue and signal (held by its task).
pub(crate) struct Registration {
    pub(crate) id: u64,
    pub(crate) rx: mpsc::Receiver<Arc<str>>,
    pub(crate) signal: Arc<Signal>,
}

/// The registry of open sockets. One per server, shared by its handlers.
pub struct Hub {
    settings: RealtimeSection,
    policy: Option<Arc<crate::rbac::LivePolicy>>,
    next: AtomicU64,
    slots: Mutex<HashMap<String, Vec<Slot>>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("users", &self.lock().len())
            .finish()
    }
}

impl Hub {
    /// A hub with the configured bounds (refuses zeros).
    pub fn new(settings: RealtimeSection) -> anyhow::Result<Self> {
        let s = &settings;
        if s.max_connections_per_user == 0
            || s.queue_len == 0
            || s.ping_secs == 0
            || s.idle_timeout_secs == 0
            || s.write_timeout_secs == 0
        {
            anyhow::bail!("realtime: every bound must be at least 1");
        }
        Ok(Self {
            settings,
            policy: None,
            next: AtomicU64::new(1),
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The same hub judging roles by `policy` (for [`Hub::send_to_permitted`]).
    pub fn with_policy(mut self, policy: Arc<crate::rbac::LivePolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Queue a frame on every socket whose holder's role has `permission`
    /// now (by the server's policy, overrides included).
    pub fn send_to_permitted(
        &self,
        permission: impl crate::rbac::Permission,
        make: impl Fn(&Holder) -> Envelope,
    ) -> usize {
        let Some(policy) = self.policy.clone() else {
            return 0;
        };
        let name = permission.name();
        // The holder's tenant's roles as this process last loaded them.
        self.send_where(|h| policy.cached(&h.tenant_id).allows(&h.role, name), make)
    }

    /// Its bounds.
    pub fn settings(&self) -> &RealtimeSection {
        &self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Slot>>> {
        // A panic while holding the lock leaves a usable map.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Register a socket of `holder`; 429 past the per-user cap.
    pub(crate) fn register(&self, holder: Holder) -> Result<Registration, ApiError> {
        let mut slots = self.lock();
        let list = slots.entry(holder.user_id.clone()).or_default();
        if list.len() >= self.settings.max_connections_per_user {
            return Err(ApiError::RateLimited(format!(
                "at most {} open real-time connections per user",
                self.settings.max_connections_per_user
            )));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.settings.queue_len);
        let signal = Arc::new(Signal::default());
        list.push(Slot {
            id,
            holder,
            tx,
            signal: signal.clone(),
        });
        Ok(Registration { id, rx, signal })
    }

    /// Forget socket `id` of `user_id` (its task ended).
    pub(crate) fn unregister(&self, user_id: &str, id: u64) {
        let mut slots = self.lock();
        if let Some(list) = slots.get_mut(user_id) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                slots.remove(user_id);
            }
        }
    }

    /// Queue `frame` on every socket of `user_id`; how many took it.
    /// Never waits: a full queue closes that socket.
    pub fn send_to_user(&self, user_id: &str, frame: &Envelope) -> usize {
        let Ok(text) = serde_json::to_string(frame) else {
            return 0;
        };
        let text: Arc<str> = Arc::from(text);
        let mut slots = self.lock();
        let Some(list) = slots.get_mut(user_id) else {
            return 0;
        };
        Self::offer(list, &text, |_| true)
    }

    /// Queue a frame on every socket whose holder matches `select`; the
    /// frame is made per holder (its `to` is the holder). How many took it.
    pub fn send_where(
        &self,
        select: impl Fn(&Holder) -> bool,
        make: impl Fn(&Holder) -> Envelope,
    ) -> usize {
        let mut slots = self.lock();
        let mut n = 0;
        for list in slots.values_mut() {
            let Some(first) = list.first() else { continue };
            if !select(&first.holder) {
                continue;
            }
            let Ok(text) = serde_json::to_string(&make(&first.holder)) else {
                continue;
            };
            let text: Arc<str> = Arc::from(text);
            n += Self::offer(list, &text, &select);
        }
        n
    }

    fn offer(list: &mut Vec<Slot>, text: &Arc<str>, select: impl Fn(&Holder) -> bool) -> usize {
        let mut n = 0;
        list.retain(|slot| {
            if !select(&slot.holder) {
                return true;
            }
            match slot.tx.try_send(text.clone()) {
                Ok(()) => {
                    n += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(user = %slot.holder.user_id, "real-time send queue full: dropping the connection");
                    slot.signal.slow.store(true, Ordering::Relaxed);
                    slot.signal.notify.notify_one();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        n
    }

    /// Ask every socket of `user_id` to re-check its token and session now
    /// (after a logout, password change, deactivation…).
    pub fn recheck_user(&self, user_id: &str) {
        if let Some(list) = self.lock().get(user_id) {
            for slot in list {
                slot.signal.notify.notify_one();
            }
        }
    }

    /// Open sockets of `user_id`.
    pub fn connections_of(&self, user_id: &str) -> usize {
        self.lock().get(user_id).map_or(0, Vec::len)
    }
}

/// The hub of a request's app (every server registers one).
pub fn hub_of(req: &actix_web::HttpRequest) -> Option<actix_web::web::Data<Hub>> {
    req.app_data::<actix_web::web::Data<Hub>>().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(u: &str) -> Holder {
        Holder {
            user_id: u.into(),
            role: "r".into(),
            tenant_id: String::new(),
            session_id: "s".into(),
        }
    }

    fn hub(cap: usize, queue: usize) -> Hub {
        Hub::new(RealtimeSection {
            max_connections_per_user: cap,
            queue_len: queue,
            ..RealtimeSection::default()
        })
        .unwrap()
    }

    #[test]
    fn the_cap_per_user_refuses_one_more() {
        let h = hub(2, 4);
        let _a = h.register(holder("u")).unwrap();
        let b = h.register(holder("u")).unwrap();
        assert!(h.register(holder("u")).is_err());
        assert!(h.register(holder("v")).is_ok());
        h.unregister("u", b.id);
        assert!(h.register(holder("u")).is_ok());
    }

    #[test]
    fn a_full_queue_drops_the_connection() {
        let h = hub(2, 2);
        let r = h.register(holder("u")).unwrap();
        let f = Envelope::new(Kind::Notification, "system", "u", Value::Null);
        assert_eq!(h.send_to_user("u", &f), 1);
        assert_eq!(h.send_to_user("u", &f), 1);
        assert_eq!(h.send_to_user("u", &f), 0);
        assert!(r.signal.slow.load(Ordering::Relaxed));
        assert_eq!(h.connections_of("u"), 0);
    }
}
