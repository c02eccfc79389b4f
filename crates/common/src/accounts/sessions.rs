//! Server-side sessions over HTTP: `POST …/auth/refresh` (rotation and
//! reuse detection), `GET …/auth/sessions`, `DELETE …/auth/sessions/{id}`
//! and the admin's `DELETE …/users/{id}/sessions`. The rules live in
//! [`crate::auth::session`]; logout (in `http.rs`) ends the current session.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::store;
use crate::audit::{self, Event, Origin, Severity};
use crate::auth::session::{self, AuthSession, Rotation, SessionView};
use crate::auth::{AuthContext, AuthUser};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::rbac::CorePermission;
use crate::response::{self, Page, PageQuery};
use crate::security::{self, NewEvent};

/// Mount the session routes (inside the server's API scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/auth/refresh").route(web::post().to(refresh)))
        .service(resource("/auth/sessions").route(web::get().to(list_sessions)))
        .service(resource("/auth/sessions/{id}").route(web::delete().to(end_session)))
        .service(resource("/users/{id}/sessions").route(web::delete().to(end_user_sessions)));
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    #[schema(min_length = 64, max_length = 64, pattern = r"^[0-9a-f]{64}$")]
    refresh_token: String,
}

/// The one answer to a refresh token that is unknown here.
const BAD_REFRESH: &str = "invalid refresh token";

/// What a refresh came to (inside the write, so a reuse's ending commits).
enum Refreshed {
    Done {
        token: String,
        next: String,
        session_id: String,
        expires_at: chrono::NaiveDateTime,
    },
    Refused(&'static str),
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", summary = "Rotate a refresh token: a new access token and the next refresh token",
    description = "No bearer token is needed (the access token may have expired). The refresh token presented is spent; presenting a spent one again ends the whole session (a security event). A session that ended, reached its absolute lifetime or idled out answers 401.",
    request_body = RefreshRequest,
    responses((status = 200, description = "Refreshed", body = super::openapi::RefreshReply),
        (status = 400, description = "Not a refresh token's shape"),
        (status = 401, description = "Unknown or spent refresh token, or the session has ended")))]
pub(super) async fn refresh(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    origin: Origin,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = body.into_inner().refresh_token;
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::field(
            "refresh_token",
            "must be 64 hex characters",
        ));
    }
    let at = ctx.clock.now();
    let ctx2 = ctx.clone();
    let outcome = db
        .write(move |c| match session::rotate(c, &token, at)? {
            Rotation::Unknown => Ok(Refreshed::Refused(BAD_REFRESH)),
            Rotation::Reused(s) => {
                reuse_detected(c, &s, &origin)?;
                Ok(Refreshed::Refused(
                    "this refresh token was already used; the session has been ended",
                ))
            }
            Rotation::Dead(_, dead) => Ok(Refreshed::Refused(dead.message())),
            Rotation::Rotated(s, next) => {
                let tenant = s.tenant_id.clone().unwrap_or_default();
                let user =
                    store::find_by_id(c, &s.user_id)?.filter(|u| u.active && u.tenant_id == tenant);
                let Some(user) = user else {
                    // Deactivation ends sessions already; this is the backstop.
                    session::end(c, &s.id, "deactivated", at)?;
                    return Ok(Refreshed::Refused(session::Dead::Ended.message()));
                };
                let (token, _) = ctx2.keys.issue_in_session(
                    &user.id,
                    &user.role,
                    Some(&user.tenant_id),
                    user.session_epoch,
                    Some(&s.id),
                )?;
                let event = Event::new(&user.id, &user.role, "auth.refresh", "session")
                    .tenant(s.tenant_id.as_deref())
                    .details(json!({ "sid": s.id }));
                audit::append(c, &event, &origin)?;
                Ok(Refreshed::Done {
                    token,
                    next,
                    session_id: s.id,
                    expires_at: s.expires_at,
                })
            }
        })
        .await?;
    match outcome {
        Refreshed::Refused(why) => Err(ApiError::Unauthenticated(why.into())),
        Refreshed::Done {
            token,
            next,
            session_id,
            expires_at,
        } => Ok(response::ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ctx.keys.ttl_secs(),
            "refresh_token": next,
            "session_id": session_id,
            "session_expires_at": expires_at,
        }))),
    }
}

/// A spent refresh token came back: someone else holds a copy. The
/// session is ended already; audit it and raise a critical security event.
fn reuse_detected(c: &mut crate::db::DbConn, s: &AuthSession, origin: &Origin) -> ApiResult<()> {
    let details = json!({ "sid": s.id, "user_id": s.user_id });
    let event = Event::new(&s.user_id, "unknown", "auth.refresh_reuse", "session")
        .outcome("failure")
        .severity(Severity::Critical)
        .tenant(s.tenant_id.as_deref())
        .details(details.clone());
    audit::append(c, &event, origin)?;
    let mut raised = details;
    raised["ip"] = json!(origin.ip);
    security::record(
        c,
        &NewEvent::new(
            "auth.refresh_reuse",
            Severity::Critical,
            &s.user_id,
            s.tenant_id.as_deref(),
            raised,
        ),
    )?;
    Ok(())
}

#[utoipa::path(get, path = "/auth/sessions", tag = "auth", security(("bearer" = [])),
    summary = "The caller's live sessions, newest first",
    params(PageQuery),
    responses((status = 200, description = "A page of sessions", body = Vec<SessionView>)))]
pub(super) async fn list_sessions(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page::from_query(&query)?;
    let (views, total) = own_sessions(&ctx, &db, &user, &page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of `user`'s live sessions and their number (shared with the page).
pub async fn own_sessions(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    page: &Page,
) -> ApiResult<(Vec<SessionView>, i64)> {
    let at = ctx.clock.now();
    let uid = user.id.clone();
    let rows = db.run(move |c| session::list_live(c, &uid, at)).await?;
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(page.page_size).unwrap_or(0);
    let views = rows
        .iter()
        .skip(skip)
        .take(take)
        .map(|s| SessionView::of(s, &user.session_id))
        .collect();
    Ok((views, total))
}

#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    summary = "End one of the caller's sessions (its tokens stop working)",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 200, description = "Ended", body = super::openapi::SessionEnded),
        (status = 404, description = "No such live session of the caller")))]
pub(super) async fn end_session(
    db: web::Data<Db>,
    hub: web::Data<crate::realtime::Hub>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    end_own_session(&db, &user, origin, id.into_inner()).await?;
    hub.recheck_user(&user.id);
    Ok(response::ok(json!({ "ended": true })))
}

/// End one of `user`'s own sessions, audited (shared with the page).
pub async fn end_own_session(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    id: String,
) -> ApiResult<()> {
    let user = user.clone();
    db.write(move |c| {
        let mine = session::find(c, &id)?.filter(|s| s.user_id == user.id);
        let ended = match mine {
            Some(s) => session::end(c, &s.id, "ended_by_user", crate::db::now())?,
            None => false,
        };
        if !ended {
            return Err(ApiError::NotFound("no such session".into()));
        }
        let event = Event::new(&user.id, &user.role, "auth.session_end", "session")
            .tenant(user.tenant())
            .details(json!({ "sid": id, "reason": "ended_by_user" }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await
}

#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "users", security(("bearer" = [])),
    summary = "End every session of a user (users.manage; only an admin ends an admin's)",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "Ended", body = super::openapi::SessionsEnded),
        (status = 404, description = "No such user")))]
pub(super) async fn end_user_sessions(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    hub: web::Data<crate::realtime::Hub>,
    admin: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin.require(CorePermission::UsersManage)?;
    let id = id.into_inner();
    let admin_role = ctx.policy.admin_role().to_string();
    let (ended, target) = db
        .write(move |c| {
            // Another tenant's user is "not found", like a missing one.
            let target = store::get_in_tenant(c, &admin.tenant_id, &id).map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::NotFound("no such user".into()),
                other => other,
            })?;
            if target.role == admin_role && !admin.is_admin() {
                return Err(ApiError::Forbidden(
                    "only an admin may end an admin's sessions".into(),
                ));
            }
            let ended =
                session::end_all_of_user(c, &target.id, "ended_by_admin", crate::db::now())?;
            let event = Event::new(
                &admin.id,
                &admin.role,
                "user.sessions_end",
                &format!("user:{}", target.id),
            )
            .severity(Severity::Warning)
            .tenant(admin.tenant())
            .details(json!({ "ended": ended }));
            audit::append(c, &event, &origin)?;
            Ok((ended, target.id))
        })
        .await?;
    hub.recheck_user(&target);
    Ok(response::ok(json!({ "ended": ended })))
}
