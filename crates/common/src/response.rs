//! The success half of the envelope, and pagination.

use actix_web::HttpResponse;
use serde::Serialize;

// Paging belongs to the data layer; re-exported for handlers.
pub use crate::db::page::{Page, PageQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// `{"success":true,"data":…}`, serialized straight from `data` (not
/// through a `serde_json::Value` tree: every reply pays for that copy).
#[derive(Serialize)]
struct Envelope<T> {
    success: bool,
    data: T,
}

/// `{"success":true,"data":[…],"meta":{…}}`.
#[derive(Serialize)]
struct PageEnvelope<T> {
    success: bool,
    data: Vec<T>,
    meta: PageMeta,
}

#[derive(Serialize)]
struct PageMeta {
    page: i64,
    page_size: i64,
    total: i64,
}

/// `200 OK` with `{"success":true,"data":…}`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        success: true,
        data,
    })
}

/// `201 Created` with `{"success":true,"data":…}`.
pub fn created<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Created().json(Envelope {
        success: true,
        data,
    })
}

/// `200 OK` with a page of items and `meta {page, page_size, total}`.
pub fn page<T: Serialize>(items: Vec<T>, page: &Page, total: i64) -> HttpResponse {
    HttpResponse::Ok().json(PageEnvelope {
        success: true,
        data: items,
        meta: PageMeta {
            page: page.page,
            page_size: page.page_size,
            total,
        },
    })
}
