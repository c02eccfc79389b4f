//! `/roles`: the server's roles (list, create, change a role's permissions,
//! delete or reset), on the same checks, stores and audit as `…/roles`.

use actix_web::web;
use askama::Template;

use super::extract::WebUser;
use super::render::{html, html_status, redirect, Layout, PageResult};
use crate::accounts::roles::{self, NewRole, RoleChange, RoleView};
use crate::audit::Origin;
use crate::auth::AuthContext;
use crate::db::Db;
use crate::error::ApiError;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/roles", web::get().to(list))
        .route("/roles", web::post().to(create))
        .route("/roles/new", web::get().to(new_form))
        .route("/roles/{name}", web::get().to(edit_form))
        .route("/roles/{name}", web::post().to(save))
        .route("/roles/{name}/delete", web::post().to(delete));
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    layout: Layout,
    rows: Vec<RoleView>,
}

async fn list(ctx: web::Data<AuthContext>, db: web::Data<Db>, user: WebUser) -> PageResult {
    let rows = roles::all_roles(&ctx, &db, &user.user).await?;
    html(&RolesPage {
        layout: user.layout("Roles"),
        rows,
    })
}

/// One permission's checkbox.
struct Choice {
    name: String,
    description: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "role_edit.html")]
struct RoleEditPage {
    layout: Layout,
    error: Option<String>,
    /// `None`: a new role (the name is asked for).
    existing: Option<RoleView>,
    name: String,
    choices: Vec<Choice>,
}

fn choices(ctx: &AuthContext, chosen: &[String]) -> Vec<Choice> {
    ctx.policy
        .known()
        .iter()
        .map(|p| Choice {
            name: p.to_string(),
            description: ctx.policy.description(p).to_string(),
            checked: chosen.iter().any(|c| c == p),
        })
        .collect()
}

async fn new_form(ctx: web::Data<AuthContext>, user: WebUser) -> PageResult {
    roles::require_manager(&user.user)?;
    html(&RoleEditPage {
        layout: user.layout("Create a role"),
        error: None,
        existing: None,
        name: String::new(),
        choices: choices(&ctx, &[]),
    })
}

async fn edit_form(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    name: web::Path<String>,
) -> PageResult {
    let role = roles::one_role(&ctx, &db, &user.user, &name).await?;
    html(&RoleEditPage {
        layout: user.layout(&format!("Role {}", role.name)),
        error: None,
        name: role.name.clone(),
        choices: choices(&ctx, &role.permissions),
        existing: Some(role),
    })
}

/// A posted role form: its token, name (new roles) and the ticked permissions.
struct Posted {
    csrf: String,
    name: String,
    permissions: Vec<String>,
}

fn read(form: Vec<(String, String)>) -> Posted {
    let mut p = Posted {
        csrf: String::new(),
        name: String::new(),
        permissions: Vec::new(),
    };
    for (k, v) in form {
        match k.as_str() {
            "csrf" => p.csrf = v,
            "name" => p.name = v.trim().to_string(),
            "permission" => p.permissions.push(v),
            _ => {}
        }
    }
    p
}

/// The form again with the refusal, for a refusal the user can correct.
fn refused(
    ctx: &AuthContext,
    user: &WebUser,
    e: ApiError,
    existing: Option<RoleView>,
    posted: Posted,
) -> PageResult {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::Warning { .. } => {
            let status = actix_web::ResponseError::status_code(&e);
            let title = match &existing {
                Some(r) => format!("Role {}", r.name),
                None => "Create a role".to_string(),
            };
            html_status(
                status,
                &RoleEditPage {
                    layout: user.layout(&title),
                    error: Some(e.to_string()),
                    existing,
                    name: posted.name,
                    choices: choices(ctx, &posted.permissions),
                },
            )
        }
        other => Err(other.into()),
    }
}

async fn create(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let posted = read(form.into_inner());
    user.check_csrf(&posted.csrf)?;
    let body = NewRole {
        name: posted.name.clone(),
        permissions: posted.permissions.clone(),
    };
    match roles::create(&ctx, &db, &user.user, origin, body).await {
        Ok(_) => Ok(redirect("/roles")),
        Err(e) => refused(&ctx, &user, e, None, posted),
    }
}

async fn save(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    name: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let mut posted = read(form.into_inner());
    user.check_csrf(&posted.csrf)?;
    let body = RoleChange {
        permissions: posted.permissions.clone(),
    };
    match roles::change(&ctx, &db, &user.user, origin, &name, body).await {
        Ok(_) => Ok(redirect("/roles")),
        Err(e) => {
            let existing = roles::one_role(&ctx, &db, &user.user, &name).await?;
            posted.name = existing.name.clone();
            refused(&ctx, &user, e, Some(existing), posted)
        }
    }
}

async fn delete(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    name: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let posted = read(form.into_inner());
    user.check_csrf(&posted.csrf)?;
    roles::delete(&ctx, &db, &user.user, origin, &name).await?;
    Ok(redirect("/roles"))
}
