//! The hospital's link to owner: a heartbeat every
//! `plane.heartbeat_interval_secs` reports the database's health and the
//! staff directory of the tenant in the certificate (never patients, never
//! PHI), and brings back that tenant's status and plan, kept in
//! `tenant_standing` and enforced through [`standing::GATE`] (the kernel's
//! [`TenantGate`](common::auth::TenantGate) hook), and owner's commands
//! ([`commands`]). On first start it fetches its provisioning (the first
//! admin, [`provision`]). Owner never calls in. The heartbeat also
//! reports the patient-file store: its backend, whether it answers, and
//! the tenant's stored bytes and objects against the plan's quota, and
//! where the server stands with the release company approved
//! ([`common::updates`]).

pub mod commands;
pub mod heartbeat;
pub mod provision;
pub mod standing;

use common::config::Config;
use common::mtls::client::PeerClient;
use common::mtls::ServiceIdentity;
use common::plane::PlaneContext;
use tokio::task::JoinHandle;

/// The hospital's plane work: the kernel's reporting to company, the
/// de-identified reports, and the heartbeat to owner.
pub fn start(ctx: PlaneContext, config: &Config) -> anyhow::Result<Vec<JoinHandle<()>>> {
    // The file store the heartbeat checks: opened once, as `[files]` says.
    let (_, objects) = crate::files::rules::load(config)?;
    let owner = PeerClient::new(
        &ctx.plane,
        &ctx.trust,
        ServiceIdentity::Owner,
        Some(ctx.alarms.clone()),
    )?;
    // The release company approved: asked every `[updates] check_interval_secs`.
    let updates = common::updates::load(config, crate::PRODUCT)?;
    let company = PeerClient::new(
        &ctx.plane,
        &ctx.trust,
        ServiceIdentity::Company,
        Some(ctx.alarms.clone()),
    )?;
    let tenant = ctx.identity.tenant().map(str::to_string);
    let mut tasks = common::plane::start_reporting(ctx.clone())?;
    // The configuration documents dev versions and company approves
    // (product `hospital-config`): asked for the same way, kept apart.
    tasks.push(tokio::spawn(common::updates::forever(
        ctx.db.clone(),
        company.clone(),
        updates.documents(crate::CONFIG_PRODUCT),
        tenant.clone(),
    )));
    // De-identified reports of the certificate's tenant (issue 14).
    tasks.extend(crate::reporting::ship::start(&ctx, company.clone()));
    tasks.push(tokio::spawn(common::updates::forever(
        ctx.db.clone(),
        company,
        updates,
        tenant,
    )));
    // A hosted server's further tenants, each under its own certificate:
    // provisioning, heartbeat (health, staff directory, commands, plan),
    // security events and reports of that tenant only.
    for t in common::plane::tenant_contexts(&ctx)? {
        let owner_t = PeerClient::new(
            &t.plane,
            &t.trust,
            ServiceIdentity::Owner,
            Some(t.alarms.clone()),
        )?;
        let company_t = PeerClient::new(
            &t.plane,
            &t.trust,
            ServiceIdentity::Company,
            Some(t.alarms.clone()),
        )?;
        tracing::info!(tenant = ?t.identity.tenant(), "hosted tenant on its own certificate");
        tasks.push(common::plane::start_events(t.clone(), company_t.clone()));
        tasks.extend(crate::reporting::ship::start(&t, company_t));
        tasks.push(tokio::spawn(provision::until_done(
            t.clone(),
            owner_t.clone(),
        )));
        tasks.push(tokio::spawn(heartbeat::forever(
            t,
            owner_t,
            objects.clone(),
        )));
    }
    tasks.push(tokio::spawn(provision::until_done(
        ctx.clone(),
        owner.clone(),
    )));
    // The online copy: the one database's change log, under the server's
    // own certificate (a hosted server's further tenants share it).
    let backup = crate::backup::section(config)?;
    tasks.extend(crate::backup::ship::start(&ctx, owner.clone(), &backup)?);
    tasks.push(tokio::spawn(heartbeat::forever(ctx, owner, objects)));
    Ok(tasks)
}
