//! `tenant_standing`: each tenant's status and plan as owner last answered
//! a heartbeat, and the rules they make (the hospital's `TenantGate`).

use chrono::NaiveDateTime;
use common::auth::TenantGate;
use common::db::{now, DbConn};
use common::schema::users;
use common::{ApiError, ApiResult};
use contracts::HeartbeatAnswer;
use diesel::prelude::*;

use crate::schema::tenant_standing;

/// A tenant's standing.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenant_standing, treat_none_as_null = true)]
pub struct Standing {
    /// Tenant.
    pub tenant_id: String,
    /// `active`, `suspended`, `archived`.
    pub status: String,
    /// Plan name, if a plan is assigned.
    pub plan_name: Option<String>,
    /// Staff accounts allowed (active, patients excluded).
    pub max_staff: Option<i64>,
    /// Patients allowed.
    pub max_patients: Option<i64>,
    /// File storage allowed (MiB).
    pub max_storage_mb: Option<i64>,
    /// Modules enabled (JSON array).
    pub modules: String,
    /// Features enabled (JSON array).
    pub features: String,
    /// When owner's answer last changed it.
    pub updated_at: NaiveDateTime,
}

/// The standing of `tenant`, if owner ever answered.
pub fn find(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<Standing>> {
    Ok(tenant_standing::table
        .filter(tenant_standing::tenant_id.eq(tenant))
        .select(Standing::as_select())
        .first(conn)
        .optional()?)
}

/// Keep owner's answer. Returns whether the status changed.
pub fn save(conn: &mut DbConn, a: &HeartbeatAnswer) -> ApiResult<Option<String>> {
    let plan = a.plan.as_ref();
    let list = |v: Option<&Vec<String>>| serde_json::to_string(&v.cloned().unwrap_or_default());
    let row = Standing {
        tenant_id: a.tenant_id.clone(),
        status: a.status.clone(),
        plan_name: plan.map(|p| p.name.clone()),
        max_staff: plan.and_then(|p| p.max_staff),
        max_patients: plan.and_then(|p| p.max_patients),
        max_storage_mb: plan.and_then(|p| p.max_storage_mb),
        modules: list(plan.map(|p| &p.modules)).map_err(|e| ApiError::Internal(e.into()))?,
        features: list(plan.map(|p| &p.features)).map_err(|e| ApiError::Internal(e.into()))?,
        updated_at: now(),
    };
    let held = find(conn, &a.tenant_id)?;
    let before = held.as_ref().map(|s| s.status.clone());
    if let Some(h) = &held {
        // Unchanged: no write (each would be a change in the online copy,
        // one per heartbeat of an idle hospital).
        let unchanged = Standing {
            updated_at: h.updated_at,
            ..row.clone()
        };
        if unchanged == *h {
            return Ok(None);
        }
    }
    if before.is_some() {
        diesel::update(
            tenant_standing::table.filter(tenant_standing::tenant_id.eq(&row.tenant_id)),
        )
        .set(&row)
        .execute(conn)?;
    } else {
        diesel::insert_into(tenant_standing::table)
            .values(&row)
            .execute(conn)?;
    }
    Ok(before.filter(|b| *b != row.status))
}

/// Active staff accounts of `tenant` (portal patients are not staff).
pub fn active_staff(conn: &mut DbConn, tenant: &str) -> ApiResult<i64> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::active.eq(true))
        .filter(users::role.ne("patient"))
        .count()
        .get_result(conn)?)
}

/// Refuse (403 `PLAN_LIMIT`) one more patient record beyond the plan's
/// `max_patients` (records not deleted count; a restore counts like a new
/// one). Called inside the write that adds it, so two registrations cannot
/// both take the last place: writes are serialized by the writer (and, on
/// PostgreSQL, by the audit head's row lock across instances).
pub fn require_patient_room(conn: &mut DbConn, tenant: &str) -> ApiResult<()> {
    use crate::schema::patients;
    let Some(max) = find(conn, tenant)?.and_then(|s| s.max_patients) else {
        return Ok(());
    };
    let held: i64 = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    if held >= max {
        return Err(ApiError::Refused {
            code: "PLAN_LIMIT",
            message: format!(
                "the plan allows {max} patient records; the platform owner can change the plan"
            ),
        });
    }
    Ok(())
}

/// Refuse (403 `PLAN_LIMIT`) work in a medical `module` the tenant's plan
/// does not enable. A plan that names no modules restricts none; no plan,
/// none either.
pub fn require_module(conn: &mut DbConn, tenant: &str, module: &str) -> ApiResult<()> {
    let Some(standing) = find(conn, tenant)? else {
        return Ok(());
    };
    let modules: Vec<String> = serde_json::from_str(&standing.modules).unwrap_or_default();
    if modules.is_empty() || modules.iter().any(|m| m == module) {
        return Ok(());
    }
    Err(ApiError::Refused {
        code: "PLAN_LIMIT",
        message: format!(
            "the plan does not include the module {module} (enabled: {})",
            modules.join(", ")
        ),
    })
}

/// The hospital's rules on logins and new accounts.
pub struct Gate;

/// The one gate, for the hospital's spec.
pub static GATE: Gate = Gate;

impl TenantGate for Gate {
    fn check_login(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<()> {
        match find(conn, tenant)?.map(|s| s.status).as_deref() {
            Some("suspended") => Err(ApiError::Refused {
                code: "TENANT_SUSPENDED",
                message: "this hospital's subscription is suspended: logins are refused until the platform owner reactivates it".into(),
            }),
            Some("archived") => Err(ApiError::Refused {
                code: "TENANT_ARCHIVED",
                message: "this hospital is archived: logins are refused".into(),
            }),
            _ => Ok(()),
        }
    }

    fn check_new_account(&self, conn: &mut DbConn, tenant: &str, role: &str) -> ApiResult<()> {
        if role == "patient" {
            return Ok(());
        }
        let Some(max) = find(conn, tenant)?.and_then(|s| s.max_staff) else {
            return Ok(());
        };
        if active_staff(conn, tenant)? >= max {
            return Err(ApiError::Refused {
                code: "PLAN_LIMIT",
                message: format!("the plan allows {max} active staff accounts; deactivate one or change the plan"),
            });
        }
        Ok(())
    }
}
