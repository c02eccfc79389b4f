//! The wards page (`/wards`): occupancy per department, the beds with who
//! lies in them (for those who may see admissions), the admit, transfer
//! and discharge forms, and for the admin the rooms and beds to manage.
//! Each goes through the API's functions (same scope, checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    add_bed, add_room, admit_patient, beds_page, change_room, discharge_patient, list_admissions,
    occupancy_of, rooms_page, transfer_patient, AdmissionDischargeRequest, AdmissionListQuery,
    AdmissionRequest, WardBedListQuery, WardBedRequest, WardRoomListQuery, WardRoomRequest,
    WardRoomUpdate,
};
use super::model::{RoomKind, WardOccupancyView, WardRoomView};
use super::scope;
use crate::appointments::model::check_id;
use crate::departments::store as departments;
use crate::pages::PageCtx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wards", web::get().to(wards))
        .route("/wards/admit", web::post().to(admit))
        .route("/wards/admissions/{id}/transfer", web::post().to(transfer))
        .route(
            "/wards/admissions/{id}/discharge",
            web::post().to(discharge),
        )
        .route("/wards/rooms", web::post().to(new_room))
        .route("/wards/rooms/{id}", web::post().to(edit_room))
        .route("/wards/rooms/{id}/beds", web::post().to(new_bed));
}

/// One bed as shown.
struct BedRow {
    room: String,
    label: String,
    /// Who lies in it ("" when free, or when the caller may not know).
    patient_id: String,
    occupied: bool,
}

/// One active admission as shown.
struct AdmissionRow {
    id: String,
    patient_id: String,
    bed: String,
    reason: String,
    admitted: String,
}

#[derive(Template)]
#[template(path = "wards.html")]
struct WardsPage {
    layout: Layout,
    occupancy: Vec<WardOccupancyView>,
    beds: Vec<BedRow>,
    free_beds: Vec<(String, String)>,
    admissions: Vec<AdmissionRow>,
    rooms: Vec<WardRoomView>,
    departments: Vec<(String, String)>,
    can_see_admissions: bool,
    can_admit: bool,
    can_discharge: bool,
    can_manage: bool,
    error: Option<String>,
}

const KINDS: [(&str, &str); 3] = [
    ("ward", "Ward"),
    ("icu", "Intensive care"),
    ("private", "Private"),
];

async fn render(db: &Db, p: PageCtx, status: StatusCode, error: Option<String>) -> PageResult {
    let ctx = p.ctx.clone();
    let page = Page::of(None, Some(100))?;
    let occupancy = occupancy_of(db, ctx.clone()).await?;
    let (beds, _) = beds_page(db, ctx.clone(), &WardBedListQuery::default(), page).await?;
    let can_see_admissions = scope::require_reader(&ctx.user).is_ok();
    let admissions = if can_see_admissions {
        let q = AdmissionListQuery {
            active: Some(true),
            ..Default::default()
        };
        list_admissions(db, ctx.clone(), &q, page).await?.0
    } else {
        Vec::new()
    };
    let can_manage = scope::require_wards_manager(&ctx.user).is_ok();
    let (rooms, departments) = if can_manage {
        let q = WardRoomListQuery {
            include_inactive: Some(true),
            ..Default::default()
        };
        let rooms = rooms_page(db, ctx.clone(), &q, page).await?.0;
        let tenant = ctx.tenant.clone();
        let depts = db
            .run(move |c| departments::list(c, &tenant, false, &page))
            .await?
            .0
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        (rooms, depts)
    } else {
        (Vec::new(), Vec::new())
    };
    let bed_name = |id: &str| {
        beds.iter()
            .find(|b| b.id == id)
            .map(|b| format!("{} {}", b.room_name, b.label))
            .unwrap_or_else(|| id.to_string())
    };
    let admission_rows = admissions
        .iter()
        .map(|a| AdmissionRow {
            id: a.id.clone(),
            patient_id: a.patient_id.clone(),
            bed: bed_name(&a.bed_id),
            reason: a.reason.clone().unwrap_or_default(),
            admitted: a.admitted_at.format("%Y-%m-%d %H:%M").to_string(),
        })
        .collect();
    let bed_rows = beds
        .iter()
        .map(|b| BedRow {
            room: b.room_name.clone(),
            label: b.label.clone(),
            patient_id: admissions
                .iter()
                .find(|a| a.bed_id == b.id)
                .map(|a| a.patient_id.clone())
                .unwrap_or_default(),
            occupied: b.occupied,
        })
        .collect();
    let free_beds = beds
        .iter()
        .filter(|b| !b.occupied)
        .map(|b| (b.id.clone(), format!("{} {}", b.room_name, b.label)))
        .collect();
    html_status(
        status,
        &WardsPage {
            layout: p.web.layout("Wards"),
            occupancy,
            beds: bed_rows,
            free_beds,
            admissions: admission_rows,
            rooms,
            departments,
            can_see_admissions,
            can_admit: scope::require_admitter(&ctx.user).is_ok(),
            can_discharge: scope::require_discharger(&ctx.user).is_ok(),
            can_manage,
            error,
        },
    )
}

async fn wards(db: web::Data<Db>, p: PageCtx) -> PageResult {
    scope::require_wards_reader(&p.ctx.user)?;
    render(&db, p, StatusCode::OK, None).await
}

/// After a form: back to the page, or the page again with a refusal's message.
async fn after(db: &Db, p: PageCtx, done: Result<(), ApiError>) -> PageResult {
    match done {
        Ok(()) => Ok(redirect("/wards")),
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_))) => {
            let status = if matches!(e, ApiError::Validation { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            render(db, p, status, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct AdmitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    bed_id: String,
    #[serde(default)]
    reason: String,
}

async fn admit(db: web::Data<Db>, p: PageCtx, form: web::Form<AdmitForm>) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let req = AdmissionRequest {
        patient_id: f.patient_id.trim().to_string(),
        bed_id: f.bed_id,
        reason: f.reason,
    };
    let done = admit_patient(&db, p.ctx.clone(), req).await.map(|_| ());
    after(&db, p, done).await
}

#[derive(Deserialize)]
struct BedForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bed_id: String,
}

async fn transfer(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<BedForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    check_id("id", &id)?;
    let done = transfer_patient(&db, p.ctx.clone(), id, form.into_inner().bed_id)
        .await
        .map(|_| ());
    after(&db, p, done).await
}

#[derive(Deserialize)]
struct DischargeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    summary: String,
}

async fn discharge(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<DischargeForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    check_id("id", &id)?;
    let req = AdmissionDischargeRequest {
        summary: form.into_inner().summary,
        title: None,
    };
    let done = discharge_patient(&db, p.ctx.clone(), id, req)
        .await
        .map(|_| ());
    after(&db, p, done).await
}

#[derive(Deserialize)]
struct RoomForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    department_id: String,
}

async fn new_room(db: web::Data<Db>, p: PageCtx, form: web::Form<RoomForm>) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let attempt = async {
        let kind: RoomKind = f
            .kind
            .parse()
            .map_err(|_| ApiError::field("type", "choose the kind of room"))?;
        let req = WardRoomRequest {
            name: f.name.clone(),
            kind,
            department_id: f.department_id.clone(),
        };
        add_room(&db, p.ctx.clone(), req).await.map(|_| ())
    };
    let done = attempt.await;
    after(&db, p, done).await
}

#[derive(Deserialize)]
struct EditRoomForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// `activate`, `deactivate` or empty (rename only).
    #[serde(default)]
    active: String,
}

async fn edit_room(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<EditRoomForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let f = form.into_inner();
    let req = WardRoomUpdate {
        name: Some(f.name).filter(|n| !n.trim().is_empty()),
        active: match f.active.as_str() {
            "activate" => Some(true),
            "deactivate" => Some(false),
            _ => None,
        },
    };
    let done = change_room(&db, p.ctx.clone(), id.into_inner(), req)
        .await
        .map(|_| ());
    after(&db, p, done).await
}

#[derive(Deserialize)]
struct NewBedForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
}

async fn new_bed(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<NewBedForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let req = WardBedRequest {
        label: form.into_inner().label,
    };
    let done = add_bed(&db, p.ctx.clone(), id.into_inner(), req)
        .await
        .map(|_| ());
    after(&db, p, done).await
}
