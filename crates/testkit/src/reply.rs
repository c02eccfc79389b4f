//! A response read in full, for assertions on status, headers and body.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// A response read in full: status, headers and the body as JSON
/// (`Value::Null` when empty, a JSON string when not JSON).
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Value,
}

impl Reply {
    /// Read `resp` to the end.
    pub async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("reading the response body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
