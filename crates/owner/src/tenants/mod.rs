//! Tenants (hospitals): registration, status and plan, and what their
//! hospitals report over the internal plane (health, staff directory) or
//! ship to it (the online copy).

pub mod backups;
pub mod commands;
pub mod health;
pub mod http;
pub mod internal;
pub mod pages;
pub mod store;

use common::audit::{self, Event, Origin};
use common::config::{DEMO_TENANT2_ID, DEMO_TENANT_ID};
use common::db::{write_tx, Db};

/// The demo tenants: the two on-site hospitals `bulkhead up --demo` starts.
pub const DEMO_TENANTS: [(&str, &str, &str); 2] = [
    (DEMO_TENANT_ID, "Demo General Hospital", "demo-general"),
    (DEMO_TENANT2_ID, "Demo Ramzan Hospital", "demo-ramzan"),
];

/// Create the demo tenants that are missing (demo mode only).
pub fn seed_demo_tenant(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    for (id, name, slug) in DEMO_TENANTS {
        write_tx(&mut conn, |c| {
            if store::find_row(c, id)?.is_some() {
                return Ok(());
            }
            store::insert(c, &store::NewTenant::new(id, name, slug, true))?;
            let event = Event::new(
                "demo-seed",
                "system",
                "tenant.create",
                &format!("tenant:{id}"),
            )
            .tenant(Some(id));
            audit::append(c, &event, &Origin::default())?;
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("seeding the demo tenant {slug}: {e}"))?;
    }
    Ok(())
}
