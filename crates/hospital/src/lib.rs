//! hospital-server: one hospital's records (one tenant on-site, several
//! when hosted). This crate wires the hospital's features into the common
//! application builder; `main.rs` only calls it.

pub mod break_glass;
pub mod care_team;
pub mod context;
pub mod departments;
pub mod patients;
pub mod schema;
pub mod tenant;

use actix_web::web;
use common::db::{write_tx, Db, Migrations};
use common::rbac::Permission;
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/hospital/sqlite"),
    postgres: common::migrations_fn!("../../migrations/hospital/postgres"),
};

/// What the hospital checks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HospitalPermission {
    /// See the department list.
    DepartmentsRead,
    /// Add, rename, deactivate departments.
    DepartmentsManage,
    /// See every patient of the tenant.
    PatientsReadAll,
    /// See patients on one's care team (or under break-the-glass).
    PatientsReadAssigned,
    /// See one's own record (portal).
    PatientsReadOwn,
    /// See clinical fields (else demographics only).
    PatientsClinical,
    /// Register patients.
    PatientsRegister,
    /// Change demographics.
    PatientsUpdateDemographics,
    /// Change clinical fields.
    PatientsUpdateClinical,
    /// Soft-delete, restore, see deleted.
    PatientsDelete,
    /// Add/remove care-team members (of patients one may see).
    CareTeamManage,
    /// Read any patient's access log.
    AccessLogReadAll,
    /// Open a record outside one's care team, with a reason.
    BreakGlassRequest,
    /// Review break-the-glass grants.
    BreakGlassReview,
    /// Create a patient's portal account.
    PortalManage,
}

impl Permission for HospitalPermission {
    fn name(self) -> &'static str {
        match self {
            Self::DepartmentsRead => "departments.read",
            Self::DepartmentsManage => "departments.manage",
            Self::PatientsReadAll => "patients.read_all",
            Self::PatientsReadAssigned => "patients.read_assigned",
            Self::PatientsReadOwn => "patients.read_own",
            Self::PatientsClinical => "patients.clinical",
            Self::PatientsRegister => "patients.register",
            Self::PatientsUpdateDemographics => "patients.update_demographics",
            Self::PatientsUpdateClinical => "patients.update_clinical",
            Self::PatientsDelete => "patients.delete",
            Self::CareTeamManage => "care_team.manage",
            Self::AccessLogReadAll => "access_log.read_all",
            Self::BreakGlassRequest => "break_glass.request",
            Self::BreakGlassReview => "break_glass.review",
            Self::PortalManage => "portal.manage",
        }
    }
}

/// Every permission the hospital checks.
pub const PERMISSIONS: &[&str] = &[
    "users.manage",
    "audit.read",
    "departments.read",
    "departments.manage",
    "patients.read_all",
    "patients.read_assigned",
    "patients.read_own",
    "patients.clinical",
    "patients.register",
    "patients.update_demographics",
    "patients.update_clinical",
    "patients.delete",
    "care_team.manage",
    "access_log.read_all",
    "break_glass.request",
    "break_glass.review",
    "portal.manage",
];

/// Compiled role → permissions (DESIGN section 5); `[rbac.roles]` may override.
pub const POLICY: &[(&str, &[&str])] = &[
    (
        "admin",
        &[
            "users.manage",
            "audit.read",
            "departments.read",
            "departments.manage",
            "patients.read_all",
            "patients.clinical",
            "patients.register",
            "patients.update_demographics",
            "patients.update_clinical",
            "patients.delete",
            "care_team.manage",
            "access_log.read_all",
            "break_glass.review",
            "portal.manage",
        ],
    ),
    (
        "doctor",
        &[
            "departments.read",
            "patients.read_assigned",
            "patients.clinical",
            "patients.update_clinical",
            "care_team.manage",
            "break_glass.request",
        ],
    ),
    (
        "nurse",
        &[
            "departments.read",
            "patients.read_assigned",
            "patients.clinical",
            "patients.update_clinical",
            "break_glass.request",
        ],
    ),
    (
        "reception",
        &[
            "departments.read",
            "patients.read_all",
            "patients.register",
            "patients.update_demographics",
            "portal.manage",
        ],
    ),
    ("lab", &["departments.read"]),
    ("pharmacist", &["departments.read"]),
    ("patient", &["patients.read_own", "patients.clinical"]),
];

/// Demo users of the original design (demo mode only).
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("hadmin", "hadmin123", "admin"),
    ("doctor", "doctor123", "doctor"),
    ("nurse", "nurse123", "nurse"),
    ("reception", "reception123", "reception"),
    ("lab", "lab123", "lab"),
    ("pharmacist", "pharmacist123", "pharmacist"),
];

/// What the common builder needs to start a hospital server.
pub static SPEC: Spec = Spec {
    service: Service::Hospital,
    migrations: MIGRATIONS,
    policy: POLICY,
    permissions: PERMISSIONS,
    admin_role: "admin",
    demo_users: DEMO_USERS,
    routes,
    demo_seed: None,
    needs_keyring: true,
    on_start: Some(seed_tenants),
    internal_routes: None,
    start_plane: Some(common::plane::start_reporting),
};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(departments::http::routes)
        .configure(patients::http::routes)
        .configure(care_team::http::routes)
        .configure(break_glass::http::routes);
}

/// Seed the departments of every tenant the server serves: the pinned one
/// and every tenant with users (a hosted server's tenants come with their
/// first users, created before this hook runs). Idempotent, so every start
/// runs it; reads never seed.
fn seed_tenants(db: &Db, pinned: Option<&str>) -> anyhow::Result<()> {
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tenants = departments::store::tenants_with_users(&mut conn)
        .map_err(|e| anyhow::anyhow!("listing tenants: {e}"))?;
    if let Some(p) = pinned {
        if !tenants.iter().any(|t| t == p) {
            tenants.push(p.to_string());
        }
    }
    for tenant in &tenants {
        write_tx(&mut conn, |c| departments::store::seed_if_empty(c, tenant))
            .map_err(|e| anyhow::anyhow!("seeding departments: {e}"))?;
    }
    Ok(())
}
