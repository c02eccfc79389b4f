//! `/static/…`: the stylesheet and script compiled into the binary, so a
//! hospital without internet (and without a CDN) gets the same pages.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// One embedded file: its name under `/static/`, type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Vendored files keep their upstream names and versions (licences beside
/// them in `crates/common/static/`); `app.css` is ours.
const ASSETS: &[Asset] = &[
    Asset {
        name: "pico-2.1.1.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/pico.min.css"),
    },
    Asset {
        name: "htmx-2.0.11.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/htmx.min.js"),
    },
    Asset {
        name: "app-1.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "app-1.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/app.css"),
    },
];

/// Mount `/static/{name}`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{name}", web::get().to(serve));
}

async fn serve(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        // The names carry versions, so a file never changes under its name:
        // browsers may keep it for a year without asking again.
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(a.bytes),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such file"),
    }
}
