//! Paging: the validated `page`/`page_size` of a list request, used by
//! the stores (limit/offset) and echoed by the envelope's `meta`.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// Default number of items per page.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The `page`/`page_size` query parameters every list accepts.
#[derive(Debug, Clone, Deserialize, Default, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1-based page number.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Items per page, 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Page {
    /// 1-based page number.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
}

impl Page {
    /// Validate the raw query values.
    pub fn from_query(q: &PageQuery) -> ApiResult<Self> {
        let page = q.page.unwrap_or(1);
        let page_size = q.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=1_000_000).contains(&page) {
            return Err(ApiError::field("page", "must be between 1 and 1000000"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ApiError::field(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(Self { page, page_size })
    }

    /// Validate a list query's own `page`/`page_size` fields.
    pub fn of(page: Option<i64>, page_size: Option<i64>) -> ApiResult<Self> {
        Self::from_query(&PageQuery { page, page_size })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }
}
