//! Tenants (hospitals): registration, status and plan, and what their
//! hospitals report over the internal plane (health, staff directory).

pub mod commands;
pub mod health;
pub mod http;
pub mod internal;
pub mod pages;
pub mod store;

use common::audit::{self, Event, Origin};
use common::config::DEMO_TENANT_ID;
use common::db::{write_tx, Db};

/// Create the demo tenant if it is missing (demo mode only).
pub fn seed_demo_tenant(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_tx(&mut conn, |c| {
        if store::find_row(c, DEMO_TENANT_ID)?.is_some() {
            return Ok(());
        }
        store::insert(
            c,
            &store::NewTenant::new(
                DEMO_TENANT_ID,
                "Demo General Hospital",
                "demo-general",
                true,
            ),
        )?;
        let event = Event::new(
            "demo-seed",
            "system",
            "tenant.create",
            &format!("tenant:{DEMO_TENANT_ID}"),
        )
        .tenant(Some(DEMO_TENANT_ID));
        audit::append(c, &event, &Origin::default())?;
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo tenant: {e}"))
}
