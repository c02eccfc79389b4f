//! dev-server: signing keys, signed releases, versioned configuration and
//! the synthetic sandbox (never PHI). This crate wires the dev routes into
//! the common application builder; `main.rs` only calls it.

pub mod plane;

use actix_web::web;
use common::db::Migrations;
use common::rbac::{CorePermission as C, NoOwnPermission, Role, Roles};
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/dev/sqlite"),
    postgres: common::migrations_fn!("../../migrations/dev/postgres"),
};

/// Compiled role → permissions; `[rbac.roles]` may override. `admin`
/// manages the developers' accounts; `developer` does the work. Dev checks
/// only the core permissions so far.
pub const POLICY: Roles<NoOwnPermission> = Roles(&[
    Role {
        name: "admin",
        core: &[C::UsersManage, C::AuditRead],
        own: &[],
    },
    Role {
        name: "developer",
        core: &[],
        own: &[],
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
    openapi: common::http::openapi::no_paths,
    demo_seed: None,
    needs_keyring: false,
    on_start: None,
    internal_routes: Some(plane::routes),
    start_plane: None,
    sections: &[],
    background: None,
    pages: common::web::NO_PAGES,
    tenant_gate: None,
};

fn routes(_cfg: &mut web::ServiceConfig) {}
