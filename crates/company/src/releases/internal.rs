//! What hospitals and owner ask company about releases (hospital → company
//! over mTLS; company never calls a hospital): the release approved for a
//! product, with both signatures, and its artifact — only ever an approved
//! one, from company's own checked copy.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::db::Db;
use common::mtls::peer::PeerIdentity;
use common::mtls::{internal_resource, Allowed};
use common::{response, ApiError, ApiResult};
use contracts::paths;
use contracts::release::ApprovedRelease;
use serde::Deserialize;
use serde_json::json;

use super::config::Desk;
use super::{scope, store};

/// Who may ask.
const ASKERS: &[Allowed] = &[Allowed::AnyHospital, Allowed::Owner];

/// Mount the internal routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(internal_resource(paths::APPROVED_RELEASE, ASKERS).route(web::get().to(approved)))
        .service(
            internal_resource(paths::APPROVED_ARTIFACT, ASKERS).route(web::get().to(artifact)),
        );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductQuery {
    product: String,
}

async fn approved(db: web::Data<Db>, q: web::Query<ProductQuery>) -> ApiResult<HttpResponse> {
    let product = q.into_inner().product;
    if product.is_empty() || product.len() > 64 {
        return Err(ApiError::field("product", "1 to 64 characters"));
    }
    let row = db.run(move |c| store::newest_approved(c, &product)).await?;
    let (Some(approval), Some(countersignature)) = (row.approval, row.countersignature) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "an approved release without its approval"
        )));
    };
    let approval = serde_json::from_str(&approval)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("a stored approval: {e}")))?;
    Ok(response::ok(ApprovedRelease {
        approval,
        countersignature,
    }))
}

async fn artifact(
    db: web::Data<Db>,
    desk: web::Data<Desk>,
    peer: PeerIdentity,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (id, who) = (id.into_inner(), peer.0.uri());
    let row = db
        .write(move |c| {
            let row = store::find(c, &id)?;
            scope::check_served_to_servers(&row)?;
            let e = Event::new(
                &who,
                "service",
                "release.download",
                &format!("release:{}", row.id),
            )
            .details(
                json!({ "product": row.product, "version": row.version, "sha256": row.sha256 }),
            );
            audit::append(c, &e, &origin)?;
            Ok(row)
        })
        .await?;
    let file = tokio::fs::File::open(desk.artifact_path(&row.sha256))
        .await
        .map_err(|e| {
            tracing::error!(release = %row.id, error = %e, "an approved release's artifact is missing");
            ApiError::Damaged("the release's artifact is missing from company's storage".into())
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("X-Release-Sha256", row.sha256.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(common::http::file_body(
            file,
            u64::try_from(row.size).unwrap_or(0),
        )))
}
