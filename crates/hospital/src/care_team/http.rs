//! `GET|POST …/patients/{id}/care-team`, `DELETE …/patients/{id}/care-team/{user_id}`.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::db::Db;
use common::http::resource;
use common::response;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store;
use crate::context::Ctx;
use crate::patients::scope;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/patients/{id}/care-team")
            .route(web::get().to(list))
            .route(web::post().to(add)),
    )
    .service(resource("/patients/{id}/care-team/{user_id}").route(web::delete().to(remove)));
}

#[derive(utoipa::ToSchema, Serialize)]
pub(crate) struct MemberView {
    pub(crate) user_id: String,
    pub(crate) username: Option<String>,
    pub(crate) role: String,
    pub(crate) added_by: String,
    pub(crate) added_at: chrono::NaiveDateTime,
}

#[utoipa::path(get, path = "/patients/{id}/care-team", tag = "care team", security(("bearer" = [])), summary = "A patient's care team (written to the access log)",
    responses((status = 200, description = "The members", body = Vec<MemberView>)))]
async fn list(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let members = team(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(members))
}

/// A patient's care team, with its access-log row (shared with the pages).
pub(crate) async fn team(db: &Db, ctx: Ctx, id: String) -> ApiResult<Vec<MemberView>> {
    scope::require_reader(&ctx.user)?;
    let (c, patient) = (ctx.clone(), id.clone());
    let members = db
        .run(move |conn| {
            if !scope::can_see(conn, &c.user, &c.tenant, &patient, false)? {
                return Err(scope::not_found());
            }
            let mut out = Vec::new();
            for m in store::members(conn, &c.tenant, &patient)? {
                let username = users::get_in_tenant(conn, &c.tenant, &m.user_id)
                    .ok()
                    .map(|u| u.username);
                out.push(MemberView {
                    user_id: m.user_id,
                    username,
                    role: m.member_role,
                    added_by: m.added_by,
                    added_at: m.added_at,
                });
            }
            Ok(out)
        })
        .await?;
    ctx.record(db, vec![ctx.patient_event("care_team.read", &id)])
        .await?;
    Ok(members)
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    #[schema(min_length = 1, max_length = 64)]
    user_id: String,
}

#[utoipa::path(post, path = "/patients/{id}/care-team", tag = "care team", security(("bearer" = [])), summary = "Add a clinician to a patient's care team (care_team.manage)",
    responses((status = 201, description = "Added", body = crate::openapi::Added),
        (status = 409, description = "Already on the care team")))]
async fn add(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<Add>,
) -> ApiResult<HttpResponse> {
    add_member(&db, ctx, id.into_inner(), body.into_inner().user_id).await?;
    Ok(response::created(json!({ "added": true })))
}

/// Put a clinician on a patient's care team, with its audit row (shared with the pages).
pub(crate) async fn add_member(db: &Db, ctx: Ctx, id: String, member_id: String) -> ApiResult<()> {
    ctx.require(P::CareTeamManage)?;
    if member_id.is_empty() || member_id.len() > 64 {
        return Err(ApiError::field("user_id", "must be a user id"));
    }
    let (c, patient, member) = (ctx.clone(), id.clone(), member_id.clone());
    db.write(move |conn| {
        scope::require_care_team_manager(conn, &ctx.user, &ctx.tenant, &id)?;
        let member = users::get_in_tenant(conn, &ctx.tenant, &member_id)
            .map_err(|_| ApiError::field("user_id", "no such user in this hospital"))?;
        if !member.active || !ctx.user.role_can(&member.role, P::PatientsReadAssigned) {
            return Err(ApiError::field(
                "user_id",
                "only active clinicians (doctors, nurses) join a care team",
            ));
        }
        if store::is_member(conn, &ctx.tenant, &id, &member_id)? {
            return Err(ApiError::Conflict("already on the care team".into()));
        }
        join(conn, &ctx, &id, &member)
    })
    .await?;
    crate::messages::notify::care_team_added(&c, &patient, &member);
    Ok(())
}

/// Put `member` (known not to be on it) on `patient`'s care team, with the
/// file folders a doctor gets and the `care_team.add` audit row, inside the
/// caller's write transaction (the care-team endpoint and an accepted
/// referral). The caller notifies with `messages::notify::care_team_added`
/// once committed.
pub(crate) fn join(
    conn: &mut common::db::DbConn,
    ctx: &Ctx,
    patient: &str,
    member: &users::User,
) -> ApiResult<()> {
    store::add(
        conn,
        &ctx.tenant,
        patient,
        &member.id,
        &member.role,
        &ctx.user.id,
    )?;
    // A doctor taking a patient on gets the patient's folder in each
    // of their file workspaces.
    let folders = crate::files::store::ensure_folders_of_doctor(
        conn,
        &ctx.tenant,
        &member.id,
        patient,
        &ctx.user.id,
    )?;
    let event = ctx.patient_event("care_team.add", patient).details(
        json!({ "member": member.id, "role": member.role, "file_folders": folders.len() }),
    );
    ctx.audit(conn, &event)
}

#[utoipa::path(delete, path = "/patients/{id}/care-team/{user_id}", tag = "care team", security(("bearer" = [])), summary = "Remove a member (care_team.manage)",
    responses((status = 200, description = "Removed", body = crate::openapi::Removed)))]
async fn remove(
    db: web::Data<Db>,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, member_id) = path.into_inner();
    remove_member(&db, ctx, id, member_id).await?;
    Ok(response::ok(json!({ "removed": true })))
}

/// Take a member off a patient's care team, with its audit row (shared with the pages).
pub(crate) async fn remove_member(
    db: &Db,
    ctx: Ctx,
    id: String,
    member_id: String,
) -> ApiResult<()> {
    ctx.require(P::CareTeamManage)?;
    db.write(move |conn| {
        scope::require_care_team_manager(conn, &ctx.user, &ctx.tenant, &id)?;
        if !store::remove(conn, &ctx.tenant, &id, &member_id, &ctx.user.id)? {
            return Err(ApiError::NotFound("not on the care team".into()));
        }
        let event = ctx
            .patient_event("care_team.remove", &id)
            .details(json!({ "member": member_id }));
        ctx.audit(conn, &event)
    })
    .await
}
