//! dev-server: signing keys, signed releases, versioned configuration and
//! the synthetic sandbox (never PHI). This crate wires the dev routes into
//! the common application builder; `main.rs` only calls it.

pub mod plane;

use actix_web::web;
use common::db::Migrations;
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/dev/sqlite"),
    postgres: common::migrations_fn!("../../migrations/dev/postgres"),
};

/// Every permission the dev server checks.
pub const PERMISSIONS: &[&str] = &["users.manage", "audit.read"];

/// Compiled role → permissions; `[rbac.roles]` may override. `admin`
/// manages the developers' accounts; `developer` does the work.
pub const POLICY: &[(&str, &[&str])] = &[
    ("admin", &["users.manage", "audit.read"]),
    ("developer", &[]),
];

/// Demo users (demo mode only): astro of the original design, and an admin.
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("astro", "dev123456", "developer"),
    ("devadmin", "devadmin123", "admin"),
];

/// What the common builder needs to start a dev server.
pub static SPEC: Spec = Spec {
    service: Service::Dev,
    migrations: MIGRATIONS,
    policy: POLICY,
    permissions: PERMISSIONS,
    admin_role: "admin",
    demo_users: DEMO_USERS,
    routes,
    demo_seed: None,
    needs_keyring: false,
    on_start: None,
    internal_routes: Some(plane::routes),
    start_plane: None,
};

fn routes(_cfg: &mut web::ServiceConfig) {}
