//! Handlers of `…/auth/*`, `…/users*` and `…/audit*`, mounted by every
//! server under its API prefix.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::create::{self, Creator, NewAccount};
use super::roles_store;
use super::store::{self, UserChanges, UserFilter, UserView};
use super::validate::{validate_email, validate_full_name};
use crate::audit::{self, Event, Filter, Origin};
use crate::auth::{session, AuthContext, AuthUser};
use crate::db::{now, Db};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{CorePermission, Permission};
use crate::response::{self, Page};

/// Mount the account routes (inside the server's API scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/auth/login").route(web::post().to(super::login::login)))
        .service(resource("/auth/logout").route(web::post().to(logout)))
        .service(resource("/auth/me").route(web::get().to(me)))
        .service(
            resource("/auth/password")
                .route(web::post().to(super::password_change::change_password)),
        )
        .service(
            resource("/users")
                .route(web::get().to(list_users))
                .route(web::post().to(create_user)),
        )
        .service(
            resource("/users/{id}")
                .route(web::get().to(get_user))
                .route(web::patch().to(update_user)),
        )
        .service(
            resource("/users/{id}/{switch:activate|deactivate}").route(web::post().to(set_active)),
        )
        .service(resource("/audit").route(web::get().to(list_audit)))
        .service(resource("/audit/verify").route(web::get().to(verify_audit)))
        .configure(super::roles::routes)
        .configure(super::mfa::routes)
        .configure(super::sessions::routes);
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    summary = "End this session (the token is revoked and the session ended)",
    responses((status = 200, description = "Logged out", body = super::openapi::LoggedOut)))]
async fn logout(
    db: web::Data<Db>,
    hub: web::Data<crate::realtime::Hub>,
    user: AuthUser,
    origin: Origin,
) -> ApiResult<HttpResponse> {
    let uid = user.id.clone();
    let expires = chrono::DateTime::from_timestamp(user.expires_at, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_else(now);
    db.write(move |c| {
        store::revoke(c, &user.jti, expires)?;
        session::end(c, &user.session_id, "logout", now())?;
        let event = Event::new(&user.id, &user.role, "auth.logout", "session")
            .tenant(user.tenant())
            .details(json!({ "jti": user.jti, "sid": user.session_id }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await?;
    // Its open sockets re-check their session now and close.
    hub.recheck_user(&uid);
    Ok(response::ok(json!({ "logged_out": true })))
}

#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])), summary = "The caller's account",
    responses((status = 200, description = "The caller", body = UserView)))]
async fn me(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    let u = db
        .run_quick(move |c| store::get_in_tenant(c, &user.tenant_id, &user.id))
        .await?;
    Ok(response::ok(UserView::from(&u)))
}

#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), summary = "List the users (users.manage)",
    params(UserFilter), responses((status = 200, description = "A page of users", body = Vec<UserView>)))]
async fn list_users(
    db: web::Data<Db>,
    user: AuthUser,
    query: web::Query<UserFilter>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    let filter = query.into_inner();
    let page = Page::of(filter.page, filter.page_size)?;
    let (rows, total) = db
        .run_quick(move |c| store::list(c, &user.tenant_id, &filter, &page))
        .await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    Ok(response::page(views, &page, total))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])), summary = "One user (users.manage)",
    responses((status = 200, description = "The user", body = UserView)))]
async fn get_user(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    let id = id.into_inner();
    let u = db
        .run_quick(move |c| store::get_in_tenant(c, &user.tenant_id, &id))
        .await
        .map_err(not_found_user)?;
    Ok(response::ok(UserView::from(&u)))
}

fn not_found_user(e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound(_) => ApiError::NotFound("no such user".into()),
        other => other,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    #[schema(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@-]+$")]
    pub(crate) username: String,
    #[schema(min_length = 8, max_length = 72)]
    pub(crate) password: String,
    pub(crate) role: String,
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^.\s][^\s]*\.[^\s]*$")]
    pub(crate) email: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) full_name: Option<String>,
}

#[utoipa::path(post, path = "/users", tag = "users", security(("bearer" = [])), summary = "Create a user (users.manage; only an admin creates an admin)",
    responses((status = 201, description = "Created", body = UserView),
        (status = 409, description = "The username or e-mail is taken")))]
async fn create_user(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let created = create_account(&ctx, &db, user, origin, body).await?;
    Ok(response::created(UserView::from(&created)))
}

/// A new account in the caller's tenant, by the API's rules (shared with the pages).
pub(crate) async fn create_account(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    user: AuthUser,
    origin: Origin,
    body: CreateUser,
) -> ApiResult<store::User> {
    user.require(CorePermission::UsersManage)?;
    if admin_like(user.policy(), ctx.policy.admin_role(), &body.role) && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin may create an admin (or grant a role that manages roles)".into(),
        ));
    }
    let ctx2 = ctx.clone();
    let policy = user.policy().clone();
    let tenant = user.tenant_id.clone();
    let new = web::block(move || {
        let account = NewAccount {
            tenant_id: &tenant,
            username: &body.username,
            password: &body.password,
            role: &body.role,
            email: body.email.as_deref(),
            full_name: body.full_name.as_deref(),
            check_policy: true,
        };
        create::prepare(&policy, ctx2.bcrypt_cost, &account)
    })
    .await??;
    let gate = ctx.gate;
    let live = ctx.policy.clone();
    db.write(move |c| {
        // The role may have been deleted since the request began.
        if !live.load(c, &new.tenant_id)?.0.has_role(&new.role) {
            return Err(ApiError::field(
                "role",
                format!("unknown role `{}`", new.role),
            ));
        }
        if let Some(gate) = gate {
            gate.check_new_account(c, &new.tenant_id, &new.role)?;
        }
        let by = Creator {
            actor: &user.id,
            role: &user.role,
        };
        create::insert(c, &new, by, &origin)?;
        store::get_in_tenant(c, &new.tenant_id, &new.id)
    })
    .await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    role: Option<String>,
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^.\s][^\s]*\.[^\s]*$")]
    email: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    full_name: Option<String>,
    active: Option<bool>,
    unlock: Option<bool>,
    /// A new password set by the admin: the user must change it at next
    /// login, and every session of theirs ends.
    #[schema(min_length = 8, max_length = 72)]
    password: Option<String>,
}

#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    summary = "Change a user's role, e-mail, name, state, lock or password (users.manage)",
    responses((status = 200, description = "The changed user", body = UserView),
        (status = 409, description = "The e-mail is taken; OWN_ACCOUNT: you tried to change your own role or deactivate yourself; LAST_ADMIN: the tenant's last active admin")))]
async fn update_user(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<UpdateUser>,
    hub: web::Data<crate::realtime::Hub>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let res = apply_update(ctx, db, user, origin, id.clone(), body.into_inner()).await?;
    // A reset, deactivation or role change ended the user's sessions.
    hub.recheck_user(&id);
    Ok(res)
}

/// `POST …/users/{id}/activate` and `…/deactivate`: PATCH `active` by another name.
#[utoipa::path(post, path = "/users/{id}/{switch}", tag = "users", security(("bearer" = [])),
    summary = "Activate or deactivate a user (users.manage)",
    params(("id" = String, Path, description = "User id"), ("switch" = String, Path, description = "`activate` or `deactivate`")),
    responses((status = 200, description = "The changed user", body = UserView),
        (status = 409, description = "OWN_ACCOUNT: you tried to deactivate yourself; LAST_ADMIN: the tenant's last active admin")))]
async fn set_active(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    path: web::Path<(String, String)>,
    hub: web::Data<crate::realtime::Hub>,
) -> ApiResult<HttpResponse> {
    let (id, switch) = path.into_inner();
    let res = set_account_active(ctx, db, user, origin, id.clone(), switch == "activate").await?;
    hub.recheck_user(&id);
    Ok(res)
}

/// Activate or deactivate an account by the API's rules (shared with the pages).
pub(crate) async fn set_account_active(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: String,
    active: bool,
) -> ApiResult<HttpResponse> {
    let body = UpdateUser {
        active: Some(active),
        ..Default::default()
    };
    apply_update(ctx, db, user, origin, id, body).await
}

async fn apply_update(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: String,
    body: UpdateUser,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    if let Some(role) = &body.role {
        // The live roles of the caller's tenant: custom ones included.
        if !user.policy().has_role(role) {
            return Err(ApiError::field("role", format!("unknown role `{role}`")));
        }
    }
    if let Some(e) = &body.email {
        validate_email(e)?;
    }
    if let Some(n) = &body.full_name {
        validate_full_name(n)?;
    }
    if body.role.is_none()
        && body.email.is_none()
        && body.full_name.is_none()
        && body.active.is_none()
        && body.unlock.is_none()
        && body.password.is_none()
    {
        return Err(ApiError::validation("nothing to change"));
    }
    let new_hash = match &body.password {
        Some(pw) => Some(reset_hash(&ctx, &db, &user, &id, pw.clone()).await?),
        None => None,
    };
    let unlocks = (body.unlock == Some(true)).then(|| id.clone());
    let admin_role = ctx.policy.admin_role().to_string();
    let gate = ctx.gate;
    let live = ctx.policy.clone();
    let updated = db
        .write(move |c| {
            let target = store::get_in_tenant(c, &user.tenant_id, &id).map_err(not_found_user)?;
            let (policy, _) = live.load(c, &user.tenant_id)?;
            if let Some(role) = &body.role {
                if !policy.has_role(role) {
                    return Err(ApiError::field("role", format!("unknown role `{role}`")));
                }
            }
            // Reactivating an account counts against the tenant's limits
            // like creating one.
            if let (Some(gate), Some(true), false) = (gate, body.active, target.active) {
                let role = body.role.as_deref().unwrap_or(&target.role);
                gate.check_new_account(c, &user.tenant_id, role)?;
            }
            let touches_admin = admin_like(&policy, &admin_role, &target.role)
                || body
                    .role
                    .as_deref()
                    .is_some_and(|r| admin_like(&policy, &admin_role, r));
            if touches_admin && !user.is_admin() {
                return Err(ApiError::Forbidden(
                    "only an admin may change an admin or grant the admin role (or a role that manages roles)".into(),
                ));
            }
            if let Some(e) = &body.email {
                let own_name = e == &target.username;
                if !own_name && store::login_name_taken(c, &user.tenant_id, e, Some(&target.id))? {
                    return Err(ApiError::Conflict(
                        "that e-mail is taken (as an e-mail or a username)".into(),
                    ));
                }
            }
            let role_changes = body.role.as_ref().is_some_and(|r| r != &target.role);
            let removes = role_changes || body.active == Some(false);
            if target.id == user.id && removes {
                return Err(ApiError::Warning {
                    code: "OWN_ACCOUNT",
                    message: "you cannot change your own role or deactivate yourself".into(),
                    details: json!({ "user": target.id }),
                });
            }
            // However it came about, the tenant keeps one active admin.
            if removes
                && target.role == admin_role
                && target.active
                && roles_store::active_holders_except(c, &user.tenant_id, &admin_role, &target.id)?
                    == 0
            {
                return Err(ApiError::Warning {
                    code: "LAST_ADMIN",
                    message: "this is the last active admin: make another admin first".into(),
                    details: json!({ "user": target.id }),
                });
            }
            let changes = UserChanges {
                role: body.role.clone(),
                email: body.email.clone(),
                full_name: body.full_name.clone(),
                active: body.active,
                locked_until: body.unlock.filter(|u| *u).map(|_| None),
                failed_logins: body.unlock.filter(|u| *u).map(|_| 0),
                updated_at: Some(now()),
            };
            store::update(c, &user.tenant_id, &id, &changes)?;
            if let Some(hash) = &new_hash {
                store::set_password(c, &id, hash, "password_reset")?;
                store::require_password_change(c, &id)?;
            }
            // Whoever held a token of this account before a reset, a
            // deactivation or a role change must log in again (a later
            // reactivation or role change back must not revive old tokens).
            if body.active == Some(false) {
                store::end_sessions(c, &id, "deactivated")?;
            } else if role_changes {
                store::end_sessions(c, &id, "role_change")?;
            }
            let updated = store::get_in_tenant(c, &user.tenant_id, &id)?;
            let action = match body.active {
                Some(false) => "user.deactivate",
                Some(true) if body.role.is_none() => "user.activate",
                _ => "user.update",
            };
            let mut fields = Vec::new();
            for (name, set) in [
                ("role", body.role.is_some()),
                ("email", body.email.is_some()),
                ("full_name", body.full_name.is_some()),
                ("active", body.active.is_some()),
                ("unlock", body.unlock.is_some()),
                ("password", body.password.is_some()),
            ] {
                if set {
                    fields.push(name);
                }
            }
            let event = Event::new(&user.id, &user.role, action, &format!("user:{id}"))
                .tenant(user.tenant())
                .details(
                    json!({ "fields": fields, "old_role": target.role, "new_role": updated.role }),
                );
            audit::append(c, &event, &origin)?;
            Ok(updated)
        })
        .await?;
    if let Some(id) = unlocks {
        // Only once the unlock is authorized and committed.
        ctx.pair_throttle.forget_account(&id);
    }
    Ok(response::ok(UserView::from(&updated)))
}

/// Whether `role` is the admin role or may manage roles (so only an admin
/// may grant it or change its holders).
fn admin_like(policy: &crate::rbac::Policy, admin_role: &str, role: &str) -> bool {
    role == admin_role || policy.allows(role, CorePermission::RolesManage.name())
}

/// Check an admin-set password against the policy (for the target's
/// username) and hash it.
async fn reset_hash(
    ctx: &web::Data<AuthContext>,
    db: &web::Data<Db>,
    user: &AuthUser,
    id: &str,
    password: String,
) -> ApiResult<String> {
    let (tenant, target) = (user.tenant_id.clone(), id.to_string());
    let target = db
        .run(move |c| store::get_in_tenant(c, &tenant, &target))
        .await
        .map_err(not_found_user)?;
    crate::auth::password::check_policy(&password, &target.username)?;
    let cost = ctx.bcrypt_cost;
    web::block(move || crate::auth::password::hash(&password, cost)).await?
}

#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), summary = "Read the audit log (audit.read; a hospital admin sees their tenant only)",
    params(Filter), responses((status = 200, description = "A page of audit rows, oldest first", body = Vec<crate::audit::AuditRow>)))]
async fn list_audit(
    db: web::Data<Db>,
    user: AuthUser,
    query: web::Query<Filter>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::AuditRead)?;
    let mut filter = query.into_inner();
    if let Some(t) = user.tenant() {
        // A hospital admin sees their own tenant's rows only.
        filter.tenant_id = Some(t.to_string());
    }
    let page = Page::of(filter.page, filter.page_size)?;
    let (rows, total) = db.run(move |c| audit::list(c, &filter, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/audit/verify", tag = "audit", security(("bearer" = [])), summary = "Walk the audit chain (audit.read; not for tenant admins)",
    responses((status = 200, description = "What the walk found", body = crate::audit::Verification)))]
async fn verify_audit(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require(CorePermission::AuditRead)?;
    if user.tenant().is_some() {
        // The chain spans every tenant of a hosted database.
        return Err(ApiError::Forbidden(
            "chain verification is an operator task (bulkhead audit verify)".into(),
        ));
    }
    let report = db.run(audit::verify).await?;
    Ok(response::ok(report))
}
