//! Prescription pages: a patient's prescriptions with the prescribing form
//! (the allergy warning shown, to acknowledge), the pharmacy's queue with
//! dispense and reject forms, and a patient's own. Each goes through the
//! API's functions (same scope, checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    dispense_prescription, list_prescriptions, prescribe, reject_prescription,
    PrescriptionListQuery, PrescriptionRequest,
};
use super::model::{PrescriptionView, Route};
use crate::appointments::model::check_id;
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/prescriptions", web::get().to(of_patient))
        .route("/patients/{id}/prescriptions", web::post().to(write))
        .route("/pharmacy", web::get().to(queue))
        .route("/pharmacy/{id}/dispense", web::post().to(dispense))
        .route("/pharmacy/{id}/reject", web::post().to(reject))
        .route("/my-prescriptions", web::get().to(mine));
}

/// One prescription as shown.
struct Row {
    id: String,
    patient_id: String,
    medication: String,
    instructions: String,
    notes: String,
    status: String,
    quantities: String,
    remaining: i64,
    reject_reason: String,
    allergy_acknowledged: bool,
    open: bool,
}

#[derive(Template)]
#[template(path = "prescriptions.html")]
struct PrescriptionsPage {
    layout: Layout,
    /// The patient whose prescriptions these are ("" for the queue and "mine").
    patient_id: String,
    rows: Vec<Row>,
    pager: Pager,
    can_prescribe: bool,
    can_dispense: bool,
    error: Option<String>,
    /// The allergy warning shown: the prescriber may acknowledge it.
    allergy_warning: bool,
    form: RxForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RxForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    medication: String,
    #[serde(default)]
    dose: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    refills: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    acknowledge_allergies: Option<String>,
}

const ROUTES: [(&str, &str); 9] = [
    ("oral", "By mouth"),
    ("sublingual", "Under the tongue"),
    ("intravenous", "Intravenous"),
    ("intramuscular", "Intramuscular"),
    ("subcutaneous", "Subcutaneous"),
    ("topical", "On the skin"),
    ("inhaled", "Inhaled"),
    ("rectal", "Rectal"),
    ("drops", "Drops"),
];

fn row(v: &PrescriptionView) -> Row {
    Row {
        id: v.id.clone(),
        patient_id: v.patient_id.clone(),
        medication: v.medication.clone(),
        instructions: format!(
            "{}, {}, {}, for {}",
            v.dose,
            <&str>::from(v.route).replace('_', " "),
            v.frequency,
            v.duration
        ),
        notes: v.notes.clone().unwrap_or_default(),
        status: v.status.as_str().replace('_', " "),
        quantities: format!(
            "{} of {} dispensed ({} × {} fill(s))",
            v.dispensed_quantity,
            v.total_quantity,
            v.quantity,
            v.refills + 1
        ),
        remaining: v.remaining_quantity,
        reject_reason: v.reject_reason.clone().unwrap_or_default(),
        allergy_acknowledged: v.allergy_acknowledged,
        open: v.status.open(),
    }
}

/// Which list a page shows.
enum Which {
    Patient(String),
    Queue,
    Mine,
}

#[allow(clippy::too_many_arguments)]
async fn render(
    db: &Db,
    p: PageCtx,
    which: Which,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    allergy_warning: bool,
    form: RxForm,
) -> PageResult {
    let (patient_id, open, title) = match &which {
        Which::Patient(id) => (Some(id.clone()), None, "Prescriptions"),
        Which::Queue => (None, Some(true), "Pharmacy queue"),
        Which::Mine => (None, None, "My prescriptions"),
    };
    let q = PrescriptionListQuery {
        patient_id: patient_id.clone(),
        open,
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = list_prescriptions(db, p.ctx.clone(), &q, page).await?;
    html_status(
        status,
        &PrescriptionsPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            can_prescribe: patient_id.is_some() && p.ctx.can(P::PrescriptionsWrite),
            can_dispense: matches!(which, Which::Queue) && p.ctx.can(P::PrescriptionsDispense),
            patient_id: patient_id.unwrap_or_default(),
            rows: views.iter().map(row).collect(),
            error,
            allergy_warning,
            form,
        },
    )
}

async fn of_patient(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<ListParams>,
) -> PageResult {
    let id = id.into_inner();
    check_id("patient_id", &id)?;
    let page = Page::of(q.page, None)?;
    let which = Which::Patient(id);
    render(
        &db,
        p,
        which,
        page,
        StatusCode::OK,
        None,
        false,
        RxForm::default(),
    )
    .await
}

async fn queue(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::PrescriptionsDispense)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        Which::Queue,
        page,
        StatusCode::OK,
        None,
        false,
        RxForm::default(),
    )
    .await
}

async fn mine(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::PrescriptionsReadOwn)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        Which::Mine,
        page,
        StatusCode::OK,
        None,
        false,
        RxForm::default(),
    )
    .await
}

/// A whole number typed in a form.
fn number(field: &str, v: &str, default: Option<i64>) -> Result<i64, ApiError> {
    match (v.trim(), default) {
        ("", Some(d)) => Ok(d),
        (t, _) => t
            .parse()
            .map_err(|_| ApiError::field(field, "must be a whole number")),
    }
}

async fn write(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<RxForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let patient = id.into_inner();
    let form = form.into_inner();
    let attempt = async {
        let route: Route = form
            .route
            .parse()
            .map_err(|_| ApiError::field("route", "choose how it is taken"))?;
        let req = PrescriptionRequest {
            patient_id: patient.clone(),
            medication: form.medication.clone(),
            dose: form.dose.clone(),
            route,
            frequency: form.frequency.clone(),
            duration: form.duration.clone(),
            quantity: number("quantity", &form.quantity, None)?,
            refills: number("refills", &form.refills, Some(0))?,
            notes: Some(form.notes.clone()),
            acknowledge_allergies: form.acknowledge_allergies.is_some(),
        };
        prescribe(&db, p.ctx.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/prescriptions"))),
        Err(
            e @ (ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::Warning { .. }),
        ) => {
            let status = if matches!(e, ApiError::Validation { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            let warning = matches!(e, ApiError::Warning { .. });
            let page = Page::of(None, None)?;
            let which = Which::Patient(patient);
            render(
                &db,
                p,
                which,
                page,
                status,
                Some(e.to_string()),
                warning,
                form,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    reason: String,
}

/// A refused pharmacy action: the queue again with its error.
async fn queue_again(db: &Db, p: PageCtx, e: ApiError) -> PageResult {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) => {
            let status = if matches!(e, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let page = Page::of(None, None)?;
            let form = RxForm::default();
            render(
                db,
                p,
                Which::Queue,
                page,
                status,
                Some(e.to_string()),
                false,
                form,
            )
            .await
        }
        e => Err(e.into()),
    }
}

async fn dispense(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let result = match number("quantity", &form.quantity, None) {
        Ok(n) => dispense_prescription(&db, p.ctx.clone(), id.into_inner(), n).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect("/pharmacy")),
        Err(e) => queue_again(&db, p, e).await,
    }
}

async fn reject(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let reason = form.reason.clone();
    match reject_prescription(&db, p.ctx.clone(), id.into_inner(), reason).await {
        Ok(_) => Ok(redirect("/pharmacy")),
        Err(e) => queue_again(&db, p, e).await,
    }
}
