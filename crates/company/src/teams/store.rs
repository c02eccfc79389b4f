//! Queries on `teams` and `team_members` (company users from the kernel's
//! `users` table, tenant `""`).

use chrono::NaiveDateTime;
use common::db::{now, DbConn, Page};
use common::schema::users;
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{team_members, teams};

/// A stored team.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The lead, if set.
    pub lead_user_id: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

/// A team as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The lead's user id, if set.
    pub lead_user_id: Option<String>,
    /// The lead's username, if set.
    pub lead_username: Option<String>,
    /// How many members.
    pub members: i64,
    /// Created (UTC).
    pub created_at: NaiveDateTime,
    /// Changed (UTC).
    pub updated_at: NaiveDateTime,
}

/// A member of a team.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    /// User id.
    pub user_id: String,
    /// Username.
    pub username: String,
    /// The user's role.
    pub role: String,
    /// Whether the account is active.
    pub active: bool,
    /// When they joined the team (UTC).
    pub added_at: NaiveDateTime,
}

/// A team with its members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamDetail {
    /// The team.
    #[serde(flatten)]
    pub team: TeamView,
    /// Its members, by username.
    pub member_list: Vec<MemberView>,
}

/// A company user (id, username, role, active).
type UserRow = (String, String, String, bool);

/// A company user by id.
pub fn user(conn: &mut DbConn, id: &str) -> ApiResult<Option<UserRow>> {
    Ok(users::table
        .filter(users::tenant_id.eq(""))
        .filter(users::id.eq(id))
        .select((users::id, users::username, users::role, users::active))
        .first(conn)
        .optional()?)
}

/// An active company user, or a 400 naming `field`.
pub fn active_user(conn: &mut DbConn, id: &str, field: &str) -> ApiResult<UserRow> {
    match user(conn, id)? {
        Some(u) if u.3 => Ok(u),
        Some(_) => Err(ApiError::field(field, "that user is deactivated")),
        None => Err(ApiError::field(field, "no such user")),
    }
}

/// One team.
pub fn get(conn: &mut DbConn, id: &str) -> ApiResult<TeamRow> {
    teams::table
        .filter(teams::id.eq(id))
        .select(TeamRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound("no such team".into()))
}

/// Whether a team other than `except` is called `name`.
pub fn name_taken(conn: &mut DbConn, name: &str, except: Option<&str>) -> ApiResult<bool> {
    let mut q = teams::table.filter(teams::name.eq(name)).into_boxed();
    if let Some(id) = except {
        q = q.filter(teams::id.ne(id.to_string()));
    }
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

fn view(conn: &mut DbConn, row: TeamRow) -> ApiResult<TeamView> {
    let members: i64 = team_members::table
        .filter(team_members::team_id.eq(&row.id))
        .count()
        .get_result(conn)?;
    let lead_username = match &row.lead_user_id {
        Some(id) => user(conn, id)?.map(|u| u.1),
        None => None,
    };
    Ok(TeamView {
        id: row.id,
        name: row.name,
        lead_user_id: row.lead_user_id,
        lead_username,
        members,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A page of teams by name, and how many there are.
pub fn list(conn: &mut DbConn, page: &Page) -> ApiResult<(Vec<TeamView>, i64)> {
    let total: i64 = teams::table.count().get_result(conn)?;
    let rows: Vec<TeamRow> = teams::table
        .order(teams::name.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(TeamRow::as_select())
        .load(conn)?;
    let views = rows
        .into_iter()
        .map(|r| view(conn, r))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((views, total))
}

/// One team with its members.
pub fn detail(conn: &mut DbConn, id: &str) -> ApiResult<TeamDetail> {
    let row = get(conn, id)?;
    let rows: Vec<(String, NaiveDateTime)> = team_members::table
        .filter(team_members::team_id.eq(id))
        .select((team_members::user_id, team_members::added_at))
        .load(conn)?;
    let mut member_list = Vec::new();
    for (uid, added_at) in rows {
        let (user_id, username, role, active) = match user(conn, &uid)? {
            Some(u) => u,
            None => (uid, "(removed)".into(), String::new(), false),
        };
        member_list.push(MemberView {
            user_id,
            username,
            role,
            active,
            added_at,
        });
    }
    member_list.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(TeamDetail {
        team: view(conn, row)?,
        member_list,
    })
}

/// Insert a team; returns its id.
pub fn insert(conn: &mut DbConn, name: &str, lead: Option<&str>) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let at = now();
    diesel::insert_into(teams::table)
        .values((
            teams::id.eq(&id),
            teams::name.eq(name),
            teams::lead_user_id.eq(lead),
            teams::created_at.eq(at),
            teams::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Rename a team and/or set its lead.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    name: Option<&str>,
    lead: Option<Option<&str>>,
) -> ApiResult<()> {
    let at = now();
    if let Some(n) = name {
        diesel::update(teams::table.filter(teams::id.eq(id)))
            .set((teams::name.eq(n), teams::updated_at.eq(at)))
            .execute(conn)?;
    }
    if let Some(l) = lead {
        diesel::update(teams::table.filter(teams::id.eq(id)))
            .set((teams::lead_user_id.eq(l), teams::updated_at.eq(at)))
            .execute(conn)?;
    }
    Ok(())
}

/// Delete a team and its memberships; returns the member ids it had.
pub fn delete(conn: &mut DbConn, id: &str) -> ApiResult<Vec<String>> {
    let members = member_ids(conn, id)?;
    diesel::delete(team_members::table.filter(team_members::team_id.eq(id))).execute(conn)?;
    diesel::delete(teams::table.filter(teams::id.eq(id))).execute(conn)?;
    Ok(members)
}

/// The user ids of a team's members.
pub fn member_ids(conn: &mut DbConn, id: &str) -> ApiResult<Vec<String>> {
    Ok(team_members::table
        .filter(team_members::team_id.eq(id))
        .select(team_members::user_id)
        .order(team_members::user_id.asc())
        .load(conn)?)
}

/// Whether `user_id` is a member of the team.
pub fn is_member(conn: &mut DbConn, team: &str, user_id: &str) -> ApiResult<bool> {
    let n: i64 = team_members::table
        .filter(team_members::team_id.eq(team))
        .filter(team_members::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Add a member.
pub fn add_member(conn: &mut DbConn, team: &str, user_id: &str) -> ApiResult<()> {
    diesel::insert_into(team_members::table)
        .values((
            team_members::team_id.eq(team),
            team_members::user_id.eq(user_id),
            team_members::added_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Remove a member; whether they were one.
pub fn remove_member(conn: &mut DbConn, team: &str, user_id: &str) -> ApiResult<bool> {
    let n = diesel::delete(
        team_members::table
            .filter(team_members::team_id.eq(team))
            .filter(team_members::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Every active company user (id, username), by username: the pages' choices.
pub fn active_users(conn: &mut DbConn) -> ApiResult<Vec<(String, String)>> {
    Ok(users::table
        .filter(users::tenant_id.eq(""))
        .filter(users::active.eq(true))
        .order(users::username.asc())
        .select((users::id, users::username))
        .load(conn)?)
}
