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
///
/// Correlated `EXISTS` probes on the row's own patient (the indexes
/// `care_team (tenant_id, patient_id)` and `break_glass (tenant_id,
/// user_id, patient_id)`), not `patient_id IN (the caller's care team)`:
/// both engines build that list whole at every execution (SQLite a "LIST
/// SUBQUERY", PostgreSQL a hashed subplan), so one record's read cost grew
/// with the caller's care teams — 1.6 ms on SQLite for a doctor on 2,000
/// of them against 2 µs for the probes (docs/benchmarks.md).
macro_rules! on_care_team {
    ($patient_id:expr, $user:expr, $tenant:expr) => {{
        let user: &common::auth::AuthUser = $user;
        $crate::patients::scope::on_care_team_of!($patient_id, user.id.as_str(), $tenant)
    }};
}
pub(crate) use on_care_team;

/// [`on_care_team!`] for the user id `$user_id`.
macro_rules! on_care_team_of {
    ($patient_id:expr, $user_id:expr, $tenant:expr) => {{
        use $crate::schema::{break_glass, care_team};
        let (user_id, tenant): (&str, &str) = ($user_id, $tenant);
        let on_team = care_team::table
            .filter(care_team::tenant_id.eq(tenant.to_string()))
            .filter(care_team::patient_id.nullable().eq($patient_id.nullable()))
            .filter(care_team::user_id.eq(user_id.to_string()))
            .filter(care_team::removed_at.is_null());
        let granted = break_glass::table
            .filter(break_glass::tenant_id.eq(tenant.to_string()))
            .filter(break_glass::user_id.eq(user_id.to_string()))
            .filter(
                break_glass::patient_id
                    .nullable()
                    .eq($patient_id.nullable()),
            )
            .filter(break_glass::expires_at.gt(common::db::now()));
        diesel::dsl::exists(on_team).or(diesel::dsl::exists(granted))
    }};
}

/// `$patient_id` (a column) is one of the patients `$user_id` is on the
/// care team of, or holds an unexpired break-the-glass grant for, in
/// `$tenant`: the rule of [`on_care_team_of!`] for a **list**, as
/// `IN (the caller's care-team rows) OR IN (the caller's grants)`. Read
/// from the index `care_team (tenant_id, user_id)`, those two lists are
/// what a list of the caller's records is found from (each record then by
/// its key), so the page and its count cost what the caller may see, not
/// what the tenant holds. A single record's read uses the probes of
/// [`on_care_team!`] instead (no list built at all).
macro_rules! among_assigned {
    ($patient_id:expr, $user_id:expr, $tenant:expr) => {{
        use $crate::schema::{break_glass, care_team};
        let (user_id, tenant): (&str, &str) = ($user_id, $tenant);
        let team = care_team::table
            .filter(care_team::tenant_id.eq(tenant.to_string()))
            .filter(care_team::user_id.eq(user_id.to_string()))
            .filter(care_team::removed_at.is_null())
            .select(care_team::patient_id);
        let granted = break_glass::table
            .filter(break_glass::tenant_id.eq(tenant.to_string()))
            .filter(break_glass::user_id.eq(user_id.to_string()))
            .filter(break_glass::expires_at.gt(common::db::now()))
            .select(break_glass::patient_id);
        $patient_id.eq_any(team).or($patient_id.eq_any(granted))
    }};
}
pub(crate) use among_assigned;

/// What a clinical resource's scope is built for: one record (by its id)
/// or a list. The rule is the same; its form differs (see
/// [`assigned_to!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// One record: the care team probed for that record's patient.
    One,
    /// A list: found from the caller's care-team rows and grants.
    Many,
}

/// `assigned_to!(q, reach, column, user, tenant)`: the boxed query `q`
/// narrowed to records whose patient (`column`) the caller is on the care
/// team of or holds an unexpired grant for — with the probes of
/// [`on_care_team!`] for [`Reach::One`], with the lists of
/// [`among_assigned!`] for [`Reach::Many`] (a list then costs the caller's
/// records through the resource's `(tenant_id, patient_id, …)` index, not
/// one probe per record of the tenant).
macro_rules! assigned_to {
    ($q:expr, $reach:expr, $patient_id:expr, $user:expr, $tenant:expr) => {{
        let (user, tenant): (&common::auth::AuthUser, &str) = ($user, $tenant);
        match $reach {
            $crate::patients::scope::Reach::One => $q.filter(
                $crate::patients::scope::on_care_team!($patient_id, user, tenant),
            ),
            $crate::patients::scope::Reach::Many => $q.filter(
                $crate::patients::scope::among_assigned!($patient_id, user.id.as_str(), tenant),
            ),
        }
    }};
}
pub(crate) use assigned_to;

/// `$patient_id` (a column, nullable or not: NULL names no patient) names
/// a live (not soft-deleted) patient of `$tenant`: what every clinical
/// resource's scope asks of its row's patient. A correlated `EXISTS` on
/// the patient's primary key, not `patient_id IN (every live patient of
/// the tenant)`, which both engines built whole at every execution — one
/// note's read cost grew with the hospital's patients.
macro_rules! of_live_patient {
    ($patient_id:expr, $tenant:expr) => {{
        use $crate::schema::patients;
        let tenant: &str = $tenant;
        diesel::dsl::exists(
            patients::table
                .filter(patients::id.nullable().eq($patient_id.nullable()))
                .filter(patients::tenant_id.eq(tenant.to_string()))
                .filter(patients::deleted_at.is_null()),
        )
    }};
}
pub(crate) use of_live_patient;
pub(crate) use on_care_team_of;

/// The patients of `tenant` the caller may see; soft-deleted ones only
/// with `include_deleted` and `patients.delete`.
pub fn visible(user: &AuthUser, tenant: &str, include_deleted: bool) -> ApiResult<Visible> {
    with_visible!(user, tenant, include_deleted, |q| q.into_boxed())
}

/// The patients of `tenant` the caller may see, for a list: the rule of
/// [`visible`], with a caller who sees assigned patients only found
/// through [`among_assigned!`] — the page and its count cost that caller's
/// patients, not the tenant's (SQLite, 20,000 patients, a doctor on 50 of
/// them: 89 ms of CPU per list request before). Others page through
/// `patients_tenant_created`. (On SQLite the planner needs the statistics
/// of migration `2026-12-13-000102_planner_statistics` to choose these
/// plans: without them it takes `tenant_id = ?` for a few rows.)
pub fn listed(user: &AuthUser, tenant: &str, include_deleted: bool) -> ApiResult<Visible> {
    if user.can(P::PatientsReadAll) || !user.can(P::PatientsReadAssigned) {
        return visible(user, tenant, include_deleted);
    }
    let deleted_too = include_deleted && user.can(P::PatientsDelete);
    Ok(assigned_list!(&user.id, tenant, deleted_too).into_boxed())
}

/// The query of [`listed`] for a caller who sees assigned patients only
/// (unboxed: the plan test reads its SQL).
macro_rules! assigned_list {
    ($user_id:expr, $tenant:expr, $deleted_too:expr) => {{
        use $crate::schema::patients;
        let (user_id, tenant, deleted_too): (&str, &str, bool) = ($user_id, $tenant, $deleted_too);
        patients::table
            .filter(patients::tenant_id.eq(tenant.to_string()))
            .filter(
                patients::deleted_at
                    .is_null()
                    .or(deleted_too.into_sql::<diesel::sql_types::Bool>()),
            )
            .filter($crate::patients::scope::among_assigned!(
                patients::id,
                user_id,
                tenant
            ))
    }};
}
pub(crate) use assigned_list;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::db::{Db, DbConn};
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use crate::schema::{clinical_notes, files, patients};

    /// A migrated hospital database on SQLite in a temp dir (kept while
    /// the dir lives).
    fn migrated() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/hospital.db", dir.path().display());
        let db = Db::open(&url, 2, Duration::from_secs(5), crate::MIGRATIONS).expect("db");
        (dir, db)
    }

    /// SQLite's plan of `sql` (binds left unbound: the plan is the same).
    fn plan(conn: &mut DbConn, sql: &str) -> Vec<String> {
        common::db::sqlite_plan(conn, sql).expect("a plan")
    }

    /// One record's read by a care-team reader probes the indexes for that
    /// record's patient: no list of the caller's care teams, grants or the
    /// tenant's patients is built (a "LIST SUBQUERY" grew with each of
    /// them), and no table is scanned.
    #[test]
    fn one_record_is_checked_by_probes_not_by_lists_of_the_callers_patients() {
        let (_dir, db) = migrated();
        let mut conn = db.conn().expect("a connection");
        let c = &mut *conn;
        let (user, tenant) = ("user-1", "tenant-1");
        let patient = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::id.eq("patient-1"))
            .filter(on_care_team_of!(patients::id, user, tenant))
            .select(patients::id);
        let note = clinical_notes::table
            .filter(clinical_notes::tenant_id.eq(tenant))
            .filter(clinical_notes::id.eq("note-1"))
            .filter(of_live_patient!(clinical_notes::patient_id, tenant))
            .filter(on_care_team_of!(clinical_notes::patient_id, user, tenant))
            .select(clinical_notes::id);
        // A file's patient_id is nullable: the probes compare through
        // `.nullable()` and must still be index probes.
        let file = files::table
            .filter(files::tenant_id.eq(tenant))
            .filter(files::id.eq("file-1"))
            .filter(of_live_patient!(files::patient_id, tenant))
            .filter(on_care_team_of!(files::patient_id, user, tenant))
            .select(files::id);
        // The form this replaced, which the check below must catch.
        let listed = patients::table
            .filter(patients::id.eq("patient-1"))
            .filter(
                patients::id.eq_any(
                    crate::schema::care_team::table
                        .filter(crate::schema::care_team::user_id.eq(user))
                        .select(crate::schema::care_team::patient_id),
                ),
            )
            .select(patients::id);
        let listed = plan(c, &diesel::debug_query::<Sqlite, _>(&listed).to_string());
        assert!(
            listed.iter().any(|s| s.contains("LIST SUBQUERY")),
            "{listed:?}"
        );
        for (what, sql) in [
            (
                "patient",
                diesel::debug_query::<Sqlite, _>(&patient).to_string(),
            ),
            ("note", diesel::debug_query::<Sqlite, _>(&note).to_string()),
            ("file", diesel::debug_query::<Sqlite, _>(&file).to_string()),
        ] {
            let steps = plan(c, &sql);
            assert!(
                steps.iter().any(|s| s.contains("care_team_patient")),
                "{what}: the care team is probed by patient: {steps:?}"
            );
            for step in &steps {
                assert!(
                    !step.contains("LIST SUBQUERY") && !step.starts_with("SCAN"),
                    "{what}: {step} in {steps:?}"
                );
            }
        }
    }

    /// A list by a care-team reader is found from the caller's care-team
    /// rows and grants (index `care_team_user`) and then each patient by
    /// its key — not by walking the tenant's patients (that cost 89 ms per
    /// page for a doctor on 50 of 20,000 patients). An admin's page comes
    /// in order from `patients_tenant_created`, without a sort of the
    /// tenant's patients, and the count from that index alone.
    #[test]
    fn a_list_costs_the_callers_patients_not_the_tenants() {
        let (_dir, db) = migrated();
        let mut conn = db.conn().expect("a connection");
        let c = &mut *conn;
        let (user, tenant) = ("user-1", "tenant-1");
        let q = assigned_list!(user, tenant, false);
        let page = q
            .clone()
            .order((patients::created_at.desc(), patients::id.asc()))
            .limit(20)
            .offset(40)
            .select(patients::id);
        let (page, count) = (
            diesel::debug_query::<Sqlite, _>(&page).to_string(),
            diesel::debug_query::<Sqlite, _>(&q.count()).to_string(),
        );
        for (what, sql) in [("page", page), ("count", count)] {
            let steps = plan(c, &sql);
            assert!(
                steps.iter().any(|s| s.contains("care_team_user")),
                "{what}: from the caller's care-team rows: {steps:?}"
            );
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH patients") && s.contains("(id=?)")),
                "{what}: each patient by its key: {steps:?}"
            );
            for step in &steps {
                assert!(
                    !step.starts_with("SCAN") && !step.ends_with("(tenant_id=?)"),
                    "{what}: walks the tenant: {step} in {steps:?}"
                );
            }
        }
        // Every patient of the tenant, as an admin's list asks.
        let all = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(
                patients::deleted_at
                    .is_null()
                    .or(false.into_sql::<diesel::sql_types::Bool>()),
            );
        let page = all
            .order((patients::created_at.desc(), patients::id.asc()))
            .limit(20)
            .offset(40)
            .select(patients::id);
        let steps = plan(c, &diesel::debug_query::<Sqlite, _>(&page).to_string());
        assert!(
            steps.iter().any(|s| s.contains("patients_tenant_created")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE")),
            "{steps:?}"
        );
        let steps = plan(
            c,
            &diesel::debug_query::<Sqlite, _>(&all.count()).to_string(),
        );
        assert!(
            steps
                .iter()
                .any(|s| s.contains("COVERING INDEX patients_tenant_created")),
            "{steps:?}"
        );
    }

    /// A search by blind indexes (any of MRN, birth date, first or last
    /// name) reads each of those indexes for the term, not every patient
    /// of the tenant.
    #[test]
    fn a_search_reads_the_blind_indexes_not_the_tenant() {
        let (_dir, db) = migrated();
        let mut conn = db.conn().expect("a connection");
        let c = &mut *conn;
        let tenant = "tenant-1";
        let found = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::deleted_at.is_null())
            .filter(
                patients::mrn_idx
                    .eq("m")
                    .or(patients::dob_idx.eq("d"))
                    .or(patients::first_name_idx.eq("n"))
                    .or(patients::last_name_idx.eq("n")),
            );
        let page = found
            .order((patients::created_at.desc(), patients::id.asc()))
            .limit(20)
            .select(patients::id);
        for sql in [
            diesel::debug_query::<Sqlite, _>(&page).to_string(),
            diesel::debug_query::<Sqlite, _>(&found.count()).to_string(),
        ] {
            let steps = plan(c, &sql);
            for index in [
                "patients_tenant_mrn",
                "patients_tenant_dob",
                "patients_tenant_first",
                "patients_tenant_last",
            ] {
                assert!(
                    steps.iter().any(|s| s.contains(index)),
                    "{index} not read: {steps:?}"
                );
            }
            assert!(
                !steps.iter().any(|s| s.ends_with("(tenant_id=?)")),
                "walks the tenant: {steps:?}"
            );
        }
        // Whether rows of an older index key version remain (each search
        // asks): that version's index range, not a scan of the table.
        let older = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::index_version.eq(1))
            .select(patients::id)
            .limit(1);
        let steps = plan(c, &diesel::debug_query::<Sqlite, _>(&older).to_string());
        assert!(
            steps
                .iter()
                .any(|s| s
                    .contains("patients_tenant_index_version (tenant_id=? AND index_version=?)")),
            "{steps:?}"
        );
    }

    /// A care-team reader's list of a clinical resource (`Reach::Many`)
    /// finds the records from the caller's care-team rows and grants
    /// through the resource's `(tenant_id, patient_id, …)` index, instead
    /// of probing the care team for every record of the tenant.
    #[test]
    fn a_clinical_list_costs_the_callers_records_not_the_tenants() {
        use crate::schema::{admissions, prescriptions};
        let (_dir, db) = migrated();
        let mut conn = db.conn().expect("a connection");
        let c = &mut *conn;
        let (user, tenant) = ("user-1", "tenant-1");
        let notes = clinical_notes::table
            .filter(clinical_notes::tenant_id.eq(tenant))
            .filter(of_live_patient!(clinical_notes::patient_id, tenant))
            .filter(among_assigned!(clinical_notes::patient_id, user, tenant))
            .order((clinical_notes::created_at.desc(), clinical_notes::id.asc()))
            .limit(20)
            .select(clinical_notes::id);
        let prescribed = prescriptions::table
            .filter(prescriptions::tenant_id.eq(tenant))
            .filter(of_live_patient!(prescriptions::patient_id, tenant))
            .filter(among_assigned!(prescriptions::patient_id, user, tenant))
            .count();
        let admitted = admissions::table
            .filter(admissions::tenant_id.eq(tenant))
            .filter(of_live_patient!(admissions::patient_id, tenant))
            .filter(among_assigned!(admissions::patient_id, user, tenant))
            .count();
        for (what, sql) in [
            (
                "notes",
                diesel::debug_query::<Sqlite, _>(&notes).to_string(),
            ),
            (
                "prescriptions",
                diesel::debug_query::<Sqlite, _>(&prescribed).to_string(),
            ),
            (
                "admissions",
                diesel::debug_query::<Sqlite, _>(&admitted).to_string(),
            ),
        ] {
            let steps = plan(c, &sql);
            assert!(
                steps.iter().any(|s| s.contains("care_team_user")),
                "{what}: from the caller's care-team rows: {steps:?}"
            );
            assert!(
                steps
                    .iter()
                    .any(|s| s.contains("(tenant_id=? AND patient_id=?)")),
                "{what}: records by patient: {steps:?}"
            );
            for step in &steps {
                assert!(
                    !step.starts_with("SCAN") && !step.ends_with("(tenant_id=?)"),
                    "{what}: walks the tenant: {step} in {steps:?}"
                );
            }
        }
    }
}
