//! Patient pages: search and registration (reception), the chart
//! (demographics, clinical fields where the role sees them, the care
//! team), the access log, and the patient's own record. Each goes through
//! the same functions as the API, so the same scope, refusals and
//! access-log rows apply.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::{url_escape, Pager};
use common::web::render::html_status;
use common::web::{html, redirect, Layout, PageError, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    list_patients, read_access_log, read_patient, register_patient, update_patient, AccessEntry,
};
use super::model::{Contact, NewPatient, PatientView, Sex};
use super::scope::{self, View};
use crate::care_team::http::{team, MemberView};
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes (`/patients/new` before `/patients/{id}`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients", web::get().to(list))
        .route("/patients", web::post().to(register))
        .route("/patients/new", web::get().to(new_form))
        .route("/patients/{id}", web::get().to(chart))
        .route("/patients/{id}/access-log", web::get().to(access_log))
        .route("/patients/{id}/clinical", web::post().to(update_clinical))
        .route("/my-record", web::get().to(my_record));
}

/// One line of a patient list.
struct Row {
    id: String,
    name: String,
    mrn: String,
    date_of_birth: String,
    sex: &'static str,
}

impl From<&PatientView> for Row {
    fn from(p: &PatientView) -> Self {
        Self {
            id: p.id.clone(),
            name: format!("{} {}", p.first_name, p.last_name),
            mrn: p.mrn.clone(),
            date_of_birth: p.date_of_birth.clone(),
            sex: p.sex.as_str(),
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    search: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct ListPage {
    layout: Layout,
    search: String,
    can_register: bool,
    rows: Vec<Row>,
    pager: Pager,
}

async fn list(db: web::Data<Db>, p: PageCtx, q: web::Query<ListQuery>) -> PageResult {
    let q = q.into_inner();
    let page = Page::of(q.page, None)?;
    let term = Some(q.search.trim().to_string()).filter(|t| !t.is_empty());
    let can_register = p.ctx.can(P::PatientsRegister);
    let (views, total) = list_patients(&db, p.ctx, term, false, page).await?;
    let search = q.search;
    let pager = Pager::new(&page, total, |n| {
        format!("search={}&page={n}", url_escape(&search))
    });
    html(&ListPage {
        layout: p.web.layout("Patients"),
        search,
        can_register,
        rows: views.iter().map(Row::from).collect(),
        pager,
    })
}

#[derive(Template)]
#[template(path = "patient_new.html")]
struct NewPage {
    layout: Layout,
    error: Option<String>,
    form: NewForm,
}

#[derive(Deserialize, Default)]
struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

async fn new_form(p: PageCtx) -> PageResult {
    p.ctx.require(P::PatientsRegister)?;
    html(&NewPage {
        layout: p.web.layout("Register a patient"),
        error: None,
        form: NewForm::default(),
    })
}

async fn register(db: web::Data<Db>, p: PageCtx, form: web::Form<NewForm>) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let sex = match form.sex.as_str() {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        "other" => Some(Sex::Other),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    };
    let result = match sex {
        None => Err(ApiError::field("sex", "choose one")),
        Some(sex) => {
            let body = NewPatient {
                first_name: form.first_name.trim().to_string(),
                last_name: form.last_name.trim().to_string(),
                date_of_birth: form.date_of_birth.trim().to_string(),
                sex,
                contact: contact(&form.phone, &form.email),
                address: None,
                emergency_contact: None,
                insurance: None,
                allergies: None,
                blood_type: None,
            };
            register_patient(&db, p.ctx, body).await
        }
    };
    match result {
        Ok(created) => Ok(redirect(&format!("/patients/{}", created.id))),
        // Bad input: the form again, with what was typed and what is wrong.
        Err(e @ ApiError::Validation { .. }) => html_status(
            StatusCode::BAD_REQUEST,
            &NewPage {
                layout: p.web.layout("Register a patient"),
                error: Some(e.to_string()),
                form,
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// The contact block of a registration, if either field was filled in.
fn contact(phone: &str, email: &str) -> Option<Contact> {
    let some = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let (phone, email) = (some(phone), some(email));
    (phone.is_some() || email.is_some()).then_some(Contact { phone, email })
}

#[derive(Template)]
#[template(path = "patient.html")]
struct ChartPage {
    layout: Layout,
    id: String,
    demographics: Vec<(&'static str, String)>,
    clinical: Option<Vec<(&'static str, String)>>,
    team: Vec<MemberView>,
    can_manage_team: bool,
    /// Staff may issue a portal enrolment code (none issued into an account yet).
    can_issue_code: bool,
    /// The clinical form, for roles that change clinical fields: (allergies, one a line; blood type).
    clinical_form: Option<(String, String)>,
    /// The role reads clinical notes (link to the patient's notes).
    can_read_notes: bool,
    /// The role reads prescriptions of patients (link to them).
    can_read_prescriptions: bool,
    /// The role reads lab orders of patients (link to them).
    can_read_labs: bool,
    can_refer: bool,
    can_open_files: bool,
}

/// Blood types as the API names them (`""`: not recorded).
const BLOOD_TYPES: [&str; 10] = [
    "", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "unknown",
];

#[derive(Template)]
#[template(path = "break_glass_form.html")]
struct BreakGlassPage {
    layout: Layout,
    id: String,
    error: Option<String>,
    reason: String,
}

/// The break-the-glass form for a patient outside the caller's care team.
pub(crate) fn break_glass_form(
    layout: Layout,
    status: StatusCode,
    id: String,
    error: Option<String>,
    reason: String,
) -> PageResult {
    html_status(
        status,
        &BreakGlassPage {
            layout,
            id,
            error,
            reason,
        },
    )
}

async fn chart(db: web::Data<Db>, p: PageCtx, id: web::Path<String>) -> PageResult {
    let id = id.into_inner();
    let patient = match read_patient(&db, p.ctx.clone(), id.clone()).await {
        Ok(patient) => patient,
        // Outside the care team: a clinician who may break the glass gets
        // its form (only for a patient that exists in the tenant; anyone
        // else gets the API's 404).
        Err(ApiError::NotFound(m)) => {
            if !p.ctx.can(P::BreakGlassRequest) {
                return Err(ApiError::NotFound(m).into());
            }
            let (tenant, pid) = (p.ctx.tenant.clone(), id.clone());
            let exists = db
                .run(move |c| scope::exists_in_tenant(c, &tenant, &pid))
                .await?;
            if !exists {
                return Err(ApiError::NotFound(m).into());
            }
            let layout = p.web.layout("Not on this patient's care team");
            return break_glass_form(layout, StatusCode::FORBIDDEN, id, None, String::new());
        }
        Err(e) => return Err(e.into()),
    };
    let members = team(&db, p.ctx.clone(), id.clone()).await?;
    let clinical = (p.ctx.view == View::Full).then(|| clinical_fields(&patient));
    let can_manage_team = p.ctx.can(P::CareTeamManage);
    let can_issue_code = p.ctx.can(P::PortalManage) && !patient.has_portal_account;
    let clinical_form =
        (p.ctx.can(P::PatientsUpdateClinical) && p.ctx.view == View::Full).then(|| {
            let allergies = patient.allergies.clone().unwrap_or_default().join("\n");
            let blood = patient
                .blood_type
                .and_then(|b| serde_json::to_value(b).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            (allergies, blood)
        });
    html(&ChartPage {
        layout: p
            .web
            .layout(&format!("{} {}", patient.first_name, patient.last_name)),
        id,
        demographics: demographic_fields(&patient),
        clinical,
        team: members,
        can_manage_team,
        can_issue_code,
        clinical_form,
        can_read_notes: p.ctx.can(P::NotesRead) || p.ctx.can(P::NotesReadOwn),
        can_read_prescriptions: p.ctx.can(P::PrescriptionsReadAssigned)
            || p.ctx.can(P::PrescriptionsReadOwn),
        can_read_labs: p.ctx.can(P::LabsReadAssigned) || p.ctx.can(P::LabsReadOwn),
        can_refer: p.ctx.can(P::ReferralsWrite),
        can_open_files: p.ctx.can(P::FilesManage)
            || p.ctx.can(P::FilesReadAssigned)
            || p.ctx.can(P::FilesUploadLabResults)
            || p.ctx.can(P::FilesUploadConsentForms),
    })
}

fn or_none(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty())
        .unwrap_or("not recorded")
        .to_string()
}

fn demographic_fields(p: &PatientView) -> Vec<(&'static str, String)> {
    let contact = p.contact.as_ref();
    let address = p.address.as_ref().map(|a| {
        [
            Some(a.line1.as_str()),
            a.line2.as_deref(),
            Some(a.city.as_str()),
            a.region.as_deref(),
            a.postal_code.as_deref(),
            Some(a.country.as_str()),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
    });
    let emergency = p.emergency_contact.as_ref().map(|e| match &e.relationship {
        Some(r) => format!("{} ({r}), {}", e.name, e.phone),
        None => format!("{}, {}", e.name, e.phone),
    });
    let insurance = p
        .insurance
        .as_ref()
        .map(|i| format!("{}, policy {}", i.provider, i.policy_number));
    vec![
        ("MRN", p.mrn.clone()),
        ("Date of birth", p.date_of_birth.clone()),
        ("Sex", p.sex.as_str().to_string()),
        ("Phone", or_none(contact.and_then(|c| c.phone.as_deref()))),
        ("Email", or_none(contact.and_then(|c| c.email.as_deref()))),
        ("Address", or_none(address.as_deref())),
        ("Emergency contact", or_none(emergency.as_deref())),
        ("Insurance", or_none(insurance.as_deref())),
        (
            "Insurance eligibility",
            match p.insurance_checked_at {
                Some(at) => format!(
                    "{} (asked {} UTC)",
                    p.insurance_eligibility.as_str().replace('_', " "),
                    at.format("%Y-%m-%d %H:%M")
                ),
                None => p.insurance_eligibility.as_str().replace('_', " "),
            },
        ),
    ]
}

fn clinical_fields(p: &PatientView) -> Vec<(&'static str, String)> {
    let allergies = p.allergies.as_ref().map(|a| a.join(", "));
    let blood = p
        .blood_type
        .and_then(|b| serde_json::to_value(b).ok())
        .and_then(|v| v.as_str().map(str::to_string));
    vec![
        ("Allergies", or_none(allergies.as_deref())),
        ("Blood type", or_none(blood.as_deref())),
    ]
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    layout: Layout,
    id: String,
    rows: Vec<AccessEntry>,
    pager: Pager,
}

#[derive(Deserialize)]
struct PageOnly {
    page: Option<i64>,
}

async fn access_log(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<PageOnly>,
) -> PageResult {
    let page = Page::of(q.page, None)?;
    let id = id.into_inner();
    let (rows, total) = read_access_log(&db, p.ctx, id.clone(), page).await?;
    html(&AccessLogPage {
        layout: p.web.layout("Who has read this record"),
        id,
        rows,
        pager: Pager::new(&page, total, |n| format!("page={n}")),
    })
}

/// A patient's own record: the portal account sees exactly one.
async fn my_record(db: web::Data<Db>, p: PageCtx) -> PageResult {
    p.ctx.require(P::PatientsReadOwn)?;
    let page = Page::of(None, None)?;
    let (views, _) = list_patients(&db, p.ctx, None, false, page).await?;
    match views.first() {
        Some(v) => Ok(redirect(&format!("/patients/{}", v.id))),
        None => Err(PageError::Api(ApiError::NotFound(
            "no record is linked to your account yet".into(),
        ))),
    }
}

#[derive(Deserialize)]
struct ClinicalForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    allergies: String,
    #[serde(default)]
    blood_type: String,
}

/// Change the clinical fields (allergies one a line; blank blood type: not
/// recorded) through the API's update: same rules, same audit row.
async fn update_clinical(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ClinicalForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let form = form.into_inner();
    let allergies: Vec<&str> = form
        .allergies
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let allergies = (!allergies.is_empty()).then_some(allergies);
    let blood = Some(form.blood_type.trim()).filter(|b| !b.is_empty());
    let changes = serde_json::from_value(serde_json::json!({
        "allergies": allergies,
        "blood_type": blood,
    }))
    .map_err(|_| ApiError::field("blood_type", "choose one of the listed blood types"))?;
    update_patient(&db, p.ctx, id.clone(), changes).await?;
    Ok(redirect(&format!("/patients/{id}")))
}
