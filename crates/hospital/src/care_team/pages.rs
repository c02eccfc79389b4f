//! Care-team changes from the chart: add a clinician by username, remove a
//! member, through the API's functions (scope, checks, audit rows).

use actix_web::web;
use common::accounts::store as users;
use common::db::Db;
use common::web::{redirect, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{add_member, remove_member};
use crate::pages::PageCtx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/care-team", web::post().to(add))
        .route(
            "/patients/{id}/care-team/{user_id}/remove",
            web::post().to(remove),
        );
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

async fn add(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<AddForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let name = form.into_inner().username.trim().to_string();
    if name.is_empty() || name.len() > 254 {
        return Err(ApiError::field("username", "give the clinician's username").into());
    }
    let tenant = p.ctx.tenant.clone();
    let member = db
        .run(move |c| users::find_for_login(c, &name, &tenant))
        .await?
        .ok_or_else(|| ApiError::field("username", "no such user in this hospital"))?;
    add_member(&db, p.ctx, id.clone(), member.id).await?;
    Ok(redirect(&format!("/patients/{id}")))
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn remove(
    db: web::Data<Db>,
    p: PageCtx,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let (id, member) = path.into_inner();
    remove_member(&db, p.ctx, id.clone(), member).await?;
    Ok(redirect(&format!("/patients/{id}")))
}
