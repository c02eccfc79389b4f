//! Roles and permissions by API (`…/permissions`, `…/roles*`), mounted by
//! every server under its API prefix, guarded by `roles.manage`.
//!
//! A role is built in (compiled, or added by the `[rbac.roles]`
//! configuration) or custom (created here). Changing a built-in role stores
//! an override; deleting a custom role removes it (refused while a user holds
//! it); deleting a built-in role resets it to its default (refused when it
//! has no override). Everything is per tenant on a hosted hospital. Each
//! change is one audit row with the permission sets before and after, and
//! applies to every request from then on (tokens issued earlier included):
//! see [`crate::rbac::LivePolicy`].

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::roles_store as store;
use crate::audit::{self, Event, Origin};
use crate::auth::{AuthContext, AuthUser};
use crate::db::{Db, Page, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{valid_role_name, CorePermission, LivePolicy, Permission, Policy};
use crate::response;

/// Mount the roles routes (inside the server's API scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/permissions").route(web::get().to(list_permissions)))
        .service(
            resource("/roles")
                .route(web::get().to(list_roles))
                .route(web::post().to(create_role)),
        )
        .service(
            resource("/roles/{name}")
                .route(web::get().to(get_role))
                .route(web::patch().to(change_role))
                .route(web::delete().to(delete_role)),
        );
}

/// A permission the server checks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PermissionView {
    /// Its name (`area.action`).
    pub name: String,
    /// Its area (the part before the dot).
    pub area: String,
    /// What it allows.
    pub description: String,
    /// The roles holding it now (in the caller's tenant).
    pub roles: Vec<String>,
}

/// A role with its permissions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    /// Role name.
    pub name: String,
    /// Its permissions now, by name.
    pub permissions: Vec<String>,
    /// Built in (compiled or configured) rather than created through the API.
    pub builtin: bool,
    /// A built-in role whose permissions were changed through the API.
    pub overridden: bool,
    /// A built-in role's default permissions (absent for a custom role).
    pub default_permissions: Option<Vec<String>>,
    /// Whether it is the server's admin role.
    pub admin: bool,
    /// How many users (active or not) hold it.
    pub users: i64,
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// 1 to 64 lower-case letters and `_`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[a-z_]+$")]
    pub name: String,
    /// Permission names, each one `GET …/permissions` lists.
    #[schema(max_items = 200)]
    pub permissions: Vec<String>,
}

/// A role's new permission set (replaces the old one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// Permission names, each one `GET …/permissions` lists.
    #[schema(max_items = 200)]
    pub permissions: Vec<String>,
}

/// What a delete did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDeleted {
    /// Role name.
    pub name: String,
    /// `deleted` (a custom role) or `reset` (a built-in role back to its default).
    pub outcome: String,
}

/// The view of every role of `policy` (the caller's tenant's, now).
pub fn views(live: &LivePolicy, policy: &Policy, holders: &[(String, i64)]) -> Vec<RoleView> {
    let counts: BTreeMap<&str, i64> = holders.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    policy
        .roles()
        .map(|name| view(live, policy, name, counts.get(name).copied().unwrap_or(0)))
        .collect()
}

fn view(live: &LivePolicy, policy: &Policy, name: &str, users: i64) -> RoleView {
    let permissions: Vec<String> = policy
        .permissions_of(name)
        .into_iter()
        .map(str::to_string)
        .collect();
    let builtin = live.is_builtin(name);
    let default_permissions = builtin.then(|| {
        live.base()
            .permissions_of(name)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    RoleView {
        name: name.to_string(),
        overridden: default_permissions
            .as_ref()
            .is_some_and(|d| d != &permissions),
        permissions,
        builtin,
        default_permissions,
        admin: name == live.admin_role(),
        users,
    }
}

/// Every permission the server checks, with the roles holding each now.
pub fn permission_views(live: &LivePolicy, policy: &Policy) -> Vec<PermissionView> {
    live.known()
        .iter()
        .map(|p| PermissionView {
            name: p.to_string(),
            area: p.split('.').next().unwrap_or(p).to_string(),
            description: live.description(p).to_string(),
            roles: policy
                .roles()
                .filter(|r| policy.allows(r, p))
                .map(str::to_string)
                .collect(),
        })
        .collect()
}

/// The one rule of the roles API and page: only `roles.manage` works on
/// roles and permissions.
pub fn require_manager(user: &AuthUser) -> ApiResult<()> {
    user.require(CorePermission::RolesManage)
}

/// [`require_manager`] as a yes/no, for the pages' navigation.
pub fn may_manage(user: &AuthUser) -> bool {
    require_manager(user).is_ok()
}

#[utoipa::path(get, path = "/permissions", tag = "roles", security(("bearer" = [])),
    summary = "Every permission this server checks, with the roles holding each (roles.manage)",
    responses((status = 200, description = "The permissions", body = Vec<PermissionView>),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage")))]
pub(super) async fn list_permissions(
    ctx: web::Data<AuthContext>,
    user: AuthUser,
) -> ApiResult<HttpResponse> {
    require_manager(&user)?;
    Ok(response::ok(permission_views(&ctx.policy, user.policy())))
}

/// Every role of the caller's tenant with its holders (shared with the page).
pub async fn all_roles(ctx: &AuthContext, db: &Db, user: &AuthUser) -> ApiResult<Vec<RoleView>> {
    require_manager(user)?;
    let (live, tenant) = (ctx.policy.clone(), user.tenant_id.clone());
    let (policy, holders) = db
        .run(move |c| Ok((live.load(c, &tenant)?.0, store::holders(c, &tenant)?)))
        .await?;
    Ok(views(&ctx.policy, &policy, &holders))
}

#[utoipa::path(get, path = "/roles", tag = "roles", security(("bearer" = [])),
    summary = "Every role with its permissions, kind and number of holders (roles.manage)",
    params(PageQuery),
    responses((status = 200, description = "A page of roles, by name", body = Vec<RoleView>),
        (status = 400, description = "Bad page or page size"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage")))]
pub(super) async fn list_roles(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page::from_query(&query)?;
    // all_roles asks require_manager first.
    let all = all_roles(&ctx, &db, &user).await?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(page.page_size).unwrap_or(0);
    let items: Vec<RoleView> = all.into_iter().skip(skip).take(take).collect();
    Ok(response::page(items, &page, total))
}

/// One role of the caller's tenant (shared with the page).
pub async fn one_role(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    name: &str,
) -> ApiResult<RoleView> {
    require_manager(user)?;
    let (live, tenant, n) = (ctx.policy.clone(), user.tenant_id.clone(), name.to_string());
    let (policy, users) = db
        .run(move |c| Ok((live.load(c, &tenant)?.0, store::holders_of(c, &tenant, &n)?)))
        .await?;
    if !policy.has_role(name) {
        return Err(no_such_role());
    }
    Ok(view(&ctx.policy, &policy, name, users))
}

#[utoipa::path(get, path = "/roles/{name}", tag = "roles", security(("bearer" = [])),
    summary = "One role (roles.manage)",
    params(("name" = String, Path, description = "Role name")),
    responses((status = 200, description = "The role", body = RoleView),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage"),
        (status = 404, description = "No such role")))]
pub(super) async fn get_role(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let role = one_role(&ctx, &db, &user, &name).await?;
    Ok(response::ok(role))
}

fn no_such_role() -> ApiError {
    ApiError::NotFound("no such role".into())
}

/// The permission set asked for, checked against what the server knows:
/// sorted and without repeats.
fn checked_permissions(live: &LivePolicy, asked: &[String]) -> ApiResult<Vec<String>> {
    let known = live.known();
    if asked.len() > 200 {
        return Err(ApiError::field("permissions", "at most 200 names"));
    }
    let unknown: Vec<&str> = asked
        .iter()
        .map(String::as_str)
        .filter(|p| !known.contains(p))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation {
            message: format!("permissions: unknown permission `{}`", unknown.join("`, `")),
            details: Some(json!({ "field": "permissions", "unknown": unknown, "allowed": known })),
        });
    }
    let mut set = asked.to_vec();
    set.sort();
    set.dedup();
    Ok(set)
}

/// The admin role keeps what lets it manage roles and users, or nobody could.
fn guard_admin_role(live: &LivePolicy, name: &str, set: &[String]) -> ApiResult<()> {
    if name != live.admin_role() {
        return Ok(());
    }
    let must = [
        CorePermission::RolesManage.name(),
        CorePermission::UsersManage.name(),
    ];
    let missing: Vec<&str> = must
        .into_iter()
        .filter(|m| !set.iter().any(|p| p == m))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::Warning {
        code: "ADMIN_ROLE_PROTECTED",
        message: format!(
            "the admin role must keep {} (else nobody could manage roles or users)",
            missing.join(" and ")
        ),
        details: json!({ "role": name, "missing": missing }),
    })
}

/// What a change hands back to [`commit`]: the audit action, its
/// details, and the handler's own result.
type Change<T> = (&'static str, serde_json::Value, T);

/// Commit a change of the caller's tenant's roles made by `write` (given
/// the tenant and its roles now), raise the tenant's version, write the
/// audit row, and make the result this process's policy at once.
async fn commit<T, F>(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    name: &str,
    write: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn, &str, &Policy) -> ApiResult<Change<T>> + Send + 'static,
{
    let live = ctx.policy.clone();
    let (tenant, actor, role, name) = (
        user.tenant_id.clone(),
        user.id.clone(),
        user.role.clone(),
        name.to_string(),
    );
    let t2 = tenant.clone();
    let (policy, version, out) = db
        .write(move |c| {
            let (current, _) = live.load(c, &tenant)?;
            let (action, details, out) = write(c, &tenant, &current)?;
            store::bump_version(c, &tenant)?;
            let event = Event::new(&actor, &role, action, &format!("role:{name}"))
                .tenant(Some(tenant.as_str()).filter(|t| !t.is_empty()))
                .details(details);
            audit::append(c, &event, &origin)?;
            let (next, version) = live.load(c, &tenant)?;
            Ok((next, version, out))
        })
        .await?;
    ctx.policy.install(&t2, policy, version);
    Ok(out)
}

fn perms_of(policy: &Policy, role: &str) -> Vec<String> {
    policy
        .permissions_of(role)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Create a role by the API's rules (shared with the page).
pub async fn create(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    body: NewRole,
) -> ApiResult<RoleView> {
    require_manager(user)?;
    if !valid_role_name(&body.name) {
        return Err(ApiError::field(
            "name",
            "1 to 64 lower-case letters and `_`",
        ));
    }
    let set = checked_permissions(&ctx.policy, &body.permissions)?;
    let name = body.name;
    let n = name.clone();
    commit(ctx, db, user, origin, &name, move |c, tenant, current| {
        if current.has_role(&n) {
            return Err(ApiError::Warning {
                code: "ROLE_EXISTS",
                message: format!("a role `{n}` exists"),
                details: json!({ "role": n }),
            });
        }
        store::put(c, tenant, &n, &set)?;
        Ok(("role.create", json!({ "before": null, "after": set }), ()))
    })
    .await?;
    one_role(ctx, db, user, &name).await
}

#[utoipa::path(post, path = "/roles", tag = "roles", security(("bearer" = [])),
    summary = "Create a role with a chosen set of permissions (roles.manage)",
    request_body = NewRole,
    responses((status = 201, description = "Created", body = RoleView),
        (status = 400, description = "A bad name or an unknown permission"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage"),
        (status = 409, description = "ROLE_EXISTS: a role of that name exists")))]
pub(super) async fn create_role(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<NewRole>,
) -> ApiResult<HttpResponse> {
    let role = create(&ctx, &db, &user, origin, body.into_inner()).await?;
    Ok(response::created(role))
}

/// Replace a role's permissions by the API's rules (shared with the page).
pub async fn change(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    name: &str,
    body: RoleChange,
) -> ApiResult<RoleView> {
    require_manager(user)?;
    let set = checked_permissions(&ctx.policy, &body.permissions)?;
    guard_admin_role(&ctx.policy, name, &set)?;
    let n = name.to_string();
    commit(ctx, db, user, origin, name, move |c, tenant, current| {
        if !current.has_role(&n) {
            return Err(no_such_role());
        }
        let before = perms_of(current, &n);
        store::put(c, tenant, &n, &set)?;
        Ok(("role.update", json!({ "before": before, "after": set }), ()))
    })
    .await?;
    one_role(ctx, db, user, name).await
}

#[utoipa::path(patch, path = "/roles/{name}", tag = "roles", security(("bearer" = [])),
    summary = "Replace a role's permissions (roles.manage); a built-in role's change is stored as an override",
    params(("name" = String, Path, description = "Role name")),
    request_body = RoleChange,
    responses((status = 200, description = "The changed role", body = RoleView),
        (status = 400, description = "An unknown permission"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage"),
        (status = 404, description = "No such role"),
        (status = 409, description = "ADMIN_ROLE_PROTECTED: the admin role must keep roles.manage and users.manage")))]
pub(super) async fn change_role(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    name: web::Path<String>,
    body: web::Json<RoleChange>,
) -> ApiResult<HttpResponse> {
    let role = change(&ctx, &db, &user, origin, &name, body.into_inner()).await?;
    Ok(response::ok(role))
}

/// Delete a custom role, or reset a built-in one (shared with the page).
pub async fn delete(
    ctx: &AuthContext,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    name: &str,
) -> ApiResult<RoleDeleted> {
    require_manager(user)?;
    let builtin = ctx.policy.is_builtin(name);
    let default = perms_of(ctx.policy.base(), name);
    if builtin {
        guard_admin_role(&ctx.policy, name, &default)?;
    }
    let n = name.to_string();
    commit(ctx, db, user, origin, name, move |c, tenant, current| {
        if !current.has_role(&n) {
            return Err(no_such_role());
        }
        let before = perms_of(current, &n);
        if builtin {
            if !store::delete(c, tenant, &n)? {
                return Err(ApiError::Warning {
                    code: "ROLE_BUILTIN",
                    message: format!(
                        "`{n}` is a built-in role with its default permissions: there is nothing to reset and it cannot be deleted"
                    ),
                    details: json!({ "role": n }),
                });
            }
            return Ok((
                "role.reset",
                json!({ "before": before, "after": default }),
                "reset",
            ));
        }
        let users = store::holders_of(c, tenant, &n)?;
        if users > 0 {
            return Err(ApiError::Warning {
                code: "ROLE_IN_USE",
                message: format!(
                    "{users} user(s) hold `{n}`: give them another role first"
                ),
                details: json!({ "role": n, "users": users }),
            });
        }
        store::delete(c, tenant, &n)?;
        Ok((
            "role.delete",
            json!({ "before": before, "after": null }),
            "deleted",
        ))
    })
    .await
    .map(|outcome| RoleDeleted {
        name: name.to_string(),
        outcome: outcome.to_string(),
    })
}

#[utoipa::path(delete, path = "/roles/{name}", tag = "roles", security(("bearer" = [])),
    summary = "Delete a custom role, or reset a built-in role's permissions to its default (roles.manage)",
    params(("name" = String, Path, description = "Role name")),
    responses((status = 200, description = "Deleted or reset", body = RoleDeleted),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks roles.manage"),
        (status = 404, description = "No such role"),
        (status = 409, description = "ROLE_IN_USE: a user holds the custom role; ROLE_BUILTIN: a built-in role without an override; ADMIN_ROLE_PROTECTED: the admin role's default would lose roles.manage or users.manage")))]
pub(super) async fn delete_role(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let done = delete(&ctx, &db, &user, origin, &name).await?;
    Ok(response::ok(done))
}
