//! Queries on `plans`.

use chrono::NaiveDateTime;
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::plans;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plans)]
struct Row {
    id: String,
    name: String,
    max_staff: Option<i64>,
    max_patients: Option<i64>,
    max_storage_mb: Option<i64>,
    modules: String,
    features: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A plan.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Active staff accounts (patients excluded); null: no limit.
    pub max_staff: Option<i64>,
    /// Patients; null: no limit.
    pub max_patients: Option<i64>,
    /// File storage in MiB; null: no limit.
    pub max_storage_mb: Option<i64>,
    /// Modules enabled.
    pub modules: Vec<String>,
    /// Features enabled (`break_glass_review`, `api_access`, …).
    pub features: Vec<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl From<Row> for Plan {
    fn from(r: Row) -> Self {
        Self {
            modules: list_of(&r.modules),
            features: list_of(&r.features),
            id: r.id,
            name: r.name,
            max_staff: r.max_staff,
            max_patients: r.max_patients,
            max_storage_mb: r.max_storage_mb,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Plan {
    /// A new plan.
    pub fn new(name: &str) -> Self {
        let t = now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            max_staff: None,
            max_patients: None,
            max_storage_mb: None,
            modules: Vec::new(),
            features: Vec::new(),
            created_at: t,
            updated_at: t,
        }
    }

    /// What the hospital receives.
    pub fn limits(&self) -> contracts::PlanLimits {
        contracts::PlanLimits {
            name: self.name.clone(),
            max_staff: self.max_staff,
            max_patients: self.max_patients,
            max_storage_mb: self.max_storage_mb,
            modules: self.modules.clone(),
            features: self.features.clone(),
        }
    }
}

fn encode(list: &[String]) -> ApiResult<String> {
    serde_json::to_string(list).map_err(|e| ApiError::Internal(e.into()))
}

/// Whether a plan of this name exists (other than `except`).
pub fn name_taken(conn: &mut DbConn, name: &str, except: Option<&str>) -> ApiResult<bool> {
    let mut q = plans::table
        .filter(plans::name.eq(name))
        .select(plans::id)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(plans::id.ne(id.to_string()));
    }
    Ok(q.first::<String>(conn).optional()?.is_some())
}

/// Insert.
pub fn insert(conn: &mut DbConn, p: &Plan) -> ApiResult<()> {
    diesel::insert_into(plans::table)
        .values((
            plans::id.eq(&p.id),
            plans::name.eq(&p.name),
            plans::max_staff.eq(p.max_staff),
            plans::max_patients.eq(p.max_patients),
            plans::max_storage_mb.eq(p.max_storage_mb),
            plans::modules.eq(encode(&p.modules)?),
            plans::features.eq(encode(&p.features)?),
            plans::created_at.eq(p.created_at),
            plans::updated_at.eq(p.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Write every field of `p` (by id).
pub fn save(conn: &mut DbConn, p: &Plan) -> ApiResult<()> {
    diesel::update(plans::table.filter(plans::id.eq(&p.id)))
        .set((
            plans::name.eq(&p.name),
            plans::max_staff.eq(p.max_staff),
            plans::max_patients.eq(p.max_patients),
            plans::max_storage_mb.eq(p.max_storage_mb),
            plans::modules.eq(encode(&p.modules)?),
            plans::features.eq(encode(&p.features)?),
            plans::updated_at.eq(p.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// By id.
pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Plan>> {
    Ok(plans::table
        .filter(plans::id.eq(id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Plan::from))
}

/// A page, by name.
pub fn list(conn: &mut DbConn, page: &Page) -> ApiResult<(Vec<Plan>, i64)> {
    let total = plans::table.count().get_result(conn)?;
    let rows = plans::table
        .order(plans::name.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(Row::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Plan::from).collect(), total))
}
