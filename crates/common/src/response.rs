//! The success half of the envelope, and pagination.

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::json;

// Paging belongs to the data layer; re-exported for handlers.
pub use crate::db::page::{Page, PageQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// `200 OK` with `{"success":true,"data":…}`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "success": true, "data": data }))
}

/// `201 Created` with `{"success":true,"data":…}`.
pub fn created<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Created().json(json!({ "success": true, "data": data }))
}

/// `200 OK` with a page of items and `meta {page, page_size, total}`.
pub fn page<T: Serialize>(items: Vec<T>, page: &Page, total: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "success": true,
        "data": items,
        "meta": { "page": page.page, "page_size": page.page_size, "total": total },
    }))
}
