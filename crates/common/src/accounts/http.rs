//! Handlers of `…/auth/*`, `…/users*` and `…/audit*`, mounted by every
//! server under its API prefix.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::store::{self, NewUser, UserChanges, UserFilter, UserView};
use crate::audit::{self, Event, Filter, Origin, Severity};
use crate::auth::{password, AuthContext, AuthUser, TenantRule};
use crate::db::{now, Db};
use crate::error::{ApiError, ApiResult};
use crate::rbac::CorePermission;
use crate::response::{self, Page};
use crate::security::{self, NewEvent};

/// Mount the account routes (inside the server's API scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/auth/login").route(web::post().to(login)))
        .service(resource("/auth/logout").route(web::post().to(logout)))
        .service(resource("/auth/me").route(web::get().to(me)))
        .service(resource("/auth/password").route(web::post().to(change_password)))
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
        .service(resource("/audit/verify").route(web::get().to(verify_audit)));
}

/// Usernames: 3–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(u: &str) -> ApiResult<()> {
    if u.len() < 3 || u.len() > 64 {
        return Err(ApiError::field("username", "must be 3 to 64 characters"));
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
    {
        return Err(ApiError::field(
            "username",
            "may hold only letters, digits, '.', '_', '-' and '@'",
        ));
    }
    Ok(())
}

fn validate_email(e: &str) -> ApiResult<()> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("email", "is not a valid e-mail address"))
    }
}

fn validate_full_name(n: &str) -> ApiResult<()> {
    if n.trim().is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "full_name",
            "must be 1 to 200 printable characters",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
    tenant_id: Option<String>,
}

const BAD_LOGIN: &str = "invalid username or password";

async fn login(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    origin: Origin,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    if let (Some(limiter), Some(ip)) = (&ctx.login_limiter, origin.ip.as_deref()) {
        if !limiter.allow(ip) {
            tracing::warn!(ip, "login rate limit reached");
            return Err(ApiError::RateLimited(
                "too many login attempts from this address; wait a minute".into(),
            ));
        }
    }
    let LoginRequest {
        username,
        password,
        tenant_id,
    } = body.into_inner();
    if username.is_empty() || username.len() > 254 {
        return Err(ApiError::field("username", "must be 1 to 254 characters"));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::field("password", "must be 1 to 1024 characters"));
    }
    let tenant: Option<String> = match (&ctx.tenants, tenant_id) {
        (TenantRule::None, Some(_)) => {
            return Err(ApiError::field("tenant_id", "this server has no tenants"))
        }
        (TenantRule::None, None) => Some(String::new()),
        (TenantRule::Pinned(t), Some(asked)) if &asked != t => {
            return Err(ApiError::Unauthenticated(BAD_LOGIN.into()));
        }
        (TenantRule::Pinned(t), _) => Some(t.clone()),
        (TenantRule::Hosted, asked) => asked,
    };
    let login_name = username.clone();
    let t = tenant.clone();
    let candidates = db
        .run(move |c| store::find_for_login(c, &login_name, t.as_deref()))
        .await?;
    let audit_tenant = tenant.clone().filter(|t| !t.is_empty());
    let failed = |db: web::Data<Db>,
                  user: Option<store::User>,
                  reason: &'static str,
                  ctx: web::Data<AuthContext>,
                  origin: Origin| async move {
        let actor = user
            .as_ref()
            .map(|u| u.id.clone())
            .unwrap_or_else(|| username_for_audit(&username));
        let tenant = user.as_ref().map(|u| u.tenant_id.clone()).or(audit_tenant);
        db.write(move |c| {
            let mut locked_now = false;
            if let Some(u) = &user {
                if reason == "bad_password" {
                    locked_now =
                        store::record_failure(c, u, ctx.lockout_threshold, ctx.lockout_minutes)?;
                }
            }
            let event = Event::new(&actor, "anonymous", "auth.login", "session")
                .outcome("failure")
                .severity(Severity::Warning)
                .tenant(tenant.as_deref())
                .details(json!({ "reason": reason }));
            audit::append(c, &event, &origin)?;
            let ip = json!(origin.ip);
            security::record(
                c,
                &NewEvent::new(
                    "auth.login_failed",
                    Severity::Warning,
                    &actor,
                    tenant.as_deref(),
                    json!({ "reason": reason, "ip": ip }),
                ),
            )?;
            if locked_now {
                let event = Event::new(&actor, "anonymous", "auth.lockout", "session")
                    .outcome("failure")
                    .severity(Severity::Critical)
                    .tenant(tenant.as_deref())
                    .details(json!({ "minutes": ctx.lockout_minutes }));
                audit::append(c, &event, &origin)?;
                security::record(
                    c,
                    &NewEvent::new(
                        "auth.lockout",
                        Severity::Critical,
                        &actor,
                        tenant.as_deref(),
                        json!({ "minutes": ctx.lockout_minutes, "ip": ip }),
                    ),
                )?;
            }
            Ok(())
        })
        .await?;
        Err::<HttpResponse, ApiError>(ApiError::Unauthenticated(BAD_LOGIN.into()))
    };
    let user = match candidates.len() {
        0 => {
            let cost = ctx.bcrypt_cost;
            web::block(move || password::dummy_verify(&password, cost)).await?;
            return failed(db, None, "unknown_user", ctx, origin).await;
        }
        1 => candidates
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Unauthenticated(BAD_LOGIN.into()))?,
        _ => {
            return Err(ApiError::field(
                "tenant_id",
                "several accounts match; give tenant_id",
            ))
        }
    };
    if user.locked_until.is_some_and(|t| t > now()) {
        return failed(db, Some(user), "locked", ctx, origin).await;
    }
    let hash = user.password_hash.clone();
    let matches = web::block(move || password::verify(&password, &hash)).await?;
    if !matches {
        return failed(db, Some(user), "bad_password", ctx, origin).await;
    }
    if !user.active {
        return failed(db, Some(user), "inactive", ctx, origin).await;
    }
    let (token, claims) = ctx
        .keys
        .issue(&user.id, &user.role, Some(&user.tenant_id))?;
    let (uid, role, tenant) = (user.id.clone(), user.role.clone(), user.tenant_id.clone());
    let jti = claims.jti.clone();
    db.write(move |c| {
        store::record_success(c, &uid)?;
        let event = Event::new(&uid, &role, "auth.login", "session")
            .tenant(Some(&tenant))
            .details(json!({ "jti": jti }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await?;
    let mut user_json = json!({ "id": user.id, "username": user.username, "role": user.role });
    if !user.tenant_id.is_empty() {
        user_json["tenant_id"] = json!(user.tenant_id);
    }
    Ok(response::ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ctx.keys.ttl_secs(),
        "user": user_json,
        "must_change_password": user.must_change_password,
    })))
}

/// An unknown login name, shortened so the audit row cannot be flooded.
fn username_for_audit(name: &str) -> String {
    let short: String = name.chars().take(64).collect();
    format!("unknown:{short}")
}

async fn logout(db: web::Data<Db>, user: AuthUser, origin: Origin) -> ApiResult<HttpResponse> {
    let expires = chrono::DateTime::from_timestamp(user.expires_at, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_else(now);
    db.write(move |c| {
        store::revoke(c, &user.jti, expires)?;
        let event = Event::new(&user.id, &user.role, "auth.logout", "session")
            .tenant(user.tenant())
            .details(json!({ "jti": user.jti }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await?;
    Ok(response::ok(json!({ "logged_out": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Any user changes their own password (and clears `must_change_password`).
async fn change_password(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<ChangePassword>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    if body.current_password.len() > 1024 {
        return Err(ApiError::field("current_password", "is wrong"));
    }
    password::check_policy(&body.new_password, &user.username)?;
    if body.new_password == body.current_password {
        return Err(ApiError::field(
            "new_password",
            "must differ from the current one",
        ));
    }
    let (uid, tenant) = (user.id.clone(), user.tenant_id.clone());
    let stored = db
        .run(move |c| store::get_in_tenant(c, &tenant, &uid))
        .await?;
    let (current, hash) = (body.current_password, stored.password_hash);
    if !web::block(move || password::verify(&current, &hash)).await? {
        return Err(ApiError::field("current_password", "is wrong"));
    }
    let cost = ctx.bcrypt_cost;
    let new = body.new_password;
    let new_hash = web::block(move || password::hash(&new, cost)).await??;
    db.write(move |c| {
        store::set_password(c, &user.id, &new_hash)?;
        let event = Event::new(
            &user.id,
            &user.role,
            "auth.password_change",
            &format!("user:{}", user.id),
        )
        .tenant(user.tenant());
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await?;
    Ok(response::ok(json!({ "changed": true })))
}

async fn me(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    let u = db
        .run(move |c| store::get_in_tenant(c, &user.tenant_id, &user.id))
        .await?;
    Ok(response::ok(UserView::from(&u)))
}

async fn list_users(
    db: web::Data<Db>,
    user: AuthUser,
    query: web::Query<UserFilter>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    let filter = query.into_inner();
    let page = Page::of(filter.page, filter.page_size)?;
    let (rows, total) = db
        .run(move |c| store::list(c, &user.tenant_id, &filter, &page))
        .await?;
    let views: Vec<UserView> = rows.iter().map(UserView::from).collect();
    Ok(response::page(views, &page, total))
}

async fn get_user(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    let id = id.into_inner();
    let u = db
        .run(move |c| store::get_in_tenant(c, &user.tenant_id, &id))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    username: String,
    password: String,
    role: String,
    email: Option<String>,
    full_name: Option<String>,
}

async fn create_user(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    user.require(CorePermission::UsersManage)?;
    let body = body.into_inner();
    validate_username(&body.username)?;
    if !ctx.policy.has_role(&body.role) {
        let roles: Vec<&str> = ctx.policy.roles().collect();
        return Err(ApiError::Validation {
            message: format!("role: unknown role `{}`", body.role),
            details: Some(json!({ "field": "role", "allowed": roles })),
        });
    }
    if body.role == ctx.policy.admin_role() && !user.is_admin() {
        return Err(ApiError::Forbidden(
            "only an admin may create an admin".into(),
        ));
    }
    if let Some(e) = &body.email {
        validate_email(e)?;
    }
    if let Some(n) = &body.full_name {
        validate_full_name(n)?;
    }
    password::check_policy(&body.password, &body.username)?;
    let cost = ctx.bcrypt_cost;
    let pw = body.password.clone();
    let hash = web::block(move || password::hash(&pw, cost)).await??;
    let mut new = NewUser::new(&user.tenant_id, &body.username, hash, &body.role);
    new.email = body.email;
    new.full_name = body.full_name;
    let created = db
        .write(move |c| {
            if store::username_exists(c, &new.tenant_id, &new.username)? {
                return Err(ApiError::Conflict("that username is taken".into()));
            }
            store::insert(c, &new)?;
            let event = Event::new(
                &user.id,
                &user.role,
                "user.create",
                &format!("user:{}", new.id),
            )
            .tenant(user.tenant())
            .details(json!({ "username": new.username, "role": new.role }));
            audit::append(c, &event, &origin)?;
            store::get_in_tenant(c, &new.tenant_id, &new.id)
        })
        .await?;
    Ok(response::created(UserView::from(&created)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    role: Option<String>,
    email: Option<String>,
    full_name: Option<String>,
    active: Option<bool>,
    unlock: Option<bool>,
}

async fn update_user(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<UpdateUser>,
) -> ApiResult<HttpResponse> {
    apply_update(ctx, db, user, origin, id.into_inner(), body.into_inner()).await
}

/// `POST …/users/{id}/activate` and `…/deactivate`: PATCH `active` by another name.
async fn set_active(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, switch) = path.into_inner();
    let body = UpdateUser {
        active: Some(switch == "activate"),
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
        if !ctx.policy.has_role(role) {
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
    {
        return Err(ApiError::validation("nothing to change"));
    }
    let admin_role = ctx.policy.admin_role().to_string();
    let updated = db
        .write(move |c| {
            let target = store::get_in_tenant(c, &user.tenant_id, &id).map_err(not_found_user)?;
            let touches_admin =
                target.role == admin_role || body.role.as_deref() == Some(admin_role.as_str());
            if touches_admin && !user.is_admin() {
                return Err(ApiError::Forbidden(
                    "only an admin may change an admin or grant the admin role".into(),
                ));
            }
            let demotes_self = body.role.as_ref().is_some_and(|r| r != &target.role);
            if target.id == user.id && (demotes_self || body.active == Some(false)) {
                return Err(ApiError::Conflict(
                    "you cannot change your own role or deactivate yourself".into(),
                ));
            }
            let changes = UserChanges {
                role: body.role.clone(),
                email: body.email.clone(),
                full_name: body.full_name.clone(),
                active: body.active,
                locked_until: body.unlock.filter(|u| *u).map(|_| None),
                updated_at: Some(now()),
            };
            let updated = store::update(c, &user.tenant_id, &id, &changes)?;
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
    Ok(response::ok(UserView::from(&updated)))
}

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
