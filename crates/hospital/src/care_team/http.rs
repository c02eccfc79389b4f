//! `GET|POST …/patients/{id}/care-team`, `DELETE …/patients/{id}/care-team/{user_id}`.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::audit::Origin;
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::response;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store;
use crate::patients::http::audit_patient;
use crate::patients::scope;
use crate::tenant::tenant_of;
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

#[derive(Serialize)]
struct MemberView {
    user_id: String,
    username: Option<String>,
    role: String,
    added_by: String,
    added_at: chrono::NaiveDateTime,
}

async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    let members = db
        .write(move |c| {
            if !scope::can_see(c, &user, &tenant, &id, false)? {
                return Err(scope::not_found());
            }
            audit_patient(c, &user, &tenant, &origin, "care_team.read", &id, json!({}))?;
            let mut out = Vec::new();
            for m in store::members(c, &tenant, &id)? {
                let username = users::get_in_tenant(c, &tenant, &m.user_id)
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
    Ok(response::ok(members))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    user_id: String,
}

async fn add(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<Add>,
) -> ApiResult<HttpResponse> {
    user.require(P::CareTeamManage)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    let member_id = body.into_inner().user_id;
    if member_id.is_empty() || member_id.len() > 64 {
        return Err(ApiError::field("user_id", "must be a user id"));
    }
    db.write(move |c| {
        scope::require_care_team_manager(c, &user, &tenant, &id)?;
        let member = users::get_in_tenant(c, &tenant, &member_id)
            .map_err(|_| ApiError::field("user_id", "no such user in this hospital"))?;
        if !member.active || !user.role_can(&member.role, P::PatientsReadAssigned) {
            return Err(ApiError::field(
                "user_id",
                "only active clinicians (doctors, nurses) join a care team",
            ));
        }
        if store::is_member(c, &tenant, &id, &member_id)? {
            return Err(ApiError::Conflict("already on the care team".into()));
        }
        store::add(c, &tenant, &id, &member_id, &member.role, &user.id)?;
        audit_patient(
            c,
            &user,
            &tenant,
            &origin,
            "care_team.add",
            &id,
            json!({ "member": member_id, "role": member.role }),
        )
    })
    .await?;
    Ok(response::created(json!({ "added": true })))
}

async fn remove(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    user.require(P::CareTeamManage)?;
    let tenant = tenant_of(&user)?;
    let (id, member_id) = path.into_inner();
    db.write(move |c| {
        scope::require_care_team_manager(c, &user, &tenant, &id)?;
        if !store::remove(c, &tenant, &id, &member_id, &user.id)? {
            return Err(ApiError::NotFound("not on the care team".into()));
        }
        audit_patient(
            c,
            &user,
            &tenant,
            &origin,
            "care_team.remove",
            &id,
            json!({ "member": member_id }),
        )
    })
    .await?;
    Ok(response::ok(json!({ "removed": true })))
}
