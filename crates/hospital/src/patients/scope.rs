//! Who may see which patient: the one place for it. Every patient query of
//! every handler starts from [`visible`], so a rule changes here or
//! nowhere.
//!
//! - `patients.read_all` (admin, reception): every patient of the tenant;
//! - `patients.read_assigned` (doctor, nurse): patients whose care team
//!   they are on, and those they hold an unexpired break-the-glass grant for;
//! - `patients.read_own` (patient): their own record only;
//! - anything else: none.
//!
//! `patients.clinical` decides whether clinical fields are decrypted at all
//! (reception sees demographics only). A patient outside the caller's scope
//! is answered exactly like a patient that does not exist.

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::schema::{care_team, patients};
use crate::HospitalPermission as P;

/// A boxed query over the patients a caller may see.
pub type Visible = patients::BoxedQuery<'static, DbBackend>;

/// How much of a record the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Demographics and clinical fields.
    Full,
    /// Demographics only.
    Demographics,
}

/// The view the caller's role gives.
pub fn view_of(user: &AuthUser) -> View {
    if user.can(P::PatientsClinical) {
        View::Full
    } else {
        View::Demographics
    }
}

/// Refuse (403) a caller whose role may see no patient at all.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::PatientsReadAll)
        || user.can(P::PatientsReadAssigned)
        || user.can(P::PatientsReadOwn)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read patient records".into(),
        ))
    }
}

/// The rule behind [`visible`], written once: `with_visible!(user, tenant,
/// include_deleted, |q| body)` runs `body` with `q` the caller's patients as
/// a plain (unboxed) query, or is the 403 for a role that may see none. The
/// query's type and backend are fixed where `body` runs it: boxed on the
/// multi-connection for lists ([`visible`]); unboxed on the backend's own
/// connection for the one-row lookup every patient read makes
/// ([`super::store::find_visible`]), where diesel caches the statement by its
/// type instead of writing its SQL again at each use to look it up.
macro_rules! with_visible {
    ($user:expr, $tenant:expr, $include_deleted:expr, |$q:ident| $body:expr) => {{
        use $crate::schema::patients;
        use $crate::HospitalPermission as P;
        let (user, tenant, include_deleted): (&common::auth::AuthUser, &str, bool) =
            ($user, $tenant, $include_deleted);
        // Soft-deleted rows only with `include_deleted` and `patients.delete`
        // (a bound flag, so every caller shares one statement).
        let deleted_too = include_deleted && user.can(P::PatientsDelete);
        let base = patients::table
            .filter(patients::tenant_id.eq(tenant.to_string()))
            .filter(
                patients::deleted_at
                    .is_null()
                    .or(deleted_too.into_sql::<diesel::sql_types::Bool>()),
            );
        if user.can(P::PatientsReadAll) {
            let $q = base;
            Ok($body)
        } else if user.can(P::PatientsReadAssigned) {
            let $q = base.filter($crate::patients::scope::on_care_team!(
                patients::id,
                user,
                tenant
            ));
            Ok($body)
        } else if user.can(P::PatientsReadOwn) {
            let $q = base.filter(patients::portal_user_id.eq(user.id.clone()));
            Ok($body)
        } else {
            Err(common::ApiError::Forbidden(
                "your role may not read patient records".into(),
            ))
        }
    }};
}
pub(crate) use with_visible;

/// `$patient_id` (a column) names a patient `$user` is on the care team of,
/// or holds an unexpired break-the-glass grant for, in `$tenant`: the
/// assigned-reader rule of [`with_visible!`], which every clinical
/// resource's scope applies to its own `patient_id`. A macro: the
/// subqueries' types differ with the column and the caller's backend (a
/// boxed query cannot be a subquery on the multi-backend connection).
macro_rules! on_care_team {
    ($patient_id:expr, $user:expr, $tenant:expr) => {{
        use $crate::schema::{break_glass, care_team};
        let (user, tenant): (&common::auth::AuthUser, &str) = ($user, $tenant);
        let on_team = care_team::table
            .filter(care_team::tenant_id.eq(tenant.to_string()))
            .filter(care_team::user_id.eq(user.id.clone()))
            .filter(care_team::removed_at.is_null())
            .select(care_team::patient_id);
        let granted = break_glass::table
            .filter(break_glass::tenant_id.eq(tenant.to_string()))
            .filter(break_glass::user_id.eq(user.id.clone()))
            .filter(break_glass::expires_at.gt(common::db::now()))
            .select(break_glass::patient_id);
        $patient_id.eq_any(on_team).or($patient_id.eq_any(granted))
    }};
}
pub(crate) use on_care_team;

/// The patients of `tenant` the caller may see; soft-deleted ones only
/// with `include_deleted` and `patients.delete`.
pub fn visible(user: &AuthUser, tenant: &str, include_deleted: bool) -> ApiResult<Visible> {
    with_visible!(user, tenant, include_deleted, |q| q.into_boxed())
}

/// Refuse unless the caller may read patient `id`'s access log: an admin
/// (`access_log.read_all`) for any live patient of the tenant; a patient
/// (`patients.read_own`) for their own record.
pub fn require_access_log_reader(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    id: &str,
) -> ApiResult<()> {
    if !(user.can(P::AccessLogReadAll) || user.can(P::PatientsReadOwn)) {
        return Err(ApiError::Forbidden(
            "your role may not read access logs".into(),
        ));
    }
    // A soft-deleted patient's log answers 404 like the rest of its record;
    // its rows stay in the audit log (`GET /audit?resource=patient:<id>`).
    if can_see(conn, user, tenant, id, false)? {
        Ok(())
    } else {
        Err(not_found())
    }
}

/// Refuse unless the caller may change patient `id`'s care team: the
/// patient in scope, and the caller seeing every patient (admin) or on the
/// team now. A break-the-glass grant opens the record for a while; joining
/// the team would make that access lasting, so it does not count.
pub fn require_care_team_manager(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    id: &str,
) -> ApiResult<()> {
    if !can_see(conn, user, tenant, id, false)? {
        return Err(not_found());
    }
    let on_team: i64 = care_team::table
        .filter(care_team::tenant_id.eq(tenant))
        .filter(care_team::patient_id.eq(id))
        .filter(care_team::user_id.eq(&user.id))
        .filter(care_team::removed_at.is_null())
        .count()
        .get_result(conn)?;
    if user.can(P::PatientsReadAll) || on_team > 0 {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "only the care team or an admin changes the care team; break-the-glass access does not"
            .into(),
    ))
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such patient".into())
}

/// Whether the patient `id` is within the caller's scope.
pub fn can_see(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    id: &str,
    include_deleted: bool,
) -> ApiResult<bool> {
    let n: i64 = visible(user, tenant, include_deleted)?
        .filter(patients::id.eq(id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the patient exists in the tenant at all (not deleted), regardless
/// of the caller: for break-the-glass, which is by definition outside scope.
pub fn exists_in_tenant(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<bool> {
    let n: i64 = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::id.eq(id))
        .filter(patients::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Refuse (403) a role that may change no field of a patient, before its
/// input is read.
pub fn require_editor(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::PatientsUpdateDemographics) || user.can(P::PatientsUpdateClinical) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not change patients".into(),
        ))
    }
}

/// Refuse a change to fields the caller's role may not change.
pub fn check_editable(user: &AuthUser, demographic: &[&str], clinical: &[&str]) -> ApiResult<()> {
    if !demographic.is_empty() && !user.can(P::PatientsUpdateDemographics) {
        return Err(ApiError::Forbidden(format!(
            "your role may not change {}",
            demographic.join(", ")
        )));
    }
    if !clinical.is_empty() && !user.can(P::PatientsUpdateClinical) {
        return Err(ApiError::Forbidden(format!(
            "your role may not change {}",
            clinical.join(", ")
        )));
    }
    Ok(())
}
