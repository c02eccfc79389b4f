//! `POST …/messages`, `GET …/messages`.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::db::{now, Db, Page, PageQuery};
use common::http::resource;
use common::realtime::{Envelope, Kind};
use common::response;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{self, Message, MessageView};
use crate::care_team::store as care_team;
use crate::context::Ctx;
use crate::patients::scope;
use crate::HospitalPermission as P;

/// The longest message body, in characters.
pub const BODY_MAX: usize = 4000;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/messages")
            .route(web::get().to(list))
            .route(web::post().to(send)),
    );
}

/// Whom a message goes to.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = MessageRecipient)]
pub enum To {
    /// A staff member (user id).
    User(String),
    /// The care team of this patient (patient id): every current member.
    CareTeam(String),
}

/// A new message.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `{"user": "<id>"}` or `{"care_team": "<patient id>"}`.
    pub to: To,
    /// The text (1 to 4000 characters).
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// What a send did.
#[derive(utoipa::ToSchema, Serialize, Debug)]
#[schema(as = MessageSent)]
pub struct Sent {
    /// The send's id (its copies share it).
    pub send_id: String,
    /// How many recipients it was stored for.
    pub recipients: usize,
    /// How many of their open sockets it was delivered to live.
    pub delivered_live: usize,
}

#[utoipa::path(post, path = "/messages", tag = "messages", security(("bearer" = [])),
    summary = "Send a message to a staff member (messages.send_staff) or to a patient's care team (messages.send_care_team; a patient: their own)",
    request_body = NewMessage,
    responses((status = 201, description = "Stored for each recipient, and delivered live to those connected", body = Sent),
        (status = 404, description = "No such patient within the caller's scope"),
        (status = 409, description = "The care team has no other member")))]
pub(crate) async fn send(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<NewMessage>,
) -> ApiResult<HttpResponse> {
    let sent = send_message(&db, ctx, body.into_inner()).await?;
    Ok(response::created(sent))
}

fn check_id(field: &str, id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::field(field, "must be an id"));
    }
    Ok(())
}

/// Store a message for each recipient (sealed, audited) and deliver it
/// live to the connected ones (shared by the API; pages may call it).
pub async fn send_message(db: &Db, ctx: Ctx, m: NewMessage) -> ApiResult<Sent> {
    let text = m.body.trim().to_string();
    if text.is_empty() || text.chars().count() > BODY_MAX {
        return Err(ApiError::field(
            "body",
            format!("must be 1 to {BODY_MAX} characters"),
        ));
    }
    match &m.to {
        To::User(id) => {
            ctx.require(P::MessagesSendStaff)?;
            check_id("to.user", id)?;
        }
        To::CareTeam(id) => {
            ctx.require(P::MessagesSendCareTeam)?;
            check_id("to.care_team", id)?;
        }
    }
    let c = ctx.clone();
    let to = m.to.clone();
    let body = text.clone();
    let (send_id, rows) = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let (recipients, patient) = match &to {
                To::User(id) => {
                    let r = users::get_in_tenant(conn, tenant, id)
                        .map_err(|_| ApiError::field("to.user", "no such user in this hospital"))?;
                    // Staff write to staff; a patient's record has its care team.
                    if !r.active || r.role == "patient" || r.id == user.id {
                        return Err(ApiError::field(
                            "to.user",
                            "must be another active staff member",
                        ));
                    }
                    (vec![r.id], None)
                }
                To::CareTeam(patient) => {
                    // The API's rule: a patient out of scope does not exist.
                    if !scope::can_see(conn, user, tenant, patient, false)? {
                        return Err(scope::not_found());
                    }
                    let members: Vec<String> = care_team::members(conn, tenant, patient)?
                        .into_iter()
                        .map(|m| m.user_id)
                        .filter(|id| id != &user.id)
                        .collect();
                    if members.is_empty() {
                        return Err(ApiError::Conflict(
                            "this patient's care team has no other member".into(),
                        ));
                    }
                    (members, Some(patient.clone()))
                }
            };
            let send_id = uuid::Uuid::new_v4().to_string();
            let at = now();
            let mut rows = Vec::new();
            for r in recipients {
                let id = uuid::Uuid::new_v4().to_string();
                let row = Message {
                    body_enc: c
                        .keyring
                        .encrypt(conn, tenant, &body, &store::aad(tenant, &id))?,
                    id,
                    tenant_id: tenant.clone(),
                    send_id: send_id.clone(),
                    sender_id: user.id.clone(),
                    recipient_id: r,
                    patient_id: patient.clone(),
                    sent_at: at,
                };
                store::insert(conn, &row)?;
                rows.push(row);
            }
            let resource = match &patient {
                Some(p) => format!("patient:{p}"),
                None => format!("user:{}", rows[0].recipient_id),
            };
            let event = c.event("message.send", &resource).details(json!({
                "send_id": send_id,
                "recipients": rows.iter().map(|r| r.recipient_id.clone()).collect::<Vec<_>>(),
            }));
            c.audit(conn, &event)?;
            Ok((send_id, rows))
        })
        .await?;
    // Committed: deliver live (the send's audit row names every recipient).
    let mut delivered_live = 0;
    for r in &rows {
        let view = MessageView {
            id: r.id.clone(),
            send_id: r.send_id.clone(),
            from: r.sender_id.clone(),
            to: r.recipient_id.clone(),
            patient_id: r.patient_id.clone(),
            body: text.clone(),
            sent_at: r.sent_at,
        };
        let data = serde_json::to_value(&view).unwrap_or_default();
        let frame = Envelope::new(Kind::Message, &r.sender_id, &r.recipient_id, data);
        delivered_live += ctx.hub.send_to_user(&r.recipient_id, &frame);
    }
    Ok(Sent {
        send_id,
        recipients: rows.len(),
        delivered_live,
    })
}

#[utoipa::path(get, path = "/messages", tag = "messages", security(("bearer" = [])),
    summary = "The caller's inbox, newest first (messages.read; each message listed is audited as read)",
    params(PageQuery), responses((status = 200, description = "A page of messages", body = Vec<MessageView>)))]
pub(crate) async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = inbox(&db, ctx, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of the caller's inbox, with one audit row per message shown.
pub async fn inbox(db: &Db, ctx: Ctx, page: Page) -> ApiResult<(Vec<MessageView>, i64)> {
    ctx.require(P::MessagesRead)?;
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) = store::inbox(conn, &c.tenant, &c.user.id, &page)?;
            let views = rows
                .iter()
                .map(|m| store::to_view(conn, &c.keyring, m))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views
        .iter()
        .map(|m| {
            let e = ctx.event("message.read", &format!("message:{}", m.id));
            match &m.patient_id {
                Some(p) => e.details(json!({ "send_id": m.send_id, "patient_id": p })),
                None => e.details(json!({ "send_id": m.send_id })),
            }
        })
        .collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}
