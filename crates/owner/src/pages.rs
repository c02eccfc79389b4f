//! The owner's web pages: what each role works on here.

use actix_web::web;
use common::auth::AuthUser;
use common::web::{NavLink, Pages};

use crate::OwnerPermission;

/// The owner's pages for the kernel.
pub const PAGES: Pages = Pages { routes, nav };

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::tenants::pages::routes)
        .configure(crate::update::page_routes);
}

fn nav(user: &AuthUser) -> Vec<NavLink> {
    let mut nav = Vec::new();
    if user.can(OwnerPermission::TenantsRead) {
        nav.push(NavLink {
            href: "/tenants",
            label: "Tenants",
            hint: "the hospitals hosted here and their status",
        });
        nav.push(NavLink {
            href: "/update",
            label: "Update",
            hint: "the owner-server release company approved, and where this server stands",
        });
    }
    nav
}
