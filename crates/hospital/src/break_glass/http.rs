//! `POST …/patients/{id}/break-glass`, `GET …/break-glass`,
//! `POST …/break-glass/{id}/acknowledge`.

use crate::settings::ClinicalSection;
use actix_web::{web, HttpResponse};
use common::audit::{Origin, Severity};
use common::auth::AuthUser;
use common::crypto::Keyring;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::security::{self, NewEvent};
use common::{audit, ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::store;
use crate::care_team::store as care_team;
use crate::patients::scope;
use crate::tenant::{keyring_of, tenant_of};
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/patients/{id}/break-glass").route(web::post().to(request)))
        .service(resource("/break-glass").route(web::get().to(list)))
        .service(resource("/break-glass/{id}/acknowledge").route(web::post().to(acknowledge)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    reason: String,
}

/// At least a sentence: 20+ characters and 4+ words, at most 1000 characters.
fn check_reason(reason: &str) -> ApiResult<()> {
    let r = reason.trim();
    if r.chars().count() < 20 || r.split_whitespace().count() < 4 {
        return Err(ApiError::field(
            "reason",
            "give the reason in at least a sentence (20 characters, 4 words)",
        ));
    }
    if r.chars().count() > 1000 || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            "reason",
            "must be at most 1000 printable characters",
        ));
    }
    Ok(())
}

async fn request(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    clinical: web::Data<ClinicalSection>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<Request>,
) -> ApiResult<HttpResponse> {
    user.require(P::BreakGlassRequest)?;
    let reason = body.into_inner().reason;
    check_reason(&reason)?;
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let minutes = clinical.break_glass_minutes;
    let id = id.into_inner();
    let grant = db
        .write(move |c| {
            if !scope::exists_in_tenant(c, &tenant, &id)? {
                return Err(scope::not_found());
            }
            if care_team::is_member(c, &tenant, &id, &user.id)? {
                return Err(ApiError::Conflict(
                    "you are on this patient's care team already".into(),
                ));
            }
            let g = store::insert(c, &keyring, &tenant, &id, &user.id, reason.trim(), minutes)?;
            let details = json!({ "grant": g.id, "expires_at": g.expires_at, "minutes": minutes });
            let event = audit::Event::new(
                &user.id,
                &user.role,
                "patient.break_glass",
                &format!("patient:{id}"),
            )
            .tenant(Some(&tenant))
            .severity(Severity::Critical)
            .details(details.clone());
            audit::append(c, &event, &origin)?;
            // Raised to company for review; the reason (PHI) stays here.
            security::record(
                c,
                &NewEvent::new(
                    "break_glass",
                    Severity::Critical,
                    &user.id,
                    Some(&tenant),
                    details,
                ),
            )?;
            Ok(g)
        })
        .await?;
    Ok(response::created(
        json!({ "id": grant.id, "patient_id": grant.patient_id, "expires_at": grant.expires_at }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    acknowledged: Option<bool>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    user: AuthUser,
    origin: Origin,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::BreakGlassReview)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let (views, total) = db
        .write(move |c| {
            let (rows, total) = store::list(c, &tenant, q.acknowledged, &page)?;
            let mut views = Vec::with_capacity(rows.len());
            for g in &rows {
                let event = audit::Event::new(
                    &user.id,
                    &user.role,
                    "break_glass.review_read",
                    &format!("patient:{}", g.patient_id),
                )
                .tenant(Some(&tenant))
                .details(json!({ "grant": g.id }));
                audit::append(c, &event, &origin)?;
                views.push(store::to_view(c, &keyring, g)?);
            }
            Ok((views, total))
        })
        .await?;
    Ok(response::page(views, &page, total))
}

async fn acknowledge(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(P::BreakGlassReview)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    db.write(move |c| {
        let g =
            store::get(c, &tenant, &id).map_err(|_| ApiError::NotFound("no such grant".into()))?;
        if g.acknowledged_at.is_some() {
            return Err(ApiError::Conflict("already acknowledged".into()));
        }
        store::acknowledge(c, &tenant, &id, &user.id)?;
        let event = audit::Event::new(
            &user.id,
            &user.role,
            "break_glass.acknowledge",
            &format!("patient:{}", g.patient_id),
        )
        .tenant(Some(&tenant))
        .details(json!({ "grant": id }));
        audit::append(c, &event, &origin)
    })
    .await?;
    Ok(response::ok(json!({ "acknowledged": true })))
}
