//! The company's web pages: what each role works on here.

use actix_web::web;
use common::auth::AuthUser;
use common::rbac::CorePermission;
use common::web::{NavLink, Pages};

use crate::CompanyPermission;

/// The company's pages for the kernel.
pub const PAGES: Pages = Pages { routes, nav };

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::security_events::pages::routes)
        .configure(crate::anchors::pages::routes)
        .configure(crate::releases::pages::routes)
        .configure(crate::teams::pages::routes)
        .configure(crate::system::pages::routes)
        .configure(crate::alerts::pages::routes)
        .configure(crate::reports::pages::routes);
}

fn nav(user: &AuthUser) -> Vec<NavLink> {
    let mut nav = Vec::new();
    if user.can(CompanyPermission::SecurityEventsRead) {
        nav.push(NavLink {
            href: "/security-events",
            label: "Security events",
            hint: "failed logins, lockouts, break-the-glass and refusals from every server",
        });
    }
    if user.can(CompanyPermission::ReleasesRead) {
        nav.push(NavLink {
            href: "/releases",
            label: "Releases",
            hint: "signed builds from dev; promote, approve (two people) or reject",
        });
    }
    if user.can(CompanyPermission::ReportsRead) {
        nav.push(NavLink {
            href: "/reports",
            label: "Reports",
            hint: "de-identified counts from hospitals by week; totals, chart and CSV",
        });
    }
    if crate::teams::scope::require_reader(user).is_ok() {
        nav.push(NavLink {
            href: "/teams",
            label: "Teams",
            hint: "teams, their leads and members",
        });
    }
    if user.can(CorePermission::AuditRead) {
        nav.push(NavLink {
            href: "/audit-anchors",
            label: "Audit anchors",
            hint: "the audit-chain heads each server reported, to prove nothing was rewritten",
        });
    }
    if user.can(CompanyPermission::SystemRead) {
        nav.push(NavLink {
            href: "/system",
            label: "System",
            hint: "when each server last delivered, backlogs, anchor mismatches, expiring certificates",
        });
        nav.push(NavLink {
            href: "/alerts",
            label: "Alerts",
            hint:
                "alerts raised by the rules on security events; acknowledge them, change the rules",
        });
    }
    nav
}
