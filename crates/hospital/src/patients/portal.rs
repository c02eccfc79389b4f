//! A patient's portal account, opened so that staff never know its
//! password: reception asks for a one-time enrolment code
//! (`POST …/patients/{id}/portal-account`), prints it for the patient, and
//! the patient redeems it (`POST …/portal/enrol`, no token) choosing their
//! own password. The code is single use, expires
//! (`auth.enrolment_code_minutes`), is stored only as a hash, and both
//! steps are audited. The username is the patient's choice or a random
//! one, never derived from their name.
//!
//! Redeeming is unauthenticated, so it is paced like a login and every bad
//! code (unknown, used, expired, another tenant's) gets the same answer.

use actix_web::{web, HttpResponse};
use common::accounts::create::{self, Creator, NewAccount};
use common::accounts::enrolment;
use common::accounts::store as users;
use common::audit::{self, Event, Origin, Severity};
use common::auth::{AuthContext, TenantRule};
use common::db::{Db, DbConn};
use common::http::ratelimit::client_key;
use common::http::resource;
use common::security::{self, NewEvent};
use common::{response, ApiError, ApiResult};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use super::scope;
use super::store;
use crate::context::Ctx;
use crate::schema::patients;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/patients/{id}/portal-account").route(web::post().to(portal_account)))
        .service(resource("/portal/enrol").route(web::post().to(redeem)));
}

/// The request for a code takes no fields; a body naming any (the removed
/// flow sent a username and a password chosen by staff) is refused.
///
/// Read from a JSON object only: serde would also take `[]` for a struct
/// with no fields (found by schemathesis).
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
#[schema(max_properties = 0)]
struct EnrolmentCodeRequest {}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for EnrolmentCodeRequest {
    type Error = &'static str;

    fn try_from(fields: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        if fields.is_empty() {
            Ok(Self {})
        } else {
            Err("this request takes no fields")
        }
    }
}

/// Issue an enrolment code for a patient with no portal account yet.
#[utoipa::path(post, path = "/patients/{id}/portal-account", tag = "portal", security(("bearer" = [])),
    summary = "Issue a one-time enrolment code for a patient's portal account (portal.manage)",
    request_body(content = Option<EnrolmentCodeRequest>, description = "Empty, or `{}`: staff choose no username or password"),
    responses((status = 201, description = "The code, shown once", body = crate::openapi::EnrolmentCode),
        (status = 409, description = "The patient already has a portal account")))]
async fn portal_account(
    auth: web::Data<AuthContext>,
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    ctx.require(P::PortalManage)?;
    // No body at all, or a JSON object with no fields; anything else
    // (whitespace included: not a JSON document) is refused.
    if !body.is_empty() {
        serde_json::from_slice::<EnrolmentCodeRequest>(&body).map_err(|_| {
            ApiError::validation(
                "this request takes no fields: staff no longer choose a portal username or password",
            )
        })?;
    }
    let issued = issue_code(&auth, &db, ctx, id.into_inner()).await?;
    Ok(response::created(json!({
        "enrolment_code": issued.code,
        "expires_at": issued.expires_at,
    })))
}

/// Issue a patient's enrolment code by the API's rules and audit row
/// (shared with the pages).
pub(crate) async fn issue_code(
    auth: &web::Data<AuthContext>,
    db: &Db,
    ctx: Ctx,
    id: String,
) -> ApiResult<enrolment::Issued> {
    ctx.require(P::PortalManage)?;
    let minutes = auth.enrolment_code_minutes;
    db.write(move |c| {
        let row = store::find_visible(c, &ctx.user, &ctx.tenant, false, &id)?
            .ok_or_else(scope::not_found)?;
        if row.portal_user_id.is_some() {
            return Err(ApiError::Conflict(
                "this patient already has a portal account".into(),
            ));
        }
        let issued = enrolment::issue(c, &ctx.tenant, &id, &ctx.user.id, minutes)?;
        let event = ctx
            .patient_event("patient.portal_enrolment.issue", &id)
            .details(json!({ "expires_at": issued.expires_at }));
        ctx.audit(c, &event)?;
        Ok(issued)
    })
    .await
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Redeem {
    #[schema(max_length = 64)]
    pub(crate) code: String,
    #[schema(min_length = 8, max_length = 72)]
    pub(crate) password: String,
    #[schema(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@-]+$")]
    pub(crate) username: Option<String>,
}

/// The one answer to every bad code.
const BAD_CODE: &str =
    "this enrolment code is not valid (wrong, used or expired); ask reception for a new one";

/// The patient redeems a code: their account is created with the password
/// they choose and linked to their record.
#[utoipa::path(post, path = "/portal/enrol", tag = "portal",
    summary = "Open one's portal account with an enrolment code (no token)",
    responses((status = 201, description = "The new portal account", body = crate::openapi::PortalAccount),
        (status = 409, description = "The patient already has a portal account"),
        (status = 429, description = "Too many attempts or wrong codes from this address")))]
async fn redeem(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    origin: Origin,
    body: web::Json<Redeem>,
) -> ApiResult<HttpResponse> {
    let created = redeem_code(&ctx, &db, origin, body.into_inner()).await?;
    Ok(response::created(json!({
        "id": created.id,
        "username": created.username,
        "tenant_id": created.tenant_id,
        "role": created.role,
    })))
}

/// Redeem an enrolment code by the API's rules (pacing, one cost for good
/// and bad codes, audit rows) and hand back the new account (shared with
/// the pages).
pub(crate) async fn redeem_code(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    origin: Origin,
    body: Redeem,
) -> ApiResult<users::User> {
    let client = client_key(origin.ip.as_deref().unwrap_or("unknown"));
    if let Some(limiter) = &ctx.login_limiter {
        if !limiter.allow(&client) {
            return Err(ApiError::RateLimited(
                "too many attempts from this address; wait a minute".into(),
            ));
        }
    }
    // Bad codes from one address count like failed logins of one account.
    if ctx.pair_throttle.is_blocked("enrolment", &client) {
        return Err(ApiError::RateLimited(
            "too many wrong enrolment codes from this address; wait and try again".into(),
        ));
    }
    if body.code.len() > 64 {
        return Err(ApiError::field("code", BAD_CODE));
    }
    let username = body.username.unwrap_or_else(enrolment::random_username);
    // Every field is checked and the password hashed before the code is
    // looked at, so a bad code costs what a good one does.
    let tenant_pin = match &ctx.tenants {
        TenantRule::Pinned(t) => Some(t.clone()),
        _ => None,
    };
    let ctx2 = ctx.clone();
    let (name, password) = (username.clone(), body.password);
    let prepared = web::block(move || {
        let account = NewAccount {
            tenant_id: "",
            username: &name,
            password: &password,
            role: "patient",
            email: None,
            full_name: None,
            check_policy: true,
        };
        create::prepare(ctx2.policy.base(), ctx2.bcrypt_cost, &account)
    })
    .await??;
    let code = body.code;
    let audit_origin = origin.clone();
    let result = db
        .write(move |c| {
            let Some(found) = enrolment::redeem(c, &code, tenant_pin.as_deref())? else {
                return Ok(None);
            };
            let mut user = prepared;
            user.tenant_id = found.tenant_id.clone();
            let by = Creator {
                actor: &user.id,
                role: "patient",
            };
            create::insert(c, &user, by, &audit_origin)?;
            if !link_unlinked(c, &found.tenant_id, &found.subject, &user.id)? {
                return Err(ApiError::Conflict(
                    "this patient already has a portal account".into(),
                ));
            }
            let event = Event::new(
                &user.id,
                "patient",
                "patient.portal_enrolment.redeem",
                &format!("patient:{}", found.subject),
            )
            .tenant(Some(&found.tenant_id))
            .details(json!({ "user_id": user.id, "issued_by": found.created_by }));
            audit::append(c, &event, &audit_origin)?;
            users::get_in_tenant(c, &found.tenant_id, &user.id).map(Some)
        })
        .await?;
    match result {
        Some(created) => Ok(created),
        None => {
            record_bad_code(ctx, db, &client, origin).await?;
            Err(ApiError::field("code", BAD_CODE))
        }
    }
}

/// Count and raise a bad code from `client`.
async fn record_bad_code(
    ctx: &AuthContext,
    db: &Db,
    client: &str,
    origin: Origin,
) -> ApiResult<()> {
    let blocked = ctx.pair_throttle.fail("enrolment", client);
    db.write(move |c| {
        let severity = if blocked {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let event = Event::new(
            "anonymous",
            "anonymous",
            "patient.portal_enrolment.redeem",
            "enrolment",
        )
        .outcome("failure")
        .severity(severity)
        .details(json!({ "reason": "bad_code", "address_blocked": blocked }));
        audit::append(c, &event, &origin)?;
        security::record(
            c,
            &NewEvent::new(
                "auth.enrolment_failed",
                severity,
                "anonymous",
                None,
                json!({ "ip": origin.ip, "address_blocked": blocked }),
            ),
        )?;
        Ok(())
    })
    .await
}

/// Link `user_id` to a live patient that has no portal account; false when
/// there is none such (deleted meanwhile, or linked by another enrolment).
fn link_unlinked(conn: &mut DbConn, tenant: &str, patient: &str, user_id: &str) -> ApiResult<bool> {
    let n = diesel::update(
        patients::table
            .filter(patients::id.eq(patient))
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::portal_user_id.is_null())
            .filter(patients::deleted_at.is_null()),
    )
    .set(patients::portal_user_id.eq(Some(user_id)))
    .execute(conn)?;
    Ok(n == 1)
}
