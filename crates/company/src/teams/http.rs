//! `/teams`: company teams, their leads and members. Every change is an
//! audit row (`team.*`) with what it changed; the rules are in `scope.rs`.

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::db::{Db, DbConn, PageQuery};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use super::scope;
use super::store::{self, MemberView, TeamDetail, TeamView};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/teams")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/teams/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(resource("/teams/{id}/members").route(web::post().to(add_member)))
    .service(resource("/teams/{id}/members/{user_id}").route(web::delete().to(remove_member)));
}

/// Audit a team change inside the write.
fn record(
    c: &mut DbConn,
    user: &AuthUser,
    origin: &Origin,
    action: &str,
    team: &str,
    details: Value,
) -> ApiResult<()> {
    let event = Event::new(&user.id, &user.role, action, &format!("team:{team}")).details(details);
    audit::append(c, &event, origin)?;
    Ok(())
}

/// A team name: 1 to 100 characters, no control characters, trimmed.
fn check_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "1 to 100 characters, no control characters",
        ));
    }
    Ok(n.to_string())
}

fn check_id(id: &str, field: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::field(field, "a user id"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/teams", tag = "teams", security(("bearer" = [])),
    summary = "Every team, by name, with its lead and number of members (teams.manage or teams.manage_own)",
    params(PageQuery),
    responses((status = 200, description = "A page of teams", body = Vec<TeamView>),
        (status = 400, description = "A bad page or page size"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role may not read teams")))]
pub(crate) async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let page = Page::from_query(&q)?;
    let (rows, total) = db.run(move |c| store::list(c, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/teams/{id}", tag = "teams", security(("bearer" = [])),
    summary = "One team with its members (teams.manage or teams.manage_own)",
    params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = TeamDetail),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role may not read teams"),
        (status = 404, description = "No such team")))]
pub(crate) async fn get(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let id = id.into_inner();
    Ok(response::ok(db.run(move |c| store::detail(c, &id)).await?))
}

/// A new team.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// 1 to 100 characters, unique.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The lead: an active company user.
    #[schema(max_length = 64)]
    pub lead_user_id: Option<String>,
}

/// Create a team by the API's rules (shared with the page).
pub async fn create_team(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    body: NewTeam,
) -> ApiResult<TeamDetail> {
    scope::require_admin(user)?;
    let name = check_name(&body.name)?;
    if let Some(l) = &body.lead_user_id {
        check_id(l, "lead_user_id")?;
    }
    let u = user.clone();
    db.write(move |c| {
        if store::name_taken(c, &name, None)? {
            return Err(ApiError::Conflict("a team of that name exists".into()));
        }
        if let Some(l) = &body.lead_user_id {
            store::active_user(c, l, "lead_user_id")?;
        }
        let id = store::insert(c, &name, body.lead_user_id.as_deref())?;
        record(
            c,
            &u,
            &origin,
            "team.create",
            &id,
            json!({ "name": name, "lead_user_id": body.lead_user_id }),
        )?;
        store::detail(c, &id)
    })
    .await
}

#[utoipa::path(post, path = "/teams", tag = "teams", security(("bearer" = [])),
    summary = "Create a team, optionally with its lead (teams.manage)",
    request_body = NewTeam,
    responses((status = 201, description = "Created", body = TeamDetail),
        (status = 400, description = "A bad name, or the lead is not an active company user"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks teams.manage"),
        (status = 409, description = "A team of that name exists")))]
pub(crate) async fn create(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<NewTeam>,
) -> ApiResult<HttpResponse> {
    scope::require_admin(&user)?;
    let team = create_team(&db, &user, origin, body.into_inner()).await?;
    Ok(response::created(team))
}

/// `null` and absent told apart: `Some(None)` clears the lead.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A change of a team's name or lead.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamChange {
    /// A new name (1 to 100 characters, unique).
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// The new lead (an active company user), or `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub lead_user_id: Option<Option<String>>,
}

/// Change a team by the API's rules (shared with the page).
pub async fn update_team(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    id: String,
    body: TeamChange,
) -> ApiResult<TeamDetail> {
    scope::require_admin(user)?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    if let Some(Some(l)) = &body.lead_user_id {
        check_id(l, "lead_user_id")?;
    }
    if name.is_none() && body.lead_user_id.is_none() {
        return Err(ApiError::validation("nothing to change"));
    }
    let u = user.clone();
    db.write(move |c| {
        let before = store::get(c, &id)?;
        if let Some(n) = &name {
            if store::name_taken(c, n, Some(&id))? {
                return Err(ApiError::Conflict("a team of that name exists".into()));
            }
        }
        if let Some(Some(l)) = &body.lead_user_id {
            store::active_user(c, l, "lead_user_id")?;
        }
        let lead = body.lead_user_id.as_ref().map(|l| l.as_deref());
        store::update(c, &id, name.as_deref(), lead)?;
        let after = store::get(c, &id)?;
        record(
            c,
            &u,
            &origin,
            "team.update",
            &id,
            json!({
                "before": { "name": before.name, "lead_user_id": before.lead_user_id },
                "after": { "name": after.name, "lead_user_id": after.lead_user_id },
            }),
        )?;
        store::detail(c, &id)
    })
    .await
}

#[utoipa::path(patch, path = "/teams/{id}", tag = "teams", security(("bearer" = [])),
    summary = "Rename a team or set its lead (teams.manage)",
    params(("id" = String, Path, description = "Team id")),
    request_body = TeamChange,
    responses((status = 200, description = "The changed team", body = TeamDetail),
        (status = 400, description = "A bad name, nothing to change, or the lead is not an active company user"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks teams.manage"),
        (status = 404, description = "No such team"),
        (status = 409, description = "A team of that name exists")))]
pub(crate) async fn update(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<TeamChange>,
) -> ApiResult<HttpResponse> {
    scope::require_admin(&user)?;
    let team = update_team(&db, &user, origin, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(team))
}

/// A deleted team.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamDeleted {
    /// Always true.
    pub deleted: bool,
}

/// Delete a team by the API's rules (shared with the page).
pub async fn delete_team(db: &Db, user: &AuthUser, origin: Origin, id: String) -> ApiResult<()> {
    scope::require_admin(user)?;
    let u = user.clone();
    db.write(move |c| {
        let before = store::get(c, &id)?;
        let members = store::delete(c, &id)?;
        record(
            c,
            &u,
            &origin,
            "team.delete",
            &id,
            json!({ "name": before.name, "lead_user_id": before.lead_user_id, "members": members }),
        )
    })
    .await
}

#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", security(("bearer" = [])),
    summary = "Delete a team and its memberships (teams.manage)",
    params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "Deleted", body = TeamDeleted),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller's role lacks teams.manage"),
        (status = 404, description = "No such team")))]
pub(crate) async fn delete(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    delete_team(&db, &user, origin, id.into_inner()).await?;
    Ok(response::ok(TeamDeleted { deleted: true }))
}

/// A member to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// An active company user.
    #[schema(min_length = 1, max_length = 64)]
    pub user_id: String,
}

/// Add a member by the API's rules (shared with the page).
pub async fn add_team_member(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    team: String,
    body: NewMember,
) -> ApiResult<MemberView> {
    scope::require_member_manager(user)?;
    check_id(&body.user_id, "user_id")?;
    let u = user.clone();
    db.write(move |c| {
        let row = store::get(c, &team)?;
        scope::may_change_members(&u, &row)?;
        let (id, username, role, active) = store::active_user(c, &body.user_id, "user_id")?;
        if store::is_member(c, &team, &id)? {
            return Err(ApiError::Conflict("that user is already a member".into()));
        }
        store::add_member(c, &team, &id)?;
        record(
            c,
            &u,
            &origin,
            "team.member_add",
            &team,
            json!({ "user_id": id, "team": row.name }),
        )?;
        Ok(MemberView {
            user_id: id,
            username,
            role,
            active,
            added_at: common::db::now(),
        })
    })
    .await
}

#[utoipa::path(post, path = "/teams/{id}/members", tag = "teams", security(("bearer" = [])),
    summary = "Add a member (teams.manage; teams.manage_own on a team the caller leads)",
    params(("id" = String, Path, description = "Team id")),
    request_body = NewMember,
    responses((status = 201, description = "Added", body = MemberView),
        (status = 400, description = "The user is not an active company user"),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller may not change this team's members"),
        (status = 404, description = "No such team"),
        (status = 409, description = "Already a member")))]
pub(crate) async fn add_member(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<NewMember>,
) -> ApiResult<HttpResponse> {
    scope::require_member_manager(&user)?;
    let m = add_team_member(&db, &user, origin, id.into_inner(), body.into_inner()).await?;
    Ok(response::created(m))
}

/// A removed member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberRemoved {
    /// Always true.
    pub removed: bool,
}

/// Remove a member by the API's rules (shared with the page).
pub async fn remove_team_member(
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    team: String,
    member: String,
) -> ApiResult<()> {
    scope::require_member_manager(user)?;
    let u = user.clone();
    db.write(move |c| {
        let row = store::get(c, &team)?;
        scope::may_change_members(&u, &row)?;
        if !store::remove_member(c, &team, &member)? {
            return Err(ApiError::NotFound("no such member of this team".into()));
        }
        record(
            c,
            &u,
            &origin,
            "team.member_remove",
            &team,
            json!({ "user_id": member, "team": row.name }),
        )
    })
    .await
}

#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams", security(("bearer" = [])),
    summary = "Remove a member (teams.manage; teams.manage_own on a team the caller leads)",
    params(("id" = String, Path, description = "Team id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "Removed", body = MemberRemoved),
        (status = 401, description = "No valid token"),
        (status = 403, description = "The caller may not change this team's members"),
        (status = 404, description = "No such team, or the user is not a member")))]
pub(crate) async fn remove_member(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (team, member) = path.into_inner();
    remove_team_member(&db, &user, origin, team, member).await?;
    Ok(response::ok(MemberRemoved { removed: true }))
}
