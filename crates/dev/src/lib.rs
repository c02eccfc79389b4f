//! dev-server: signing keys, signed releases, versioned configuration and
//! the synthetic sandbox (never PHI). This crate wires the dev routes into
//! the common application builder; `main.rs` only calls it.

pub mod config_versions;
pub mod openapi;
pub mod pages;
pub mod plane;
pub mod releases;
pub mod sandbox;
pub mod schema;

use actix_web::web;
use common::db::Migrations;
use common::rbac::{CorePermission as C, Permission, Role, Roles};
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/dev/sqlite"),
    postgres: common::migrations_fn!("../../migrations/dev/postgres"),
};

/// Dev permissions beyond the core ones; the enum is the only list of
/// them, and each name is the one written in policy files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage,
)]
pub enum DevPermission {
    /// Register signing keys, list them, revoke one's own.
    #[strum(serialize = "releases.keys")]
    ReleasesKeys,
    /// List every signing key and revoke any.
    #[strum(serialize = "releases.keys_manage")]
    ReleasesKeysManage,
    /// Upload signed releases.
    #[strum(serialize = "releases.upload")]
    ReleasesUpload,
    /// List releases and download their artifacts.
    #[strum(serialize = "releases.read")]
    ReleasesRead,
    /// Read the synthetic sandbox (lists, one patient, export).
    #[strum(serialize = "sandbox.read")]
    SandboxRead,
    /// Generate the synthetic sandbox again from a seed.
    #[strum(serialize = "sandbox.reset")]
    SandboxReset,
    /// Read the versioned configuration documents.
    #[strum(serialize = "config.read")]
    ConfigRead,
    /// Add, roll back and publish configuration versions.
    #[strum(serialize = "config.write")]
    ConfigWrite,
}

impl Permission for DevPermission {}

/// Compiled role → permissions (see docs/security.md, "Authorization");
/// `[rbac.roles]` may override. `admin` manages the developers' accounts
/// and their keys; `developer` signs and uploads releases.
pub const POLICY: Roles<DevPermission> = Roles(&[
    Role {
        name: "admin",
        core: &[C::UsersManage, C::AuditRead, C::RolesManage],
        own: &[
            DevPermission::ReleasesKeysManage,
            DevPermission::ReleasesRead,
            DevPermission::SandboxRead,
            DevPermission::ConfigRead,
        ],
    },
    Role {
        name: "developer",
        core: &[],
        own: &[
            DevPermission::ReleasesKeys,
            DevPermission::ReleasesUpload,
            DevPermission::ReleasesRead,
            DevPermission::SandboxRead,
            DevPermission::SandboxReset,
            DevPermission::ConfigRead,
            DevPermission::ConfigWrite,
        ],
    },
]);

/// Demo users (demo mode only): astro of the original design, and an admin.
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("astro", "dev123456", "developer"),
    ("devadmin", "devadmin123", "admin"),
];

/// What the common builder needs to start a dev server.
pub static SPEC: Spec = Spec {
    service: Service::Dev,
    migrations: MIGRATIONS,
    policy: &POLICY,
    admin_role: "admin",
    demo_users: DEMO_USERS,
    routes,
    openapi: openapi::api,
    demo_seed: None,
    needs_keyring: false,
    on_start: None,
    internal_routes: Some(plane::routes),
    start_plane: None,
    sections: &[releases::config::SECTION],
    background: None,
    pages: pages::PAGES,
    tenant_gate: None,
};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(releases::keys::routes)
        .configure(releases::http::routes)
        .configure(sandbox::http::routes)
        .configure(config_versions::http::routes);
}
