//! Notifications pushed through the real-time hub after a write commits.
//! Each goes only to users the API would tell the same facts: the care
//! team (who may see the patient), the appointment's doctor (who sees
//! their own appointments) and the patient's own portal account. They
//! carry ids and times, never PHI (the client reads the rest through the
//! API, audited as usual).

use common::db::Db;
use common::realtime::{Envelope, Kind};
use common::ApiResult;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::care_team::store as care_team;
use crate::context::Ctx;
use crate::schema::patients;

fn push(ctx: &Ctx, to: &str, data: Value) -> usize {
    if to == ctx.user.id {
        return 0;
    }
    let frame = Envelope::new(Kind::Notification, &ctx.user.id, to, data);
    ctx.hub.send_to_user(to, &frame)
}

/// `member` was added to `patient`'s care team.
pub fn care_team_added(ctx: &Ctx, patient: &str, member: &str) {
    push(
        ctx,
        member,
        json!({ "event": "care_team.added", "patient_id": patient, "by": ctx.user.id }),
    );
}

/// The caller broke the glass on `patient`: its care team is told.
pub async fn break_glass(db: &Db, ctx: &Ctx, patient: &str, grant: &str) -> ApiResult<()> {
    let (tenant, p) = (ctx.tenant.clone(), patient.to_string());
    let members = db.run(move |c| care_team::members(c, &tenant, &p)).await?;
    for m in members {
        push(
            ctx,
            &m.user_id,
            json!({ "event": "break_glass", "patient_id": patient, "by": ctx.user.id, "grant": grant }),
        );
    }
    Ok(())
}

/// A new appointment: its doctor and the patient's portal account are told.
pub async fn appointment_booked(
    db: &Db,
    ctx: &Ctx,
    appointment: &str,
    patient: &str,
    doctor: &str,
    starts_at: chrono::NaiveDateTime,
) -> ApiResult<()> {
    let data = json!({ "event": "appointment.booked", "appointment_id": appointment, "starts_at": starts_at });
    push(ctx, doctor, data.clone());
    let (tenant, p) = (ctx.tenant.clone(), patient.to_string());
    let portal: Option<Option<String>> = db
        .run(move |c| {
            Ok(patients::table
                .filter(patients::tenant_id.eq(&tenant))
                .filter(patients::id.eq(&p))
                .select(patients::portal_user_id)
                .first(c)
                .optional()?)
        })
        .await?;
    if let Some(Some(user)) = portal {
        push(ctx, &user, data);
    }
    Ok(())
}
