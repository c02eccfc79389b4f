//! Commands for a tenant's hospital: `POST …/tenants/{id}/users` queues a
//! "create user", `POST …/tenants/{id}/sync` a "sync now" (ship the online
//! copy), `GET …/tenants/{id}/commands` shows what became of each.
//! The hospital fetches them in its heartbeat answer, applies each id once
//! and reports the result in a later heartbeat.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use common::accounts::validate::{validate_email, validate_full_name, validate_username};
use common::audit::{self, Event, Origin};
use common::auth::{password, AuthContext, AuthUser};
use common::db::{now, Db, DbConn, Page};
use common::response::{self, PageQuery};
use common::{ApiError, ApiResult};
use contracts::{CommandResult, CreateUserCommand, OwnerCommand};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store;
use crate::schema::tenant_commands;
use crate::OwnerPermission as P;

/// Commands handed over per heartbeat.
pub const PER_HEARTBEAT: i64 = 50;
/// The kind of a "ship the online copy now" command.
pub const SYNC_NOW: &str = "sync_now";

/// Mount the routes (`POST …/users` is mounted with `GET …/users` in
/// `http.rs`: one resource per path).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use common::http::resource;
    cfg.service(resource("/tenants/{id}/commands").route(web::get().to(list)))
        .service(resource("/tenants/{id}/sync").route(web::post().to(sync_now)));
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenant_commands)]
struct Row {
    id: String,
    tenant_id: String,
    kind: String,
    payload: String,
    status: String,
    result: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
    delivered_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
}

/// A command as the owner operator sees it (no password hash).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct Command {
    /// UUID.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// `create_user` or `sync_now`.
    pub kind: String,
    /// `pending` (not yet reported), `done`, `failed`.
    pub status: String,
    /// What it asks (a create_user: username, role, e-mail, name; a
    /// sync_now: nothing).
    #[schema(value_type = Object)]
    pub request: Value,
    /// The hospital's report (`user_id`, or `code` and `message`).
    #[schema(value_type = Object)]
    pub result: Option<Value>,
    /// Who queued it.
    pub created_by: String,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// First handed to the hospital.
    pub delivered_at: Option<NaiveDateTime>,
    /// Result received.
    pub completed_at: Option<NaiveDateTime>,
}

impl From<Row> for Command {
    fn from(r: Row) -> Self {
        let mut request: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
        if let Some(o) = request.as_object_mut() {
            o.remove("password_hash");
        }
        Self {
            request,
            result: r.result.and_then(|s| serde_json::from_str(&s).ok()),
            id: r.id,
            tenant_id: r.tenant_id,
            kind: r.kind,
            status: r.status,
            created_by: r.created_by,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            completed_at: r.completed_at,
        }
    }
}

/// Pending commands of `tenant`, oldest first, marked delivered.
pub fn pending(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<OwnerCommand>> {
    let rows: Vec<Row> = tenant_commands::table
        .filter(tenant_commands::tenant_id.eq(tenant))
        .filter(tenant_commands::status.eq("pending"))
        .order((tenant_commands::created_at.asc(), tenant_commands::id.asc()))
        .limit(PER_HEARTBEAT)
        .select(Row::as_select())
        .load(conn)?;
    let t = now();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if r.delivered_at.is_none() {
            diesel::update(tenant_commands::table.filter(tenant_commands::id.eq(&r.id)))
                .set(tenant_commands::delivered_at.eq(Some(t)))
                .execute(conn)?;
        }
        let create_user = match r.kind.as_str() {
            "create_user" => serde_json::from_str::<CreateUserCommand>(&r.payload).ok(),
            _ => None,
        };
        out.push(OwnerCommand {
            id: r.id,
            kind: r.kind,
            create_user,
        });
    }
    Ok(out)
}

/// Which of `ids` belong to a tenant other than `tenant`.
pub fn foreign(conn: &mut DbConn, tenant: &str, ids: &[String]) -> ApiResult<i64> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(tenant_commands::table
        .filter(tenant_commands::id.eq_any(ids))
        .filter(tenant_commands::tenant_id.ne(tenant))
        .count()
        .get_result(conn)?)
}

/// Record the hospital's results (only for its own tenant's pending commands).
pub fn complete(conn: &mut DbConn, tenant: &str, results: &[CommandResult]) -> ApiResult<()> {
    let t = now();
    for r in results {
        let status = if r.ok { "done" } else { "failed" };
        let result = json!({ "user_id": r.user_id, "code": r.code, "message": r.message });
        diesel::update(
            tenant_commands::table
                .filter(tenant_commands::id.eq(&r.id))
                .filter(tenant_commands::tenant_id.eq(tenant))
                .filter(tenant_commands::status.eq("pending")),
        )
        .set((
            tenant_commands::status.eq(status),
            tenant_commands::result.eq(Some(result.to_string())),
            tenant_commands::completed_at.eq(Some(t)),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Queue a command of `kind` for `tenant` with its audit row
/// (`tenant.command`, `details` plus the command's id); the queued command.
fn insert(
    c: &mut DbConn,
    tenant: &str,
    kind: &str,
    payload: &str,
    actor: (&str, &str),
    mut details: Value,
    origin: &Origin,
) -> ApiResult<Command> {
    let command_id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(tenant_commands::table)
        .values((
            tenant_commands::id.eq(&command_id),
            tenant_commands::tenant_id.eq(tenant),
            tenant_commands::kind.eq(kind),
            tenant_commands::payload.eq(payload),
            tenant_commands::status.eq("pending"),
            tenant_commands::created_by.eq(actor.0),
            tenant_commands::created_at.eq(now()),
        ))
        .execute(c)?;
    if let Some(d) = details.as_object_mut() {
        d.insert("command".into(), json!(command_id));
    }
    let event = Event::new(
        actor.0,
        actor.1,
        "tenant.command",
        &format!("tenant:{tenant}"),
    )
    .tenant(Some(tenant))
    .details(details);
    audit::append(c, &event, origin)?;
    let row = tenant_commands::table
        .filter(tenant_commands::id.eq(&command_id))
        .select(Row::as_select())
        .first(c)?;
    Ok(Command::from(row))
}

/// Ask `tenant`'s hospital to ship its online copy now (`sync_now`):
/// queued and audited like a create-user. A sync already waiting for the
/// hospital is answered instead of queuing another (the request is still
/// audited, as `reused`). 404 for an unknown tenant, 409 `TENANT_ARCHIVED`
/// for an archived one.
pub async fn queue_sync(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    tenant: String,
) -> ApiResult<Command> {
    user.require(P::TenantsManage)?;
    let (actor, role) = (user.id.clone(), user.role.clone());
    db.write(move |c| {
        let row = store::find_row(c, &tenant)?
            .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
        if row.status() == "archived" {
            return Err(ApiError::Warning {
                code: "TENANT_ARCHIVED",
                message: "this tenant is archived: its hospital is not asked to sync".into(),
                details: json!({ "status": "archived" }),
            });
        }
        if let Some(w) = waiting_sync_row(c, &tenant)? {
            let event = Event::new(&actor, &role, "tenant.command", &format!("tenant:{tenant}"))
                .tenant(Some(&tenant))
                .details(json!({ "kind": SYNC_NOW, "command": w.id, "reused": true }));
            audit::append(c, &event, &origin)?;
            return Ok(Command::from(w));
        }
        let details = json!({ "kind": SYNC_NOW, "reused": false });
        insert(
            c,
            &tenant,
            SYNC_NOW,
            "{}",
            (&actor, &role),
            details,
            &origin,
        )
    })
    .await
}

fn waiting_sync_row(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<Row>> {
    Ok(tenant_commands::table
        .filter(tenant_commands::tenant_id.eq(tenant))
        .filter(tenant_commands::kind.eq(SYNC_NOW))
        .filter(tenant_commands::status.eq("pending"))
        .order((
            tenant_commands::created_at.desc(),
            tenant_commands::id.desc(),
        ))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// The newest `sync_now` of `tenant` still waiting for its hospital.
pub fn waiting_sync(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<Command>> {
    Ok(waiting_sync_row(conn, tenant)?.map(Command::from))
}

#[utoipa::path(post, path = "/tenants/{id}/sync", tag = "tenants", security(("bearer" = [])),
    summary = "Ask the tenant's hospital to ship its online copy now (tenants.manage)",
    description = "Queues a `sync_now` command, handed to the hospital in its next heartbeat answer; a sync still waiting is answered instead of queuing another. See `GET /tenants/{id}/commands` and `GET /tenants/{id}/backups`.",
    responses((status = 202, description = "Queued (or already waiting)", body = Command),
        (status = 404, description = "No such tenant"),
        (status = 409, description = "`TENANT_ARCHIVED`: the tenant is archived")))]
pub(crate) async fn sync_now(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let queued = queue_sync(&db, &user, origin, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(json!({ "success": true, "data": queued })))
}

/// A staff account to create on the hospital.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewStaff {
    #[schema(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@-]+$")]
    username: String,
    /// Initial password (checked against the policy; only its hash leaves
    /// owner); the user must change it at first login.
    #[schema(min_length = 12, max_length = 72)]
    password: String,
    /// One of the hospital's staff roles (the hospital refuses others).
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z][a-z0-9_]*$")]
    role: String,
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^.\s][^\s]*\.[^\s]*$")]
    email: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    full_name: Option<String>,
}

#[utoipa::path(post, path = "/tenants/{id}/users", tag = "tenants", security(("bearer" = [])),
    summary = "Queue a create-user command for the tenant's hospital (tenants.manage)",
    description = "The hospital applies it at its next heartbeat and reports the result at the one after; see `GET /tenants/{id}/commands`.",
    responses((status = 202, description = "Queued", body = Command)))]
pub(crate) async fn create_user(
    db: web::Data<Db>,
    auth: web::Data<AuthContext>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<NewStaff>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsManage)?;
    let b = body.into_inner();
    validate_username(&b.username)?;
    let role_ok = (1..=64).contains(&b.role.len())
        && b.role.as_bytes()[0].is_ascii_lowercase()
        && b.role
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if !role_ok || b.role == "patient" {
        return Err(ApiError::field(
            "role",
            "must be one of the hospital's staff roles",
        ));
    }
    if let Some(e) = &b.email {
        validate_email(e)?;
    }
    if let Some(n) = &b.full_name {
        validate_full_name(n)?;
    }
    password::check_policy(&b.password, &b.username)?;
    let cost = auth.bcrypt_cost;
    let pw = b.password;
    let hash = web::block(move || password::hash(&pw, cost)).await??;
    let payload = CreateUserCommand {
        username: b.username,
        role: b.role,
        email: b.email,
        full_name: b.full_name,
        password_hash: hash,
    };
    let tenant = id.into_inner();
    let queued = db
        .write(move |c| {
            store::find_row(c, &tenant)?.ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
            let text = serde_json::to_string(&payload).map_err(|e| ApiError::Internal(e.into()))?;
            let details = json!({ "kind": "create_user", "username": payload.username, "role": payload.role });
            insert(c, &tenant, "create_user", &text, (&user.id, &user.role), details, &origin)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "success": true, "data": queued })))
}

#[utoipa::path(get, path = "/tenants/{id}/commands", tag = "tenants", security(("bearer" = [])),
    summary = "Commands queued for the tenant's hospital and their results (tenants.read)",
    params(PageQuery), responses((status = 200, description = "A page of commands, newest first", body = Vec<Command>)))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let page = Page::from_query(&q)?;
    let tenant = id.into_inner();
    let (rows, total) = db
        .run(move |c| {
            store::find_row(c, &tenant)?
                .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
            let base = tenant_commands::table.filter(tenant_commands::tenant_id.eq(&tenant));
            let total: i64 = base.count().get_result(c)?;
            let rows: Vec<Row> = base
                .order((
                    tenant_commands::created_at.desc(),
                    tenant_commands::id.desc(),
                ))
                .limit(page.page_size)
                .offset(page.offset())
                .select(Row::as_select())
                .load(c)?;
            Ok((
                rows.into_iter().map(Command::from).collect::<Vec<_>>(),
                total,
            ))
        })
        .await?;
    Ok(response::page(rows, &page, total))
}
