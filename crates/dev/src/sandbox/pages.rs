//! `/sandbox`: the synthetic patients with filters and pages, the CSV
//! export, and (for `sandbox.reset`) the form that generates it again —
//! through the API's functions and rules.

use actix_web::http::StatusCode;
use actix_web::{web, ResponseError};
use askama::Template;
use common::audit::Origin;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::http::{export_csv, regenerate, SandboxPatientQuery, SandboxReset};
use super::scope;
use super::store::{self, PatientView, Summary};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sandbox", web::get().to(show))
        .route("/sandbox/reset", web::post().to(reset))
        .route("/sandbox/export.csv", web::get().to(export));
}

/// The page's filters (a subset of the API's).
#[derive(Deserialize, Default, Clone)]
struct Filter {
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    sex: String,
    page: Option<i64>,
}

impl Filter {
    fn query(&self) -> SandboxPatientQuery {
        SandboxPatientQuery {
            family_name: Some(self.family_name.trim().to_string()).filter(|v| !v.is_empty()),
            sex: Some(self.sex.clone()).filter(|v| !v.is_empty()),
            ..Default::default()
        }
    }

    /// The filters as a query string (no page), `?` included when any.
    fn as_query(&self) -> String {
        let mut parts = Vec::new();
        if !self.family_name.trim().is_empty() {
            parts.push(format!(
                "family_name={}",
                urlencode(self.family_name.trim())
            ));
        }
        if !self.sex.is_empty() {
            parts.push(format!("sex={}", urlencode(&self.sex)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "sandbox.html")]
struct SandboxPage {
    layout: Layout,
    generation: Option<Summary>,
    patients: Vec<PatientView>,
    pager: Pager,
    filter: Filter,
    export_query: String,
    can_reset: bool,
    error: Option<String>,
}

async fn render(
    db: &Db,
    web: WebUser,
    f: Filter,
    code: StatusCode,
    error: Option<String>,
) -> PageResult {
    scope::require_reader(&web.user)?;
    let page = Page::of(f.page, None)?;
    let (filter, error) = match f.query().filter_checked() {
        Ok(filter) => (filter, error),
        Err(e) => (Default::default(), Some(e.to_string())),
    };
    let code = if error.is_some() && code == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        code
    };
    let (generation, patients, total) = db
        .run(move |c| {
            let generation = store::summary(c)?;
            let (patients, total) = store::patients(c, &filter, &page)?;
            Ok((generation, patients, total))
        })
        .await?;
    let base = f.as_query();
    let pager = Pager::new(&page, total, |n| {
        if base.is_empty() {
            format!("page={n}")
        } else {
            format!("{}&page={n}", &base[1..])
        }
    });
    html_status(
        code,
        &SandboxPage {
            can_reset: scope::may_reset(&web.user),
            layout: web.layout("Sandbox"),
            generation,
            patients,
            pager,
            export_query: base,
            filter: f,
            error,
        },
    )
}

async fn show(db: web::Data<Db>, web: WebUser, q: web::Query<Filter>) -> PageResult {
    render(&db, web, q.into_inner(), StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct ResetForm {
    csrf: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    hospitals: String,
    #[serde(default)]
    patients: String,
}

fn number<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::field(field, "a whole number"))
}

async fn reset(
    db: web::Data<Db>,
    web: WebUser,
    origin: Origin,
    form: web::Form<ResetForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let attempt = async {
        let body = SandboxReset {
            seed: number("seed", &form.seed)?,
            hospitals: number("hospitals", &form.hospitals)?,
            patients: number("patients", &form.patients)?,
        };
        regenerate(&db, web.user.clone(), origin, body).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect("/sandbox")),
        Err(e @ ApiError::Forbidden(_)) => Err(e.into()),
        Err(e) => {
            let code = e.status_code();
            render(&db, web, Filter::default(), code, Some(e.to_string())).await
        }
    }
}

async fn export(
    db: web::Data<Db>,
    web: WebUser,
    origin: Origin,
    q: web::Query<Filter>,
) -> PageResult {
    Ok(export_csv(db, &web.user, origin, &q.query()).await?)
}
