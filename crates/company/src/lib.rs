//! company-server: corporate users, de-identified reports, releases,
//! security events. This crate wires the company's routes into the common
//! application builder; `main.rs` only calls it.

pub mod alerts;
pub mod anchors;
pub mod openapi;
pub mod pages;
pub mod plane;
pub mod releases;
pub mod reports;
pub mod schema;
pub mod security_events;
pub mod system;
pub mod teams;

use actix_web::web;
use common::db::Migrations;
use common::rbac::{CorePermission as C, Permission, Role, Roles};
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/company/sqlite"),
    postgres: common::migrations_fn!("../../migrations/company/postgres"),
};

/// Company permissions beyond the core ones; the enum is the only list of
/// them, and each name is the one written in policy files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage,
)]
pub enum CompanyPermission {
    /// List the security events of every server.
    #[strum(serialize = "security_events.read")]
    SecurityEventsRead,
    /// List releases pulled from dev, their signers and approvals.
    #[strum(serialize = "releases.read")]
    ReleasesRead,
    /// Promote a candidate release (first of two people).
    #[strum(serialize = "releases.promote")]
    ReleasesPromote,
    /// Approve a promoted release (second person; company countersigns).
    #[strum(serialize = "releases.approve")]
    ReleasesApprove,
    /// Every team: create, rename, delete, set the lead, change members.
    #[strum(serialize = "teams.manage")]
    TeamsManage,
    /// The teams one leads: read every team, add and remove members of
    /// one's own.
    #[strum(serialize = "teams.manage_own")]
    TeamsManageOwn,
    /// See the system view (plane deliveries, backlogs, anchor
    /// mismatches, expiring certificates) and the alerts and their rules.
    #[strum(serialize = "system.read")]
    SystemRead,
    /// Add, change and delete alert rules; acknowledge alerts.
    #[strum(serialize = "alerts.manage")]
    AlertsManage,
    /// Read the de-identified reports hospitals sent and the analytics on
    /// them (series, totals, CSV export).
    #[strum(serialize = "reports.read")]
    ReportsRead,
}

impl Permission for CompanyPermission {}

/// Compiled role → permissions (see docs/security.md, "Authorization"); `[rbac.roles]` may override.
pub const POLICY: Roles<CompanyPermission> = Roles(&[
    Role {
        name: "admin",
        core: &[C::UsersManage, C::AuditRead, C::RolesManage],
        own: &[
            CompanyPermission::SecurityEventsRead,
            CompanyPermission::ReleasesRead,
            CompanyPermission::TeamsManage,
            CompanyPermission::SystemRead,
            CompanyPermission::AlertsManage,
            CompanyPermission::ReportsRead,
        ],
    },
    Role {
        name: "team_lead",
        core: &[],
        own: &[
            CompanyPermission::ReleasesRead,
            CompanyPermission::ReleasesApprove,
            CompanyPermission::TeamsManageOwn,
        ],
    },
    Role {
        name: "analyst",
        core: &[],
        own: &[CompanyPermission::ReportsRead],
    },
    Role {
        name: "production",
        core: &[],
        own: &[
            CompanyPermission::ReleasesRead,
            CompanyPermission::ReleasesPromote,
        ],
    },
]);

/// Demo users of the original design (demo mode only).
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("admin", "admin123", "admin"),
    ("teamlead", "teamlead123", "team_lead"),
    ("analyst", "analyst123", "analyst"),
    ("production", "production123", "production"),
];

/// What the common builder needs to start a company server.
pub static SPEC: Spec = Spec {
    service: Service::Company,
    migrations: MIGRATIONS,
    policy: &POLICY,
    admin_role: "admin",
    demo_users: DEMO_USERS,
    routes,
    openapi: openapi::api,
    demo_seed: None,
    needs_keyring: false,
    on_start: None,
    internal_routes: Some(internal_routes),
    start_plane: Some(plane::start),
    sections: &[releases::config::SECTION, system::config::SECTION],
    background: None,
    pages: pages::PAGES,
    tenant_gate: None,
};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(security_events::http::routes)
        .configure(anchors::http::routes)
        .configure(releases::http::routes)
        .configure(teams::http::routes)
        .configure(system::http::routes)
        .configure(alerts::http::routes)
        .configure(reports::http::routes);
}

fn internal_routes(cfg: &mut web::ServiceConfig) {
    use common::mtls::{peer::whoami_route, Allowed};
    whoami_route(
        cfg,
        &[Allowed::AnyHospital, Allowed::Owner, Allowed::Company],
    );
    cfg.configure(security_events::internal::routes)
        .configure(anchors::internal::routes)
        .configure(releases::internal::routes)
        .configure(reports::internal::routes);
}
