//! Queries on `care_team`.

use chrono::NaiveDateTime;
use common::db::{now, DbConn};
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::care_team;

/// A current member.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = care_team)]
pub struct Member {
    /// Row id.
    #[serde(skip)]
    pub id: String,
    /// The clinician.
    pub user_id: String,
    /// Their role when added.
    pub member_role: String,
    /// Who added them.
    pub added_by: String,
    /// When.
    pub added_at: NaiveDateTime,
}

/// Current members of a patient's team.
pub fn members(conn: &mut DbConn, tenant: &str, patient: &str) -> ApiResult<Vec<Member>> {
    Ok(care_team::table
        .filter(care_team::tenant_id.eq(tenant))
        .filter(care_team::patient_id.eq(patient))
        .filter(care_team::removed_at.is_null())
        .order(care_team::added_at.asc())
        .select(Member::as_select())
        .load(conn)?)
}

/// Whether `user` is a current member.
pub fn is_member(conn: &mut DbConn, tenant: &str, patient: &str, user: &str) -> ApiResult<bool> {
    let n: i64 = care_team::table
        .filter(care_team::tenant_id.eq(tenant))
        .filter(care_team::patient_id.eq(patient))
        .filter(care_team::user_id.eq(user))
        .filter(care_team::removed_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Add a member.
pub fn add(
    conn: &mut DbConn,
    tenant: &str,
    patient: &str,
    user: &str,
    role: &str,
    by: &str,
) -> ApiResult<()> {
    diesel::insert_into(care_team::table)
        .values((
            care_team::id.eq(uuid::Uuid::new_v4().to_string()),
            care_team::tenant_id.eq(tenant),
            care_team::patient_id.eq(patient),
            care_team::user_id.eq(user),
            care_team::member_role.eq(role),
            care_team::added_by.eq(by),
            care_team::added_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Remove a member; false if they were not one.
pub fn remove(
    conn: &mut DbConn,
    tenant: &str,
    patient: &str,
    user: &str,
    by: &str,
) -> ApiResult<bool> {
    let n = diesel::update(
        care_team::table
            .filter(care_team::tenant_id.eq(tenant))
            .filter(care_team::patient_id.eq(patient))
            .filter(care_team::user_id.eq(user))
            .filter(care_team::removed_at.is_null()),
    )
    .set((
        care_team::removed_at.eq(Some(now())),
        care_team::removed_by.eq(Some(by)),
    ))
    .execute(conn)?;
    Ok(n > 0)
}
