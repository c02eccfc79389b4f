//! owner-server: tenants, plans, health and encrypted backups of every
//! hospital, never PHI. This crate wires the owner's routes into the common
//! application builder; `main.rs` only calls it.

pub mod openapi;
pub mod pages;
pub mod plans;
pub mod schema;
pub mod tenants;
pub mod update;

use actix_web::web;
use common::db::Migrations;
use common::rbac::{CorePermission as C, Permission, Role, Roles};
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/owner/sqlite"),
    postgres: common::migrations_fn!("../../migrations/owner/postgres"),
};

/// Owner permissions beyond the core ones; the enum is the only list of
/// them, and each name is the one written in policy files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage,
)]
pub enum OwnerPermission {
    /// See tenants.
    #[strum(serialize = "tenants.read")]
    TenantsRead,
    /// Register tenants, change their name, status and plan.
    #[strum(serialize = "tenants.manage")]
    TenantsManage,
    /// Add and change plans.
    #[strum(serialize = "plans.manage")]
    PlansManage,
}

impl Permission for OwnerPermission {}

/// Compiled role → permissions; `[rbac.roles]` may override.
pub const POLICY: Roles<OwnerPermission> = Roles(&[Role {
    name: "owner",
    core: &[C::UsersManage, C::AuditRead, C::RolesManage],
    own: &[
        OwnerPermission::TenantsRead,
        OwnerPermission::TenantsManage,
        OwnerPermission::PlansManage,
    ],
}]);

/// Demo users of the original design (demo mode only).
pub const DEMO_USERS: &[(&str, &str, &str)] = &[("owner", "owner123", "owner")];

/// What the common builder needs to start an owner server.
pub static SPEC: Spec = Spec {
    service: Service::Owner,
    migrations: MIGRATIONS,
    policy: &POLICY,
    admin_role: "owner",
    demo_users: DEMO_USERS,
    routes,
    openapi: openapi::api,
    demo_seed: Some(tenants::seed_demo_tenant),
    needs_keyring: false,
    on_start: None,
    internal_routes: Some(internal_routes),
    start_plane: Some(start_plane),
    sections: &[tenants::health::SECTION, update::SECTION],
    background: None,
    pages: pages::PAGES,
    tenant_gate: None,
};

/// Owner's plane work: the kernel's reporting to company, and asking
/// company which owner-server release is approved.
fn start_plane(
    ctx: common::plane::PlaneContext,
    config: &common::config::Config,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let updates = common::updates::load(config, update::PRODUCT)?;
    let company = common::mtls::client::PeerClient::new(
        &ctx.plane,
        &ctx.trust,
        common::mtls::ServiceIdentity::Company,
        Some(ctx.alarms.clone()),
    )?;
    let db = ctx.db.clone();
    let mut tasks = common::plane::start_reporting(ctx)?;
    tasks.push(tokio::spawn(common::updates::forever(
        db, company, updates, None,
    )));
    Ok(tasks)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(tenants::http::routes)
        .configure(plans::http::routes)
        .configure(update::routes);
}

/// The internal listener: hospitals' `whoami`, heartbeat, provisioning and
/// online copy.
fn internal_routes(cfg: &mut web::ServiceConfig) {
    use common::mtls::{peer::whoami_route, Allowed};
    whoami_route(cfg, &[Allowed::AnyHospital]);
    cfg.configure(tenants::internal::routes)
        .configure(tenants::backups::internal::routes);
}
