//! hospital-server: one hospital's records (one tenant on-site, several
//! when hosted). This crate wires the hospital's routes into the common
//! application builder; `main.rs` only calls it.

use actix_web::web;
use common::db::Migrations;
use common::server::Spec;
use common::Service;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/hospital/sqlite"),
    postgres: common::migrations_fn!("../../migrations/hospital/postgres"),
};

/// Every permission the hospital checks.
pub const PERMISSIONS: &[&str] = &["users.manage", "audit.read"];

/// Compiled role → permissions (DESIGN section 5); `[rbac.roles]` may override.
pub const POLICY: &[(&str, &[&str])] = &[
    ("admin", &["users.manage", "audit.read"]),
    ("doctor", &[]),
    ("nurse", &[]),
    ("reception", &[]),
    ("lab", &[]),
    ("pharmacist", &[]),
    ("patient", &[]),
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
    internal_routes: None,
    start_plane: Some(common::plane::start_reporting),
};

fn routes(_cfg: &mut web::ServiceConfig) {}
