//! First start: fetch the tenant's provisioning from owner (its first
//! admin, chosen at registration) and create that admin, once. The
//! `provisioning` row records that it was done, so a later start (with a
//! rotated certificate, which owner would refuse) does not ask again.

use std::time::Duration;

use common::accounts::create::{self, Creator};
use common::accounts::store::{self as users, NewUser};
use common::audit::Origin;
use common::db::{now, DbConn};
use common::mtls::client::PeerClient;
use common::plane::PlaneContext;
use common::ApiResult;
use contracts::{paths, Provisioning};
use diesel::prelude::*;

use crate::schema::provisioning;

/// Ask until owner has answered once (every heartbeat interval).
pub async fn until_done(ctx: PlaneContext, owner: PeerClient) {
    let mut tick = tokio::time::interval(Duration::from_secs(
        ctx.plane.heartbeat_interval_secs.max(1),
    ));
    loop {
        tick.tick().await;
        match once(&ctx, &owner).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "provisioning from owner not fetched yet; will retry")
            }
        }
    }
}

/// Whether this tenant's provisioning was fetched already.
pub fn done(conn: &mut DbConn, tenant: &str) -> ApiResult<bool> {
    Ok(provisioning::table
        .filter(provisioning::tenant_id.eq(tenant))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Fetch and apply the provisioning unless done; returns the admin's id if
/// one was created.
pub async fn once(ctx: &PlaneContext, owner: &PeerClient) -> anyhow::Result<Option<String>> {
    let tenant = ctx
        .identity
        .tenant()
        .ok_or_else(|| anyhow::anyhow!("a hospital certificate names a tenant"))?
        .to_string();
    let t = tenant.clone();
    if ctx.db.run(move |c| done(c, &t)).await? {
        return Ok(None);
    }
    let p: Provisioning = owner.get(paths::PROVISIONING, &[]).await?;
    if !p.tenant_id.eq_ignore_ascii_case(&tenant) {
        anyhow::bail!(
            "owner answered for tenant {} instead of {tenant}",
            p.tenant_id
        );
    }
    let created = ctx.db.write(move |c| apply(c, &tenant, &p)).await?;
    Ok(created)
}

/// Create the first admin (unless its login name exists) and record it.
pub fn apply(conn: &mut DbConn, tenant: &str, p: &Provisioning) -> ApiResult<Option<String>> {
    if done(conn, tenant)? {
        return Ok(None);
    }
    let mut created = None;
    if let Some(a) = &p.first_admin {
        let email = a.email.to_ascii_lowercase();
        if !users::login_name_taken(conn, tenant, &email, None)? {
            let mut user = NewUser::new(tenant, &email, a.password_hash.clone(), "admin");
            user.email = Some(email.clone());
            user.full_name = Some(format!("{} {}", a.first_name, a.last_name));
            let by = Creator {
                actor: "owner",
                role: "system",
            };
            create::insert(conn, &user, by, &Origin::default())?;
            created = Some(user.id.clone());
        }
    }
    diesel::insert_into(provisioning::table)
        .values((
            provisioning::tenant_id.eq(tenant),
            provisioning::admin_user_id.eq(created.clone()),
            provisioning::provisioned_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(created)
}
