//! The request context every hospital handler starts from: who calls, for
//! which tenant, with which keyring, seeing how much of a record, from
//! where. One extractor instead of the same five lines in every handler
//! (in the manner of vaultwarden's `Headers`), and audit events built from
//! the caller so actor, role and tenant are never filled in by hand.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::crypto::Keyring;
use common::db::{Db, DbConn};
use common::rbac::Permission;
use common::realtime::Hub;
use common::{ApiError, ApiResult};

use crate::patients::scope::{view_of, View};
use crate::tenant::tenant_of;

/// The caller and everything a hospital handler needs about the request.
/// Cheap enough to clone into the closures `Db::run`/`Db::write` take.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The authenticated caller.
    pub user: AuthUser,
    /// The caller's tenant; every query filters on it.
    pub tenant: String,
    /// The hospital's keyring (field encryption, blind indexes).
    pub keyring: Keyring,
    /// How much of a patient record the caller sees.
    pub view: View,
    /// IP, user agent and correlation id, for audit rows.
    pub origin: Origin,
    /// The real-time channel (messages and notifications go live through it).
    pub hub: web::Data<Hub>,
    /// The insurer (eligibility checks) and the server's clock.
    pub insurance: crate::insurance::Check,
}

impl Ctx {
    /// Refuse with 403 unless the caller's role has `permission`.
    pub fn require(&self, permission: impl Permission) -> ApiResult<()> {
        self.user.require(permission)
    }

    /// Whether the caller's role has `permission`.
    pub fn can(&self, permission: impl Permission) -> bool {
        self.user.can(permission)
    }

    /// A successful `action` on `resource` by the caller, in the caller's tenant.
    pub fn event(&self, action: &str, resource: &str) -> Event {
        Event::new(&self.user.id, &self.user.role, action, resource).tenant(Some(&self.tenant))
    }

    /// [`Ctx::event`] on `patient:<id>`: what a patient's access log shows.
    pub fn patient_event(&self, action: &str, patient_id: &str) -> Event {
        self.event(action, &format!("patient:{patient_id}"))
    }

    /// Append `event` with the request's origin (inside a write transaction).
    pub fn audit(&self, conn: &mut DbConn, event: &Event) -> ApiResult<()> {
        audit::append(conn, event, &self.origin)?;
        Ok(())
    }

    /// Append the access-log rows of a read, in one write, and return once
    /// they are committed: a read handler answers only after this succeeds,
    /// so no data leaves unrecorded. Nothing shown, nothing written.
    pub async fn record(&self, db: &Db, events: Vec<Event>) -> ApiResult<()> {
        audit::record(db, events, self.origin.clone()).await
    }
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        let origin = Origin::from_request(req, payload);
        let keyring = req
            .app_data::<web::Data<Keyring>>()
            .map(|k| k.get_ref().clone());
        let hub = common::realtime::hub_of(req);
        let insurance = crate::insurance::Check::of(req);
        Box::pin(async move {
            let user = user.await?;
            let origin = origin.await?;
            let tenant = tenant_of(&user)?;
            // The hospital's spec asks for a keyring, so the builder always
            // installs one; its absence is a wiring bug, not a bad request.
            let keyring = keyring.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("the hospital runs without a keyring"))
            })?;
            let view = view_of(&user);
            let hub = hub.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no real-time hub")))?;
            Ok(Self {
                user,
                tenant,
                keyring,
                view,
                origin,
                hub,
                insurance,
            })
        })
    }
}
