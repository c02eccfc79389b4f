//! Paging links for the pages' lists, and query-string encoding for them.

use crate::db::page::Page;

/// Where a list is and the links to its neighbours.
pub struct Pager {
    /// 1-based page.
    pub page: i64,
    /// Pages in all (at least 1).
    pub pages: i64,
    /// Rows matching.
    pub total: i64,
    /// The query string of the previous page, if any.
    pub prev: Option<String>,
    /// The query string of the next page, if any.
    pub next: Option<String>,
}

impl Pager {
    /// The pager of `page` of `total` rows; `query` builds a page's query string.
    pub fn new(page: &Page, total: i64, query: impl Fn(i64) -> String) -> Self {
        let pages = ((total + page.page_size - 1) / page.page_size).max(1);
        Self {
            page: page.page,
            pages,
            total,
            prev: (page.page > 1).then(|| query(page.page - 1)),
            next: (page.page < pages).then(|| query(page.page + 1)),
        }
    }
}

/// Encode one query-string value.
pub fn url_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
