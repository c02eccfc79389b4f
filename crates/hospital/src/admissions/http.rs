//! `POST|GET …/rooms`, `PATCH …/rooms/{id}`, `POST …/rooms/{id}/beds`,
//! `GET …/beds`, `POST|GET …/admissions`, `GET …/admissions/{id}`,
//! `POST …/admissions/{id}/{transfer,discharge}`, `GET …/occupancy`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{
    AdmissionStatus, AdmissionView, RoomKind, WardBedView, WardOccupancyView, WardRoomView,
};
use super::scope;
use super::store::{self, Admission, Bed, ListFilter, Room};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;
use crate::departments::store as departments;
use crate::notes::model::{NoteContent, NoteType, MAX_BODY};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/rooms")
            .route(web::get().to(list_rooms))
            .route(web::post().to(create_room)),
    )
    .service(resource("/rooms/{id}").route(web::patch().to(update_room)))
    .service(resource("/rooms/{id}/beds").route(web::post().to(create_bed)))
    .service(resource("/beds").route(web::get().to(list_beds)))
    .service(resource("/occupancy").route(web::get().to(occupancy)))
    .service(
        resource("/admissions")
            .route(web::get().to(list))
            .route(web::post().to(admit)),
    )
    .service(resource("/admissions/{id}").route(web::get().to(get)))
    .service(resource("/admissions/{id}/transfer").route(web::post().to(transfer)))
    .service(resource("/admissions/{id}/discharge").route(web::post().to(discharge)));
}

// ---- rooms and beds ----

/// A new room.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct WardRoomRequest {
    /// Name (1 to 100 characters), unique in the hospital.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: RoomKind,
    /// The department (active).
    #[schema(min_length = 1, max_length = 64)]
    pub department_id: String,
}

#[utoipa::path(post, path = "/rooms", tag = "wards", security(("bearer" = [])),
    summary = "Add a room to a department (wards.manage)",
    request_body = WardRoomRequest,
    responses((status = 201, description = "Added", body = WardRoomView),
        (status = 409, description = "CONFLICT: a room of that name exists")))]
async fn create_room(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<WardRoomRequest>,
) -> ApiResult<HttpResponse> {
    let view = add_room(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Add a room (shared with pages).
pub(crate) async fn add_room(db: &Db, ctx: Ctx, req: WardRoomRequest) -> ApiResult<WardRoomView> {
    scope::require_wards_manager(&ctx.user)?;
    let name = check_text("name", &req.name, 1, 100)?;
    check_id("department_id", &req.department_id)?;
    db.write(move |conn| {
        let tenant = &ctx.tenant;
        let dept = departments::get(conn, tenant, &req.department_id)
            .map_err(|_| ApiError::field("department_id", "no such department"))?;
        if !dept.active {
            return Err(ApiError::field(
                "department_id",
                "the department is not in use",
            ));
        }
        let t = now();
        let r = Room {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.clone(),
            department_id: dept.id,
            name,
            kind: req.kind.as_str().to_string(),
            active: true,
            created_at: t,
            updated_at: t,
        };
        store::insert_room(conn, &r)?;
        let event = ctx
            .event("room.create", &format!("room:{}", r.id))
            .details(json!({ "department_id": r.department_id, "type": r.kind }));
        ctx.audit(conn, &event)?;
        store::room_view(conn, r)
    })
    .await
}

/// A change to a room: absent fields stay.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct WardRoomUpdate {
    /// New name (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// In use or not (a room with patients in its beds is not deactivated).
    pub active: Option<bool>,
}

#[utoipa::path(patch, path = "/rooms/{id}", tag = "wards", security(("bearer" = [])),
    summary = "Rename or (de)activate a room (wards.manage)",
    request_body = WardRoomUpdate,
    responses((status = 200, description = "Changed", body = WardRoomView),
        (status = 409, description = "CONFLICT: a room of that name exists, or patients lie in the room's beds")))]
async fn update_room(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<WardRoomUpdate>,
) -> ApiResult<HttpResponse> {
    let view = change_room(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(view))
}

/// Change a room (shared with pages).
pub(crate) async fn change_room(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: WardRoomUpdate,
) -> ApiResult<WardRoomView> {
    scope::require_wards_manager(&ctx.user)?;
    check_id("id", &id)?;
    let name = match &req.name {
        Some(n) => Some(check_text("name", n, 1, 100)?),
        None => None,
    };
    if name.is_none() && req.active.is_none() {
        return Err(ApiError::validation("give a name or active"));
    }
    db.write(move |conn| {
        let tenant = &ctx.tenant;
        let r = store::room(conn, tenant, &id)?.ok_or_else(scope::room_not_found)?;
        if req.active == Some(false) && store::occupied_in_room(conn, tenant, &r.id)? > 0 {
            return Err(ApiError::Conflict(
                "patients lie in the room's beds; transfer or discharge them first".into(),
            ));
        }
        store::update_room(conn, &r, name.as_deref(), req.active)?;
        let event = ctx
            .event("room.update", &format!("room:{}", r.id))
            .details(json!({ "renamed": name.is_some(), "active": req.active }));
        ctx.audit(conn, &event)?;
        let r = store::room(conn, tenant, &id)?.ok_or_else(scope::room_not_found)?;
        store::room_view(conn, r)
    })
    .await
}

/// The room list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct WardRoomListQuery {
    /// One department's rooms.
    pub department_id: Option<String>,
    /// Also rooms no longer in use.
    pub include_inactive: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/rooms", tag = "wards", security(("bearer" = [])),
    summary = "Rooms by name, with their bed counts (wards.read)",
    params(WardRoomListQuery),
    responses((status = 200, description = "A page of rooms", body = Vec<WardRoomView>)))]
async fn list_rooms(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<WardRoomListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = rooms_page(&db, ctx, &q, page).await?;
    Ok(response::page(rows, &page, total))
}

/// A page of rooms (shared with pages).
pub(crate) async fn rooms_page(
    db: &Db,
    ctx: Ctx,
    q: &WardRoomListQuery,
    page: Page,
) -> ApiResult<(Vec<WardRoomView>, i64)> {
    scope::require_wards_reader(&ctx.user)?;
    if let Some(d) = &q.department_id {
        check_id("department_id", d)?;
    }
    let (dept, all) = (q.department_id.clone(), q.include_inactive.unwrap_or(false));
    db.run(move |conn| store::list_rooms(conn, &ctx.tenant, dept.as_deref(), all, &page))
        .await
}

/// A new bed.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct WardBedRequest {
    /// Label (1 to 50 characters), unique in the room.
    #[schema(min_length = 1, max_length = 50)]
    pub label: String,
}

#[utoipa::path(post, path = "/rooms/{id}/beds", tag = "wards", security(("bearer" = [])),
    summary = "Add a bed to a room (wards.manage)",
    request_body = WardBedRequest,
    responses((status = 201, description = "Added", body = WardBedView),
        (status = 409, description = "CONFLICT: a bed of that label exists in the room")))]
async fn create_bed(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<WardBedRequest>,
) -> ApiResult<HttpResponse> {
    let view = add_bed(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::created(view))
}

/// Add a bed (shared with pages).
pub(crate) async fn add_bed(
    db: &Db,
    ctx: Ctx,
    room: String,
    req: WardBedRequest,
) -> ApiResult<WardBedView> {
    scope::require_wards_manager(&ctx.user)?;
    check_id("id", &room)?;
    let label = check_text("label", &req.label, 1, 50)?;
    db.write(move |conn| {
        let tenant = &ctx.tenant;
        let r = store::room(conn, tenant, &room)?.ok_or_else(scope::room_not_found)?;
        let b = Bed {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.clone(),
            room_id: r.id.clone(),
            label,
            created_at: now(),
        };
        store::insert_bed(conn, &b)?;
        let event = ctx
            .event("bed.create", &format!("bed:{}", b.id))
            .details(json!({ "room": r.id }));
        ctx.audit(conn, &event)?;
        Ok(WardBedView {
            id: b.id,
            room_id: r.id,
            room_name: r.name,
            department_id: r.department_id,
            label: b.label,
            occupied: false,
        })
    })
    .await
}

/// The bed list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct WardBedListQuery {
    /// The beds of one department's rooms.
    pub department_id: Option<String>,
    /// Only free beds.
    pub free: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/beds", tag = "wards", security(("bearer" = [])),
    summary = "The beds of rooms in use, by room and label: whether each is taken, not by whom (wards.read)",
    params(WardBedListQuery),
    responses((status = 200, description = "A page of beds", body = Vec<WardBedView>)))]
async fn list_beds(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<WardBedListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = beds_page(&db, ctx, &q, page).await?;
    Ok(response::page(rows, &page, total))
}

/// A page of beds (shared with pages).
pub(crate) async fn beds_page(
    db: &Db,
    ctx: Ctx,
    q: &WardBedListQuery,
    page: Page,
) -> ApiResult<(Vec<WardBedView>, i64)> {
    scope::require_wards_reader(&ctx.user)?;
    if let Some(d) = &q.department_id {
        check_id("department_id", d)?;
    }
    let (dept, free) = (q.department_id.clone(), q.free.unwrap_or(false));
    db.run(move |conn| store::list_beds(conn, &ctx.tenant, dept.as_deref(), free, &page))
        .await
}

#[utoipa::path(get, path = "/occupancy", tag = "wards", security(("bearer" = [])),
    summary = "Per department: beds in rooms in use, occupied, free (counts only, no PHI; wards.read)",
    responses((status = 200, description = "One line per department with beds", body = Vec<WardOccupancyView>)))]
async fn occupancy(db: web::Data<Db>, ctx: Ctx) -> ApiResult<HttpResponse> {
    Ok(response::ok(occupancy_of(&db, ctx).await?))
}

/// The occupancy counts (shared with pages).
pub(crate) async fn occupancy_of(db: &Db, ctx: Ctx) -> ApiResult<Vec<WardOccupancyView>> {
    scope::require_wards_reader(&ctx.user)?;
    let rows = db
        .run(move |conn| store::occupancy(conn, &ctx.tenant))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, beds, occupied)| WardOccupancyView {
            department_id: id,
            department_name: name,
            beds,
            occupied,
            free: beds - occupied,
        })
        .collect())
}

// ---- admissions ----

/// An admission.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// The patient (not admitted already).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// A free bed in a room in use.
    #[schema(min_length = 1, max_length = 64)]
    pub bed_id: String,
    /// Why (3 to 2000 characters; clinical, sealed).
    #[schema(min_length = 3, max_length = 2000)]
    pub reason: String,
}

/// A transfer to another bed.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct AdmissionTransferRequest {
    /// A free bed in a room in use.
    #[schema(min_length = 1, max_length = 64)]
    pub bed_id: String,
}

/// A discharge.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct AdmissionDischargeRequest {
    /// The discharge summary (1 to 20000 characters): a signed clinical
    /// note of type `discharge_summary`.
    #[schema(min_length = 1, max_length = 20000)]
    pub summary: String,
    /// The summary's title (at most 200 characters; default "Discharge summary").
    #[schema(max_length = 200)]
    pub title: Option<String>,
}

/// A bed one may put a patient in: of this tenant (else 400), in a room in
/// use (else 400), free (else 409).
fn usable_bed(conn: &mut DbConn, tenant: &str, bed: &str) -> ApiResult<(Bed, Room)> {
    let (b, r) =
        store::bed(conn, tenant, bed)?.ok_or_else(|| ApiError::field("bed_id", "no such bed"))?;
    if !r.active {
        return Err(ApiError::field("bed_id", "the bed's room is not in use"));
    }
    if store::bed_taken(conn, tenant, &b.id)? {
        return Err(ApiError::Conflict("the bed is occupied".into()));
    }
    Ok((b, r))
}

#[utoipa::path(post, path = "/admissions", tag = "admissions", security(("bearer" = [])),
    summary = "Admit a patient to a free bed (admissions.manage; admissions.admit_assigned for a patient on one's care team)",
    request_body = AdmissionRequest,
    responses((status = 201, description = "Admitted", body = AdmissionView),
        (status = 404, description = "No such patient or bed, or a patient the caller may not see"),
        (status = 409, description = "CONFLICT: the bed is occupied or the patient is already admitted (enforced by the database)")))]
async fn admit(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<AdmissionRequest>,
) -> ApiResult<HttpResponse> {
    let view = admit_patient(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Admit (shared with pages).
pub(crate) async fn admit_patient(
    db: &Db,
    ctx: Ctx,
    req: AdmissionRequest,
) -> ApiResult<AdmissionView> {
    scope::require_admitter(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    check_id("bed_id", &req.bed_id)?;
    let reason = check_text("reason", &req.reason, 3, 2000)?;
    let c = ctx.clone();
    let a = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_admitter_for(conn, user, tenant, &req.patient_id)?;
            if store::active_of_patient(conn, tenant, &req.patient_id)?.is_some() {
                return Err(ApiError::Conflict("the patient is already admitted".into()));
            }
            let (b, r) = usable_bed(conn, tenant, &req.bed_id)?;
            let id = uuid::Uuid::new_v4().to_string();
            let t = now();
            let a = Admission {
                reason_enc: c
                    .keyring
                    .encrypt(conn, tenant, &reason, &store::aad(tenant, &id))?,
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                bed_id: b.id.clone(),
                status: AdmissionStatus::Active.as_str().to_string(),
                admitted_by: user.id.clone(),
                admitted_at: t,
                transfers: 0,
                discharged_by: None,
                discharged_at: None,
                discharge_note_id: None,
                updated_by: user.id.clone(),
                updated_at: t,
            };
            store::insert(conn, &a)?;
            let event = c
                .patient_event("admission.create", &a.patient_id)
                .details(json!({ "admission": a.id, "bed": b.id, "room": r.id }));
            c.audit(conn, &event)?;
            Ok(a)
        })
        .await?;
    show(db, &ctx, a).await
}

/// An admission the caller just changed, as they see it.
async fn show(db: &Db, ctx: &Ctx, a: Admission) -> ApiResult<AdmissionView> {
    let (keyring, clinical) = (ctx.keyring.clone(), scope::sees_reason(&ctx.user));
    db.run(move |conn| store::to_view(conn, &keyring, &a, clinical))
        .await
}

fn reread(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<Admission> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

fn not_active() -> ApiError {
    ApiError::Conflict("the patient has been discharged".into())
}

#[utoipa::path(post, path = "/admissions/{id}/transfer", tag = "admissions", security(("bearer" = [])),
    summary = "Move an admitted patient to another free bed (admissions.manage; admissions.admit_assigned for a patient on one's care team)",
    request_body = AdmissionTransferRequest,
    responses((status = 200, description = "Transferred", body = AdmissionView),
        (status = 409, description = "CONFLICT: the bed is occupied (enforced by the database), or the patient was discharged")))]
async fn transfer(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<AdmissionTransferRequest>,
) -> ApiResult<HttpResponse> {
    let view = transfer_patient(&db, ctx, id.into_inner(), body.into_inner().bed_id).await?;
    Ok(response::ok(view))
}

/// Transfer (shared with pages).
pub(crate) async fn transfer_patient(
    db: &Db,
    ctx: Ctx,
    id: String,
    bed: String,
) -> ApiResult<AdmissionView> {
    scope::require_admitter(&ctx.user)?;
    check_id("bed_id", &bed)?;
    let c = ctx.clone();
    let a = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let a = reread(conn, &c, &id)?;
            scope::require_admitter_for(conn, user, tenant, &a.patient_id)?;
            if a.status()? != AdmissionStatus::Active {
                return Err(not_active());
            }
            if a.bed_id == bed {
                return Err(ApiError::field("bed_id", "the patient is in that bed"));
            }
            let (b, _) = usable_bed(conn, tenant, &bed)?;
            if !store::transfer(conn, &a, &b.id, &user.id)? {
                return Err(ApiError::Conflict("the admission changed meanwhile".into()));
            }
            let event = c
                .patient_event("admission.transfer", &a.patient_id)
                .details(json!({ "admission": a.id, "from_bed": a.bed_id, "to_bed": b.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &a.id)
        })
        .await?;
    show(db, &ctx, a).await
}

#[utoipa::path(post, path = "/admissions/{id}/discharge", tag = "admissions", security(("bearer" = [])),
    summary = "Discharge an admitted patient on one's care team with a discharge summary, which becomes a signed clinical note of type discharge_summary (admissions.admit_assigned and notes.write)",
    request_body = AdmissionDischargeRequest,
    responses((status = 200, description = "Discharged; `discharge_note_id` names the summary", body = AdmissionView),
        (status = 409, description = "CONFLICT: the patient was discharged already")))]
async fn discharge(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<AdmissionDischargeRequest>,
) -> ApiResult<HttpResponse> {
    let view = discharge_patient(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(view))
}

/// Discharge (shared with pages).
pub(crate) async fn discharge_patient(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: AdmissionDischargeRequest,
) -> ApiResult<AdmissionView> {
    scope::require_discharger(&ctx.user)?;
    let title = match req.title.as_deref() {
        Some(t) if !t.trim().is_empty() => check_text("title", t, 1, 200)?,
        _ => "Discharge summary".to_string(),
    };
    let content = NoteContent {
        title: Some(title),
        body: Some(check_text("summary", &req.summary, 1, MAX_BODY)?),
        ..Default::default()
    };
    let c = ctx.clone();
    let a = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let a = reread(conn, &c, &id)?;
            scope::require_discharger_for(conn, user, tenant, &a.patient_id)?;
            if a.status()? != AdmissionStatus::Active {
                return Err(not_active());
            }
            let note = crate::notes::http::write_in(
                conn,
                &c,
                &a.patient_id,
                NoteType::DischargeSummary,
                &content,
                true,
            )?;
            if !store::discharge(conn, &a, &note.id, &user.id)? {
                return Err(ApiError::Conflict("the admission changed meanwhile".into()));
            }
            let event = c
                .patient_event("admission.discharge", &a.patient_id)
                .details(json!({ "admission": a.id, "bed": a.bed_id, "note": note.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &a.id)
        })
        .await?;
    show(db, &ctx, a).await
}

#[utoipa::path(get, path = "/admissions/{id}", tag = "admissions", security(("bearer" = [])),
    summary = "One admission (written to the patient's access log); the reason only for roles that see clinical content",
    responses((status = 200, description = "The admission", body = AdmissionView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_admission(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One admission, with its access-log row (shared with pages).
pub(crate) async fn read_admission(db: &Db, ctx: Ctx, id: String) -> ApiResult<AdmissionView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let clinical = scope::sees_reason(&ctx.user);
    let view = db
        .run(move |conn| {
            let a = reread(conn, &c, &id)?;
            store::to_view(conn, &c.keyring, &a, clinical)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &AdmissionView) -> common::audit::Event {
    ctx.patient_event("admission.read", &v.patient_id)
        .details(json!({ "admission": v.id, "reason_shown": v.reason.is_some() }))
}

/// The admission list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AdmissionListQuery {
    /// Only active (true) or discharged (false) admissions.
    pub active: Option<bool>,
    /// The admissions in one department's beds.
    pub department_id: Option<String>,
    /// One patient's admissions.
    pub patient_id: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/admissions", tag = "admissions", security(("bearer" = [])),
    summary = "Admissions the caller may see, newest first (each shown is written to its patient's access log)",
    params(AdmissionListQuery),
    responses((status = 200, description = "A page of admissions", body = Vec<AdmissionView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<AdmissionListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_admissions(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of admissions, one access-log row per admission shown (shared with pages).
pub(crate) async fn list_admissions(
    db: &Db,
    ctx: Ctx,
    q: &AdmissionListQuery,
    page: Page,
) -> ApiResult<(Vec<AdmissionView>, i64)> {
    scope::require_reader(&ctx.user)?;
    for (field, v) in [
        ("department_id", &q.department_id),
        ("patient_id", &q.patient_id),
    ] {
        if let Some(v) = v {
            check_id(field, v)?;
        }
    }
    let filter = ListFilter {
        active: q.active,
        department_id: q.department_id.clone(),
        patient_id: q.patient_id.clone(),
    };
    let c = ctx.clone();
    let clinical = scope::sees_reason(&ctx.user);
    let one_patient = filter.patient_id.is_some();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) = store::list(
                conn,
                || scope::listed(&c.user, &c.tenant, one_patient),
                &filter,
                &page,
            )?;
            let views = rows
                .iter()
                .map(|a| store::to_view(conn, &c.keyring, a, clinical))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}
